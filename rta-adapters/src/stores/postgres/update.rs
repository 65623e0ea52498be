//! `CreateOrUpdateSession` on PostgreSQL: the session row is locked
//! (`SELECT … FOR UPDATE`) for the whole transaction, so updates of one
//! session from several instances are applied one after the other, and
//! its `sequence` is checked under the lock.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use prost::Message;
use rta_core::proto::session_service as pb;
use rta_core::proto::session_service::session_update::{self as su, Op};
use rta_core::session::{details_from_json, DetailValue, Details, SessionState};
use rta_core::time::Timestamp;
use rta_core::{Error, Result};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::pg_err;
use super::sql::exact_decimal;
use crate::stores::session::instant_key;
use crate::stores::session::schema::{kind, refkind};
use crate::stores::session::update::Core;

/// Runs a statement prepared once per connection.
async fn exec(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> std::result::Result<u64, tokio_postgres::Error> {
    let stmt = tx.prepare_cached(sql).await?;
    tx.execute(&stmt, params).await
}

async fn query_opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> std::result::Result<Option<Row>, tokio_postgres::Error> {
    let stmt = tx.prepare_cached(sql).await?;
    tx.query_opt(&stmt, params).await
}

async fn query_one(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> std::result::Result<Row, tokio_postgres::Error> {
    let stmt = tx.prepare_cached(sql).await?;
    tx.query_one(&stmt, params).await
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

/// Creates the session if needed and applies the updates; `None` when the
/// request was skipped because its `sequence` is stale.
pub(crate) async fn create_or_update(
    tx: &Transaction<'_>,
    req: &pb::CreateOrUpdateSessionRequest,
    now: &Timestamp,
) -> Result<Option<SessionState>> {
    if req.identity.is_empty() {
        return Err(invalid("session identity must not be empty"));
    }
    let lock = tx
        .prepare_cached("SELECT id, sequence FROM sessions WHERE identity = $1 FOR UPDATE")
        .await
        .map_err(pg_err)?;
    let existing = tx
        .query_opt(&lock, &[&req.identity])
        .await
        .map_err(pg_err)?;
    let (id, last): (i64, Option<i64>) = match existing {
        Some(row) => (row.get(0), row.get(1)),
        None => match insert_new(tx, req, now).await? {
            // the new row is ours (and locked) until commit
            Some(id) => (id, None),
            // another instance created it meanwhile: wait for its lock
            None => {
                let row = tx
                    .query_one(&lock, &[&req.identity])
                    .await
                    .map_err(pg_err)?;
                (row.get(0), row.get(1))
            }
        },
    };
    if let (Some(last), Some(seq)) = (last, req.sequence) {
        if seq <= last {
            return Ok(None);
        }
    }
    let mut core = load_core(tx, id).await?;
    for (i, update) in req.updates.iter().enumerate() {
        let Some(op) = &update.op else {
            return Err(invalid(format!("update #{i} has no operation")));
        };
        apply(tx, id, &mut core, op, now)
            .await
            .map_err(|e| match e {
                Error::InvalidArgument(m) => invalid(format!("update #{i}: {m}")),
                other => other,
            })?;
    }
    store_core(tx, id, &core, req.sequence).await?;
    Ok(Some(core.state))
}

/// Inserts the row with its defaults; its id, or `None` when it already
/// exists.
async fn insert_new(
    tx: &Transaction<'_>,
    req: &pb::CreateOrUpdateSessionRequest,
    now: &Timestamp,
) -> Result<Option<i64>> {
    let init = req.create_if_not_exists.clone().unwrap_or_default();
    let state = if init.state == 0 {
        SessionState::Closed
    } else {
        SessionState::from_i32(init.state)?
    };
    let timestamp = if init.timestamp.is_empty() {
        now.clone()
    } else {
        Timestamp::parse(&init.timestamp)?
    };
    let identifier = if init.identifier.is_empty() {
        req.identity.clone()
    } else {
        init.identifier
    };
    let row = query_opt(
        tx,
        "INSERT INTO sessions (identity, identity_instant, state, state_name, ts_text, ts_nanos,
                                   ts_offset, identifier, identifier_instant)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (identity) DO NOTHING RETURNING id",
        &[
            &req.identity,
            &instant_key(&req.identity),
            &i64::from(state.as_i32()),
            &state.as_str(),
            &timestamp.as_str(),
            &timestamp.nanos(),
            &i64::from(timestamp.offset_minutes()),
            &identifier,
            &instant_key(&identifier),
        ],
    )
    .await
    .map_err(pg_err)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id: i64 = row.get(0);
    exec(
        tx,
        "INSERT INTO session_folders (session_id, folder) VALUES ($1, '')",
        &[&id],
    )
    .await
    .map_err(pg_err)?;
    Ok(Some(id))
}

/// Parses a `numeric` rendered as text into an `f64` (exact for the values
/// this store writes).
pub(crate) fn parse_f64(s: Option<String>) -> Option<f64> {
    s.and_then(|s| s.parse().ok())
}

async fn load_core(tx: &Transaction<'_>, id: i64) -> Result<Core> {
    let stmt = tx
        .prepare_cached(
            "SELECT state, ts_text, start_time, end_time, identifier, type, quality::text, grp,
                    version, heartbeat_nanos
             FROM sessions WHERE id = $1",
        )
        .await
        .map_err(pg_err)?;
    let r = tx.query_one(&stmt, &[&id]).await.map_err(pg_err)?;
    let state: i64 = r.get(0);
    let ts: String = r.get(1);
    Ok(Core {
        state: SessionState::from_i32(i32::try_from(state).unwrap_or_default()).unwrap_or_default(),
        timestamp: Timestamp::parse(&ts)?,
        start_time: r.get(2),
        end_time: r.get(3),
        identifier: r.get(4),
        session_type: r.get(5),
        quality: parse_f64(r.get(6)),
        group: r.get(7),
        version: r.get(8),
        heartbeat: r.get(9),
    })
}

async fn store_core(tx: &Transaction<'_>, id: i64, c: &Core, sequence: Option<i64>) -> Result<()> {
    let offset = c.timestamp.offset_minutes();
    let text = |t: Option<i64>| -> Result<Option<String>> {
        t.map(|n| Timestamp::from_nanos_with_offset(n, offset).map(|ts| ts.as_str().to_string()))
            .transpose()
    };
    let key = |s: &Option<String>| s.as_deref().and_then(instant_key);
    let stmt = tx
        .prepare_cached(
            "UPDATE sessions SET state = $2, state_name = $3, ts_text = $4, ts_nanos = $5,
                 ts_offset = $6, start_time = $7, end_time = $8, start_text = $9, end_text = $10,
                 identifier = $11, identifier_instant = $12, type = $13, type_instant = $14,
                 quality = $15::text::numeric, grp = $16, grp_instant = $17, version = $18,
                 version_instant = $19, heartbeat_nanos = $20,
                 sequence = COALESCE($21, sequence)
             WHERE id = $1",
        )
        .await
        .map_err(pg_err)?;
    tx.execute(
        &stmt,
        &[
            &id,
            &i64::from(c.state.as_i32()),
            &c.state.as_str(),
            &c.timestamp.as_str(),
            &c.timestamp.nanos(),
            &i64::from(offset),
            &c.start_time,
            &c.end_time,
            &text(c.start_time)?,
            &text(c.end_time)?,
            &c.identifier,
            &instant_key(&c.identifier),
            &c.session_type,
            &key(&c.session_type),
            &c.quality.map(exact_decimal),
            &c.group,
            &key(&c.group),
            &c.version,
            &key(&c.version),
            &c.heartbeat,
            &sequence,
        ],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

fn check_range(r: &pb::TimeRange) -> Result<()> {
    if r.end_time < r.start_time {
        return Err(invalid(format!(
            "time range end {} is before start {}",
            r.end_time, r.start_time
        )));
    }
    Ok(())
}

/// Runs `sql` with (`id`, item) for each non-empty item.
async fn each(tx: &Transaction<'_>, sql: &str, id: i64, items: &[String]) -> Result<()> {
    let stmt = tx.prepare_cached(sql).await.map_err(pg_err)?;
    for item in items {
        if !item.is_empty() {
            tx.execute(&stmt, &[&id, item]).await.map_err(pg_err)?;
        }
    }
    Ok(())
}

async fn apply(
    tx: &Transaction<'_>,
    id: i64,
    c: &mut Core,
    op: &Op,
    now: &Timestamp,
) -> Result<()> {
    match op {
        Op::UpdateHeartbeat(()) => c.heartbeat = Some(now.nanos()),
        Op::SetState(s) => c.state = SessionState::from_i32(*s)?,
        Op::SetTimestamp(t) => c.timestamp = Timestamp::parse(t)?,
        Op::SetTimeRange(r) => {
            check_range(r)?;
            c.start_time = Some(r.start_time);
            c.end_time = Some(r.end_time);
        }
        Op::ExtendTimeRange(r) => {
            check_range(r)?;
            c.start_time = Some(c.start_time.map_or(r.start_time, |s| s.min(r.start_time)));
            c.end_time = Some(c.end_time.map_or(r.end_time, |e| e.max(r.end_time)));
        }
        Op::ClearTimeRange(()) => {
            c.start_time = None;
            c.end_time = None;
        }
        Op::SetIdentifier(s) => c.identifier = s.clone(),
        Op::SetDetails(m) => set_details(tx, id, &m.category, &string_details(m), true).await?,
        Op::UpdateDetails(m) => set_details(tx, id, &m.category, &string_details(m), false).await?,
        Op::SetDetailsJson(j) => set_details(tx, id, &j.category, &json_details(j)?, true).await?,
        Op::UpdateDetailsJson(j) => {
            set_details(tx, id, &j.category, &json_details(j)?, false).await?
        }
        Op::DeleteDetails(k) => {
            let stmt = tx
                .prepare_cached(
                    "DELETE FROM details WHERE session_id = $1 AND grp = $2 AND key = $3",
                )
                .await
                .map_err(pg_err)?;
            for key in &k.keys {
                tx.execute(&stmt, &[&id, &k.category, key])
                    .await
                    .map_err(pg_err)?;
            }
        }
        Op::SetType(t) => c.session_type = Some(t.clone()),
        Op::ClearType(()) => c.session_type = None,
        Op::SetQuality(q) => {
            if !q.is_finite() || !(0.0..=1.0).contains(q) {
                return Err(invalid(format!("quality {q} is outside 0.0..=1.0")));
            }
            c.quality = Some(*q);
        }
        Op::ClearQuality(()) => c.quality = None,
        Op::SetGroup(g) => c.group = Some(g.clone()),
        Op::ClearGroup(()) => c.group = None,
        Op::SetVersion(v) => c.version = Some(v.clone()),
        Op::ClearVersion(()) => c.version = None,
        Op::SetMarkers(m) => put_markers(tx, id, m, true).await?,
        Op::UpdateMarkers(m) => put_markers(tx, id, m, false).await?,
        Op::DeleteMarkers(ids) => {
            each(
                tx,
                "DELETE FROM markers WHERE session_id = $1 AND id = $2",
                id,
                &ids.marker_ids,
            )
            .await?
        }
        Op::SetConfigBindings(b) => put_config_bindings(tx, id, b, true).await?,
        Op::UpdateConfigBindings(b) => put_config_bindings(tx, id, b, false).await?,
        Op::DeleteConfigBindings(ids) => {
            each(
                tx,
                "DELETE FROM config_bindings WHERE session_id = $1 AND identifier = $2",
                id,
                &ids.identifiers,
            )
            .await?
        }
        Op::SetDataBindings(b) => put_data_bindings(tx, id, b, true).await?,
        Op::UpdateDataBindings(b) => put_data_bindings(tx, id, b, false).await?,
        Op::DeleteDataBindings(keys) => {
            let stmt = tx
                .prepare_cached(
                    "DELETE FROM data_bindings
                     WHERE session_id = $1 AND source = $2 AND identity = $3 AND time_ref = $4",
                )
                .await
                .map_err(pg_err)?;
            for k in &keys.keys {
                tx.execute(
                    &stmt,
                    &[&id, &k.source, &k.identity, &i64::from(k.time_ref)],
                )
                .await
                .map_err(pg_err)?;
            }
        }
        Op::SetFolders(f) => {
            exec(
                tx,
                "DELETE FROM session_folders WHERE session_id = $1",
                &[&id],
            )
            .await
            .map_err(pg_err)?;
            add_folders(tx, id, &f.identities).await?;
        }
        Op::UpdateFolders(f) => add_folders(tx, id, &f.identities).await?,
        Op::DeleteFolders(f) => {
            each(
                tx,
                "DELETE FROM session_folders WHERE session_id = $1 AND folder = $2",
                id,
                &f.identities,
            )
            .await?;
            ensure_root(tx, id).await?;
        }
        Op::SetRefAnchors(r) => put_refs(tx, id, refkind::ANCHOR, &r.ref_uris, RefOp::Set).await?,
        Op::UpdateRefAnchors(r) => {
            put_refs(tx, id, refkind::ANCHOR, &r.ref_uris, RefOp::Add).await?
        }
        Op::DeleteRefAnchors(r) => {
            put_refs(tx, id, refkind::ANCHOR, &r.ref_uris, RefOp::Delete).await?
        }
        Op::SetAlternateOfRefs(r) => {
            put_refs(tx, id, refkind::ALTERNATE_OF, &r.ref_uris, RefOp::Set).await?
        }
        Op::UpdateAlternateOfRefs(r) => {
            put_refs(tx, id, refkind::ALTERNATE_OF, &r.ref_uris, RefOp::Add).await?
        }
        Op::DeleteAlternateOfRefs(r) => {
            put_refs(tx, id, refkind::ALTERNATE_OF, &r.ref_uris, RefOp::Delete).await?
        }
        Op::SetChildOfRefs(r) => {
            put_refs(tx, id, refkind::CHILD_OF, &r.ref_uris, RefOp::Set).await?
        }
        Op::UpdateChildOfRefs(r) => {
            put_refs(tx, id, refkind::CHILD_OF, &r.ref_uris, RefOp::Add).await?
        }
        Op::DeleteChildOfRefs(r) => {
            put_refs(tx, id, refkind::CHILD_OF, &r.ref_uris, RefOp::Delete).await?
        }
    }
    Ok(())
}

fn string_details(m: &su::DetailsMap) -> Details {
    m.details
        .iter()
        .map(|(k, v)| (k.clone(), DetailValue::String(v.clone())))
        .collect()
}

fn json_details(j: &su::DetailsJson) -> Result<Details> {
    if j.json.trim().is_empty() {
        return Ok(Details::new());
    }
    details_from_json(&j.json)
}

/// The columns of a detail: kind, `num`, `txt`, `instant`, `skey`.
type DetailRow = (
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn detail_row(v: &DetailValue) -> Result<DetailRow> {
    Ok(match v {
        DetailValue::Boolean(b) => (
            kind::BOOL,
            Some(i64::from(*b).to_string()),
            None,
            None,
            None,
        ),
        DetailValue::Integer(i) => (kind::INT, Some(i.to_string()), None, None, None),
        DetailValue::Number(n) => {
            if !n.is_finite() {
                return Err(invalid(format!("detail value {n} is not a finite number")));
            }
            (kind::REAL, Some(exact_decimal(*n)), None, None, None)
        }
        DetailValue::String(s) => {
            let instant = instant_key(s);
            let skey = instant.clone().unwrap_or_else(|| s.clone());
            (kind::TEXT, None, Some(s.clone()), instant, Some(skey))
        }
    })
}

async fn set_details(
    tx: &Transaction<'_>,
    id: i64,
    category: &str,
    details: &Details,
    replace_all: bool,
) -> Result<()> {
    if details.keys().any(String::is_empty) {
        return Err(invalid("detail keys must not be empty"));
    }
    if replace_all {
        exec(
            tx,
            "DELETE FROM details WHERE session_id = $1 AND grp = $2",
            &[&id, &category],
        )
        .await
        .map_err(pg_err)?;
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO details (session_id, grp, key, kind, num, txt, instant, rank, skey)
             VALUES ($1, $2, $3, $4, $5::text::numeric, $6, $7, $8, $9)
             ON CONFLICT (session_id, grp, key) DO UPDATE SET kind = excluded.kind,
                 num = excluded.num, txt = excluded.txt, instant = excluded.instant,
                 rank = excluded.rank, skey = excluded.skey",
        )
        .await
        .map_err(pg_err)?;
    for (k, v) in details {
        let (kind_, num, txt, instant, skey) = detail_row(v)?;
        tx.execute(
            &stmt,
            &[
                &id,
                &category,
                k,
                &kind_,
                &num,
                &txt,
                &instant,
                &kind::rank(kind_),
                &skey,
            ],
        )
        .await
        .map_err(pg_err)?;
    }
    Ok(())
}

async fn next_ord(tx: &Transaction<'_>, table: &str, id: i64) -> Result<i64> {
    let row = query_one(
        tx,
        &format!("SELECT COALESCE(MAX(ord), 0) + 1 FROM {table} WHERE session_id = $1"),
        &[&id],
    )
    .await
    .map_err(pg_err)?;
    Ok(row.get(0))
}

async fn put_markers(
    tx: &Transaction<'_>,
    id: i64,
    m: &su::MarkersMap,
    replace_all: bool,
) -> Result<()> {
    if replace_all {
        exec(tx, "DELETE FROM markers WHERE session_id = $1", &[&id])
            .await
            .map_err(pg_err)?;
    }
    let mut next = next_ord(tx, "markers", id).await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO markers
                 (session_id, id, category, type, label, description, start_time, end_time, details_json, ord)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (session_id, id) DO UPDATE SET category = excluded.category,
                 type = excluded.type, label = excluded.label, description = excluded.description,
                 start_time = excluded.start_time, end_time = excluded.end_time,
                 details_json = excluded.details_json, ord = excluded.ord",
        )
        .await
        .map_err(pg_err)?;
    let mut categories: Vec<_> = m.markers_by_category.iter().collect();
    categories.sort_by(|a, b| a.0.cmp(b.0));
    let mut seen = HashMap::new();
    for (category, list) in categories {
        for marker in &list.markers {
            crate::stores::session::update::check_marker(marker)?;
            if let Some(other) = seen.insert(marker.id.clone(), category.clone()) {
                return Err(invalid(format!(
                    "marker {:?} is listed in categories {other:?} and {category:?}",
                    marker.id
                )));
            }
            tx.execute(
                &stmt,
                &[
                    &id,
                    &marker.id,
                    category,
                    &marker.r#type,
                    &marker.label,
                    &marker.description,
                    &marker.start_time,
                    &marker.end_time,
                    &marker.details_json,
                    &next,
                ],
            )
            .await
            .map_err(pg_err)?;
            next += 1;
        }
    }
    Ok(())
}

async fn put_config_bindings(
    tx: &Transaction<'_>,
    id: i64,
    b: &su::ConfigBindingsList,
    replace_all: bool,
) -> Result<()> {
    if replace_all {
        exec(
            tx,
            "DELETE FROM config_bindings WHERE session_id = $1",
            &[&id],
        )
        .await
        .map_err(pg_err)?;
    }
    let next = next_ord(tx, "config_bindings", id).await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO config_bindings (session_id, identifier, channel_offset, ord)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (session_id, identifier) DO UPDATE SET channel_offset = excluded.channel_offset",
        )
        .await
        .map_err(pg_err)?;
    for (binding, ord) in b.config_bindings.iter().zip(next..) {
        if binding.identifier.is_empty() {
            return Err(invalid("config binding identifiers must not be empty"));
        }
        tx.execute(
            &stmt,
            &[
                &id,
                &binding.identifier,
                &i64::from(binding.channel_offset),
                &ord,
            ],
        )
        .await
        .map_err(pg_err)?;
    }
    Ok(())
}

async fn put_data_bindings(
    tx: &Transaction<'_>,
    id: i64,
    b: &su::DataBindingsList,
    replace_all: bool,
) -> Result<()> {
    if replace_all {
        exec(
            tx,
            "DELETE FROM data_bindings WHERE session_id = $1",
            &[&id],
        )
        .await
        .map_err(pg_err)?;
    }
    let next = next_ord(tx, "data_bindings", id).await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO data_bindings (session_id, source, identity, time_ref, ord, binding)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (session_id, source, identity, time_ref) DO UPDATE SET binding = excluded.binding",
        )
        .await
        .map_err(pg_err)?;
    for (binding, ord) in b.data_bindings.iter().zip(next..) {
        let key = crate::stores::session::update::check_data_binding(binding)?;
        tx.execute(
            &stmt,
            &[
                &id,
                &key.source,
                &key.identity,
                &i64::from(key.time_ref),
                &ord,
                &binding.encode_to_vec(),
            ],
        )
        .await
        .map_err(pg_err)?;
    }
    Ok(())
}

async fn add_folders(tx: &Transaction<'_>, id: i64, folders: &[String]) -> Result<()> {
    each(
        tx,
        "INSERT INTO session_folders (session_id, folder) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        id,
        folders,
    )
    .await?;
    ensure_root(tx, id).await
}

/// A session is in the root folder exactly when it is in no other folder.
pub(crate) async fn ensure_root(tx: &Transaction<'_>, id: i64) -> Result<()> {
    let stmt = tx
        .prepare_cached(
            "WITH others AS (SELECT 1 FROM session_folders WHERE session_id = $1 AND folder <> '' LIMIT 1),
                  del AS (DELETE FROM session_folders WHERE session_id = $1 AND folder = ''
                          AND EXISTS (SELECT 1 FROM others))
             INSERT INTO session_folders (session_id, folder)
             SELECT $1, '' WHERE NOT EXISTS (SELECT 1 FROM others) ON CONFLICT DO NOTHING",
        )
        .await
        .map_err(pg_err)?;
    tx.execute(&stmt, &[&id]).await.map_err(pg_err)?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RefOp {
    Set,
    Add,
    Delete,
}

async fn put_refs(
    tx: &Transaction<'_>,
    id: i64,
    kind: i64,
    uris: &[String],
    op: RefOp,
) -> Result<()> {
    if uris.iter().any(String::is_empty) {
        return Err(invalid("reference URIs must not be empty"));
    }
    if op == RefOp::Set {
        exec(
            tx,
            "DELETE FROM refs WHERE session_id = $1 AND kind = $2",
            &[&id, &kind],
        )
        .await
        .map_err(pg_err)?;
    }
    let sql = if op == RefOp::Delete {
        "DELETE FROM refs WHERE session_id = $1 AND kind = $2 AND uri = $3"
    } else {
        "INSERT INTO refs (session_id, kind, uri) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    };
    let stmt = tx.prepare_cached(sql).await.map_err(pg_err)?;
    for uri in uris {
        tx.execute(&stmt, &[&id, &kind, uri])
            .await
            .map_err(pg_err)?;
    }
    Ok(())
}
