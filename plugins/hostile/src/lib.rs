//! Misbehaving functions, as test fixtures: each shows that the host fails the one call and
//! keeps serving.

use eddy_sdk::{Result, plugin, state};
use serde_json::{Value, json};

plugin! {
    "trap" => trap,
    "loop" => spin,
    "oom" => oom,
    "stack" => stack,
    "forbidden" => forbidden,
    "spin-on-change" => spin_on_change,
    "leak" => leak,
}

/// `GET /hostile/trap`: panics, which traps the component.
fn trap() {
    panic!("hostile::trap panics on purpose");
}

/// `GET /hostile/loop`: never returns.
fn spin() -> u64 {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// A state trigger that spins forever.
fn spin_on_change(_change: eddy_sdk::StateEvent) -> u64 {
    spin()
}

/// `GET /hostile/oom`: keeps every allocation until the memory cap refuses one.
fn oom() -> usize {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

/// `GET /hostile/leak`: leaks 4 MiB a call and answers how much it has leaked in all — what a
/// guest whose heap creeps up looks like to a warm instance (JavaScript engines do, slowly).
fn leak() -> usize {
    static LEAKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    std::hint::black_box(Box::leak(vec![1u8; 4 << 20].into_boxed_slice()));
    LEAKED.fetch_add(4, std::sync::atomic::Ordering::Relaxed) + 4
}

/// `GET /hostile/stack`: unbounded recursion.
fn stack() -> u64 {
    fn deeper(n: u64) -> u64 {
        // Never true at run time, but the compiler cannot know: the recursion is unbounded.
        if std::hint::black_box(n) == u64::MAX {
            return n;
        }
        std::hint::black_box(deeper(std::hint::black_box(n + 1))) + 1
    }
    deeper(0)
}

/// `GET /hostile/forbidden`: writes scope `todos` without the capability; returns the error it
/// was given (the write must fail with `forbidden` and change nothing).
fn forbidden() -> Result<Value> {
    match state::set("todos", "planted", &json!({ "id": "planted", "title": "not yours" })) {
        Ok(_) => Ok(json!({ "wrote": true })),
        Err(e) => Ok(json!({ "wrote": false, "code": format!("{:?}", e.code()), "message": e.message() })),
    }
}
