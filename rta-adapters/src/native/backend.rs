//! Where the native store keeps its bytes: the [`Backend`] trait and the
//! local file system implementation, [`FileBackend`].
//!
//! Each data identity has two append-only logs: a *data log* of chunk
//! payloads (never rewritten in place) and an *index log* of framed index
//! records. The store only needs to append, read ranges back, and make
//! appends durable in order, so an object store can implement the same
//! trait (for example by uploading the appended range of the data log as one
//! object per sync, and each index record as its own object).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

    /// Makes every append to the data log durable.
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
}

/// The native store on a local directory: one sub-directory per identity,
/// holding `data.log` and `index.log`.
///
/// Identity names made only of ASCII letters, digits, `-`, `_` and `.`
/// (up to 200 characters) are kept readable (`i-<identity>`); any other
/// identity is hex-encoded (`x-<hex>`), so every string is a valid identity.
#[derive(Debug)]
pub struct FileBackend {
    root: PathBuf,
    open: Mutex<HashMap<String, Arc<FileStorage>>>,
}

impl FileBackend {
    /// A backend rooted at `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        Ok(Self {
            root,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir_name(identity: &str) -> String {
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

    fn identity_of(dir_name: &str) -> Option<String> {
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

impl Backend for FileBackend {
    fn identities(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            if let Some(id) = entry.file_name().to_str().and_then(Self::identity_of) {
                if entry.path().join("index.log").exists() {
                    out.push(id);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn open(&self, identity: &str, create: bool) -> Result<Option<Arc<dyn IdentityStorage>>> {
        let mut open = self.lock()?;
        if let Some(s) = open.get(identity) {
            return Ok(Some(s.clone() as Arc<dyn IdentityStorage>));
        }
        let dir = self.root.join(Self::dir_name(identity));
        let exists = dir.join("index.log").exists();
        if !exists && !create {
            return Ok(None);
        }
        if !exists {
            std::fs::create_dir_all(&dir)?;
        }
        let data = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("data.log"))?;
        let index = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(dir.join("index.log"))?;
        if !exists {
            // Make the new directory entries themselves durable.
            data.sync_all()?;
            index.sync_all()?;
            sync_dir(&dir)?;
            sync_dir(&self.root)?;
        }
        let data_len = data.metadata()?.len();
        let storage = Arc::new(FileStorage {
            data,
            index: Mutex::new(index),
            data_len: AtomicU64::new(data_len),
            path: dir,
        });
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
}

/// The logs of one identity on the local file system.
#[derive(Debug)]
struct FileStorage {
    data: File,
    index: Mutex<File>,
    data_len: AtomicU64,
    path: PathBuf,
}

impl IdentityStorage for FileStorage {
    fn append_data(&self, data: &[u8]) -> Result<u64> {
        let offset = self.data_len.load(Ordering::Acquire);
        self.data.write_all_at(data, offset)?;
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
        self.data.read_exact_at(buf, offset).map_err(|e| {
            Error::Internal(format!(
                "reading {} bytes at {offset} of {}: {e}",
                buf.len(),
                self.path.join("data.log").display()
            ))
        })
    }

    fn read_data_vectored(
        &self,
        offset: u64,
        mut bufs: &mut [std::io::IoSliceMut<'_>],
    ) -> Result<()> {
        let mut at = offset;
        while !bufs.is_empty() {
            match rustix::io::preadv(&self.data, bufs, at) {
                Ok(0) => {
                    return Err(Error::Internal(format!(
                        "short read of {} at {at}",
                        self.path.join("data.log").display()
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
                        self.path.join("data.log").display()
                    )))
                }
            }
        }
        Ok(())
    }

    fn sync_data(&self) -> Result<()> {
        self.data.sync_data()?;
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
}
