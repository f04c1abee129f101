//! A live todo list: Eddy's reference application.
//!
//! Todos live in the state scope `todos` under their id. Every change fires two state
//! triggers: `on-change` pushes it to the stream `todos-live` (group `all`), and
//! `update-metrics` keeps the counts in `todo-metrics/global` with increment ops.

use eddy_sdk::{Error, ErrorCode, Json, Op, Result, StateEvent, id, plugin, state, stream, time};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

plugin! {
    "create" => create,
    "list" => list,
    "toggle" => toggle,
    "delete" => delete,
    "get-metrics" => get_metrics,
    "on-change" => on_change,
    "update-metrics" => update_metrics,
}

const TODOS: &str = "todos";
const METRICS_SCOPE: &str = "todo-metrics";
const METRICS_KEY: &str = "global";
/// How often a toggle reads again after losing a race: each loss means another write to the
/// todo committed, so only a todo written this often at once runs out.
const TOGGLE_TRIES: usize = 16;

#[derive(Serialize, Deserialize)]
struct Todo {
    id: String,
    title: String,
    completed: bool,
    created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct ById {
    id: String,
}

#[derive(Serialize, Deserialize, Default)]
struct Metrics {
    #[serde(default)]
    total: i64,
    #[serde(default)]
    completed: i64,
}

/// `POST /todos {title}`: creates a todo and returns it.
fn create(Json(body): Json<Value>) -> Result<Todo> {
    let title = body["title"].as_str().map(str::trim).unwrap_or_default();
    if title.is_empty() {
        return Err(Error::bad_request("title is required"));
    }
    // One clock reading for both, so the id order is the created_at order.
    let now = time::now_ms();
    let todo = Todo {
        id: id::ulid_at(now),
        title: title.to_string(),
        completed: false,
        created_at: time::rfc3339_ms(now),
        updated_at: None,
    };
    state::set(TODOS, &todo.id, &todo)?;
    Ok(todo)
}

/// `GET /todos`: every todo, oldest first (ids sort by creation time).
fn list() -> Result<Vec<Todo>> {
    state::list(TODOS)
}

/// `POST /todos/toggle {id}`: flips `completed`. The flip is written only if the todo is still
/// the one read (`set_if`); when another request changed or deleted it in between, the toggle
/// reads it again. So two concurrent toggles flip it twice, and a toggle never brings back a
/// todo deleted meanwhile: it answers 404.
fn toggle(Json(ById { id }): Json<ById>) -> Result<Value> {
    for _ in 0..TOGGLE_TRIES {
        let old: Value = state::get(TODOS, &id)?.ok_or_else(|| no_todo(&id))?;
        let mut todo: Todo = serde_json::from_value(old.clone())?;
        todo.completed = !todo.completed;
        todo.updated_at = Some(time::now_rfc3339());
        match state::set_if(TODOS, &id, Some(&old), &todo) {
            Ok(_) => return Ok(json!({ "id": id, "completed": todo.completed })),
            Err(e) if e.code() == ErrorCode::Conflict => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::conflict(format!(
        "todo {id} is changing too fast; try again"
    )))
}

/// `POST /todos/delete {id}`: removes a todo. One atomic write whatever the todo holds, so it
/// needs no condition: of two deletes, one answers 404.
fn delete(Json(ById { id }): Json<ById>) -> Result<Value> {
    state::delete(TODOS, &id)?.ok_or_else(|| no_todo(&id))?;
    Ok(json!({ "deleted": id }))
}

/// `GET /todos/metrics`: `{total, completed}`, zeros before the first todo.
fn get_metrics() -> Result<Metrics> {
    Ok(state::get(METRICS_SCOPE, METRICS_KEY)?.unwrap_or_default())
}

/// Pushes every change of a todo to live clients.
fn on_change(change: StateEvent) -> Result<()> {
    let todo = change.new_value.or(change.old_value);
    let data = json!({ "action": change.kind.as_str(), "key": change.key, "todo": todo });
    stream::send("todos-live", "all", "todo_changed", &data)
}

/// Keeps `total` and `completed` equal to the counts of todos, by adding the difference each
/// change makes to them.
fn update_metrics(change: StateEvent) -> Result<()> {
    let ops = metric_ops(change.old_value.as_ref(), change.new_value.as_ref());
    if !ops.is_empty() {
        state::update(METRICS_SCOPE, METRICS_KEY, &ops)?;
    }
    Ok(())
}

/// The ops that move `{total, completed}` from counting `old` to counting `new` (either is
/// `None` when the todo does not exist on that side of the change).
fn metric_ops(old: Option<&Value>, new: Option<&Value>) -> Vec<Op> {
    let (old_total, old_completed) = counts(old);
    let (new_total, new_completed) = counts(new);
    [
        delta("total", new_total - old_total),
        delta("completed", new_completed - old_completed),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What one todo (or its absence) adds to `(total, completed)`.
fn counts(todo: Option<&Value>) -> (i64, i64) {
    todo.map_or((0, 0), |t| (1, i64::from(t["completed"] == true)))
}

fn delta(field: &str, by: i64) -> Option<Op> {
    match by.signum() {
        1 => Some(Op::increment(field, by)),
        -1 => Some(Op::decrement(field, -by)),
        _ => None,
    }
}

fn no_todo(id: &str) -> Error {
    Error::not_found(format!("no todo with id {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies metric ops the way the host does, to check the counts they keep.
    fn apply(metrics: &mut (i64, i64), ops: &[Op]) {
        for op in ops {
            let (path, by) = match op {
                Op::Increment { path, by } => (path, by.as_i64().unwrap()),
                Op::Decrement { path, by } => (path, -by.as_i64().unwrap()),
                other => panic!("unexpected op {other:?}"),
            };
            match path.as_str() {
                "total" => metrics.0 += by,
                "completed" => metrics.1 += by,
                other => panic!("unexpected field {other}"),
            }
        }
    }

    #[test]
    fn metrics_follow_any_sequence_of_changes() {
        let (open, done) = (json!({"completed": false}), json!({"completed": true}));
        let changes = [
            (None, Some(&open)),        // created
            (None, Some(&done)),        // created already completed
            (Some(&open), Some(&done)), // toggled on
            (Some(&done), Some(&done)), // updated without touching completed
            (Some(&done), Some(&open)), // toggled off
            (Some(&done), None),        // completed one deleted
        ];
        let mut metrics = (0, 0);
        for (old, new) in changes {
            apply(&mut metrics, &metric_ops(old, new));
        }
        assert_eq!(metrics, (1, 0));
    }

    #[test]
    fn a_change_that_keeps_the_counts_sends_no_ops() {
        let todo = json!({"completed": true});
        assert!(metric_ops(Some(&todo), Some(&todo)).is_empty());
    }

    #[test]
    fn deleting_a_completed_todo_decrements_both_counts() {
        let ops = metric_ops(Some(&json!({"completed": true})), None);
        assert_eq!(
            ops,
            [Op::decrement("total", 1), Op::decrement("completed", 1)]
        );
    }
}
