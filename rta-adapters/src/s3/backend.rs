//! The native store's [`Backend`] on an object store.
//!
//! An object store cannot append, so each identity's data log is a series
//! of immutable *segment* objects and its index log a chain of numbered,
//! create-only *commit* objects, under `<prefix>/<identity dir>/`:
//!
//! - `log/<seq:020>`: commit `seq` (see [`super::commit`]): the index
//!   records of one flush and the data appended since the previous commit,
//!   inline, so a flush is one request. It is created with a conditional
//!   put (`If-None-Match: *`), so of two instances writing the same
//!   identity exactly one gets each number; the other's flush fails with a
//!   conflict and nothing it wrote becomes visible.
//! - `seg/<start:020>-<token>`: bytes `start..` of the data log, uploaded
//!   before the flush when the writer has gathered
//!   [`S3BackendConfig::segment_bytes`] (the next commit names them);
//!   `token` names the writing instance, so two writers never write the
//!   same name. Only pieces named by a commit are ever read.
//! - `ckpt/<seq:020>`: every [`S3BackendConfig::checkpoint_every`] commits
//!   (or 32 MiB of inline data), the union of commits `0..=seq` without
//!   their data, so opening reads one checkpoint and the commits after it.
//!
//! A flush creates the commit and is acknowledged only then. Another
//! instance sees new commits when it next opens the identity, and an open
//! identity checks for a next commit (one `HEAD`) at most once per
//! [`S3BackendConfig::refresh_interval`] when read. Objects read for their
//! data are kept in a bytes-bounded LRU cache.
//!
//! Compaction is not supported on this backend ([`Backend::rewrite`] keeps
//! its default): superseded payloads stay until the identity is deleted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use rta_core::{Error, Result};

use super::cache::SegmentCache;
use super::commit::{Commit, SegRef};
use super::load::{commit_name, load, tail, Loaded};
use super::Bucket;
use crate::native::{Backend, FileBackend, IdentityStorage};

/// Options of [`S3Backend`].
#[derive(Debug, Clone)]
pub struct S3BackendConfig {
    /// Key prefix of the store in the bucket (default `native`).
    pub prefix: String,
    /// Most bytes of segment objects kept in memory (default 256 MiB).
    pub cache_bytes: usize,
    /// How often an open identity looks for commits of another instance
    /// when it is read (default 1 s).
    pub refresh_interval: Duration,
    /// Size at which the writer uploads a segment before the next flush
    /// (default 4 MiB); less is sent inline in the flush's commit.
    pub segment_bytes: usize,
    /// Commits between checkpoints (default 64; also after 32 MiB of
    /// inline data).
    pub checkpoint_every: u64,
}

impl Default for S3BackendConfig {
    fn default() -> Self {
        Self {
            prefix: "native".into(),
            cache_bytes: 256 << 20,
            refresh_interval: Duration::from_secs(1),
            segment_bytes: 4 << 20,
            checkpoint_every: 64,
        }
    }
}

/// The native store on an S3-compatible bucket (module docs: the layout).
///
/// ```no_run
/// use std::sync::Arc;
/// use rta_adapters::native::{NativeConfig, NativeStore};
/// use rta_adapters::s3::{Bucket, S3Backend, S3BackendConfig};
///
/// let bucket = Bucket::from_env("rta-data").unwrap();
/// let backend = S3Backend::new(bucket, S3BackendConfig::default());
/// let store = NativeStore::with_backend(Arc::new(backend), NativeConfig::new("unused"));
/// store.flush_all_blocking().unwrap();
/// ```
pub struct S3Backend {
    bucket: Bucket,
    cfg: S3BackendConfig,
    cache: Arc<SegmentCache>,
    /// Unique per backend instance (process id and start time).
    token: String,
    opened: AtomicU64,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Backend")
            .field("bucket", &self.bucket.name())
            .field("config", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl S3Backend {
    /// A backend on `bucket`.
    pub fn new(bucket: Bucket, cfg: S3BackendConfig) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self {
            cache: Arc::new(SegmentCache::new(cfg.cache_bytes)),
            token: format!("{:x}{:x}", std::process::id(), nanos),
            bucket,
            cfg,
            opened: AtomicU64::new(0),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// Bytes of segment objects cached now.
    pub fn cached_bytes(&self) -> usize {
        self.cache.bytes()
    }

    fn root(&self) -> String {
        self.cfg.prefix.trim_matches('/').to_string()
    }

    fn prefix(&self, identity: &str) -> String {
        let root = self.root();
        let dir = FileBackend::dir_name(identity);
        if root.is_empty() {
            format!("{dir}/")
        } else {
            format!("{root}/{dir}/")
        }
    }
}

impl Backend for S3Backend {
    fn identities(&self) -> Result<Vec<String>> {
        let b = self.bucket.clone();
        let root = self.root();
        let listing = self.bucket.block(async move {
            let dir = (!root.is_empty()).then(|| Path::from(root));
            b.store()
                .list_with_delimiter(dir.as_ref())
                .await
                .map_err(|e| b.error("listing identities", &e))
        })?;
        let mut out: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(FileBackend::identity_of))
            .collect();
        out.sort();
        Ok(out)
    }

    fn open(&self, identity: &str, create: bool) -> Result<Option<Arc<dyn IdentityStorage>>> {
        let prefix = self.prefix(identity);
        let loaded = self.bucket.block(load(
            self.bucket.clone(),
            self.cache.clone(),
            prefix.clone(),
        ))?;
        let loaded = match loaded {
            Some(l) => l,
            None if create => Loaded::default(),
            None => return Ok(None),
        };
        let n = self.opened.fetch_add(1, Ordering::Relaxed);
        let end = loaded.end();
        let storage = S3Storage {
            bucket: self.bucket.clone(),
            cache: self.cache.clone(),
            token: format!("{}-{n}", self.token),
            cfg: self.cfg.clone(),
            identity: identity.to_string(),
            data_len: AtomicU64::new(end),
            st: Mutex::new(SState {
                segs: loaded.segs,
                uncommitted: Vec::new(),
                pending: Vec::new(),
                pending_start: end,
                index: loaded.index,
                next_seq: loaded.next_seq,
                inline_since_checkpoint: 0,
                last_poll: Instant::now(),
                wrote: false,
            }),
            prefix,
        };
        Ok(Some(Arc::new(storage)))
    }

    fn delete(&self, identity: &str) -> Result<()> {
        let prefix = self.prefix(identity);
        self.cache.remove_prefix(&prefix);
        let b = self.bucket.clone();
        self.bucket.block(async move {
            let dir = Path::from(prefix);
            let keys: Vec<object_store::ObjectMeta> = b
                .store()
                .list(Some(&dir))
                .try_collect()
                .await
                .map_err(|e| b.error("listing an identity", &e))?;
            // Commits first: a half-deleted identity then reads as absent
            // rather than as commits naming missing segments.
            let (mut first, rest): (Vec<_>, Vec<_>) = keys
                .into_iter()
                .map(|m| m.location)
                .partition(|p| p.as_ref().contains("/log/") || p.as_ref().contains("/ckpt/"));
            first.extend(rest);
            for p in first {
                b.delete_key(&p).await?;
            }
            Ok(())
        })
    }
}

struct SState {
    /// Segments by start offset: committed ones, and this writer's own.
    segs: BTreeMap<u64, SegRef>,
    /// This writer's segments not yet named by a commit.
    uncommitted: Vec<SegRef>,
    /// Appended bytes not yet uploaded, starting at `pending_start`.
    pending: Vec<u8>,
    pending_start: u64,
    /// The whole index log known so far.
    index: Vec<u8>,
    /// Number of the next commit.
    next_seq: u64,
    /// Inline data bytes committed since the last checkpoint.
    inline_since_checkpoint: u64,
    last_poll: Instant,
    /// This storage has committed: it is the identity's writer and never
    /// looks for other instances' commits.
    wrote: bool,
}

/// The logs of one identity on an object store.
struct S3Storage {
    bucket: Bucket,
    cache: Arc<SegmentCache>,
    token: String,
    cfg: S3BackendConfig,
    identity: String,
    prefix: String,
    data_len: AtomicU64,
    st: Mutex<SState>,
}

impl S3Storage {
    fn lock(&self) -> Result<MutexGuard<'_, SState>> {
        self.st
            .lock()
            .map_err(|_| Error::Internal("object store identity lock poisoned".into()))
    }

    /// The object of a name relative to the identity's prefix.
    fn object(&self, name: &str) -> Path {
        Path::from(format!("{}{name}", self.prefix))
    }

    /// Uploads the pending bytes as a segment object (lock held); the next
    /// commit names it.
    fn upload_pending(&self, st: &mut SState) -> Result<()> {
        if st.pending.is_empty() {
            return Ok(());
        }
        let name = format!("seg/{:020}-{}", st.pending_start, self.token);
        let seg = SegRef {
            start: st.pending_start,
            len: st.pending.len() as u64,
            key: name.clone(),
            at: 0,
        };
        let path = self.object(&name);
        let data = Bytes::from(std::mem::take(&mut st.pending));
        let (b, k, d) = (self.bucket.clone(), path.clone(), data.clone());
        let created = match self.bucket.block(async move { b.create(&k, d).await }) {
            Ok(c) => c,
            Err(e) => {
                st.pending = data.to_vec();
                return Err(e);
            }
        };
        if !created {
            st.pending = data.to_vec();
            return Err(Error::Conflict(format!(
                "segment {path} of identity {:?} already exists in bucket {:?}",
                self.identity,
                self.bucket.name()
            )));
        }
        self.cache.insert(path.as_ref(), data);
        st.pending_start = seg.start + seg.len;
        st.segs.insert(seg.start, seg.clone());
        st.uncommitted.push(seg);
        Ok(())
    }

    /// Reads the commits other instances made since this storage was
    /// loaded (lock held).
    fn catch_up(&self, st: &mut SState) -> Result<()> {
        let (b, cache, prefix, next) = (
            self.bucket.clone(),
            self.cache.clone(),
            self.prefix.clone(),
            st.next_seq,
        );
        let commits = self
            .bucket
            .block(async move { tail(&b, &cache, &prefix, next).await })?;
        for (s, c) in commits {
            for seg in c.segments {
                st.segs.insert(seg.start, seg);
            }
            st.index.extend_from_slice(&c.index);
            st.next_seq = s + 1;
        }
        let end = st.segs.values().next_back().map_or(0, |s| s.start + s.len);
        if st.pending.is_empty() && end > st.pending_start {
            st.pending_start = end;
            self.data_len.store(end, Ordering::Release);
        }
        Ok(())
    }

    /// The bytes of a piece of the data log, from the cache or the bucket.
    fn piece(&self, seg: &SegRef) -> Result<Bytes> {
        let path = self.object(&seg.key);
        let data = match self.cache.get(path.as_ref()) {
            Some(d) => d,
            None => {
                let (b, p) = (self.bucket.clone(), path.clone());
                let data = self
                    .bucket
                    .block(async move { b.get_opt(&p).await })?
                    .ok_or_else(|| {
                        Error::Internal(format!(
                            "object {path} named by the index is missing from bucket {:?}",
                            self.bucket.name()
                        ))
                    })?;
                self.cache.insert(path.as_ref(), data.clone());
                data
            }
        };
        let (from, to) = (seg.at as usize, (seg.at + seg.len) as usize);
        if to > data.len() {
            return Err(Error::Internal(format!(
                "object {path} holds {} bytes, the index names bytes {from}..{to}",
                data.len()
            )));
        }
        Ok(data.slice(from..to))
    }

    /// Writes a checkpoint after commit `seq` (lock held). A checkpoint only
    /// speeds opening up: a failure is logged, not returned.
    fn checkpoint(&self, st: &SState, seq: u64) {
        let ck = Commit {
            segments: st.segs.values().cloned().collect(),
            index: st.index.clone(),
            inline: Bytes::new(),
        };
        let (b, p) = (self.bucket.clone(), self.object(&format!("ckpt/{seq:020}")));
        let data = Bytes::from(ck.encode());
        if let Err(e) = self.bucket.block(async move { b.create(&p, data).await }) {
            tracing::warn!(error = %e, "native store: writing a checkpoint");
        }
    }
}

/// Inline data at most this large goes into the commit; more is uploaded
/// as a segment first.
const INLINE_MAX: usize = 4 << 20;
/// A checkpoint is written once this much inline data was committed since
/// the last one (bounding what opening an identity downloads).
const CHECKPOINT_INLINE_BYTES: u64 = 32 << 20;

impl IdentityStorage for S3Storage {
    fn append_data(&self, data: &[u8]) -> Result<u64> {
        let mut st = self.lock()?;
        let offset = self.data_len.load(Ordering::Acquire);
        st.pending.extend_from_slice(data);
        self.data_len
            .store(offset + data.len() as u64, Ordering::Release);
        if st.pending.len() >= self.cfg.segment_bytes {
            self.upload_pending(&mut st)?;
        }
        Ok(offset)
    }

    fn read_data(&self, offset: u64, len: usize) -> Result<Bytes> {
        let end = offset + len as u64;
        let mut parts: Vec<(SegRef, u64, u64)> = Vec::new();
        let mut tail: Option<Bytes> = None;
        {
            let st = self.lock()?;
            if end > st.pending_start {
                let from = offset.max(st.pending_start) - st.pending_start;
                let to = end - st.pending_start;
                let bytes = st.pending.get(from as usize..to as usize).ok_or_else(|| {
                    Error::Internal(format!("read past the end of the data log at {end}"))
                })?;
                tail = Some(Bytes::copy_from_slice(bytes));
            }
            let mut at = offset;
            let stop = end.min(st.pending_start);
            while at < stop {
                let seg = st
                    .segs
                    .range(..=at)
                    .next_back()
                    .map(|(_, s)| s.clone())
                    .filter(|s| s.start + s.len > at)
                    .ok_or_else(|| {
                        Error::Internal(format!(
                            "offset {at} of identity {:?} is in no segment",
                            self.identity
                        ))
                    })?;
                let to = (seg.start + seg.len).min(stop);
                parts.push((seg, at, to));
                at = to;
            }
        }
        let mut slices = Vec::with_capacity(parts.len() + 1);
        for (seg, from, to) in parts {
            let data = self.piece(&seg)?;
            slices.push(data.slice((from - seg.start) as usize..(to - seg.start) as usize));
        }
        slices.extend(tail);
        if slices.len() == 1 {
            return Ok(slices.swap_remove(0));
        }
        let mut out = Vec::with_capacity(len);
        for s in slices {
            out.extend_from_slice(&s);
        }
        Ok(Bytes::from(out))
    }

    /// One lookup for the whole run, then copies into the buffers.
    fn read_data_vectored(&self, offset: u64, bufs: &mut [std::io::IoSliceMut<'_>]) -> Result<()> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        let data = self.read_data(offset, len)?;
        let mut at = 0;
        for b in bufs.iter_mut() {
            let n = b.len();
            b.copy_from_slice(&data[at..at + n]);
            at += n;
        }
        Ok(())
    }

    /// Uploads the pending bytes only when they are too many to go inline:
    /// otherwise they become durable with the index record the store
    /// appends next (in the same commit object).
    fn sync_data(&self) -> Result<()> {
        let mut st = self.lock()?;
        if st.pending.len() > INLINE_MAX {
            self.upload_pending(&mut st)?;
        }
        Ok(())
    }

    fn append_index(&self, record: &[u8]) -> Result<()> {
        let mut st = self.lock()?;
        let seq = st.next_seq;
        let name = commit_name(seq);
        let mut segments = st.uncommitted.clone();
        let inline = Bytes::copy_from_slice(&st.pending);
        let piece = (!inline.is_empty()).then(|| SegRef {
            start: st.pending_start,
            len: inline.len() as u64,
            key: name.clone(),
            at: 0,
        });
        if let Some(p) = piece.clone() {
            segments.push(p);
        }
        // The inline offset depends on the segment list, the piece included.
        let at = Commit::inline_offset(&segments, record.len());
        if let Some(last) = segments.last_mut().filter(|_| piece.is_some()) {
            last.at = at;
        }
        let commit = Commit {
            segments,
            index: record.to_vec(),
            inline: inline.clone(),
        };
        let path = self.object(&name);
        let data = Bytes::from(commit.encode());
        let (b, p, d) = (self.bucket.clone(), path.clone(), data.clone());
        if !self.bucket.block(async move { b.create(&p, d).await })? {
            return Err(Error::Conflict(format!(
                "identity {:?}: commit {seq} was made by another instance; only one writer \
                 may write an identity, and this one's flush was not stored",
                self.identity
            )));
        }
        st.next_seq += 1;
        st.index.extend_from_slice(record);
        st.uncommitted.clear();
        st.wrote = true;
        if let Some(mut p) = piece {
            p.at = at;
            st.pending.clear();
            st.pending_start = p.start + p.len;
            st.inline_since_checkpoint += p.len;
            st.segs.insert(p.start, p);
            self.cache.insert(path.as_ref(), data);
        }
        if st.next_seq % self.cfg.checkpoint_every.max(1) == 0
            || st.inline_since_checkpoint >= CHECKPOINT_INLINE_BYTES
        {
            self.checkpoint(&st, seq);
            st.inline_since_checkpoint = 0;
        }
        Ok(())
    }

    fn load_index(&self) -> Result<Vec<u8>> {
        let mut st = self.lock()?;
        if !st.wrote {
            self.catch_up(&mut st)?;
        }
        Ok(st.index.clone())
    }

    fn truncate_index(&self, len: u64) -> Result<()> {
        // Commits are whole objects with a checksum: a bad record is a bug
        // or damage, not a torn write. Keep the good prefix in memory.
        tracing::warn!(
            identity = %self.identity,
            "native store: an index record in the object store does not parse"
        );
        let mut st = self.lock()?;
        st.index.truncate(len as usize);
        Ok(())
    }

    fn data_len(&self) -> u64 {
        self.data_len.load(Ordering::Acquire)
    }

    fn stored_bytes(&self) -> u64 {
        self.lock().map_or(0, |st| {
            st.segs.values().map(|s| s.len).sum::<u64>() + st.index.len() as u64
        })
    }

    fn stale(&self) -> Result<bool> {
        let seq = {
            let mut st = self.lock()?;
            if st.wrote || st.last_poll.elapsed() < self.cfg.refresh_interval {
                return Ok(false);
            }
            st.last_poll = Instant::now();
            st.next_seq
        };
        let (b, p) = (self.bucket.clone(), self.object(&commit_name(seq)));
        self.bucket.block(async move {
            match b.store().head(&p).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(b.error("looking for new commits", &e)),
            }
        })
    }
}
