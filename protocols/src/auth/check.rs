//! All checks for one message, run together: iprev, SPF, DKIM and ARC concurrently (their
//! lookups overlap), then DMARC over their results; and the header fields that record
//! them. This is what the SMTP delivery path calls once per message.

use std::net::IpAddr;

use futures_lite::future::zip;

use crate::dns::Resolver;

use super::arc::{self, ArcOutcome};
use super::dkim::{self, DkimResult};
use super::dmarc::{self, DmarcOutcome, DmarcResult, Policy};
use super::intake::Collected;
use super::iprev::{self, IprevOutcome};
use super::results::{AuthResults, authentication_results};
use super::spf::{self, SpfVerdict, received_spf};

/// The transaction the message came in.
#[derive(Debug, Clone)]
pub struct Transaction<'a> {
    /// The client's address.
    pub ip: IpAddr,
    /// The HELO/EHLO name.
    pub helo: &'a str,
    /// MAIL FROM as (local part, domain); `None` for the null reverse-path.
    pub mail_from: Option<(&'a str, &'a str)>,
    /// Our host name: SPF's `%{r}` and the authserv-id.
    pub receiver: &'a str,
    /// Now, in seconds since the epoch (DKIM `x=`, SPF `%{t}`).
    pub now_secs: u64,
    /// A random number in 0..100 for DMARC's `pct`.
    pub pct_draw: u8,
}

/// Every result for one message.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// iprev.
    pub iprev: IprevOutcome,
    /// SPF for MAIL FROM (or HELO for a null sender).
    pub spf: SpfVerdict,
    /// One result per DKIM signature.
    pub dkim: Vec<DkimResult>,
    /// ARC.
    pub arc: ArcOutcome,
    /// DMARC.
    pub dmarc: DmarcOutcome,
}

impl Verdict {
    /// The DMARC policy to apply: `Reject`, `Quarantine` or `None` (deliver normally).
    pub fn dmarc_disposition(&self) -> Policy {
        if self.dmarc.result == DmarcResult::Fail { self.dmarc.disposition } else { Policy::None }
    }

    /// The header fields to store before the message: Authentication-Results, then
    /// Received-SPF (RFC 7208 §9.1), each ending in CRLF.
    pub fn header_fields(&self, transaction: &Transaction<'_>) -> String {
        let results = AuthResults {
            authserv_id: transaction.receiver,
            client_ip: transaction.ip,
            iprev: Some(&self.iprev),
            spf: Some(&self.spf),
            dkim: &self.dkim,
            dmarc: Some(&self.dmarc),
            arc: Some(&self.arc),
        };
        let mut fields = authentication_results(&results);
        fields.push_str(&received_spf(&self.spf, transaction.ip, transaction.helo, transaction.receiver));
        fields
    }
}

/// Runs every check.
pub async fn check<R: Resolver>(
    resolver: &R,
    transaction: &Transaction<'_>,
    collected: &Collected,
) -> Verdict {
    let t = transaction;
    let iprev_check = iprev::check(resolver, t.ip);
    let spf_check = spf::verify(resolver, t.ip, t.helo, t.mail_from, t.receiver, t.now_secs);
    let dkim_check = dkim::verify(resolver, collected, t.now_secs);
    let arc_check = arc::verify(resolver, collected, t.now_secs);
    let ((iprev, spf), (dkim, arc)) = zip(zip(iprev_check, spf_check), zip(dkim_check, arc_check)).await;
    let dmarc = dmarc::evaluate(resolver, &collected.headers, &spf, &dkim, t.pct_draw).await;
    Verdict { iprev, spf, dkim, arc, dmarc }
}
