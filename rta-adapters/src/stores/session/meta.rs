//! The metamodel and property discovery, computed over the sessions in scope.

use std::collections::BTreeMap;

use rta_core::proto::session_service as pb;
use rta_core::session::{
    DetailPropertyType, PropertyCapabilities, PropertyConstraints, SessionDetailPropertyDescriptor,
    SessionDetailPropertyGroupDescriptor, SessionMetamodel, SessionPropertyDescriptor,
};
use rta_core::Result;
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::{json, Value};

use super::read::ExtSelection;
use super::schema::kind;
use super::sql_err;
use super::Scope;

/// Most distinct values listed for one property.
pub const MAX_VALUES: usize = 1000;

/// The predefined properties, with their labels.
pub(crate) const BUILT_INS: &[(&str, &str)] = &[
    ("identifier", "Identifier"),
    ("timestamp", "Timestamp"),
    ("startTimestamp", "Start Timestamp"),
    ("endTimestamp", "End Timestamp"),
    ("state", "State"),
    ("type", "Type"),
    ("quality", "Quality"),
    ("group", "Group"),
    ("version", "Version"),
];

pub(crate) fn caps() -> Option<PropertyCapabilities> {
    Some(PropertyCapabilities::new(true, true))
}

pub(crate) fn descriptor(
    constraints: Option<PropertyConstraints>,
) -> Option<SessionPropertyDescriptor> {
    Some(SessionPropertyDescriptor {
        capabilities: caps(),
        constraints,
        ..Default::default()
    })
}

/// The text of the first row of `sql` (a single-column query).
fn first_text(conn: &Connection, sql: &str, scope: &Scope) -> Result<Option<String>> {
    let mut stmt = conn.prepare_cached(sql).map_err(sql_err)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(scope.params.iter()))
        .map_err(sql_err)?;
    match rows.next().map_err(sql_err)? {
        Some(r) => r.get(0).map_err(sql_err),
        None => Ok(None),
    }
}

fn date_range(
    conn: &Connection,
    scope: &Scope,
    text: &str,
    nanos: &str,
) -> Result<Option<PropertyConstraints>> {
    let q = |dir: &str| {
        format!(
            "{with} SELECT s.{text} FROM sessions s WHERE {cond} AND s.{nanos} IS NOT NULL ORDER BY s.{nanos} {dir} LIMIT 1",
            with = scope.with,
            cond = scope.cond
        )
    };
    let min = first_text(conn, &q("ASC"), scope)?;
    let max = first_text(conn, &q("DESC"), scope)?;
    Ok(match (min, max) {
        (Some(min), Some(max)) => Some(PropertyConstraints {
            minimum: Some(Value::String(min)),
            maximum: Some(Value::String(max)),
            ..Default::default()
        }),
        _ => None,
    })
}

fn distinct_text(
    conn: &Connection,
    scope: &Scope,
    col: &str,
) -> Result<Option<PropertyConstraints>> {
    let sql = format!(
        "{with} SELECT DISTINCT s.{col} FROM sessions s WHERE {cond} AND s.{col} IS NOT NULL ORDER BY s.{col} LIMIT {MAX_VALUES}",
        with = scope.with,
        cond = scope.cond
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
    let values = stmt
        .query_map(rusqlite::params_from_iter(scope.params.iter()), |r| {
            r.get::<_, String>(0)
        })
        .map_err(sql_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql_err)?;
    Ok(Some(PropertyConstraints {
        values: values.into_iter().map(Value::String).collect(),
        ..Default::default()
    }))
}

/// What the metamodel says about one detail key.
#[derive(Default)]
pub(crate) struct DetailStats {
    kinds: u8,
    all_dates: bool,
    values: Vec<Value>,
    min_num: Option<f64>,
    max_num: Option<f64>,
    min_date: Option<(String, String)>,
    max_date: Option<(String, String)>,
}

impl DetailStats {
    fn add(&mut self, k: i64, v: ValueRef<'_>, instant: Option<String>) {
        let value = match v {
            ValueRef::Integer(i) if k == kind::BOOL => json!(i != 0),
            ValueRef::Integer(i) => json!(i),
            ValueRef::Real(f) => json!(f),
            ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
            _ => Value::Null,
        };
        self.add_value(k, value, instant);
    }

    /// Adds one distinct value of kind `k` (`instant`: its date-time key).
    pub(crate) fn add_value(&mut self, k: i64, value: Value, instant: Option<String>) {
        if self.kinds == 0 {
            self.all_dates = true;
        }
        self.kinds |= 1 << k;
        if let Some(n) = value.as_f64().filter(|_| k == kind::INT || k == kind::REAL) {
            self.min_num = Some(self.min_num.map_or(n, |m| m.min(n)));
            self.max_num = Some(self.max_num.map_or(n, |m| m.max(n)));
        }
        match (k, instant) {
            (kind::TEXT, Some(key)) => {
                let text = value.as_str().unwrap_or_default().to_string();
                if self.min_date.as_ref().is_none_or(|(m, _)| key < *m) {
                    self.min_date = Some((key.clone(), text.clone()));
                }
                if self.max_date.as_ref().is_none_or(|(m, _)| key > *m) {
                    self.max_date = Some((key, text));
                }
            }
            _ => self.all_dates = false,
        }
        if self.values.len() < MAX_VALUES {
            self.values.push(value);
        }
    }

    pub(crate) fn descriptor(self, label: &str) -> SessionDetailPropertyDescriptor {
        let bit = |k: i64| 1u8 << k;
        let numbers = bit(kind::INT) | bit(kind::REAL);
        let property_type = if self.kinds == bit(kind::BOOL) {
            DetailPropertyType::Boolean
        } else if self.kinds == bit(kind::INT) {
            DetailPropertyType::Integer
        } else if self.kinds & !numbers == 0 {
            DetailPropertyType::Number
        } else if self.kinds == bit(kind::TEXT) && self.all_dates {
            DetailPropertyType::DateTime
        } else {
            DetailPropertyType::String
        };
        let mut constraints = PropertyConstraints {
            values: self.values,
            ..Default::default()
        };
        match property_type {
            DetailPropertyType::Integer | DetailPropertyType::Number => {
                constraints.minimum = self.min_num.map(|n| json!(n));
                constraints.maximum = self.max_num.map(|n| json!(n));
                if property_type == DetailPropertyType::Integer {
                    constraints.minimum = self.min_num.map(|n| json!(n as i64));
                    constraints.maximum = self.max_num.map(|n| json!(n as i64));
                }
            }
            DetailPropertyType::DateTime => {
                constraints.minimum = self.min_date.map(|(_, t)| Value::String(t));
                constraints.maximum = self.max_date.map(|(_, t)| Value::String(t));
            }
            _ => {}
        }
        SessionDetailPropertyDescriptor {
            label: label.to_string(),
            property_type: Some(property_type),
            capabilities: caps(),
            constraints: Some(constraints),
            ..Default::default()
        }
    }
}

/// The metamodel JSON over the sessions in `scope`.
pub(crate) fn metamodel(
    conn: &Connection,
    scope: &Scope,
    json_properties: &[String],
) -> Result<Value> {
    let ext = ExtSelection::new(json_properties);
    let mut mm = SessionMetamodel {
        state: caps(),
        timestamp: descriptor(date_range(conn, scope, "ts_text", "ts_nanos")?),
        start_timestamp: descriptor(date_range(conn, scope, "start_text", "start_time")?),
        end_timestamp: descriptor(date_range(conn, scope, "end_text", "end_time")?),
        identifier: descriptor(None),
        session_type: descriptor(distinct_text(conn, scope, "type")?),
        group: descriptor(distinct_text(conn, scope, "grp")?),
        version: descriptor(distinct_text(conn, scope, "version")?),
        ..Default::default()
    };
    // quality: observed range
    {
        let sql = format!(
            "{with} SELECT MIN(s.quality), MAX(s.quality) FROM sessions s WHERE {cond}",
            with = scope.with,
            cond = scope.cond
        );
        let (min, max): (Option<f64>, Option<f64>) = conn
            .query_row(&sql, rusqlite::params_from_iter(scope.params.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(sql_err)?;
        mm.quality = descriptor(min.zip(max).map(|(min, max)| PropertyConstraints {
            minimum: Some(json!(min)),
            maximum: Some(json!(max)),
            ..Default::default()
        }));
    }

    // details and the selected extended details
    let grp_filter = if ext.is_empty() { "AND d.grp = ''" } else { "" };
    let sql = format!(
        "{with} SELECT d.grp, d.key, d.kind, d.value, MAX(d.instant) FROM details d
         JOIN sessions s ON s.id = d.session_id
         WHERE {cond} {grp_filter}
         GROUP BY d.grp, d.key, d.kind, d.value
         ORDER BY d.grp, d.key, d.kind, d.value",
        with = scope.with,
        cond = scope.cond
    );
    let mut stats: BTreeMap<(String, String), DetailStats> = BTreeMap::new();
    {
        let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(scope.params.iter()))
            .map_err(sql_err)?;
        while let Some(r) = rows.next().map_err(sql_err)? {
            let grp: String = r.get(0).map_err(sql_err)?;
            let key: String = r.get(1).map_err(sql_err)?;
            if !grp.is_empty() && !ext.wants(&grp, &key) {
                continue;
            }
            let k: i64 = r.get(2).map_err(sql_err)?;
            let instant: Option<String> = r.get(4).map_err(sql_err)?;
            stats
                .entry((grp, key))
                .or_default()
                .add(k, r.get_ref(3).map_err(sql_err)?, instant);
        }
    }
    finish(mm, stats)
}

/// Adds the detail descriptors to the metamodel and renders its JSON.
pub(crate) fn finish(
    mut mm: SessionMetamodel,
    stats: BTreeMap<(String, String), DetailStats>,
) -> Result<Value> {
    for ((grp, key), st) in stats {
        let d = st.descriptor(&key);
        if grp.is_empty() {
            mm.details.insert(key, d);
        } else {
            mm.ext_details
                .entry(grp.clone())
                .or_insert_with(|| SessionDetailPropertyGroupDescriptor {
                    label: grp,
                    ..Default::default()
                })
                .properties
                .insert(key, d);
        }
    }
    let mut v = serde_json::to_value(&mm)
        .map_err(|e| rta_core::Error::Internal(format!("metamodel serialization: {e}")))?;
    // Always present, even when empty, as in the spec's example.
    if let Value::Object(o) = &mut v {
        o.entry("details").or_insert_with(|| json!({}));
        o.entry("extDetails").or_insert_with(|| json!({}));
    }
    Ok(v)
}

/// Properties (predefined, `details.*`, `extDetails.*.*`) whose id contains
/// `partial` (ignoring case), over the sessions in `scope`.
pub(crate) fn properties(
    conn: &Connection,
    scope: &Scope,
    partial: &str,
) -> Result<Vec<pb::PropertySummary>> {
    let mut props = Properties::new(partial);
    let sql = format!(
        "{with} SELECT DISTINCT d.grp, d.key FROM details d JOIN sessions s ON s.id = d.session_id
         WHERE {cond} ORDER BY d.grp <> '', d.grp, d.key",
        with = scope.with,
        cond = scope.cond
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(scope.params.iter()))
        .map_err(sql_err)?;
    while let Some(r) = rows.next().map_err(sql_err)? {
        let grp: String = r.get(0).map_err(sql_err)?;
        let key: String = r.get(1).map_err(sql_err)?;
        props.detail(grp, key);
    }
    Ok(props.out)
}

/// Property discovery: the matching built-ins, then matching details.
pub(crate) struct Properties {
    needle: String,
    /// The summaries found so far.
    pub out: Vec<pb::PropertySummary>,
}

impl Properties {
    /// Starts with the built-in properties whose id contains `partial`.
    pub(crate) fn new(partial: &str) -> Self {
        let mut p = Properties {
            needle: partial.to_lowercase(),
            out: Vec::new(),
        };
        for (id, label) in BUILT_INS {
            if p.matches(id) {
                p.out.push(pb::PropertySummary {
                    id: (*id).to_string(),
                    label: (*label).to_string(),
                    description: String::new(),
                });
            }
        }
        p
    }

    fn matches(&self, id: &str) -> bool {
        self.needle.is_empty() || id.to_lowercase().contains(&self.needle)
    }

    /// Adds a detail (`grp` empty) or extended detail if it matches.
    pub(crate) fn detail(&mut self, grp: String, key: String) {
        let (id, description) = if grp.is_empty() {
            (format!("details.{key}"), String::new())
        } else {
            (
                format!("extDetails.{grp}.{key}"),
                format!("Extended detail in group {grp}"),
            )
        };
        if self.matches(&id) {
            self.out.push(pb::PropertySummary {
                id,
                label: key,
                description,
            });
        }
    }
}
