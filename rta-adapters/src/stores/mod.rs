//! Embedded implementations of the `rta-core` store traits.
//!
//! | store | trait | layout |
//! | --- | --- | --- |
//! | [`SqliteSessionStore`] | [`rta_core::service::SessionStore`] | one SQLite file (WAL) |
//! | `PostgresSessionStore` (feature `postgres`) | [`rta_core::service::SessionStore`] | a schema of a shared PostgreSQL database |
//! | [`FileConfigStore`] | [`rta_core::service::ConfigStore`] | one file per identifier |
//! | [`FileSchemaMappingStore`] | [`rta_core::service::SchemaMappingStore`] | one protobuf file per source and identity |
//!
//! Blocking file and database work runs on the blocking thread pool
//! (`tokio::task::spawn_blocking`), so the stores are safe to call from
//! async handlers.

mod config;
pub(crate) mod fsutil;
#[cfg(feature = "postgres")]
pub mod postgres;
mod schema_mapping;
pub mod session;

#[cfg(feature = "object-store")]
pub(crate) use config::validate as validate_config;
pub use config::FileConfigStore;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresSessionStore};
pub use schema_mapping::FileSchemaMappingStore;
pub use session::SqliteSessionStore;

/// Runs blocking store work off the async executor.
pub(crate) async fn blocking<T, F>(f: F) -> rta_core::Result<T>
where
    F: FnOnce() -> rta_core::Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| rta_core::Error::Internal(format!("store task failed: {e}")))?
}
