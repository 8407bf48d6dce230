//! Shared pieces of the integration tests: start the real `moxide` binary on loopback with
//! a kernel-chosen port, a minimal SMTP client on std sockets, and reading what the server
//! stored straight from its data directory (after it stopped).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use moxide_storage::{AccountStore, DataDir, MessageInfo, StoreOptions};

pub mod crashfs;

/// The sending server's domains file in the outbound tests: alice@example.org.
pub const SENDER_DOMAINS: &str = r#"
postmaster_account = "alice"
[domains."example.org"]
[accounts.alice]
addresses = ["alice@example.org"]
"#;

/// The receiving server's domains file in the outbound tests: bob@remote.example.
pub const RECEIVER_DOMAINS: &str = r#"
postmaster_account = "bob"
[domains."remote.example"]
[accounts.bob]
addresses = ["bob@remote.example"]
"#;

/// The password the tests set for their accounts.
pub const PASSWORD: &str = "correct horse battery";

/// How long a server may take to print "ready" (a debug build on a loaded 2-core box).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `moxide localserve`.
pub struct Server {
    child: Option<Child>,
    pub dir: PathBuf,
    pub smtp: SocketAddr,
    pub imap: Option<SocketAddr>,
    /// Every listener printed at startup: ("smtp" | "submission" | "submissions" |
    /// "imap" | "imaps", address).
    pub listeners: Vec<(String, SocketAddr)>,
    stdout_lines: Vec<String>,
}

impl Server {
    /// Starts `moxide localserve --dir <dir> --smtp-port 0 --cores <cores>`.
    pub fn start(dir: &Path, cores: usize) -> Server {
        Self::start_with(dir, cores, &[])
    }

    pub fn start_with(dir: &Path, cores: usize, env: &[(&str, &str)]) -> Server {
        let dir_arg = dir.display().to_string();
        let cores_arg = cores.to_string();
        let mut args = vec!["localserve", "--dir", &dir_arg, "--cores", &cores_arg];
        for port in [
            "--smtp-port",
            "--submission-port",
            "--submissions-port",
            "--imap-port",
            "--imaps-port",
            "--http-port",
        ] {
            args.extend([port, "0"]);
        }
        Self::start_args(dir, &args, env)
    }

    /// Starts the binary with `args`; `dir` holds its log (`server.log`).
    pub fn start_args(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::start_args_in(None, dir, args, env)
    }

    /// As [`Server::start_args`], in working directory `cwd` (default: the test's).
    pub fn start_args_in(cwd: Option<&Path>, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("server.log")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_moxide"));
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(log));
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start moxide");
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut stdout_lines = Vec::new();
        let mut smtp = None;
        let mut imap = None;
        let mut listeners = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match lines_rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    panic!("server did not become ready; stdout {stdout_lines:?}; log:\n{}", read_log(dir));
                }
            };
            if let Some(address) = line.strip_prefix("moxide: listening smtp ") {
                smtp = Some(address.parse().unwrap());
            }
            if let Some(address) = line.strip_prefix("moxide: listening imap ") {
                imap = Some(address.parse().unwrap());
            }
            if let Some((name, address)) =
                line.strip_prefix("moxide: listening ").and_then(|l| l.split_once(' '))
            {
                listeners.push((name.to_string(), address.parse().unwrap()));
            }
            let ready = line == "moxide: ready";
            stdout_lines.push(line);
            if ready {
                break;
            }
        }
        Server {
            child: Some(child),
            dir: dir.to_path_buf(),
            smtp: smtp.expect("smtp address printed"),
            imap,
            listeners,
            stdout_lines,
        }
    }

    /// The address of the listener printed as `name`.
    pub fn listener(&self, name: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {name} listener"))
    }

    pub fn stdout(&self) -> &[String] {
        &self.stdout_lines
    }

    /// SIGKILL, as a crash or power cut would (no cleanup runs).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Sends SIGTERM (a service manager's stop) and waits up to `timeout` for the process
    /// to exit; returns its exit status (`None`: still running at the timeout, then
    /// killed) and how long it took.
    pub fn terminate(&mut self, timeout: Duration) -> (Option<std::process::ExitStatus>, Duration) {
        self.signal("TERM");
        let started = Instant::now();
        let status = self.wait_exit(timeout);
        (status, started.elapsed())
    }

    /// Sends a signal by name (`TERM`, `INT`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        // The shell's builtin: a fresh Debian may have no /bin/kill (procps).
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -{name} {}", self.pid()))
            .status()
            .expect("sh -c kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits up to `timeout` for the process to exit by itself; kills it past that.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    pub fn log(&self) -> String {
        read_log(&self.dir)
    }

    /// Waits (up to 90 s) until `needle` appears `count` times in the log.
    pub fn wait_for_log(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.log().matches(needle).count() < count {
            assert!(Instant::now() < deadline, "not {count}× {needle:?} in the log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// One SMTP reply: code and text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// What test clients sent, for checking a store after a crash: every message a client
/// started to send (id -> exact bytes) and the ids that got `250` after their data.
#[derive(Default)]
pub struct Ledger {
    pub sent: HashMap<String, Vec<u8>>,
    pub acknowledged: HashSet<String>,
}

impl Ledger {
    /// One transaction of `message` (test id `id`) over `client`, recorded as sent
    /// before and as acknowledged after its `250`. False when the connection failed (the
    /// server died under it); any other reply is a test failure.
    pub fn deliver(
        ledger: &Mutex<Ledger>,
        client: &mut Client,
        (from, to): (&str, &[&str]),
        id: String,
        message: &[u8],
    ) -> bool {
        ledger.lock().unwrap().sent.insert(id.clone(), message.to_vec());
        match client.deliver(from, to, message) {
            Ok(reply) if reply.code == 250 => {
                ledger.lock().unwrap().acknowledged.insert(id);
                true
            }
            Ok(reply) => panic!("{id}: unexpected reply {reply:?}"),
            Err(_) => false,
        }
    }
}

/// A small blocking SMTP client for tests (raw enough to pipeline and misbehave).
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// The underlying socket (to set timeouts or shut down one direction).
    pub fn socket(&self) -> &TcpStream {
        &self.writer
    }

    pub fn connect(address: SocketAddr) -> std::io::Result<Client> {
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(10))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        Ok(Client { reader: BufReader::new(stream), writer })
    }

    /// One line as received, CRLF removed (for IMAP, or anything line-based).
    pub fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes)
    }

    pub fn reply(&mut self) -> std::io::Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.len() < 3 {
                return Err(std::io::Error::other(format!("short reply line {line:?}")));
            }
            let code: u16 =
                line[..3].parse().map_err(|_| std::io::Error::other(format!("bad reply {line:?}")))?;
            lines.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, lines });
            }
        }
    }

    pub fn command(&mut self, line: &str) -> std::io::Result<Reply> {
        self.send(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    /// Greeting + EHLO.
    pub fn hello(&mut self) -> std::io::Result<Reply> {
        let greeting = self.reply()?;
        assert_eq!(greeting.code, 220, "{greeting:?}");
        self.command("EHLO client.example")
    }

    /// One transaction with DATA; `message` is the raw message (CRLF lines). Returns the
    /// final reply to the message.
    pub fn deliver(&mut self, from: &str, to: &[&str], message: &[u8]) -> std::io::Result<Reply> {
        let reply = self.command(&format!("MAIL FROM:<{from}>"))?;
        if reply.code != 250 {
            return Ok(reply);
        }
        for rcpt in to {
            let reply = self.command(&format!("RCPT TO:<{rcpt}>"))?;
            if reply.code != 250 {
                return Ok(reply);
            }
        }
        let reply = self.command("DATA")?;
        if reply.code != 354 {
            return Ok(reply);
        }
        let mut wire = Vec::new();
        moxide_protocols::smtp::dot_stuff(message, &mut wire);
        self.send(&wire)?;
        self.reply()
    }
}

/// A stored message: its record and the full bytes as served (prefix + file).
#[derive(Debug)]
pub struct Stored {
    pub info: MessageInfo,
    pub file: Vec<u8>,
}

/// Reads every message of an account's Inbox from a stopped server's data dir
/// (`<dir>/data`).
pub fn stored_messages(dir: &Path, account: &str) -> Vec<Stored> {
    stored_messages_in(dir, account, "INBOX")
}

/// Reads every message of one of an account's mailboxes from a stopped server's data dir.
pub fn stored_messages_in(dir: &Path, account: &str, mailbox: &str) -> Vec<Stored> {
    let data = DataDir::open(dir.join("data")).unwrap();
    let store = AccountStore::open(&data, account, &StoreOptions::default()).unwrap();
    let infos = store
        .read(|view| {
            let found = view.mailbox_by_name(mailbox)?.expect("mailbox exists");
            view.messages(found.id, moxide_storage::Uid(1), moxide_storage::Uid(u32::MAX))
        })
        .unwrap();
    infos
        .into_iter()
        .map(|info| {
            let mut file = Vec::new();
            store.open_message_file(info.id, info.size).unwrap().read_to_end(&mut file).unwrap();
            Stored { info, file }
        })
        .collect()
}

/// Runs `moxide verifydata` on a stopped server's data dir; returns (success, output).
pub fn verifydata(dir: &Path) -> (bool, String) {
    let output =
        Command::new(env!("CARGO_BIN_EXE_moxide")).arg("verifydata").arg(dir.join("data")).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// A deterministic pseudo-random generator (xorshift64*), seedable for replay.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// Seed from the environment variable `name`, or from the clock (printed for replay).
    pub fn from_env_or_time(name: &str) -> (Rng, u64) {
        let seed = std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        (Rng::new(seed), seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A test message whose body is determined by `id`, so a stored copy can be checked byte
/// for byte. `size` is roughly the body size.
pub fn message_for(id: &str, size: usize) -> Vec<u8> {
    let mut message = format!(
        "From: <sender@example.org>\r\nTo: <mox@localhost>\r\nSubject: test {id}\r\nMessage-ID: <{id}@test>\r\n\r\n"
    )
    .into_bytes();
    let mut line_number = 0usize;
    while message.len() < size {
        // Lines starting with a dot exercise transparency; the id makes content unique.
        let line = format!(
            "{}{id} line {line_number} {}\r\n",
            if line_number.is_multiple_of(7) { "." } else { "" },
            "x".repeat(line_number % 60)
        );
        message.extend_from_slice(line.as_bytes());
        line_number += 1;
    }
    message
}

/// The `Message-ID` local part of a stored test message (the id given to `message_for`).
pub fn message_id_of(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let start = text.find("Message-ID: <")? + "Message-ID: <".len();
    let end = text[start..].find("@test>")? + start;
    Some(text[start..end].to_string())
}

/// Writes a `serve` configuration in `dir`: `moxide.toml` (host mx.example.org, data in
/// `data`, 2 cores unpinned, `limits` as the `[limits]` table's lines, `listeners` as
/// (protocol, extra TOML lines) on 127.0.0.1:0) and `domains.toml` with `domains`.
/// Returns the path of `moxide.toml`.
pub fn write_serve_config(dir: &Path, limits: &str, listeners: &[(&str, &str)], domains: &str) -> PathBuf {
    std::fs::write(dir.join("domains.toml"), domains).unwrap();
    let mut text = String::from(
        "hostname = \"mx.example.org\"\ndata_dir = \"data\"\ndomains_file = \"domains.toml\"\ncores = 2\npin_cores = false\n",
    );
    text.push_str(&format!("[limits]\n{limits}\n"));
    for (protocol, extra) in listeners {
        text.push_str(&format!(
            "[[listeners]]\nprotocol = \"{protocol}\"\naddress = \"127.0.0.1:0\"\n{extra}\n"
        ));
    }
    let path = dir.join("moxide.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Sets `account`'s password with `moxide setaccountpassword` (the server must not run).
pub fn set_password(config: &Path, account: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["setaccountpassword", "--config"])
        .arg(config)
        .arg(account)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// `tests/dns_server.py` (dnslib) serving a zone file on a kernel-chosen loopback port,
/// UDP and TCP; it stops when this is dropped (its standard input closes).
pub struct DnsServer {
    child: Child,
    pub address: SocketAddr,
    /// Every question asked, one `name TYPE` line each.
    pub log: PathBuf,
}

impl DnsServer {
    pub fn start(zone: &Path) -> DnsServer {
        DnsServer::start_with(zone, false)
    }

    /// Serves `zone`; `authentic`: every answer has the AD bit (DNSSEC validated).
    pub fn start_with(zone: &Path, authentic: bool) -> DnsServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dns_server.py");
        let log = zone.with_extension("queries");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(zone)
            .arg(&log)
            .env("DNS_AD", if authentic { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/dns_server.py (scripts/test installs dnslib)");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let port: u16 = line
            .strip_prefix("port ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("dns_server.py did not start (dnslib installed?): {line:?}"));
        DnsServer { child, address: SocketAddr::from(([127, 0, 0, 1], port)), log }
    }

    /// The questions asked so far.
    pub fn queries(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().map(str::to_string).collect()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        if self.child.wait_timeout_or_kill(Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

trait WaitTimeout {
    fn wait_timeout_or_kill(&mut self, timeout: Duration) -> Option<std::process::ExitStatus>;
}

impl WaitTimeout for Child {
    fn wait_timeout_or_kill(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Submits one message through `server`'s submission listener with Python's smtplib (AUTH
/// as `user`), from `user` to `to`. The body starts with a line that needs dot-stuffing.
pub fn submit_with_smtplib(server: &Server, user: &str, password: &str, to: &str, id: &str) {
    let port = server.listener("submission").port();
    let script = format!(
        r#"
import smtplib
s = smtplib.SMTP("127.0.0.1", {port}, timeout=30)
s.ehlo("client.example")
s.login("{user}", "{password}")
msg = "From: {user}\r\nTo: {to}\r\nSubject: submitted\r\nMessage-ID: <{id}>\r\n\r\n.a line with a dot\r\nhello over the queue\r\n"
refused = s.sendmail("{user}", ["{to}"], msg)
assert not refused, refused
s.quit()
"#
    );
    let output = std::process::Command::new("python3").arg("-c").arg(script).output().unwrap();
    assert!(
        output.status.success(),
        "smtplib: {}{}\nlog:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
}

/// Runs `tests/clients/<script>` with Python against the server's IMAP listener as
/// `mox@localhost` (the test account every `Server` has) and returns what it printed;
/// panics with its output when it fails.
#[allow(dead_code)]
pub fn run_imap_client_script(server: &Server, script: &str) -> String {
    let port = server.imap.expect("imap listener printed").port().to_string();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(script);
    let output = std::process::Command::new("python3")
        .arg(path)
        .args(["127.0.0.1", &port, "mox@localhost", "moxmoxmox"])
        .output()
        .expect("python3 is installed (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{script} failed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Runs openssl in `dir` (test PKI: private CAs and the certificates they issue).
pub fn openssl(args: &[&str], dir: &Path) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A private CA (`<name>.pem`, `<name>.key`) in `dir`.
pub fn make_ca(dir: &Path, name: &str) {
    let key = format!("{name}.key");
    let pem = format!("{name}.pem");
    let subject = format!("/CN={name}");
    openssl(
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject, "-keyout",
            &key, "-out", &pem,
        ],
        dir,
    );
}

/// A certificate for `host` issued by CA `ca`: `<host>.pem` (the certificate, then the
/// CA's) and `<host>.key`.
pub fn issue(dir: &Path, ca: &str, host: &str) {
    let san = format!("subjectAltName=DNS:{host}");
    let subject = format!("/CN={host}");
    let key = format!("{host}.key");
    let csr = format!("{host}.csr");
    let leaf = format!("{host}.leaf.pem");
    openssl(
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", &subject, "-addext", &san, "-keyout",
            &key, "-out", &csr,
        ],
        dir,
    );
    let ca_pem = format!("{ca}.pem");
    let ca_key = format!("{ca}.key");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-copy_extensions",
            "copy",
            "-out",
            &leaf,
        ],
        dir,
    );
    let chain = [std::fs::read(dir.join(&leaf)).unwrap(), std::fs::read(dir.join(&ca_pem)).unwrap()].concat();
    std::fs::write(dir.join(format!("{host}.pem")), chain).unwrap();
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with(field)).unwrap_or_else(|| panic!("no {field}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs `work` and returns its result and how far the process's peak resident set rose
/// above its resident set before it, in bytes.
pub fn rss_growth<T>(pid: u32, work: impl FnOnce() -> T) -> (T, u64) {
    // "5" resets the peak (VmHWM) to the current resident set (proc(5), Linux 4.0).
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let before = status_kib(pid, "VmRSS:");
    let result = work();
    let peak = status_kib(pid, "VmHWM:");
    (result, peak.saturating_sub(before) * 1024)
}

/// Runs a `moxide` CLI verb with `input` on its standard input (none: /dev/null).
pub fn moxide_cli(args: &[&str], input: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Sends a raw IMAP `command` (whole, literals included) and reads to the line starting
/// `tag `; returns the untagged lines (at most 4 KiB each, the rest dropped), the tagged
/// line, and the octets read. Memory stays bounded however much the server sends.
pub fn imap_command(stream: &mut TcpStream, tag: &str, command: &[u8]) -> (Vec<String>, String, usize) {
    stream.write_all(command).unwrap();
    let mut line = Vec::new();
    let mut untagged = Vec::new();
    let mut total = 0;
    let mut buffer = [0u8; 65536];
    loop {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "connection closed");
        total += n;
        for &byte in &buffer[..n] {
            if byte != b'\n' {
                if line.len() < 4096 {
                    line.push(byte);
                }
                continue;
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            line.clear();
            if text.starts_with(&format!("{tag} ")) {
                return (untagged, text, total);
            }
            if text.starts_with("* ") {
                untagged.push(text);
            }
        }
    }
}
