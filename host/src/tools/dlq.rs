//! Operator commands that talk to a running host over its `/_eddy/` endpoints:
//! `eddy dlq list` and `eddy dlq replay`. They send the admin token when given one (the host
//! asks for it unless the command runs on its machine and it has none configured).

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use hyper::Method;
use serde_json::{Value, json};

use super::client::Client;

/// Which host to ask, with which admin token.
pub struct Operator {
    pub host: SocketAddr,
    pub token: Option<String>,
}

async fn call(
    Operator { host, token }: &Operator,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let client = Client::connect(*host).await.with_context(|| {
        format!("cannot reach an eddy host at {host} (is it running? see --host)")
    })?;
    let mut client = client.with_token(token.clone());
    let body = body.map(|b| b.to_string());
    let (status, bytes) = client.request(method, path, body.as_deref()).await?;
    let reply: Value = serde_json::from_slice(&bytes).context("the host's answer is not JSON")?;
    if status >= 400 {
        bail!("{}", reply["error"]["message"].as_str().unwrap_or("the host refused"));
    }
    Ok(reply)
}

/// Prints the dead letters of the host, one per line.
pub async fn list(host: &Operator) -> anyhow::Result<()> {
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
pub async fn replay(host: &Operator, id: Option<u64>) -> anyhow::Result<()> {
    let reply = call(host, Method::POST, "/_eddy/dlq/replay", Some(json!({ "id": id }))).await?;
    let replayed = reply["replayed"].as_array().map_or(0, Vec::len);
    println!("replayed {replayed} dead letter(s)");
    Ok(())
}
