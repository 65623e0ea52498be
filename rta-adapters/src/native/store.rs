//! The native store: identities, write batches, flushes, reads and stats.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use async_trait::async_trait;
use futures::StreamExt;
use rayon::prelude::*;
use rta_core::channels::ChannelExpr;
use rta_core::chunk::{Chunk, Compression, MAX_RESULT_SAMPLES};
use rta_core::data::{DataItem, DataKind};
use rta_core::proto::data::{Event, PeriodicData, RowData, TimestampedData};
use rta_core::service::{ChunkStream, DataRequest, DataService};
use rta_core::{Error, Result};

use super::backend::{Backend, FileBackend, IdentityStorage};
use super::format::{frame, op, parse_log, IndexRecord, Op};
use super::frames::{body_len, Frames, Part};
use super::kind::{kind_of_code, StoredItem};
use super::packer::{Built, PackLimits};
use super::stream::{ChunkMeta, Ctx, Stream, PACK_RUN, TARGET_LIST_BYTES};
use rta_core::write::{DataSink, WriteItem};

/// Options of a [`NativeStore`].
#[derive(Debug, Clone)]
pub struct NativeConfig {
    /// Directory of the file backend (ignored by [`NativeStore::with_backend`]).
    pub path: PathBuf,
    /// Most bytes of written data held in memory, over all identities,
    /// before open chunks are written out early (default 256 MiB).
    pub write_buffer_bytes: usize,
    /// Serialized list size at which a chunk is closed (default 64 KiB).
    pub target_list_bytes: usize,
    /// Most samples per result (default 10,000, the spec's limit).
    pub max_result_samples: usize,
    /// Compression of stored chunks (default LZ4).
    pub compression: Compression,
    /// Largest part of an item that cannot be split (one sample, row or
    /// event) accepted, in bytes (default 1 MiB).
    pub max_unit_bytes: usize,
    /// Index operations kept in memory before they are written out with a
    /// sync even without a flush request (default 8192).
    pub checkpoint_ops: usize,
    /// Share of an identity's stored bytes taken by superseded payloads
    /// above which sealing it starts a compaction in the background
    /// (default 0.1; 1.0 or more never compacts automatically). A writer
    /// flushing every second leaves about a fifth of the data log
    /// superseded.
    pub compact_dead_fraction: f64,
    /// Fewest superseded bytes for which a compaction is started
    /// automatically (default 1 MiB).
    pub compact_min_dead_bytes: u64,
}

impl NativeConfig {
    /// Defaults, storing under `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            write_buffer_bytes: 256 * 1024 * 1024,
            target_list_bytes: TARGET_LIST_BYTES,
            max_result_samples: MAX_RESULT_SAMPLES,
            compression: Compression::Lz4,
            max_unit_bytes: 1024 * 1024,
            checkpoint_ops: 8192,
            compact_dead_fraction: 0.1,
            compact_min_dead_bytes: 1024 * 1024,
        }
    }

    /// Sets when sealing an identity compacts it automatically: once
    /// superseded payloads exceed both `dead_fraction` of its stored bytes
    /// and `min_dead_bytes` (a fraction of 1.0 or more turns it off).
    pub fn with_compaction(mut self, dead_fraction: f64, min_dead_bytes: u64) -> Self {
        self.compact_dead_fraction = dead_fraction;
        self.compact_min_dead_bytes = min_dead_bytes;
        self
    }

    /// Sets the write buffer budget.
    pub fn with_write_buffer_bytes(mut self, bytes: usize) -> Self {
        self.write_buffer_bytes = bytes;
        self
    }

    /// Sets the target list size of chunks.
    pub fn with_target_list_bytes(mut self, bytes: usize) -> Self {
        self.target_list_bytes = bytes.clamp(1024, rta_core::chunk::MAX_LIST_BYTES / 2);
        self
    }

    fn limits(&self) -> PackLimits {
        PackLimits {
            max_result_samples: self.max_result_samples.clamp(1, MAX_RESULT_SAMPLES),
            target_list_bytes: self.target_list_bytes,
            compression: self.compression,
        }
    }
}

/// Storage figures of an identity or a whole store.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StoreStats {
    /// Streams (channels, row groups, event streams).
    pub streams: usize,
    /// Chunks in the index.
    pub chunks: usize,
    /// Samples (rows and events count one each).
    pub samples: u64,
    /// Bytes of the chunk payloads in the index.
    pub payload_bytes: u64,
    /// Bytes used on storage, including superseded payloads and the index.
    pub stored_bytes: u64,
}

impl StoreStats {
    /// Payload bytes per sample: the storage cost of the data itself.
    pub fn bytes_per_sample(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.payload_bytes as f64 / self.samples as f64
        }
    }

    /// Bytes used on storage per sample.
    pub fn stored_bytes_per_sample(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.stored_bytes as f64 / self.samples as f64
        }
    }

    fn add(&mut self, o: &StoreStats) {
        self.streams += o.streams;
        self.chunks += o.chunks;
        self.samples += o.samples;
        self.payload_bytes += o.payload_bytes;
        self.stored_bytes += o.stored_bytes;
    }
}

#[derive(Debug, Clone)]
enum StreamKey {
    Ts(u32),
    Pd(u32),
    Row(Vec<u32>),
    Ev,
}

#[derive(Default)]
struct State {
    ts: BTreeMap<u32, Stream<TimestampedData>>,
    pd: BTreeMap<u32, Stream<PeriodicData>>,
    rows: BTreeMap<Vec<u32>, Stream<RowData>>,
    events: Option<Stream<Event>>,
    ids: HashMap<u32, StreamKey>,
    next_id: u32,
    ops: Vec<Op>,
    buffered: usize,
    late: Vec<StreamKey>,
}

macro_rules! each_stream {
    ($st:expr, $s:ident => $body:expr) => {{
        for $s in $st.ts.values_mut() {
            $body;
        }
        for $s in $st.pd.values_mut() {
            $body;
        }
        for $s in $st.rows.values_mut() {
            $body;
        }
        if let Some($s) = $st.events.as_mut() {
            $body;
        }
    }};
}

struct Identity {
    /// The identity's logs. A compaction replaces them, only while `state`
    /// is locked, so a handle taken under that lock matches the chunk
    /// offsets read with it (and keeps reading the logs it was taken from).
    storage: RwLock<Arc<dyn IdentityStorage>>,
    state: Mutex<State>,
    /// Held by a compaction of the identity, so that only one runs.
    compacting: Mutex<()>,
}

impl Identity {
    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| Error::Internal("identity lock poisoned".into()))
    }

    /// The current logs (see `storage`).
    fn storage(&self) -> Arc<dyn IdentityStorage> {
        self.storage
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

// Compaction of the data log, a child module so that it can reach the
// identities' state (the file lives next to this one).
#[path = "compact.rs"]
mod compact;
pub use compact::CompactionReport;

struct Inner {
    backend: Arc<dyn Backend>,
    config: NativeConfig,
    identities: Mutex<HashMap<String, Arc<Identity>>>,
    buffered: AtomicI64,
    /// Body frame buffers of finished REST reads, reused by the next ones.
    frame_pool: Mutex<Vec<bytes::Bytes>>,
    /// Background compactions after seals.
    compactor: compact::Compactor,
}

/// The SDK's own data store: chunks kept in their wire form per data
/// identity and stream, on the local file system by default.
///
/// Cloning is cheap (a shared handle). Methods without `async` block (file
/// I/O); the [`DataService`] and [`DataSink`] implementations run them on
/// Tokio's blocking pool.
///
/// ```
/// use rta_core::write::WriteItem;
/// use rta_adapters::native::{NativeConfig, NativeStore};
/// use rta_core::data::{periodic, DataKind};
/// use rta_core::service::DataRequest;
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
/// let item = periodic(0x10, 1_000, 1_000_000, &[1.0f64, 2.0, 3.0]).unwrap();
/// store.write_blocking("s1", vec![WriteItem::Periodic(item)]).unwrap();
/// store.flush_blocking("s1").unwrap();
///
/// let req = DataRequest::channels(DataKind::Periodic, "s1", "10".parse().unwrap());
/// let chunks = store.read_blocking(&req).unwrap();
/// assert_eq!((chunks.len(), chunks[0].start, chunks[0].end), (1, 1_000, 2_001_000));
/// ```
#[derive(Clone)]
pub struct NativeStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NativeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeStore")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What a read needs once the identity lock is released.
type Snapshot = (Arc<dyn IdentityStorage>, Vec<StreamRead>);

/// One stream's part of a read.
struct StreamRead {
    channel_ids: Vec<u32>,
    stored: Vec<ChunkMeta>,
    volatile: Vec<Chunk>,
}

/// The checks of [`DataItem::validate`] for timestamped data, without
/// expanding the timestamps.
fn validate_timestamped(d: &TimestampedData) -> Result<()> {
    let n = d.timestamp_deltas.len();
    let bad = |m: String| Err(Error::Data(m));
    if n == 0 {
        return if d.buffer.is_empty() {
            Ok(())
        } else {
            bad("timestamped data has a buffer but no samples".into())
        };
    }
    if !d.buffer.len().is_multiple_of(n) {
        return bad(format!(
            "timestamped data buffer of {} bytes does not divide into {n} samples",
            d.buffer.len()
        ));
    }
    if d.timestamp_deltas[0] != 0 {
        return bad("first timestamp delta must be 0".into());
    }
    if n > 1 && d.timestamp_deltas_scale <= 0 {
        return bad(format!(
            "timestamp_deltas_scale must be positive, got {}",
            d.timestamp_deltas_scale
        ));
    }
    let mut sum: i64 = 0;
    for x in &d.timestamp_deltas[1..] {
        if *x < 0 {
            return bad("timestamp deltas must not be negative".into());
        }
        sum = match sum.checked_add(*x) {
            Some(v) => v,
            None => return bad("timestamp deltas overflow".into()),
        };
    }
    // Deltas are not negative, so the last time is the largest: no earlier overflow.
    if sum
        .checked_mul(d.timestamp_deltas_scale.max(1))
        .and_then(|x| d.start_timestamp.checked_add(x))
        .is_none()
    {
        return bad("timestamps overflow".into());
    }
    Ok(())
}

fn validate_item(item: &WriteItem, max_unit: usize) -> Result<()> {
    let (unit, what) = match item {
        WriteItem::Timestamped(d) => {
            validate_timestamped(d)?;
            (StoredItem::unit_bytes(d), "sample")
        }
        WriteItem::Periodic(d) => {
            // Samples not backed by buffer bytes are free on the wire but
            // their timestamps are expanded (below, and by merges): refuse
            // them before that.
            if d.samples > 0 && d.buffer.is_empty() {
                return Err(Error::Data(format!(
                    "periodic data of {} samples has an empty buffer",
                    d.samples
                )));
            }
            d.validate()?;
            (StoredItem::unit_bytes(d), "sample")
        }
        WriteItem::Row(d) => {
            d.validate()?;
            (StoredItem::unit_bytes(d), "row")
        }
        WriteItem::Event(d) => {
            d.validate()?;
            (StoredItem::unit_bytes(d), "event")
        }
        // Checked when it was scanned.
        WriteItem::Encoded(e) => (e.width(), "sample"),
    };
    if unit > max_unit {
        return Err(Error::InvalidArgument(format!(
            "a {what} of {unit} bytes is larger than the limit of {max_unit} bytes"
        )));
    }
    Ok(())
}

impl NativeStore {
    /// Opens (or creates) a store on the local file system at `config.path`.
    pub fn open(config: NativeConfig) -> Result<Self> {
        let backend = Arc::new(FileBackend::new(&config.path)?);
        Ok(Self::with_backend(backend, config))
    }

    /// A store on any backend.
    pub fn with_backend(backend: Arc<dyn Backend>, config: NativeConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                config,
                identities: Mutex::new(HashMap::new()),
                buffered: AtomicI64::new(0),
                frame_pool: Mutex::new(Vec::new()),
                compactor: compact::Compactor::default(),
            }),
        }
    }

    /// The options in use.
    pub fn config(&self) -> &NativeConfig {
        &self.inner.config
    }

    /// Identities with stored data.
    pub fn identities(&self) -> Result<Vec<String>> {
        let mut ids = self.inner.backend.identities()?;
        for k in self.map()?.keys() {
            if !ids.contains(k) {
                ids.push(k.clone());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Bytes of written data held in memory now.
    pub fn buffered_bytes(&self) -> usize {
        self.inner.buffered.load(Ordering::Relaxed).max(0) as usize
    }

    fn map(&self) -> Result<MutexGuard<'_, HashMap<String, Arc<Identity>>>> {
        self.inner
            .identities
            .lock()
            .map_err(|_| Error::Internal("store lock poisoned".into()))
    }

    fn identity(&self, identity: &str, create: bool) -> Result<Option<Arc<Identity>>> {
        let mut map = self.map()?;
        if let Some(id) = map.get(identity) {
            return Ok(Some(id.clone()));
        }
        let Some(storage) = self.inner.backend.open(identity, create)? else {
            return Ok(None);
        };
        let state = self.load_state(&*storage)?;
        let id = Arc::new(Identity {
            storage: RwLock::new(storage),
            state: Mutex::new(state),
            compacting: Mutex::new(()),
        });
        map.insert(identity.to_string(), id.clone());
        Ok(Some(id))
    }

    fn load_state(&self, storage: &dyn IdentityStorage) -> Result<State> {
        let log = storage.load_index()?;
        let (records, valid) = parse_log(&log)?;
        if valid < log.len() {
            tracing::warn!(
                dropped = log.len() - valid,
                "native store: cutting a torn record off an index log"
            );
            storage.truncate_index(valid as u64)?;
        }
        let limits = self.inner.config.limits();
        let mut st = State::default();
        for rec in records {
            for o in rec.ops {
                match o.kind {
                    Some(op::Kind::Stream(def)) => {
                        let key = match kind_of_code(def.kind)? {
                            DataKind::Timestamped => {
                                let ch = def.channel_ids.first().copied().unwrap_or_default();
                                st.ts.insert(ch, Stream::from_def(&def, limits)?);
                                StreamKey::Ts(ch)
                            }
                            DataKind::Periodic => {
                                let ch = def.channel_ids.first().copied().unwrap_or_default();
                                st.pd.insert(ch, Stream::from_def(&def, limits)?);
                                StreamKey::Pd(ch)
                            }
                            DataKind::Row => {
                                st.rows.insert(
                                    def.channel_ids.clone(),
                                    Stream::from_def(&def, limits)?,
                                );
                                StreamKey::Row(def.channel_ids.clone())
                            }
                            DataKind::Events => {
                                st.events = Some(Stream::from_def(&def, limits)?);
                                StreamKey::Ev
                            }
                        };
                        st.ids.insert(def.stream_id, key);
                        st.next_id = st.next_id.max(def.stream_id + 1);
                    }
                    Some(op::Kind::Add(a)) => {
                        with_stream(&mut st, a.stream_id, |s| s.replay_add(&a))?;
                    }
                    Some(op::Kind::Remove(r)) => {
                        with_stream(&mut st, r.stream_id, |s| {
                            s.replay_remove(&r);
                            Ok(())
                        })?;
                    }
                    None => {}
                }
            }
        }
        each_stream!(st, s => s.after_replay());
        Ok(st)
    }

    /// Writes a batch of items to an identity (blocking).
    ///
    /// Every item is checked first (structure, sample width, size of an
    /// unsplittable unit), so a bad batch stores nothing.
    pub fn write_blocking(&self, identity: &str, items: Vec<WriteItem>) -> Result<()> {
        if identity.is_empty() {
            return Err(Error::InvalidArgument("empty data identity".into()));
        }
        let max_unit = self.inner.config.max_unit_bytes;
        for it in &items {
            validate_item(it, max_unit)?;
        }
        let Some(id) = self.identity(identity, true)? else {
            return Err(Error::Internal("identity could not be created".into()));
        };
        let (r, delta) = {
            let mut st = id.lock()?;
            check_widths(&st, &items)?;
            let r = self.apply(&id, &mut st, items);
            // Whatever the batch closed is stored, even after an error.
            let stored = self.store_pending(&id, &mut st);
            let d = self.settle(&mut st);
            let r = r.and(stored).and_then(|()| {
                if st.ops.len() >= self.inner.config.checkpoint_ops {
                    sync(&*id.storage(), &mut st)
                } else {
                    Ok(())
                }
            });
            (r, d)
        };
        // The memory held is counted whether or not the write failed.
        let total = self.inner.buffered.fetch_add(delta, Ordering::Relaxed) + delta;
        r?;
        if total > self.inner.config.write_buffer_bytes as i64 {
            self.relieve_pressure()?;
        }
        Ok(())
    }

    fn settle(&self, st: &mut State) -> i64 {
        let before = st.buffered as i64;
        let mut now = 0usize;
        each_stream!(st, s => now += s.buffered());
        st.buffered = now;
        now as i64 - before
    }

    fn apply(&self, id: &Identity, st: &mut State, items: Vec<WriteItem>) -> Result<()> {
        let limits = self.inner.config.limits();
        let State {
            ts,
            pd,
            rows,
            events,
            ids,
            next_id,
            ops,
            late,
            ..
        } = st;
        let storage = id.storage();
        let mut ctx = Ctx {
            storage: &*storage,
            ops,
            limits,
            merge_run: PACK_RUN,
        };
        let mut new_id = |key: StreamKey| {
            let n = *next_id;
            *next_id += 1;
            ids.insert(n, key);
            n
        };
        for it in items {
            match it {
                WriteItem::Timestamped(d) => {
                    let ch = d.channel_id;
                    let s = ts
                        .entry(ch)
                        .or_insert_with(|| Stream::new(new_id(StreamKey::Ts(ch)), vec![ch]));
                    s.write(d, &mut ctx)?;
                    if s.has_late() {
                        late.push(StreamKey::Ts(ch));
                    }
                }
                WriteItem::Periodic(d) => {
                    let ch = d.channel_id;
                    let s = pd
                        .entry(ch)
                        .or_insert_with(|| Stream::new(new_id(StreamKey::Pd(ch)), vec![ch]));
                    s.write(d, &mut ctx)?;
                    if s.has_late() {
                        late.push(StreamKey::Pd(ch));
                    }
                }
                WriteItem::Row(d) => {
                    if !rows.contains_key(&d.channel_ids) {
                        let key = d.channel_ids.clone();
                        let s = Stream::new(new_id(StreamKey::Row(key.clone())), key.clone());
                        rows.insert(key, s);
                    }
                    if let Some(s) = rows.get_mut(&d.channel_ids) {
                        s.write(d, &mut ctx)?;
                        if s.has_late() {
                            late.push(StreamKey::Row(s.channel_ids.clone()));
                        }
                    }
                }
                WriteItem::Event(d) => {
                    let s =
                        events.get_or_insert_with(|| Stream::new(new_id(StreamKey::Ev), vec![]));
                    s.write(d, &mut ctx)?;
                    if s.has_late() {
                        late.push(StreamKey::Ev);
                    }
                }
                WriteItem::Encoded(e) => {
                    let ch = e.channel_id();
                    let late_key = if e.kind() == DataKind::Timestamped {
                        let s = ts
                            .entry(ch)
                            .or_insert_with(|| Stream::new(new_id(StreamKey::Ts(ch)), vec![ch]));
                        s.write_encoded(&e, &mut ctx)?;
                        s.has_late().then_some(StreamKey::Ts(ch))
                    } else {
                        let s = pd
                            .entry(ch)
                            .or_insert_with(|| Stream::new(new_id(StreamKey::Pd(ch)), vec![ch]));
                        s.write_encoded(&e, &mut ctx)?;
                        s.has_late().then_some(StreamKey::Pd(ch))
                    };
                    late.extend(late_key);
                }
            }
        }
        for key in std::mem::take(late) {
            match key {
                StreamKey::Ts(ch) => {
                    if let Some(s) = ts.get_mut(&ch) {
                        s.process_late(&mut ctx)?;
                    }
                }
                StreamKey::Pd(ch) => {
                    if let Some(s) = pd.get_mut(&ch) {
                        s.process_late(&mut ctx)?;
                    }
                }
                StreamKey::Row(k) => {
                    if let Some(s) = rows.get_mut(&k) {
                        s.process_late(&mut ctx)?;
                    }
                }
                StreamKey::Ev => {
                    if let Some(s) = events.as_mut() {
                        s.process_late(&mut ctx)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes out open chunks early, over all identities, until the memory
    /// held is back under half the budget.
    fn relieve_pressure(&self) -> Result<()> {
        let ids: Vec<Arc<Identity>> = self.map()?.values().cloned().collect();
        let low = (self.inner.config.write_buffer_bytes / 2) as i64;
        for id in ids {
            if self.inner.buffered.load(Ordering::Relaxed) <= low {
                break;
            }
            let mut st = id.lock()?;
            let r = self.each_ctx(&id, &mut st, |s, ctx| s.flush(ctx));
            let stored = self.store_pending(&id, &mut st);
            let d = self.settle(&mut st);
            self.inner.buffered.fetch_add(d, Ordering::Relaxed);
            r.and(stored)?;
        }
        Ok(())
    }

    /// Stores the chunks that the streams closed while the lock was held:
    /// their lists are compressed in parallel (on rayon's pool, when there
    /// are two or more), then appended stream by stream, in order.
    fn store_pending(&self, id: &Identity, st: &mut State) -> Result<()> {
        let mut lists: Vec<&mut Built> = Vec::new();
        each_stream!(st, s => lists.extend(s.pending_mut()));
        if lists.len() > 1 {
            lists.into_par_iter().for_each(Built::compress);
        }
        // Every stream is tried; the first error is returned.
        let mut first = None;
        self.each_ctx(id, st, |s, ctx| {
            if let Err(e) = s.store_pending(ctx) {
                first.get_or_insert(e);
            }
            Ok(())
        })?;
        first.map_or(Ok(()), Err)
    }

    fn each_ctx(
        &self,
        id: &Identity,
        st: &mut State,
        mut f: impl FnMut(&mut dyn StreamOps, &mut Ctx<'_>) -> Result<()>,
    ) -> Result<()> {
        let limits = self.inner.config.limits();
        let State {
            ts,
            pd,
            rows,
            events,
            ops,
            ..
        } = st;
        let storage = id.storage();
        let mut ctx = Ctx {
            storage: &*storage,
            ops,
            limits,
            merge_run: PACK_RUN,
        };
        for s in ts.values_mut() {
            f(s, &mut ctx)?;
        }
        for s in pd.values_mut() {
            f(s, &mut ctx)?;
        }
        for s in rows.values_mut() {
            f(s, &mut ctx)?;
        }
        if let Some(s) = events.as_mut() {
            f(s, &mut ctx)?;
        }
        Ok(())
    }

    /// Makes everything written to an identity so far durable (blocking):
    /// open chunks are written out, the data log is synced, then the index
    /// changes are appended and synced.
    pub fn flush_blocking(&self, identity: &str) -> Result<()> {
        self.finish_identity(identity, false)
    }

    /// Like [`NativeStore::flush_blocking`], and also packs the fragments
    /// left by earlier flushes in each stream's last cell. Call it when a
    /// writer has finished (a session closed); later writes are still
    /// accepted and merged.
    ///
    /// When superseded payloads then make up more than
    /// [`NativeConfig::compact_dead_fraction`] of the identity's stored
    /// bytes, a compaction is started in the background (see
    /// [`NativeStore::compact_blocking`]).
    pub fn seal_blocking(&self, identity: &str) -> Result<()> {
        self.finish_identity(identity, true)?;
        self.compact_if_worthwhile(identity);
        Ok(())
    }

    fn finish_identity(&self, identity: &str, seal: bool) -> Result<()> {
        let Some(id) = self.identity(identity, false)? else {
            return Ok(());
        };
        let mut st = id.lock()?;
        let r = self.each_ctx(
            &id,
            &mut st,
            |s, ctx| {
                if seal {
                    s.seal(ctx)
                } else {
                    s.flush(ctx)
                }
            },
        );
        let stored = self.store_pending(&id, &mut st);
        let d = self.settle(&mut st);
        self.inner.buffered.fetch_add(d, Ordering::Relaxed);
        r.and(stored)?;
        sync(&*id.storage(), &mut st)
    }

    /// Flushes every identity written since opening (blocking); for shutdown.
    pub fn flush_all_blocking(&self) -> Result<()> {
        let names: Vec<String> = self.map()?.keys().cloned().collect();
        for n in names {
            self.flush_blocking(&n)?;
        }
        Ok(())
    }

    /// Deletes everything stored for an identity (blocking).
    pub fn delete_blocking(&self, identity: &str) -> Result<()> {
        let removed = self.map()?.remove(identity);
        if let Some(id) = removed {
            let st = id.lock()?;
            self.inner
                .buffered
                .fetch_sub(st.buffered as i64, Ordering::Relaxed);
        }
        self.inner.backend.delete(identity)
    }

    /// Storage figures of one identity (zero when unknown).
    pub fn identity_stats(&self, identity: &str) -> Result<StoreStats> {
        let Some(id) = self.identity(identity, false)? else {
            return Ok(StoreStats::default());
        };
        let mut st = id.lock()?;
        let mut out = StoreStats {
            stored_bytes: id.storage().stored_bytes(),
            ..Default::default()
        };
        each_stream!(st, s => {
            let (c, n, b) = s.totals();
            out.streams += 1;
            out.chunks += c;
            out.samples += n;
            out.payload_bytes += b;
        });
        Ok(out)
    }

    /// Storage figures of the whole store.
    pub fn stats(&self) -> Result<StoreStats> {
        let mut out = StoreStats::default();
        for id in self.identities()? {
            out.add(&self.identity_stats(&id)?);
        }
        Ok(out)
    }

    fn snapshot(&self, req: &DataRequest) -> Result<Option<Snapshot>> {
        req.validate()?;
        let Some(id) = self.identity(&req.data_identity, false)? else {
            return Ok(None);
        };
        self.refresh(&id)?;
        let limits = self.inner.config.limits();
        let start = req.start.unwrap_or(i64::MIN);
        let end = req.end.unwrap_or(i64::MAX);
        let st = id.lock()?;
        let mut out = Vec::new();
        let chans = req.channels.clone().unwrap_or_else(ChannelExpr::all);
        macro_rules! take {
            ($s:expr) => {{
                let (stored, volatile) = $s.snapshot(start, end, limits)?;
                if !stored.is_empty() || !volatile.is_empty() {
                    out.push(StreamRead {
                        channel_ids: $s.channel_ids.clone(),
                        stored,
                        volatile,
                    });
                }
            }};
        }
        match req.kind {
            DataKind::Timestamped => {
                for r in chans.ranges() {
                    for s in st.ts.range(r).map(|(_, s)| s) {
                        take!(s);
                    }
                }
            }
            DataKind::Periodic => {
                for r in chans.ranges() {
                    for s in st.pd.range(r).map(|(_, s)| s) {
                        take!(s);
                    }
                }
            }
            DataKind::Row => {
                for s in st.rows.values() {
                    if s.channel_ids.iter().any(|c| chans.contains(*c)) {
                        take!(s);
                    }
                }
            }
            DataKind::Events => {
                if let Some(s) = st.events.as_ref() {
                    take!(s);
                }
            }
        }
        Ok(Some((id.storage(), out)))
    }

    /// Reloads an identity's index when another instance sharing the
    /// storage added to it ([`IdentityStorage::stale`]) and this one holds
    /// nothing unwritten (a read-only instance never does).
    fn refresh(&self, id: &Identity) -> Result<()> {
        let storage = id.storage();
        if !storage.stale()? {
            return Ok(());
        }
        let mut st = id.lock()?;
        if st.buffered == 0 && st.ops.is_empty() {
            *st = self.load_state(&*storage)?;
        }
        Ok(())
    }

    /// Reads the chunks of a request into memory (blocking). Chunks come
    /// stream by stream (ascending channel id), each stream in time order.
    pub fn read_blocking(&self, req: &DataRequest) -> Result<Vec<Chunk>> {
        let mut out = Vec::new();
        if let Some((storage, streams)) = self.snapshot(req)? {
            for s in streams {
                for m in &s.stored {
                    out.push(load(&*storage, m, &s.channel_ids)?);
                }
                out.extend(s.volatile);
            }
        }
        Ok(out)
    }
}

fn load(storage: &dyn IdentityStorage, m: &ChunkMeta, channel_ids: &[u32]) -> Result<Chunk> {
    Ok(Chunk {
        start: m.start,
        end: m.end,
        channel_ids: channel_ids.to_vec(),
        compression: m.compression,
        unpacked_length: m.unpacked,
        payload: storage.read_data(m.offset, m.packed as usize)?,
    })
}

fn sync(storage: &dyn IdentityStorage, st: &mut State) -> Result<()> {
    // Every payload appended comes with an index operation, so no pending
    // operation means nothing appended since the last sync.
    if st.ops.is_empty() {
        return Ok(());
    }
    storage.sync_data()?;
    if !st.ops.is_empty() {
        let rec = IndexRecord {
            ops: std::mem::take(&mut st.ops),
        };
        let framed = frame(&rec);
        if let Err(e) = storage.append_index(&framed) {
            st.ops = rec.ops;
            return Err(e);
        }
    }
    Ok(())
}

fn with_stream(
    st: &mut State,
    stream_id: u32,
    f: impl FnOnce(&mut dyn StreamOps) -> Result<()>,
) -> Result<()> {
    let key = st.ids.get(&stream_id).cloned().ok_or_else(|| {
        Error::Internal(format!(
            "index names stream {stream_id} before declaring it"
        ))
    })?;
    let s: Option<&mut dyn StreamOps> = match key {
        StreamKey::Ts(ch) => st.ts.get_mut(&ch).map(|s| s as &mut dyn StreamOps),
        StreamKey::Pd(ch) => st.pd.get_mut(&ch).map(|s| s as &mut dyn StreamOps),
        StreamKey::Row(k) => st.rows.get_mut(&k).map(|s| s as &mut dyn StreamOps),
        StreamKey::Ev => st.events.as_mut().map(|s| s as &mut dyn StreamOps),
    };
    match s {
        Some(s) => f(s),
        None => Err(Error::Internal(format!("stream {stream_id} missing"))),
    }
}

fn check_widths(st: &State, items: &[WriteItem]) -> Result<()> {
    let mut seen: HashMap<(bool, u32), usize> = HashMap::new();
    for it in items {
        let (key, w, stored) = match it {
            WriteItem::Timestamped(d) => (
                (true, d.channel_id),
                StoredItem::width(d),
                st.ts.get(&d.channel_id).map(|s| s.width),
            ),
            WriteItem::Periodic(d) => (
                (false, d.channel_id),
                StoredItem::width(d),
                st.pd.get(&d.channel_id).map(|s| s.width),
            ),
            WriteItem::Encoded(e) => {
                let ch = e.channel_id();
                if e.kind() == DataKind::Timestamped {
                    ((true, ch), Some(e.width()), st.ts.get(&ch).map(|s| s.width))
                } else {
                    (
                        (false, ch),
                        Some(e.width()),
                        st.pd.get(&ch).map(|s| s.width),
                    )
                }
            }
            _ => continue,
        };
        let Some(w) = w else { continue };
        let expect = match seen.get(&key) {
            Some(x) => Some(*x),
            None => stored.filter(|x| *x != 0).map(|x| x as usize),
        };
        if let Some(x) = expect {
            if x != w {
                return Err(Error::Data(format!(
                    "channel {:X} holds {x}-byte samples; got {w}-byte samples",
                    key.1
                )));
            }
        }
        seen.insert(key, w);
    }
    Ok(())
}

/// Stream operations that do not depend on the item type.
pub(crate) trait StreamOps {
    fn flush(&mut self, ctx: &mut Ctx<'_>) -> Result<()>;
    fn store_pending(&mut self, ctx: &mut Ctx<'_>) -> Result<()>;
    fn seal(&mut self, ctx: &mut Ctx<'_>) -> Result<()>;
    fn replay_add(&mut self, a: &super::format::AddChunk) -> Result<()>;
    fn replay_remove(&mut self, r: &super::format::RemoveChunk);
}

impl<T: StoredItem> StreamOps for Stream<T> {
    fn flush(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        Stream::flush(self, ctx)
    }
    fn store_pending(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        Stream::store_pending(self, ctx)
    }
    fn seal(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        Stream::seal(self, ctx)
    }
    fn replay_add(&mut self, a: &super::format::AddChunk) -> Result<()> {
        Stream::replay_add(self, a)
    }
    fn replay_remove(&mut self, r: &super::format::RemoveChunk) {
        Stream::replay_remove(self, r)
    }
}

#[async_trait]
impl DataService for NativeStore {
    async fn read(&self, req: DataRequest) -> Result<ChunkStream> {
        req.validate()?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<Chunk>>>(READ_AHEAD_BATCHES);
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let snap = match store.snapshot(&req) {
                Ok(Some(s)) => s,
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            let (storage, streams) = snap;
            // The first batch is one chunk (time to first byte); later ones
            // grow to READ_BATCH_BYTES so that the reading thread and the
            // sending task hand over rarely.
            let mut limit = 1usize;
            let mut batch: Vec<(&ChunkMeta, &[u32])> = Vec::new();
            let mut bytes = 0usize;
            let send = |batch: &mut Vec<(&ChunkMeta, &[u32])>, limit: &mut usize| -> bool {
                let r = load_batch(&*storage, batch);
                batch.clear();
                *limit = READ_BATCH_BYTES;
                let failed = r.is_err();
                tx.blocking_send(r).is_ok() && !failed
            };
            for s in &streams {
                for m in &s.stored {
                    batch.push((m, &s.channel_ids));
                    bytes += m.packed as usize;
                    if bytes >= limit {
                        bytes = 0;
                        if !send(&mut batch, &mut limit) {
                            return;
                        }
                    }
                }
                if !s.volatile.is_empty() {
                    if !batch.is_empty() && !send(&mut batch, &mut limit) {
                        return;
                    }
                    bytes = 0;
                    if tx.blocking_send(Ok(s.volatile.clone())).is_err() {
                        return;
                    }
                }
            }
            if !batch.is_empty() {
                send(&mut batch, &mut limit);
            }
        });
        let chunks = tokio_stream::wrappers::ReceiverStream::new(rx).flat_map(|batch| {
            let items: Vec<Result<Chunk>> = match batch {
                Ok(v) => v.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(items)
        });
        Ok(chunks.boxed())
    }
}

/// Body frames built ahead of the response.
const FRAMES_AHEAD: usize = 4;

impl NativeStore {
    /// The body of a REST response to `req` and its exact length: frames of
    /// wire bytes built straight from the data log (see [`Frames`]). The
    /// length is worked out from the index before the first frame (so the
    /// response can carry `Content-Length`, which HTTP clients read much
    /// faster than a chunked transfer).
    pub(crate) async fn read_frames(
        &self,
        req: DataRequest,
    ) -> Result<(
        u64,
        futures::stream::BoxStream<'static, Result<bytes::Bytes>>,
    )> {
        req.validate()?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes>>(FRAMES_AHEAD);
        let (len_tx, len_rx) = tokio::sync::oneshot::channel::<Result<u64>>();
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut frames = match store.frames(&req) {
                Ok(Some((len, f))) => {
                    if len_tx.send(Ok(len)).is_err() {
                        return;
                    }
                    f
                }
                Ok(None) => {
                    let _ = len_tx.send(Ok(0));
                    return;
                }
                Err(e) => {
                    let _ = len_tx.send(Err(e));
                    return;
                }
            };
            loop {
                match frames.next_frame() {
                    Ok(Some(f)) => {
                        if tx.blocking_send(Ok(f)).is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        break;
                    }
                }
            }
            store.return_pool(frames);
        });
        let len = len_rx
            .await
            .map_err(|_| Error::Internal("read task ended early".into()))??;
        Ok((len, tokio_stream::wrappers::ReceiverStream::new(rx).boxed()))
    }

    /// The frames of a response to `req` and their total length (blocking:
    /// takes the read snapshot; no payload is read yet).
    fn frames(&self, req: &DataRequest) -> Result<Option<(u64, Frames)>> {
        let Some((storage, streams)) = self.snapshot(req)? else {
            return Ok(None);
        };
        let parts: Vec<Part> = streams
            .into_iter()
            .map(|s| Part {
                channel_ids: s.channel_ids,
                stored: s.stored,
                volatile: s.volatile,
            })
            .collect();
        let len = body_len(&parts)?;
        let pool = self
            .inner
            .frame_pool
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        Ok(Some((len, Frames::new(storage, parts, pool))))
    }

    /// Keeps the frame buffers of a finished read for the next one.
    fn return_pool(&self, frames: Frames) {
        if let Ok(mut p) = self.inner.frame_pool.lock() {
            if p.is_empty() {
                *p = frames.into_pool();
            }
        }
    }
}

/// Bytes of chunk payloads read per blocking call.
const READ_BATCH_BYTES: usize = 1024 * 1024;
/// Batches read ahead of the response.
const READ_AHEAD_BATCHES: usize = 4;

/// Reads a batch of chunks, one read per run of payloads that lie next to
/// each other in the data log (each chunk's payload is a slice of it).
fn load_batch(storage: &dyn IdentityStorage, batch: &[(&ChunkMeta, &[u32])]) -> Result<Vec<Chunk>> {
    let mut out = Vec::with_capacity(batch.len());
    let mut i = 0;
    while i < batch.len() {
        let start = batch[i].0.offset;
        let mut end = start + u64::from(batch[i].0.packed);
        let mut j = i + 1;
        while j < batch.len()
            && batch[j].0.offset == end
            && end - start < READ_BATCH_BYTES as u64 * 4
        {
            end += u64::from(batch[j].0.packed);
            j += 1;
        }
        let len = usize::try_from(end - start)
            .map_err(|_| Error::Internal("read run too large".into()))?;
        let run = storage.read_data(start, len)?;
        for (m, ch) in &batch[i..j] {
            let at = (m.offset - start) as usize;
            out.push(Chunk {
                start: m.start,
                end: m.end,
                channel_ids: ch.to_vec(),
                compression: m.compression,
                unpacked_length: m.unpacked,
                payload: run.slice(at..at + m.packed as usize),
            });
        }
        i = j;
    }
    Ok(out)
}

async fn blocking<R: Send + 'static>(f: impl FnOnce() -> Result<R> + Send + 'static) -> Result<R> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("store task failed: {e}")))?
}

#[async_trait]
impl DataSink for NativeStore {
    async fn write(&self, identity: &str, items: Vec<WriteItem>) -> Result<()> {
        let s = self.clone();
        let identity = identity.to_string();
        blocking(move || s.write_blocking(&identity, items)).await
    }

    async fn flush(&self, identity: &str) -> Result<()> {
        let s = self.clone();
        let identity = identity.to_string();
        blocking(move || s.flush_blocking(&identity)).await
    }

    async fn finish(&self, identity: &str) -> Result<()> {
        let s = self.clone();
        let identity = identity.to_string();
        blocking(move || s.seal_blocking(&identity)).await
    }

    async fn flush_all(&self) -> Result<()> {
        let s = self.clone();
        blocking(move || s.flush_all_blocking()).await
    }

    fn accepts_encoded(&self) -> bool {
        true
    }
}
