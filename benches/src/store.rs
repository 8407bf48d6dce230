//! Account stores for the storage benches: a temporary data directory with one account,
//! spool files, delivery the way the account actor does it ([`AccountStore::deliver`]
//! with the summary computed beforehand), and SEARCH over it with the real session's
//! program ([`search_program`]) in the two phases the server's glue runs (the index pass
//! over the records in place, the content pass over the message headers).
//!
//! The data directory lives under `$MOXIDE_BENCH_DIR` ([`BENCH_DIR_ENV`]) when set, else
//! under the system temp directory: set it to the filesystem of a real data directory
//! to measure that disk's fsync, which the commit path bench is bound by.

use std::io::Read as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moxide_protocols::imap::server::{
    Answer, Event, MailboxSnapshot, MessageFacts, SearchContent, SearchProgram, ServerConfig, Session,
    SystemFlags, UidList, Verdict,
};
use moxide_protocols::mime::{self, MessageSummary, SummaryError};
use moxide_storage::{
    AccountStore, DELIVERY_BATCH_MAX, DataDir, DeliveryError, Flags, MailboxId, MailboxTarget, MessageId,
    NewMessage, StorageError, StoreOptions, Uid,
};
use tempfile::TempDir;

use crate::corpus::{TEXT_MESSAGE_BYTES, text_message};

/// Environment variable naming the directory to create bench data directories in.
pub const BENCH_DIR_ENV: &str = "MOXIDE_BENCH_DIR";

/// Messages per delivery when filling a store: large batches, as a burst of incoming
/// mail would give the account actor, so filling 10k messages takes 10 commits.
pub const FILL_BATCH_MAX: usize = 1000;
const _: () = assert!(FILL_BATCH_MAX <= DELIVERY_BATCH_MAX);

/// INTERNALDATE of the first corpus message (2025-10-14 09:12:43 UTC), Unix ms.
const RECEIVED_MS_MIN: i64 = 1_760_433_163_000;

/// Why a bench fixture could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// What was touched.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// One message of a batch was not delivered.
    #[error("message {index} of the batch was not delivered: {source}")]
    Delivery {
        /// Position in the batch.
        index: usize,
        /// Why.
        source: DeliveryError,
    },
    /// A newly opened store has no INBOX.
    #[error("the new store has no INBOX")]
    NoInbox,
    /// A stored summary does not decode.
    #[error("summary of message {id}: {source}")]
    Summary {
        /// The message.
        id: MessageId,
        /// Why.
        source: SummaryError,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FixtureError + '_ {
    move |source| FixtureError::Io { path: path.to_path_buf(), source }
}

/// A temporary data directory with one open account store; removed on drop.
#[derive(Debug)]
pub struct BenchStore {
    /// The account's store.
    pub store: AccountStore,
    /// Its data directory.
    pub data: DataDir,
    /// The id of its INBOX.
    pub inbox: MailboxId,
    /// Keeps the directory alive; dropped last.
    _dir: TempDir,
}

/// How a fill went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillReport {
    /// Messages delivered.
    pub messages: u32,
    /// Message bytes stored (files, without prefixes).
    pub bytes: u64,
    /// Wall time of the whole fill (spooling, summaries, deliveries).
    pub elapsed: Duration,
}

impl BenchStore {
    /// Creates a data directory and opens `account` in it with the default options.
    pub fn create(account: &str) -> Result<BenchStore, FixtureError> {
        let base = std::env::var_os(BENCH_DIR_ENV).map_or_else(std::env::temp_dir, PathBuf::from);
        let dir =
            tempfile::Builder::new().prefix("moxide-bench-").tempdir_in(&base).map_err(io_error(&base))?;
        let data = DataDir::open(dir.path())?;
        let store = AccountStore::open(&data, account, &StoreOptions::default())?;
        let inbox = store.read(|view| view.mailbox_by_name("INBOX"))?.map(|mailbox| mailbox.id);
        let inbox = inbox.ok_or(FixtureError::NoInbox)?;
        Ok(BenchStore { store, data, inbox, _dir: dir })
    }

    /// Writes `bytes` to spool file `name` and fsyncs it, as the SMTP session does before
    /// it asks for delivery.
    pub fn write_spool(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, FixtureError> {
        let path = self.data.spool_dir().join(name);
        std::fs::write(&path, bytes).map_err(io_error(&path))?;
        std::fs::File::open(&path).and_then(|file| file.sync_all()).map_err(io_error(&path))?;
        Ok(path)
    }

    /// Delivers `batch` in one commit; every message must be accepted.
    pub fn deliver(&self, batch: &[NewMessage]) -> Result<(), FixtureError> {
        for (index, outcome) in self.store.deliver(batch)?.into_iter().enumerate() {
            outcome.map_err(|source| FixtureError::Delivery { index, source })?;
        }
        Ok(())
    }

    /// Delivers corpus messages 0..count of [`TEXT_MESSAGE_BYTES`] into the INBOX in
    /// batches of [`FILL_BATCH_MAX`], each with its summary and delivery prefix; one in
    /// ten stays unseen ([`is_unseen`]). Spool files are removed after their batch.
    pub fn fill(&self, count: u32) -> Result<FillReport, FixtureError> {
        let start = Instant::now();
        let mut bytes = 0;
        let numbers: Vec<u32> = (0..count).collect();
        for chunk in numbers.chunks(FILL_BATCH_MAX) {
            let mut batch = Vec::with_capacity(chunk.len());
            for &n in chunk {
                let message = text_message(n, TEXT_MESSAGE_BYTES);
                let path = self.data.spool_dir().join(format!("fill-{n}"));
                // No fsync: durability of the fill is not what any bench measures.
                std::fs::write(&path, &message).map_err(io_error(&path))?;
                let flags = if is_unseen(n) { Flags::empty() } else { Flags::SEEN };
                let summary = mime::summarize(&message).encode();
                batch.push(new_message(path, n, &message, flags, Some(summary)));
                bytes += message.len() as u64;
            }
            self.deliver(&batch)?;
            for message in &batch {
                std::fs::remove_file(&message.spool_path).map_err(io_error(&message.spool_path))?;
            }
        }
        Ok(FillReport { messages: count, bytes, elapsed: start.elapsed() })
    }
}

/// True for the fill's unseen messages: one in ten, as in a mailbox read daily.
pub fn is_unseen(n: u32) -> bool {
    n.is_multiple_of(10)
}

/// The header lines the SMTP side adds at delivery (Received, Authentication-Results),
/// stored as the record's prefix: about 600 bytes.
pub fn delivery_prefix(n: u32) -> Vec<u8> {
    format!(
        "Received: from mail-out.lists.example.org (mail-out.lists.example.org [192.0.2.25])\r\n\
         \tby mx.example.com (moxide) with ESMTPS id {n:016x}\r\n\
         \t(version=TLS1_3 cipher=TLS_AES_128_GCM_SHA256)\r\n\
         \tfor <alice@example.com>; Tue, 14 Oct 2025 09:12:43 +0000\r\n\
         Authentication-Results: mx.example.com;\r\n\
         \tiprev=pass smtp.remote-ip=192.0.2.25;\r\n\
         \tspf=pass smtp.mailfrom=reports-bounces@lists.example.org;\r\n\
         \tdkim=pass header.d=lists.example.org header.s=sel2025 header.a=rsa-sha256;\r\n\
         \tdmarc=pass header.from=lists.example.org policy.dmarc=none\r\n\
         Delivered-To: alice@example.com\r\n\
         X-Moxide-Spam-Score: -2.1\r\n"
    )
    .into_bytes()
}

/// A delivery of `message` (spooled at `spool_path`) to the INBOX, as message `n`.
pub fn new_message(
    spool_path: PathBuf,
    n: u32,
    message: &[u8],
    flags: Flags,
    summary: Option<Vec<u8>>,
) -> NewMessage {
    NewMessage {
        spool_path,
        size: message.len() as u64,
        prefix: delivery_prefix(n),
        mailbox: MailboxTarget::Inbox,
        received_ms: RECEIVED_MS_MIN + i64::from(n) * 60_000,
        flags,
        keywords: Vec::new(),
        saved_ms: None,
        summary,
    }
}

/// The SEARCH program the real IMAP session makes for `key` (e.g. `UNSEEN`) with a view
/// of UIDs 1..=`count`: the session parses the command and hands the program out, as it
/// does to the server's glue. `None` when the session refused the key.
pub fn search_program(key: &str, count: u32) -> Option<Arc<SearchProgram>> {
    let mut session = Session::new(Arc::new(ServerConfig::default()), false, Vec::new());
    session.start(true);
    let mut program = None;
    for input in [b"s1 SELECT INBOX\r\n".to_vec(), format!("s2 SEARCH {key}\r\n").into_bytes()] {
        session.handle_input(&input, 0);
        while let Some(event) = session.poll_event() {
            match event {
                Event::Select { .. } => {
                    let uids = UidList::from_sorted(1..=count);
                    let snapshot =
                        MailboxSnapshot { uidvalidity: 1, uidnext: count + 1, uids, ..Default::default() };
                    session.answer(Answer::Selected(snapshot));
                }
                Event::Search(found) => program = Some(found),
                _ => {}
            }
        }
    }
    program
}

/// A message the index could not decide, copied out of the read transaction.
struct Undecided {
    uid: u32,
    id: MessageId,
    size: u64,
    prefix: Vec<u8>,
    summary: Option<Vec<u8>>,
}

/// The index phase of SEARCH, as the server's glue runs it: every record of `mailbox`
/// judged in place by `program`. Returns the matches and the UIDs the content decides.
pub fn search_index(
    store: &AccountStore,
    mailbox: MailboxId,
    program: &SearchProgram,
) -> Result<(Vec<u32>, Vec<u32>), StorageError> {
    let (matched, undecided) = index_phase(store, mailbox, program)?;
    Ok((matched, undecided.iter().map(|message| message.uid).collect()))
}

fn index_phase(
    store: &AccountStore,
    mailbox: MailboxId,
    program: &SearchProgram,
) -> Result<(Vec<u32>, Vec<Undecided>), StorageError> {
    let mut matched = Vec::new();
    let mut undecided = Vec::new();
    store.read(|view| {
        view.for_each_message(mailbox, Uid(1), Uid(u32::MAX), |record| {
            let keywords: Vec<&str> = record.keywords().collect();
            let facts = facts(record, &keywords);
            match program.judge(&facts, None) {
                Verdict::Yes => matched.push(facts.uid),
                Verdict::No => {}
                Verdict::NeedsContent => undecided.push(Undecided {
                    uid: facts.uid,
                    id: record.id(),
                    size: record.size(),
                    prefix: record.prefix().to_vec(),
                    summary: None,
                }),
            }
            ControlFlow::Continue(())
        })?;
        for message in &mut undecided {
            message.summary = view.summary(message.id)?.map(<[u8]>::to_vec);
        }
        Ok(())
    })?;
    Ok((matched, undecided))
}

/// The index facts of a record, as the glue gives them to the session.
fn facts<'a>(record: &'a moxide_storage::ArchivedMessageRecord, keywords: &'a [&'a str]) -> MessageFacts<'a> {
    MessageFacts {
        uid: record.uid().0,
        modseq: record.modseq().0,
        flags: SystemFlags((record.flags().0 & Flags::ALL.0) as u8),
        keywords,
        internal_date_ms: record.received_ms(),
        save_date_ms: record.saved_ms(),
        file_bytes: record.size(),
        prefix: record.prefix(),
        email_id: record.id().0,
    }
}

/// Both phases of a SEARCH whose key needs the header block (`HEADER name needle`), as
/// the glue runs them: the index phase, then each undecided message's file read, its
/// header block (delivery prefix + the file's header, found by the summary) given to
/// the program. Returns the matching UIDs.
pub fn search_headers(
    store: &AccountStore,
    mailbox: MailboxId,
    program: &SearchProgram,
) -> Result<Vec<u32>, FixtureError> {
    let (mut matched, undecided) = index_phase(store, mailbox, program)?;
    for message in undecided {
        let header = header_block(store, message.id, message.size, message.prefix, message.summary)?;
        let content = SearchContent { header: &header, ..SearchContent::default() };
        let facts = MessageFacts {
            uid: message.uid,
            modseq: 1,
            flags: SystemFlags::default(),
            keywords: &[],
            internal_date_ms: 0,
            save_date_ms: 0,
            file_bytes: message.size,
            prefix: &[],
            email_id: message.id.0,
        };
        if program.judge(&facts, Some(&content)) == Verdict::Yes {
            matched.push(message.uid);
        }
    }
    matched.sort_unstable();
    Ok(matched)
}

/// Delivery prefix + the message file's header, as SEARCH matches header keys against.
fn header_block(
    store: &AccountStore,
    id: MessageId,
    size: u64,
    prefix: Vec<u8>,
    summary: Option<Vec<u8>>,
) -> Result<Vec<u8>, FixtureError> {
    let mut file = store.open_message_file(id, size)?;
    let mut bytes = Vec::new();
    let path = store.message_path(id);
    file.read_to_end(&mut bytes).map_err(io_error(&path))?;
    let summary = match summary {
        Some(stored) => {
            MessageSummary::decode(&stored).map_err(|source| FixtureError::Summary { id, source })?
        }
        None => mime::summarize(&bytes),
    };
    let header_end = usize::try_from(summary.root.header.end).unwrap_or(usize::MAX).min(bytes.len());
    let mut header = prefix;
    header.extend_from_slice(&bytes[..header_end]);
    Ok(header)
}

/// Every message's header block ([`search_headers`]'s), loaded once: the input
/// of the matching-only bench.
pub fn header_blocks(store: &AccountStore, mailbox: MailboxId) -> Result<Vec<(u32, Vec<u8>)>, FixtureError> {
    let mut candidates = Vec::new();
    store.read(|view| {
        view.for_each_message(mailbox, Uid(1), Uid(u32::MAX), |record| {
            candidates.push((record.uid().0, record.id(), record.size(), record.prefix().to_vec()));
            ControlFlow::Continue(())
        })
    })?;
    candidates
        .into_iter()
        .map(|(uid, id, size, prefix)| Ok((uid, header_block(store, id, size, prefix, None)?)))
        .collect()
}

/// UIDs of the blocks whose field `name` contains `needle` ([`mime::header_matches`]).
pub fn match_headers(blocks: &[(u32, Vec<u8>)], name: &str, needle: &str) -> Vec<u32> {
    blocks
        .iter()
        .filter(|(_, block)| mime::header_matches(block, name, needle))
        .map(|(uid, _)| *uid)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::corpus::{INVOICE_WORD, is_invoice};

    #[test]
    fn fill_and_both_searches_find_what_the_corpus_holds() {
        let bench = BenchStore::create("alice").unwrap();
        let report = bench.fill(1_200).unwrap();
        assert_eq!(report.messages, 1_200);
        assert_eq!(report.bytes, 1_200 * TEXT_MESSAGE_BYTES as u64);
        // UIDs start at 1 and follow the corpus numbers.
        let unseen_program = search_program("UNSEEN", 1_200).unwrap();
        let (unseen, undecided) = search_index(&bench.store, bench.inbox, &unseen_program).unwrap();
        let expected: Vec<u32> = (0..1_200).filter(|&n| is_unseen(n)).map(|n| n + 1).collect();
        assert_eq!(unseen, expected);
        assert!(undecided.is_empty());
        let invoices: Vec<u32> = (0..1_200).filter(|&n| is_invoice(n)).map(|n| n + 1).collect();
        let header_program = search_program(&format!("HEADER Subject {INVOICE_WORD}"), 1_200).unwrap();
        let found = search_headers(&bench.store, bench.inbox, &header_program).unwrap();
        assert_eq!(found, invoices);
        let blocks = header_blocks(&bench.store, bench.inbox).unwrap();
        assert_eq!(blocks.len(), 1_200);
        assert!(blocks[0].1.starts_with(b"Received: from mail-out"), "the prefix comes first");
        assert_eq!(match_headers(&blocks, "Subject", INVOICE_WORD), invoices);
        // The delivery prefix is searched too.
        assert_eq!(match_headers(&blocks, "X-Moxide-Spam-Score", "-2.1").len(), 1_200);
        // RFC 2047 subjects are decoded before matching.
        let encoded = (0..1_200).filter(|&n| !is_invoice(n) && n % 7 == 3).count();
        assert_eq!(match_headers(&blocks, "Subject", "überarbeitet").len(), encoded);
    }

    #[test]
    fn a_missing_spool_file_fails_the_delivery() {
        let bench = BenchStore::create("bob").unwrap();
        let message = text_message(0, TEXT_MESSAGE_BYTES);
        let missing = bench.data.spool_dir().join("missing");
        let batch = [new_message(missing, 0, &message, Flags::empty(), None)];
        assert!(matches!(bench.deliver(&batch), Err(FixtureError::Delivery { index: 0, .. })));
    }
}
