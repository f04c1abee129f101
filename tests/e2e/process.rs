//! The real `eddy` binary as a child process, for the tests that need to kill a host or restart
//! it: built once per test run by the cargo that runs the tests, started with `eddy serve` on
//! 127.0.0.1:0, then stopped with SIGKILL ([`HostProcess::kill9`]) or SIGTERM
//! ([`HostProcess::terminate`]). Its stderr (the host's log) is kept for failure messages.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::DEADLINE;

/// The `eddy` binary of this workspace, built once per test run.
///
/// Integration tests of another package get no `CARGO_BIN_EXE_eddy`, so this asks the cargo
/// running the tests (`$CARGO`) to build it, in the same profile, and reads the path from
/// cargo's JSON messages (which honours `CARGO_TARGET_DIR`). On a tree `cargo test` has just
/// built, this finds nothing to do. `EDDY_BIN=path` runs that binary instead.
pub fn eddy_binary() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        if let Some(path) = std::env::var_os("EDDY_BIN") {
            return Ok(PathBuf::from(path));
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut command = Command::new(cargo);
        command.current_dir(&workspace).args([
            "build",
            "-p",
            "eddy",
            "--bin",
            "eddy",
            "--message-format=json-render-diagnostics",
        ]);
        if !cfg!(debug_assertions) {
            command.arg("--release");
        }
        let output = command.output().map_err(|e| format!("running cargo: {e}"))?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "eddy")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .ok_or_else(|| "cargo reported no `eddy` executable".to_string())
    });
    match built {
        Ok(path) => path,
        Err(e) => panic!("building the eddy binary failed: {e}"),
    }
}

/// A running `eddy serve`. Dropping it kills the process.
pub struct HostProcess {
    pub addr: SocketAddr,
    child: Child,
    /// Everything the host wrote to stderr so far, filled by a reader thread.
    log: Arc<Mutex<Vec<u8>>>,
}

impl HostProcess {
    /// Starts `eddy serve --plugins PLUGINS --data DATA --listen 127.0.0.1:0 EXTRA_ARGS...` (the
    /// address is left to EXTRA_ARGS when they name one) and waits for its `eddy listening on
    /// http://ADDR` line.
    pub fn start(plugins: &Path, data: &Path, extra_args: &[&str]) -> HostProcess {
        HostProcess::start_with_env(plugins, data, extra_args, &[])
    }

    /// [`HostProcess::start`] with environment variables `env` set for the host.
    pub fn start_with_env(
        plugins: &Path,
        data: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> HostProcess {
        let shared = crate::engines::shared_store(data)
            .filter(|_| !extra_args.iter().any(|arg| *arg == "--memory" || *arg == "--state"));
        let state: Vec<String> =
            shared.into_iter().flat_map(|url| ["--state".into(), url]).collect();
        let mut child = Command::new(eddy_binary())
            .arg("serve")
            .args(&state)
            .arg("--plugins")
            .arg(plugins)
            .arg("--data")
            .arg(data)
            .args(if extra_args.contains(&"--listen") {
                &[][..]
            } else {
                &["--listen", "127.0.0.1:0"]
            })
            .args(extra_args)
            .env("EDDY_LOG", std::env::var("EDDY_LOG").unwrap_or_else(|_| "info".into()))
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the eddy binary to start");

        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stderr = child.stderr.take().expect("a piped stderr");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                sink.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(&buf[..n]);
            }
        });

        // Read stdout to its end (so the host never blocks on a full pipe), handing over the
        // address from the first line that names one.
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("a piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("eddy listening on http://") {
                    let _ = addr_tx.send(addr.trim().to_string());
                }
            }
        });

        let mut host = HostProcess { addr: ([127, 0, 0, 1], 0).into(), child, log };
        match addr_rx.recv_timeout(DEADLINE * 3) {
            Ok(addr) => host.addr = addr.parse().expect("the printed address to parse"),
            Err(_) => {
                let status = host.child.try_wait().ok().flatten();
                panic!(
                    "the host did not print its address in time (exit status: {status:?}); \
                     its log:\n{}",
                    host.log()
                );
            }
        }
        host
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The host's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the host has logged so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Kills the host with SIGKILL (`Child::kill` on Unix) and reaps it.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL to be sent");
        self.child.wait().expect("the killed host to be reaped");
    }

    /// Sends SIGTERM and waits (up to [`DEADLINE`]) for the host to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("`kill` to run");
        assert!(sent.success(), "kill -TERM failed: {sent}");
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("the host's status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the host did not exit within {DEADLINE:?} of SIGTERM; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
