//! Where the native store keeps its bytes: the [`Backend`] trait and the
//! local file system implementation, [`FileBackend`].
//!
//! Each data identity has two append-only logs: a *data log* of chunk
//! payloads (never rewritten in place) and an *index log* of framed index
//! records. The store only needs to append, read ranges back, and make
//! appends durable in order, so an object store can implement the same
//! trait (for example by uploading the appended range of the data log as one
//! object per sync, and each index record as its own object). Compaction
//! replaces both logs by a new generation as a whole ([`LogRewrite`]).

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;
use rta_core::{Error, Result};

/// Storage of the native store: a namespace of data identities.
pub trait Backend: Send + Sync + 'static {
    /// Identities that have stored data.
    fn identities(&self) -> Result<Vec<String>>;

    /// Opens the storage of an identity. When it does not exist, creates it
    /// if `create` is true and returns `None` otherwise.
    fn open(&self, identity: &str, create: bool) -> Result<Option<Arc<dyn IdentityStorage>>>;

    /// Deletes everything stored for an identity (succeeds when absent).
    fn delete(&self, identity: &str) -> Result<()>;

    /// Starts writing a new generation of an identity's logs (compaction,
    /// see [`LogRewrite`]). `None` when the identity does not exist, or when
    /// the backend cannot rewrite (the default: compaction is then skipped
    /// and superseded payloads stay until the identity is deleted).
    fn rewrite(&self, identity: &str) -> Result<Option<Box<dyn LogRewrite>>> {
        let _ = identity;
        Ok(None)
    }
}

/// A new generation of one identity's logs, being written by a compaction.
///
/// The compaction appends the live chunk payloads to a fresh data log, then
/// [`LogRewrite::commit`] stores an index naming them (with their new
/// offsets) and switches the identity to the new logs in one atomic step:
/// after a crash at any point, the identity opens either wholly as before or
/// wholly rewritten, and leftovers of the other generation are cleaned up
/// when it is next opened. Storage handles obtained before the switch keep
/// reading the old data log until they are dropped, so reads already under
/// way are not disturbed. Dropping a rewrite without committing abandons it.
///
/// An object store can implement it by writing the new data and index
/// objects under a new generation prefix and replacing a small manifest
/// object that names the current generation last.
pub trait LogRewrite: Send {
    /// Appends bytes to the new data log and returns their offset in it.
    fn append_data(&mut self, data: &[u8]) -> Result<u64>;

    /// Makes the appends so far durable ([`LogRewrite::commit`] does it
    /// too; syncing most of the data earlier keeps the commit short).
    fn sync_data(&mut self) -> Result<()>;

    /// Makes the new data log durable, stores `index` (framed index
    /// records) as the new index log, and switches the identity over. Fails
    /// without switching when the identity was deleted (or another rewrite
    /// committed) since this one began. Returns the storage of the new
    /// generation, which later appends go to.
    fn commit(self: Box<Self>, index: &[u8]) -> Result<Arc<dyn IdentityStorage>>;
}

/// The two logs of one data identity.
///
/// Appends are made by one writer at a time (the store serializes them);
/// reads of data already appended may run concurrently with appends.
pub trait IdentityStorage: Send + Sync + 'static {
    /// Appends bytes to the data log and returns the offset they start at.
    /// The bytes are readable at once but durable only after [`IdentityStorage::sync_data`].
    fn append_data(&self, data: &[u8]) -> Result<u64>;

    /// Reads `len` bytes of the data log at `offset`.
    fn read_data(&self, offset: u64, len: usize) -> Result<Bytes>;

    /// Reads `buf.len()` bytes of the data log at `offset` into `buf`. The
    /// default goes through [`IdentityStorage::read_data`]; a backend that
    /// can read in place should override it (the REST fast path reads
    /// payload runs into a reused buffer with it).
    fn read_data_into(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let data = self.read_data(offset, buf.len())?;
        if data.len() != buf.len() {
            return Err(Error::Internal(format!(
                "short read of the data log: {} of {} bytes at {offset}",
                data.len(),
                buf.len()
            )));
        }
        buf.copy_from_slice(&data);
        Ok(())
    }

    /// Reads the data log from `offset` into `bufs`, filling each in turn
    /// (a run of payloads lying next to each other in the log, read into
    /// their places in a response frame). The default reads each buffer
    /// with [`IdentityStorage::read_data_into`]; the file backend reads the
    /// whole run with one vectored read.
    fn read_data_vectored(&self, offset: u64, bufs: &mut [std::io::IoSliceMut<'_>]) -> Result<()> {
        let mut at = offset;
        for b in bufs.iter_mut() {
            self.read_data_into(at, b)?;
            at += b.len() as u64;
        }
        Ok(())
    }

    /// Makes every append to the data log durable. The store always
    /// appends an index record right after (and acknowledges a flush only
    /// once both succeeded), so a backend may instead make the appends
    /// durable together with that record (the object store sends them in
    /// one commit object).
    fn sync_data(&self) -> Result<()>;

    /// Appends one framed record to the index log and makes it durable.
    fn append_index(&self, record: &[u8]) -> Result<()>;

    /// The whole index log.
    fn load_index(&self) -> Result<Vec<u8>>;

    /// Cuts the index log to `len` bytes (drops a torn final record).
    fn truncate_index(&self, len: u64) -> Result<()>;

    /// Current length of the data log.
    fn data_len(&self) -> u64;

    /// Bytes used on storage by both logs.
    fn stored_bytes(&self) -> u64;

    /// Whether another instance sharing the storage has added index records
    /// since [`IdentityStorage::load_index`] (checked before reads; the
    /// store then reloads the identity's index when it holds no unwritten
    /// data). Storage only this process writes answers `false`, the
    /// default. An object store checks for a next commit, at most once per
    /// refresh interval.
    fn stale(&self) -> Result<bool> {
        Ok(false)
    }
}

/// The native store on a local directory: one sub-directory per identity,
/// holding `data.log` and `index.log`. A compaction writes the next
/// generation as `data.<n>.log` and `index.<n>.log` (the index is written
/// as `index.<n>.tmp` and renamed last, which is the switch); the highest
/// generation with an index is the current one, and opening an identity
/// removes the files of any other.
///
/// Identity names made only of ASCII letters, digits, `-`, `_` and `.`
/// (up to 200 characters) are kept readable (`i-<identity>`); any other
/// identity is hex-encoded (`x-<hex>`), so every string is a valid identity.
#[derive(Debug)]
pub struct FileBackend {
    root: PathBuf,
    /// `root` made absolute, naming identity directories in [`REWRITING`].
    canonical_root: PathBuf,
    open: OpenMap,
}

/// Identity directories being rewritten in this process, over all file
/// backends, with the backend rewriting each (the address of its `open`
/// map). Another backend opening one waits until the rewrite is over, so
/// that it never opens logs that a rewrite by another store on the same
/// directory (such as one dropped a moment ago, whose background compaction
/// is stopping) is about to replace. The rewriting backend itself does not
/// wait: it opens an identity only after it was deleted, and then the
/// rewrite cannot commit.
static REWRITING: Mutex<BTreeMap<PathBuf, usize>> = Mutex::new(BTreeMap::new());
/// Signalled when a directory leaves [`REWRITING`].
static REWRITE_ENDED: Condvar = Condvar::new();

fn rewriting() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, usize>> {
    REWRITING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Storage handles of the identities opened, shared with rewrites.
type OpenMap = Arc<Mutex<HashMap<String, Arc<FileStorage>>>>;

impl FileBackend {
    /// A backend rooted at `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self {
            canonical_root: root.canonicalize()?,
            root,
            open: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn dir_name(identity: &str) -> String {
        let plain = !identity.is_empty()
            && identity.len() <= 200
            && identity
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if plain {
            format!("i-{identity}")
        } else {
            let mut s = String::with_capacity(2 + identity.len() * 2);
            s.push_str("x-");
            for b in identity.bytes() {
                s.push_str(&format!("{b:02x}"));
            }
            s
        }
    }

    pub(crate) fn identity_of(dir_name: &str) -> Option<String> {
        if let Some(rest) = dir_name.strip_prefix("i-") {
            return Some(rest.to_string());
        }
        let hex = dir_name.strip_prefix("x-")?;
        if hex.len() % 2 != 0 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
            .collect();
        String::from_utf8(bytes?).ok()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Arc<FileStorage>>>> {
        self.open
            .lock()
            .map_err(|_| Error::Internal("file backend lock poisoned".into()))
    }
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)?.sync_all()?;
    Ok(())
}

/// File name of the data log of a generation.
fn data_name(gen: u64) -> String {
    if gen == 0 {
        "data.log".into()
    } else {
        format!("data.{gen}.log")
    }
}

/// File name of the index log of a generation.
fn index_name(gen: u64) -> String {
    if gen == 0 {
        "index.log".into()
    } else {
        format!("index.{gen}.log")
    }
}

/// A file of an identity's directory, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogFile {
    Data(u64),
    Index(u64),
    /// An index being written by a rewrite (`index.<n>.tmp`).
    Temp,
}

fn log_file(name: &str) -> Option<LogFile> {
    match name {
        "data.log" => return Some(LogFile::Data(0)),
        "index.log" => return Some(LogFile::Index(0)),
        _ => {}
    }
    let mut parts = name.split('.');
    let (kind, n, ext) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let gen = n
        .parse::<u64>()
        .ok()
        .filter(|g| *g > 0 && g.to_string() == n)?;
    match (kind, ext) {
        ("data", "log") => Some(LogFile::Data(gen)),
        ("index", "log") => Some(LogFile::Index(gen)),
        ("index", "tmp") => Some(LogFile::Temp),
        _ => None,
    }
}

/// The current generation of an identity's directory: the highest one with
/// an index log (`None` when there is none, or no directory).
fn generation(dir: &Path) -> Result<Option<u64>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut gen = None;
    for entry in entries {
        let entry = entry?;
        if let Some(LogFile::Index(g)) = entry.file_name().to_str().and_then(log_file) {
            gen = gen.max(Some(g));
        }
    }
    Ok(gen)
}

/// Removes what a compaction cut short left behind: the logs of every
/// generation but `gen`, and unfinished index files.
fn remove_other_generations(dir: &Path, gen: u64) -> Result<()> {
    let mut removed = false;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let stale = match entry.file_name().to_str().and_then(log_file) {
            Some(LogFile::Data(g) | LogFile::Index(g)) => g != gen,
            Some(LogFile::Temp) => true,
            None => false,
        };
        if stale {
            tracing::info!(
                file = %entry.path().display(),
                "native store: removing a file left by an earlier compaction"
            );
            std::fs::remove_file(entry.path())?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}

impl Backend for FileBackend {
    fn identities(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            if let Some(id) = entry.file_name().to_str().and_then(Self::identity_of) {
                if generation(&entry.path())?.is_some() {
                    out.push(id);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn open(&self, identity: &str, create: bool) -> Result<Option<Arc<dyn IdentityStorage>>> {
        let key = self.canonical_root.join(Self::dir_name(identity));
        let me = Arc::as_ptr(&self.open) as usize;
        let by_other = |busy: &BTreeMap<PathBuf, usize>| busy.get(&key).is_some_and(|b| *b != me);
        let mut open = self.lock()?;
        loop {
            if let Some(s) = open.get(identity) {
                return Ok(Some(s.clone() as Arc<dyn IdentityStorage>));
            }
            if !by_other(&rewriting()) {
                break;
            }
            drop(open);
            let mut busy = rewriting();
            while by_other(&busy) {
                busy = REWRITE_ENDED
                    .wait(busy)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            drop(busy);
            open = self.lock()?;
        }
        let dir = self.root.join(Self::dir_name(identity));
        let current = generation(&dir)?;
        if current.is_none() && !create {
            return Ok(None);
        }
        let gen = current.unwrap_or(0);
        if current.is_some() {
            remove_other_generations(&dir, gen)?;
        } else {
            std::fs::create_dir_all(&dir)?;
        }
        let data = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(data_name(gen)))?;
        let index = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(dir.join(index_name(gen)))?;
        if current.is_none() {
            // Make the new directory entries themselves durable.
            data.sync_all()?;
            index.sync_all()?;
            sync_dir(&dir)?;
            sync_dir(&self.root)?;
        }
        let data_len = data.metadata()?.len();
        let storage = Arc::new(FileStorage::new(dir, gen, data, index, data_len));
        open.insert(identity.to_string(), storage.clone());
        Ok(Some(storage as Arc<dyn IdentityStorage>))
    }

    fn delete(&self, identity: &str) -> Result<()> {
        let mut open = self.lock()?;
        open.remove(identity);
        let dir = self.root.join(Self::dir_name(identity));
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => sync_dir(&self.root),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn rewrite(&self, identity: &str) -> Result<Option<Box<dyn LogRewrite>>> {
        if self.open(identity, false)?.is_none() {
            return Ok(None);
        }
        let open = self.lock()?;
        let Some(base) = open.get(identity).cloned() else {
            return Ok(None);
        };
        let key = self.canonical_root.join(Self::dir_name(identity));
        let me = Arc::as_ptr(&self.open) as usize;
        let taken = match rewriting().entry(key.clone()) {
            std::collections::btree_map::Entry::Occupied(_) => true,
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(me);
                false
            }
        };
        if taken {
            return Err(Error::Internal(format!(
                "a rewrite of identity {identity:?} is already under way"
            )));
        }
        let mut rw = FileRewrite {
            open: self.open.clone(),
            key,
            identity: identity.to_string(),
            dir: base.path.clone(),
            gen: base.gen,
            base,
            data: None,
            len: 0,
            committed: false,
        };
        // A generation whose data log this rewrite creates, so that it owns
        // the name (one left by an abandoned rewrite is skipped; it is
        // removed when the identity is next opened).
        for _ in 0..1000 {
            rw.gen += 1;
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(rw.dir.join(data_name(rw.gen)))
            {
                Ok(f) => {
                    rw.data = Some(f);
                    return Ok(Some(Box::new(rw)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    // Nothing created: nothing for the drop to remove.
                    rw.committed = true;
                    return Err(e.into());
                }
            }
        }
        rw.committed = true;
        Err(Error::Internal(format!(
            "no free log generation in {}",
            rw.dir.display()
        )))
    }
}

/// The logs of one identity on the local file system.
#[derive(Debug)]
struct FileStorage {
    data: File,
    index: Mutex<File>,
    /// Length of the data log, appends still in `pending` included.
    data_len: AtomicU64,
    /// Length of the data log written to the file so far.
    written_len: AtomicU64,
    /// Appends not yet written to the file (see [`APPEND_BUFFER`]).
    pending: Mutex<Vec<u8>>,
    /// The identity's directory.
    path: PathBuf,
    /// Generation of the logs (0: `data.log` and `index.log`).
    gen: u64,
    /// The directory may not yet be durable after the switch to these logs:
    /// synced again before the next index record.
    dir_unsynced: AtomicBool,
}

impl FileStorage {
    fn new(path: PathBuf, gen: u64, data: File, index: File, data_len: u64) -> Self {
        Self {
            data,
            index: Mutex::new(index),
            data_len: AtomicU64::new(data_len),
            written_len: AtomicU64::new(data_len),
            pending: Mutex::new(Vec::new()),
            path,
            gen,
            dir_unsynced: AtomicBool::new(false),
        }
    }

    fn data_path(&self) -> PathBuf {
        self.path.join(data_name(self.gen))
    }

    fn pending(&self) -> Result<std::sync::MutexGuard<'_, Vec<u8>>> {
        self.pending
            .lock()
            .map_err(|_| Error::Internal("data log buffer lock poisoned".into()))
    }

    /// Writes the buffered appends to the file. Called with the buffer locked.
    fn write_pending(&self, pending: &mut Vec<u8>) -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let at = self.written_len.load(Ordering::Acquire);
        self.data.write_all_at(pending, at)?;
        self.written_len
            .store(at + pending.len() as u64, Ordering::Release);
        pending.clear();
        Ok(())
    }

    /// Makes sure bytes up to `end` are in the file before it is read.
    fn readable(&self, end: u64) -> Result<()> {
        if end <= self.written_len.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut pending = self.pending()?;
        self.write_pending(&mut pending)
    }
}

/// Appends to a data log are gathered up to this size (1 MiB) and written
/// in one call: chunks are 10 to 30 KiB, and the page cache keeps a log
/// written in large pieces in large folios, which read back faster. A read
/// of bytes still buffered writes the buffer out first; a sync always does.
const APPEND_BUFFER: usize = 1024 * 1024;

impl IdentityStorage for FileStorage {
    fn append_data(&self, data: &[u8]) -> Result<u64> {
        let mut pending = self.pending()?;
        let offset = self.data_len.load(Ordering::Acquire);
        if pending.len() + data.len() > APPEND_BUFFER {
            self.write_pending(&mut pending)?;
        }
        if data.len() >= APPEND_BUFFER {
            self.data.write_all_at(data, offset)?;
            self.written_len
                .store(offset + data.len() as u64, Ordering::Release);
        } else {
            pending.extend_from_slice(data);
        }
        self.data_len
            .store(offset + data.len() as u64, Ordering::Release);
        Ok(offset)
    }

    fn read_data(&self, offset: u64, len: usize) -> Result<Bytes> {
        let mut buf = vec![0u8; len];
        self.read_data_into(offset, &mut buf)?;
        Ok(Bytes::from(buf))
    }

    fn read_data_into(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.readable(offset + buf.len() as u64)?;
        self.data.read_exact_at(buf, offset).map_err(|e| {
            Error::Internal(format!(
                "reading {} bytes at {offset} of {}: {e}",
                buf.len(),
                self.data_path().display()
            ))
        })
    }

    fn read_data_vectored(
        &self,
        offset: u64,
        mut bufs: &mut [std::io::IoSliceMut<'_>],
    ) -> Result<()> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        self.readable(offset + len as u64)?;
        let mut at = offset;
        while !bufs.is_empty() {
            match rustix::io::preadv(&self.data, bufs, at) {
                Ok(0) => {
                    return Err(Error::Internal(format!(
                        "short read of {} at {at}",
                        self.data_path().display()
                    )))
                }
                Ok(n) => {
                    at += n as u64;
                    std::io::IoSliceMut::advance_slices(&mut bufs, n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    return Err(Error::Internal(format!(
                        "reading at {at} of {}: {e}",
                        self.data_path().display()
                    )))
                }
            }
        }
        Ok(())
    }

    fn sync_data(&self) -> Result<()> {
        {
            let mut pending = self.pending()?;
            self.write_pending(&mut pending)?;
        }
        self.data.sync_data()?;
        if self.dir_unsynced.load(Ordering::Acquire) {
            sync_dir(&self.path)?;
            self.dir_unsynced.store(false, Ordering::Release);
        }
        Ok(())
    }

    fn append_index(&self, record: &[u8]) -> Result<()> {
        let mut f = self
            .index
            .lock()
            .map_err(|_| Error::Internal("index lock poisoned".into()))?;
        f.write_all(record)?;
        f.sync_data()?;
        Ok(())
    }

    fn load_index(&self) -> Result<Vec<u8>> {
        let f = self
            .index
            .lock()
            .map_err(|_| Error::Internal("index lock poisoned".into()))?;
        let len = usize::try_from(f.metadata()?.len())
            .map_err(|_| Error::Internal("index log too large".into()))?;
        let mut out = vec![0u8; len];
        f.read_exact_at(&mut out, 0)?;
        Ok(out)
    }

    fn truncate_index(&self, len: u64) -> Result<()> {
        let f = self
            .index
            .lock()
            .map_err(|_| Error::Internal("index lock poisoned".into()))?;
        f.set_len(len)?;
        f.sync_all()?;
        Ok(())
    }

    fn data_len(&self) -> u64 {
        self.data_len.load(Ordering::Acquire)
    }

    fn stored_bytes(&self) -> u64 {
        let index = self
            .index
            .lock()
            .ok()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        self.data_len() + index
    }
}

/// The next generation of an identity's logs on the local file system.
struct FileRewrite {
    open: OpenMap,
    /// The identity's directory in [`REWRITING`].
    key: PathBuf,
    identity: String,
    /// The storage being replaced.
    base: Arc<FileStorage>,
    dir: PathBuf,
    gen: u64,
    data: Option<File>,
    len: u64,
    committed: bool,
}

impl FileRewrite {
    fn temp_index(&self) -> PathBuf {
        self.dir.join(format!("index.{}.tmp", self.gen))
    }

    fn data(&self) -> Result<&File> {
        self.data
            .as_ref()
            .ok_or_else(|| Error::Internal("rewrite already committed".into()))
    }
}

impl LogRewrite for FileRewrite {
    fn append_data(&mut self, data: &[u8]) -> Result<u64> {
        let offset = self.len;
        self.data()?.write_all_at(data, offset)?;
        self.len += data.len() as u64;
        Ok(offset)
    }

    fn sync_data(&mut self) -> Result<()> {
        self.data()?.sync_data()?;
        Ok(())
    }

    fn commit(mut self: Box<Self>, index: &[u8]) -> Result<Arc<dyn IdentityStorage>> {
        self.data()?.sync_all()?;
        let temp = self.temp_index();
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp)?;
            f.write_all(index)?;
            f.sync_all()?;
        }
        // The handle later index records are appended with; it stays valid
        // across the rename.
        let index_file = OpenOptions::new().read(true).append(true).open(&temp)?;
        let map = self.open.clone();
        let mut open = map
            .lock()
            .map_err(|_| Error::Internal("file backend lock poisoned".into()))?;
        if !open
            .get(&self.identity)
            .is_some_and(|s| Arc::ptr_eq(s, &self.base))
        {
            return Err(Error::Internal(format!(
                "identity {:?} changed during its compaction",
                self.identity
            )));
        }
        // The new data log's entry must be durable before the index naming it.
        sync_dir(&self.dir)?;
        std::fs::rename(&temp, self.dir.join(index_name(self.gen)))?;
        // Switched: from here on the new generation is the identity.
        self.committed = true;
        let data = self
            .data
            .take()
            .ok_or_else(|| Error::Internal("rewrite already committed".into()))?;
        let storage = Arc::new(FileStorage::new(
            self.dir.clone(),
            self.gen,
            data,
            index_file,
            self.len,
        ));
        if let Err(e) = sync_dir(&self.dir) {
            tracing::warn!(error = %e, "native store: syncing a directory after a compaction");
            storage.dir_unsynced.store(true, Ordering::Release);
        }
        open.insert(self.identity.clone(), storage.clone());
        drop(open);
        // The old logs: open handles keep reading them until dropped.
        let old = [data_name(self.base.gen), index_name(self.base.gen)];
        let removed = old
            .iter()
            .try_for_each(|name| std::fs::remove_file(self.dir.join(name)))
            .map_err(Error::from)
            .and_then(|()| sync_dir(&self.dir));
        if let Err(e) = removed {
            // Removed when the identity is next opened.
            tracing::warn!(error = %e, "native store: removing logs replaced by a compaction");
        }
        Ok(storage)
    }
}

impl Drop for FileRewrite {
    fn drop(&mut self) {
        if !self.committed {
            // Only while the identity is still the one this rewrite began
            // from: once deleted (and perhaps created again) the names may
            // belong to someone else, and leftovers go at the next open.
            if let Ok(open) = self.open.lock() {
                if open
                    .get(&self.identity)
                    .is_some_and(|s| Arc::ptr_eq(s, &self.base))
                {
                    let _ = std::fs::remove_file(self.temp_index());
                    let _ = std::fs::remove_file(self.dir.join(data_name(self.gen)));
                }
            }
        }
        rewriting().remove(&self.key);
        REWRITE_ENDED.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_round_trip() {
        for id in ["abc-123_x.y", "has space", "a/b", "ünï", ".."] {
            let d = FileBackend::dir_name(id);
            assert!(!d.contains('/') && d != "." && d != "..");
            assert_eq!(FileBackend::identity_of(&d).as_deref(), Some(id));
        }
    }

    #[test]
    fn log_file_names() {
        for gen in [0, 1, 2, 17, u64::MAX] {
            assert_eq!(log_file(&data_name(gen)), Some(LogFile::Data(gen)));
            assert_eq!(log_file(&index_name(gen)), Some(LogFile::Index(gen)));
        }
        assert_eq!(log_file("index.3.tmp"), Some(LogFile::Temp));
        for other in [
            "data.0.log",
            "data.01.log",
            "index.1.log.bak",
            "index.x.log",
            "data.2.tmp",
            "notes.txt",
            "index",
        ] {
            assert_eq!(log_file(other), None, "{other}");
        }
    }

    #[test]
    fn append_read_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let b = FileBackend::new(dir.path()).unwrap();
        assert!(b.open("s1", false).unwrap().is_none());
        let s = b.open("s1", true).unwrap().unwrap();
        assert_eq!(s.append_data(b"hello").unwrap(), 0);
        assert_eq!(s.append_data(b"world").unwrap(), 5);
        s.sync_data().unwrap();
        s.append_index(b"rec").unwrap();
        assert_eq!(&s.read_data(5, 5).unwrap()[..], b"world");
        assert_eq!(b.identities().unwrap(), vec!["s1".to_string()]);
        let b2 = FileBackend::new(dir.path()).unwrap();
        let s2 = b2.open("s1", false).unwrap().unwrap();
        assert_eq!(s2.data_len(), 10);
        assert_eq!(s2.load_index().unwrap(), b"rec");
        b2.delete("s1").unwrap();
        assert!(b2.identities().unwrap().is_empty());
    }

    #[test]
    fn buffered_appends_read_back_before_and_after_sync() {
        let dir = tempfile::tempdir().unwrap();
        let b = FileBackend::new(dir.path()).unwrap();
        let s = b.open("s", true).unwrap().unwrap();
        // Appends of every size around the buffer, each read back at once
        // (still buffered, or already written), against a model.
        let mut model = Vec::new();
        for (i, n) in [10, 3000, APPEND_BUFFER - 5, 7, APPEND_BUFFER + 1, 1, 70_000]
            .into_iter()
            .enumerate()
        {
            let part: Vec<u8> = (0..n).map(|k| (k * 31 + i) as u8).collect();
            let at = s.append_data(&part).unwrap();
            assert_eq!(at, model.len() as u64);
            model.extend_from_slice(&part);
            assert_eq!(s.data_len(), model.len() as u64);
            assert_eq!(&s.read_data(at, n).unwrap()[..], &part[..]);
            // A read across what is written and what is buffered.
            let from = model.len().saturating_sub(n + 100);
            let got = s.read_data(from as u64, model.len() - from).unwrap();
            assert_eq!(&got[..], &model[from..]);
        }
        s.append_data(b"tail").unwrap();
        model.extend_from_slice(b"tail");
        s.sync_data().unwrap();
        drop(s);
        let b2 = FileBackend::new(dir.path()).unwrap();
        let s2 = b2.open("s", false).unwrap().unwrap();
        assert_eq!(s2.data_len(), model.len() as u64);
        assert_eq!(&s2.read_data(0, model.len()).unwrap()[..], &model[..]);
    }
}
