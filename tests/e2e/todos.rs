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
