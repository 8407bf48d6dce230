//! Live configuration: the domains and accounts (the directory) changed while the server
//! runs, persisted, and swapped into every core.
//!
//! The domains file stays the source of truth (not moved into LMDB): operators keep
//! editing one readable file, backups and version control keep working, and the CLI can
//! make the same change with no server running. A change through the API is applied to
//! the in-memory [`DirectorySpec`], validated as a whole, written to the file atomically
//! (temporary file, fsync, rename, fsync of the directory), and only then published to
//! every core (`Node::publish_directory`). A reload (SIGHUP, `moxide config reload`, the
//! API) reads the file, validates it the same way, and publishes it; an invalid file
//! changes nothing and the error says why.
//!
//! Invariant: changes are serialized by one mutex (held only on a helper thread, around
//! validate + write); each gets the next generation, and a core never goes back to an
//! older generation, so concurrent changes from different cores end in the newest.

use std::sync::{Arc, Mutex, PoisonError};

use moxide_actors::{Directory, DirectoryChange, DirectoryError, DirectorySpec, Node};

use crate::error::ApiError;

/// Reading and writing the domains file (its format belongs to the binary).
pub trait DomainsFile: Send + Sync {
    /// Reads and parses the file.
    fn read(&self) -> Result<DirectorySpec, String>;
    /// Replaces the file atomically with `spec`.
    fn write(&self, spec: &DirectorySpec) -> Result<(), String>;
}

/// Why a change or reload was not made.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The change or the file is invalid; nothing changed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The file could not be read or written; nothing changed.
    #[error("domains file: {0}")]
    File(String),
}

struct State {
    generation: u64,
    spec: DirectorySpec,
}

/// The directory's specification as the running server holds it.
pub struct LiveConfig {
    state: Mutex<State>,
    file: Box<dyn DomainsFile>,
}

/// What a reload found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reloaded {
    /// Whether the file differed from what was running.
    pub changed: bool,
    /// Domains now configured.
    pub domains: usize,
    /// Accounts now configured.
    pub accounts: usize,
}

impl LiveConfig {
    /// Starts from `spec` (what the server started with: generation 0 on every core).
    pub fn new(spec: DirectorySpec, file: Box<dyn DomainsFile>) -> LiveConfig {
        LiveConfig { state: Mutex::new(State { generation: 0, spec }), file }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every mutation replaces the whole state after the file write succeeded.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current specification.
    pub fn spec(&self) -> DirectorySpec {
        self.lock().spec.clone()
    }

    /// Blocking (writes the file): makes `change`, returns its generation and directory.
    pub fn change(&self, change: &DirectoryChange) -> Result<(u64, Directory), LiveError> {
        let mut state = self.lock();
        let (spec, directory) = state.spec.apply(change)?;
        self.file.write(&spec).map_err(LiveError::File)?;
        state.generation += 1;
        state.spec = spec;
        Ok((state.generation, directory))
    }

    /// Blocking (reads the file): validates the file and makes it current.
    pub fn reload(&self) -> Result<(u64, Directory, Reloaded), LiveError> {
        let spec = self.file.read().map_err(LiveError::File)?;
        let directory = spec.build()?;
        let mut state = self.lock();
        let changed = state.spec != spec;
        state.generation += 1;
        let reloaded = Reloaded { changed, domains: spec.domains.len(), accounts: spec.accounts.len() };
        state.spec = spec;
        Ok((state.generation, directory, reloaded))
    }
}

/// Makes `change` and publishes it to every core; returns once every core has it.
pub async fn apply(node: &Node, live: &Arc<LiveConfig>, change: DirectoryChange) -> Result<(), ApiError> {
    let config = Arc::clone(live);
    let made = moxide_runtime::offload(move || config.change(&change)).await.map_err(ApiError::internal)?;
    let (generation, directory) = made.map_err(live_error)?;
    publish(node, generation, directory).await
}

/// Reloads the domains file and publishes it to every core.
pub async fn reload(node: &Node, live: &Arc<LiveConfig>) -> Result<Reloaded, ApiError> {
    let config = Arc::clone(live);
    let read = moxide_runtime::offload(move || config.reload()).await.map_err(ApiError::internal)?;
    let (generation, directory, reloaded) = read.map_err(live_error)?;
    publish(node, generation, directory).await?;
    tracing::info!(
        changed = reloaded.changed,
        domains = reloaded.domains,
        accounts = reloaded.accounts,
        "configuration reloaded"
    );
    Ok(reloaded)
}

async fn publish(node: &Node, generation: u64, directory: Directory) -> Result<(), ApiError> {
    node.publish_directory(generation, Arc::new(directory))
        .await
        .map_err(|_| ApiError::unavailable("a core could not be reached (shutting down?)"))
}

fn live_error(error: LiveError) -> ApiError {
    match error {
        LiveError::Directory(error) => error.into(),
        LiveError::File(message) => {
            tracing::warn!(%message, "domains file not usable; nothing changed");
            ApiError::bad_request(format!("domains file: {message}; nothing changed"))
        }
    }
}
