//! One stream group: its seq counter (numbering frames within the hub's epoch), its replay
//! window of recent frames, its items and the clients subscribed to it. A group is only touched under the hub's lock, so the frames it
//! queues reach every client in the same order; queuing never waits (a full client queue closes
//! that client instead), so no lock is held across an await.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::client::{Client, ClientId, CloseReason};
use super::frame::{FrameEvent, stream_frame};

/// What [`Group::ingest`] did with a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ingested {
    /// The next frame: taken and delivered.
    Taken,
    /// A frame the group has already.
    Old,
    /// A frame after a gap: frames from `next` on must be ingested first.
    Gap { next: u64 },
}

/// A frame kept for replay to clients that reconnect with `since`.
struct WindowFrame {
    seq: u64,
    /// The frame's item or event id, for subscriptions that filter on one.
    id: Option<String>,
    text: Utf8Bytes,
}

/// One client's subscriptions to a group. A frame reaches the client once even when several of
/// its subscriptions want it: frames carry no subscription id, so a copy would be a duplicate.
struct Member {
    client: Arc<Client>,
    /// (subscription id, the item or event id it is limited to).
    subscriptions: Vec<(String, Option<String>)>,
}

impl Member {
    fn wants(&self, id: Option<&str>) -> bool {
        self.subscriptions.iter().any(|(_, only)| only.is_none() || only.as_deref() == id)
    }
}

/// The names a group is known by, which every frame repeats.
#[derive(Clone, Copy)]
pub(crate) struct GroupName<'a> {
    pub stream: &'a str,
    pub group: &'a str,
}

/// A group's state. See the module docs.
pub(crate) struct Group {
    /// The seq of the last broadcast frame.
    seq: u64,
    /// The epoch its seqs belong to (the hub's): every frame carries it.
    epoch: Arc<str>,
    /// The last `replay_window` frames, oldest first, seqs contiguous and ending at `seq`.
    window: VecDeque<WindowFrame>,
    /// The group's items by id; a BTreeMap so syncs and lists come in item-id order.
    pub items: BTreeMap<String, Value>,
    members: HashMap<ClientId, Member>,
    /// When the group last broadcast or lost its last member, for dropping idle groups.
    last_active: Instant,
    /// The socket whose join created the group, counted against its cap while the group
    /// exists (`locked.rs`); none for groups a plugin's write created.
    pub creator: Option<ClientId>,
}

impl Group {
    /// An empty group of `epoch` whose first frame will be `seq + 1`.
    pub fn new(seq: u64, epoch: Arc<str>, now: Instant) -> Self {
        Group {
            seq,
            epoch,
            window: VecDeque::new(),
            items: BTreeMap::new(),
            members: HashMap::new(),
            last_active: now,
            creator: None,
        }
    }

    /// The seq of the last broadcast frame.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// A group mirroring one of the shared store (`shared.rs`) as it was at `seq`: its items
    /// then, and the frames up to then still kept (oldest first, contiguous, ending at `seq`).
    pub fn mirror(
        seq: u64,
        epoch: Arc<str>,
        items: BTreeMap<String, Value>,
        frames: Vec<(u64, Option<String>, String)>,
        now: Instant,
    ) -> Self {
        let mut group = Group::new(seq, epoch, now);
        group.items = items;
        group.window = frames
            .into_iter()
            .map(|(seq, id, text)| WindowFrame { seq, id, text: text.into() })
            .collect();
        group
    }

    /// Takes a frame another writer numbered (a mirrored group): the frame `seq`, if it is the
    /// next one, is kept for replay, applied to the items and queued to the members that want
    /// it, like [`Group::broadcast`]. A frame already taken is ignored; one past the next is a
    /// gap the caller must fill first.
    pub fn ingest(
        &mut self,
        seq: u64,
        id: Option<&str>,
        text: &str,
        replay_window: usize,
        now: Instant,
    ) -> Ingested {
        if seq <= self.seq {
            return Ingested::Old;
        }
        if seq > self.seq + 1 {
            return Ingested::Gap { next: self.seq + 1 };
        }
        self.seq = seq;
        self.last_active = now;
        if let (Some(item), Ok(frame)) = (id, serde_json::from_str::<Value>(text)) {
            let event = &frame["event"];
            match event["type"].as_str() {
                Some("create" | "update") => {
                    self.items.insert(item.to_owned(), event["data"].clone());
                }
                Some("delete") => {
                    self.items.remove(item);
                }
                _ => {}
            }
        }
        let text = Utf8Bytes::from(text.to_owned());
        self.members.retain(|_, member| !member.wants(id) || member.client.deliver(text.clone()));
        self.keep(seq, id, text, replay_window);
        Ingested::Taken
    }

    /// Closes every member (their frames cannot continue without a gap) and forgets them.
    pub fn close_all(&mut self, reason: CloseReason) {
        for member in self.members.values() {
            member.client.close(reason);
        }
        self.members.clear();
    }

    /// Keeps a frame in the replay window.
    fn keep(&mut self, seq: u64, id: Option<&str>, text: Utf8Bytes, replay_window: usize) {
        if replay_window > 0 {
            if self.window.len() >= replay_window {
                self.window.pop_front();
            }
            self.window.push_back(WindowFrame { seq, id: id.map(str::to_owned), text });
        }
    }

    /// Gives the frame the next seq, keeps it for replay and queues it to every member that
    /// wants it. Members whose queue is full are closed and dropped from the group.
    pub fn broadcast(
        &mut self,
        name: GroupName<'_>,
        id: Option<&str>,
        event: &FrameEvent<'_>,
        replay_window: usize,
        now: Instant,
    ) {
        self.seq += 1;
        self.last_active = now;
        let text = stream_frame(name.stream, name.group, id, self.seq, &self.epoch, event);
        self.members.retain(|_, member| !member.wants(id) || member.client.deliver(text.clone()));
        self.keep(self.seq, id, text, replay_window);
    }

    /// Subscribes `client` and queues what it needs to catch up: the frames after `since` when
    /// the window still holds all of them, nothing when it is up to date, a sync otherwise.
    /// Returns false (and subscribes nothing) when the client is closing or its queue is full.
    pub fn join(
        &mut self,
        name: GroupName<'_>,
        client: &Arc<Client>,
        subscription_id: &str,
        only: Option<&str>,
        since: Option<u64>,
    ) -> bool {
        let mut frames = match since {
            Some(since) if since == self.seq => Vec::new(),
            Some(since) if self.window_covers(since) => self.replay(since, only),
            _ => vec![self.sync_frame(name, only)],
        };
        if frames.len() > client.free_slots() {
            // A catch-up the queue cannot hold: one sync says the same in one frame.
            frames = vec![self.sync_frame(name, only)];
        }
        if !frames.into_iter().all(|frame| client.deliver(frame)) || client.is_closing() {
            return false;
        }
        let member = self
            .members
            .entry(client.id)
            .or_insert_with(|| Member { client: Arc::clone(client), subscriptions: Vec::new() });
        member.subscriptions.push((subscription_id.to_owned(), only.map(str::to_owned)));
        true
    }

    /// Drops one subscription of a client (a no-op when it has none here).
    pub fn leave(&mut self, client: ClientId, subscription_id: &str, now: Instant) {
        if let Some(member) = self.members.get_mut(&client) {
            member.subscriptions.retain(|(id, _)| id != subscription_id);
            if member.subscriptions.is_empty() {
                self.members.remove(&client);
                if self.members.is_empty() {
                    self.last_active = now;
                }
            }
        }
    }

    /// A group with no members and no items (or whose items a shared store keeps, `mirror`),
    /// quiet for `ttl`: nobody can still need its window (a client gone that long gets a sync
    /// anyway), so it may be forgotten.
    pub fn is_idle(&self, now: Instant, ttl: Duration, mirror: bool) -> bool {
        self.members.is_empty()
            && (mirror || self.items.is_empty())
            && now.saturating_duration_since(self.last_active) >= ttl
    }

    /// A group nobody needs: no members, no items (or a shared store keeps them, `mirror`) and
    /// no frames to replay — a client resuming on it would get a sync of nothing anyway, so it
    /// goes at once (its seq stays the hub's floor).
    pub fn is_unneeded(&self, mirror: bool) -> bool {
        self.members.is_empty() && (mirror || self.items.is_empty()) && self.window.is_empty()
    }

    /// Whether every frame after `since` is still in the window.
    fn window_covers(&self, since: u64) -> bool {
        since < self.seq && self.window.front().is_some_and(|oldest| oldest.seq <= since + 1)
    }

    fn replay(&self, since: u64, only: Option<&str>) -> Vec<Utf8Bytes> {
        self.window
            .iter()
            .filter(|frame| frame.seq > since)
            .filter(|frame| only.is_none() || frame.id.as_deref() == only)
            .map(|frame| frame.text.clone())
            .collect()
    }

    /// `sync` with the items in id order, or the one item (or null) a subscription names.
    fn sync_frame(&self, name: GroupName<'_>, only: Option<&str>) -> Utf8Bytes {
        let data = match only {
            Some(id) => self.items.get(id).cloned().unwrap_or(Value::Null),
            None => Value::Array(self.items.values().cloned().collect()),
        };
        let sync = FrameEvent::Sync { data: &data };
        stream_frame(name.stream, name.group, only, self.seq, &self.epoch, &sync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::client::ClientReceivers;
    use serde_json::json;

    const NAME: GroupName<'static> = GroupName { stream: "s", group: "g" };

    fn group_with_frames(count: u64, window: usize) -> Group {
        let mut group = Group::new(0, "e".into(), Instant::now());
        for n in 0..count {
            let data = json!(n);
            let id = format!("i{}", n % 2);
            group.broadcast(
                NAME,
                Some(&id),
                &FrameEvent::Create { data: &data },
                window,
                Instant::now(),
            );
        }
        group
    }

    fn drain(receivers: &mut ClientReceivers) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Ok(text) = receivers.queue.try_recv() {
            frames.push(serde_json::from_str(text.as_str()).unwrap());
        }
        frames
    }

    #[test]
    fn a_join_without_since_gets_one_sync_at_the_current_seq() {
        let mut group = group_with_frames(3, 10);
        group.items.insert("b".into(), json!(2));
        group.items.insert("a".into(), json!(1));
        let (client, mut rx) = Client::new(1, 8);
        assert!(group.join(NAME, &client, "sub", None, None));
        let frames = drain(&mut rx);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0]["seq"], 3);
        assert_eq!(frames[0]["event"], json!({"type": "sync", "data": [1, 2]}));
        assert_eq!(group.seq(), 3, "a sync does not take a seq");
    }

    #[test]
    fn a_join_with_since_in_the_window_gets_exactly_the_missed_frames() {
        let mut group = group_with_frames(6, 10);
        let (client, mut rx) = Client::new(1, 8);
        assert!(group.join(NAME, &client, "sub", None, Some(3)));
        let seqs: Vec<u64> = drain(&mut rx).iter().map(|f| f["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, [4, 5, 6]);
    }

    #[test]
    fn a_join_with_since_out_of_the_window_or_ahead_gets_a_sync() {
        let mut group = group_with_frames(6, 3);
        for since in [0, 2, 7, 1000] {
            let (client, mut rx) = Client::new(1, 8);
            assert!(group.join(NAME, &client, "sub", None, Some(since)));
            let frames = drain(&mut rx);
            assert_eq!(frames.len(), 1, "since = {since}");
            assert_eq!(frames[0]["event"]["type"], "sync");
            assert_eq!(frames[0]["seq"], 6);
        }
        // The oldest frame still held is 4, so since = 3 is the oldest that replays.
        let (client, mut rx) = Client::new(2, 8);
        assert!(group.join(NAME, &client, "sub", None, Some(3)));
        assert_eq!(drain(&mut rx).len(), 3);
    }

    #[test]
    fn a_join_that_is_up_to_date_gets_nothing() {
        let mut group = group_with_frames(4, 10);
        let (client, mut rx) = Client::new(1, 8);
        assert!(group.join(NAME, &client, "sub", None, Some(4)));
        assert!(drain(&mut rx).is_empty());
        let mut fresh = Group::new(0, "e".into(), Instant::now());
        assert!(fresh.join(NAME, &client, "sub", None, Some(0)));
        assert!(drain(&mut rx).is_empty());
    }

    #[test]
    fn a_replay_for_an_id_subscription_holds_only_frames_with_that_id() {
        let mut group = group_with_frames(6, 10);
        let (client, mut rx) = Client::new(1, 8);
        assert!(group.join(NAME, &client, "sub", Some("i1"), Some(0)));
        let frames = drain(&mut rx);
        let seqs: Vec<u64> = frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect();
        assert_eq!(seqs, [2, 4, 6]);
        assert!(frames.iter().all(|f| f["id"] == "i1"));
    }

    #[test]
    fn a_catch_up_larger_than_the_queue_becomes_a_sync() {
        let mut group = group_with_frames(6, 10);
        let (client, mut rx) = Client::new(1, 2);
        assert!(group.join(NAME, &client, "sub", None, Some(0)));
        let frames = drain(&mut rx);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0]["event"]["type"], "sync");
    }

    #[test]
    fn a_member_with_a_full_queue_is_closed_and_dropped_without_blocking() {
        let mut group = Group::new(0, "e".into(), Instant::now());
        let (slow, slow_rx) = Client::new(1, 2);
        let (fast, mut fast_rx) = Client::new(2, 100);
        assert!(group.join(NAME, &slow, "a", None, Some(0)));
        assert!(group.join(NAME, &fast, "a", None, Some(0)));
        for n in 0..10 {
            let data = json!(n);
            group.broadcast(NAME, None, &FrameEvent::Create { data: &data }, 10, Instant::now());
        }
        assert_eq!(*slow_rx.close.borrow(), Some(CloseReason::TooSlow));
        assert_eq!(group.members.len(), 1);
        assert_eq!(drain(&mut fast_rx).len(), 10);
    }

    #[test]
    fn a_client_gets_each_frame_once_however_many_subscriptions_want_it() {
        let mut group = Group::new(0, "e".into(), Instant::now());
        let (client, mut rx) = Client::new(1, 8);
        assert!(group.join(NAME, &client, "all", None, Some(0)));
        assert!(group.join(NAME, &client, "one", Some("x"), Some(0)));
        let data = json!(1);
        group.broadcast(NAME, Some("x"), &FrameEvent::Create { data: &data }, 10, Instant::now());
        assert_eq!(drain(&mut rx).len(), 1);
        group.leave(1, "all", Instant::now());
        group.broadcast(NAME, Some("y"), &FrameEvent::Create { data: &data }, 10, Instant::now());
        group.broadcast(NAME, Some("x"), &FrameEvent::Update { data: &data }, 10, Instant::now());
        let frames = drain(&mut rx);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0]["seq"], 3);
    }

    #[test]
    fn a_group_is_idle_only_without_members_or_items_after_the_ttl() {
        let start = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut group = Group::new(0, "e".into(), start);
        assert!(!group.is_idle(start, ttl, false));
        assert!(group.is_idle(start + ttl, ttl, false));
        group.items.insert("a".into(), json!(1));
        assert!(!group.is_idle(start + ttl, ttl, false));
        group.items.clear();
        let (client, _rx) = Client::new(1, 8);
        assert!(group.join(NAME, &client, "a", None, None));
        assert!(!group.is_idle(start + ttl, ttl, false));
    }
}
