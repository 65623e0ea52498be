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

/// A chunk just built, with its sample count.
#[derive(Debug)]
pub(crate) struct Built {
    pub chunk: Chunk,
    pub samples: u64,
}

/// The open chunk of a stream. Its list is kept serialized: typed items are
/// encoded as they come, encoded items copied as they are.
#[derive(Debug)]
pub(crate) struct Packer<T: StoredItem> {
    pub grid: ChunkGrid,
    pub limits: PackLimits,
    channel_ids: Vec<u32>,
    cell: Option<i64>,
    first_start: i64,
    /// The serialized list (field 1 of the list message, repeated).
    list: Vec<u8>,
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
    pub fn new(grid: ChunkGrid, limits: PackLimits, channel_ids: Vec<u32>) -> Self {
        Self {
            grid,
            limits,
            channel_ids,
            cell: None,
            first_start: 0,
            list: Vec::new(),
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

    /// Memory held by the open list: its capacity, which outlives the
    /// chunks it builds until [`Packer::finish`], so that the write-buffer
    /// budget counts it.
    pub fn bytes(&self) -> usize {
        self.list.capacity()
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
            out.extend(self.finish()?);
            self.cell = Some(cell);
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

    /// Closes the open chunk; its list buffer is kept for the next one.
    fn close(&mut self) -> Result<Option<Built>> {
        if self.count == 0 {
            return Ok(None);
        }
        let samples = std::mem::take(&mut self.samples);
        self.count = 0;
        let end = self.last_end.unwrap_or(self.first_start);
        let chunk = Chunk::from_serialized(
            self.first_start,
            end,
            self.channel_ids.clone(),
            &self.list,
            self.limits.compression,
        );
        self.list.clear();
        Ok(Some(Built {
            chunk: chunk?,
            samples,
        }))
    }

    /// Closes the open chunk, if any, forgets the cell and frees the list
    /// buffer (a stream may be idle for a while).
    pub fn finish(&mut self) -> Result<Option<Built>> {
        let b = self.close()?;
        self.cell = None;
        self.last_end = None;
        self.list = Vec::new();
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
        channel_ids: &[u32],
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<Built>> {
        let mut p = Self::new(grid, limits, channel_ids.to_vec());
        let mut out = Vec::new();
        for it in items {
            p.push(it, &mut out)?;
        }
        out.extend(p.finish()?);
        Ok(out)
    }
}
