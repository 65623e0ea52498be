//! Groups time-ordered items of one stream into chunks: never across a grid
//! cell, results of at most `max_result_samples`, lists closed once they
//! reach the target size, and never between two items at the same time (so
//! chunks of one stream never overlap).

use rta_core::chunk::{Chunk, ChunkGrid, Compression};
use rta_core::data::DataList;
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

/// The open chunk of a stream.
#[derive(Debug)]
pub(crate) struct Packer<T: StoredItem> {
    pub grid: ChunkGrid,
    pub limits: PackLimits,
    channel_ids: Vec<u32>,
    cell: Option<i64>,
    first_start: i64,
    items: Vec<T>,
    bytes: usize,
    samples: u64,
    last_end: Option<i64>,
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
            items: Vec::new(),
            bytes: 0,
            samples: 0,
            last_end: None,
        }
    }

    /// Items of the open chunk.
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Serialized bytes buffered.
    pub fn bytes(&self) -> usize {
        self.bytes
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
        let s = bounds.0;
        let cell = self.grid.cell_start(s);
        if self.cell != Some(cell) {
            out.extend(self.finish()?);
            self.cell = Some(cell);
        }
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

    fn add(&mut self, h: T, (hs, he): (i64, i64), out: &mut Vec<Built>) -> Result<()> {
        let len = prost::Message::encoded_len(&h) + 4;
        let touches_previous = self.last_end.is_some_and(|le| hs <= le);
        if !self.items.is_empty()
            && !touches_previous
            && self.bytes + len > self.limits.target_list_bytes
        {
            out.extend(self.close()?);
        }
        if self.items.is_empty() {
            self.first_start = hs;
        }
        self.bytes += len;
        self.samples += h.sample_count() as u64;
        self.last_end = Some(self.last_end.map_or(he, |le| le.max(he)));
        self.items.push(h);
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

    fn close(&mut self) -> Result<Option<Built>> {
        if self.items.is_empty() {
            return Ok(None);
        }
        let list = T::List::from_items(std::mem::take(&mut self.items));
        let samples = std::mem::take(&mut self.samples);
        self.bytes = 0;
        let end = self.last_end.unwrap_or(self.first_start);
        let chunk = Chunk::encode(
            self.first_start,
            end,
            self.channel_ids.clone(),
            &list,
            self.limits.compression,
        )?;
        Ok(Some(Built { chunk, samples }))
    }

    /// Closes the open chunk, if any, and forgets the cell.
    pub fn finish(&mut self) -> Result<Option<Built>> {
        let b = self.close()?;
        self.cell = None;
        self.last_end = None;
        Ok(b)
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
