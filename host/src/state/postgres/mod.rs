//! The shared store: state in a PostgreSQL database that any number of hosts use at once.
//!
//! The same writer (`../writer.rs`) runs over it as over the embedded store; only where a round
//! reads and commits differs ([`PgStore`], `store.rs`): a round is one database transaction
//! that first locks the outbox events it completes and then the keys it writes (transaction
//! advisory locks on [`key_hash`](super::change::key_hash), which also cover keys that do not
//! exist yet), each set in sorted order, so rounds of different hosts never deadlock. Under
//! those locks it reads the current values and delivery marks, applies the update ops with the
//! same code as the embedded store, and commits values, outbox events and marks together. A
//! committed round notifies the other hosts (`NOTIFY eddy_outbox`) of the lanes it fed.
//!
//! Reads ([`Reads`], `reads.rs`) go to the database on pooled connections, so a write any host
//! acknowledged is read at once everywhere, and a host holds no copy of the data: its memory
//! and start time do not grow with what is stored; reads asked for at once share a query
//! (`coalesce.rs`). `conn.rs` is the writer's connection, with its statements prepared once.
//! `schema.rs` creates and migrates the tables; `lanes.rs` is what the trigger dispatcher asks
//! of the database (leases on lanes, the events of a lane). What users can rely on:
//! `docs/cluster.md`.

mod coalesce;
mod conn;
mod fail;
mod lanes;
mod reads;
mod schema;
mod store;

pub use lanes::{Lease, OUTBOX_CHANNEL};
pub use reads::Reads;
pub use store::PgStore;

use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio_postgres::{Config, NoTls};

use super::error::StateError;
pub use fail::fail;

/// A connection's driver: poll it (spawn it) for the client to work; it yields notifications.
pub type Connection =
    tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>;

/// Connections each host keeps for reads and the dispatcher (the writer has its own).
const POOL_SIZE: usize = 16;

/// What the rest of the host needs of the shared database besides state: the pool, and the
/// connection settings for a listening connection. Cheap to clone.
#[derive(Clone)]
pub struct Postgres {
    pub(super) pool: Pool,
    config: Config,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: show where, not how.
        f.debug_struct("Postgres")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .finish()
    }
}

impl Postgres {
    /// The connection pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A connection of its own, with the task that drives it.
    pub async fn connect(&self) -> Result<(tokio_postgres::Client, Connection), StateError> {
        self.config.connect(NoTls).await.map_err(fail("connecting"))
    }

    /// Listens on `channel` on a connection of its own until `running` says stop, handing
    /// each notification's payload to `take`, in the order the notifying transactions
    /// committed. When the connection drops (notifications may have been missed) it connects
    /// again and, once listening, calls `reconnected` (also after the first connect).
    pub async fn listen(
        &self,
        channel: &str,
        take: impl Fn(String) -> BoxFuture<'static, ()>,
        reconnected: impl Fn() -> BoxFuture<'static, ()>,
        running: impl Fn() -> bool,
    ) {
        while running() {
            match self.connect().await {
                Ok((client, mut connection)) => {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    let statement = format!("LISTEN {channel}");
                    let listening = {
                        // The connection must be polled for the LISTEN to complete.
                        let mut listening = std::pin::pin!(client.batch_execute(&statement));
                        loop {
                            tokio::select! {
                                done = &mut listening => break done.is_ok(),
                                message = messages.next() => if message.is_none() { break false },
                            }
                        }
                    };
                    if listening {
                        reconnected().await;
                        while let Some(message) = messages.next().await {
                            if let Ok(tokio_postgres::AsyncMessage::Notification(n)) = message {
                                take(n.payload().to_owned()).await;
                            }
                            if !running() {
                                return;
                            }
                        }
                    }
                    drop(client);
                    tracing::warn!(channel, "a notification connection closed; reconnecting");
                }
                Err(e) => tracing::warn!(channel, error = %e, "could not listen for notifications"),
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}

/// Connects to the database at `url`, migrates its schema, and returns the writer's store,
/// the readers, and the handle the dispatcher uses.
pub async fn open(url: &str) -> Result<(PgStore, Reads, Postgres), StateError> {
    let config = Config::from_str(url)
        .map_err(|e| StateError::Storage(format!("bad PostgreSQL URL: {e}")))?;
    let (mut client, connection) = config.connect(NoTls).await.map_err(fail("connecting"))?;
    let driver = tokio::spawn(connection);
    schema::migrate(&mut client).await?;
    drop(client);
    let _ = driver.await;
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    let pool = Pool::builder(manager)
        .max_size(POOL_SIZE)
        .build()
        .map_err(|e| StateError::Storage(format!("creating the connection pool: {e}")))?;
    let store = PgStore::connect(config.clone())?;
    tracing::info!(engine = "postgres", "state opened");
    Ok((store, Reads::new(pool.clone()), Postgres { pool, config }))
}
