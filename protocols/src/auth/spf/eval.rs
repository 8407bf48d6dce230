//! `check_host()` (RFC 7208 §4): evaluates the SPF record of a domain for a client address.
//!
//! Includes and redirects are frames on an explicit stack, never recursion (their depth is
//! bounded by the 10-lookup limit). DNS answers come from a [`Resolver`]; the evaluation
//! itself has no IO and no clock (the caller passes the time for `%{t}`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::dns::{Answer, DomainName, Question, RecordData, RecordType, ResolveError, Resolver};

use super::macros::{MacroContext, MacroString};
use super::record::{Mechanism, Qualifier, Record, is_spf_record};
use super::{SpfOutcome, SpfResult};

/// Terms that cause DNS lookups (`include`, `a`, `mx`, `ptr`, `exists`, `redirect`) per
/// evaluation, over all records it visits: RFC 7208 §4.6.4 sets 10; the 11th is a
/// permerror.
pub const DNS_LOOKUPS_MAX: u32 = 10;

/// Lookups that return no records (NODATA or NXDOMAIN) per evaluation: RFC 7208 §4.6.4
/// says implementations should stop after two; the third is a permerror.
pub const VOID_LOOKUPS_MAX: u32 = 2;

/// MX names one `mx` mechanism looks at: more than 10 is a permerror (RFC 7208 §4.6.4).
pub const MX_NAMES_MAX: usize = 10;

/// PTR names one `ptr` mechanism or `%{p}` looks at: only the first 10 are used
/// (RFC 7208 §4.6.4).
pub const PTR_NAMES_MAX: usize = 10;

/// What one evaluation is about (RFC 7208 §4.1).
#[derive(Debug, Clone)]
pub struct SpfCheck<'a> {
    /// The SMTP client's address.
    pub ip: IpAddr,
    /// The sender's local part (`postmaster` for a HELO check or an empty local part).
    pub local: &'a str,
    /// The domain whose policy is checked: the MAIL FROM domain, or the HELO name.
    pub domain: &'a str,
    /// The HELO/EHLO name (`%{h}`).
    pub helo: &'a str,
    /// Our host name (`%{r}` in explanations).
    pub receiver: &'a str,
    /// Now, in seconds since the epoch (`%{t}` in explanations).
    pub now_secs: u64,
}

struct Frame {
    domain: DomainName,
    record: Record,
    next: usize,
    /// The qualifier of the `include` that pushed this frame.
    include: Qualifier,
}

struct Evaluation<'a, R> {
    resolver: &'a R,
    check: &'a SpfCheck<'a>,
    sender: String,
    lookups: u32,
    voids: u32,
    validated_name: Option<Option<String>>,
}

/// An error that ends the whole evaluation.
struct Abort(SpfResult, String);

impl Abort {
    fn perm(problem: impl Into<String>) -> Abort {
        Abort(SpfResult::PermError, problem.into())
    }
    fn temp(error: ResolveError) -> Abort {
        Abort(SpfResult::TempError, error.to_string())
    }
}

/// Runs `check_host()` for the check's domain.
pub async fn check_host<R: Resolver>(resolver: &R, check: &SpfCheck<'_>) -> SpfOutcome {
    let local = if check.local.is_empty() { "postmaster" } else { check.local };
    let sender = format!("{local}@{}", check.domain);
    // RFC 7208 §4.3: a malformed or single-label domain gives "none" at once.
    let Some(domain) = DomainName::parse(check.domain).ok().filter(|d| d.label_count() > 1) else {
        return SpfOutcome::new(SpfResult::None);
    };
    let mut evaluation = Evaluation { resolver, check, sender, lookups: 0, voids: 0, validated_name: None };
    match evaluation.run(domain).await {
        Ok(outcome) => outcome,
        Err(Abort(result, problem)) => SpfOutcome { problem: Some(problem), ..SpfOutcome::new(result) },
    }
}

impl<R: Resolver> Evaluation<'_, R> {
    async fn run(&mut self, domain: DomainName) -> Result<SpfOutcome, Abort> {
        let Some(record) = self.fetch_record(&domain).await? else {
            return Ok(SpfOutcome::new(SpfResult::None));
        };
        let mut stack = vec![Frame { domain, record, next: 0, include: Qualifier::Pass }];
        loop {
            let Some(frame) = stack.last_mut() else { return Err(Abort::perm("empty evaluation stack")) };
            let mut ended = match frame.record.directives.get(frame.next).cloned() {
                Some(directive) => {
                    frame.next += 1;
                    let domain = frame.domain.clone();
                    match self.directive(&directive.mechanism, &domain).await? {
                        Step::Push(child) => {
                            stack.push(Frame { include: directive.qualifier, ..child });
                            continue;
                        }
                        Step::Matched => Some(directive.qualifier),
                        Step::NoMatch => None,
                    }
                }
                None => match frame.record.redirect.clone() {
                    Some(target) => {
                        let (domain, record) = self.redirect(&target, &frame.domain).await?;
                        (frame.domain, frame.record, frame.next) = (domain, record, 0);
                        continue;
                    }
                    // RFC 7208 §4.7: nothing matched, no redirect: neutral.
                    None => Some(Qualifier::Neutral),
                },
            };
            // A frame that ended hands its result to the include that pushed it: only
            // "pass" is a match there (RFC 7208 §5.2).
            while let Some(qualifier) = ended {
                let Some(finished) = stack.pop() else { break };
                if stack.is_empty() {
                    return Ok(self.finish(qualifier, &finished).await);
                }
                ended = (qualifier == Qualifier::Pass).then_some(finished.include);
            }
        }
    }

    async fn finish(&mut self, qualifier: Qualifier, frame: &Frame) -> SpfOutcome {
        let result = match qualifier {
            Qualifier::Pass => SpfResult::Pass,
            Qualifier::Fail => SpfResult::Fail,
            Qualifier::SoftFail => SpfResult::SoftFail,
            Qualifier::Neutral => SpfResult::Neutral,
        };
        let mut outcome = SpfOutcome::new(result);
        outcome.lookups = self.lookups;
        if result == SpfResult::Fail
            && let Some(target) = &frame.record.explanation
        {
            outcome.explanation = self.explanation(target, &frame.domain).await;
        }
        outcome
    }

    fn count_lookup(&mut self) -> Result<(), Abort> {
        self.lookups += 1;
        if self.lookups > DNS_LOOKUPS_MAX {
            return Err(Abort::perm("more than 10 DNS lookups"));
        }
        Ok(())
    }

    fn count_void(&mut self, answer: &Answer) -> Result<(), Abort> {
        if answer.is_empty() {
            self.voids += 1;
            if self.voids > VOID_LOOKUPS_MAX {
                return Err(Abort::perm("more than 2 void lookups"));
            }
        }
        Ok(())
    }

    async fn lookup(
        &self,
        name: &DomainName,
        record_type: RecordType,
    ) -> Result<std::sync::Arc<Answer>, Abort> {
        self.resolver.lookup(&Question::new(name.clone(), record_type)).await.map_err(Abort::temp)
    }

    /// The single SPF record at `domain` (RFC 7208 §4.5); `None` when there is none.
    async fn fetch_record(&self, domain: &DomainName) -> Result<Option<Record>, Abort> {
        let answer = self.lookup(domain, RecordType::Txt).await?;
        let mut found = answer.records.iter().map(RecordData::txt_joined).filter(|text| is_spf_record(text));
        let Some(text) = found.next() else { return Ok(None) };
        if found.next().is_some() {
            return Err(Abort::perm(format!("several SPF records at {domain}")));
        }
        Record::parse(&text).map(Some).map_err(|error| Abort::perm(format!("{domain}: {error}")))
    }

    async fn redirect(
        &mut self,
        target: &MacroString,
        current: &DomainName,
    ) -> Result<(DomainName, Record), Abort> {
        self.count_lookup()?;
        let domain = self.target(Some(target), current).await?;
        // RFC 7208 §6.1: a redirect to a domain without a record is a permerror.
        match self.fetch_record(&domain).await? {
            Some(record) => Ok((domain, record)),
            None => Err(Abort::perm(format!("redirect to {domain} without an SPF record"))),
        }
    }

    async fn directive(&mut self, mechanism: &Mechanism, current: &DomainName) -> Result<Step, Abort> {
        if mechanism.counts_lookup() {
            self.count_lookup()?;
        }
        let ip = client_ip(self.check.ip);
        let matched = match mechanism {
            Mechanism::All => true,
            Mechanism::Ip4 { network, prefix } => in_network4(ip, *network, *prefix),
            Mechanism::Ip6 { network, prefix } => in_network6(ip, *network, *prefix),
            Mechanism::Include(spec) => {
                let domain = self.target(Some(spec), current).await?;
                return match self.fetch_record(&domain).await? {
                    Some(record) => {
                        Ok(Step::Push(Frame { domain, record, next: 0, include: Qualifier::Pass }))
                    }
                    // RFC 7208 §5.2: an included domain without a record is a permerror.
                    None => Err(Abort::perm(format!("include of {domain} without an SPF record"))),
                };
            }
            Mechanism::A { domain, prefix4, prefix6 } => {
                let target = self.target(domain.as_ref(), current).await?;
                self.matches_address(&target, *prefix4, *prefix6, true).await?
            }
            Mechanism::Mx { domain, prefix4, prefix6 } => {
                let target = self.target(domain.as_ref(), current).await?;
                self.matches_mx(&target, *prefix4, *prefix6).await?
            }
            Mechanism::Ptr(domain) => {
                let target = self.target(domain.as_ref(), current).await?;
                self.validated_names().await.iter().any(|name| name.is_within(&target))
            }
            Mechanism::Exists(spec) => {
                let target = self.target(Some(spec), current).await?;
                let answer = self.lookup(&target, RecordType::A).await?;
                self.count_void(&answer)?;
                !answer.is_empty()
            }
        };
        Ok(if matched { Step::Matched } else { Step::NoMatch })
    }

    /// Expands a domain-spec (or takes the current domain) into a name to query.
    async fn target(
        &mut self,
        spec: Option<&MacroString>,
        current: &DomainName,
    ) -> Result<DomainName, Abort> {
        let Some(spec) = spec else { return Ok(current.clone()) };
        let validated = if spec.uses(b'p') { self.validated_name(current).await } else { None };
        let context = self.context(current, validated.as_deref());
        let expanded = spec.expand_domain(&context);
        DomainName::parse(&expanded)
            .map_err(|error| Abort::perm(format!("invalid domain {expanded:?}: {error}")))
    }

    fn context<'c>(&'c self, current: &'c DomainName, validated: Option<&'c str>) -> MacroContext<'c> {
        let check = self.check;
        MacroContext {
            sender: &self.sender,
            local: if check.local.is_empty() { "postmaster" } else { check.local },
            sender_domain: check.domain,
            domain: current.as_str(),
            ip: check.ip,
            helo: check.helo,
            receiver: check.receiver,
            now_secs: check.now_secs,
            validated_name: validated,
        }
    }

    async fn matches_address(
        &mut self,
        target: &DomainName,
        prefix4: u8,
        prefix6: u8,
        count_void: bool,
    ) -> Result<bool, Abort> {
        let ip = client_ip(self.check.ip);
        let record_type = if ip.is_ipv4() { RecordType::A } else { RecordType::Aaaa };
        let answer = self.lookup(target, record_type).await?;
        if count_void {
            self.count_void(&answer)?;
        }
        Ok(answer.records.iter().any(|record| match *record {
            RecordData::A(address) => in_network4(ip, address, prefix4),
            RecordData::Aaaa(address) => in_network6(ip, address, prefix6),
            _ => false,
        }))
    }

    async fn matches_mx(&mut self, target: &DomainName, prefix4: u8, prefix6: u8) -> Result<bool, Abort> {
        let answer = self.lookup(target, RecordType::Mx).await?;
        self.count_void(&answer)?;
        if answer.records.len() > MX_NAMES_MAX {
            return Err(Abort::perm(format!("more than 10 MX names at {target}")));
        }
        for record in &answer.records {
            if let RecordData::Mx { exchange: Some(exchange), .. } = record
                && self.matches_address(exchange, prefix4, prefix6, false).await?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Names whose forward lookup leads back to the client (RFC 7208 §5.5), computed
    /// once per evaluation. DNS errors only drop names.
    async fn validated_names(&mut self) -> Vec<DomainName> {
        let ip = client_ip(self.check.ip);
        let Ok(answer) = self.lookup(&DomainName::reverse(ip), RecordType::Ptr).await else {
            return Vec::new();
        };
        let record_type = if ip.is_ipv4() { RecordType::A } else { RecordType::Aaaa };
        let mut validated = Vec::new();
        for record in answer.records.iter().take(PTR_NAMES_MAX) {
            let RecordData::Ptr(name) = record else { continue };
            let Ok(addresses) = self.lookup(name, record_type).await else { continue };
            let back = addresses.records.iter().any(|a| match *a {
                RecordData::A(v4) => IpAddr::V4(v4) == ip,
                RecordData::Aaaa(v6) => IpAddr::V6(v6) == ip,
                _ => false,
            });
            if back {
                validated.push(name.clone());
            }
        }
        validated
    }

    /// `%{p}` (RFC 7208 §7.3): the current domain if validated, else a validated name
    /// below it, else any validated name.
    async fn validated_name(&mut self, current: &DomainName) -> Option<String> {
        if let Some(cached) = &self.validated_name {
            return cached.clone();
        }
        let names = self.validated_names().await;
        let chosen = names
            .iter()
            .find(|n| *n == current)
            .or_else(|| names.iter().find(|n| n.is_within(current)))
            .or(names.first())
            .map(|n| n.as_str().to_string());
        self.validated_name = Some(chosen.clone());
        chosen
    }

    /// RFC 7208 §6.2: the explanation for a fail; any problem means no explanation.
    async fn explanation(&mut self, target: &MacroString, current: &DomainName) -> Option<String> {
        let validated = if target.uses(b'p') { self.validated_name(current).await } else { None };
        let name = target.expand_domain(&self.context(current, validated.as_deref()));
        let name = DomainName::parse(&name).ok()?;
        let answer = self.resolver.lookup(&Question::new(name, RecordType::Txt)).await.ok()?;
        let [record] = answer.records.as_slice() else { return None };
        let text = String::from_utf8(record.txt_joined()).ok()?;
        if !text.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return None;
        }
        let macro_string = MacroString::parse(&text, true).ok()?;
        let validated = if macro_string.uses(b'p') { self.validated_name(current).await } else { validated };
        Some(macro_string.expand(&self.context(current, validated.as_deref())))
    }
}

enum Step {
    Push(Frame),
    Matched,
    NoMatch,
}

/// An IPv4-mapped IPv6 address is its IPv4 address (RFC 7208 §5: the client is IPv4).
fn client_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn in_network4(ip: IpAddr, network: Ipv4Addr, prefix: u8) -> bool {
    let IpAddr::V4(ip) = ip else { return false };
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
    u32::from(ip) & mask == u32::from(network) & mask
}

fn in_network6(ip: IpAddr, network: Ipv6Addr, prefix: u8) -> bool {
    let IpAddr::V6(ip) = ip else { return false };
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0);
    u128::from(ip) & mask == u128::from(network) & mask
}
