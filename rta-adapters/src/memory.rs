//! An in-memory data adapter: a [`DataService`] and [`DataSink`] that keep
//! written items in memory and chunk them on the spec's stable chunk grid
//! on every read.
//!
//! It is the smallest complete adapter: tests and examples serve data
//! through it without a disk, and an adapter author can read it as the
//! model of what a `DataService` does: select the series a request names,
//! clip them to the request rounded out to the grid, and chunk them with
//! [`Chunker`]. The same data always gives the same chunks, so clients can
//! cache them.
//!
//! ```
//! use futures::StreamExt;
//! use rta_adapters::memory::MemoryData;
//! use rta_core::data::{periodic, DataKind};
//! use rta_core::service::{DataRequest, DataService};
//! use rta_core::write::DataSink;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mem = MemoryData::new();
//! mem.write("s1", vec![periodic(3, 0, 1_000_000, &[1.0f64; 100]).unwrap().into()]).await.unwrap();
//! let req = DataRequest::channels(DataKind::Periodic, "s1", "0-F".parse().unwrap());
//! let chunks: Vec<_> = mem.read(req).await.unwrap().collect().await;
//! assert_eq!(chunks.len(), 1);
//! # });
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use async_trait::async_trait;
use futures::StreamExt;
use rta_core::chunk::{Chunk, ChunkGrid, ChunkLimits};
use rta_core::data::{DataItem, DataKind, ListOf};
use rta_core::kit::GridChunks;
use rta_core::proto::data::{Event, PeriodicData, RowData, TimestampedData};
use rta_core::service::{ChunkStream, DataRequest, DataService};
use rta_core::write::{DataSink, WriteItem};
use rta_core::{Error, Result};

/// Grid period of a [`MemoryData`] unless set: 10 s cells.
pub const DEFAULT_GRID_NS: i64 = 10_000_000_000;

/// Data kept in memory per identity, chunked on read.
///
/// Items are kept as written, ordered by start time per series (a channel,
/// a row group, or the events); a later item with the same start as an
/// earlier one comes after it, so on overlap the later write is read last.
#[derive(Debug)]
pub struct MemoryData {
    grid: ChunkGrid,
    limits: ChunkLimits,
    identities: RwLock<HashMap<String, Identity>>,
}

#[derive(Debug, Default)]
struct Identity {
    timestamped: Series<TimestampedData>,
    periodic: Series<PeriodicData>,
    rows: Series<RowData>,
    events: Series<Event>,
}

/// Items of one kind, keyed by their channel ids (empty for events).
#[derive(Debug)]
struct Series<T>(BTreeMap<Vec<u32>, Vec<T>>);

impl<T> Default for Series<T> {
    fn default() -> Self {
        Self(BTreeMap::new())
    }
}

impl<T: ListOf> Series<T> {
    fn insert(&mut self, item: T) {
        let Some((start, _)) = item.time_bounds() else {
            return;
        };
        let items = self.0.entry(item.channel_ids().to_vec()).or_default();
        let at = items.partition_point(|x| x.time_bounds().is_some_and(|(s, _)| s <= start));
        items.insert(at, item);
    }

    /// Chunks of the series `req` selects (every series when it names no
    /// channels), clipped to the request on the grid, series by series.
    fn chunks(&self, req: &DataRequest, kit: &GridChunks) -> Result<Vec<Chunk>> {
        let selected = self.0.iter().filter(|(ids, _)| match &req.channels {
            None => true,
            Some(expr) => ids.iter().any(|c| expr.contains(*c)),
        });
        kit.chunks(req, selected.flat_map(|(_, items)| items.iter().cloned()))
    }
}

impl Default for MemoryData {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryData {
    /// An empty store chunking on [`DEFAULT_GRID_NS`] cells with the
    /// default [`ChunkLimits`].
    pub fn new() -> Self {
        Self {
            grid: ChunkGrid::new(DEFAULT_GRID_NS).unwrap_or(ChunkGrid::for_rate(0.0, 1)),
            limits: ChunkLimits::default(),
            identities: RwLock::new(HashMap::new()),
        }
    }

    /// Chunks on `grid` instead.
    ///
    /// ```
    /// use rta_adapters::memory::MemoryData;
    /// use rta_core::chunk::ChunkGrid;
    /// let mem = MemoryData::new().with_grid(ChunkGrid::new(1_000_000_000).unwrap());
    /// # let _ = mem;
    /// ```
    pub fn with_grid(mut self, grid: ChunkGrid) -> Self {
        self.grid = grid;
        self
    }

    /// Chunks within `limits` instead.
    pub fn with_limits(mut self, limits: ChunkLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The identities that have data, sorted.
    pub fn identities(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = self.read_lock()?.keys().cloned().collect();
        ids.sort();
        Ok(ids)
    }

    /// Forgets everything stored for `identity`.
    pub fn remove(&self, identity: &str) -> Result<()> {
        self.write_lock()?.remove(identity);
        Ok(())
    }

    /// Stores items at once (the blocking half of [`DataSink::write`]).
    /// Every item is checked before any is stored.
    pub fn insert(&self, identity: &str, items: Vec<WriteItem>) -> Result<()> {
        let mut typed = Vec::with_capacity(items.len());
        for item in items {
            let item = item.decoded()?;
            match &item {
                WriteItem::Timestamped(d) => d.validate()?,
                WriteItem::Periodic(d) => d.validate()?,
                WriteItem::Row(d) => d.validate()?,
                WriteItem::Event(d) => d.validate()?,
                WriteItem::Encoded(_) => {
                    return Err(Error::Internal("an encoded item was left undecoded".into()))
                }
            }
            typed.push(item);
        }
        let mut map = self.write_lock()?;
        let id = map.entry(identity.to_string()).or_default();
        for item in typed {
            match item {
                WriteItem::Timestamped(d) => id.timestamped.insert(d),
                WriteItem::Periodic(d) => id.periodic.insert(d),
                WriteItem::Row(d) => id.rows.insert(d),
                WriteItem::Event(d) => id.events.insert(d),
                WriteItem::Encoded(_) => {}
            }
        }
        Ok(())
    }

    /// The chunks a request selects, in time order per series.
    pub fn chunks(&self, req: &DataRequest) -> Result<Vec<Chunk>> {
        req.validate()?;
        let map = self.read_lock()?;
        let Some(id) = map.get(&req.data_identity) else {
            return Ok(Vec::new());
        };
        let kit = GridChunks::new(self.grid).with_limits(self.limits);
        match req.kind {
            DataKind::Timestamped => id.timestamped.chunks(req, &kit),
            DataKind::Periodic => id.periodic.chunks(req, &kit),
            DataKind::Row => id.rows.chunks(req, &kit),
            DataKind::Events => {
                let all = DataRequest {
                    channels: None,
                    ..req.clone()
                };
                id.events.chunks(&all, &kit)
            }
        }
    }

    fn read_lock(&self) -> Result<std::sync::RwLockReadGuard<'_, HashMap<String, Identity>>> {
        self.identities
            .read()
            .map_err(|_| Error::Internal("memory store lock poisoned".into()))
    }

    fn write_lock(&self) -> Result<std::sync::RwLockWriteGuard<'_, HashMap<String, Identity>>> {
        self.identities
            .write()
            .map_err(|_| Error::Internal("memory store lock poisoned".into()))
    }
}

#[async_trait]
impl DataService for MemoryData {
    async fn read(&self, req: DataRequest) -> Result<ChunkStream> {
        let chunks = self.chunks(&req)?;
        Ok(futures::stream::iter(chunks.into_iter().map(Ok)).boxed())
    }
}

#[async_trait]
impl DataSink for MemoryData {
    async fn write(&self, identity: &str, items: Vec<WriteItem>) -> Result<()> {
        self.insert(identity, items)
    }

    /// Nothing to do: memory is as durable as it gets.
    async fn flush(&self, _identity: &str) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rta_core::data::{periodic, timestamped};
    use rta_core::proto::data::PeriodicDataList;

    use super::*;

    #[test]
    fn reads_clip_to_the_grid_and_select_channels() {
        let mem = MemoryData::new().with_grid(ChunkGrid::new(1_000).unwrap());
        mem.insert(
            "s",
            vec![
                periodic(1, 0, 100, &[1u16; 50]).unwrap().into(),
                periodic(2, 0, 100, &[2u16; 50]).unwrap().into(),
                timestamped(1, &[10], &[1.0f64]).unwrap().into(),
            ],
        )
        .unwrap();
        let req = DataRequest::channels(DataKind::Periodic, "s", "1".parse().unwrap())
            .with_bounds(Some(1_500), Some(2_200));
        let chunks = mem.chunks(&req).unwrap();
        // cells [1000, 1999] and [2000, 2999]
        let spans: Vec<_> = chunks.iter().map(|c| (c.start, c.end)).collect();
        assert_eq!(spans, [(1_000, 1_900), (2_000, 2_900)]);
        for c in &chunks {
            let list: PeriodicDataList = c.decode_list().unwrap();
            assert!(list.periodic_data.iter().all(|d| d.channel_id == 1));
        }
        let none = DataRequest::channels(DataKind::Periodic, "other", "1".parse().unwrap());
        assert!(mem.chunks(&none).unwrap().is_empty());
    }

    #[test]
    fn a_bad_item_stores_nothing_of_its_batch() {
        let mem = MemoryData::new();
        let bad = PeriodicData {
            channel_id: 1,
            samples: 3,
            interval: 1,
            buffer: vec![0u8; 1].into(),
            ..Default::default()
        };
        let good = periodic(1, 0, 1, &[1u8; 4]).unwrap();
        assert!(mem.insert("s", vec![good.into(), bad.into()]).is_err());
        assert!(mem.identities().unwrap().is_empty());
    }
}
