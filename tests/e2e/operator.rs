//! The operator endpoints (`/_eddy/...`, `docs/http.md`): with an admin token configured they
//! answer only requests that carry it, from anywhere; without one, only peers on the host's own
//! machine. The health check stays open. `eddy dlq` sends the token.

use std::net::{IpAddr, SocketAddr};

use eddy::edge::AdminAccess;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestHost, rust_plugins};

const TOKEN: &str = "an-operator-token-0123456789";

fn host_with(admin: AdminAccess, listen: SocketAddr) -> TestHost {
    TestHost::start_configured(rust_plugins(), tempfile::tempdir().expect("a data dir"), |o| {
        o.admin = admin;
        o.listen = listen;
    })
}

/// Status of `method path` at `base` with `token` as the bearer token, if any.
async fn status(base: &str, method: &str, path: &str, token: Option<&str>) -> StatusCode {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if path.ends_with("replay") {
        request = request.json(&json!({}));
    }
    request.send().await.expect("an answer").status()
}

const OPERATOR: [(&str, &str); 3] =
    [("GET", "/_eddy/plugins"), ("GET", "/_eddy/dlq"), ("POST", "/_eddy/dlq/replay")];

#[tokio::test]
async fn with_a_token_every_operator_endpoint_needs_it_and_health_stays_open() {
    let admin = AdminAccess { token: Some(TOKEN.into()) };
    let host = host_with(admin, ([127, 0, 0, 1], 0).into());
    let base = host.url("");
    for (method, path) in OPERATOR {
        assert_eq!(status(&base, method, path, None).await, 401, "{method} {path}");
        assert_eq!(status(&base, method, path, Some("wrong-token")).await, 401, "{method} {path}");
        assert_eq!(status(&base, method, path, Some(TOKEN)).await, 200, "{method} {path}");
    }
    let refused = reqwest::get(host.url("/_eddy/dlq")).await.expect("an answer");
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = refused.json().await.expect("the error envelope");
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(status(&base, "GET", "/_eddy/health", None).await, 200);
}

/// An address of this machine other than loopback, which a connection to it comes from too.
fn outside_address() -> IpAddr {
    let output = std::process::Command::new("hostname").arg("-I").output().expect("hostname -I");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .find(|a| a.is_ipv4() && !a.is_loopback())
        .expect("this machine to have a network address besides loopback")
}

#[tokio::test]
async fn without_a_token_only_peers_on_the_same_machine_reach_the_operator_endpoints() {
    let host = host_with(AdminAccess::default(), ([0, 0, 0, 0], 0).into());
    let loopback = format!("http://127.0.0.1:{}", host.addr.port());
    let outside = format!("http://{}:{}", outside_address(), host.addr.port());
    for (method, path) in OPERATOR {
        assert_eq!(status(&loopback, method, path, None).await, 200, "{method} {path}");
        assert_eq!(status(&outside, method, path, None).await, 403, "{method} {path}");
    }
    assert_eq!(status(&outside, "GET", "/_eddy/health", None).await, 200);
    assert_eq!(status(&outside, "GET", "/todos", None).await, 200, "the API is for everyone");
}

#[tokio::test]
async fn the_dlq_command_sends_the_admin_token() {
    let host = host_with(AdminAccess { token: Some(TOKEN.into()) }, ([127, 0, 0, 1], 0).into());
    let operator = |token: Option<&str>| eddy::tools::dlq::Operator {
        host: host.addr,
        token: token.map(str::to_owned),
    };
    let refused = eddy::tools::dlq::list(&operator(None)).await.unwrap_err();
    assert!(refused.to_string().contains("admin token"), "{refused}");
    eddy::tools::dlq::list(&operator(Some(TOKEN))).await.expect("the list with the token");
}

#[tokio::test]
async fn the_binary_reads_eddy_toml_and_its_flags_override_it() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("eddy.toml");
    // The file says port 1, which the test's `--listen 127.0.0.1:0` overrides; the rest holds.
    let text = "listen = \"127.0.0.1:1\"\n\n[admin]\ntoken_env = \"TEST_EDDY_ADMIN\"\n";
    std::fs::write(&config, text).expect("the config written");
    let data = tempfile::tempdir().expect("a data dir");
    let config_arg = config.to_str().expect("a UTF-8 path");
    let host = crate::process::HostProcess::start_with_env(
        rust_plugins(),
        data.path(),
        &["--config", config_arg],
        &[("TEST_EDDY_ADMIN", TOKEN)],
    );
    let base = host.url("");
    assert_eq!(status(&base, "GET", "/_eddy/dlq", None).await, 401);
    assert_eq!(status(&base, "GET", "/_eddy/dlq", Some(TOKEN)).await, 200);
}

#[test]
fn a_broken_eddy_toml_stops_the_binary_naming_the_file_line_and_reason() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("eddy.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n[cors]\nallow_origin = [\"x\"]\n")
        .expect("the config written");
    let output = std::process::Command::new(crate::process::eddy_binary())
        .args(["serve", "--plugins"])
        .arg(rust_plugins())
        .arg("--config")
        .arg(&config)
        .output()
        .expect("the binary to run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("{}:3: unknown field `allow_origin`", config.display());
    assert!(stderr.contains(&expected), "{stderr}");
}
