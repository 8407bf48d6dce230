//! The admin verbs of the CLI (`account`, `address`, `domain`, `setadminpassword`, and
//! `config tlspubkey add|rm` beside a server): each goes to the running server through
//! the control socket, or, when no server runs, makes the same change itself under the
//! data directory's lock with the same validation (see `control`).

use std::path::Path;
use std::process::ExitCode;

use moxide_actors::{AccountSpec, AccountUpdate, AliasSpec, DirectoryChange, DomainSpec};
use moxide_storage::{AccountStore, DataDir, GlobalStore, StoreOptions};
use serde_json::{Value, json};

use crate::config::{Config, TomlDomainsFile};
use crate::control::{self, Target};
use crate::{AccountCommand, AddressCommand, AliasCommand, DomainCommand, Error, TlsPubkeyCommand};

/// A path segment with everything but unreserved characters and `@` percent-encoded.
pub(crate) fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Makes `change` with no server running: validated as a whole, the domains file
/// rewritten atomically. The caller holds the lock.
fn change_offline(config: &Config, change: &DirectoryChange) -> Result<(), Error> {
    let file = TomlDomainsFile::of(config);
    let spec = file.load()?;
    let (spec, _) = spec.apply(change)?;
    file.store(&spec)?;
    Ok(())
}

/// Makes one directory change: through the running server's API (`method`, `path`,
/// `body`) when a server holds the data directory, else in the domains file under the
/// data directory's lock.
fn change_directory(
    config: &Config,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    change: DirectoryChange,
) -> Result<(), Error> {
    match control::target(&config.static_config.data_dir)? {
        Target::Server(socket) => {
            control::call(&socket, method, path, body)?;
        }
        Target::Offline(_lock) => change_offline(config, &change)?,
    }
    Ok(())
}

/// `moxide account ...`.
pub(crate) fn account(command: AccountCommand) -> Result<ExitCode, Error> {
    match command {
        AccountCommand::Add { config, account, address } => {
            let config = Config::load(&config)?;
            let body = json!({ "name": account, "addresses": [address] });
            match control::target(&config.static_config.data_dir)? {
                Target::Server(socket) => {
                    control::call(&socket, "POST", "/api/v0/admin/accounts", Some(&body))?;
                }
                Target::Offline(_lock) => {
                    let spec =
                        AccountSpec { name: account.clone(), addresses: vec![address], ..Default::default() };
                    change_offline(&config, &DirectoryChange::AddAccount(spec))?;
                    let data = DataDir::open(&config.static_config.data_dir)?;
                    AccountStore::open(&data, &account, &config.store_options())?.clear_credentials()?;
                }
            }
            println!("account {account} added; set its password with `moxide setaccountpassword {account}`");
        }
        AccountCommand::Rm { config, account } => {
            let config = Config::load(&config)?;
            match control::target(&config.static_config.data_dir)? {
                Target::Server(socket) => {
                    control::call(
                        &socket,
                        "DELETE",
                        &format!("/api/v0/admin/accounts/{}", segment(&account)),
                        None,
                    )?;
                }
                Target::Offline(_lock) => {
                    change_offline(&config, &DirectoryChange::RemoveAccount(account.clone()))?;
                    let data = DataDir::open(&config.static_config.data_dir)?;
                    AccountStore::open(&data, &account, &config.store_options())?.clear_credentials()?;
                    GlobalStore::open(&data, &StoreOptions::default())?
                        .remove_account_tls_public_keys(&account)?;
                    moxide_storage::queue::QueueStore::open_shared(&data, &StoreOptions::default())?
                        .forget_account(&account)?;
                }
            }
            println!("account {account} removed (its messages stay in the data directory)");
        }
        AccountCommand::List { config } => {
            // Reads only: the file is what the server runs (it writes every change).
            let config = Config::load(&config)?;
            for (name, entry) in &config.domains.accounts {
                println!("{name}\t{}", entry.addresses.join(" "));
            }
        }
        AccountCommand::Quota { config, account, bytes } => {
            let config = Config::load(&config)?;
            let quota_bytes = (bytes > 0).then_some(bytes);
            change_directory(
                &config,
                "PUT",
                &format!("/api/v0/admin/accounts/{}/quota", segment(&account)),
                Some(&json!({ "quota_bytes": quota_bytes })),
                DirectoryChange::SetQuota { account: account.clone(), quota_bytes },
            )?;
            match quota_bytes {
                Some(bytes) => println!("account {account} may store {bytes} bytes"),
                None => println!("account {account} has no quota"),
            }
        }
        AccountCommand::Set {
            config,
            account,
            quota_bytes,
            quota_messages,
            hide_imap_capabilities,
            messages_per_day,
            first_time_recipients_per_day,
        } => {
            let config = Config::load(&config)?;
            let hidden = hide_imap_capabilities
                .map(|names| names.into_iter().filter(|n| !n.is_empty()).collect::<Vec<_>>());
            let update = AccountUpdate {
                quota_bytes: quota_bytes.map(|n| (n > 0).then_some(n)),
                quota_messages: quota_messages.map(|n| (n > 0).then_some(n)),
                hidden_capabilities: hidden,
                messages_per_day_max: messages_per_day,
                first_time_recipients_per_day_max: first_time_recipients_per_day,
            };
            let mut body = serde_json::Map::new();
            if let Some(value) = update.quota_bytes {
                body.insert("quota_bytes".into(), json!(value));
            }
            if let Some(value) = update.quota_messages {
                body.insert("quota_messages".into(), json!(value));
            }
            if let Some(value) = &update.hidden_capabilities {
                body.insert("imap_hidden_capabilities".into(), json!(value));
            }
            if let Some(value) = update.messages_per_day_max {
                body.insert("outgoing_messages_per_day_max".into(), json!(value));
            }
            if let Some(value) = update.first_time_recipients_per_day_max {
                body.insert("first_time_recipients_per_day_max".into(), json!(value));
            }
            change_directory(
                &config,
                "PATCH",
                &format!("/api/v0/admin/accounts/{}", segment(&account)),
                Some(&Value::Object(body)),
                DirectoryChange::UpdateAccount { account: account.clone(), update },
            )?;
            println!("account {account} updated");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `moxide alias ...`.
pub(crate) fn alias(command: AliasCommand) -> Result<ExitCode, Error> {
    match command {
        AliasCommand::Set { config, address, members, public, allowed_senders } => {
            let config = Config::load(&config)?;
            let body =
                json!({ "members": members, "post_public": public, "allowed_senders": allowed_senders });
            let alias = AliasSpec {
                address: address.clone(),
                members: members.clone(),
                post_public: public,
                allowed_senders,
            };
            change_directory(
                &config,
                "PUT",
                &format!("/api/v0/admin/aliases/{}", segment(&address)),
                Some(&body),
                DirectoryChange::SetAlias(alias),
            )?;
            println!("alias {address} delivers to {}", members.join(" "));
        }
        AliasCommand::Rm { config, address } => {
            let config = Config::load(&config)?;
            change_directory(
                &config,
                "DELETE",
                &format!("/api/v0/admin/aliases/{}", segment(&address)),
                None,
                DirectoryChange::RemoveAlias(address.clone()),
            )?;
            println!("alias {address} removed");
        }
        AliasCommand::List { config } => {
            let config = Config::load(&config)?;
            for (address, entry) in &config.domains.aliases {
                let public = if entry.post_public { " (anyone may post)" } else { "" };
                println!("{address}\t{}{public}", entry.members.join(" "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `moxide address ...`.
pub(crate) fn address(command: AddressCommand) -> Result<ExitCode, Error> {
    match command {
        AddressCommand::Add { config, address, account } => {
            let config = Config::load(&config)?;
            change_directory(
                &config,
                "POST",
                &format!("/api/v0/admin/accounts/{}/addresses", segment(&account)),
                Some(&json!({ "address": address })),
                DirectoryChange::AddAddress { account: account.clone(), address: address.clone() },
            )?;
            println!("address {address} added to account {account}");
        }
        AddressCommand::Rm { config, address } => {
            let config = Config::load(&config)?;
            let spec = TomlDomainsFile::of(&config).load()?;
            let account = spec
                .accounts
                .iter()
                .find(|a| a.addresses.iter().any(|a| a.eq_ignore_ascii_case(&address)))
                .map(|a| a.name.clone())
                .ok_or_else(|| format!("no account has address {address}"))?;
            change_directory(
                &config,
                "DELETE",
                &format!("/api/v0/admin/accounts/{}/addresses/{}", segment(&account), segment(&address)),
                None,
                DirectoryChange::RemoveAddress { account: account.clone(), address: address.clone() },
            )?;
            println!("address {address} removed from account {account}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `moxide domain ...`.
pub(crate) fn domain(command: DomainCommand) -> Result<ExitCode, Error> {
    match command {
        DomainCommand::Add { config, domain, localpart_separators } => {
            let config = Config::load(&config)?;
            let separators: Vec<String> = localpart_separators.iter().map(char::to_string).collect();
            let body = json!({ "name": domain, "localpart_separators": separators });
            match control::target(&config.static_config.data_dir)? {
                Target::Server(socket) => {
                    let created = control::call(&socket, "POST", "/api/v0/admin/domains", Some(&body))?;
                    println!("domain {domain} added; publish these DNS records:");
                    print_records(&created["dns_records"]);
                }
                Target::Offline(_lock) => {
                    let now_secs = moxide_actors::clock::now_unix_ms().div_euclid(1000);
                    let spec = DomainSpec {
                        name: domain.trim_end_matches('.').to_lowercase(),
                        localpart_separators,
                        dkim_selectors: moxide_web::dkim::selectors_for(now_secs),
                        ..Default::default()
                    };
                    let change = DirectoryChange::AddDomain(spec.clone());
                    let file = TomlDomainsFile::of(&config);
                    // Validated before the key is made: the name becomes a directory name.
                    file.load()?.apply(&change)?;
                    let data_dir = &config.static_config.data_dir;
                    moxide_web::dkim::generate_all(data_dir, &spec.name, now_secs)?;
                    change_offline(&config, &change)?;
                    println!("domain {domain} added; publish these DNS records:");
                    let records =
                        moxide_web::api::dns_records(data_dir, &spec, &config.static_config.hostname);
                    print_records(&serde_json::to_value(records)?);
                }
            }
        }
        DomainCommand::Rm { config, domain } => {
            let config = Config::load(&config)?;
            match control::target(&config.static_config.data_dir)? {
                Target::Server(socket) => {
                    control::call(
                        &socket,
                        "DELETE",
                        &format!("/api/v0/admin/domains/{}", segment(&domain)),
                        None,
                    )?;
                }
                Target::Offline(_lock) => {
                    change_offline(&config, &DirectoryChange::RemoveDomain(domain.clone()))?
                }
            }
            println!("domain {domain} removed");
        }
        DomainCommand::List { config } => {
            let config = Config::load(&config)?;
            for name in config.domains.domains.keys() {
                println!("{name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_records(records: &Value) {
    for record in records.as_array().into_iter().flatten() {
        println!(
            "  {} {} {}",
            record["name"].as_str().unwrap_or(""),
            record["type"].as_str().unwrap_or(""),
            record["value"].as_str().unwrap_or("")
        );
    }
}

/// `moxide setadminpassword`.
pub(crate) fn set_admin_password(config: &Path) -> Result<ExitCode, Error> {
    let config = Config::load(config)?;
    let target = control::target(&config.static_config.data_dir)?;
    let password = moxide_runtime::terminal::read_secret_line("admin password: ")?;
    if password.is_empty() {
        return Err("empty password on standard input".into());
    }
    match target {
        Target::Server(socket) => {
            control::call(
                &socket,
                "PUT",
                "/api/v0/admin/password",
                Some(&json!({ "password": password.as_str() })),
            )?;
        }
        Target::Offline(_lock) => {
            moxide_web::AdminStore::open(&config.static_config.data_dir)?.set_password(password.as_str())?;
        }
    }
    println!("admin password set");
    Ok(ExitCode::SUCCESS)
}

/// `config tlspubkey add|rm` beside a running server: through its API. `None`: no
/// server runs (the caller does the work offline).
pub(crate) fn tls_pubkey_through_server(command: &TlsPubkeyCommand) -> Result<Option<ExitCode>, Error> {
    let config_path = match command {
        TlsPubkeyCommand::Add { config, .. } | TlsPubkeyCommand::Rm { config, .. } => config,
        TlsPubkeyCommand::List { .. } => return Ok(None),
    };
    let config = Config::load(config_path)?;
    let Target::Server(socket) = control::target(&config.static_config.data_dir)? else { return Ok(None) };
    match command {
        TlsPubkeyCommand::Add { account, certificate, name, login_address, no_imap_preauth, .. } => {
            let bytes =
                std::fs::read(certificate).map_err(|e| format!("reading {}: {e}", certificate.display()))?;
            let body = json!({
                "certificate": pem(&bytes),
                "name": name,
                "login_address": login_address,
                "no_imap_preauth": no_imap_preauth,
            });
            let path = format!("/api/v0/admin/accounts/{}/tlspubkeys", segment(account));
            let key = control::call(&socket, "POST", &path, Some(&body))?;
            println!("{} added for account {account}", key["fingerprint"].as_str().unwrap_or(""));
        }
        TlsPubkeyCommand::Rm { account, fingerprint, .. } => {
            let path =
                format!("/api/v0/admin/accounts/{}/tlspubkeys/{}", segment(account), segment(fingerprint));
            control::call(&socket, "DELETE", &path, None)?;
            println!("{fingerprint} removed");
        }
        TlsPubkeyCommand::List { .. } => return Ok(None),
    }
    Ok(Some(ExitCode::SUCCESS))
}

/// A certificate file as PEM (DER files are wrapped).
fn pem(bytes: &[u8]) -> String {
    use base64::Engine as _;
    if bytes.starts_with(b"-----") {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> =
        encoded.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}
