//! The `application/vnd.mat.protobuf+chunked` codec, and the chunker.
//!
//! On the wire a response is a sequence of
//! `[i32 LE header length][ChunkTransferHeader][payload]`, where the payload
//! is a serialized list (`PeriodicDataList`, ...) compressed as a bare LZ4
//! block (compression 1) or stored as is (compression 0). Header times and
//! compression are deltas from the previous chunk of the same response.
//!
//! A [`Chunk`] keeps its payload as [`Bytes`] exactly as it travels on the
//! wire, so a stored chunk can go from storage to a socket with only its
//! small header re-encoded ([`ChunkEncoder::header`]).
//!
//! ```
//! use rta_core::chunk::{Chunk, ChunkDecoder, ChunkEncoder, Compression};
//! use rta_core::data::periodic;
//! use rta_core::proto::data::PeriodicDataList;
//!
//! let list = PeriodicDataList { periodic_data: vec![periodic(3, 1_000, 10, &[1.0f64, 2.0]).unwrap()] };
//! let chunk = Chunk::from_list(&list, Compression::Lz4).unwrap().unwrap();
//! assert_eq!((chunk.start, chunk.end, chunk.channel_ids.clone()), (1_000, 1_010, vec![3]));
//!
//! let mut wire = bytes::BytesMut::new();
//! ChunkEncoder::new().write(&chunk, &mut wire).unwrap();
//! let mut dec = ChunkDecoder::new();
//! dec.push(&wire);
//! let back = dec.next_chunk().unwrap().unwrap();
//! assert_eq!(back.decode_list::<PeriodicDataList>().unwrap(), list);
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;

use crate::data::{list_time_bounds, DataItem, DataList, ListOf};
use crate::proto::chunks::ChunkTransferHeader;
use crate::{Error, Result};

/// Most samples a result may hold (spec: MUST NOT exceed).
pub const MAX_RESULT_SAMPLES: usize = 10_000;
/// Samples a result should hold at most (spec: SHOULD).
pub const PREFERRED_RESULT_SAMPLES: usize = 128;
/// Largest serialized list before compression (spec: MUST NOT exceed 4 MiB).
pub const MAX_LIST_BYTES: usize = 4 * 1024 * 1024;
/// Preferred serialized list size before compression (spec: SHOULD, 64 KiB).
pub const PREFERRED_LIST_BYTES: usize = 64 * 1024;
/// Longest time a list may cover (spec: MUST NOT exceed 1000 s).
pub const MAX_CHUNK_SPAN_NS: i64 = 1_000_000_000_000;
/// Largest header accepted by the decoder.
pub const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// Payload compression of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Stored as serialized.
    None,
    /// A bare LZ4 block.
    #[default]
    Lz4,
}

impl Compression {
    /// Wire code (0 = none, 1 = LZ4).
    pub fn code(self) -> i32 {
        match self {
            Compression::None => 0,
            Compression::Lz4 => 1,
        }
    }

    /// From a wire code.
    pub fn from_code(code: i32) -> Result<Self> {
        match code {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Lz4),
            c => Err(Error::Chunk(format!("unknown compression code {c}"))),
        }
    }
}

/// One chunk: a serialized, possibly compressed list with its time span and channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Time of the first sample (ns since the Unix epoch).
    pub start: i64,
    /// Time of the last sample, inclusive (ns since the Unix epoch).
    pub end: i64,
    /// Channels covered (one for timestamped and periodic data, the row group
    /// for row data, none for events).
    pub channel_ids: Vec<u32>,
    /// How `payload` is compressed.
    pub compression: Compression,
    /// Length of the serialized list after decompression.
    pub unpacked_length: u32,
    /// The payload exactly as it travels on the wire.
    pub payload: Bytes,
}

impl Chunk {
    /// Serializes (and compresses) a list. Start, end and channels are taken
    /// from its items. Returns `None` for a list without samples.
    pub fn from_list<L: DataList>(list: &L, compression: Compression) -> Result<Option<Chunk>> {
        let Some((start, end)) = list_time_bounds(list) else {
            return Ok(None);
        };
        let channel_ids = list_channel_ids(list);
        Self::from_raw(start, end, channel_ids, list.to_wire(), compression).map(Some)
    }

    /// Serializes (and compresses) any message with the given span and channels.
    pub fn encode<M: Message>(
        start: i64,
        end: i64,
        channel_ids: Vec<u32>,
        list: &M,
        compression: Compression,
    ) -> Result<Chunk> {
        // The list is serialized into a buffer this chunk can own, so an
        // uncompressed chunk keeps it without another copy.
        Self::from_raw(start, end, channel_ids, list.encode_to_vec(), compression)
    }

    fn from_raw(
        start: i64,
        end: i64,
        channel_ids: Vec<u32>,
        raw: Vec<u8>,
        compression: Compression,
    ) -> Result<Chunk> {
        let unpacked_length = checked_span(start, end, raw.len())?;
        let payload = match compression {
            Compression::None => Bytes::from(raw),
            Compression::Lz4 => Bytes::from(crate::lz4::compress_block(&raw)),
        };
        Ok(Chunk {
            start,
            end,
            channel_ids,
            compression,
            unpacked_length,
            payload,
        })
    }

    /// Builds a chunk from an already serialized list.
    pub fn from_serialized(
        start: i64,
        end: i64,
        channel_ids: Vec<u32>,
        raw: &[u8],
        compression: Compression,
    ) -> Result<Chunk> {
        let unpacked_length = checked_span(start, end, raw.len())?;
        let payload = match compression {
            Compression::None => Bytes::copy_from_slice(raw),
            Compression::Lz4 => Bytes::from(crate::lz4::compress_block(raw)),
        };
        Ok(Chunk {
            start,
            end,
            channel_ids,
            compression,
            unpacked_length,
            payload,
        })
    }

    /// The serialized list, decompressed if needed (no copy when uncompressed).
    pub fn unpacked(&self) -> Result<Bytes> {
        match self.compression {
            Compression::None => {
                if self.payload.len() != self.unpacked_length as usize {
                    return Err(Error::Chunk(format!(
                        "uncompressed payload of {} bytes, header says {}",
                        self.payload.len(),
                        self.unpacked_length
                    )));
                }
                Ok(self.payload.clone())
            }
            Compression::Lz4 => {
                crate::lz4::decompress_block(&self.payload, self.unpacked_length as usize)
                    .map(Bytes::from)
            }
        }
    }

    /// Decodes the payload as a list message. Buffers inside the list share
    /// the decompressed allocation.
    pub fn decode_list<M: Message + Default>(&self) -> Result<M> {
        let raw = self.unpacked()?;
        M::decode(raw).map_err(|source| Error::Decode {
            what: "chunk payload list",
            source,
        })
    }

    /// Decodes the payload as a `TimestampedDataList` straight into items
    /// with their sample times (see [`crate::timed`]).
    pub fn timed_items(&self) -> Result<Vec<crate::timed::TimedItem>> {
        crate::timed::decode_timed(self.unpacked()?)
    }

    /// Re-encodes with another compression (a no-op clone when it is the same).
    pub fn recompress(&self, compression: Compression) -> Result<Chunk> {
        if compression == self.compression {
            return Ok(self.clone());
        }
        let raw = self.unpacked()?;
        Self::from_serialized(
            self.start,
            self.end,
            self.channel_ids.clone(),
            &raw,
            compression,
        )
    }

    /// Duration covered (end - start).
    pub fn duration(&self) -> i64 {
        self.end.saturating_sub(self.start)
    }
}

/// Checks a chunk's span and serialized list size; returns the size as the
/// header's `unpacked_length`.
///
/// ```
/// use rta_core::chunk::checked_span;
/// assert_eq!(checked_span(10, 20, 300).unwrap(), 300);
/// assert!(checked_span(20, 10, 300).is_err());
/// ```
pub fn checked_span(start: i64, end: i64, list_len: usize) -> Result<u32> {
    if end < start {
        return Err(Error::Chunk(format!(
            "chunk end {end} before start {start}"
        )));
    }
    u32::try_from(list_len)
        .ok()
        .filter(|n| *n as usize <= i32::MAX as usize)
        .ok_or_else(|| Error::Chunk(format!("list of {list_len} bytes is too large")))
}

/// Writes chunks to the wire, keeping the delta state between them.
#[derive(Debug, Clone, Default)]
pub struct ChunkEncoder {
    prev_start: i64,
    prev_duration: i64,
    prev_compression: i32,
}

impl ChunkEncoder {
    /// A new encoder for one response.
    pub fn new() -> Self {
        Self::default()
    }

    /// The transfer header of the next chunk (advances the delta state).
    pub fn next_header(&mut self, chunk: &Chunk) -> Result<ChunkTransferHeader> {
        let packed_length = i32::try_from(chunk.payload.len())
            .map_err(|_| Error::Chunk("payload too large for the transfer header".into()))?;
        let unpacked_length = i32::try_from(chunk.unpacked_length).map_err(|_| {
            Error::Chunk("unpacked length too large for the transfer header".into())
        })?;
        let duration = chunk.duration();
        let h = ChunkTransferHeader {
            chunk_start_time_delta: chunk.start.wrapping_sub(self.prev_start),
            chunk_duration_delta: duration.wrapping_sub(self.prev_duration),
            channel_ids: chunk.channel_ids.clone(),
            compression_delta: chunk.compression.code() - self.prev_compression,
            unpacked_length,
            packed_length,
        };
        self.prev_start = chunk.start;
        self.prev_duration = duration;
        self.prev_compression = chunk.compression.code();
        Ok(h)
    }

    /// The length prefix and header of the next chunk, ready to be followed
    /// on the wire by `chunk.payload` untouched.
    pub fn header(&mut self, chunk: &Chunk) -> Result<Bytes> {
        let h = self.next_header(chunk)?;
        let len = h.encoded_len();
        let mut out = BytesMut::with_capacity(4 + len);
        out.put_i32_le(len as i32);
        h.encode(&mut out)
            .map_err(|e| Error::Chunk(format!("header encode: {e}")))?;
        Ok(out.freeze())
    }

    /// Appends prefix, header and payload of `chunk` to `out`.
    pub fn write(&mut self, chunk: &Chunk, out: &mut BytesMut) -> Result<()> {
        let h = self.header(chunk)?;
        out.reserve(h.len() + chunk.payload.len());
        out.put_slice(&h);
        out.put_slice(&chunk.payload);
        Ok(())
    }

    /// Encodes a whole sequence of chunks into one buffer.
    pub fn encode_all<'a>(chunks: impl IntoIterator<Item = &'a Chunk>) -> Result<Bytes> {
        let mut enc = Self::new();
        let mut out = BytesMut::new();
        for c in chunks {
            enc.write(c, &mut out)?;
        }
        Ok(out.freeze())
    }
}

/// Streaming decoder: push bytes as they arrive, pull whole chunks out.
///
/// Payloads are sliced out of the received buffers without copying: a body
/// handed over whole with [`ChunkDecoder::push_bytes`] is never copied, and
/// bytes pushed piecemeal are accumulated once. Malformed input yields
/// [`Error::Chunk`] and the decoder stays failed.
#[derive(Debug)]
pub struct ChunkDecoder {
    /// Pending bytes received as one `Bytes` (zero-copy source).
    whole: Bytes,
    /// Pending bytes accumulated from several pushes. At most one of
    /// `whole` and `acc` is non-empty.
    acc: BytesMut,
    prev_start: i64,
    prev_duration: i64,
    prev_compression: i32,
    max_payload: usize,
    failed: bool,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkDecoder {
    /// A decoder accepting payloads up to 16 MiB.
    pub fn new() -> Self {
        Self::with_max_payload(4 * MAX_LIST_BYTES)
    }

    /// A decoder with a custom payload size limit (packed and unpacked).
    pub fn with_max_payload(max_payload: usize) -> Self {
        Self {
            whole: Bytes::new(),
            acc: BytesMut::new(),
            prev_start: 0,
            prev_duration: 0,
            prev_compression: 0,
            max_payload,
            failed: false,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if !self.whole.is_empty() {
            self.acc.extend_from_slice(&self.whole);
            self.whole = Bytes::new();
        }
        self.acc.extend_from_slice(data);
    }

    /// Appends received bytes; when nothing is pending they are kept as they
    /// are, so the payloads decoded from them share their allocation.
    pub fn push_bytes(&mut self, data: Bytes) {
        if self.whole.is_empty() && self.acc.is_empty() {
            self.whole = data;
        } else {
            self.push(&data);
        }
    }

    fn pending(&self) -> &[u8] {
        if self.whole.is_empty() {
            &self.acc
        } else {
            &self.whole
        }
    }

    fn take(&mut self, skip: usize, len: usize) -> Bytes {
        if self.whole.is_empty() {
            self.acc.advance(skip);
            self.acc.split_to(len).freeze()
        } else {
            self.whole.advance(skip);
            self.whole.split_to(len)
        }
    }

    /// Bytes buffered but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.whole.len() + self.acc.len()
    }

    /// True when every pushed byte belongs to a decoded chunk: call at end of
    /// stream to detect truncation.
    pub fn is_at_boundary(&self) -> bool {
        self.buffered() == 0
    }

    /// Checks that the stream ended on a chunk boundary.
    pub fn finish(&self) -> Result<()> {
        if self.is_at_boundary() {
            Ok(())
        } else {
            Err(Error::Chunk(format!(
                "stream truncated: {} trailing bytes",
                self.buffered()
            )))
        }
    }

    fn fail<T>(&mut self, msg: String) -> Result<T> {
        self.failed = true;
        Err(Error::Chunk(msg))
    }

    /// The next complete chunk, or `None` until more bytes arrive.
    pub fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        if self.failed {
            return Err(Error::Chunk("decoder already failed".into()));
        }
        let buf = self.pending();
        if buf.len() < 4 {
            return Ok(None);
        }
        let hlen = i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if hlen < 0 || hlen as usize > MAX_HEADER_BYTES {
            return self.fail(format!("invalid header length {hlen}"));
        }
        let hlen = hlen as usize;
        if buf.len() < 4 + hlen {
            return Ok(None);
        }
        let header = match ChunkTransferHeader::decode(&buf[4..4 + hlen]) {
            Ok(h) => h,
            Err(e) => return self.fail(format!("bad chunk header: {e}")),
        };
        if header.packed_length < 0 || header.unpacked_length < 0 {
            return self.fail(format!(
                "negative payload length (packed {}, unpacked {})",
                header.packed_length, header.unpacked_length
            ));
        }
        let packed = header.packed_length as usize;
        if packed > self.max_payload || header.unpacked_length as usize > self.max_payload {
            return self.fail(format!(
                "payload of {packed} bytes ({} unpacked) exceeds the limit of {}",
                header.unpacked_length, self.max_payload
            ));
        }
        if buf.len() < 4 + hlen + packed {
            return Ok(None);
        }
        let code = self.prev_compression.wrapping_add(header.compression_delta);
        let compression = match Compression::from_code(code) {
            Ok(c) => c,
            Err(e) => return self.fail(e.to_string()),
        };
        if compression == Compression::None && header.unpacked_length != header.packed_length {
            return self.fail(format!(
                "uncompressed chunk with packed length {} but unpacked length {}",
                header.packed_length, header.unpacked_length
            ));
        }
        let start = self.prev_start.wrapping_add(header.chunk_start_time_delta);
        let duration = self.prev_duration.wrapping_add(header.chunk_duration_delta);
        if duration < 0 {
            return self.fail(format!("negative chunk duration {duration}"));
        }
        let Some(end) = start.checked_add(duration) else {
            return self.fail("chunk end time overflows".into());
        };
        let payload = self.take(4 + hlen, packed);
        self.prev_start = start;
        self.prev_duration = duration;
        self.prev_compression = code;
        Ok(Some(Chunk {
            start,
            end,
            channel_ids: header.channel_ids,
            compression,
            unpacked_length: header.unpacked_length as u32,
            payload,
        }))
    }

    /// Decodes a complete response body. Payloads are slices of `body`.
    pub fn decode_all(body: Bytes) -> Result<Vec<Chunk>> {
        let mut dec = Self::new();
        dec.push_bytes(body);
        let mut out = Vec::new();
        while let Some(c) = dec.next_chunk()? {
            out.push(c);
        }
        dec.finish()?;
        Ok(out)
    }
}

/// A fixed time grid that chunk boundaries snap to, so that boundaries are
/// stable whatever range a request asks for.
///
/// ```
/// use rta_core::chunk::ChunkGrid;
/// let g = ChunkGrid::new(10_000_000_000).unwrap(); // 10 s
/// assert_eq!(g.round_out(Some(12_000_000_000), Some(25_000_000_000)),
///            (Some(10_000_000_000), Some(29_999_999_999)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkGrid {
    period: i64,
}

impl ChunkGrid {
    /// A grid of `period_ns` cells (1 ns ..= 1000 s).
    pub fn new(period_ns: i64) -> Result<Self> {
        if period_ns <= 0 || period_ns > MAX_CHUNK_SPAN_NS {
            return Err(Error::InvalidArgument(format!(
                "chunk period {period_ns} ns is outside 1 ns ..= 1000 s"
            )));
        }
        Ok(Self { period: period_ns })
    }

    /// A grid whose cells hold about `target_samples` samples at `rate_hz`,
    /// rounded to a power-of-ten-ish period and clamped to 1 ms ..= 1000 s.
    pub fn for_rate(rate_hz: f64, target_samples: usize) -> Self {
        let secs = if rate_hz > 0.0 && rate_hz.is_finite() {
            target_samples as f64 / rate_hz
        } else {
            100.0
        };
        let ns = (secs * 1e9).clamp(1e6, MAX_CHUNK_SPAN_NS as f64);
        // Snap to 1, 2 or 5 × 10^k so that grids line up across channels.
        let exp = ns.log10().floor();
        let base = 10f64.powf(exp);
        let m = ns / base;
        let snapped = if m < 2.0 {
            1.0
        } else if m < 5.0 {
            2.0
        } else {
            5.0
        } * base;
        Self {
            period: (snapped as i64).clamp(1_000_000, MAX_CHUNK_SPAN_NS),
        }
    }

    /// Cell length in ns.
    pub fn period(&self) -> i64 {
        self.period
    }

    /// Start of the cell holding `t`.
    pub fn cell_start(&self, t: i64) -> i64 {
        t.div_euclid(self.period).saturating_mul(self.period)
    }

    /// Last instant of the cell holding `t`.
    pub fn cell_end(&self, t: i64) -> i64 {
        self.cell_start(t).saturating_add(self.period - 1)
    }

    /// Rounds request bounds outwards to cell boundaries.
    pub fn round_out(&self, start: Option<i64>, end: Option<i64>) -> (Option<i64>, Option<i64>) {
        (
            start.map(|s| self.cell_start(s)),
            end.map(|e| self.cell_end(e)),
        )
    }
}

/// Limits a [`Chunker`] keeps to.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    /// Most samples per result; longer results are split (default 10,000).
    pub max_result_samples: usize,
    /// Serialized list size at which a chunk is closed (default 64 KiB).
    pub target_list_bytes: usize,
    /// Compression of the produced chunks.
    pub compression: Compression,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            max_result_samples: MAX_RESULT_SAMPLES,
            target_list_bytes: PREFERRED_LIST_BYTES,
            compression: Compression::Lz4,
        }
    }
}

/// Groups a time-ordered stream of results of one channel (or one row group,
/// or the events) into chunks that keep to the spec's limits.
///
/// Chunks never cross a [`ChunkGrid`] cell boundary: a result spanning one is
/// split there without re-encoding its samples. Within a cell, a chunk is
/// closed when its list reaches the target size; since that depends only on
/// the data, the same data always gives the same chunks.
#[derive(Debug)]
pub struct Chunker<T: ListOf> {
    grid: ChunkGrid,
    limits: ChunkLimits,
    cell: Option<i64>,
    items: Vec<T>,
    bytes: usize,
    /// First and last time of `items`.
    span: Option<(i64, i64)>,
    last_start: Option<i64>,
}

impl<T: ListOf> Chunker<T> {
    /// A chunker on `grid` with `limits`.
    pub fn new(grid: ChunkGrid, limits: ChunkLimits) -> Self {
        Self {
            grid,
            limits,
            cell: None,
            items: Vec::new(),
            bytes: 0,
            span: None,
            last_start: None,
        }
    }

    /// Adds a result; returns the chunks it completed (usually none).
    pub fn push(&mut self, item: T) -> Result<Vec<Chunk>> {
        item.validate()?;
        let mut out = Vec::new();
        let Some((start, end)) = item.time_bounds() else {
            return Ok(out);
        };
        if let Some(prev) = self.last_start {
            if start < prev {
                return Err(Error::Data(format!(
                    "result at {start} is older than the previous result at {prev}"
                )));
            }
        }
        self.last_start = Some(start);
        // Each piece with its time bounds (worked out once: for timestamped
        // data they are a pass over the deltas).
        let mut rest = Some((item, (start, end)));
        while let Some((it, (s, e))) = rest.take() {
            let cell_end = self.grid.cell_end(s);
            if e > cell_end {
                let (head, tail) = it.split_at_time(cell_end.saturating_add(1))?;
                if let Some(h) = head {
                    if let Some(b) = h.time_bounds() {
                        self.add_in_cell(h, b, &mut out)?;
                    }
                }
                rest = tail.and_then(|t| t.time_bounds().map(|b| (t, b)));
            } else {
                self.add_in_cell(it, (s, e), &mut out)?;
            }
        }
        Ok(out)
    }

    fn add_in_cell(&mut self, item: T, (s, e): (i64, i64), out: &mut Vec<Chunk>) -> Result<()> {
        let cell = self.grid.cell_start(s);
        if self.cell != Some(cell) {
            if let Some(c) = self.flush()? {
                out.push(c);
            }
            self.cell = Some(cell);
        }
        let mut rest = Some((item, Some((s, e))));
        while let Some((it, bounds)) = rest.take() {
            let (head, tail) = if it.sample_count() > self.limits.max_result_samples {
                let (h, t) = it.split_at_sample(self.limits.max_result_samples)?;
                (h.map(|h| (h, None)), t.map(|t| (t, None)))
            } else {
                (Some((it, bounds)), None)
            };
            if let Some((h, bounds)) = head {
                let len = h.wire_len() + 4;
                if !self.items.is_empty() && self.bytes + len > self.limits.target_list_bytes {
                    if let Some(c) = self.flush_keep_cell()? {
                        out.push(c);
                    }
                }
                if let Some((hs, he)) = bounds.or_else(|| h.time_bounds()) {
                    self.span = Some(match self.span {
                        None => (hs, he),
                        Some((a, b)) => (a.min(hs), b.max(he)),
                    });
                }
                self.bytes += len;
                self.items.push(h);
            }
            rest = tail;
        }
        Ok(())
    }

    fn flush_keep_cell(&mut self) -> Result<Option<Chunk>> {
        if self.items.is_empty() {
            return Ok(None);
        }
        let list = T::List::from_items(std::mem::take(&mut self.items));
        self.bytes = 0;
        // The span of the items (what `Chunk::from_list` works out again).
        let Some((start, end)) = self.span.take() else {
            return Ok(None);
        };
        let channel_ids = list_channel_ids(&list);
        Chunk::from_raw(
            start,
            end,
            channel_ids,
            list.to_wire(),
            self.limits.compression,
        )
        .map(Some)
    }

    /// Closes the current chunk, if any.
    pub fn flush(&mut self) -> Result<Option<Chunk>> {
        let c = self.flush_keep_cell()?;
        self.cell = None;
        Ok(c)
    }

    /// Items buffered in the open chunk.
    pub fn pending(&self) -> usize {
        self.items.len()
    }

    /// Chunks a whole time-ordered run of results of one channel (or row
    /// group, or the events) at once: [`Chunker::push`] each, then
    /// [`Chunker::flush`]. The same results always give the same chunks,
    /// which is what lets an adapter chunk its data on every read.
    ///
    /// ```
    /// use rta_core::chunk::{ChunkGrid, ChunkLimits, Chunker};
    /// use rta_core::data::periodic;
    ///
    /// let grid = ChunkGrid::new(1_000_000_000).unwrap(); // 1 s cells
    /// // 2 s of a 1 kHz channel, starting half-way through a cell
    /// let item = periodic(7, 500_000_000, 1_000_000, &[0u16; 2000]).unwrap();
    /// let chunks = Chunker::chunk_all(grid, ChunkLimits::default(), [item]).unwrap();
    /// let spans: Vec<_> = chunks.iter().map(|c| (c.start, c.end)).collect();
    /// assert_eq!(spans, [
    ///     (500_000_000, 999_000_000),
    ///     (1_000_000_000, 1_999_000_000),
    ///     (2_000_000_000, 2_499_000_000),
    /// ]);
    /// ```
    pub fn chunk_all(
        grid: ChunkGrid,
        limits: ChunkLimits,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<Chunk>> {
        let mut chunker = Self::new(grid, limits);
        let mut out = Vec::new();
        for item in items {
            out.extend(chunker.push(item)?);
        }
        out.extend(chunker.flush()?);
        Ok(out)
    }
}

/// The channels of a list's items, in first-seen order.
fn list_channel_ids<L: DataList>(list: &L) -> Vec<u32> {
    let mut channel_ids: Vec<u32> = Vec::new();
    for item in list.items() {
        for c in item.channel_ids() {
            if !channel_ids.contains(c) {
                channel_ids.push(*c);
            }
        }
    }
    channel_ids
}
