//! What a trigger handler's stream writes do before and after its delivery commits: held back
//! and visible to the handler alone until the commit, broadcast once after it, never for an
//! attempt that is dropped. Over the memory engine and a real stream hub; no wasm.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::Mutex as TxnMutex;

use super::execute;
use crate::calls::{Invocation, Transaction};
use crate::cause::Cause;
use crate::error::Error;
use crate::runtime::{Reply, Request};
use crate::state::State;
use crate::state::engine::MemoryEngine;
use crate::streams::{StreamChange, StreamEvent, Streams, StreamsConfig};

/// Fresh state and streams, with every broadcast recorded.
struct Fixture {
    state: State,
    streams: Streams,
    broadcasts: Arc<Mutex<Vec<StreamEvent>>>,
}

impl Fixture {
    fn new() -> Fixture {
        let (state, _) = State::open(
            Box::new(MemoryEngine),
            Arc::new(|_| {}),
            Arc::new(|_: &str, _: &str| Vec::new()),
            Default::default(),
        )
        .expect("state");
        let broadcasts = Arc::new(Mutex::new(Vec::new()));
        let sink = broadcasts.clone();
        let on_event = Arc::new(move |event| sink.lock().expect("lock").push(event));
        let streams = Streams::new(StreamsConfig::default(), on_event);
        Fixture { state, streams, broadcasts }
    }

    /// A handler's invocation, and its transaction.
    fn handler(&self) -> (Invocation, Arc<TxnMutex<Transaction>>) {
        let txn = self.state.begin(Cause { depth: 1 });
        let txn = Arc::new(TxnMutex::new(Transaction::new(txn)));
        (Invocation::in_transaction(Cause { depth: 1 }, txn.clone()), txn)
    }

    async fn try_run(&self, invocation: &Invocation, request: Request) -> Result<Reply, Error> {
        execute(&self.state, &self.streams, invocation, request).await
    }

    async fn run(&self, invocation: &Invocation, request: Request) -> Reply {
        self.try_run(invocation, request).await.expect("the request")
    }

    /// The kinds of every broadcast so far.
    fn changes(&self) -> Vec<StreamChange> {
        self.broadcasts.lock().expect("lock").iter().map(|e| e.change).collect()
    }

    async fn live(&self, item: &str) -> Option<Value> {
        self.streams.get("s", "g", item).await.expect("get")
    }
}

fn set(item: &str, value: Value) -> Request {
    Request::ItemSet { stream: "s".into(), group: "g".into(), item: item.into(), value }
}

fn increment(item: &str) -> Request {
    let ops = json!([{ "type": "increment", "path": "n", "by": 1 }]);
    Request::ItemUpdate { stream: "s".into(), group: "g".into(), item: item.into(), ops }
}

fn get(item: &str) -> Request {
    Request::ItemGet { stream: "s".into(), group: "g".into(), item: item.into() }
}

fn list() -> Request {
    Request::ItemList { stream: "s".into(), group: "g".into() }
}

async fn commit(fixture: &Fixture, invocation: Invocation, txn: Arc<TxnMutex<Transaction>>) {
    drop(invocation);
    let txn = Arc::try_unwrap(txn).ok().expect("unshared").into_inner();
    fixture.state.commit(txn.into_state(), None).await.expect("commit");
}

#[tokio::test]
async fn a_handlers_item_writes_reach_nobody_before_its_commit_and_everyone_once_after() {
    let fixture = Fixture::new();
    fixture.streams.set("s", "g", "b", json!({ "n": 5 }), Cause::ROOT).await.expect("set");
    let before = fixture.changes().len();
    let (invocation, txn) = fixture.handler();

    fixture.run(&invocation, set("a", json!({ "n": 1 }))).await;
    fixture.run(&invocation, increment("a")).await;
    fixture.run(&invocation, increment("b")).await;
    assert_eq!(fixture.changes().len(), before, "nothing is broadcast during the handler");
    assert_eq!(fixture.live("a").await, None, "nor visible to others");

    commit(&fixture, invocation, txn).await;
    assert_eq!(
        fixture.changes()[before..],
        [StreamChange::Create, StreamChange::Update, StreamChange::Update]
    );
    assert_eq!(fixture.live("a").await, Some(json!({ "n": 2 })));
    assert_eq!(fixture.live("b").await, Some(json!({ "n": 6 })));
}

#[tokio::test]
async fn a_handler_reads_its_own_item_writes() {
    let fixture = Fixture::new();
    fixture.streams.set("s", "g", "b", json!({ "n": 5 }), Cause::ROOT).await.expect("set");
    let (invocation, _txn) = fixture.handler();

    fixture.run(&invocation, set("a", json!({ "n": 1 }))).await;
    let updated = fixture.run(&invocation, increment("a")).await;
    let Reply::Updated(outcome) = updated else { panic!("an update reply: {updated:?}") };
    assert_eq!(outcome.old_value, Some(json!({ "n": 1 })));
    assert_eq!(outcome.new_value, Some(json!({ "n": 2 })));
    assert_eq!(fixture.run(&invocation, get("a")).await, Reply::Value(Some(json!({ "n": 2 }))));

    let delete = Request::ItemDelete { stream: "s".into(), group: "g".into(), item: "b".into() };
    assert_eq!(fixture.run(&invocation, delete).await, Reply::Value(Some(json!({ "n": 5 }))));
    assert_eq!(fixture.run(&invocation, get("b")).await, Reply::Value(None));
    assert_eq!(fixture.run(&invocation, list()).await, Reply::Values(vec![json!({ "n": 2 })]));
    assert_eq!(fixture.live("b").await, Some(json!({ "n": 5 })), "the live item is untouched");
}

#[tokio::test]
async fn a_dropped_attempt_broadcasts_nothing() {
    let fixture = Fixture::new();
    let (invocation, txn) = fixture.handler();
    fixture.run(&invocation, set("a", json!(1))).await;
    let send = Request::StreamSend {
        stream: "s".into(),
        group: "g".into(),
        id: None,
        event_type: "t".into(),
        data: json!(1),
    };
    fixture.run(&invocation, send).await;
    drop((invocation, txn));
    assert!(fixture.changes().is_empty());
    assert_eq!(fixture.live("a").await, None);
}

#[tokio::test]
async fn a_bad_item_name_is_refused_at_once_inside_a_handler() {
    let fixture = Fixture::new();
    let (invocation, _txn) = fixture.handler();
    let request = Request::ItemSet {
        stream: "s".into(),
        group: "g".into(),
        item: String::new(),
        value: json!(1),
    };
    let error = fixture.try_run(&invocation, request).await.expect_err("refused");
    assert_eq!(error.code, crate::error::ErrorCode::BadRequest);
}

#[tokio::test]
async fn outside_a_handler_item_writes_broadcast_at_once() {
    let fixture = Fixture::new();
    fixture.run(&Invocation::root(), set("a", json!(1))).await;
    assert_eq!(fixture.changes(), [StreamChange::Create]);
    assert_eq!(fixture.live("a").await, Some(json!(1)));
}
