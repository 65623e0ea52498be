//! The collections of a session (details, markers, bindings, folders,
//! references) as `SessionUpdate` ops change them, inside the update's
//! transaction.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use prost::Message;
use rta_core::proto::session_service::session_update as su;
use rta_core::session::{details_from_json, DetailValue, Details};
use rta_core::Result;

use super::pg_err;
use super::sql::exact_decimal;
use super::statements::{exec, invalid, query_one};
use crate::stores::session::instant_key;
use crate::stores::session::schema::kind;

/// Runs `sql` with (`id`, item) for each non-empty item.
pub(super) async fn each(tx: &Transaction<'_>, sql: &str, id: i64, items: &[String]) -> Result<()> {
    let stmt = tx.prepare_cached(sql).await.map_err(pg_err)?;
    for item in items {
        if !item.is_empty() {
            tx.execute(&stmt, &[&id, item]).await.map_err(pg_err)?;
        }
    }
    Ok(())
}

pub(super) fn string_details(m: &su::DetailsMap) -> Details {
    m.details
        .iter()
        .map(|(k, v)| (k.clone(), DetailValue::String(v.clone())))
        .collect()
}

pub(super) fn json_details(j: &su::DetailsJson) -> Result<Details> {
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

pub(super) async fn set_details(
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

pub(super) async fn put_markers(
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

pub(super) async fn put_config_bindings(
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

pub(super) async fn put_data_bindings(
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
                &key.time_ref,
                &ord,
                &binding.encode_to_vec(),
            ],
        )
        .await
        .map_err(pg_err)?;
    }
    Ok(())
}

pub(super) async fn add_folders(tx: &Transaction<'_>, id: i64, folders: &[String]) -> Result<()> {
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
pub(super) enum RefOp {
    Set,
    Add,
    Delete,
}

pub(super) async fn put_refs(
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
