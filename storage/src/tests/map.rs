//! Map growth under load while another thread reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{assert_consistent, body, fixture, new_message};
use crate::{AccountStore, MAP_SIZE_MIN_BYTES, MailboxTarget, StoreOptions, Uid};

#[test]
fn map_grows_while_a_reader_reads() {
    let fixture = fixture();
    let options = StoreOptions { map_size_initial_bytes: 1, ..StoreOptions::default() };
    let store = Arc::new(AccountStore::open(&fixture.data, "big", &options).unwrap());
    let initial = store.map_size_bytes();
    assert_eq!(initial, MAP_SIZE_MIN_BYTES);
    let inbox = super::inbox(&store);

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut reads = 0u64;
            let mut last_seen = 0;
            while !stop.load(Ordering::Relaxed) {
                let (listed, counted) = store
                    .read(|view| {
                        let counted = view.mailbox(inbox)?.map_or(0, |mailbox| mailbox.messages);
                        let mut listed = 0u32;
                        view.for_each_message(inbox, Uid(1), Uid(u32::MAX), |record| {
                            assert_eq!(record.uid().0, listed + 1);
                            listed += 1;
                            ControlFlow::Continue(())
                        })?;
                        Ok((listed, counted))
                    })
                    .unwrap();
                // One snapshot: the index and the counts agree, and never go back.
                assert_eq!(listed, counted);
                assert!(counted >= last_seen);
                last_seen = counted;
                reads += 1;
            }
            reads
        })
    };

    let prefix = vec![b'x'; 400];
    let mut prefix = prefix;
    prefix.extend_from_slice(b"\r\n");
    for batch_number in 0..20u64 {
        let bytes = body(batch_number);
        let spool = fixture.spool(&bytes);
        let batch: Vec<_> = (0..100)
            .map(|_| {
                let mut message = new_message(spool.clone(), &bytes, MailboxTarget::Inbox);
                message.prefix = prefix.clone();
                message
            })
            .collect();
        for result in store.deliver(&batch).unwrap() {
            result.unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    // Several doublings happened.
    assert!(store.map_size_bytes() >= 8 * initial, "{}", store.map_size_bytes());
    assert_eq!(store.read(|view| view.mailbox(inbox)).unwrap().unwrap().messages, 2000);
    assert_consistent(&store);
}

#[test]
fn map_full_at_maximum_is_an_error_and_changes_nothing() {
    let fixture = fixture();
    let options = StoreOptions {
        map_size_initial_bytes: MAP_SIZE_MIN_BYTES,
        map_size_max_bytes: 2 * MAP_SIZE_MIN_BYTES,
        readers_max: 8,
        ..StoreOptions::default()
    };
    let store = AccountStore::open(&fixture.data, "small", &options).unwrap();
    let inbox = super::inbox(&store);
    let bytes = body(1);
    let spool = fixture.spool(&bytes);
    let mut delivered = 0;
    let error = loop {
        let mut message = new_message(spool.clone(), &bytes, MailboxTarget::Inbox);
        message.prefix = vec![b'y'; 2000];
        message.prefix.extend_from_slice(b"\r\n");
        match store.deliver(&vec![message; 10]) {
            Ok(results) => delivered += results.len() as u32,
            Err(error) => break error,
        }
        assert!(delivered < 10_000, "the map never filled");
    };
    assert!(matches!(error, crate::StorageError::MapFull), "{error:?}");
    assert_eq!(store.map_size_bytes(), 2 * MAP_SIZE_MIN_BYTES);
    assert_eq!(store.read(|view| view.mailbox(inbox)).unwrap().unwrap().messages, delivered);
    // The failed batch's files were removed: no orphans.
    assert_consistent(&store);
}
