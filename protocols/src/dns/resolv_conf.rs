//! `/etc/resolv.conf` as the stub resolver reads it (resolv.conf(5)): `nameserver` lines
//! (at most three, port 53) and the `options` that matter here: `timeout:`, `attempts:`
//! and `trust-ad` (glibc 2.31: believe the AD bit from these servers). The caller reads
//! the file; this only parses text.

use std::net::{IpAddr, SocketAddr};

use super::exchange::{
    ATTEMPT_TIMEOUT_MS_DEFAULT, ATTEMPTS_DEFAULT, ExchangeConfig, NameServer, SERVERS_MAX,
};

/// Longest resolv.conf read, in bytes: real files are a few hundred bytes; 64 KiB bounds
/// what a broken or hostile file can make us parse.
pub const RESOLV_CONF_BYTES_MAX: usize = 64 * 1024;

/// What resolv.conf says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvConf {
    /// Name server addresses, in file order, at most [`SERVERS_MAX`].
    pub nameservers: Vec<IpAddr>,
    /// `options timeout:N`, in milliseconds.
    pub attempt_timeout_ms: u64,
    /// `options attempts:N`.
    pub attempts: u32,
    /// `options trust-ad`.
    pub trust_ad: bool,
}

impl ResolvConf {
    /// Parses the file's text; unknown lines and options are ignored, as the C library
    /// ignores them.
    pub fn parse(text: &str) -> ResolvConf {
        let text = text.get(..RESOLV_CONF_BYTES_MAX.min(text.len())).unwrap_or("");
        let mut conf = ResolvConf {
            nameservers: Vec::new(),
            attempt_timeout_ms: ATTEMPT_TIMEOUT_MS_DEFAULT,
            attempts: ATTEMPTS_DEFAULT,
            trust_ad: false,
        };
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    // Scoped IPv6 addresses (fe80::1%eth0) do not parse and are skipped.
                    if let Some(ip) = words.next().and_then(|w| w.parse().ok())
                        && conf.nameservers.len() < SERVERS_MAX
                    {
                        conf.nameservers.push(ip);
                    }
                }
                Some("options") => words.for_each(|option| conf.apply_option(option)),
                _ => {}
            }
        }
        conf
    }

    fn apply_option(&mut self, option: &str) {
        if option == "trust-ad" {
            self.trust_ad = true;
        } else if let Some(seconds) = option.strip_prefix("timeout:").and_then(|v| v.parse::<u64>().ok()) {
            self.attempt_timeout_ms = seconds.saturating_mul(1000);
        } else if let Some(attempts) = option.strip_prefix("attempts:").and_then(|v| v.parse::<u32>().ok()) {
            self.attempts = attempts;
        }
    }

    /// The exchange configuration: port 53 on each server; the AD bit is believed only
    /// with `trust-ad` and only from loopback addresses (anything else crosses a network
    /// an attacker may write to).
    pub fn exchange_config(&self) -> ExchangeConfig {
        let servers = self
            .nameservers
            .iter()
            .map(|&ip| NameServer {
                address: SocketAddr::new(ip, 53),
                trust_ad: self.trust_ad && ip.is_loopback(),
            })
            .collect();
        ExchangeConfig { servers, attempts: self.attempts, attempt_timeout_ms: self.attempt_timeout_ms }
            .clamped()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nameservers_options_and_trust() {
        let conf = ResolvConf::parse(
            "# generated\nsearch example.org\nnameserver 127.0.0.53\nnameserver 192.0.2.1 # lan\n\
             nameserver fe80::1%eth0\nnameserver ::1\nnameserver 192.0.2.9\noptions edns0 trust-ad timeout:1 attempts:3\n",
        );
        assert_eq!(conf.nameservers.len(), 3);
        assert_eq!(conf.nameservers[2], "::1".parse::<IpAddr>().unwrap());
        assert_eq!((conf.attempt_timeout_ms, conf.attempts, conf.trust_ad), (1000, 3, true));
        let exchange = conf.exchange_config();
        assert!(exchange.servers[0].trust_ad);
        assert!(!exchange.servers[1].trust_ad);
        assert!(exchange.servers[2].trust_ad);
        assert_eq!(exchange.servers[0].address.port(), 53);
    }

    #[test]
    fn empty_and_silly_values() {
        let conf = ResolvConf::parse("options attempts:99 timeout:100000\n");
        assert!(conf.nameservers.is_empty());
        let exchange = conf.exchange_config();
        assert_eq!(exchange.attempts, 5);
        assert_eq!(exchange.attempt_timeout_ms, 30_000);
    }
}
