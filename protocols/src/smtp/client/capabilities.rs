//! What a server offers, read from its EHLO reply (RFC 5321 §4.1.1.1): the keywords
//! this client uses, with their parameters. Unknown keywords are ignored, and a
//! malformed parameter counts as the extension not being offered (the safe reading:
//! the client then does without it).

use super::limits::CLIENT_RECIPIENTS_MAX;

/// The extensions a server announced. All false/empty after HELO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The server answered EHLO (not only HELO).
    pub esmtp: bool,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// SIZE (RFC 1870): `Some(0)` means offered without a limit.
    pub size_bytes: Option<u64>,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// CHUNKING (RFC 3030).
    pub chunking: bool,
    /// BINARYMIME (RFC 3030 §3).
    pub binary_mime: bool,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// REQUIRETLS (RFC 8689).
    pub requiretls: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// AUTH mechanisms (RFC 4954), upper case, in the server's order.
    pub auth_mechanisms: Vec<String>,
    /// LIMITS RCPTMAX (RFC 9422): most recipients per transaction.
    pub recipients_max: Option<u32>,
}

impl Capabilities {
    /// Reads an EHLO reply's text: its first line is the server's name, each further
    /// line one keyword with parameters.
    pub fn from_ehlo(text: &str) -> Self {
        let mut caps = Self { esmtp: true, ..Self::default() };
        for line in text.split('\n').skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else { continue };
            caps.take_keyword(&keyword.to_ascii_uppercase(), words);
        }
        caps
    }

    fn take_keyword<'a>(&mut self, keyword: &str, mut params: impl Iterator<Item = &'a str>) {
        match keyword {
            "PIPELINING" => self.pipelining = true,
            "SIZE" => {
                // RFC 1870 §4: no parameter means no fixed limit.
                self.size_bytes = match params.next() {
                    None => Some(0),
                    Some(value) => value.parse().ok(),
                };
            }
            "8BITMIME" => self.eight_bit_mime = true,
            "SMTPUTF8" => self.smtputf8 = true,
            "CHUNKING" => self.chunking = true,
            "BINARYMIME" => self.binary_mime = true,
            "DSN" => self.dsn = true,
            "STARTTLS" => self.starttls = true,
            "REQUIRETLS" => self.requiretls = true,
            "ENHANCEDSTATUSCODES" => self.enhanced_status_codes = true,
            "AUTH" => {
                self.auth_mechanisms.extend(params.map(str::to_ascii_uppercase));
            }
            "LIMITS" => self.take_limits(params),
            _ => {}
        }
    }

    /// RFC 9422 §4: `LIMITS` with `NAME=value` pairs; only RCPTMAX matters here.
    fn take_limits<'a>(&mut self, params: impl Iterator<Item = &'a str>) {
        for param in params {
            let Some((name, value)) = param.split_once('=') else { continue };
            if name.eq_ignore_ascii_case("RCPTMAX") {
                self.recipients_max = value.parse().ok().filter(|&n: &u32| n > 0);
            }
        }
    }

    /// Most recipients to put in one transaction: the server's RCPTMAX, never more than
    /// [`CLIENT_RECIPIENTS_MAX`].
    pub fn transaction_recipients_max(&self) -> u32 {
        self.recipients_max.map_or(CLIENT_RECIPIENTS_MAX, |n| n.min(CLIENT_RECIPIENTS_MAX))
    }

    /// Whether `mechanism` (upper case) is offered.
    pub fn offers_auth(&self, mechanism: &str) -> bool {
        self.auth_mechanisms.iter().any(|m| m == mechanism)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_parameters() {
        let caps = Capabilities::from_ehlo(
            "mx.example greets you\nPIPELINING\nsize 1000\n8BITMIME\nSMTPUTF8\nCHUNKING\nBINARYMIME\n\
             DSN\nSTARTTLS\nENHANCEDSTATUSCODES\nAUTH plain SCRAM-SHA-256\nLIMITS MAILMAX=5 RCPTMAX=50\n\
             REQUIRETLS\nX-UNKNOWN 1",
        );
        assert!(caps.esmtp && caps.pipelining && caps.eight_bit_mime && caps.smtputf8);
        assert!(caps.chunking && caps.binary_mime && caps.dsn && caps.starttls);
        assert!(caps.enhanced_status_codes && caps.requiretls);
        assert_eq!(caps.size_bytes, Some(1000));
        assert_eq!(caps.auth_mechanisms, ["PLAIN", "SCRAM-SHA-256"]);
        assert!(caps.offers_auth("PLAIN"));
        assert_eq!(caps.recipients_max, Some(50));
        assert_eq!(caps.transaction_recipients_max(), 50);
    }

    #[test]
    fn the_first_line_is_the_name_not_a_keyword() {
        let caps = Capabilities::from_ehlo("PIPELINING");
        assert!(caps.esmtp);
        assert!(!caps.pipelining);
    }

    #[test]
    fn malformed_parameters_mean_not_offered() {
        let caps = Capabilities::from_ehlo("mx\nSIZE lots\nLIMITS RCPTMAX=0\nSIZE");
        assert_eq!(caps.size_bytes, Some(0), "the last SIZE line wins");
        assert_eq!(caps.recipients_max, None);
        assert_eq!(caps.transaction_recipients_max(), CLIENT_RECIPIENTS_MAX);
        let caps = Capabilities::from_ehlo("mx\nSIZE lots");
        assert_eq!(caps.size_bytes, None);
    }
}
