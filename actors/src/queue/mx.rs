//! A domain's hosts from DNS (RFC 5321 §5.1): its MX records by preference, each
//! exchange's AAAA then A addresses; without MX records the domain itself (the implicit
//! MX); a null MX (RFC 7505) or a domain that does not exist fails for good; a DNS
//! failure is temporary. Each host says whether its MX record and its addresses came
//! from authentic (DNSSEC-validated) answers, which DANE needs. Fixed routes from the configuration ([`super::StaticRoutes`])
//! win over DNS for the domains they name.
//!
//! Bounded: at most [`MX_HOSTS_MAX`] hosts and [`HOST_ADDRESSES_MAX`] addresses each.
//! Equal preferences are tried in a random order (RFC 5321 §5.1: randomize to spread the
//! load among them).

use std::net::{IpAddr, SocketAddr};

use moxide_protocols::dns::{DomainName, Question, RecordData, RecordType, Resolver};

use super::remote::HostSource;
use super::{Destinations, Host, HostsFuture, LookupError, StaticRoutes};

/// Most MX hosts tried per attempt: mox and Postfix try a handful; ten covers every
/// real setup and bounds an attempt's time.
pub const MX_HOSTS_MAX: usize = 10;

/// Most addresses tried per host (IPv6 and IPv4 together).
pub const HOST_ADDRESSES_MAX: usize = 8;

/// Hosts from fixed routes, else from DNS through `resolver`.
pub struct MxDestinations<R> {
    resolver: Option<R>,
    routes: StaticRoutes,
    port: u16,
}

impl<R: Resolver> MxDestinations<R> {
    /// Routes first; MX lookup with `resolver` (none: only routes) on `port` (25).
    pub fn new(resolver: Option<R>, routes: StaticRoutes, port: u16) -> Self {
        MxDestinations { resolver, routes, port }
    }

    async fn lookup(&self, domain: &str) -> Result<Vec<Host>, LookupError> {
        if let Some(hosts) = self.routes.get(domain) {
            return Ok(hosts.to_vec());
        }
        let Some(resolver) = &self.resolver else {
            return Err(LookupError::Temporary(format!("no route to {domain} and no DNS resolver")));
        };
        let name = DomainName::parse(domain)
            .map_err(|error| LookupError::Permanent(format!("invalid domain {domain}: {error}")))?;
        let answer = resolver
            .lookup(&Question::new(name.clone(), RecordType::Mx))
            .await
            .map_err(|error| LookupError::Temporary(format!("MX lookup for {domain}: {error}")))?;
        if answer.nxdomain {
            return Err(LookupError::Permanent(format!("domain {domain} does not exist")));
        }
        let mx_authentic = answer.authentic;
        let mut exchanges: Vec<(u16, Option<DomainName>)> = answer
            .records
            .iter()
            .filter_map(|record| match record {
                RecordData::Mx { preference, exchange } => Some((*preference, exchange.clone())),
                _ => None,
            })
            .collect();
        if exchanges.is_empty() {
            // RFC 5321 §5.1: no MX records: the domain is its own mail host.
            exchanges.push((0, Some(name)));
        }
        if exchanges.iter().any(|(_, exchange)| exchange.is_none()) {
            return Err(LookupError::Permanent(format!("{domain} accepts no mail (null MX, RFC 7505)")));
        }
        let mut draws = vec![0u8; exchanges.len() * 2];
        moxide_runtime::random::fill(&mut draws);
        let mut keyed: Vec<_> =
            exchanges.into_iter().zip(draws.chunks_exact(2).map(|d| [d[0], d[1]])).collect();
        keyed.sort_by_key(|((preference, _), draw)| (*preference, *draw));
        let exchanges: Vec<_> = keyed.into_iter().map(|(exchange, _)| exchange).collect();
        let mut hosts = Vec::new();
        let mut last_error = None;
        for exchange in exchanges.into_iter().filter_map(|(_, e)| e).take(MX_HOSTS_MAX) {
            match self.addresses(resolver, &exchange).await {
                Ok((addresses, authentic)) if !addresses.is_empty() => {
                    let authentic = mx_authentic && authentic;
                    let source = HostSource::Mx { authentic };
                    hosts.push(Host { name: exchange.as_str().to_owned(), addresses, source });
                }
                Ok(_) => {}
                Err(error) => last_error = Some(error),
            }
        }
        if hosts.is_empty() {
            let why = last_error.unwrap_or_else(|| "no addresses".to_owned());
            return Err(LookupError::Temporary(format!("no usable mail host for {domain}: {why}")));
        }
        Ok(hosts)
    }

    /// AAAA then A addresses of `name`, and whether every answer was authentic
    /// (DANE needs the address lookups secure too, RFC 7672 §2.2.2).
    async fn addresses(&self, resolver: &R, name: &DomainName) -> Result<(Vec<SocketAddr>, bool), String> {
        let mut addresses = Vec::new();
        let mut failure = None;
        let mut authentic = true;
        for record_type in [RecordType::Aaaa, RecordType::A] {
            match resolver.lookup(&Question::new(name.clone(), record_type)).await {
                Ok(answer) => {
                    authentic &= answer.authentic;
                    for record in &answer.records {
                        let ip = match record {
                            RecordData::A(ip) => IpAddr::V4(*ip),
                            RecordData::Aaaa(ip) => IpAddr::V6(*ip),
                            _ => continue,
                        };
                        if addresses.len() < HOST_ADDRESSES_MAX {
                            addresses.push(SocketAddr::new(ip, self.port));
                        }
                    }
                }
                Err(error) => failure = Some(format!("{name}: {error}")),
            }
        }
        match failure {
            Some(error) if addresses.is_empty() => Err(error),
            _ => Ok((addresses, authentic && failure.is_none())),
        }
    }
}

impl<R: Resolver> Destinations for MxDestinations<R> {
    fn hosts<'a>(&'a self, domain: &'a str) -> HostsFuture<'a> {
        Box::pin(self.lookup(domain))
    }

    fn host<'a>(&'a self, name: &'a str, port: u16) -> HostsFuture<'a> {
        Box::pin(async move {
            let (Some(resolver), Err(_)) = (&self.resolver, super::literal_host(name, port)) else {
                return super::literal_host(name, port);
            };
            let domain = DomainName::parse(name)
                .map_err(|error| LookupError::Temporary(format!("invalid host name {name}: {error}")))?;
            match self.addresses(resolver, &domain).await {
                Ok((addresses, _)) if !addresses.is_empty() => {
                    let addresses = addresses.into_iter().map(|a| SocketAddr::new(a.ip(), port)).collect();
                    Ok(vec![Host { name: name.to_owned(), addresses, source: HostSource::Route }])
                }
                Ok(_) => Err(LookupError::Temporary(format!("{name} has no addresses"))),
                Err(error) => Err(LookupError::Temporary(error)),
            }
        })
    }
}
