//! `moxide localserve`: a complete server on loopback with no configuration to write, for
//! trying moxide and for testing tools against it. Compatible with mox's localserve:
//! SMTP on 1025, account `mox` with address `mox@localhost` and password `moxmoxmox`,
//! and every `*@localhost` delivered to it.
//!
//! Listeners, all on loopback: SMTP 1025 (STARTTLS), submission 1587 (STARTTLS; plaintext
//! login allowed, loopback) and 1465 (TLS), IMAP 1143 (STARTTLS) and 1993 (TLS), HTTP 1080
//! (admin API with password `moxadmin`, account API, metrics), with a
//! self-signed certificate made on first start in `<dir>/config/tls/`. Submitted mail to
//! any address is delivered to the test account, as mox's localserve does.
//!
//! Static settings come from the command line. Domains and accounts are read from
//! `<dir>/config/domains.toml`, written with the defaults on first start so they can be
//! edited; data lives in `<dir>/data`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use moxide_storage::{AccountStore, DataDir, DataDirLock, StoreOptions};

use crate::config::{
    CertificatePaths, Config, DnsConfig, Limits, Listener, ListenerProtocol, ListenerTls, QueueConfig,
    StaticConfig, TlsConfig,
};

/// The test account, as in mox.
pub(crate) const ACCOUNT: &str = "mox";
/// Its address.
pub(crate) const ADDRESS: &str = "mox@localhost";
/// Its password, set on first start.
pub(crate) const PASSWORD: &str = "moxmoxmox";
/// SMTP port, as in mox's localserve.
pub(crate) const SMTP_PORT: u16 = 1025;
/// Submission port with STARTTLS (plaintext login allowed: loopback), as in mox's localserve.
pub(crate) const SUBMISSION_PORT: u16 = 1587;
/// Submission port with implicit TLS, as in mox's localserve.
pub(crate) const SUBMISSIONS_PORT: u16 = 1465;
/// IMAP port, as in mox's localserve.
pub(crate) const IMAP_PORT: u16 = 1143;
/// IMAP port with implicit TLS, as in mox's localserve.
pub(crate) const IMAPS_PORT: u16 = 1993;
/// HTTP port (admin and account API, metrics), as mox's localserve's web port.
pub(crate) const HTTP_PORT: u16 = 1080;
/// The admin password, set on first start (as mox's localserve's `moxadmin`).
pub(crate) const ADMIN_PASSWORD: &str = "moxadmin";

const DOMAINS_TOML: &str = r#"# moxide localserve: domains and accounts. Written on first start; edit freely.
postmaster_account = "mox"

[domains.localhost]
localpart_separators = ["+"]

[accounts.mox]
# "@localhost" is the catch-all: every address at localhost delivers here.
addresses = ["mox@localhost", "@localhost"]
"#;

/// Command-line choices for localserve (the `moxide localserve` flags).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Options {
    /// Directory for configuration and data; created if missing.
    #[arg(long, default_value = "moxide-localserve")]
    pub(crate) dir: PathBuf,
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) ip: IpAddr,
    /// SMTP port (0: let the kernel pick; the port is printed).
    #[arg(long, default_value_t = SMTP_PORT)]
    pub(crate) smtp_port: u16,
    /// Submission port with STARTTLS.
    #[arg(long, default_value_t = SUBMISSION_PORT)]
    pub(crate) submission_port: u16,
    /// Submission port with implicit TLS.
    #[arg(long, default_value_t = SUBMISSIONS_PORT)]
    pub(crate) submissions_port: u16,
    /// IMAP port (0: let the kernel pick; the port is printed).
    #[arg(long, default_value_t = IMAP_PORT)]
    pub(crate) imap_port: u16,
    /// IMAP port with implicit TLS.
    #[arg(long, default_value_t = IMAPS_PORT)]
    pub(crate) imaps_port: u16,
    /// HTTP port: admin and account API, metrics (0: let the kernel pick).
    #[arg(long, default_value_t = HTTP_PORT)]
    pub(crate) http_port: u16,
    /// Client address exempt from the per-IP rate limits (repeatable; loopback is not
    /// exempt by default).
    #[arg(long = "ratelimit-exempt")]
    pub(crate) ratelimit_exempt: Vec<IpAddr>,
    /// Executors to run (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    pub(crate) cores: usize,
    /// DNS resolver (`IP:port`, repeatable) for checking incoming mail (SPF, DKIM, DMARC,
    /// iprev, ARC). Without one localserve makes no lookups and the checks say `none`.
    #[arg(long = "dns-resolver")]
    pub(crate) dns_resolvers: Vec<SocketAddr>,
}

/// What `prepare` hands the server: the configuration and the data directory's lock,
/// taken before anything in the directory was written.
pub(crate) struct Prepared {
    /// The configuration to run.
    pub(crate) config: Config,
    /// Held for the life of the server.
    pub(crate) lock: DataDirLock,
    /// `--dir`, made absolute.
    pub(crate) dir: PathBuf,
}

/// Creates the directory layout and default domains file if missing, sets the test
/// account's password if it has none, and returns the configuration to run.
///
/// `--dir` is made absolute here, once: every path after this point is absolute, so the
/// working directory matters only to how `--dir` itself is read (relative, absolute, a
/// symlink or a name with spaces all work), and the reference config written in
/// `<dir>/config/moxide.toml` holds paths relative to itself.
pub(crate) fn prepare(options: &Options) -> Result<Prepared, Box<dyn std::error::Error>> {
    if !options.ip.is_loopback() {
        return Err(format!("localserve binds loopback addresses only, not {}", options.ip).into());
    }
    let dir = std::path::absolute(&options.dir)
        .map_err(|e| format!("resolving --dir {}: {e}", options.dir.display()))?;
    let data_dir = dir.join("data");
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
    // Before anything else is written: a second localserve on this directory stops here.
    let lock = DataDirLock::acquire(&data_dir)?;
    let config_dir = dir.join("config");
    std::fs::create_dir_all(&config_dir).map_err(|e| format!("creating {}: {e}", config_dir.display()))?;
    let domains_file = config_dir.join("domains.toml");
    if !domains_file.exists() {
        std::fs::write(&domains_file, DOMAINS_TOML)
            .map_err(|e| format!("writing {}: {e}", domains_file.display()))?;
    }
    // A self-signed certificate, made once and kept: clients can pin it.
    let tls_dir = config_dir.join("tls");
    let names = ["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let certificate = moxide_runtime::tls::ensure_self_signed(&tls_dir, &names)?;
    let at = |port: u16| SocketAddr::new(options.ip, port);
    let listener =
        |protocol, port, tls| Listener { protocol, address: at(port), tls, plaintext_auth: Some(true) };
    let static_config = StaticConfig {
        hostname: "localhost".to_string(),
        data_dir,
        domains_file: domains_file.clone(),
        cores: options.cores,
        pin_cores: false,
        limits: Limits { ratelimit_exempt: options.ratelimit_exempt.clone(), ..Limits::default() },
        tls: TlsConfig {
            certificates: vec![CertificatePaths { chain: certificate.chain, key: certificate.key }],
        },
        inbound_checks: true,
        over_quota_permanent: false,
        dns: DnsConfig {
            resolvers: options.dns_resolvers.clone(),
            use_resolv_conf: false,
            ..DnsConfig::default()
        },
        listeners: vec![
            listener(ListenerProtocol::Smtp, options.smtp_port, ListenerTls::StartTls),
            listener(ListenerProtocol::Submission, options.submission_port, ListenerTls::StartTls),
            listener(ListenerProtocol::Submission, options.submissions_port, ListenerTls::Implicit),
            listener(ListenerProtocol::Imap, options.imap_port, ListenerTls::StartTls),
            listener(ListenerProtocol::Imap, options.imaps_port, ListenerTls::Implicit),
            listener(ListenerProtocol::Http, options.http_port, ListenerTls::None),
        ],
        // Not used: localserve has no queue (everything is delivered locally).
        queue: QueueConfig::default(),
    };
    let static_path = config_dir.join("moxide.toml");
    // Written for reference (what `serve --config` would need), with paths relative to the
    // file so it stays valid wherever `serve` is started and when the directory moves.
    // localserve reads it back, so the round trip is exercised on every start.
    let text = toml::to_string(&relative_to(&static_config, &config_dir))?;
    let header = "# What `moxide localserve` runs with, for reference; it is rewritten on each start.\n";
    std::fs::write(&static_path, format!("{header}{text}"))
        .map_err(|e| format!("writing {}: {e}", static_path.display()))?;
    let config = Config::load(&static_path)?;
    ensure_password(&config)?;
    let admin = moxide_web::AdminStore::open(&config.static_config.data_dir)?;
    if !admin.has_password() {
        admin.set_password(ADMIN_PASSWORD)?;
    }
    Ok(Prepared { config, lock, dir })
}

/// `config` with every path under `base`'s parent made relative to `base` (the config
/// directory): `data_dir` becomes `../data`, the certificate files `tls/...`.
fn relative_to(config: &StaticConfig, base: &Path) -> StaticConfig {
    let strip = |path: &Path| -> PathBuf {
        match path.strip_prefix(base) {
            Ok(relative) => relative.to_path_buf(),
            Err(_) => match base.parent().map(|parent| path.strip_prefix(parent)) {
                Some(Ok(relative)) => Path::new("..").join(relative),
                _ => path.to_path_buf(),
            },
        }
    };
    let certificates = config
        .tls
        .certificates
        .iter()
        .map(|c| CertificatePaths { chain: strip(&c.chain), key: strip(&c.key) })
        .collect();
    StaticConfig {
        data_dir: strip(&config.data_dir),
        domains_file: strip(&config.domains_file),
        tls: TlsConfig { certificates },
        ..config.clone()
    }
}

fn ensure_password(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    if !config.directory.has_account(ACCOUNT) {
        return Ok(());
    }
    let data = DataDir::open(&config.static_config.data_dir)?;
    let store = AccountStore::open(&data, ACCOUNT, &StoreOptions::default())?;
    // Derived secrets for every mechanism (SCRAM, CRAM-MD5), not only the argon2id hash.
    let complete = store.credentials()?.is_some_and(|c| c.scram_sha256.is_some() && c.cram_md5.is_some());
    if !complete {
        store.set_credentials(&moxide_actors::auth::derive_credentials(PASSWORD)?)?;
    }
    Ok(())
}
