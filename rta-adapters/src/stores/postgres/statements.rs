//! Statements of a session update: prepared once per connection (cached
//! by the pool's client) and run in the update's transaction, and the error
//! for input the store refuses. Shared by the update and its collections.

use deadpool_postgres::Transaction;
use rta_core::Error;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// Runs a statement prepared once per connection.
pub(super) async fn exec(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> std::result::Result<u64, tokio_postgres::Error> {
    let stmt = tx.prepare_cached(sql).await?;
    tx.execute(&stmt, params).await
}

/// Runs a query prepared once per connection; at most one row.
pub(super) async fn query_opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> std::result::Result<Option<Row>, tokio_postgres::Error> {
    let stmt = tx.prepare_cached(sql).await?;
    tx.query_opt(&stmt, params).await
}

/// Runs a query prepared once per connection; exactly one row.
pub(super) async fn query_one(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> std::result::Result<Row, tokio_postgres::Error> {
    let stmt = tx.prepare_cached(sql).await?;
    tx.query_one(&stmt, params).await
}

/// The error for input the store refuses.
pub(super) fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}
