//! The shared store's tables, created and migrated by whichever host starts first: versioned
//! migrations applied in order, each in its own transaction, under an advisory lock so hosts
//! starting together migrate once. `eddy_migrations` records what was applied. A database whose
//! schema is newer than this host knows is refused rather than misread. The tables are
//! described in `docs/cluster.md`.

use tokio_postgres::Client;

use crate::state::error::StateError;

use super::fail::fail;

/// The advisory lock hosts take while migrating (any constant no other user of the lock space
/// is likely to pick: "eddy" in ASCII).
const MIGRATION_LOCK: i64 = 0x6564_6479;

/// Migrations by version, in order. Never edit one that shipped: add the next.
const MIGRATIONS: &[(i32, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4)];

/// Version 1: state, the outbox and its delivery marks, dead letters, and the lanes of the
/// trigger dispatcher with the hosts that lease them. Keys compare byte by byte (`COLLATE "C"`),
/// as in the embedded store, so both list in the same order. Values are `json` (kept as
/// written, fields in their order) so SQL can read them: `value->>'title'`.
const V1: &str = r#"
CREATE TABLE eddy_state (
    scope text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    value json NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE SEQUENCE eddy_outbox_seq;
CREATE TABLE eddy_outbox (
    seq bigint PRIMARY KEY,
    lane integer NOT NULL,
    event json NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX eddy_outbox_lane ON eddy_outbox (lane, seq);
CREATE TABLE eddy_delivered (
    seq bigint NOT NULL REFERENCES eddy_outbox ON DELETE CASCADE,
    function text NOT NULL,
    PRIMARY KEY (seq, function)
);
CREATE SEQUENCE eddy_dead_letter_id;
CREATE TABLE eddy_dead_letters (
    id bigint PRIMARY KEY,
    function text NOT NULL,
    letter json NOT NULL
);
CREATE TABLE eddy_hosts (
    id text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE eddy_lanes (
    lane integer PRIMARY KEY,
    owner text,
    expires_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO eddy_lanes (lane) SELECT generate_series(0, 63);
"#;

/// Version 2: streams shared by every host. A group's `seq` counts its frames for the life of
/// the database (all hosts number in one epoch, drawn once and kept in `eddy_meta`); its recent
/// frames stay in `eddy_stream_frames` for clients that resume with `since`, bounded in count
/// and age; its items live in `eddy_stream_items`.
const V2: &str = r#"
CREATE TABLE eddy_meta (
    name text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO eddy_meta (name, value) VALUES ('stream_epoch', md5(random()::text || clock_timestamp()::text));
CREATE TABLE eddy_stream_groups (
    stream text COLLATE "C" NOT NULL,
    grp text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (stream, grp)
);
CREATE TABLE eddy_stream_frames (
    stream text COLLATE "C" NOT NULL,
    grp text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    id text,
    frame text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, grp, seq)
);
CREATE TABLE eddy_stream_items (
    stream text COLLATE "C" NOT NULL,
    grp text COLLATE "C" NOT NULL,
    item text COLLATE "C" NOT NULL,
    value json NOT NULL,
    PRIMARY KEY (stream, grp, item)
);
"#;

/// Version 3: delivery marks lose their foreign key. The writer removes an event's marks in
/// the statement that retires it; the key cost a lock on the event's row for every mark and a
/// trigger call for every retired event.
const V3: &str = r#"
ALTER TABLE eddy_delivered DROP CONSTRAINT IF EXISTS eddy_delivered_seq_fkey;
"#;

/// Version 4: each stream group remembers where its kept frames start (`floor`: every frame
/// below it is gone), so trimming the window reads from there, not over the index entries of
/// the frames trimmed before (left until the table is vacuumed).
const V4: &str = r#"
ALTER TABLE eddy_stream_groups ADD COLUMN floor bigint NOT NULL DEFAULT 0;
"#;

/// Brings the database's schema up to the newest version this host knows.
pub async fn migrate(client: &mut Client) -> Result<(), StateError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(fail("taking the migration lock"))?;
    let result = apply(client).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    result?;
    unlocked.map_err(fail("releasing the migration lock"))?;
    Ok(())
}

async fn apply(client: &mut Client) -> Result<(), StateError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS eddy_migrations (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(fail("creating eddy_migrations"))?;
    let row = client
        .query_one("SELECT coalesce(max(version), 0) FROM eddy_migrations", &[])
        .await
        .map_err(fail("reading the schema version"))?;
    let current: i32 = row.get(0);
    let newest = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if current > newest {
        return Err(StateError::Storage(format!(
            "the database's Eddy schema is version {current}, newer than this eddy knows \
             ({newest}): upgrade eddy"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        let txn = client.transaction().await.map_err(fail("beginning a migration"))?;
        txn.batch_execute(sql).await.map_err(fail(format!("applying migration {version}")))?;
        txn.execute("INSERT INTO eddy_migrations (version) VALUES ($1)", &[version])
            .await
            .map_err(fail("recording a migration"))?;
        txn.commit().await.map_err(fail(format!("committing migration {version}")))?;
        tracing::info!(version, "database schema migrated");
    }
    Ok(())
}
