//! `CreateOrUpdateSession`: create with defaults, then apply every
//! `SessionUpdate` in order inside one transaction.

use std::collections::HashMap;

use prost::Message;
use rta_core::proto::session_service as pb;
use rta_core::proto::session_service::session_update::{self as su, Op};
use rta_core::session::{details_from_json, DetailValue, Details, SessionState};
use rta_core::time::Timestamp;
use rta_core::{Error, Result};
use rusqlite::types::Value as Sql;
use rusqlite::{params, OptionalExtension, Transaction};

use super::schema::{kind, refkind};
use super::{instant_key, sql_err};

/// The columns of `sessions` that updates change, edited in memory and
/// written back once at the end.
#[derive(Debug, Clone)]
pub(crate) struct Core {
    pub state: SessionState,
    pub timestamp: Timestamp,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub identifier: String,
    pub session_type: Option<String>,
    pub quality: Option<f64>,
    pub group: Option<String>,
    pub version: Option<String>,
    pub heartbeat: Option<i64>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

/// Creates the session if needed and applies the updates. Returns the
/// session's state afterwards, or `None` when the request was skipped
/// because its `sequence` is stale.
pub(crate) fn create_or_update(
    tx: &Transaction<'_>,
    req: &pb::CreateOrUpdateSessionRequest,
    now: &Timestamp,
) -> Result<Option<SessionState>> {
    if req.identity.is_empty() {
        return Err(invalid("session identity must not be empty"));
    }
    let existing: Option<(i64, Option<i64>)> = tx
        .query_row(
            "SELECT id, sequence FROM sessions WHERE identity = ?1",
            [&req.identity],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql_err)?;
    if let (Some((_, Some(last))), Some(seq)) = (existing, req.sequence) {
        if seq <= last {
            return Ok(None);
        }
    }
    let id = match existing {
        Some((id, _)) => id,
        None => insert_new(tx, req, now)?,
    };
    let mut core = load_core(tx, id)?;
    for (i, update) in req.updates.iter().enumerate() {
        let Some(op) = &update.op else {
            return Err(invalid(format!("update #{i} has no operation")));
        };
        apply(tx, id, &mut core, op, now).map_err(|e| match e {
            Error::InvalidArgument(m) => invalid(format!("update #{i}: {m}")),
            other => other,
        })?;
    }
    store_core(tx, id, &core, req.sequence)?;
    Ok(Some(core.state))
}

fn insert_new(
    tx: &Transaction<'_>,
    req: &pb::CreateOrUpdateSessionRequest,
    now: &Timestamp,
) -> Result<i64> {
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
    tx.execute(
        "INSERT INTO sessions (identity, state, state_name, ts_text, ts_nanos, ts_offset, identifier)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            req.identity,
            state.as_i32(),
            state.as_str(),
            timestamp.as_str(),
            timestamp.nanos(),
            timestamp.offset_minutes(),
            identifier
        ],
    )
    .map_err(sql_err)?;
    let id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO session_folders (session_id, folder) VALUES (?1, '')",
        [id],
    )
    .map_err(sql_err)?;
    Ok(id)
}

pub(crate) fn load_core(tx: &rusqlite::Connection, id: i64) -> Result<Core> {
    let row = tx
        .query_row(
            "SELECT state, ts_text, start_time, end_time, identifier, type, quality, grp, version,
                    heartbeat_nanos
             FROM sessions WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, i32>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            },
        )
        .map_err(sql_err)?;
    Ok(Core {
        state: SessionState::from_i32(row.0).unwrap_or_default(),
        timestamp: Timestamp::parse(&row.1)?,
        start_time: row.2,
        end_time: row.3,
        identifier: row.4,
        session_type: row.5,
        quality: row.6,
        group: row.7,
        version: row.8,
        heartbeat: row.9,
    })
}

fn store_core(tx: &Transaction<'_>, id: i64, c: &Core, sequence: Option<i64>) -> Result<()> {
    let offset = c.timestamp.offset_minutes();
    let text = |t: Option<i64>| -> Result<Option<String>> {
        t.map(|n| Timestamp::from_nanos_with_offset(n, offset).map(|ts| ts.as_str().to_string()))
            .transpose()
    };
    tx.execute(
        "UPDATE sessions SET state = ?2, state_name = ?3, ts_text = ?4, ts_nanos = ?5, ts_offset = ?6,
             start_time = ?7, end_time = ?8, start_text = ?9, end_text = ?10, identifier = ?11,
             type = ?12, quality = ?13, grp = ?14, version = ?15, heartbeat_nanos = ?16,
             sequence = COALESCE(?17, sequence)
         WHERE id = ?1",
        params![
            id,
            c.state.as_i32(),
            c.state.as_str(),
            c.timestamp.as_str(),
            c.timestamp.nanos(),
            offset,
            c.start_time,
            c.end_time,
            text(c.start_time)?,
            text(c.end_time)?,
            c.identifier,
            c.session_type,
            c.quality,
            c.group,
            c.version,
            c.heartbeat,
            sequence,
        ],
    )
    .map_err(sql_err)?;
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

fn apply(tx: &Transaction<'_>, id: i64, c: &mut Core, op: &Op, now: &Timestamp) -> Result<()> {
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
        Op::SetDetails(m) => set_details(tx, id, &m.category, &string_details(m), true)?,
        Op::UpdateDetails(m) => set_details(tx, id, &m.category, &string_details(m), false)?,
        Op::SetDetailsJson(j) => set_details(tx, id, &j.category, &json_details(j)?, true)?,
        Op::UpdateDetailsJson(j) => set_details(tx, id, &j.category, &json_details(j)?, false)?,
        Op::DeleteDetails(k) => {
            let mut stmt = tx
                .prepare_cached(
                    "DELETE FROM details WHERE session_id = ?1 AND grp = ?2 AND key = ?3",
                )
                .map_err(sql_err)?;
            for key in &k.keys {
                stmt.execute(params![id, k.category, key])
                    .map_err(sql_err)?;
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
        Op::SetMarkers(m) => put_markers(tx, id, m, true)?,
        Op::UpdateMarkers(m) => put_markers(tx, id, m, false)?,
        Op::DeleteMarkers(ids) => {
            let mut stmt = tx
                .prepare_cached("DELETE FROM markers WHERE session_id = ?1 AND id = ?2")
                .map_err(sql_err)?;
            for m in &ids.marker_ids {
                stmt.execute(params![id, m]).map_err(sql_err)?;
            }
        }
        Op::SetConfigBindings(b) => put_config_bindings(tx, id, b, true)?,
        Op::UpdateConfigBindings(b) => put_config_bindings(tx, id, b, false)?,
        Op::DeleteConfigBindings(ids) => {
            let mut stmt = tx
                .prepare_cached(
                    "DELETE FROM config_bindings WHERE session_id = ?1 AND identifier = ?2",
                )
                .map_err(sql_err)?;
            for i in &ids.identifiers {
                stmt.execute(params![id, i]).map_err(sql_err)?;
            }
        }
        Op::SetDataBindings(b) => put_data_bindings(tx, id, b, true)?,
        Op::UpdateDataBindings(b) => put_data_bindings(tx, id, b, false)?,
        Op::DeleteDataBindings(keys) => {
            let mut stmt = tx
                .prepare_cached(
                    "DELETE FROM data_bindings
                     WHERE session_id = ?1 AND source = ?2 AND identity = ?3 AND time_ref = ?4",
                )
                .map_err(sql_err)?;
            for k in &keys.keys {
                stmt.execute(params![id, k.source, k.identity, k.time_ref])
                    .map_err(sql_err)?;
            }
        }
        Op::SetFolders(f) => {
            tx.execute("DELETE FROM session_folders WHERE session_id = ?1", [id])
                .map_err(sql_err)?;
            add_folders(tx, id, &f.identities)?;
        }
        Op::UpdateFolders(f) => add_folders(tx, id, &f.identities)?,
        Op::DeleteFolders(f) => {
            let mut stmt = tx
                .prepare_cached("DELETE FROM session_folders WHERE session_id = ?1 AND folder = ?2")
                .map_err(sql_err)?;
            for folder in f.identities.iter().filter(|f| !f.is_empty()) {
                stmt.execute(params![id, folder]).map_err(sql_err)?;
            }
            drop(stmt);
            ensure_root(tx, id)?;
        }
        Op::SetRefAnchors(r) => put_refs(tx, id, refkind::ANCHOR, &r.ref_uris, RefOp::Set)?,
        Op::UpdateRefAnchors(r) => put_refs(tx, id, refkind::ANCHOR, &r.ref_uris, RefOp::Add)?,
        Op::DeleteRefAnchors(r) => put_refs(tx, id, refkind::ANCHOR, &r.ref_uris, RefOp::Delete)?,
        Op::SetAlternateOfRefs(r) => {
            put_refs(tx, id, refkind::ALTERNATE_OF, &r.ref_uris, RefOp::Set)?
        }
        Op::UpdateAlternateOfRefs(r) => {
            put_refs(tx, id, refkind::ALTERNATE_OF, &r.ref_uris, RefOp::Add)?
        }
        Op::DeleteAlternateOfRefs(r) => {
            put_refs(tx, id, refkind::ALTERNATE_OF, &r.ref_uris, RefOp::Delete)?
        }
        Op::SetChildOfRefs(r) => put_refs(tx, id, refkind::CHILD_OF, &r.ref_uris, RefOp::Set)?,
        Op::UpdateChildOfRefs(r) => put_refs(tx, id, refkind::CHILD_OF, &r.ref_uris, RefOp::Add)?,
        Op::DeleteChildOfRefs(r) => {
            put_refs(tx, id, refkind::CHILD_OF, &r.ref_uris, RefOp::Delete)?
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

/// The SQL form of a detail value: kind, value and date-time key.
pub(crate) fn detail_columns(v: &DetailValue) -> Result<(i64, Sql, Option<String>)> {
    Ok(match v {
        DetailValue::Boolean(b) => (kind::BOOL, Sql::Integer(i64::from(*b)), None),
        DetailValue::Integer(i) => (kind::INT, Sql::Integer(*i), None),
        DetailValue::Number(n) => {
            if !n.is_finite() {
                return Err(invalid(format!("detail value {n} is not a finite number")));
            }
            (kind::REAL, Sql::Real(*n), None)
        }
        DetailValue::String(s) => (kind::TEXT, Sql::Text(s.clone()), instant_key(s)),
    })
}

fn set_details(
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
        tx.execute(
            "DELETE FROM details WHERE session_id = ?1 AND grp = ?2",
            params![id, category],
        )
        .map_err(sql_err)?;
    }
    let mut stmt = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO details (session_id, grp, key, kind, value, instant, rank, sortkey)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(sql_err)?;
    for (k, v) in details {
        let (kind, value, instant) = detail_columns(v)?;
        let sortkey = instant.clone().map_or_else(|| value.clone(), Sql::Text);
        stmt.execute(params![
            id,
            category,
            k,
            kind,
            value,
            instant,
            kind::rank(kind),
            sortkey
        ])
        .map_err(sql_err)?;
    }
    Ok(())
}

/// Checks a marker: non-empty id, details a JSON object, end not before
/// start.
pub(crate) fn check_marker(marker: &pb::Marker) -> Result<()> {
    if marker.id.is_empty() {
        return Err(invalid("marker ids must not be empty"));
    }
    if !marker.details_json.trim().is_empty() {
        let v: serde_json::Value =
            serde_json::from_str(&marker.details_json).map_err(|e| Error::Json {
                what: "marker details",
                reason: e.to_string(),
            })?;
        if !v.is_object() {
            return Err(Error::Json {
                what: "marker details",
                reason: "must be a JSON object".into(),
            });
        }
    }
    if let (Some(s), Some(e)) = (marker.start_time, marker.end_time) {
        if e < s {
            return Err(invalid(format!(
                "marker {:?} ends before it starts",
                marker.id
            )));
        }
    }
    Ok(())
}

/// Checks a data binding and returns its key.
pub(crate) fn check_data_binding(binding: &pb::DataBinding) -> Result<&pb::DataBindingKey> {
    let key = binding
        .key
        .as_ref()
        .ok_or_else(|| invalid("a data binding needs a key"))?;
    if key.source.is_empty() {
        return Err(invalid("data binding sources must not be empty"));
    }
    for c in &binding.data_channel_bindings {
        if c.last_session_channel < c.first_session_channel {
            return Err(invalid(format!(
                "data channel binding ends ({}) before it starts ({})",
                c.last_session_channel, c.first_session_channel
            )));
        }
    }
    if let (Some(s), Some(e)) = (binding.session_start_time, binding.session_end_time) {
        if e < s {
            return Err(invalid(
                "data binding session_end_time is before session_start_time",
            ));
        }
    }
    Ok(key)
}

fn put_markers(tx: &Transaction<'_>, id: i64, m: &su::MarkersMap, replace_all: bool) -> Result<()> {
    if replace_all {
        tx.execute("DELETE FROM markers WHERE session_id = ?1", [id])
            .map_err(sql_err)?;
    }
    let mut next: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(ord), 0) + 1 FROM markers WHERE session_id = ?1",
            [id],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    let mut stmt = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO markers
                 (session_id, id, category, type, label, description, start_time, end_time, details_json, ord)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(sql_err)?;
    // Categories in name order, so that ids repeated across categories resolve deterministically.
    let mut categories: Vec<_> = m.markers_by_category.iter().collect();
    categories.sort_by(|a, b| a.0.cmp(b.0));
    let mut seen = HashMap::new();
    for (category, list) in categories {
        for marker in &list.markers {
            check_marker(marker)?;
            if let Some(other) = seen.insert(marker.id.clone(), category.clone()) {
                return Err(invalid(format!(
                    "marker {:?} is listed in categories {other:?} and {category:?}",
                    marker.id
                )));
            }
            stmt.execute(params![
                id,
                marker.id,
                category,
                marker.r#type,
                marker.label,
                marker.description,
                marker.start_time,
                marker.end_time,
                marker.details_json,
                next
            ])
            .map_err(sql_err)?;
            next += 1;
        }
    }
    Ok(())
}

fn put_config_bindings(
    tx: &Transaction<'_>,
    id: i64,
    b: &su::ConfigBindingsList,
    replace_all: bool,
) -> Result<()> {
    if replace_all {
        tx.execute("DELETE FROM config_bindings WHERE session_id = ?1", [id])
            .map_err(sql_err)?;
    }
    let next: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(ord), 0) + 1 FROM config_bindings WHERE session_id = ?1",
            [id],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO config_bindings (session_id, identifier, channel_offset, ord)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (session_id, identifier) DO UPDATE SET channel_offset = excluded.channel_offset",
        )
        .map_err(sql_err)?;
    for (binding, ord) in b.config_bindings.iter().zip(next..) {
        if binding.identifier.is_empty() {
            return Err(invalid("config binding identifiers must not be empty"));
        }
        stmt.execute(params![id, binding.identifier, binding.channel_offset, ord])
            .map_err(sql_err)?;
    }
    Ok(())
}

fn put_data_bindings(
    tx: &Transaction<'_>,
    id: i64,
    b: &su::DataBindingsList,
    replace_all: bool,
) -> Result<()> {
    if replace_all {
        tx.execute("DELETE FROM data_bindings WHERE session_id = ?1", [id])
            .map_err(sql_err)?;
    }
    let next: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(ord), 0) + 1 FROM data_bindings WHERE session_id = ?1",
            [id],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO data_bindings (session_id, source, identity, time_ref, ord, binding)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (session_id, source, identity, time_ref) DO UPDATE SET binding = excluded.binding",
        )
        .map_err(sql_err)?;
    for (binding, ord) in b.data_bindings.iter().zip(next..) {
        let key = check_data_binding(binding)?;
        stmt.execute(params![
            id,
            key.source,
            key.identity,
            key.time_ref,
            ord,
            binding.encode_to_vec()
        ])
        .map_err(sql_err)?;
    }
    Ok(())
}

fn add_folders(tx: &Transaction<'_>, id: i64, folders: &[String]) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO session_folders (session_id, folder) VALUES (?1, ?2)",
        )
        .map_err(sql_err)?;
    for folder in folders.iter().filter(|f| !f.is_empty()) {
        stmt.execute(params![id, folder]).map_err(sql_err)?;
    }
    drop(stmt);
    ensure_root(tx, id)
}

/// A session is in the root folder exactly when it is in no other folder.
pub(crate) fn ensure_root(tx: &rusqlite::Connection, id: i64) -> Result<()> {
    let others: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM session_folders WHERE session_id = ?1 AND folder <> ''",
            [id],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if others == 0 {
        tx.execute(
            "INSERT OR IGNORE INTO session_folders (session_id, folder) VALUES (?1, '')",
            [id],
        )
    } else {
        tx.execute(
            "DELETE FROM session_folders WHERE session_id = ?1 AND folder = ''",
            [id],
        )
    }
    .map_err(sql_err)?;
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RefOp {
    Set,
    Add,
    Delete,
}

fn put_refs(tx: &Transaction<'_>, id: i64, kind: i64, uris: &[String], op: RefOp) -> Result<()> {
    if uris.iter().any(String::is_empty) {
        return Err(invalid("reference URIs must not be empty"));
    }
    if op == RefOp::Set {
        tx.execute(
            "DELETE FROM refs WHERE session_id = ?1 AND kind = ?2",
            params![id, kind],
        )
        .map_err(sql_err)?;
    }
    let sql = if op == RefOp::Delete {
        "DELETE FROM refs WHERE session_id = ?1 AND kind = ?2 AND uri = ?3"
    } else {
        "INSERT OR IGNORE INTO refs (session_id, kind, uri) VALUES (?1, ?2, ?3)"
    };
    let mut stmt = tx.prepare_cached(sql).map_err(sql_err)?;
    for uri in uris {
        stmt.execute(params![id, kind, uri]).map_err(sql_err)?;
    }
    Ok(())
}
