//! moxide: a modern, full-featured, secure mail server.
//!
//! This binary is the command line: it parses arguments and configuration and starts the
//! server built from the workspace crates (see docs/architecture.md).

mod admin;
mod config;
mod control;
mod dkim_keys;
mod localserve;
mod queue_cli;
mod server;
mod transfer;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use moxide_storage::{AccountStore, DataDir, DataDirLock, GlobalStore, StoreOptions, TlsPublicKey};

use crate::config::Config;
use crate::server::Server;

/// Where the static configuration is looked for when `--config` is not given.
const DEFAULT_CONFIG: &str = "config/moxide.toml";

#[derive(Parser)]
#[command(name = "moxide", version, about = "A modern, full-featured, secure mail server")]
struct Cli {
    /// Log format on stderr: `text`, or `json` for one JSON object per line.
    #[arg(long, global = true, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server from a configuration file.
    Serve {
        /// The static configuration file (TOML).
        #[arg(long)]
        config: PathBuf,
    },
    /// Runs a complete server on loopback with no configuration (account mox, password
    /// moxmoxmox, every *@localhost delivered to it).
    Localserve(localserve::Options),
    /// Prints the version.
    Version,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Accounts: add, remove, list (through the running server when there is one).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Addresses of accounts: add, remove.
    Address {
        #[command(subcommand)]
        command: AddressCommand,
    },
    /// Aliases (mail to one address goes to several accounts): set, remove, list.
    Alias {
        #[command(subcommand)]
        command: AliasCommand,
    },
    /// Local domains: add, remove, list.
    Domain {
        #[command(subcommand)]
        command: DomainCommand,
    },
    /// Sets the admin password of the HTTP API, read from standard input.
    Setadminpassword {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Writes an archive of an account's mailboxes to standard output: mbox files or
    /// Maildir folders, in a zip or tar.gz (through the running server, or directly
    /// when none runs).
    Export {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// `mbox` (one mboxrd file per mailbox) or `maildir`.
        #[arg(long, default_value = "mbox")]
        format: String,
        /// `zip` or `tgz`.
        #[arg(long, default_value = "zip")]
        archive: String,
        /// Account name.
        account: String,
    },
    /// Imports an mbox file, or a zip or tar.gz of mbox files and Maildir folders, into an
    /// account through the running server, and waits for it to finish.
    Import {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Mailbox for a bare mbox file.
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
        /// Account name.
        account: String,
        /// The file to import.
        file: PathBuf,
    },
    /// Sets an account's password, read from standard input (first line; typed without
    /// echo on a terminal).
    Setaccountpassword {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Account name.
        account: String,
    },
    /// DNS records to publish.
    Dns {
        #[command(subcommand)]
        command: DnsCommand,
    },
    /// The outbound queue: list, show, hold, release, retry, drop, bounce; suppression
    /// lists and hold rules.
    Queue {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        #[command(subcommand)]
        command: queue_cli::QueueCommand,
    },
    /// Checks every account store in a data directory: index consistency, a message file of
    /// the right size for every message; lists orphan files (message files no index entry
    /// refers to). Exits 1 on any problem; orphans alone are not a problem.
    Verifydata {
        /// The data directory.
        data_dir: PathBuf,
        /// Moves orphan files aside to `accounts/<account>/orphans/` (after checking the
        /// index again), as the server's startup sweep does.
        #[arg(long)]
        fix: bool,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Adds an account with one address (set its password with `setaccountpassword`).
    Add {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Account name.
        account: String,
        /// Its first address.
        address: String,
    },
    /// Removes an account (its messages stay in the data directory; its password and
    /// TLS keys go).
    Rm {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Account name.
        account: String,
    },
    /// Lists accounts and their addresses.
    List {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Sets the bytes an account's messages may take (0: no limit).
    Quota {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Account name.
        account: String,
        /// Bytes; 0 removes the limit.
        bytes: u64,
    },
    /// Changes an account's settings; those not given stay as they are.
    Set {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Account name.
        account: String,
        /// Bytes its messages may take (0: no limit).
        #[arg(long)]
        quota_bytes: Option<u64>,
        /// Messages it may hold (0: no limit).
        #[arg(long)]
        quota_messages: Option<u64>,
        /// IMAP capabilities to leave out of its CAPABILITY lists, comma-separated
        /// (replaces the list; "" hides none).
        #[arg(long, value_delimiter = ',')]
        hide_imap_capabilities: Option<Vec<String>>,
        /// Messages (each recipient counted) it may queue for other domains per day.
        #[arg(long)]
        messages_per_day: Option<u32>,
        /// Recipients it never sent to before it may queue for per day.
        #[arg(long)]
        first_time_recipients_per_day: Option<u32>,
    },
}

#[derive(Subcommand)]
enum AliasCommand {
    /// Creates an alias delivering to the members (addresses of local accounts), or
    /// replaces the members of an existing one.
    Set {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The alias's address.
        address: String,
        /// Member addresses.
        #[arg(required = true)]
        members: Vec<String>,
        /// Anyone may send to the alias (without it: only members and allowed senders).
        #[arg(long)]
        public: bool,
        /// A sender outside the members who may post (an address, or @domain); repeatable.
        #[arg(long = "allow")]
        allowed_senders: Vec<String>,
    },
    /// Removes an alias.
    Rm {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The alias's address.
        address: String,
    },
    /// Lists aliases and their members.
    List {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum AddressCommand {
    /// Adds an address (or `@domain` catch-all) to an account.
    Add {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The address.
        address: String,
        /// The account.
        account: String,
    },
    /// Removes an address from whichever account has it.
    Rm {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The address.
        address: String,
    },
}

#[derive(Subcommand)]
enum DomainCommand {
    /// Adds a local domain and prints the DNS records to publish.
    Add {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Domain name.
        domain: String,
        /// A local-part separator such as `+` (repeatable).
        #[arg(long = "localpart-separator")]
        localpart_separators: Vec<char>,
    },
    /// Removes a domain no address uses.
    Rm {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Domain name.
        domain: String,
    },
    /// Lists the local domains.
    List {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum DnsCommand {
    /// Prints every record a local domain needs (MX, SPF, DMARC, DKIM keys, SRV).
    Records {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The domain.
        domain: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Loads and checks the configuration files, then exits.
    Check {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Makes the running server re-read the domains file (as SIGHUP does); an invalid
    /// file changes nothing and the error says why.
    Reload {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// TLS client certificates that log an account in without a password (SASL
    /// EXTERNAL, IMAP PREAUTH): only the certificate's public key counts, no CA.
    Tlspubkey {
        #[command(subcommand)]
        command: TlsPubkeyCommand,
    },
}

#[derive(Subcommand)]
enum TlsPubkeyCommand {
    /// Registers the public key of a certificate (PEM or DER file) for an account.
    Add {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Account name.
        account: String,
        /// Certificate file.
        certificate: PathBuf,
        /// A name for the device.
        #[arg(long, default_value = "")]
        name: String,
        /// Address the login is as (default: the account's first address).
        #[arg(long)]
        login_address: Option<String>,
        /// Don't log in with IMAP PREAUTH at connect; the client will AUTHENTICATE EXTERNAL.
        #[arg(long)]
        no_imap_preauth: bool,
    },
    /// Removes a registered key by its fingerprint (hex SHA-256 of the public key).
    Rm {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Account name.
        account: String,
        /// Fingerprint (64 hex digits), as `list` prints it.
        fingerprint: String,
    },
    /// Lists registered keys (of one account, or all).
    List {
        /// The static configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Account name.
        account: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    // Every message stored from here on gets its SORT/THREAD keys (storage sortkeys.rs).
    moxide_storage::set_sort_keys_deriver(moxide_protocols::imap::server::ordering_keys::of_summary);
    // ... and its text signature, which SEARCH BODY and TEXT filter with (textsigs.rs).
    moxide_storage::set_text_signature_deriver(moxide_actors::text_signature_of_file);
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("moxide: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Logging to stderr, filtered by `RUST_LOG` (default `info`). The `traceauth` target,
/// which may show authentication exchange details, stays off unless `RUST_LOG` names it
/// explicitly: `RUST_LOG=trace` alone never shows it.
fn init_logging(format: LogFormat) {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string());
    let mut filter = tracing_subscriber::EnvFilter::new(&directives);
    if !directives.contains("traceauth")
        && let Ok(off) = "traceauth=off".parse()
    {
        filter = filter.add_directive(off);
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
    }
}

type Error = Box<dyn std::error::Error>;

fn run(command: Command) -> Result<ExitCode, Error> {
    match command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            let lock = lock_data_dir(&config.static_config.data_dir, true)?;
            let pin = config.static_config.pin_cores;
            start(&config, lock, pin, None)
        }
        Command::Localserve(options) => {
            let prepared = localserve::prepare(&options)?;
            start(&prepared.config, prepared.lock, false, Some(&prepared.dir))
        }
        Command::Version => {
            println!("moxide {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Check { config } } => {
            let loaded = Config::load(&config)?;
            println!(
                "{}: ok ({} listeners, {} domains, {} accounts)",
                config.display(),
                loaded.static_config.listeners.len(),
                loaded.domains.domains.len(),
                loaded.domains.accounts.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Tlspubkey { command } } => tls_pubkey(command),
        Command::Config { command: ConfigCommand::Reload { config } } => {
            let config = Config::load(&config)?;
            let socket = config.static_config.data_dir.join(server::CONTROL_SOCKET);
            let result = control::call(&socket, "POST", "/api/v0/admin/config/reload", None)
                .map_err(|e| format!("reload: {e} (is the server running?)"))?;
            println!(
                "reloaded: {} domains, {} accounts{}",
                result["domains"],
                result["accounts"],
                if result["changed"] == true { "" } else { " (unchanged)" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Account { command } => admin::account(command),
        Command::Address { command } => admin::address(command),
        Command::Domain { command } => admin::domain(command),
        Command::Alias { command } => admin::alias(command),
        Command::Setadminpassword { config } => admin::set_admin_password(&config),
        Command::Export { config, format, archive, account } => {
            transfer::export(&config, &account, &format, &archive)
        }
        Command::Import { config, mailbox, account, file } => {
            transfer::import(&config, &account, &mailbox, &file)
        }
        Command::Setaccountpassword { config, account } => set_password(&config, &account),
        Command::Verifydata { data_dir, fix } => verify_data(&data_dir, fix),
        Command::Queue { config, command } => queue_cli::run(&config, command),
        Command::Dns { command: DnsCommand::Records { config, domain } } => {
            dkim_keys::print_records(&config, &domain)
        }
    }
}

/// Takes the data directory's lock before anything in it is touched (see
/// `moxide_storage::DataDirLock`). `create`: make the directory first if it is missing
/// (a server's first start); otherwise a missing directory is an error.
fn lock_data_dir(data_dir: &Path, create: bool) -> Result<DataDirLock, Error> {
    if create {
        std::fs::create_dir_all(data_dir).map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
    } else if !data_dir.is_dir() {
        return Err(format!("no data directory {}", data_dir.display()).into());
    }
    Ok(DataDirLock::acquire(data_dir)?)
}

fn start(
    config: &Config,
    lock: DataDirLock,
    pin: bool,
    localserve: Option<&Path>,
) -> Result<ExitCode, Error> {
    let catchall = localserve.map(|_| std::sync::Arc::from(localserve::ACCOUNT));
    let server = Server::prepare(config, lock, pin, catchall)?;
    let mut out = std::io::stdout().lock();
    if let Some(dir) = localserve {
        writeln!(out, "moxide localserve: data and config in {}", dir.display())?;
    }
    for (protocol, tls, address) in &server.bound {
        // "imaps"/"submissions" for implicit TLS, so tools can tell the ports apart.
        let suffix = if *tls == config::ListenerTls::Implicit { "s" } else { "" };
        writeln!(out, "moxide: listening {}{suffix} {address}", protocol.name())?;
    }
    if localserve.is_some() {
        writeln!(
            out,
            "moxide localserve: account {} with address {} (and every *@localhost), password {}",
            localserve::ACCOUNT,
            localserve::ADDRESS,
            localserve::PASSWORD
        )?;
    }
    writeln!(out, "moxide: ready")?;
    out.flush()?;
    drop(out);
    server.run()?;
    Ok(ExitCode::SUCCESS)
}

fn set_password(config: &Path, account: &str) -> Result<ExitCode, Error> {
    let config = Config::load(config)?;
    if !config.directory.has_account(account) {
        return Err(
            format!("no account {account:?} in {}", config.static_config.domains_file.display()).into()
        );
    }
    let target = control::target(&config.static_config.data_dir)?;
    let password = moxide_runtime::terminal::read_secret_line("password: ")?;
    let password = password.as_str();
    if password.is_empty() {
        return Err("empty password on standard input".into());
    }
    let _lock = match target {
        control::Target::Server(socket) => {
            let body = serde_json::json!({ "password": password });
            control::call(
                &socket,
                "PUT",
                &format!("/api/v0/admin/accounts/{}/password", admin::segment(account)),
                Some(&body),
            )?;
            println!("password set for account {account}");
            return Ok(ExitCode::SUCCESS);
        }
        control::Target::Offline(lock) => lock,
    };
    let data = DataDir::open(&config.static_config.data_dir)?;
    // argon2id for PLAIN/LOGIN, SCRAM secrets, CRAM-MD5 states: never the plaintext.
    let credentials = moxide_actors::auth::derive_credentials(password)?;
    AccountStore::open(&data, account, &StoreOptions::default())?.set_credentials(&credentials)?;
    println!("password set for account {account}");
    Ok(ExitCode::SUCCESS)
}

fn verify_data(data_dir: &Path, fix: bool) -> Result<ExitCode, Error> {
    // Opening a store may migrate it, and a running server's in-progress files would look
    // like orphans: never beside a server.
    let _lock = lock_data_dir(data_dir, false)?;
    let data = DataDir::open(data_dir)?;
    let mut bad = 0usize;
    for account in data.account_names()? {
        let store = AccountStore::open(&data, &account, &StoreOptions::default())?;
        let report = store.check_consistency()?;
        println!("account {account}: {} messages, {} problems", report.messages, report.problems.len());
        for problem in &report.problems {
            println!("  problem: {problem}");
        }
        // Orphans are what a crash (or a commit of unknown outcome) between linking a file
        // and committing its index entry leaves (file first, index second); harmless.
        for orphan in &report.orphan_files {
            println!("  orphan file (no index entry, harmless): {}", orphan.display());
        }
        if fix && !report.orphan_files.is_empty() {
            for (from, to) in store.sweep_orphans()?.moved {
                println!("  moved orphan {} to {}", from.display(), to.display());
            }
        }
        if !report.problems.is_empty() {
            bad += 1;
        }
    }
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn tls_pubkey(command: TlsPubkeyCommand) -> Result<ExitCode, Error> {
    // `write`: take the data directory's lock (add, rm); `list` only reads, beside a
    // running server if there is one (LMDB readers need no lock).
    let open = |path: &Path, write: bool| -> Result<(Config, GlobalStore, Option<DataDirLock>), Error> {
        let config = Config::load(path)?;
        let lock = if write { Some(lock_data_dir(&config.static_config.data_dir, true)?) } else { None };
        let data = DataDir::open(&config.static_config.data_dir)?;
        let global = GlobalStore::open(&data, &StoreOptions::default())?;
        Ok((config, global, lock))
    };
    if let Some(code) = admin::tls_pubkey_through_server(&command)? {
        return Ok(code);
    }
    match command {
        TlsPubkeyCommand::Add { config, account, certificate, name, login_address, no_imap_preauth } => {
            let (config, global, _lock) = open(&config, true)?;
            let login_address = match login_address {
                Some(address) => address,
                None => config
                    .domains
                    .accounts
                    .get(&account)
                    .and_then(|a| a.addresses.iter().find(|a| !a.starts_with('@')).cloned())
                    .ok_or_else(|| format!("no account {account:?} with an address"))?,
            };
            let owner =
                login_address.rsplit_once('@').map(|(local, domain)| config.directory.lookup(local, domain));
            if owner != Some(moxide_actors::Lookup::Account(std::sync::Arc::from(account.as_str()))) {
                return Err(format!("{login_address} is not an address of account {account}").into());
            }
            let bytes =
                std::fs::read(&certificate).map_err(|e| format!("reading {}: {e}", certificate.display()))?;
            let (spki, fingerprint) = moxide_runtime::tls::certificate_public_key(&bytes)?;
            let created_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            global.add_tls_public_key(&TlsPublicKey {
                fingerprint,
                account: account.clone(),
                login_address,
                name,
                no_imap_preauth,
                spki,
                created_ms,
            })?;
            println!("{} added for account {account}", hex(&fingerprint));
        }
        TlsPubkeyCommand::Rm { config, account, fingerprint } => {
            let (_, global, _lock) = open(&config, true)?;
            let bytes = unhex(&fingerprint).ok_or("a fingerprint is 64 hex digits")?;
            match global.tls_public_key(&bytes)? {
                Some(key) if key.account == account => {
                    global.remove_tls_public_key(&bytes)?;
                    println!("{fingerprint} removed");
                }
                _ => return Err(format!("no key {fingerprint} for account {account}").into()),
            }
        }
        TlsPubkeyCommand::List { config, account } => {
            let (_, global, _) = open(&config, false)?;
            for key in global.tls_public_keys(account.as_deref())? {
                println!(
                    "{} account={} login={} name={:?} imap_preauth={}",
                    hex(&key.fingerprint),
                    key.account,
                    key.login_address,
                    key.name,
                    !key.no_imap_preauth
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}
