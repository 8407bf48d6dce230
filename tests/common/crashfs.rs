//! `tests/crashfs.py`: a FUSE filesystem that keeps every write in memory and passes to
//! its backing directory only what POSIX promises is durable (a file's bytes once it is
//! fsynced or written through O_DSYNC, a directory entry once the directory is fsynced).
//! Killing its process is a power loss; the backing directory is the disk afterwards.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The FUSE filesystem process and its mount; unmounted (lazily) when dropped.
pub struct CrashFs {
    child: Option<Child>,
    mountpoint: PathBuf,
}

impl CrashFs {
    pub fn mount(backing: &Path, mountpoint: &Path) -> CrashFs {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crashfs.py");
        let log = std::fs::File::create(backing.with_extension("log")).unwrap();
        let child = Command::new("python3")
            .arg(script)
            .arg(backing)
            .arg(mountpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("python3 runs tests/crashfs.py (needs the mfusepy package and /dev/fuse)");
        let fs = CrashFs { child: Some(child), mountpoint: mountpoint.to_path_buf() };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !fs.mounted() {
            assert!(
                Instant::now() < deadline,
                "crashfs did not mount: {}",
                std::fs::read_to_string(backing.with_extension("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        fs
    }

    pub fn mounted(&self) -> bool {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let point = self.mountpoint.display().to_string();
        mounts.lines().any(|line| line.split(' ').nth(1) == Some(point.as_str()))
    }

    /// The power loss: the filesystem process dies with its memory.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = Command::new("umount").arg("-l").arg(&self.mountpoint).status();
        }
    }
}

impl Drop for CrashFs {
    fn drop(&mut self) {
        self.crash();
    }
}
