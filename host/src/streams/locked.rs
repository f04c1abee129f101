//! [`Hub`]: everything behind the stream hub's one lock — every group by stream and id, how
//! many there are and which socket created each, the seq floor that outlives dropped groups,
//! and the events waiting for `on_event`. Groups come and go only through here, so the counts
//! the caps are checked against are always exact: a group is created for a join only within
//! the caps of `StreamsConfig`, and one that nobody needs (no members, no items, no frames to
//! replay) is dropped the moment its last member leaves.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::ClientId;
use super::group::{Group, GroupName};
use super::types::{StreamError, StreamEvent, StreamsConfig};

/// How long a group with no subscribers and no items keeps its seq and replay window after its
/// last activity, so a client that reconnects within it still catches up from the window.
pub(super) const IDLE_GROUP_TTL: Duration = Duration::from_secs(10 * 60);

/// How often the hub looks for idle groups to drop (checked on writes and joins; no timer).
pub(super) const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// Everything behind the hub's lock. The lock is a std `Mutex`, never held across an await.
pub(super) struct Hub {
    /// The hub's epoch, which every group numbers its frames in.
    epoch: Arc<str>,
    /// stream name -> group id -> group. Read freely; groups are added and removed only by
    /// this file's methods, which keep `groups` and `created` exact.
    pub(super) streams: HashMap<String, HashMap<String, Group>>,
    /// How many groups `streams` holds.
    groups: usize,
    /// Socket -> how many of the groups that exist its joins created (sockets that created
    /// none, or have gone, are absent).
    created: HashMap<ClientId, usize>,
    /// The highest seq any dropped group reached. A group created later starts from it, so a
    /// client holding a `since` from a dropped group of the same name can never mistake the new
    /// group's frames for the ones it missed: it gets a sync.
    seq_floor: u64,
    last_sweep: Instant,
    /// Events numbered but not yet handed to `on_event`, in order.
    pub(super) events: VecDeque<StreamEvent>,
    /// Whether some caller is currently handing `events` to `on_event`.
    pub(super) delivering: bool,
}

impl Hub {
    /// An empty hub numbering frames in `epoch`.
    pub(super) fn new(epoch: Arc<str>) -> Hub {
        Hub {
            epoch,
            streams: HashMap::new(),
            groups: 0,
            created: HashMap::new(),
            seq_floor: 0,
            last_sweep: Instant::now(),
            events: VecDeque::new(),
            delivering: false,
        }
    }

    /// How many groups exist.
    pub(super) fn group_count(&self) -> usize {
        self.groups
    }

    /// The group, created empty if it does not exist: a plugin's write, never refused.
    pub(super) fn group(&mut self, name: GroupName<'_>, now: Instant) -> &mut Group {
        let (floor, epoch) = (self.seq_floor, self.epoch.clone());
        let groups = self.streams.entry(name.stream.to_owned()).or_default();
        if !groups.contains_key(name.group) {
            self.groups += 1;
        }
        groups.entry(name.group.to_owned()).or_insert_with(|| Group::new(floor, epoch, now))
    }

    /// The group a socket joins: the existing one, or one `make` builds (from the seq floor and
    /// the epoch) when `client` may create another — within `config`'s caps on the groups one
    /// socket creates and on all groups.
    pub(super) fn group_for_join(
        &mut self,
        name: GroupName<'_>,
        client: ClientId,
        config: &StreamsConfig,
        make: impl FnOnce(u64, Arc<str>) -> Group,
    ) -> Result<&mut Group, StreamError> {
        let exists = self.streams.get(name.stream).is_some_and(|g| g.contains_key(name.group));
        if !exists {
            let mine = self.created.get(&client).copied().unwrap_or(0);
            if mine >= config.max_groups_per_socket {
                return Err(StreamError::Limit(format!(
                    "a socket may create at most {} groups (max_groups_per_socket): leave \
                     some first",
                    config.max_groups_per_socket
                )));
            }
            if self.groups >= config.max_groups {
                return Err(StreamError::Limit(format!(
                    "the host holds as many stream groups as it may ({}, max_groups); \
                     try again later",
                    config.max_groups
                )));
            }
            self.groups += 1;
            *self.created.entry(client).or_default() += 1;
        }
        let (floor, epoch) = (self.seq_floor, self.epoch.clone());
        let groups = self.streams.entry(name.stream.to_owned()).or_default();
        Ok(groups.entry(name.group.to_owned()).or_insert_with(|| {
            let mut group = make(floor, epoch);
            group.creator = Some(client);
            group
        }))
    }

    pub(super) fn existing_group(&mut self, name: GroupName<'_>) -> Option<&mut Group> {
        self.streams.get_mut(name.stream)?.get_mut(name.group)
    }

    /// Forgets a group, keeping its seq as the floor and its creator's count exact.
    pub(super) fn remove_group(&mut self, name: GroupName<'_>) -> Option<Group> {
        let groups = self.streams.get_mut(name.stream)?;
        let group = groups.remove(name.group)?;
        if groups.is_empty() {
            self.streams.remove(name.stream);
        }
        self.count_out(group.seq(), group.creator);
        Some(group)
    }

    /// Drops the group at once when nobody needs it (see [`Group::is_unneeded`]); `mirror` on
    /// the shared store, which keeps the items.
    pub(super) fn drop_if_unneeded(&mut self, name: GroupName<'_>, mirror: bool) {
        if self.existing_group(name).is_some_and(|group| group.is_unneeded(mirror)) {
            self.remove_group(name);
        }
    }

    /// A socket has gone: the groups it created no longer count against it.
    pub(super) fn forget_client(&mut self, client: ClientId) {
        self.created.remove(&client);
    }

    /// Drops groups nobody can need any more (see [`Group::is_idle`]), at most once per
    /// [`SWEEP_INTERVAL`].
    pub(super) fn sweep(&mut self, now: Instant, mirror: bool) {
        if now.saturating_duration_since(self.last_sweep) < SWEEP_INTERVAL {
            return;
        }
        self.last_sweep = now;
        let mut dropped = Vec::new();
        self.streams.retain(|_, groups| {
            groups.retain(|_, group| {
                let idle = group.is_idle(now, IDLE_GROUP_TTL, mirror);
                if idle {
                    dropped.push((group.seq(), group.creator));
                }
                !idle
            });
            !groups.is_empty()
        });
        for (seq, creator) in dropped {
            self.count_out(seq, creator);
        }
    }

    /// Accounts for a dropped group that reached `seq`, created by `creator`.
    fn count_out(&mut self, seq: u64, creator: Option<ClientId>) {
        self.seq_floor = self.seq_floor.max(seq);
        self.groups = self.groups.saturating_sub(1);
        if let Some(count) = creator.and_then(|client| self.created.get_mut(&client)) {
            *count = count.saturating_sub(1);
        }
    }
}
