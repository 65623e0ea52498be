//! The metamodel and property discovery on PostgreSQL (the same answers as
//! the SQLite store: the rendering is shared, only the queries differ).

use std::collections::BTreeMap;

use deadpool_postgres::ClientWrapper;
use rta_core::proto::session_service as pb;
use rta_core::session::{DetailValue, PropertyConstraints, SessionMetamodel};
use rta_core::Result;
use serde_json::{json, Value};

use super::read::detail_value;
use super::sql::sql_params;
use super::{pg_err, Scope};
use crate::stores::session::meta::{caps, descriptor, finish, DetailStats, Properties, MAX_VALUES};
use crate::stores::session::read::ExtSelection;

async fn first_text(tx: &ClientWrapper, sql: &str, scope: &Scope) -> Result<Option<String>> {
    let row = tx
        .query_opt(sql, &sql_params(&scope.params))
        .await
        .map_err(pg_err)?;
    Ok(row.and_then(|r| r.get(0)))
}

async fn date_range(
    tx: &ClientWrapper,
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
    let min = first_text(tx, &q("ASC"), scope).await?;
    let max = first_text(tx, &q("DESC"), scope).await?;
    Ok(match (min, max) {
        (Some(min), Some(max)) => Some(PropertyConstraints {
            minimum: Some(Value::String(min)),
            maximum: Some(Value::String(max)),
            ..Default::default()
        }),
        _ => None,
    })
}

async fn distinct_text(
    tx: &ClientWrapper,
    scope: &Scope,
    col: &str,
) -> Result<Option<PropertyConstraints>> {
    let sql = format!(
        "{with} SELECT DISTINCT s.{col} FROM sessions s WHERE {cond} AND s.{col} IS NOT NULL ORDER BY s.{col} LIMIT {MAX_VALUES}",
        with = scope.with,
        cond = scope.cond
    );
    let rows = tx
        .query(&sql, &sql_params(&scope.params))
        .await
        .map_err(pg_err)?;
    Ok(Some(PropertyConstraints {
        values: rows
            .iter()
            .map(|r| Value::String(r.get::<_, String>(0)))
            .collect(),
        ..Default::default()
    }))
}

/// The metamodel JSON over the sessions in `scope`.
pub(crate) async fn metamodel(
    tx: &ClientWrapper,
    scope: &Scope,
    json_properties: &[String],
) -> Result<Value> {
    let ext = ExtSelection::new(json_properties);
    let mut mm = SessionMetamodel {
        state: caps(),
        timestamp: descriptor(date_range(tx, scope, "ts_text", "ts_nanos").await?),
        start_timestamp: descriptor(date_range(tx, scope, "start_text", "start_time").await?),
        end_timestamp: descriptor(date_range(tx, scope, "end_text", "end_time").await?),
        identifier: descriptor(None),
        session_type: descriptor(distinct_text(tx, scope, "type").await?),
        group: descriptor(distinct_text(tx, scope, "grp").await?),
        version: descriptor(distinct_text(tx, scope, "version").await?),
        ..Default::default()
    };
    {
        let sql = format!(
            "{with} SELECT MIN(s.quality)::text, MAX(s.quality)::text FROM sessions s WHERE {cond}",
            with = scope.with,
            cond = scope.cond
        );
        let r = tx
            .query_one(&sql, &sql_params(&scope.params))
            .await
            .map_err(pg_err)?;
        let min: Option<f64> = r.get::<_, Option<String>>(0).and_then(|s| s.parse().ok());
        let max: Option<f64> = r.get::<_, Option<String>>(1).and_then(|s| s.parse().ok());
        mm.quality = descriptor(min.zip(max).map(|(min, max)| PropertyConstraints {
            minimum: Some(json!(min)),
            maximum: Some(json!(max)),
            ..Default::default()
        }));
    }

    let grp_filter = if ext.is_empty() { "AND d.grp = ''" } else { "" };
    let sql = format!(
        "{with} SELECT d.grp, d.key, d.kind, d.num::text, d.txt, MAX(d.instant) FROM details d
         JOIN sessions s ON s.id = d.session_id
         WHERE {cond} {grp_filter}
         GROUP BY d.grp, d.key, d.kind, d.num, d.txt
         ORDER BY d.grp, d.key, d.kind, d.num, d.txt",
        with = scope.with,
        cond = scope.cond
    );
    let rows = tx
        .query(&sql, &sql_params(&scope.params))
        .await
        .map_err(pg_err)?;
    let mut stats: BTreeMap<(String, String), DetailStats> = BTreeMap::new();
    for r in &rows {
        let grp: String = r.get(0);
        let key: String = r.get(1);
        if !grp.is_empty() && !ext.wants(&grp, &key) {
            continue;
        }
        let k: i64 = r.get(2);
        let num: Option<String> = r.get(3);
        let value = match detail_value(k, num.as_deref(), r.get(4)) {
            Some(DetailValue::Boolean(b)) => json!(b),
            Some(DetailValue::Integer(i)) => json!(i),
            Some(DetailValue::Number(n)) => json!(n),
            Some(DetailValue::String(s)) => json!(s),
            None => Value::Null,
        };
        stats
            .entry((grp, key))
            .or_default()
            .add_value(k, value, r.get(5));
    }
    finish(mm, stats)
}

/// Properties whose id contains `partial` (ignoring case), over the
/// sessions in `scope`.
pub(crate) async fn properties(
    tx: &ClientWrapper,
    scope: &Scope,
    partial: &str,
) -> Result<Vec<pb::PropertySummary>> {
    let mut props = Properties::new(partial);
    let sql = format!(
        "{with} SELECT d.grp, d.key FROM details d JOIN sessions s ON s.id = d.session_id
         WHERE {cond} GROUP BY d.grp, d.key ORDER BY d.grp <> '', d.grp, d.key",
        with = scope.with,
        cond = scope.cond
    );
    let rows = tx
        .query(&sql, &sql_params(&scope.params))
        .await
        .map_err(pg_err)?;
    for r in &rows {
        props.detail(r.get(0), r.get(1));
    }
    Ok(props.out)
}
