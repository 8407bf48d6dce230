//! Server resource use read from `/proc` (Linux `proc(5)`): resident memory and CPU time
//! of the server processes named by `--server-pid` and all their descendants.
//!
//! Descendants matter because Postfix and Dovecot run a process per connection or per
//! task; moxide is one process. CPU time per process is `utime + stime + cutime +
//! cstime` from `/proc/PID/stat`: a child that ends is reaped by its parent, whose
//! `cutime`/`cstime` then hold the child's whole lifetime, so the difference of two
//! snapshots counts every process that ran in between exactly once (processes reparented
//! to init escape; server daemons reap their own children).
//!
//! A sampler thread takes a snapshot every [`SAMPLE_INTERVAL`] and keeps the peak total
//! RSS. Each process's RSS is counted in full, so pages shared between processes (a
//! forking server's code) count once per process; PSS, which splits shared pages, is read
//! from `smaps_rollup` at the start and end only, because it is expensive.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

/// How often the sampler reads `/proc`: 4 samples a second catch the peak of any phase
/// that lasts longer than a blink, and a scan of a few hundred processes costs ~1 ms.
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// Most processes followed in one tree (50k IDLE connections to Dovecot are 50k
/// processes; twice that bounds the scan of a runaway fork).
pub(crate) const PROCESSES_MAX: usize = 100_000;

/// Totals over one process tree at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// Sum of resident memory, KiB.
    pub(crate) rss_kib: u64,
    /// Sum of CPU time including reaped children, clock ticks.
    pub(crate) cpu_ticks: u64,
    /// Processes in the tree.
    pub(crate) processes: u64,
}

/// What `--server-pid` measured over the run (the `server` object of the JSON report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ServerUsage {
    /// The PIDs given.
    pub(crate) pids: Vec<u32>,
    /// Processes in the trees at the end.
    pub(crate) processes: u64,
    /// RSS at the start, KiB.
    pub(crate) rss_start_kib: u64,
    /// RSS at the end, KiB.
    pub(crate) rss_end_kib: u64,
    /// Highest RSS seen while running, KiB.
    pub(crate) rss_peak_kib: u64,
    /// PSS at the end, KiB (`None` where `smaps_rollup` is unreadable).
    pub(crate) pss_end_kib: Option<u64>,
    /// CPU time the trees used during the run, seconds.
    pub(crate) cpu_seconds: f64,
}

/// One `/proc/PID/stat` line's fields that we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    parent: u32,
    cpu_ticks: u64,
    rss_pages: u64,
}

/// Parses `/proc/PID/stat` text. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    // `fields[0]` is field 3 (state); field N is fields[N - 3].
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    let parent = u32::try_from(field(4)?).ok()?;
    let cpu_ticks = field(14)? + field(15)? + field(16)? + field(17)?;
    Some(Stat { parent, cpu_ticks, rss_pages: field(24)? })
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process's parent, from a scan of `/proc`.
fn parents() -> io::Result<HashMap<u32, u32>> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        if let Some(stat) = read_stat(pid) {
            out.insert(pid, stat.parent);
        }
    }
    Ok(out)
}

/// `roots` and all their descendants that are alive now.
fn tree(roots: &[u32]) -> io::Result<Vec<u32>> {
    let parents = parents()?;
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &parent) in &parents {
        children.entry(parent).or_default().push(pid);
    }
    let mut seen: HashSet<u32> = HashSet::new();
    let mut queue: Vec<u32> = roots.iter().copied().filter(|pid| parents.contains_key(pid)).collect();
    while let Some(pid) = queue.pop() {
        if seen.len() >= PROCESSES_MAX || !seen.insert(pid) {
            continue;
        }
        queue.extend(children.get(&pid).into_iter().flatten());
    }
    let mut out: Vec<u32> = seen.into_iter().collect();
    out.sort_unstable();
    Ok(out)
}

fn page_kib() -> u64 {
    (rustix::param::page_size() as u64 / 1024).max(1)
}

fn ticks_per_second() -> f64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100.0,
        ticks => ticks as f64,
    }
}

/// Totals over `roots` and their descendants now.
pub(crate) fn snapshot(roots: &[u32]) -> io::Result<Snapshot> {
    let page_kib = page_kib();
    let mut total = Snapshot::default();
    for pid in tree(roots)? {
        // A process may end between the scan and this read; it is simply left out.
        if let Some(stat) = read_stat(pid) {
            total.rss_kib += stat.rss_pages * page_kib;
            total.cpu_ticks += stat.cpu_ticks;
            total.processes += 1;
        }
    }
    Ok(total)
}

/// Proportional set size of `roots` and descendants, KiB; `None` if unreadable.
pub(crate) fn pss_kib(roots: &[u32]) -> Option<u64> {
    let mut total = 0;
    for pid in tree(roots).ok()? {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else { continue };
        // A process that exits while being read shows an empty rollup: left out.
        let pss = text
            .lines()
            .find_map(|line| line.strip_prefix("Pss:"))
            .and_then(|rest| rest.split_ascii_whitespace().next().and_then(|kib| kib.parse::<u64>().ok()));
        total += pss.unwrap_or(0);
    }
    Some(total)
}

/// Why watching the server failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WatchError {
    /// A `--server-pid` that is not a running process.
    #[error("--server-pid {0}: no such process")]
    NoSuchProcess(u32),
    /// `/proc` could not be read.
    #[error("reading /proc: {0}")]
    Proc(#[from] io::Error),
}

/// Samples the server trees in the background from creation until [`ServerWatch::finish`].
#[derive(Debug)]
pub(crate) struct ServerWatch {
    roots: Vec<u32>,
    start: Snapshot,
    peak_kib: Arc<AtomicU64>,
    last: Arc<Mutex<Snapshot>>,
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<()>>,
}

impl ServerWatch {
    /// Checks that every root exists, takes the start snapshot, starts sampling.
    pub(crate) fn start(roots: &[u32]) -> Result<ServerWatch, WatchError> {
        if let Some(&missing) = roots.iter().find(|&&pid| read_stat(pid).is_none()) {
            return Err(WatchError::NoSuchProcess(missing));
        }
        let start = snapshot(roots)?;
        let peak_kib = Arc::new(AtomicU64::new(start.rss_kib));
        let last = Arc::new(Mutex::new(start));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (roots, peak_kib, last, stop) =
                (roots.to_vec(), peak_kib.clone(), last.clone(), stop.clone());
            std::thread::Builder::new().name("procstat".into()).spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    std::thread::sleep(SAMPLE_INTERVAL);
                    if let Ok(now) = snapshot(&roots) {
                        peak_kib.fetch_max(now.rss_kib, Ordering::AcqRel);
                        if let Ok(mut last) = last.lock() {
                            *last = now;
                        }
                    }
                }
            })?
        };
        Ok(ServerWatch { roots: roots.to_vec(), start, peak_kib, last, stop, sampler: Some(sampler) })
    }

    /// A fresh snapshot now (also counted towards the peak).
    pub(crate) fn now(&self) -> Snapshot {
        let now = snapshot(&self.roots).unwrap_or_else(|_| self.last.lock().map_or(self.start, |last| *last));
        self.peak_kib.fetch_max(now.rss_kib, Ordering::AcqRel);
        now
    }

    /// The snapshot taken at the start.
    pub(crate) fn start_snapshot(&self) -> Snapshot {
        self.start
    }

    /// Stops sampling and summarizes.
    pub(crate) fn finish(mut self) -> ServerUsage {
        let end = self.now();
        self.stop.store(true, Ordering::Release);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        ServerUsage {
            pids: self.roots.clone(),
            processes: end.processes,
            rss_start_kib: self.start.rss_kib,
            rss_end_kib: end.rss_kib,
            rss_peak_kib: self.peak_kib.load(Ordering::Acquire).max(end.rss_kib),
            pss_end_kib: pss_kib(&self.roots),
            cpu_seconds: crate::stats::round3(
                end.cpu_ticks.saturating_sub(self.start.cpu_ticks) as f64 / ticks_per_second(),
            ),
        }
    }
}

impl Drop for ServerWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn stat_lines_with_odd_command_names() {
        let text = "1234 (we ird) (name)) S 77 1234 1234 0 -1 4194560 100 0 0 0 25 15 3 2 20 0 1 0 \
                    100 123456 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat(text), Some(Stat { parent: 77, cpu_ticks: 45, rss_pages: 321 }));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S"), None);
    }

    #[test]
    fn own_process_tree_includes_a_child() {
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let me = std::process::id();
        let members = tree(&[me]).unwrap();
        assert!(members.contains(&me));
        assert!(members.contains(&child.id()));
        let now = snapshot(&[me]).unwrap();
        assert!(now.rss_kib > 1000, "{now:?}");
        assert!(now.processes >= 2);
        assert!(pss_kib(&[me]).is_some_and(|pss| pss > 0));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn watch_measures_cpu_and_peak() {
        let me = std::process::id();
        let watch = ServerWatch::start(&[me]).unwrap();
        let spin_until = std::time::Instant::now() + Duration::from_millis(300);
        let mut x = 0u64;
        while std::time::Instant::now() < spin_until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let usage = watch.finish();
        assert!(usage.cpu_seconds >= 0.1, "{usage:?}");
        assert!(usage.rss_peak_kib >= usage.rss_start_kib);
        assert_eq!(usage.pids, vec![me]);
        assert!(matches!(ServerWatch::start(&[u32::MAX - 1]), Err(WatchError::NoSuchProcess(_))));
    }
}
