//! Arrow record batches to RTA data and back (feature `arrow`; the client
//! re-exports it as `rta_client::arrow`, the file data adapter reads with it).
//!
//! A batch is a time column and one column per channel. [`Columns::infer`]
//! picks them out of a schema: the time column is the first one named
//! `time` or `timestamp` (any case), or else the first timestamp-typed one
//! (integers are nanoseconds since the epoch); every other numeric column,
//! in order, is a channel (0, 1, 2, ...) with its own data type.
//!
//! Values are shared, not copied, wherever the layouts allow: an RTA sample
//! buffer is the same little-endian array as an Arrow primitive column, so
//! [`to_timestamped`] hands out the batch's own buffers (for columns without
//! nulls) and [`from_timestamped`] wraps the items' buffers in Arrow arrays
//! (when every channel has the same times and one aligned buffer). Times are
//! always re-encoded: RTA stores them as deltas.
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{Float32Array, Int64Array, RecordBatch};
//! use rta_core::arrow::{from_timestamped, to_timestamped, Columns};
//! use rta_core::config::ChannelDataType;
//!
//! let batch = RecordBatch::try_from_iter([
//!     ("time", Arc::new(Int64Array::from(vec![10, 20, 30])) as _),
//!     ("speed", Arc::new(Float32Array::from(vec![1.5f32, 2.5, 3.5])) as _),
//! ])?;
//! let columns = Columns::infer(batch.schema().as_ref())?;
//! assert_eq!(columns.channels[0].data_type, ChannelDataType::F32);
//! let items = to_timestamped(&batch, &columns)?;
//! assert_eq!(items[0].channel_id, 0);
//!
//! let back = from_timestamped(&items, &columns.channels)?;
//! assert_eq!(back.num_rows(), 3);
//! assert_eq!(back.column(1).as_ref(), batch.column(1).as_ref());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::ChannelDataType;
use crate::data::{encode_timestamps, periodic_timestamps, read_timestamps};
use crate::proto::data::{PeriodicData, TimestampedData};
use crate::{Error, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, PrimitiveArray, RecordBatch, TimestampNanosecondArray,
};
use arrow_buffer::{ArrowNativeType, Buffer, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;

/// One channel column of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelColumn {
    /// Index of the column in the batch.
    pub column: usize,
    /// Column name.
    pub name: String,
    /// RTA channel id.
    pub channel: u32,
    /// RTA data type of the channel's samples.
    pub data_type: ChannelDataType,
}

/// Which columns of a batch hold the time and the channels.
#[derive(Debug, Clone, PartialEq)]
pub struct Columns {
    /// Index of the time column.
    pub time: usize,
    /// The channel columns, in column order.
    pub channels: Vec<ChannelColumn>,
}

/// The Arrow type that holds samples of `t` (`3f32` is a fixed-size list of
/// three `Float32`).
pub fn arrow_type(t: ChannelDataType) -> DataType {
    match t {
        ChannelDataType::U8 => DataType::UInt8,
        ChannelDataType::S8 => DataType::Int8,
        ChannelDataType::U16 => DataType::UInt16,
        ChannelDataType::S16 => DataType::Int16,
        ChannelDataType::U32 => DataType::UInt32,
        ChannelDataType::S32 => DataType::Int32,
        ChannelDataType::F32 => DataType::Float32,
        ChannelDataType::F32x3 => {
            DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), 3)
        }
        ChannelDataType::F64 => DataType::Float64,
    }
}

/// The RTA data type a numeric Arrow column is imported as: the same type
/// where RTA has it; 64-bit integers and half floats, which RTA has not,
/// become `f64` (integers beyond 2^53 lose precision). `None` for columns
/// that are not numeric.
pub fn channel_type(t: &DataType) -> Option<ChannelDataType> {
    Some(match t {
        DataType::UInt8 => ChannelDataType::U8,
        DataType::Int8 => ChannelDataType::S8,
        DataType::UInt16 => ChannelDataType::U16,
        DataType::Int16 => ChannelDataType::S16,
        DataType::UInt32 => ChannelDataType::U32,
        DataType::Int32 => ChannelDataType::S32,
        DataType::Float32 => ChannelDataType::F32,
        DataType::Float64 | DataType::Int64 | DataType::UInt64 | DataType::Float16 => {
            ChannelDataType::F64
        }
        DataType::FixedSizeList(f, 3) if f.data_type() == &DataType::Float32 => {
            ChannelDataType::F32x3
        }
        _ => return None,
    })
}

fn is_time_type(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(_, _) | DataType::Int64)
}

impl Columns {
    /// Picks the time and channel columns of `schema` (see the
    /// [module](self)); channels are numbered from 0.
    pub fn infer(schema: &Schema) -> Result<Self> {
        let fields = schema.fields();
        let named = fields.iter().position(|f| {
            let n = f.name().to_ascii_lowercase();
            (n == "time" || n == "timestamp") && is_time_type(f.data_type())
        });
        let typed = || {
            fields
                .iter()
                .position(|f| matches!(f.data_type(), DataType::Timestamp(_, _)))
        };
        let time = named.or_else(typed).ok_or_else(|| {
            Error::InvalidArgument(
                "no time column: name an Int64 or timestamp column `time` or `timestamp`".into(),
            )
        })?;
        let mut channels = Vec::new();
        for (column, f) in fields.iter().enumerate() {
            if column == time {
                continue;
            }
            if let Some(data_type) = channel_type(f.data_type()) {
                channels.push(ChannelColumn {
                    column,
                    name: f.name().clone(),
                    channel: channels.len() as u32,
                    data_type,
                });
            }
        }
        if channels.is_empty() {
            return Err(Error::InvalidArgument(
                "no numeric column besides the time column".into(),
            ));
        }
        Ok(Columns { time, channels })
    }
}

/// The times of a time column in nanoseconds since the epoch.
pub fn column_times(col: &dyn Array) -> Result<Vec<i64>> {
    if col.null_count() > 0 {
        return Err(Error::InvalidArgument(format!(
            "the time column has {} empty cells",
            col.null_count()
        )));
    }
    let scale = |unit: &TimeUnit| match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    let raw: &[i64] = match col.data_type() {
        DataType::Int64 => col.as_primitive::<Int64Type>().values(),
        DataType::Timestamp(TimeUnit::Second, _) => col
            .as_primitive::<arrow_array::types::TimestampSecondType>()
            .values(),
        DataType::Timestamp(TimeUnit::Millisecond, _) => col
            .as_primitive::<arrow_array::types::TimestampMillisecondType>()
            .values(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => col
            .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
            .values(),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => col
            .as_primitive::<arrow_array::types::TimestampNanosecondType>()
            .values(),
        t => {
            return Err(Error::InvalidArgument(format!(
                "the time column is {t}: use Int64 nanoseconds or a timestamp"
            )))
        }
    };
    let s = match col.data_type() {
        DataType::Timestamp(u, _) => scale(u),
        _ => 1,
    };
    if s == 1 {
        return Ok(raw.to_vec());
    }
    raw.iter()
        .map(|t| {
            t.checked_mul(s)
                .ok_or_else(|| Error::InvalidArgument(format!("time {t} overflows nanoseconds")))
        })
        .collect()
}

/// The samples of one channel column as an RTA little-endian buffer (shared
/// with the column when it has no nulls and needs no conversion), and the
/// rows that have a value (`None`: every row).
fn channel_buffer(col: &dyn Array, c: &ChannelColumn) -> Result<(Bytes, Option<Vec<usize>>)> {
    if channel_type(col.data_type()) != Some(c.data_type) {
        return Err(Error::InvalidArgument(format!(
            "column {:?} is {}, which is not imported as {}",
            c.name,
            col.data_type(),
            c.data_type
        )));
    }
    let rows = col
        .nulls()
        .filter(|n| n.null_count() > 0)
        .map(|n| n.valid_indices().collect::<Vec<_>>());
    let n = rows.as_ref().map_or(col.len(), Vec::len);
    let data = col.to_data();
    let bytes = match (col.data_type(), c.data_type) {
        (DataType::FixedSizeList(_, 3), ChannelDataType::F32x3) => {
            let list = col.as_fixed_size_list();
            let child = list.values().as_primitive::<Float32Type>();
            let len = col.len() * 3;
            let offset = list.offset() * 3;
            let values = child
                .values()
                .inner()
                .slice_with_length((child.offset() + offset) * 4, len * 4);
            match &rows {
                None => Bytes::from(values),
                Some(r) => gather(&values, 12, r),
            }
        }
        (DataType::Int64, _) => {
            let a = col.as_primitive::<Int64Type>();
            collect_f64(a.iter().flatten().map(|v| v as f64), n)
        }
        (DataType::UInt64, _) => {
            let a = col.as_primitive::<UInt64Type>();
            collect_f64(a.iter().flatten().map(|v| v as f64), n)
        }
        (DataType::Float16, _) => {
            let a = col.as_primitive::<arrow_array::types::Float16Type>();
            collect_f64(a.iter().flatten().map(f64::from), n)
        }
        _ => {
            let width = c.data_type.width();
            let buf = data.buffers().first().ok_or_else(|| {
                Error::InvalidArgument(format!("column {:?} has no values", c.name))
            })?;
            let values = buf.slice_with_length(data.offset() * width, data.len() * width);
            match &rows {
                None => Bytes::from(values),
                Some(r) => gather(&values, width, r),
            }
        }
    };
    Ok((bytes, rows))
}

fn gather(values: &Buffer, width: usize, rows: &[usize]) -> Bytes {
    let mut out = Vec::with_capacity(rows.len() * width);
    for &r in rows {
        out.extend_from_slice(&values[r * width..(r + 1) * width]);
    }
    out.into()
}

fn collect_f64(values: impl Iterator<Item = f64>, n: usize) -> Bytes {
    let mut out = Vec::with_capacity(n * 8);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.into()
}

/// One [`TimestampedData`] per channel column of `batch` (rows without a
/// value in a column are left out of that channel). Buffers are shared
/// with the batch where the layouts allow (see the [module](self)).
pub fn to_timestamped(batch: &RecordBatch, columns: &Columns) -> Result<Vec<TimestampedData>> {
    let times = column_times(batch.column(columns.time).as_ref())?;
    let all = encode_timestamps(&times)
        .map_err(|e| Error::InvalidArgument(format!("time column: {e}")))?;
    let mut out = Vec::with_capacity(columns.channels.len());
    for c in &columns.channels {
        let col = batch.columns().get(c.column).ok_or_else(|| {
            Error::InvalidArgument(format!("the batch has no column {}", c.column))
        })?;
        let (buffer, rows) = channel_buffer(col.as_ref(), c)?;
        let (start_timestamp, timestamp_deltas_scale, timestamp_deltas) = match rows {
            None => all.clone(),
            Some(rows) => {
                let t: Vec<i64> = rows.iter().map(|&r| times[r]).collect();
                encode_timestamps(&t)
                    .map_err(|e| Error::InvalidArgument(format!("time column: {e}")))?
            }
        };
        out.push(TimestampedData {
            channel_id: c.channel,
            start_timestamp,
            timestamp_deltas_scale,
            timestamp_deltas,
            buffer,
        });
    }
    Ok(out)
}

/// The samples of one channel gathered from several items.
#[derive(Default)]
struct Series {
    times: Vec<i64>,
    buffers: Vec<Bytes>,
}

/// A batch of the channels' samples in `items`: a `time` column
/// (nanosecond timestamps) and one column per entry of `channels`, named
/// and typed as it says. Rows are the union of the channels' times; a
/// channel without a sample at a row's time has a null there.
pub fn from_timestamped(
    items: &[TimestampedData],
    channels: &[ChannelColumn],
) -> Result<RecordBatch> {
    let mut series: BTreeMap<u32, Series> = BTreeMap::new();
    for d in items {
        let s = series.entry(d.channel_id).or_default();
        s.times.extend(read_timestamps(d)?);
        s.buffers.push(d.buffer.clone());
    }
    build(series, channels)
}

/// [`from_timestamped`] for periodic data.
pub fn from_periodic(items: &[PeriodicData], channels: &[ChannelColumn]) -> Result<RecordBatch> {
    let mut series: BTreeMap<u32, Series> = BTreeMap::new();
    for d in items {
        let s = series.entry(d.channel_id).or_default();
        s.times.extend(periodic_timestamps(d)?);
        s.buffers.push(d.buffer.clone());
    }
    build(series, channels)
}

fn build(mut series: BTreeMap<u32, Series>, channels: &[ChannelColumn]) -> Result<RecordBatch> {
    let empty = Series::default();
    let shared = {
        let mut it = channels
            .iter()
            .map(|c| series.get(&c.channel).unwrap_or(&empty));
        let first = it.next().map(|s| &s.times);
        first.filter(|t| it.all(|s| &s.times == *t)).cloned()
    };
    let times = match shared {
        Some(t) => t,
        None => {
            let mut t: Vec<i64> = channels
                .iter()
                .filter_map(|c| series.get(&c.channel))
                .flat_map(|s| s.times.iter().copied())
                .collect();
            t.sort_unstable();
            t.dedup();
            t
        }
    };
    let mut fields = vec![Field::new(
        "time",
        DataType::Timestamp(TimeUnit::Nanosecond, None),
        false,
    )];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(TimestampNanosecondArray::from(times.clone()))];
    for c in channels {
        let s = series.remove(&c.channel).unwrap_or_default();
        let width = c.data_type.width();
        let bytes: usize = s.buffers.iter().map(Bytes::len).sum();
        if bytes != s.times.len() * width {
            return Err(Error::Data(format!(
                "channel {}: {bytes} bytes for {} samples of {}",
                c.channel,
                s.times.len(),
                c.data_type
            )));
        }
        let values = match <[Bytes; 1]>::try_from(s.buffers) {
            Ok([one]) => one,
            Err(many) => many.concat().into(),
        };
        let (values, nulls) = if s.times == times {
            (values, None)
        } else {
            spread(&s.times, &values, width, &times)
        };
        fields.push(Field::new(
            &c.name,
            arrow_type(c.data_type),
            nulls.is_some(),
        ));
        arrays.push(array(c.data_type, values, nulls, times.len())?);
    }
    let schema = Arc::new(Schema::new(fields));
    RecordBatch::try_new(schema, arrays).map_err(|e| Error::Data(format!("record batch: {e}")))
}

/// Places a channel's samples on the rows of `rows` (both sorted): zeros
/// and a null where the channel has no sample.
fn spread(times: &[i64], values: &[u8], width: usize, rows: &[i64]) -> (Bytes, Option<NullBuffer>) {
    let mut out = vec![0u8; rows.len() * width];
    let mut valid = vec![false; rows.len()];
    let mut r = 0;
    for (i, t) in times.iter().enumerate() {
        while r < rows.len() && rows[r] < *t {
            r += 1;
        }
        if r < rows.len() && rows[r] == *t {
            out[r * width..(r + 1) * width].copy_from_slice(&values[i * width..(i + 1) * width]);
            valid[r] = true; // of samples at the same time, the last one stays
        }
    }
    (out.into(), Some(NullBuffer::from(valid)))
}

fn primitive<T: ArrowPrimitiveType>(
    values: Buffer,
    nulls: Option<NullBuffer>,
    len: usize,
) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(
        ScalarBuffer::new(values, 0, len),
        nulls,
    ))
}

/// An Arrow buffer over `values`, shared when it is aligned for `N`
/// (Arrow reads typed values in place), copied otherwise.
fn aligned<N: ArrowNativeType>(values: Bytes) -> Buffer {
    if values.as_ptr().align_offset(std::mem::align_of::<N>()) == 0 {
        Buffer::from(values)
    } else {
        // Arrow allocates its own buffers aligned for any native type.
        Buffer::from_slice_ref(&values[..])
    }
}

fn array(
    t: ChannelDataType,
    values: Bytes,
    nulls: Option<NullBuffer>,
    len: usize,
) -> Result<ArrayRef> {
    let values = match t {
        ChannelDataType::U8 | ChannelDataType::S8 => aligned::<u8>(values),
        ChannelDataType::U16 | ChannelDataType::S16 => aligned::<u16>(values),
        ChannelDataType::U32 | ChannelDataType::S32 => aligned::<u32>(values),
        ChannelDataType::F32 | ChannelDataType::F32x3 => aligned::<f32>(values),
        ChannelDataType::F64 => aligned::<f64>(values),
    };
    column_array(t, values, nulls, len)
}

/// The Arrow column of `len` samples of `t` over `values` (little-endian
/// values in a buffer aligned for `t`; a `3f32` sample is three `f32`),
/// with `nulls` marking rows without a sample.
///
/// ```
/// use arrow_array::Array;
/// use rta_core::config::ChannelDataType;
/// let values = arrow_buffer::Buffer::from_slice_ref([1.5f64, 2.5]);
/// let column = rta_core::arrow::column_array(ChannelDataType::F64, values, None, 2).unwrap();
/// assert_eq!(column.len(), 2);
/// ```
pub fn column_array(
    t: ChannelDataType,
    values: Buffer,
    nulls: Option<NullBuffer>,
    len: usize,
) -> Result<ArrayRef> {
    Ok(match t {
        ChannelDataType::U8 => primitive::<UInt8Type>(values, nulls, len),
        ChannelDataType::S8 => primitive::<Int8Type>(values, nulls, len),
        ChannelDataType::U16 => primitive::<UInt16Type>(values, nulls, len),
        ChannelDataType::S16 => primitive::<Int16Type>(values, nulls, len),
        ChannelDataType::U32 => primitive::<UInt32Type>(values, nulls, len),
        ChannelDataType::S32 => primitive::<Int32Type>(values, nulls, len),
        ChannelDataType::F32 => primitive::<Float32Type>(values, nulls, len),
        ChannelDataType::F64 => primitive::<Float64Type>(values, nulls, len),
        ChannelDataType::F32x3 => {
            let child = primitive::<Float32Type>(values, None, len * 3);
            let field = Arc::new(Field::new("item", DataType::Float32, false));
            Arc::new(
                FixedSizeListArray::try_new(field, 3, child, nulls)
                    .map_err(|e| Error::Data(format!("3f32 column: {e}")))?,
            )
        }
    })
}
