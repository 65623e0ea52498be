//! A bounded cache of built chunks: by identity, kind, channel and grid
//! cell, least recently used evicted first, bounded by payload bytes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use rta_core::chunk::Chunk;
use rta_core::data::DataKind;

/// Where a cell's chunks belong: identity, kind, channel (`None` for
/// events), grid period and cell start.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CellKey {
    pub identity: String,
    pub kind: DataKind,
    pub channel: Option<u32>,
    pub period: i64,
    pub cell: i64,
}

#[derive(Debug)]
struct Entry {
    chunks: Vec<Chunk>,
    bytes: usize,
    tick: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<CellKey, Entry>,
    /// Entries by last use, oldest first.
    by_use: BTreeMap<u64, CellKey>,
    bytes: usize,
    tick: u64,
    hits: u64,
    misses: u64,
}

/// The kit's cache of built chunks (see [`KitService::with_cache`](super::KitService::with_cache)).
///
/// A cell's chunks are kept as built, empty cells too (so a range with
/// gaps is still served without reading the source), up to `max_bytes` of
/// payload (each cell also counts 64 bytes of bookkeeping); the least
/// recently used cells go first. Only use it for data that does not change
/// once read (closed sessions): a cached cell is never read again.
///
/// ```
/// use rta_adapters::kit::ChunkCache;
/// let cache = ChunkCache::new(64 << 20); // 64 MiB
/// assert_eq!((cache.bytes(), cache.hits(), cache.misses()), (0, 0, 0));
/// ```
#[derive(Debug)]
pub struct ChunkCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

const ENTRY_OVERHEAD: usize = 64;

impl ChunkCache {
    /// A cache holding at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Self {
        ChunkCache {
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent
        // in a way that matters for a cache: keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Cells served from the cache so far.
    pub fn hits(&self) -> u64 {
        self.lock().hits
    }

    /// Cells looked up and not found so far.
    pub fn misses(&self) -> u64 {
        self.lock().misses
    }

    /// The chunks of every cell of `keys`, in order, if all are cached
    /// (each marked as used); otherwise `None`.
    pub(crate) fn get_all(&self, keys: &[CellKey]) -> Option<Vec<Chunk>> {
        let mut inner = self.lock();
        if !keys.iter().all(|k| inner.entries.contains_key(k)) {
            inner.misses += keys.len() as u64;
            return None;
        }
        inner.hits += keys.len() as u64;
        let mut out = Vec::new();
        for k in keys {
            inner.tick += 1;
            let tick = inner.tick;
            let Some(e) = inner.entries.get_mut(k) else {
                continue;
            };
            let old = std::mem::replace(&mut e.tick, tick);
            out.extend(e.chunks.iter().cloned());
            inner.by_use.remove(&old);
            inner.by_use.insert(tick, k.clone());
        }
        Some(out)
    }

    /// Keeps the chunks of one cell, evicting the least recently used
    /// cells to stay within the bound (a cell larger than the bound is not kept).
    pub(crate) fn put(&self, key: CellKey, chunks: Vec<Chunk>) {
        let bytes = ENTRY_OVERHEAD
            + chunks
                .iter()
                .map(|c| c.payload.len() + 4 * c.channel_ids.len() + 32)
                .sum::<usize>();
        if bytes > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(old) = inner.entries.remove(&key) {
            inner.by_use.remove(&old.tick);
            inner.bytes -= old.bytes;
        }
        while inner.bytes + bytes > self.max_bytes {
            let Some((_, oldest)) = inner.by_use.pop_first() else {
                break;
            };
            if let Some(e) = inner.entries.remove(&oldest) {
                inner.bytes -= e.bytes;
            }
        }
        inner.bytes += bytes;
        inner.by_use.insert(tick, key.clone());
        inner.entries.insert(
            key,
            Entry {
                chunks,
                bytes,
                tick,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use rta_core::chunk::Compression;

    fn key(cell: i64) -> CellKey {
        CellKey {
            identity: "s".into(),
            kind: DataKind::Timestamped,
            channel: Some(1),
            period: 10,
            cell,
        }
    }

    fn chunk(len: usize) -> Chunk {
        Chunk {
            start: 0,
            end: 0,
            channel_ids: vec![1],
            compression: Compression::None,
            unpacked_length: len as u32,
            payload: Bytes::from(vec![0; len]),
        }
    }

    #[test]
    fn least_recently_used_goes_first() {
        let per = ENTRY_OVERHEAD + 100 + 4 + 32;
        let cache = ChunkCache::new(per * 2);
        cache.put(key(0), vec![chunk(100)]);
        cache.put(key(10), vec![chunk(100)]);
        assert!(cache.get_all(&[key(0)]).is_some()); // 0 is now the newest
        cache.put(key(20), vec![chunk(100)]);
        assert!(cache.get_all(&[key(10)]).is_none(), "10 was evicted");
        assert!(cache.get_all(&[key(0), key(20)]).is_some());
        assert_eq!(cache.bytes(), per * 2);
        cache.put(key(30), vec![chunk(per * 2)]); // larger than the bound
        assert!(cache.get_all(&[key(30)]).is_none());
        assert_eq!((cache.hits(), cache.misses()), (3, 2));
    }
}
