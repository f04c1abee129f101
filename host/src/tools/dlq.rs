//! Operator commands that talk to a running host over its `/_eddy/` endpoints:
//! `eddy dlq list` and `eddy dlq replay`.

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use hyper::Method;
use serde_json::{Value, json};

use super::client::Client;

async fn call(
    host: SocketAddr,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut client = Client::connect(host).await.with_context(|| {
        format!("cannot reach an eddy host at {host} (is it running? see --host)")
    })?;
    let body = body.map(|b| b.to_string());
    let (status, bytes) = client.request(method, path, body.as_deref()).await?;
    let reply: Value = serde_json::from_slice(&bytes).context("the host's answer is not JSON")?;
    if status >= 400 {
        bail!("{}", reply["error"]["message"].as_str().unwrap_or("the host refused"));
    }
    Ok(reply)
}

/// Prints the dead letters of the host at `host`, one per line.
pub async fn list(host: SocketAddr) -> anyhow::Result<()> {
    let reply = call(host, Method::GET, "/_eddy/dlq", None).await?;
    let letters = reply["dead_letters"].as_array().cloned().unwrap_or_default();
    if letters.is_empty() {
        println!("no dead letters");
    }
    for letter in letters {
        let event = &letter["event"];
        println!(
            "{:>6}  {}  {} {}/{}  after {} attempts: {}",
            letter["id"],
            letter["function"].as_str().unwrap_or("?"),
            event["event_type"].as_str().unwrap_or("?"),
            event["scope"].as_str().unwrap_or("?"),
            event["key"].as_str().unwrap_or("?"),
            letter["attempts"],
            letter["error"].as_str().unwrap_or(""),
        );
    }
    Ok(())
}

/// Replays one dead letter by id, or all of them.
pub async fn replay(host: SocketAddr, id: Option<u64>) -> anyhow::Result<()> {
    let reply = call(host, Method::POST, "/_eddy/dlq/replay", Some(json!({ "id": id }))).await?;
    let replayed = reply["replayed"].as_array().map_or(0, Vec::len);
    println!("replayed {replayed} dead letter(s)");
    Ok(())
}
