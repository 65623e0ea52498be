//! The SQLite schema of the session store.
//!
//! One row per session in `sessions`, with the properties that queries and
//! sorts use as typed columns; collections in child tables keyed by the
//! session's row id (deleted with it). Date-times are kept both as their
//! original text (so JSON comes back as written) and as nanoseconds (so
//! comparisons honour offsets). Each detail also carries a sort `rank`
//! (booleans, numbers, strings) and `sortkey` (the instant key of a date-time,
//! else the value), indexed per detail key so that a listing sorted by a
//! detail reads the index in order instead of sorting every session.

use rusqlite::Connection;

/// Version of the schema below, stored in `PRAGMA user_version`.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// `details.kind` values.
pub(crate) mod kind {
    /// A boolean (stored as 0/1).
    pub const BOOL: i64 = 1;
    /// An integer.
    pub const INT: i64 = 2;
    /// A non-integer number.
    pub const REAL: i64 = 3;
    /// A string (`instant` holds its UTC instant key when it is a date-time).
    pub const TEXT: i64 = 4;

    /// Sort rank across kinds: booleans < numbers < strings.
    pub fn rank(kind: i64) -> i64 {
        match kind {
            BOOL => 0,
            INT | REAL => 1,
            _ => 2,
        }
    }
}

/// `refs.kind` values.
pub(crate) mod refkind {
    /// An anchor other sessions can refer to.
    pub const ANCHOR: i64 = 0;
    /// "I am a child of the session with this anchor."
    pub const CHILD_OF: i64 = 1;
    /// "I am an alternate of the session with this anchor."
    pub const ALTERNATE_OF: i64 = 2;
}

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS sessions (
    id              INTEGER PRIMARY KEY,
    identity        TEXT NOT NULL UNIQUE,
    state           INTEGER NOT NULL,
    state_name      TEXT NOT NULL,
    ts_text         TEXT NOT NULL,
    ts_nanos        INTEGER NOT NULL,
    ts_offset       INTEGER NOT NULL,
    start_time      INTEGER,
    end_time        INTEGER,
    start_text      TEXT,
    end_text        TEXT,
    identifier      TEXT NOT NULL,
    type            TEXT,
    quality         REAL,
    grp             TEXT,
    version         TEXT,
    heartbeat_nanos INTEGER,
    sequence        INTEGER
);
CREATE INDEX IF NOT EXISTS sessions_ts ON sessions (ts_nanos, id);
CREATE INDEX IF NOT EXISTS sessions_identifier ON sessions (identifier);

CREATE TABLE IF NOT EXISTS details (
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    grp        TEXT NOT NULL,
    key        TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    value      BLOB NOT NULL,
    instant    TEXT,
    rank       INTEGER NOT NULL,
    sortkey    BLOB NOT NULL,
    PRIMARY KEY (session_id, grp, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS details_by_key ON details (grp, key, kind, value);
CREATE INDEX IF NOT EXISTS details_sort ON details (grp, key, rank, sortkey);

CREATE TABLE IF NOT EXISTS markers (
    session_id   INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    category     TEXT NOT NULL,
    type         TEXT NOT NULL,
    label        TEXT NOT NULL,
    description  TEXT,
    start_time   INTEGER,
    end_time     INTEGER,
    details_json TEXT NOT NULL,
    ord          INTEGER NOT NULL,
    PRIMARY KEY (session_id, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS config_bindings (
    session_id     INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    identifier     TEXT NOT NULL,
    channel_offset INTEGER NOT NULL,
    ord            INTEGER NOT NULL,
    PRIMARY KEY (session_id, identifier)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS data_bindings (
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    source     TEXT NOT NULL,
    identity   TEXT NOT NULL,
    time_ref   INTEGER NOT NULL,
    ord        INTEGER NOT NULL,
    binding    BLOB NOT NULL,
    PRIMARY KEY (session_id, source, identity, time_ref)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS session_folders (
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    folder     TEXT NOT NULL,
    PRIMARY KEY (session_id, folder)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_folders_by_folder ON session_folders (folder, session_id);

CREATE TABLE IF NOT EXISTS folders (
    identity    TEXT PRIMARY KEY,
    parent      TEXT NOT NULL,
    label       TEXT NOT NULL,
    description TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS folders_by_parent ON folders (parent, identity);

CREATE TABLE IF NOT EXISTS refs (
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind       INTEGER NOT NULL,
    uri        TEXT NOT NULL,
    PRIMARY KEY (session_id, kind, uri)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS refs_by_uri ON refs (uri, kind, session_id);
"#;

/// Per-connection settings: WAL for concurrent readers, foreign keys for
/// cascading deletes, a busy timeout for writers from other processes.
pub(crate) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

/// Creates or checks the schema (on the writer connection).
pub(crate) fn migrate(conn: &Connection) -> crate::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(crate::Error::Core(rta_core::Error::Unavailable(format!(
            "session database schema version {version} is newer than this software ({SCHEMA_VERSION})"
        ))));
    }
    conn.execute_batch(DDL)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}
