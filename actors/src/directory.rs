//! The directory: which domains are local, which addresses belong to which account.
//!
//! Built once from configuration and validated as a whole; each core's node keeps its own
//! immutable snapshot (lookups never cross cores or take locks). A reload builds a new
//! snapshot and swaps it in.
//!
//! Lookup rules (RFC 5321 §2.4: the local-part is the receiving server's business):
//! - domains compare case-insensitively, a trailing dot ignored;
//! - local-parts compare case-insensitively (as mox and most providers do);
//! - an exact address wins; then, when the domain has a local-part separator such as `+`,
//!   the part before it (`user+tag@` → `user@`); then the domain's catch-all (`@domain`);
//! - `postmaster` at any local domain, and the bare `<Postmaster>` of RFC 5321 §4.5.1,
//!   reach the postmaster account unless an explicit address says otherwise.

use std::collections::HashMap;
use std::sync::Arc;

/// A local domain as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec {
    /// The domain name.
    pub name: String,
    /// Characters that end the account-identifying part of a local-part (`+` makes
    /// `user+tag` deliver to `user`). Empty: none.
    pub localpart_separators: Vec<char>,
}

/// An account as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSpec {
    /// Account name (also its directory name in the data dir).
    pub name: String,
    /// Its addresses: `user@domain`, or `@domain` for the domain's catch-all.
    pub addresses: Vec<String>,
}

/// Everything the directory is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySpec {
    /// Local domains.
    pub domains: Vec<DomainSpec>,
    /// Accounts.
    pub accounts: Vec<AccountSpec>,
    /// Account receiving postmaster mail (RFC 5321 §4.5.1 requires it to exist).
    pub postmaster_account: String,
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
}

/// Result of looking up a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Delivers to this account.
    Account(Arc<str>),
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
    accounts: Vec<Arc<str>>,
    postmaster: Arc<str>,
}

impl Directory {
    /// Validates `spec` and builds the lookup tables.
    pub fn new(spec: &DirectorySpec) -> Result<Directory, DirectoryError> {
        let mut domains = HashMap::new();
        for domain in &spec.domains {
            let name = normalize_domain(&domain.name);
            let normalized = DomainSpec { name: name.clone(), ..domain.clone() };
            if domains.insert(name.clone(), normalized).is_some() {
                return Err(DirectoryError::DuplicateDomain(name));
            }
        }
        let mut directory = Directory {
            domains,
            addresses: HashMap::new(),
            catchalls: HashMap::new(),
            accounts: Vec::new(),
            postmaster: Arc::from(spec.postmaster_account.as_str()),
        };
        for account in &spec.accounts {
            directory.add_account(account)?;
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
        self.accounts.push(name);
        Ok(())
    }

    /// Finds the account for `localpart@domain`.
    pub fn lookup(&self, localpart: &str, domain: &str) -> Lookup {
        let domain = normalize_domain(domain);
        let Some(spec) = self.domains.get(&domain) else { return Lookup::NotLocal };
        let localpart = localpart.to_lowercase();
        if let Some(account) = self.addresses.get(&format!("{localpart}@{domain}")) {
            return Lookup::Account(Arc::clone(account));
        }
        if let Some(cut) = localpart.find(|c| spec.localpart_separators.contains(&c))
            && let Some(account) = self.addresses.get(&format!("{}@{domain}", &localpart[..cut]))
        {
            return Lookup::Account(Arc::clone(account));
        }
        if let Some(account) = self.catchalls.get(&domain) {
            return Lookup::Account(Arc::clone(account));
        }
        if localpart == "postmaster" {
            return Lookup::Account(Arc::clone(&self.postmaster));
        }
        Lookup::UnknownUser
    }

    /// The account that receives postmaster mail.
    pub fn postmaster(&self) -> &Arc<str> {
        &self.postmaster
    }

    /// Whether `domain` is local.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        self.domains.contains_key(&normalize_domain(domain))
    }

    /// All account names, in configuration order.
    pub fn accounts(&self) -> &[Arc<str>] {
        &self.accounts
    }

    /// Whether an account of that name exists.
    pub fn has_account(&self, name: &str) -> bool {
        self.accounts.iter().any(|a| **a == *name)
    }
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
                DomainSpec { name: "Example.org".into(), localpart_separators: vec!['+'] },
                DomainSpec { name: "other.example".into(), localpart_separators: vec![] },
            ],
            accounts: vec![
                AccountSpec {
                    name: "alice".into(),
                    addresses: vec!["alice@example.org".into(), "Sales@example.org".into()],
                },
                AccountSpec {
                    name: "bob".into(),
                    addresses: vec!["bob@example.org".into(), "@other.example".into()],
                },
            ],
            postmaster_account: "alice".into(),
        }
    }

    fn account(name: &str) -> Lookup {
        Lookup::Account(Arc::from(name))
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
        s.domains.push(DomainSpec { name: "example.ORG".into(), localpart_separators: vec![] });
        assert!(matches!(Directory::new(&s), Err(DirectoryError::DuplicateDomain(_))));

        let mut s = spec();
        s.accounts.push(s.accounts[0].clone());
        assert!(matches!(Directory::new(&s), Err(DirectoryError::DuplicateAccount(_))));
    }
}
