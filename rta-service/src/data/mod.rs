//! The data services over any store: the REST data API
//! (`/rta/v2/sessions/{identity}/data/...`, [`data_router`]) over a
//! [`DataService`](rta_core::service::DataService), and the toolkit
//! `DataWriter` / `DataReader` gRPC services ([`data_writer_server`],
//! [`data_reader_server`]).
//!
//! Writing goes through the `rta-core` [`DataSink`](rta_core::write::DataSink)
//! trait, which the native store of `rta-adapters` implements; a
//! [`DataObserver`](rta_core::write::DataObserver) sees every accepted batch, which is how a server pushes
//! data written to an open session to its live-stream clients.
//!
//! ```no_run
//! use std::sync::Arc;
//! use rta_adapters::native::{NativeConfig, NativeStore};
//! use rta_service::data;
//!
//! # async fn run() -> rta_core::Result<()> {
//! let store = NativeStore::open(NativeConfig::new("./rta-data/data"))?;
//! let http = data::data_router_with(Arc::new(store.clone()), None);
//! let grpc = rta_service::rpc::routes()
//!     .add_service(data::data_writer_server(Arc::new(store.clone()), None))
//!     .add_service(data::data_reader_server(Arc::new(store)));
//! # let _ = (http, grpc);
//! # Ok(())
//! # }
//! ```

mod backend;
mod files;
mod influx;
mod metered;
mod microservice;
mod observer;
mod reader;
mod rest;
mod writer;

pub use backend::DataBackend;
pub use files::FileDataService;
pub use influx::InfluxDataService;
pub use metered::DataMetrics;
pub use microservice::DataMicroservice;
pub use observer::{BroadcastObserver, ObservedBatch};
pub use reader::{data_reader_server, DataReaderGrpc};
pub use rest::{data_router, data_router_with, data_service_router};
pub use writer::{data_writer_server, DataWriterGrpc, MAX_WRITE_MESSAGE_BYTES};
