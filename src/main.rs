//! moxide: a modern, full-featured, secure mail server.
//!
//! This binary is the command line: it parses arguments and configuration and starts the
//! server built from the workspace crates (see docs/architecture.md).

mod config;
mod localserve;
mod server;

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use moxide_storage::{AccountStore, DataDir, StoreOptions};

use crate::config::Config;
use crate::server::Server;

#[derive(Parser)]
#[command(name = "moxide", version, about = "A modern, full-featured, secure mail server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    Localserve {
        /// Directory for configuration and data; created if missing.
        #[arg(long, default_value = "moxide-localserve")]
        dir: PathBuf,
        /// Loopback address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        ip: IpAddr,
        /// SMTP port (0: let the kernel pick; the port is printed).
        #[arg(long, default_value_t = localserve::SMTP_PORT)]
        smtp_port: u16,
        /// IMAP port (0: let the kernel pick; the port is printed).
        #[arg(long, default_value_t = localserve::IMAP_PORT)]
        imap_port: u16,
        /// Executors to run (0: one per CPU).
        #[arg(long, default_value_t = 0)]
        cores: usize,
    },
    /// Prints the version.
    Version,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Sets an account's password, read from standard input (first line).
    Setaccountpassword {
        /// The static configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Account name.
        account: String,
    },
    /// Checks every account store in a data directory: index consistency, a message file of
    /// the right size for every message; lists orphan files. Exits 1 on any problem.
    Verifydata {
        /// The data directory.
        data_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Loads and checks the configuration files, then exits.
    Check {
        /// The static configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("moxide: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

type Error = Box<dyn std::error::Error>;

fn run(command: Command) -> Result<ExitCode, Error> {
    match command {
        Command::Serve { config } => {
            let config = Config::load(&config)?;
            let pin = config.static_config.pin_cores;
            start(&config, pin, None)
        }
        Command::Localserve { dir, ip, smtp_port, imap_port, cores } => {
            let options = localserve::Options { dir, ip, smtp_port, imap_port, cores };
            let config = localserve::prepare(&options)?;
            start(&config, false, Some(&options))
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
        Command::Setaccountpassword { config, account } => set_password(&config, &account),
        Command::Verifydata { data_dir } => verify_data(&data_dir),
    }
}

fn start(config: &Config, pin: bool, localserve: Option<&localserve::Options>) -> Result<ExitCode, Error> {
    let server = Server::prepare(config, pin)?;
    let mut out = std::io::stdout().lock();
    if let Some(options) = localserve {
        writeln!(out, "moxide localserve: data and config in {}", options.dir.display())?;
    }
    for (protocol, address) in &server.bound {
        writeln!(out, "moxide: listening {} {address}", protocol.name())?;
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
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err("empty password on standard input".into());
    }
    let data = DataDir::open(&config.static_config.data_dir)?;
    AccountStore::open(&data, account, &StoreOptions::default())?.set_password(password)?;
    println!("password set for account {account}");
    Ok(ExitCode::SUCCESS)
}

fn verify_data(data_dir: &Path) -> Result<ExitCode, Error> {
    let data = DataDir::open(data_dir)?;
    let mut bad = 0usize;
    for account in data.account_names()? {
        let store = AccountStore::open(&data, &account, &StoreOptions::default())?;
        let report = store.check_consistency()?;
        println!("account {account}: {} messages, {} problems", report.messages, report.problems.len());
        for problem in &report.problems {
            println!("  problem: {problem}");
        }
        // Orphans are what a crash between linking a file and committing its index entry
        // leaves (file first, index second); harmless, reused when the id is allocated again.
        for orphan in &report.orphan_files {
            println!("  orphan file (no index entry, harmless): {}", orphan.display());
        }
        if !report.problems.is_empty() {
            bad += 1;
        }
    }
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
