//! The binding transformer: rewrites the chunks a data service serves for
//! one binding into chunks of the session.
//!
//! Each chunk takes the cheapest path that gives a correct result:
//!
//! | path | when | cost |
//! | --- | --- | --- |
//! | *drop* | wholly outside the binding's time range, or no bound/requested channel | none |
//! | *pass-through* | no change needed | none: the payload [`Bytes`] is moved, not copied |
//! | *patch* | time offset and/or channel shift | decompress, overwrite a few bytes per result, compress |
//! | *rebuild* | as *patch*, but an id grows or a zero field must be written | as *patch* plus one copy |
//! | *cut* | LZ4 chunk straddling only the end bound, nothing else to change | decompress, encode the one result cut; the compressed bytes before it are kept |
//! | *decode* | straddles a time bound, or holds channels to filter out | protobuf decode, split results, encode |
//!
//! Header times are deltas from the previous chunk *of the output*, so the
//! transformer works on [`Chunk`] values and leaves the header encoding to
//! whoever writes the wire ([`rta_core::chunk::ChunkEncoder`]).
//!
//! ```
//! use bytes::Bytes;
//! use rta_bindings::transform::{ChannelMap, Transform, Transformer};
//! use rta_core::chunk::{Chunk, Compression};
//! use rta_core::data::{periodic, DataKind};
//! use rta_core::proto::data::PeriodicDataList;
//!
//! let list = PeriodicDataList { periodic_data: vec![periodic(3, 1_000, 10, &[1.0f64, 2.0]).unwrap()] };
//! let chunk = Chunk::from_list(&list, Compression::Lz4).unwrap().unwrap();
//!
//! // Nothing to change: the payload is passed through.
//! let mut t = Transformer::new(Transform::new(DataKind::Periodic));
//! let mut out = Vec::new();
//! t.push(chunk.clone(), &mut out).unwrap();
//! assert_eq!(out[0].payload.as_ptr(), chunk.payload.as_ptr());
//!
//! // 300 ns later and on channel 53: start, end, channel and payload change.
//! let mut t = Transformer::new(
//!     Transform::new(DataKind::Periodic)
//!         .with_offset(300)
//!         .with_channel_map(ChannelMap::single(0, 9, 50)),
//! );
//! out.clear();
//! t.push(chunk, &mut out).unwrap();
//! assert_eq!((out[0].start, out[0].end, out[0].channel_ids.clone()), (1_300, 1_310, vec![53]));
//! let back: PeriodicDataList = out[0].decode_list().unwrap();
//! assert_eq!(back.periodic_data[0].start_timestamp, 1_300);
//! ```

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::stream::{Stream, StreamExt};
use prost::Message;
use rta_core::channels::ChannelExpr;
use rta_core::chunk::{Chunk, Compression, MAX_LIST_BYTES};
use rta_core::data::{DataKind, DataList, ListOf};
use rta_core::proto::data::{Event, PeriodicData, RowData, TimestampedData};
use rta_core::service::ChunkStream;

use crate::model::{DataBinding, DataBindingKey};
use crate::wire::{self, Edit, Patch, WireError};
use crate::{BindingStream, Error, Result};

/// Largest list a chunk may unpack to: the spec's 4 MiB limit, with the
/// same margin as [`rta_core::chunk::ChunkDecoder::new`].
const MAX_ACCEPTED_LIST_BYTES: usize = 4 * MAX_LIST_BYTES;

/// Maps data channel ids to session channel ids: a sorted set of disjoint
/// data ranges, each with its shift (session minus data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMap {
    /// `(first data channel, last data channel, shift)`, sorted, disjoint.
    entries: Vec<(u32, u32, i64)>,
    any_shift: bool,
}

impl Default for ChannelMap {
    fn default() -> Self {
        Self::identity()
    }
}

impl ChannelMap {
    /// Every channel onto itself.
    pub fn identity() -> Self {
        Self {
            entries: vec![(0, u32::MAX, 0)],
            any_shift: false,
        }
    }

    /// Data channels `first_data..=last_data` onto `first_session..`; no other channel.
    pub fn single(first_data: u32, last_data: u32, first_session: u32) -> Self {
        let shift = i64::from(first_session) - i64::from(first_data);
        Self::from_ranges([(first_data, last_data, shift)])
    }

    /// From `(first data, last data, shift)` ranges; ranges that would map
    /// outside `0..=u32::MAX` are cut, later ranges overlapping earlier ones are cut.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u32, u32, i64)>) -> Self {
        let mut taken = ChannelExpr::empty();
        let mut entries = Vec::new();
        for (first, last, shift) in ranges {
            if last < first {
                continue;
            }
            let valid = ChannelExpr::range(first, last)
                .intersect(&ChannelExpr::all().shift(-shift))
                .difference(&taken);
            for r in valid.ranges() {
                entries.push((*r.start(), *r.end(), shift));
            }
            taken = taken.union(&valid);
        }
        entries.sort_unstable();
        let any_shift = entries.iter().any(|e| e.2 != 0);
        Self { entries, any_shift }
    }

    /// The map of a binding (identity when it lists no channel bindings).
    pub fn for_binding(b: &DataBinding) -> Self {
        Self::from_ranges(b.effective_channel_bindings().iter().filter_map(|cb| {
            cb.last_data_channel()
                .map(|last| (cb.first_data_channel, last, cb.shift()))
        }))
    }

    /// The session channel of a data channel, if mapped.
    #[inline]
    pub fn map(&self, data: u32) -> Option<u32> {
        let i = self.entries.partition_point(|e| e.0 <= data);
        let (_, last, shift) = *self.entries.get(i.checked_sub(1)?)?;
        if data > last {
            return None;
        }
        // In range by construction.
        u32::try_from(i64::from(data) + shift).ok()
    }

    /// True when some channel changes its id.
    pub fn shifts(&self) -> bool {
        self.any_shift
    }

    /// The mapped data channels.
    pub fn data_channels(&self) -> ChannelExpr {
        ChannelExpr::from_ranges(self.entries.iter().map(|e| e.0..=e.1))
    }
}

/// What to do to the chunks of one binding.
#[derive(Debug, Clone)]
pub struct Transform {
    key: DataBindingKey,
    kind: DataKind,
    offset: i64,
    clip_start: Option<i64>,
    clip_end: Option<i64>,
    channels: ChannelMap,
    wanted: Option<ChannelExpr>,
    compression: Compression,
}

impl Transform {
    /// The identity transform for data of `kind`: every chunk passes through.
    pub fn new(kind: DataKind) -> Self {
        Self {
            key: DataBindingKey::default(),
            kind,
            offset: 0,
            clip_start: None,
            clip_end: None,
            channels: ChannelMap::identity(),
            wanted: None,
            compression: Compression::Lz4,
        }
    }

    /// The transform a binding asks for: its offset, its time range and its
    /// channel map (events take the time transforms only).
    pub fn for_binding(binding: &DataBinding, kind: DataKind) -> Self {
        Self::new(kind)
            .with_key(binding.key.clone())
            .with_offset(binding.session_time_offset)
            .with_clip(binding.session_start_time, binding.session_end_time)
            .with_channel_map(ChannelMap::for_binding(binding))
    }

    /// Names the binding in error messages.
    pub fn with_key(mut self, key: DataBindingKey) -> Self {
        self.key = key;
        self
    }

    /// Adds `offset_ns` to every time (session time minus data time).
    pub fn with_offset(mut self, offset_ns: i64) -> Self {
        self.offset = offset_ns;
        self
    }

    /// Keeps only samples within `start..=end` of session time (after the offset).
    pub fn with_clip(mut self, start: Option<i64>, end: Option<i64>) -> Self {
        self.clip_start = start;
        self.clip_end = end;
        self
    }

    /// Renumbers channels (ignored for events). Unmapped channels are dropped.
    pub fn with_channel_map(mut self, map: ChannelMap) -> Self {
        self.channels = map;
        self
    }

    /// Keeps only these session channels (ignored for events). A row is kept
    /// whole when any of its channels is wanted.
    pub fn with_wanted(mut self, wanted: Option<ChannelExpr>) -> Self {
        self.wanted = wanted.filter(|w| !w.is_all());
        self
    }

    /// Compression of rewritten chunks (passed-through chunks keep theirs).
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The data kind.
    pub fn kind(&self) -> DataKind {
        self.kind
    }

    /// The time offset.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The clip bounds in session time.
    pub fn clip(&self) -> (Option<i64>, Option<i64>) {
        (self.clip_start, self.clip_end)
    }

    /// The channel map.
    pub fn channel_map(&self) -> &ChannelMap {
        &self.channels
    }

    /// True when every chunk would pass through untouched.
    pub fn is_identity(&self) -> bool {
        self.offset == 0
            && self.clip_start.is_none()
            && self.clip_end.is_none()
            && (!self.kind.has_channels()
                || (self.channels == ChannelMap::identity() && self.wanted.is_none()))
    }

    fn err(&self, reason: impl Into<String>) -> Error {
        Error::Transform {
            key: self.key.to_string(),
            reason: reason.into(),
        }
    }

    fn wire_err(&self, e: WireError) -> Error {
        match e {
            WireError::Malformed(m) => Error::Core(rta_core::Error::Chunk(format!(
                "malformed chunk payload: {m}"
            ))),
            WireError::Overflow(o) => self.err(format!("shifting a time by {o} ns overflows")),
            WireError::Unmapped(c) => self.err(format!("channel {c:X} is not mapped")),
        }
    }

    #[inline]
    fn wanted(&self, session_channel: u32) -> bool {
        self.wanted
            .as_ref()
            .is_none_or(|w| w.contains(session_channel))
    }

    /// The fate of a chunk with header `ids`, of which `unmapped` are not
    /// bound and `wanted` are bound and wanted.
    fn fate(
        &self,
        ids: &[u32],
        unmapped: usize,
        wanted: usize,
        mapped: Option<Vec<u32>>,
    ) -> Result<ChannelFate> {
        if self.kind == DataKind::Row {
            if unmapped == ids.len() || wanted == 0 {
                return Ok(ChannelFate::Drop);
            }
            if unmapped > 0 {
                return Err(self.err(format!(
                    "a row holds channels {} of which the binding maps only some; \
                     a row group must be bound whole",
                    ChannelExpr::from_ids(ids.iter().copied())
                )));
            }
            return Ok(ChannelFate::Keep(mapped));
        }
        if wanted == 0 {
            Ok(ChannelFate::Drop)
        } else if wanted < ids.len() {
            Ok(ChannelFate::Decode)
        } else {
            Ok(ChannelFate::Keep(mapped))
        }
    }

    /// Wraps a chunk stream: the stream of this binding's session chunks.
    pub fn apply_stream(self, input: ChunkStream) -> BindingStream {
        Transformer::new(self).into_stream(input)
    }
}

/// Counts of what a [`Transformer`] did, chunk by chunk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransformStats {
    /// Chunks received.
    pub received: u64,
    /// Chunks dropped (outside the time range, or no wanted channel).
    pub dropped: u64,
    /// Chunks passed through with their payload untouched.
    pub passed: u64,
    /// Chunks whose payload was patched in place (time offset, channel shift).
    pub patched: u64,
    /// Chunks whose payload was rebuilt at the wire level.
    pub rebuilt: u64,
    /// Chunks decoded into results (clipped or filtered) and encoded again.
    pub decoded: u64,
    /// LZ4 chunks clipped at the end by cutting their compressed block:
    /// the results kept whole are not compressed again.
    pub cut: u64,
    /// Chunks emitted.
    pub emitted: u64,
}

/// How a chunk's channels fare under the map.
enum ChannelFate {
    Drop,
    Decode,
    /// Keep the chunk; its new header ids, or `None` when they do not change.
    Keep(Option<Vec<u32>>),
}

/// Applies a [`Transform`] chunk by chunk, reusing its buffers.
#[derive(Debug)]
pub struct Transformer {
    t: Transform,
    scratch: Vec<u8>,
    patches: Vec<Patch>,
    stats: TransformStats,
}

impl Transformer {
    /// A transformer applying `t`.
    pub fn new(t: Transform) -> Self {
        Self {
            t,
            scratch: Vec::new(),
            patches: Vec::new(),
            stats: TransformStats::default(),
        }
    }

    /// The transform applied.
    pub fn transform(&self) -> &Transform {
        &self.t
    }

    /// What has been done so far.
    pub fn stats(&self) -> TransformStats {
        self.stats
    }

    /// Transforms one chunk, appending the resulting chunks (usually one,
    /// none when dropped, two or more only when a rewritten list would exceed
    /// the 4 MiB limit) to `out`.
    pub fn push(&mut self, chunk: Chunk, out: &mut Vec<Chunk>) -> Result<()> {
        self.stats.received += 1;
        let before = out.len();
        let r = self.push_inner(chunk, out);
        self.stats.emitted += (out.len() - before) as u64;
        r
    }

    fn push_inner(&mut self, mut chunk: Chunk, out: &mut Vec<Chunk>) -> Result<()> {
        let t = &self.t;
        let (start, end) = match (
            chunk.start.checked_add(t.offset),
            chunk.end.checked_add(t.offset),
        ) {
            (Some(s), Some(e)) => (s, e),
            _ => {
                return Err(t.err(format!(
                    "shifting chunk {}..={} by {} ns overflows",
                    chunk.start, chunk.end, t.offset
                )))
            }
        };
        let lo = t.clip_start.unwrap_or(i64::MIN);
        let hi = t.clip_end.unwrap_or(i64::MAX);
        if end < lo || start > hi {
            self.stats.dropped += 1;
            return Ok(());
        }
        let straddles = start < lo || end > hi;
        let fate = self.channel_fate(&chunk.channel_ids)?;
        let ids = match fate {
            ChannelFate::Drop => {
                self.stats.dropped += 1;
                return Ok(());
            }
            ChannelFate::Decode => None,
            ChannelFate::Keep(ids) => Some(ids),
        };
        if straddles
            && start >= lo
            && t.offset == 0
            && matches!(ids, Some(None))
            && chunk.compression == Compression::Lz4
            && t.compression == Compression::Lz4
        {
            // Only the end is cut: keep the LZ4 block's prefix.
            let done = match self.t.kind {
                DataKind::Periodic => self.clip_end_as::<PeriodicData>(&chunk, out)?,
                DataKind::Timestamped => self.clip_end_as::<TimestampedData>(&chunk, out)?,
                DataKind::Row => self.clip_end_as::<RowData>(&chunk, out)?,
                DataKind::Events => self.clip_end_as::<Event>(&chunk, out)?,
            };
            if done {
                return Ok(());
            }
        }
        let ids = match ids {
            Some(ids) if !straddles => ids,
            _ => return self.decode_path(&chunk, out),
        };
        if self.t.offset == 0 && ids.is_none() {
            self.stats.passed += 1;
            chunk.start = start;
            chunk.end = end;
            out.push(chunk);
            return Ok(());
        }
        let ids = ids.unwrap_or_else(|| chunk.channel_ids.clone());
        self.rewrite_path(chunk, start, end, ids, out)
    }

    fn channel_fate(&self, ids: &[u32]) -> Result<ChannelFate> {
        let t = &self.t;
        if !t.kind.has_channels() {
            return Ok(ChannelFate::Keep(None));
        }
        if ids.is_empty() {
            return Ok(ChannelFate::Decode);
        }
        if !t.channels.shifts() {
            // Ids stay as they are: only check that they are bound and wanted.
            let mut unmapped = 0usize;
            let mut wanted = 0usize;
            for &id in ids {
                if t.channels.map(id).is_some() {
                    wanted += usize::from(t.wanted(id));
                } else {
                    unmapped += 1;
                }
            }
            return t.fate(ids, unmapped, wanted, None);
        }
        let mut mapped = Vec::with_capacity(ids.len());
        let mut unmapped = 0usize;
        let mut wanted = 0usize;
        for &id in ids {
            match t.channels.map(id) {
                Some(s) => {
                    wanted += usize::from(t.wanted(s));
                    mapped.push(s);
                }
                None => unmapped += 1,
            }
        }
        t.fate(ids, unmapped, wanted, Some(mapped))
    }

    /// Time offset and/or channel shift of a chunk wholly inside the range.
    fn rewrite_path(
        &mut self,
        chunk: Chunk,
        start: i64,
        end: i64,
        ids: Vec<u32>,
        out: &mut Vec<Chunk>,
    ) -> Result<()> {
        let compression = self.t.compression;
        let unpacked = chunk.unpacked_length as usize;
        if unpacked > MAX_ACCEPTED_LIST_BYTES {
            return Err(rta_core::Error::Chunk(format!(
                "chunk list of {unpacked} bytes exceeds the accepted {MAX_ACCEPTED_LIST_BYTES}"
            ))
            .into());
        }
        // A mutable copy of the list: a fresh vector when it becomes the
        // payload as is, otherwise the reused scratch buffer (kept at its
        // largest length, so reusing it costs no zeroing).
        let mut fresh: Vec<u8> = Vec::new();
        match (chunk.compression, compression) {
            (Compression::None, _) if chunk.payload.len() != unpacked => {
                return Err(rta_core::Error::Chunk(format!(
                    "uncompressed payload of {} bytes, header says {unpacked}",
                    chunk.payload.len()
                ))
                .into());
            }
            (Compression::None, Compression::None) => fresh = chunk.payload.to_vec(),
            (Compression::None, Compression::Lz4) => {
                grow(&mut self.scratch, unpacked);
                self.scratch[..unpacked].copy_from_slice(&chunk.payload);
            }
            (Compression::Lz4, Compression::None) => {
                fresh = lz4_flex::block::decompress(&chunk.payload, unpacked)
                    .map_err(|e| rta_core::Error::Lz4(format!("bad LZ4 block: {e}")))?;
                check_unpacked(fresh.len(), unpacked)?;
            }
            (Compression::Lz4, Compression::Lz4) => {
                grow(&mut self.scratch, unpacked);
                let n =
                    lz4_flex::block::decompress_into(&chunk.payload, &mut self.scratch[..unpacked])
                        .map_err(|e| rta_core::Error::Lz4(format!("bad LZ4 block: {e}")))?;
                check_unpacked(n, unpacked)?;
            }
        }
        let map = &self.t.channels;
        let mapper = |c: u32| map.map(c);
        let edit = Edit {
            kind: self.t.kind,
            offset: self.t.offset,
            map: if self.t.kind.has_channels() && map.shifts() {
                Some(&mapper as &dyn Fn(u32) -> Option<u32>)
            } else {
                None
            },
        };
        let buf: &mut [u8] = match compression {
            Compression::None => &mut fresh,
            Compression::Lz4 => &mut self.scratch[..unpacked],
        };
        let in_place = match wire::plan_in_place(buf, &edit, &mut self.patches) {
            Ok(b) => b,
            // An item whose channel the header did not announce: filter by decoding.
            Err(WireError::Unmapped(_)) => return self.decode_path(&chunk, out),
            Err(e) => return Err(self.t.wire_err(e)),
        };
        let mut rebuilt = Vec::new();
        if in_place {
            wire::apply_patches(buf, &self.patches);
            self.stats.patched += 1;
        } else {
            match wire::rebuild(buf, &edit, &mut rebuilt) {
                Ok(()) => self.stats.rebuilt += 1,
                Err(WireError::Unmapped(_)) => return self.decode_path(&chunk, out),
                Err(e) => return Err(self.t.wire_err(e)),
            }
        }
        let list: &[u8] = match (in_place, compression) {
            (false, _) => &rebuilt,
            (true, Compression::None) => &fresh,
            (true, Compression::Lz4) => &self.scratch[..unpacked],
        };
        if list.len() > MAX_LIST_BYTES {
            // The rewrite grew the list past the limit: split it by results.
            let list = list.to_vec();
            return match self.t.kind {
                DataKind::Periodic => self.split_raw::<PeriodicData>(&list, out),
                DataKind::Timestamped => self.split_raw::<TimestampedData>(&list, out),
                DataKind::Row => self.split_raw::<RowData>(&list, out),
                DataKind::Events => self.split_raw::<Event>(&list, out),
            };
        }
        let unpacked_length =
            u32::try_from(list.len()).map_err(|_| self.t.err("rewritten list too large"))?;
        let payload = match (compression, in_place) {
            (Compression::Lz4, _) => Bytes::from(lz4_flex::block::compress(list)),
            (Compression::None, true) => Bytes::from(fresh),
            (Compression::None, false) => Bytes::from(rebuilt),
        };
        out.push(Chunk {
            start,
            end,
            channel_ids: ids,
            compression,
            unpacked_length,
            payload,
        });
        Ok(())
    }

    fn split_raw<T: Item>(&mut self, list: &[u8], out: &mut Vec<Chunk>) -> Result<()> {
        let decoded = T::List::decode(list).map_err(|source| rta_core::Error::Decode {
            what: "rewritten chunk payload",
            source,
        })?;
        self.stats.decoded += 1;
        emit_items(decoded.into_items(), self.t.compression, out)
    }

    /// Clips the end of an LZ4 chunk whose channels and times stay as they
    /// are: the results before the bound keep their compressed bytes, the one
    /// the bound cuts is encoded again, the rest are dropped. Returns `false`
    /// (having done nothing) when the chunk does not have that shape.
    fn clip_end_as<T: Item>(&mut self, chunk: &Chunk, out: &mut Vec<Chunk>) -> Result<bool> {
        let Some(hi) = self.t.clip_end else {
            return Ok(false);
        };
        let raw = chunk.unpacked()?;
        let Ok(ranges) = wire::item_ranges(&raw) else {
            return Ok(false);
        };
        // The kept results must be a prefix: results ending at or before the
        // bound, then at most one the bound cuts, then only results after it.
        let mut keep = raw.len();
        let mut cut: Option<T> = None;
        let mut bounds: Option<(i64, i64)> = None;
        let mut channels: Vec<u32> = Vec::new();
        for (entry, r) in &ranges {
            let Ok(mut item) = T::decode(raw.slice(r.clone())) else {
                return Ok(false);
            };
            let Some((s, e)) = item.time_bounds() else {
                return Ok(false);
            };
            if self.t.clip_start.is_some_and(|lo| s < lo) {
                return Ok(false);
            }
            if keep < raw.len() {
                if s <= hi {
                    return Ok(false); // kept results after a cut one
                }
                continue;
            }
            if !item.remap(&self.t)? {
                return Ok(false);
            }
            let kept_end = if e <= hi {
                e
            } else {
                keep = *entry;
                let head = match hi.checked_add(1) {
                    Some(h1) => item.split_at_time(h1)?.0,
                    None => None,
                };
                let Some(head) = head else {
                    continue;
                };
                let Some((_, he)) = head.time_bounds() else {
                    continue;
                };
                item = head.clone();
                cut = Some(head);
                he
            };
            bounds = Some(match bounds {
                None => (s, kept_end),
                Some((a, b)) => (a.min(s), b.max(kept_end)),
            });
            for c in item.channel_ids() {
                if !channels.contains(c) {
                    channels.push(*c);
                }
            }
        }
        let Some((start, end)) = bounds else {
            self.stats.dropped += 1;
            return Ok(true);
        };
        let mut tail = Vec::new();
        if let Some(c) = &cut {
            // List field 1, length-delimited.
            tail.push((1 << 3) | 2);
            c.encode_length_delimited(&mut tail)
                .map_err(|e| self.t.err(format!("encoding a clipped result: {e}")))?;
        }
        let Some(block) = crate::lz4cut::cut_block(&chunk.payload, &raw, keep, &tail) else {
            return Ok(false);
        };
        let unpacked_length =
            u32::try_from(keep + tail.len()).map_err(|_| self.t.err("clipped list too large"))?;
        self.stats.cut += 1;
        out.push(Chunk {
            start,
            end,
            channel_ids: channels,
            compression: Compression::Lz4,
            unpacked_length,
            payload: Bytes::from(block),
        });
        Ok(true)
    }

    /// Decodes the results, filters, shifts and clips them, and encodes the rest.
    fn decode_path(&mut self, chunk: &Chunk, out: &mut Vec<Chunk>) -> Result<()> {
        self.stats.decoded += 1;
        match self.t.kind {
            DataKind::Periodic => self.decode_as::<PeriodicData>(chunk, out),
            DataKind::Timestamped => self.decode_as::<TimestampedData>(chunk, out),
            DataKind::Row => self.decode_as::<RowData>(chunk, out),
            DataKind::Events => self.decode_as::<Event>(chunk, out),
        }
    }

    fn decode_as<T: Item>(&mut self, chunk: &Chunk, out: &mut Vec<Chunk>) -> Result<()> {
        let t = &self.t;
        let list: T::List = chunk.decode_list()?;
        let mut items = Vec::with_capacity(list.items().len());
        for mut item in list.into_items() {
            if item.time_bounds().is_none() || !item.remap(t)? {
                continue;
            }
            if t.offset != 0 {
                item.shift_time(t.offset)
                    .map_err(|e| t.err(e.to_string()))?;
            }
            let Some((s, e)) = item.time_bounds() else {
                continue;
            };
            let mut item = Some(item);
            if let Some(lo) = t.clip_start {
                if s < lo {
                    item = match item {
                        Some(it) => it.split_at_time(lo)?.1,
                        None => None,
                    };
                }
            }
            if let Some(hi) = t.clip_end {
                if e > hi {
                    item = match (item, hi.checked_add(1)) {
                        (Some(it), Some(h1)) => it.split_at_time(h1)?.0,
                        (it, _) => it,
                    };
                }
            }
            if let Some(it) = item {
                items.push(it);
            }
        }
        emit_items(items, t.compression, out)
    }

    /// Wraps a chunk stream, transforming its chunks as they arrive. At most
    /// the chunks produced from one input chunk are held.
    pub fn into_stream(self, input: ChunkStream) -> BindingStream {
        TransformStream {
            input: Some(input),
            transformer: self,
            pending: VecDeque::new(),
            buf: Vec::new(),
        }
        .boxed()
    }
}

/// Makes `buf` at least `len` bytes long (zeroing only what is new).
fn grow(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0);
    }
}

fn check_unpacked(n: usize, unpacked: usize) -> Result<()> {
    if n == unpacked {
        Ok(())
    } else {
        Err(rta_core::Error::Lz4(format!(
            "LZ4 block expanded to {n} bytes, header says {unpacked}"
        ))
        .into())
    }
}

/// Encodes results into one chunk, or several when the list would exceed 4 MiB.
fn emit_items<T: Item>(
    items: Vec<T>,
    compression: Compression,
    out: &mut Vec<Chunk>,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let list = T::List::from_items(items);
    if list.encoded_len() > MAX_LIST_BYTES && list.items().len() > 1 {
        let mut items = list.into_items();
        let tail = items.split_off(items.len() / 2);
        emit_items(items, compression, out)?;
        return emit_items(tail, compression, out);
    }
    if let Some(c) = Chunk::from_list(&list, compression)? {
        out.push(c);
    }
    Ok(())
}

/// Channel renumbering and filtering of one decoded result.
trait Item: ListOf {
    /// Maps the result's channels; `false` when the result must be dropped.
    fn remap(&mut self, t: &Transform) -> Result<bool>;
}

fn remap_single(channel: &mut u32, t: &Transform) -> bool {
    match t.channels.map(*channel) {
        Some(s) if t.wanted(s) => {
            *channel = s;
            true
        }
        _ => false,
    }
}

impl Item for PeriodicData {
    fn remap(&mut self, t: &Transform) -> Result<bool> {
        Ok(remap_single(&mut self.channel_id, t))
    }
}

impl Item for TimestampedData {
    fn remap(&mut self, t: &Transform) -> Result<bool> {
        Ok(remap_single(&mut self.channel_id, t))
    }
}

impl Item for RowData {
    fn remap(&mut self, t: &Transform) -> Result<bool> {
        let mapped: Vec<Option<u32>> = self
            .channel_ids
            .iter()
            .map(|c| t.channels.map(*c))
            .collect();
        let n_mapped = mapped.iter().flatten().count();
        if n_mapped == 0 {
            return Ok(false);
        }
        if n_mapped < mapped.len() {
            return Err(t.err(format!(
                "a row holds channels {} of which the binding maps only some; \
                 a row group must be bound whole",
                ChannelExpr::from_ids(self.channel_ids.iter().copied())
            )));
        }
        let ids: Vec<u32> = mapped.into_iter().flatten().collect();
        if !ids.iter().any(|c| t.wanted(*c)) {
            return Ok(false);
        }
        self.channel_ids = ids;
        Ok(true)
    }
}

impl Item for Event {
    fn remap(&mut self, _: &Transform) -> Result<bool> {
        Ok(true)
    }
}

struct TransformStream {
    input: Option<ChunkStream>,
    transformer: Transformer,
    pending: VecDeque<Chunk>,
    buf: Vec<Chunk>,
}

impl Stream for TransformStream {
    type Item = Result<Chunk>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(c) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(c)));
            }
            let Some(input) = this.input.as_mut() else {
                return Poll::Ready(None);
            };
            match input.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.input = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    this.input = None;
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    this.buf.clear();
                    if let Err(e) = this.transformer.push(chunk, &mut this.buf) {
                        this.input = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                    this.pending.extend(this.buf.drain(..));
                }
            }
        }
    }
}
