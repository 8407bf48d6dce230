//! The directory: which domains are local, which addresses belong to which account.
//!
//! Built from configuration and validated as a whole; each core's node keeps its own
//! immutable snapshot (lookups never cross cores or take locks). A change (admin API,
//! CLI, reload of the domains file) is a [`DirectoryChange`] applied to the
//! [`DirectorySpec`], validated by building a new [`Directory`], and swapped into every
//! node (`Node::publish_directory`); an invalid change builds nothing and changes nothing.
//!
//! Lookup rules (RFC 5321 §2.4: the local-part is the receiving server's business):
//! - domains compare case-insensitively, a trailing dot ignored;
//! - local-parts compare case-insensitively (as mox and most providers do);
//! - an exact address wins; then, when the domain has a local-part separator such as `+`,
//!   the part before it (`user+tag@` → `user@`); then the domain's catch-all (`@domain`);
//! - `postmaster` at any local domain, and the bare `<Postmaster>` of RFC 5321 §4.5.1,
//!   reach the postmaster account unless an explicit address says otherwise.
//!
//! An alias is an address of its own whose mail goes to each of its members (addresses
//! of local accounts, each account once). An account may have a quota: the bytes its
//! messages may take (checked by `Node::deliver` and `Node::append`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::queue::transport::{Route, Routes};

/// A local domain as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainSpec {
    /// The domain name.
    pub name: String,
    /// Characters that end the account-identifying part of a local-part (`+` makes
    /// `user+tag` deliver to `user`). Empty: none.
    pub localpart_separators: Vec<char>,
    /// DKIM selectors of the domain's keys (RFC 6376 §3.1), newest last.
    pub dkim_selectors: Vec<String>,
    /// Mail for the domain failing DMARC under the sender's `p=reject` (RFC 7489 §6.3)
    /// is accepted into Junk and marked, instead of refused with `550 5.7.1`.
    pub dmarc_reject_mark: bool,
    /// Local part receiving DMARC aggregate reports about the domain (its `rua=`): the
    /// reports in mail to it are parsed and kept.
    pub dmarc_reports: Option<String>,
    /// Local part receiving SMTP TLS reports (RFC 8460), likewise.
    pub tls_reports: Option<String>,
    /// Routes for mail from the domain (its `MAIL FROM` domain), after the account's.
    pub routes: Vec<Route>,
}

/// An account as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSpec {
    /// Account name (also its directory name in the data dir).
    pub name: String,
    /// Its addresses: `user@domain`, or `@domain` for the domain's catch-all.
    pub addresses: Vec<String>,
    /// Bytes its messages may take in all; `None`: no limit.
    pub quota_bytes: Option<u64>,
    /// How many messages it may hold in all (RFC 9208 MESSAGE); `None`: no limit.
    pub quota_messages: Option<u64>,
    /// IMAP capabilities kept out of its CAPABILITY lists after login (an interop
    /// setting for a client that misuses one), at most [`HIDDEN_CAPABILITIES_MAX`].
    pub hidden_capabilities: Vec<String>,
    /// What it may queue for other domains per day.
    pub send_limits: SendLimits,
    /// Routes for mail it submits, before all others.
    pub routes: Vec<Route>,
}

/// Capabilities an account may hide: the IMAP session keeps no more
/// (`moxide_protocols::imap::server::HIDDEN_CAPABILITIES_MAX`), and a real list names one
/// or two.
pub const HIDDEN_CAPABILITIES_MAX: usize = 64;

/// Longest capability name an account may hide: the longest IMAP capability we offer is
/// under 30 octets; 64 leaves room without letting a setting grow without bound.
pub const HIDDEN_CAPABILITY_BYTES_MAX: usize = 64;

/// A change of an account's settings: each field given replaces the setting, each field
/// absent (`None`) leaves it as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountUpdate {
    /// Bytes its messages may take; `Some(None)` removes the limit.
    pub quota_bytes: Option<Option<u64>>,
    /// Messages it may hold; `Some(None)` removes the limit.
    pub quota_messages: Option<Option<u64>>,
    /// IMAP capabilities to hide (replacing the list; empty hides none).
    pub hidden_capabilities: Option<Vec<String>>,
    /// Messages (each recipient counted) it may queue for other domains per day.
    pub messages_per_day_max: Option<u32>,
    /// First-time recipients it may queue for per day.
    pub first_time_recipients_per_day_max: Option<u32>,
}

/// An account's send limits: what it may queue for other domains in a sliding 24-hour
/// window (mox's `MaxOutgoingMessagesPerDay` and `MaxFirstTimeRecipientsPerDay`, with
/// mox's defaults). They bound the damage a compromised account does to other people
/// and to the server's reputation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    /// Messages queued for other domains, each recipient counted (a message to 3
    /// recipients counts 3, as mox counts).
    pub messages_per_day_max: u32,
    /// Recipients the account never sent to before.
    pub first_time_recipients_per_day_max: u32,
}

/// mox's default: 1000 messages a day, far more than a person sends.
pub const SEND_MESSAGES_PER_DAY_MAX: u32 = 1000;

/// mox's default: 200 first-time recipients a day; a person addresses a new group of
/// that size now and then, a spammer many more.
pub const SEND_FIRST_TIME_RECIPIENTS_PER_DAY_MAX: u32 = 200;

impl Default for SendLimits {
    fn default() -> Self {
        SendLimits {
            messages_per_day_max: SEND_MESSAGES_PER_DAY_MAX,
            first_time_recipients_per_day_max: SEND_FIRST_TIME_RECIPIENTS_PER_DAY_MAX,
        }
    }
}

/// An alias (a small mailing list): mail to `address` goes to every member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSpec {
    /// The alias's own address, `user@domain` in a local domain.
    pub address: String,
    /// Addresses of local accounts (exact addresses, not catch-alls).
    pub members: Vec<String>,
    /// Anyone may post to it; otherwise only its members and `allowed_senders` (mox's
    /// `PostPublic`, off by default: an alias is a list of its members).
    pub post_public: bool,
    /// Senders outside the members who may post: addresses, or `@domain` for a whole
    /// domain (at most [`ALIAS_ALLOWED_SENDERS_MAX`]).
    pub allowed_senders: Vec<String>,
}

/// Senders other than its members an alias may name: each RCPT to a closed alias
/// compares the sender with them, so the list stays short.
pub const ALIAS_ALLOWED_SENDERS_MAX: usize = 100;

/// Who sends a message, for an alias's posting rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct Poster<'a> {
    /// The account the client authenticated as (submission).
    pub account: Option<&'a str>,
    /// The envelope sender (MAIL FROM), `localpart@domain`; `None` for the null path.
    pub mail_from: Option<(&'a str, &'a str)>,
}

/// An alias's posting rule, as built.
#[derive(Debug, Clone)]
struct AliasRule {
    post_public: bool,
    /// Lower case addresses, and `@domain` entries.
    allowed_senders: Vec<String>,
}

/// Members an alias may have: each RCPT to an alias adds up to this many accounts to a
/// transaction, and a message is stored once per account. Larger lists need a list
/// manager, which this is not.
pub const ALIAS_MEMBERS_MAX: usize = 100;

/// Everything the directory is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySpec {
    /// Local domains.
    pub domains: Vec<DomainSpec>,
    /// Accounts.
    pub accounts: Vec<AccountSpec>,
    /// Aliases.
    pub aliases: Vec<AliasSpec>,
    /// Account receiving postmaster mail (RFC 5321 §4.5.1 requires it to exist).
    pub postmaster_account: String,
    /// Global routes, after the account's and the sender domain's.
    pub routes: Vec<Route>,
}

/// A configuration mistake, found when the directory is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// An address is not `localpart@domain` or `@domain`.
    #[error("address {address:?} of account {account:?} is not localpart@domain or @domain")]
    InvalidAddress {
        /// Account.
        account: String,
        /// Address.
        address: String,
    },
    /// An address is in a domain that is not configured.
    #[error("address {address:?} of account {account:?} is in domain {domain:?}, which is not configured")]
    UnknownDomain {
        /// Account.
        account: String,
        /// Address.
        address: String,
        /// Domain.
        domain: String,
    },
    /// Two accounts (or one twice) claim the same address.
    #[error("address {address:?} is configured twice (accounts {first:?} and {second:?})")]
    DuplicateAddress {
        /// Address.
        address: String,
        /// First claimant.
        first: String,
        /// Second claimant.
        second: String,
    },
    /// An account is configured twice.
    #[error("account {0:?} is configured twice")]
    DuplicateAccount(String),
    /// A domain is configured twice.
    #[error("domain {0:?} is configured twice")]
    DuplicateDomain(String),
    /// The postmaster account is not configured.
    #[error("postmaster account {0:?} is not a configured account")]
    UnknownPostmaster(String),
    /// A change names a domain that is not configured.
    #[error("no domain {0:?}")]
    NoSuchDomain(String),
    /// A change names an account that is not configured.
    #[error("no account {0:?}")]
    NoSuchAccount(String),
    /// A change removes an address the account does not have.
    #[error("account {account:?} has no address {address:?}")]
    NoSuchAddress {
        /// Account.
        account: String,
        /// Address.
        address: String,
    },
    /// A domain cannot be removed while addresses use it.
    #[error("domain {domain:?} is still used by address {address:?} of account {account:?}")]
    DomainInUse {
        /// Domain.
        domain: String,
        /// An account with an address there.
        account: String,
        /// That address.
        address: String,
    },
    /// The postmaster account cannot be removed.
    #[error("account {0:?} receives postmaster mail and cannot be removed")]
    PostmasterAccount(String),
    /// A domain or account name is not acceptable.
    #[error("{0}")]
    InvalidName(String),
    /// An alias is not acceptable (its address, a member, or its size); the text says why.
    #[error("alias {address:?}: {reason}")]
    InvalidAlias {
        /// The alias's address.
        address: String,
        /// What is wrong.
        reason: String,
    },
    /// A change names an alias that is not configured.
    #[error("no alias {0:?}")]
    NoSuchAlias(String),
}

/// Longest domain name (RFC 1035 §2.3.4: 255 octets on the wire, 253 as text).
pub const DOMAIN_NAME_BYTES_MAX: usize = 253;

/// One edit of the directory (the admin API and the CLI verbs). Applied to a
/// [`DirectorySpec`] with [`DirectorySpec::apply`], then validated as a whole by
/// [`Directory::new`]: a change that would leave an inconsistent directory changes
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryChange {
    /// A new local domain.
    AddDomain(DomainSpec),
    /// Removes a domain no address uses.
    RemoveDomain(String),
    /// A new account with its addresses.
    AddAccount(AccountSpec),
    /// Removes an account (not the postmaster account).
    RemoveAccount(String),
    /// Gives an account another address (`user@domain` or `@domain`).
    AddAddress {
        /// Account.
        account: String,
        /// Address.
        address: String,
    },
    /// Takes an address from an account.
    RemoveAddress {
        /// Account.
        account: String,
        /// Address.
        address: String,
    },
    /// Sets or clears an account's quota.
    SetQuota {
        /// Account.
        account: String,
        /// Bytes, or `None` for no limit.
        quota_bytes: Option<u64>,
    },
    /// Changes an account's settings (quotas, hidden IMAP capabilities, send limits).
    UpdateAccount {
        /// Account.
        account: String,
        /// The settings to change.
        update: AccountUpdate,
    },
    /// Creates an alias, or replaces the members of an existing one.
    SetAlias(AliasSpec),
    /// Removes an alias.
    RemoveAlias(String),
}

impl DirectorySpec {
    /// The spec with `change` made, validated as a whole.
    pub fn apply(&self, change: &DirectoryChange) -> Result<(DirectorySpec, Directory), DirectoryError> {
        let mut spec = self.clone();
        match change {
            DirectoryChange::AddDomain(domain) => {
                check_domain_name(&domain.name)?;
                let name = normalize_domain(&domain.name);
                spec.domains.push(DomainSpec { name, ..domain.clone() });
            }
            DirectoryChange::RemoveDomain(name) => {
                let name = normalize_domain(name);
                let before = spec.domains.len();
                spec.domains.retain(|d| normalize_domain(&d.name) != name);
                if spec.domains.len() == before {
                    return Err(DirectoryError::NoSuchDomain(name));
                }
                if let Some(alias) = spec.aliases.iter().find(|a| {
                    a.address.rsplit_once('@').is_some_and(|(_, domain)| normalize_domain(domain) == name)
                }) {
                    return Err(DirectoryError::InvalidAlias {
                        address: alias.address.clone(),
                        reason: format!("is in domain {name:?}; remove the alias first"),
                    });
                }
                for account in &spec.accounts {
                    let used = account.addresses.iter().find(|a| {
                        a.rsplit_once('@').is_some_and(|(_, domain)| normalize_domain(domain) == name)
                    });
                    if let Some(address) = used {
                        return Err(DirectoryError::DomainInUse {
                            domain: name,
                            account: account.name.clone(),
                            address: address.clone(),
                        });
                    }
                }
            }
            DirectoryChange::AddAccount(account) => spec.accounts.push(account.clone()),
            DirectoryChange::RemoveAccount(name) => {
                if *name == spec.postmaster_account {
                    return Err(DirectoryError::PostmasterAccount(name.clone()));
                }
                let before = spec.accounts.len();
                spec.accounts.retain(|a| a.name != *name);
                if spec.accounts.len() == before {
                    return Err(DirectoryError::NoSuchAccount(name.clone()));
                }
            }
            DirectoryChange::AddAddress { account, address } => {
                let entry = spec.account_mut(account)?;
                entry.addresses.push(address.clone());
            }
            DirectoryChange::RemoveAddress { account, address } => {
                let entry = spec.account_mut(account)?;
                let before = entry.addresses.len();
                entry.addresses.retain(|a| !a.eq_ignore_ascii_case(address));
                if entry.addresses.len() == before {
                    return Err(DirectoryError::NoSuchAddress {
                        account: account.clone(),
                        address: address.clone(),
                    });
                }
            }
            DirectoryChange::SetQuota { account, quota_bytes } => {
                spec.account_mut(account)?.quota_bytes = *quota_bytes;
            }
            DirectoryChange::UpdateAccount { account, update } => {
                let entry = spec.account_mut(account)?;
                if let Some(quota_bytes) = update.quota_bytes {
                    entry.quota_bytes = quota_bytes;
                }
                if let Some(quota_messages) = update.quota_messages {
                    entry.quota_messages = quota_messages;
                }
                if let Some(hidden) = &update.hidden_capabilities {
                    entry.hidden_capabilities.clone_from(hidden);
                }
                if let Some(max) = update.messages_per_day_max {
                    entry.send_limits.messages_per_day_max = max;
                }
                if let Some(max) = update.first_time_recipients_per_day_max {
                    entry.send_limits.first_time_recipients_per_day_max = max;
                }
            }
            DirectoryChange::SetAlias(alias) => {
                match spec.aliases.iter_mut().find(|a| a.address.eq_ignore_ascii_case(&alias.address)) {
                    Some(existing) => {
                        *existing = AliasSpec { address: existing.address.clone(), ..alias.clone() }
                    }
                    None => spec.aliases.push(alias.clone()),
                }
            }
            DirectoryChange::RemoveAlias(address) => {
                let before = spec.aliases.len();
                spec.aliases.retain(|a| !a.address.eq_ignore_ascii_case(address));
                if spec.aliases.len() == before {
                    return Err(DirectoryError::NoSuchAlias(address.clone()));
                }
            }
        }
        let directory = spec.build()?;
        Ok((spec, directory))
    }

    /// Validates the whole spec (account names included) and builds its directory.
    pub fn build(&self) -> Result<Directory, DirectoryError> {
        if let Some(bad) = self.accounts.iter().find(|a| !moxide_storage::is_valid_account_name(&a.name)) {
            return Err(DirectoryError::InvalidName(format!(
                "account name {:?} must be 1-64 of A-Z a-z 0-9 . _ - and not start with '.'",
                bad.name
            )));
        }
        Directory::new(self)
    }

    fn account_mut(&mut self, name: &str) -> Result<&mut AccountSpec, DirectoryError> {
        self.accounts
            .iter_mut()
            .find(|a| a.name == name)
            .ok_or_else(|| DirectoryError::NoSuchAccount(name.to_string()))
    }
}

/// Hidden capabilities are IMAP atoms (RFC 9051 §9 `capability`), few and short.
fn check_hidden_capabilities(account: &AccountSpec) -> Result<(), DirectoryError> {
    let names = &account.hidden_capabilities;
    if names.len() > HIDDEN_CAPABILITIES_MAX {
        return Err(DirectoryError::InvalidName(format!(
            "account {:?} hides {} IMAP capabilities; at most {HIDDEN_CAPABILITIES_MAX}",
            account.name,
            names.len()
        )));
    }
    let atom = |name: &str| {
        !name.is_empty()
            && name.len() <= HIDDEN_CAPABILITY_BYTES_MAX
            && name.bytes().all(|b| b.is_ascii_graphic() && !b"(){%*\"]\\".contains(&b))
    };
    match names.iter().find(|name| !atom(name)) {
        Some(bad) => Err(DirectoryError::InvalidName(format!(
            "hidden IMAP capability {bad:?} of account {:?} is not a capability name (1-{HIDDEN_CAPABILITY_BYTES_MAX} printable ASCII, no spaces or specials)",
            account.name
        ))),
        None => Ok(()),
    }
}

/// A domain name as the admin API accepts it: ASCII letters, digits, hyphens, dots
/// between non-empty labels (internationalized names in their A-label form).
fn check_domain_name(name: &str) -> Result<(), DirectoryError> {
    let trimmed = name.trim_end_matches('.');
    let valid = !trimmed.is_empty()
        && trimmed.len() <= DOMAIN_NAME_BYTES_MAX
        && trimmed.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if valid {
        Ok(())
    } else {
        Err(DirectoryError::InvalidName(format!("{name:?} is not a domain name (use the A-label form)")))
    }
}

/// Result of looking up a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Delivers to this account.
    Account(Arc<str>),
    /// An alias: delivers to each of these accounts (at least one, each once).
    Alias(Arc<[Arc<str>]>),
    /// The domain is local but has no such address (RFC 5321 550 5.1.1).
    UnknownUser,
    /// The domain is not ours (relaying is not offered here).
    NotLocal,
}

/// An immutable directory snapshot.
#[derive(Debug, Clone)]
pub struct Directory {
    domains: HashMap<String, DomainSpec>,
    addresses: HashMap<String, Arc<str>>,
    catchalls: HashMap<String, Arc<str>>,
    aliases: HashMap<String, Arc<[Arc<str>]>>,
    alias_rules: HashMap<String, AliasRule>,
    accounts: Vec<Arc<str>>,
    quotas: HashMap<Arc<str>, u64>,
    quota_messages: HashMap<String, u64>,
    hidden_capabilities: HashMap<String, Arc<[String]>>,
    send_limits: HashMap<String, SendLimits>,
    postmaster: Arc<str>,
    routes: Arc<Routes>,
}

/// The routes of a specification, by level (empty lists left out).
fn routes_of(spec: &DirectorySpec) -> Routes {
    let accounts =
        spec.accounts.iter().filter(|a| !a.routes.is_empty()).map(|a| (a.name.clone(), a.routes.clone()));
    let domains = spec
        .domains
        .iter()
        .filter(|d| !d.routes.is_empty())
        .map(|d| (normalize_domain(&d.name), d.routes.clone()));
    Routes::new(accounts.collect(), domains.collect(), &spec.routes)
}

impl Directory {
    /// Validates `spec` and builds the lookup tables.
    pub fn new(spec: &DirectorySpec) -> Result<Directory, DirectoryError> {
        let mut domains = HashMap::new();
        for domain in &spec.domains {
            let name = normalize_domain(&domain.name);
            if let Some(bad) = domain.dkim_selectors.iter().find(|s| !is_selector(s)) {
                return Err(DirectoryError::InvalidName(format!(
                    "DKIM selector {bad:?} of domain {name:?} must be 1-63 of a-z 0-9 -"
                )));
            }
            let report_parts = domain.dmarc_reports.iter().chain(domain.tls_reports.iter());
            if let Some(bad) = report_parts.clone().find(|l| l.is_empty() || l.contains(['@', ' '])) {
                return Err(DirectoryError::InvalidName(format!(
                    "report local part {bad:?} of domain {name:?} must be a local part without @"
                )));
            }
            let normalized = DomainSpec { name: name.clone(), ..domain.clone() };
            if domains.insert(name.clone(), normalized).is_some() {
                return Err(DirectoryError::DuplicateDomain(name));
            }
        }
        let mut directory = Directory {
            domains,
            addresses: HashMap::new(),
            catchalls: HashMap::new(),
            aliases: HashMap::new(),
            alias_rules: HashMap::new(),
            accounts: Vec::new(),
            quotas: HashMap::new(),
            quota_messages: HashMap::new(),
            hidden_capabilities: HashMap::new(),
            send_limits: HashMap::new(),
            postmaster: Arc::from(spec.postmaster_account.as_str()),
            routes: Arc::new(routes_of(spec)),
        };
        for account in &spec.accounts {
            directory.add_account(account)?;
        }
        for alias in &spec.aliases {
            directory.add_alias(alias)?;
        }
        if !directory.accounts.iter().any(|a| **a == *spec.postmaster_account) {
            return Err(DirectoryError::UnknownPostmaster(spec.postmaster_account.clone()));
        }
        Ok(directory)
    }

    fn add_account(&mut self, account: &AccountSpec) -> Result<(), DirectoryError> {
        if self.accounts.iter().any(|a| **a == *account.name) {
            return Err(DirectoryError::DuplicateAccount(account.name.clone()));
        }
        let name: Arc<str> = Arc::from(account.name.as_str());
        for address in &account.addresses {
            let invalid =
                || DirectoryError::InvalidAddress { account: account.name.clone(), address: address.clone() };
            let (localpart, domain) = address.rsplit_once('@').ok_or_else(invalid)?;
            let domain = normalize_domain(domain);
            if domain.is_empty() {
                return Err(invalid());
            }
            if !self.domains.contains_key(&domain) {
                return Err(DirectoryError::UnknownDomain {
                    account: account.name.clone(),
                    address: address.clone(),
                    domain,
                });
            }
            let (table, key) = if localpart.is_empty() {
                (&mut self.catchalls, domain)
            } else {
                (&mut self.addresses, format!("{}@{domain}", localpart.to_lowercase()))
            };
            if let Some(first) = table.insert(key, Arc::clone(&name)) {
                return Err(DirectoryError::DuplicateAddress {
                    address: address.clone(),
                    first: first.to_string(),
                    second: account.name.clone(),
                });
            }
        }
        if let Some(quota) = account.quota_bytes {
            self.quotas.insert(Arc::clone(&name), quota);
        }
        if let Some(limit) = account.quota_messages {
            self.quota_messages.insert(account.name.clone(), limit);
        }
        check_hidden_capabilities(account)?;
        if !account.hidden_capabilities.is_empty() {
            self.hidden_capabilities.insert(account.name.clone(), account.hidden_capabilities.clone().into());
        }
        if account.send_limits != SendLimits::default() {
            self.send_limits.insert(account.name.clone(), account.send_limits);
        }
        self.accounts.push(name);
        Ok(())
    }

    fn add_alias(&mut self, alias: &AliasSpec) -> Result<(), DirectoryError> {
        let invalid =
            |reason: String| DirectoryError::InvalidAlias { address: alias.address.clone(), reason };
        let (localpart, domain) = alias
            .address
            .rsplit_once('@')
            .filter(|(localpart, domain)| !localpart.is_empty() && !domain.is_empty())
            .ok_or_else(|| invalid("not localpart@domain".into()))?;
        let domain = normalize_domain(domain);
        if !self.domains.contains_key(&domain) {
            return Err(invalid(format!("domain {domain:?} is not configured")));
        }
        let key = format!("{}@{domain}", localpart.to_lowercase());
        if let Some(owner) = self.addresses.get(&key) {
            return Err(invalid(format!("the address belongs to account {owner:?}")));
        }
        if alias.members.is_empty() || alias.members.len() > ALIAS_MEMBERS_MAX {
            return Err(invalid(format!("needs 1 to {ALIAS_MEMBERS_MAX} members")));
        }
        let mut accounts: Vec<Arc<str>> = Vec::new();
        for member in &alias.members {
            let account = member
                .rsplit_once('@')
                .and_then(|(localpart, domain)| {
                    self.addresses.get(&format!("{}@{}", localpart.to_lowercase(), normalize_domain(domain)))
                })
                .ok_or_else(|| invalid(format!("member {member:?} is not an address of an account")))?;
            if !accounts.contains(account) {
                accounts.push(Arc::clone(account));
            }
        }
        if alias.allowed_senders.len() > ALIAS_ALLOWED_SENDERS_MAX {
            return Err(invalid(format!("at most {ALIAS_ALLOWED_SENDERS_MAX} allowed senders")));
        }
        let mut allowed_senders = Vec::new();
        for sender in &alias.allowed_senders {
            match sender.rsplit_once('@') {
                Some((localpart, domain)) if !domain.is_empty() && !domain.contains(['@', ' ']) => {
                    allowed_senders.push(format!("{}@{}", localpart.to_lowercase(), normalize_domain(domain)))
                }
                _ => return Err(invalid(format!("allowed sender {sender:?} is not an address or @domain"))),
            }
        }
        let rule = AliasRule { post_public: alias.post_public, allowed_senders };
        if self.aliases.insert(key.clone(), Arc::from(accounts)).is_some() {
            return Err(invalid("configured twice".into()));
        }
        self.alias_rules.insert(key, rule);
        Ok(())
    }

    /// Whether `poster` may send to the alias `localpart@domain` (true for anything
    /// that is not a closed alias): a member account authenticated, or, unauthenticated,
    /// a MAIL FROM that is an address of a member account; or a MAIL FROM among the
    /// alias's allowed senders (an address or its `@domain`).
    pub fn may_post(&self, localpart: &str, domain: &str, poster: Poster<'_>) -> bool {
        let domain = normalize_domain(domain);
        let Some(spec) = self.domains.get(&domain) else { return true };
        let localpart = localpart.to_lowercase();
        let mut key = format!("{localpart}@{domain}");
        if self.addresses.contains_key(&key) {
            return true;
        }
        if !self.alias_rules.contains_key(&key)
            && let Some(cut) = localpart.find(|c| spec.localpart_separators.contains(&c))
        {
            key = format!("{}@{domain}", &localpart[..cut]);
        }
        let (Some(rule), Some(members)) = (self.alias_rules.get(&key), self.aliases.get(&key)) else {
            return true;
        };
        if rule.post_public {
            return true;
        }
        let member = |account: &str| members.iter().any(|m| &**m == account);
        if let Some(account) = poster.account {
            return member(account);
        }
        let Some((from_localpart, from_domain)) = poster.mail_from else { return false };
        if let Lookup::Account(account) = self.lookup(from_localpart, from_domain)
            && member(account.as_ref())
        {
            return true;
        }
        let from_domain = normalize_domain(from_domain);
        let address = format!("{}@{from_domain}", from_localpart.to_lowercase());
        let whole_domain = format!("@{from_domain}");
        rule.allowed_senders.iter().any(|allowed| *allowed == address || *allowed == whole_domain)
    }

    /// Finds the account for `localpart@domain`.
    pub fn lookup(&self, localpart: &str, domain: &str) -> Lookup {
        let domain = normalize_domain(domain);
        let Some(spec) = self.domains.get(&domain) else { return Lookup::NotLocal };
        let localpart = localpart.to_lowercase();
        if let Some(found) = self.exact(&format!("{localpart}@{domain}")) {
            return found;
        }
        if let Some(cut) = localpart.find(|c| spec.localpart_separators.contains(&c))
            && let Some(found) = self.exact(&format!("{}@{domain}", &localpart[..cut]))
        {
            return found;
        }
        if let Some(account) = self.catchalls.get(&domain) {
            return Lookup::Account(Arc::clone(account));
        }
        if localpart == "postmaster" {
            return Lookup::Account(Arc::clone(&self.postmaster));
        }
        Lookup::UnknownUser
    }

    /// An account's address or an alias, by its normalized `localpart@domain`.
    fn exact(&self, key: &str) -> Option<Lookup> {
        if let Some(account) = self.addresses.get(key) {
            return Some(Lookup::Account(Arc::clone(account)));
        }
        self.aliases.get(key).map(|members| Lookup::Alias(Arc::clone(members)))
    }

    /// The account's quota in bytes, if it has one.
    pub fn quota(&self, account: &str) -> Option<u64> {
        self.quotas.get(account).copied()
    }

    /// The IMAP capabilities the account hides (empty for most).
    pub fn hidden_capabilities(&self, account: &str) -> Arc<[String]> {
        self.hidden_capabilities.get(account).cloned().unwrap_or_else(|| Arc::from([]))
    }

    /// The account's limit on its number of messages, if it has one.
    pub fn quota_messages(&self, account: &str) -> Option<u64> {
        self.quota_messages.get(account).copied()
    }

    /// The account's send limits (the defaults unless configured).
    pub fn send_limits(&self, account: &str) -> SendLimits {
        self.send_limits.get(account).copied().unwrap_or_default()
    }

    /// The queue's routes (account, sender domain, global), as the domains file has them.
    pub fn routes(&self) -> &Arc<Routes> {
        &self.routes
    }

    /// The account that receives postmaster mail.
    pub fn postmaster(&self) -> &Arc<str> {
        &self.postmaster
    }

    /// Whether `domain` is local.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.domains.contains_key(&normalize_domain(domain))
    }

    /// Whether the local `domain` takes mail failing DMARC `p=reject` into Junk.
    pub fn marks_dmarc_rejects(&self, domain: &str) -> bool {
        self.domains.get(&normalize_domain(domain)).is_some_and(|d| d.dmarc_reject_mark)
    }

    /// Whether `localpart@domain` is one of the domain's report addresses (DMARC
    /// aggregate or TLS reports), whose mail has its reports parsed and kept.
    pub fn is_report_address(&self, localpart: &str, domain: &str) -> bool {
        self.domains.get(&normalize_domain(domain)).is_some_and(|d| {
            d.dmarc_reports.iter().chain(d.tls_reports.iter()).any(|l| l.eq_ignore_ascii_case(localpart))
        })
    }

    /// All account names, in configuration order.
    pub fn accounts(&self) -> &[Arc<str>] {
        &self.accounts
    }

    /// Whether an account of that name exists.
    pub fn has_account(&self, name: &str) -> bool {
        self.accounts.iter().any(|a| **a == *name)
    }

    /// The account's name as the directory holds it (shared), if it exists.
    pub fn account(&self, name: &str) -> Option<&Arc<str>> {
        self.accounts.iter().find(|a| ***a == *name)
    }
}

/// A DKIM selector as moxide makes them: one DNS label of lower-case letters, digits and
/// hyphens (it names a key file too, so nothing else is let through).
fn is_selector(selector: &str) -> bool {
    (1..=63).contains(&selector.len())
        && selector.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn normalize_domain(domain: &str) -> String {
    domain.trim_end_matches('.').to_lowercase()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn spec() -> DirectorySpec {
        DirectorySpec {
            domains: vec![
                DomainSpec {
                    name: "Example.org".into(),
                    localpart_separators: vec!['+'],
                    dkim_selectors: vec![],
                    ..Default::default()
                },
                DomainSpec {
                    name: "other.example".into(),
                    localpart_separators: vec![],
                    dkim_selectors: vec![],
                    ..Default::default()
                },
            ],
            accounts: vec![
                AccountSpec {
                    name: "alice".into(),
                    addresses: vec!["alice@example.org".into(), "Sales@example.org".into()],
                    quota_bytes: Some(1000),
                    ..Default::default()
                },
                AccountSpec {
                    name: "bob".into(),
                    addresses: vec!["bob@example.org".into(), "@other.example".into()],
                    quota_bytes: None,
                    quota_messages: Some(2),
                    hidden_capabilities: vec!["THREAD".to_owned()],
                    ..Default::default()
                },
            ],
            aliases: vec![AliasSpec {
                address: "Team@example.org".into(),
                members: vec![
                    "alice@example.org".into(),
                    "sales@EXAMPLE.org".into(),
                    "bob@example.org".into(),
                ],
                post_public: true,
                allowed_senders: Vec::new(),
            }],
            postmaster_account: "alice".into(),
            routes: Vec::new(),
        }
    }

    fn account(name: &str) -> Lookup {
        Lookup::Account(Arc::from(name))
    }

    #[test]
    fn closed_aliases_take_posts_from_members_and_allowed_senders_only() {
        let mut closed = spec();
        closed.aliases[0].post_public = false;
        closed.aliases[0].allowed_senders = vec!["Boss@Partner.example".into(), "@friends.example".into()];
        let d = Directory::new(&closed).unwrap();
        let post = |account: Option<&str>, from: Option<(&str, &str)>| {
            d.may_post("team+x", "EXAMPLE.org", Poster { account, mail_from: from })
        };
        assert!(post(Some("bob"), None), "an authenticated member");
        assert!(!post(Some("carol"), Some(("alice", "example.org"))), "authenticated, not a member");
        assert!(post(None, Some(("Sales", "example.org"))), "a member's address");
        assert!(post(None, Some(("anyone", "other.example"))), "bob's catch-all domain");
        assert!(post(None, Some(("boss", "partner.example"))));
        assert!(post(None, Some(("x", "Friends.example"))));
        assert!(!post(None, Some(("stranger", "elsewhere.example"))));
        assert!(!post(None, None), "the null sender");
        assert!(d.may_post("alice", "example.org", Poster::default()), "not an alias");
        assert!(
            Directory::new(&spec()).unwrap().may_post("team", "example.org", Poster::default()),
            "public"
        );
        closed.aliases[0].allowed_senders = vec!["nobody".into()];
        assert!(Directory::new(&closed).is_err(), "an allowed sender must be an address or @domain");
    }

    #[test]
    fn lookups() {
        let d = Directory::new(&spec()).unwrap();
        assert_eq!(d.lookup("alice", "example.org"), account("alice"));
        assert_eq!(d.lookup("ALICE", "EXAMPLE.ORG."), account("alice"));
        assert_eq!(d.lookup("sales", "example.org"), account("alice"));
        assert_eq!(d.lookup("bob+lists", "example.org"), account("bob"));
        assert_eq!(d.lookup("nobody", "example.org"), Lookup::UnknownUser);
        assert_eq!(d.lookup("nobody+x", "example.org"), Lookup::UnknownUser);
        assert_eq!(d.lookup("anyone", "other.example"), account("bob"));
        assert_eq!(d.lookup("a+b", "other.example"), account("bob"), "no separator: catch-all");
        assert_eq!(d.lookup("alice", "elsewhere.example"), Lookup::NotLocal);
        assert_eq!(d.lookup("postmaster", "example.org"), account("alice"));
        assert!(d.is_local_domain("OTHER.example"));
        assert_eq!(d.accounts().len(), 2);
        assert_eq!(d.quota("alice"), Some(1000));
        assert_eq!(d.quota("bob"), None);
        assert_eq!(d.quota_messages("bob"), Some(2));
        assert_eq!(d.quota_messages("alice"), None);
        assert_eq!(&*d.hidden_capabilities("bob"), ["THREAD".to_owned()]);
        assert!(d.hidden_capabilities("alice").is_empty());
    }

    #[test]
    fn aliases_deliver_to_each_member_account_once() {
        let d = Directory::new(&spec()).unwrap();
        let members: Arc<[Arc<str>]> = Arc::from(vec![Arc::from("alice"), Arc::from("bob")]);
        assert_eq!(d.lookup("TEAM", "example.org"), Lookup::Alias(Arc::clone(&members)));
        assert_eq!(d.lookup("team+x", "example.org"), Lookup::Alias(members), "separator applies");
        let s = spec();
        let change = |alias: AliasSpec| s.apply(&DirectoryChange::SetAlias(alias));
        let alias = |address: &str, members: &[&str]| AliasSpec {
            address: address.into(),
            members: members.iter().map(|m| (*m).to_string()).collect(),
            post_public: true,
            allowed_senders: Vec::new(),
        };
        let closed = AliasSpec { post_public: false, ..alias("team@example.org", &["bob@example.org"]) };
        let (replaced, d2) = change(closed).unwrap();
        assert_eq!(replaced.aliases.len(), 1);
        assert!(!replaced.aliases[0].post_public, "every setting replaced, not only the members");
        assert!(!d2.may_post("team", "example.org", Poster::default()));
        assert_eq!(d2.lookup("team", "example.org"), Lookup::Alias(Arc::from(vec![Arc::from("bob")])));
        for bad in [
            alias("alice@example.org", &["bob@example.org"]),
            alias("x@nowhere.example", &["bob@example.org"]),
            alias("x@example.org", &["nobody@example.org"]),
            alias("x@example.org", &["@other.example"]),
            alias("x@example.org", &[]),
            alias("@example.org", &["bob@example.org"]),
        ] {
            assert!(matches!(change(bad), Err(DirectoryError::InvalidAlias { .. })));
        }
        let many: Vec<String> = (0..=ALIAS_MEMBERS_MAX).map(|_| "bob@example.org".to_string()).collect();
        assert!(
            change(AliasSpec {
                address: "x@example.org".into(),
                members: many,
                post_public: true,
                allowed_senders: Vec::new(),
            })
            .is_err()
        );
        // A member's address or the alias's domain cannot go while the alias uses it.
        let drop_bob =
            DirectoryChange::RemoveAddress { account: "bob".into(), address: "bob@example.org".into() };
        assert!(matches!(s.apply(&drop_bob), Err(DirectoryError::InvalidAlias { .. })));
        let (s2, d3) = s.apply(&DirectoryChange::RemoveAlias("TEAM@example.org".into())).unwrap();
        assert_eq!(d3.lookup("team", "example.org"), Lookup::UnknownUser);
        assert!(matches!(
            s2.apply(&DirectoryChange::RemoveAlias("team@example.org".into())),
            Err(DirectoryError::NoSuchAlias(_))
        ));
        let quota = DirectoryChange::SetQuota { account: "bob".into(), quota_bytes: Some(5) };
        assert_eq!(s.apply(&quota).unwrap().1.quota("bob"), Some(5));
    }

    #[test]
    fn account_settings_change_alone_and_are_validated() {
        let s = spec();
        let update = |update: AccountUpdate| {
            s.apply(&DirectoryChange::UpdateAccount { account: "alice".into(), update })
        };
        let (s2, d2) = update(AccountUpdate {
            quota_messages: Some(Some(7)),
            hidden_capabilities: Some(vec!["PARTIAL".into()]),
            messages_per_day_max: Some(5),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(d2.quota_messages("alice"), Some(7));
        assert_eq!(d2.quota("alice"), Some(1000), "fields not given stay");
        assert_eq!(&*d2.hidden_capabilities("alice"), ["PARTIAL".to_owned()]);
        let limits = d2.send_limits("alice");
        assert_eq!(limits.messages_per_day_max, 5);
        assert_eq!(limits.first_time_recipients_per_day_max, SEND_FIRST_TIME_RECIPIENTS_PER_DAY_MAX);
        let clear =
            AccountUpdate { quota_bytes: Some(None), quota_messages: Some(None), ..Default::default() };
        let (_, d3) =
            s2.apply(&DirectoryChange::UpdateAccount { account: "alice".into(), update: clear }).unwrap();
        assert_eq!((d3.quota("alice"), d3.quota_messages("alice")), (None, None));
        for bad in [vec![String::new()], vec!["A B".into()], vec!["x".repeat(65)], vec!["Y".into(); 65]] {
            let result = update(AccountUpdate { hidden_capabilities: Some(bad), ..Default::default() });
            assert!(matches!(result, Err(DirectoryError::InvalidName(_))));
        }
        let nobody =
            DirectoryChange::UpdateAccount { account: "zed".into(), update: AccountUpdate::default() };
        assert!(matches!(s.apply(&nobody), Err(DirectoryError::NoSuchAccount(_))));
    }

    /// The routes travel in the specification: a change of something else keeps them,
    /// and the built directory holds them by level, domains in lower case.
    #[test]
    fn routes_stay_through_changes_and_reach_the_directory() {
        let route = |transport: &str| Route { transport: transport.into(), ..Route::default() };
        let mut s = spec();
        s.routes = vec![route("global")];
        s.domains[0].routes = vec![route("domain")];
        s.accounts[0].routes = vec![route("account")];
        let update = AccountUpdate { quota_messages: Some(Some(3)), ..Default::default() };
        let (s2, d2) = s.apply(&DirectoryChange::UpdateAccount { account: "alice".into(), update }).unwrap();
        assert_eq!((&s2.routes, &s2.accounts[0].routes), (&s.routes, &s.accounts[0].routes));
        let expected = Routes::new(
            HashMap::from([("alice".to_owned(), vec![route("account")])]),
            HashMap::from([("example.org".to_owned(), vec![route("domain")])]),
            &[route("global")],
        );
        assert_eq!(**d2.routes(), expected);
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let mut s = spec();
        s.accounts[1].addresses.push("ALICE@example.org".into());
        assert!(matches!(Directory::new(&s), Err(DirectoryError::DuplicateAddress { .. })));

        let mut s = spec();
        s.accounts[0].addresses.push("x@nowhere.example".into());
        assert!(matches!(Directory::new(&s), Err(DirectoryError::UnknownDomain { .. })));

        let mut s = spec();
        s.accounts[0].addresses.push("no-at-sign".into());
        assert!(matches!(Directory::new(&s), Err(DirectoryError::InvalidAddress { .. })));

        let mut s = spec();
        s.postmaster_account = "carol".into();
        assert_eq!(Directory::new(&s).unwrap_err(), DirectoryError::UnknownPostmaster("carol".into()));

        let mut s = spec();
        s.domains.push(DomainSpec {
            name: "example.ORG".into(),
            localpart_separators: vec![],
            dkim_selectors: vec![],
            ..Default::default()
        });
        assert!(matches!(Directory::new(&s), Err(DirectoryError::DuplicateDomain(_))));

        let mut s = spec();
        s.accounts.push(s.accounts[0].clone());
        assert!(matches!(Directory::new(&s), Err(DirectoryError::DuplicateAccount(_))));
    }

    #[test]
    fn changes_are_validated_as_a_whole() {
        let s = spec();
        let add = DirectoryChange::AddDomain(DomainSpec {
            name: "New.example.".into(),
            localpart_separators: vec![],
            dkim_selectors: vec!["20261206e".into()],
            ..Default::default()
        });
        let (s2, d2) = s.apply(&add).unwrap();
        assert!(d2.is_local_domain("new.example"));
        let carol = AccountSpec {
            name: "carol".into(),
            addresses: vec!["carol@new.example".into()],
            ..Default::default()
        };
        let (s3, d3) = s2.apply(&DirectoryChange::AddAccount(carol.clone())).unwrap();
        assert_eq!(d3.lookup("carol", "new.example"), account("carol"));
        assert!(matches!(
            s3.apply(&DirectoryChange::RemoveDomain("new.example".into())),
            Err(DirectoryError::DomainInUse { .. })
        ));
        assert!(matches!(
            s3.apply(&DirectoryChange::AddAccount(carol)),
            Err(DirectoryError::DuplicateAccount(_))
        ));
        let steal =
            DirectoryChange::AddAddress { account: "carol".into(), address: "ALICE@example.org".into() };
        assert!(matches!(s3.apply(&steal), Err(DirectoryError::DuplicateAddress { .. })));
        let (s4, d4) = s3.apply(&DirectoryChange::RemoveAccount("carol".into())).unwrap();
        assert_eq!(d4.lookup("carol", "new.example"), Lookup::UnknownUser);
        let (_, d5) = s4.apply(&DirectoryChange::RemoveDomain("NEW.example".into())).unwrap();
        assert!(!d5.is_local_domain("new.example"));
        assert!(matches!(
            s.apply(&DirectoryChange::RemoveAccount("alice".into())),
            Err(DirectoryError::PostmasterAccount(_))
        ));
        let bad = DirectoryChange::AddDomain(DomainSpec {
            name: "a..b".into(),
            localpart_separators: vec![],
            dkim_selectors: vec![],
            ..Default::default()
        });
        assert!(matches!(s.apply(&bad), Err(DirectoryError::InvalidName(_))));
        let bad = DirectoryChange::AddDomain(DomainSpec {
            name: "b.example".into(),
            localpart_separators: vec![],
            dkim_selectors: vec!["../key".into()],
            ..Default::default()
        });
        assert!(matches!(s.apply(&bad), Err(DirectoryError::InvalidName(_))));
        let bad = DirectoryChange::AddAccount(AccountSpec { name: "../x".into(), ..Default::default() });
        assert!(matches!(s.apply(&bad), Err(DirectoryError::InvalidName(_))));
        let gone = DirectoryChange::RemoveAddress { account: "bob".into(), address: "x@example.org".into() };
        assert!(matches!(s.apply(&gone), Err(DirectoryError::NoSuchAddress { .. })));
    }
}
