//! A plugin's fair share (`docs/http.md`): a flood of runaway calls of one plugin meets its cap
//! on calls in flight — the calls over it are refused with 503 and `Retry-After` after a brief
//! wait, none fails for want of an instance — while another plugin's requests go on being
//! answered. (How their latency holds up is measured by `eddy-bench fairness`, not here.)

use std::collections::BTreeMap;

use crate::harness::{TestHost, rust_plugins};

/// Concurrent calls of `hostile::loop`, which spins until its 1 s deadline.
const FLOOD: usize = 400;

#[tokio::test]
async fn a_flood_of_runaway_calls_meets_its_cap_and_another_plugin_is_still_served() {
    let host = TestHost::start_configured(
        rust_plugins(),
        tempfile::tempdir().expect("a data dir"),
        |options| options.instances.plugin_concurrency = 32,
    );
    let flood: Vec<_> = (0..FLOOD)
        .map(|_| {
            let request = host.http.get(host.url("/hostile/loop")).send();
            tokio::spawn(async move {
                let response = request.await.expect("every runaway call is answered");
                let retry_after = response.headers().get("retry-after").cloned();
                (response.status().as_u16(), retry_after)
            })
        })
        .collect();

    let mut victim = BTreeMap::new();
    for _ in 0..40 {
        let (status, _) = host.get("/todos").await;
        *victim.entry(status.as_u16()).or_insert(0) += 1;
    }

    let mut runaway = BTreeMap::new();
    for call in flood {
        let (status, retry_after) = call.await.expect("the task to finish");
        *runaway.entry(status).or_insert(0) += 1;
        if status == 503 {
            assert_eq!(retry_after.as_ref().map(|v| v.to_str().unwrap()), Some("1"));
        }
    }
    assert_eq!(victim, BTreeMap::from([(200, 40)]), "the other plugin: every request served");
    let refused = runaway.get(&503).copied().unwrap_or(0);
    let timed_out = runaway.get(&504).copied().unwrap_or(0);
    assert_eq!(refused + timed_out, FLOOD, "only 503 (over the cap) and 504: {runaway:?}");
    assert!(refused > 0, "calls over the cap were refused: {runaway:?}");
    assert!(timed_out >= 32, "the calls within the cap ran to their deadline: {runaway:?}");
}
