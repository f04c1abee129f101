//! The hub on the shared store (`shared.rs`): writes go to the database, and the groups this
//! host's clients joined are mirrors kept current from the frames every host announces.

use std::sync::Arc;
use std::time::Instant;

use super::client::CloseReason;
use super::commit::ItemWrite;
use super::group::{GroupName, Ingested};
use super::hub::Streams;
use super::shared::{Announced, Cluster};
use super::types::{StreamError, StreamEvent, StreamsConfig};
use crate::cause::Cause;
use crate::state::UpdateOutcome;
use crate::state::postgres::Postgres;

impl Streams {
    /// A hub on the shared store in `postgres`: frames are numbered, kept and fanned out across
    /// every host of the database (`shared.rs`). Starts listening for them on the current
    /// runtime.
    pub async fn shared(
        config: StreamsConfig,
        on_event: Arc<dyn Fn(StreamEvent) + Send + Sync>,
        postgres: Postgres,
    ) -> Result<Self, StreamError> {
        let cluster =
            Cluster::open(postgres.clone(), config.replay_window, config.replay_max_age).await?;
        let streams = Streams::with(config, on_event, Some(cluster));
        let (taking, filling) = (streams.clone(), streams.clone());
        tokio::spawn(super::shared::listen(
            postgres,
            move |announced| {
                let taking = taking.clone();
                Box::pin(async move { taking.take(announced).await })
            },
            move || {
                let filling = filling.clone();
                Box::pin(async move { filling.fill_all().await })
            },
        ));
        Ok(streams)
    }

    /// An item write on the shared store, and the event of the change it made.
    pub(super) async fn shared_item(
        &self,
        cluster: &Cluster,
        name: GroupName<'_>,
        item: &str,
        write: ItemWrite,
        cause: Cause,
    ) -> Result<UpdateOutcome, StreamError> {
        let (outcome, change) = cluster.item(name, item, write).await?;
        if let Some((change, data)) = change {
            self.lock().events.push_back(StreamEvent {
                stream_name: name.stream.to_owned(),
                group_id: name.group.to_owned(),
                id: Some(item.to_owned()),
                change,
                event_type: None,
                data,
                cause,
            });
            self.deliver_events();
        }
        Ok(outcome)
    }

    /// Takes a frame announced by a host's commit into its group's mirror, if this host
    /// mirrors the group; after a gap, reads the missing frames first.
    async fn take(&self, announced: Announced) {
        let name = GroupName { stream: &announced.stream, group: &announced.group };
        let taken = {
            let mut hub = self.lock();
            let window = self.shared.config.replay_window;
            let Some(group) = hub.existing_group(name) else { return };
            match &announced.text {
                Some(text) => group.ingest(
                    announced.seq,
                    announced.id.as_deref(),
                    text,
                    window,
                    Instant::now(),
                ),
                None => Ingested::Gap { next: group.seq() + 1 },
            }
        };
        if let Ingested::Gap { .. } = taken {
            self.fill(name).await;
        }
    }

    /// Brings every mirrored group up to date (after notifications may have been missed).
    async fn fill_all(&self) {
        let names: Vec<(String, String)> = {
            let hub = self.lock();
            hub.streams
                .iter()
                .flat_map(|(stream, groups)| groups.keys().map(|g| (stream.clone(), g.clone())))
                .collect()
        };
        for (stream, group) in names {
            self.fill(GroupName { stream: &stream, group: &group }).await;
        }
    }

    /// Brings a mirrored group up to date from the window. When the window no longer holds
    /// the frames it lacks, its clients are closed (they resume with `since` and get a sync)
    /// and the mirror is dropped.
    pub(super) async fn fill(&self, name: GroupName<'_>) {
        let Some(cluster) = &self.shared.cluster else { return };
        let Some(after) = self.lock().existing_group(name).map(|group| group.seq()) else {
            return;
        };
        let (seq, frames) = match cluster.frames_after(name, after).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(stream = name.stream, group = name.group, error = %e, "could not read a group's frames");
                return;
            }
        };
        let mut hub = self.lock();
        let window = self.shared.config.replay_window;
        let Some(group) = hub.existing_group(name) else { return };
        let now = Instant::now();
        for (frame_seq, id, text) in &frames {
            if let Ingested::Gap { .. } = group.ingest(*frame_seq, id.as_deref(), text, window, now)
            {
                break;
            }
        }
        if group.seq() < seq {
            tracing::warn!(
                stream = name.stream,
                group = name.group,
                "frames lost to this host; its clients resume with a sync"
            );
            group.close_all(CloseReason::Lost);
            hub.remove_group(name);
        }
    }
}
