//! rkyv records at any alignment, corrupt values, key order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use crate::keys;
use crate::records::{
    MailboxRecord, MessageRecord, MessageRecordV1, StoredMessage, access_message, decode_mailbox,
    encode_mailbox, encode_message, encode_message_v1,
};
use crate::{Flags, MailboxId, MessageId, ModSeq, StorageError, Uid};

fn record(id: u64, keywords: Vec<String>, prefix: Vec<u8>) -> MessageRecord {
    MessageRecord {
        id,
        mailbox: 3,
        uid: 17,
        modseq: 99,
        received_ms: -5,
        size: 123_456,
        flags: (Flags::SEEN | Flags::DRAFT).0,
        keywords,
        prefix,
        saved_ms: 42,
    }
}

#[test]
fn records_read_in_place_at_every_alignment() {
    let original = record(7, vec!["$Label1".into(), "Work".into()], b"Received: x\r\n".to_vec());
    let value = encode_message(&original).unwrap();
    for offset in 0..16 {
        // Place the value at `offset` bytes into a buffer: odd addresses included.
        let mut buffer = vec![0u8; offset];
        buffer.extend_from_slice(&value);
        let archived = access_message(MessageId(7), &buffer[offset..]).unwrap();
        assert_eq!(archived.to_record(), original, "offset {offset}");
        assert_eq!(archived.saved_ms(), 42);
        assert_eq!(archived.uid(), Uid(17));
        assert_eq!(archived.modseq(), ModSeq(99));
        assert_eq!(archived.received_ms(), -5);
        assert_eq!(archived.flags(), Flags::SEEN | Flags::DRAFT);
        assert_eq!(archived.keywords().collect::<Vec<_>>(), ["$Label1", "Work"]);
        assert_eq!(archived.served_size(), 123_456 + 13);
    }
    let mailbox = MailboxRecord {
        id: 4,
        name: "Lists/rust".into(),
        special_use: 0,
        uidvalidity: 77,
        uidnext: 10,
        highest_modseq: 12,
        messages: 9,
        unseen: 2,
        deleted: 1,
        size_bytes: 4000,
    };
    let value = encode_mailbox(&mailbox).unwrap();
    for offset in 1..4 {
        let mut buffer = vec![0u8; offset];
        buffer.extend_from_slice(&value);
        assert_eq!(decode_mailbox(MailboxId(4), &buffer[offset..]).unwrap(), mailbox);
    }
}

#[test]
fn version_1_records_read_in_place_and_upgrade() {
    let v1 = MessageRecordV1 {
        id: 9,
        mailbox: 3,
        uid: 4,
        modseq: 5,
        received_ms: 1_600_000_000_000,
        size: 77,
        flags: Flags::ANSWERED.0,
        keywords: vec!["$Label1".into()],
        prefix: b"Received: y\r\n".to_vec(),
    };
    let value = encode_message_v1(&v1).unwrap();
    assert_eq!(value[0], 1);
    for offset in 0..9 {
        let mut buffer = vec![0u8; offset];
        buffer.extend_from_slice(&value);
        let stored = access_message(MessageId(9), &buffer[offset..]).unwrap();
        assert!(matches!(stored, StoredMessage::V1(_)));
        assert_eq!(stored.saved_ms(), 1_600_000_000_000);
        assert_eq!(stored.served_size(), 77 + 13);
        let upgraded = stored.to_record();
        assert_eq!(upgraded.saved_ms, upgraded.received_ms);
        assert_eq!(
            (upgraded.id, upgraded.keywords.clone(), upgraded.prefix.clone()),
            (9, v1.keywords.clone(), v1.prefix.clone())
        );
        // The callback view is the current layout with the same content.
        let info = stored.with_current(|record| record.to_info()).unwrap();
        assert_eq!(info, stored.to_info());
        assert_eq!(info.saved_ms, info.received_ms);
        // Written back, it is a version-2 record.
        let rewritten = encode_message(&upgraded).unwrap();
        assert_eq!(rewritten[0], 2);
        assert!(matches!(access_message(MessageId(9), &rewritten).unwrap(), StoredMessage::Current(_)));
    }
    // A v1 value is not accepted under the v2 version byte, nor the reverse.
    let mut relabeled = value.clone();
    relabeled[0] = 2;
    assert!(matches!(access_message(MessageId(9), &relabeled), Err(StorageError::Corrupt { .. })));
    let mut relabeled = encode_message(&record(9, vec![], vec![])).unwrap();
    relabeled[0] = 1;
    assert!(matches!(access_message(MessageId(9), &relabeled), Err(StorageError::Corrupt { .. })));
}

#[test]
fn wrong_key_version_or_bytes_are_corrupt() {
    let value = encode_message(&record(7, vec![], vec![])).unwrap();
    assert!(matches!(access_message(MessageId(8), &value), Err(StorageError::Corrupt { .. })));
    let mut newer = value.clone();
    newer[0] = 3;
    assert!(matches!(access_message(MessageId(7), &newer), Err(StorageError::Corrupt { .. })));
    assert!(matches!(access_message(MessageId(7), &[]), Err(StorageError::Corrupt { .. })));
    assert!(matches!(
        access_message(MessageId(7), &value[..value.len() - 1]),
        Err(StorageError::Corrupt { .. })
    ));
    let mailbox = encode_mailbox(&MailboxRecord {
        id: 1,
        name: "x".into(),
        special_use: 0,
        uidvalidity: 1,
        uidnext: 1,
        highest_modseq: 1,
        messages: 0,
        unseen: 0,
        deleted: 0,
        size_bytes: 0,
    })
    .unwrap();
    assert!(matches!(access_message(MessageId(1), &mailbox), Err(StorageError::Corrupt { .. })));
}

proptest! {
    #[test]
    fn message_records_round_trip(
        id in 1u64..,
        keywords in proptest::collection::vec("[a-zA-Z$]{1,12}", 0..8),
        prefix in proptest::collection::vec(any::<u8>(), 0..300),
        offset in 0usize..8,
    ) {
        let original = record(id, keywords, prefix);
        let mut buffer = vec![0xAA; offset];
        buffer.extend_from_slice(&encode_message(&original).unwrap());
        let archived = access_message(MessageId(id), &buffer[offset..]).unwrap();
        prop_assert_eq!(archived.to_record(), original);
    }

    #[test]
    fn damaged_values_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut value = encode_message(&record(5, vec!["k".into()], b"p\r\n".to_vec())).unwrap();
        for (index, byte) in flips {
            let at = index.index(value.len());
            value[at] = byte;
        }
        let len = cut.index(value.len() + 1);
        // Either a valid record (the flips hit padding or kept it sane) or Corrupt.
        match access_message(MessageId(5), &value[..len]) {
            Ok(record) => prop_assert_eq!(record.id(), MessageId(5)),
            Err(error) => {
                let corrupt = matches!(error, StorageError::Corrupt { .. });
                prop_assert!(corrupt, "{:?}", error);
            }
        }
    }

    #[test]
    fn key_bytes_sort_like_numbers(
        a in (any::<u32>(), any::<u64>(), any::<u32>()),
        b in (any::<u32>(), any::<u64>(), any::<u32>()),
    ) {
        let key = |(mailbox, modseq, uid): (u32, u64, u32)| {
            keys::modseq_key(MailboxId(mailbox), ModSeq(modseq), Uid(uid))
        };
        prop_assert_eq!(key(a).cmp(&key(b)), a.cmp(&b));
        let uid_key = |(mailbox, _, uid): (u32, u64, u32)| keys::uid_key(MailboxId(mailbox), Uid(uid));
        prop_assert_eq!(uid_key(a).cmp(&uid_key(b)), (a.0, a.2).cmp(&(b.0, b.2)));
        prop_assert_eq!(keys::decode_modseq_key(&key(a)).unwrap(), (MailboxId(a.0), ModSeq(a.1), Uid(a.2)));
    }
}
