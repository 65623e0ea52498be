//! The SQLite session store.
//!
//! One database file holds sessions, their details, markers, bindings,
//! folder links and references, and the folder tree (see `schema.rs` for
//! the tables). Queries in the REST dialect are transpiled to SQL, so
//! filtering, sorting and paging are done by the database.
//!
//! The database runs in WAL mode: one writer connection applies each
//! `CreateOrUpdateSession` as a single `IMMEDIATE` transaction, while any
//! number of reader connections (pooled) answer queries concurrently from
//! consistent snapshots. All of it runs on Tokio's blocking pool.

pub(crate) mod meta;
pub(crate) mod read;
pub(crate) mod schema;
mod sql;
pub(crate) mod update;

pub use meta::MAX_VALUES as MAX_METAMODEL_VALUES;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rta_core::proto::session_service as pb;
use rta_core::query::{Query, SortOrder};
use rta_core::service::SessionStore;
use rta_core::session::SessionState;
use rta_core::time::Timestamp;
use rta_core::{Error, Result};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value as Sql;
use rusqlite::{params, Connection, OpenFlags, TransactionBehavior};

use super::blocking;

/// Most idle reader connections kept open.
const MAX_IDLE_READERS: usize = 8;

/// A session store in one SQLite file.
///
/// ```
/// use rta_adapters::stores::SqliteSessionStore;
/// use rta_core::proto::session_service::SessionElements;
/// use rta_core::session::SessionState;
/// use rta_core::session_request::SessionRequest;
/// use rta_core::service::SessionStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteSessionStore::open(dir.path().join("sessions.sqlite")).unwrap();
/// store.create_or_update(SessionRequest::new("s1", SessionState::Closed).build()).await.unwrap();
/// let elements = SessionElements { json: true, ..Default::default() };
/// let s = store.get("s1", &elements).await.unwrap().unwrap();
/// assert!(s.json.contains(r#""state":"closed""#));
/// # });
/// ```
#[derive(Clone)]
pub struct SqliteSessionStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSessionStore")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Maps a SQLite error to a store error.
pub(crate) fn sql_err(e: rusqlite::Error) -> Error {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Error::Unavailable(format!("session database busy: {e}"))
        }
        other => Error::Internal(format!("session database: {other}")),
    }
}

/// A sortable key for a date-time string: the instant in UTC as
/// `YYYY-MM-DDThh:mm:ss.fffffffff`, which orders like the instants. `None`
/// for strings that are not RFC 3339 date-times (the same test as
/// `rta_core::query`).
pub(crate) fn instant_key(s: &str) -> Option<String> {
    rta_core::query::Value::String(s.to_string())
        .as_date_time()
        .map(|dt| dt.naive_utc().format("%Y-%m-%dT%H:%M:%S%.9f").to_string())
}

fn open_connection(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags)?;
    schema::configure(&conn)?;
    conn.create_scalar_function(
        "rta_instant",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                rusqlite::types::ValueRef::Text(t) => {
                    std::str::from_utf8(t).ok().and_then(instant_key)
                }
                _ => None,
            })
        },
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The folder subtree a request is scoped to: a `WITH` clause, a condition
/// on `s`, and their parameters (numbered from `?1`).
#[derive(Debug, Default)]
pub(crate) struct Scope {
    with: String,
    cond: String,
    params: Vec<Sql>,
}

impl Scope {
    fn new(folder: &str) -> Scope {
        if folder.is_empty() {
            return Scope {
                with: String::new(),
                cond: "1".into(),
                params: Vec::new(),
            };
        }
        Scope {
            with: "WITH RECURSIVE sub(f) AS (SELECT ?1 UNION SELECT fo.identity FROM folders fo JOIN sub ON fo.parent = sub.f)".into(),
            cond: "s.id IN (SELECT sf.session_id FROM session_folders sf WHERE sf.folder IN (SELECT f FROM sub))".into(),
            params: vec![Sql::Text(folder.to_string())],
        }
    }
}

impl SqliteSessionStore {
    /// Opens (creating if needed) the database at `path`, creating its
    /// directory and schema.
    pub fn open(path: impl AsRef<Path>) -> crate::Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let writer = open_connection(&path, OpenFlags::default())?;
        schema::migrate(&writer)?;
        Ok(SqliteSessionStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Checks that the database answers (for `/health`).
    pub async fn check(&self) -> Result<()> {
        self.read(|c| {
            c.query_row("SELECT COUNT(*) FROM folders", [], |r| r.get::<_, i64>(0))
                .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    /// Number of sessions stored.
    pub async fn count(&self) -> Result<u64> {
        self.read(|c| {
            c.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get::<_, i64>(0))
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(sql_err)
        })
        .await
    }

    /// Whether a session with this identity exists.
    pub async fn exists(&self, identity: &str) -> Result<bool> {
        let identity = identity.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM sessions WHERE identity = ?1)",
                [&identity],
                |r| r.get(0),
            )
            .map_err(sql_err)
        })
        .await
    }

    /// Runs `f` on a pooled reader connection inside a read transaction
    /// (one consistent snapshot).
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || {
            let pooled = inner.readers.lock().ok().and_then(|mut v| v.pop());
            let conn = match pooled {
                Some(c) => c,
                None => open_connection(
                    &inner.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )
                .map_err(sql_err)?,
            };
            let result = (|| {
                let tx = conn.unchecked_transaction().map_err(sql_err)?;
                let r = f(&tx)?;
                tx.finish().map_err(sql_err)?;
                Ok(r)
            })();
            if let Ok(mut pool) = inner.readers.lock() {
                if pool.len() < MAX_IDLE_READERS {
                    pool.push(conn);
                }
            }
            result
        })
        .await
    }

    /// Runs `f` in an immediate write transaction; commits on `Ok`, rolls
    /// back on `Err`.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || {
            let mut conn = inner
                .writer
                .lock()
                .map_err(|_| Error::Internal("session writer lock poisoned".into()))?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_err)?;
            let r = f(&tx)?;
            tx.commit().map_err(sql_err)?;
            Ok(r)
        })
        .await
    }
}

/// Row ids of the sessions a list request selects, in order.
fn list_ids(conn: &Connection, req: &pb::ListSessionsRequest) -> Result<Vec<i64>> {
    let query = Query::parse(&req.query)?;
    let order = SortOrder::parse(&req.sorts)?;
    if req.page_index < 0 || req.page_size < 0 {
        return Err(Error::Query(format!(
            "pageIndex ({}) and pageSize ({}) must not be negative",
            req.page_index, req.page_size
        )));
    }
    let scope = Scope::new(&req.folder_subtree);
    let mut b = sql::Builder {
        params: scope.params.clone(),
        ..Default::default()
    };
    let filter = b.expr(&query.filter);
    let plan = b.plan_order(&order);
    let mut conds = vec![scope.cond.clone(), filter];
    if !req.include_sub_sessions {
        conds.push(sql::top_level_condition());
    }
    let conds = conds.join(" AND ");
    let joins = b.joins();
    let with = &scope.with;
    // (limit, offset); no limit when page_size is 0
    let page = (req.page_size > 0).then(|| {
        (
            i64::from(req.page_size),
            i64::from(req.page_index) * i64::from(req.page_size),
        )
    });
    let limit = |p: Option<(i64, i64)>| match p {
        Some((l, o)) => format!(" LIMIT {l} OFFSET {o}"),
        None => String::new(),
    };
    let run = |text: &str| -> Result<Vec<i64>> {
        let mut stmt = conn.prepare(text).map_err(sql_err)?;
        let ids = stmt
            .query_map(rusqlite::params_from_iter(b.params.iter()), |r| r.get(0))
            .map_err(sql_err)?
            .collect::<rusqlite::Result<Vec<i64>>>()
            .map_err(sql_err)?;
        Ok(ids)
    };
    match plan {
        sql::OrderPlan::Simple(order_sql) => run(&format!(
            "{with} SELECT s.id FROM sessions s {joins} WHERE {conds} ORDER BY {order_sql}{}",
            limit(page)
        )),
        sql::OrderPlan::DetailFirst {
            grp,
            key,
            dir,
            rest,
        } => {
            // Sessions with the detail, in index order.
            let present_from = format!(
                "FROM details p CROSS JOIN sessions s ON s.id = p.session_id {joins} \
                 WHERE p.grp = {grp} AND p.key = {key} AND {conds}"
            );
            let mut ids = run(&format!(
                "{with} SELECT s.id {present_from} ORDER BY p.rank {dir}, p.sortkey {dir}, {rest}{}",
                limit(page)
            ))?;
            // Then the sessions without it, if the page is not full.
            let missing_page = match page {
                None => None,
                Some((l, _)) if ids.len() as i64 >= l => return Ok(ids),
                Some((l, o)) => {
                    let present_before = if ids.is_empty() && o > 0 {
                        let mut stmt = conn
                            .prepare(&format!("{with} SELECT COUNT(*) {present_from}"))
                            .map_err(sql_err)?;
                        stmt.query_row(rusqlite::params_from_iter(b.params.iter()), |r| {
                            r.get::<_, i64>(0)
                        })
                        .map_err(sql_err)?
                    } else {
                        o + ids.len() as i64
                    };
                    Some((l - ids.len() as i64, (o - present_before).max(0)))
                }
            };
            ids.extend(run(&format!(
                "{with} SELECT s.id FROM sessions s {joins} WHERE NOT EXISTS \
                 (SELECT 1 FROM details x WHERE x.session_id = s.id AND x.grp = {grp} AND x.key = {key}) \
                 AND {conds} ORDER BY {rest}{}",
                limit(missing_page)
            ))?);
            Ok(ids)
        }
    }
}

/// Identities of a folder and all its descendants.
fn subtree(conn: &Connection, folder: &str) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare_cached(
            "WITH RECURSIVE sub(f) AS (SELECT ?1 UNION SELECT fo.identity FROM folders fo JOIN sub ON fo.parent = sub.f)
             SELECT f FROM sub",
        )
        .map_err(sql_err)?;
    let v = stmt
        .query_map([folder], |r| r.get(0))
        .map_err(sql_err)?
        .collect::<rusqlite::Result<Vec<String>>>()
        .map_err(sql_err)?;
    Ok(v)
}

/// Lets the data API answer 404 for sessions this store does not know.
#[async_trait]
impl rta_core::service::IdentityCheck for SqliteSessionStore {
    async fn exists(&self, identity: &str) -> Result<bool> {
        SqliteSessionStore::exists(self, identity).await
    }
}

#[async_trait]
impl SessionStore for SqliteSessionStore {
    async fn create_or_update(&self, req: pb::CreateOrUpdateSessionRequest) -> Result<()> {
        self.create_or_update_state(req).await.map(|_| ())
    }

    /// The state comes from the update's own transaction; `None` when the
    /// request was skipped because its `sequence` is stale.
    async fn create_or_update_state(
        &self,
        req: pb::CreateOrUpdateSessionRequest,
    ) -> Result<Option<SessionState>> {
        let now = Timestamp::now();
        self.write(move |tx| update::create_or_update(tx, &req, &now))
            .await
    }

    async fn get(
        &self,
        identity: &str,
        elements: &pb::SessionElements,
    ) -> Result<Option<pb::Session>> {
        let identity = identity.to_string();
        let elements = elements.clone();
        self.read(move |c| {
            let id: Option<i64> = rusqlite::OptionalExtension::optional(c.query_row(
                "SELECT id FROM sessions WHERE identity = ?1",
                [&identity],
                |r| r.get(0),
            ))
            .map_err(sql_err)?;
            match id {
                Some(id) => Ok(read::load(c, &[id], &elements)?.pop()),
                None => Ok(None),
            }
        })
        .await
    }

    async fn list(&self, req: &pb::ListSessionsRequest) -> Result<Vec<pb::Session>> {
        let req = req.clone();
        self.read(move |c| {
            let ids = list_ids(c, &req)?;
            let elements = req.session_elements.clone().unwrap_or_default();
            read::load(c, &ids, &elements)
        })
        .await
    }

    async fn delete(&self, identities: &[String]) -> Result<()> {
        let identities = identities.to_vec();
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached("DELETE FROM sessions WHERE identity = ?1")
                .map_err(sql_err)?;
            for i in &identities {
                stmt.execute([i]).map_err(sql_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn folders(&self, parent: &str) -> Result<Vec<pb::SessionFolder>> {
        let parent = parent.to_string();
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT f.identity, f.label, f.description,
                            EXISTS (SELECT 1 FROM folders c WHERE c.parent = f.identity)
                     FROM folders f WHERE f.parent = ?1 ORDER BY f.identity",
                )
                .map_err(sql_err)?;
            let v = stmt
                .query_map([&parent], |r| {
                    Ok(pb::SessionFolder {
                        identity: r.get(0)?,
                        label: r.get(1)?,
                        description: r.get(2)?,
                        has_children: r.get(3)?,
                    })
                })
                .map_err(sql_err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql_err)?;
            Ok(v)
        })
        .await
    }

    async fn put_folder(&self, req: pb::PutSessionFolderRequest) -> Result<()> {
        if req.identity.is_empty() {
            return Err(Error::InvalidArgument(
                "the root folder (empty identity) cannot be modified".into(),
            ));
        }
        self.write(move |tx| {
            if !req.parent_identity.is_empty() {
                let exists: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM folders WHERE identity = ?1)",
                        [&req.parent_identity],
                        |r| r.get(0),
                    )
                    .map_err(sql_err)?;
                if !exists {
                    return Err(Error::InvalidArgument(format!(
                        "parent folder {:?} does not exist",
                        req.parent_identity
                    )));
                }
                if subtree(tx, &req.identity)?.contains(&req.parent_identity) {
                    return Err(Error::InvalidArgument(format!(
                        "folder {:?} cannot move under itself or its descendant {:?}",
                        req.identity, req.parent_identity
                    )));
                }
            }
            tx.execute(
                "INSERT INTO folders (identity, parent, label, description) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (identity) DO UPDATE SET parent = excluded.parent, label = excluded.label,
                     description = excluded.description",
                params![req.identity, req.parent_identity, req.label, req.description],
            )
            .map_err(sql_err)?;
            Ok(())
        })
        .await
    }

    async fn delete_folders(&self, identities: &[String]) -> Result<()> {
        if identities.iter().any(String::is_empty) {
            return Err(Error::InvalidArgument(
                "the root folder cannot be deleted".into(),
            ));
        }
        let identities = identities.to_vec();
        self.write(move |tx| {
            for identity in &identities {
                let exists: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM folders WHERE identity = ?1)",
                        [identity],
                        |r| r.get(0),
                    )
                    .map_err(sql_err)?;
                if !exists {
                    continue;
                }
                for folder in subtree(tx, identity)? {
                    let affected: Vec<i64> = {
                        let mut stmt = tx
                            .prepare_cached(
                                "SELECT session_id FROM session_folders WHERE folder = ?1",
                            )
                            .map_err(sql_err)?;
                        let v = stmt
                            .query_map([&folder], |r| r.get(0))
                            .map_err(sql_err)?
                            .collect::<rusqlite::Result<Vec<i64>>>()
                            .map_err(sql_err)?;
                        v
                    };
                    tx.execute("DELETE FROM session_folders WHERE folder = ?1", [&folder])
                        .map_err(sql_err)?;
                    tx.execute("DELETE FROM folders WHERE identity = ?1", [&folder])
                        .map_err(sql_err)?;
                    for id in affected {
                        update::ensure_root(tx, id)?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn metamodel(
        &self,
        folder_subtree: &str,
        json_properties: &[String],
    ) -> Result<serde_json::Value> {
        let scope = Scope::new(folder_subtree);
        let props = json_properties.to_vec();
        self.read(move |c| meta::metamodel(c, &scope, &props)).await
    }

    async fn query_properties(
        &self,
        partial_match: &str,
        folder_subtree: &str,
    ) -> Result<Vec<pb::PropertySummary>> {
        let scope = Scope::new(folder_subtree);
        let partial = partial_match.to_string();
        self.read(move |c| meta::properties(c, &scope, &partial))
            .await
    }
}
