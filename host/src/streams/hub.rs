//! [`Streams`], the hub every caller shares: the groups, their seq counters, replay windows,
//! items and subscribers, behind one lock; and the hub's public types.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cause::Cause;
use crate::state::{Change, StateError, UpdateOutcome};

use super::frame::{FrameEvent, SentEvent, Subscription};
use super::group::{Client, ClientId, ClientReceivers, Group, GroupName};

/// The longest stream name, group id, item id or event id accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// How long a group with no subscribers and no items keeps its seq and replay window after its
/// last activity, so a client that reconnects within it still catches up from the window.
pub(super) const IDLE_GROUP_TTL: Duration = Duration::from_secs(10 * 60);

/// How often the hub looks for idle groups to drop (checked on writes and joins; no timer).
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// Limits of the stream hub.
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// Frames kept per group for clients that reconnect with `since`. Default 1024.
    pub replay_window: usize,
    /// Frames queued per client before it is closed as too slow. Default 1024.
    pub client_queue: usize,
    /// The largest message accepted from a client, in bytes; a larger one closes the socket
    /// (1009). Default 64 KiB.
    pub max_message_bytes: usize,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig { replay_window: 1024, client_queue: 1024, max_message_bytes: 64 * 1024 }
    }
}

/// What functions bound with a `stream` trigger receive: one per broadcast frame.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    /// The stream the frame went to.
    pub stream_name: String,
    /// The group within the stream.
    pub group_id: String,
    /// The item id for item changes; the optional event id for `send`.
    pub id: Option<String>,
    /// What happened.
    pub change: StreamChange,
    /// The `send` event's type; `None` for item changes.
    pub event_type: Option<String>,
    /// The `send` event's data, the item's new value for create/update, its old value for
    /// delete.
    pub data: Value,
    /// The cause of the write that produced the frame.
    pub cause: Cause,
}

/// The kind of a [`StreamEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamChange {
    /// An item that did not exist was set.
    Create,
    /// An existing item changed.
    Update,
    /// An item was deleted.
    Delete,
    /// `stream::send`.
    Event,
}

/// Why a stream operation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StreamError {
    /// A bad stream, group or item name, or bad update ops.
    #[error("{0}")]
    Invalid(String),
    /// The calling plugin's manifest does not grant it this stream.
    #[error("{0}")]
    Forbidden(String),
}

impl From<StateError> for StreamError {
    fn from(error: StateError) -> Self {
        match error {
            StateError::Invalid(message) => StreamError::Invalid(message),
            // Stream items live in memory; the ops code has no storage to fail. Keep the message
            // for the caller rather than panic should that ever change.
            StateError::Storage(message) => StreamError::Invalid(message),
            StateError::Forbidden(message) => StreamError::Forbidden(message),
        }
    }
}

/// The stream hub: groups, their seq counters, replay windows, items and subscribers. Cheap to
/// clone (an `Arc`); every clone is the same hub.
#[derive(Clone)]
pub struct Streams {
    shared: Arc<Shared>,
}

struct Shared {
    config: StreamsConfig,
    /// This hub's epoch: a name no other run of the host shares. Seqs count frames within it;
    /// a `since` from another epoch (a run before a restart) says nothing about this one's
    /// frames, so it earns a sync (`docs/streams.md`).
    epoch: Arc<str>,
    /// Told of every broadcast (the trigger dispatcher). Called without the hub locked, in the
    /// hub-wide order the frames were numbered.
    on_event: Arc<dyn Fn(StreamEvent) + Send + Sync>,
    hub: Mutex<Hub>,
    /// Source of [`ClientId`]s.
    next_client: AtomicU64,
}

/// Everything behind the hub's lock. The lock is a std `Mutex`, never held across an await.
pub(super) struct Hub {
    /// The hub's epoch, which every group numbers its frames in.
    epoch: Arc<str>,
    /// stream name -> group id -> group.
    pub(super) streams: HashMap<String, HashMap<String, Group>>,
    /// The highest seq any dropped group reached. A group created later starts from it, so a
    /// client holding a `since` from a dropped group of the same name can never mistake the new
    /// group's frames for the ones it missed: it gets a sync.
    seq_floor: u64,
    last_sweep: Instant,
    /// Events numbered but not yet handed to `on_event`, in order.
    events: VecDeque<StreamEvent>,
    /// Whether some caller is currently handing `events` to `on_event`.
    delivering: bool,
}

impl Hub {
    fn group(&mut self, name: GroupName<'_>, now: Instant) -> &mut Group {
        let (floor, epoch) = (self.seq_floor, self.epoch.clone());
        self.streams
            .entry(name.stream.to_owned())
            .or_default()
            .entry(name.group.to_owned())
            .or_insert_with(|| Group::new(floor, epoch, now))
    }

    fn existing_group(&mut self, name: GroupName<'_>) -> Option<&mut Group> {
        self.streams.get_mut(name.stream)?.get_mut(name.group)
    }

    /// Drops groups nobody can need any more (see [`Group::is_idle`]), at most once per
    /// [`SWEEP_INTERVAL`].
    fn sweep(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_sweep) < SWEEP_INTERVAL {
            return;
        }
        self.last_sweep = now;
        let mut floor = self.seq_floor;
        self.streams.retain(|_, groups| {
            groups.retain(|_, group| {
                let idle = group.is_idle(now, IDLE_GROUP_TTL);
                if idle {
                    floor = floor.max(group.seq());
                }
                !idle
            });
            !groups.is_empty()
        });
        self.seq_floor = floor;
    }
}

impl Streams {
    /// An empty hub. `on_event` is told of every broadcast, after its frame is queued; it is
    /// called outside the hub's lock (so it may call back into the hub), one event at a time and
    /// in order, possibly from the thread of a later broadcast than the one that caused it. It
    /// should be quick: hand the event to a queue.
    pub fn new(config: StreamsConfig, on_event: Arc<dyn Fn(StreamEvent) + Send + Sync>) -> Self {
        let epoch: Arc<str> = new_epoch().into();
        let hub = Hub {
            epoch: epoch.clone(),
            streams: HashMap::new(),
            seq_floor: 0,
            last_sweep: Instant::now(),
            events: VecDeque::new(),
            delivering: false,
        };
        Streams {
            shared: Arc::new(Shared {
                config,
                epoch,
                on_event,
                hub: Mutex::new(hub),
                next_client: AtomicU64::new(1),
            }),
        }
    }

    /// The epoch this hub numbers frames in.
    pub fn epoch(&self) -> &str {
        &self.shared.epoch
    }

    /// The limits this hub was built with.
    pub fn config(&self) -> &StreamsConfig {
        &self.shared.config
    }

    /// Checks a stream and group name as [`Streams::send`] would, without sending.
    pub fn check_names(&self, stream: &str, group: &str) -> Result<(), StreamError> {
        group_name(stream, group).map(|_| ())
    }

    /// Checks a stream name, group id and item id as the item operations would.
    pub fn check_item(&self, stream: &str, group: &str, item: &str) -> Result<(), StreamError> {
        group_name(stream, group)?;
        check_name("item id", item)
    }

    /// `stream::send`: broadcasts `{"type":"event","event":{"type":event_type,"data":data}}`
    /// to the group, with `id` as the frame's id.
    pub fn send(
        &self,
        stream: &str,
        group: &str,
        id: Option<&str>,
        event_type: &str,
        data: Value,
        cause: Cause,
    ) -> Result<(), StreamError> {
        let name = group_name(stream, group)?;
        if let Some(id) = id {
            check_name("id", id)?;
        }
        let event = FrameEvent::Event { event: SentEvent { kind: event_type, data: &data } };
        let mut hub = self.lock();
        let now = Instant::now();
        hub.sweep(now);
        let replay_window = self.shared.config.replay_window;
        hub.group(name, now).broadcast(name, id, &event, replay_window, now);
        hub.events.push_back(StreamEvent {
            stream_name: stream.to_owned(),
            group_id: group.to_owned(),
            id: id.map(str::to_owned),
            change: StreamChange::Event,
            event_type: Some(event_type.to_owned()),
            data,
            cause,
        });
        drop(hub);
        self.deliver_events();
        Ok(())
    }

    /// The item's value, or `None` when it does not exist.
    pub fn get(&self, stream: &str, group: &str, item: &str) -> Result<Option<Value>, StreamError> {
        let name = group_name(stream, group)?;
        check_name("item id", item)?;
        let mut hub = self.lock();
        Ok(hub.existing_group(name).and_then(|group| group.items.get(item).cloned()))
    }

    /// Sets an item and broadcasts `create` (it did not exist) or `update` (its value changed);
    /// nothing when the value is unchanged.
    pub fn set(
        &self,
        stream: &str,
        group: &str,
        item: &str,
        value: Value,
        cause: Cause,
    ) -> Result<Change, StreamError> {
        let name = group_name(stream, group)?;
        check_name("item id", item)?;
        let mut hub = self.lock();
        let now = Instant::now();
        hub.sweep(now);
        let old = hub.group(name, now).items.insert(item.to_owned(), value.clone());
        self.broadcast_change(&mut hub, name, item, old.as_ref(), Some(&value), cause, now);
        drop(hub);
        self.deliver_events();
        Ok(Change { old_value: old, new_value: Some(value) })
    }

    /// Applies update ops to an item (a missing item starts as `{}`), atomically, and broadcasts
    /// like [`Streams::set`]. Ops that fail are skipped and reported in the outcome's `errors`;
    /// a missing item that no op created stays missing (`new_value` is `None`), as in state.
    pub fn update(
        &self,
        stream: &str,
        group: &str,
        item: &str,
        ops: &Value,
        cause: Cause,
    ) -> Result<UpdateOutcome, StreamError> {
        let name = group_name(stream, group)?;
        check_name("item id", item)?;
        let mut hub = self.lock();
        let now = Instant::now();
        hub.sweep(now);
        let items = &mut hub.group(name, now).items;
        let old = items.get(item).cloned();
        // Like `state::update`: an item that was missing and that no op created stays missing.
        let (new, errors) = crate::state::ops::apply_to_key(old.as_ref(), ops)?;
        match &new {
            Some(new) => items.insert(item.to_owned(), new.clone()),
            None => items.remove(item),
        };
        self.broadcast_change(&mut hub, name, item, old.as_ref(), new.as_ref(), cause, now);
        drop(hub);
        self.deliver_events();
        Ok(UpdateOutcome { old_value: old, new_value: new, errors })
    }

    /// Deletes an item and broadcasts `delete` with its old value; nothing when it did not
    /// exist. Returns the old value.
    pub fn delete(
        &self,
        stream: &str,
        group: &str,
        item: &str,
        cause: Cause,
    ) -> Result<Option<Value>, StreamError> {
        let name = group_name(stream, group)?;
        check_name("item id", item)?;
        let mut hub = self.lock();
        let now = Instant::now();
        hub.sweep(now);
        let old = hub.existing_group(name).and_then(|group| group.items.remove(item));
        self.broadcast_change(&mut hub, name, item, old.as_ref(), None, cause, now);
        drop(hub);
        self.deliver_events();
        Ok(old)
    }

    /// The group's items, in item-id order.
    pub fn list(&self, stream: &str, group: &str) -> Result<Vec<Value>, StreamError> {
        Ok(self.entries(stream, group)?.into_iter().map(|(_, value)| value).collect())
    }

    /// Like [`Streams::list`], with the item ids.
    pub fn entries(&self, stream: &str, group: &str) -> Result<Vec<(String, Value)>, StreamError> {
        let name = group_name(stream, group)?;
        let mut hub = self.lock();
        Ok(hub
            .existing_group(name)
            .map(|group| group.items.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    /// Broadcasts the frame an item change calls for (if any) and queues its event.
    #[allow(clippy::too_many_arguments)]
    fn broadcast_change(
        &self,
        hub: &mut Hub,
        name: GroupName<'_>,
        item: &str,
        old: Option<&Value>,
        new: Option<&Value>,
        cause: Cause,
        now: Instant,
    ) {
        let (change, data) = match (old, new) {
            (None, Some(new)) => (StreamChange::Create, new),
            (Some(old), Some(new)) if old != new => (StreamChange::Update, new),
            (Some(old), None) => (StreamChange::Delete, old),
            _ => return,
        };
        let event = match change {
            StreamChange::Create => FrameEvent::Create { data },
            StreamChange::Update => FrameEvent::Update { data },
            _ => FrameEvent::Delete { data },
        };
        let replay_window = self.shared.config.replay_window;
        hub.group(name, now).broadcast(name, Some(item), &event, replay_window, now);
        hub.events.push_back(StreamEvent {
            stream_name: name.stream.to_owned(),
            group_id: name.group.to_owned(),
            id: Some(item.to_owned()),
            change,
            event_type: None,
            data: data.clone(),
            cause,
        });
    }

    /// Hands queued events to `on_event`, in order, outside the lock. When another caller is
    /// already doing so it will deliver ours too, which keeps the order and lets `on_event` call
    /// back into the hub.
    fn deliver_events(&self) {
        {
            let mut hub = self.lock();
            if hub.delivering || hub.events.is_empty() {
                return;
            }
            hub.delivering = true;
        }
        // Should `on_event` panic, let the next caller take over delivery.
        struct Release<'a>(&'a Streams);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.lock().delivering = false;
            }
        }
        let release = Release(self);
        loop {
            let next = {
                let mut hub = self.lock();
                let next = hub.events.pop_front();
                if next.is_none() {
                    hub.delivering = false;
                }
                next
            };
            match next {
                Some(event) => (self.shared.on_event)(event),
                None => break,
            }
        }
        std::mem::forget(release);
    }

    /// Registers a new socket with the hub.
    pub(super) fn connect(&self) -> (Arc<Client>, ClientReceivers) {
        let id = self.shared.next_client.fetch_add(1, Ordering::Relaxed);
        Client::new(id, self.shared.config.client_queue)
    }

    /// Subscribes a socket to a group and queues its catch-up (sync or replay). False when the
    /// client could not take it (it is being closed).
    pub(super) fn join(
        &self,
        client: &Arc<Client>,
        subscription_id: &str,
        target: &Subscription,
    ) -> Result<bool, StreamError> {
        let name = group_name(&target.stream_name, &target.group_id)?;
        if let Some(id) = &target.id {
            check_name("id", id)?;
        }
        let mut hub = self.lock();
        let now = Instant::now();
        hub.sweep(now);
        Ok(hub.group(name, now).join(
            name,
            client,
            subscription_id,
            target.id.as_deref(),
            target.since.filter(|_| target.epoch.as_deref() == Some(&*self.shared.epoch)),
        ))
    }

    /// Drops one subscription of a socket.
    pub(super) fn leave(&self, client: ClientId, subscription_id: &str, stream: &str, group: &str) {
        let mut hub = self.lock();
        let now = Instant::now();
        if let Some(group) = hub.existing_group(GroupName { stream, group }) {
            group.leave(client, subscription_id, now);
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Hub> {
        // Nothing under the lock calls user code, so a poisoned lock still holds whole data.
        self.shared.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A fresh epoch: 64 random bits in hex. The standard library's hasher keys are random per
/// process; mixed with the time they make an epoch no earlier run of the host had.
fn new_epoch() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(crate::clock::now_ms().into());
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

fn group_name<'a>(stream: &'a str, group: &'a str) -> Result<GroupName<'a>, StreamError> {
    check_name("stream name", stream)?;
    check_name("group id", group)?;
    Ok(GroupName { stream, group })
}

/// Names are non-empty and at most [`MAX_NAME_BYTES`].
pub(super) fn check_name(what: &str, name: &str) -> Result<(), StreamError> {
    if name.is_empty() {
        return Err(StreamError::Invalid(format!("{what} is empty")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(StreamError::Invalid(format!("{what} is longer than {MAX_NAME_BYTES} bytes")));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
