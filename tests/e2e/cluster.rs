//! Several hosts on one PostgreSQL database (`docs/cluster.md`): a write acknowledged by one is
//! read on the others at once; update ops from several hosts on one key lose nothing; a state
//! trigger runs once per change whichever host wrote it, and a host that dies mid-work has its
//! lanes taken over. Needs `EDDY_TEST_POSTGRES` (see `engines.rs`).

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::engines::fresh_database;
use crate::harness::{TestHost, eventually, rust_plugins};

/// `n` hosts serving the Rust examples and fixtures on the database at `url`.
fn hosts_on(url: &str, n: usize) -> Vec<TestHost> {
    (0..n)
        .map(|_| {
            let data = tempfile::tempdir().expect("a data dir");
            let url = url.to_owned();
            TestHost::start_configured(rust_plugins(), data, move |o| o.state = Some(url))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_incrementing_one_key_ten_thousand_times_lose_no_update() {
    let hosts = hosts_on(&fresh_database("increments"), 2);
    const EACH: usize = 5_000;
    let increments = futures_util::stream::iter((0..2 * EACH).map(|i| {
        let host = &hosts[i % 2];
        async move {
            let (status, value) = host.post("/probe/count/shared", json!({})).await;
            assert_eq!(status, 200, "{value}");
            value["n"].as_u64().expect("a count")
        }
    }))
    .buffer_unordered(32)
    .collect::<Vec<u64>>()
    .await;
    // Every increment saw a different total: none was applied on a stale value.
    let mut seen = increments.clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 2 * EACH, "each increment answered a distinct total");
    for host in &hosts {
        let (status, value) = host.get("/probe/state/probe-count/shared").await;
        assert_eq!((status.as_u16(), &value["n"]), (200, &json!(2 * EACH)), "{value}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_one_host_are_read_at_once_and_fire_each_trigger_once() {
    let hosts = hosts_on(&fresh_database("triggers"), 3);
    let mut ids = Vec::new();
    for i in 0..30 {
        let (writer, reader) = (&hosts[i % 3], &hosts[(i + 1) % 3]);
        let (status, todo) = writer.post("/todos", json!({ "title": format!("t{i}") })).await;
        assert_eq!(status, 200, "{todo}");
        let id = todo["id"].as_str().expect("an id").to_owned();
        // Read-your-writes from anywhere: the acknowledged create is on every host at once.
        let (status, list) = reader.get("/todos").await;
        assert_eq!(status, 200);
        let listed = list.as_array().expect("a list").iter().any(|t| t["id"] == id.as_str());
        assert!(listed, "{id} missing on another host right after its create: {list}");
        ids.push(id);
    }
    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        let (status, body) = hosts[i % 3].post("/todos/toggle", json!({ "id": id })).await;
        assert_eq!(status, 200, "{body}");
    }
    // update-metrics ran once per change, on whichever host leased the key's lane.
    for host in &hosts {
        eventually("the metrics to count every change exactly once", || async {
            let (_, metrics) = host.get("/todos/metrics").await;
            (metrics == json!({ "total": 30, "completed": 15 })).then_some(())
        })
        .await;
    }
    let (_, dead) = hosts[0].get("/_eddy/dlq").await;
    assert_eq!(dead["dead_letters"], Value::Array(Vec::new()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_on_one_host_sees_writes_made_on_another_in_one_dense_sequence() {
    let url = fresh_database("streams");
    let hosts = hosts_on(&url, 2);
    let mut watcher = hosts[0].ws("/stream/todos-live/all").await;
    let sync = watcher.next_json().await;
    assert_eq!(sync["event"]["type"], "sync", "{sync}");
    let epoch = sync["epoch"].as_str().expect("an epoch").to_owned();
    let start = sync["seq"].as_u64().expect("a seq");

    // Creates on both hosts: one sequence, every frame once, in seq order.
    for i in 0..6 {
        let (status, todo) = hosts[i % 2].post("/todos", json!({ "title": format!("s{i}") })).await;
        assert_eq!(status, 200, "{todo}");
    }
    let mut seqs = Vec::new();
    while seqs.len() < 6 {
        let frame = watcher.next_json().await;
        assert_eq!(frame["epoch"], epoch.as_str(), "one epoch on every host: {frame}");
        seqs.push(frame["seq"].as_u64().expect("a seq"));
    }
    assert_eq!(seqs, (start + 1..=start + 6).collect::<Vec<_>>());

    // A client of the other host resumes from the middle with `since`: exactly the rest.
    let since = start + 3;
    let mut resumed =
        hosts[1].ws(&format!("/stream/todos-live/all?since={since}&epoch={epoch}")).await;
    let mut replayed = Vec::new();
    while replayed.len() < 3 {
        let frame = resumed.next_json().await;
        assert_ne!(frame["event"]["type"], "sync", "the window covers since: {frame}");
        replayed.push(frame["seq"].as_u64().expect("a seq"));
    }
    assert_eq!(replayed, (since + 1..=start + 6).collect::<Vec<_>>());

    // After every host restarts, `since` still resumes: seqs and the window are the database's.
    drop(resumed);
    drop(watcher);
    drop(hosts);
    let hosts = hosts_on(&url, 1);
    let (status, _) = hosts[0].post("/todos", json!({ "title": "after" })).await;
    assert_eq!(status, 200);
    let mut after_restart =
        hosts[0].ws(&format!("/stream/todos-live/all?since={}&epoch={epoch}", start + 6)).await;
    let frame = after_restart.next_json().await;
    let seen = (frame["seq"].as_u64(), &frame["event"]["type"], &frame["event"]["event"]["type"]);
    assert_eq!(seen, (Some(start + 7), &json!("event"), &json!("todo_changed")), "{frame}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_replay_window_keeps_only_its_last_frames_and_a_resume_past_it_gets_a_sync() {
    const WINDOW: usize = 10;
    const CREATES: u64 = 150;
    let url = fresh_database("window");
    let host = TestHost::start_configured(rust_plugins(), tempfile::tempdir().unwrap(), {
        let url = url.clone();
        move |o| {
            o.state = Some(url);
            o.streams.replay_window = WINDOW;
        }
    });
    let mut watcher = host.ws("/stream/todos-live/all").await;
    let sync = watcher.next_json().await;
    let epoch = sync["epoch"].as_str().expect("an epoch").to_owned();
    let start = sync["seq"].as_u64().expect("a seq");
    for i in 0..CREATES {
        let (status, todo) = host.post("/todos", json!({ "title": format!("w{i}") })).await;
        assert_eq!(status, 200, "{todo}");
    }
    let last = start + CREATES;
    while watcher.next_json().await["seq"].as_u64() != Some(last) {}

    // Within the window: exactly the frames after `since`.
    let since = last - WINDOW as u64 + 2;
    let mut resumed = host.ws(&format!("/stream/todos-live/all?since={since}&epoch={epoch}")).await;
    let mut replayed = Vec::new();
    while replayed.len() < (last - since) as usize {
        let frame = resumed.next_json().await;
        assert_ne!(frame["event"]["type"], "sync", "the window covers since: {frame}");
        replayed.push(frame["seq"].as_u64().expect("a seq"));
    }
    assert_eq!(replayed, (since + 1..=last).collect::<Vec<_>>());

    // Past it: a sync at the group's current seq, never a partial replay.
    let mut late = host.ws(&format!("/stream/todos-live/all?since={start}&epoch={epoch}")).await;
    let frame = late.next_json().await;
    assert_eq!((&frame["event"]["type"], frame["seq"].as_u64()), (&json!("sync"), Some(last)));

    // And the database keeps a bounded number of frames, not all of them.
    let (client, connection) =
        tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("the database");
    tokio::spawn(connection);
    let kept: i64 = client
        .query_one("SELECT count(*) FROM eddy_stream_frames WHERE stream = 'todos-live'", &[])
        .await
        .expect("a count")
        .get(0);
    assert!(kept < 100, "{kept} of {CREATES} frames kept for a window of {WINDOW}");
    assert!(kept >= WINDOW as i64, "{kept} frames kept for a window of {WINDOW}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toggles_and_deletes_racing_through_two_hosts_have_one_winner_every_round() {
    let hosts = hosts_on(&fresh_database("races"), 2);
    let create = async |title: &str| {
        let (status, todo) = hosts[0].post("/todos", json!({ "title": title })).await;
        assert_eq!(status, 200, "{todo}");
        todo["id"].as_str().expect("an id").to_owned()
    };
    // The toggles' conditional writes meet in the database, under the key's lock.
    let id = create("contested").await;
    for round in 0..50 {
        let ((a, first), (b, second)) = tokio::join!(
            hosts[0].post("/todos/toggle", json!({ "id": id })),
            hosts[1].post("/todos/toggle", json!({ "id": id })),
        );
        assert_eq!((a.as_u16(), b.as_u16()), (200, 200), "round {round}: {first} {second}");
        assert_ne!(first["completed"], second["completed"], "round {round}: a flip was lost");
    }
    for round in 0..50 {
        let id = create("doomed").await;
        let ((toggle, body), (delete, _)) = tokio::join!(
            hosts[0].post("/todos/toggle", json!({ "id": id })),
            hosts[1].post("/todos/delete", json!({ "id": id })),
        );
        assert_eq!(delete, 200, "round {round}");
        assert!([200, 404].contains(&toggle.as_u16()), "round {round}: {toggle} {body}");
        let (_, list) = hosts[1].get("/todos").await;
        let back = list.as_array().expect("a list").iter().any(|t| t["id"] == id.as_str());
        assert!(!back, "round {round}: the deleted todo {id} is back");
    }
    let (_, list) = hosts[0].get("/todos").await;
    assert_eq!(
        list.as_array().map(|l| (l.len(), l[0]["completed"].clone())),
        Some((1, json!(false)))
    );
}
