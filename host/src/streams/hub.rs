//! [`Streams`], the hub every caller shares: the groups, their seq counters, replay windows,
//! items and subscribers, behind one lock; and the hub's public types.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use serde_json::Value;

use crate::cause::Cause;

use crate::state::{Change, UpdateOutcome};

use super::client::{Client, ClientId, ClientReceivers};
use super::commit::ItemWrite;
use super::frame::{FrameEvent, SentEvent, Subscription};
use super::group::{Group, GroupName};
use super::locked::Hub;
use super::shared::{Cluster, Snapshot};
use super::types::{StreamChange, StreamError, StreamEvent, StreamsConfig, check_name, group_name};

/// The stream hub: groups, their seq counters, replay windows, items and subscribers. Cheap to
/// clone (an `Arc`); every clone is the same hub.
#[derive(Clone)]
pub struct Streams {
    pub(super) shared: Arc<Shared>,
}

pub(super) struct Shared {
    pub(super) config: StreamsConfig,
    /// This hub's epoch: a name no other run of the host shares. Seqs count frames within it;
    /// a `since` from another epoch (a run before a restart) says nothing about this one's
    /// frames, so it earns a sync (`docs/streams.md`).
    pub(super) epoch: Arc<str>,
    /// Told of every broadcast (the trigger dispatcher). Called without the hub locked, in the
    /// hub-wide order the frames were numbered.
    pub(super) on_event: Arc<dyn Fn(StreamEvent) + Send + Sync>,
    pub(super) hub: Mutex<Hub>,
    /// Source of [`ClientId`]s.
    pub(super) next_client: AtomicU64,
    /// On the shared store: where frames are numbered and kept (`shared.rs`); the hub then
    /// mirrors the groups its clients joined.
    pub(super) cluster: Option<Cluster>,
}

impl Streams {
    /// An empty hub. `on_event` is told of every broadcast, after its frame is queued; it is
    /// called outside the hub's lock (so it may call back into the hub), one event at a time and
    /// in order, possibly from the thread of a later broadcast than the one that caused it. It
    /// should be quick: hand the event to a queue.
    pub fn new(config: StreamsConfig, on_event: Arc<dyn Fn(StreamEvent) + Send + Sync>) -> Self {
        Streams::with(config, on_event, None)
    }

    pub(super) fn with(
        config: StreamsConfig,
        on_event: Arc<dyn Fn(StreamEvent) + Send + Sync>,
        cluster: Option<Cluster>,
    ) -> Self {
        let epoch: Arc<str> = match &cluster {
            Some(cluster) => cluster.epoch.clone(),
            None => crate::clock::unique_name().into(),
        };
        let hub = Hub::new(epoch.clone());
        Streams {
            shared: Arc::new(Shared {
                config,
                epoch,
                on_event,
                hub: Mutex::new(hub),
                next_client: AtomicU64::new(1),
                cluster,
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
    pub async fn send(
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
        if let Some(cluster) = &self.shared.cluster {
            cluster.send(name, id, event_type, &data).await?;
        } else {
            let event = FrameEvent::Event { event: SentEvent { kind: event_type, data: &data } };
            let mut hub = self.lock();
            let now = Instant::now();
            hub.sweep(now, false);
            let replay_window = self.shared.config.replay_window;
            hub.group(name, now).broadcast(name, id, &event, replay_window, now);
        }
        self.lock().events.push_back(StreamEvent {
            stream_name: stream.to_owned(),
            group_id: group.to_owned(),
            id: id.map(str::to_owned),
            change: StreamChange::Event,
            event_type: Some(event_type.to_owned()),
            data,
            cause,
        });
        self.deliver_events();
        Ok(())
    }

    /// The item's value, or `None` when it does not exist.
    pub async fn get(
        &self,
        stream: &str,
        group: &str,
        item: &str,
    ) -> Result<Option<Value>, StreamError> {
        let name = group_name(stream, group)?;
        check_name("item id", item)?;
        if let Some(cluster) = &self.shared.cluster {
            return cluster.get(name, item).await;
        }
        let mut hub = self.lock();
        Ok(hub.existing_group(name).and_then(|group| group.items.get(item).cloned()))
    }

    /// Sets an item and broadcasts `create` (it did not exist) or `update` (its value changed);
    /// nothing when the value is unchanged.
    pub async fn set(
        &self,
        stream: &str,
        group: &str,
        item: &str,
        value: Value,
        cause: Cause,
    ) -> Result<Change, StreamError> {
        let name = group_name(stream, group)?;
        check_name("item id", item)?;
        if let Some(cluster) = &self.shared.cluster {
            let write = ItemWrite::Set(value);
            let outcome = self.shared_item(cluster, name, item, write, cause).await?;
            return Ok(Change { old_value: outcome.old_value, new_value: outcome.new_value });
        }
        let mut hub = self.lock();
        let now = Instant::now();
        hub.sweep(now, false);
        let old = hub.group(name, now).items.insert(item.to_owned(), value.clone());
        self.broadcast_change(&mut hub, name, item, old.as_ref(), Some(&value), cause, now);
        drop(hub);
        self.deliver_events();
        Ok(Change { old_value: old, new_value: Some(value) })
    }

    /// Applies update ops to an item (a missing item starts as `{}`), atomically, and broadcasts
    /// like [`Streams::set`]. Ops that fail are skipped and reported in the outcome's `errors`;
    /// a missing item that no op created stays missing (`new_value` is `None`), as in state.
    pub async fn update(
        &self,
        stream: &str,
        group: &str,
        item: &str,
        ops: &Value,
        cause: Cause,
    ) -> Result<UpdateOutcome, StreamError> {
        let name = group_name(stream, group)?;
        check_name("item id", item)?;
        if let Some(cluster) = &self.shared.cluster {
            return self
                .shared_item(cluster, name, item, ItemWrite::Update(ops.clone()), cause)
                .await;
        }
        let mut hub = self.lock();
        let now = Instant::now();
        hub.sweep(now, false);
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
    pub async fn delete(
        &self,
        stream: &str,
        group: &str,
        item: &str,
        cause: Cause,
    ) -> Result<Option<Value>, StreamError> {
        let name = group_name(stream, group)?;
        check_name("item id", item)?;
        if let Some(cluster) = &self.shared.cluster {
            let outcome = self.shared_item(cluster, name, item, ItemWrite::Delete, cause).await?;
            return Ok(outcome.old_value);
        }
        let mut hub = self.lock();
        let now = Instant::now();
        hub.sweep(now, false);
        let old = hub.existing_group(name).and_then(|group| group.items.remove(item));
        self.broadcast_change(&mut hub, name, item, old.as_ref(), None, cause, now);
        drop(hub);
        self.deliver_events();
        Ok(old)
    }

    /// The group's items, in item-id order.
    pub async fn list(&self, stream: &str, group: &str) -> Result<Vec<Value>, StreamError> {
        Ok(self.entries(stream, group).await?.into_iter().map(|(_, value)| value).collect())
    }

    /// Like [`Streams::list`], with the item ids.
    pub async fn entries(
        &self,
        stream: &str,
        group: &str,
    ) -> Result<Vec<(String, Value)>, StreamError> {
        let name = group_name(stream, group)?;
        if let Some(cluster) = &self.shared.cluster {
            return cluster.entries(name).await;
        }
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
    pub(super) fn deliver_events(&self) {
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
    pub(super) async fn join(
        &self,
        client: &Arc<Client>,
        subscription_id: &str,
        target: &Subscription,
    ) -> Result<bool, StreamError> {
        let name = group_name(&target.stream_name, &target.group_id)?;
        if let Some(id) = &target.id {
            check_name("id", id)?;
        }
        let shared = self.shared.cluster.is_some();
        let since = target.since.filter(|_| target.epoch.as_deref() == Some(&*self.shared.epoch));
        self.lock().sweep(Instant::now(), shared);
        // On the shared store a group this host does not mirror yet is read from the database
        // first; should the mirror be dropped before the join takes the lock, it is read again.
        let mut snapshot = None;
        let (joined, mirrored_now) = loop {
            if let Some(cluster) = &self.shared.cluster
                && self.lock().existing_group(name).is_none()
            {
                snapshot = Some(cluster.snapshot(name).await?);
            }
            let mut hub = self.lock();
            let now = Instant::now();
            let fresh = snapshot.is_some();
            let config = &self.shared.config;
            let group = match snapshot.take() {
                Some(snapshot) => hub.group_for_join(name, client.id, config, |_, epoch| {
                    let Snapshot { seq, items, frames } = snapshot;
                    Group::mirror(seq, epoch, items, frames, now)
                })?,
                None if shared => match hub.existing_group(name) {
                    Some(group) => group,
                    None => continue,
                },
                None => hub.group_for_join(name, client.id, config, |floor, epoch| {
                    Group::new(floor, epoch, now)
                })?,
            };
            let only = target.id.as_deref();
            let joined = group.join(name, client, subscription_id, only, since);
            if !joined {
                // The client is closing: a group made for it alone goes at once.
                hub.drop_if_unneeded(name, shared);
            }
            break (joined, fresh);
        };
        if mirrored_now {
            // Frames committed after the snapshot may have been announced before the group
            // was mirrored here: take them from the window.
            self.fill(name).await;
        }
        Ok(joined)
    }

    /// Drops one subscription of a socket.
    pub(super) fn leave(&self, client: ClientId, subscription_id: &str, stream: &str, group: &str) {
        let mut hub = self.lock();
        let now = Instant::now();
        let name = GroupName { stream, group };
        if let Some(group) = hub.existing_group(name) {
            group.leave(client, subscription_id, now);
        }
        // A group nobody needs any more (no members, items or frames) goes at once.
        hub.drop_if_unneeded(name, self.shared.cluster.is_some());
    }

    /// A socket has gone (after leaving its groups): what it created no longer counts against
    /// it.
    pub(super) fn disconnect(&self, client: ClientId) {
        self.lock().forget_client(client);
    }

    /// How many groups this host holds now (mirrors included, on the shared store).
    pub fn group_count(&self) -> usize {
        self.lock().group_count()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Hub> {
        // Nothing under the lock calls user code, so a poisoned lock still holds whole data.
        self.shared.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests;
