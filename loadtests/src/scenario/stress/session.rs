//! One blocking IMAP connection of the `stress` scenario: sends commands, reads and parses
//! responses, feeds both to the session's [`Model`] and keeps the last lines of the
//! conversation ([`Transcript`]) for the report's samples.
//!
//! Before each command it takes whatever the server sent since the last completion
//! without waiting (a non-blocking read): those responses were sent with no command in
//! progress, which is when RFC 9051 §5.3 forbids EXPUNGE. After LOGOUT completes it
//! reads until the server closes; anything that arrives is a violation.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use super::model::{Command, Finding, Flow, Model};
use crate::imap::parse::{self, Condition, ParseError, Response, Status, Untagged};
use crate::input::Input;

/// Bytes read from the socket at a time (responses are short; bodies are tens of KiB).
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Lines of conversation kept for a sample: enough to show the command, the responses
/// before the offending one and the state they built.
pub(crate) const TRANSCRIPT_LINES_MAX: usize = 32;

/// Longest transcript line kept; longer ones are cut (a FLAGS list of many keywords or a
/// FETCH of many items stays readable).
pub(crate) const TRANSCRIPT_LINE_BYTES_MAX: usize = 300;

/// How long to wait for the server to close the connection after LOGOUT completed.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The last lines of a conversation, `C:` for the client and `S:` for the server, with
/// literal data replaced by its size.
#[derive(Debug, Default)]
pub(crate) struct Transcript {
    lines: VecDeque<String>,
}

impl Transcript {
    fn push(&mut self, line: String) {
        if self.lines.len() == TRANSCRIPT_LINES_MAX {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// A client line.
    fn client(&mut self, text: &str) {
        self.push(cut(&format!("C: {text}")));
    }

    /// A server response, as framed by [`parse::response_length`].
    fn server(&mut self, bytes: &[u8]) {
        self.push(cut(&format!("S: {}", render(bytes))));
    }

    /// The kept lines, oldest first, one per line.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

fn cut(line: &str) -> String {
    if line.len() <= TRANSCRIPT_LINE_BYTES_MAX {
        return line.to_string();
    }
    let mut end = TRANSCRIPT_LINE_BYTES_MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

/// A framed response as one line: CRLFs dropped, each literal's data shown as
/// `<n bytes>`.
pub(crate) fn render(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let end = memchr::memmem::find(rest, b"\r\n").unwrap_or(rest.len());
        let line = &rest[..end];
        out.push_str(&String::from_utf8_lossy(line));
        rest = rest.get(end + 2..).unwrap_or(&[]);
        if let Ok(Some(size)) = parse::literal_announcement(line) {
            let size = usize::try_from(size).unwrap_or(usize::MAX).min(rest.len());
            out.push_str(&format!("<{size} bytes>"));
            rest = &rest[size..];
        }
    }
    out
}

/// Why a session ended early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// The socket failed or timed out.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection.
    #[error("connection closed by server")]
    Closed,
    /// The server said BYE outside LOGOUT.
    #[error("server said BYE: {0}")]
    Bye(String),
    /// The greeting was not OK or PREAUTH.
    #[error("greeting refused: {0}")]
    Greeting(String),
    /// A response did not parse (reported as a `malformed` violation too).
    #[error(transparent)]
    Malformed(#[from] ParseError),
    /// LOGIN or SELECT failed.
    #[error("{0}")]
    Refused(String),
    /// The server refused a synchronizing literal.
    #[error("literal refused: {0}")]
    LiteralRefused(String),
    /// The server announced more messages than the model follows.
    #[error("mailbox has {0} messages; the stress scenario follows at most 100000 (use a fresh mailbox)")]
    TooLarge(u32),
}

/// A completed command's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Completion {
    /// OK, NO or BAD.
    pub(crate) status: Status,
    /// The response code and text, as `[CODE] text`.
    pub(crate) text: String,
}

impl std::fmt::Display for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.text)
    }
}

/// A connection with its model.
#[derive(Debug)]
pub(crate) struct Session {
    stream: TcpStream,
    input: Input,
    tag_counter: u64,
    /// What the client knows of the session.
    pub(crate) model: Model,
    /// The last lines of the conversation.
    pub(crate) transcript: Transcript,
    /// Capabilities as last announced, upper case.
    pub(crate) capabilities: Vec<String>,
    /// Findings not yet taken by [`Session::take_findings`].
    findings: Vec<Finding>,
}

impl Session {
    /// Connects and reads the greeting.
    pub(crate) fn connect(
        target: SocketAddr,
        source: Option<IpAddr>,
        timeout: Duration,
    ) -> Result<Session, SessionError> {
        let stream = crate::target::connect_blocking(target, source, timeout)?;
        let mut session = Session {
            stream,
            input: Input::new(READ_CHUNK_BYTES),
            tag_counter: 0,
            model: Model::new(false),
            transcript: Transcript::default(),
            capabilities: Vec::new(),
            findings: Vec::new(),
        };
        match session.read()? {
            Response::Untagged(Untagged::State { condition, code, .. })
                if matches!(condition, Condition::Ok | Condition::Preauth) =>
            {
                session.model = Model::new(condition == Condition::Preauth);
                if let Some(list) = code.as_deref().and_then(|c| c.strip_prefix("CAPABILITY ")) {
                    session.capabilities = parse::capabilities(list);
                }
            }
            other => return Err(SessionError::Greeting(format!("{other:?}"))),
        }
        Ok(session)
    }

    /// Whether the server announced `name` (upper case).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c == name)
    }

    /// The findings since the last call.
    pub(crate) fn take_findings(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.findings)
    }

    /// Sends `text` (with `literal` appended as a literal: LITERAL+ when offered, else
    /// synchronizing) as `command` and reads until its completion.
    pub(crate) fn execute(
        &mut self,
        command: Command,
        text: &str,
        literal: Option<&[u8]>,
    ) -> Result<Completion, SessionError> {
        self.take_unsolicited()?;
        self.tag_counter += 1;
        let tag = format!("S{}", self.tag_counter);
        self.model.begin(command);
        match literal {
            None => {
                self.transcript.client(&format!("{tag} {text}"));
                self.stream.write_all(format!("{tag} {text}\r\n").as_bytes())?;
            }
            Some(data) => self.send_literal(&tag, text, data)?,
        }
        loop {
            match self.read()? {
                Response::Untagged(untagged) => self.untagged(&untagged)?,
                Response::Tagged { tag: got, status, code, text } if got == tag => {
                    let text = match code {
                        Some(code) => format!("[{code}] {text}"),
                        None => text,
                    };
                    self.model.complete(status, &text, &mut self.findings);
                    if let Some(list) = text.strip_prefix("[CAPABILITY ").and_then(|t| t.split_once(']')) {
                        self.capabilities = parse::capabilities(list.0);
                    }
                    return Ok(Completion { status, text });
                }
                Response::Tagged { tag: got, .. } => {
                    self.model.stray_completion(&got, &mut self.findings);
                    return Err(SessionError::Malformed(ParseError::Malformed {
                        reason: "completion for a tag not in progress",
                        excerpt: got,
                    }));
                }
                Response::Continuation(_) => self.model.stray_continuation(&mut self.findings),
            }
        }
    }

    fn send_literal(&mut self, tag: &str, text: &str, data: &[u8]) -> Result<(), SessionError> {
        let plus = self.has("LITERAL+");
        let announce = format!("{tag} {text} {{{}{}}}", data.len(), if plus { "+" } else { "" });
        self.transcript.client(&format!("{announce}<{} bytes>", data.len()));
        let mut out = format!("{announce}\r\n").into_bytes();
        if !plus {
            self.stream.write_all(&out)?;
            out.clear();
            loop {
                match self.read()? {
                    Response::Continuation(_) => break,
                    Response::Untagged(untagged) => self.untagged(&untagged)?,
                    Response::Tagged { status, code, text, .. } => {
                        let text = format!("[{}] {text}", code.unwrap_or_default());
                        self.model.complete(status, &text, &mut self.findings);
                        return Err(SessionError::LiteralRefused(format!("{status} {text}")));
                    }
                }
            }
        }
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        self.stream.write_all(&out)?;
        Ok(())
    }

    fn untagged(&mut self, untagged: &Untagged) -> Result<(), SessionError> {
        if let Untagged::Capability(list) = untagged {
            self.capabilities.clone_from(list);
        }
        match self.model.untagged(untagged, &mut self.findings) {
            Flow::Continue => Ok(()),
            Flow::Bye(text) => Err(SessionError::Bye(text)),
            Flow::TooLarge(n) => Err(SessionError::TooLarge(n)),
        }
    }

    /// Takes the responses that arrived with no command in progress, without waiting.
    fn take_unsolicited(&mut self) -> Result<(), SessionError> {
        self.stream.set_nonblocking(true)?;
        let read = self.input.fill(&mut self.stream);
        self.stream.set_nonblocking(false)?;
        match read {
            Ok(0) => return Err(SessionError::Closed),
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error.into()),
        }
        while let Some(response) = self.parse_buffered()? {
            match response {
                Response::Untagged(untagged) => self.untagged(&untagged)?,
                Response::Tagged { tag, .. } => self.model.stray_completion(&tag, &mut self.findings),
                Response::Continuation(_) => self.model.stray_continuation(&mut self.findings),
            }
        }
        Ok(())
    }

    /// LOGOUT, then reads until the server closes: anything but BYE and the tagged OK is
    /// a violation.
    pub(crate) fn logout(&mut self) -> Result<Completion, SessionError> {
        let completion = self.execute(Command::Logout, "LOGOUT", None)?;
        self.stream.set_read_timeout(Some(CLOSE_WAIT))?;
        loop {
            match self.read() {
                Ok(response) => {
                    let what = render_short(&response);
                    self.model.after_close(what, &mut self.findings);
                }
                // Closed (as it should), or not closed in time, or reset: nothing more to see.
                Err(SessionError::Closed | SessionError::Io(_)) => break,
                Err(error) => return Err(error),
            }
        }
        Ok(completion)
    }

    /// The next complete response in the buffer, if there is one.
    fn parse_buffered(&mut self) -> Result<Option<Response>, SessionError> {
        let length = match parse::response_length(self.input.unconsumed()) {
            Ok(Some(length)) => length,
            Ok(None) => return Ok(None),
            Err(error) => return Err(self.malformed(error)),
        };
        let bytes = &self.input.unconsumed()[..length];
        self.transcript.server(bytes);
        let parsed = parse::parse_response(bytes);
        self.input.consume(length);
        match parsed {
            Ok(response) => Ok(Some(response)),
            Err(error) => Err(self.malformed(error)),
        }
    }

    fn malformed(&mut self, error: ParseError) -> SessionError {
        if !matches!(error, ParseError::Malformed { .. }) {
            let start =
                &self.input.unconsumed()[..self.input.unconsumed().len().min(TRANSCRIPT_LINE_BYTES_MAX)];
            self.transcript.server(start);
        }
        self.model.unparsable(&error.to_string(), &mut self.findings);
        SessionError::Malformed(error)
    }

    fn read(&mut self) -> Result<Response, SessionError> {
        loop {
            if let Some(response) = self.parse_buffered()? {
                return Ok(response);
            }
            if self.input.fill(&mut self.stream)? == 0 {
                return Err(SessionError::Closed);
            }
        }
    }
}

/// A short description of a response for a finding's detail.
fn render_short(response: &Response) -> String {
    match response {
        Response::Continuation(_) => "+".to_string(),
        Response::Tagged { tag, status, .. } => format!("{tag} {status}"),
        Response::Untagged(Untagged::Fetch(fetch)) => format!("* {} FETCH", fetch.seq),
        Response::Untagged(Untagged::Exists(n)) => format!("* {n} EXISTS"),
        Response::Untagged(Untagged::Expunge(n)) => format!("* {n} EXPUNGE"),
        Response::Untagged(Untagged::Other { keyword, .. }) => format!("* {keyword}"),
        Response::Untagged(other) => format!("{other:?}").chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::scenario::stress::model::Kind;
    use std::io::{BufRead, BufReader};

    #[test]
    fn rendering_elides_literals_and_cuts_long_lines() {
        assert_eq!(
            render(b"* 1 FETCH (BODY[] {5}\r\nab\r\nc UID 3)\r\n"),
            "* 1 FETCH (BODY[] {5}<5 bytes> UID 3)"
        );
        let mut transcript = Transcript::default();
        for i in 0..TRANSCRIPT_LINES_MAX + 3 {
            transcript.client(&format!("a{i} NOOP"));
        }
        transcript.server(format!("* FLAGS ({})\r\n", "kw ".repeat(200)).as_bytes());
        let text = transcript.text();
        assert_eq!(text.lines().count(), TRANSCRIPT_LINES_MAX);
        assert!(!text.contains("C: a3 NOOP\n") && text.contains("C: a4 NOOP\n"));
        assert!(text.lines().last().unwrap().ends_with('…'));
    }

    /// A scripted server: greeting, then for each expected client line the reply.
    fn serve(script: Vec<(&'static str, &'static str)>, after_close: &'static str) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            writer.write_all(b"* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n").unwrap();
            for (expect, reply) in script {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                assert!(line.starts_with(expect), "{line:?} does not start with {expect:?}");
                writer.write_all(reply.as_bytes()).unwrap();
            }
            writer.write_all(after_close.as_bytes()).unwrap();
        });
        address
    }

    #[test]
    fn unsolicited_expunge_and_data_after_logout_are_caught() {
        let address = serve(
            vec![
                ("S1 LOGIN", "S1 OK done\r\n"),
                (
                    "S2 SELECT",
                    "* FLAGS ()\r\n* 2 EXISTS\r\n* OK [UIDVALIDITY 1] v\r\nS2 OK done\r\n* 1 EXPUNGE\r\n",
                ),
                ("S3 APPEND", ""),
                ("abc", "* 2 EXISTS\r\nS3 OK done\r\n"),
                ("S4 LOGOUT", "* 1 FETCH (FLAGS ())\r\n* BYE bye\r\nS4 OK done\r\n"),
            ],
            "* 2 EXISTS\r\n",
        );
        let mut session = Session::connect(address, None, Duration::from_secs(5)).unwrap();
        assert!(session.has("LITERAL+"));
        session.execute(Command::Login, "LOGIN \"u\" \"p\"", None).unwrap();
        let selected = session.execute(Command::Select, "SELECT INBOX", None).unwrap();
        assert_eq!(selected.status, Status::Ok);
        assert!(session.take_findings().is_empty());
        // Give the EXPUNGE sent after the completion time to arrive before the next command.
        std::thread::sleep(Duration::from_millis(100));
        session.execute(Command::Append, "APPEND INBOX", Some(b"abc")).unwrap();
        let kinds: Vec<Kind> = session.take_findings().iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![Kind::UntaggedNotAllowed]);
        assert_eq!(session.model.count(), 2);
        session.logout().unwrap();
        let findings = session.take_findings();
        let kinds: Vec<Kind> = findings.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![Kind::AfterLogout, Kind::AfterLogout], "{findings:?}");
        let transcript = session.transcript.text();
        assert!(transcript.contains("C: S3 APPEND INBOX {3+}<3 bytes>\n"), "{transcript}");
        assert!(transcript.ends_with("S: * 2 EXISTS\n"), "{transcript}");
    }

    #[test]
    fn unparsable_responses_end_the_session() {
        let address = serve(vec![("S1 NOOP", "* 1 FETCH (UID\r\n")], "");
        let mut session = Session::connect(address, None, Duration::from_secs(5)).unwrap();
        let error = session.execute(Command::Noop, "NOOP", None).unwrap_err();
        assert!(matches!(error, SessionError::Malformed(_)), "{error}");
        let kinds: Vec<Kind> = session.take_findings().iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![Kind::Malformed]);
        assert!(session.transcript.text().contains("S: * 1 FETCH (UID\n"));
    }
}
