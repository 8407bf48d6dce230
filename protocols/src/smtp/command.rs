//! SMTP command-line parser: one line (CRLF already removed) to a `Command`, and one
//! SASL response line to an `AuthResponse`.
//!
//! RFC 5321 §4.1.1 commands; MAIL parameters SIZE (RFC 1870), BODY (RFC 6152, RFC 3030
//! §3), SMTPUTF8 (RFC 6531), AUTH (RFC 4954 §5, accepted and ignored), REQUIRETLS
//! (RFC 8689) and HOLDFOR/HOLDUNTIL (RFC 4865, `release`); BDAT (RFC 3030 §2); BURL
//! (RFC 4468 §3.5); STARTTLS (RFC 3207 §4); AUTH and its responses
//! (RFC 4954 §4). Verbs and keywords match without regard to case (RFC 5321 §2.4). Lines
//! with control characters or invalid UTF-8 are refused before any verb is looked at.
//! Base64 is strict (padding required, no whitespace), so one response has one meaning.
//! Parse errors map to replies in one place, `CommandError::reply`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::address::parse_reverse_path;
use super::address::{AddressError, ForwardPath, ReversePath, parse_forward_path};
use super::limits::{DOMAIN_BYTES_MAX, SIZE_DIGITS_MAX};
use super::release::{Release, parse_holdfor, parse_holduntil};
use super::reply::{EnhancedCode, Reply};

/// The body type a MAIL command declares (RFC 6152 `BODY=8BITMIME`, RFC 3030 §3
/// `BODY=BINARYMIME`); without a BODY parameter it is 7BIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BodyType {
    /// `BODY=7BIT` or no BODY parameter.
    #[default]
    SevenBit,
    /// `BODY=8BITMIME` (RFC 6152).
    EightBitMime,
    /// `BODY=BINARYMIME` (RFC 3030 §3): the message must come by BDAT.
    BinaryMime,
}

/// A parsed MAIL command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom {
    /// The reverse path.
    pub path: ReversePath,
    /// `SIZE=` as declared by the client (RFC 1870), if any.
    pub size_bytes: Option<u64>,
    /// The `BODY=` parameter.
    pub body: BodyType,
    /// Whether `SMTPUTF8` was given (RFC 6531 §3.4).
    pub smtputf8: bool,
    /// Whether `REQUIRETLS` was given (RFC 8689): the message must travel onward only
    /// over verified TLS. Accepted only on a TLS session that advertised it.
    pub requiretls: bool,
    /// `HOLDFOR` or `HOLDUNTIL` (RFC 4865): release the message later. Accepted only
    /// where FUTURERELEASE was advertised; the caller checks the time against its limits.
    pub release: Option<Release>,
}

/// One SMTP command. `Auth::initial` is the decoded initial response; `=` gives
/// `Some(empty)` (RFC 4954 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Helo(String),
    Ehlo(String),
    Mail(MailFrom),
    Rcpt(ForwardPath),
    Data,
    Bdat { size: u64, last: bool },
    Burl { url: String, last: bool },
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth { mechanism: String, initial: Option<Vec<u8>> },
}

/// One client line during an AUTH exchange (RFC 4954 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthResponse {
    /// `*`: the client cancels the exchange.
    Cancel,
    /// The decoded response (empty for an empty line).
    Data(Vec<u8>),
}

/// Why a command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CommandError {
    /// Not a valid command line at all (control characters, bad UTF-8, empty).
    #[error("{0}")]
    BadLine(&'static str),
    /// The verb is not one we know.
    #[error("command not recognized")]
    UnknownCommand,
    /// Wrong arguments; the text gives the expected form.
    #[error("syntax: {0}")]
    Syntax(&'static str),
    /// The MAIL address does not parse.
    #[error("bad sender address: {0}")]
    BadSender(AddressError),
    /// The RCPT address does not parse.
    #[error("bad recipient address: {0}")]
    BadRecipient(AddressError),
    /// A MAIL or RCPT parameter we do not implement.
    #[error("unsupported parameter")]
    UnknownParameter,
    /// A known parameter with a bad value, or given twice.
    #[error("{0}")]
    InvalidParameter(&'static str),
    /// A command that takes no arguments got some (RFC 3207 §4 for STARTTLS).
    #[error("{0} takes no arguments")]
    NoArguments(&'static str),
    /// An AUTH initial response or SASL response that is not base64 (RFC 4954 §4).
    #[error("invalid base64")]
    BadBase64,
}

impl CommandError {
    /// The reply for this error; the only place parse errors meet reply codes.
    pub(crate) fn reply(&self) -> Reply {
        let (code, enhanced) = match self {
            // RFC 3463 X.5.2: syntax error; X.5.1: invalid command.
            Self::BadLine(_) => (500, EnhancedCode(5, 5, 2)),
            Self::UnknownCommand => (500, EnhancedCode(5, 5, 1)),
            Self::Syntax(_) => (501, EnhancedCode(5, 5, 2)),
            // RFC 3463 X.1.7 / X.1.3: bad sender / destination mailbox address syntax.
            Self::BadSender(_) => (501, EnhancedCode(5, 1, 7)),
            Self::BadRecipient(_) => (501, EnhancedCode(5, 1, 3)),
            // RFC 5321 §4.1.1.11: 555 for MAIL/RCPT parameters not recognized.
            Self::UnknownParameter => (555, EnhancedCode(5, 5, 4)),
            Self::InvalidParameter(_) | Self::NoArguments(_) => (501, EnhancedCode(5, 5, 4)),
            // RFC 4954 §6: 501 5.5.2 for client responses that cannot be decoded.
            Self::BadBase64 => (501, EnhancedCode(5, 5, 2)),
        };
        Reply::new(code, Some(enhanced), self.to_string())
    }
}

/// Parses one command line, without its CRLF.
pub(crate) fn parse_command(line: &[u8]) -> Result<Command, CommandError> {
    // RFC 5321 §2.3.8 / §4.1.1: commands are text; NUL, bare CR and other controls are
    // never legitimate and are a classic way to confuse filters in front of a server.
    if line.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(CommandError::BadLine("invalid character in command"));
    }
    let line = std::str::from_utf8(line).map_err(|_| CommandError::BadLine("command is not valid UTF-8"))?;
    let line = line.trim_end_matches(' ');
    if line.is_empty() {
        return Err(CommandError::BadLine("empty command"));
    }
    let (verb, args) = line.split_once(' ').unwrap_or((line, ""));
    let verb_is = |name: &str| verb.eq_ignore_ascii_case(name);
    if verb_is("HELO") {
        Ok(Command::Helo(parse_helo_name(args, "HELO domain")?))
    } else if verb_is("EHLO") {
        Ok(Command::Ehlo(parse_helo_name(args, "EHLO domain")?))
    } else if verb_is("MAIL") {
        Ok(Command::Mail(parse_mail(args)?))
    } else if verb_is("RCPT") {
        Ok(Command::Rcpt(parse_rcpt(args)?))
    } else if verb_is("BDAT") {
        parse_bdat(args)
    } else if verb_is("BURL") {
        parse_burl(args)
    } else if verb_is("AUTH") {
        parse_auth(args)
    } else {
        parse_simple(verb, args)
    }
}

/// Commands with no arguments, or whose arguments we ignore.
fn parse_simple(verb: &str, args: &str) -> Result<Command, CommandError> {
    let no_args = |command: Command, usage: &'static str| {
        if args.is_empty() { Ok(command) } else { Err(CommandError::Syntax(usage)) }
    };
    let verb_is = |name: &str| verb.eq_ignore_ascii_case(name);
    if verb_is("DATA") {
        no_args(Command::Data, "DATA")
    } else if verb_is("RSET") {
        no_args(Command::Rset, "RSET")
    } else if verb_is("QUIT") {
        no_args(Command::Quit, "QUIT")
    } else if verb_is("NOOP") {
        // RFC 5321 §4.1.1.9: a NOOP argument is allowed and ignored.
        Ok(Command::Noop)
    } else if verb_is("VRFY") {
        Ok(Command::Vrfy)
    } else if verb_is("EXPN") {
        Ok(Command::Expn)
    } else if verb_is("HELP") {
        Ok(Command::Help)
    } else if verb_is("STARTTLS") {
        if args.is_empty() { Ok(Command::StartTls) } else { Err(CommandError::NoArguments("STARTTLS")) }
    } else {
        Err(CommandError::UnknownCommand)
    }
}

/// The HELO/EHLO argument. RFC 5321 §4.1.1.1 wants a domain or address literal, but
/// §4.1.4 forbids refusing mail over a bad one, and deployed clients send hostnames
/// with underscores and the like; so any one word up to the domain limit is taken.
fn parse_helo_name(args: &str, usage: &'static str) -> Result<String, CommandError> {
    if args.is_empty() || args.contains(' ') || args.len() > DOMAIN_BYTES_MAX {
        return Err(CommandError::Syntax(usage));
    }
    Ok(args.to_owned())
}

/// `MAIL FROM:<reverse-path> [SP Mail-parameters]`.
fn parse_mail(args: &str) -> Result<MailFrom, CommandError> {
    const USAGE: &str = "MAIL FROM:<address> [parameters]";
    let rest = strip_prefix_ignore_case(args, "FROM:").ok_or(CommandError::Syntax(USAGE))?;
    // Interop: many clients send "MAIL FROM: <a@b>"; RFC 5321 has no space there.
    let rest = rest.trim_start_matches(' ');
    let (path, rest) = parse_reverse_path(rest).map_err(CommandError::BadSender)?;
    let mut mail = MailFrom {
        path,
        size_bytes: None,
        body: BodyType::SevenBit,
        smtputf8: false,
        requiretls: false,
        release: None,
    };
    let mut seen_body = false;
    let mut seen_auth = false;
    for (keyword, value) in parameters(rest, USAGE)? {
        if keyword.eq_ignore_ascii_case("SIZE") {
            if mail.size_bytes.is_some() {
                return Err(CommandError::InvalidParameter("duplicate SIZE"));
            }
            let size = value.and_then(parse_decimal);
            mail.size_bytes = Some(size.ok_or(CommandError::InvalidParameter("bad SIZE"))?);
        } else if keyword.eq_ignore_ascii_case("BODY") {
            if std::mem::replace(&mut seen_body, true) {
                return Err(CommandError::InvalidParameter("duplicate BODY"));
            }
            mail.body = value.and_then(parse_body_type).ok_or(CommandError::InvalidParameter("bad BODY"))?;
        } else if keyword.eq_ignore_ascii_case("SMTPUTF8") {
            if value.is_some() || mail.smtputf8 {
                return Err(CommandError::InvalidParameter("bad SMTPUTF8"));
            }
            mail.smtputf8 = true;
        } else if keyword.eq_ignore_ascii_case("REQUIRETLS") {
            if value.is_some() || mail.requiretls {
                return Err(CommandError::InvalidParameter("bad REQUIRETLS"));
            }
            mail.requiretls = true;
        } else if keyword.eq_ignore_ascii_case("HOLDFOR") || keyword.eq_ignore_ascii_case("HOLDUNTIL") {
            // RFC 4865 §3: one of the two, once.
            if mail.release.is_some() {
                return Err(CommandError::InvalidParameter("only one HOLDFOR or HOLDUNTIL"));
            }
            let release = if keyword.eq_ignore_ascii_case("HOLDFOR") {
                value.and_then(parse_holdfor).map(Release::For)
            } else {
                value.and_then(parse_holduntil).map(Release::Until)
            };
            mail.release = Some(release.ok_or(CommandError::InvalidParameter("bad HOLDFOR or HOLDUNTIL"))?);
        } else if keyword.eq_ignore_ascii_case("AUTH") {
            // RFC 4954 §5: a server that offers AUTH must accept the parameter; it names
            // who submitted the message at an earlier hop. We trust no such claim, which
            // the RFC allows (it is then as if `AUTH=<>` was given), so the value is
            // checked for form only and dropped.
            if value.is_none() || std::mem::replace(&mut seen_auth, true) {
                return Err(CommandError::InvalidParameter("bad AUTH"));
            }
        } else {
            return Err(CommandError::UnknownParameter);
        }
    }
    Ok(mail)
}

/// `RCPT TO:<forward-path> [SP Rcpt-parameters]`; we implement no RCPT parameters yet.
fn parse_rcpt(args: &str) -> Result<ForwardPath, CommandError> {
    const USAGE: &str = "RCPT TO:<address>";
    let rest = strip_prefix_ignore_case(args, "TO:").ok_or(CommandError::Syntax(USAGE))?;
    // Interop: as for MAIL, tolerate "RCPT TO: <a@b>".
    let rest = rest.trim_start_matches(' ');
    let (path, rest) = parse_forward_path(rest).map_err(CommandError::BadRecipient)?;
    if parameters(rest, USAGE)?.next().is_some() {
        return Err(CommandError::UnknownParameter);
    }
    Ok(path)
}

/// `BDAT SP chunk-size [SP end-marker]` (RFC 3030 §2).
fn parse_bdat(args: &str) -> Result<Command, CommandError> {
    const USAGE: &str = "BDAT size [LAST]";
    let mut words = args.split(' ');
    let size = words.next().and_then(parse_decimal).ok_or(CommandError::Syntax(USAGE))?;
    let last = match words.next() {
        None => false,
        Some(word) if word.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::Syntax(USAGE)),
    };
    if words.next().is_some() {
        return Err(CommandError::Syntax(USAGE));
    }
    Ok(Command::Bdat { size, last })
}

/// `BURL SP absolute-URI [SP end-marker]` (RFC 4468 §3.5). A URI has no spaces; what
/// it says is for the session (and the URL parser) to judge.
fn parse_burl(args: &str) -> Result<Command, CommandError> {
    const USAGE: &str = "BURL absolute-URI [LAST]";
    let mut words = args.split(' ');
    let url = words.next().filter(|word| !word.is_empty()).ok_or(CommandError::Syntax(USAGE))?;
    let last = match words.next() {
        None => false,
        Some(word) if word.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::Syntax(USAGE)),
    };
    if words.next().is_some() {
        return Err(CommandError::Syntax(USAGE));
    }
    Ok(Command::Burl { url: url.to_owned(), last })
}

/// `AUTH SP sasl-mech [SP initial-response]` (RFC 4954 §4); the mechanism is checked
/// against the offered ones by the session.
fn parse_auth(args: &str) -> Result<Command, CommandError> {
    const USAGE: &str = "AUTH mechanism [initial-response]";
    let mut words = args.split(' ');
    let mechanism = words.next().filter(|word| !word.is_empty()).ok_or(CommandError::Syntax(USAGE))?;
    let initial = match words.next() {
        None => None,
        Some("") => return Err(CommandError::Syntax(USAGE)),
        // RFC 4954 §4: "=" stands for an empty initial response.
        Some("=") => Some(Vec::new()),
        Some(text) => Some(decode_base64(text.as_bytes())?),
    };
    if words.next().is_some() {
        return Err(CommandError::Syntax(USAGE));
    }
    Ok(Command::Auth { mechanism: mechanism.to_owned(), initial })
}

/// One line of an AUTH exchange, without its CRLF: `*` cancels (RFC 4954 §4), anything
/// else must be base64, the empty line being the empty response.
pub(crate) fn parse_auth_response(line: &[u8]) -> Result<AuthResponse, CommandError> {
    if line == b"*" {
        return Ok(AuthResponse::Cancel);
    }
    decode_base64(line).map(AuthResponse::Data)
}

fn decode_base64(text: &[u8]) -> Result<Vec<u8>, CommandError> {
    STANDARD.decode(text).map_err(|_| CommandError::BadBase64)
}

/// Splits `[SP esmtp-param *(SP esmtp-param)]` (RFC 5321 §4.1.2) into keyword and
/// optional value. Extra spaces between parameters are tolerated.
fn parameters<'a>(
    rest: &'a str,
    usage: &'static str,
) -> Result<impl Iterator<Item = (&'a str, Option<&'a str>)>, CommandError> {
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(CommandError::Syntax(usage));
    }
    let mut params = Vec::new();
    for word in rest.split(' ').filter(|word| !word.is_empty()) {
        let (keyword, value) = match word.split_once('=') {
            Some((keyword, value)) => (keyword, Some(value)),
            None => (word, None),
        };
        if !is_esmtp_keyword(keyword) || value.is_some_and(|v| !is_esmtp_value(v)) {
            return Err(CommandError::InvalidParameter("malformed parameter"));
        }
        params.push((keyword, value));
    }
    Ok(params.into_iter())
}

/// `esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`.
fn is_esmtp_keyword(keyword: &str) -> bool {
    let bytes = keyword.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

/// `esmtp-value = 1*(%d33-60 / %d62-126)`, plus UTF-8 (RFC 6531 §3.3).
fn is_esmtp_value(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| matches!(b, 33..=60 | 62..=126) || b >= 0x80)
}

/// `1*20DIGIT` as a u64 (RFC 1870 §3, RFC 3030 §2); `None` on anything else or overflow.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > SIZE_DIGITS_MAX || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_body_type(value: &str) -> Option<BodyType> {
    if value.eq_ignore_ascii_case("7BIT") {
        Some(BodyType::SevenBit)
    } else if value.eq_ignore_ascii_case("8BITMIME") {
        Some(BodyType::EightBitMime)
    } else if value.eq_ignore_ascii_case("BINARYMIME") {
        Some(BodyType::BinaryMime)
    } else {
        None
    }
}

/// True when `line` starts with the BDAT verb, so that the session can fail a BDAT
/// transaction even when the command's arguments do not parse (RFC 3030 §2).
pub(crate) fn is_bdat_line(line: &[u8]) -> bool {
    line.get(..4).is_some_and(|verb| verb.eq_ignore_ascii_case(b"BDAT"))
        && matches!(line.get(4), None | Some(b' '))
}

/// True when `line` starts with the BURL verb: a bad BURL fails an open message as a
/// bad BDAT does (RFC 4468 §3.2).
pub(crate) fn is_burl_line(line: &[u8]) -> bool {
    line.get(..4).is_some_and(|verb| verb.eq_ignore_ascii_case(b"BURL"))
        && matches!(line.get(4), None | Some(b' '))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::smtp::address::Mailbox;

    fn parse(line: &str) -> Result<Command, CommandError> {
        parse_command(line.as_bytes())
    }

    fn mail(line: &str) -> MailFrom {
        match parse(line) {
            Ok(Command::Mail(mail)) => mail,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(parse("quit"), Ok(Command::Quit));
        assert_eq!(parse("QuIt"), Ok(Command::Quit));
        assert_eq!(parse("noop anything"), Ok(Command::Noop));
        assert_eq!(parse("DATA"), Ok(Command::Data));
        assert_eq!(parse("rset"), Ok(Command::Rset));
        assert_eq!(parse("Vrfy user"), Ok(Command::Vrfy));
        assert_eq!(parse("expn list"), Ok(Command::Expn));
        assert_eq!(parse("help"), Ok(Command::Help));
        assert_eq!(parse("ehlo a.example"), Ok(Command::Ehlo("a.example".into())));
        assert_eq!(parse("HELO a.example"), Ok(Command::Helo("a.example".into())));
    }

    #[test]
    fn bad_lines() {
        assert_eq!(parse("FOO"), Err(CommandError::UnknownCommand));
        assert_eq!(parse("STARTTLS"), Ok(Command::StartTls));
        assert_eq!(parse("starttls now"), Err(CommandError::NoArguments("STARTTLS")));
        assert!(matches!(parse(""), Err(CommandError::BadLine(_))));
        assert!(matches!(parse("NO\0OP"), Err(CommandError::BadLine(_))));
        assert!(matches!(parse("NOOP\r"), Err(CommandError::BadLine(_))));
        assert!(matches!(parse_command(b"NOOP \xff"), Err(CommandError::BadLine(_))));
        assert_eq!(parse("DATA x"), Err(CommandError::Syntax("DATA")));
        assert_eq!(parse("QUIT now"), Err(CommandError::Syntax("QUIT")));
        assert!(matches!(parse("EHLO"), Err(CommandError::Syntax(_))));
        assert!(matches!(parse("EHLO a b"), Err(CommandError::Syntax(_))));
    }

    #[test]
    fn mail_parameters() {
        let m = mail("MAIL FROM:<a@b.example> SIZE=1000 BODY=8bitmime SMTPUTF8");
        assert_eq!(m.size_bytes, Some(1000));
        assert_eq!(m.body, BodyType::EightBitMime);
        assert!(m.smtputf8);
        assert_eq!(m.path, ReversePath::Mailbox(Mailbox::parse("a@b.example").unwrap()));
        let m = mail("mail from:<>");
        assert_eq!(m.path, ReversePath::Null);
        assert_eq!(m.body, BodyType::SevenBit);
        assert_eq!(mail("MAIL FROM:<> BODY=BINARYMIME").body, BodyType::BinaryMime);
        assert_eq!(mail("MAIL FROM:<> BODY=7BIT").body, BodyType::SevenBit);
    }

    #[test]
    fn mail_lenient_space_after_colon() {
        assert_eq!(mail("MAIL FROM: <a@b.example>").path.to_string(), "a@b.example");
        assert!(matches!(parse("RCPT TO: <a@b.example>"), Ok(Command::Rcpt(_))));
    }

    #[test]
    fn mail_parameter_errors() {
        let cases = [
            ("MAIL FROM:<> FOO=1", CommandError::UnknownParameter),
            ("MAIL FROM:<> SIZE=x", CommandError::InvalidParameter("bad SIZE")),
            ("MAIL FROM:<> SIZE", CommandError::InvalidParameter("bad SIZE")),
            ("MAIL FROM:<> SIZE=1 SIZE=2", CommandError::InvalidParameter("duplicate SIZE")),
            ("MAIL FROM:<> BODY=9BIT", CommandError::InvalidParameter("bad BODY")),
            ("MAIL FROM:<> SMTPUTF8=yes", CommandError::InvalidParameter("bad SMTPUTF8")),
            ("MAIL FROM:<> -X=1", CommandError::InvalidParameter("malformed parameter")),
            ("MAIL FROM:<> X=", CommandError::InvalidParameter("malformed parameter")),
            ("MAIL FROM:<>SIZE=1", CommandError::Syntax("MAIL FROM:<address> [parameters]")),
            ("MAIL TO:<>", CommandError::Syntax("MAIL FROM:<address> [parameters]")),
            ("MAIL FROM:a@b", CommandError::BadSender(AddressError::MissingAngleBrackets)),
            ("RCPT TO:<a@b> NOTIFY=NEVER", CommandError::UnknownParameter),
            ("RCPT TO:<>", CommandError::BadRecipient(AddressError::NullPathNotAllowed)),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), Err(want), "{line}");
        }
    }

    #[test]
    fn mail_auth_and_requiretls_parameters() {
        let m = mail("MAIL FROM:<a@b.example> AUTH=<> REQUIRETLS");
        assert!(m.requiretls);
        assert!(!mail("MAIL FROM:<a@b.example> AUTH=e+3Dmc2@example.com").requiretls);
        let cases = [
            ("MAIL FROM:<> AUTH", CommandError::InvalidParameter("bad AUTH")),
            ("MAIL FROM:<> AUTH=<> AUTH=<>", CommandError::InvalidParameter("bad AUTH")),
            ("MAIL FROM:<> REQUIRETLS=YES", CommandError::InvalidParameter("bad REQUIRETLS")),
            ("MAIL FROM:<> REQUIRETLS requiretls", CommandError::InvalidParameter("bad REQUIRETLS")),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), Err(want), "{line}");
        }
    }

    #[test]
    fn auth_command() {
        let auth = |mechanism: &str, initial: Option<&[u8]>| {
            Ok(Command::Auth { mechanism: mechanism.to_owned(), initial: initial.map(<[u8]>::to_vec) })
        };
        assert_eq!(parse("AUTH PLAIN"), auth("PLAIN", None));
        assert_eq!(parse("auth login dXNlcg=="), auth("login", Some(b"user")));
        assert_eq!(parse("AUTH PLAIN ="), auth("PLAIN", Some(b"")));
        assert_eq!(parse("AUTH PLAIN AGJvYgBzZWNyZXQ="), auth("PLAIN", Some(b"\0bob\0secret")));
        for bad in ["AUTH", "AUTH  PLAIN", "AUTH PLAIN  eA==", "AUTH PLAIN eA== x"] {
            assert!(matches!(parse(bad), Err(CommandError::Syntax(_))), "{bad}");
        }
        // Strict base64: padding required, no foreign characters.
        for bad in ["AUTH PLAIN eA", "AUTH PLAIN e!==", "AUTH PLAIN =="] {
            assert_eq!(parse(bad), Err(CommandError::BadBase64), "{bad}");
        }
    }

    #[test]
    fn auth_responses() {
        assert_eq!(parse_auth_response(b"*"), Ok(AuthResponse::Cancel));
        assert_eq!(parse_auth_response(b""), Ok(AuthResponse::Data(Vec::new())));
        assert_eq!(parse_auth_response(b"dXNlcg=="), Ok(AuthResponse::Data(b"user".to_vec())));
        for bad in [&b"**"[..], b" dXNlcg==", b"dXNlcg", b"dXNl\x00cg==", b"="] {
            assert_eq!(parse_auth_response(bad), Err(CommandError::BadBase64), "{bad:?}");
        }
    }

    #[test]
    fn size_digits_at_n_and_n_plus_one() {
        let max = "1".repeat(SIZE_DIGITS_MAX);
        assert!(matches!(parse(&format!("BDAT {max}")), Ok(Command::Bdat { .. })));
        // 20 digits beyond u64::MAX overflow, and 21 digits are refused outright.
        assert!(parse(&format!("BDAT 9{}", "9".repeat(SIZE_DIGITS_MAX - 1))).is_err());
        assert!(parse(&format!("BDAT 1{max}")).is_err());
    }

    #[test]
    fn bdat() {
        assert_eq!(parse("BDAT 10"), Ok(Command::Bdat { size: 10, last: false }));
        assert_eq!(parse("bdat 0 last"), Ok(Command::Bdat { size: 0, last: true }));
        for bad in ["BDAT", "BDAT x", "BDAT 1 FIRST", "BDAT 1 LAST x", "BDAT -1"] {
            assert!(matches!(parse(bad), Err(CommandError::Syntax(_))), "{bad}");
        }
    }

    #[test]
    fn burl() {
        let burl = |url: &str, last| Ok(Command::Burl { url: url.to_owned(), last });
        assert_eq!(
            parse("BURL imap://a@b/INBOX/;UID=1;URLAUTH=submit+a:INTERNAL:00"),
            burl("imap://a@b/INBOX/;UID=1;URLAUTH=submit+a:INTERNAL:00", false)
        );
        assert_eq!(parse("burl x last"), burl("x", true));
        for bad in ["BURL", "BURL  x", "BURL x FIRST", "BURL x LAST y"] {
            assert!(matches!(parse(bad), Err(CommandError::Syntax(_))), "{bad}");
        }
        assert!(is_burl_line(b"BURL") && is_burl_line(b"burl x") && !is_burl_line(b"BURLX"));
    }

    #[test]
    fn replies_for_errors() {
        let code = |e: CommandError| {
            let r = e.reply();
            (r.code, r.enhanced.map(|e| e.to_string()).unwrap_or_default())
        };
        assert_eq!(code(CommandError::UnknownCommand), (500, "5.5.1".into()));
        assert_eq!(code(CommandError::BadLine("x")), (500, "5.5.2".into()));
        assert_eq!(code(CommandError::Syntax("x")), (501, "5.5.2".into()));
        assert_eq!(code(CommandError::UnknownParameter), (555, "5.5.4".into()));
        assert_eq!(code(CommandError::NoArguments("STARTTLS")), (501, "5.5.4".into()));
        assert_eq!(code(CommandError::BadBase64), (501, "5.5.2".into()));
        assert_eq!(code(CommandError::BadSender(AddressError::InvalidDomain)), (501, "5.1.7".into()));
        assert_eq!(code(CommandError::BadRecipient(AddressError::InvalidDomain)), (501, "5.1.3".into()));
    }
}
