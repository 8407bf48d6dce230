//! URLAUTH URLs (RFC 4467) resolved against the store, for URLFETCH on IMAP and BURL on
//! submission (RFC 4468, `smtp::session::burl`): [`resolve_auth_url`] finds the account
//! the URL's user names, checks the URL with its mailbox's access key ([`urlauth_allows`]: MAC in
//! constant time, expiry, access identifier against the fetcher), and returns the open
//! message file with the pieces the URL names ([`url_pieces`], FETCH's section code).
//! The caller streams the pieces (file ranges and small prefix bytes); nothing here
//! reads the message body.
//!
//! Every way a URL can fail (unknown user, mailbox, key, MAC, expiry, access, UIDVALIDITY,
//! message, section) is the same `Ok(None)`: RFC 4467 §6 answers them all with `NIL`,
//! and a client must not learn which check it failed.

use std::fs::File;
use std::sync::Arc;

use moxide_protocols::imap::server::{CommandError, UrlPiece, url_pieces};
use moxide_protocols::imap::url::{AuthUrl, UrlFetcher, urlauth_allows};
use moxide_protocols::mime::MessageSummary;
use moxide_storage::{AccountStore, MessageInfo, StorageError, Uid};

use crate::node::Node;

/// Who resolves a URLAUTH URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRequester<'a> {
    /// An IMAP session logged in to this account (URLFETCH).
    Imap(&'a str),
    /// The submission server sending for this account (BURL).
    Submit(&'a str),
}

/// A URL resolved: the open message file and what of it (and of its delivery prefix)
/// the URL names, in order.
#[derive(Debug)]
pub struct ResolvedUrl {
    /// The message's id in its account (a name for the file in output queues).
    pub message: u64,
    /// The message file, open.
    pub file: Arc<File>,
    /// The bytes: file ranges and small byte pieces.
    pub pieces: Vec<UrlPiece>,
}

/// Resolves `url` for `requester` at `now_secs` (see the module doc). `Err` only for
/// our own failures (storage, a panicked helper).
pub async fn resolve_auth_url(
    node: &Node,
    url: &AuthUrl,
    requester: UrlRequester<'_>,
    now_secs: i64,
) -> Result<Option<ResolvedUrl>, CommandError> {
    let Some(user) = url.message.user.as_deref() else { return Ok(None) };
    let Some(owner) = crate::auth::account_for_login(node, user) else { return Ok(None) };
    let store = open_store(node, &owner).await?;
    let (key, found) = match store.read(|view| lookup(view, url)) {
        Ok(Some(found)) => found,
        Ok(None) => return Ok(None),
        Err(error) => return Err(crate::imap::storage_error(error)),
    };
    let (account, is_submit) = match requester {
        UrlRequester::Imap(account) => (account, false),
        UrlRequester::Submit(account) => (account, true),
    };
    let is_user = |name: &str| crate::auth::account_for_login(node, name).as_deref() == Some(account);
    let fetcher = if is_submit { UrlFetcher::Submit(&is_user) } else { UrlFetcher::Imap(&is_user) };
    if !urlauth_allows(url, &key, now_secs, fetcher) {
        return Ok(None);
    }
    let Some((info, stored)) = found else { return Ok(None) };
    let (file, summary) = open_with_summary(&store, &info, url.message.section.is_some(), stored).await?;
    let pieces = url_pieces(
        &info.prefix,
        info.size,
        summary.as_ref(),
        url.message.section.as_ref(),
        url.message.partial,
    )?;
    Ok(pieces.map(|pieces| ResolvedUrl { message: info.id.0, file, pieces }))
}

/// The mailbox's key (`None`: no such mailbox or no key) and, when the UIDVALIDITY
/// matches and the message exists, its record and stored summary.
#[allow(clippy::type_complexity)]
fn lookup(
    view: &moxide_storage::ReadView<'_>,
    url: &AuthUrl,
) -> Result<
    Option<([u8; moxide_storage::URLAUTH_KEY_BYTES], Option<(MessageInfo, Option<Vec<u8>>)>)>,
    StorageError,
> {
    let Some(mailbox) = view.mailbox_by_name(&url.message.mailbox)? else { return Ok(None) };
    let Some(key) = view.urlauth_key(mailbox.id)? else { return Ok(None) };
    if url.message.uidvalidity.is_some_and(|uidvalidity| uidvalidity != mailbox.uidvalidity.0) {
        return Ok(Some((key, None)));
    }
    let Some(info) = view.message_by_uid(mailbox.id, Uid(url.message.uid))? else {
        return Ok(Some((key, None)));
    };
    let stored =
        if url.message.section.is_some() { view.summary(info.id)?.map(<[u8]>::to_vec) } else { None };
    Ok(Some((key, Some((info, stored)))))
}

async fn open_store(node: &Node, account: &Arc<str>) -> Result<Arc<AccountStore>, CommandError> {
    let stores = Arc::clone(node.stores());
    let name = account.to_string();
    match moxide_runtime::offload(move || stores.get(&name)).await {
        Ok(Ok(store)) => Ok(store),
        Ok(Err(error)) => Err(crate::imap::storage_error(error)),
        Err(panic) => {
            tracing::error!(%panic, "urlauth: opening an account store panicked");
            Err(CommandError::Internal)
        }
    }
}

/// Opens the message file on a helper thread and, for a section, decodes its summary
/// there (or computes it from the file for a message stored without one). Shared with
/// CATENATE's URL parts (`imap::catenate`).
pub(crate) async fn open_with_summary(
    store: &Arc<AccountStore>,
    info: &MessageInfo,
    needs_summary: bool,
    stored: Option<Vec<u8>>,
) -> Result<(Arc<File>, Option<MessageSummary>), CommandError> {
    let (opening, id, size) = (Arc::clone(store), info.id, info.size);
    let opened = moxide_runtime::offload(move || {
        let file = opening.open_message_file(id, size)?;
        let summary = if needs_summary {
            let summary = crate::summary::summary_or_file(stored.as_deref(), &file)
                .map_err(|source| StorageError::Io { path: opening.message_path(id), source })?;
            Some(summary)
        } else {
            None
        };
        Ok::<_, StorageError>((Arc::new(file), summary))
    })
    .await;
    match opened {
        Ok(Ok(opened)) => Ok(opened),
        Ok(Err(error)) => Err(crate::imap::storage_error(error)),
        Err(panic) => {
            tracing::error!(%panic, "opening a message a URL names panicked");
            Err(CommandError::Internal)
        }
    }
}
