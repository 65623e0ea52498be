//! The adapter kit: serve a format of your own by implementing one small
//! trait, [`SampleSource`], and let [`KitService`] turn it into a
//! [`DataService`] that keeps every chunk rule of the spec.
//!
//! An adapter answers two questions:
//!
//! - [`describe`](SampleSource::describe): is this data identity mine, at
//!   about what rate are its samples (to choose the chunk grid), and, when
//!   known, its time extent and a default schema mapping (which channel is
//!   which field of the source);
//! - [`read`](SampleSource::read): the samples (or events) of these fields
//!   between `t0` and `t1`, as a stream of typed [`Batch`]es: timestamped
//!   or periodic runs of `u8` … `f64` values, in time order per channel.
//!
//! The kit does the rest:
//!
//! - **schema mappings**: channels are resolved to source fields through a
//!   [`MappingResolver`] ([`StoreMappings`] over any `SchemaMappingStore`;
//!   `rta-service` has one over the Schema Mapping Service's
//!   `QuerySchemaMapping`), or the source's default mapping;
//! - **a stable grid**: cells of a fixed duration per identity, about
//!   [`DEFAULT_SAMPLES_PER_CELL`] samples at the source's rate (the .NET
//!   kit's `ChunkTime.OfDuration(samples × interval)`: 10 s at 100 Hz),
//!   snapped to 1, 2 or 5 × 10ⁿ and clamped to 1 ms ..= 1000 s;
//! - **requests rounded outwards** to whole cells, and samples outside them dropped;
//! - **each cell chunked on its own** (by channel, results of at most
//!   1,000 samples, lists closed at 64 KiB, always under the spec's 10,000
//!   samples and 4 MiB), LZ4-compressed, so chunk boundaries never depend
//!   on the range asked for or on how the source split its batches;
//! - **time order** per channel (a source that goes back in time is an
//!   error naming the channel, never a silently wrong chunk);
//! - **streaming**: a cell is chunked as soon as the source moves past it
//!   (on rayon's pool, so building and compressing chunks runs beside the
//!   source; chunks still come out in the order the cells closed), so
//!   memory holds one open cell per channel and the cells of at most 16
//!   source batches being chunked, never a whole session;
//! - **an optional cache** of built chunks ([`ChunkCache`], by identity,
//!   channel and cell, least recently used evicted by bytes).
//!
//! ```
//! use async_trait::async_trait;
//! use futures::StreamExt;
//! use rta_adapters::kit::{Batch, BatchStream, KitService, SampleSource, SourceInfo, SourceQuery};
//! use rta_core::data::DataKind;
//! use rta_core::proto::schema_mapping_service::{FieldMapping, SchemaMapping};
//! use rta_core::service::{DataRequest, DataService};
//!
//! /// One identity, "run-1": channel 0 is a 1 kHz `u16` counter over 10 s.
//! struct Counter;
//!
//! #[async_trait]
//! impl SampleSource for Counter {
//!     async fn describe(&self, identity: &str) -> rta_core::Result<Option<SourceInfo>> {
//!         let field = FieldMapping { source_field: "count".into(), target_channel: 0, ..Default::default() };
//!         let mapping = SchemaMapping { field_mappings: vec![field], ..Default::default() };
//!         Ok((identity == "run-1").then(|| SourceInfo::rate(1000.0).mapping(mapping)))
//!     }
//!     async fn read(&self, q: SourceQuery) -> rta_core::Result<BatchStream> {
//!         let (t0, t1) = (q.start.unwrap_or(0).max(0), q.end.unwrap_or(i64::MAX).min(9_999_000_000));
//!         let first = (t0 + 999_999) / 1_000_000; // first ms at or after t0
//!         let values: Vec<u16> = (first..=t1 / 1_000_000).map(|ms| ms as u16).collect();
//!         let batch = Batch::periodic(0, first * 1_000_000, 1_000_000, values);
//!         Ok(futures::stream::iter([Ok(batch)]).boxed())
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let svc = KitService::new(Counter);
//! let req = DataRequest::channels(DataKind::Periodic, "run-1", "0".parse()?)
//!     .with_bounds(Some(2_500_000_000), Some(2_600_000_000));
//! let chunks: Vec<_> = svc.read(req).await?.collect::<Vec<_>>().await.into_iter().collect::<Result<_, _>>()?;
//! // 1 kHz: 1 s cells; the request is rounded out to the cell [2 s, 3 s).
//! assert_eq!((chunks[0].start, chunks.last().unwrap().end), (2_000_000_000, 2_999_000_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod cache;
mod cells;
mod samples;

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use futures::channel::oneshot;
use futures::future::{self, Either};
use futures::stream::BoxStream;
use futures::StreamExt;
use rta_core::channels::ChannelExpr;
use rta_core::chunk::{Chunk, ChunkGrid, ChunkLimits};
use rta_core::data::DataKind;
use rta_core::proto::schema_mapping_service::{FieldMapping, SchemaMapping};
use rta_core::service::{
    select_mapping, Authorization, ChunkStream, DataRequest, DataService, SchemaMappingStore,
};
use rta_core::{Error, Result};

use cache::CellKey;
pub use cache::ChunkCache;
use cells::Cells;
pub use samples::{Batch, Samples};

/// Samples per grid cell at the source's rate (10 s cells at 100 Hz).
pub const DEFAULT_SAMPLES_PER_CELL: usize = 1000;

/// Most samples per result in the kit's chunks.
pub const KIT_RESULT_SAMPLES: usize = 1000;

/// Most cells a request may span for the cache to be consulted.
const MAX_CACHED_CELLS: i64 = 4096;

/// A stream of batches, in time order per channel.
pub type BatchStream = BoxStream<'static, Result<Batch>>;

/// What a source tells about one data identity.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// About how many samples per second the fastest channel has: chooses
    /// the grid. Keep it fixed for an identity (changing it moves chunk
    /// boundaries, which invalidates what clients cached).
    pub rate_hz: f64,
    /// First and last sample times, when known: requests are clipped to
    /// them, and unbounded requests can use the cache. Leave `None` for
    /// data that still grows.
    pub extent: Option<(i64, i64)>,
    /// The mapping used when no schema mapping is published for the identity.
    pub mapping: Option<SchemaMapping>,
}

impl SourceInfo {
    /// An identity with samples at about `rate_hz`.
    pub fn rate(rate_hz: f64) -> Self {
        SourceInfo {
            rate_hz,
            extent: None,
            mapping: None,
        }
    }

    /// Sets the time extent (first and last sample, inclusive).
    pub fn extent(mut self, first: i64, last: i64) -> Self {
        self.extent = Some((first, last));
        self
    }

    /// Sets the default mapping.
    pub fn mapping(mut self, mapping: SchemaMapping) -> Self {
        self.mapping = Some(mapping);
        self
    }
}

/// What the kit asks a source to read.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceQuery {
    /// Timestamped, periodic or events (row data is not read through the kit).
    pub kind: DataKind,
    /// The data identity.
    pub identity: String,
    /// The mapping, reduced to the fields to read (`field_mappings`:
    /// `source_field` → `target_channel`) and, for events, its event mappings.
    pub mapping: SchemaMapping,
    /// Inclusive start, rounded out to the grid (`None`: from the beginning).
    pub start: Option<i64>,
    /// Inclusive end, rounded out to the grid (`None`: to the end).
    pub end: Option<i64>,
    /// The client's credentials, for sources that pass them on.
    pub authorization: Authorization,
}

impl SourceQuery {
    /// `(source_field, target_channel)` of every field to read.
    pub fn fields(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        self.mapping
            .field_mappings
            .iter()
            .map(|f| (f.source_field.as_str(), f.target_channel))
    }
}

/// A mapping of `(source_field, target_channel)` pairs: a source's
/// default mapping in one line.
///
/// ```
/// let m = rta_adapters::kit::field_mapping([("vCar", 0), ("gear", 1)]);
/// assert_eq!((m.field_mappings[1].source_field.as_str(), m.field_mappings[1].target_channel), ("gear", 1));
/// ```
pub fn field_mapping<S: Into<String>>(fields: impl IntoIterator<Item = (S, u32)>) -> SchemaMapping {
    let fields = fields.into_iter().map(|(name, channel)| FieldMapping {
        source_field: name.into(),
        target_channel: channel,
        ..Default::default()
    });
    SchemaMapping {
        field_mappings: fields.collect(),
        ..Default::default()
    }
}

/// Batches already in memory as a [`BatchStream`].
pub fn batches(items: impl IntoIterator<Item = Batch>) -> BatchStream {
    let items: Vec<Result<Batch>> = items.into_iter().map(Ok).collect();
    futures::stream::iter(items).boxed()
}

/// The trait an adapter author implements (see the [module](self)).
#[async_trait]
pub trait SampleSource: Send + Sync + 'static {
    /// Whether `identity` is served by this source (`None`: no data), its
    /// rate, and optionally its extent and default mapping.
    async fn describe(&self, identity: &str) -> Result<Option<SourceInfo>>;

    /// The samples (or events) of the query's fields between its bounds,
    /// in time order per channel. Samples outside the bounds are allowed
    /// (and dropped). Errors: `Error::InvalidArgument` for a request the
    /// source refuses (400), `Error::Unavailable` when the store is down
    /// (503), `Error::Upstream` when it fails (502).
    async fn read(&self, query: SourceQuery) -> Result<BatchStream>;
}

#[async_trait]
impl<S: SampleSource + ?Sized> SampleSource for Arc<S> {
    async fn describe(&self, identity: &str) -> Result<Option<SourceInfo>> {
        (**self).describe(identity).await
    }
    async fn read(&self, query: SourceQuery) -> Result<BatchStream> {
        (**self).read(query).await
    }
}

/// Finds the schema mapping of an identity, reduced to the channels (and
/// events) a request asks for.
#[async_trait]
pub trait MappingResolver: Send + Sync + 'static {
    /// The mapping of `identity` with only the field mappings of
    /// `channels` (none when `None`) and the event mappings if `events`;
    /// `None` when no mapping is published.
    async fn resolve(
        &self,
        identity: &str,
        channels: Option<&ChannelExpr>,
        events: bool,
        authorization: &Authorization,
    ) -> Result<Option<SchemaMapping>>;
}

/// Mappings of one data source in any [`SchemaMappingStore`].
///
/// ```
/// use std::sync::Arc;
/// use rta_adapters::kit::{MappingResolver, StoreMappings};
/// use rta_adapters::stores::FileSchemaMappingStore;
/// use rta_core::proto::schema_mapping_service::{FieldMapping, SchemaMapping};
/// use rta_core::service::{Authorization, SchemaMappingStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = Arc::new(FileSchemaMappingStore::open(dir.path()).unwrap());
/// let f = |name: &str, c| FieldMapping { source_field: name.into(), target_channel: c, ..Default::default() };
/// let m = SchemaMapping { field_mappings: vec![f("a", 0), f("b", 1)], ..Default::default() };
/// store.put("files", "run-1", m).await.unwrap();
/// let resolver = StoreMappings::new(store, "files");
/// let sel = resolver.resolve("run-1", Some(&"1".parse().unwrap()), false, &Authorization::default()).await.unwrap();
/// assert_eq!(sel.unwrap().field_mappings, vec![f("b", 1)]);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct StoreMappings<S: ?Sized> {
    store: Arc<S>,
    data_source: String,
}

impl<S: SchemaMappingStore + ?Sized> StoreMappings<S> {
    /// The mappings of `data_source` in `store`.
    pub fn new(store: Arc<S>, data_source: impl Into<String>) -> Self {
        StoreMappings {
            store,
            data_source: data_source.into(),
        }
    }
}

#[async_trait]
impl<S: SchemaMappingStore + ?Sized> MappingResolver for StoreMappings<S> {
    async fn resolve(
        &self,
        identity: &str,
        channels: Option<&ChannelExpr>,
        events: bool,
        _authorization: &Authorization,
    ) -> Result<Option<SchemaMapping>> {
        let m = self.store.get(&self.data_source, identity).await?;
        Ok(m.map(|m| select_mapping(&m, channels, events)))
    }
}

/// A [`SampleSource`] served as a [`DataService`] (see the [module](self)).
pub struct KitService<S> {
    source: Arc<S>,
    resolver: Option<Arc<dyn MappingResolver>>,
    cache: Option<Arc<ChunkCache>>,
    limits: ChunkLimits,
    samples_per_cell: usize,
    grid: Option<ChunkGrid>,
}

impl<S> std::fmt::Debug for KitService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KitService")
            .field("limits", &self.limits)
            .field("samples_per_cell", &self.samples_per_cell)
            .field("grid", &self.grid)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl<S: SampleSource> KitService<S> {
    /// Serves `source`, with its own default mappings, no cache, a grid
    /// from its rate and results of at most [`KIT_RESULT_SAMPLES`] samples.
    pub fn new(source: S) -> Self {
        Self::from_arc(Arc::new(source))
    }

    /// [`new`](Self::new) over a shared source.
    pub fn from_arc(source: Arc<S>) -> Self {
        KitService {
            source,
            resolver: None,
            cache: None,
            limits: ChunkLimits {
                max_result_samples: KIT_RESULT_SAMPLES,
                ..ChunkLimits::default()
            },
            samples_per_cell: DEFAULT_SAMPLES_PER_CELL,
            grid: None,
        }
    }

    /// Resolves channels through published schema mappings first.
    pub fn with_mappings(mut self, resolver: Arc<dyn MappingResolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Keeps built chunks in `cache` (share one cache between services if you like).
    pub fn with_cache(mut self, cache: Arc<ChunkCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Sets the chunk limits (results are split at `max_result_samples`,
    /// capped at the spec's 10,000; lists closed at `target_list_bytes`).
    pub fn with_limits(mut self, limits: ChunkLimits) -> Self {
        self.limits = ChunkLimits {
            max_result_samples: limits
                .max_result_samples
                .clamp(1, rta_core::chunk::MAX_RESULT_SAMPLES),
            target_list_bytes: limits
                .target_list_bytes
                .min(rta_core::chunk::MAX_LIST_BYTES / 2),
            ..limits
        };
        self
    }

    /// Sets the samples per cell the grid is chosen for.
    pub fn with_samples_per_cell(mut self, samples: usize) -> Self {
        self.samples_per_cell = samples.max(1);
        self
    }

    /// Uses one fixed grid for every identity instead of choosing by rate.
    pub fn with_grid(mut self, grid: ChunkGrid) -> Self {
        self.grid = Some(grid);
        self
    }

    /// The source.
    pub fn source(&self) -> &Arc<S> {
        &self.source
    }

    /// The grid of an identity with `info`.
    pub fn grid_for(&self, info: &SourceInfo) -> ChunkGrid {
        self.grid
            .unwrap_or_else(|| ChunkGrid::for_rate(info.rate_hz, self.samples_per_cell))
    }

    async fn mapping(&self, req: &DataRequest, info: &SourceInfo) -> Result<Option<SchemaMapping>> {
        let events = req.kind == DataKind::Events;
        if let Some(r) = &self.resolver {
            let found = r
                .resolve(
                    &req.data_identity,
                    req.channels.as_ref(),
                    events,
                    &req.authorization,
                )
                .await?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(info
            .mapping
            .as_ref()
            .map(|m| select_mapping(m, req.channels.as_ref(), events)))
    }
}

fn empty() -> ChunkStream {
    futures::stream::empty().boxed()
}

#[async_trait]
impl<S: SampleSource> DataService for KitService<S> {
    async fn read(&self, req: DataRequest) -> Result<ChunkStream> {
        req.validate()?;
        if req.kind == DataKind::Row {
            return Ok(empty());
        }
        let Some(info) = self.source.describe(&req.data_identity).await? else {
            return Ok(empty());
        };
        let Some(mut mapping) = self.mapping(&req, &info).await? else {
            return Ok(empty());
        };
        let grid = self.grid_for(&info);
        let (lo, hi) = grid.round_out(req.start, req.end);
        let (mut lo, mut hi) = (lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX));
        if let Some((first, last)) = info.extent {
            lo = lo.max(grid.cell_start(first));
            hi = hi.min(grid.cell_end(last));
        }
        if lo > hi {
            return Ok(empty());
        }
        let mut series: Vec<Option<u32>> = if req.kind == DataKind::Events {
            vec![None]
        } else {
            let mut c: Vec<u32> = mapping
                .field_mappings
                .iter()
                .map(|f| f.target_channel)
                .collect();
            c.sort_unstable();
            c.dedup();
            c.into_iter().map(Some).collect()
        };
        // Series whose every cell is cached are served from the cache.
        let mut cached: Vec<Chunk> = Vec::new();
        let cells = (lo != i64::MIN && hi != i64::MAX)
            .then(|| (hi - lo) / grid.period() + 1)
            .filter(|n| *n <= MAX_CACHED_CELLS);
        if let (Some(cache), Some(n)) = (&self.cache, cells) {
            series.retain(|s| {
                let keys: Vec<CellKey> = (0..n)
                    .map(|i| CellKey {
                        identity: req.data_identity.clone(),
                        kind: req.kind,
                        channel: *s,
                        period: grid.period(),
                        cell: lo + i * grid.period(),
                    })
                    .collect();
                match cache.get_all(&keys) {
                    Some(chunks) => {
                        cached.extend(chunks);
                        false
                    }
                    None => true,
                }
            });
        }
        let cached = futures::stream::iter(cached.into_iter().map(Ok));
        if series.is_empty() {
            return Ok(cached.boxed());
        }
        mapping
            .field_mappings
            .retain(|f| series.contains(&Some(f.target_channel)));
        let query = SourceQuery {
            kind: req.kind,
            identity: req.data_identity.clone(),
            mapping,
            start: (lo != i64::MIN).then_some(lo),
            end: (hi != i64::MAX).then_some(hi),
            authorization: req.authorization.clone(),
        };
        let mut batches = self.source.read(query).await?.fuse().boxed();
        // The first batch is awaited here, so that a failing source answers
        // the request with its status instead of breaking a started body.
        let first = match batches.next().await {
            Some(Err(e)) => return Err(e),
            other => other,
        };
        let cache = self.cache.clone().map(|c| (c, req.data_identity.clone()));
        let cells = Cells::new(grid, self.limits, req.kind, (lo, hi), series, cache);
        Ok(cached.chain(chunk_stream(cells, first, batches)).boxed())
    }
}

/// Most steps (source batches) whose closed cells are being built at once
/// for one request before the kit stops reading the source and waits for
/// the oldest.
const MAX_BUILDING: usize = 16;

struct Run {
    cells: Cells,
    first: Option<Result<Batch>>,
    batches: BatchStream,
    /// Built chunks not yet handed out.
    ready: VecDeque<Chunk>,
    /// The source ended (or failed).
    done: bool,
    /// The source's or the kit's error, handed out after the chunks of
    /// the cells closed before it.
    failed: Option<Error>,
}

/// What the stream does next.
enum Step {
    /// The oldest cell being built is done.
    Built(Result<Vec<Chunk>>),
    /// The source gave a batch (or ended).
    Batch(Option<Result<Batch>>),
}

fn built(r: std::result::Result<Result<Vec<Chunk>>, oneshot::Canceled>) -> Result<Vec<Chunk>> {
    r.unwrap_or_else(|_| Err(Error::Internal("a cell's chunks were never built".into())))
}

/// The chunks of a source's batches, as they complete: cells are chunked
/// on rayon's pool while the source is read, and handed out in the order
/// they closed.
fn chunk_stream(
    cells: Cells,
    first: Option<Result<Batch>>,
    batches: BatchStream,
) -> impl futures::Stream<Item = Result<Chunk>> + Send {
    let run = Run {
        cells,
        first,
        batches,
        ready: VecDeque::new(),
        done: false,
        failed: None,
    };
    futures::stream::unfold(run, |mut run| async move {
        loop {
            if let Some(c) = run.ready.pop_front() {
                return Some((Ok(c), run));
            }
            let step = if let Some(b) = run.first.take() {
                Step::Batch(Some(b))
            } else if run.done || run.cells.out.len() >= MAX_BUILDING {
                match run.cells.out.front_mut() {
                    Some(rx) => Step::Built(built(rx.await)),
                    None => {
                        // Everything built was handed out.
                        return run.failed.take().map(|e| (Err(e), run));
                    }
                }
            } else {
                match run.cells.out.front_mut() {
                    None => Step::Batch(run.batches.next().await),
                    Some(rx) => match future::select(rx, run.batches.next()).await {
                        Either::Left((r, _)) => Step::Built(built(r)),
                        Either::Right((b, _)) => Step::Batch(b),
                    },
                }
            };
            match step {
                Step::Built(r) => {
                    run.cells.out.pop_front();
                    match r {
                        Ok(chunks) => run.ready.extend(chunks),
                        Err(e) => {
                            run.done = true;
                            run.failed = None;
                            run.cells.out.clear();
                            return Some((Err(e), run));
                        }
                    }
                }
                Step::Batch(next) => {
                    // (A failing step queues nothing.)
                    let step = match next {
                        Some(Ok(batch)) => run.cells.push(batch),
                        Some(Err(e)) => Err(e),
                        None => {
                            run.done = true;
                            run.cells.finish()
                        }
                    };
                    if let Err(e) = step {
                        run.done = true;
                        run.failed = Some(e);
                    }
                }
            }
        }
    })
}
