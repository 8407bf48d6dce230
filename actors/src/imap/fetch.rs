//! FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 CHANGEDSINCE/VANISHED,
//! RFC 8514 SAVEDATE).
//!
//! A FETCH runs in chunks of [`FETCH_CHUNK_MAX`] messages: records and summaries are read
//! in one read transaction on this core; implicit `\Seen` goes to the account actor; then
//! one helper-thread call opens the chunk's message files and builds every item (section
//! bytes, header fields, BINARY decoding). Large ranges of a message file are not read at
//! all: they are queued as file segments and go to the socket with sendfile. FLAGS, UID,
//! sizes, dates, ENVELOPE and BODYSTRUCTURE come from the record and the stored summary,
//! so the common header-list FETCH never parses a message.

use std::fs::File;
use std::io::Read as _;
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use moxide_protocols::imap::{
    DateTime, FetchAttr, FetchModifier, Partial, ResponseCode, Section, SectionText, SequenceSet,
    format_uid_set, write_datetime, write_flags, write_literal_header, write_vanished,
};
use moxide_protocols::mime::{self, MessageSummary, SectionKind};
use moxide_storage::{AccountStore, FlagOp, Flags, MessageInfo, ModSeq, Uid};

use super::flags;
use super::session::{CommandError, CommandResult, Done, Session};

/// Messages per chunk: bounds the memory a FETCH holds and the descriptors it opens.
pub(crate) const FETCH_CHUNK_MAX: usize = 64;

/// File ranges up to this size are read and sent from memory; larger ones go out with
/// sendfile. Small reads avoid a syscall round per item; large ones avoid the copy.
const INLINE_BYTES_MAX: u64 = 64 * 1024;

/// One message of a chunk, as read from the index.
struct Loaded {
    seq: u32,
    info: MessageInfo,
    summary: Option<Vec<u8>>,
}

/// A built FETCH item: bytes, and possibly a file range to send after them.
enum Built {
    Bytes(Vec<u8>),
    File(Range<u64>),
}

/// Why an item could not be built.
enum ItemError {
    Io(String),
    UnknownCte,
    Invalid(String),
}

impl Session {
    pub(crate) async fn fetch(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mut attrs: Vec<FetchAttr>,
        modifiers: &[FetchModifier],
    ) -> CommandResult {
        let mut changed_since = None;
        let mut vanished = false;
        for modifier in modifiers {
            match modifier {
                FetchModifier::ChangedSince(modseq) => changed_since = Some(*modseq),
                FetchModifier::Vanished => vanished = true,
            }
        }
        if vanished && !(uid && self.enabled.qresync && changed_since.is_some()) {
            // RFC 7162 §3.2.6: VANISHED needs UID FETCH, QRESYNC enabled and CHANGEDSINCE.
            return Err(CommandError::Bad(
                "VANISHED needs UID FETCH with CHANGEDSINCE and QRESYNC enabled".into(),
            ));
        }
        if changed_since.is_some() {
            self.enabled.condstore = true;
            if !attrs.contains(&FetchAttr::ModSeq) {
                attrs.push(FetchAttr::ModSeq);
            }
        }
        if uid && !attrs.contains(&FetchAttr::Uid) {
            attrs.insert(0, FetchAttr::Uid);
        }
        let (account, store) = {
            let login = self.login_ref()?;
            (Arc::clone(&login.account), Arc::clone(&login.store))
        };
        let Some(selected) = self.selected.as_ref() else {
            return Err(CommandError::Bad("no mailbox selected".into()));
        };
        let targets = if uid { selected.resolve_uids(set) } else { selected.resolve_seqs(set) };
        let mailbox = selected.mailbox;
        let read_only = selected.read_only;
        if vanished && let Some(since) = changed_since {
            let max_uid = selected.max_uid();
            let mut gone: Vec<u32> = store
                .read(|view| view.expunged_since(mailbox, ModSeq(since)))?
                .into_iter()
                .map(|(uid, _)| uid.0)
                .filter(|u| set.contains(*u, max_uid.max(*u)))
                .collect();
            gone.sort_unstable();
            if !gone.is_empty() {
                write_vanished(self.out.buf(), true, &format_uid_set(&gone));
            }
        }
        let targets = match changed_since {
            // RFC 7162 §3.1.4.1: only messages changed since; found by the modseq index,
            // not by reading every record of the set.
            Some(since) => {
                let changed: std::collections::HashSet<u32> = store
                    .read(|view| view.changed_since(mailbox, ModSeq(since)))?
                    .into_iter()
                    .map(|(uid, _)| uid.0)
                    .collect();
                targets.into_iter().filter(|(_, uid)| changed.contains(uid)).collect()
            }
            None => targets,
        };
        let marks_seen = !read_only && attrs.iter().any(sets_seen);
        if !marks_seen && attrs.iter().all(from_index) {
            self.fetch_from_index(&store, mailbox, &targets, &attrs).await?;
            return Ok(Done::ok("FETCH completed"));
        }
        let attrs = Arc::new(attrs);
        for chunk in targets.chunks(FETCH_CHUNK_MAX) {
            let mut loaded = load(&store, mailbox, chunk, changed_since)?;
            if marks_seen {
                self.mark_seen(&account, mailbox, &mut loaded).await?;
            }
            let chunk_store = Arc::clone(&store);
            let chunk_attrs = Arc::clone(&attrs);
            let built = moxide_runtime::offload(move || build_chunk(&chunk_store, loaded, &chunk_attrs))
                .await
                .map_err(|panic| CommandError::Internal(panic.to_string()))?;
            for (seq, items, file) in built {
                let items = items.map_err(|error| match error {
                    ItemError::Io(text) => CommandError::Internal(text),
                    ItemError::UnknownCte => CommandError::No(
                        Some(ResponseCode::UnknownCte),
                        "unknown content-transfer-encoding".into(),
                    ),
                    ItemError::Invalid(text) => CommandError::Bad(text),
                })?;
                self.write_fetch(seq, items, file);
            }
            if self.out.wants_flush() {
                self.flush().await.map_err(|e| CommandError::Internal(format!("writing FETCH: {e}")))?;
            }
        }
        Ok(Done::ok("FETCH completed"))
    }

    /// FETCH of items the index record holds (FLAGS, UID, sizes, dates, MODSEQ): straight
    /// from archived records in place, on this core, without building message copies or
    /// going to a helper thread — the sync pattern of every client (FETCH 1:* (FLAGS)).
    async fn fetch_from_index(
        &mut self,
        store: &AccountStore,
        mailbox: moxide_storage::MailboxId,
        targets: &[(u32, u32)],
        attrs: &[FetchAttr],
    ) -> Result<(), CommandError> {
        // Sequence numbers and UIDs grow together, so sorting by either orders both: the
        // walk below matches records to targets in one pass, whatever order the set named
        // them in (`5,1:3`) and once each (`1,1`).
        let mut targets = targets.to_vec();
        targets.sort_unstable();
        targets.dedup();
        for chunk in targets.chunks(INDEX_FETCH_CHUNK_MAX) {
            let uids: Vec<Uid> = chunk.iter().map(|&(_, uid)| Uid(uid)).collect();
            let mut seqs = chunk.iter();
            let out = self.out.buf();
            store.read(|view| {
                view.for_each_uid(mailbox, &uids, |record| {
                    let uid = record.uid().0;
                    // Both walk in UID order; skip targets whose record vanished.
                    if let Some(&(seq, _)) = seqs.by_ref().find(|&&(_, u)| u == uid) {
                        write_index_items(out, seq, record, attrs);
                    }
                    std::ops::ControlFlow::Continue(())
                })
            })?;
            if self.out.wants_flush() {
                self.flush().await.map_err(|e| CommandError::Internal(format!("writing FETCH: {e}")))?;
            }
        }
        Ok(())
    }

    fn write_fetch(&mut self, seq: u32, items: Vec<Built>, file: Option<Arc<File>>) {
        self.out.buf().extend_from_slice(format!("* {seq} FETCH (").as_bytes());
        for item in items {
            match item {
                Built::Bytes(bytes) => self.out.buf().extend_from_slice(&bytes),
                Built::File(range) => {
                    if let Some(file) = &file {
                        self.out.file(Arc::clone(file), range.start, range.end - range.start);
                    }
                }
            }
        }
        self.out.buf().extend_from_slice(b")\r\n");
    }

    /// RFC 9051 §6.4.5: fetching BODY[...] (not PEEK), RFC822 or RFC822.TEXT sets \Seen.
    async fn mark_seen(
        &mut self,
        account: &Arc<str>,
        mailbox: moxide_storage::MailboxId,
        loaded: &mut [Loaded],
    ) -> Result<(), CommandError> {
        let unseen: Vec<Uid> =
            loaded.iter().filter(|m| !m.info.flags.contains(Flags::SEEN)).map(|m| m.info.uid).collect();
        if unseen.is_empty() {
            return Ok(());
        }
        let stored =
            self.node.store_flags(account, mailbox, unseen, FlagOp::Add, Flags::SEEN, vec![], None).await?;
        for change in stored.changed {
            if let Some(message) = loaded.iter_mut().find(|m| m.info.uid == change.uid) {
                message.info.flags = change.flags;
                message.info.modseq = change.modseq;
                if let Some(selected) = self.selected.as_mut() {
                    selected.note_reported(change.uid.0, change.modseq.0);
                }
            }
        }
        Ok(())
    }
}

/// Records per read transaction in an index-only FETCH: large, since each costs two
/// B-tree lookups and a few dozen bytes of output.
const INDEX_FETCH_CHUNK_MAX: usize = 2048;

/// Items answered from the index record alone.
fn from_index(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::Uid
            | FetchAttr::Flags
            | FetchAttr::InternalDate
            | FetchAttr::Rfc822Size
            | FetchAttr::ModSeq
            | FetchAttr::SaveDate
    )
}

fn write_index_items(
    out: &mut Vec<u8>,
    seq: u32,
    record: &moxide_storage::ArchivedMessageRecord,
    attrs: &[FetchAttr],
) {
    out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
    for (i, attr) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match attr {
            FetchAttr::Uid => out.extend_from_slice(format!("UID {}", record.uid().0).as_bytes()),
            FetchAttr::Flags => {
                out.extend_from_slice(b"FLAGS ");
                write_flags(out, &flags::join(record.flags(), record.keywords()));
            }
            FetchAttr::InternalDate => {
                out.extend_from_slice(b"INTERNALDATE ");
                write_datetime(
                    out,
                    &DateTime { unix_secs: record.received_ms().div_euclid(1000), offset_minutes: 0 },
                );
            }
            FetchAttr::SaveDate => {
                out.extend_from_slice(b"SAVEDATE ");
                write_datetime(
                    out,
                    &DateTime { unix_secs: record.saved_ms().div_euclid(1000), offset_minutes: 0 },
                );
            }
            FetchAttr::Rfc822Size => {
                out.extend_from_slice(format!("RFC822.SIZE {}", record.served_size()).as_bytes())
            }
            FetchAttr::ModSeq => out.extend_from_slice(format!("MODSEQ ({})", record.modseq().0).as_bytes()),
            _ => {}
        }
    }
    out.extend_from_slice(b")\r\n");
}

fn sets_seen(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::BodySection { peek: false, .. }
            | FetchAttr::Binary { peek: false, .. }
            | FetchAttr::Rfc822
            | FetchAttr::Rfc822Text
    )
}

fn load(
    store: &AccountStore,
    mailbox: moxide_storage::MailboxId,
    chunk: &[(u32, u32)],
    changed_since: Option<u64>,
) -> Result<Vec<Loaded>, CommandError> {
    Ok(store.read(|view| {
        let mut loaded = Vec::with_capacity(chunk.len());
        for &(seq, uid) in chunk {
            let Some(info) = view.message_by_uid(mailbox, Uid(uid))? else { continue };
            if changed_since.is_some_and(|since| info.modseq.0 <= since) {
                continue;
            }
            let summary = view.summary(info.id)?.map(<[u8]>::to_vec);
            loaded.push(Loaded { seq, info, summary });
        }
        Ok(loaded)
    })?)
}

type BuiltMessage = (u32, Result<Vec<Built>, ItemError>, Option<Arc<File>>);

/// On a helper thread: opens files and builds every item of every message of a chunk.
fn build_chunk(store: &AccountStore, loaded: Vec<Loaded>, attrs: &[FetchAttr]) -> Vec<BuiltMessage> {
    loaded
        .into_iter()
        .map(|message| {
            let mut context = Context { store, message: &message, file: None, summary: None };
            let items = build_items(&mut context, attrs);
            let file = context.file.take();
            (message.seq, items, file)
        })
        .collect()
}

/// What building one message's items needs, opened lazily.
struct Context<'a> {
    store: &'a AccountStore,
    message: &'a Loaded,
    file: Option<Arc<File>>,
    summary: Option<MessageSummary>,
}

impl Context<'_> {
    fn file(&mut self) -> Result<Arc<File>, ItemError> {
        if let Some(file) = &self.file {
            return Ok(Arc::clone(file));
        }
        let info = &self.message.info;
        let file =
            self.store.open_message_file(info.id, info.size).map_err(|e| ItemError::Io(e.to_string()))?;
        let file = Arc::new(file);
        self.file = Some(Arc::clone(&file));
        Ok(file)
    }

    fn read(&mut self, range: Range<u64>) -> Result<Vec<u8>, ItemError> {
        let file = self.file()?;
        let mut bytes = vec![0u8; (range.end - range.start) as usize];
        file.read_exact_at(&mut bytes, range.start).map_err(|e| ItemError::Io(e.to_string()))?;
        Ok(bytes)
    }

    fn summary(&mut self) -> Result<&MessageSummary, ItemError> {
        if self.summary.is_none() {
            let stored = self.message.summary.clone();
            let file = self.file()?;
            let summary = crate::summary::summary_of(stored.as_deref(), || {
                let mut bytes = Vec::new();
                (&*file).read_to_end(&mut bytes)?;
                Ok(bytes)
            })
            .map_err(|e| ItemError::Io(e.to_string()))?;
            self.summary = Some(summary);
        }
        self.summary.as_ref().ok_or_else(|| ItemError::Io("summary unavailable".into()))
    }
}

fn build_items(context: &mut Context<'_>, attrs: &[FetchAttr]) -> Result<Vec<Built>, ItemError> {
    let mut items = Vec::new();
    for (i, attr) in attrs.iter().enumerate() {
        if i > 0 {
            push_bytes(&mut items, b" ");
        }
        build_item(context, attr, &mut items)?;
    }
    Ok(items)
}

fn push_bytes(items: &mut Vec<Built>, bytes: &[u8]) {
    if let Some(Built::Bytes(last)) = items.last_mut() {
        last.extend_from_slice(bytes);
    } else {
        items.push(Built::Bytes(bytes.to_vec()));
    }
}

fn build_item(context: &mut Context<'_>, attr: &FetchAttr, items: &mut Vec<Built>) -> Result<(), ItemError> {
    let info = &context.message.info;
    let mut out = Vec::new();
    match attr {
        FetchAttr::Uid => out.extend_from_slice(format!("UID {}", info.uid.0).as_bytes()),
        FetchAttr::Flags => {
            out.extend_from_slice(b"FLAGS ");
            write_flags(&mut out, &flags::join(info.flags, info.keywords.iter().cloned()));
        }
        FetchAttr::InternalDate => {
            out.extend_from_slice(b"INTERNALDATE ");
            write_datetime(
                &mut out,
                &DateTime { unix_secs: info.received_ms.div_euclid(1000), offset_minutes: 0 },
            );
        }
        FetchAttr::SaveDate => {
            out.extend_from_slice(b"SAVEDATE ");
            write_datetime(
                &mut out,
                &DateTime { unix_secs: info.saved_ms.div_euclid(1000), offset_minutes: 0 },
            );
        }
        FetchAttr::Rfc822Size => {
            out.extend_from_slice(format!("RFC822.SIZE {}", served_size(info)).as_bytes())
        }
        FetchAttr::ModSeq => out.extend_from_slice(format!("MODSEQ ({})", info.modseq.0).as_bytes()),
        FetchAttr::Envelope => {
            out.extend_from_slice(b"ENVELOPE ");
            mime::write_envelope(&mut out, &context.summary()?.envelope);
        }
        FetchAttr::Body => {
            out.extend_from_slice(b"BODY ");
            mime::write_body_structure(&mut out, &context.summary()?.root, false);
        }
        FetchAttr::BodyStructure => {
            out.extend_from_slice(b"BODYSTRUCTURE ");
            mime::write_body_structure(&mut out, &context.summary()?.root, true);
        }
        FetchAttr::Rfc822 => return section_item(context, b"RFC822", &Section::Full, None, items),
        FetchAttr::Rfc822Header => {
            return section_item(context, b"RFC822.HEADER", &Section::Text(SectionText::Header), None, items);
        }
        FetchAttr::Rfc822Text => {
            return section_item(context, b"RFC822.TEXT", &Section::Text(SectionText::Text), None, items);
        }
        FetchAttr::BodySection { section, partial, .. } => {
            let name = format!(
                "BODY[{}]{}",
                section_name(section),
                partial.map_or(String::new(), |p| format!("<{}>", p.offset))
            );
            return section_item(context, name.as_bytes(), section, *partial, items);
        }
        FetchAttr::Binary { part, partial, .. } => return binary_item(context, part, *partial, items),
        FetchAttr::BinarySize { part } => {
            let decoded = decoded_part(context, part)?;
            out.extend_from_slice(format!("BINARY.SIZE[{}] {}", part_name(part), decoded.len()).as_bytes());
        }
    }
    push_bytes(items, &out);
    Ok(())
}

fn served_size(info: &MessageInfo) -> u64 {
    info.prefix.len() as u64 + info.size
}

/// A section's content: memory pieces and file ranges, in order.
enum Piece {
    Memory(Vec<u8>),
    File(Range<u64>),
}

fn section_item(
    context: &mut Context<'_>,
    name: &[u8],
    section: &Section,
    partial: Option<Partial>,
    items: &mut Vec<Built>,
) -> Result<(), ItemError> {
    let Some(pieces) = section_pieces(context, section)? else {
        let mut out = name.to_vec();
        out.extend_from_slice(b" NIL");
        push_bytes(items, &out);
        return Ok(());
    };
    let pieces = apply_partial(pieces, partial);
    let length: u64 = pieces.iter().map(piece_len).sum();
    let mut head = name.to_vec();
    head.push(b' ');
    write_literal_header(&mut head, length, false);
    push_bytes(items, &head);
    for piece in pieces {
        match piece {
            Piece::Memory(bytes) => push_bytes(items, &bytes),
            Piece::File(range) if range.end - range.start <= INLINE_BYTES_MAX => {
                let bytes = context.read(range)?;
                push_bytes(items, &bytes);
            }
            Piece::File(range) => {
                context.file()?;
                items.push(Built::File(range));
            }
        }
    }
    Ok(())
}

fn piece_len(piece: &Piece) -> u64 {
    match piece {
        Piece::Memory(bytes) => bytes.len() as u64,
        Piece::File(range) => range.end - range.start,
    }
}

/// `<offset.length>` (RFC 9051 §6.4.5): the bytes from offset, at most length of them.
fn apply_partial(pieces: Vec<Piece>, partial: Option<Partial>) -> Vec<Piece> {
    let Some(partial) = partial else { return pieces };
    let (mut skip, mut take) = (u64::from(partial.offset), u64::from(partial.length));
    let mut out = Vec::new();
    for piece in pieces {
        if take == 0 {
            break;
        }
        let length = piece_len(&piece);
        if skip >= length {
            skip -= length;
            continue;
        }
        let count = (length - skip).min(take);
        out.push(match piece {
            Piece::Memory(bytes) => Piece::Memory(bytes[skip as usize..(skip + count) as usize].to_vec()),
            Piece::File(range) => Piece::File(range.start + skip..range.start + skip + count),
        });
        take -= count;
        skip = 0;
    }
    out
}

/// The pieces of a section (RFC 9051 §6.4.5), or None when the part does not exist.
/// The served message is the stored prefix (headers added at delivery) followed by the
/// file; only the top-level header includes the prefix.
fn section_pieces(context: &mut Context<'_>, section: &Section) -> Result<Option<Vec<Piece>>, ItemError> {
    let prefix = context.message.info.prefix.clone();
    let size = context.message.info.size;
    match section {
        Section::Full => Ok(Some(vec![Piece::Memory(prefix), Piece::File(0..size)])),
        Section::Text(text) => {
            let root = {
                let root = &context.summary()?.root;
                (root.header.clone(), root.body.clone())
            };
            match text {
                SectionText::Header => Ok(Some(vec![Piece::Memory(prefix), Piece::File(root.0)])),
                SectionText::Text => Ok(Some(vec![Piece::File(root.1)])),
                SectionText::HeaderFields(names) | SectionText::HeaderFieldsNot(names) => {
                    let mut header = prefix;
                    header.extend(context.read(root.0)?);
                    let not = matches!(text, SectionText::HeaderFieldsNot(_));
                    Ok(Some(vec![Piece::Memory(mime::header_fields(&header, names, not))]))
                }
                SectionText::Mime => Err(ItemError::Invalid("MIME needs a part number".into())),
            }
        }
        Section::Part(path, text) => {
            let summary = context.summary()?;
            let kind = match text {
                None => SectionKind::Full,
                Some(
                    SectionText::Header | SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_),
                ) => SectionKind::Header,
                Some(SectionText::Text) => SectionKind::Text,
                Some(SectionText::Mime) => SectionKind::Mime,
            };
            let Some(range) = mime::section_range(summary, path, kind) else { return Ok(None) };
            match text {
                Some(SectionText::HeaderFields(names)) | Some(SectionText::HeaderFieldsNot(names)) => {
                    let header = context.read(range)?;
                    let not = matches!(text, Some(SectionText::HeaderFieldsNot(_)));
                    Ok(Some(vec![Piece::Memory(mime::header_fields(&header, names, not))]))
                }
                _ => Ok(Some(vec![Piece::File(range)])),
            }
        }
    }
}

/// BINARY[part] (RFC 3516 §4.2): the part's body without its transfer encoding.
fn binary_item(
    context: &mut Context<'_>,
    part: &[u32],
    partial: Option<Partial>,
    items: &mut Vec<Built>,
) -> Result<(), ItemError> {
    let decoded = decoded_part(context, part)?;
    let pieces = apply_partial(vec![Piece::Memory(decoded)], partial);
    let bytes = match pieces.into_iter().next() {
        Some(Piece::Memory(bytes)) => bytes,
        _ => Vec::new(),
    };
    let mut out = format!(
        "BINARY[{}]{} ",
        part_name(part),
        partial.map_or(String::new(), |p| format!("<{}>", p.offset))
    )
    .into_bytes();
    write_literal_header(&mut out, bytes.len() as u64, bytes.contains(&0));
    out.extend_from_slice(&bytes);
    push_bytes(items, &out);
    Ok(())
}

fn decoded_part(context: &mut Context<'_>, path: &[u32]) -> Result<Vec<u8>, ItemError> {
    let (range, encoding) = {
        let summary = context.summary()?;
        let part =
            mime::section_part(summary, path).ok_or_else(|| ItemError::Invalid("no such part".into()))?;
        if !part.children.is_empty() {
            return Err(ItemError::Invalid("BINARY of a multipart part".into()));
        }
        (part.body.clone(), part.encoding.clone())
    };
    let body = context.read(range)?;
    mime::decode_body(&body, &encoding).map_err(|_| ItemError::UnknownCte)
}

fn part_name(part: &[u32]) -> String {
    part.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

/// The section spec as echoed in the response (RFC 9051 §7.5.2).
fn section_name(section: &Section) -> String {
    let text_name = |text: &SectionText| match text {
        SectionText::Header => "HEADER".to_string(),
        SectionText::Text => "TEXT".to_string(),
        SectionText::Mime => "MIME".to_string(),
        SectionText::HeaderFields(names) => format!("HEADER.FIELDS ({})", quote_names(names)),
        SectionText::HeaderFieldsNot(names) => format!("HEADER.FIELDS.NOT ({})", quote_names(names)),
    };
    match section {
        Section::Full => String::new(),
        Section::Text(text) => text_name(text),
        Section::Part(path, None) => part_name(path),
        Section::Part(path, Some(text)) => format!("{}.{}", part_name(path), text_name(text)),
    }
}

fn quote_names(names: &[String]) -> String {
    names
        .iter()
        .map(|n| {
            let mut out = Vec::new();
            moxide_protocols::imap::write_astring(&mut out, n);
            String::from_utf8_lossy(&out).into_owned()
        })
        .collect::<Vec<_>>()
        .join(" ")
}
