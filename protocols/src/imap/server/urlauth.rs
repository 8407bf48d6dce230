//! URLAUTH (RFC 4467): GENURLAUTH signs message URLs for another party, RESETKEY
//! invalidates what was signed, URLFETCH returns what signed URLs name.
//!
//! The session checks syntax and what it can know alone (our host, the `INTERNAL`
//! mechanism, no `anonymous` access); the caller holds the keys and the messages:
//! - GENURLAUTH asks for each URL's mailbox key ([`Event::UrlAuthKey`]; the caller checks
//!   that the URL's user is the logged-in one) and computes the MAC itself
//!   ([`urlauth_mac`]); all URLs or none (RFC 4467 §5: the command fails as a whole);
//! - RESETKEY is one write ([`Event::ResetUrlAuthKeys`]);
//! - URLFETCH asks the caller to resolve one URL at a time ([`Event::UrlFetch`]: verify
//!   the MAC in constant time, the expiry, that the access identifier allows this user,
//!   then find the bytes with [`super::url_pieces`]), and writes one `* URLFETCH`
//!   response as the answers come: an invalid, expired or unauthorized URL is `NIL`
//!   (RFC 4467 §6), never an error that would tell which check failed. The bytes go out
//!   as file ranges the caller sends itself: nothing holds a message whole.
//!
//! URLFETCH data is an IMAP `literal` (RFC 4467 §6 `nstring`). RFC 5524's `literal8`
//! form is only for clients that ask with `URLFETCH=BINARY`, which is not offered; a
//! message stored with NUL octets (a `literal8` APPEND) is sent as stored.

use std::collections::VecDeque;

use super::error::{CommandError, Done};
use super::{Answer, Event, Job, Session, UrlPiece};
use crate::imap::response::{ResponseCode, write_string};
use crate::imap::url::{AuthUrl, URLAUTH_MECHANISM, UrlAccess, parse_auth_url, urlauth_mac};

/// Most URLs in one GENURLAUTH or URLFETCH: the command line limit bounds them already;
/// 100 is far beyond what a client sends (one per message part to forward) and bounds
/// the results GENURLAUTH keeps until its response.
pub const URLAUTH_URLS_MAX: usize = 100;

/// A URLFETCH URL resolved by the caller: its bytes, as pieces of the message file the
/// caller named `file` (kept open until the output is written) and bytes made here.
#[derive(Debug)]
pub struct UrlContent {
    /// The caller's name for the open message file (as [`super::FetchMessage::file`]).
    pub file: u64,
    /// The bytes, in order.
    pub pieces: Vec<UrlPiece>,
}

/// The running GENURLAUTH or URLFETCH.
#[derive(Debug)]
pub(crate) enum UrlAuthJob {
    /// URLs still to sign, and the signed ones.
    Generate { pending: VecDeque<AuthUrl>, signed: Vec<String> },
    /// URLs still to fetch (as sent); the one being resolved is already written.
    Fetch { pending: VecDeque<String> },
}

impl Session {
    /// A response line is open across events (URLFETCH's, RFC 4467 §6: one response for
    /// all URLs): the caller must not call [`Session::notice`] until it closes, or a
    /// NOTIFY response would land inside it. Notifications wait in the caller's bounded
    /// subscription meanwhile.
    pub fn response_open(&self) -> bool {
        matches!(&self.running, Some(running) if matches!(running.job, Job::UrlAuth(UrlAuthJob::Fetch { .. })))
    }

    /// `GENURLAUTH 1*(SP url SP mechanism)` (RFC 4467 §5).
    pub(crate) fn genurlauth(&mut self, urls: Vec<(String, String)>) {
        if urls.len() > URLAUTH_URLS_MAX {
            return self.finish(Err(CommandError::bad("too many URLs")));
        }
        let mut pending = VecDeque::with_capacity(urls.len());
        for (url, mechanism) in urls {
            if !mechanism.eq_ignore_ascii_case(URLAUTH_MECHANISM) {
                return self.finish(Err(CommandError::no(ResponseCode::Cannot, "only INTERNAL URLAUTH")));
            }
            let parsed = match parse_auth_url(&url) {
                Ok(parsed) if parsed.mac.is_none() => parsed,
                Ok(_) => return self.finish(Err(bad_url(&url, "URL is authorized already"))),
                Err(error) => return self.finish(Err(bad_url(&url, error.text()))),
            };
            if let Err(why) = self.local_url(&parsed) {
                return self.finish(Err(bad_url(&url, why)));
            }
            if parsed.access == UrlAccess::Anonymous {
                return self.finish(Err(bad_url(&url, "anonymous access is not offered")));
            }
            pending.push_back(parsed);
        }
        self.next_key(pending, Vec::new());
    }

    /// Our host, and a user for the caller to check: a URL for another server is not ours
    /// to sign or fetch.
    fn local_url(&self, url: &AuthUrl) -> Result<(), &'static str> {
        match url.message.host.as_deref() {
            Some(host) if host.eq_ignore_ascii_case(&self.config.hostname) => Ok(()),
            _ => Err("URL names another server"),
        }
    }

    fn next_key(&mut self, pending: VecDeque<AuthUrl>, signed: Vec<String>) {
        let Some(url) = pending.front() else {
            let out = self.out.buf();
            out.extend_from_slice(b"* GENURLAUTH");
            for url in &signed {
                out.push(b' ');
                write_string(out, url.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            return self.finish(Ok(Done::ok("GENURLAUTH completed")));
        };
        let event = Event::UrlAuthKey {
            user: url.message.user.clone().unwrap_or_default(),
            mailbox: super::append::canonical_inbox(url.message.mailbox.clone()),
        };
        self.set_job(Job::UrlAuth(UrlAuthJob::Generate { pending, signed }));
        self.request(event, true);
    }

    pub(crate) fn urlauth_answered(&mut self, job: UrlAuthJob, answer: Answer) {
        match job {
            UrlAuthJob::Generate { mut pending, mut signed } => {
                let key = match answer {
                    Answer::UrlAuthKey(key) => key,
                    Answer::Failed(error) => return self.finish(Err(error)),
                    _ => return self.finish(Err(CommandError::Internal)),
                };
                let Some(url) = pending.pop_front() else { return self.finish(Err(CommandError::Internal)) };
                let mac = urlauth_mac(&key, &url.rump);
                signed.push(format!("{}:{URLAUTH_MECHANISM}:{mac}", url.rump));
                self.next_key(pending, signed);
            }
            UrlAuthJob::Fetch { pending } => {
                match answer {
                    Answer::UrlFetched(Some(content)) => self.write_url_content(content),
                    Answer::UrlFetched(None) => self.out.buf().extend_from_slice(b"NIL"),
                    Answer::Failed(error) => {
                        // The response line is open: close it before the tagged NO.
                        self.out.buf().extend_from_slice(b"NIL\r\n");
                        return self.finish(Err(error));
                    }
                    _ => {
                        self.out.buf().extend_from_slice(b"NIL\r\n");
                        return self.finish(Err(CommandError::Internal));
                    }
                }
                self.next_fetch(pending);
            }
        }
    }

    /// `RESETKEY [SP mailbox *(SP mechanism)]` (RFC 4467 §4).
    pub(crate) fn resetkey(&mut self, mailbox: Option<String>, mechanisms: &[String]) {
        if mechanisms.iter().any(|mechanism| !mechanism.eq_ignore_ascii_case(URLAUTH_MECHANISM)) {
            return self.finish(Err(CommandError::no(ResponseCode::Cannot, "only INTERNAL URLAUTH")));
        }
        let mailbox = mailbox.map(|name| self.mailbox_name(&name));
        self.set_job(Job::Simple("RESETKEY completed"));
        self.request(Event::ResetUrlAuthKeys { mailbox }, true);
    }

    /// `URLFETCH 1*(SP url)` (RFC 4467 §6).
    pub(crate) fn urlfetch(&mut self, urls: Vec<String>) {
        if urls.len() > URLAUTH_URLS_MAX {
            return self.finish(Err(CommandError::bad("too many URLs")));
        }
        self.out.buf().extend_from_slice(b"* URLFETCH");
        self.next_fetch(urls.into());
    }

    fn next_fetch(&mut self, mut pending: VecDeque<String>) {
        while let Some(url) = pending.pop_front() {
            let out = self.out.buf();
            out.push(b' ');
            write_string(out, url.as_bytes());
            out.push(b' ');
            let parsed = match parse_auth_url(&url) {
                Ok(parsed) => parsed,
                Err(_) => {
                    self.out.buf().extend_from_slice(b"NIL");
                    continue;
                }
            };
            let mechanism_ok =
                parsed.mac.as_ref().is_some_and(|(mechanism, _)| mechanism == URLAUTH_MECHANISM);
            if !mechanism_ok || self.local_url(&parsed).is_err() {
                self.out.buf().extend_from_slice(b"NIL");
                continue;
            }
            self.set_job(Job::UrlAuth(UrlAuthJob::Fetch { pending }));
            let mut parsed = parsed;
            parsed.message.mailbox =
                super::append::canonical_inbox(std::mem::take(&mut parsed.message.mailbox));
            self.request(Event::UrlFetch(Box::new(parsed)), true);
            return;
        }
        self.out.buf().extend_from_slice(b"\r\n");
        self.finish(Ok(Done::ok("URLFETCH completed")));
    }

    fn write_url_content(&mut self, content: UrlContent) {
        let total: u64 = content.pieces.iter().map(piece_len).sum();
        self.out.buf().extend_from_slice(format!("{{{total}}}\r\n").as_bytes());
        for piece in content.pieces {
            match piece {
                UrlPiece::Bytes(bytes) => self.out.buf().extend_from_slice(&bytes),
                UrlPiece::File(range) => self.out.file(content.file, range.start, range.end - range.start),
            }
        }
    }
}

/// `NO [BADURL url]` (RFC 4467 §5, the code of RFC 4469 §5).
fn bad_url(url: &str, why: &str) -> CommandError {
    CommandError::no(ResponseCode::BadUrl(url.to_owned()), why)
}

fn piece_len(piece: &UrlPiece) -> u64 {
    match piece {
        UrlPiece::Bytes(bytes) => bytes.len() as u64,
        UrlPiece::File(range) => range.end.saturating_sub(range.start),
    }
}
