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
use rta_core::encoded::EncodedSeries;
use rta_core::proto::data::{Event, PeriodicData, RowData, TimestampedData};
use rta_core::proto::data_service::{write_data_stream_message, WriteDataStreamMessage};
use rta_core::proto::stream::{stream_data, StreamData};
use rta_core::Result;

mod grpc;
mod rest;
mod writer;

pub use grpc::{data_reader_server, DataReaderGrpc};
pub use rest::{data_router, data_router_with, ChunkedSource, Framed, IdentityCheck};
pub use writer::{data_writer_server, DataWriterGrpc, MAX_WRITE_MESSAGE_BYTES};

/// One item written to a data identity.
///
/// The `DataWriter` service hands timestamped and periodic items to sinks
/// that [accept them encoded](DataSink::accepts_encoded) as
/// [`WriteItem::Encoded`]: the bytes as they arrived and the facts read off
/// them, so a store that keeps the wire form never decodes the samples.
/// [`WriteItem::decoded`] turns any item into one of the typed variants.
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
    /// Timestamped or periodic data of one channel, still encoded.
    Encoded(EncodedSeries),
}

impl WriteItem {
    /// The data kind.
    pub fn kind(&self) -> DataKind {
        match self {
            WriteItem::Timestamped(_) => DataKind::Timestamped,
            WriteItem::Periodic(_) => DataKind::Periodic,
            WriteItem::Row(_) => DataKind::Row,
            WriteItem::Event(_) => DataKind::Events,
            WriteItem::Encoded(e) => e.kind(),
        }
    }

    /// The item with its samples decoded: an [`WriteItem::Encoded`] item
    /// becomes [`WriteItem::Timestamped`] or [`WriteItem::Periodic`]; other
    /// items are returned as they are.
    ///
    /// ```
    /// use rta_adapters::data_api::WriteItem;
    /// use rta_core::data::periodic;
    /// use rta_core::encoded::EncodedSeries;
    ///
    /// let item = periodic(1, 0, 10, &[1u16, 2]).unwrap();
    /// let encoded = WriteItem::Encoded(EncodedSeries::from_item(&item).unwrap());
    /// assert_eq!(encoded.decoded().unwrap(), WriteItem::Periodic(item));
    /// ```
    pub fn decoded(self) -> Result<WriteItem> {
        match self {
            WriteItem::Encoded(e) => match e.kind() {
                DataKind::Timestamped => e.decode().map(WriteItem::Timestamped),
                _ => e.decode().map(WriteItem::Periodic),
            },
            other => Ok(other),
        }
    }

    /// Inclusive time bounds, or `None` without samples.
    pub fn time_bounds(&self) -> Option<(i64, i64)> {
        match self {
            WriteItem::Timestamped(d) => d.time_bounds(),
            WriteItem::Periodic(d) => d.time_bounds(),
            WriteItem::Row(d) => d.time_bounds(),
            WriteItem::Event(d) => d.time_bounds(),
            WriteItem::Encoded(e) => Some((e.start(), e.end())),
        }
    }

    /// Number of samples (1 for a row or an event).
    pub fn sample_count(&self) -> usize {
        match self {
            WriteItem::Timestamped(d) => d.sample_count(),
            WriteItem::Periodic(d) => d.sample_count(),
            WriteItem::Row(d) => d.sample_count(),
            WriteItem::Event(d) => d.sample_count(),
            WriteItem::Encoded(e) => e.samples(),
        }
    }

    /// The item as a live-stream message. An encoded item is decoded; one
    /// that does not decode (never the case for what
    /// [`EncodedSeries::scan`] accepted) gives a message without data.
    pub fn to_stream_data(&self) -> StreamData {
        StreamData {
            data: match self {
                WriteItem::Timestamped(d) => Some(stream_data::Data::TimestampedData(d.clone())),
                WriteItem::Periodic(d) => Some(stream_data::Data::PeriodicData(d.clone())),
                WriteItem::Row(d) => Some(stream_data::Data::RowData(d.clone())),
                WriteItem::Event(d) => Some(stream_data::Data::Event(d.clone())),
                WriteItem::Encoded(e) => match e.kind() {
                    DataKind::Timestamped => {
                        e.decode().ok().map(stream_data::Data::TimestampedData)
                    }
                    _ => e.decode().ok().map(stream_data::Data::PeriodicData),
                },
            },
        }
    }
}

/// The item as a `WriteDataStream` message (what a client sends). An
/// encoded item is decoded; one that does not decode (never the case for
/// what [`EncodedSeries::scan`] accepted) gives an empty message.
impl From<WriteItem> for WriteDataStreamMessage {
    fn from(item: WriteItem) -> Self {
        use write_data_stream_message::Type;
        let t = match item.decoded() {
            Ok(WriteItem::Timestamped(d)) => Some(Type::TimestampedData(d)),
            Ok(WriteItem::Periodic(d)) => Some(Type::PeriodicData(d)),
            Ok(WriteItem::Row(d)) => Some(Type::RowData(d)),
            Ok(WriteItem::Event(d)) => Some(Type::Event(d)),
            Ok(WriteItem::Encoded(_)) | Err(_) => None,
        };
        WriteDataStreamMessage { r#type: t }
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

    /// Whether [`DataSink::write`] takes [`WriteItem::Encoded`] items.
    /// Defaults to `false`: the `DataWriter` service then decodes them
    /// first, so the sink only ever sees the typed variants.
    fn accepts_encoded(&self) -> bool {
        false
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
    fn accepts_encoded(&self) -> bool {
        (**self).accepts_encoded()
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

    /// Whether batches of `identity` are wanted at all; when not, the
    /// writer may skip keeping a copy of them for
    /// [`DataObserver::observe`] (it still passes along batches that cost
    /// nothing to keep, so `observe` must ignore what it does not want).
    /// Defaults to `true`.
    fn wants(&self, identity: &str) -> bool {
        let _ = identity;
        true
    }
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
