//! The IMAP command reader: a sans-IO state machine from client bytes to commands,
//! literal continuations, streamed APPEND messages, IDLE's DONE and SASL responses.
//!
//! RFC 9051 §2.2.1 and §4.3 (command lines, synchronizing literals), RFC 7888 (LITERAL+
//! non-synchronizing literals), RFC 3516 §4.4 (`~{n}` literal8 in APPEND; RFC 5464 §5 allows it in SETMETADATA too), RFC 3502
//! (MULTIAPPEND), RFC 6855 §4 (`UTF8 (~{n})`), RFC 7889 (APPENDLIMIT), RFC 4469 (CATENATE
//! parts, each URL and TEXT part decided by the session in turn), RFC 2177 (IDLE),
//! RFC 4959 and RFC 9051 §6.2.2 (SASL responses).
//!
//! Invariants:
//! - one event per [`CommandReader::feed`] call, and the reader never reads past the end
//!   of a command, so the session can switch modes (IDLE, AUTHENTICATE, STARTTLS) on the
//!   exact byte boundary;
//! - memory is bounded by the config: one command's text (`line_bytes_max`) plus its
//!   literals (`literal_bytes_max` each, `command_literals_max` of them); APPEND message
//!   and CATENATE TEXT bytes are handed out as slices of the caller's input, never
//!   copied or buffered; the CATENATE parts of one line wait in a queue bounded by the
//!   line's length;
//! - a refused command is skipped to its end, including the bytes of an announced
//!   non-synchronizing literal, so nothing a client sent as data is read as a command;
//!   a synchronizing literal that was refused ends the command, since the client sends
//!   nothing more of it (RFC 9051 §4.3);
//! - never panics, whatever the bytes or the call order.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::VecDeque;

use memchr::memchr;

use super::command::Command;
use super::datetime::DateTime;
use super::error::{ReadError, ReadErrorKind};
use super::limits::{
    APPEND_BYTES_MAX, APPEND_CHUNK_BYTES_MAX, APPEND_MESSAGES_MAX, CATENATE_PARTS_MAX, COMMAND_LITERALS_MAX,
    IDLE_BUFFER_BYTES_MAX, LINE_BYTES_MAX, LITERAL_BYTES_MAX, NESTING_MAX, NUMBER_DIGITS_MAX,
};
use super::parser::{
    AppendItem, AppendLine, AppendPosition, AppendStart, LiteralRole, ReplaceTarget, is_append,
    is_setmetadata, parse_append_items, parse_append_start, parse_command, parse_tag,
};
use super::types::{Flag, Tag};

/// Limits of a reader. Defaults are the consts in [`super::limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderConfig {
    /// Most non-literal bytes in one command, line ends included ([`LINE_BYTES_MAX`]).
    pub line_bytes_max: usize,
    /// Largest literal outside APPEND messages ([`LITERAL_BYTES_MAX`]).
    pub literal_bytes_max: usize,
    /// Largest APPEND message, advertised as APPENDLIMIT ([`APPEND_BYTES_MAX`]).
    pub append_bytes_max: u64,
    /// Deepest nesting of parenthesized SEARCH keys ([`NESTING_MAX`]).
    pub nesting_max: usize,
    /// Most literals in one command, APPEND messages excluded ([`COMMAND_LITERALS_MAX`]).
    pub command_literals_max: usize,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            line_bytes_max: LINE_BYTES_MAX,
            literal_bytes_max: LITERAL_BYTES_MAX,
            append_bytes_max: APPEND_BYTES_MAX,
            nesting_max: NESTING_MAX,
            command_literals_max: COMMAND_LITERALS_MAX,
        }
    }
}

/// How the reader reads the next line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadMode {
    /// Tagged commands (the default).
    Command,
    /// Inside IDLE: only `DONE` is expected (RFC 2177 §3).
    IdleDone,
    /// Inside AUTHENTICATE: base64 lines or `*` (RFC 9051 §6.2.2).
    SaslResponse,
}

/// What the reader found. Only [`ReadEvent::AppendData`] borrows (from the input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadEvent<'a> {
    /// A complete command.
    Command(Command),
    /// A synchronizing literal `{n}` within limits was announced (outside APPEND, or for
    /// an accepted APPEND message): the session must send `+ <text>\r\n` now.
    Continue,
    /// An APPEND message begins (RFC 9051 §6.3.12; RFC 3502 for index 1 on). The session
    /// must call [`CommandReader::append_accept`] or [`CommandReader::append_reject`]
    /// before feeding more. If accepted and the literal is synchronizing, the reader
    /// then emits [`ReadEvent::Continue`].
    AppendMessage {
        /// The APPEND's tag.
        tag: Tag,
        /// The target mailbox, as sent (see [`super::command`]).
        mailbox: String,
        /// Flags to set.
        flags: Vec<Flag>,
        /// The internal date to set, if given.
        date: Option<DateTime>,
        /// Message size in octets (≤ `append_bytes_max`).
        size: u64,
        /// Sent as `~{n}` literal8 (RFC 3516 §4.4): may contain NUL.
        binary: bool,
        /// 0 for the first message, 1.. for further MULTIAPPEND messages.
        index: u32,
        /// REPLACE (RFC 8508): the message this one replaces; its only message.
        replace: Option<ReplaceTarget>,
        /// CATENATE (RFC 4469): the message is made of the parts that follow (`size` is
        /// 0); `AppendMessageEnd` ends it.
        catenate: bool,
    },
    /// A CATENATE `URL` part (RFC 4469 §5), as sent. The session must call
    /// [`CommandReader::append_accept`] once its bytes were added, or
    /// [`CommandReader::append_reject`] (`NO [BADURL]`, `NO [TOOBIG]`).
    CatenateUrl(String),
    /// A CATENATE `TEXT` literal of `size` octets: decided like an `AppendMessage`; once
    /// accepted its bytes come as [`ReadEvent::AppendData`], with no `AppendMessageEnd`
    /// after them.
    CatenateText {
        /// Octets.
        size: u64,
        /// Sent as `~{n}` literal8.
        binary: bool,
    },
    /// Message bytes, in order, at most [`APPEND_CHUNK_BYTES_MAX`] at a time.
    AppendData(&'a [u8]),
    /// The current message's bytes are complete.
    AppendMessageEnd,
    /// The APPEND command ended: after its last message, or (`rejected`) after the
    /// session rejected a message; the session then answers NO and discards every
    /// message of this command (MULTIAPPEND is all or nothing, RFC 3502 §6.3.11).
    AppendEnd {
        /// The APPEND's tag.
        tag: Tag,
        /// A message was rejected.
        rejected: bool,
    },
    /// `DONE` ended IDLE; the reader is back in [`ReadMode::Command`].
    IdleDone,
    /// A SASL client response, base64-decoded (an empty line gives an empty response).
    SaslResponse(Vec<u8>),
    /// `*`: the client cancelled AUTHENTICATE; the reader is back in
    /// [`ReadMode::Command`].
    SaslCancel,
    /// A bad command, already skipped. An error carrying an APPEND's tag after
    /// `AppendMessage` events ends that APPEND: its messages must be discarded. In
    /// IDLE or SASL mode the reader returns to [`ReadMode::Command`].
    Error(ReadError),
}

/// A literal announcement at the end of a line: `{n}`, `{n+}`, `~{n}`, `~{n+}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Announcement {
    /// Offset of `{` (or `~`) in the line.
    start: usize,
    size: u64,
    sync: bool,
    binary: bool,
}

/// Parses a literal announcement at the very end of `line`.
fn literal_at_end(line: &[u8]) -> Option<Announcement> {
    let body = line.strip_suffix(b"}")?;
    let (body, sync) = match body.strip_suffix(b"+") {
        Some(body) => (body, false),
        None => (body, true),
    };
    let digit_count = body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digit_count == 0 || digit_count > NUMBER_DIGITS_MAX {
        return None;
    }
    let (body, digits) = body.split_at(body.len() - digit_count);
    let size = digits.iter().fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
    // number64 (RFC 9051 §9) stops at 2^63-1; a larger count is not a literal.
    if size > i64::MAX as u64 {
        return None;
    }
    let body = body.strip_suffix(b"{")?;
    let (start, binary) = match body.strip_suffix(b"~") {
        Some(body) => (body.len(), true),
        None => (body.len(), false),
    };
    Some(Announcement { start, size, sync, binary })
}

/// The last bytes of a line being skipped: enough to see a literal announcement
/// (`~{` + 19 digits + `+}` + CR = 24 bytes) when the LF comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tail {
    bytes: [u8; Tail::BYTES],
    len: usize,
}

impl Tail {
    const BYTES: usize = 32;

    fn new(initial: &[u8]) -> Self {
        let mut tail = Self { bytes: [0; Self::BYTES], len: 0 };
        tail.push(initial);
        tail
    }

    fn push(&mut self, data: &[u8]) {
        if data.len() >= Self::BYTES {
            self.bytes.copy_from_slice(&data[data.len() - Self::BYTES..]);
            self.len = Self::BYTES;
            return;
        }
        let keep = (Self::BYTES - data.len()).min(self.len);
        self.bytes.copy_within(self.len - keep..self.len, 0);
        self.bytes[keep..keep + data.len()].copy_from_slice(data);
        self.len = keep + data.len();
    }

    fn line(&self) -> &[u8] {
        let line = &self.bytes[..self.len];
        line.strip_suffix(b"\r").unwrap_or(line)
    }
}

/// The APPEND command in progress, between its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AppendContext {
    tag: Tag,
    mailbox: String,
    /// The index the next message gets.
    index: u32,
    /// REPLACE: one message only (RFC 8508 §6 has no MULTIAPPEND form).
    replace: Option<ReplaceTarget>,
    /// What the text after the current literal must be.
    position: AppendPosition,
    /// CATENATE parts of the current message so far.
    parts: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading a command line (or a line in IDLE/SASL mode) into the buffer.
    Line,
    /// Reading literal bytes into the buffer; `remaining` is never 0.
    Literal { remaining: usize },
    /// An APPEND message or CATENATE TEXT part (`text`) was announced; waiting for
    /// accept/reject.
    AppendDecision { size: u64, sync: bool, text: bool },
    /// Streaming an accepted APPEND message; at 0, `AppendMessageEnd` is due (not after
    /// a TEXT part).
    AppendData { remaining: u64, text: bool },
    /// Handing out the queued items of an APPEND line, then its literal.
    AppendItems,
    /// A CATENATE message start or URL part was handed out; waiting for accept/reject.
    PartDecision,
    /// Reading the text after an APPEND message: the end, or the next message.
    AppendLine,
    /// Dropping a line up to its LF; then a non-synchronizing literal announced at its
    /// end (when `literals`), then `then` is emitted.
    SkipLine { tail: Tail, literals: bool, then: Box<ReadEvent<'static>> },
    /// Dropping literal bytes; `remaining` is never 0. The rest of the command follows.
    SkipLiteral { remaining: u64, then: Box<ReadEvent<'static>> },
}

/// Result of reading toward the end of a line.
enum LineRead {
    /// All input used, no LF yet.
    Partial(usize),
    /// The line passes the limit; the part that fits was used (and buffered).
    Overflow(usize),
    /// The line is complete (LF used).
    Complete(usize),
}

/// Streaming IMAP command reader; see the module docs.
#[derive(Debug, Clone)]
pub struct CommandReader {
    config: ReaderConfig,
    mode: ReadMode,
    state: State,
    /// The command so far: lines joined by CRLF, literal bytes after their
    /// announcements. In IDLE/SASL mode and after an APPEND message: the current line.
    buf: Vec<u8>,
    /// Where the current line starts in `buf`.
    line_start: usize,
    /// Non-literal bytes of the command so far (counted against `line_bytes_max`).
    text_bytes: usize,
    /// Literals in the command so far.
    literals: usize,
    append: Option<AppendContext>,
    /// The APPEND line's items not handed out yet.
    items: VecDeque<AppendItem>,
    /// The literal announced at the end of the APPEND line, handed out after `items`.
    line_literal: Option<(Announcement, LiteralRole)>,
    /// An event to hand out before reading more.
    pending: Option<ReadEvent<'static>>,
}

impl CommandReader {
    /// A reader in [`ReadMode::Command`].
    pub fn new(config: ReaderConfig) -> Self {
        Self {
            config,
            mode: ReadMode::Command,
            state: State::Line,
            buf: Vec::new(),
            line_start: 0,
            text_bytes: 0,
            literals: 0,
            append: None,
            items: VecDeque::new(),
            line_literal: None,
            pending: None,
        }
    }

    /// The current mode.
    pub fn mode(&self) -> ReadMode {
        self.mode
    }

    /// Switches how the next line is read: after answering IDLE with `+`, or during
    /// AUTHENTICATE. Call it between commands (the reader stops at each command's end).
    pub fn set_mode(&mut self, mode: ReadMode) {
        self.mode = mode;
    }

    /// Whether the reader is between commands with nothing buffered: the point where a
    /// STARTTLS switch is safe (any input the caller still holds must be discarded).
    pub fn is_idle(&self) -> bool {
        self.state == State::Line && self.buf.is_empty() && self.pending.is_none()
    }

    /// Uses bytes of `input` and returns how many, plus at most one event. The caller
    /// keeps the unused bytes and calls again: at once after an event or when bytes were
    /// used, after reading more otherwise. While an `AppendMessage` waits for
    /// [`CommandReader::append_accept`] / [`CommandReader::append_reject`], nothing is
    /// used and no event comes.
    pub fn feed<'a>(&mut self, input: &'a [u8]) -> (usize, Option<ReadEvent<'a>>) {
        if let Some(event) = self.pending.take() {
            return (0, Some(event));
        }
        let mut used = 0;
        loop {
            let before = std::mem::discriminant(&self.state);
            let (n, event) = self.step(input.get(used..).unwrap_or_default());
            used += n;
            // A step that only moved to another state (the end of a CATENATE TEXT part,
            // a refused part) goes on at once: the input may hold what comes next.
            if event.is_some() || (n == 0 && std::mem::discriminant(&self.state) == before) {
                return (used, event);
            }
        }
    }

    /// Accepts the announced APPEND message: its bytes will come as
    /// [`ReadEvent::AppendData`] (after a [`ReadEvent::Continue`] for a synchronizing
    /// literal). Ignored unless an `AppendMessage` is waiting.
    pub fn append_accept(&mut self) {
        match self.state {
            State::AppendDecision { size, sync, text } => {
                self.state = State::AppendData { remaining: size, text };
                if sync {
                    self.pending = Some(ReadEvent::Continue);
                }
            }
            State::PartDecision => self.state = State::AppendItems,
            _ => {}
        }
    }

    /// Rejects the announced APPEND message: the reader skips its bytes if they come
    /// anyway (non-synchronizing literal) and the rest of the command, then emits
    /// `AppendEnd { rejected: true }`. Ignored unless an `AppendMessage` is waiting.
    ///
    /// RFC 4469 §5: after a refused CATENATE part the client may still send the
    /// command's remaining non-synchronizing literals; they are read and dropped, so the
    /// connection stays usable. A synchronizing literal gets no continuation: the client
    /// sends nothing more of the command.
    pub fn append_reject(&mut self) {
        let literal = match self.state {
            State::AppendDecision { size, sync, .. } => Some((size, sync)),
            State::PartDecision => self.line_literal.map(|(literal, _)| (literal.size, literal.sync)),
            _ => return,
        };
        let tag = self.append.take().map(|context| context.tag).unwrap_or_else(|| Tag(String::new()));
        let then = ReadEvent::AppendEnd { tag, rejected: true };
        self.reset_command();
        match literal {
            Some((size, false)) => self.state = skip_literal(size, then),
            _ => {
                self.state = State::Line;
                self.pending = Some(then);
            }
        }
    }

    /// One state's worth of work; returns used bytes and maybe an event. Uses nothing
    /// and returns nothing only when it needs more input or a decision.
    fn step<'a>(&mut self, input: &'a [u8]) -> (usize, Option<ReadEvent<'a>>) {
        match &mut self.state {
            State::Line | State::AppendLine => self.step_line(input),
            State::Literal { remaining } => {
                let n = (*remaining).min(input.len());
                self.buf.extend_from_slice(&input[..n]);
                *remaining -= n;
                if *remaining == 0 {
                    self.state = State::Line;
                    self.line_start = self.buf.len();
                }
                (n, None)
            }
            State::AppendDecision { .. } | State::PartDecision => (0, None),
            State::AppendItems => (0, self.next_item()),
            State::AppendData { remaining, text } => {
                if *remaining == 0 {
                    let text = *text;
                    self.state = State::AppendLine;
                    self.buf.clear();
                    self.line_start = 0;
                    self.text_bytes = 0;
                    return if text { (0, None) } else { (0, Some(ReadEvent::AppendMessageEnd)) };
                }
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len())
                    .min(APPEND_CHUNK_BYTES_MAX);
                if n == 0 {
                    return (0, None);
                }
                *remaining -= n as u64;
                (n, Some(ReadEvent::AppendData(&input[..n])))
            }
            State::SkipLine { .. } => self.step_skip_line(input),
            State::SkipLiteral { remaining, .. } => {
                let n = usize::try_from(*remaining).unwrap_or(usize::MAX).min(input.len());
                *remaining -= n as u64;
                if *remaining == 0
                    && let State::SkipLiteral { then, .. } = std::mem::replace(&mut self.state, State::Line)
                {
                    self.state = State::SkipLine { tail: Tail::new(&[]), literals: true, then };
                }
                (n, None)
            }
        }
    }

    fn step_line<'a>(&mut self, input: &'a [u8]) -> (usize, Option<ReadEvent<'a>>) {
        match self.read_line(input) {
            LineRead::Partial(n) => (n, None),
            LineRead::Complete(n) => (n, self.line_complete()),
            LineRead::Overflow(n) => {
                // The buffer now holds exactly the first `line_bytes_max` bytes of text,
                // however the input was cut, so the tag found is always the same.
                let error =
                    ReadError::new(self.error_tag(), ReadErrorKind::LineTooLong, "command line too long");
                let tail = Tail::new(self.buf.get(self.line_start..).unwrap_or_default());
                let literals = self.mode == ReadMode::Command;
                self.mode = ReadMode::Command;
                self.reset_command();
                self.state = State::SkipLine { tail, literals, then: Box::new(ReadEvent::Error(error)) };
                let (used, event) = self.step_skip_line(input.get(n..).unwrap_or_default());
                (n + used, event)
            }
        }
    }

    /// Appends input up to and including the next LF to the buffer (without the line
    /// end), within the line limit.
    fn read_line(&mut self, input: &[u8]) -> LineRead {
        let (chunk, complete) = match memchr(b'\n', input) {
            Some(i) => (&input[..=i], true),
            None => (input, false),
        };
        if self.text_bytes.saturating_add(chunk.len()) > self.config.line_bytes_max {
            let fits = self.config.line_bytes_max.saturating_sub(self.text_bytes).min(chunk.len());
            self.buf.extend_from_slice(&chunk[..fits]);
            self.text_bytes += fits;
            return LineRead::Overflow(fits);
        }
        self.text_bytes += chunk.len();
        if !complete {
            self.buf.extend_from_slice(chunk);
            return LineRead::Partial(chunk.len());
        }
        self.buf.extend_from_slice(&chunk[..chunk.len() - 1]);
        // Interop: a bare LF ends a line too (some clients and scripts send it).
        if self.buf.len() > self.line_start && self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        LineRead::Complete(chunk.len())
    }

    fn step_skip_line<'a>(&mut self, input: &'a [u8]) -> (usize, Option<ReadEvent<'a>>) {
        let State::SkipLine { tail, literals, .. } = &mut self.state else {
            return (0, None);
        };
        let Some(i) = memchr(b'\n', input) else {
            tail.push(input);
            return (input.len(), None);
        };
        tail.push(&input[..i]);
        let announcement = if *literals { literal_at_end(tail.line()) } else { None };
        let State::SkipLine { then, .. } = std::mem::replace(&mut self.state, State::Line) else {
            return (i + 1, None);
        };
        match announcement {
            Some(literal) if !literal.sync => {
                self.state = skip_literal(literal.size, *then);
                (i + 1, None)
            }
            _ => (i + 1, Some(*then)),
        }
    }

    /// The tag for an error in the current command, if known.
    fn error_tag(&self) -> Option<Tag> {
        if let Some(context) = &self.append {
            return Some(context.tag.clone());
        }
        if self.mode == ReadMode::Command && self.state == State::Line { parse_tag(&self.buf) } else { None }
    }

    /// Forgets the command in progress; releases a large buffer.
    fn reset_command(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > IDLE_BUFFER_BYTES_MAX {
            self.buf = Vec::new();
        }
        self.line_start = 0;
        self.text_bytes = 0;
        self.literals = 0;
        self.append = None;
        self.items.clear();
        self.line_literal = None;
    }

    /// Refuses the current command: skips the literal announced at the end of its
    /// current line (if non-synchronizing) and the rest of the command, then emits
    /// `error`; with a synchronizing or no literal, emits it at once.
    fn refuse(&mut self, error: ReadError, announcement: Option<Announcement>) -> Option<ReadEvent<'static>> {
        self.reset_command();
        match announcement {
            Some(literal) if !literal.sync => {
                self.state = skip_literal(literal.size, ReadEvent::Error(error));
                None
            }
            _ => {
                self.state = State::Line;
                Some(ReadEvent::Error(error))
            }
        }
    }

    /// A complete line is in the buffer from `line_start`.
    fn line_complete(&mut self) -> Option<ReadEvent<'static>> {
        let line = self.buf.get(self.line_start..).unwrap_or_default();
        match self.mode {
            ReadMode::IdleDone => {
                let event = if line.eq_ignore_ascii_case(b"DONE") {
                    ReadEvent::IdleDone
                } else {
                    ReadEvent::Error(ReadError::new(None, ReadErrorKind::Syntax, "expected DONE"))
                };
                self.mode = ReadMode::Command;
                self.reset_command();
                Some(event)
            }
            ReadMode::SaslResponse => {
                let event = if line == b"*" {
                    self.mode = ReadMode::Command;
                    ReadEvent::SaslCancel
                } else if let Ok(response) = STANDARD.decode(line) {
                    ReadEvent::SaslResponse(response)
                } else {
                    self.mode = ReadMode::Command;
                    ReadEvent::Error(ReadError::new(
                        None,
                        ReadErrorKind::BadBase64,
                        "invalid base64 in SASL response",
                    ))
                };
                self.reset_command();
                Some(event)
            }
            ReadMode::Command => {
                let announcement = literal_at_end(line);
                if memchr(0, line).is_some() {
                    let error =
                        ReadError::new(self.error_tag(), ReadErrorKind::Syntax, "NUL byte in command");
                    return self.refuse(error, announcement);
                }
                if self.state == State::AppendLine {
                    self.append_line_complete(announcement)
                } else {
                    self.command_line_complete(announcement)
                }
            }
        }
    }

    /// A command line ended, with or without a literal announcement.
    fn command_line_complete(&mut self, announcement: Option<Announcement>) -> Option<ReadEvent<'static>> {
        if announcement.is_none() && is_append(&self.buf) && !self.buf.is_empty() {
            // CATENATE with URL parts only: the whole command is text.
            return self.append_start(None);
        }
        let Some(literal) = announcement else {
            let event = if self.buf.is_empty() {
                ReadEvent::Error(ReadError::new(None, ReadErrorKind::Syntax, "empty command line"))
            } else {
                match parse_command(&self.buf, self.config.nesting_max) {
                    Ok(command) => ReadEvent::Command(command),
                    Err(error) => ReadEvent::Error(error),
                }
            };
            self.reset_command();
            return Some(event);
        };
        let tag = parse_tag(&self.buf);
        if self.literals >= self.config.command_literals_max {
            let error = ReadError::new(tag, ReadErrorKind::LineTooLong, "too many literals in one command");
            return self.refuse(error, Some(literal));
        }
        if is_append(&self.buf)
            && let Some(event) = self.append_start(Some(literal))
        {
            return Some(event);
        }
        if self.state != State::Line {
            return None;
        }
        if literal.binary && !is_setmetadata(&self.buf) {
            let error = ReadError::new(tag, ReadErrorKind::Syntax, "binary literal outside APPEND");
            return self.refuse(error, Some(literal));
        }
        if literal.size > self.config.literal_bytes_max as u64 {
            let error = ReadError::new(tag, ReadErrorKind::LiteralTooBig, "literal too big");
            return self.refuse(error, Some(literal));
        }
        self.literals += 1;
        self.buf.extend_from_slice(b"\r\n");
        match usize::try_from(literal.size) {
            Ok(0) | Err(_) => self.line_start = self.buf.len(),
            Ok(remaining) => self.state = State::Literal { remaining },
        }
        literal.sync.then_some(ReadEvent::Continue)
    }

    /// An APPEND command's first line (up to `literal`, or whole) is in the buffer: the
    /// mailbox literal (`None` returned, state unchanged: read it as any literal), or its
    /// first message and what else the line says.
    fn append_start(&mut self, literal: Option<Announcement>) -> Option<ReadEvent<'static>> {
        let tag = parse_tag(&self.buf);
        let end = literal.map_or(self.buf.len(), |literal| self.line_start + literal.start);
        let prefix = self.buf.get(..end).unwrap_or_default();
        match parse_append_start(prefix, literal.is_some()) {
            Ok(AppendStart::MailboxLiteral) => None,
            Ok(AppendStart::Message { tag, mailbox, replace, line }) => {
                let position = AppendPosition::Between;
                let context = AppendContext { tag, mailbox, index: 0, replace, position, parts: 0 };
                self.reset_command();
                self.append = Some(context);
                self.queue_line(line, literal)
            }
            Err(error) => {
                let error = ReadError::new(tag, error.kind, format!("APPEND: {}", error.detail));
                self.refuse(error, literal)
            }
        }
    }

    /// The text after an APPEND literal ended: the command's end, CATENATE parts, or
    /// the next message.
    fn append_line_complete(&mut self, announcement: Option<Announcement>) -> Option<ReadEvent<'static>> {
        let Some(context) = self.append.as_ref() else {
            let error = ReadError::new(None, ReadErrorKind::Syntax, "APPEND state lost");
            return self.refuse(error, announcement);
        };
        let text_end = announcement.map_or(self.buf.len(), |literal| literal.start);
        let text = self.buf.get(..text_end).unwrap_or_default();
        match parse_append_items(text, context.position, announcement.is_some()) {
            Ok(line) => {
                self.buf.clear();
                self.line_start = 0;
                self.text_bytes = 0;
                self.queue_line(line, announcement)
            }
            Err(error) => {
                let error = ReadError::new(
                    Some(context.tag.clone()),
                    error.kind,
                    format!("APPEND: {}", error.detail),
                );
                self.refuse(error, announcement)
            }
        }
    }

    /// Queues a parsed APPEND line and hands out its first item.
    fn queue_line(&mut self, line: AppendLine, literal: Option<Announcement>) -> Option<ReadEvent<'static>> {
        let AppendLine { items, literal: role, next } = line;
        if let Some(context) = self.append.as_mut() {
            context.position = next;
        }
        self.items = items.into();
        self.line_literal = literal.zip(role);
        self.state = State::AppendItems;
        self.next_item()
    }

    /// The next queued APPEND item as an event, then the line's literal, then the
    /// command's end. `None` when the command was refused and a literal is being
    /// skipped (the error comes after it).
    fn next_item(&mut self) -> Option<ReadEvent<'static>> {
        let Some(context) = self.append.as_mut() else {
            return self.fail_append(ReadErrorKind::Syntax, "APPEND state lost");
        };
        match self.items.pop_front() {
            Some(AppendItem::Message { header, catenate }) => {
                if context.replace.is_some() && context.index > 0 {
                    return self.fail_append(ReadErrorKind::Syntax, "REPLACE takes one message");
                }
                context.parts = 0;
                if catenate {
                    return self.message_event(header.flags, header.date, None);
                }
                match self.line_literal {
                    Some((literal, LiteralRole::Message)) if self.items.is_empty() => {
                        self.message_event(header.flags, header.date, Some(literal))
                    }
                    _ => self.fail_append(ReadErrorKind::Syntax, "APPEND: expected a message literal"),
                }
            }
            Some(AppendItem::Url(url)) => {
                context.parts += 1;
                if context.parts > CATENATE_PARTS_MAX {
                    return self.fail_append(ReadErrorKind::AppendTooBig, "too many CATENATE parts");
                }
                self.state = State::PartDecision;
                Some(ReadEvent::CatenateUrl(url))
            }
            Some(AppendItem::CatenateEnd) => Some(ReadEvent::AppendMessageEnd),
            None => match self.line_literal {
                Some((literal, LiteralRole::Text)) => {
                    context.parts += 1;
                    if context.parts > CATENATE_PARTS_MAX {
                        return self.fail_append(ReadErrorKind::AppendTooBig, "too many CATENATE parts");
                    }
                    if literal.size > self.config.append_bytes_max {
                        return self
                            .fail_append(ReadErrorKind::AppendTooBig, "message larger than APPENDLIMIT");
                    }
                    self.line_literal = None;
                    self.state = State::AppendDecision { size: literal.size, sync: literal.sync, text: true };
                    Some(ReadEvent::CatenateText { size: literal.size, binary: literal.binary })
                }
                Some((_, LiteralRole::Message)) => {
                    self.fail_append(ReadErrorKind::Syntax, "APPEND: unexpected literal")
                }
                None => {
                    // No literal ended the line: the command ends here (the parser
                    // accepts a line's end only between messages).
                    let tag = context.tag.clone();
                    self.reset_command();
                    self.state = State::Line;
                    Some(ReadEvent::AppendEnd { tag, rejected: false })
                }
            },
        }
    }

    /// Ends the APPEND in progress with an error, skipping what the client may still
    /// send of it (the line's literal, when non-synchronizing, and the rest).
    fn fail_append(&mut self, kind: ReadErrorKind, text: &'static str) -> Option<ReadEvent<'static>> {
        let tag = self.append.as_ref().map(|context| context.tag.clone());
        let literal = self.line_literal.take().map(|(literal, _)| literal);
        self.refuse(ReadError::new(tag, kind, text), literal)
    }

    /// The `AppendMessage` event for the next message of the command: one sent as
    /// `literal`, or (`None`) a CATENATE, whose parts follow.
    fn message_event(
        &mut self,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        literal: Option<Announcement>,
    ) -> Option<ReadEvent<'static>> {
        let Some(context) = self.append.as_mut() else {
            return self.fail_append(ReadErrorKind::Syntax, "APPEND state lost");
        };
        if context.index >= APPEND_MESSAGES_MAX {
            return self.fail_append(ReadErrorKind::AppendTooBig, "too many messages in one APPEND");
        }
        if literal.is_some_and(|literal| literal.size > self.config.append_bytes_max) {
            return self.fail_append(ReadErrorKind::AppendTooBig, "message larger than APPENDLIMIT");
        }
        let index = context.index;
        context.index += 1;
        let event = ReadEvent::AppendMessage {
            tag: context.tag.clone(),
            mailbox: context.mailbox.clone(),
            flags,
            date,
            size: literal.map_or(0, |literal| literal.size),
            binary: literal.is_some_and(|literal| literal.binary),
            index,
            replace: context.replace,
            catenate: literal.is_none(),
        };
        self.state = match literal {
            Some(literal) => {
                self.line_literal = None;
                State::AppendDecision { size: literal.size, sync: literal.sync, text: false }
            }
            None => State::PartDecision,
        };
        Some(event)
    }
}

/// The state that skips `size` literal bytes and then the rest of the command.
fn skip_literal(size: u64, then: ReadEvent<'static>) -> State {
    if size == 0 {
        State::SkipLine { tail: Tail::new(&[]), literals: true, then: Box::new(then) }
    } else {
        State::SkipLiteral { remaining: size, then: Box::new(then) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn literal_announcements() {
        let at = |line: &[u8]| literal_at_end(line);
        assert_eq!(at(b"a LOGIN {5}"), Some(Announcement { start: 8, size: 5, sync: true, binary: false }));
        assert_eq!(at(b"{0+}"), Some(Announcement { start: 0, size: 0, sync: false, binary: false }));
        assert_eq!(at(b"x ~{12}"), Some(Announcement { start: 2, size: 12, sync: true, binary: true }));
        assert_eq!(at(b"x {9223372036854775807}").map(|a| a.size), Some(i64::MAX as u64));
        for not in [
            &b"x {9223372036854775808}"[..],
            b"x {}",
            b"x {+}",
            b"x 5}",
            b"x {5",
            b"x {5}\r",
            b"{01234567890123456789}",
        ] {
            assert_eq!(at(not), None, "{:?}", String::from_utf8_lossy(not));
        }
    }

    #[test]
    fn tail_keeps_the_last_bytes() {
        let mut tail = Tail::new(b"abc");
        tail.push(b"def\r");
        assert_eq!(tail.line(), b"abcdef");
        tail.push(&[b'x'; 40]);
        tail.push(b" {5+}");
        assert_eq!(tail.line().len(), Tail::BYTES);
        assert!(tail.line().ends_with(b"xx {5+}"));
    }
}
