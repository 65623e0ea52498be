//! Compaction of an identity's data log.
//!
//! Merges and the packing of flush fragments replace chunks, and the
//! payloads they supersede stay in the append-only data log. A compaction
//! copies the live payloads into a new generation of the logs (stream by
//! stream, each in time order, so that a read of a channel is one run of the
//! new log), writes an index holding just the stream declarations and the
//! live chunks at their new offsets, and switches the identity over with
//! [`LogRewrite::commit`], atomically as far as a crash is concerned.
//!
//! It runs in three steps, so that writers are held up only briefly:
//!
//! 1. Under the identity lock: pending index operations are synced, the
//!    live chunks listed, and the rewrite begun.
//! 2. Without the lock: the listed payloads are copied. The old data log
//!    is append-only, so they do not change meanwhile; writers go on
//!    appending to it.
//! 3. Under the lock again: pending operations are synced once more, the
//!    payloads appended since step 1 that are still live are copied, the
//!    new index is written and committed, and the in-memory chunk offsets
//!    and storage handle are switched together.
//!
//! A read takes the storage handle and the chunk offsets together under the
//! identity lock, so a read begun before the switch goes on reading the old
//! data log through its handle (the file backend keeps the file open, even
//! once its name is removed) and one begun after reads the new one.

use std::collections::{HashMap, HashSet};
use std::sync::{mpsc, Arc, Mutex, PoisonError, Weak};

use rta_core::{Error, Result};

use super::{sync, Inner, NativeStore, State};
use crate::native::backend::{IdentityStorage, LogRewrite};
use crate::native::format::{frame, op, AddChunk, IndexRecord, Op, StreamDef};
use crate::native::kind::StoredItem;
use crate::native::stream::{ChunkMeta, Stream};

/// Bytes copied per read of the old data log (a run of payloads that lie
/// next to each other; a larger payload is copied in one piece).
const COPY_RUN_BYTES: usize = 4 * 1024 * 1024;

/// Index operations per record of the new index.
const OPS_PER_RECORD: usize = 8192;

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Chunk payloads copied to the new data log.
    pub chunks: usize,
    /// Bytes the identity used on storage before (both logs).
    pub stored_before: u64,
    /// Bytes the identity used on storage after.
    pub stored_after: u64,
}

/// What a compaction needs of a stream, whatever its item type.
trait LiveChunks {
    fn definition(&self) -> Option<StreamDef>;
    fn chunks(&self) -> &[ChunkMeta];
    fn chunks_mut(&mut self) -> &mut [ChunkMeta];
}

impl<T: StoredItem> LiveChunks for Stream<T> {
    fn definition(&self) -> Option<StreamDef> {
        Stream::definition(self)
    }
    fn chunks(&self) -> &[ChunkMeta] {
        &self.chunks
    }
    fn chunks_mut(&mut self) -> &mut [ChunkMeta] {
        &mut self.chunks
    }
}

/// Every stream of an identity, in the order of the new data log.
fn streams(st: &mut State) -> Vec<&mut dyn LiveChunks> {
    let mut out: Vec<&mut dyn LiveChunks> = Vec::new();
    each_stream!(st, s => out.push(s));
    out
}

/// Copies the payloads `plan` names (`(offset, length)` in the old data
/// log) to the end of the new one, recording where each went.
/// Returns false, having copied only part, as soon as `go_on` does.
fn copy(
    old: &dyn IdentityStorage,
    rw: &mut dyn LogRewrite,
    plan: &[(u64, u32)],
    moved: &mut HashMap<u64, u64>,
    go_on: &dyn Fn() -> bool,
) -> Result<bool> {
    let mut buf = Vec::new();
    let mut i = 0;
    while i < plan.len() {
        if !go_on() {
            return Ok(false);
        }
        let start = plan[i].0;
        let mut end = start + u64::from(plan[i].1);
        let mut j = i + 1;
        while j < plan.len() && plan[j].0 == end && end - start < COPY_RUN_BYTES as u64 {
            end += u64::from(plan[j].1);
            j += 1;
        }
        let len = usize::try_from(end - start)
            .map_err(|_| Error::Internal("compaction run too large".into()))?;
        buf.resize(len, 0);
        old.read_data_into(start, &mut buf)?;
        let at = rw.append_data(&buf)?;
        for (offset, _) in &plan[i..j] {
            moved.insert(*offset, at + (offset - start));
        }
        i = j;
    }
    Ok(true)
}

/// Frames index operations as records for a new index log.
fn checkpoint(ops: Vec<Op>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ops = ops.into_iter().peekable();
    while ops.peek().is_some() {
        let rec = IndexRecord {
            ops: ops.by_ref().take(OPS_PER_RECORD).collect(),
        };
        out.extend_from_slice(&frame(&rec));
    }
    out
}

impl NativeStore {
    /// Compacts an identity's logs (blocking): the live chunk payloads are
    /// copied into a new data log, a new index naming only them is written,
    /// and the identity is switched over atomically, so the space of
    /// superseded payloads (left by merges of late data and the packing of
    /// flush fragments) and of replayed index operations is given back.
    ///
    /// Safe at any time: writes may continue meanwhile (they wait only for
    /// the short final step), reads already under way keep reading the old
    /// data log, and a crash at any point leaves the identity as it was
    /// before or as it is after, with all flushed data. Sealing an identity
    /// does this by itself in the background when enough of it is
    /// superseded (see [`NativeConfig::compact_dead_fraction`](super::NativeConfig::compact_dead_fraction)).
    ///
    /// Returns `None` when the identity does not exist or the backend
    /// cannot rewrite logs.
    ///
    /// ```
    /// use rta_core::write::WriteItem;
    /// use rta_adapters::native::{NativeConfig, NativeStore};
    /// use rta_core::data::periodic;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
    /// for k in 0..10i64 {
    ///     // A flush every 100 samples leaves fragments, packed again on seal.
    ///     let v: Vec<f64> = (0..100).map(|i| (k * 100 + i) as f64).collect();
    ///     let item = periodic(1, k * 100_000_000, 1_000_000, &v).unwrap();
    ///     store.write_blocking("s1", vec![WriteItem::Periodic(item)]).unwrap();
    ///     store.flush_blocking("s1").unwrap();
    /// }
    /// store.seal_blocking("s1").unwrap();
    /// let report = store.compact_blocking("s1").unwrap().unwrap();
    /// assert!(report.stored_after < report.stored_before);
    /// let stats = store.identity_stats("s1").unwrap();
    /// assert_eq!(stats.samples, 1000);
    /// assert!(stats.stored_bytes < stats.payload_bytes + 200);
    /// ```
    pub fn compact_blocking(&self, identity: &str) -> Result<Option<CompactionReport>> {
        self.compact(identity, &|| true)
    }

    /// The compaction; abandoned (`None`, nothing changed) as soon as
    /// `go_on` returns false.
    fn compact(
        &self,
        identity: &str,
        go_on: &dyn Fn() -> bool,
    ) -> Result<Option<CompactionReport>> {
        let Some(id) = self.identity(identity, false)? else {
            return Ok(None);
        };
        let _only = id
            .compacting
            .lock()
            .map_err(|_| Error::Internal("compaction lock poisoned".into()))?;

        // 1. Everything written so far in the index, the live chunks listed.
        let (old, cut, plan, mut rw) = {
            let mut st = id.lock()?;
            let old = id.storage();
            sync(&*old, &mut st)?;
            let Some(rw) = self.inner.backend.rewrite(identity)? else {
                return Ok(None);
            };
            let plan: Vec<(u64, u32)> = streams(&mut st)
                .iter()
                .flat_map(|s| s.chunks().iter().map(|c| (c.offset, c.packed)))
                .collect();
            (old.clone(), old.data_len(), plan, rw)
        };
        let stored_before = old.stored_bytes();

        // 2. The copy, while writers go on.
        let mut moved = HashMap::with_capacity(plan.len());
        if !copy(&*old, &mut *rw, &plan, &mut moved, go_on)? {
            return Ok(None);
        }
        rw.sync_data()?;

        // 3. The switch.
        let mut st = id.lock()?;
        let current = self
            .map()?
            .get(identity)
            .is_some_and(|x| Arc::ptr_eq(x, &id));
        if !current || !Arc::ptr_eq(&id.storage(), &old) {
            return Err(Error::Internal(format!(
                "identity {identity:?} was deleted or replaced during its compaction"
            )));
        }
        // Operations since step 1 name old offsets: into the old index with
        // them, so that nothing is pending once the offsets change.
        sync(&*old, &mut st)?;
        let mut streams = streams(&mut st);
        let tail: Vec<(u64, u32)> = streams
            .iter()
            .flat_map(|s| s.chunks().iter())
            .filter(|c| c.offset >= cut)
            .map(|c| (c.offset, c.packed))
            .collect();
        if !copy(&*old, &mut *rw, &tail, &mut moved, go_on)? || !go_on() {
            return Ok(None);
        }
        let mut ops = Vec::new();
        let mut offsets: Vec<Vec<u64>> = Vec::with_capacity(streams.len());
        for s in &streams {
            let chunks = s.chunks();
            match s.definition() {
                Some(def) => ops.push(Op {
                    kind: Some(op::Kind::Stream(def)),
                }),
                None if chunks.is_empty() => {
                    offsets.push(Vec::new());
                    continue;
                }
                None => {
                    return Err(Error::Internal(
                        "a stream holds chunks but was never declared".into(),
                    ))
                }
            }
            let stream_id = s.definition().map_or(0, |d| d.stream_id);
            let mut new = Vec::with_capacity(chunks.len());
            for c in chunks {
                // Live now and older than the cut means live at step 1 too
                // (a removed chunk never comes back): it was copied.
                let offset = *moved.get(&c.offset).ok_or_else(|| {
                    Error::Internal(format!(
                        "chunk at offset {} of identity {identity:?} was not copied",
                        c.offset
                    ))
                })?;
                new.push(offset);
                ops.push(Op {
                    kind: Some(op::Kind::Add(AddChunk {
                        stream_id,
                        start: c.start,
                        end: c.end,
                        offset,
                        packed_length: c.packed,
                        unpacked_length: c.unpacked,
                        compression: c.compression.code(),
                        samples: c.samples,
                        fragment: c.fragment,
                    })),
                });
            }
            offsets.push(new);
        }
        let chunks = moved.len();
        let new = rw.commit(&checkpoint(ops))?;
        // Committed: the logs on storage are the new ones, so the state in
        // memory follows without anything that can fail.
        for (s, offs) in streams.iter_mut().zip(offsets) {
            for (c, o) in s.chunks_mut().iter_mut().zip(offs) {
                c.offset = o;
            }
        }
        drop(streams);
        *id.storage.write().unwrap_or_else(PoisonError::into_inner) = new.clone();
        drop(st);
        Ok(Some(CompactionReport {
            chunks,
            stored_before,
            stored_after: new.stored_bytes(),
        }))
    }

    /// True when superseded bytes make up enough of an identity's storage
    /// for [`NativeConfig::compact_dead_fraction`](super::NativeConfig::compact_dead_fraction).
    fn worth_compacting(&self, identity: &str) -> bool {
        let cfg = &self.inner.config;
        // NaN turns automatic compaction off too.
        if cfg.compact_dead_fraction.is_nan() || cfg.compact_dead_fraction >= 1.0 {
            return false;
        }
        match self.identity_stats(identity) {
            Ok(s) => {
                let dead = s.stored_bytes.saturating_sub(s.payload_bytes);
                dead > 0
                    && dead >= cfg.compact_min_dead_bytes
                    && dead as f64 > cfg.compact_dead_fraction * s.stored_bytes as f64
            }
            Err(_) => false,
        }
    }

    /// Starts a background compaction of an identity if it is worth it.
    pub(super) fn compact_if_worthwhile(&self, identity: &str) {
        if self.worth_compacting(identity) {
            self.inner.compactor.schedule(self, identity);
        }
    }
}

/// The background compactions of a store: one thread, started with the
/// first one, working through a queue of identities (each queued once).
#[derive(Default)]
pub(super) struct Compactor {
    queue: Mutex<Option<mpsc::Sender<String>>>,
    queued: Arc<Mutex<HashSet<String>>>,
}

impl Compactor {
    fn schedule(&self, store: &NativeStore, identity: &str) {
        {
            let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
            if !queued.insert(identity.to_string()) {
                return;
            }
        }
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.is_none() {
            let (tx, rx) = mpsc::channel();
            let inner = Arc::downgrade(&store.inner);
            let queued = self.queued.clone();
            let spawned = std::thread::Builder::new()
                .name("rta-native-compact".into())
                .spawn(move || compact_queue(inner, rx, queued));
            match spawned {
                Ok(_) => *queue = Some(tx),
                Err(e) => tracing::warn!(error = %e, "native store: no compaction thread"),
            }
        }
        let sent = queue
            .as_ref()
            .is_some_and(|tx| tx.send(identity.to_string()).is_ok());
        if !sent {
            *queue = None;
            self.queued
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(identity);
        }
    }
}

/// The compaction thread: runs until the store is dropped.
fn compact_queue(
    inner: Weak<Inner>,
    rx: mpsc::Receiver<String>,
    queued: Arc<Mutex<HashSet<String>>>,
) {
    while let Ok(identity) = rx.recv() {
        // A seal from now on queues the identity again.
        queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&identity);
        let Some(inner) = inner.upgrade() else {
            break;
        };
        let store = NativeStore { inner };
        if !store.worth_compacting(&identity) {
            continue;
        }
        // Once every other handle of the store is dropped, the store is
        // closed: stop rather than keep its files busy behind the back of
        // a store opened again on the same directory.
        let open = || Arc::strong_count(&store.inner) > 1;
        match store.compact(&identity, &open) {
            Ok(Some(r)) => tracing::info!(
                identity = %identity,
                chunks = r.chunks,
                before = r.stored_before,
                after = r.stored_after,
                "native store: compacted"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(
                identity = %identity,
                error = %e,
                "native store: compaction failed (the identity is unchanged)"
            ),
        }
    }
}
