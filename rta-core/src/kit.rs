//! The adapter author's kit: turn data an adapter has read into the chunks
//! a [`DataRequest`] asks for, on the spec's stable chunk grid.
//!
//! A [`DataService`](crate::service::DataService) must answer every request
//! with chunks whose boundaries do not depend on the range asked for, so that
//! ATLAS can cache them. [`GridChunks`] does that part: an adapter reads the
//! range [`GridChunks::read_range`] gives (the request rounded out to the
//! grid) from its own files or database, builds data items with
//! [`crate::data`], and hands them to [`GridChunks::chunks`], which keeps the
//! channels asked for, clips the items to the rounded range and chunks each
//! series on the grid.
//!
//! ```
//! use rta_core::chunk::ChunkGrid;
//! use rta_core::data::{timestamped, DataKind};
//! use rta_core::kit::GridChunks;
//! use rta_core::service::DataRequest;
//!
//! let kit = GridChunks::new(ChunkGrid::new(1_000_000_000)?); // 1 s cells
//! let req = DataRequest::channels(DataKind::Timestamped, "s1", "0-1".parse()?)
//!     .with_bounds(Some(1_200_000_000), Some(1_300_000_000));
//! assert_eq!(kit.read_range(&req), (Some(1_000_000_000), Some(1_999_999_999)));
//!
//! let times: Vec<i64> = (0..30).map(|i| i * 100_000_000).collect(); // 0 .. 2.9 s
//! let items = [0u32, 1, 2].map(|ch| timestamped(ch, &times, &vec![1.0f64; 30]));
//! let chunks = kit.chunks(&req, items.into_iter().collect::<Result<Vec<_>, _>>()?)?;
//! // Channels 0 and 1 (not 2), each clipped to the grid cell [1 s, 2 s).
//! assert_eq!(chunks.len(), 2);
//! assert!(chunks.iter().all(|c| (c.start, c.end) == (1_000_000_000, 1_900_000_000)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;

use futures::StreamExt;

use crate::chunk::{Chunk, ChunkGrid, ChunkLimits, Chunker};
use crate::data::{DataItem, ListOf};
use crate::service::{ChunkStream, DataRequest};
use crate::Result;

/// Chunks data for requests on one stable grid (see the [module](self)).
#[derive(Debug, Clone, Copy)]
pub struct GridChunks {
    grid: ChunkGrid,
    limits: ChunkLimits,
}

impl GridChunks {
    /// Chunks on `grid` with the default [`ChunkLimits`].
    pub fn new(grid: ChunkGrid) -> Self {
        Self {
            grid,
            limits: ChunkLimits::default(),
        }
    }

    /// Sets the size limits of each chunk.
    pub fn with_limits(mut self, limits: ChunkLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The grid.
    pub fn grid(&self) -> ChunkGrid {
        self.grid
    }

    /// The range an adapter should read for `req`: its bounds rounded out
    /// to whole grid cells (`None` is open-ended).
    pub fn read_range(&self, req: &DataRequest) -> (Option<i64>, Option<i64>) {
        self.grid.round_out(req.start, req.end)
    }

    /// The chunks of `items` that `req` selects: items of the channels it
    /// names (all items for events), clipped to [`read_range`](Self::read_range),
    /// chunked series by series (a series is the items with the same channel
    /// ids, taken in time order; items that start together keep their order).
    /// The kind of `T` must be the request's kind.
    pub fn chunks<T: ListOf>(
        &self,
        req: &DataRequest,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<Chunk>> {
        let (start, end) = self.read_range(req);
        let (lo, hi) = (start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX));
        let mut series: BTreeMap<Vec<u32>, Vec<(i64, T)>> = BTreeMap::new();
        for item in items {
            let ids = item.channel_ids();
            let selected = match &req.channels {
                None => true,
                Some(expr) => ids.iter().any(|c| expr.contains(*c)),
            };
            if !selected {
                continue;
            }
            if let Some(part) = clip(&item, lo, hi)? {
                let at = part.time_bounds().map_or(i64::MIN, |(s, _)| s);
                series.entry(ids.to_vec()).or_default().push((at, part));
            }
        }
        let mut out = Vec::new();
        for (_, mut items) in series {
            // A stable sort: items that start together keep their order.
            items.sort_by_key(|(at, _)| *at);
            let items = items.into_iter().map(|(_, item)| item);
            out.extend(Chunker::chunk_all(self.grid, self.limits, items)?);
        }
        Ok(out)
    }

    /// [`chunks`](Self::chunks) as the stream a `DataService::read` returns.
    pub fn stream<T: ListOf>(
        &self,
        req: &DataRequest,
        items: impl IntoIterator<Item = T>,
    ) -> Result<ChunkStream> {
        let chunks = self.chunks(req, items)?;
        Ok(futures::stream::iter(chunks.into_iter().map(Ok)).boxed())
    }
}

/// The part of `item` inside `[lo, hi]`, if any.
pub fn clip<T: DataItem>(item: &T, lo: i64, hi: i64) -> Result<Option<T>> {
    let Some((s, e)) = item.time_bounds() else {
        return Ok(None);
    };
    if e < lo || s > hi {
        return Ok(None);
    }
    let mut part = item.clone();
    if s < lo {
        match part.split_at_time(lo)?.1 {
            Some(tail) => part = tail,
            None => return Ok(None),
        }
    }
    if e > hi {
        match part.split_at_time(hi.saturating_add(1))?.0 {
            Some(head) => part = head,
            None => return Ok(None),
        }
    }
    Ok(Some(part))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{periodic, DataKind};

    fn kit() -> GridChunks {
        GridChunks::new(ChunkGrid::new(1_000_000_000).unwrap())
    }

    #[test]
    fn same_chunks_whatever_range_inside_a_cell() {
        let item = periodic(3, 0, 1_000_000, &[7u16; 5000]).unwrap();
        let a = DataRequest::channels(DataKind::Periodic, "s", "3".parse().unwrap())
            .with_bounds(Some(2_100_000_000), Some(2_200_000_000));
        let b = DataRequest::channels(DataKind::Periodic, "s", "3".parse().unwrap())
            .with_bounds(Some(2_900_000_000), Some(2_950_000_000));
        let ca = kit().chunks(&a, [item.clone()]).unwrap();
        let cb = kit().chunks(&b, [item]).unwrap();
        assert_eq!(ca.len(), 1);
        assert_eq!(ca, cb);
        assert_eq!((ca[0].start, ca[0].end), (2_000_000_000, 2_999_000_000));
    }

    #[test]
    fn series_are_chunked_apart_and_in_time_order() {
        let late = periodic(1, 1_000_000_000, 1_000_000, &[1u16; 10]).unwrap();
        let early = periodic(1, 0, 1_000_000, &[2u16; 10]).unwrap();
        let other = periodic(2, 0, 1_000_000, &[3u16; 10]).unwrap();
        let req = DataRequest::channels(DataKind::Periodic, "s", "0-F".parse().unwrap());
        let chunks = kit().chunks(&req, [late, other, early]).unwrap();
        let spans: Vec<_> = chunks.iter().map(|c| c.start).collect();
        assert_eq!(
            spans,
            [0, 1_000_000_000, 0],
            "channel 1 in order, then channel 2"
        );
    }

    #[test]
    fn nothing_outside_the_range() {
        let item = periodic(1, 0, 1_000_000, &[1u16; 10]).unwrap();
        let req = DataRequest::channels(DataKind::Periodic, "s", "1".parse().unwrap())
            .with_bounds(Some(5_000_000_000), None);
        assert!(kit().chunks(&req, [item]).unwrap().is_empty());
    }
}
