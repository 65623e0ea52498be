//! Loading sessions and rendering them as `SessionStore` messages and JSON.

use std::collections::HashMap;

use prost::Message;
use rta_core::proto::session_service as pb;
use rta_core::session::{ConfigBinding, DetailValue, Details, Session, SessionState};
use rta_core::time::Timestamp;
use rta_core::Result;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

use super::schema::{kind, refkind};
use super::sql_err;

/// Which extended details go into the JSON (`json_properties`).
#[derive(Debug, Default)]
pub(crate) struct ExtSelection {
    all: bool,
    groups: Vec<String>,
    keys: Vec<(String, String)>,
}

impl ExtSelection {
    /// Reads `extDetails`, `extDetails.Group` and `extDetails.Group.Key`
    /// entries; anything else is ignored.
    pub(crate) fn new(props: &[String]) -> Self {
        let mut sel = ExtSelection::default();
        for p in props {
            if p == "extDetails" {
                sel.all = true;
            } else if let Some(rest) = p.strip_prefix("extDetails.") {
                match rest.split_once('.') {
                    Some((g, k)) => sel.keys.push((g.to_string(), k.to_string())),
                    None => sel.groups.push(rest.to_string()),
                }
            }
        }
        sel
    }

    pub(crate) fn is_empty(&self) -> bool {
        !self.all && self.groups.is_empty() && self.keys.is_empty()
    }

    pub(crate) fn wants(&self, group: &str, key: &str) -> bool {
        self.all
            || self.groups.iter().any(|g| g == group)
            || self.keys.iter().any(|(g, k)| g == group && k == key)
    }
}

/// The JSON array of row ids used with `json_each`.
pub(crate) fn id_list(ids: &[i64]) -> String {
    let mut s = String::with_capacity(ids.len() * 8 + 2);
    s.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.to_string());
    }
    s.push(']');
    s
}

/// The `sessions` columns of one session.
pub(crate) struct Base {
    pub identity: String,
    pub state: i32,
    pub ts_text: String,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub identifier: String,
    pub session_type: Option<String>,
    pub quality: Option<f64>,
    pub group: Option<String>,
    pub version: Option<String>,
    pub heartbeat: Option<i64>,
}

impl Base {
    /// The message with identity and heartbeat (other elements are added
    /// by the caller).
    pub(crate) fn message(&self, elements: &pb::SessionElements) -> pb::Session {
        pb::Session {
            identity: self.identity.clone(),
            heartbeat_utc: if elements.heartbeat_utc {
                self.heartbeat
                    .map(|n| Timestamp::from_nanos(n).as_str().to_string())
                    .unwrap_or_default()
            } else {
                String::new()
            },
            ..Default::default()
        }
    }

    /// The session model without collections.
    pub(crate) fn session(&self) -> Result<Session> {
        let timestamp = Timestamp::parse(&self.ts_text)?;
        let state = SessionState::from_i32(self.state).unwrap_or_default();
        let mut s = Session::new(
            self.identity.clone(),
            state,
            timestamp,
            self.identifier.clone(),
        );
        if let (Some(start), Some(end)) = (self.start_time, self.end_time) {
            s.set_time_range(start, end)?;
        }
        s.session_type = self.session_type.clone();
        s.quality = self.quality;
        s.group = self.group.clone();
        s.version = self.version.clone();
        Ok(s)
    }
}

/// A marker's columns.
pub(crate) struct MarkerRow {
    pub id: String,
    pub category: String,
    pub marker_type: String,
    pub label: String,
    pub description: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub details_json: String,
}

impl MarkerRow {
    /// The marker in the session JSON's `markers` array.
    pub(crate) fn json(self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("category".into(), json!(self.category));
        if !self.marker_type.is_empty() {
            m.insert("type".into(), json!(self.marker_type));
        }
        m.insert("label".into(), json!(self.label));
        if let Some(d) = self.description {
            m.insert("description".into(), json!(d));
        }
        if let Some(t) = self.start_time {
            m.insert("startTime".into(), json!(t));
        }
        if let Some(t) = self.end_time {
            m.insert("endTime".into(), json!(t));
        }
        if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(&self.details_json) {
            m.insert("details".into(), v);
        }
        Value::Object(m)
    }
}

fn detail_value(kind_: i64, v: ValueRef<'_>) -> Option<DetailValue> {
    Some(match (kind_, v) {
        (kind::BOOL, ValueRef::Integer(i)) => DetailValue::Boolean(i != 0),
        (kind::INT, ValueRef::Integer(i)) => DetailValue::Integer(i),
        (kind::REAL, ValueRef::Real(f)) => DetailValue::Number(f),
        (kind::REAL, ValueRef::Integer(i)) => DetailValue::Number(i as f64),
        (kind::TEXT, ValueRef::Text(t)) => {
            DetailValue::String(String::from_utf8_lossy(t).into_owned())
        }
        _ => return None,
    })
}

/// Loads the sessions with row ids `ids` (in that order) with the elements
/// asked for.
pub(crate) fn load(
    conn: &Connection,
    ids: &[i64],
    elements: &pb::SessionElements,
) -> Result<Vec<pb::Session>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = id_list(ids);
    let mut bases: HashMap<i64, Base> = HashMap::with_capacity(ids.len());
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT s.id, s.identity, s.state, s.ts_text, s.start_time, s.end_time, s.identifier,
                        s.type, s.quality, s.grp, s.version, s.heartbeat_nanos
                 FROM json_each(?1) j CROSS JOIN sessions s ON s.id = j.value",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([&list], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    Base {
                        identity: r.get(1)?,
                        state: r.get(2)?,
                        ts_text: r.get(3)?,
                        start_time: r.get(4)?,
                        end_time: r.get(5)?,
                        identifier: r.get(6)?,
                        session_type: r.get(7)?,
                        quality: r.get(8)?,
                        group: r.get(9)?,
                        version: r.get(10)?,
                        heartbeat: r.get(11)?,
                    },
                ))
            })
            .map_err(sql_err)?;
        for row in rows {
            let (id, base) = row.map_err(sql_err)?;
            bases.insert(id, base);
        }
    }

    let mut out: HashMap<i64, pb::Session> = HashMap::with_capacity(ids.len());
    for (&id, b) in &bases {
        out.insert(id, b.message(elements));
    }

    if elements.json {
        let jsons = render_json(
            conn,
            &list,
            &bases,
            &ExtSelection::new(&elements.json_properties),
        )?;
        for (id, j) in jsons {
            if let Some(s) = out.get_mut(&id) {
                s.json = j;
            }
        }
    }
    if elements.data_bindings {
        let mut stmt = conn
            .prepare_cached(
                "SELECT b.session_id, b.binding FROM json_each(?1) j CROSS JOIN data_bindings b ON b.session_id = j.value
                 ORDER BY b.session_id, b.ord",
            )
            .map_err(sql_err)?;
        let mut rows = stmt.query([&list]).map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let id: i64 = r.get(0).map_err(sql_err)?;
            let blob: Vec<u8> = r.get(1).map_err(sql_err)?;
            let binding = pb::DataBinding::decode(blob.as_slice())
                .map_err(|e| rta_core::Error::Internal(format!("corrupt data binding: {e}")))?;
            if let Some(s) = out.get_mut(&id) {
                s.data_bindings.push(binding);
            }
        }
    }
    if elements.folders {
        let mut stmt = conn
            .prepare_cached(
                "SELECT f.session_id, f.folder FROM json_each(?1) j CROSS JOIN session_folders f ON f.session_id = j.value
                 ORDER BY f.session_id, f.folder",
            )
            .map_err(sql_err)?;
        let mut rows = stmt.query([&list]).map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let id: i64 = r.get(0).map_err(sql_err)?;
            if let Some(s) = out.get_mut(&id) {
                s.folders.push(r.get(1).map_err(sql_err)?);
            }
        }
    }
    if elements.refs {
        let mut stmt = conn
            .prepare_cached(
                "SELECT r.session_id, r.kind, r.uri FROM json_each(?1) j CROSS JOIN refs r ON r.session_id = j.value
                 ORDER BY r.session_id, r.kind, r.uri",
            )
            .map_err(sql_err)?;
        let mut rows = stmt.query([&list]).map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let id: i64 = r.get(0).map_err(sql_err)?;
            let k: i64 = r.get(1).map_err(sql_err)?;
            let uri: String = r.get(2).map_err(sql_err)?;
            if let Some(s) = out.get_mut(&id) {
                match k {
                    refkind::ANCHOR => s.ref_anchors.push(uri),
                    refkind::CHILD_OF => s.child_of_refs.push(uri),
                    _ => s.alternate_of_refs.push(uri),
                }
            }
        }
    }
    Ok(ids.iter().filter_map(|id| out.remove(id)).collect())
}

/// The REST JSON of each session.
fn render_json(
    conn: &Connection,
    list: &str,
    bases: &HashMap<i64, Base>,
    ext: &ExtSelection,
) -> Result<HashMap<i64, String>> {
    let mut sessions: HashMap<i64, Session> = HashMap::with_capacity(bases.len());
    for (&id, b) in bases {
        sessions.insert(id, b.session()?);
    }

    // Details, and extended details when selected.
    {
        let sql = if ext.is_empty() {
            "SELECT d.session_id, d.grp, d.key, d.kind, d.value FROM json_each(?1) j CROSS JOIN details d
             ON d.session_id = j.value WHERE d.grp = ''"
        } else {
            "SELECT d.session_id, d.grp, d.key, d.kind, d.value FROM json_each(?1) j CROSS JOIN details d
             ON d.session_id = j.value"
        };
        let mut stmt = conn.prepare_cached(sql).map_err(sql_err)?;
        let mut rows = stmt.query([list]).map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let id: i64 = r.get(0).map_err(sql_err)?;
            let grp: String = r.get(1).map_err(sql_err)?;
            let key: String = r.get(2).map_err(sql_err)?;
            let k: i64 = r.get(3).map_err(sql_err)?;
            let Some(value) = detail_value(k, r.get_ref(4).map_err(sql_err)?) else {
                continue;
            };
            let Some(s) = sessions.get_mut(&id) else {
                continue;
            };
            if grp.is_empty() {
                s.details.insert(key, value);
            } else if ext.wants(&grp, &key) {
                s.ext_details
                    .entry(grp)
                    .or_insert_with(Details::new)
                    .insert(key, value);
            }
        }
    }

    // Configuration bindings in the order they were added.
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT c.session_id, c.identifier, c.channel_offset FROM json_each(?1) j CROSS JOIN config_bindings c
                 ON c.session_id = j.value ORDER BY c.session_id, c.ord",
            )
            .map_err(sql_err)?;
        let mut rows = stmt.query([list]).map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let id: i64 = r.get(0).map_err(sql_err)?;
            if let Some(s) = sessions.get_mut(&id) {
                s.config_bindings.push(ConfigBinding::new(
                    r.get::<_, String>(1).map_err(sql_err)?,
                    r.get::<_, u32>(2).map_err(sql_err)?,
                ));
            }
        }
    }

    // Children and alternates: other sessions whose refs point at our anchors.
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT DISTINCT a.session_id, r.kind, o.identity FROM json_each(?1) j CROSS JOIN refs a
                 ON a.session_id = j.value
                 JOIN refs r ON r.uri = a.uri AND r.kind IN (?2, ?3) AND r.session_id <> a.session_id
                 JOIN sessions o ON o.id = r.session_id
                 WHERE a.kind = ?4
                 ORDER BY a.session_id, r.kind, o.identity",
            )
            .map_err(sql_err)?;
        let mut rows = stmt
            .query(rusqlite::params![
                list,
                refkind::CHILD_OF,
                refkind::ALTERNATE_OF,
                refkind::ANCHOR
            ])
            .map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let id: i64 = r.get(0).map_err(sql_err)?;
            let k: i64 = r.get(1).map_err(sql_err)?;
            let other: String = r.get(2).map_err(sql_err)?;
            if let Some(s) = sessions.get_mut(&id) {
                if k == refkind::CHILD_OF {
                    s.children.push(other);
                } else {
                    s.alternates.push(other);
                }
            }
        }
    }

    // Markers, as an extra `markers` array.
    let mut markers: HashMap<i64, Vec<Value>> = HashMap::new();
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT m.session_id, m.id, m.category, m.type, m.label, m.description, m.start_time,
                        m.end_time, m.details_json
                 FROM json_each(?1) j CROSS JOIN markers m ON m.session_id = j.value
                 ORDER BY m.session_id, m.ord",
            )
            .map_err(sql_err)?;
        let mut rows = stmt.query([list]).map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let id: i64 = r.get(0).map_err(sql_err)?;
            let m = MarkerRow {
                id: r.get(1).map_err(sql_err)?,
                category: r.get(2).map_err(sql_err)?,
                marker_type: r.get(3).map_err(sql_err)?,
                label: r.get(4).map_err(sql_err)?,
                description: r.get(5).map_err(sql_err)?,
                start_time: r.get(6).map_err(sql_err)?,
                end_time: r.get(7).map_err(sql_err)?,
                details_json: r.get(8).map_err(sql_err)?,
            };
            markers.entry(id).or_default().push(m.json());
        }
    }

    Ok(sessions
        .into_iter()
        .map(|(id, mut s)| {
            if let Some(list) = markers.remove(&id) {
                s.extra.insert("markers".into(), Value::Array(list));
            }
            (id, s.to_json())
        })
        .collect())
}
