//! `moxide export` and `moxide import`: an account's mailboxes as an archive on standard
//! output, and an archive into an account. Export goes through the running server's
//! control socket (the body streamed, chunked) or, with no server, reads the account's
//! store itself under the data directory's lock; import needs the server (messages are
//! stored by the account's actor) and polls its progress until it ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use moxide_storage::{AccountStore, DataDir};
use moxide_web::export::{Exporter, parse_query};

use crate::Error;
use crate::admin::segment;
use crate::config::Config;
use crate::control::{self, Target};

/// Longest response head line the CLI accepts from the server.
const HEAD_LINE_BYTES_MAX: u64 = 8 * 1024;

/// How often the CLI asks for an import's progress.
const IMPORT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// `moxide export ACCOUNT --format ... --archive ...`.
pub(crate) fn export(config: &Path, account: &str, format: &str, archive: &str) -> Result<ExitCode, Error> {
    let config = Config::load(config)?;
    let query = format!("format={format}&archive={archive}");
    let (format, archive) = parse_query(&query)?;
    let mut stdout = std::io::stdout().lock();
    match control::target(&config.static_config.data_dir)? {
        Target::Server(socket) => {
            let mut stream = control::connect(&socket)?;
            // No answer timeout: tar's first pass over a big mbox mailbox sends nothing for
            // a while; a server that goes away closes the socket.
            stream.set_read_timeout(None)?;
            let path = format!("/api/v0/admin/accounts/{}/export?{query}", segment(account));
            let head = format!("GET {path} HTTP/1.1\r\nHost: moxide\r\nConnection: close\r\n\r\n");
            stream.write_all(head.as_bytes())?;
            copy_response(BufReader::new(stream), &mut stdout)?;
        }
        Target::Offline(_lock) => {
            let spec = crate::config::directory_spec(&config.domains);
            if !spec.accounts.iter().any(|a| *a.name == *account) {
                return Err(format!("no account {account:?}").into());
            }
            let data = DataDir::open(&config.static_config.data_dir)?;
            let store = AccountStore::open(&data, account, &config.store_options())?;
            let mut exporter = Exporter::new(Arc::new(store), format, archive)?;
            while let Some(piece) = exporter.step()? {
                stdout.write_all(&piece)?;
            }
        }
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Copies a response body to `out` (chunked or sized); an error status is the server's
/// message; a body cut short is an error.
fn copy_response(mut input: impl BufRead, out: &mut impl Write) -> Result<(), Error> {
    let mut line = String::new();
    read_line(&mut input, &mut line)?;
    let status: u16 =
        line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("malformed status line")?;
    let (mut chunked, mut length) = (false, None::<u64>);
    loop {
        read_line(&mut input, &mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
                "content-length" => length = value.trim().parse().ok(),
                _ => {}
            }
        }
    }
    if status >= 400 {
        let mut body = Vec::new();
        input.take(64 * 1024).read_to_end(&mut body)?;
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        return Err(value["message"].as_str().unwrap_or("request refused").to_string().into());
    }
    if !chunked {
        let copied = std::io::copy(&mut input.take(length.unwrap_or(u64::MAX)), out)?;
        return match length {
            Some(length) if copied != length => Err("the server's answer ended early".into()),
            _ => Ok(()),
        };
    }
    loop {
        read_line(&mut input, &mut line)?;
        let size_text = line.trim_end().split(';').next().unwrap_or("");
        let size =
            u64::from_str_radix(size_text.trim(), 16).map_err(|_| "the export ended early (server error)")?;
        if size == 0 {
            return Ok(());
        }
        let copied = std::io::copy(&mut input.by_ref().take(size), out)?;
        if copied != size {
            return Err("the export ended early (server error)".into());
        }
        read_line(&mut input, &mut line)?;
    }
}

fn read_line(input: &mut impl BufRead, line: &mut String) -> Result<(), Error> {
    line.clear();
    if input.take(HEAD_LINE_BYTES_MAX).read_line(line)? == 0 {
        return Err("the server's answer ended early".into());
    }
    Ok(())
}

/// `moxide import ACCOUNT FILE`.
pub(crate) fn import(config: &Path, account: &str, mailbox: &str, file: &Path) -> Result<ExitCode, Error> {
    let config = Config::load(config)?;
    let socket = match control::target(&config.static_config.data_dir)? {
        Target::Server(socket) => socket,
        Target::Offline(_) => {
            return Err(
                "import stores messages through the running server: start it (moxide serve) first".into()
            );
        }
    };
    let mut input = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let size = input.metadata()?.len();
    let mut stream = control::connect(&socket)?;
    let path = format!("/api/v0/admin/accounts/{}/import?mailbox={}", segment(account), segment(mailbox));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: moxide\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
    );
    stream.write_all(head.as_bytes())?;
    // A refusal (413) may come before the whole file is sent, and the write then fails:
    // the server's answer says why, so it is read either way.
    let sent = std::io::copy(&mut input, &mut stream);
    let started = control::read_answer(stream)?;
    sent?;
    let id = started["id"].as_str().ok_or("the server gave no import id")?.to_string();
    eprintln!("import {id} started ({size} bytes)");
    loop {
        std::thread::sleep(IMPORT_POLL_INTERVAL);
        let status = control::call(
            &socket,
            "GET",
            &format!("/api/v0/admin/accounts/{}/import/{id}", segment(account)),
            None,
        )?;
        if status["state"] == "running" {
            continue;
        }
        println!(
            "import {id}: {}; {} messages stored, {} already there, {} mailboxes created, {} errors",
            status["state"].as_str().unwrap_or("?"),
            status["messages"],
            status["skipped"],
            status["mailboxes_created"],
            status["errors"]
        );
        for message in status["error_messages"].as_array().into_iter().flatten() {
            println!("  {}", message.as_str().unwrap_or(""));
        }
        if let Some(reason) = status["reason"].as_str() {
            return Err(reason.to_string().into());
        }
        return Ok(if status["errors"].as_u64() == Some(0) { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
}
