//! Reading the samples a kit query asks for out of one file, on a blocking
//! thread, as a stream of kit batches.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{ArrowError, DataType};
use futures::StreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rta_core::arrow::column_times;
use rta_core::data::DataKind;
use rta_core::{Error, Result};

use super::meta::{bad_file, csv_reader, FileMeta, Format};
use super::FileStats;
use crate::kit::{Batch, BatchStream, Samples, SourceQuery};

/// Batches (one per column and record batch) read ahead of the kit: a few
/// record batches' worth, so decoding goes on while the kit's worker is busy.
const READ_AHEAD: usize = 32;

/// One field to read: the column's name and the channel it feeds.
struct Wanted {
    name: String,
    channel: u32,
}

/// Starts reading `q` from the file at `path` on a blocking thread.
pub(super) fn spawn(
    path: PathBuf,
    meta: Arc<FileMeta>,
    q: SourceQuery,
    stats: Arc<FileStats>,
) -> Result<BatchStream> {
    let mut wanted = Vec::new();
    for (field, channel) in q.fields() {
        let Some(c) = meta.channels.iter().find(|c| c.name == field) else {
            return Err(Error::InvalidArgument(format!(
                "{:?} has no numeric column {field:?} (mapped to channel {channel})",
                q.identity
            )));
        };
        wanted.push(Wanted {
            name: c.name.clone(),
            channel,
        });
    }
    if wanted.is_empty() {
        return Ok(crate::kit::batches([]));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Batch>>(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let send = |b: Result<Batch>| tx.blocking_send(b).is_ok();
        if let Err(e) = read(&path, &meta, &q, &wanted, &stats, &send) {
            send(Err(e));
        }
    });
    Ok(tokio_stream::wrappers::ReceiverStream::new(rx).boxed())
}

type Batches = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>>>;

/// The file's batches with the time column and the wanted columns only.
fn open(
    path: &Path,
    meta: &FileMeta,
    q: &SourceQuery,
    wanted: &[Wanted],
    stats: &FileStats,
) -> Result<Batches> {
    let schema = &meta.schema;
    let mut projection = vec![schema.index_of(&meta.time).map_err(|e| bad_file(path, e))?];
    for w in wanted {
        let k = schema.index_of(&w.name).map_err(|e| bad_file(path, e))?;
        if !projection.contains(&k) {
            projection.push(k);
        }
    }
    projection.sort_unstable();
    let (lo, hi) = (q.start.unwrap_or(i64::MIN), q.end.unwrap_or(i64::MAX));
    Ok(match meta.format {
        Format::Parquet => {
            let file = File::open(path).map_err(Error::Io)?;
            let b =
                ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad_file(path, e))?;
            let groups: Vec<usize> = (0..b.metadata().num_row_groups())
                .filter(|&g| match meta.row_groups.get(g).copied().flatten() {
                    Some((first, last)) => first <= hi && last >= lo,
                    None => true,
                })
                .collect();
            let skipped = b.metadata().num_row_groups() - groups.len();
            stats
                .row_groups_read
                .fetch_add(groups.len() as u64, Ordering::Relaxed);
            stats
                .row_groups_skipped
                .fetch_add(skipped as u64, Ordering::Relaxed);
            let mask = ProjectionMask::roots(b.parquet_schema(), projection);
            let reader = b
                .with_projection(mask)
                .with_row_groups(groups)
                .with_batch_size(16_384)
                .build()
                .map_err(|e| bad_file(path, e))?;
            Box::new(reader)
        }
        Format::ArrowFile => {
            let file = File::open(path).map_err(Error::Io)?;
            Box::new(
                arrow_ipc::reader::FileReader::try_new(file, Some(projection))
                    .map_err(|e| bad_file(path, e))?,
            )
        }
        Format::ArrowStream => {
            let file = File::open(path).map_err(Error::Io)?;
            Box::new(
                arrow_ipc::reader::StreamReader::try_new(file, Some(projection))
                    .map_err(|e| bad_file(path, e))?,
            )
        }
        Format::Csv => Box::new(csv_reader(path, schema, Some(projection))?),
    })
}

fn read(
    path: &Path,
    meta: &FileMeta,
    q: &SourceQuery,
    wanted: &[Wanted],
    stats: &FileStats,
    send: &dyn Fn(Result<Batch>) -> bool,
) -> Result<()> {
    let (lo, hi) = (q.start.unwrap_or(i64::MIN), q.end.unwrap_or(i64::MAX));
    for batch in open(path, meta, q, wanted, stats)? {
        let batch = batch.map_err(|e| bad_file(path, e))?;
        let schema = batch.schema();
        let t = schema.index_of(&meta.time).map_err(|e| bad_file(path, e))?;
        let times = column_times(batch.column(t).as_ref())?;
        if times.last().is_some_and(|&l| l < lo) {
            continue;
        }
        // Rows inside the request, worked out once for every column; `None`
        // when every row is inside (the usual case for a whole-file read).
        let inside: Option<Vec<usize>> =
            (!times.iter().all(|t| (lo..=hi).contains(t))).then(|| {
                (0..times.len())
                    .filter(|&r| (lo..=hi).contains(&times[r]))
                    .collect()
            });
        for w in wanted {
            let k = schema.index_of(&w.name).map_err(|e| bad_file(path, e))?;
            let col = batch.column(k);
            let out = match &inside {
                // Every row wanted and no nulls: the whole column as it is.
                None if col.null_count() == 0 => {
                    whole_column(q.kind, meta.interval, w.channel, col.as_ref(), &times)?
                }
                _ => {
                    let rows: Vec<usize> = match &inside {
                        None => (0..times.len()).filter(|&r| col.is_valid(r)).collect(),
                        Some(rows) if col.null_count() == 0 => rows.clone(),
                        Some(rows) => rows.iter().copied().filter(|&r| col.is_valid(r)).collect(),
                    };
                    if rows.is_empty() {
                        continue;
                    }
                    batches_of(
                        q.kind,
                        meta.interval,
                        w.channel,
                        col.as_ref(),
                        &times,
                        &rows,
                    )?
                }
            };
            for b in out {
                if !send(Ok(b)) {
                    return Ok(()); // the request went away
                }
            }
        }
        if times.first().is_some_and(|&f| f > hi) {
            break; // (times are in order: nothing later is wanted)
        }
    }
    Ok(())
}

/// The kit batch of a whole column without nulls (what [`batches_of`]
/// gives for every row, without gathering them one by one).
fn whole_column(
    kind: DataKind,
    interval: Option<i64>,
    channel: u32,
    col: &dyn Array,
    times: &[i64],
) -> Result<Vec<Batch>> {
    let Some(&first) = times.first() else {
        return Ok(Vec::new());
    };
    let values = samples(col, None)?;
    Ok(vec![match (kind, interval) {
        (DataKind::Periodic, Some(step)) => Batch::periodic(channel, first, step, values),
        _ => Batch::timestamped(channel, times.to_vec(), values),
    }])
}

/// The kit batches of one column's `rows`: one timestamped batch, or a
/// periodic batch per run of consecutive rows.
fn batches_of(
    kind: DataKind,
    interval: Option<i64>,
    channel: u32,
    col: &dyn Array,
    times: &[i64],
    rows: &[usize],
) -> Result<Vec<Batch>> {
    match (kind, interval) {
        (DataKind::Periodic, Some(step)) => {
            let mut out = Vec::new();
            let mut run_start = 0;
            for i in 1..=rows.len() {
                if i == rows.len() || rows[i] != rows[i - 1] + 1 {
                    let run = &rows[run_start..i];
                    out.push(Batch::periodic(
                        channel,
                        times[run[0]],
                        step,
                        samples(col, Some(run))?,
                    ));
                    run_start = i;
                }
            }
            Ok(out)
        }
        _ => Ok(vec![Batch::timestamped(
            channel,
            rows.iter().map(|&r| times[r]).collect(),
            samples(col, Some(rows))?,
        )]),
    }
}

/// The values of `col` at `rows` (every row when `None`), in the column's
/// own type (64-bit integers and half floats, which RTA has not, as `f64`).
fn samples(col: &dyn Array, rows: Option<&[usize]>) -> Result<Samples> {
    fn pick<T: ArrowPrimitiveType>(col: &dyn Array, rows: Option<&[usize]>) -> Vec<T::Native> {
        let v = col.as_primitive::<T>().values();
        match rows {
            None => v.to_vec(),
            Some(rows) => rows.iter().map(|&r| v[r]).collect(),
        }
    }
    fn wide<T: ArrowPrimitiveType>(
        col: &dyn Array,
        rows: Option<&[usize]>,
        f: impl Fn(T::Native) -> f64,
    ) -> Vec<f64> {
        let v = col.as_primitive::<T>().values();
        match rows {
            None => v.iter().map(|&x| f(x)).collect(),
            Some(rows) => rows.iter().map(|&r| f(v[r])).collect(),
        }
    }
    Ok(match col.data_type() {
        DataType::UInt8 => pick::<UInt8Type>(col, rows).into(),
        DataType::Int8 => pick::<Int8Type>(col, rows).into(),
        DataType::UInt16 => pick::<UInt16Type>(col, rows).into(),
        DataType::Int16 => pick::<Int16Type>(col, rows).into(),
        DataType::UInt32 => pick::<UInt32Type>(col, rows).into(),
        DataType::Int32 => pick::<Int32Type>(col, rows).into(),
        DataType::Float32 => pick::<Float32Type>(col, rows).into(),
        DataType::Float64 => pick::<Float64Type>(col, rows).into(),
        DataType::Int64 => wide::<Int64Type>(col, rows, |v| v as f64).into(),
        DataType::UInt64 => wide::<UInt64Type>(col, rows, |v| v as f64).into(),
        DataType::Float16 => wide::<Float16Type>(col, rows, f64::from).into(),
        t => {
            return Err(Error::InvalidArgument(format!(
                "a {t} column cannot be served as samples"
            )))
        }
    })
}
