//! The WebSocket protocol loop of one stream client. A socket runs two halves side by side: the
//! reader parses `join`/`leave`/`auth` messages and enforces the message limits, the writer
//! moves frames from the client's bounded queue (filled by the hub) onto the socket. When the
//! host decides to close the socket (too slow, too big, binary, its token expired) the writer
//! drops what is still queued, sends a close frame, and the reader waits a moment for the
//! client's answering close. A socket with an identity never outlives its token: it is closed
//! at the token's expiry unless an `auth` message refreshed it (same caller, later expiry).

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tracing::Instrument;

use super::client::{Client, ClientReceivers, CloseReason};
use super::close::{SocketError, close_frame};
use super::frame::{ClientMessage, Subscription, error_frame, parse_client_message, pong_frame};
use super::hub::Streams;
use super::types::{StreamError, check_name};
use crate::auth::Identity;

/// The subscription id of the subscription a socket opened on `/stream/{stream}/{group}` starts
/// with; `leave` accepts it like any other.
pub const INITIAL_SUBSCRIPTION_ID: &str = "initial";

/// The error frame's code for a join past one of the host's caps.
const LIMIT_EXCEEDED: &str = "limit_exceeded";

/// How long the writer tries to get a close frame out to a client that is not reading.
const CLOSE_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// How long, after sending a close frame, to wait for the client's answering close.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Runs one WebSocket client until it closes: subscribes it to `initial` (if any), answers its
/// `join`/`leave` messages and writes the frames of its subscriptions. Generic over the socket so
/// tests can drive it with channels; the HTTP layer passes the upgraded `WebSocketStream`.
///
/// Configure the socket's own message limit at or above `max_message_bytes`, so an oversized
/// message gets the documented close (1009) from here rather than a read error.
pub async fn serve_socket<S, E>(
    streams: Streams,
    socket: S,
    initial: Option<Subscription>,
    access: Access,
) where
    S: Sink<Message> + Stream<Item = Result<Message, E>> + Send + Unpin + 'static,
    S::Error: Display,
    E: SocketError,
{
    let (client, receivers) = streams.connect();
    let span = tracing::debug_span!("stream_socket", client = client.id);
    async move {
        tracing::debug!("stream client connected");
        let max_message_bytes = streams.config().max_message_bytes;
        let Access { declared, authorize, verify, identity } = access;
        let identity = identity.map(Arc::new);
        let subscriptions = HashMap::new();
        let mut session =
            Session { streams, client, subscriptions, declared, authorize, verify, identity };
        if let Some(initial) = initial {
            if session.check_join(&initial).await.is_ok() {
                session.join(INITIAL_SUBSCRIPTION_ID.to_owned(), initial).await;
            } else {
                session.client.close(CloseReason::Refused);
            }
        }
        let (sink, incoming) = socket.split();
        let client = session.client.clone();
        {
            let writer = write_loop(sink, receivers);
            let reader = read_loop(&mut session, incoming, max_message_bytes);
            tokio::pin!(writer, reader);
            tokio::select! {
                () = &mut writer => {
                    // Our close is out (or the socket is dead): let the reader take the answer.
                    let _ = tokio::time::timeout(CLOSE_GRACE, &mut reader).await;
                }
                () = &mut reader => {
                    // The client broke the protocol (or had been told to go): get the close
                    // frame out before the connection ends. The writer gives up by itself.
                    if client.is_closing() {
                        writer.await;
                    }
                }
            }
        }
        session.leave_all();
        session.streams.disconnect(session.client.id);
        tracing::debug!("stream client disconnected");
    }
    .instrument(span)
    .await
}

/// Decides whether a socket (with the caller's identity, if any) may join a subscription:
/// `true` admits it. Anything else — a refusal, an error, a missing answer — must come back as
/// `false` (fail closed).
pub type Authorize = Arc<
    dyn Fn(Subscription, Option<Arc<Identity>>) -> futures_util::future::BoxFuture<'static, bool>
        + Send
        + Sync,
>;

/// Whether a loaded plugin declares a stream: only those can be joined.
pub type Declared = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Checks the token of an `auth` message: the identity it proves, or why not.
pub type Verify = Arc<
    dyn Fn(String) -> futures_util::future::BoxFuture<'static, Result<Identity, String>>
        + Send
        + Sync,
>;

/// Who a socket's client is, and what decides its joins.
#[derive(Default)]
pub struct Access {
    /// Asked before every join: streams it denies cannot be joined. Without it, any can.
    pub declared: Option<Declared>,
    /// Asked before every join, when the host guards some streams.
    pub authorize: Option<Authorize>,
    /// Checks `auth` messages; without it they are refused.
    pub verify: Option<Verify>,
    /// The caller, when the upgrade carried a valid token.
    pub identity: Option<Identity>,
}

/// The reader's view of one socket: its subscriptions, by the client's subscription id.
struct Session {
    streams: Streams,
    client: Arc<Client>,
    /// subscription id -> (stream name, group id).
    subscriptions: HashMap<String, (String, String)>,
    /// Whether a stream may be joined at all.
    declared: Option<Declared>,
    /// Asked before every join, when the host guards some streams.
    authorize: Option<Authorize>,
    /// Checks `auth` messages.
    verify: Option<Verify>,
    /// The caller, while its token is valid.
    identity: Option<Arc<Identity>>,
}

impl Session {
    /// Whether the join may happen: its names are valid, a loaded plugin declares its stream,
    /// and the stream's authoriser (if any) admits it. Otherwise the error frame's code and
    /// message.
    async fn check_join(&self, target: &Subscription) -> Result<(), (&'static str, String)> {
        let (stream, group) = (&target.stream_name, &target.group_id);
        self.streams.check_names(stream, group).map_err(|e| ("bad_request", e.to_string()))?;
        if self.declared.as_ref().is_some_and(|declared| !declared(stream)) {
            return Err(("not_found", format!("no loaded plugin declares stream {stream:?}")));
        }
        let admitted = match &self.authorize {
            Some(authorize) => authorize(target.clone(), self.identity.clone()).await,
            None => true,
        };
        if !admitted {
            tracing::debug!(%stream, %group, "stream join refused");
            return Err(("forbidden", format!("joining {stream}/{group} was refused")));
        }
        Ok(())
    }

    /// When the socket's token expires, if it has one.
    fn expiry(&self) -> Option<tokio::time::Instant> {
        let expires_at = self.identity.as_ref()?.expires_at;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let left = Duration::from_secs(expires_at.saturating_sub(now));
        Some(tokio::time::Instant::now() + left)
    }

    /// Takes a token from an `auth` message: the socket's identity from now on, if it is
    /// valid and names the same caller (a socket's caller may refresh its token, never change).
    async fn authenticate(&mut self, token: String) {
        let Some(verify) = &self.verify else {
            return self.reply("unauthorized", "this host checks no tokens");
        };
        match verify(token).await {
            Ok(identity) => match &self.identity {
                Some(current)
                    if (&current.provider, &current.subject)
                        != (&identity.provider, &identity.subject) =>
                {
                    self.reply("forbidden", "a socket's token may be refreshed, its caller kept")
                }
                _ => self.identity = Some(Arc::new(identity)),
            },
            Err(why) => self.reply("unauthorized", &why),
        }
    }

    async fn handle_text(&mut self, text: &str) {
        match parse_client_message(text) {
            Ok(ClientMessage::Join(join)) => {
                let target = Subscription {
                    stream_name: join.stream_name,
                    group_id: join.group_id,
                    id: join.id,
                    since: join.since,
                    epoch: join.epoch,
                };
                match self.check_join(&target).await {
                    Ok(()) => self.join(join.subscription_id, target).await,
                    Err((code, message)) => self.reply(code, &message),
                }
            }
            Ok(ClientMessage::Leave { subscription_id }) => self.leave(&subscription_id),
            Ok(ClientMessage::Auth { token }) => self.authenticate(token).await,
            Ok(ClientMessage::Ping { data }) => {
                // A client too slow to take it is being closed already.
                self.client.deliver(pong_frame(&data));
            }
            Err(message) => self.reply_error(&message),
        }
    }

    /// Subscribes; a subscription id already in use is replaced.
    async fn join(&mut self, subscription_id: String, target: Subscription) {
        if let Err(error) = check_name("subscriptionId", &subscription_id) {
            return self.reply_error(&error.to_string());
        }
        self.leave(&subscription_id);
        let cap = self.streams.config().max_subscriptions_per_socket;
        if self.subscriptions.len() >= cap {
            let message = format!(
                "a socket may hold at most {cap} subscriptions (max_subscriptions_per_socket)"
            );
            return self.reply(LIMIT_EXCEEDED, &message);
        }
        match self.streams.join(&self.client, &subscription_id, &target).await {
            Ok(true) => {
                tracing::debug!(
                    subscription = %subscription_id,
                    stream = %target.stream_name,
                    group = %target.group_id,
                    "stream client joined"
                );
                self.subscriptions.insert(subscription_id, (target.stream_name, target.group_id));
            }
            // The client is being closed; nothing more to do.
            Ok(false) => {}
            Err(error) => self.reply(error_code(&error), &error.to_string()),
        }
    }

    /// Unsubscribes; an unknown subscription id is not an error (leave is idempotent).
    fn leave(&mut self, subscription_id: &str) {
        if let Some((stream, group)) = self.subscriptions.remove(subscription_id) {
            self.streams.leave(self.client.id, subscription_id, &stream, &group);
        }
    }

    fn leave_all(&mut self) {
        for (subscription_id, (stream, group)) in self.subscriptions.drain() {
            self.streams.leave(self.client.id, &subscription_id, &stream, &group);
        }
    }

    /// Queues a `bad_request` error frame. Like any frame it goes through the client's queue, so
    /// a client that floods bad messages without reading is closed as too slow.
    fn reply_error(&self, message: &str) {
        self.reply("bad_request", message);
    }

    fn reply(&self, code: &str, message: &str) {
        tracing::debug!(%code, %message, "stream client message refused");
        self.client.deliver(error_frame(code, message));
    }
}

/// Reads client messages until the socket ends (or breaks the protocol: then the client is
/// closed with the breach's code). Once the host has decided to close the socket it only
/// drains, waiting for the client's close.
async fn read_loop<St, E>(session: &mut Session, mut incoming: St, max_message_bytes: usize)
where
    St: Stream<Item = Result<Message, E>> + Unpin,
    E: SocketError,
{
    loop {
        let expiry = session.expiry().filter(|_| !session.client.is_closing());
        let message = tokio::select! {
            message = incoming.next() => message,
            () = until(expiry) => {
                tracing::debug!("stream client's token expired");
                session.client.close(CloseReason::Expired);
                continue;
            }
        };
        let Some(message) = message else { return };
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                tracing::debug!(%error, "stream socket read ended");
                // Nothing more can be read; a breach of the protocol still gets its close.
                if let Some(reason) = CloseReason::for_read_error(&error) {
                    session.client.close(reason);
                }
                return;
            }
        };
        if session.client.is_closing() {
            continue;
        }
        match message {
            Message::Text(text) if text.len() > max_message_bytes => {
                session.client.close(CloseReason::TooBig);
            }
            Message::Text(text) => session.handle_text(text.as_str()).await,
            Message::Binary(data) if data.len() > max_message_bytes => {
                session.client.close(CloseReason::TooBig);
            }
            Message::Binary(_) => session.client.close(CloseReason::Binary),
            // Pings are answered by the WebSocket library; a close is answered by it too, and
            // the stream then ends.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => {}
        }
    }
}

/// The error frame's code for a failed join.
fn error_code(error: &StreamError) -> &'static str {
    match error {
        StreamError::Invalid(_) => "bad_request",
        StreamError::Forbidden(_) => "forbidden",
        StreamError::Limit(_) => LIMIT_EXCEEDED,
        StreamError::Storage(_) => "unavailable",
    }
}

/// Resolves at `deadline`, never without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Writes queued frames until the host closes the socket or the socket fails.
async fn write_loop<Si>(mut sink: Si, receivers: ClientReceivers)
where
    Si: Sink<Message> + Unpin,
    Si::Error: Display,
{
    let ClientReceivers { mut queue, mut close } = receivers;
    let reason = loop {
        let text = tokio::select! {
            biased;
            reason = closing(&mut close) => break reason,
            next = queue.recv() => match next {
                Some(text) => text,
                None => return,
            },
        };
        tokio::select! {
            biased;
            reason = closing(&mut close) => break reason,
            sent = sink.send(Message::Text(text)) => {
                if let Err(error) = sent {
                    tracing::debug!(%error, "stream socket write failed");
                    return;
                }
            }
        }
    };
    let frame = close_frame(reason);
    tracing::debug!(code = %frame.code, reason = %frame.reason, "closing stream client");
    match tokio::time::timeout(CLOSE_SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::debug!(%error, "stream socket close failed"),
        Err(_) => tracing::debug!("stream client did not take its close frame in time"),
    }
}

/// Resolves once the host decides to close the socket.
async fn closing(close: &mut watch::Receiver<Option<CloseReason>>) -> CloseReason {
    let reason = close.wait_for(Option::is_some).await.ok().and_then(|r| *r);
    match reason {
        Some(reason) => reason,
        // The hub's side is gone, so nobody can ask for a close any more.
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
