//! What a file holds: its format, time column, numeric columns, time
//! extent, spacing and (Parquet) the time range of each row group. Read
//! once per file version from the time column alone.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::file::statistics::Statistics;
use rta_core::arrow::{column_times, ChannelColumn, Columns};
use rta_core::config::ChannelDataType;
use rta_core::{Error, Result};

/// A file format the adapter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Parquet,
    ArrowFile,
    ArrowStream,
    Csv,
}

/// What one file holds.
#[derive(Debug)]
pub(crate) struct FileMeta {
    pub(super) format: Format,
    /// The file's schema (for CSV, the one it is read with).
    pub(super) schema: SchemaRef,
    /// Name of the time column.
    pub(super) time: String,
    /// The numeric columns, numbered as channels in file order.
    pub(super) channels: Vec<ChannelColumn>,
    /// First and last time, if the file has rows.
    pub(super) extent: Option<(i64, i64)>,
    /// The spacing of the times when every step is the same (and positive).
    pub(super) interval: Option<i64>,
    /// Rows in the file.
    pub(super) rows: u64,
    /// Parquet: each row group's time range from its statistics (`None`
    /// when it has none, so it is always read).
    pub(super) row_groups: Vec<Option<(i64, i64)>>,
}

pub(super) fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
    match ext.as_str() {
        "parquet" | "pq" => Some(Format::Parquet),
        "arrow" | "feather" | "ipc" => Some(Format::ArrowFile),
        "arrows" => Some(Format::ArrowStream),
        "csv" => Some(Format::Csv),
        _ => None,
    }
}

pub(super) fn bad_file(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Data(format!("{}: {e}", path.display()))
}

/// Nanoseconds per unit of the time column.
fn ns_per_unit(t: &DataType) -> i64 {
    match t {
        DataType::Timestamp(TimeUnit::Second, _) => 1_000_000_000,
        DataType::Timestamp(TimeUnit::Millisecond, _) => 1_000_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000,
        _ => 1,
    }
}

/// Running extent and spacing of the times seen.
#[derive(Default)]
struct Spacing {
    rows: u64,
    first: Option<i64>,
    last: Option<i64>,
    step: Option<i64>,
    even: bool,
}

impl Spacing {
    fn add(&mut self, times: &[i64]) {
        for &t in times {
            match self.last {
                None => {
                    self.first = Some(t);
                    self.even = true;
                }
                Some(prev) => {
                    let d = t - prev;
                    match self.step {
                        None => self.step = Some(d),
                        Some(s) if s != d => self.even = false,
                        _ => {}
                    }
                }
            }
            self.last = Some(t);
            self.rows += 1;
        }
    }
}

impl FileMeta {
    /// Describes the file at `path`; `None` for a file type the adapter
    /// does not read.
    pub(super) fn load(path: &Path) -> Result<Option<FileMeta>> {
        let Some(format) = format_of(path) else {
            return Ok(None);
        };
        let file = File::open(path).map_err(Error::Io)?;
        let mut spacing = Spacing::default();
        let mut row_groups = Vec::new();
        let (schema, columns) = match format {
            Format::Parquet => {
                let b = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| bad_file(path, e))?;
                let schema = b.schema().clone();
                let columns = infer(path, &schema)?;
                let unit = ns_per_unit(schema.field(columns.time).data_type());
                let descr = b.parquet_schema();
                let leaf = (0..descr.num_columns())
                    .find(|&l| descr.get_column_root_idx(l) == columns.time);
                for rg in b.metadata().row_groups() {
                    let stats = leaf.and_then(|l| rg.column(l).statistics());
                    row_groups.push(match stats {
                        Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                            (Some(lo), Some(hi)) => lo.checked_mul(unit).zip(hi.checked_mul(unit)),
                            _ => None,
                        },
                        _ => None,
                    });
                }
                let mask = ProjectionMask::roots(descr, [columns.time]);
                let reader = b
                    .with_projection(mask)
                    .build()
                    .map_err(|e| bad_file(path, e))?;
                for batch in reader {
                    let batch = batch.map_err(|e| bad_file(path, e))?;
                    spacing.add(&column_times(batch.column(0).as_ref())?);
                }
                (schema, columns)
            }
            Format::ArrowFile => {
                let r = arrow_ipc::reader::FileReader::try_new(file, None)
                    .map_err(|e| bad_file(path, e))?;
                let schema = r.schema();
                let columns = infer(path, &schema)?;
                let r = arrow_ipc::reader::FileReader::try_new(
                    File::open(path).map_err(Error::Io)?,
                    Some(vec![columns.time]),
                )
                .map_err(|e| bad_file(path, e))?;
                scan(path, r, &mut spacing)?;
                (schema, columns)
            }
            Format::ArrowStream => {
                let r = arrow_ipc::reader::StreamReader::try_new(file, None)
                    .map_err(|e| bad_file(path, e))?;
                let schema = r.schema();
                let columns = infer(path, &schema)?;
                let r = arrow_ipc::reader::StreamReader::try_new(
                    File::open(path).map_err(Error::Io)?,
                    Some(vec![columns.time]),
                )
                .map_err(|e| bad_file(path, e))?;
                scan(path, r, &mut spacing)?;
                (schema, columns)
            }
            Format::Csv => {
                let schema = csv_schema(path, file)?;
                let columns = infer(path, &schema)?;
                let r = csv_reader(path, &schema, Some(vec![columns.time]))?;
                scan(path, r, &mut spacing)?;
                (schema, columns)
            }
        };
        let time = schema.field(columns.time).name().clone();
        let interval = match (spacing.step, spacing.even) {
            (Some(s), true) if s > 0 => Some(s),
            _ => None,
        };
        Ok(Some(FileMeta {
            format,
            schema,
            time,
            channels: columns.channels,
            extent: spacing.first.zip(spacing.last),
            interval,
            rows: spacing.rows,
            row_groups,
        }))
    }

    /// Rows per second over the file's extent (1 for a file without a
    /// duration): chooses the kit's grid.
    pub(super) fn rate_hz(&self) -> f64 {
        match self.extent {
            Some((a, b)) if b > a && self.rows > 1 => (self.rows - 1) as f64 * 1e9 / (b - a) as f64,
            _ => 1.0,
        }
    }
}

/// The time and channel columns; vector columns (`3f32`), which the kit
/// does not carry, are left out and the channels numbered without them.
fn infer(path: &Path, schema: &Schema) -> Result<Columns> {
    let mut c = Columns::infer(schema).map_err(|e| bad_file(path, e))?;
    c.channels.retain(|c| c.data_type != ChannelDataType::F32x3);
    for (k, ch) in c.channels.iter_mut().enumerate() {
        ch.channel = k as u32;
    }
    Ok(c)
}

fn scan(
    path: &Path,
    reader: impl Iterator<Item = std::result::Result<RecordBatch, arrow_schema::ArrowError>>,
    spacing: &mut Spacing,
) -> Result<()> {
    for batch in reader {
        let batch = batch.map_err(|e| bad_file(path, e))?;
        spacing.add(&column_times(batch.column(0).as_ref())?);
    }
    Ok(())
}

/// The schema a CSV file is read with: its header's names, the time column
/// (the first named `time` or `timestamp`, else the first) as integer
/// nanoseconds, the columns that look numeric as `f64`, the rest as text.
fn csv_schema(path: &Path, file: File) -> Result<SchemaRef> {
    let (inferred, _) = arrow_csv::reader::Format::default()
        .with_header(true)
        .infer_schema(file, Some(1000))
        .map_err(|e| bad_file(path, e))?;
    let time = inferred
        .fields()
        .iter()
        .position(|f| matches!(f.name().to_ascii_lowercase().as_str(), "time" | "timestamp"))
        .unwrap_or(0);
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .enumerate()
        .map(|(k, f)| {
            let t = if k == time {
                DataType::Int64
            } else if f.data_type().is_numeric() || f.data_type() == &DataType::Null {
                DataType::Float64
            } else {
                DataType::Utf8
            };
            Field::new(f.name(), t, k != time)
        })
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// A CSV reader with `schema`, reading only the `projection` columns.
pub(super) fn csv_reader(
    path: &Path,
    schema: &SchemaRef,
    projection: Option<Vec<usize>>,
) -> Result<arrow_csv::Reader<File>> {
    let file = File::open(path).map_err(Error::Io)?;
    let mut b = arrow_csv::ReaderBuilder::new(schema.clone()).with_header(true);
    if let Some(p) = projection {
        b = b.with_projection(p);
    }
    b.build(file).map_err(|e| bad_file(path, e))
}
