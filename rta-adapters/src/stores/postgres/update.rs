//! `CreateOrUpdateSession` on PostgreSQL: the session row is locked
//! (`SELECT … FOR UPDATE`) for the whole transaction, so updates of one
//! session from several instances are applied one after the other, and
//! its `sequence` is checked under the lock.

use deadpool_postgres::Transaction;
use rta_core::proto::session_service as pb;
use rta_core::proto::session_service::session_update::Op;
use rta_core::session::SessionState;
use rta_core::time::Timestamp;
use rta_core::{Error, Result};

use super::collections::{
    add_folders, each, ensure_root, json_details, put_config_bindings, put_data_bindings,
    put_markers, put_refs, set_details, string_details, RefOp,
};
use super::pg_err;
use super::sql::exact_decimal;
use super::statements::{exec, invalid, query_opt};
use crate::stores::session::instant_key;
use crate::stores::session::schema::refkind;
use crate::stores::session::update::Core;

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
                tx.execute(&stmt, &[&id, &k.source, &k.identity, &k.time_ref])
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
