//! Groups time-ordered items of one stream into chunks: never across a grid
//! cell, results of at most `max_result_samples`, lists closed once they
//! reach the target size, and never between two items at the same time (so
//! chunks of one stream never overlap).

use rta_core::chunk::{Chunk, ChunkGrid, Compression};
use rta_core::data::DataList;
use rta_core::encoded::EncodedSeries;
use rta_core::Result;

use super::kind::StoredItem;

/// Limits a packer keeps to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PackLimits {
    pub max_result_samples: usize,
    pub target_list_bytes: usize,
    pub compression: Compression,
}

/// A chunk just closed: its serialized list and span, with its sample
/// count. The list is compressed by [`Built::compress`], which may run on
/// another thread while the writer goes on (the store compresses the
/// chunks a write batch closed in parallel), or at the latest when the
/// chunk is stored. The list buffer then goes back to the packer
/// ([`Packer::recycle`]), so a busy stream does not grow a new one per
/// chunk.
#[derive(Debug)]
pub(crate) struct Built {
    pub start: i64,
    pub end: i64,
    pub samples: u64,
    compression: Compression,
    list: Vec<u8>,
    /// The LZ4 block, once compressed.
    packed: Option<Vec<u8>>,
}

impl Built {
    /// Compresses the list (once; nothing to do when stored uncompressed).
    pub fn compress(&mut self) {
        if self.packed.is_none() && self.compression == Compression::Lz4 {
            self.packed = Some(rta_core::lz4::compress_block(&self.list));
        }
    }

    /// The payload as stored: the compressed list (compressing it now
    /// unless [`Built::compress`] already ran) or the list itself.
    pub fn payload(&mut self) -> &[u8] {
        self.compress();
        self.packed.as_deref().unwrap_or(&self.list)
    }

    /// Length of the serialized list, checked with the span as a chunk
    /// header field.
    pub fn unpacked(&self) -> Result<u32> {
        rta_core::chunk::checked_span(self.start, self.end, self.list.len())
    }

    /// How the payload is compressed.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The chunk as it would be stored (for chunks built to be read).
    pub fn into_chunk(self, channel_ids: Vec<u32>) -> Result<Chunk> {
        self.chunk_as(channel_ids, self.compression)
    }

    /// The chunk with `compression`, its payload copied (for reading a
    /// chunk that still waits to be stored, uncompressed).
    pub fn chunk_as(&self, channel_ids: Vec<u32>, compression: Compression) -> Result<Chunk> {
        Chunk::from_serialized(self.start, self.end, channel_ids, &self.list, compression)
    }

    /// Memory held until the chunk is stored.
    pub fn bytes(&self) -> usize {
        self.list.capacity() + self.packed.as_ref().map_or(0, Vec::capacity)
    }
}

/// The open chunk of a stream. Its list is kept serialized: typed items are
/// encoded as they come, encoded items copied as they are.
#[derive(Debug)]
pub(crate) struct Packer<T: StoredItem> {
    pub grid: ChunkGrid,
    pub limits: PackLimits,
    cell: Option<i64>,
    first_start: i64,
    /// The serialized list (field 1 of the list message, repeated).
    list: Vec<u8>,
    /// The list buffer of a stored chunk, for the next one (see
    /// [`Packer::recycle`]).
    spare: Option<Vec<u8>>,
    /// Set by [`Packer::finish`] until the next item: buffers of chunks
    /// stored meanwhile are dropped, not kept.
    idle: bool,
    count: usize,
    samples: u64,
    last_end: Option<i64>,
    kind: std::marker::PhantomData<fn() -> T>,
}

/// Splits an item at the grid cell boundaries it crosses.
pub(crate) fn split_cells<T: StoredItem>(grid: &ChunkGrid, item: T) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let mut rest = Some(item);
    while let Some(it) = rest.take() {
        let Some((s, e)) = it.time_bounds() else {
            break;
        };
        let cell_end = grid.cell_end(s);
        if e > cell_end && cell_end < i64::MAX {
            let (head, tail) = it.split_at_time(cell_end + 1)?;
            out.extend(head);
            rest = tail;
        } else {
            out.push(it);
        }
    }
    Ok(out)
}

impl<T: StoredItem> Packer<T> {
    pub fn new(grid: ChunkGrid, limits: PackLimits) -> Self {
        Self {
            grid,
            limits,
            cell: None,
            first_start: 0,
            list: Vec::new(),
            spare: None,
            idle: false,
            count: 0,
            samples: 0,
            last_end: None,
            kind: std::marker::PhantomData,
        }
    }

    /// Items of the open chunk, decoded from its list.
    pub fn items(&self) -> Result<Vec<T>> {
        if self.count == 0 {
            return Ok(Vec::new());
        }
        let list = <T::List as prost::Message>::decode(self.list.as_slice()).map_err(|source| {
            rta_core::Error::Decode {
                what: "open chunk list",
                source,
            }
        })?;
        Ok(list.into_items())
    }

    /// Memory held by the open list and the spare buffers: their
    /// capacity, which outlives the chunks they build until
    /// [`Packer::finish`], so that the write-buffer budget counts it.
    pub fn bytes(&self) -> usize {
        self.list.capacity() + self.spare.as_ref().map_or(0, Vec::capacity)
    }

    /// Adds an item lying within one cell (see [`split_cells`]), closing the
    /// open chunk first when the item is in another cell. `bounds` are the
    /// item's time bounds.
    pub fn push_in_cell(
        &mut self,
        item: T,
        bounds: (i64, i64),
        out: &mut Vec<Built>,
    ) -> Result<()> {
        self.enter_cell(bounds.0, out)?;
        if item.sample_count() <= self.limits.max_result_samples {
            self.add(item, bounds, out)?;
            return Ok(());
        }
        let mut rest = Some(item);
        while let Some(it) = rest.take() {
            let (head, tail) = it.split_at_sample(self.limits.max_result_samples)?;
            rest = tail;
            let Some(h) = head else { continue };
            let Some(b) = h.time_bounds() else {
                continue;
            };
            self.add(h, b, out)?;
        }
        Ok(())
    }

    fn add(&mut self, h: T, bounds: (i64, i64), out: &mut Vec<Built>) -> Result<()> {
        let len = prost::encoding::message::encoded_len(1, &h);
        self.admit(len, bounds, h.sample_count(), out)?;
        prost::encoding::message::encode(1, &h, &mut self.list);
        Ok(())
    }

    /// Closes the open chunk when time `t` lies in another grid cell.
    fn enter_cell(&mut self, t: i64, out: &mut Vec<Built>) -> Result<()> {
        let cell = self.grid.cell_start(t);
        if self.cell != Some(cell) {
            out.extend(self.close_cell()?);
            self.cell = Some(cell);
            self.idle = false;
        }
        Ok(())
    }

    /// Makes room for an item of `len` list bytes: closes the open chunk
    /// when the item would take it past the target size (unless the item
    /// touches the previous one's time), then counts the item in.
    fn admit(
        &mut self,
        len: usize,
        (hs, he): (i64, i64),
        samples: usize,
        out: &mut Vec<Built>,
    ) -> Result<()> {
        let touches_previous = self.last_end.is_some_and(|le| hs <= le);
        if self.count > 0
            && !touches_previous
            && self.list.len() + len > self.limits.target_list_bytes
        {
            out.extend(self.close()?);
        }
        if self.count == 0 {
            self.first_start = hs;
        }
        self.count += 1;
        self.samples += samples as u64;
        self.last_end = Some(self.last_end.map_or(he, |le| le.max(he)));
        Ok(())
    }

    /// Adds an encoded item lying within one cell with at most
    /// `max_result_samples` samples (the caller checks both), as it is.
    pub fn push_encoded(
        &mut self,
        raw: &[u8],
        bounds: (i64, i64),
        samples: usize,
        out: &mut Vec<Built>,
    ) -> Result<()> {
        self.enter_cell(bounds.0, out)?;
        let body = raw.len();
        let len = 1 + prost::encoding::encoded_len_varint(body as u64) + body;
        self.admit(len, bounds, samples, out)?;
        prost::encoding::encode_key(
            1,
            prost::encoding::WireType::LengthDelimited,
            &mut self.list,
        );
        prost::encoding::encode_varint(body as u64, &mut self.list);
        self.list.extend_from_slice(raw);
        Ok(())
    }

    /// Adds any time-ordered item, splitting it at cell boundaries.
    pub fn push(&mut self, item: T, out: &mut Vec<Built>) -> Result<()> {
        for piece in split_cells(&self.grid, item)? {
            if let Some(b) = piece.time_bounds() {
                self.push_in_cell(piece, b, out)?;
            }
        }
        Ok(())
    }

    /// Closes the open chunk. Its list goes with the [`Built`] to be
    /// compressed; the next list gets a spare buffer, or a new one of the
    /// same capacity.
    fn close(&mut self) -> Result<Option<Built>> {
        if self.count == 0 {
            return Ok(None);
        }
        let samples = std::mem::take(&mut self.samples);
        self.count = 0;
        let end = self.last_end.unwrap_or(self.first_start);
        // A finished packer (flush, seal, a packer built for one pass)
        // gets no new buffer: `finish` would drop it at once.
        let next = match self.spare.take() {
            Some(spare) => spare,
            None if self.idle => Vec::new(),
            None => Vec::with_capacity(self.list.capacity()),
        };
        let list = std::mem::replace(&mut self.list, next);
        Ok(Some(Built {
            start: self.first_start,
            end,
            samples,
            compression: self.limits.compression,
            list,
            packed: None,
        }))
    }

    /// Takes back the list buffer of a stored chunk (one is kept, and
    /// none by a finished packer).
    pub fn recycle(&mut self, mut b: Built) {
        if self.spare.is_none() && !self.idle {
            b.list.clear();
            self.spare = Some(b.list);
        }
    }

    /// Closes the open chunk, if any, forgets the cell and frees the list
    /// buffer (a stream may be idle for a while).
    pub fn finish(&mut self) -> Result<Option<Built>> {
        self.idle = true;
        let b = self.close_cell()?;
        self.list = Vec::new();
        self.spare = None;
        Ok(b)
    }

    /// Closes the open chunk, if any, and forgets the cell; the buffers
    /// are kept for the next cell.
    pub fn close_cell(&mut self) -> Result<Option<Built>> {
        let b = self.close()?;
        self.cell = None;
        self.last_end = None;
        Ok(b)
    }

    /// Adds the items of a serialized list of this stream (time-ordered,
    /// within one cell): timestamped and periodic items that scan are
    /// copied as they are, anything else is decoded and pushed.
    pub fn push_list(&mut self, list: &bytes::Bytes, out: &mut Vec<Built>) -> Result<()> {
        let Some(items) = rta_core::encoded::list_items(list) else {
            let decoded = <T::List as prost::Message>::decode(list.clone()).map_err(|source| {
                rta_core::Error::Decode {
                    what: "stored chunk list",
                    source,
                }
            })?;
            for it in decoded.into_items() {
                self.push(it, out)?;
            }
            return Ok(());
        };
        for body in items {
            match EncodedSeries::scan(T::KIND, body.clone()) {
                Some(e)
                    if e.samples() <= self.limits.max_result_samples
                        && e.end() <= self.grid.cell_end(e.start()) =>
                {
                    self.push_encoded(e.raw(), (e.start(), e.end()), e.samples(), out)?;
                }
                _ => {
                    let item = T::decode(body).map_err(|source| rta_core::Error::Decode {
                        what: "stored chunk item",
                        source,
                    })?;
                    self.push(item, out)?;
                }
            }
        }
        Ok(())
    }

    /// Packs a whole sorted list of items.
    pub fn pack_all(
        grid: ChunkGrid,
        limits: PackLimits,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<Built>> {
        let mut p = Self::new(grid, limits);
        let mut out = Vec::new();
        for it in items {
            p.push(it, &mut out)?;
        }
        out.extend(p.finish()?);
        Ok(out)
    }
}
