//! A blocking IMAP connection: tagged commands, untagged responses handed to the caller,
//! APPEND (single and MULTIAPPEND, RFC 3502) with synchronizing literals or LITERAL+ /
//! LITERAL- (RFC 7888) when offered, IDLE (RFC 2177).
//!
//! The connection tracks the selected mailbox's message count from `EXISTS` and
//! `EXPUNGE` responses, whichever command they arrive with, so scenarios always pick
//! valid sequence numbers.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use super::parse::{self, Condition, ParseError, Response, Status, Untagged};
use crate::input::Input;

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Largest non-synchronizing literal under LITERAL- (RFC 7888 §4).
pub(crate) const LITERAL_MINUS_BYTES_MAX: usize = 4096;

/// What went wrong on an IMAP connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImapError {
    /// The socket failed or timed out.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection.
    #[error("connection closed by server")]
    Closed,
    /// A response did not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The greeting was BYE or not a status response.
    #[error("greeting refused: {0}")]
    Greeting(String),
    /// A command completed with NO or BAD.
    #[error("{command} failed: {status:?} {text}")]
    Refused {
        /// The command name.
        command: String,
        /// NO or BAD.
        status: Status,
        /// The server's text, with its response code.
        text: String,
    },
    /// The server sent something the protocol does not allow here.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A command completed but returned less than it must (e.g. fewer messages than asked
    /// for). The connection stays usable.
    #[error("incomplete result: {0}")]
    Incomplete(String),
    /// A value cannot be sent as a quoted string.
    #[error("cannot send {0} as an IMAP quoted string (ASCII without CR/LF, at most 1000 bytes)")]
    Unquotable(&'static str),
}

impl ImapError {
    /// Whether the connection can still be used after this error (a refused command
    /// leaves it usable; IO and protocol errors do not).
    pub(crate) fn connection_usable(&self) -> bool {
        matches!(self, ImapError::Refused { .. } | ImapError::Incomplete(_))
    }
}

/// What SELECT or EXAMINE reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Selected {
    /// Messages in the mailbox.
    pub(crate) exists: u32,
    /// UIDNEXT, if the server sent it.
    pub(crate) uid_next: Option<u32>,
    /// HIGHESTMODSEQ, if CONDSTORE is on.
    pub(crate) highest_modseq: Option<u64>,
}

/// A blocking IMAP connection.
#[derive(Debug)]
pub(crate) struct ImapConnection {
    stream: TcpStream,
    input: Input,
    tag_counter: u64,
    /// Capabilities as last announced, upper-cased.
    pub(crate) capabilities: Vec<String>,
    /// Messages in the selected mailbox, from EXISTS/EXPUNGE.
    pub(crate) exists: u32,
}

impl ImapConnection {
    /// Connects and reads the greeting (and the capabilities, if it has none).
    pub(crate) fn connect(
        target: SocketAddr,
        source: Option<IpAddr>,
        timeout: Duration,
    ) -> Result<ImapConnection, ImapError> {
        let stream = crate::target::connect_blocking(target, source, timeout)?;
        let mut connection = ImapConnection {
            stream,
            input: Input::new(READ_CHUNK_BYTES),
            tag_counter: 0,
            capabilities: Vec::new(),
            exists: 0,
        };
        match connection.read_response()? {
            Response::Untagged(Untagged::State {
                condition: Condition::Ok | Condition::Preauth,
                code,
                ..
            }) => {
                if let Some(list) = code.as_deref().and_then(|c| c.strip_prefix("CAPABILITY ")) {
                    connection.capabilities = parse::capabilities(list);
                }
            }
            other => return Err(ImapError::Greeting(format!("{other:?}"))),
        }
        if connection.capabilities.is_empty() {
            connection.refresh_capabilities()?;
        }
        Ok(connection)
    }

    /// Whether the server announced `name` (upper case).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c == name)
    }

    /// Asks for CAPABILITY again.
    pub(crate) fn refresh_capabilities(&mut self) -> Result<(), ImapError> {
        self.run("CAPABILITY", |_| {})
    }

    /// LOGIN with quoted strings; refreshes capabilities afterwards (they change after login).
    pub(crate) fn login(&mut self, user: &str, password: &str) -> Result<(), ImapError> {
        if self.has("LOGINDISABLED") {
            return Err(ImapError::Protocol(
                "server announces LOGINDISABLED (plaintext login needs TLS there)".to_string(),
            ));
        }
        let arguments =
            super::login_arguments(user, password).ok_or(ImapError::Unquotable("user or password"))?;
        let mut announced = false;
        let tag = self.send_command(&format!("LOGIN {arguments}"))?;
        let text = self.complete(&tag, "LOGIN", &mut |untagged| {
            if matches!(untagged, Untagged::Capability(_)) {
                announced = true;
            }
        })?;
        // Servers often put the new list in the tagged OK's response code.
        if let Some(list) = text.strip_prefix("[CAPABILITY ").and_then(|t| t.split_once(']')) {
            self.capabilities = parse::capabilities(list.0);
            announced = true;
        }
        if !announced {
            self.refresh_capabilities()?;
        }
        Ok(())
    }

    /// `ENABLE CONDSTORE` (RFC 7162 §3.1.8) if offered; returns whether it is on.
    pub(crate) fn enable_condstore(&mut self) -> Result<bool, ImapError> {
        if !self.has("CONDSTORE") {
            return Ok(false);
        }
        if self.has("ENABLE") {
            self.run("ENABLE CONDSTORE", |_| {})?;
        }
        Ok(true)
    }

    /// SELECT (or EXAMINE when `read_only`) `mailbox`.
    pub(crate) fn select(&mut self, mailbox: &str, read_only: bool) -> Result<Selected, ImapError> {
        let name = super::quote(mailbox).ok_or(ImapError::Unquotable("mailbox name"))?;
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        let mut selected = Selected::default();
        let tag = self.send_command(&format!("{verb} {name}"))?;
        let text = self.complete(&tag, verb, &mut |untagged| {
            if let Untagged::State { code: Some(code), .. } = untagged {
                record_select_code(&mut selected, code);
            }
        })?;
        if let Some(code) = text.strip_prefix('[').and_then(|t| t.split_once(']')) {
            record_select_code(&mut selected, code.0);
        }
        selected.exists = self.exists;
        Ok(selected)
    }

    /// STATUS `mailbox` (UIDNEXT MESSAGES): (uidnext, messages).
    pub(crate) fn status(&mut self, mailbox: &str) -> Result<(u32, u32), ImapError> {
        let name = super::quote(mailbox).ok_or(ImapError::Unquotable("mailbox name"))?;
        let (mut uid_next, mut messages) = (None, None);
        self.run(&format!("STATUS {name} (UIDNEXT MESSAGES)"), |untagged| {
            if let Untagged::Status { attributes, .. } = untagged {
                for (name, value) in attributes {
                    let value = u32::try_from(*value).ok();
                    match name.as_str() {
                        "UIDNEXT" => uid_next = value,
                        "MESSAGES" => messages = value,
                        _ => {}
                    }
                }
            }
        })?;
        match (uid_next, messages) {
            (Some(uid_next), Some(messages)) => Ok((uid_next, messages)),
            _ => Err(ImapError::Protocol("STATUS without UIDNEXT and MESSAGES".to_string())),
        }
    }

    /// Runs `command` (without tag), handing every untagged response to `on_untagged`.
    /// NO/BAD become [`ImapError::Refused`].
    pub(crate) fn run(
        &mut self,
        command: &str,
        mut on_untagged: impl FnMut(&Untagged),
    ) -> Result<(), ImapError> {
        let tag = self.send_command(command)?;
        let name = command.split(' ').next().unwrap_or(command).to_string();
        self.complete(&tag, &name, &mut on_untagged).map(drop)
    }

    /// APPENDs `messages` to `mailbox`: one command (MULTIAPPEND) when `multi` and there is
    /// more than one, else one command each. Returns the (last) tagged OK's text, with its
    /// response code (APPENDUID under UIDPLUS, see [`append_uids`]).
    pub(crate) fn append(
        &mut self,
        mailbox: &str,
        messages: &[&[u8]],
        multi: bool,
    ) -> Result<String, ImapError> {
        let name = super::quote(mailbox).ok_or(ImapError::Unquotable("mailbox name"))?;
        let Some((first, rest)) = messages.split_first() else { return Ok(String::new()) };
        if !multi && !rest.is_empty() {
            let mut last = String::new();
            for message in messages {
                last = self.append(mailbox, &[message], false)?;
            }
            return Ok(last);
        }
        let tag = self.next_tag();
        let mut pending = format!("{tag} APPEND {name}").into_bytes();
        for message in std::iter::once(first).chain(rest) {
            let plus = self.literal_plus(message.len());
            pending.extend_from_slice(
                format!(" {{{}{}}}\r\n", message.len(), if plus { "+" } else { "" }).as_bytes(),
            );
            if !plus {
                self.stream.write_all(&pending)?;
                pending.clear();
                self.await_continuation(&tag)?;
            }
            pending.extend_from_slice(message);
        }
        pending.extend_from_slice(b"\r\n");
        self.stream.write_all(&pending)?;
        self.complete(&tag, "APPEND", &mut |_| {})
    }

    /// Whether a literal of `size` bytes may be sent without waiting (RFC 7888).
    fn literal_plus(&self, size: usize) -> bool {
        self.has("LITERAL+") || (self.has("LITERAL-") && size <= LITERAL_MINUS_BYTES_MAX)
    }

    /// Starts IDLE and waits for the continuation; returns the tag for [`Self::idle_done`].
    pub(crate) fn idle_start(&mut self) -> Result<String, ImapError> {
        let tag = self.send_command("IDLE")?;
        self.await_continuation(&tag)?;
        Ok(tag)
    }

    /// Ends IDLE and waits for its completion.
    pub(crate) fn idle_done(&mut self, tag: &str) -> Result<(), ImapError> {
        self.stream.write_all(b"DONE\r\n")?;
        self.complete(tag, "IDLE", &mut |_| {}).map(drop)
    }

    /// LOGOUT; the BYE and tagged OK are read, errors after the command was sent ignored.
    pub(crate) fn logout(mut self) -> Result<(), ImapError> {
        let tag = self.send_command("LOGOUT")?;
        let _ = self.complete(&tag, "LOGOUT", &mut |_| {});
        Ok(())
    }

    fn next_tag(&mut self) -> String {
        self.tag_counter += 1;
        format!("L{}", self.tag_counter)
    }

    fn send_command(&mut self, command: &str) -> Result<String, ImapError> {
        let tag = self.next_tag();
        self.stream.write_all(format!("{tag} {command}\r\n").as_bytes())?;
        Ok(tag)
    }

    /// Reads until the continuation request; a tagged completion first is a refusal.
    fn await_continuation(&mut self, tag: &str) -> Result<(), ImapError> {
        loop {
            match self.read_response()? {
                Response::Continuation(_) => return Ok(()),
                Response::Tagged { tag: got, status, code, text } if got == tag => {
                    return Err(refused("continuation", status, code, text));
                }
                Response::Tagged { tag: got, .. } => {
                    return Err(ImapError::Protocol(format!("completion for unknown tag {got}")));
                }
                Response::Untagged(_) => {}
            }
        }
    }

    /// Reads until `tag` completes; returns the OK's text (response code included).
    fn complete(
        &mut self,
        tag: &str,
        command: &str,
        on_untagged: &mut dyn FnMut(&Untagged),
    ) -> Result<String, ImapError> {
        loop {
            match self.read_response()? {
                Response::Untagged(untagged) => on_untagged(&untagged),
                Response::Tagged { tag: got, status, code, text } if got == tag => {
                    if status != Status::Ok {
                        return Err(refused(command, status, code, text));
                    }
                    return Ok(match code {
                        Some(code) => format!("[{code}] {text}"),
                        None => text,
                    });
                }
                Response::Tagged { tag: got, .. } => {
                    return Err(ImapError::Protocol(format!("completion for unknown tag {got}")));
                }
                Response::Continuation(text) => {
                    return Err(ImapError::Protocol(format!("unexpected continuation request: {text}")));
                }
            }
        }
    }

    /// The next response; keeps `exists` and `capabilities` up to date. A BYE is returned
    /// like any untagged response; the server's close that follows surfaces as
    /// [`ImapError::Closed`] on the next read.
    pub(crate) fn read_response(&mut self) -> Result<Response, ImapError> {
        loop {
            if let Some(length) = parse::response_length(self.input.unconsumed())? {
                let response = parse::parse_response(&self.input.unconsumed()[..length])?;
                self.input.consume(length);
                self.track(&response);
                return Ok(response);
            }
            self.fill()?;
        }
    }

    fn track(&mut self, response: &Response) {
        match response {
            Response::Untagged(Untagged::Exists(n)) => self.exists = *n,
            Response::Untagged(Untagged::Expunge(_)) => self.exists = self.exists.saturating_sub(1),
            Response::Untagged(Untagged::Capability(list)) => self.capabilities.clone_from(list),
            _ => {}
        }
    }

    fn fill(&mut self) -> Result<(), ImapError> {
        if self.input.fill(&mut self.stream)? == 0 { Err(ImapError::Closed) } else { Ok(()) }
    }
}

fn refused(command: &str, status: Status, code: Option<String>, text: String) -> ImapError {
    let text = match code {
        Some(code) => format!("[{code}] {text}"),
        None => text,
    };
    ImapError::Refused { command: command.to_string(), status, text }
}

fn record_select_code(selected: &mut Selected, code: &str) {
    let mut words = code.split_ascii_whitespace();
    let (Some(name), Some(value)) = (words.next(), words.next()) else { return };
    if name.eq_ignore_ascii_case("UIDNEXT") {
        selected.uid_next = value.parse().ok();
    } else if name.eq_ignore_ascii_case("HIGHESTMODSEQ") {
        selected.highest_modseq = value.parse().ok();
    }
}

/// The UIDs from an APPENDUID response code (RFC 4315 §3) in an APPEND's OK text:
/// `[APPENDUID validity uid-set]`, the set being `n`, `a:b` or a comma list of those.
pub(crate) fn append_uids(ok_text: &str) -> Vec<u32> {
    let Some(code) = ok_text.strip_prefix("[APPENDUID ").and_then(|t| t.split_once(']')) else {
        return Vec::new();
    };
    let Some(set) = code.0.split_ascii_whitespace().nth(1) else { return Vec::new() };
    let mut out = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a.min(b)..=a.max(b));
                }
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::{BufRead, BufReader};

    #[test]
    fn appenduid_sets() {
        assert_eq!(append_uids("[APPENDUID 38505 3955] APPEND completed"), vec![3955]);
        assert_eq!(append_uids("[APPENDUID 1 4:6,9] done"), vec![4, 5, 6, 9]);
        assert_eq!(append_uids("APPEND completed"), Vec::<u32>::new());
    }

    /// A scripted server: for each expected client line, the reply to send. Checks that
    /// the client sends exactly those lines.
    fn serve(script: Vec<(&'static str, &'static str)>, greeting: &'static str) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            writer.write_all(greeting.as_bytes()).unwrap();
            for (expect, reply) in script {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                assert_eq!(line, expect);
                writer.write_all(reply.as_bytes()).unwrap();
            }
        });
        address
    }

    #[test]
    fn login_select_append_with_synchronizing_literals() {
        let address = serve(
            vec![
                (
                    "L1 LOGIN \"u\" \"p\\\"w\"\r\n",
                    "L1 OK [CAPABILITY IMAP4rev1 IDLE MULTIAPPEND UIDPLUS] hi\r\n",
                ),
                (
                    "L2 SELECT \"INBOX\"\r\n",
                    "* 5 EXISTS\r\n* OK [UIDNEXT 9] next\r\n* OK [UIDVALIDITY 1] v\r\nL2 OK [READ-WRITE] done\r\n",
                ),
                ("L3 APPEND \"INBOX\" {3}\r\n", "+ go\r\n"),
                ("abc {2}\r\n", "+ more\r\n"),
                ("de\r\n", "* 7 EXISTS\r\nL3 OK [APPENDUID 1 9:10] ok\r\n"),
                ("L4 IDLE\r\n", "+ idling\r\n"),
                ("DONE\r\n", "* 1 EXPUNGE\r\nL4 OK done\r\n"),
                ("L5 FETCH 1 (FLAGS)\r\n", "L5 NO [EXPUNGEISSUED] gone\r\n"),
            ],
            "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n",
        );
        let mut connection = ImapConnection::connect(address, None, Duration::from_secs(5)).unwrap();
        assert!(!connection.has("IDLE"));
        connection.login("u", "p\"w").unwrap();
        assert!(connection.has("IDLE") && connection.has("MULTIAPPEND"));
        let selected = connection.select("INBOX", false).unwrap();
        assert_eq!(selected, Selected { exists: 5, uid_next: Some(9), highest_modseq: None });
        let ok = connection.append("INBOX", &[b"abc", b"de"], true).unwrap();
        assert_eq!(append_uids(&ok), vec![9, 10]);
        assert_eq!(connection.exists, 7);
        let tag = connection.idle_start().unwrap();
        connection.idle_done(&tag).unwrap();
        assert_eq!(connection.exists, 6);
        let error = connection.run("FETCH 1 (FLAGS)", |_| {}).unwrap_err();
        assert!(
            matches!(&error, ImapError::Refused { status: Status::No, text, .. } if text.contains("EXPUNGEISSUED"))
        );
        assert!(error.connection_usable());
    }

    #[test]
    fn literal_plus_sends_without_waiting() {
        let address = serve(
            vec![
                ("L1 CAPABILITY\r\n", "* CAPABILITY IMAP4rev1 LITERAL+\r\nL1 OK done\r\n"),
                ("L2 APPEND \"INBOX\" {3+}\r\n", ""),
                ("abc\r\n", "L2 OK appended\r\n"),
            ],
            "* OK ready\r\n",
        );
        let mut connection = ImapConnection::connect(address, None, Duration::from_secs(5)).unwrap();
        assert!(connection.has("LITERAL+"));
        assert_eq!(connection.append("INBOX", &[b"abc"], false).unwrap(), "appended");
    }

    #[test]
    fn bye_greeting_and_logindisabled_are_errors() {
        let address = serve(vec![], "* BYE too many connections\r\n");
        let error = ImapConnection::connect(address, None, Duration::from_secs(5)).unwrap_err();
        assert!(matches!(error, ImapError::Greeting(_)));
        let address = serve(vec![], "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n");
        let mut connection = ImapConnection::connect(address, None, Duration::from_secs(5)).unwrap();
        assert!(matches!(connection.login("u", "p"), Err(ImapError::Protocol(_))));
    }
}
