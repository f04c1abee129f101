//! [`Client`]: the hub's handle on one connected socket — its bounded queue of frames and the
//! signal that closes it, with its reason (`close.rs`).

use std::sync::Arc;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

pub(crate) use super::close::CloseReason;

/// Identifies a connected socket inside the hub.
pub(crate) type ClientId = u64;

/// The hub's handle on one connected socket: where its frames go and how to close it.
pub(crate) struct Client {
    pub id: ClientId,
    /// Frames waiting for the socket's writer. Bounded, so a slow reader costs a bounded amount
    /// of memory; the hub only ever `try_send`s into it.
    queue: mpsc::Sender<Utf8Bytes>,
    /// Set once, when the host decides to close the socket; the writer watches it.
    close: watch::Sender<Option<CloseReason>>,
}

/// The socket's side of a [`Client`]: the frames to write and the close signal.
pub(crate) struct ClientReceivers {
    pub queue: mpsc::Receiver<Utf8Bytes>,
    pub close: watch::Receiver<Option<CloseReason>>,
}

impl Client {
    /// A client whose queue holds `capacity` frames (at least one).
    pub fn new(id: ClientId, capacity: usize) -> (Arc<Client>, ClientReceivers) {
        let (queue, queue_rx) = mpsc::channel(capacity.max(1));
        let (close, close_rx) = watch::channel(None);
        let client = Arc::new(Client { id, queue, close });
        let receivers = ClientReceivers { queue: queue_rx, close: close_rx };
        (client, receivers)
    }

    /// Queues a frame without waiting. A full queue closes the client as too slow: the frame is
    /// lost to it, and it must reconnect (with `since`) to catch up. False when not queued.
    pub fn deliver(&self, frame: Utf8Bytes) -> bool {
        if self.is_closing() {
            return false;
        }
        match self.queue.try_send(frame) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::debug!(client = self.id, "stream client too slow, closing it");
                self.close(CloseReason::TooSlow);
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the socket to close; the first reason wins.
    pub fn close(&self, reason: CloseReason) {
        self.close.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(reason);
            }
            first
        });
    }

    /// Whether the host has decided to close this socket.
    pub fn is_closing(&self) -> bool {
        self.close.borrow().is_some()
    }

    /// How many more frames fit in the queue right now.
    pub fn free_slots(&self) -> usize {
        self.queue.capacity()
    }
}
