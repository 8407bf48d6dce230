//! Progress on a terminal: a line on stderr, rewritten a few times a second, only when
//! stderr is a terminal (scripts that capture output get none of it).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the line is redrawn.
const REDRAW_INTERVAL: Duration = Duration::from_millis(250);

/// Counters the workers bump and the ticker shows.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Successful operations so far.
    pub(crate) ok: AtomicU64,
    /// Failed operations so far.
    pub(crate) errors: AtomicU64,
    /// What the run is doing now ("filling", "measuring", ...).
    phase: Mutex<&'static str>,
}

impl Progress {
    /// One success.
    pub(crate) fn ok(&self) {
        self.ok.fetch_add(1, Ordering::Relaxed);
    }

    /// `count` successes.
    pub(crate) fn ok_n(&self, count: u64) {
        self.ok.fetch_add(count, Ordering::Relaxed);
    }

    /// One failure.
    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Names the current phase and resets the counters.
    pub(crate) fn phase(&self, name: &'static str) {
        if let Ok(mut phase) = self.phase.lock() {
            *phase = name;
        }
        self.ok.store(0, Ordering::Relaxed);
        self.errors.store(0, Ordering::Relaxed);
    }

    fn line(&self, scenario: &str, started: Instant) -> String {
        let phase = self.phase.lock().map_or("", |phase| *phase);
        let ok = self.ok.load(Ordering::Relaxed);
        let errors = self.errors.load(Ordering::Relaxed);
        let seconds = started.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 { ok as f64 / seconds } else { 0.0 };
        format!("{scenario} {phase}: {ok} ok, {errors} errors, {rate:.0}/s, {seconds:.1}s")
    }
}

/// The redraw thread; stops (and clears its line) when dropped.
#[derive(Debug)]
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Starts redrawing `progress` if stderr is a terminal.
pub(crate) fn start(scenario: &'static str, progress: &Arc<Progress>) -> Option<Ticker> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (progress, stop_in) = (Arc::clone(progress), Arc::clone(&stop));
    let thread = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            let started = Instant::now();
            while !stop_in.load(Ordering::Acquire) {
                let line = progress.line(scenario, started);
                let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
                std::thread::sleep(REDRAW_INTERVAL);
            }
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        })
        .ok()?;
    Some(Ticker { stop, thread: Some(thread) })
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn line_shows_phase_and_counts() {
        let progress = Progress::default();
        progress.phase("filling");
        progress.ok();
        progress.ok();
        progress.error();
        let line = progress.line("bigbox", Instant::now());
        assert!(line.starts_with("bigbox filling: 2 ok, 1 errors"), "{line}");
        progress.phase("measuring");
        assert!(progress.line("bigbox", Instant::now()).starts_with("bigbox measuring: 0 ok, 0 errors"));
    }
}
