//! The data services over any store: the REST data API
//! (`/rta/v2/sessions/{identity}/data/...`, [`data_router`]) over a
//! [`DataService`](rta_core::service::DataService), and the toolkit
//! `DataWriter` / `DataReader` gRPC services ([`data_writer_server`],
//! [`data_reader_server`]).
//!
//! Writing goes through the small [`DataSink`] trait, which the
//! [native store](crate::native::NativeStore) implements; a
//! [`DataObserver`] sees every accepted batch, which is how a server pushes
//! data written to an open session to its live-stream clients.
//!
//! ```no_run
//! use std::sync::Arc;
//! use rta_adapters::data_api;
//! use rta_adapters::native::{NativeConfig, NativeStore};
//!
//! # async fn run() -> rta_core::Result<()> {
//! let store = NativeStore::open(NativeConfig::new("./rta-data/data"))?;
//! let http = data_api::data_router_with(Arc::new(store.clone()), None);
//! let grpc = tonic::service::Routes::default()
//!     .add_service(data_api::data_writer_server(Arc::new(store.clone()), None))
//!     .add_service(data_api::data_reader_server(Arc::new(store)));
//! # let _ = (http, grpc);
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use rta_core::data::{DataItem, DataKind};
use rta_core::proto::data::{Event, PeriodicData, RowData, TimestampedData};
use rta_core::proto::stream::{stream_data, StreamData};
use rta_core::Result;

mod grpc;
mod rest;

pub use grpc::{
    data_reader_server, data_writer_server, DataReaderGrpc, DataWriterGrpc, MAX_WRITE_MESSAGE_BYTES,
};
pub use rest::{data_router, data_router_with, ChunkedSource, Framed, IdentityCheck};

/// One item written to a data identity.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteItem {
    /// Timestamped data of one channel.
    Timestamped(TimestampedData),
    /// Periodic data of one channel.
    Periodic(PeriodicData),
    /// One row of a row group.
    Row(RowData),
    /// One event.
    Event(Event),
}

impl WriteItem {
    /// The data kind.
    pub fn kind(&self) -> DataKind {
        match self {
            WriteItem::Timestamped(_) => DataKind::Timestamped,
            WriteItem::Periodic(_) => DataKind::Periodic,
            WriteItem::Row(_) => DataKind::Row,
            WriteItem::Event(_) => DataKind::Events,
        }
    }

    /// Inclusive time bounds, or `None` without samples.
    pub fn time_bounds(&self) -> Option<(i64, i64)> {
        match self {
            WriteItem::Timestamped(d) => d.time_bounds(),
            WriteItem::Periodic(d) => d.time_bounds(),
            WriteItem::Row(d) => d.time_bounds(),
            WriteItem::Event(d) => d.time_bounds(),
        }
    }

    /// Number of samples (1 for a row or an event).
    pub fn sample_count(&self) -> usize {
        match self {
            WriteItem::Timestamped(d) => d.sample_count(),
            WriteItem::Periodic(d) => d.sample_count(),
            WriteItem::Row(d) => d.sample_count(),
            WriteItem::Event(d) => d.sample_count(),
        }
    }

    /// The item as a live-stream message.
    pub fn to_stream_data(&self) -> StreamData {
        StreamData {
            data: Some(match self {
                WriteItem::Timestamped(d) => stream_data::Data::TimestampedData(d.clone()),
                WriteItem::Periodic(d) => stream_data::Data::PeriodicData(d.clone()),
                WriteItem::Row(d) => stream_data::Data::RowData(d.clone()),
                WriteItem::Event(d) => stream_data::Data::Event(d.clone()),
            }),
        }
    }
}

impl From<TimestampedData> for WriteItem {
    fn from(d: TimestampedData) -> Self {
        WriteItem::Timestamped(d)
    }
}
impl From<PeriodicData> for WriteItem {
    fn from(d: PeriodicData) -> Self {
        WriteItem::Periodic(d)
    }
}
impl From<RowData> for WriteItem {
    fn from(d: RowData) -> Self {
        WriteItem::Row(d)
    }
}
impl From<Event> for WriteItem {
    fn from(d: Event) -> Self {
        WriteItem::Event(d)
    }
}

/// A writable data store: what the `DataWriter` gRPC service writes to.
#[async_trait]
pub trait DataSink: Send + Sync + 'static {
    /// Stores a batch of items of one identity. Invalid items are
    /// [`rta_core::Error::Data`] / [`rta_core::Error::InvalidArgument`]; a
    /// batch is checked before any of it is stored.
    async fn write(&self, identity: &str, items: Vec<WriteItem>) -> Result<()>;

    /// Makes everything written to the identity so far durable.
    async fn flush(&self, identity: &str) -> Result<()>;

    /// Called when a writer of the identity has finished (its stream ended
    /// normally): flush, and tidy buffers. Defaults to [`DataSink::flush`].
    async fn finish(&self, identity: &str) -> Result<()> {
        self.flush(identity).await
    }
}

#[async_trait]
impl<T: DataSink + ?Sized> DataSink for Arc<T> {
    async fn write(&self, identity: &str, items: Vec<WriteItem>) -> Result<()> {
        (**self).write(identity, items).await
    }
    async fn flush(&self, identity: &str) -> Result<()> {
        (**self).flush(identity).await
    }
    async fn finish(&self, identity: &str) -> Result<()> {
        (**self).finish(identity).await
    }
}

/// Sees every batch the `DataWriter` service has stored, in write order per
/// writer: the hook for pushing data of open sessions to live clients.
///
/// Called on the writer's task, so it must not block; hand the items to a
/// channel or a broadcaster.
pub trait DataObserver: Send + Sync + 'static {
    /// `items` were stored for `identity`.
    fn observe(&self, identity: &str, items: &[WriteItem]);
}

/// A [`DataObserver`] that publishes every batch on a Tokio broadcast
/// channel as `(identity, stream items)`. Receivers that lag lose batches
/// (the broadcast channel's usual behaviour).
///
/// ```
/// use rta_adapters::data_api::{BroadcastObserver, DataObserver, WriteItem};
/// use rta_core::proto::data::Event;
///
/// let obs = BroadcastObserver::new(16);
/// let mut rx = obs.subscribe();
/// obs.observe("s1", &[WriteItem::Event(Event { timestamp: 5, ..Default::default() })]);
/// let (identity, items) = rx.try_recv().unwrap();
/// assert_eq!((&*identity, items.len()), ("s1", 1));
/// ```
#[derive(Debug, Clone)]
pub struct BroadcastObserver {
    tx: tokio::sync::broadcast::Sender<ObservedBatch>,
}

/// A batch seen by a [`BroadcastObserver`]: the identity and the items as
/// live-stream messages.
pub type ObservedBatch = (Arc<str>, Arc<Vec<StreamData>>);

impl BroadcastObserver {
    /// A broadcaster keeping up to `capacity` batches for slow receivers.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = tokio::sync::broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// A new receiver of the batches published from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ObservedBatch> {
        self.tx.subscribe()
    }
}

impl DataObserver for BroadcastObserver {
    fn observe(&self, identity: &str, items: &[WriteItem]) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let data: Vec<StreamData> = items.iter().map(WriteItem::to_stream_data).collect();
        let _ = self.tx.send((Arc::from(identity), Arc::new(data)));
    }
}
