//! Table files for `rta import` and `rta export`: CSV, Parquet and Arrow IPC
//! read as Arrow record batches, and record batches written back.
//!
//! CSV has no types: a CSV file is read as an integer time column (ns since
//! the epoch) and `f64` columns, an empty cell being no sample.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, RecordBatchReader};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::basic::Encoding;
use rta_core::config::ChannelDataType;

use crate::arrow::channel_type;
use crate::{Error, Result};

/// Rows per batch read from a file.
pub(super) const BATCH_ROWS: usize = 65_536;

/// A table file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Format {
    /// Comma-separated values with a header.
    Csv,
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC (file or stream format; `.arrow`, `.feather`, `.ipc`).
    Arrow,
}

impl Format {
    /// The format named by `path`'s extension.
    pub(super) fn of(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(Format::Csv),
            "parquet" | "pq" => Ok(Format::Parquet),
            "arrow" | "arrows" | "feather" | "ipc" => Ok(Format::Arrow),
            _ => Err(Error::InvalidArgument(format!(
                "{}: unknown file type {ext:?}: use .csv, .parquet or .arrow (or --format)",
                path.display()
            ))),
        }
    }
}

pub(super) fn file_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{}: {e}", path.display()))
}

/// `e` with the file it is about named in its message.
pub(super) fn in_file(path: &Path, e: impl Into<Error>) -> Error {
    match e.into() {
        Error::InvalidArgument(m) | Error::Core(rta_core::Error::InvalidArgument(m)) => {
            Error::InvalidArgument(format!("{}: {m}", path.display()))
        }
        e => e,
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Record batches read from a file, with its schema and row count when the
/// format tells it up front.
pub(super) struct Batches {
    pub(super) schema: SchemaRef,
    pub(super) rows: Option<u64>,
    pub(super) iter: Box<dyn Iterator<Item = Result<RecordBatch>> + Send>,
}

/// Opens `path` as batches of `format`.
pub(super) fn read(path: &Path, format: Format) -> Result<Batches> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let owned: PathBuf = path.to_path_buf();
    match format {
        Format::Parquet => {
            let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| file_error(path, e))?;
            let rows = u64::try_from(b.metadata().file_metadata().num_rows()).ok();
            let reader = b
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| file_error(path, e))?;
            Ok(Batches {
                schema: reader.schema(),
                rows,
                iter: Box::new(reader.map(move |r| r.map_err(|e| file_error(&owned, e)))),
            })
        }
        Format::Arrow => match arrow_ipc::reader::FileReader::try_new(file, None) {
            Ok(reader) => Ok(Batches {
                schema: reader.schema(),
                rows: None,
                iter: Box::new(reader.map(move |r| r.map_err(|e| file_error(&owned, e)))),
            }),
            Err(_) => {
                // Not the file format: the stream format has no footer.
                let file = File::open(path).map_err(|e| io_error(path, e))?;
                let reader = arrow_ipc::reader::StreamReader::try_new(file, None)
                    .map_err(|e| file_error(path, e))?;
                Ok(Batches {
                    schema: reader.schema(),
                    rows: None,
                    iter: Box::new(reader.map(move |r| r.map_err(|e| file_error(&owned, e)))),
                })
            }
        },
        Format::Csv => csv_batches(path, file),
    }
}

fn csv_batches(path: &Path, file: File) -> Result<Batches> {
    let mut rd = csv::Reader::from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let header: Vec<String> = rd
        .headers()
        .map_err(|e| file_error(path, e))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.len() < 2 {
        return Err(file_error(
            path,
            "needs a time column and at least one channel column",
        ));
    }
    let mut fields = vec![Field::new(&header[0], DataType::Int64, false)];
    fields.extend(
        header[1..]
            .iter()
            .map(|h| Field::new(h, DataType::Float64, true)),
    );
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let path = path.to_path_buf();
    let out = schema.clone();
    let mut record = csv::StringRecord::new();
    let iter = std::iter::from_fn(move || {
        let mut times = Vec::with_capacity(BATCH_ROWS);
        let mut cols: Vec<Vec<Option<f64>>> =
            vec![Vec::with_capacity(BATCH_ROWS); header.len() - 1];
        while times.len() < BATCH_ROWS {
            match rd.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Some(Err(file_error(&path, e))),
            }
            let line = record.position().map_or(0, |p| p.line());
            let Ok(t) = record.get(0).unwrap_or("").trim().parse::<i64>() else {
                return Some(Err(file_error(
                    &path,
                    format_args!("line {line}: the time is not integer nanoseconds"),
                )));
            };
            times.push(t);
            for (k, col) in cols.iter_mut().enumerate() {
                let cell = record.get(k + 1).unwrap_or("").trim();
                if cell.is_empty() {
                    col.push(None);
                    continue;
                }
                match cell.parse::<f64>() {
                    Ok(v) => col.push(Some(v)),
                    Err(_) => {
                        return Some(Err(file_error(
                            &path,
                            format_args!(
                                "line {line}, column {:?}: {cell:?} is not a number",
                                header[k + 1]
                            ),
                        )))
                    }
                }
            }
        }
        if times.is_empty() {
            return None;
        }
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(times))];
        arrays.extend(
            cols.into_iter()
                .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef),
        );
        Some(RecordBatch::try_new(schema.clone(), arrays).map_err(|e| file_error(&path, e)))
    });
    Ok(Batches {
        schema: out,
        rows: None,
        iter: Box::new(iter),
    })
}

/// Writes record batches of one schema to a file.
pub(super) enum Writer {
    Csv(csv::Writer<std::io::BufWriter<File>>, PathBuf),
    Parquet(parquet::arrow::ArrowWriter<File>, PathBuf),
    Arrow(arrow_ipc::writer::FileWriter<File>, PathBuf),
}

/// Rows of a Parquet row group at most...
const ROW_GROUP_ROWS: usize = 131_072;
/// ...and its encoded bytes at most.
const ROW_GROUP_BYTES: usize = 32 << 20;

/// Parquet settings of an export.
///
/// - Row groups of at most [`ROW_GROUP_ROWS`] rows and
///   [`ROW_GROUP_BYTES`] encoded: the writer holds a row group's pages in
///   memory until it is complete, so the parquet crate's default (about a
///   million rows, whatever their width) would hold a wide export's pages
///   by the gigabyte and write the whole file only at the end; with these,
///   memory stays bounded and the file is written while the data downloads.
/// - Float columns plain-encoded. Sensor values are nearly all distinct, so
///   a dictionary would be tried on every page only to be abandoned after
///   its first megabyte; trying it was the largest cost of `rta export`
///   (docs/performance.md). Integer channels (gears, states, counters)
///   repeat and keep the dictionary.
/// - The time column delta-encoded (`DELTA_BINARY_PACKED`): its values are
///   all distinct but evenly or nearly evenly spaced, which this encoding
///   stores in a few bits per row instead of eight bytes.
fn parquet_props(schema: &SchemaRef) -> parquet::file::properties::WriterProperties {
    let mut props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES));
    for f in schema.fields() {
        if matches!(
            f.data_type(),
            DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Timestamp(_, _)
        ) {
            let column = parquet::schema::types::ColumnPath::from(f.name().as_str());
            props = props.set_column_dictionary_enabled(column.clone(), false);
            if matches!(f.data_type(), DataType::Timestamp(_, _)) {
                props = props.set_column_encoding(column, Encoding::DELTA_BINARY_PACKED);
            }
        }
    }
    props.build()
}

impl Writer {
    /// Creates `path` for batches of `schema`.
    pub(super) fn create(path: &Path, format: Format, schema: &SchemaRef) -> Result<Self> {
        let file = File::create(path).map_err(|e| io_error(path, e))?;
        let p = path.to_path_buf();
        Ok(match format {
            Format::Csv => {
                let mut w =
                    csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 20, file));
                w.write_record(schema.fields().iter().map(|f| f.name().as_str()))
                    .map_err(|e| file_error(path, e))?;
                Writer::Csv(w, p)
            }
            Format::Parquet => Writer::Parquet(
                parquet::arrow::ArrowWriter::try_new(
                    file,
                    schema.clone(),
                    Some(parquet_props(schema)),
                )
                .map_err(|e| file_error(path, e))?,
                p,
            ),
            Format::Arrow => Writer::Arrow(
                arrow_ipc::writer::FileWriter::try_new(file, schema)
                    .map_err(|e| file_error(path, e))?,
                p,
            ),
        })
    }

    /// Appends a batch.
    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Writer::Csv(w, p) => write_csv(w, batch).map_err(|e| file_error(p, e)),
            Writer::Parquet(w, p) => w.write(batch).map_err(|e| file_error(p, e)),
            Writer::Arrow(w, p) => w.write(batch).map_err(|e| file_error(p, e)),
        }
    }

    /// Finishes the file (footers, buffered rows).
    pub(super) fn finish(self) -> Result<()> {
        match self {
            Writer::Csv(mut w, p) => w.flush().map_err(|e| io_error(&p, e)),
            Writer::Parquet(w, p) => w.close().map(|_| ()).map_err(|e| file_error(&p, e)),
            Writer::Arrow(mut w, p) => w.finish().map_err(|e| file_error(&p, e)),
        }
    }
}

/// One CSV cell per value: the time as integer nanoseconds, numbers in
/// their shortest exact form, `3f32` as three numbers separated by spaces,
/// and nothing for a missing sample.
fn write_csv(w: &mut csv::Writer<std::io::BufWriter<File>>, batch: &RecordBatch) -> Result<()> {
    let cells: Vec<Box<dyn Fn(usize) -> String + '_>> = batch
        .columns()
        .iter()
        .map(|c| cell_formatter(c.as_ref()))
        .collect::<Result<_>>()?;
    let mut row: Vec<String> = Vec::with_capacity(cells.len());
    for r in 0..batch.num_rows() {
        row.clear();
        for (k, cell) in cells.iter().enumerate() {
            if batch.column(k).is_null(r) {
                row.push(String::new());
            } else {
                row.push(cell(r));
            }
        }
        w.write_record(&row)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    }
    Ok(())
}

fn cell_formatter(col: &dyn Array) -> Result<Box<dyn Fn(usize) -> String + '_>> {
    fn prim<T: ArrowPrimitiveType>(col: &dyn Array) -> Box<dyn Fn(usize) -> String + '_>
    where
        T::Native: ToString,
    {
        let a = col.as_primitive::<T>();
        Box::new(move |r| a.value(r).to_string())
    }
    Ok(match col.data_type() {
        DataType::Timestamp(_, _) => prim::<TimestampNanosecondType>(col),
        DataType::Int64 => prim::<Int64Type>(col),
        t => match channel_type(t) {
            Some(ChannelDataType::U8) => prim::<UInt8Type>(col),
            Some(ChannelDataType::S8) => prim::<Int8Type>(col),
            Some(ChannelDataType::U16) => prim::<UInt16Type>(col),
            Some(ChannelDataType::S16) => prim::<Int16Type>(col),
            Some(ChannelDataType::U32) => prim::<UInt32Type>(col),
            Some(ChannelDataType::S32) => prim::<Int32Type>(col),
            Some(ChannelDataType::F32) => prim::<Float32Type>(col),
            Some(ChannelDataType::F64) => prim::<Float64Type>(col),
            Some(ChannelDataType::F32x3) => {
                let list = col.as_fixed_size_list();
                let v = list.values().as_primitive::<Float32Type>();
                Box::new(move |r| {
                    let at = list.value_offset_at(r);
                    format!("{} {} {}", v.value(at), v.value(at + 1), v.value(at + 2))
                })
            }
            None => {
                return Err(Error::InvalidArgument(format!(
                    "a {t} column cannot be written"
                )))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::TimestampNanosecondArray;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn parquet_exports_are_in_bounded_row_groups_with_delta_times() {
        let rows = ROW_GROUP_ROWS + 1_000;
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "time",
                DataType::Timestamp(arrow_schema::TimeUnit::Nanosecond, None),
                false,
            ),
            Field::new("speed", DataType::Float64, false),
        ]));
        let time = TimestampNanosecondArray::from_iter_values((0..rows as i64).map(|i| i * 1_000));
        let speed = Float64Array::from_iter_values((0..rows).map(|i| i as f64 * 0.5));
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(time), Arc::new(speed)]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        let mut w = Writer::create(&path, Format::Parquet, &schema).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();

        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let meta = reader.metadata();
        let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, [ROW_GROUP_ROWS as i64, 1_000]);
        let first = meta.row_group(0);
        let encodings = |k: usize| first.column(k).encodings().collect::<Vec<_>>();
        assert!(encodings(0).contains(&Encoding::DELTA_BINARY_PACKED));
        assert!(
            !encodings(1).contains(&Encoding::RLE_DICTIONARY),
            "floats plain"
        );
        assert!(first.column(0).compressed_size() < (ROW_GROUP_ROWS * 8 / 16) as i64);
    }
}
