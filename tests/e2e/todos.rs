//! The reference todo app (`plugins/todos/README.md`) through HTTP.

use serde_json::{Value, json};

use crate::harness::{TestHost, eventually};

async fn create(host: &TestHost, title: &str) -> Value {
    let (status, todo) = host.post("/todos", json!({ "title": title })).await;
    assert_eq!(status, 200, "{todo}");
    todo
}

async fn metrics_become(host: &TestHost, expected: Value) {
    eventually(&format!("metrics to become {expected}"), || async {
        let (status, metrics) = host.get("/todos/metrics").await;
        (status == 200 && metrics == expected).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_todo_is_created_listed_toggled_and_deleted() {
    let host = TestHost::start();

    let (status, metrics) = host.get("/todos/metrics").await;
    assert_eq!((status.as_u16(), metrics), (200, json!({ "total": 0, "completed": 0 })));

    let todo = create(&host, "  buy milk ").await;
    let id = todo["id"].as_str().expect("an id").to_string();
    assert_eq!(todo["title"], "buy milk");
    assert_eq!(todo["completed"], false);
    assert!(todo["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{todo}");

    let (status, list) = host.get("/todos").await;
    assert_eq!(status, 200);
    assert_eq!(list, json!([todo]));

    let (status, toggled) = host.post("/todos/toggle", json!({ "id": id })).await;
    assert_eq!((status.as_u16(), toggled), (200, json!({ "id": id, "completed": true })));
    let (_, list) = host.get("/todos").await;
    assert_eq!(list[0]["completed"], true);
    assert!(list[0]["updated_at"].is_string(), "{list}");
    metrics_become(&host, json!({ "total": 1, "completed": 1 })).await;

    let (status, deleted) = host.post("/todos/delete", json!({ "id": id })).await;
    assert_eq!((status.as_u16(), deleted), (200, json!({ "deleted": id })));
    let (_, list) = host.get("/todos").await;
    assert_eq!(list, json!([]));
    metrics_become(&host, json!({ "total": 0, "completed": 0 })).await;
}

#[tokio::test]
async fn ids_are_unique_under_concurrency_and_sort_by_creation_time() {
    let host = TestHost::start();
    let titles: Vec<String> = (0..64).map(|i| format!("t{i}")).collect();
    let todos = futures_util::future::join_all(titles.iter().map(|t| create(&host, t))).await;
    let mut ids: Vec<&str> = todos.iter().filter_map(|t| t["id"].as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64, "every id is unique");

    // The list is in key (id) order, and that order is creation order to the millisecond.
    let (_, list) = host.get("/todos").await;
    let created: Vec<&str> = list
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|t| t["created_at"].as_str())
        .collect();
    assert_eq!(created.len(), 64);
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "ids sort by creation time: {created:?}");
}

#[tokio::test]
async fn metrics_equal_the_truth_after_creates_toggles_and_deletes() {
    let host = TestHost::start();
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            create(&host, &format!("todo {i}")).await["id"].as_str().expect("an id").to_string(),
        );
    }
    // Toggle some once, some twice (back to open), delete a mix of open and completed ones.
    for id in &ids[0..6] {
        assert_eq!(host.post("/todos/toggle", json!({ "id": id })).await.0, 200);
    }
    for id in &ids[4..6] {
        assert_eq!(host.post("/todos/toggle", json!({ "id": id })).await.0, 200);
    }
    for id in [&ids[0], &ids[1], &ids[7]] {
        assert_eq!(host.post("/todos/delete", json!({ "id": id })).await.0, 200);
    }

    let (_, list) = host.get("/todos").await;
    let list = list.as_array().expect("an array").clone();
    let completed = list.iter().filter(|t| t["completed"] == true).count();
    assert_eq!((list.len(), completed), (9, 2), "the listed truth");
    metrics_become(&host, json!({ "total": 9, "completed": 2 })).await;
}

/// How many times each race is run: every round is two concurrent requests on one todo.
const RACES: usize = 100;

#[tokio::test]
async fn two_concurrent_toggles_of_a_todo_flip_it_twice_every_time() {
    let host = TestHost::start();
    let id = create(&host, "contested").await["id"].as_str().expect("an id").to_string();
    let toggle = || host.post("/todos/toggle", json!({ "id": id }));
    for round in 0..RACES {
        let ((a, first), (b, second)) = tokio::join!(toggle(), toggle());
        assert_eq!((a.as_u16(), b.as_u16()), (200, 200), "round {round}: {first} {second}");
        // One flip saw the other's result: between them they answer both values.
        assert_ne!(first["completed"], second["completed"], "round {round}: a flip was lost");
        let (_, list) = host.get("/todos").await;
        assert_eq!(list[0]["completed"], false, "round {round}: flipped twice, back to open");
    }
    metrics_become(&host, json!({ "total": 1, "completed": 0 })).await;
}

#[tokio::test]
async fn a_toggle_racing_a_delete_never_brings_the_todo_back() {
    let host = TestHost::start();
    let (mut toggled, mut too_late) = (0, 0);
    for round in 0..RACES {
        let id = create(&host, "doomed").await["id"].as_str().expect("an id").to_string();
        let ((toggle, toggle_body), (delete, delete_body)) = tokio::join!(
            host.post("/todos/toggle", json!({ "id": id })),
            host.post("/todos/delete", json!({ "id": id })),
        );
        assert_eq!(
            (delete.as_u16(), delete_body),
            (200, json!({ "deleted": id })),
            "round {round}: the delete wins or comes after the toggle"
        );
        match toggle.as_u16() {
            // The toggle landed first, and the delete removed the toggled todo.
            200 => toggled += 1,
            // The delete landed first: the toggle found nothing to flip.
            404 => too_late += 1,
            other => panic!("round {round}: the toggle answered {other}: {toggle_body}"),
        }
        let (_, list) = host.get("/todos").await;
        assert_eq!(list, json!([]), "round {round}: a deleted todo is back");
    }
    assert_eq!(toggled + too_late, RACES);
    metrics_become(&host, json!({ "total": 0, "completed": 0 })).await;
}
