//! Columnar files served in place (feature `files`): a directory of
//! Parquet, Arrow IPC and CSV files, one data identity per file (its path
//! relative to the directory), read through the [adapter kit](crate::kit).
//!
//! Without a published schema mapping, a file maps itself: the time column
//! is the first one named `time` or `timestamp`, or else the first
//! timestamp-typed one (integers are nanoseconds since the epoch); every
//! other numeric column, in file order, is channel 0, 1, 2, … with its own
//! data type (see [`rta_core::arrow::Columns::infer`]). A published mapping's
//! `source_field`s name columns. Every file is served as timestamped data;
//! a file whose times are evenly spaced is also served as periodic data.
//!
//! Reads touch only what a request needs: the time column and the
//! requested columns (Parquet projection, Arrow IPC projection), and, in
//! Parquet, only the row groups whose time statistics overlap the request
//! ([`FileStats`] counts the row groups read and skipped).
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, Float32Array, Int64Array, RecordBatch};
//! use futures::StreamExt;
//! use rta_adapters::files::FileSource;
//! use rta_adapters::kit::KitService;
//! use rta_core::data::DataKind;
//! use rta_core::service::{DataRequest, DataService};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let batch = RecordBatch::try_from_iter([
//!     ("time", Arc::new(Int64Array::from_iter_values((0..100).map(|i| i * 10_000_000))) as ArrayRef),
//!     ("speed", Arc::new(Float32Array::from_iter_values((0..100).map(|i| i as f32))) as ArrayRef),
//! ])?;
//! let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(dir.path().join("run.parquet"))?, batch.schema(), None)?;
//! w.write(&batch)?;
//! w.close()?;
//!
//! let svc = KitService::new(FileSource::open(dir.path())?);
//! let req = DataRequest::channels(DataKind::Periodic, "run.parquet", "0".parse()?);
//! let chunks: Vec<_> = svc.read(req).await?.collect().await;
//! assert!(!chunks.is_empty()); // evenly spaced: also periodic
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod meta;
mod read;

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use rta_core::arrow::ChannelColumn;
use rta_core::data::DataKind;
use rta_core::{Error, Result};

use crate::kit::{field_mapping, BatchStream, SampleSource, SourceInfo, SourceQuery};
use meta::FileMeta;

/// Counters of what reads touched.
#[derive(Debug, Default)]
pub struct FileStats {
    /// Parquet row groups read.
    pub row_groups_read: AtomicU64,
    /// Parquet row groups skipped by their time statistics.
    pub row_groups_skipped: AtomicU64,
    /// Files opened for a read.
    pub files_read: AtomicU64,
}

impl FileStats {
    /// `(read, skipped)` row groups so far.
    pub fn row_groups(&self) -> (u64, u64) {
        (
            self.row_groups_read.load(Ordering::Relaxed),
            self.row_groups_skipped.load(Ordering::Relaxed),
        )
    }
}

/// What one file holds, for indexing it (configs, mappings, sessions).
#[derive(Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// The data identity: the file's path in the directory (`/`-separated).
    pub identity: String,
    /// The channel columns: name, channel id and data type.
    pub channels: Vec<ChannelColumn>,
    /// First and last time, if the file has rows.
    pub extent: Option<(i64, i64)>,
    /// The spacing of the times when it is even (then periodic data is served too).
    pub interval: Option<i64>,
    /// Rows in the file.
    pub rows: u64,
}

/// A directory of columnar files as a [`SampleSource`] (see the
/// [module](self)).
#[derive(Debug)]
pub struct FileSource {
    root: PathBuf,
    /// What each file holds, by path, valid while its modification time is.
    meta: Mutex<HashMap<PathBuf, (SystemTime, Arc<FileMeta>)>>,
    stats: Arc<FileStats>,
}

impl FileSource {
    /// Serves the files under `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().canonicalize().map_err(|e| {
            Error::InvalidArgument(format!("file directory {}: {e}", dir.as_ref().display()))
        })?;
        if !root.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "file directory {}: not a directory",
                root.display()
            )));
        }
        Ok(FileSource {
            root,
            meta: Mutex::new(HashMap::new()),
            stats: Arc::new(FileStats::default()),
        })
    }

    /// The directory served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What reads have touched so far.
    pub fn stats(&self) -> &Arc<FileStats> {
        &self.stats
    }

    /// The data identities of every file the adapter reads in the
    /// directory and below, sorted.
    pub fn identities(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).map_err(Error::Io)? {
                let path = entry.map_err(Error::Io)?.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if meta::format_of(&path).is_some() {
                    if let Ok(rel) = path.strip_prefix(&self.root) {
                        let parts: Vec<_> = rel
                            .components()
                            .map(|c| c.as_os_str().to_string_lossy())
                            .collect();
                        out.push(parts.join("/"));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// What the file of `identity` holds; `None` when there is no such
    /// file or it is not one the adapter reads.
    pub async fn file_info(&self, identity: &str) -> Result<Option<FileInfo>> {
        let Some(path) = self.resolve(identity)? else {
            return Ok(None);
        };
        Ok(self.meta_of(&path).await?.map(|m| FileInfo {
            identity: identity.to_string(),
            channels: m.channels.clone(),
            extent: m.extent,
            interval: m.interval,
            rows: m.rows,
        }))
    }

    /// The file of `identity`: a relative path that stays inside the
    /// directory (no `..`, no absolute path, no link leading out).
    /// `None` when there is no such file.
    fn resolve(&self, identity: &str) -> Result<Option<PathBuf>> {
        let rel = Path::new(identity);
        let plain = rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if identity.is_empty() || !plain {
            return Err(Error::InvalidArgument(format!(
                "data identity {identity:?} is not a path inside the file directory"
            )));
        }
        let Ok(path) = self.root.join(rel).canonicalize() else {
            return Ok(None);
        };
        if !path.starts_with(&self.root) {
            return Err(Error::InvalidArgument(format!(
                "data identity {identity:?} leads out of the file directory"
            )));
        }
        Ok(path.is_file().then_some(path))
    }

    /// The (cached) description of the file at `path`.
    async fn meta_of(&self, path: &Path) -> Result<Option<Arc<FileMeta>>> {
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(Error::Io)?;
        if let Some((at, m)) = lock(&self.meta).get(path) {
            if *at == modified {
                return Ok(Some(m.clone()));
            }
        }
        let p = path.to_path_buf();
        let meta = tokio::task::spawn_blocking(move || FileMeta::load(&p))
            .await
            .map_err(|e| Error::Internal(format!("file reader: {e}")))??;
        let Some(meta) = meta else {
            return Ok(None);
        };
        let meta = Arc::new(meta);
        lock(&self.meta).insert(path.to_path_buf(), (modified, meta.clone()));
        Ok(Some(meta))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl SampleSource for FileSource {
    async fn describe(&self, identity: &str) -> Result<Option<SourceInfo>> {
        let Some(path) = self.resolve(identity)? else {
            return Ok(None);
        };
        let Some(meta) = self.meta_of(&path).await? else {
            return Ok(None);
        };
        let mut info = SourceInfo::rate(meta.rate_hz()).mapping(field_mapping(
            meta.channels.iter().map(|c| (c.name.clone(), c.channel)),
        ));
        if let Some((first, last)) = meta.extent {
            info = info.extent(first, last);
        }
        Ok(Some(info))
    }

    async fn read(&self, q: SourceQuery) -> Result<BatchStream> {
        let path = self.resolve(&q.identity)?.ok_or_else(|| {
            Error::NotFound(format!("no file {:?} in the file directory", q.identity))
        })?;
        let meta = self.meta_of(&path).await?.ok_or_else(|| {
            Error::NotFound(format!("{:?} is not a file this adapter reads", q.identity))
        })?;
        if q.kind == DataKind::Events || (q.kind == DataKind::Periodic && meta.interval.is_none()) {
            return Ok(crate::kit::batches([]));
        }
        self.stats.files_read.fetch_add(1, Ordering::Relaxed);
        read::spawn(path, meta, q, self.stats.clone())
    }
}
