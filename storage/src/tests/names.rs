//! Names, keywords and flags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::names::{
    ancestors, canonical_mailbox_name, check_keyword, checked_keywords, children_prefix, keywords_added,
    keywords_removed,
};
use crate::{Flags, KEYWORD_BYTES_MAX, KEYWORDS_PER_MESSAGE_MAX, SpecialUse, StorageError};

#[test]
fn mailbox_names() {
    assert_eq!(canonical_mailbox_name("inbox").unwrap(), "INBOX");
    assert_eq!(canonical_mailbox_name("INBOX/sub").unwrap(), "INBOX/sub");
    assert_eq!(canonical_mailbox_name("inBox/sub/x").unwrap(), "INBOX/sub/x");
    assert_eq!(canonical_mailbox_name("Inboxes/sub").unwrap(), "Inboxes/sub");
    assert_eq!(canonical_mailbox_name("a/inbox").unwrap(), "a/inbox");
    assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
    assert_eq!(ancestors("a").count(), 0);
    assert_eq!(children_prefix("a/b"), "a/b/");
    assert_eq!(canonical_mailbox_name("Entwürfe").unwrap(), "Entwürfe");
    assert!(canonical_mailbox_name(&"a".repeat(crate::MAILBOX_NAME_BYTES_MAX)).is_ok());
    for bad in ["", "/", "a//b", "a/", "\u{7f}", "a\r\nb", &"a".repeat(crate::MAILBOX_NAME_BYTES_MAX + 1)] {
        assert!(
            matches!(canonical_mailbox_name(bad), Err(StorageError::InvalidMailboxName { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn keywords() {
    for good in ["$Forwarded", "NonJunk", "a", &"k".repeat(KEYWORD_BYTES_MAX)] {
        assert!(check_keyword(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "\\Seen",
        "a b",
        "a(",
        "a)",
        "a{",
        "a%",
        "a*",
        "a\"",
        "a]",
        "ä",
        "a\u{1}",
        &"k".repeat(KEYWORD_BYTES_MAX + 1),
    ] {
        assert!(check_keyword(bad).is_err(), "{bad:?}");
    }
    let given: Vec<String> = ["b", "A", "a", "B", "c"].map(String::from).to_vec();
    assert_eq!(checked_keywords(&given).unwrap(), ["A", "b", "c"]);
    let many: Vec<String> = (0..=KEYWORDS_PER_MESSAGE_MAX).map(|n| format!("k{n}")).collect();
    assert!(matches!(checked_keywords(&many), Err(StorageError::TooManyKeywords { .. })));
    let existing: Vec<String> = ["Work"].map(String::from).to_vec();
    assert_eq!(keywords_added(&existing, &["work".into(), "$x".into()]).unwrap(), ["$x", "Work"]);
    assert_eq!(keywords_removed(&existing, &["WORK".into()]), Vec::<String>::new());
}

#[test]
fn flags() {
    let flags = Flags::SEEN | Flags::DELETED;
    assert!(flags.contains(Flags::SEEN));
    assert!(!flags.contains(Flags::SEEN | Flags::DRAFT));
    assert_eq!(flags.difference(Flags::SEEN), Flags::DELETED);
    assert_eq!(flags.intersection(Flags::DELETED | Flags::DRAFT), Flags::DELETED);
    assert_eq!(flags.to_string(), "\\Seen \\Deleted");
    assert_eq!(Flags::empty().to_string(), "");
    assert_eq!(Flags::from_name("\\flagged"), Some(Flags::FLAGGED));
    assert_eq!(Flags::from_name("\\Recent"), None);
    assert!(Flags::ALL.is_valid());
    assert!(!Flags(1 << 5).is_valid());
    assert_eq!(Flags::ALL.names().count(), 5);
    for special_use in
        [SpecialUse::Sent, SpecialUse::Drafts, SpecialUse::Archive, SpecialUse::Trash, SpecialUse::Junk]
    {
        assert_eq!(SpecialUse::from_attribute(&special_use.attribute().to_lowercase()), Some(special_use));
        assert_eq!(SpecialUse::from_code(special_use.code()), Ok(Some(special_use)));
    }
    assert_eq!(SpecialUse::from_code(0), Ok(None));
    assert_eq!(SpecialUse::from_code(200), Err(200));
}
