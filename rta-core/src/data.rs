//! Building and reading the four data representations.
//!
//! Sample buffers are little-endian and every sample of a buffer has the same
//! width ([`Sample::WIDTH`]); the channel's type comes from configuration.
//! Timestamps are signed nanoseconds since the Unix epoch.
//!
//! ```
//! use rta_core::data::{timestamped, read_timestamps, read_samples};
//! // The spec's worked example: 11:50:55, 11:50:59, 11:51:04 on 2021-05-04.
//! let t0 = 1_620_129_055_000_000_000i64;
//! let times = [t0, t0 + 4_000_000_000, t0 + 9_000_000_000];
//! let d = timestamped(16, &times, &[12.7f64, 14.9, 21.2]).unwrap();
//! assert_eq!(d.timestamp_deltas_scale, 1_000_000_000);
//! assert_eq!(d.timestamp_deltas, vec![0, 4, 5]);
//! assert_eq!(read_timestamps(&d).unwrap(), times);
//! assert_eq!(read_samples::<f64>(&d.buffer).unwrap(), vec![12.7, 14.9, 21.2]);
//! ```

use bytes::Bytes;

use crate::proto::data::{Event, PeriodicData, RowData, TimestampedData};
use crate::{Error, Result};

/// The four data kinds of the API, as named in REST paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// `TimestampedData` / `TimestampedDataList`.
    Timestamped,
    /// `PeriodicData` / `PeriodicDataList`.
    Periodic,
    /// `RowData` / `RowDataList`.
    Row,
    /// `Event` / `EventsList`.
    Events,
}

impl DataKind {
    /// The path segment of the REST data API (`timestamped`, `periodic`, `row`, `events`).
    pub fn path_segment(self) -> &'static str {
        match self {
            DataKind::Timestamped => "timestamped",
            DataKind::Periodic => "periodic",
            DataKind::Row => "row",
            DataKind::Events => "events",
        }
    }

    /// Parses a REST path segment.
    pub fn from_path_segment(s: &str) -> Result<Self> {
        match s {
            "timestamped" => Ok(DataKind::Timestamped),
            "periodic" => Ok(DataKind::Periodic),
            "row" => Ok(DataKind::Row),
            "events" => Ok(DataKind::Events),
            _ => Err(Error::InvalidArgument(format!(
                "unknown data kind {s:?} (expected timestamped, periodic, row or events)"
            ))),
        }
    }

    /// True for the kinds addressed by channel (all but events).
    pub fn has_channels(self) -> bool {
        !matches!(self, DataKind::Events)
    }
}

/// A fixed-width sample type that can be stored little-endian in a buffer.
pub trait Sample: Copy + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// Bytes per sample.
    const WIDTH: usize;
    /// Appends the little-endian bytes of `self`.
    fn put_le(self, out: &mut Vec<u8>);
    /// Reads one sample from exactly [`Sample::WIDTH`] bytes.
    fn get_le(b: &[u8]) -> Self;
    /// Writes the little-endian bytes of `self` into exactly
    /// [`Sample::WIDTH`] bytes.
    fn write_le(self, out: &mut [u8]) {
        let mut v = Vec::with_capacity(Self::WIDTH);
        self.put_le(&mut v);
        out.copy_from_slice(&v);
    }
}

macro_rules! impl_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            #[inline]
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn write_le(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn get_le(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
impl_sample!(u8, i8, u16, i16, u32, i32, f32, f64);

/// Encodes samples into a little-endian buffer.
pub fn write_samples<T: Sample>(samples: &[T]) -> Bytes {
    let mut out = vec![0u8; samples.len() * T::WIDTH];
    for (b, s) in out.chunks_exact_mut(T::WIDTH).zip(samples) {
        s.write_le(b);
    }
    out.into()
}

/// Decodes a little-endian buffer of samples.
pub fn read_samples<T: Sample>(buf: &[u8]) -> Result<Vec<T>> {
    if !buf.len().is_multiple_of(T::WIDTH) {
        return Err(Error::Data(format!(
            "buffer of {} bytes is not a whole number of {}-byte samples",
            buf.len(),
            T::WIDTH
        )));
    }
    Ok(buf.chunks_exact(T::WIDTH).map(T::get_le).collect())
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Delta-encodes timestamps: `(start, scale, deltas)`, where scale is the GCD
/// of the differences (1 when there are none) and the first delta is 0.
/// Timestamps must be in non-decreasing order.
pub fn encode_timestamps(times: &[i64]) -> Result<(i64, i64, Vec<i64>)> {
    let Some(&start) = times.first() else {
        return Ok((0, 1, Vec::new()));
    };
    if let Some(steady) = steady_deltas(times) {
        return Ok((start, steady.0, steady.1));
    }
    // A run of equal differences (a steady rate) costs no division: the
    // GCD only changes when a difference differs from the previous one.
    let (mut g, mut prev) = (0u64, None);
    for w in times.windows(2) {
        let d = w[1].checked_sub(w[0]).filter(|d| *d >= 0).ok_or_else(|| {
            Error::Data(format!("timestamps out of order: {} then {}", w[0], w[1]))
        })?;
        if prev != Some(d) {
            g = gcd(g, d as u64);
            prev = Some(d);
        }
    }
    let scale = if g == 0 { 1 } else { g as i64 };
    let mut deltas = Vec::with_capacity(times.len());
    deltas.push(0);
    let mut last = (0, 0); // (difference, its quotient)
    deltas.extend(times.windows(2).map(|w| {
        let d = w[1] - w[0];
        if d != last.0 {
            last = (d, d / scale);
        }
        last.1
    }));
    Ok((start, scale, deltas))
}

/// `(scale, deltas)` of at least two evenly spaced, non-decreasing times
/// (the usual case: a steady rate), in a few passes without branches or
/// divisions; `None` for anything else.
fn steady_deltas(times: &[i64]) -> Option<(i64, Vec<i64>)> {
    let (&t0, &t1, &last) = (times.first()?, times.get(1)?, times.last()?);
    let step = t1.checked_sub(t0).filter(|d| *d >= 0)?;
    let even = times
        .windows(2)
        .fold(true, |ok, w| ok & (w[1].wrapping_sub(w[0]) == step));
    // Equal wrapped differences are equal differences unless the times
    // wrapped past i64::MAX, which the exact last time rules out.
    let exact = i128::from(t0) + i128::from(step) * (times.len() as i128 - 1);
    if !even || exact != i128::from(last) {
        return None;
    }
    let (scale, delta) = if step == 0 { (1, 0) } else { (step, 1) };
    let mut deltas = vec![delta; times.len()];
    deltas[0] = 0;
    Some((scale, deltas))
}

/// Expands `(start, scale, deltas)` back into timestamps, checking for overflow.
pub fn decode_timestamps(start: i64, scale: i64, deltas: &[i64]) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(deltas.len());
    let mut t = start;
    for (i, d) in deltas.iter().enumerate() {
        if i > 0 {
            t = d
                .checked_mul(scale)
                .and_then(|x| t.checked_add(x))
                .ok_or_else(|| Error::Data(format!("timestamp overflow at sample {i}")))?;
        }
        out.push(t);
    }
    Ok(out)
}

/// Builds a [`TimestampedData`] from timestamps and samples of one channel.
pub fn timestamped<T: Sample>(
    channel_id: u32,
    times: &[i64],
    samples: &[T],
) -> Result<TimestampedData> {
    if times.len() != samples.len() {
        return Err(Error::Data(format!(
            "{} timestamps for {} samples",
            times.len(),
            samples.len()
        )));
    }
    let (start_timestamp, timestamp_deltas_scale, timestamp_deltas) = encode_timestamps(times)?;
    Ok(TimestampedData {
        channel_id,
        start_timestamp,
        timestamp_deltas_scale,
        timestamp_deltas,
        buffer: write_samples(samples),
    })
}

/// Builds a [`PeriodicData`] of one channel.
pub fn periodic<T: Sample>(
    channel_id: u32,
    start: i64,
    interval: i64,
    samples: &[T],
) -> Result<PeriodicData> {
    if interval <= 0 && samples.len() > 1 {
        return Err(Error::Data(format!(
            "periodic interval must be positive, got {interval}"
        )));
    }
    let n = i32::try_from(samples.len()).map_err(|_| Error::Data("too many samples".into()))?;
    Ok(PeriodicData {
        channel_id,
        start_timestamp: start,
        interval,
        samples: n,
        buffer: write_samples(samples),
    })
}

/// Builds a [`RowData`] from channel ids and an already packed buffer.
pub fn row(channel_ids: Vec<u32>, timestamp: i64, buffer: impl Into<Bytes>) -> RowData {
    RowData {
        channel_ids,
        timestamp,
        buffer: buffer.into(),
    }
}

/// Timestamps of a [`TimestampedData`].
pub fn read_timestamps(d: &TimestampedData) -> Result<Vec<i64>> {
    decode_timestamps(
        d.start_timestamp,
        d.timestamp_deltas_scale,
        &d.timestamp_deltas,
    )
}

/// Timestamps of a [`PeriodicData`].
pub fn periodic_timestamps(d: &PeriodicData) -> Result<Vec<i64>> {
    (0..i64::from(d.samples.max(0)))
        .map(|i| {
            i.checked_mul(d.interval)
                .and_then(|x| d.start_timestamp.checked_add(x))
                .ok_or_else(|| Error::Data(format!("timestamp overflow at sample {i}")))
        })
        .collect()
}

/// An item of a data list: one result (or event), with its time bounds and
/// the ability to be split at a time without re-encoding its samples.
pub trait DataItem: prost::Message + Clone + Default + Sized + Send + Sync + 'static {
    /// The kind of data.
    const KIND: DataKind;

    /// Inclusive `(first, last)` sample times, or `None` when the item has no samples.
    fn time_bounds(&self) -> Option<(i64, i64)>;

    /// Serialized length (what `encoded_len` gives, perhaps faster).
    fn wire_len(&self) -> usize {
        self.encoded_len()
    }

    /// Number of samples (1 for rows and events).
    fn sample_count(&self) -> usize;

    /// Channels the item belongs to (empty for events).
    fn channel_ids(&self) -> &[u32];

    /// Splits into the samples before `t` and those at or after `t`. Sample
    /// buffers are sliced, not copied or re-encoded. Either side may be `None`.
    fn split_at_time(&self, t: i64) -> Result<(Option<Self>, Option<Self>)>;

    /// Splits after the first `n` samples (buffers sliced, not re-encoded).
    fn split_at_sample(&self, n: usize) -> Result<(Option<Self>, Option<Self>)>;

    /// Shifts every time of the item by `offset_ns`.
    fn shift_time(&mut self, offset_ns: i64) -> Result<()>;

    /// Checks internal consistency (buffer length against sample count, order).
    fn validate(&self) -> Result<()>;
}

fn sample_width(buf_len: usize, n: usize, what: &str) -> Result<usize> {
    if n == 0 {
        return if buf_len == 0 {
            Ok(0)
        } else {
            Err(Error::Data(format!("{what} has a buffer but no samples")))
        };
    }
    if !buf_len.is_multiple_of(n) {
        return Err(Error::Data(format!(
            "{what} buffer of {buf_len} bytes does not divide into {n} samples"
        )));
    }
    Ok(buf_len / n)
}

fn shift(t: i64, by: i64) -> Result<i64> {
    t.checked_add(by)
        .ok_or_else(|| Error::Data(format!("time {t} shifted by {by} overflows")))
}

impl DataItem for TimestampedData {
    const KIND: DataKind = DataKind::Timestamped;

    fn wire_len(&self) -> usize {
        crate::list_wire::item_len(self)
    }

    fn time_bounds(&self) -> Option<(i64, i64)> {
        if self.timestamp_deltas.is_empty() {
            return None;
        }
        let mut sum: i64 = 0;
        for d in self.timestamp_deltas.iter().skip(1) {
            sum = sum.saturating_add(*d);
        }
        let end = self
            .start_timestamp
            .saturating_add(sum.saturating_mul(self.timestamp_deltas_scale));
        Some((self.start_timestamp, end))
    }

    fn sample_count(&self) -> usize {
        self.timestamp_deltas.len()
    }

    fn channel_ids(&self) -> &[u32] {
        std::slice::from_ref(&self.channel_id)
    }

    fn split_at_time(&self, t: i64) -> Result<(Option<Self>, Option<Self>)> {
        let times = read_timestamps(self)?;
        let n = times.partition_point(|x| *x < t);
        self.split_at_sample(n)
    }

    fn split_at_sample(&self, n: usize) -> Result<(Option<Self>, Option<Self>)> {
        let count = self.timestamp_deltas.len();
        let w = sample_width(self.buffer.len(), count, "timestamped data")?;
        if n == 0 {
            return Ok((None, (count > 0).then(|| self.clone())));
        }
        if n >= count {
            return Ok((Some(self.clone()), None));
        }
        let mut offset: i64 = 0;
        for d in &self.timestamp_deltas[1..=n] {
            offset = offset
                .checked_add(*d)
                .ok_or_else(|| Error::Data("timestamp delta overflow".into()))?;
        }
        let second_start = offset
            .checked_mul(self.timestamp_deltas_scale)
            .and_then(|x| self.start_timestamp.checked_add(x))
            .ok_or_else(|| Error::Data("timestamp overflow".into()))?;
        let first = TimestampedData {
            channel_id: self.channel_id,
            start_timestamp: self.start_timestamp,
            timestamp_deltas_scale: self.timestamp_deltas_scale,
            timestamp_deltas: self.timestamp_deltas[..n].to_vec(),
            buffer: self.buffer.slice(..n * w),
        };
        let mut deltas = Vec::with_capacity(count - n);
        deltas.push(0);
        deltas.extend_from_slice(&self.timestamp_deltas[n + 1..]);
        let second = TimestampedData {
            channel_id: self.channel_id,
            start_timestamp: second_start,
            timestamp_deltas_scale: self.timestamp_deltas_scale,
            timestamp_deltas: deltas,
            buffer: self.buffer.slice(n * w..),
        };
        Ok((Some(first), Some(second)))
    }

    fn shift_time(&mut self, offset_ns: i64) -> Result<()> {
        self.start_timestamp = shift(self.start_timestamp, offset_ns)?;
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        let n = self.timestamp_deltas.len();
        sample_width(self.buffer.len(), n, "timestamped data")?;
        if n > 0 && self.timestamp_deltas[0] != 0 {
            return Err(Error::Data("first timestamp delta must be 0".into()));
        }
        if n > 1 && self.timestamp_deltas_scale <= 0 {
            return Err(Error::Data(format!(
                "timestamp_deltas_scale must be positive, got {}",
                self.timestamp_deltas_scale
            )));
        }
        // Every time must be representable (what `read_timestamps` checks):
        // the deltas are not negative, so the times only grow and the last
        // one, worked out exactly, is the one to check.
        let mut sum: u128 = 0;
        for &d in self.timestamp_deltas.iter().skip(1) {
            if d < 0 {
                return Err(Error::Data("timestamp deltas must not be negative".into()));
            }
            sum += d as u128;
        }
        let last = i128::from(self.start_timestamp)
            + (sum as i128).saturating_mul(i128::from(self.timestamp_deltas_scale));
        if last > i128::from(i64::MAX) {
            return Err(Error::Data(format!(
                "timestamp overflow at sample {}",
                self.timestamp_deltas.len() - 1
            )));
        }
        Ok(())
    }
}

impl DataItem for PeriodicData {
    const KIND: DataKind = DataKind::Periodic;

    fn time_bounds(&self) -> Option<(i64, i64)> {
        if self.samples <= 0 {
            return None;
        }
        let span = i64::from(self.samples - 1).saturating_mul(self.interval);
        Some((
            self.start_timestamp,
            self.start_timestamp.saturating_add(span),
        ))
    }

    fn sample_count(&self) -> usize {
        self.samples.max(0) as usize
    }

    fn channel_ids(&self) -> &[u32] {
        std::slice::from_ref(&self.channel_id)
    }

    fn split_at_time(&self, t: i64) -> Result<(Option<Self>, Option<Self>)> {
        let n = self.sample_count();
        let k = if self.interval <= 0 || t <= self.start_timestamp {
            if t <= self.start_timestamp {
                0
            } else {
                n
            }
        } else {
            // Number of samples with time < t: ceil((t - start) / interval).
            let diff = i128::from(t) - i128::from(self.start_timestamp);
            let iv = i128::from(self.interval);
            let c = (diff + iv - 1) / iv;
            c.min(n as i128) as usize
        };
        self.split_at_sample(k)
    }

    fn split_at_sample(&self, k: usize) -> Result<(Option<Self>, Option<Self>)> {
        let n = self.sample_count();
        let w = sample_width(self.buffer.len(), n, "periodic data")?;
        if k == 0 {
            return Ok((None, (n > 0).then(|| self.clone())));
        }
        if k >= n {
            return Ok((Some(self.clone()), None));
        }
        let second_start = (k as i64)
            .checked_mul(self.interval)
            .and_then(|x| self.start_timestamp.checked_add(x))
            .ok_or_else(|| Error::Data("timestamp overflow".into()))?;
        let first = PeriodicData {
            channel_id: self.channel_id,
            start_timestamp: self.start_timestamp,
            interval: self.interval,
            samples: k as i32,
            buffer: self.buffer.slice(..k * w),
        };
        let second = PeriodicData {
            channel_id: self.channel_id,
            start_timestamp: second_start,
            interval: self.interval,
            samples: (n - k) as i32,
            buffer: self.buffer.slice(k * w..),
        };
        Ok((Some(first), Some(second)))
    }

    fn shift_time(&mut self, offset_ns: i64) -> Result<()> {
        self.start_timestamp = shift(self.start_timestamp, offset_ns)?;
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        if self.samples < 0 {
            return Err(Error::Data(format!(
                "negative sample count {}",
                self.samples
            )));
        }
        sample_width(self.buffer.len(), self.sample_count(), "periodic data")?;
        if self.samples > 1 && self.interval <= 0 {
            return Err(Error::Data(format!(
                "periodic interval must be positive, got {}",
                self.interval
            )));
        }
        // The interval is positive, so the last time is the largest: check
        // it without expanding every timestamp (a few wire bytes can claim
        // billions of samples).
        let last = i64::from(self.samples.max(1) - 1);
        last.checked_mul(self.interval)
            .and_then(|x| self.start_timestamp.checked_add(x))
            .map(|_| ())
            .ok_or_else(|| Error::Data(format!("timestamp overflow at sample {last}")))
    }
}

impl DataItem for RowData {
    const KIND: DataKind = DataKind::Row;

    fn time_bounds(&self) -> Option<(i64, i64)> {
        Some((self.timestamp, self.timestamp))
    }

    fn sample_count(&self) -> usize {
        1
    }

    fn channel_ids(&self) -> &[u32] {
        &self.channel_ids
    }

    fn split_at_time(&self, t: i64) -> Result<(Option<Self>, Option<Self>)> {
        Ok(if self.timestamp < t {
            (Some(self.clone()), None)
        } else {
            (None, Some(self.clone()))
        })
    }

    fn split_at_sample(&self, n: usize) -> Result<(Option<Self>, Option<Self>)> {
        Ok(if n == 0 {
            (None, Some(self.clone()))
        } else {
            (Some(self.clone()), None)
        })
    }

    fn shift_time(&mut self, offset_ns: i64) -> Result<()> {
        self.timestamp = shift(self.timestamp, offset_ns)?;
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        if self.channel_ids.is_empty() {
            return Err(Error::Data("row data without channel ids".into()));
        }
        Ok(())
    }
}

impl DataItem for Event {
    const KIND: DataKind = DataKind::Events;

    fn time_bounds(&self) -> Option<(i64, i64)> {
        Some((self.timestamp, self.timestamp))
    }

    fn sample_count(&self) -> usize {
        1
    }

    fn channel_ids(&self) -> &[u32] {
        &[]
    }

    fn split_at_time(&self, t: i64) -> Result<(Option<Self>, Option<Self>)> {
        Ok(if self.timestamp < t {
            (Some(self.clone()), None)
        } else {
            (None, Some(self.clone()))
        })
    }

    fn split_at_sample(&self, n: usize) -> Result<(Option<Self>, Option<Self>)> {
        Ok(if n == 0 {
            (None, Some(self.clone()))
        } else {
            (Some(self.clone()), None)
        })
    }

    fn shift_time(&mut self, offset_ns: i64) -> Result<()> {
        self.timestamp = shift(self.timestamp, offset_ns)?;
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        Ok(())
    }
}

/// A list message (`TimestampedDataList`, ...) holding items of one kind.
pub trait DataList: prost::Message + Default + Clone + Send + Sync + 'static {
    /// The item type.
    type Item: DataItem;
    /// Borrows the items.
    fn items(&self) -> &[Self::Item];
    /// Mutably borrows the items.
    fn items_mut(&mut self) -> &mut Vec<Self::Item>;
    /// Builds a list from items.
    fn from_items(items: Vec<Self::Item>) -> Self;
    /// Takes the items out.
    fn into_items(self) -> Vec<Self::Item>;
    /// The serialized list (what `encode_to_vec` gives, perhaps faster).
    fn to_wire(&self) -> Vec<u8> {
        self.encode_to_vec()
    }
}

macro_rules! impl_list {
    ($list:ty, $item:ty, $field:ident $(, $wire:path)?) => {
        impl DataList for $list {
            $(
                fn to_wire(&self) -> Vec<u8> {
                    $wire(self)
                }
            )?
            type Item = $item;
            fn items(&self) -> &[$item] {
                &self.$field
            }
            fn items_mut(&mut self) -> &mut Vec<$item> {
                &mut self.$field
            }
            fn from_items(items: Vec<$item>) -> Self {
                Self { $field: items }
            }
            fn into_items(self) -> Vec<$item> {
                self.$field
            }
        }
    };
}
impl_list!(
    crate::proto::data::TimestampedDataList,
    TimestampedData,
    timestamped_data,
    crate::list_wire::timestamped_list
);
impl_list!(
    crate::proto::data::PeriodicDataList,
    PeriodicData,
    periodic_data
);
impl_list!(crate::proto::data::RowDataList, RowData, row_data);
impl_list!(crate::proto::data::EventsList, Event, events);

/// Maps an item type to its list type.
pub trait ListOf: DataItem {
    /// The list message type.
    type List: DataList<Item = Self>;
}
impl ListOf for TimestampedData {
    type List = crate::proto::data::TimestampedDataList;
}
impl ListOf for PeriodicData {
    type List = crate::proto::data::PeriodicDataList;
}
impl ListOf for RowData {
    type List = crate::proto::data::RowDataList;
}
impl ListOf for Event {
    type List = crate::proto::data::EventsList;
}

/// Inclusive time bounds of a list: first item's start to the latest end.
pub fn list_time_bounds<L: DataList>(list: &L) -> Option<(i64, i64)> {
    let mut out: Option<(i64, i64)> = None;
    for b in list.items().iter().filter_map(DataItem::time_bounds) {
        out = Some(match out {
            None => b,
            Some((s, e)) => (s.min(b.0), e.max(b.1)),
        });
    }
    out
}
