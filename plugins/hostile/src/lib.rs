//! Misbehaving functions, as test fixtures: each shows that the host fails the one call and
//! keeps serving.

use eddy_sdk::plugin;

plugin! {
    "trap" => trap,
}

/// `GET /hostile/trap`: panics, which traps the component.
fn trap() {
    panic!("hostile::trap panics on purpose");
}
