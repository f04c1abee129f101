//! A full disk (`docs/state.md`): the embedded store refuses writes with 503 and `Retry-After`
//! while reads go on, health says so, the host idles without spinning or flooding its log, and
//! once space is freed writes work again without a restart and nothing acknowledged is lost.
//! The data directory is a small tmpfs the test mounts (it needs root; skipped elsewhere). And
//! the quota that refuses writes before the disk is full.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::crash::{http_client, list, metrics_reach_the_truth, todos_plugins};
use crate::engines::on_shared_store;
use crate::harness::eventually;
use crate::process::HostProcess;

/// A tmpfs of `size` mounted on a fresh temporary directory; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let options = format!("size={size}");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("mount -t tmpfs exited with {status}"));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Fills the file system of `dir` with a file, then frees `leave` bytes of it.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("a filler file");
    let chunk = vec![0x5a; 64 * 1024];
    let mut written = 0u64;
    while file.write_all(&chunk).is_ok() {
        written += chunk.len() as u64;
    }
    let _ = file.flush();
    file.set_len(written.saturating_sub(leave)).expect("the filler shortened");
    path
}

/// CPU time the process `pid` has used (user + system).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the host's stat");
    // The command name may hold spaces: count the fields after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')').expect("a stat line").1.split(' ').collect();
    let ticks: u64 = fields[12].parse::<u64>().unwrap() + fields[13].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

#[tokio::test]
async fn a_full_disk_refuses_writes_until_space_is_freed_then_they_work_again_without_a_restart() {
    if on_shared_store() {
        println!("skipped: the shared store's disk is PostgreSQL's");
        return;
    }
    let tmpfs = match Tmpfs::mount("16m") {
        Ok(tmpfs) => tmpfs,
        Err(e) => {
            println!("skipped: cannot mount a tmpfs here ({e}); run as root to test a full disk");
            return;
        }
    };
    let plugins = todos_plugins();
    let host = HostProcess::start(plugins.path(), &tmpfs.path().join("data"), &[]);
    let http = http_client();
    let filler = fill(tmpfs.path(), 1 << 20);

    // Create until the disk is full: every create is answered, and the first refusal is a 503.
    let title = "x".repeat(2000);
    let mut acknowledged = Vec::new();
    let refusal = loop {
        assert!(acknowledged.len() < 5000, "1 MiB of disk took 5000 todos of 2 KB");
        let response = http
            .post(host.url("/todos"))
            .json(&json!({ "title": title }))
            .send()
            .await
            .expect("every create answered");
        if response.status() != 200 {
            break response;
        }
        let todo: Value = response.json().await.expect("a todo");
        acknowledged.push(todo["id"].as_str().expect("an id").to_string());
    };
    assert_eq!(refusal.status(), 503, "{}", host.log());
    assert!(refusal.headers().contains_key("retry-after"));
    let envelope: Value = refusal.json().await.expect("the error envelope");
    assert_eq!(envelope["error"]["code"], "unavailable", "{envelope}");
    let message = envelope["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("full"), "{envelope}");
    assert!(!acknowledged.is_empty(), "no create fitted in 1 MiB");

    // Reads go on; health tells the operator.
    assert_eq!(list(&http, &host).await.len(), acknowledged.len());
    let health: Value =
        http.get(host.url("/_eddy/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(health["state_writes"]["refused"].as_str().is_some_and(|r| r.contains("full")));

    // Idle while full: no spinning, no flood of log lines.
    let (cpu_before, log_before) = (cpu_time(host.pid()), host.log().lines().count());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_cpu = cpu_time(host.pid()) - cpu_before;
    let new_lines = host.log().lines().count() - log_before;
    assert!(idle_cpu < Duration::from_millis(300), "idle CPU {idle_cpu:?} in 3 s");
    assert!(new_lines <= 3, "{new_lines} log lines in 3 idle s:\n{}", host.log());

    // Space comes back: writes work again, without a restart, and nothing was lost.
    std::fs::remove_file(&filler).expect("the filler removed");
    eventually("a create to succeed again", || async {
        let response =
            http.post(host.url("/todos")).json(&json!({ "title": "after" })).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    let health: Value =
        http.get(host.url("/_eddy/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    let listed = list(&http, &host).await;
    for id in &acknowledged {
        assert!(listed.iter().any(|t| t["id"] == id.as_str()), "acknowledged todo {id} lost");
    }
    metrics_reach_the_truth(&http, &host, &listed, "after the disk was freed: ").await;
}

#[tokio::test]
async fn a_scope_past_its_quota_refuses_growth_with_a_clear_error_and_a_delete_makes_room() {
    if on_shared_store() {
        println!("skipped: the quota is the embedded store's; PostgreSQL has its own limits");
        return;
    }
    let quota = eddy::state::QuotaLimits {
        max_bytes: None,
        scopes: [("todos".to_string(), 4096)].into_iter().collect(),
    };
    let host = crate::harness::TestHost::start_configured(
        crate::harness::rust_plugins(),
        tempfile::tempdir().expect("a data dir"),
        |options| options.quota = quota,
    );
    let title = "q".repeat(200);
    let mut created = Vec::new();
    let refusal = loop {
        assert!(created.len() < 100, "4 KiB held 100 todos of 200 bytes");
        let (status, body) = host.post("/todos", json!({ "title": title })).await;
        if status != 200 {
            break (status, body);
        }
        created.push(body["id"].as_str().expect("an id").to_string());
    };
    assert_eq!(refusal.0, 403, "{}", refusal.1);
    assert_eq!(refusal.1["error"]["code"], "forbidden", "{}", refusal.1);
    let message = refusal.1["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("scope todos is full") && message.contains("4096"), "{message}");
    assert!(created.len() > 5, "only {} todos fitted", created.len());
    let (_, listed) = host.get("/todos").await;
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(created.len()),
        "the refused create left nothing"
    );

    // A delete is never refused, and makes room.
    let (status, _) = host.post("/todos/delete", json!({ "id": created[0] })).await;
    assert_eq!(status, 200);
    let (status, body) = host.post("/todos", json!({ "title": title })).await;
    assert_eq!(status, 200, "{body}");
}
