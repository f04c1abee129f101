//! Carrying out a guest's state or stream request once its grants allowed it: state reads and
//! writes, stream sends and item operations. Outside a trigger delivery each write happens at
//! once. Inside one (the invocation holds a [`Transaction`]) state writes join the handler's
//! transaction, and stream sends and item writes wait for its commit, so a handler that fails
//! and is retried neither writes nor broadcasts twice (`docs/triggers.md`). The handler still
//! reads its own writes: item values it set are kept in the transaction until then.

use std::collections::BTreeMap;

use serde_json::Value;

use super::invocation::{Invocation, ItemKey, Transaction};
use crate::error::Error;
use crate::runtime::{Reply, Request};
use crate::state::{Change, State, UpdateOutcome, ops};
use crate::streams::Streams;

/// Performs a state or stream `request` in `invocation`'s context (its grants are already
/// checked). Calls of functions are the caller's (`Calls::perform`).
pub(super) async fn execute(
    state: &State,
    streams: &Streams,
    invocation: &Invocation,
    request: Request,
) -> Result<Reply, Error> {
    let cause = invocation.cause;
    Ok(match request {
        Request::StateGet { scope, key } => Reply::Value(match invocation.txn().await {
            Some(txn) => txn.state.get(&scope, &key).await?,
            None => state.get(&scope, &key).await?,
        }),
        Request::StateSet { scope, key, value, expect } => {
            if let Some(mut txn) = invocation.txn().await {
                return Ok(Reply::Change(txn.state.set_if(&scope, &key, expect, value).await?));
            }
            Reply::Change(state.set_if(&scope, &key, expect, value, cause).await?)
        }
        Request::StateUpdate { scope, key, ops, expect } => {
            if let Some(mut txn) = invocation.txn().await {
                return Ok(Reply::Updated(txn.state.update_if(&scope, &key, expect, &ops).await?));
            }
            Reply::Updated(state.update_if(&scope, &key, expect, &ops, cause).await?)
        }
        Request::StateDelete { scope, key, expect } => {
            if let Some(mut txn) = invocation.txn().await {
                return Ok(Reply::Value(txn.state.delete_if(&scope, &key, expect).await?));
            }
            Reply::Value(state.delete_if(&scope, &key, expect, cause).await?)
        }
        Request::StateList { scope, prefix, after, limit } => {
            let (prefix, after) = (prefix.as_deref(), after.as_deref());
            Reply::Values(match invocation.txn().await {
                Some(txn) => txn.state.list(&scope, prefix, after, limit).await?,
                None => state.list(&scope, prefix, after, limit).await?,
            })
        }
        Request::StateListGroups => {
            let mut groups = match invocation.txn().await {
                Some(txn) => txn.state.list_groups().await?,
                None => state.list_groups().await?,
            };
            if let Some(plugin) = &invocation.plugin {
                groups.retain(|scope| plugin.manifest.capabilities.may_read(scope));
            }
            Reply::Groups(groups)
        }
        Request::StreamSend { stream, group, id, event_type, data } => {
            let Some(mut txn) = invocation.txn().await else {
                streams.send(&stream, &group, id.as_deref(), &event_type, data, cause).await?;
                return Ok(Reply::Done);
            };
            // Check the names now, so the guest hears about a bad one; send after the commit.
            streams.check_names(&stream, &group)?;
            let streams = streams.clone();
            txn.state.after_commit(Box::new(move || {
                Box::pin(async move {
                    let sent =
                        streams.send(&stream, &group, id.as_deref(), &event_type, data, cause);
                    if let Err(e) = sent.await {
                        tracing::warn!(stream, group, error = %e, "deferred stream send failed");
                    }
                })
            }));
            Reply::Done
        }
        Request::ItemGet { stream, group, item } => {
            streams.check_item(&stream, &group, &item)?;
            let key = (stream, group, item);
            let mine = invocation.txn().await.and_then(|txn| txn.items.get(&key).cloned());
            if let Some(mine) = mine {
                return Ok(Reply::Value(mine));
            }
            Reply::Value(streams.get(&key.0, &key.1, &key.2).await?)
        }
        Request::ItemList { stream, group } => {
            let live = streams.entries(&stream, &group).await?;
            Reply::Values(match invocation.txn().await {
                Some(txn) => with_own_writes(live, &txn, &stream, &group),
                None => live.into_iter().map(|(_, value)| value).collect(),
            })
        }
        Request::ItemSet { stream, group, item, value } => {
            let Some(mut txn) = invocation.txn().await else {
                return Ok(Reply::Change(streams.set(&stream, &group, &item, value, cause).await?));
            };
            let old = own_or_live(streams, &txn, &stream, &group, &item).await?;
            let later = Later::Set(value.clone());
            defer_item(&mut txn, streams, (stream, group, item), Some(value.clone()), later, cause);
            Reply::Change(Change { old_value: old, new_value: Some(value) })
        }
        Request::ItemUpdate { stream, group, item, ops } => {
            let Some(mut txn) = invocation.txn().await else {
                return Ok(Reply::Updated(
                    streams.update(&stream, &group, &item, &ops, cause).await?,
                ));
            };
            let old = own_or_live(streams, &txn, &stream, &group, &item).await?;
            // The outcome as the ops apply now; at commit they apply again to the item as it is
            // then, so concurrent increments add up.
            let (new, errors) = ops::apply_to_key(old.as_ref(), &ops)?;
            let later = Later::Update(ops);
            defer_item(&mut txn, streams, (stream, group, item), new.clone(), later, cause);
            Reply::Updated(UpdateOutcome { old_value: old, new_value: new, errors })
        }
        Request::ItemDelete { stream, group, item } => {
            let Some(mut txn) = invocation.txn().await else {
                return Ok(Reply::Value(streams.delete(&stream, &group, &item, cause).await?));
            };
            let old = own_or_live(streams, &txn, &stream, &group, &item).await?;
            defer_item(&mut txn, streams, (stream, group, item), None, Later::Delete, cause);
            Reply::Value(old)
        }
        Request::Invoke { .. } | Request::InvokeVoid { .. } => {
            tracing::error!(?request, "host bug: a call reached the state and stream executor");
            return Err(Error::internal("the host could not route the call"));
        }
    })
}

/// An item as the handler sees it: its own write if it made one, else the live value.
async fn own_or_live(
    streams: &Streams,
    txn: &Transaction,
    stream: &str,
    group: &str,
    item: &str,
) -> Result<Option<Value>, Error> {
    streams.check_item(stream, group, item)?;
    let key = (stream.to_owned(), group.to_owned(), item.to_owned());
    match txn.items.get(&key) {
        Some(mine) => Ok(mine.clone()),
        None => Ok(streams.get(stream, group, item).await?),
    }
}

/// An item write a handler made, carried out on the live item once its delivery commits.
enum Later {
    Set(Value),
    Update(Value),
    Delete,
}

/// Records that the handler gave `key` the value `now`, and queues `later` to run on the live
/// item once the delivery commits.
fn defer_item(
    txn: &mut Transaction,
    streams: &Streams,
    key: ItemKey,
    now: Option<Value>,
    later: Later,
    cause: crate::cause::Cause,
) {
    txn.items.insert(key.clone(), now);
    let streams = streams.clone();
    txn.state.after_commit(Box::new(move || {
        Box::pin(async move {
            let (stream, group, item) = &key;
            let done = match later {
                Later::Set(value) => streams.set(stream, group, item, value, cause).await.map(drop),
                Later::Update(ops) => {
                    streams.update(stream, group, item, &ops, cause).await.map(drop)
                }
                Later::Delete => streams.delete(stream, group, item, cause).await.map(drop),
            };
            if let Err(e) = done {
                tracing::warn!(stream, group, item, error = %e, "deferred stream item write failed");
            }
        })
    }));
}

/// A group's live items with the handler's own writes applied, in item-id order.
fn with_own_writes(
    live: Vec<(String, Value)>,
    txn: &Transaction,
    stream: &str,
    group: &str,
) -> Vec<Value> {
    let mut items: BTreeMap<String, Value> = live.into_iter().collect();
    let mine = txn.items.iter().filter(|((s, g, _), _)| s == stream && g == group);
    for ((_, _, item), value) in mine {
        match value {
            Some(value) => items.insert(item.clone(), value.clone()),
            None => items.remove(item),
        };
    }
    items.into_values().collect()
}

#[cfg(test)]
mod tests;
