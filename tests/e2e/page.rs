//! The live todo page in a real browser: `tests/browser/live-todos.mjs` drives two pages of
//! `plugins/todos` in the distribution's headless Chromium with playwright-core, against the
//! real `eddy` binary, which this test restarts on the same address when the script asks. The
//! script's screenshots go to `target/browser-artifacts/`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::copy_plugin;
use crate::process::HostProcess;

fn browser_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

fn artifacts() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("browser-artifacts")
}

#[test]
fn the_live_todo_page_works_in_two_browsers_through_a_restart_and_a_network_drop() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).is_file(),
        "{chromium} is missing: `apt-get install chromium` (`.ci/run` does)"
    );
    assert!(
        browser_tests().join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: `npm install --prefix tests/browser` (`.ci/run` does)"
    );
    let plugins = tempfile::tempdir().expect("a plugins dir");
    copy_plugin("todos", &plugins.path().join("todos"));
    let data = tempfile::tempdir().expect("a data dir");
    let mut host = HostProcess::start(plugins.path(), data.path(), &[]);
    let addr = host.addr.to_string();

    let mut script = Command::new("node")
        .current_dir(browser_tests())
        .arg("live-todos.mjs")
        .arg(format!("http://{addr}"))
        .arg(artifacts())
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node to start");
    let mut to_script = script.stdin.take().expect("a piped stdin");
    let stderr = script.stderr.take().expect("a piped stderr");
    let said = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let started = Instant::now();
    let mut restarted = false;
    for line in BufReader::new(script.stdout.take().expect("a piped stdout")).lines() {
        let line = line.expect("a line from the script");
        assert!(started.elapsed() < Duration::from_secs(180), "the script took too long");
        if line == "restart" {
            host.terminate();
            host = HostProcess::start(plugins.path(), data.path(), &["--listen", &addr]);
            writeln!(to_script, "restarted").expect("the script to read");
            restarted = true;
        }
    }
    let status = script.wait().expect("the script to end");
    let said = said.join().expect("its output");
    assert!(
        status.success() && restarted,
        "the browser script failed ({status}); screenshots in {}:\n{said}\nthe host's log:\n{}",
        artifacts().display(),
        host.log()
    );
    eprintln!("{said}");
}
