//! Which store the suite runs on, and the PostgreSQL server it may use.
//!
//! `EDDY_TEST_POSTGRES` names a PostgreSQL server (`postgres://eddy@127.0.0.1:54329/eddy`,
//! what `.ci/run` starts); the cluster tests need it. The suite's hosts use the embedded store,
//! unless `EDDY_TEST_ENGINE=postgres`: then every data directory gets a database of its own on
//! that server, and the same one again when a test restarts a host on the same directory, so
//! the whole suite, restarts included, runs on the shared store too.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

/// The environment variable naming the PostgreSQL server.
pub const POSTGRES: &str = "EDDY_TEST_POSTGRES";

/// The environment variable that puts the suite on the shared store: `postgres`.
pub const ENGINE: &str = "EDDY_TEST_ENGINE";

/// The PostgreSQL server's URL; panics, saying how to get one, when none is given.
fn server() -> String {
    std::env::var(POSTGRES).ok().filter(|url| !url.is_empty()).unwrap_or_else(|| {
        panic!(
            "this test needs a PostgreSQL server: set {POSTGRES}=postgres://USER@HOST:PORT/DB \
             (`bash .ci/run` starts one on loopback and sets it)"
        )
    })
}

/// Whether the suite's hosts run on the shared store.
pub fn on_shared_store() -> bool {
    std::env::var(ENGINE).is_ok_and(|engine| engine == "postgres")
}

/// The shared store's URL for a host with data directory `data`, when the suite runs on
/// PostgreSQL: the database is created on first use.
pub fn shared_store(data: &Path) -> Option<String> {
    if !on_shared_store() {
        return None;
    }
    let server = server();
    let mut hasher = DefaultHasher::new();
    data.hash(&mut hasher);
    let name = format!("e2e_{:016x}", hasher.finish());
    Some(database(&server, &name))
}

/// A fresh database on the PostgreSQL server, for tests that start several hosts on one.
pub fn fresh_database(label: &str) -> String {
    let name = format!("e2e_{label}_{:08x}", getrandom::u32().expect("random bytes"));
    database(&server(), &name)
}

/// The URL of database `name` on `server`, created if it does not exist.
fn database(server: &str, name: &str) -> String {
    let (base, _) = server.rsplit_once('/').expect("a URL like postgres://USER@HOST:PORT/DB");
    let server = server.to_owned();
    let create = format!("CREATE DATABASE {name}");
    // On a thread of its own: the caller may be inside a runtime already.
    std::thread::spawn(move || {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("{POSTGRES}={server}: cannot connect: {e}"));
            tokio::spawn(connection);
            if let Err(e) = client.batch_execute(&create).await {
                let exists = e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE);
                assert!(exists, "{create}: {e:?}");
            }
        });
    })
    .join()
    .expect("creating the test database");
    format!("{base}/{name}")
}

/// How many events the outbox of the shared store at `url` holds.
pub async fn shared_outbox_len(url: &str) -> u64 {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("a connection");
    tokio::spawn(connection);
    let row = client.query_one("SELECT count(*) FROM eddy_outbox", &[]).await.expect("a count");
    row.get::<_, i64>(0) as u64
}
