//! Who is calling: the admin (password or long-lived API token), an account (its own
//! password), or the control socket (the server's own user, by file permissions).
//!
//! - The admin password is an argon2id hash in `data/admin.json`; API tokens are
//!   random 256-bit secrets shown once and stored as SHA-256 hashes (a hash of a
//!   random 256-bit value needs no slow KDF), revocable by id.
//! - `POST /api/v0/login` trades a password for a session token (in memory, expires
//!   after [`SESSION_TTL`]; a restart ends every session).
//! - Every token travels in `Authorization: Bearer`. The API sets and reads no cookies,
//!   so a browser never attaches credentials to a cross-site request: CSRF has nothing
//!   to ride on.
//!
//! Invariant: no secret is stored or logged in plaintext; comparisons are of hashes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a login session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Most live sessions: a login past it first drops expired ones, then is refused (503)
/// rather than growing the table without bound.
pub const SESSIONS_MAX: usize = 10_000;

/// Most API tokens (each is checked by hash lookup; the bound keeps the file small).
pub const API_TOKENS_MAX: usize = 1000;

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// Who a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The administrator (admin session, API token, or the control socket).
    Admin,
    /// An account, for its own resources.
    Account(Arc<str>),
}

/// An API token as stored (the secret itself is never kept).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredToken {
    /// Public id, to list and revoke.
    pub id: String,
    /// What the operator called it.
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub sha256: String,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminFile {
    /// argon2id PHC string of the admin password; none: admin login disabled.
    #[serde(default)]
    password_argon2id: Option<String>,
    #[serde(default)]
    tokens: Vec<StoredToken>,
}

/// The admin's credentials (`data/admin.json`), shared by all cores.
pub struct AdminStore {
    path: PathBuf,
    state: Mutex<AdminFile>,
}

impl AdminStore {
    /// The file in `data_dir` (`admin.json`); missing means no password and no tokens.
    pub fn open(data_dir: &Path) -> Result<AdminStore, String> {
        let path = data_dir.join("admin.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => AdminFile::default(),
            Err(error) => return Err(format!("{}: {error}", path.display())),
        };
        Ok(AdminStore { path, state: Mutex::new(state) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AdminFile> {
        // Mutations write the file first and change memory only after it succeeded.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self, file: &AdminFile) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(file).map_err(|e| e.to_string())?;
        write_atomically(&self.path, &bytes, 0o600)
            .map_err(|e| format!("writing {}: {e}", self.path.display()))
    }

    /// Whether an admin password is set.
    pub fn has_password(&self) -> bool {
        self.lock().password_argon2id.is_some()
    }

    /// Sets the admin password (blocking: argon2id).
    pub fn set_password(&self, password: &str) -> Result<(), String> {
        if password.is_empty() {
            return Err("empty password".into());
        }
        let hash = moxide_storage::hash_password(password).map_err(|e| e.to_string())?;
        let mut state = self.lock();
        let next = AdminFile { password_argon2id: Some(hash), tokens: state.tokens.clone() };
        self.save(&next)?;
        *state = next;
        Ok(())
    }

    /// Checks the admin password (blocking: argon2id).
    pub fn verify_password(&self, password: &str) -> bool {
        let Some(hash) = self.lock().password_argon2id.clone() else { return false };
        moxide_storage::verify_password_hash(&hash, password).unwrap_or(false)
    }

    /// Makes a token named `name`; returns its record and the secret (shown once).
    pub fn create_token(&self, name: &str, now_ms: i64) -> Result<(StoredToken, String), String> {
        let secret = new_secret("moxide_");
        let mut id_bytes = [0u8; 8];
        moxide_runtime::random::fill(&mut id_bytes);
        let token = StoredToken {
            id: hex(&id_bytes),
            name: name.to_string(),
            sha256: hex(&sha256(&secret)),
            created_ms: now_ms,
        };
        let mut state = self.lock();
        if state.tokens.len() >= API_TOKENS_MAX {
            return Err(format!("at most {API_TOKENS_MAX} API tokens"));
        }
        let mut tokens = state.tokens.clone();
        tokens.push(token.clone());
        let next = AdminFile { password_argon2id: state.password_argon2id.clone(), tokens };
        self.save(&next)?;
        *state = next;
        Ok((token, secret))
    }

    /// Revokes token `id`; false if there is none.
    pub fn revoke_token(&self, id: &str) -> Result<bool, String> {
        let mut state = self.lock();
        let tokens: Vec<StoredToken> = state.tokens.iter().filter(|t| t.id != id).cloned().collect();
        if tokens.len() == state.tokens.len() {
            return Ok(false);
        }
        let next = AdminFile { password_argon2id: state.password_argon2id.clone(), tokens };
        self.save(&next)?;
        *state = next;
        Ok(true)
    }

    /// The tokens (without secrets).
    pub fn tokens(&self) -> Vec<StoredToken> {
        self.lock().tokens.clone()
    }

    fn token_valid(&self, secret: &str) -> bool {
        let hash = hex(&sha256(secret));
        self.lock().tokens.iter().any(|t| t.sha256 == hash)
    }
}

struct Session {
    principal: Principal,
    expires_ms: i64,
}

/// Login sessions by the SHA-256 of their token; shared by all cores.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a session; returns its token, or `None` when [`SESSIONS_MAX`] live ones exist.
    pub fn start(&self, principal: Principal, now_ms: i64) -> Option<String> {
        let secret = new_secret("session_");
        let ttl = i64::try_from(SESSION_TTL.as_millis()).unwrap_or(i64::MAX);
        let mut map = self.lock();
        if map.len() >= SESSIONS_MAX {
            map.retain(|_, session| session.expires_ms > now_ms);
            if map.len() >= SESSIONS_MAX {
                return None;
            }
        }
        map.insert(sha256(&secret), Session { principal, expires_ms: now_ms.saturating_add(ttl) });
        Some(secret)
    }

    /// Ends the session of `secret` (logout).
    pub fn end(&self, secret: &str) -> bool {
        self.lock().remove(&sha256(secret)).is_some()
    }

    /// Ends every session of an account (removed, or its password changed by the admin).
    pub fn end_account(&self, account: &str) {
        self.lock().retain(|_, s| !matches!(&s.principal, Principal::Account(a) if **a == *account));
    }

    fn principal(&self, secret: &str, now_ms: i64) -> Option<Principal> {
        let mut map = self.lock();
        let key = sha256(secret);
        match map.get(&key) {
            Some(session) if session.expires_ms > now_ms => Some(session.principal.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }
}

/// Who `Authorization: Bearer <secret>` names: a session or an API token.
pub fn principal_of(admin: &AdminStore, sessions: &Sessions, secret: &str, now_ms: i64) -> Option<Principal> {
    if let Some(principal) = sessions.principal(secret, now_ms) {
        return Some(principal);
    }
    admin.token_valid(secret).then_some(Principal::Admin)
}

fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    moxide_runtime::random::fill(&mut bytes);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `path` so that readers see the old or the new content, never a mix, and the
/// new content survives a crash once this returns: temporary file, fsync, rename,
/// fsync of the directory.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn tokens_are_stored_hashed_and_revocable() {
        let dir = tempfile::tempdir().unwrap();
        let store = AdminStore::open(dir.path()).unwrap();
        let (token, secret) = store.create_token("ci", 1).unwrap();
        let file = std::fs::read_to_string(dir.path().join("admin.json")).unwrap();
        assert!(!file.contains(&secret), "the secret is not stored");
        let sessions = Sessions::default();
        assert_eq!(principal_of(&store, &sessions, &secret, 2), Some(Principal::Admin));
        let reopened = AdminStore::open(dir.path()).unwrap();
        assert_eq!(principal_of(&reopened, &sessions, &secret, 2), Some(Principal::Admin));
        assert!(store.revoke_token(&token.id).unwrap());
        assert_eq!(principal_of(&store, &sessions, &secret, 2), None);
        assert!(!store.revoke_token(&token.id).unwrap());
    }

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::default();
        let admin = AdminStore::open(tempfile::tempdir().unwrap().path()).unwrap();
        let secret = sessions.start(Principal::Account(Arc::from("alice")), 0).unwrap();
        assert_eq!(principal_of(&admin, &sessions, &secret, 1), Some(Principal::Account(Arc::from("alice"))));
        let ttl = i64::try_from(SESSION_TTL.as_millis()).unwrap();
        assert_eq!(principal_of(&admin, &sessions, &secret, ttl), None, "expired");
        let secret = sessions.start(Principal::Account(Arc::from("alice")), 0).unwrap();
        sessions.end_account("alice");
        assert_eq!(principal_of(&admin, &sessions, &secret, 1), None);
    }
}
