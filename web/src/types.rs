//! The JSON request and response types of the API. The OpenAPI document is generated
//! from these same types (utoipa), so the document cannot drift from what is served.
//! Requests refuse unknown fields: a misspelt field is a 400, not silently ignored.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A login: the admin (`username` = `admin`) or an account (any of its addresses or
/// its name).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// `admin`, or an account's address or name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// A session token for `Authorization: Bearer`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The bearer token.
    pub token: String,
    /// `admin` or `account`.
    pub role: String,
    /// The account, for an account login.
    pub account: Option<String>,
    /// Seconds until the session ends.
    pub expires_in_secs: u64,
}

/// A local domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Domain {
    /// Domain name (lower case, A-label form).
    pub name: String,
    /// Characters ending the account part of a local part (`+`: `user+tag@` is `user@`).
    pub localpart_separators: Vec<String>,
    /// Selectors of its DKIM keys (`<selector>._domainkey.<domain>` in DNS).
    pub dkim_selectors: Vec<String>,
}

/// A domain to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainCreate {
    /// Domain name.
    pub name: String,
    /// Local-part separators, one character each.
    #[serde(default)]
    pub localpart_separators: Vec<String>,
}

/// A DNS record to publish for a domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct DnsRecord {
    /// Owner name, fully qualified with a trailing dot.
    pub name: String,
    /// Record type (`MX`, `TXT`, `SRV`, `CNAME`).
    #[serde(rename = "type")]
    pub record_type: String,
    /// Record data in zone-file form.
    pub value: String,
    /// Why it is needed.
    pub purpose: String,
}

/// The added domain and the records to publish for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainCreated {
    /// The domain.
    pub domain: Domain,
    /// Records to publish in the domain's DNS zone.
    pub dns_records: Vec<DnsRecord>,
}

/// An account and its addresses.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountSummary {
    /// Account name.
    pub name: String,
    /// Its addresses (`@domain` is a catch-all).
    pub addresses: Vec<String>,
    /// Bytes its messages may take; null: no limit.
    pub quota_bytes: Option<u64>,
    /// Messages it may hold in all (RFC 9208 MESSAGE); null: no limit.
    pub quota_messages: Option<u64>,
    /// IMAP capabilities left out of its CAPABILITY lists after login.
    pub imap_hidden_capabilities: Vec<String>,
    /// Messages (each recipient counted) it may queue for other domains in 24 hours.
    pub outgoing_messages_per_day_max: u32,
    /// Recipients it never sent to before it may queue for in 24 hours.
    pub first_time_recipients_per_day_max: u32,
}

/// An account to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountCreate {
    /// Account name: 1-64 of `A-Z a-z 0-9 . _ -`, not starting with `.`.
    pub name: String,
    /// Its addresses, in configured domains.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Its password (optional; set later with `PUT .../password`).
    #[serde(default)]
    pub password: Option<String>,
    /// Bytes its messages may take (optional; absent or null: no limit).
    #[serde(default)]
    pub quota_bytes: Option<u64>,
    /// Messages it may hold (optional; absent or null: no limit).
    #[serde(default)]
    pub quota_messages: Option<u64>,
    /// IMAP capabilities to leave out of its CAPABILITY lists after login.
    #[serde(default)]
    pub imap_hidden_capabilities: Vec<String>,
    /// Messages it may queue for other domains in 24 hours (default 1000).
    #[serde(default)]
    pub outgoing_messages_per_day_max: Option<u32>,
    /// First-time recipients it may queue for in 24 hours (default 200).
    #[serde(default)]
    pub first_time_recipients_per_day_max: Option<u32>,
}

/// An account's quota.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaSet {
    /// Bytes its messages may take; null: no limit. Deliveries and APPENDs that would
    /// exceed it are refused (SMTP `452 4.2.2`, IMAP `NO [OVERQUOTA]`).
    pub quota_bytes: Option<u64>,
}

/// A change of an account's settings: each field given replaces the setting, fields
/// left out stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    /// Bytes its messages may take; null removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    pub quota_bytes: Option<Option<u64>>,
    /// Messages it may hold (RFC 9208 MESSAGE); null removes the limit. Deliveries and
    /// APPENDs past it are refused as over quota.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    pub quota_messages: Option<Option<u64>>,
    /// IMAP capabilities to leave out of its CAPABILITY lists after login (replaces the
    /// list; empty hides none): at most 64 names of printable ASCII.
    #[serde(default)]
    pub imap_hidden_capabilities: Option<Vec<String>>,
    /// Messages (each recipient counted) it may queue for other domains in 24 hours
    /// (default 1000); submissions past it get `451 4.7.1`.
    #[serde(default)]
    pub outgoing_messages_per_day_max: Option<u32>,
    /// Recipients it never sent to before it may queue for in 24 hours (default 200).
    #[serde(default)]
    pub first_time_recipients_per_day_max: Option<u32>,
}

/// A field that is present, even as null (`Some(None)`); absent fields are `None`
/// through `#[serde(default)]`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// An alias: mail to its address goes to each member's account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Alias {
    /// The alias's address.
    pub address: String,
    /// Member addresses (addresses of local accounts).
    pub members: Vec<String>,
    /// Anyone may send to it; otherwise only its members and `allowed_senders`
    /// (others are refused at RCPT with `550 5.7.1`).
    pub post_public: bool,
    /// Senders outside the members who may post: addresses, or `@domain`.
    pub allowed_senders: Vec<String>,
}

/// One route of the outbound queue: when its conditions hold, the transport it names
/// carries the attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteView {
    /// The transport's name (`direct`, or one of `transports`).
    pub transport: String,
    /// `MAIL FROM` domains it applies to; empty: any.
    pub from_domain: Vec<String>,
    /// Recipient domains it applies to; empty: any.
    pub to_domain: Vec<String>,
    /// Attempts already made before it applies; 0: from the first.
    pub minimum_attempts: u32,
}

/// The routes of one account or one sender domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteLevel {
    /// The account's or the domain's name.
    pub name: String,
    /// Its routes, in order.
    pub routes: Vec<RouteView>,
}

/// A named transport (static configuration). Credentials are never shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransportView {
    /// Its name, as routes use it.
    pub name: String,
    /// `direct`, or how a smarthost is reached: `submissions` (TLS on connect),
    /// `starttls` (STARTTLS required and verified), `smtp` (STARTTLS opportunistic).
    pub kind: String,
    /// The smarthost's host name or address; absent for `direct`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The smarthost's port; absent for `direct`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Whether it authenticates at the smarthost (SMTP AUTH).
    pub auth: bool,
    /// `direct`: whether IPv4 addresses are used.
    pub ipv4: bool,
    /// `direct`: whether IPv6 addresses are used.
    pub ipv6: bool,
}

/// The outbound queue's transports and routes as they apply now: the routes come from
/// the domains file (reloaded live), the transports from the static file.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueRouting {
    /// Named transports (besides the built-in `direct`).
    pub transports: Vec<TransportView>,
    /// Routes per submitting account, checked first.
    pub account_routes: Vec<RouteLevel>,
    /// Routes per sender (`MAIL FROM`) domain, checked next.
    pub domain_routes: Vec<RouteLevel>,
    /// Global routes, checked last; no match: `direct`.
    pub routes: Vec<RouteView>,
}

/// An alias's members, to create it or replace them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasSet {
    /// Addresses of local accounts, 1 to 100.
    pub members: Vec<String>,
    /// Anyone may send to it (default false: only members and `allowed_senders`).
    #[serde(default)]
    pub post_public: bool,
    /// Senders outside the members who may post (addresses, or `@domain`; at most 100).
    #[serde(default)]
    pub allowed_senders: Vec<String>,
}

/// What an account stores.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    /// Mailboxes.
    pub mailboxes: u32,
    /// Messages in all mailboxes.
    pub messages: u64,
    /// Their size, bytes.
    pub size_bytes: u64,
}

/// An account in detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountDetails {
    /// Account name.
    pub name: String,
    /// Its addresses.
    pub addresses: Vec<String>,
    /// Whether a password is set.
    pub password_set: bool,
    /// What it stores.
    pub usage: Usage,
    /// Bytes its messages may take; null: no limit.
    pub quota_bytes: Option<u64>,
    /// Messages it may hold in all (RFC 9208 MESSAGE); null: no limit.
    pub quota_messages: Option<u64>,
    /// IMAP capabilities left out of its CAPABILITY lists after login.
    pub imap_hidden_capabilities: Vec<String>,
    /// Messages (each recipient counted) it may queue for other domains in 24 hours.
    pub outgoing_messages_per_day_max: u32,
    /// Recipients it never sent to before it may queue for in 24 hours.
    pub first_time_recipients_per_day_max: u32,
    /// Registered TLS client public keys.
    pub tls_public_keys: u32,
}

/// A new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordSet {
    /// The password (stored only as argon2id, SCRAM and CRAM-MD5 derivations).
    pub password: String,
}

/// An address to add to an account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressAdd {
    /// `user@domain`, or `@domain` for the domain's catch-all.
    pub address: String,
}

/// A registered TLS client public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct TlsKey {
    /// Hex SHA-256 of the SubjectPublicKeyInfo.
    pub fingerprint: String,
    /// Account it logs in.
    pub account: String,
    /// Address the login is as.
    pub login_address: String,
    /// Device name.
    pub name: String,
    /// Whether IMAP logs the device in at connect (PREAUTH).
    pub imap_preauth: bool,
    /// Registration time, Unix milliseconds.
    pub created_ms: i64,
}

/// A TLS client certificate to register (only its public key is kept).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsKeyAdd {
    /// The certificate, PEM.
    pub certificate: String,
    /// Device name.
    #[serde(default)]
    pub name: String,
    /// Address the login is as (default: the account's first address).
    #[serde(default)]
    pub login_address: Option<String>,
    /// Don't log in with IMAP PREAUTH at connect.
    #[serde(default)]
    pub no_imap_preauth: bool,
}

/// What a reload of the domains file did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadResult {
    /// Whether the file differed from what was running.
    pub changed: bool,
    /// Domains now configured.
    pub domains: u32,
    /// Accounts now configured.
    pub accounts: u32,
}

/// An API token (without its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct Token {
    /// Id, to revoke it.
    pub id: String,
    /// Name.
    pub name: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

/// A token to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// A name to recognize it by.
    pub name: String,
}

/// A new token and its secret (shown only now).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCreated {
    /// The token.
    pub token: Token,
    /// The bearer secret.
    pub secret: String,
}

/// An import accepted: its archive is stored and its messages are being stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportStarted {
    /// Ask `GET .../import/{id}` for its progress.
    pub id: String,
    /// Bytes of the archive received.
    pub bytes: u64,
}

/// The progress of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportStatus {
    /// The import's id.
    pub id: String,
    /// The account imported into.
    pub account: String,
    /// `running`, `done` (every message read; see `errors`) or `failed` (stopped early).
    pub state: String,
    /// Why it stopped, when `failed`.
    pub reason: Option<String>,
    /// Messages stored so far.
    pub messages: u64,
    /// Messages skipped because the mailbox already held them (same Message-ID, size
    /// and date): what an interrupted import stored before, when the same archive is
    /// imported again.
    pub skipped: u64,
    /// Mailboxes created.
    pub mailboxes_created: u32,
    /// Messages or archive entries that could not be stored.
    pub errors: u64,
    /// The first failures, for people.
    pub error_messages: Vec<String>,
}

/// A page of the outbound queue.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueListing {
    /// Messages on this page, by id.
    pub messages: Vec<QueueMessage>,
    /// Pass as `after` for the next page; absent when the queue was read to its end.
    pub next_after: Option<u64>,
}

/// A queued message and its destinations.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueMessage {
    /// Its id.
    pub id: u64,
    /// When it was queued, Unix ms.
    pub queued_ms: i64,
    /// MAIL FROM; empty for the null reverse path (a DSN).
    pub mail_from: String,
    /// The account that submitted it; empty for DSNs.
    pub sender_account: String,
    /// Octets of the message.
    pub size_bytes: u64,
    /// The message needs REQUIRETLS (RFC 8689).
    pub requiretls: bool,
    /// The message needs SMTPUTF8.
    pub smtputf8: bool,
    /// Its destinations still queued, one per recipient domain.
    pub destinations: Vec<QueueDestination>,
}

/// One recipient domain of a queued message.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueDestination {
    /// The recipient domain.
    pub domain: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due, Unix ms.
    pub next_attempt_ms: i64,
    /// When the last attempt ran, Unix ms.
    pub last_attempt_ms: Option<i64>,
    /// Held: no attempt until released.
    pub held: bool,
    /// Its recipients still to deliver.
    pub recipients: Vec<QueueRecipient>,
}

/// A recipient still queued.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueRecipient {
    /// The address.
    pub address: String,
    /// The last reply for it, if an attempt ran.
    pub last_result: Option<QueueReply>,
}

/// An SMTP reply as the queue kept it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueReply {
    /// Reply code.
    pub code: u16,
    /// Enhanced status code (`4.4.1`), if given.
    pub enhanced: Option<String>,
    /// The reply's text.
    pub text: String,
    /// The host that gave it; empty when none was reached.
    pub remote_host: String,
}

/// Which destinations an operation applies to; every field given must match, and no
/// field selects the whole queue.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueSelection {
    /// Only this queued message.
    #[serde(default)]
    pub id: Option<u64>,
    /// Only destinations of this recipient domain.
    #[serde(default)]
    pub domain: Option<String>,
}

/// How many destinations an operation changed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QueueChanged {
    /// Destinations changed (held, released, made due, dropped or bounced).
    pub destinations: u32,
}

/// An address on an account's suppression list: the account's submissions to it are
/// refused (`550 5.1.1`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SuppressionEntry {
    /// The account.
    pub account: String,
    /// The suppressed recipient address (lower case).
    pub address: String,
    /// When it was added, Unix ms.
    pub added_ms: i64,
    /// Why: the hard bounce's reply, or the note given when it was added.
    pub reason: String,
}

/// A page of suppression list entries, by account and address.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SuppressionListing {
    /// Entries on this page.
    pub suppressions: Vec<SuppressionEntry>,
    /// Pass as `after` for the next page; absent when the list was read to its end.
    pub next_after: Option<String>,
}

/// An address to suppress for an account (admin: any account).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionAdd {
    /// The account (admin endpoint only; an account adds to its own list).
    #[serde(default)]
    pub account: Option<String>,
    /// The recipient address, `localpart@domain`.
    pub address: String,
    /// Why (kept with the entry, at most 512 bytes).
    #[serde(default)]
    pub reason: Option<String>,
}

/// A hold rule: messages queued from its creation on that match every field given are
/// held until released.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HoldRuleEntry {
    /// Its id.
    pub id: u64,
    /// Only messages submitted by this account.
    pub account: Option<String>,
    /// Only messages whose MAIL FROM is in this domain.
    pub sender_domain: Option<String>,
    /// Only destinations in this domain.
    pub recipient_domain: Option<String>,
}

/// A page of hold rules, by id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HoldRuleListing {
    /// Rules on this page.
    pub rules: Vec<HoldRuleEntry>,
    /// Pass as `after` for the next page; absent at the end.
    pub next_after: Option<u64>,
}

/// A hold rule to add; a rule with no field holds every message queued.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRuleAdd {
    /// Only messages submitted by this account.
    #[serde(default)]
    pub account: Option<String>,
    /// Only messages whose MAIL FROM is in this domain.
    #[serde(default)]
    pub sender_domain: Option<String>,
    /// Only destinations in this domain.
    #[serde(default)]
    pub recipient_domain: Option<String>,
}

/// A stored report, as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportEntry {
    /// Its name (pass it to read the report): reporter, domain or period and report id.
    pub name: String,
    /// Octets of the stored document.
    pub size_bytes: u64,
}

/// A page of stored reports.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportListing {
    /// Reports on this page, by name.
    pub reports: Vec<ReportEntry>,
    /// Pass as `after` for the next page; absent at the end.
    pub next_after: Option<String>,
}

/// One row of a DMARC aggregate report: messages from one source with one outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct DmarcRow {
    /// Sending IP address.
    pub source_ip: String,
    /// Messages.
    pub count: u64,
    /// What the receiver did (`none`, `quarantine`, `reject`).
    pub disposition: String,
    /// DKIM's DMARC result (`pass`, `fail`).
    pub dkim: String,
    /// SPF's DMARC result (`pass`, `fail`).
    pub spf: String,
    /// The From header's domain.
    pub header_from: String,
}

/// A DMARC aggregate report (RFC 7489 appendix C), parsed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DmarcReport {
    /// The stored report's name.
    pub name: String,
    /// The reporting organization.
    pub org_name: String,
    /// Its contact address.
    pub email: String,
    /// Its report id.
    pub report_id: String,
    /// Period start, Unix seconds.
    pub begin: u64,
    /// Period end, Unix seconds.
    pub end: u64,
    /// The domain the report is about.
    pub domain: String,
    /// The published policy (`p=`).
    pub policy: String,
    /// The rows kept.
    pub rows: Vec<DmarcRow>,
    /// Rows past the parser's limit, not kept.
    pub rows_dropped: u64,
}

/// One policy's results in an SMTP TLS report.
#[derive(Debug, Serialize, ToSchema)]
pub struct TlsPolicyResult {
    /// `sts`, `tlsa` or `no-policy-found`.
    pub policy_type: String,
    /// The policy's domain.
    pub domain: String,
    /// Sessions that succeeded.
    pub successful: u64,
    /// Sessions that failed.
    pub failed: u64,
    /// The failure types reported.
    pub failure_types: Vec<String>,
}

/// An SMTP TLS report (RFC 8460), parsed.
#[derive(Debug, Serialize, ToSchema)]
pub struct TlsReportDetails {
    /// The stored report's name.
    pub name: String,
    /// The reporting organization.
    pub organization: String,
    /// Its report id.
    pub report_id: String,
    /// Period start (a date-time, as the report gives it).
    pub start: String,
    /// Period end (a date-time, as the report gives it).
    pub end: String,
    /// Results per policy.
    pub policies: Vec<TlsPolicyResult>,
}
