use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;

use super::*;
use crate::cause::Cause;
use crate::state::{ChangeKind, StateChange};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("eddy-redb-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    /// The database file, one level down so `open` has a directory to create.
    fn db(&self) -> PathBuf {
        self.0.join("data").join("state.redb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(dir: &TempDir) -> RedbEngine {
    RedbEngine::open(&dir.db()).expect("open")
}

fn reopen_and_load(dir: &TempDir, engine: RedbEngine) -> Loaded {
    drop(engine);
    open(dir).load().expect("load")
}

fn set(scope: &str, key: &str, value: Value) -> (String, String, Option<Value>) {
    (scope.to_owned(), key.to_owned(), Some(value))
}

fn delete(scope: &str, key: &str) -> (String, String, Option<Value>) {
    (scope.to_owned(), key.to_owned(), None)
}

fn event(seq: u64) -> OutboxEvent {
    OutboxEvent {
        seq,
        change: StateChange {
            kind: ChangeKind::Created,
            scope: "todos".to_owned(),
            key: format!("t{seq}"),
            old_value: None,
            new_value: Some(json!({"n": seq})),
            cause: Cause::ROOT,
        },
        target: None,
        bound: vec!["todos::on-change".to_owned()],
    }
}

#[test]
fn an_event_stored_before_events_named_their_functions_still_reads() {
    let mut stored = serde_json::to_value(event(7)).unwrap();
    stored.as_object_mut().unwrap().remove("bound");
    let read: OutboxEvent = serde_json::from_value(stored).unwrap();
    assert_eq!(read, OutboxEvent { bound: vec![], ..event(7) });
}

fn dead_letter(id: u64) -> DeadLetter {
    DeadLetter {
        id,
        event: event(100 + id),
        function: "todos::update-metrics".to_owned(),
        error: "boom".to_owned(),
        attempts: 5,
        parked_at_ms: 1_700_000_000_000,
    }
}

fn entries(loaded: &Loaded) -> Vec<(&str, &str, &Value)> {
    loaded.entries.iter().map(|(s, k, v)| (s.as_str(), k.as_str(), v)).collect()
}

fn marks(pairs: &[(u64, &str)]) -> Vec<(u64, String)> {
    pairs.iter().map(|(seq, f)| (*seq, (*f).to_owned())).collect()
}

#[test]
fn a_new_database_loads_empty_with_ids_at_zero() {
    let dir = TempDir::new();
    let loaded = open(&dir).load().expect("load");
    assert_eq!(loaded, Loaded::default());
}

#[test]
fn a_committed_batch_survives_closing_and_reopening() {
    let dir = TempDir::new();
    let mut engine = open(&dir);
    let batch = Batch {
        writes: vec![set("todos", "t1", json!({"title": "milk"}))],
        events: vec![event(0), event(1)],
        delivered: vec![(0, "todos::a".to_owned())],
        dead_letters: vec![dead_letter(0)],
        next_seq: 2,
        next_dead_letter: 1,
        ..Batch::default()
    };
    engine.commit(&batch).expect("commit");
    let loaded = reopen_and_load(&dir, engine);
    assert_eq!(entries(&loaded), [("todos", "t1", &json!({"title": "milk"}))]);
    assert_eq!(loaded.outbox, [event(0), event(1)]);
    assert_eq!(loaded.delivered, marks(&[(0, "todos::a")]));
    assert_eq!(loaded.dead_letters, [dead_letter(0)]);
    assert_eq!((loaded.next_seq, loaded.next_dead_letter), (2, 1));
}

#[test]
fn deletes_remove_keys_and_overwrites_replace_values() {
    let dir = TempDir::new();
    let mut engine = open(&dir);
    let first = Batch {
        writes: vec![set("s", "a", json!(1)), set("s", "b", json!(2)), set("s", "c", json!(3))],
        ..Batch::default()
    };
    engine.commit(&first).expect("commit");
    let second = Batch {
        writes: vec![delete("s", "a"), set("s", "b", json!("two")), delete("s", "missing")],
        ..Batch::default()
    };
    engine.commit(&second).expect("commit");
    let loaded = reopen_and_load(&dir, engine);
    assert_eq!(entries(&loaded), [("s", "b", &json!("two")), ("s", "c", &json!(3))]);
}

#[test]
fn the_last_write_to_a_key_in_one_batch_wins() {
    let dir = TempDir::new();
    let mut engine = open(&dir);
    let batch = Batch {
        writes: vec![
            set("s", "a", json!(1)),
            set("s", "a", json!(2)),
            delete("s", "b"),
            set("s", "b", json!("back")),
            set("s", "c", json!(1)),
            delete("s", "c"),
        ],
        ..Batch::default()
    };
    engine.commit(&batch).expect("commit");
    let loaded = reopen_and_load(&dir, engine);
    assert_eq!(entries(&loaded), [("s", "a", &json!(2)), ("s", "b", &json!("back"))]);
}

#[test]
fn completed_events_disappear_with_all_their_delivered_marks() {
    let dir = TempDir::new();
    let mut engine = open(&dir);
    let batch = Batch {
        events: vec![event(1), event(2), event(3)],
        delivered: marks(&[(1, "f::a"), (1, "f::b"), (2, "f::a"), (2, "f::z"), (3, "f::a")]),
        next_seq: 4,
        ..Batch::default()
    };
    engine.commit(&batch).expect("commit");
    let done = Batch { completed: vec![2], next_seq: 4, ..Batch::default() };
    engine.commit(&done).expect("commit");
    let loaded = reopen_and_load(&dir, engine);
    assert_eq!(loaded.outbox, [event(1), event(3)]);
    assert_eq!(loaded.delivered, marks(&[(1, "f::a"), (1, "f::b"), (3, "f::a")]));
}

#[test]
fn an_event_can_arrive_and_complete_in_one_batch() {
    let dir = TempDir::new();
    let mut engine = open(&dir);
    let batch = Batch {
        events: vec![event(0), event(1)],
        delivered: marks(&[(0, "f::a"), (1, "f::a")]),
        completed: vec![0],
        next_seq: 2,
        ..Batch::default()
    };
    engine.commit(&batch).expect("commit");
    let loaded = reopen_and_load(&dir, engine);
    assert_eq!(loaded.outbox, [event(1)]);
    assert_eq!(loaded.delivered, marks(&[(1, "f::a")]));
}

#[test]
fn dead_letters_go_in_and_come_out_in_id_order() {
    let dir = TempDir::new();
    let mut engine = open(&dir);
    let parked = Batch {
        dead_letters: vec![dead_letter(2), dead_letter(0), dead_letter(1)],
        next_dead_letter: 3,
        ..Batch::default()
    };
    engine.commit(&parked).expect("commit");
    let replayed = Batch { dead_letters_removed: vec![1], next_dead_letter: 3, ..Batch::default() };
    engine.commit(&replayed).expect("commit");
    let loaded = reopen_and_load(&dir, engine);
    assert_eq!(loaded.dead_letters, [dead_letter(0), dead_letter(2)]);
}

#[test]
fn ids_survive_a_reopen_even_from_an_otherwise_empty_batch() {
    let dir = TempDir::new();
    let mut engine = open(&dir);
    let batch = Batch { next_seq: 41, next_dead_letter: 7, ..Batch::default() };
    assert!(batch.is_empty());
    engine.commit(&batch).expect("commit");
    let loaded = reopen_and_load(&dir, engine);
    assert_eq!((loaded.next_seq, loaded.next_dead_letter), (41, 7));
}

#[test]
fn keys_of_different_scopes_do_not_mix_and_come_in_key_order() {
    let dir = TempDir::new();
    let mut engine = open(&dir);
    let batch = Batch {
        writes: vec![
            set("b", "y", json!(1)),
            set("a", "z", json!(2)),
            set("ab", "a", json!(3)),
            set("a", "b", json!(4)),
            set("b", "a", json!(5)),
            set("a", "b2", json!(6)),
        ],
        ..Batch::default()
    };
    engine.commit(&batch).expect("commit");
    let loaded = reopen_and_load(&dir, engine);
    let keys: Vec<(&str, &str)> = entries(&loaded).iter().map(|(s, k, _)| (*s, *k)).collect();
    assert_eq!(keys, [("a", "b"), ("a", "b2"), ("a", "z"), ("ab", "a"), ("b", "a"), ("b", "y")]);
}

#[test]
fn opening_the_same_file_twice_fails_clearly() {
    let dir = TempDir::new();
    let _first = open(&dir);
    let err = RedbEngine::open(&dir.db()).expect_err("second open");
    let message = err.to_string();
    assert!(message.contains("state.redb"), "{message}");
    assert!(message.contains("another eddy"), "{message}");
}

#[test]
fn a_batch_of_ten_thousand_writes_commits() {
    let dir = TempDir::new();
    let mut engine = open(&dir);
    let writes = (0..10_000).map(|i| set("bulk", &format!("k{i:05}"), json!({"i": i}))).collect();
    engine.commit(&Batch { writes, ..Batch::default() }).expect("commit");
    let loaded = reopen_and_load(&dir, engine);
    assert_eq!(loaded.entries.len(), 10_000);
    assert_eq!(loaded.entries[9_999].1, "k09999");
}

#[test]
fn a_lazy_commit_is_lost_in_a_crash_until_a_durable_one_follows() {
    let dir = TempDir::new();
    let mut engine = open(&dir);
    let durable = Batch { writes: vec![set("s", "a", json!(1))], ..Batch::default() };
    engine.commit(&durable).expect("commit");
    let lazy = Batch {
        writes: vec![set("s", "b", json!(2)), set("s", "a", json!(3))],
        events: vec![event(1)],
        next_seq: 2,
        lazy: true,
        ..Batch::default()
    };
    engine.commit(&lazy).expect("lazy commit");
    // What a kill -9 leaves: the file as it is now (the page cache survives the process).
    let crashed = |name: &str| {
        let copy = TempDir::new();
        std::fs::create_dir_all(copy.db().parent().expect("parent")).expect("mkdir");
        std::fs::copy(dir.db(), copy.db()).expect("copy");
        let loaded = open(&copy).load().expect("load");
        eprintln!("{name}: {:?}", loaded.entries);
        loaded
    };
    let before = crashed("before the sync");
    assert_eq!(before.entries, [("s".to_owned(), "a".to_owned(), json!(1))]);
    assert!(before.outbox.is_empty());

    // An empty durable commit carries it.
    engine.commit(&Batch { next_seq: 2, ..Batch::default() }).expect("sync");
    let after = crashed("after the sync");
    assert_eq!(
        after.entries,
        [("s".to_owned(), "a".to_owned(), json!(3)), ("s".to_owned(), "b".to_owned(), json!(2))]
    );
    assert_eq!(after.outbox, [event(1)]);
    assert_eq!(after.next_seq, 2);
}
