//! The network edge: accepts TCP connections on the one port that serves HTTP and WebSocket,
//! runs each connection on its own task under the host's HTTP limits (connection cap, head size
//! and header count, head read and idle timeout, request timeout), and drains them on
//! shutdown: stop accepting, ask every connection to finish its in-flight request and close,
//! wait for them within a grace period.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use super::dispatch;
use super::response::error_response;
use super::settings::EdgeSettings;
use crate::error::{Error, ErrorCode};
use crate::host::Host;

/// How long in-flight requests get to finish after shutdown begins.
const GRACE_PERIOD: Duration = Duration::from_secs(10);

/// Serves `host` on `listener` under `settings` until `shutdown` resolves, then drains.
pub async fn serve(
    host: Host,
    settings: EdgeSettings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    let limits = settings.limits.clone();
    let settings = Arc::new(settings);
    // Shutdown is broadcast through `stop`; each connection task holds a clone of `done_tx`, so
    // `done_rx` yields `None` once every connection has finished (mini-redis's pattern).
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    // One permit per connection: past the cap, new connections wait in the listen backlog.
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Responses are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let (host, connection_settings) = (host.clone(), settings.clone());
        let request_timeout = limits.request_timeout;
        let service = service_fn(move |request| {
            let (host, settings) = (host.clone(), connection_settings.clone());
            async move {
                let response = match tokio::time::timeout(
                    request_timeout,
                    dispatch::handle(&host, &settings, peer.ip(), request),
                )
                .await
                {
                    Ok(response) => response,
                    Err(_) => error_response(
                        &Error::new(
                            ErrorCode::Timeout,
                            format!("the request took longer than {} s", request_timeout.as_secs()),
                        ),
                        None,
                    ),
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let mut stop = stop_rx.clone();
        let done = done_tx.clone();
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_headers(limits.max_headers)
            // The head's size is checked once it is parsed, too: a head that arrived in a few
            // large reads can be complete before the buffer's cap is ever reached.
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(limits.max_header_bytes.max(8192));
        tokio::spawn(async move {
            let _permit = permit;
            let connection =
                builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = async { stop.wait_for(|stop| *stop).await.map(|_| ()) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(done);
        });
    }
    tracing::info!("shutting down: draining connections");
    let _ = stop_tx.send(true);
    drop(done_tx);
    if tokio::time::timeout(GRACE_PERIOD, done_rx.recv()).await.is_err() {
        tracing::warn!("connections still open after {GRACE_PERIOD:?}: closing them");
    }
}
