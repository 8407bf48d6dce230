//! What one transaction sends: the envelope (RFC 5321 §3.3), its MAIL and RCPT
//! parameters (SIZE RFC 1870, BODY RFC 6152 and RFC 3030 §3, SMTPUTF8 RFC 6531,
//! REQUIRETLS RFC 8689, DSN RFC 3461), and the reasons a message cannot go to a given
//! server at all, decided before a byte of it is sent.

use super::capabilities::Capabilities;
use crate::smtp::command::BodyType;
use crate::smtp::reply::{EnhancedCode, Reply};

/// Longest address the client writes in MAIL or RCPT: RFC 5321 §4.5.3.1.3 sets 256
/// octets for a path; the local part (64) and domain (255) limits allow up to 320
/// written out, so a longer text cannot be a valid address.
pub const ADDRESS_BYTES_MAX: usize = 320;

/// What a DSN should return of the message (RFC 3461 §4.3, `RET=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnReturn {
    /// The whole message.
    Full,
    /// Only its header.
    Headers,
}

/// The DSN parameters of a transaction (RFC 3461), passed on when the server offers DSN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DsnEnvelope {
    /// `RET=`.
    pub ret: Option<DsnReturn>,
    /// `ENVID=`, as given by the submitter (xtext-encoded on the wire).
    pub envid: Option<String>,
}

/// One recipient of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address, `localpart@domain`, as RCPT TO writes it inside `<>`.
    pub address: String,
    /// `NOTIFY=` (RFC 3461 §4.1), e.g. `FAILURE,DELAY` or `NEVER`; passed on if offered.
    pub notify: Option<String>,
    /// `ORCPT=rfc822;` address (RFC 3461 §4.2); passed on if offered and ASCII.
    pub original: Option<String>,
}

impl Recipient {
    /// A recipient without DSN parameters.
    pub fn new(address: impl Into<String>) -> Self {
        Self { address: address.into(), notify: None, original: None }
    }
}

/// The envelope of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path without `<>`; empty for the null path (DSNs).
    pub mail_from: String,
    /// The recipients, in the order their results are reported.
    pub recipients: Vec<Recipient>,
    /// The message's size in octets as it will be sent (before dot-stuffing).
    pub size_bytes: u64,
    /// 7BIT, 8BITMIME or BINARYMIME.
    pub body: BodyType,
    /// The message or envelope needs SMTPUTF8 (non-ASCII addresses or header fields).
    pub smtputf8: bool,
    /// REQUIRETLS (RFC 8689): send only over TLS to a server that offers it.
    pub requiretls: bool,
    /// DSN parameters.
    pub dsn: DsnEnvelope,
}

/// Why a message cannot go to this server, known before sending anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unsendable {
    /// The session is not ready for a transaction (a caller bug).
    #[error("session not ready for a transaction")]
    NotReady,
    /// An envelope without recipients (a caller bug).
    #[error("no recipients")]
    NoRecipients,
    /// More recipients than the session takes in one transaction; split the envelope.
    #[error("more than {max} recipients in one transaction")]
    TooManyRecipients {
        /// The most this server takes.
        max: u32,
    },
    /// An address with control characters, too long, or non-ASCII without SMTPUTF8.
    #[error("invalid address")]
    InvalidAddress,
    /// The message needs SMTPUTF8 and the server does not offer it (RFC 6531 §3.2).
    #[error("server does not support SMTPUTF8")]
    Smtputf8Unsupported,
    /// 8-bit content and no 8BITMIME (RFC 6152 §3).
    #[error("server does not support 8BITMIME")]
    EightBitUnsupported,
    /// Binary content and no BINARYMIME with CHUNKING (RFC 3030 §3).
    #[error("server does not support BINARYMIME")]
    BinaryUnsupported,
    /// Larger than the server's SIZE (RFC 1870 §6).
    #[error("message larger than the server's limit of {limit} octets")]
    TooLarge {
        /// The server's advertised limit.
        limit: u64,
    },
    /// REQUIRETLS asked and the connection is not TLS or the server does not offer it.
    #[error("REQUIRETLS not supported by the server")]
    RequireTlsUnsupported,
}

impl Unsendable {
    /// The reply that stands for this refusal in the message's delivery result and DSN.
    pub fn reply(&self) -> Reply {
        let (code, enhanced) = match self {
            Self::NotReady => (451, EnhancedCode(4, 3, 0)),
            Self::NoRecipients | Self::TooManyRecipients { .. } => (452, EnhancedCode(4, 5, 3)),
            Self::InvalidAddress => (553, EnhancedCode(5, 1, 3)),
            // RFC 6531 §3.5 names 5.6.7 for a message needing SMTPUTF8 that cannot go on.
            Self::Smtputf8Unsupported => (553, EnhancedCode(5, 6, 7)),
            Self::EightBitUnsupported | Self::BinaryUnsupported => (554, EnhancedCode(5, 6, 3)),
            Self::TooLarge { .. } => (552, EnhancedCode(5, 3, 4)),
            // RFC 8689 §5 names 5.7.30 for REQUIRETLS that cannot be honoured.
            Self::RequireTlsUnsupported => (550, EnhancedCode(5, 7, 30)),
        };
        Reply::new(code, Some(enhanced), self.to_string())
    }
}

/// The MAIL and RCPT command lines for `envelope` on a server with `caps`, or why it
/// cannot be sent there. `tls`: the connection is encrypted.
pub(crate) fn command_lines(
    envelope: &Envelope,
    caps: &Capabilities,
    tls: bool,
    recipients_max: u32,
) -> Result<Vec<String>, Unsendable> {
    check_envelope(envelope, caps, tls, recipients_max)?;
    let mut lines = Vec::with_capacity(envelope.recipients.len() + 1);
    lines.push(mail_line(envelope, caps));
    for recipient in &envelope.recipients {
        let mut line = format!("RCPT TO:<{}>", recipient.address);
        if caps.dsn {
            if let Some(notify) = recipient.notify.as_deref().filter(|n| is_notify(n)) {
                line.push_str(" NOTIFY=");
                line.push_str(notify);
            }
            if let Some(original) = recipient.original.as_deref().filter(|o| o.is_ascii()) {
                line.push_str(" ORCPT=rfc822;");
                xtext(original, &mut line);
            }
        }
        lines.push(line);
    }
    Ok(lines)
}

fn check_envelope(
    envelope: &Envelope,
    caps: &Capabilities,
    tls: bool,
    recipients_max: u32,
) -> Result<(), Unsendable> {
    if envelope.recipients.is_empty() {
        return Err(Unsendable::NoRecipients);
    }
    if envelope.recipients.len() > recipients_max as usize {
        return Err(Unsendable::TooManyRecipients { max: recipients_max });
    }
    let addresses = std::iter::once(envelope.mail_from.as_str())
        .chain(envelope.recipients.iter().map(|r| r.address.as_str()));
    let mut ascii = true;
    for address in addresses {
        if address.len() > ADDRESS_BYTES_MAX || address.chars().any(char::is_control) {
            return Err(Unsendable::InvalidAddress);
        }
        ascii &= address.is_ascii();
    }
    if (envelope.smtputf8 || !ascii) && !caps.smtputf8 {
        return Err(Unsendable::Smtputf8Unsupported);
    }
    match envelope.body {
        BodyType::SevenBit => {}
        BodyType::EightBitMime if caps.eight_bit_mime => {}
        BodyType::EightBitMime => return Err(Unsendable::EightBitUnsupported),
        BodyType::BinaryMime if caps.binary_mime && caps.chunking => {}
        BodyType::BinaryMime => return Err(Unsendable::BinaryUnsupported),
    }
    if let Some(limit) = caps.size_bytes.filter(|&limit| limit > 0 && envelope.size_bytes > limit) {
        return Err(Unsendable::TooLarge { limit });
    }
    if envelope.requiretls && !(tls && caps.requiretls) {
        return Err(Unsendable::RequireTlsUnsupported);
    }
    Ok(())
}

fn mail_line(envelope: &Envelope, caps: &Capabilities) -> String {
    let mut line = format!("MAIL FROM:<{}>", envelope.mail_from);
    if caps.size_bytes.is_some() {
        line.push_str(&format!(" SIZE={}", envelope.size_bytes));
    }
    match envelope.body {
        BodyType::SevenBit => {}
        BodyType::EightBitMime => line.push_str(" BODY=8BITMIME"),
        BodyType::BinaryMime => line.push_str(" BODY=BINARYMIME"),
    }
    let ascii = envelope.mail_from.is_ascii() && envelope.recipients.iter().all(|r| r.address.is_ascii());
    if envelope.smtputf8 || !ascii {
        line.push_str(" SMTPUTF8");
    }
    if envelope.requiretls {
        line.push_str(" REQUIRETLS");
    }
    if caps.dsn {
        match envelope.dsn.ret {
            Some(DsnReturn::Full) => line.push_str(" RET=FULL"),
            Some(DsnReturn::Headers) => line.push_str(" RET=HDRS"),
            None => {}
        }
        if let Some(envid) = envelope.dsn.envid.as_deref().filter(|e| e.is_ascii()) {
            line.push_str(" ENVID=");
            xtext(envid, &mut line);
        }
    }
    line
}

/// RFC 3461 §4.1: `NEVER` or a comma list of SUCCESS, FAILURE, DELAY.
fn is_notify(value: &str) -> bool {
    value.eq_ignore_ascii_case("NEVER")
        || value
            .split(',')
            .all(|word| ["SUCCESS", "FAILURE", "DELAY"].iter().any(|w| word.eq_ignore_ascii_case(w)))
}

/// RFC 3461 §4: xtext; `+`, `=`, and bytes outside `!`..`~` become `+HH`.
pub fn xtext(text: &str, out: &mut String) {
    for byte in text.bytes() {
        if (b'!'..=b'~').contains(&byte) && byte != b'+' && byte != b'=' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("+{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            mail_from: "a@x.example".into(),
            recipients: vec![Recipient::new("b@y.example")],
            size_bytes: 100,
            body: BodyType::SevenBit,
            smtputf8: false,
            requiretls: false,
            dsn: DsnEnvelope::default(),
        }
    }

    #[test]
    fn parameters_only_where_offered() {
        let mut env = envelope();
        env.dsn = DsnEnvelope { ret: Some(DsnReturn::Headers), envid: Some("id+1=2".into()) };
        env.recipients[0].notify = Some("FAILURE,DELAY".into());
        env.recipients[0].original = Some("b@y.example".into());
        let plain = Capabilities { esmtp: true, ..Capabilities::default() };
        assert_eq!(
            command_lines(&env, &plain, false, 10).unwrap(),
            ["MAIL FROM:<a@x.example>", "RCPT TO:<b@y.example>"]
        );
        let rich = Capabilities { esmtp: true, dsn: true, size_bytes: Some(0), ..Capabilities::default() };
        assert_eq!(
            command_lines(&env, &rich, false, 10).unwrap(),
            [
                "MAIL FROM:<a@x.example> SIZE=100 RET=HDRS ENVID=id+2B1+3D2",
                "RCPT TO:<b@y.example> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b@y.example"
            ]
        );
    }

    #[test]
    fn refusals() {
        let caps = Capabilities { esmtp: true, size_bytes: Some(50), ..Capabilities::default() };
        let mut env = envelope();
        assert_eq!(command_lines(&env, &caps, false, 10), Err(Unsendable::TooLarge { limit: 50 }));
        env.size_bytes = 10;
        env.recipients[0].address = "bé@y.example".into();
        assert_eq!(command_lines(&env, &caps, false, 10), Err(Unsendable::Smtputf8Unsupported));
        assert_eq!(Unsendable::Smtputf8Unsupported.reply().enhanced, Some(EnhancedCode(5, 6, 7)));
        env.recipients[0].address = "b@y.example\r\nDATA".into();
        assert_eq!(command_lines(&env, &caps, false, 10), Err(Unsendable::InvalidAddress));
        env.recipients = vec![Recipient::new("b@y.example"); 11];
        assert_eq!(command_lines(&env, &caps, false, 10), Err(Unsendable::TooManyRecipients { max: 10 }));
        env.recipients.truncate(1);
        env.body = BodyType::EightBitMime;
        assert_eq!(command_lines(&env, &caps, false, 10), Err(Unsendable::EightBitUnsupported));
        env.body = BodyType::SevenBit;
        env.requiretls = true;
        let caps = Capabilities { requiretls: true, ..caps };
        assert_eq!(command_lines(&env, &caps, false, 10), Err(Unsendable::RequireTlsUnsupported));
        assert!(command_lines(&env, &caps, true, 10).is_ok());
    }
}
