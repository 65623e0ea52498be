//! A bytes-bounded least-recently-used cache of segment objects.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;

/// Segment objects by key, holding at most `max_bytes` of them; the least
/// recently used go first. An object larger than the whole budget is not
/// kept. Segment objects never change, so a cached one is never stale.
#[derive(Debug)]
pub(crate) struct SegmentCache {
    max_bytes: usize,
    inner: Mutex<Lru>,
}

#[derive(Debug, Default)]
struct Lru {
    map: HashMap<String, (Bytes, u64)>,
    /// Use tick -> key, oldest first.
    order: BTreeMap<u64, String>,
    bytes: usize,
    tick: u64,
}

impl SegmentCache {
    pub(crate) fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::new(Lru::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The object of `key`, if cached (and marks it used).
    pub(crate) fn get(&self, key: &str) -> Option<Bytes> {
        let mut l = self.lock();
        l.tick += 1;
        let tick = l.tick;
        let (data, old) = {
            let e = l.map.get_mut(key)?;
            let old = std::mem::replace(&mut e.1, tick);
            (e.0.clone(), old)
        };
        l.order.remove(&old);
        l.order.insert(tick, key.to_string());
        Some(data)
    }

    /// Keeps an object, evicting the least recently used beyond the budget.
    pub(crate) fn insert(&self, key: &str, data: Bytes) {
        if data.len() > self.max_bytes {
            return;
        }
        let mut l = self.lock();
        l.tick += 1;
        let tick = l.tick;
        if let Some((old, t)) = l.map.remove(key) {
            l.bytes -= old.len();
            l.order.remove(&t);
        }
        while l.bytes + data.len() > self.max_bytes {
            let Some((_, k)) = l.order.pop_first() else {
                break;
            };
            if let Some((d, _)) = l.map.remove(&k) {
                l.bytes -= d.len();
            }
        }
        l.bytes += data.len();
        l.order.insert(tick, key.to_string());
        l.map.insert(key.to_string(), (data, tick));
    }

    /// Drops every object whose key starts with `prefix`.
    pub(crate) fn remove_prefix(&self, prefix: &str) {
        let mut l = self.lock();
        let gone: Vec<String> = l
            .map
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        for k in gone {
            if let Some((d, t)) = l.map.remove(&k) {
                l.bytes -= d.len();
                l.order.remove(&t);
            }
        }
    }

    /// Bytes held now.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let c = SegmentCache::new(10);
        c.insert("a", Bytes::from_static(b"aaaa"));
        c.insert("b", Bytes::from_static(b"bbbb"));
        assert!(c.get("a").is_some()); // b is now the oldest
        c.insert("c", Bytes::from_static(b"cccc"));
        assert!(c.get("b").is_none());
        assert_eq!(c.get("a").as_deref(), Some(&b"aaaa"[..]));
        assert_eq!(c.get("c").as_deref(), Some(&b"cccc"[..]));
        assert_eq!(c.bytes(), 8);
        c.insert("big", Bytes::from(vec![0u8; 11]));
        assert!(c.get("big").is_none());
        assert_eq!(c.bytes(), 8);
        c.insert("a", Bytes::from_static(b"a"));
        assert_eq!(c.bytes(), 5);
        c.remove_prefix("a");
        assert_eq!(c.bytes(), 4);
        assert!(c.get("a").is_none());
    }
}
