//! URLAUTH (RFC 4467), the storage side of GENURLAUTH, RESETKEY and URLFETCH: keys are
//! made from the system random source and stored through the account actor; URLFETCH
//! resolves through [`crate::urlauth::resolve_auth_url`] and writes the response out
//! while the message file is open, so the bytes go from the file to the socket
//! (sendfile on plaintext, bounded reads through TLS) and are never held whole.

use moxide_protocols::imap::ResponseCode;
use moxide_protocols::imap::server::{Answer, CommandError, Session, UrlContent};
use moxide_protocols::imap::url::AuthUrl;
use ring::rand::SecureRandom as _;

use super::facts::account_error;
use super::session::Conn;
use crate::urlauth::{UrlRequester, resolve_auth_url};

impl Conn {
    /// GENURLAUTH's key for `mailbox`, after checking that `user` is this account.
    pub(crate) async fn urlauth_key(&self, user: &str, mailbox: String) -> Answer {
        let (account, _) = match self.account_store() {
            Ok(pair) => pair,
            Err(error) => return Answer::Failed(error),
        };
        if crate::auth::account_for_login(&self.node, user).as_deref() != Some(&*account) {
            return Answer::Failed(CommandError::no(ResponseCode::NoPerm, "URL names another user"));
        }
        let mut fresh = [0u8; moxide_storage::URLAUTH_KEY_BYTES];
        if ring::rand::SystemRandom::new().fill(&mut fresh).is_err() {
            tracing::error!("urlauth: the system random source failed");
            return Answer::Failed(CommandError::Internal);
        }
        match self.node.urlauth_key(&account, mailbox, fresh).await {
            Ok(key) => Answer::UrlAuthKey(key.to_vec()),
            Err(error) => Answer::Failed(account_error(error)),
        }
    }

    /// RESETKEY.
    pub(crate) async fn reset_urlauth_keys(&self, mailbox: Option<String>) -> Answer {
        let (account, _) = match self.account_store() {
            Ok(pair) => pair,
            Err(error) => return Answer::Failed(error),
        };
        match self.node.reset_urlauth_keys(&account, mailbox).await {
            Ok(()) => Answer::Done,
            Err(error) => Answer::Failed(account_error(error)),
        }
    }

    /// One URLFETCH URL: resolved, answered, and the output written before the file is
    /// let go.
    pub(crate) async fn urlfetch(&mut self, session: &mut Session, url: &AuthUrl) -> std::io::Result<()> {
        let answer = match self.account_store() {
            Ok((account, _)) => {
                let now_secs = crate::clock::now_unix_ms().div_euclid(1000);
                match resolve_auth_url(&self.node, url, UrlRequester::Imap(&account), now_secs).await {
                    Ok(Some(resolved)) => {
                        self.files = vec![(resolved.message, resolved.file)];
                        Answer::UrlFetched(Some(UrlContent {
                            file: resolved.message,
                            pieces: resolved.pieces,
                        }))
                    }
                    Ok(None) => Answer::UrlFetched(None),
                    Err(error) => Answer::Failed(error),
                }
            }
            Err(error) => Answer::Failed(error),
        };
        session.answer(answer);
        let written = self.write_out(session).await;
        self.files.clear();
        written
    }
}
