//! A host under test in its own process (the real `target/release/eddy serve`), so what it costs
//! can be read apart from what the load generator costs: the host's CPU time and resident
//! memory from `/proc/<pid>/`, the bench's own CPU time from `/proc/self/stat`. Also the
//! file-descriptor limit, which thousands of WebSocket clients need raised.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A running `eddy serve`; killed when dropped.
pub struct HostProcess {
    child: tokio::process::Child,
    pid: u32,
    pub addr: SocketAddr,
}

/// The release binary of the host, if it was built.
pub fn binary() -> Option<PathBuf> {
    let binary = crate::repo().join("target/release/eddy");
    binary.is_file().then_some(binary)
}

/// The line a scenario prints instead of its table when the binary is missing.
pub fn missing_binary(scenario: &str) -> String {
    format!(
        "\n({scenario}: target/release/eddy is missing; run `cargo build --release -p eddy` first)"
    )
}

impl HostProcess {
    /// Starts `binary serve` on a free port of 127.0.0.1 and waits for the line that names the
    /// address, which it prints once its plugins are loaded and its port is bound. The host's
    /// log (warnings only) goes to `<data>.log`.
    pub async fn start(binary: &Path, plugins: &Path, data: &Path) -> anyhow::Result<HostProcess> {
        HostProcess::start_with(binary, plugins, data, &[]).await
    }

    /// [`HostProcess::start`] with more arguments to `eddy serve` (`--state URL`).
    pub async fn start_with(
        binary: &Path,
        plugins: &Path,
        data: &Path,
        extra: &[&str],
    ) -> anyhow::Result<HostProcess> {
        let log = std::fs::File::create(data.with_extension("log"))?;
        let mut child = tokio::process::Command::new(binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--plugins"])
            .arg(plugins)
            .arg("--data")
            .arg(data)
            .args(extra)
            .env("EDDY_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the host's pid")?;
        let stdout = child.stdout.take().context("the host's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .context("the host did not start within 120 s")??
            .with_context(|| {
                format!(
                    "the host exited before listening; its log: {}",
                    data.with_extension("log").display()
                )
            })?;
        let addr = line
            .rsplit("http://")
            .next()
            .context("no address in the host's first line")?
            .trim()
            .parse()
            .with_context(|| format!("no address in the host's first line: {line}"))?;
        Ok(HostProcess { child, pid, addr })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// CPU time (user + system, all threads) the host has used so far.
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        cpu_of(&format!("/proc/{}/stat", self.pid))
    }

    /// CPU time so far per kind of thread, by thread name (`tokio-rt-worker`: the async workers
    /// and the blocking pool; `eddy-state-writ`: the state writer; `eddy-epoch`: the epoch
    /// ticker), summed over the threads of each name. Threads that have exited are missing: the
    /// difference to [`HostProcess::cpu`] is theirs.
    pub fn cpu_by_thread(&self) -> anyhow::Result<BTreeMap<String, Duration>> {
        let mut by_name: BTreeMap<String, Duration> = BTreeMap::new();
        for task in std::fs::read_dir(format!("/proc/{}/task", self.pid))? {
            let task = task?.path();
            let (Ok(name), Ok(cpu)) = (
                std::fs::read_to_string(task.join("comm")),
                cpu_of(&task.join("stat").to_string_lossy()),
            ) else {
                continue; // the thread exited meanwhile
            };
            *by_name.entry(name.trim().to_string()).or_default() += cpu;
        }
        Ok(by_name)
    }

    /// The host's resident memory, in bytes (`VmRSS`).
    pub fn rss(&self) -> anyhow::Result<u64> {
        rss_of(&format!("/proc/{}/status", self.pid))
    }

    /// Stops the host as an operator would: SIGTERM, so it drains and closes its store
    /// cleanly (the next start on the same data then opens it without recovery); SIGKILL if it
    /// has not exited within 10 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        use rustix::process::{Pid, Signal, kill_process};
        let pid = Pid::from_raw(self.pid as i32).context("the host's pid")?;
        kill_process(pid, Signal::TERM)?;
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => self.child.kill().await?,
        }
        Ok(())
    }
}

/// The bench's own resident memory, in bytes.
pub fn own_rss() -> anyhow::Result<u64> {
    rss_of("/proc/self/status")
}

/// `VmRSS` of a `/proc/<pid>/status` file, in bytes.
fn rss_of(path: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .context("no VmRSS in /proc/<pid>/status")?;
    Ok(kib * 1024)
}

/// CPU time of a process the bench started for comparison (`wasmtime serve`), by its pid.
pub fn cpu_of_pid(pid: u32) -> anyhow::Result<Duration> {
    cpu_of(&format!("/proc/{pid}/stat"))
}

/// CPU time of process `pid` and all its children (a PostgreSQL server: the postmaster and its
/// backends); children that exited are missing.
pub fn cpu_of_tree(pid: u32) -> anyhow::Result<Duration> {
    let mut total = cpu_of_pid(pid)?;
    for entry in std::fs::read_dir("/proc")? {
        let Some(child) = entry?.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1));
        if ppid.and_then(|p| p.parse::<u32>().ok()) == Some(pid) {
            total += cpu_of_pid(child).unwrap_or_default();
        }
    }
    Ok(total)
}

/// CPU time (user + system, all threads) the bench process itself has used so far: the load
/// generator's cost, when the host runs in another process.
pub fn own_cpu() -> anyhow::Result<Duration> {
    cpu_of("/proc/self/stat")
}

/// utime + stime of a `/proc/<pid>/stat` file. They are in clock ticks (`USER_HZ`, 100 on
/// Linux: 10 ms resolution, fine over runs of seconds).
fn cpu_of(path: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = stat.rsplit_once(')').context("no ')' in /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields.get(i).context("short /proc stat")?.parse::<u64>()?)
    };
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(total as f64 / clock_ticks_per_second()))
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Raises the soft limit of open files toward `wanted` (up to the hard limit; child processes
/// inherit it) and returns the limit now in force.
pub fn raise_fd_limit(wanted: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= wanted {
        return current;
    }
    let target = limit.maximum.map_or(wanted, |max| max.min(wanted));
    match setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum: limit.maximum }) {
        Ok(()) => target,
        Err(_) => current,
    }
}
