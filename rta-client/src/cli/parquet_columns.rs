//! A Parquet file written with its columns encoded side by side: each
//! column of a row group has its own writer, and a batch's columns are
//! encoded on the machine's cores at once instead of one after another
//! (the parquet crate's lower-level API under `ArrowWriter`). The file is
//! the one `ArrowWriter` would write: same schema, embedded Arrow schema,
//! properties and row groups.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use super::tables::file_error;
use crate::Result;

/// The Parquet writer of an export.
pub(super) struct ParquetColumns {
    file: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The open row group's column writers (one per leaf column).
    columns: Vec<ArrowColumnWriter>,
    /// Rows in the open row group.
    rows: usize,
    /// Index of the open row group.
    row_group: usize,
    max_rows: usize,
    /// Threads the columns are spread over.
    threads: usize,
    path: PathBuf,
}

impl ParquetColumns {
    /// Creates `path` for batches of `schema`, written with `props`.
    pub(super) fn create(
        path: &Path,
        file: File,
        schema: &SchemaRef,
        props: WriterProperties,
    ) -> Result<Self> {
        let err = |e| file_error(path, e);
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        // `ArrowWriter` sets up the file (schema conversion, the embedded
        // Arrow schema); its parts then take the columns one by one.
        let (file, factory) = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(err)?;
        let columns = factory.create_column_writers(0).map_err(err)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(ParquetColumns {
            file,
            factory,
            schema: schema.clone(),
            columns,
            rows: 0,
            row_group: 0,
            max_rows,
            threads,
            path: path.to_path_buf(),
        })
    }

    /// Appends a batch, closing row groups at the row limit.
    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut at = 0;
        while at < batch.num_rows() {
            let n = (self.max_rows - self.rows).min(batch.num_rows() - at);
            self.encode(&batch.slice(at, n))?;
            self.rows += n;
            at += n;
            if self.rows == self.max_rows {
                self.close_row_group()?;
            }
        }
        Ok(())
    }

    /// Encodes `batch` into the open row group's column writers, the
    /// columns split over the threads.
    fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        let err = |e| file_error(&self.path, e);
        let mut leaves: Vec<ArrowLeafColumn> = Vec::with_capacity(self.columns.len());
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            leaves.extend(compute_leaves(field, column).map_err(err)?);
        }
        let mut work: Vec<(&mut ArrowColumnWriter, ArrowLeafColumn)> =
            self.columns.iter_mut().zip(leaves).collect();
        let per_thread = work.len().div_ceil(self.threads).max(1);
        let results: Vec<parquet::errors::Result<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = work
                .chunks_mut(per_thread)
                .map(|part| {
                    s.spawn(move || {
                        part.iter_mut()
                            .try_for_each(|(writer, leaf)| writer.write(leaf))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(parquet::errors::ParquetError::General(
                            "a column encoder panicked".into(),
                        ))
                    })
                })
                .collect()
        });
        results.into_iter().try_for_each(|r| r.map_err(err))
    }

    /// Writes the open row group's column chunks, in column order, and
    /// opens the next.
    fn close_row_group(&mut self) -> Result<()> {
        let err = |e| file_error(&self.path, e);
        self.row_group += 1;
        let next = self
            .factory
            .create_column_writers(self.row_group)
            .map_err(err)?;
        let columns = std::mem::replace(&mut self.columns, next);
        let mut group = self.file.next_row_group().map_err(err)?;
        for column in columns {
            let chunk = column.close().map_err(err)?;
            chunk.append_to_row_group(&mut group).map_err(err)?;
        }
        group.close().map_err(err)?;
        self.rows = 0;
        Ok(())
    }

    /// Writes the last row group and the footer.
    pub(super) fn finish(mut self) -> Result<()> {
        if self.rows > 0 {
            self.close_row_group()?;
        }
        let path = self.path.clone();
        self.file
            .close()
            .map(|_| ())
            .map_err(|e| file_error(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float64Array, Int16Array, TimestampNanosecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn batch(schema: &SchemaRef, from: usize, rows: usize) -> RecordBatch {
        let t = TimestampNanosecondArray::from_iter_values((from..from + rows).map(|r| r as i64));
        let v = Float64Array::from_iter(
            (from..from + rows).map(|r| (r % 7 != 0).then_some(r as f64 * 0.5)),
        );
        let g = Int16Array::from_iter_values((from..from + rows).map(|r| (r % 5) as i16));
        let columns: Vec<ArrayRef> = vec![Arc::new(t), Arc::new(v), Arc::new(g)];
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    }

    #[test]
    fn columns_written_side_by_side_read_back_as_written() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new(
                "time",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                false,
            ),
            Field::new("speed", DataType::Float64, true),
            Field::new("gear", DataType::Int16, false),
        ]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1_000))
            .build();
        let file = File::create(&path).unwrap();
        let mut w = ParquetColumns::create(&path, file, &schema, props).unwrap();
        // Batches that straddle the row-group limit.
        for (from, rows) in [(0, 700), (700, 700), (1_400, 1_100)] {
            w.write(&batch(&schema, from, rows)).unwrap();
        }
        w.finish().unwrap();

        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let groups: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, vec![1_000, 1_000, 500]);
        assert_eq!(
            reader.schema().as_ref(),
            schema.as_ref(),
            "Arrow schema embedded"
        );
        let mut at = 0;
        for b in reader.build().unwrap() {
            let b = b.unwrap();
            assert_eq!(b, batch(&schema, at, b.num_rows()), "rows from {at}");
            at += b.num_rows();
        }
        assert_eq!(at, 2_500);
    }
}
