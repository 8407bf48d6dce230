//! A minimal, strict SMTP client (RFC 5321) for load generation: reply parsing
//! (multi-line replies, RFC 5321 §4.2.1), EHLO extensions, one mail transaction with DATA
//! (dot-stuffed, RFC 5321 §4.5.2) or BDAT (RFC 3030), optionally pipelined (RFC 2920).
//!
//! Strict: reply lines must end in CRLF, carry a three-digit code that is the same on
//! every line of a reply, and stay under [`REPLY_LINE_BYTES_MAX`]; anything else is an
//! error, because a load test must notice a misbehaving server rather than paper over it.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::input::Input;
use memchr::memchr;

/// Longest reply line we accept, CRLF included. RFC 5321 §4.5.3.1.5 sets 512 octets;
/// servers' EHLO lines and enhanced-status texts stay well below 4096 in practice.
pub(crate) const REPLY_LINE_BYTES_MAX: usize = 4096;

/// Most lines in one reply. EHLO answers are the longest (~20 extensions); 100 leaves
/// room without letting a server stream an endless reply.
pub(crate) const REPLY_LINES_MAX: usize = 100;

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// One reply: code and text lines (without code and separator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The three-digit code.
    pub(crate) code: u16,
    /// Text of each line.
    pub(crate) lines: Vec<String>,
}

impl Reply {
    /// 2xx.
    pub(crate) fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// Code and first line, for error reports.
    pub(crate) fn summary(&self) -> String {
        format!("{} {}", self.code, self.lines.first().map_or("", String::as_str))
    }
}

/// What went wrong talking SMTP.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SmtpError {
    /// The socket failed or timed out.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection.
    #[error("connection closed by server")]
    Closed,
    /// A reply did not follow RFC 5321 §4.2.
    #[error("malformed reply ({reason}): {excerpt:?}")]
    Malformed {
        /// What was wrong.
        reason: &'static str,
        /// The start of the offending line.
        excerpt: String,
    },
    /// The server answered a step with a code we did not expect. The connection is still
    /// in sync and can be reused after RSET.
    #[error("{stage} refused: {reply}")]
    Refused {
        /// Which step (greeting, EHLO, MAIL, RCPT, DATA, BDAT, end of data).
        stage: &'static str,
        /// Code and first line of the reply.
        reply: String,
    },
}

impl SmtpError {
    /// Whether the connection is still usable (after RSET).
    pub(crate) fn connection_usable(&self) -> bool {
        matches!(self, SmtpError::Refused { .. })
    }
}

/// Parses the first complete reply in `buffer`: the reply and the bytes it used, or `None`
/// if more input is needed.
pub(crate) fn parse_reply(buffer: &[u8]) -> Result<Option<(Reply, usize)>, SmtpError> {
    let mut position = 0;
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let rest = &buffer[position..];
        let Some(newline) = memchr(b'\n', rest) else {
            if rest.len() >= REPLY_LINE_BYTES_MAX {
                return Err(malformed("line too long", rest));
            }
            return Ok(None);
        };
        let line = &rest[..newline + 1];
        if line.len() > REPLY_LINE_BYTES_MAX {
            return Err(malformed("line too long", line));
        }
        let Some(content) = line.strip_suffix(b"\r\n") else {
            return Err(malformed("line ends in bare LF", line));
        };
        position += line.len();
        let (line_code, last, text) = parse_line(content)?;
        if *code.get_or_insert(line_code) != line_code {
            return Err(malformed("codes differ within one reply", content));
        }
        lines.push(text);
        if last {
            return Ok(Some((Reply { code: line_code, lines }, position)));
        }
        if lines.len() >= REPLY_LINES_MAX {
            return Err(malformed("too many lines in one reply", content));
        }
    }
}

/// One reply line without CRLF: (code, is last line, text).
fn parse_line(content: &[u8]) -> Result<(u16, bool, String), SmtpError> {
    let digits = content.get(..3).ok_or_else(|| malformed("line shorter than a code", content))?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&digits[0]) {
        return Err(malformed("code is not 2xx-5xx", content));
    }
    let code = digits.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let (last, text) = match content.get(3) {
        None => (true, &b""[..]),
        Some(b' ') => (true, &content[4..]),
        Some(b'-') => (false, &content[4..]),
        Some(_) => return Err(malformed("code not followed by space or hyphen", content)),
    };
    Ok((code, last, String::from_utf8_lossy(text).into_owned()))
}

fn malformed(reason: &'static str, line: &[u8]) -> SmtpError {
    let end = line.len().min(120);
    SmtpError::Malformed { reason, excerpt: String::from_utf8_lossy(&line[..end]).into_owned() }
}

/// The service extensions from an EHLO reply that the load generator can use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Extensions {
    /// PIPELINING (RFC 2920).
    pub(crate) pipelining: bool,
    /// CHUNKING (RFC 3030).
    pub(crate) chunking: bool,
    /// SIZE limit (RFC 1870), 0 meaning none announced.
    pub(crate) size_max: u64,
}

impl Extensions {
    /// Reads the keywords of an EHLO reply (every line after the first).
    pub(crate) fn from_ehlo(reply: &Reply) -> Extensions {
        let mut extensions = Extensions::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => extensions.pipelining = true,
                "CHUNKING" => extensions.chunking = true,
                "SIZE" => extensions.size_max = words.next().and_then(|w| w.parse().ok()).unwrap_or(0),
                _ => {}
            }
        }
        extensions
    }
}

pub(crate) use moxide_protocols::smtp::dot_stuff;

/// How a transaction sends its message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SendMode {
    /// Send MAIL, RCPT and DATA/BDAT in one write (server must offer PIPELINING).
    pub(crate) pipelining: bool,
    /// BDAT instead of DATA (server must offer CHUNKING).
    pub(crate) chunking: bool,
}

/// A blocking SMTP connection after EHLO.
#[derive(Debug)]
pub(crate) struct SmtpConnection {
    stream: TcpStream,
    input: Input,
    /// What EHLO announced.
    pub(crate) extensions: Extensions,
}

impl SmtpConnection {
    /// Connects, reads the 220 greeting, sends EHLO.
    pub(crate) fn connect(
        target: SocketAddr,
        source: Option<IpAddr>,
        timeout: Duration,
        helo_name: &str,
    ) -> Result<SmtpConnection, SmtpError> {
        let stream = crate::target::connect_blocking(target, source, timeout)?;
        let mut connection =
            SmtpConnection { stream, input: Input::new(READ_CHUNK_BYTES), extensions: Extensions::default() };
        connection.expect(220, "greeting")?;
        connection.stream.write_all(format!("EHLO {helo_name}\r\n").as_bytes())?;
        let ehlo = connection.expect(250, "EHLO")?;
        connection.extensions = Extensions::from_ehlo(&ehlo);
        Ok(connection)
    }

    /// AUTH PLAIN (RFC 4954, RFC 4616) with an initial response; 235 expected.
    pub(crate) fn auth_plain(&mut self, user: &str, password: &str) -> Result<(), SmtpError> {
        use base64::Engine as _;
        let response = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.stream.write_all(format!("AUTH PLAIN {response}\r\n").as_bytes())?;
        self.expect(235, "AUTH").map(drop)
    }

    /// Reads the next reply.
    pub(crate) fn read_reply(&mut self) -> Result<Reply, SmtpError> {
        loop {
            if let Some((reply, used)) = parse_reply(self.input.unconsumed())? {
                self.input.consume(used);
                return Ok(reply);
            }
            if self.input.fill(&mut self.stream)? == 0 {
                return Err(SmtpError::Closed);
            }
        }
    }

    fn expect(&mut self, code: u16, stage: &'static str) -> Result<Reply, SmtpError> {
        let reply = self.read_reply()?;
        if reply.code == code { Ok(reply) } else { Err(SmtpError::Refused { stage, reply: reply.summary() }) }
    }

    /// One mail transaction of `message` (CRLF line ends) from `from` to `rcpt`.
    /// `stuffed` is the DATA form of the message (see [`dot_stuff`]); unused with BDAT.
    /// A refusal leaves the connection usable: the caller sends [`Self::reset`].
    pub(crate) fn send_mail(
        &mut self,
        from: &str,
        rcpt: &str,
        message: &[u8],
        stuffed: &[u8],
        mode: SendMode,
    ) -> Result<(), SmtpError> {
        let pipelining = mode.pipelining && self.extensions.pipelining;
        let chunking = mode.chunking && self.extensions.chunking;
        let mail = format!("MAIL FROM:<{from}>\r\n");
        let rcpt = format!("RCPT TO:<{rcpt}>\r\n");
        let last = if chunking { format!("BDAT {} LAST\r\n", message.len()) } else { "DATA\r\n".to_string() };
        if pipelining {
            return self.send_pipelined(&[mail, rcpt, last].concat(), chunking, message, stuffed);
        }
        self.stream.write_all(mail.as_bytes())?;
        check(&self.read_reply()?, "MAIL")?;
        self.stream.write_all(rcpt.as_bytes())?;
        check(&self.read_reply()?, "RCPT")?;
        if chunking {
            let mut command = last.into_bytes();
            command.extend_from_slice(message);
            self.stream.write_all(&command)?;
            return check(&self.read_reply()?, "BDAT");
        }
        self.stream.write_all(last.as_bytes())?;
        let reply = self.read_reply()?;
        if reply.code != 354 {
            return Err(SmtpError::Refused { stage: "DATA", reply: reply.summary() });
        }
        self.stream.write_all(stuffed)?;
        check(&self.read_reply()?, "end of data")
    }

    /// MAIL, RCPT and DATA (or BDAT with the message) in one write (RFC 2920 §3.1), then
    /// the replies in order.
    fn send_pipelined(
        &mut self,
        commands: &str,
        chunking: bool,
        message: &[u8],
        stuffed: &[u8],
    ) -> Result<(), SmtpError> {
        let mut out = commands.as_bytes().to_vec();
        if chunking {
            out.extend_from_slice(message);
        }
        self.stream.write_all(&out)?;
        let mail = self.read_reply()?;
        let rcpt = self.read_reply()?;
        let last = self.read_reply()?;
        if !chunking && last.code == 354 && !(mail.is_positive() && rcpt.is_positive()) {
            // RFC 2920 §3.1: a server may accept DATA after the recipients failed; the
            // client then ends the (empty) message so the session stays in sync.
            self.stream.write_all(b".\r\n")?;
            self.read_reply()?;
        }
        check(&mail, "MAIL")?;
        check(&rcpt, "RCPT")?;
        if chunking {
            return check(&last, "BDAT");
        }
        if last.code != 354 {
            return Err(SmtpError::Refused { stage: "DATA", reply: last.summary() });
        }
        self.stream.write_all(stuffed)?;
        check(&self.read_reply()?, "end of data")
    }

    /// RSET after a refused transaction.
    pub(crate) fn reset(&mut self) -> Result<(), SmtpError> {
        self.stream.write_all(b"RSET\r\n")?;
        check(&self.read_reply()?, "RSET")
    }

    /// QUIT; the reply is read but a missing one is not an error.
    pub(crate) fn quit(mut self) {
        if self.stream.write_all(b"QUIT\r\n").is_ok() {
            let _ = self.read_reply();
        }
    }
}

fn check(reply: &Reply, stage: &'static str) -> Result<(), SmtpError> {
    if reply.is_positive() { Ok(()) } else { Err(SmtpError::Refused { stage, reply: reply.summary() }) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::{BufRead, BufReader, Read};

    #[test]
    fn single_and_multi_line_replies() {
        let input =
            b"250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 CHUNKING\r\n354 go\r\n";
        let (reply, used) = parse_reply(input).unwrap().unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines, vec!["mx.example greets you", "PIPELINING", "SIZE 10240000", "CHUNKING"]);
        assert_eq!(
            Extensions::from_ehlo(&reply),
            Extensions { pipelining: true, chunking: true, size_max: 10_240_000 }
        );
        let (reply, rest) = parse_reply(&input[used..]).unwrap().unwrap();
        assert_eq!((reply.code, reply.lines, rest), (354, vec!["go".to_string()], 8));
        let (reply, _) = parse_reply(b"250\r\n").unwrap().unwrap();
        assert_eq!(reply.lines, vec![String::new()]);
    }

    #[test]
    fn incomplete_replies_wait() {
        assert!(parse_reply(b"250-first\r\n250 sec").unwrap().is_none());
        assert!(parse_reply(b"").unwrap().is_none());
        assert!(parse_reply(b"25").unwrap().is_none());
    }

    #[test]
    fn malformed_replies_are_errors() {
        for bad in [
            &b"250-a\r\n251 b\r\n"[..],
            b"250 ok\n",
            b"2x0 what\r\n",
            b"250_ok\r\n",
            b"25\r\n",
            b"650 no such class\r\n",
        ] {
            assert!(matches!(parse_reply(bad), Err(SmtpError::Malformed { .. })), "{bad:?}");
        }
        let long = vec![b'2'; REPLY_LINE_BYTES_MAX + 1];
        assert!(matches!(parse_reply(&long), Err(SmtpError::Malformed { .. })));
        let endless = "250-x\r\n".repeat(REPLY_LINES_MAX + 1);
        assert!(matches!(parse_reply(endless.as_bytes()), Err(SmtpError::Malformed { .. })));
    }

    #[test]
    fn dot_stuffing() {
        let mut out = Vec::new();
        dot_stuff(b".hidden\r\nmid.dle\r\n.\r\n..two\r\nend", &mut out);
        assert_eq!(out, b"..hidden\r\nmid.dle\r\n..\r\n...two\r\nend\r\n.\r\n");
        out.clear();
        dot_stuff(b"a\r\n", &mut out);
        assert_eq!(out, b"a\r\n.\r\n");
    }

    /// A scripted server: reads `expect` bytes (lines or raw), then writes `reply`.
    fn serve(script: Vec<(&'static [u8], &'static str)>) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            writer
                .write_all(b"220 mx ready\r\n")
                .and_then(|()| {
                    let mut line = String::new();
                    reader.read_line(&mut line)?;
                    assert_eq!(line, "EHLO load.example\r\n");
                    writer.write_all(b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n")
                })
                .unwrap();
            for (expect, reply) in script {
                let mut got = vec![0u8; expect.len()];
                reader.read_exact(&mut got).unwrap();
                assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expect));
                writer.write_all(reply.as_bytes()).unwrap();
            }
        });
        address
    }

    #[test]
    fn sequential_data_transaction_and_refusal() {
        let address = serve(vec![
            (b"MAIL FROM:<a@x>\r\n", "250 ok\r\n"),
            (b"RCPT TO:<b@y>\r\n", "250 ok\r\n"),
            (b"DATA\r\n", "354 go\r\n"),
            (b"..x\r\n.\r\n", "250 queued\r\n"),
            (b"MAIL FROM:<a@x>\r\n", "250 ok\r\n"),
            (b"RCPT TO:<b@y>\r\n", "550 5.1.1 no such user\r\n"),
            (b"RSET\r\n", "250 ok\r\n"),
        ]);
        let mut connection =
            SmtpConnection::connect(address, None, Duration::from_secs(5), "load.example").unwrap();
        let mut stuffed = Vec::new();
        dot_stuff(b".x\r\n", &mut stuffed);
        connection.send_mail("a@x", "b@y", b".x\r\n", &stuffed, SendMode::default()).unwrap();
        let error = connection.send_mail("a@x", "b@y", b".x\r\n", &stuffed, SendMode::default()).unwrap_err();
        assert!(matches!(&error, SmtpError::Refused { stage: "RCPT", reply } if reply.starts_with("550")));
        assert!(error.connection_usable());
        connection.reset().unwrap();
    }

    #[test]
    fn pipelined_bdat_and_pipelined_data() {
        let address = serve(vec![
            (
                b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nBDAT 4 LAST\r\n.x\r\n",
                "250 ok\r\n250 ok\r\n250 stored\r\n",
            ),
            (b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n", "250 ok\r\n250 ok\r\n354 go\r\n"),
            (b"..x\r\n.\r\n", "250 stored\r\n"),
        ]);
        let mut connection =
            SmtpConnection::connect(address, None, Duration::from_secs(5), "load.example").unwrap();
        let mut stuffed = Vec::new();
        dot_stuff(b".x\r\n", &mut stuffed);
        let both = SendMode { pipelining: true, chunking: true };
        connection.send_mail("a@x", "b@y", b".x\r\n", &stuffed, both).unwrap();
        let pipelined = SendMode { pipelining: true, chunking: false };
        connection.send_mail("a@x", "b@y", b".x\r\n", &stuffed, pipelined).unwrap();
    }

    #[test]
    fn pipelined_data_after_failed_recipient_stays_in_sync() {
        let address = serve(vec![
            (b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n", "250 ok\r\n550 no such user\r\n354 go\r\n"),
            (b".\r\n", "554 no valid recipients\r\n"),
            (b"RSET\r\n", "250 ok\r\n"),
        ]);
        let mut connection =
            SmtpConnection::connect(address, None, Duration::from_secs(5), "load.example").unwrap();
        let pipelined = SendMode { pipelining: true, chunking: false };
        let error = connection.send_mail("a@x", "b@y", b"x\r\n", b"x\r\n.\r\n", pipelined).unwrap_err();
        assert!(matches!(&error, SmtpError::Refused { stage: "RCPT", .. }), "{error}");
        connection.reset().unwrap();
    }
}
