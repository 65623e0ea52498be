//! The write side of a data adapter: the items a writer sends
//! ([`WriteItem`]), the store that takes them ([`DataSink`]), and the hook
//! that sees every stored batch ([`DataObserver`]).
//!
//! The `DataWriter` gRPC service of `rta-service` writes to any [`DataSink`];
//! a server pushes what an observer sees to the live-stream clients of open
//! sessions. Implement [`DataSink`] next to your
//! [`DataService`](crate::service::DataService) to let ingest processes write
//! to your store.
//!
//! ```
//! use std::sync::Mutex;
//! use rta_core::proto::data::Event;
//! use rta_core::write::{DataSink, WriteItem};
//!
//! /// Counts the items written to it.
//! #[derive(Default)]
//! struct Counter(Mutex<usize>);
//!
//! #[async_trait::async_trait]
//! impl DataSink for Counter {
//!     async fn write(&self, _identity: &str, items: Vec<WriteItem>) -> rta_core::Result<()> {
//!         *self.0.lock().unwrap() += items.len();
//!         Ok(())
//!     }
//!     async fn flush(&self, _identity: &str) -> rta_core::Result<()> {
//!         Ok(())
//!     }
//! }
//! # futures::executor::block_on(async {
//! let sink = Counter::default();
//! sink.write("s1", vec![Event { timestamp: 5, ..Default::default() }.into()]).await.unwrap();
//! assert_eq!(*sink.0.lock().unwrap(), 1);
//! # });
//! ```

use std::sync::Arc;

use crate::data::{DataItem, DataKind};
use crate::encoded::EncodedSeries;
use crate::proto::data::{Event, PeriodicData, RowData, TimestampedData};
use crate::proto::data_service::{write_data_stream_message, WriteDataStreamMessage};
use crate::proto::stream::{stream_data, StreamData};
use crate::Result;
use async_trait::async_trait;

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
    /// use rta_core::write::WriteItem;
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
    /// [`crate::Error::Data`] / [`crate::Error::InvalidArgument`]; a
    /// batch is checked before any of it is stored.
    async fn write(&self, identity: &str, items: Vec<WriteItem>) -> Result<()>;

    /// Makes everything written to the identity so far durable.
    async fn flush(&self, identity: &str) -> Result<()>;

    /// Called when a writer of the identity has finished (its stream ended
    /// normally): flush, and tidy buffers. Defaults to [`DataSink::flush`].
    async fn finish(&self, identity: &str) -> Result<()> {
        self.flush(identity).await
    }

    /// Makes everything written to any identity durable: called once when a
    /// server shuts down. Defaults to doing nothing (for sinks whose
    /// [`DataSink::write`] is durable when it returns).
    async fn flush_all(&self) -> Result<()> {
        Ok(())
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
    async fn flush_all(&self) -> Result<()> {
        (**self).flush_all().await
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
