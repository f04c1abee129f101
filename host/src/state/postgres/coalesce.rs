//! [`Coalesce`]: reads of one kind that are asked for while one of their queries is in flight
//! go out together in the next, so under load a host sends the database one query for many
//! callers (as the writer and the stream commits batch writes), and an idle host sends each
//! read at once. A read's query is always sent after the read was asked for, so it sees every
//! write acknowledged before then: read-your-writes holds as with a query of its own.

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use crate::state::error::StateError;

/// Answers a batch of asks, one answer per ask in the same order.
type Run<Q, A> = dyn Fn(Vec<Q>) -> BoxFuture<'static, Result<Vec<A>, StateError>> + Send + Sync;

/// One kind of read, coalesced. Cheap to clone.
pub(super) struct Coalesce<Q, A> {
    waiting: Arc<Mutex<Waiting<Q, A>>>,
    run: Arc<Run<Q, A>>,
}

impl<Q, A> Clone for Coalesce<Q, A> {
    fn clone(&self) -> Self {
        Coalesce { waiting: self.waiting.clone(), run: self.run.clone() }
    }
}

struct Waiting<Q, A> {
    asks: Vec<(Q, oneshot::Sender<Result<A, StateError>>)>,
    /// Whether a task is sending queries: it takes whatever waits when its query returns.
    busy: bool,
}

impl<Q: Send + 'static, A: Send + 'static> Coalesce<Q, A> {
    /// Reads answered by `run`, which gets every ask waiting when it is called.
    pub(super) fn new(
        run: impl Fn(Vec<Q>) -> BoxFuture<'static, Result<Vec<A>, StateError>> + Send + Sync + 'static,
    ) -> Self {
        let waiting = Waiting { asks: Vec::new(), busy: false };
        Coalesce { waiting: Arc::new(Mutex::new(waiting)), run: Arc::new(run) }
    }

    /// Asks `ask`, in the next query that goes out.
    pub(super) async fn ask(&self, ask: Q) -> Result<A, StateError> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            waiting.asks.push((ask, answer));
            !std::mem::replace(&mut waiting.busy, true)
        };
        if start {
            // A task of its own: a caller that goes away (a dropped request) must not take the
            // other callers' reads with it.
            tokio::spawn(self.clone().send());
        }
        answered.await.map_err(|_| StateError::Storage("the read was abandoned".into()))?
    }

    /// Sends what waits, one query at a time, until nothing does.
    async fn send(self) {
        let _failed = Failed(&self.waiting);
        loop {
            let asks = {
                let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                if waiting.asks.is_empty() {
                    waiting.busy = false;
                    return;
                }
                std::mem::take(&mut waiting.asks)
            };
            let (asks, answers): (Vec<Q>, Vec<_>) = asks.into_iter().unzip();
            let count = asks.len();
            match (self.run)(asks).await {
                Ok(results) if results.len() == count => {
                    for (answer, result) in answers.into_iter().zip(results) {
                        let _ = answer.send(Ok(result));
                    }
                }
                Ok(results) => {
                    let e = StateError::Storage(format!(
                        "a batched read answered {} of {count} reads",
                        results.len()
                    ));
                    answers.into_iter().for_each(|answer| drop(answer.send(Err(e.clone()))));
                }
                Err(e) => answers.into_iter().for_each(|answer| drop(answer.send(Err(e.clone())))),
            }
        }
    }
}

/// If the sending task panics, the reads waiting fail and the next read starts a new task.
struct Failed<'a, Q, A>(&'a Mutex<Waiting<Q, A>>);

impl<Q, A> Drop for Failed<'_, Q, A> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut waiting = self.0.lock().unwrap_or_else(|e| e.into_inner());
            waiting.asks.clear();
            waiting.busy = false;
        }
    }
}

#[cfg(test)]
mod tests {

    use tokio::sync::Semaphore;

    use super::*;

    /// Doubles each ask once `gate` lets it (13 fails its query), recording the batches.
    fn doubler(gate: Arc<Semaphore>, batches: Arc<Mutex<Vec<usize>>>) -> Coalesce<u32, u32> {
        Coalesce::new(move |asks: Vec<u32>| {
            batches.lock().unwrap().push(asks.len());
            let gate = gate.clone();
            Box::pin(async move {
                gate.acquire().await.unwrap().forget();
                if asks.contains(&13) {
                    return Err(StateError::Storage("unlucky".into()));
                }
                Ok(asks.into_iter().map(|a| a * 2).collect())
            })
        })
    }

    /// Yields until `done`.
    async fn until(done: impl Fn() -> bool) {
        while !done() {
            tokio::task::yield_now().await;
        }
    }

    fn queued(reads: &Coalesce<u32, u32>) -> usize {
        reads.waiting.lock().unwrap().asks.len()
    }

    fn spawn_ask(
        reads: &Coalesce<u32, u32>,
        n: u32,
    ) -> tokio::task::JoinHandle<Result<u32, StateError>> {
        let reads = reads.clone();
        tokio::spawn(async move { reads.ask(n).await })
    }

    #[tokio::test]
    async fn reads_asked_while_one_is_in_flight_share_the_next_query_and_get_their_own_answers() {
        let (gate, batches) = (Arc::new(Semaphore::new(0)), Arc::new(Mutex::new(Vec::new())));
        let reads = doubler(gate.clone(), batches.clone());
        let first = spawn_ask(&reads, 100);
        until(|| batches.lock().unwrap().len() == 1).await;
        let rest: Vec<_> = (20..69).map(|n| spawn_ask(&reads, n)).collect();
        until(|| queued(&reads) == 49).await;
        gate.add_permits(2);
        assert_eq!(first.await.unwrap().unwrap(), 200);
        for (n, read) in rest.into_iter().enumerate() {
            assert_eq!(read.await.unwrap().unwrap(), (n as u32 + 20) * 2);
        }
        // The first went out alone; the 49 asked meanwhile in one more query.
        assert_eq!(*batches.lock().unwrap(), [1, 49]);
        // Idle again: the next read goes out at once, on its own.
        gate.add_permits(1);
        assert_eq!(reads.ask(4).await.unwrap(), 8);
        assert_eq!(*batches.lock().unwrap(), [1, 49, 1]);
    }

    #[tokio::test]
    async fn a_failed_query_fails_the_reads_it_carried_and_no_others() {
        let (gate, batches) = (Arc::new(Semaphore::new(0)), Arc::new(Mutex::new(Vec::new())));
        let reads = doubler(gate.clone(), batches.clone());
        let first = spawn_ask(&reads, 1);
        until(|| batches.lock().unwrap().len() == 1).await;
        let (unlucky, other) = (spawn_ask(&reads, 13), spawn_ask(&reads, 2));
        until(|| queued(&reads) == 2).await;
        gate.add_permits(2);
        assert_eq!(first.await.unwrap().unwrap(), 2);
        let unlucky = unlucky.await.unwrap();
        assert!(matches!(unlucky, Err(StateError::Storage(m)) if m == "unlucky"));
        assert!(other.await.unwrap().is_err(), "a read in the failed query fails with it");
        gate.add_permits(1);
        assert_eq!(reads.ask(3).await.unwrap(), 6);
    }
}
