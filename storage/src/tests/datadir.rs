//! The data directory: layout, spool cleaning, account names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::fixture;
use crate::{AccountStore, DataDir, StorageError, StoreOptions};

#[test]
fn open_creates_layout_with_private_modes() {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::open(temp.path().join("a/b")).unwrap();
    assert!(data.root().is_absolute());
    assert_eq!(data.spool_dir(), data.root().join("tmp"));
    for dir in [data.spool_dir(), data.root().join("accounts")] {
        assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    }
    // Opening again is fine.
    DataDir::open(temp.path().join("a/b")).unwrap();
}

#[test]
fn clean_spool_removes_and_reports_leftovers() {
    let fixture = fixture();
    let first = fixture.spool(b"12345");
    let second = fixture.spool(b"");
    fs::create_dir(fixture.data.spool_dir().join("subdir")).unwrap();
    let removed = fixture.data.clean_spool().unwrap();
    let mut expected = vec![(first.clone(), 5), (second.clone(), 0)];
    expected.sort();
    assert_eq!(removed, expected);
    assert!(!first.exists() && !second.exists());
    assert!(fixture.data.spool_dir().join("subdir").is_dir());
    assert!(fixture.data.clean_spool().unwrap().is_empty());
}

#[test]
fn account_names_are_checked_and_listed() {
    let fixture = fixture();
    for good in ["alice", "a.b-c_d", "X9", &"a".repeat(64)] {
        assert!(fixture.data.account_dir(good).is_ok(), "{good}");
        assert!(crate::is_valid_account_name(good));
    }
    for bad in ["", ".", "..", ".hidden", "a/b", "a b", "ä", &"a".repeat(65), "a\0"] {
        assert!(matches!(fixture.data.account_dir(bad), Err(StorageError::InvalidAccountName(_))), "{bad:?}");
        assert!(!crate::is_valid_account_name(bad));
        assert!(matches!(
            AccountStore::open(&fixture.data, bad, &StoreOptions::default()),
            Err(StorageError::InvalidAccountName(_))
        ));
    }
    drop(fixture.open("zed"));
    drop(fixture.open("amy"));
    fs::create_dir(fixture.data.root().join("accounts/.trash")).unwrap();
    fs::write(fixture.data.root().join("accounts/file"), b"").unwrap();
    assert_eq!(fixture.data.account_names().unwrap(), ["amy", "zed"]);
}

#[test]
fn second_open_in_process_is_refused() {
    let fixture = fixture();
    let store = fixture.open("solo");
    assert!(matches!(
        AccountStore::open(&fixture.data, "solo", &StoreOptions::default()),
        Err(StorageError::AlreadyOpen { .. })
    ));
    drop(store);
    drop(fixture.open("solo"));
}
