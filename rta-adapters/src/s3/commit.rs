//! Commit and checkpoint objects of the native store on an object store.
//!
//! Both have one encoding (little-endian):
//!
//! ```text
//! "RTAC" u8 version (1)
//! u32 segment count, then per segment: u64 start, u64 length,
//!     u64 offset in its object, u16 object name length, object name (UTF-8)
//! u64 index length, index bytes (framed index records)
//! u64 inline length, inline data bytes
//! u32 CRC-32 of everything before it
//! ```
//!
//! A commit names the segments uploaded since the previous commit and
//! carries the index records of one flush, and usually the flush's data
//! too (inline: a segment whose object is the commit itself); a checkpoint
//! is the union of commits 0 to n (every segment, the whole index, no
//! inline data).

use bytes::Bytes;
use rta_core::{Error, Result};

const MAGIC: &[u8; 4] = b"RTAC";
const VERSION: u8 = 1;

/// One piece of the data log: bytes `start..start + len` of it, stored at
/// `at..at + len` of object `key` (relative to the identity's prefix: a
/// `seg/` object, or a `log/` commit holding it inline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegRef {
    pub start: u64,
    pub len: u64,
    pub key: String,
    pub at: u64,
}

/// A decoded commit or checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Commit {
    pub segments: Vec<SegRef>,
    pub index: Vec<u8>,
    pub inline: Bytes,
}

impl Commit {
    /// Where inline data starts in the encoding of a commit with these
    /// segments and index.
    pub fn inline_offset(segments: &[SegRef], index_len: usize) -> u64 {
        let segs: usize = segments.iter().map(|s| 8 + 8 + 8 + 2 + s.key.len()).sum();
        (4 + 1 + 4 + segs + 8 + index_len + 8) as u64
    }

    pub fn encode(&self) -> Vec<u8> {
        let at = Self::inline_offset(&self.segments, self.index.len()) as usize;
        let mut out = Vec::with_capacity(at + self.inline.len() + 4);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        for s in &self.segments {
            out.extend_from_slice(&s.start.to_le_bytes());
            out.extend_from_slice(&s.len.to_le_bytes());
            out.extend_from_slice(&s.at.to_le_bytes());
            out.extend_from_slice(&(s.key.len() as u16).to_le_bytes());
            out.extend_from_slice(s.key.as_bytes());
        }
        out.extend_from_slice(&(self.index.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.index);
        out.extend_from_slice(&(self.inline.len() as u64).to_le_bytes());
        debug_assert_eq!(out.len(), at);
        out.extend_from_slice(&self.inline);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn decode(data: &Bytes, what: &str) -> Result<Self> {
        let bad = |m: &str| Error::Internal(format!("corrupt {what}: {m}"));
        if data.len() < 4 + 1 + 4 + 8 + 8 + 4 {
            return Err(bad("too short"));
        }
        let (body, crc) = data.split_at(data.len() - 4);
        let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32fast::hash(body) != crc {
            return Err(bad("checksum mismatch"));
        }
        if &body[..4] != MAGIC || body[4] != VERSION {
            return Err(bad("unknown format"));
        }
        let mut r = Reader { b: body, at: 5 };
        let n = r.u32().ok_or_else(|| bad("truncated"))?;
        let mut segments = Vec::with_capacity(n.min(1 << 16) as usize);
        for _ in 0..n {
            let start = r.u64().ok_or_else(|| bad("truncated"))?;
            let len = r.u64().ok_or_else(|| bad("truncated"))?;
            let at = r.u64().ok_or_else(|| bad("truncated"))?;
            let kl = r.u16().ok_or_else(|| bad("truncated"))?;
            let key = r.take(kl as usize).ok_or_else(|| bad("truncated"))?;
            let key = String::from_utf8(key.to_vec()).map_err(|_| bad("name not UTF-8"))?;
            segments.push(SegRef {
                start,
                len,
                key,
                at,
            });
        }
        let il = r.u64().ok_or_else(|| bad("truncated"))?;
        let il = usize::try_from(il).map_err(|_| bad("index too large"))?;
        let index = r.take(il).ok_or_else(|| bad("truncated"))?.to_vec();
        let dl = r.u64().ok_or_else(|| bad("truncated"))?;
        let dl = usize::try_from(dl).map_err(|_| bad("inline data too large"))?;
        let from = r.at;
        r.take(dl).ok_or_else(|| bad("truncated"))?;
        if r.at != body.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(Commit {
            segments,
            index,
            inline: data.slice(from..from + dl),
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|s| u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Some(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let mut c = Commit {
            segments: vec![SegRef {
                start: 0,
                len: 10,
                key: "seg/00000000000000000000-w1".into(),
                at: 0,
            }],
            index: b"records".to_vec(),
            inline: Bytes::from_static(b"inline"),
        };
        let at = Commit::inline_offset(&c.segments, c.index.len());
        c.segments.push(SegRef {
            start: 10,
            len: 6,
            key: "log/00000000000000000001".into(),
            at,
        });
        // The offset depends on the segments: computed with the final list.
        let at = Commit::inline_offset(&c.segments, c.index.len());
        c.segments[1].at = at;
        let e = Bytes::from(c.encode());
        let d = Commit::decode(&e, "commit").unwrap();
        assert_eq!(d, c);
        assert_eq!(&e[at as usize..at as usize + 6], b"inline");
        let mut bad = e.to_vec();
        bad[7] ^= 1;
        assert!(Commit::decode(&Bytes::from(bad), "commit").is_err());
        assert!(Commit::decode(&e.slice(..e.len() - 1), "commit").is_err());
        let empty = Commit::default();
        assert_eq!(
            Commit::decode(&Bytes::from(empty.encode()), "c").unwrap(),
            empty
        );
    }
}
