//! A second plugin that reads the todo list through `invoke`, proving cross-plugin calls.

use eddy_sdk::{Result, invoke, plugin};
use serde::{Deserialize, Serialize};

plugin! {
    "summary" => summary,
}

/// The fields of a todo this plugin needs; `todos::list` returns more.
#[derive(Deserialize)]
struct Todo {
    title: String,
    completed: bool,
}

#[derive(Serialize)]
struct Summary {
    total: usize,
    completed: usize,
    open: usize,
    /// Titles of the todos still open, oldest first.
    titles: Vec<String>,
}

/// `GET /todo-summary`.
fn summary() -> Result<Summary> {
    let todos: Vec<Todo> = invoke::call("todos::list", &())?;
    let titles: Vec<String> = todos
        .iter()
        .filter(|t| !t.completed)
        .map(|t| t.title.clone())
        .collect();
    Ok(Summary {
        total: todos.len(),
        completed: todos.len() - titles.len(),
        open: titles.len(),
        titles,
    })
}
