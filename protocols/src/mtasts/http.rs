//! The HTTP/1.1 exchange that fetches an MTA-STS policy (RFC 8461 §3.3), sans-IO: the
//! request's bytes, and a reader that takes the response in pieces of any size and
//! gives the body of a `200` answer.
//!
//! Only what a policy fetch needs: one GET with `Connection: close`; a body delimited
//! by `Content-Length`, chunked transfer coding (RFC 9112 §7.1) or the end of the
//! connection. Anything but `200` is an error: RFC 8461 §3.3 forbids following
//! redirects. Memory is bounded: headers by [`HEADER_BYTES_MAX`], the body by
//! [`super::POLICY_BYTES_MAX`].

use super::POLICY_BYTES_MAX;

/// Largest response header block: a policy server sends a few hundred bytes of
/// headers; 16 KiB leaves room for chatty CDNs and bounds what we hold.
pub const HEADER_BYTES_MAX: usize = 16 * 1024;

/// The path every policy is served at (RFC 8461 §3.3).
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";

/// Why a response gives no policy body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The status was not 200 (redirects included).
    #[error("HTTP status {0}")]
    Status(u16),
    /// The response is not HTTP/1.x as we read it.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// Headers or body exceed their limits.
    #[error("response too large")]
    TooLarge,
    /// The connection ended before the body did.
    #[error("response truncated")]
    Truncated,
}

/// The request for `host`'s policy.
pub fn policy_request(host: &str) -> Vec<u8> {
    format!(
        "GET {POLICY_PATH} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: moxide\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The header block of a TLS report POST (RFC 8460 §5.3.2): `body_bytes` of gzip'ed
/// JSON follow it. Also answered by a [`ResponseReader`]; any 2xx is success
/// ([`ResponseReader::status`]).
pub fn report_post_head(host: &str, path: &str, body_bytes: usize) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: moxide\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Length: {body_bytes}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The parts of an `https:` URL a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsUrl {
    /// The host name (lower case), never an IP literal: its certificate is checked
    /// against the name.
    pub host: String,
    /// The port, 443 unless the URL names one.
    pub port: u16,
    /// Path and query, `/` when empty.
    pub path: String,
}

/// Reads `https://host[:port][/path]` (an `https:` rua, RFC 8460 §3); `None` for anything else
/// (userinfo, an IP literal, a fragment, spaces or controls).
pub fn parse_https_url(url: &str) -> Option<HttpsUrl> {
    let rest = url.get(..8).filter(|scheme| scheme.eq_ignore_ascii_case("https://")).map(|_| &url[8..])?;
    if rest.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'#') {
        return None;
    }
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| (&rest[..at], &rest[at..]));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse::<u16>().ok().filter(|&p| p != 0)?),
        None => (authority, 443),
    };
    let valid =
        |label: &str| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let ip_literal = host.starts_with('[') || host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if ip_literal || host.contains('@') || !host.split('.').all(valid) {
        return None;
    }
    Some(HttpsUrl { host: host.to_ascii_lowercase(), port, path: path.to_owned() })
}

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    Close,
}

/// Reads one response. Feed it what the connection gives ([`ResponseReader::feed`]);
/// stop reading when [`ResponseReader::is_complete`] says so or the peer closes; then
/// [`ResponseReader::finish`].
#[derive(Debug, Default)]
pub struct ResponseReader {
    header: Vec<u8>,
    head: Option<(u16, Framing)>,
    raw_body: Vec<u8>,
}

impl ResponseReader {
    /// An empty reader.
    pub fn new() -> ResponseReader {
        ResponseReader::default()
    }

    /// Takes the next bytes of the response.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), HttpError> {
        if self.head.is_none() {
            let room = HEADER_BYTES_MAX + 4 - self.header.len().min(HEADER_BYTES_MAX + 4);
            let take = bytes.len().min(room);
            let start = self.header.len().saturating_sub(3);
            self.header.extend_from_slice(&bytes[..take]);
            let Some(end) = find(&self.header[start..], b"\r\n\r\n").map(|at| start + at + 4) else {
                if self.header.len() > HEADER_BYTES_MAX {
                    return Err(HttpError::TooLarge);
                }
                return Ok(());
            };
            self.head = Some(parse_head(&self.header[..end])?);
            let rest = self.header.split_off(end);
            self.raw_body = rest;
            bytes = &bytes[take..];
        }
        // Chunked framing carries up to a few bytes per chunk beyond the data: allow
        // the body limit plus the header limit for it.
        if self.raw_body.len() + bytes.len() > POLICY_BYTES_MAX + HEADER_BYTES_MAX {
            return Err(HttpError::TooLarge);
        }
        self.raw_body.extend_from_slice(bytes);
        Ok(())
    }

    /// The response's status code, once its header block has arrived.
    pub fn status(&self) -> Option<u16> {
        self.head.map(|(status, _)| status)
    }

    /// Whether the whole body has arrived (a `Content-Length` body, or a chunked body
    /// up to its last chunk), so the caller need not wait for the close.
    pub fn is_complete(&self) -> bool {
        match self.head {
            Some((_, Framing::Length(length))) => self.raw_body.len() >= length,
            Some((_, Framing::Chunked)) => matches!(dechunk(&self.raw_body), Ok(Some(_))),
            _ => false,
        }
    }

    /// The body of a `200` response; call when complete or after the peer closed.
    pub fn finish(self) -> Result<Vec<u8>, HttpError> {
        let (status, framing) = self.head.ok_or(HttpError::Truncated)?;
        if status != 200 {
            return Err(HttpError::Status(status));
        }
        let body = match framing {
            Framing::Length(length) if self.raw_body.len() < length => return Err(HttpError::Truncated),
            Framing::Length(length) => self.raw_body[..length].to_vec(),
            Framing::Chunked => dechunk(&self.raw_body)?.ok_or(HttpError::Truncated)?,
            Framing::Close => self.raw_body,
        };
        if body.len() > POLICY_BYTES_MAX {
            return Err(HttpError::TooLarge);
        }
        Ok(body)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Status and framing from the header block (status line and fields, CRLF CRLF ended).
fn parse_head(head: &[u8]) -> Result<(u16, Framing), HttpError> {
    let text = std::str::from_utf8(head).map_err(|_| HttpError::Malformed("header encoding"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HttpError::Malformed("status line"));
    }
    let status = parts
        .next()
        .filter(|code| code.len() == 3)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or(HttpError::Malformed("status code"))?;
    let mut framing = Framing::Close;
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HttpError::Malformed("header field"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if !value.eq_ignore_ascii_case("chunked") {
                return Err(HttpError::Malformed("transfer coding"));
            }
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            let length: usize = value.parse().map_err(|_| HttpError::Malformed("content-length"))?;
            if length > POLICY_BYTES_MAX {
                return Err(HttpError::TooLarge);
            }
            framing = Framing::Length(length);
        }
    }
    Ok((status, framing))
}

/// Decodes a chunked body: `Ok(None)` while the last chunk has not arrived.
fn dechunk(mut raw: &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(raw, b"\r\n") else { return Ok(None) };
        let size_text =
            std::str::from_utf8(&raw[..line_end]).map_err(|_| HttpError::Malformed("chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| HttpError::Malformed("chunk size"))?;
        if size > POLICY_BYTES_MAX || body.len() + size > POLICY_BYTES_MAX {
            return Err(HttpError::TooLarge);
        }
        raw = &raw[line_end + 2..];
        if size == 0 {
            // Trailer fields are not used; the last chunk is enough.
            return Ok(Some(body));
        }
        if raw.len() < size + 2 {
            return Ok(None);
        }
        if &raw[size..size + 2] != b"\r\n" {
            return Err(HttpError::Malformed("chunk end"));
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn read(response: &[u8], piece: usize) -> Result<Vec<u8>, HttpError> {
        let mut reader = ResponseReader::new();
        for chunk in response.chunks(piece) {
            reader.feed(chunk)?;
        }
        reader.finish()
    }

    #[test]
    fn bodies_by_length_chunks_and_close() {
        let length = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloXX";
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n";
        let close = b"HTTP/1.0 200 OK\r\n\r\nhello";
        for piece in [1, 7, 1000] {
            assert_eq!(read(length, piece).unwrap(), b"hello");
            assert_eq!(read(chunked, piece).unwrap(), b"hello");
            assert_eq!(read(close, piece).unwrap(), b"hello");
        }
        let mut reader = ResponseReader::new();
        reader.feed(&chunked[..chunked.len() - 5]).unwrap();
        assert!(!reader.is_complete());
        reader.feed(&chunked[chunked.len() - 5..]).unwrap();
        assert!(reader.is_complete());
    }

    #[test]
    fn redirects_truncation_and_sizes_are_errors() {
        let redirect = b"HTTP/1.1 301 Moved\r\nLocation: https://elsewhere/\r\n\r\n";
        assert_eq!(read(redirect, 9), Err(HttpError::Status(301)));
        assert_eq!(read(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", 3), Err(HttpError::Truncated));
        assert_eq!(read(b"HTTP/1.1 200 OK\r\n", 3), Err(HttpError::Truncated));
        assert_eq!(read(b"SMTP/1.1 200 OK\r\n\r\n", 3), Err(HttpError::Malformed("status line")));
        let huge = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", POLICY_BYTES_MAX + 1);
        assert_eq!(read(huge.as_bytes(), 5), Err(HttpError::TooLarge));
        let mut endless = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        endless.extend(vec![b'a'; POLICY_BYTES_MAX + HEADER_BYTES_MAX + 1]);
        assert_eq!(read(&endless, 4096), Err(HttpError::TooLarge));
        let header = vec![b'a'; HEADER_BYTES_MAX + 10];
        assert_eq!(read(&header, 100), Err(HttpError::TooLarge));
        assert!(
            String::from_utf8(policy_request("mta-sts.example.com"))
                .unwrap()
                .starts_with("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\n")
        );
    }

    #[test]
    fn https_urls_for_report_posts() {
        let url = parse_https_url("HTTPS://Reports.Example:8443/tlsrpt?x=1").unwrap();
        assert_eq!(url, HttpsUrl { host: "reports.example".into(), port: 8443, path: "/tlsrpt?x=1".into() });
        assert_eq!(parse_https_url("https://r.example").unwrap().path, "/");
        assert_eq!(parse_https_url("https://r.example/").unwrap().port, 443);
        for bad in [
            "http://r.example/",
            "https://user@r.example/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://r.example:0/",
            "https://r.example:x/",
            "https://r..example/",
            "https://r.example/a b",
            "https://r.example/#f",
            "https:",
        ] {
            assert_eq!(parse_https_url(bad), None, "{bad}");
        }
        let head = String::from_utf8(report_post_head("r.example", "/t", 42)).unwrap();
        assert!(head.starts_with("POST /t HTTP/1.1\r\nHost: r.example\r\n"), "{head}");
        assert!(head.contains("Content-Type: application/tlsrpt+gzip\r\nContent-Length: 42\r\n"));
        let mut reader = ResponseReader::new();
        reader.feed(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(reader.status(), Some(201));
    }
}
