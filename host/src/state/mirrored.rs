//! [`Mirrored`], the embedded [`Store`]: every committed value in memory (the [`Mirror`],
//! which readers share), made durable by an [`Engine`] (redb on disk, or memory only). One host
//! owns it, so its rounds lock nothing: the writer thread is the only writer. It keeps the
//! outbox's bookkeeping (which events wait, which deliveries are done) and the id counters in
//! memory too, and publishes a round to readers only after the engine committed it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;

use super::engine::{Batch, DeadLetter, Engine, Loaded, OutboxEvent};
use super::error::StateError;
use super::mirror::Mirror;
use super::outage::{Outage, OutageReport};
use super::store::Store;

/// What readers of the embedded store share with its writer.
#[derive(Default)]
pub struct Shared {
    pub mirror: RwLock<Mirror>,
    pub dead_letters: Mutex<BTreeMap<u64, DeadLetter>>,
    /// Set while the store refuses writes (`outage.rs`).
    pub outage: Mutex<Option<OutageReport>>,
}

impl Shared {
    /// The committed state, for reading. The lock is held only for a lookup or a copy; a
    /// poisoned lock still holds whole data (the writer publishes a round in one assignment).
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Mirror> {
        self.mirror.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The parked deliveries, by id.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead_letters.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// Why the store refuses writes, if it does.
    pub fn outage(&self) -> Option<OutageReport> {
        self.outage.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The embedded store, owned by the writer thread.
pub struct Mirrored {
    engine: Box<dyn Engine>,
    shared: Arc<Shared>,
    /// Seqs of events still in the outbox.
    outbox: HashSet<u64>,
    /// Delivery marks of those events.
    delivered: HashSet<(u64, String)>,
    next_seq: u64,
    next_dead_letter: u64,
    /// What the engine held when opened, until [`Store::recover`] hands it out.
    loaded: Option<Loaded>,
    /// Set from a failed commit until a commit succeeds again.
    outage: Option<Outage>,
    /// Events a reopen found in the outbox that memory had retired (by lazy commits the failure
    /// lost): to be delivered again.
    lost: Vec<OutboxEvent>,
}

impl Mirrored {
    /// Loads what `engine` holds into memory.
    pub fn open(mut engine: Box<dyn Engine>) -> Result<(Mirrored, Arc<Shared>), StateError> {
        let loaded = engine.load()?;
        let shared = Arc::new(Shared::default());
        let mut store = Mirrored {
            engine,
            shared: shared.clone(),
            outbox: HashSet::new(),
            delivered: HashSet::new(),
            next_seq: 0,
            next_dead_letter: 0,
            loaded: None,
            outage: None,
            lost: Vec::new(),
        };
        store.adopt(&loaded);
        tracing::info!(
            engine = store.engine.name(),
            keys = loaded.entries.len(),
            undelivered = loaded.outbox.len(),
            "state opened"
        );
        store.loaded = Some(loaded);
        Ok((store, shared))
    }

    /// Makes the in-memory view equal to what the engine holds.
    fn adopt(&mut self, loaded: &Loaded) {
        let mut mirror = Mirror::default();
        for (scope, key, value) in &loaded.entries {
            mirror.put(scope, key, Some(value.clone()));
        }
        *self.shared.mirror.write().unwrap_or_else(|e| e.into_inner()) = mirror;
        *self.shared.dead_letters.lock().unwrap_or_else(|e| e.into_inner()) =
            loaded.dead_letters.iter().map(|d| (d.id, d.clone())).collect();
        self.outbox = loaded.outbox.iter().map(|e| e.seq).collect();
        self.delivered = loaded.delivered.iter().cloned().collect();
        self.next_seq = loaded.next_seq.max(loaded.outbox.last().map_or(0, |e| e.seq + 1));
        self.next_dead_letter =
            loaded.next_dead_letter.max(loaded.dead_letters.last().map_or(0, |d| d.id + 1));
    }

    /// Shows a committed batch to readers and to the outbox's bookkeeping.
    fn publish(&mut self, batch: &Batch) {
        {
            let mut mirror = self.shared.mirror.write().unwrap_or_else(|e| e.into_inner());
            for (scope, key, value) in &batch.writes {
                mirror.put(scope, key, value.clone());
            }
        }
        {
            let mut dead = self.shared.dead_letters.lock().unwrap_or_else(|e| e.into_inner());
            for letter in &batch.dead_letters {
                dead.insert(letter.id, letter.clone());
            }
            for id in &batch.dead_letters_removed {
                dead.remove(id);
            }
        }
        self.outbox.extend(batch.events.iter().map(|event| event.seq));
        for (seq, function) in &batch.delivered {
            self.delivered.insert((*seq, function.clone()));
        }
        for seq in &batch.completed {
            self.outbox.remove(seq);
        }
        if !batch.completed.is_empty() {
            let completed: HashSet<u64> = batch.completed.iter().copied().collect();
            self.delivered.retain(|(seq, _)| !completed.contains(seq));
        }
    }
}

impl Mirrored {
    /// Opens the engine again after a failure and makes memory equal to what it holds, as a
    /// restart would; events it still holds that memory had retired are delivered again.
    fn reopen(&mut self) -> Result<(), StateError> {
        self.engine.reopen()?;
        let loaded = self.engine.load()?;
        let lost = loaded.outbox.iter().filter(|e| !self.outbox.contains(&e.seq)).cloned();
        self.lost.extend(lost);
        // Seqs and ids handed out since the last durable commit may be in flight: never reuse
        // them.
        let (next_seq, next_dead_letter) = (self.next_seq, self.next_dead_letter);
        self.adopt(&loaded);
        self.next_seq = self.next_seq.max(next_seq);
        self.next_dead_letter = self.next_dead_letter.max(next_dead_letter);
        Ok(())
    }

    /// Shows health the outage (or its end).
    fn show_outage(&self) {
        let report = self.outage.as_ref().map(|o| o.report().clone());
        *self.shared.outage.lock().unwrap_or_else(|e| e.into_inner()) = report;
    }
}

impl Store for Mirrored {
    fn recover(&mut self) -> Result<Vec<(OutboxEvent, Vec<String>)>, StateError> {
        let Some(loaded) = self.loaded.take() else { return Ok(Vec::new()) };
        let mut marks: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (seq, function) in loaded.delivered {
            marks.entry(seq).or_default().push(function);
        }
        Ok(loaded
            .outbox
            .into_iter()
            .map(|event| {
                let done = marks.remove(&event.seq).unwrap_or_default();
                (event, done)
            })
            .collect())
    }

    fn begin(
        &mut self,
        _keys: &BTreeSet<(String, String)>,
        _events: &BTreeSet<u64>,
        _seqs: usize,
    ) -> Result<(), StateError> {
        // The writer thread is the only writer: nothing to lock.
        Ok(())
    }

    fn value(&mut self, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        Ok(self.shared.read().get(scope, key).cloned())
    }

    fn delivered(&mut self, seq: u64, function: &str) -> Result<bool, StateError> {
        Ok(!self.outbox.contains(&seq) || self.delivered.contains(&(seq, function.to_owned())))
    }

    fn next_seq(&mut self) -> Result<u64, StateError> {
        self.next_seq += 1;
        Ok(self.next_seq - 1)
    }

    fn next_dead_letter(&mut self) -> Result<u64, StateError> {
        self.next_dead_letter += 1;
        Ok(self.next_dead_letter - 1)
    }

    fn take_dead_letters(&mut self, id: Option<u64>) -> Result<Vec<DeadLetter>, StateError> {
        let dead = self.shared.dead_letters.lock().unwrap_or_else(|e| e.into_inner());
        Ok(dead.values().filter(|d| id.is_none_or(|id| d.id == id)).cloned().collect())
    }

    fn end(&mut self) {}

    fn commit(&mut self, batch: &mut Batch) -> Result<(), StateError> {
        let name = self.engine.name();
        if let Some(outage) = &mut self.outage {
            if !outage.retry_in().is_zero() {
                return Err(outage.refuse());
            }
            if let Err(e) = self.reopen() {
                let outage = self.outage.as_mut().expect("an outage");
                outage.failed_again(name, &e);
                let refused = outage.refuse();
                self.show_outage();
                return Err(refused);
            }
        }
        batch.next_seq = self.next_seq;
        batch.next_dead_letter = self.next_dead_letter;
        match self.engine.commit(batch) {
            Ok(()) => {
                self.publish(batch);
                if let Some(outage) = self.outage.take() {
                    outage.ended(name);
                    self.show_outage();
                }
                Ok(())
            }
            Err(e) => {
                let outage = match self.outage.take() {
                    Some(mut outage) => {
                        outage.failed_again(name, &e);
                        outage
                    }
                    None => Outage::begin(name, &e),
                };
                let outage = self.outage.insert(outage);
                let refused = outage.refuse();
                self.show_outage();
                Err(refused)
            }
        }
    }

    fn retry_in(&self) -> Option<Duration> {
        self.outage.as_ref().map(Outage::retry_in)
    }

    fn take_lost(&mut self) -> Vec<OutboxEvent> {
        std::mem::take(&mut self.lost)
    }

    fn name(&self) -> &'static str {
        self.engine.name()
    }
}
