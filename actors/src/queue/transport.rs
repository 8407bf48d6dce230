//! Transports and routes: how a destination's mail leaves, chosen per attempt from the
//! message's sender (account and `MAIL FROM` domain), the recipient domain and the
//! attempts already made.
//!
//! A [`Transport`] is `direct` (MX delivery, RFC 5321 §5.1, optionally one address
//! family only) or a [`Smarthost`]: a named host that relays for us, over
//! `submissions` (TLS from the first byte, RFC 8314, port 465), `submission` (STARTTLS
//! required, RFC 6409, port 587) or `smtp` (port 25, STARTTLS opportunistic or
//! required), with SMTP AUTH (RFC 4954) when credentials are configured. A smarthost's
//! certificate is verified with WebPKI against its host name whenever TLS is required;
//! MTA-STS and DANE do not apply (they describe a recipient domain's MX hosts, not our
//! relay), and no TLSRPT results are recorded (RFC 8460 §3: results are per policy
//! domain, and a smarthost delivery reaches none).
//!
//! Transports are static configuration (they hold credentials); the routes are live
//! ([`Routes`], carried by the directory and replaced when the domains file is
//! reloaded), as mox splits them between mox.conf and domains.conf.
//!
//! [`Routing::choose`]: the first matching route of the sender's account, then of the
//! sender's domain, then the global ones; none: `direct`. A route matches when every
//! condition it has holds: `from_domain` lists the `MAIL FROM` domain, `to_domain` the
//! recipient domain, and at least `minimum_attempts` attempts were made already.

use std::collections::HashMap;
use std::fmt;

use moxide_protocols::sasl::Mechanism;

/// The name routes use for the built-in MX delivery (unless a transport of that name is
/// configured).
pub const DIRECT: &str = "direct";

/// How a smarthost connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmarthostTls {
    /// TLS from the first byte (RFC 8314 §3.3, `submissions`), verified.
    Implicit,
    /// STARTTLS required and verified (`submission`; `smtp` with `require_tls`).
    StartTlsRequired,
    /// STARTTLS when offered, unverified (`smtp`, RFC 7435); plaintext otherwise.
    StartTlsOpportunistic,
}

impl SmarthostTls {
    /// Whether the connection's TLS is verified (REQUIRETLS may use it, RFC 8689 §4.2).
    pub fn is_verified(self) -> bool {
        !matches!(self, SmarthostTls::StartTlsOpportunistic)
    }
}

/// Credentials for SMTP AUTH at a smarthost.
#[derive(Clone, PartialEq, Eq)]
pub struct SmarthostAuth {
    /// The account name at the smarthost.
    pub username: String,
    /// Its password.
    pub password: String,
    /// Mechanisms allowed; empty: every mechanism the client has (strongest first).
    pub mechanisms: Vec<Mechanism>,
}

impl fmt::Debug for SmarthostAuth {
    /// The password never goes to logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmarthostAuth")
            .field("username", &self.username)
            .field("mechanisms", &self.mechanisms)
            .finish_non_exhaustive()
    }
}

/// A relay host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smarthost {
    /// Host name (or IP address): the TLS name verified, the name in DSNs' Remote-MTA.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS use.
    pub tls: SmarthostTls,
    /// AUTH; `None`: none.
    pub auth: Option<SmarthostAuth>,
}

/// How mail leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// MX delivery (the default); `ipv4`/`ipv6` false leave that address family out.
    Direct {
        /// Connect to IPv4 addresses.
        ipv4: bool,
        /// Connect to IPv6 addresses.
        ipv6: bool,
    },
    /// Through a relay.
    Smarthost(Smarthost),
}

/// The default transport.
pub const DIRECT_TRANSPORT: Transport = Transport::Direct { ipv4: true, ipv6: true };

/// One route: conditions and the transport name they lead to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// `MAIL FROM` domains (lower case); empty: any.
    pub from_domains: Vec<String>,
    /// Recipient domains (lower case); empty: any.
    pub to_domains: Vec<String>,
    /// Attempts already made before the route applies (0: from the first attempt).
    pub minimum_attempts: u32,
    /// The transport's name.
    pub transport: String,
}

impl Route {
    fn matches(&self, from_domain: &str, to_domain: &str, attempts_made: u32) -> bool {
        (self.from_domains.is_empty() || self.from_domains.iter().any(|d| d == from_domain))
            && (self.to_domains.is_empty() || self.to_domains.iter().any(|d| d == to_domain))
            && attempts_made >= self.minimum_attempts
    }
}

/// The routes at the three levels, as the live configuration (the domains file) has
/// them: the directory carries them, so a reload changes them for the next attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    accounts: HashMap<String, Vec<Route>>,
    domains: HashMap<String, Vec<Route>>,
    global: Vec<Route>,
}

fn lower(routes: &[Route]) -> Vec<Route> {
    routes
        .iter()
        .map(|r| Route {
            from_domains: r.from_domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            to_domains: r.to_domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            ..r.clone()
        })
        .collect()
}

impl Routes {
    /// Routes per account, per sender domain and global (domains compare in lower case).
    pub fn new(
        accounts: HashMap<String, Vec<Route>>,
        domains: HashMap<String, Vec<Route>>,
        global: &[Route],
    ) -> Routes {
        Routes {
            accounts: accounts.into_iter().map(|(a, r)| (a, lower(&r))).collect(),
            domains: domains.into_iter().map(|(d, r)| (d.to_ascii_lowercase(), lower(&r))).collect(),
            global: lower(global),
        }
    }

    /// Every route, account ones first.
    fn all(&self) -> impl Iterator<Item = &Route> {
        self.accounts.values().chain(self.domains.values()).flatten().chain(&self.global)
    }
}

/// The named transports (static configuration: they hold credentials).
#[derive(Debug, Clone, Default)]
pub struct Routing {
    transports: HashMap<String, Transport>,
}

/// What a route choice depends on.
#[derive(Debug, Clone, Copy)]
pub struct RouteQuery<'a> {
    /// The submitting account (empty for DSNs and forwards).
    pub account: &'a str,
    /// The `MAIL FROM` domain, lower case (empty for `<>`).
    pub from_domain: &'a str,
    /// The recipient domain, lower case.
    pub to_domain: &'a str,
    /// Attempts made before this one.
    pub attempts_made: u32,
}

impl Routing {
    /// Routing over `transports`.
    pub fn new(transports: HashMap<String, Transport>) -> Routing {
        Routing { transports }
    }

    /// The configured transports by name, sorted.
    pub fn transports(&self) -> impl Iterator<Item = (&String, &Transport)> {
        let mut all: Vec<_> = self.transports.iter().collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }

    /// Whether `name` is a transport routes may name ([`DIRECT`] or a configured one).
    pub fn knows(&self, name: &str) -> bool {
        name == DIRECT || self.transports.contains_key(name)
    }

    /// Checks that every route of `routes` names a known transport; the error says
    /// which does not.
    pub fn check(&self, routes: &Routes) -> Result<(), String> {
        match routes.all().find(|route| !self.knows(&route.transport)) {
            Some(route) => {
                Err(format!("route names transport {:?}, which is not configured", route.transport))
            }
            None => Ok(()),
        }
    }

    /// The transport for one attempt under `routes`, and its name. A route naming a
    /// transport that is not configured (refused at load, so never in practice) is
    /// passed over.
    pub fn choose(&self, routes: &Routes, query: &RouteQuery<'_>) -> (String, Transport) {
        let levels =
            [routes.accounts.get(query.account), routes.domains.get(query.from_domain), Some(&routes.global)];
        let found = levels.into_iter().flatten().flatten().find(|route| {
            self.knows(&route.transport)
                && route.matches(query.from_domain, query.to_domain, query.attempts_made)
        });
        match found {
            Some(route) => {
                let transport = self.transports.get(&route.transport).unwrap_or(&DIRECT_TRANSPORT);
                (route.transport.clone(), transport.clone())
            }
            None => (DIRECT.to_owned(), DIRECT_TRANSPORT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(host: &str) -> Transport {
        Transport::Smarthost(Smarthost {
            host: host.into(),
            port: 465,
            tls: SmarthostTls::Implicit,
            auth: None,
        })
    }

    fn route(transport: &str, from: &[&str], to: &[&str], minimum_attempts: u32) -> Route {
        Route {
            from_domains: from.iter().map(|d| d.to_string()).collect(),
            to_domains: to.iter().map(|d| d.to_string()).collect(),
            minimum_attempts,
            transport: transport.into(),
        }
    }

    #[test]
    fn account_then_domain_then_global_first_match_wins() {
        let transports = HashMap::from([("a".to_string(), relay("a")), ("b".to_string(), relay("b"))]);
        let routing = Routing::new(transports);
        let routes = Routes::new(
            HashMap::from([("alice".to_string(), vec![route("a", &[], &["Remote.Example"], 0)])]),
            HashMap::from([("Example.org".to_string(), vec![route("b", &[], &[], 0)])]),
            &[route("a", &[], &[], 2), route(DIRECT, &[], &[], 0)],
        );
        assert_eq!(routing.check(&routes), Ok(()));
        let query = |account, from_domain, to_domain, attempts_made| RouteQuery {
            account,
            from_domain,
            to_domain,
            attempts_made,
        };
        assert_eq!(routing.choose(&routes, &query("alice", "example.org", "remote.example", 0)).0, "a");
        assert_eq!(routing.choose(&routes, &query("alice", "example.org", "other.example", 0)).0, "b");
        assert_eq!(routing.choose(&routes, &query("bob", "example.net", "other.example", 0)).0, DIRECT);
        assert_eq!(routing.choose(&routes, &query("bob", "example.net", "other.example", 2)).0, "a");
        assert_eq!(
            Routing::default().choose(&Routes::default(), &query("", "", "x.example", 9)).1,
            DIRECT_TRANSPORT
        );
    }

    #[test]
    fn unknown_transports_are_refused() {
        let routes = Routes::new(HashMap::new(), HashMap::new(), &[route("nope", &[], &[], 0)]);
        let error = Routing::default().check(&routes).err().unwrap_or_default();
        assert!(error.contains("\"nope\""), "{error}");
    }
}
