//! The native store's [`Backend`] on an object store.
//!
//! An object store cannot append, so each identity's data log is a series
//! of immutable *segment* objects and its index log a chain of numbered,
//! create-only *commit* objects, under `<prefix>/<identity dir>/`:
//!
//! - `seg/<start:020>-<token>`: bytes `start..` of the data log, uploaded
//!   when the writer has gathered [`S3BackendConfig::segment_bytes`] or at
//!   a flush; `token` names the writing instance, so two writers never
//!   write the same segment name.
//! - `log/<seq:020>`: commit `seq` (see [`super::commit`]): the segments
//!   uploaded since the previous commit and the index records of one flush.
//!   It is created with a conditional put (`If-None-Match: *`), so of two
//!   instances writing the same identity exactly one gets each number; the
//!   other's flush fails with a conflict and nothing it wrote becomes
//!   visible. Only segments named by a commit are ever read.
//! - `ckpt/<seq:020>`: every [`S3BackendConfig::checkpoint_every`] commits,
//!   the union of commits `0..=seq`, so opening reads one checkpoint and
//!   the commits after it instead of the whole chain.
//!
//! A flush uploads the open segment, then creates the commit; only then is
//! it acknowledged. Another instance sees new commits when it next opens the
//! identity, and an open identity checks for a next commit (one `HEAD`) at
//! most once per [`S3BackendConfig::refresh_interval`] when read.
//! Segment objects read are kept in a bytes-bounded LRU cache.
//!
//! Compaction is not supported on this backend ([`Backend::rewrite`] keeps
//! its default): superseded payloads stay until the identity is deleted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use rta_core::{Error, Result};

use super::cache::SegmentCache;
use super::commit::{Commit, SegRef};
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
    /// (default 8 MiB).
    pub segment_bytes: usize,
    /// Commits between checkpoints (default 64).
    pub checkpoint_every: u64,
}

impl Default for S3BackendConfig {
    fn default() -> Self {
        Self {
            prefix: "native".into(),
            cache_bytes: 256 << 20,
            refresh_interval: Duration::from_secs(1),
            segment_bytes: 8 << 20,
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

/// Sequence number of a `log/` or `ckpt/` object name.
fn seq_of(path: &Path) -> Option<u64> {
    path.filename()?.parse().ok()
}

/// Reads the commits after `next - 1` (all when `next` is 0), in order,
/// up to the first gap.
async fn tail(bucket: &Bucket, prefix: &str, next: u64) -> Result<Vec<(u64, Commit)>> {
    let dir = Path::from(format!("{prefix}log"));
    let listing = if next == 0 {
        bucket.store().list(Some(&dir))
    } else {
        let after = Path::from(format!("{prefix}log/{:020}", next - 1));
        bucket.store().list_with_offset(Some(&dir), &after)
    };
    let metas: Vec<object_store::ObjectMeta> = listing
        .try_collect()
        .await
        .map_err(|e| bucket.error("listing commits", &e))?;
    let mut seqs: Vec<(u64, Path)> = metas
        .into_iter()
        .filter_map(|m| seq_of(&m.location).map(|s| (s, m.location)))
        .filter(|(s, _)| *s >= next)
        .collect();
    seqs.sort_by_key(|(s, _)| *s);
    let mut want = next;
    let mut chain = Vec::new();
    for (s, p) in seqs {
        if s != want {
            break;
        }
        chain.push((s, p));
        want += 1;
    }
    futures::stream::iter(chain.into_iter().map(|(s, p)| async move {
        let data = bucket
            .get_opt(&p)
            .await?
            .ok_or_else(|| Error::Internal(format!("commit {p} vanished while being read")))?;
        Ok::<_, Error>((s, Commit::decode(&data, &format!("commit {p}"))?))
    }))
    .buffered(8)
    .try_collect()
    .await
}

/// Loads an identity: the latest checkpoint and the commits after it.
/// `None` when the identity has no commit.
async fn load(bucket: Bucket, prefix: String) -> Result<Option<Loaded>> {
    let ckdir = Path::from(format!("{prefix}ckpt"));
    let metas: Vec<object_store::ObjectMeta> = bucket
        .store()
        .list(Some(&ckdir))
        .try_collect()
        .await
        .map_err(|e| bucket.error("listing checkpoints", &e))?;
    let latest = metas
        .iter()
        .filter_map(|m| seq_of(&m.location).map(|s| (s, m.location.clone())))
        .max_by_key(|(s, _)| *s);
    let mut out = Loaded::default();
    if let Some((s, p)) = latest {
        if let Some(data) = bucket.get_opt(&p).await? {
            out.apply(Commit::decode(&data, &format!("checkpoint {p}"))?);
            out.next_seq = s + 1;
        }
    }
    for (s, c) in tail(&bucket, &prefix, out.next_seq).await? {
        out.apply(c);
        out.next_seq = s + 1;
    }
    Ok((out.next_seq > 0).then_some(out))
}

#[derive(Default)]
struct Loaded {
    segs: BTreeMap<u64, SegRef>,
    index: Vec<u8>,
    next_seq: u64,
}

impl Loaded {
    fn apply(&mut self, c: Commit) {
        for s in c.segments {
            self.segs.insert(s.start, s);
        }
        self.index.extend_from_slice(&c.index);
    }

    fn end(&self) -> u64 {
        self.segs
            .values()
            .next_back()
            .map_or(0, |s| s.start + s.len)
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
        let loaded = self
            .bucket
            .block(load(self.bucket.clone(), prefix.clone()))?;
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

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Uploads the pending bytes as a new segment (lock held).
    fn upload_pending(&self, st: &mut SState) -> Result<()> {
        if st.pending.is_empty() {
            return Ok(());
        }
        let seg = SegRef {
            start: st.pending_start,
            len: st.pending.len() as u64,
            token: self.token.clone(),
        };
        let key = self.key(&seg.name());
        let data = Bytes::from(std::mem::take(&mut st.pending));
        let b = self.bucket.clone();
        let (k, d) = (Path::from(key.clone()), data.clone());
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
                "segment {key:?} of identity {:?} already exists in bucket {:?}",
                self.identity,
                self.bucket.name()
            )));
        }
        self.cache.insert(&key, data);
        st.pending_start = seg.start + seg.len;
        st.segs.insert(seg.start, seg.clone());
        st.uncommitted.push(seg);
        Ok(())
    }

    /// Reads the commits other instances made since this storage was
    /// loaded (lock held).
    fn catch_up(&self, st: &mut SState) -> Result<()> {
        let (b, prefix, next) = (self.bucket.clone(), self.prefix.clone(), st.next_seq);
        let commits = self
            .bucket
            .block(async move { tail(&b, &prefix, next).await })?;
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

    /// A segment object, from the cache or the bucket.
    fn segment(&self, seg: &SegRef) -> Result<Bytes> {
        let key = self.key(&seg.name());
        if let Some(d) = self.cache.get(&key) {
            return Ok(d);
        }
        let b = self.bucket.clone();
        let p = Path::from(key.clone());
        let data = self
            .bucket
            .block(async move { b.get_opt(&p).await })?
            .ok_or_else(|| {
                Error::Internal(format!(
                    "segment {key:?} named by the index is missing from bucket {:?}",
                    self.bucket.name()
                ))
            })?;
        if data.len() as u64 != seg.len {
            return Err(Error::Internal(format!(
                "segment {key:?} holds {} bytes, the index says {}",
                data.len(),
                seg.len
            )));
        }
        self.cache.insert(&key, data.clone());
        Ok(data)
    }
}

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
            let data = self.segment(&seg)?;
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

    fn sync_data(&self) -> Result<()> {
        let mut st = self.lock()?;
        self.upload_pending(&mut st)
    }

    fn append_index(&self, record: &[u8]) -> Result<()> {
        let mut st = self.lock()?;
        let seq = st.next_seq;
        let commit = Commit {
            segments: st.uncommitted.clone(),
            index: record.to_vec(),
        };
        let key = self.key(&format!("log/{seq:020}"));
        let (b, p) = (self.bucket.clone(), Path::from(key.clone()));
        let data = Bytes::from(commit.encode());
        if !self.bucket.block(async move { b.create(&p, data).await })? {
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
        let every = self.cfg.checkpoint_every.max(1);
        if st.next_seq % every == 0 {
            let ck = Commit {
                segments: st.segs.values().cloned().collect(),
                index: st.index.clone(),
            };
            let (b, p) = (
                self.bucket.clone(),
                Path::from(self.key(&format!("ckpt/{seq:020}"))),
            );
            let data = Bytes::from(ck.encode());
            // A checkpoint only speeds opening up: a failure is no loss.
            if let Err(e) = self.bucket.block(async move { b.create(&p, data).await }) {
                tracing::warn!(error = %e, "native store: writing a checkpoint");
            }
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
        let (b, p) = (
            self.bucket.clone(),
            Path::from(self.key(&format!("log/{seq:020}"))),
        );
        self.bucket.block(async move {
            match b.store().head(&p).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(b.error("looking for new commits", &e)),
            }
        })
    }
}
