//! # rta-adapters
//!
//! Storage and data adapters: implementations of the `rta-core` extension
//! traits over real storage, one module per adapter. Nothing here serves
//! HTTP or gRPC; `rta-service` puts any of these (or your own) behind the
//! toolkit's REST and gRPC front ends.
//!
//! - [`native`]: the SDK's own data store: chunks kept in their wire form
//!   per identity and channel on the local file system, late data merged,
//!   flushes durable. A [`DataService`](rta_core::service::DataService), a
//!   [`DataSink`](rta_core::write::DataSink) and a fast
//!   [`ChunkedSource`](rta_core::framing::ChunkedSource).
//! - [`kit`]: the adapter kit: implement [`kit::SampleSource`] (read typed
//!   samples of some fields between two times) and [`kit::KitService`]
//!   serves it as a `DataService` on a stable grid, with schema mappings
//!   and an optional chunk cache.
//! - `influx` (feature `influx`): InfluxDB 1.x read through InfluxQL on the
//!   kit, what `rta-influxdatasvc` serves.
//! - `files` (feature `files`): a directory of Parquet, Arrow IPC and CSV
//!   files served in place on the kit, what `rta-filedatasvc` serves.
//! - [`influxql`]: the InfluxQL text the Influx adapter sends, and the
//!   check that keeps a data identity inside its brackets (no feature
//!   needed, so the fuzz target can use it).
//! - [`memory`]: an in-memory data adapter (a `DataService` and `DataSink`
//!   over chunks built on the spec's chunk grid): for tests, examples, and as
//!   the simplest model of an adapter.
//! - `remote` (feature `remote`): a `DataService` reading another data
//!   service over HTTP through its data-microservice route.
//! - `s3` (feature `object-store`): the native store, configs and schema
//!   mappings on an S3-compatible object store (`object_store` crate).
//! - [`stores`]: embedded metadata stores: a SQLite
//!   [session store](stores::SqliteSessionStore), a file-per-identifier
//!   [config store](stores::FileConfigStore) and a file
//!   [schema-mapping store](stores::FileSchemaMappingStore).
//!
//! ```
//! use rta_adapters::stores::FileConfigStore;
//! use rta_core::service::ConfigStore;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let configs = FileConfigStore::open(dir.path()).unwrap();
//! assert!(!configs.has("missing").await.unwrap());
//! # });
//! ```

mod error;
#[cfg(feature = "files")]
pub mod files;
#[cfg(feature = "influx")]
pub mod influx;
pub mod influxql;
pub mod kit;
pub mod memory;

pub mod native;
#[cfg(feature = "remote")]
pub mod remote;
#[cfg(feature = "object-store")]
pub mod s3;
pub mod stores;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, Result};
