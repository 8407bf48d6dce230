//! Mailbox file formats of export and import, pure (no IO): mboxrd quoting and unquoting
//! as byte-stream transforms that hold no more than a line's `>` count between pieces,
//! Maildir file names (flags after `:2,`, keywords as the letters of a per-folder
//! `dovecot-keywords` file, as Dovecot writes them), and the mapping between archive
//! paths and mailbox names.
//!
//! mbox (mboxrd): each message starts with a `From ` line; a body line that matches
//! `>*From ` gets one more `>` on export and loses one on import, so any message
//! survives the round trip. Line ends are LF in the file (mbox is a Unix format) and
//! CRLF in the store (RFC 5322 §2.1), converted both ways.
//!
//! Archive names never reach the file system: they only name mailboxes, which the
//! account actor validates like any IMAP CREATE (no `..`, no empty levels).

use moxide_storage::Flags;

/// Keywords one Maildir folder can carry: its `dovecot-keywords` file maps the letters
/// `a`–`z` to keywords, so 26. Further keywords of a mailbox are left out of the export
/// (the message is exported without them).
pub const MAILDIR_KEYWORDS_MAX: usize = 26;

/// The Maildir info letters (sorted, as the Maildir spec asks) and the flag of each.
/// `P` (passed/forwarded) has no IMAP system flag and is ignored on import.
const MAILDIR_FLAG_LETTERS: [(u8, Flags); 5] = [
    (b'D', Flags::DRAFT),
    (b'F', Flags::FLAGGED),
    (b'R', Flags::ANSWERED),
    (b'S', Flags::SEEN),
    (b'T', Flags::DELETED),
];

/// The bytes `From ` that mboxrd quoting looks for after a line's `>`s.
const FROM_: &[u8] = b"From ";

/// Export side: store bytes (CRLF) to mboxrd body bytes (LF, `>*From ` quoted), fed in
/// pieces of any size.
#[derive(Debug)]
pub struct MboxQuoter {
    /// Drops the flag fields of the message's own header.
    header: MboxHeaderFilter,
    /// Bytes the header filter let through, to quote (at most a held line start).
    passed: Vec<u8>,
    /// At the start of a line, reading its leading `>`s and then `From `.
    line_start: bool,
    /// `>`s seen at this line's start (not yet written).
    quotes: u64,
    /// Bytes of `From ` matched after them (not yet written).
    matched: usize,
    /// A CR was seen last (not yet written: it goes if an LF follows).
    carriage_return: bool,
}

impl Default for MboxQuoter {
    fn default() -> Self {
        MboxQuoter::new()
    }
}

impl MboxQuoter {
    /// A quoter at the start of a message.
    pub fn new() -> MboxQuoter {
        MboxQuoter {
            header: MboxHeaderFilter::new(),
            passed: Vec::with_capacity(MBOX_FLAG_FIELD_BYTES_MAX + 1),
            line_start: true,
            quotes: 0,
            matched: 0,
            carriage_return: false,
        }
    }

    /// Appends the quoted form of `input` to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &byte in input {
            if self.carriage_return {
                self.carriage_return = false;
                if byte != b'\n' {
                    self.filtered(b'\r', out);
                }
            }
            if byte == b'\r' {
                self.carriage_return = true;
                continue;
            }
            self.filtered(byte, out);
        }
    }

    /// Passes one byte (line ends already LF) through the header filter, then quotes
    /// what it let through.
    fn filtered(&mut self, byte: u8, out: &mut Vec<u8>) {
        let mut passed = std::mem::take(&mut self.passed);
        self.header.push(byte, &mut passed);
        for &byte in &passed {
            self.quote(byte, out);
        }
        passed.clear();
        self.passed = passed;
    }

    /// Quotes one byte of a message whose line ends are LF.
    fn quote(&mut self, byte: u8, out: &mut Vec<u8>) {
        if self.line_start {
            if byte == b'>' && self.matched == 0 {
                self.quotes += 1;
                return;
            }
            if FROM_.get(self.matched) == Some(&byte) {
                self.matched += 1;
                if self.matched == FROM_.len() {
                    out.push(b'>');
                    self.pending(out);
                }
                return;
            }
            self.pending(out);
        }
        out.push(byte);
        if byte == b'\n' {
            self.line_start = true;
        }
    }

    /// Writes what the line start held back; the line is past its start.
    fn pending(&mut self, out: &mut Vec<u8>) {
        for _ in 0..self.quotes {
            out.push(b'>');
        }
        out.extend_from_slice(&FROM_[..self.matched]);
        self.quotes = 0;
        self.matched = 0;
        self.line_start = false;
    }

    /// Ends the message: what is held back, and a final LF if the message lacks one,
    /// then the empty line that separates messages.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        let mut held = Vec::new();
        self.header.flush(&mut held);
        for &byte in &held {
            self.quote(byte, out);
        }
        let ended_in_newline = self.line_start && self.quotes == 0 && self.matched == 0;
        self.pending(out);
        if self.carriage_return {
            out.push(b'\r');
        }
        if !ended_in_newline || self.carriage_return {
            out.push(b'\n');
        }
        out.push(b'\n');
    }
}

/// Header fields that carry mbox flags (and `Content-Length`, which a changed message
/// would make wrong): the export drops them from a message's header and writes its own,
/// as mox does; the import reads them (and Thunderbird's `X-Mozilla-Status`).
const MBOX_FLAG_FIELDS: [&[u8]; 4] = [b"status", b"x-status", b"x-keywords", b"content-length"];

/// Longest name of [`MBOX_FLAG_FIELDS`] plus its colon: the header filter holds at most
/// this much of a line before it knows whether the line goes.
const MBOX_FLAG_FIELD_BYTES_MAX: usize = 15;

/// The flag header fields written after a message's `From ` line: `Status: RO` (or
/// `O`: read, old), `X-Status:` with `A` answered, `F` flagged, `T` draft, `D` deleted,
/// and `X-Keywords:` with the keywords, comma separated (the forms mutt, Dovecot and
/// mox read and write).
pub fn mbox_flag_headers(flags: Flags, keywords: &[String]) -> String {
    let mut out = String::new();
    out.push_str(if flags.contains(Flags::SEEN) { "Status: RO\n" } else { "Status: O\n" });
    let letters: String =
        [(Flags::ANSWERED, 'A'), (Flags::FLAGGED, 'F'), (Flags::DRAFT, 'T'), (Flags::DELETED, 'D')]
            .iter()
            .filter(|(flag, _)| flags.contains(*flag))
            .map(|(_, letter)| *letter)
            .collect();
    if !letters.is_empty() {
        out.push_str(&format!("X-Status: {letters}\n"));
    }
    if !keywords.is_empty() {
        out.push_str(&format!("X-Keywords: {}\n", keywords.join(",")));
    }
    out
}

/// Header fields an mbox file keeps about a message rather than in it (flags, and a
/// length the quoting makes wrong): the import reads the flags from them and leaves
/// them out of the stored message, as Dovecot hides them from IMAP clients.
const MBOX_METADATA_FIELDS: [&[u8]; 7] = [
    b"status",
    b"x-status",
    b"x-keywords",
    b"x-mozilla-status",
    b"x-mozilla-status2",
    b"x-mozilla-keys",
    b"content-length",
];

/// Reads one header line of an imported mbox message for flags: `Status:` (`R`: seen),
/// `X-Status:` (`A`, `F`, `T`, `D`), `X-Keywords:` (comma or space separated) and
/// `X-Mozilla-Status:` (hex: 1 read, 2 replied, 4 marked, 8 deleted). Keywords past
/// `keywords_max`, or not valid IMAP atoms, are left out. Returns whether the line is
/// one of the mbox metadata fields (which the stored message leaves out).
pub fn mbox_read_flags(
    line: &[u8],
    flags: &mut Flags,
    keywords: &mut Vec<String>,
    keywords_max: usize,
) -> bool {
    let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
    let name = line[..colon].to_ascii_lowercase();
    let metadata = MBOX_METADATA_FIELDS.contains(&name.as_slice());
    let Ok(value) = std::str::from_utf8(&line[colon + 1..]) else { return metadata };
    let value = value.trim();
    let mut add = |flag: Flags| *flags = flags.union(flag);
    match name.as_slice() {
        b"status" if value.contains('R') => add(Flags::SEEN),
        b"x-status" => {
            for (letter, flag) in
                [('A', Flags::ANSWERED), ('F', Flags::FLAGGED), ('T', Flags::DRAFT), ('D', Flags::DELETED)]
            {
                if value.contains(letter) {
                    add(flag);
                }
            }
        }
        b"x-mozilla-status" => {
            let bits = u32::from_str_radix(value, 16).unwrap_or(0);
            for (bit, flag) in
                [(1, Flags::SEEN), (2, Flags::ANSWERED), (4, Flags::FLAGGED), (8, Flags::DELETED)]
            {
                if bits & bit != 0 {
                    add(flag);
                }
            }
        }
        b"x-keywords" => {
            for keyword in value.split([',', ' ', '\t']).filter(|k| !k.is_empty()) {
                let atom = keyword.len() <= moxide_storage::KEYWORD_BYTES_MAX
                    && !keyword.starts_with('\\')
                    && keyword.bytes().all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b));
                if atom
                    && keywords.len() < keywords_max
                    && !keywords.iter().any(|k| k.eq_ignore_ascii_case(keyword))
                {
                    keywords.push(keyword.to_string());
                }
            }
        }
        _ => {}
    }
    metadata
}

/// Export side, in front of [`MboxQuoter`]: drops the header lines of
/// [`MBOX_FLAG_FIELDS`] (and their continuation lines) from a message, holding at most
/// [`MBOX_FLAG_FIELD_BYTES_MAX`] bytes of a line until it knows. Fed LF-ended lines.
#[derive(Debug)]
struct MboxHeaderFilter {
    /// Still in the header.
    in_header: bool,
    /// At the start of a line.
    line_start: bool,
    /// Dropping the current line (and its continuation lines).
    dropping: bool,
    /// The start of the line, held until the field name is known.
    held: Vec<u8>,
    /// Deciding the current line (its start is in `held`).
    deciding: bool,
}

impl MboxHeaderFilter {
    fn new() -> MboxHeaderFilter {
        MboxHeaderFilter {
            in_header: true,
            line_start: true,
            dropping: false,
            held: Vec::new(),
            deciding: false,
        }
    }

    /// Passes `byte` on (into `out`), holds it, or drops it.
    fn push(&mut self, byte: u8, out: &mut Vec<u8>) {
        if !self.in_header {
            out.push(byte);
            return;
        }
        if self.line_start {
            self.line_start = false;
            if byte == b'\n' {
                self.in_header = false;
                out.push(byte);
                return;
            }
            if byte == b' ' || byte == b'\t' {
                // A continuation line goes with its field.
                if !self.dropping {
                    out.push(byte);
                }
                self.line_start = byte == b'\n';
                return;
            }
            self.dropping = false;
            self.deciding = true;
        }
        if self.deciding {
            self.held.push(byte);
            if byte == b':' || byte == b'\n' || self.held.len() > MBOX_FLAG_FIELD_BYTES_MAX {
                self.deciding = false;
                let name = self.held.strip_suffix(b":").map(<[u8]>::to_ascii_lowercase);
                self.dropping = name.is_some_and(|name| MBOX_FLAG_FIELDS.contains(&name.as_slice()));
                if !self.dropping {
                    out.append(&mut self.held);
                }
                self.held.clear();
            }
        } else if !self.dropping {
            out.push(byte);
        }
        if byte == b'\n' {
            self.line_start = true;
        }
    }

    /// Releases what is held (a message that ended inside a field name).
    fn flush(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
        self.deciding = false;
    }
}

/// The `From ` line that starts a message in an mbox file (the envelope sender is not
/// kept, so `MAILER-DAEMON`, as other exporters write; the date is INTERNALDATE).
pub fn mbox_from_line(received_ms: i64) -> String {
    format!("From MAILER-DAEMON {}\n", asctime(received_ms.div_euclid(1000)))
}

/// `Thu Jan  1 00:00:00 1970` (ctime's form, UTC) for Unix seconds.
fn asctime(seconds: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = DAYS[usize::try_from(days.rem_euclid(7)).unwrap_or(0)];
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!(
        "{weekday} {month_name} {day:>2} {:02}:{:02}:{:02} {year}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}

/// Days since 1970-01-01 to (year, month 1–12, day 1–31), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Import side: mbox bytes to messages. Feed it lines (each ending in LF, or the last
/// one without); it says where messages begin and unquotes `>+From ` lines, and turns
/// LF line ends into CRLF.
#[derive(Debug, Default)]
pub struct MboxLines {
    /// A message has begun.
    in_message: bool,
    /// The previous line was empty (it may be the separator before the next `From `,
    /// held back until the next line says).
    held_empty_line: bool,
}

/// What one mbox line means.
#[derive(Debug, PartialEq, Eq)]
pub enum MboxLine {
    /// A `From ` line: the previous message (if any) ended, a new one begins.
    Separator,
    /// Bytes of the current message.
    Body(Vec<u8>),
    /// Text before the first `From ` line (not an mbox, or a preamble): skipped.
    Outside,
}

impl MboxLines {
    /// Classifies one line (at most the caller's line limit long; a longer line is
    /// passed in pieces, and only its first piece is checked for quoting).
    pub fn line(&mut self, line: &[u8], at_line_start: bool) -> MboxLine {
        if at_line_start && line.starts_with(FROM_) {
            self.in_message = true;
            self.held_empty_line = false;
            return MboxLine::Separator;
        }
        if !self.in_message {
            return MboxLine::Outside;
        }
        let mut out = Vec::with_capacity(line.len() + 2);
        if self.held_empty_line {
            out.extend_from_slice(b"\r\n");
            self.held_empty_line = false;
        }
        if at_line_start && (line == b"\n" || line == b"\r\n") {
            self.held_empty_line = true;
            return MboxLine::Body(out);
        }
        let quotes = if at_line_start { line.iter().take_while(|&&b| b == b'>').count() } else { 0 };
        let unquoted = if quotes > 0 && line[quotes..].starts_with(FROM_) { &line[1..] } else { line };
        match unquoted.strip_suffix(b"\n") {
            Some(text) => {
                out.extend_from_slice(text.strip_suffix(b"\r").unwrap_or(text));
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(unquoted),
        }
        MboxLine::Body(out)
    }
}

/// The Maildir file name of a message: `<unique>:2,<flags><keyword letters>`; letters
/// of keywords are `a`... by their index in the folder's `dovecot-keywords` list.
pub fn maildir_name(unique: &str, flags: Flags, keyword_indexes: &[usize]) -> String {
    let mut name = format!("{unique}:2,");
    for (letter, flag) in MAILDIR_FLAG_LETTERS {
        if flags.0 & flag.0 != 0 {
            name.push(char::from(letter));
        }
    }
    let mut letters: Vec<u8> = keyword_indexes
        .iter()
        .filter(|&&index| index < MAILDIR_KEYWORDS_MAX)
        .filter_map(|&index| u8::try_from(index).ok().map(|i| b'a' + i))
        .collect();
    letters.sort_unstable();
    name.extend(letters.into_iter().map(char::from));
    name
}

/// Flags and keyword indexes from a Maildir file name's info (`:2,...`, or `!2,...` as
/// some systems spell it where `:` is not allowed in names).
pub fn maildir_flags(name: &str) -> (Flags, Vec<usize>) {
    let info = name.rsplit_once(":2,").or_else(|| name.rsplit_once("!2,")).map(|(_, info)| info);
    let mut flags = Flags(0);
    let mut keywords = Vec::new();
    for byte in info.unwrap_or("").bytes() {
        if let Some((_, flag)) = MAILDIR_FLAG_LETTERS.iter().find(|(letter, _)| *letter == byte) {
            flags = Flags(flags.0 | flag.0);
        } else if byte.is_ascii_lowercase() {
            keywords.push(usize::from(byte - b'a'));
        }
    }
    (flags, keywords)
}

/// The `dovecot-keywords` file for these keywords: `<index> <keyword>` per line.
pub fn dovecot_keywords(keywords: &[String]) -> String {
    keywords.iter().take(MAILDIR_KEYWORDS_MAX).enumerate().map(|(i, k)| format!("{i} {k}\n")).collect()
}

/// Keywords by index from a `dovecot-keywords` file; malformed lines are skipped.
pub fn parse_dovecot_keywords(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .filter_map(|line| {
            let (index, keyword) = line.split_once(' ')?;
            let index: usize = index.parse().ok()?;
            (index < MAILDIR_KEYWORDS_MAX && !keyword.is_empty()).then(|| (index, keyword.to_string()))
        })
        .collect()
}

/// Where an archive entry belongs on import.
#[derive(Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A message of a Maildir folder: the mailbox and the file name (with its flags).
    MaildirMessage {
        /// The mailbox name.
        mailbox: String,
        /// The file's name (its info part holds the flags).
        file_name: String,
    },
    /// A Maildir folder's `dovecot-keywords` file.
    MaildirKeywords {
        /// The mailbox name.
        mailbox: String,
    },
    /// An mbox file holding this mailbox.
    Mbox {
        /// The mailbox name.
        mailbox: String,
    },
    /// Something else (a directory, `tmp/`, dot files, Maildir++ control files).
    Skip,
}

/// Classifies an archive path. Maildir folders are directories with `cur/` and `new/`:
/// the folder's path is the mailbox name, where a Maildir++ level `.A.B` (as Dovecot
/// and Python's `mailbox` module name subfolders) stands for `A/B`, and the archive's
/// root folder is INBOX. Any other file is an mbox file named after its path without
/// an `.mbox` ending.
pub fn classify_entry(path: &str) -> EntryKind {
    let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty() && *part != ".").collect();
    if path.ends_with('/') || parts.contains(&"..") {
        return EntryKind::Skip;
    }
    let Some((&file_name, folders)) = parts.split_last() else { return EntryKind::Skip };
    if file_name.starts_with('.') && folders.last().is_none_or(|last| *last != "cur" && *last != "new") {
        return EntryKind::Skip;
    }
    match folders.split_last() {
        Some((&("cur" | "new"), folder)) => {
            return EntryKind::MaildirMessage {
                mailbox: folder_mailbox(folder),
                file_name: file_name.to_string(),
            };
        }
        Some((&"tmp", _)) => return EntryKind::Skip,
        _ => {}
    }
    if file_name == "dovecot-keywords" {
        return EntryKind::MaildirKeywords { mailbox: folder_mailbox(folders) };
    }
    if file_name.starts_with("dovecot") || file_name == "maildirfolder" || file_name == "subscriptions" {
        return EntryKind::Skip;
    }
    let stem = file_name.strip_suffix(".mbox").unwrap_or(file_name);
    let mut names: Vec<&str> = folders.to_vec();
    names.push(stem);
    EntryKind::Mbox { mailbox: names.join("/") }
}

/// The mailbox of a Maildir folder path.
fn folder_mailbox(folders: &[&str]) -> String {
    let mut names: Vec<String> = Vec::new();
    for folder in folders {
        match folder.strip_prefix('.') {
            Some(plus) => names.extend(plus.split('.').filter(|n| !n.is_empty()).map(str::to_string)),
            None => names.push((*folder).to_string()),
        }
    }
    if names.is_empty() { "INBOX".to_string() } else { names.join("/") }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn quote_in_pieces(input: &[u8], piece: usize) -> Vec<u8> {
        let mut quoter = MboxQuoter::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            quoter.feed(chunk, &mut out);
        }
        quoter.finish(&mut out);
        out
    }

    fn unquote(mbox: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = MboxLines::default();
        let mut messages: Vec<Vec<u8>> = Vec::new();
        for line in mbox.split_inclusive(|&b| b == b'\n') {
            match lines.line(line, true) {
                MboxLine::Separator => messages.push(Vec::new()),
                MboxLine::Body(bytes) => messages.last_mut().unwrap().extend_from_slice(&bytes),
                MboxLine::Outside => {}
            }
        }
        messages
    }

    #[test]
    fn mboxrd_quotes_from_lines_in_any_piece_size_and_round_trips() {
        let message = b"Subject: x\r\n\r\nFrom here\r\n>From there\r\n>>From z\r\nFrom\r\n>Fro\r\nend\r\n";
        let expected = b"Subject: x\n\n>From here\n>>From there\n>>>From z\nFrom\n>Fro\nend\n\n";
        for piece in [1, 2, 3, 7, 100] {
            assert_eq!(quote_in_pieces(message, piece), expected, "piece {piece}");
        }
        let mut mbox = mbox_from_line(0).into_bytes();
        mbox.extend_from_slice(expected);
        mbox.extend_from_slice(mbox_from_line(0).as_bytes());
        mbox.extend_from_slice(&quote_in_pieces(b"a\r\n\r\n\r\nb", 4));
        let messages = unquote(&mbox);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0], message);
        assert_eq!(messages[1], b"a\r\n\r\n\r\nb\r\n");
    }

    /// The message's own flag fields (and Content-Length) leave its header, in any
    /// piece size; the same names in the body, and other fields, stay.
    #[test]
    fn flag_fields_leave_the_header_only() {
        let message = b"Status: RO\r\nSubject: s\r\nX-Keywords: a,\r\n b\r\nContent-Length: 9\r\n\
From: x\r\nX-Statusbar: y\r\n\r\nStatus: body\r\nFrom me\r\n";
        let expected = b"Subject: s\nFrom: x\nX-Statusbar: y\n\nStatus: body\n>From me\n\n";
        for piece in [1, 2, 5, 100] {
            assert_eq!(quote_in_pieces(message, piece), expected, "piece {piece}");
        }
        assert_eq!(quote_in_pieces(b"Status", 3), b"Status\n\n", "a message that ends in a field name");
    }

    #[test]
    fn flags_written_and_read_back() {
        let flags = Flags::SEEN.union(Flags::ANSWERED).union(Flags::DRAFT).union(Flags::DELETED);
        let keywords = vec!["$Forwarded".to_string(), "work".to_string()];
        let headers = mbox_flag_headers(flags, &keywords);
        assert_eq!(headers, "Status: RO\nX-Status: ATD\nX-Keywords: $Forwarded,work\n");
        assert_eq!(mbox_flag_headers(Flags(0), &[]), "Status: O\n");
        let (mut read, mut read_keywords) = (Flags(0), Vec::new());
        for line in headers.lines() {
            assert!(mbox_read_flags(line.as_bytes(), &mut read, &mut read_keywords, 10), "{line}");
        }
        assert!(!mbox_read_flags(b"Subject: Status: R", &mut read, &mut read_keywords, 10));
        assert_eq!((read, read_keywords), (flags, keywords));
        let (mut read, mut read_keywords) = (Flags(0), Vec::new());
        mbox_read_flags(b"X-Mozilla-Status: 0005", &mut read, &mut read_keywords, 10);
        mbox_read_flags(b"x-keywords: one two (bad) \\Seen one three", &mut read, &mut read_keywords, 2);
        assert_eq!(read, Flags::SEEN.union(Flags::FLAGGED));
        assert_eq!(read_keywords, ["one", "two"]);
    }

    #[test]
    fn the_from_line_has_ctime_s_date() {
        assert_eq!(mbox_from_line(0), "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n");
        assert_eq!(mbox_from_line(1_700_000_000_000), "From MAILER-DAEMON Tue Nov 14 22:13:20 2023\n");
    }

    #[test]
    fn maildir_names_carry_flags_and_keywords_both_ways() {
        let flags = Flags(Flags::SEEN.0 | Flags::FLAGGED.0 | Flags::ANSWERED.0);
        let name = maildir_name("1.2.host", flags, &[2, 0]);
        assert_eq!(name, "1.2.host:2,FRSac");
        assert_eq!(maildir_flags(&name), (flags, vec![0, 2]));
        assert_eq!(maildir_flags("x!2,T").0, Flags::DELETED);
        assert_eq!(maildir_flags("plain"), (Flags(0), vec![]));
        let file = dovecot_keywords(&["$Forwarded".into(), "work".into()]);
        assert_eq!(parse_dovecot_keywords(&file), vec![(0, "$Forwarded".into()), (1, "work".into())]);
    }

    #[test]
    fn archive_paths_name_mailboxes() {
        let message = |mailbox: &str, file: &str| EntryKind::MaildirMessage {
            mailbox: mailbox.into(),
            file_name: file.into(),
        };
        assert_eq!(classify_entry("INBOX/cur/1:2,S"), message("INBOX", "1:2,S"));
        assert_eq!(classify_entry("cur/1"), message("INBOX", "1"));
        assert_eq!(classify_entry("./.Work.Old/new/2"), message("Work/Old", "2"));
        assert_eq!(classify_entry("Archive/2024/cur/3"), message("Archive/2024", "3"));
        assert_eq!(classify_entry("Sent/tmp/4"), EntryKind::Skip);
        assert_eq!(
            classify_entry("Sent/dovecot-keywords"),
            EntryKind::MaildirKeywords { mailbox: "Sent".into() }
        );
        assert_eq!(classify_entry("Lists/rust.mbox"), EntryKind::Mbox { mailbox: "Lists/rust".into() });
        assert_eq!(classify_entry(".Sub/maildirfolder"), EntryKind::Skip);
        assert_eq!(classify_entry("dir/"), EntryKind::Skip);
        assert_eq!(classify_entry("../../etc/passwd"), EntryKind::Skip);
    }
}
