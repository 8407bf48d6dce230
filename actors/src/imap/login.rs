//! Getting in: the greeting (with PREAUTH for a registered TLS client key, RFC 9051
//! §7.1.4), capabilities per state, STARTTLS (RFC 9051 §6.2.1), LOGIN and AUTHENTICATE
//! (RFC 9051 §6.2.2, SASL-IR of RFC 4959) through the shared authenticator.
//!
//! Before TLS on a listener that does not allow plaintext passwords, LOGIN is disabled
//! (LOGINDISABLED) and the password mechanisms are not offered; SCRAM and CRAM-MD5, which
//! never send the password, still are.

use std::sync::Arc;

use base64::Engine as _;
use moxide_protocols::imap::{
    CommandReader, ReadMode, ResponseCode, Status, Tag, write_continuation, write_tagged,
    write_untagged_status,
};
use moxide_protocols::sasl::Mechanism;
use moxide_runtime::Stream;

use super::CAPABILITIES;
use super::session::{CommandError, CommandResult, Done, Login, Session};
use crate::auth::{
    AuthConnection, AuthFailure, AuthProgress, Authenticated, Authenticator, offered_mechanisms,
    registered_key,
};

/// An AUTHENTICATE exchange waiting for the client.
pub(crate) struct SaslState {
    tag: Tag,
    authenticator: Authenticator,
    /// SCRAM: logged in once the client acknowledged the server's final message.
    pending: Option<Authenticated>,
}

impl Session {
    fn auth_connection(&self) -> AuthConnection {
        let stream = self.io.stream.as_ref();
        AuthConnection {
            ip: self.peer.ip(),
            tls: stream.and_then(Stream::tls_info),
            channel_binding: stream.and_then(Stream::channel_binding),
            plaintext_allowed: self.settings.plaintext_auth,
        }
    }

    fn is_tls(&self) -> bool {
        self.io.stream.as_ref().is_some_and(Stream::is_tls)
    }

    /// The capability list for the current state (RFC 9051 §7.2.2).
    pub(crate) fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = CAPABILITIES.iter().map(|c| (*c).to_string()).collect();
        caps.push(format!("APPENDLIMIT={}", self.settings.append_limit()));
        if self.login.is_some() {
            return caps;
        }
        if self.settings.tls.is_some() && !self.is_tls() {
            caps.push("STARTTLS".into());
        }
        if !self.is_tls() && !self.settings.plaintext_auth {
            caps.push("LOGINDISABLED".into());
        }
        let connection = self.auth_connection();
        let mechanisms = offered_mechanisms(&connection, self.settings.auth.global.is_some());
        if !mechanisms.is_empty() {
            caps.push("SASL-IR".into());
        }
        caps.extend(mechanisms.iter().map(|m| format!("AUTH={}", m.name())));
        caps
    }

    /// `* OK` greeting, or `* PREAUTH` when the TLS client certificate's key is registered
    /// for an account and the registration allows it.
    pub(crate) async fn greet(&mut self) {
        if let Some(done) = self.preauth().await {
            self.login = Some(done);
            let code = ResponseCode::Capability(self.capabilities());
            let text =
                format!("{} moxide IMAP ready, logged in by TLS client certificate", self.settings.hostname);
            write_untagged_status(self.out.buf(), Status::PreAuth, Some(&code), &text);
            return;
        }
        let code = ResponseCode::Capability(self.capabilities());
        let text = format!("{} moxide IMAP ready", self.settings.hostname);
        write_untagged_status(self.out.buf(), Status::Ok, Some(&code), &text);
    }

    async fn preauth(&self) -> Option<Login> {
        let key = self.auth_connection().tls?.client_spki_sha256?;
        let global = self.settings.auth.global.as_ref()?;
        let registered = registered_key(global, key).await?;
        if registered.no_imap_preauth {
            return None;
        }
        let account = crate::auth::account_for_login(&self.node, &registered.login_address)?;
        if *account != *registered.account {
            return None;
        }
        let store = self.open_store(&account).await.ok()?;
        tracing::info!(peer = %self.peer, %account, "imap preauth by TLS client key");
        Some(Login { account, store })
    }

    async fn open_store(
        &self,
        account: &Arc<str>,
    ) -> Result<Arc<moxide_storage::AccountStore>, CommandError> {
        let stores = Arc::clone(self.node.stores());
        let name = account.to_string();
        moxide_runtime::offload(move || stores.get(&name))
            .await
            .map_err(|panic| CommandError::Internal(panic.to_string()))?
            .map_err(CommandError::from)
    }

    /// STARTTLS: refused after login, without TLS, with TLS already on, and when the client
    /// pipelined anything after it (the command-injection attack: nothing sent in plaintext
    /// may be read as if it came over TLS).
    pub(crate) async fn starttls(&mut self, tag: Tag, reader: &mut CommandReader) -> std::io::Result<()> {
        let refusal = if self.login.is_some() {
            Some("STARTTLS only before login")
        } else if self.is_tls() {
            Some("TLS is already active")
        } else if self.settings.tls.is_none() {
            Some("STARTTLS is not available on this listener")
        } else {
            None
        };
        if let Some(text) = refusal {
            self.finish(&tag, Err(CommandError::Bad(text.into())));
            return Ok(());
        }
        if self.io.start < self.io.end {
            tracing::info!(peer = %self.peer, "pipelined data after STARTTLS; closing");
            write_tagged(
                self.out.buf(),
                &tag,
                Status::Bad,
                None,
                "no commands may follow STARTTLS before the handshake",
            );
            self.closing = true;
            return Ok(());
        }
        write_tagged(self.out.buf(), &tag, Status::Ok, None, "begin TLS negotiation now");
        self.flush().await?;
        let (Some(plain), Some(acceptor)) = (self.io.stream.take(), self.settings.tls.clone()) else {
            return Ok(());
        };
        match plain.start_tls(&acceptor).await {
            Ok(tls) => {
                self.io.stream = Some(tls);
                // RFC 9051 §6.2.1: forget anything learned before the handshake.
                *reader = CommandReader::new(self.settings.reader.clone());
                self.enabled = Default::default();
                Ok(())
            }
            Err(error) => {
                tracing::debug!(peer = %self.peer, %error, "starttls handshake failed");
                Err(std::io::Error::other(error.to_string()))
            }
        }
    }

    /// LOGIN (RFC 9051 §6.2.3): the password checked like SASL PLAIN, through the same
    /// limiter and delays.
    pub(crate) async fn login(&mut self, username: &str, password: &str) -> CommandResult {
        if self.login.is_some() {
            return Err(CommandError::Bad("already logged in".into()));
        }
        if !self.is_tls() && !self.settings.plaintext_auth {
            return Err(CommandError::No(
                Some(ResponseCode::PrivacyRequired),
                "LOGIN only over TLS (STARTTLS first)".into(),
            ));
        }
        let mut initial = Vec::with_capacity(username.len() + password.len() + 2);
        initial.push(0);
        initial.extend_from_slice(username.as_bytes());
        initial.push(0);
        initial.extend_from_slice(password.as_bytes());
        let connection = self.auth_connection();
        let hostname = self.settings.hostname.clone();
        let mut authenticator = Authenticator::new(
            self.node.clone(),
            Arc::clone(&self.settings.auth),
            &connection,
            Mechanism::Plain,
            &hostname,
        )
        .map_err(|failure| failure_error(&failure))?;
        match authenticator.start(Some(&initial)).await {
            AuthProgress::Success(done, _) => self.logged_in(done).await,
            AuthProgress::Failure(failure) => Err(failure_error(&failure)),
            AuthProgress::Challenge(_) => Err(CommandError::Internal("PLAIN asked for more".into())),
        }
    }

    async fn logged_in(&mut self, done: Authenticated) -> CommandResult {
        let store = self.open_store(&done.account).await?;
        tracing::info!(peer = %self.peer, account = %done.account, "imap login");
        self.login = Some(Login { account: done.account, store });
        let code = ResponseCode::Capability(self.capabilities());
        Ok(Done { code: Some(code), text: "logged in".into() })
    }

    /// AUTHENTICATE with any offered mechanism; SASL-IR initial responses accepted.
    pub(crate) async fn authenticate(
        &mut self,
        tag: Tag,
        mechanism: &str,
        initial: Option<Vec<u8>>,
        reader: &mut CommandReader,
    ) {
        if self.login.is_some() {
            self.finish(&tag, Err(CommandError::Bad("already logged in".into())));
            return;
        }
        let Some(mechanism) = Mechanism::from_name(mechanism) else {
            self.finish(
                &tag,
                Err(CommandError::No(Some(ResponseCode::Cannot), "unsupported mechanism".into())),
            );
            return;
        };
        let connection = self.auth_connection();
        let hostname = self.settings.hostname.clone();
        let authenticator = match Authenticator::new(
            self.node.clone(),
            Arc::clone(&self.settings.auth),
            &connection,
            mechanism,
            &hostname,
        ) {
            Ok(authenticator) => authenticator,
            Err(failure) => {
                self.finish(&tag, Err(failure_error(&failure)));
                return;
            }
        };
        let mut state = SaslState { tag, authenticator, pending: None };
        let progress = state.authenticator.start(initial.as_deref()).await;
        self.sasl_progress(state, progress, reader).await;
    }

    /// The client's answer to a `+` challenge (or `*` to cancel).
    pub(crate) async fn sasl_response(&mut self, response: Option<Vec<u8>>, reader: &mut CommandReader) {
        let Some(mut state) = self.sasl.take() else {
            reader.set_mode(ReadMode::Command);
            return;
        };
        let Some(response) = response else {
            reader.set_mode(ReadMode::Command);
            self.finish(&state.tag, Err(CommandError::Bad("authentication cancelled".into())));
            return;
        };
        if let Some(done) = state.pending.take() {
            reader.set_mode(ReadMode::Command);
            let result = if response.is_empty() {
                self.logged_in(done).await
            } else {
                Err(CommandError::Bad("expected an empty response".into()))
            };
            self.finish(&state.tag, result);
            return;
        }
        let progress = state.authenticator.respond(&response).await;
        self.sasl_progress(state, progress, reader).await;
    }

    async fn sasl_progress(
        &mut self,
        mut state: SaslState,
        progress: AuthProgress,
        reader: &mut CommandReader,
    ) {
        match progress {
            AuthProgress::Challenge(challenge) => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(challenge);
                write_continuation(self.out.buf(), &encoded);
                reader.set_mode(ReadMode::SaslResponse);
                self.sasl = Some(state);
            }
            AuthProgress::Success(done, Some(final_message)) => {
                // RFC 9051 §6.2.2: server data with success goes in a last challenge; the
                // client answers with an empty line.
                let encoded = base64::engine::general_purpose::STANDARD.encode(final_message);
                write_continuation(self.out.buf(), &encoded);
                reader.set_mode(ReadMode::SaslResponse);
                state.pending = Some(done);
                self.sasl = Some(state);
            }
            AuthProgress::Success(done, None) => {
                reader.set_mode(ReadMode::Command);
                let result = self.logged_in(done).await;
                self.finish(&state.tag, result);
            }
            AuthProgress::Failure(failure) => {
                reader.set_mode(ReadMode::Command);
                self.finish(&state.tag, Err(failure_error(&failure)));
            }
        }
    }
}

/// The IMAP answer for a failed authentication (RFC 9051 §7.1 response codes).
fn failure_error(failure: &AuthFailure) -> CommandError {
    match failure {
        AuthFailure::BadCredentials => {
            CommandError::No(Some(ResponseCode::AuthenticationFailed), "invalid user name or password".into())
        }
        AuthFailure::RateLimited => CommandError::No(
            Some(ResponseCode::Unavailable),
            "too many authentication failures from your network; try again later".into(),
        ),
        AuthFailure::MechanismUnavailable => CommandError::No(
            Some(ResponseCode::PrivacyRequired),
            "mechanism not available on this connection".into(),
        ),
        AuthFailure::Malformed => CommandError::Bad("malformed authentication exchange".into()),
        AuthFailure::Temporary => {
            CommandError::No(Some(ResponseCode::Unavailable), "temporary authentication failure".into())
        }
    }
}
