//! Starting one pinned executor per core and knowing, from any task, which core it is on.
//!
//! [`run`] takes one seed value per core (listener sockets, mesh endpoints, whatever must
//! be created before the threads start and moved into them) and a per-core init function.
//! It returns when every executor has finished.

use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;

/// Helper threads per executor for blocking work when the config says 0. fsync-bound work
/// (group commits of different accounts) benefits from a few in flight per core.
pub const BLOCKING_THREADS_PER_CORE_DEFAULT: usize = 4;

/// Most executors we start; far above any machine we target, it catches a config typo
/// (`cores = 2000`) before it spawns threads.
pub const CORES_MAX: usize = 1024;

/// How the runtime is laid out over the machine.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Pin executor N to the Nth online CPU (wrapping). Tests turn it off so that several
    /// servers can share a machine without fighting over CPU 0.
    pub pin_to_cpus: bool,
    /// Helper threads per executor for [`crate::offload`]; 0 picks
    /// [`BLOCKING_THREADS_PER_CORE_DEFAULT`].
    pub blocking_threads_per_core: usize,
    /// Thread name prefix.
    pub name: String,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig { pin_to_cpus: true, blocking_threads_per_core: 0, name: "moxide".to_string() }
    }
}

/// Where a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreContext {
    /// This executor's index, `0..count`.
    pub index: usize,
    /// How many executors the runtime runs.
    pub count: usize,
}

/// Why the runtime could not start or ended badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// Zero or too many cores requested.
    #[error("cannot run {requested} executors (1..={CORES_MAX})")]
    CoreCount {
        /// What was asked for.
        requested: usize,
    },
    /// The CPU topology could not be read for pinning.
    #[error("reading the CPU topology: {0}")]
    Topology(String),
    /// An executor could not be created.
    #[error("starting executor {core}: {message}")]
    ExecutorStart {
        /// Core index.
        core: usize,
        /// The system's error text.
        message: String,
    },
    /// An executor thread panicked or its executor failed.
    #[error("executor {core} ended abnormally: {message}")]
    ExecutorFailed {
        /// Core index.
        core: usize,
        /// What happened.
        message: String,
    },
}

thread_local! {
    static CORE: Cell<Option<CoreContext>> = const { Cell::new(None) };
}

/// The core the calling thread's executor runs as, `None` outside the runtime.
pub fn current_core() -> Option<CoreContext> {
    CORE.with(Cell::get)
}

/// Online CPUs (what `cores = 0` in the config means).
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Starts one executor per seed and runs `init(core, seed)` on each; returns once every
/// executor's init future has completed (servers keep it pending until shutdown). Tasks
/// still pending on a core when its init future completes are dropped.
///
/// If an executor fails to start, the error is returned at once; executors already started
/// are left running detached (the caller is expected to exit the process).
pub fn run<S, F, Fut>(config: &RuntimeConfig, seeds: Vec<S>, init: F) -> Result<(), RuntimeError>
where
    S: Send + 'static,
    F: Fn(CoreContext, S) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + 'static,
{
    crate::memory::pin_mmap_threshold();
    let count = seeds.len();
    if count == 0 || count > CORES_MAX {
        return Err(RuntimeError::CoreCount { requested: count });
    }
    let cpus = if config.pin_to_cpus { allowed_cpu_ids()? } else { Vec::new() };
    let blocking_threads = match config.blocking_threads_per_core {
        0 => BLOCKING_THREADS_PER_CORE_DEFAULT,
        n => n,
    };
    let init = Arc::new(init);
    let mut handles = Vec::with_capacity(count);
    for (index, seed) in seeds.into_iter().enumerate() {
        let cpu = cpus.get(index % cpus.len().max(1)).copied();
        let context = CoreContext { index, count };
        let init = Arc::clone(&init);
        let name = format!("{}-{index}", config.name);
        let helper_name = format!("{}-{index}-helper", config.name);
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || -> Result<(), String> {
                if let Some(cpu) = cpu {
                    let mut set = rustix::thread::CpuSet::new();
                    set.set(cpu);
                    rustix::thread::sched_setaffinity(None, &set)
                        .map_err(|e| format!("pinning to CPU {cpu}: {e}"))?;
                }
                let pool =
                    crate::offload::Pool::start(blocking_threads, &helper_name).map_err(|e| e.to_string())?;
                crate::offload::install(pool);
                CORE.with(|core| core.set(Some(context)));
                let result = crate::scheduler::run_core(init(context, seed)).map_err(|e| e.to_string());
                CORE.with(|core| core.set(None));
                crate::offload::uninstall();
                result
            })
            .map_err(|e| RuntimeError::ExecutorStart { core: index, message: e.to_string() })?;
        handles.push(handle);
    }
    for (core, handle) in handles.into_iter().enumerate() {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(message)) => return Err(RuntimeError::ExecutorFailed { core, message }),
            Err(panic) => {
                let message = crate::offload::panic_text(panic.as_ref());
                return Err(RuntimeError::ExecutorFailed { core, message });
            }
        }
    }
    Ok(())
}

/// The CPUs this process may run on (its affinity mask), in order.
fn allowed_cpu_ids() -> Result<Vec<usize>, RuntimeError> {
    let set = rustix::thread::sched_getaffinity(None).map_err(|e| RuntimeError::Topology(e.to_string()))?;
    let ids: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU).filter(|&cpu| set.is_set(cpu)).collect();
    if ids.is_empty() {
        return Err(RuntimeError::Topology("empty CPU affinity mask".to_string()));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_core_runs_its_seed_and_knows_its_index() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        let seen_in = Arc::clone(&seen);
        run(&config, vec![10, 11, 12], move |core, seed| {
            let seen = Arc::clone(&seen_in);
            async move {
                let here = current_core().unwrap();
                assert_eq!(here, core);
                seen.lock().unwrap().push((core.index, core.count, seed));
            }
        })
        .unwrap();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, vec![(0, 3, 10), (1, 3, 11), (2, 3, 12)]);
        assert_eq!(current_core(), None);
    }

    #[test]
    fn zero_cores_is_refused() {
        let result = run(&RuntimeConfig::default(), Vec::<()>::new(), |_, ()| async {});
        assert!(matches!(result, Err(RuntimeError::CoreCount { requested: 0 })));
    }

    #[test]
    fn pinned_cores_start() {
        let config = RuntimeConfig::default();
        run(&config, vec![(); 2], |_, ()| async {}).unwrap();
    }
}
