//! One stream of the native store: the chunks of one channel (timestamped or
//! periodic data), one row group, or the events of a data identity.
//!
//! Writes that come after everything stored (the usual case) go into the
//! open chunk and are packed on the stream's grid without re-encoding. A
//! write that starts at or before the latest stored time is *late*: at the
//! end of the write batch it is merged with the stored chunks it overlaps,
//! and those chunks are replaced, so the stream never holds overlapping
//! chunks or results. Chunks closed early (by a flush or memory pressure)
//! are marked as fragments, and the fragments of a cell are packed again
//! once the writer has moved on to a later cell.

use rta_core::chunk::{Chunk, ChunkGrid, Compression, PREFERRED_LIST_BYTES};
use rta_core::data::{DataItem, DataList};
use rta_core::encoded::EncodedSeries;
use rta_core::{Error, Result};

use super::backend::IdentityStorage;
use super::format::{op, AddChunk, Op, RemoveChunk, StreamDef};
use super::kind::StoredItem;
use super::packer::{split_cells, Built, PackLimits, Packer};

/// Items kept before a grid is chosen when they show no rate by themselves.
const PRE_ITEMS: usize = 64;

/// Grid used when nothing tells the rate (a single sample).
const DEFAULT_PERIOD_NS: i64 = 100_000_000_000;

/// Where one stored chunk is, and what it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkMeta {
    pub start: i64,
    pub end: i64,
    pub offset: u64,
    pub packed: u32,
    pub unpacked: u32,
    pub compression: Compression,
    pub samples: u32,
    pub fragment: bool,
}

/// What a stream operation needs from its identity.
pub(crate) struct Ctx<'a> {
    pub storage: &'a dyn IdentityStorage,
    pub ops: &'a mut Vec<Op>,
    pub limits: PackLimits,
    pub merge_run: usize,
}

/// One stream.
#[derive(Debug)]
pub(crate) struct Stream<T: StoredItem> {
    pub id: u32,
    pub channel_ids: Vec<u32>,
    pub width: u32,
    defined: bool,
    pub chunks: Vec<ChunkMeta>,
    pre: Vec<T>,
    pre_bytes: usize,
    packer: Option<Packer<T>>,
    cur_cell: Option<i64>,
    hwm: Option<i64>,
    late: Vec<T>,
    late_bytes: usize,
    /// Chunks closed during the current batch (a write, a flush), not
    /// stored yet, each with its fragment flag: the store compresses them
    /// in parallel and then stores them in order
    /// ([`Stream::store_pending`]) before the identity's lock is released.
    /// Only a failed append leaves some here, for the next batch.
    pending: Vec<(Built, bool)>,
}

/// Late items merged together: the span they cover, widened to the chunks
/// they touch, and the items with their places in the batch.
type LateCluster<T> = (i64, i64, Vec<(usize, T)>);

fn overlapping(chunks: &[ChunkMeta], start: i64, end: i64) -> (usize, usize) {
    // Chunks are sorted and never overlap, so ends are sorted too.
    let lo = chunks.partition_point(|c| c.end < start);
    let hi = chunks.partition_point(|c| c.start <= end);
    (lo, hi.max(lo))
}

impl<T: StoredItem> Stream<T> {
    pub fn new(id: u32, channel_ids: Vec<u32>) -> Self {
        Self {
            id,
            channel_ids,
            width: 0,
            defined: false,
            chunks: Vec::new(),
            pre: Vec::new(),
            pre_bytes: 0,
            packer: None,
            cur_cell: None,
            hwm: None,
            late: Vec::new(),
            late_bytes: 0,
            pending: Vec::new(),
        }
    }

    /// A stream as declared in the index.
    pub fn from_def(def: &StreamDef, limits: PackLimits) -> Result<Self> {
        let grid = ChunkGrid::new(def.grid_period)?;
        let mut s = Self::new(def.stream_id, def.channel_ids.clone());
        s.width = def.width;
        s.defined = true;
        s.packer = Some(Packer::new(grid, limits));
        Ok(s)
    }

    /// Adds a chunk while replaying the index.
    pub fn replay_add(&mut self, a: &AddChunk) -> Result<()> {
        let meta = ChunkMeta {
            start: a.start,
            end: a.end,
            offset: a.offset,
            packed: a.packed_length,
            unpacked: a.unpacked_length,
            compression: Compression::from_code(a.compression)?,
            samples: a.samples,
            fragment: a.fragment,
        };
        self.insert(meta);
        Ok(())
    }

    /// Removes a chunk while replaying the index.
    pub fn replay_remove(&mut self, r: &RemoveChunk) {
        let from = self.chunks.partition_point(|c| c.start < r.start);
        if let Some(i) = self.chunks[from..]
            .iter()
            .take_while(|c| c.start == r.start)
            .position(|c| c.offset == r.offset)
        {
            self.chunks.remove(from + i);
        }
    }

    /// Sets the write position after replaying the index.
    pub fn after_replay(&mut self) {
        if let (Some(last), Some(p)) = (self.chunks.last(), self.packer.as_ref()) {
            self.hwm = Some(last.end);
            self.cur_cell = Some(p.grid.cell_start(last.start));
        }
    }

    fn insert(&mut self, meta: ChunkMeta) {
        if self.chunks.last().is_none_or(|l| l.start <= meta.start) {
            self.chunks.push(meta);
        } else {
            let at = self.chunks.partition_point(|c| c.start <= meta.start);
            self.chunks.insert(at, meta);
        }
    }

    /// The grid, once chosen.
    pub fn grid(&self) -> Option<ChunkGrid> {
        self.packer.as_ref().map(|p| p.grid)
    }

    /// Bytes buffered in memory.
    pub fn buffered(&self) -> usize {
        self.pre_bytes
            + self.late_bytes
            + self.packer.as_ref().map_or(0, Packer::bytes)
            + self.pending.iter().map(|(b, _)| b.bytes()).sum::<usize>()
    }

    /// Chunks closed but not stored yet, for compressing them elsewhere.
    pub fn pending_mut(&mut self) -> impl Iterator<Item = &mut Built> {
        self.pending.iter_mut().map(|(b, _)| b)
    }

    /// Stores the chunks closed but not stored yet, in order (compressing
    /// those not compressed yet).
    /// When one fails, it and the ones after it stay pending, for the
    /// next batch to store (reads serve them meanwhile).
    pub fn store_pending(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        let mut pending = std::mem::take(&mut self.pending).into_iter();
        while let Some((mut b, fragment)) = pending.next() {
            match self.store(&mut b, fragment, ctx) {
                Ok(meta) => {
                    self.insert(meta);
                    if let Some(p) = self.packer.as_mut() {
                        p.recycle(b);
                    }
                }
                Err(e) => {
                    self.pending.push((b, fragment));
                    self.pending.extend(pending);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// True when late items wait for [`Stream::process_late`].
    pub fn has_late(&self) -> bool {
        !self.late.is_empty()
    }

    /// Adds one item.
    pub fn write(&mut self, item: T, ctx: &mut Ctx<'_>) -> Result<()> {
        let Some(bounds) = item.time_bounds() else {
            return Ok(());
        };
        if let Some(w) = item.width() {
            let w = u32::try_from(w).map_err(|_| Error::Data("sample too wide".into()))?;
            if self.width == 0 {
                self.width = w;
            } else if self.width != w {
                return Err(Error::Data(format!(
                    "channel {} holds {}-byte samples; got {w}-byte samples",
                    self.channel_ids.first().copied().unwrap_or_default(),
                    self.width
                )));
            }
        }
        if self.packer.is_none() {
            let len = prost::Message::encoded_len(&item);
            self.pre_bytes += len;
            self.pre.push(item);
            if let Some(grid) = self.estimate_grid(ctx.limits, false) {
                self.start_grid(grid, ctx)?;
            }
            return Ok(());
        }
        self.route(item, bounds, ctx)
    }

    /// Adds one encoded item. In the usual case (after everything stored,
    /// within one grid cell, no longer than a result) its bytes go into the
    /// open chunk's list as they are; otherwise it is decoded and written
    /// like a typed item.
    pub fn write_encoded(&mut self, e: &EncodedSeries, ctx: &mut Ctx<'_>) -> Result<()> {
        let bounds = (e.start(), e.end());
        let fast = self.width as usize == e.width()
            && self.hwm.is_some_and(|h| bounds.0 > h)
            && e.samples() <= ctx.limits.max_result_samples
            && self
                .grid()
                .is_some_and(|g| bounds.1 <= g.cell_end(bounds.0));
        if !fast {
            return self.write(e.decode::<T>()?, ctx);
        }
        let Some(grid) = self.grid() else {
            return Err(Error::Internal("stream without grid".into()));
        };
        self.pack_in_cell(grid.cell_start(bounds.0), ctx, |p, out| {
            p.push_encoded(e.raw(), bounds, e.samples(), out)
        })?;
        self.hwm = Some(self.hwm.map_or(bounds.1, |h| h.max(bounds.1)));
        Ok(())
    }

    fn estimate_grid(&self, limits: PackLimits, force: bool) -> Option<ChunkGrid> {
        if self.pre.is_empty() {
            return None;
        }
        let samples: usize = self.pre.iter().map(DataItem::sample_count).sum();
        let per_sample = (self.pre_bytes as f64 / samples.max(1) as f64).max(1.0);
        let target = ((limits.target_list_bytes as f64 / per_sample) as usize).max(1);
        if let Some(rate) = self.pre.iter().find_map(StoredItem::rate_hint) {
            return Some(ChunkGrid::for_rate(rate, target));
        }
        if !force && self.pre.len() < PRE_ITEMS && self.pre_bytes < limits.target_list_bytes {
            return None;
        }
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for (s, e) in self.pre.iter().filter_map(DataItem::time_bounds) {
            lo = lo.min(s);
            hi = hi.max(e);
        }
        if samples >= 2 && hi > lo {
            let rate = (samples - 1) as f64 * 1e9 / (hi - lo) as f64;
            Some(ChunkGrid::for_rate(rate, target))
        } else {
            ChunkGrid::new(DEFAULT_PERIOD_NS).ok()
        }
    }

    fn start_grid(&mut self, grid: ChunkGrid, ctx: &mut Ctx<'_>) -> Result<()> {
        self.packer = Some(Packer::new(grid, ctx.limits));
        let mut pre = std::mem::take(&mut self.pre);
        self.pre_bytes = 0;
        pre.sort_by_key(|i| i.time_bounds().map_or(i64::MIN, |b| b.0));
        for it in pre {
            if let Some(b) = it.time_bounds() {
                self.route(it, b, ctx)?;
            }
        }
        Ok(())
    }

    fn route(&mut self, item: T, (s, e): (i64, i64), ctx: &mut Ctx<'_>) -> Result<()> {
        if self.hwm.is_none_or(|h| s > h) {
            self.push_in_order(item, (s, e), ctx)?;
        } else {
            let len = prost::Message::encoded_len(&item);
            self.late_bytes += len;
            self.late.push(item);
        }
        self.hwm = Some(self.hwm.map_or(e, |h| h.max(e)));
        Ok(())
    }

    fn push_in_order(&mut self, item: T, bounds: (i64, i64), ctx: &mut Ctx<'_>) -> Result<()> {
        let Some(grid) = self.grid() else {
            return Err(Error::Internal("stream without grid".into()));
        };
        if bounds.1 <= grid.cell_end(bounds.0) {
            return self.push_piece(grid, item, bounds, ctx);
        }
        for piece in split_cells(&grid, item)? {
            if let Some(b) = piece.time_bounds() {
                self.push_piece(grid, piece, b, ctx)?;
            }
        }
        Ok(())
    }

    fn push_piece(
        &mut self,
        grid: ChunkGrid,
        piece: T,
        bounds: (i64, i64),
        ctx: &mut Ctx<'_>,
    ) -> Result<()> {
        self.pack_in_cell(grid.cell_start(bounds.0), ctx, |p, out| {
            p.push_in_cell(piece, bounds, out)
        })
    }

    /// Runs `add` on the packer for an item of grid cell `cell`: a new cell
    /// first completes the open chunk and packs the previous cell's
    /// fragments again. Chunks the packer closes are stored.
    fn pack_in_cell(
        &mut self,
        cell: i64,
        ctx: &mut Ctx<'_>,
        add: impl FnOnce(&mut Packer<T>, &mut Vec<Built>) -> Result<()>,
    ) -> Result<()> {
        if self.cur_cell != Some(cell) {
            // The stream goes on in the next cell: buffers are kept.
            if let Some(b) = self
                .packer
                .as_mut()
                .map(Packer::close_cell)
                .transpose()?
                .flatten()
            {
                self.append_chunk(b, false);
            }
            if let Some(prev) = self.cur_cell {
                self.compact_cell(prev, ctx)?;
            }
            self.cur_cell = Some(cell);
        }
        let mut out = Vec::new();
        if let Some(p) = self.packer.as_mut() {
            add(p, &mut out)?;
        }
        for b in out {
            self.append_chunk(b, false);
        }
        Ok(())
    }

    /// Closes the open chunk (a fragment when closed before its time).
    pub fn complete_open(&mut self, fragment: bool) -> Result<()> {
        let Some(p) = self.packer.as_mut() else {
            return Ok(());
        };
        if let Some(b) = p.finish()? {
            self.append_chunk(b, fragment);
        }
        Ok(())
    }

    /// The stream's declaration as the index holds it; `None` until it has
    /// been declared (with its first stored chunk). Compaction writes it
    /// into the new index.
    pub fn definition(&self) -> Option<StreamDef> {
        let grid = self.grid().filter(|_| self.defined)?;
        Some(StreamDef {
            stream_id: self.id,
            kind: T::CODE,
            channel_ids: self.channel_ids.clone(),
            grid_period: grid.period(),
            width: self.width,
        })
    }

    fn define(&mut self, ctx: &mut Ctx<'_>) {
        if self.defined {
            return;
        }
        if let Some(grid) = self.grid() {
            ctx.ops.push(Op {
                kind: Some(op::Kind::Stream(StreamDef {
                    stream_id: self.id,
                    kind: T::CODE,
                    channel_ids: self.channel_ids.clone(),
                    grid_period: grid.period(),
                    width: self.width,
                })),
            });
            self.defined = true;
        }
    }

    fn store(&mut self, b: &mut Built, fragment: bool, ctx: &mut Ctx<'_>) -> Result<ChunkMeta> {
        self.define(ctx);
        let samples = u32::try_from(b.samples).unwrap_or(u32::MAX);
        let unpacked = b.unpacked()?;
        let payload = b.payload();
        let packed = u32::try_from(payload.len())
            .map_err(|_| Error::Internal("chunk payload too large".into()))?;
        let offset = ctx.storage.append_data(payload)?;
        let meta = ChunkMeta {
            start: b.start,
            end: b.end,
            offset,
            packed,
            unpacked,
            compression: b.compression(),
            samples,
            fragment,
        };
        ctx.ops.push(Op {
            kind: Some(op::Kind::Add(AddChunk {
                stream_id: self.id,
                start: meta.start,
                end: meta.end,
                offset,
                packed_length: packed,
                unpacked_length: meta.unpacked,
                compression: meta.compression.code(),
                samples,
                fragment,
            })),
        });
        Ok(meta)
    }

    /// A chunk the packer closed waits in `pending` for the end of the
    /// batch.
    fn append_chunk(&mut self, b: Built, fragment: bool) {
        self.pending.push((b, fragment));
    }

    /// Replaces `chunks[range]` by newly built chunks covering the same data.
    fn replace(
        &mut self,
        range: std::ops::Range<usize>,
        built: Vec<Built>,
        ctx: &mut Ctx<'_>,
    ) -> Result<()> {
        for old in &self.chunks[range.clone()] {
            ctx.ops.push(Op {
                kind: Some(op::Kind::Remove(RemoveChunk {
                    stream_id: self.id,
                    offset: old.offset,
                    start: old.start,
                })),
            });
        }
        let mut metas = Vec::with_capacity(built.len());
        for mut b in built {
            metas.push(self.store(&mut b, false, ctx)?);
        }
        self.chunks.splice(range, metas);
        Ok(())
    }

    /// The chunk as stored.
    pub fn load_chunk(&self, meta: &ChunkMeta, storage: &dyn IdentityStorage) -> Result<Chunk> {
        let payload = storage.read_data(meta.offset, meta.packed as usize)?;
        Ok(Chunk {
            start: meta.start,
            end: meta.end,
            channel_ids: self.channel_ids.clone(),
            compression: meta.compression,
            unpacked_length: meta.unpacked,
            payload,
        })
    }

    fn load_items(&self, range: std::ops::Range<usize>, ctx: &Ctx<'_>) -> Result<Vec<T>> {
        let mut items = Vec::new();
        for meta in &self.chunks[range] {
            let chunk = self.load_chunk(meta, ctx.storage)?;
            items.extend(chunk.decode_list::<T::List>()?.into_items());
        }
        Ok(items)
    }

    /// Packs the fragments of a finished cell again.
    fn compact_cell(&mut self, cell_start: i64, ctx: &mut Ctx<'_>) -> Result<()> {
        let Some(grid) = self.grid() else {
            return Ok(());
        };
        let cell_end = grid.cell_end(cell_start);
        let in_cell = |chunks: &[ChunkMeta]| {
            (
                chunks.partition_point(|c| c.start < cell_start),
                chunks.partition_point(|c| c.start <= cell_end),
            )
        };
        let (lo, hi) = in_cell(&self.chunks);
        if !self.chunks[lo..hi].iter().any(|c| c.fragment) && !self.pending.iter().any(|p| p.1) {
            return Ok(());
        }
        // The cell's chunks closed in this batch take part too.
        self.store_pending(ctx)?;
        let (lo, hi) = in_cell(&self.chunks);
        let Some(first) = (lo..hi).find(|&i| self.chunks[i].fragment) else {
            return Ok(());
        };
        let run = &self.chunks[first..hi];
        let bytes: usize = run.iter().map(|c| c.unpacked as usize).sum();
        let needed = bytes.div_ceil(ctx.limits.target_list_bytes.max(1)).max(1);
        // Packing again costs a decompression and a compression of the
        // whole run: worth it for many small fragments (a slow channel
        // flushed often), not for a few large ones (a fast channel), whose
        // chunks are already of a useful size.
        let large = bytes / run.len() >= ctx.limits.target_list_bytes / MIN_FRAGMENT_SHARE;
        if run.len() <= needed || large {
            return Ok(());
        }
        // The chunks' lists, concatenated, are the cell's items in time
        // order: packed again without decoding what scans.
        let mut p = Packer::<T>::new(grid, ctx.limits);
        let mut built = Vec::new();
        for meta in run {
            let list = self.load_chunk(meta, ctx.storage)?.unpacked()?;
            p.push_list(&list, &mut built)?;
        }
        built.extend(p.finish()?);
        self.replace(first..hi, built, ctx)
    }

    /// Merges the late items of this batch with the chunks they overlap.
    pub fn process_late(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        if self.late.is_empty() {
            return Ok(());
        }
        let Some(grid) = self.grid() else {
            return Err(Error::Internal("late data on a stream without grid".into()));
        };
        // Late items are merged with stored chunks, so every chunk closed
        // so far must be stored.
        self.complete_open(true)?;
        self.store_pending(ctx)?;
        // Each item with its place in the batch: a merge lets the later of
        // two writes at the same time win, whatever their start times.
        let mut late: Vec<(usize, T)> = std::mem::take(&mut self.late)
            .into_iter()
            .enumerate()
            .collect();
        self.late_bytes = 0;
        late.sort_by_key(|(_, i)| i.time_bounds().map_or(i64::MIN, |b| b.0));
        // Group late items whose ranges, widened to the chunks they touch, overlap.
        let mut clusters: Vec<LateCluster<T>> = Vec::new();
        for (n, it) in late {
            let Some((s, e)) = it.time_bounds() else {
                continue;
            };
            let (lo, hi) = overlapping(&self.chunks, s, e);
            let (mut s2, mut e2) = (s, e);
            if lo < hi {
                s2 = s2.min(self.chunks[lo].start);
                e2 = e2.max(self.chunks[hi - 1].end);
            }
            match clusters.last_mut() {
                Some(c) if s2 <= c.1 => {
                    c.0 = c.0.min(s2);
                    c.1 = c.1.max(e2);
                    c.2.push((n, it));
                }
                _ => clusters.push((s2, e2, vec![(n, it)])),
            }
        }
        for (s, e, mut items) in clusters {
            let (lo, hi) = overlapping(&self.chunks, s, e);
            let mut all = self.load_items(lo..hi, ctx)?;
            items.sort_by_key(|(n, _)| *n);
            all.extend(items.into_iter().map(|(_, it)| it));
            let merged = T::merge_items(all, ctx.merge_run)?;
            let built = Packer::pack_all(grid, ctx.limits, merged)?;
            self.replace(lo..hi, built, ctx)?;
        }
        Ok(())
    }

    /// Makes everything buffered part of a chunk (for a flush); the
    /// chunks are stored by [`Stream::store_pending`].
    pub fn flush(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        self.settle_buffers(ctx)?;
        self.complete_open(true)
    }

    /// Places items kept before a grid was chosen and merges late items.
    fn settle_buffers(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        if self.packer.is_none() && !self.pre.is_empty() {
            if let Some(grid) = self.estimate_grid(ctx.limits, true) {
                self.start_grid(grid, ctx)?;
            }
        }
        self.process_late(ctx)
    }

    /// What a stream looks like once its writer has finished: the open
    /// chunk is closed as a final chunk (not a fragment: it is not packed
    /// again), and fragments of the current cell left by earlier flushes
    /// are packed.
    pub fn seal(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        self.settle_buffers(ctx)?;
        self.complete_open(false)?;
        if let Some(cell) = self.cur_cell {
            self.compact_cell(cell, ctx)?;
        }
        Ok(())
    }

    /// Stored chunks overlapping `[start, end]`, and chunks built on the fly
    /// from data still in memory.
    pub fn snapshot(
        &self,
        start: i64,
        end: i64,
        limits: PackLimits,
    ) -> Result<(Vec<ChunkMeta>, Vec<Chunk>)> {
        let (lo, hi) = overlapping(&self.chunks, start, end);
        let stored = self.chunks[lo..hi].to_vec();
        let mut volatile = Vec::new();
        // Chunks left pending by a failed append (see `store_pending`).
        for (b, _) in &self.pending {
            if b.end >= start && b.start <= end {
                volatile.push(b.chunk_as(self.channel_ids.clone(), Compression::None)?);
            }
        }
        let (grid, mut items): (ChunkGrid, Vec<T>) = match &self.packer {
            Some(p) => (p.grid, p.items()?),
            None => (ChunkGrid::new(DEFAULT_PERIOD_NS)?, self.pre.clone()),
        };
        if items.is_empty() {
            return Ok((stored, volatile));
        }
        items.sort_by_key(|i| i.time_bounds().map_or(i64::MIN, |b| b.0));
        if self.packer.is_none() {
            items = T::merge_items(items, PACK_RUN)?;
        }
        for b in Packer::pack_all(grid, limits, items)? {
            if b.end >= start && b.start <= end {
                volatile.push(b.into_chunk(self.channel_ids.clone())?);
            }
        }
        Ok((stored, volatile))
    }

    /// `(chunks, samples, payload bytes)` stored.
    pub fn totals(&self) -> (usize, u64, u64) {
        let samples = self.chunks.iter().map(|c| u64::from(c.samples)).sum();
        let bytes = self.chunks.iter().map(|c| u64::from(c.packed)).sum();
        (self.chunks.len(), samples, bytes)
    }
}

/// Fragments of a cell are packed again only when they average less than
/// this share (1/4) of the target list size.
const MIN_FRAGMENT_SHARE: usize = 4;

/// Samples per result when data is re-encoded by a merge.
pub(crate) const PACK_RUN: usize = 128;

/// Default target size of a chunk list.
pub(crate) const TARGET_LIST_BYTES: usize = PREFERRED_LIST_BYTES;
