//! Getting in, the storage side: PREAUTH by a registered TLS client key (RFC 9051
//! §7.1.4), the STARTTLS handshake, LOGIN and AUTHENTICATE through the shared
//! authenticator (which checks passwords on a helper thread, limits failures per
//! network and delays them).

use std::sync::Arc;

use moxide_protocols::imap::ResponseCode;
use moxide_protocols::imap::server::{Answer, AuthFailure, CommandError, Session};
use moxide_protocols::sasl::Mechanism;
use moxide_runtime::Stream;

use super::session::{Conn, Login};
use crate::auth::{self, AuthConnection, AuthProgress, Authenticated, Authenticator, offered_mechanisms};

impl Conn {
    fn auth_connection(&self) -> AuthConnection {
        let stream = self.io.stream.as_ref();
        AuthConnection {
            ip: self.peer.ip(),
            tls: stream.and_then(Stream::tls_info),
            channel_binding: stream.and_then(Stream::channel_binding),
            plaintext_allowed: self.settings.plaintext_auth,
        }
    }

    /// The SASL mechanisms offered on this connection now.
    pub(crate) fn mechanisms(&self) -> Vec<String> {
        offered_mechanisms(&self.auth_connection(), self.settings.auth.global.is_some())
            .iter()
            .map(|mechanism| mechanism.name().to_owned())
            .collect()
    }

    /// Logs in by the TLS client certificate's key when it is registered for an account
    /// and the registration allows it.
    pub(crate) async fn preauth(&mut self) -> bool {
        let Some(key) = self.auth_connection().tls.and_then(|tls| tls.client_spki_sha256) else {
            return false;
        };
        let Some(global) = self.settings.auth.global.as_ref() else { return false };
        let Some(registered) = auth::registered_key(global, key).await else { return false };
        if registered.no_imap_preauth {
            return false;
        }
        let Some(account) = auth::account_for_login(&self.node, &registered.login_address) else {
            return false;
        };
        if *account != *registered.account {
            return false;
        }
        let Ok(store) = self.open_store(&account).await else { return false };
        tracing::info!(peer = %self.peer, %account, "imap preauth by TLS client key");
        self.login = Some(Login { account, store });
        true
    }

    async fn open_store(
        &self,
        account: &Arc<str>,
    ) -> Result<Arc<moxide_storage::AccountStore>, CommandError> {
        let stores = Arc::clone(self.node.stores());
        let name = account.to_string();
        match moxide_runtime::offload(move || stores.get(&name)).await {
            Ok(Ok(store)) => Ok(store),
            Ok(Err(error)) => Err(super::facts::storage_error(error)),
            Err(panic) => {
                tracing::error!(%panic, "opening an account store panicked");
                Err(CommandError::Internal)
            }
        }
    }

    /// STARTTLS: the OK is out; run the handshake on the raw socket (no plaintext
    /// buffered before it is kept: the session refused pipelined input already).
    pub(crate) async fn starttls(&mut self, session: &mut Session) -> std::io::Result<()> {
        self.io.start = self.io.end;
        let (Some(plain), Some(acceptor)) = (self.io.stream.take(), self.settings.tls.clone()) else {
            return Err(std::io::Error::other("STARTTLS without a certificate"));
        };
        match plain.start_tls(&acceptor).await {
            Ok(tls) => {
                self.io.stream = Some(tls);
                session.tls_started(self.mechanisms());
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
    pub(crate) async fn login(&mut self, username: &str, password: &str) -> Answer {
        let mut initial = Vec::with_capacity(username.len() + password.len() + 2);
        initial.push(0);
        initial.extend_from_slice(username.as_bytes());
        initial.push(0);
        initial.extend_from_slice(password.as_bytes());
        let connection = self.auth_connection();
        let hostname = self.settings.hostname.clone();
        let mut authenticator = match Authenticator::new(
            self.node.clone(),
            Arc::clone(&self.settings.auth),
            &connection,
            Mechanism::Plain,
            &hostname,
        ) {
            Ok(authenticator) => authenticator,
            Err(failure) => return Answer::AuthFailed(failure_kind(failure)),
        };
        let progress = authenticator.start(Some(&initial)).await;
        self.progress(progress).await
    }

    /// AUTHENTICATE with any offered mechanism; SASL-IR initial responses accepted.
    pub(crate) async fn authenticate(&mut self, mechanism: &str, initial: Option<Vec<u8>>) -> Answer {
        let Some(mechanism) = Mechanism::from_name(mechanism) else {
            return Answer::Failed(CommandError::no(ResponseCode::Cannot, "unsupported mechanism"));
        };
        let connection = self.auth_connection();
        let hostname = self.settings.hostname.clone();
        let mut authenticator = match Authenticator::new(
            self.node.clone(),
            Arc::clone(&self.settings.auth),
            &connection,
            mechanism,
            &hostname,
        ) {
            Ok(authenticator) => authenticator,
            Err(failure) => return Answer::AuthFailed(failure_kind(failure)),
        };
        let progress = authenticator.start(initial.as_deref()).await;
        self.sasl = Some(authenticator);
        self.progress(progress).await
    }

    /// The client's answer to a challenge.
    pub(crate) async fn auth_response(&mut self, response: &[u8]) -> Answer {
        let Some(mut authenticator) = self.sasl.take() else { return Answer::Failed(CommandError::Internal) };
        let progress = authenticator.respond(response).await;
        self.sasl = Some(authenticator);
        self.progress(progress).await
    }

    async fn progress(&mut self, progress: AuthProgress) -> Answer {
        match progress {
            AuthProgress::Challenge(challenge) => Answer::AuthChallenge(challenge),
            AuthProgress::Success(done, last) => {
                self.sasl = None;
                match self.logged_in(done).await {
                    Ok(()) => Answer::AuthSucceeded(last),
                    Err(error) => Answer::Failed(error),
                }
            }
            AuthProgress::Failure(failure) => {
                self.sasl = None;
                Answer::AuthFailed(failure_kind(failure))
            }
        }
    }

    async fn logged_in(&mut self, done: Authenticated) -> Result<(), CommandError> {
        let store = self.open_store(&done.account).await?;
        tracing::info!(peer = %self.peer, account = %done.account, "imap login");
        self.login = Some(Login { account: done.account, store });
        Ok(())
    }
}

fn failure_kind(failure: auth::AuthFailure) -> AuthFailure {
    match failure {
        auth::AuthFailure::BadCredentials => AuthFailure::BadCredentials,
        auth::AuthFailure::RateLimited => AuthFailure::RateLimited,
        auth::AuthFailure::MechanismUnavailable => AuthFailure::MechanismUnavailable,
        auth::AuthFailure::Malformed => AuthFailure::Malformed,
        auth::AuthFailure::Temporary => AuthFailure::Temporary,
    }
}
