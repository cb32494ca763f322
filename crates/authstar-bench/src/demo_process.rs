//! The release `authstar demo` as a child process on a fresh database in a temporary folder:
//! what the soak and the workloads drive.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

type Error = Box<dyn std::error::Error>;

/// A running demo; killed, and its folder removed, when dropped.
pub(crate) struct DemoProcess {
    pub(crate) child: Child,
    pub(crate) dir: PathBuf,
    pub(crate) base: String,
    printed: Vec<String>,
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl DemoProcess {
    /// Starts `binary demo --port 0 --db demo.db EXTRA...` in a new folder named after `name`,
    /// pinned to `core` when given (with `taskset`), and waits until it listens.
    pub(crate) fn start(
        binary: &Path,
        name: &str,
        extra: &[&str],
        core: Option<u32>,
    ) -> Result<Self, Error> {
        let dir = std::env::temp_dir().join(format!("authstar-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut command = match core {
            Some(core) => {
                let mut command = Command::new("taskset");
                command.args(["-c", &core.to_string()]).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(["demo", "--port", "0", "--db", "demo.db"])
            .args(extra)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut printed = Vec::new();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().ok_or("the demo exited")??;
            if let Some(base) = line.strip_prefix("listening on ") {
                break base.to_owned();
            }
            printed.push(line);
        };
        // Keep reading: a full pipe would block the demo's logging.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self {
            child,
            dir,
            base,
            printed,
        })
    }

    /// A value the demo printed on its first start (`client_secret:`, `api_key:`, ...).
    pub(crate) fn value(&self, label: &str) -> Result<String, Error> {
        self.printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| format!("{label} not printed").into())
    }

    /// The demo's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// A process's resident memory in KiB.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
