//! Turns a source's batches into chunks, one grid cell at a time.
//!
//! Each series (a channel, or the events) collects the samples of its
//! current cell; when a sample of a later cell arrives, or the source ends,
//! the cell is closed and chunked on its own. A cell's chunks therefore
//! depend only on the samples in it, never on how the source split its
//! batches or on the range asked for: the stable boundaries the spec asks for.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::channel::oneshot;

use rta_core::chunk::{Chunk, ChunkGrid, ChunkLimits, Chunker};
use rta_core::data::DataKind;
use rta_core::proto::data::Event;
use rta_core::{Error, Result};

use super::cache::{CellKey, ChunkCache};
use super::samples::{Batch, Samples};

/// The chunks of the cells one step closed, once built.
pub(crate) type Building = oneshot::Receiver<Result<Vec<Chunk>>>;

/// Where a cell's chunks go in the cache.
type CacheSlot = (Arc<ChunkCache>, CellKey);

/// Most empty cells recorded in the cache for one gap.
const MAX_EMPTY_CELLS: i64 = 4096;

#[derive(Debug)]
enum Buf {
    Times(Vec<i64>, Option<Samples>),
    Runs(Vec<(i64, i64, Samples)>),
    Events(Vec<Event>),
}

#[derive(Debug)]
struct Open {
    cell: Option<i64>,
    last_time: Option<i64>,
    /// The cell after the last one closed (cells before it are done).
    next_cell: i64,
    buf: Buf,
}

/// The chunk builder of one request.
#[derive(Debug)]
pub(crate) struct Cells {
    grid: ChunkGrid,
    limits: ChunkLimits,
    kind: DataKind,
    lo: i64,
    hi: i64,
    open: HashMap<Option<u32>, Open>,
    /// Series in the order they were asked for.
    series: Vec<Option<u32>>,
    /// The chunks of every closed cell, in the order the cells closed
    /// (being built, or built, on rayon's pool: one entry per step).
    pub(crate) out: VecDeque<Building>,
    /// Cells closed but not yet handed to the pool.
    closed: Vec<(Job, Option<CacheSlot>)>,
    cache: Option<(Arc<ChunkCache>, String)>,
}

impl Cells {
    pub(crate) fn new(
        grid: ChunkGrid,
        limits: ChunkLimits,
        kind: DataKind,
        (lo, hi): (i64, i64),
        series: Vec<Option<u32>>,
        cache: Option<(Arc<ChunkCache>, String)>,
    ) -> Self {
        let open = series
            .iter()
            .map(|s| {
                let buf = match kind {
                    DataKind::Periodic => Buf::Runs(Vec::new()),
                    DataKind::Events => Buf::Events(Vec::new()),
                    _ => Buf::Times(Vec::new(), None),
                };
                let first = if lo == i64::MIN {
                    i64::MIN
                } else {
                    grid.cell_start(lo)
                };
                let o = Open {
                    cell: None,
                    last_time: None,
                    next_cell: first,
                    buf,
                };
                (*s, o)
            })
            .collect();
        Cells {
            grid,
            limits,
            kind,
            lo,
            hi,
            open,
            series,
            out: VecDeque::new(),
            closed: Vec::new(),
            cache,
        }
    }

    /// Adds a batch from the source; the chunks of the cells it closed are
    /// queued in [`Cells::out`].
    pub(crate) fn push(&mut self, batch: Batch) -> Result<()> {
        let r = self.add(batch);
        match r {
            Ok(()) => self.build_closed(),
            Err(_) => self.closed.clear(),
        }
        r
    }

    fn add(&mut self, batch: Batch) -> Result<()> {
        match (batch, self.kind) {
            (Batch::Events(events), DataKind::Events) => self.push_events(events),
            (
                Batch::Timestamped {
                    channel,
                    times,
                    values,
                },
                DataKind::Timestamped,
            ) => self.push_times(channel, &times, &values),
            (
                Batch::Periodic {
                    channel,
                    start,
                    interval,
                    values,
                },
                DataKind::Timestamped,
            ) => {
                let times = run_times(start, interval, values.len())?;
                self.push_times(channel, &times, &values)
            }
            (
                Batch::Periodic {
                    channel,
                    start,
                    interval,
                    values,
                },
                DataKind::Periodic,
            ) => self.push_run(channel, start, interval, &values),
            (b, kind) => Err(Error::Data(format!(
                "the source returned {} for a {} request",
                match b {
                    Batch::Timestamped { .. } => "timestamped samples",
                    Batch::Periodic { .. } => "periodic samples",
                    Batch::Events(_) => "events",
                },
                kind.path_segment()
            ))),
        }
    }

    fn check_order(open: &mut Open, series: Option<u32>, first: i64, last: i64) -> Result<()> {
        if let Some(prev) = open.last_time {
            if first < prev {
                return Err(Error::Data(format!(
                    "{}: sample at {first} comes after one at {prev} (samples must be in time order)",
                    name(series)
                )));
            }
        }
        open.last_time = Some(last);
        Ok(())
    }

    fn push_times(&mut self, channel: u32, times: &[i64], values: &Samples) -> Result<()> {
        if times.len() != values.len() {
            return Err(Error::Data(format!(
                "channel {channel}: {} times for {} samples",
                times.len(),
                values.len()
            )));
        }
        if let Some(w) = times.windows(2).find(|w| w[1] < w[0]) {
            return Err(Error::Data(format!(
                "channel {channel}: sample at {} comes after one at {} (samples must be in time order)",
                w[1], w[0]
            )));
        }
        let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
            return Ok(());
        };
        let series = Some(channel);
        let Some(open) = self.open.get_mut(&series) else {
            return Ok(()); // not asked for
        };
        Self::check_order(open, series, first, last)?;
        let from = times.partition_point(|t| *t < self.lo);
        let to = times.partition_point(|t| *t <= self.hi);
        let mut i = from;
        while i < to {
            let cell = self.grid.cell_start(times[i]);
            let cell_end = self.grid.cell_end(times[i]);
            let j = i + times[i..to].partition_point(|t| *t <= cell_end);
            self.enter(series, cell)?;
            if let Some(Open {
                buf: Buf::Times(t, v),
                ..
            }) = self.open.get_mut(&series)
            {
                t.extend_from_slice(&times[i..j]);
                match v {
                    Some(v) => v.extend_from_range(values, i..j)?,
                    None => *v = Some(values.slice(i..j)),
                }
            }
            i = j;
        }
        Ok(())
    }

    fn push_run(
        &mut self,
        channel: u32,
        start: i64,
        interval: i64,
        values: &Samples,
    ) -> Result<()> {
        let n = values.len() as i128;
        if n == 0 {
            return Ok(());
        }
        if interval <= 0 {
            return Err(Error::Data(format!(
                "channel {channel}: periodic interval {interval} is not positive"
            )));
        }
        let (s, iv) = (i128::from(start), i128::from(interval));
        let last = s + (n - 1) * iv;
        if last > i128::from(i64::MAX) {
            return Err(Error::Data(format!(
                "channel {channel}: run ends after the year 2262"
            )));
        }
        let series = Some(channel);
        let Some(open) = self.open.get_mut(&series) else {
            return Ok(());
        };
        Self::check_order(open, series, start, last as i64)?;
        // Sample indices inside [lo, hi].
        let from = if s >= i128::from(self.lo) {
            0
        } else {
            (i128::from(self.lo) - s + iv - 1) / iv
        };
        let to = if last <= i128::from(self.hi) {
            n
        } else {
            ((i128::from(self.hi) - s).div_euclid(iv) + 1).max(0)
        };
        let mut i = from;
        while i < to {
            let t = (s + i * iv) as i64;
            let cell = self.grid.cell_start(t);
            let cell_end = i128::from(self.grid.cell_end(t));
            let j = ((cell_end - s) / iv + 1).min(to);
            self.enter(series, cell)?;
            if let Some(Open {
                buf: Buf::Runs(runs),
                ..
            }) = self.open.get_mut(&series)
            {
                let part = values.slice(i as usize..j as usize);
                match runs.last_mut() {
                    Some((rs, ri, rv))
                        if *ri == interval
                            && i128::from(*rs) + rv.len() as i128 * iv == i128::from(t)
                            && rv.type_name() == part.type_name() =>
                    {
                        rv.extend_from(&part)?
                    }
                    _ => runs.push((t, interval, part)),
                }
            }
            i = j;
        }
        Ok(())
    }

    fn push_events(&mut self, events: Vec<Event>) -> Result<()> {
        if !self.open.contains_key(&None) {
            return Ok(());
        }
        for e in events {
            let t = e.timestamp;
            if let Some(open) = self.open.get_mut(&None) {
                Self::check_order(open, None, t, t)?;
            }
            if t < self.lo || t > self.hi {
                continue;
            }
            self.enter(None, self.grid.cell_start(t))?;
            if let Some(Open {
                buf: Buf::Events(list),
                ..
            }) = self.open.get_mut(&None)
            {
                list.push(e);
            }
        }
        Ok(())
    }

    /// Makes `cell` the open cell of `series`, closing the previous one.
    fn enter(&mut self, series: Option<u32>, cell: i64) -> Result<()> {
        let current = self.open.get(&series).and_then(|o| o.cell);
        if current != Some(cell) {
            self.close(series)?;
            if let Some(o) = self.open.get_mut(&series) {
                o.cell = Some(cell);
            }
        }
        Ok(())
    }

    /// Closes the open cell of `series` (if any), to be chunked by
    /// [`Cells::build_closed`].
    fn close(&mut self, series: Option<u32>) -> Result<()> {
        let Some(open) = self.open.get_mut(&series) else {
            return Ok(());
        };
        let Some(cell) = open.cell.take() else {
            return Ok(());
        };
        let job = match &mut open.buf {
            Buf::Times(times, values) => match (series, values.take()) {
                (Some(ch), Some(v)) => Some(Job::Times(ch, std::mem::take(times), v)),
                _ => {
                    times.clear();
                    None
                }
            },
            Buf::Runs(runs) => Some(Job::Runs(series.unwrap_or_default(), std::mem::take(runs))),
            Buf::Events(list) => Some(Job::Events(std::mem::take(list))),
        };
        let period = self.grid.period();
        let gap_from = std::mem::replace(&mut open.next_cell, cell.saturating_add(period));
        self.cache_empty(series, gap_from, cell);
        let cache = self
            .cache
            .as_ref()
            .map(|(cache, identity)| (cache.clone(), self.key(identity, series, cell)));
        let Some(job) = job else {
            if let Some((cache, key)) = cache {
                cache.put(key, Vec::new());
            }
            return Ok(());
        };
        self.closed.push((job, cache));
        Ok(())
    }

    /// Hands the cells closed since the last call to rayon's pool, as one
    /// task (one wake-up per batch of the source, not per cell), and
    /// queues its result in [`Cells::out`].
    fn build_closed(&mut self) {
        if self.closed.is_empty() {
            return;
        }
        let jobs = std::mem::take(&mut self.closed);
        let (grid, limits) = (self.grid, self.limits);
        let (tx, rx) = oneshot::channel();
        rayon::spawn(move || {
            let built = std::panic::catch_unwind(AssertUnwindSafe(|| {
                let mut chunks = Vec::new();
                for (job, cache) in jobs {
                    let cell = job.build(grid, limits)?;
                    if let Some((cache, key)) = cache {
                        cache.put(key, cell.clone());
                    }
                    chunks.extend(cell);
                }
                Ok(chunks)
            }))
            .unwrap_or_else(|_| Err(Error::Internal("building chunks panicked".into())));
            let _ = tx.send(built); // (the request may have gone away)
        });
        self.out.push_back(rx);
    }

    fn key(&self, identity: &str, series: Option<u32>, cell: i64) -> CellKey {
        CellKey {
            identity: identity.to_string(),
            kind: self.kind,
            channel: series,
            period: self.grid.period(),
            cell,
        }
    }

    /// Records the cells in `[from, to)` of `series` as empty.
    fn cache_empty(&self, series: Option<u32>, from: i64, to: i64) {
        let Some((cache, identity)) = &self.cache else {
            return;
        };
        let period = self.grid.period();
        if from == i64::MIN || to <= from || (to - from) / period > MAX_EMPTY_CELLS {
            return;
        }
        let mut cell = from;
        while cell < to {
            cache.put(self.key(identity, series, cell), Vec::new());
            cell += period;
        }
    }

    /// Closes every open cell after the source ended.
    pub(crate) fn finish(&mut self) -> Result<()> {
        let r = self.close_all();
        match r {
            Ok(()) => self.build_closed(),
            Err(_) => self.closed.clear(),
        }
        r
    }

    fn close_all(&mut self) -> Result<()> {
        for series in self.series.clone() {
            self.close(series)?;
            if self.hi != i64::MAX {
                if let Some(next) = self.open.get(&series).map(|o| o.next_cell) {
                    let end = self
                        .grid
                        .cell_start(self.hi)
                        .saturating_add(self.grid.period());
                    self.cache_empty(series, next, end);
                }
            }
        }
        Ok(())
    }
}

/// The samples of one closed cell, to be chunked.
#[derive(Debug)]
enum Job {
    Times(u32, Vec<i64>, Samples),
    Runs(u32, Vec<(i64, i64, Samples)>),
    Events(Vec<Event>),
}

impl Job {
    fn build(self, grid: ChunkGrid, limits: ChunkLimits) -> Result<Vec<Chunk>> {
        match self {
            Job::Times(channel, times, values) => {
                let item = values.timestamped(channel, &times)?;
                Chunker::chunk_all(grid, limits, [item])
            }
            Job::Runs(channel, runs) => {
                let mut items = Vec::with_capacity(runs.len());
                for (start, interval, v) in runs {
                    items.push(v.periodic(channel, start, interval)?);
                }
                Chunker::chunk_all(grid, limits, items)
            }
            Job::Events(list) => Chunker::chunk_all(grid, limits, list),
        }
    }
}

fn name(series: Option<u32>) -> String {
    series.map_or_else(|| "events".to_string(), |c| format!("channel {c}"))
}

/// The times of a periodic run.
fn run_times(start: i64, interval: i64, n: usize) -> Result<Vec<i64>> {
    (0..n as i64)
        .map(|i| {
            i.checked_mul(interval)
                .and_then(|d| start.checked_add(d))
                .ok_or_else(|| {
                    Error::Data(format!("periodic run from {start} overflows at sample {i}"))
                })
        })
        .collect()
}
