//! The PostgreSQL session store (feature `postgres`).
//!
//! The same tables and semantics as the [SQLite store](super::SqliteSessionStore)
//! in a schema of a shared database (`PostgresSchema`, default
//! `rta_sessions`), so that several session-service instances can serve
//! one set of sessions. Queries in the REST dialect are transpiled to SQL
//! with the same comparison rules (`sql.rs`).
//!
//! Each `CreateOrUpdateSession` runs in one transaction that first locks
//! the session's row (`SELECT … FOR UPDATE`): updates of one session from
//! any number of instances are applied one after the other, none is lost,
//! and the `sequence` check sees the latest committed update. Listings run
//! in a read-only `REPEATABLE READ` snapshot. Connections are pooled
//! (`deadpool-postgres`); when PostgreSQL is unreachable every operation
//! fails with [`Error::Unavailable`] (HTTP 503, gRPC `UNAVAILABLE`) and the
//! pool reconnects once it is back.
//!
//! The schema is created or upgraded by [`PostgresSessionStore::init`]
//! (`InitStoreAndExit`); [`PostgresSessionStore::connect`] only checks it.

mod collections;
mod config;
mod meta;
mod read;
mod schema;
mod sql;
mod statements;
mod update;

pub use config::{PostgresOptions, DEFAULT_CONNECTION_TIMEOUT, DEFAULT_SCHEMA};

use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rta_core::proto::session_service as pb;
use rta_core::service::SessionStore;
use rta_core::session::SessionState;
use rta_core::time::Timestamp;
use rta_core::{Error, Result};

use sql::Param;

/// Prefix of the error for a transaction PostgreSQL aborted because of a
/// conflict (retried).
const CONFLICT: &str = "PostgreSQL transaction conflict";

/// Attempts of an update aborted by a conflict.
const ATTEMPTS: usize = 5;

/// Maps a driver error to a store error: connection problems are
/// [`Error::Unavailable`].
pub(crate) fn pg_err(e: tokio_postgres::Error) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return match code {
            "22021" | "22P05" => Error::InvalidArgument(
                "text values cannot contain NUL characters (PostgreSQL session store)".into(),
            ),
            "40001" | "40P01" => Error::Unavailable(format!("{CONFLICT}: {}", db.message())),
            "3F000" | "42P01" => Error::Unavailable(format!(
                "PostgreSQL session schema missing ({}): run the service once with InitStoreAndExit=true",
                db.message()
            )),
            c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57") => {
                Error::Unavailable(format!("PostgreSQL unavailable: {}", db.message()))
            }
            _ => Error::Internal(format!("PostgreSQL: {}", db.message())),
        };
    }
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io {
        Error::Unavailable(format!("PostgreSQL unavailable: {e}"))
    } else {
        Error::Internal(format!("PostgreSQL: {e}"))
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> Error {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_err(e),
        deadpool_postgres::PoolError::Timeout(_) => {
            Error::Unavailable("PostgreSQL unavailable: timed out waiting for a connection".into())
        }
        other => Error::Unavailable(format!("PostgreSQL unavailable: {other}")),
    }
}

fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::Unavailable(m) if m.starts_with(CONFLICT))
}

/// The folder subtree a request is scoped to: a `WITH` clause, a condition
/// on `s`, and their parameters (numbered from `$1`).
#[derive(Debug, Default)]
pub(crate) struct Scope {
    with: String,
    cond: String,
    params: Vec<Param>,
}

impl Scope {
    fn new(folder: &str) -> Scope {
        if folder.is_empty() {
            return Scope {
                with: String::new(),
                cond: "TRUE".into(),
                params: Vec::new(),
            };
        }
        Scope {
            with: "WITH RECURSIVE sub(f) AS (SELECT $1::text COLLATE \"C\" UNION SELECT fo.identity FROM folders fo JOIN sub ON fo.parent = sub.f)".into(),
            cond: "s.id IN (SELECT sf.session_id FROM session_folders sf WHERE sf.folder IN (SELECT f FROM sub))".into(),
            params: vec![Param::Text(folder.to_string())],
        }
    }
}

/// A session store in a PostgreSQL schema, shareable by several instances.
///
/// ```no_run
/// use rta_adapters::stores::{PostgresOptions, PostgresSessionStore};
/// use rta_core::service::SessionStore;
/// use rta_core::session::SessionState;
/// use rta_core::session_request::SessionRequest;
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let opts = PostgresOptions::parse("Server=db;Database=rta;User Id=rta;Password=secret")?;
/// // Once, at deployment (`InitStoreAndExit`): create or upgrade the schema.
/// PostgresSessionStore::init(opts.clone()).await?;
/// // Each instance: connect (fails clearly if the schema is missing).
/// let store = PostgresSessionStore::connect(opts).await?;
/// store.create_or_update(SessionRequest::new("s1", SessionState::Open).build()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresSessionStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    opts: PostgresOptions,
}

impl std::fmt::Debug for PostgresSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSessionStore")
            .field("opts", &self.inner.opts)
            .finish()
    }
}

impl PostgresSessionStore {
    fn pool(opts: &PostgresOptions) -> Result<Pool> {
        let mut cfg = opts.config.clone();
        cfg.options(format!("-c search_path={}", schema::quoted(&opts.schema)));
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(opts.connection_timeout);
        }
        if cfg.get_application_name().is_none() {
            cfg.application_name("rta-sessions");
        }
        let mgr = Manager::from_config(
            cfg,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(mgr)
            .max_size(opts.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(opts.connection_timeout))
            .create_timeout(Some(opts.connection_timeout))
            .recycle_timeout(Some(opts.connection_timeout))
            .build()
            .map_err(|e| Error::Internal(format!("PostgreSQL pool: {e}")))
    }

    /// Connects to a schema created by [`init`](Self::init); fails with a
    /// message saying to run `InitStoreAndExit` when it is missing or
    /// older than this software.
    pub async fn connect(opts: PostgresOptions) -> Result<Self> {
        let pool = Self::pool(&opts)?;
        {
            let client = pool.get().await.map_err(pool_err)?;
            schema::check(&client, &opts.schema).await?;
        }
        Ok(PostgresSessionStore {
            inner: Arc::new(Inner { pool, opts }),
        })
    }

    /// Creates or upgrades the schema (`InitStoreAndExit`), then connects.
    pub async fn init(opts: PostgresOptions) -> Result<Self> {
        let pool = Self::pool(&opts)?;
        {
            let mut client = pool.get().await.map_err(pool_err)?;
            schema::migrate(&mut client, &opts.schema).await?;
        }
        Ok(PostgresSessionStore {
            inner: Arc::new(Inner { pool, opts }),
        })
    }

    /// The connection options (`Debug` hides the password).
    pub fn options(&self) -> &PostgresOptions {
        &self.inner.opts
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.inner.pool.get().await.map_err(pool_err)
    }

    /// Checks that PostgreSQL answers and the schema is there (for `/health`).
    pub async fn check(&self) -> Result<()> {
        let client = self.client().await?;
        client
            .query_one("SELECT max(version) FROM schema_info", &[])
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    /// Vacuums the session tables and refreshes their planner statistics
    /// (after a bulk load; autovacuum does both on its own otherwise). The
    /// vacuum marks the pages all-visible, so that index-only scans (the
    /// detail filters, `details_by_text`) need not visit the table.
    pub async fn analyze(&self) -> Result<()> {
        let client = self.client().await?;
        client
            .batch_execute(
                "VACUUM (ANALYZE) sessions, details, markers, config_bindings, data_bindings, \
                 session_folders, folders, refs",
            )
            .await
            .map_err(pg_err)
    }

    /// Number of sessions stored.
    pub async fn count(&self) -> Result<u64> {
        let client = self.client().await?;
        let n: i64 = client
            .query_one("SELECT COUNT(*) FROM sessions", &[])
            .await
            .map_err(pg_err)?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether a session with this identity exists.
    pub async fn exists(&self, identity: &str) -> Result<bool> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM sessions WHERE identity = $1)")
            .await
            .map_err(pg_err)?;
        Ok(client
            .query_one(&stmt, &[&identity])
            .await
            .map_err(pg_err)?
            .get(0))
    }

    async fn update_once(
        &self,
        req: &pb::CreateOrUpdateSessionRequest,
        now: &Timestamp,
    ) -> Result<Option<SessionState>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_err)?;
        let state = update::create_or_update(&tx, req, now).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(state)
    }
}

/// Starts a read-only snapshot on `client`; the `BEGIN` is pipelined with
/// the first query of `first` (requests go out in the order their futures
/// are first polled), so the snapshot costs no extra round trip. Then runs
/// `rest` and commits; on error the transaction is rolled back before the
/// connection goes back to the pool.
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// A pooled connection inside a hand-made read transaction: if the request
/// is dropped before the transaction ends, the connection is taken out of
/// the pool (and closed) rather than returned with a transaction open.
struct ReadConn {
    obj: Option<deadpool_postgres::Object>,
    done: bool,
}

impl ReadConn {
    fn client(&self) -> Result<&deadpool_postgres::ClientWrapper> {
        self.obj
            .as_deref()
            .ok_or_else(|| Error::Internal("read connection already released".into()))
    }
}

impl Drop for ReadConn {
    fn drop(&mut self) {
        if !self.done {
            if let Some(obj) = self.obj.take() {
                drop(deadpool_postgres::Object::take(obj));
            }
        }
    }
}

/// Runs `$first`, then `$then` with its result bound to `$x`, on the client
/// `$c` in a read-only snapshot.
///
/// On success the answer does not wait for the `COMMIT`: ending a read-only
/// transaction cannot change what it read, so the commit finishes on its own
/// task and the connection goes back to the pool after it (or is closed if
/// the commit fails). A failed read is rolled back before it returns.
macro_rules! read_tx {
    ($self:ident, $c:ident, $first:expr, |$x:pat_param| $then:expr) => {{
        let mut conn = ReadConn {
            obj: Some($self.client().await?),
            done: false,
        };
        let (result, ended): (Result<_>, bool) = async {
            let $c = match conn.client() {
                Ok(c) => c,
                Err(e) => return (Err(e), false),
            };
            let (begun, first) = futures::join!($c.batch_execute(BEGIN_READ), $first);
            let result: Result<_> = async {
                begun.map_err(pg_err)?;
                let $x = first?;
                $then
            }
            .await;
            match result {
                Ok(v) => (Ok(v), true),
                Err(e) => match $c.batch_execute("ROLLBACK").await {
                    Ok(()) => (Err(e), true),
                    Err(_) => (Err(e), false),
                },
            }
        }
        .await;
        match (&result, conn.obj.take()) {
            (Ok(_), Some(obj)) if ended => {
                conn.done = true;
                tokio::spawn(async move {
                    if obj.batch_execute("COMMIT").await.is_err() {
                        // a connection whose transaction did not end is not reused
                        drop(deadpool_postgres::Object::take(obj));
                    }
                });
            }
            (_, obj) => {
                conn.obj = obj;
                // a connection whose transaction did not end is not reused
                conn.done = ended;
            }
        }
        result
    }};
}

/// Runs `$body` (which uses `$tx`) in a transaction holding the folder
/// tree's advisory lock.
macro_rules! folder_tx {
    ($self:ident, $tx:ident, $body:expr) => {{
        let mut client = $self.client().await?;
        let $tx = client.transaction().await.map_err(pg_err)?;
        $tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::FOLDER_LOCK])
            .await
            .map_err(pg_err)?;
        let out = $body;
        $tx.commit().await.map_err(pg_err)?;
        out
    }};
}

/// Lets the data API answer 404 for sessions this store does not know.
#[async_trait]
impl rta_core::service::IdentityCheck for PostgresSessionStore {
    async fn exists(&self, identity: &str) -> Result<bool> {
        PostgresSessionStore::exists(self, identity).await
    }
}

#[async_trait]
impl SessionStore for PostgresSessionStore {
    async fn create_or_update(&self, req: pb::CreateOrUpdateSessionRequest) -> Result<()> {
        self.create_or_update_state(req).await.map(|_| ())
    }

    async fn create_or_update_state(
        &self,
        req: pb::CreateOrUpdateSessionRequest,
    ) -> Result<Option<SessionState>> {
        let now = Timestamp::now();
        let mut attempt = 1;
        loop {
            match self.update_once(&req, &now).await {
                Err(e) if is_conflict(&e) && attempt < ATTEMPTS => attempt += 1,
                other => return other,
            }
        }
    }

    async fn get(
        &self,
        identity: &str,
        elements: &pb::SessionElements,
    ) -> Result<Option<pb::Session>> {
        read_tx!(
            self,
            c,
            async {
                let stmt = read::cached(c, "SELECT id FROM sessions WHERE identity = $1").await?;
                c.query_opt(&stmt, &[&identity]).await.map_err(pg_err)
            },
            |row| Ok(match row {
                Some(r) => read::load(c, &[r.get(0)], elements).await?.pop(),
                None => None,
            })
        )
    }

    async fn list(&self, req: &pb::ListSessionsRequest) -> Result<Vec<pb::Session>> {
        let elements = req.session_elements.clone().unwrap_or_default();
        read_tx!(self, c, read::list_ids(c, req), |ids| read::load(
            c, &ids, &elements
        )
        .await)
    }

    async fn delete(&self, identities: &[String]) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM sessions WHERE identity = ANY($1)",
                &[&identities],
            )
            .await
            .map_err(pg_err)?;
        Ok(())
    }

    async fn folders(&self, parent: &str) -> Result<Vec<pb::SessionFolder>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT f.identity, f.label, f.description,
                        EXISTS (SELECT 1 FROM folders c WHERE c.parent = f.identity)
                 FROM folders f WHERE f.parent = $1 ORDER BY f.identity",
                &[&parent],
            )
            .await
            .map_err(pg_err)?;
        Ok(rows
            .iter()
            .map(|r| pb::SessionFolder {
                identity: r.get(0),
                label: r.get(1),
                description: r.get(2),
                has_children: r.get(3),
            })
            .collect())
    }

    async fn put_folder(&self, req: pb::PutSessionFolderRequest) -> Result<()> {
        if req.identity.is_empty() {
            return Err(Error::InvalidArgument(
                "the root folder (empty identity) cannot be modified".into(),
            ));
        }
        folder_tx!(self, tx, {
            if !req.parent_identity.is_empty() {
                let exists: bool = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM folders WHERE identity = $1)",
                        &[&req.parent_identity],
                    )
                    .await
                    .map_err(pg_err)?
                    .get(0);
                if !exists {
                    return Err(Error::InvalidArgument(format!(
                        "parent folder {:?} does not exist",
                        req.parent_identity
                    )));
                }
                if subtree(&tx, &req.identity)
                    .await?
                    .contains(&req.parent_identity)
                {
                    return Err(Error::InvalidArgument(format!(
                        "folder {:?} cannot move under itself or its descendant {:?}",
                        req.identity, req.parent_identity
                    )));
                }
            }
            tx.execute(
                "INSERT INTO folders (identity, parent, label, description) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (identity) DO UPDATE SET parent = excluded.parent, label = excluded.label,
                     description = excluded.description",
                &[&req.identity, &req.parent_identity, &req.label, &req.description],
            )
            .await
            .map_err(pg_err)?;
        });
        Ok(())
    }

    async fn delete_folders(&self, identities: &[String]) -> Result<()> {
        if identities.iter().any(String::is_empty) {
            return Err(Error::InvalidArgument(
                "the root folder cannot be deleted".into(),
            ));
        }
        folder_tx!(self, tx, {
            for identity in identities {
                let exists: bool = tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM folders WHERE identity = $1)",
                        &[identity],
                    )
                    .await
                    .map_err(pg_err)?
                    .get(0);
                if !exists {
                    continue;
                }
                for folder in subtree(&tx, identity).await? {
                    let affected: Vec<i64> = tx
                        .query(
                            "DELETE FROM session_folders WHERE folder = $1 RETURNING session_id",
                            &[&folder],
                        )
                        .await
                        .map_err(pg_err)?
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    tx.execute("DELETE FROM folders WHERE identity = $1", &[&folder])
                        .await
                        .map_err(pg_err)?;
                    for id in affected {
                        collections::ensure_root(&tx, id).await?;
                    }
                }
            }
        });
        Ok(())
    }

    async fn metamodel(
        &self,
        folder_subtree: &str,
        json_properties: &[String],
    ) -> Result<serde_json::Value> {
        let scope = Scope::new(folder_subtree);
        read_tx!(self, c, meta::metamodel(c, &scope, json_properties), |v| {
            Ok(v)
        })
    }

    async fn query_properties(
        &self,
        partial_match: &str,
        folder_subtree: &str,
    ) -> Result<Vec<pb::PropertySummary>> {
        let scope = Scope::new(folder_subtree);
        read_tx!(self, c, meta::properties(c, &scope, partial_match), |v| Ok(
            v
        ))
    }
}

/// Identities of a folder and all its descendants.
async fn subtree(tx: &deadpool_postgres::Transaction<'_>, folder: &str) -> Result<Vec<String>> {
    let rows = tx
        .query(
            "WITH RECURSIVE sub(f) AS (SELECT $1::text COLLATE \"C\"
                 UNION SELECT fo.identity FROM folders fo JOIN sub ON fo.parent = sub.f)
             SELECT f FROM sub",
            &[&folder],
        )
        .await
        .map_err(pg_err)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
