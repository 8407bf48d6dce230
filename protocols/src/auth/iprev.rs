//! iprev (RFC 8601 §3): does the client's reverse name lead back to its address? PTR
//! lookup, then a forward lookup of each name (at most 10) until one has the address.

use std::net::IpAddr;

use crate::dns::{DomainName, Question, RecordData, RecordType, ResolveError, Resolver};

/// PTR names tried: a host with more reverse names than this is misconfigured, and each
/// costs a forward lookup (RFC 7208 §4.6.4 uses the same bound for SPF's `ptr`).
pub const PTR_NAMES_MAX: usize = 10;

/// An iprev result (RFC 8601 §2.7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IprevResult {
    /// A reverse name maps back to the address.
    Pass,
    /// No reverse name, or none maps back.
    Fail,
    /// A DNS error; may work later.
    TempError,
    /// Will not work (e.g. no usable names).
    PermError,
}

impl IprevResult {
    /// The result keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            IprevResult::Pass => "pass",
            IprevResult::Fail => "fail",
            IprevResult::TempError => "temperror",
            IprevResult::PermError => "permerror",
        }
    }
}

/// The iprev outcome and the name that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IprevOutcome {
    /// The result.
    pub result: IprevResult,
    /// The verified name (pass) or the first reverse name seen.
    pub name: Option<DomainName>,
}

/// Checks `ip`.
pub async fn check<R: Resolver>(resolver: &R, ip: IpAddr) -> IprevOutcome {
    let ip = ip.to_canonical();
    let reverse = match resolver.lookup(&Question::new(DomainName::reverse(ip), RecordType::Ptr)).await {
        Ok(answer) => answer,
        Err(_) => return IprevOutcome { result: IprevResult::TempError, name: None },
    };
    let names: Vec<&DomainName> = reverse
        .records
        .iter()
        .filter_map(|r| if let RecordData::Ptr(name) = r { Some(name) } else { None })
        .take(PTR_NAMES_MAX)
        .collect();
    let Some(first) = names.first() else {
        return IprevOutcome { result: IprevResult::Fail, name: None };
    };
    let record_type = if ip.is_ipv4() { RecordType::A } else { RecordType::Aaaa };
    let mut temporary: Option<ResolveError> = None;
    for name in &names {
        match resolver.lookup(&Question::new((*name).clone(), record_type)).await {
            Ok(answer) => {
                let back = answer.records.iter().any(|r| match *r {
                    RecordData::A(v4) => IpAddr::V4(v4) == ip,
                    RecordData::Aaaa(v6) => IpAddr::V6(v6) == ip,
                    _ => false,
                });
                if back {
                    return IprevOutcome { result: IprevResult::Pass, name: Some((*name).clone()) };
                }
            }
            Err(error) => temporary = Some(error),
        }
    }
    let result = if temporary.is_some() { IprevResult::TempError } else { IprevResult::Fail };
    IprevOutcome { result, name: Some((*first).clone()) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::dns::memory::MemoryResolver;

    #[test]
    fn pass_fail_and_temperror() {
        let ip: IpAddr = "192.0.2.5".parse().unwrap();
        let mail = DomainName::parse("mail.example.com").unwrap();
        let mut zone = MemoryResolver::new();
        zone.add(&DomainName::reverse(ip), RecordData::Ptr(mail.clone()));
        zone.add(&mail, RecordData::A("192.0.2.5".parse().unwrap()));
        let outcome = futures_lite::future::block_on(check(&zone, ip));
        assert_eq!(outcome, IprevOutcome { result: IprevResult::Pass, name: Some(mail.clone()) });
        let other: IpAddr = "192.0.2.6".parse().unwrap();
        zone.add(&DomainName::reverse(other), RecordData::Ptr(mail.clone()));
        assert_eq!(futures_lite::future::block_on(check(&zone, other)).result, IprevResult::Fail);
        let none: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(futures_lite::future::block_on(check(&zone, none)).result, IprevResult::Fail);
        zone.fail(Question::new(DomainName::reverse(none), RecordType::Ptr), ResolveError::Timeout);
        assert_eq!(futures_lite::future::block_on(check(&zone, none)).result, IprevResult::TempError);
    }
}
