//! The rows of an export, built a time window at a time as the channels'
//! samples arrive, with the same result as building one table of them all
//! (`rta_core::arrow::from_timestamped`) when every channel's times are
//! strictly increasing:
//!
//! - the rows are the union of the channels' times, in order;
//! - a channel without a sample at a row's time has a null there (and zeros
//!   under it); its column is nullable exactly when that happens anywhere.
//!
//! A channel's samples up to its latest time are final (its later ones are
//! later), so every row up to the earliest of the channels' latest times
//! is final too: [`Rows::take`] builds those rows and leaves the rest.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use arrow_array::TimestampNanosecondArray;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_buffer::{BooleanBufferBuilder, Buffer, MutableBuffer, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use rta_core::arrow::column_array;

use crate::arrow::{arrow_type, ChannelColumn};
use crate::{Error, Result};

/// Samples of one channel that arrived and are not in a batch yet: the
/// items' own buffers, the first partly taken.
struct Lane {
    items: VecDeque<Part>,
    width: usize,
    /// Samples held (of every part, from its `at` on).
    held: usize,
    /// The channel's latest time so far.
    last: Option<i64>,
}

/// An item's samples from `at` on.
struct Part {
    times: Arc<[i64]>,
    values: Bytes,
    at: usize,
}

/// What [`Rows::push`] did with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Added to its channel's column.
    Added,
    /// The channel has no column here.
    Unknown,
    /// Its times do not follow the channel's strictly.
    OutOfOrder,
    /// Its buffer does not hold one value of the column's type per time.
    BadSize,
}

/// What [`Rows::take`] built.
#[derive(Debug)]
pub(super) enum Taken {
    /// The final rows so far, in the schema of [`Rows::schema`].
    Batch(RecordBatch),
    /// These columns have an empty cell, but the schema already written
    /// says they have none: the batch cannot be written.
    Widened(Vec<u32>),
}

/// Rows under construction: one column per channel, in channel order.
pub(super) struct Rows {
    columns: Vec<ChannelColumn>,
    lanes: Vec<Lane>,
    index: HashMap<u32, usize>,
    nullable: BTreeSet<u32>,
    /// Whether a batch has been handed out, fixing the columns' nullability.
    fixed: bool,
    /// Final rows gathered before they are built into a batch.
    window: usize,
}

impl Rows {
    /// Rows of `columns` (in channel order); the channels of `nullable` get
    /// nullable columns from the start, the others once a null turns up
    /// before the first batch; batches of at least `window` rows (but at
    /// the end).
    pub(super) fn new(columns: Vec<ChannelColumn>, nullable: BTreeSet<u32>, window: usize) -> Self {
        let lanes = columns
            .iter()
            .map(|c| Lane {
                items: VecDeque::new(),
                held: 0,
                width: c.data_type.width(),
                last: None,
            })
            .collect();
        let index = columns
            .iter()
            .enumerate()
            .map(|(k, c)| (c.channel, k))
            .collect();
        Self {
            columns,
            lanes,
            index,
            nullable,
            fixed: false,
            window,
        }
    }

    /// Channels whose columns have an empty cell so far (or were given).
    pub(super) fn nullable(&self) -> &BTreeSet<u32> {
        &self.nullable
    }

    /// The batches' schema: `time` and the channels' columns.
    pub(super) fn schema(&self) -> SchemaRef {
        let mut fields = vec![Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            false,
        )];
        fields.extend(self.columns.iter().map(|c| {
            Field::new(
                &c.name,
                arrow_type(c.data_type),
                self.nullable.contains(&c.channel),
            )
        }));
        Arc::new(Schema::new(fields))
    }

    /// Appends samples of `channel` (values little-endian, one per time;
    /// `increasing`: the times are known to increase strictly).
    pub(super) fn push(
        &mut self,
        channel: u32,
        times: Arc<[i64]>,
        increasing: bool,
        values: Bytes,
    ) -> Pushed {
        let Some(&k) = self.index.get(&channel) else {
            return Pushed::Unknown;
        };
        let lane = &mut self.lanes[k];
        if values.len() != times.len() * lane.width {
            return Pushed::BadSize;
        }
        let mut last = lane.last;
        if increasing {
            if let (Some(l), Some(&first)) = (last, times.first()) {
                if first <= l {
                    return Pushed::OutOfOrder;
                }
            }
            last = times.last().copied().or(last);
        } else {
            for &t in times.iter() {
                if last.is_some_and(|l| t <= l) {
                    return Pushed::OutOfOrder;
                }
                last = Some(t);
            }
        }
        lane.last = last;
        if !times.is_empty() {
            lane.held += times.len();
            lane.items.push_back(Part {
                times,
                values,
                at: 0,
            });
        }
        Pushed::Added
    }

    /// The time up to which rows are final: the earliest of the channels'
    /// latest times (`None` while a channel has had no sample).
    fn final_until(&self) -> Option<i64> {
        self.lanes.iter().map(|l| l.last).min().flatten()
    }

    /// Whether a window of final rows is ready.
    pub(super) fn ready(&self) -> bool {
        let Some(until) = self.final_until() else {
            return false;
        };
        self.lanes
            .iter()
            .any(|l| l.held >= self.window && l.upto(Some(until)) >= self.window)
    }

    /// The final rows, or with `all` every row (at the end of the data);
    /// `None` when there are none.
    pub(super) fn take(&mut self, all: bool) -> Result<Option<Taken>> {
        let until = if all {
            None
        } else {
            match self.final_until() {
                Some(t) => Some(t),
                None => return Ok(None),
            }
        };
        let counts: Vec<usize> = self.lanes.iter().map(|l| l.upto(until)).collect();
        let Some(&first) = counts.first() else {
            return Ok(None);
        };
        let (lead, others) = self.lanes.split_at(1);
        let aligned = counts.iter().all(|&n| n == first)
            && others.iter().all(|l| l.same_first(&lead[0], first));
        let rows: Vec<i64> = if aligned {
            lead[0].times(first)
        } else {
            let mut t: Vec<i64> = self
                .lanes
                .iter()
                .zip(&counts)
                .flat_map(|(l, &n)| l.times(n))
                .collect();
            t.sort_unstable();
            t.dedup();
            t
        };
        if rows.is_empty() {
            return Ok(None);
        }
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.lanes.len() + 1);
        let mut with_nulls = Vec::new();
        for ((lane, c), &n) in self.lanes.iter_mut().zip(&self.columns).zip(&counts) {
            let (values, nulls) = if aligned || n == rows.len() {
                // n == rows.len(): the lane has every row (its times are a
                // subset of the rows, as many).
                (lane.take(n), None)
            } else {
                with_nulls.push(c.channel);
                let times = lane.times(n);
                let values = lane.take(n);
                spread(&times, &values, lane.width, &rows)
            };
            arrays.push(column_array(c.data_type, values, nulls, rows.len())?);
        }
        let len = rows.len();
        arrays.insert(
            0,
            Arc::new(TimestampNanosecondArray::new(
                ScalarBuffer::from(rows),
                None,
            )),
        );
        debug_assert!(arrays.iter().all(|a| a.len() == len));
        let widened: Vec<u32> = with_nulls
            .into_iter()
            .filter(|ch| self.nullable.insert(*ch))
            .collect();
        if self.fixed && !widened.is_empty() {
            return Ok(Some(Taken::Widened(widened)));
        }
        self.fixed = true;
        let batch = RecordBatch::try_new(self.schema(), arrays)
            .map_err(|e| Error::Decode(format!("record batch: {e}")))?;
        Ok(Some(Taken::Batch(batch)))
    }
}

impl Lane {
    /// How many of the samples are at or before `until` (all: `None`).
    fn upto(&self, until: Option<i64>) -> usize {
        let mut n = 0;
        for p in &self.items {
            let times = &p.times[p.at..];
            match until {
                Some(u) if times.last().is_some_and(|&l| l > u) => {
                    return n + times.partition_point(|&t| t <= u);
                }
                _ => n += times.len(),
            }
        }
        n
    }

    /// The first `n` times.
    fn times(&self, n: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(n);
        for p in &self.items {
            let k = (n - out.len()).min(p.times.len() - p.at);
            out.extend_from_slice(&p.times[p.at..p.at + k]);
            if out.len() == n {
                break;
            }
        }
        out
    }

    /// Whether the first `n` times are `other`'s first `n` (the parts of
    /// channels on one clock share their times: those are not compared).
    fn same_first(&self, other: &Lane, mut n: usize) -> bool {
        let mut mine = self.items.iter().map(|p| &p.times[p.at..]);
        let mut theirs = other.items.iter().map(|p| &p.times[p.at..]);
        let (mut a, mut b): (&[i64], &[i64]) = (&[], &[]);
        while n > 0 {
            if a.is_empty() {
                match mine.next() {
                    Some(t) => a = t,
                    None => return false,
                }
                continue;
            }
            if b.is_empty() {
                match theirs.next() {
                    Some(t) => b = t,
                    None => return false,
                }
                continue;
            }
            let k = a.len().min(b.len()).min(n);
            if !std::ptr::eq(a.as_ptr(), b.as_ptr()) && a[..k] != b[..k] {
                return false;
            }
            (a, b, n) = (&a[k..], &b[k..], n - k);
        }
        true
    }

    /// The values of the first `n` samples, taken out (one copy, into an
    /// Arrow buffer).
    fn take(&mut self, n: usize) -> Buffer {
        let mut out = MutableBuffer::new(n * self.width);
        let mut left = n;
        while left > 0 {
            let Some(p) = self.items.front_mut() else {
                break;
            };
            let k = left.min(p.times.len() - p.at);
            out.extend_from_slice(&p.values[p.at * self.width..(p.at + k) * self.width]);
            p.at += k;
            left -= k;
            self.held -= k;
            if p.at == p.times.len() {
                self.items.pop_front();
            }
        }
        out.into()
    }
}

/// Places a channel's samples (strictly increasing `times`, each one of
/// `rows`) on `rows`: zeros and a null where the channel has no sample.
fn spread(
    times: &[i64],
    values: &[u8],
    width: usize,
    rows: &[i64],
) -> (Buffer, Option<NullBuffer>) {
    let mut out = MutableBuffer::from_len_zeroed(rows.len() * width);
    let mut valid = BooleanBufferBuilder::new(rows.len());
    valid.append_n(rows.len(), false);
    let mut r = 0;
    for (i, t) in times.iter().enumerate() {
        while r < rows.len() && rows[r] < *t {
            r += 1;
        }
        if r < rows.len() && rows[r] == *t {
            out.as_slice_mut()[r * width..(r + 1) * width]
                .copy_from_slice(&values[i * width..(i + 1) * width]);
            valid.set_bit(r, true);
        }
    }
    (out.into(), Some(NullBuffer::new(valid.finish())))
}
