//! Commit and checkpoint objects of the native store on an object store.
//!
//! Both have one encoding (little-endian):
//!
//! ```text
//! "RTAC" u8 version (1)
//! u32 segment count, then per segment: u64 start, u64 length,
//!     u16 token length, token (UTF-8)
//! u64 index length, index bytes (framed index records)
//! u32 CRC-32 of everything before it
//! ```
//!
//! A commit names the segments uploaded since the previous commit and
//! carries the index records of one flush; a checkpoint is the union of
//! commits 0 to n (every segment, the whole index).

use rta_core::{Error, Result};

const MAGIC: &[u8; 4] = b"RTAC";
const VERSION: u8 = 1;

/// One segment object: bytes `start..start + len` of the data log, named
/// `seg/<start:020>-<token>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegRef {
    pub start: u64,
    pub len: u64,
    pub token: String,
}

impl SegRef {
    /// The object name under the identity's prefix.
    pub fn name(&self) -> String {
        format!("seg/{:020}-{}", self.start, self.token)
    }
}

/// A decoded commit or checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Commit {
    pub segments: Vec<SegRef>,
    pub index: Vec<u8>,
}

impl Commit {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.index.len() + self.segments.len() * 48);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        for s in &self.segments {
            out.extend_from_slice(&s.start.to_le_bytes());
            out.extend_from_slice(&s.len.to_le_bytes());
            out.extend_from_slice(&(s.token.len() as u16).to_le_bytes());
            out.extend_from_slice(s.token.as_bytes());
        }
        out.extend_from_slice(&(self.index.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.index);
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn decode(data: &[u8], what: &str) -> Result<Self> {
        let bad = |m: &str| Error::Internal(format!("corrupt {what}: {m}"));
        if data.len() < 4 + 1 + 4 + 8 + 4 {
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
            let tl = r.u16().ok_or_else(|| bad("truncated"))?;
            let token = r.take(tl as usize).ok_or_else(|| bad("truncated"))?;
            let token = String::from_utf8(token.to_vec()).map_err(|_| bad("token not UTF-8"))?;
            segments.push(SegRef { start, len, token });
        }
        let il = r.u64().ok_or_else(|| bad("truncated"))?;
        let il = usize::try_from(il).map_err(|_| bad("index too large"))?;
        let index = r.take(il).ok_or_else(|| bad("truncated"))?.to_vec();
        if r.at != body.len() {
            return Err(bad("trailing bytes"));
        }
        Ok(Commit { segments, index })
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
        let c = Commit {
            segments: vec![
                SegRef {
                    start: 0,
                    len: 10,
                    token: "w1".into(),
                },
                SegRef {
                    start: 10,
                    len: 5,
                    token: "w2".into(),
                },
            ],
            index: b"records".to_vec(),
        };
        let e = c.encode();
        assert_eq!(Commit::decode(&e, "commit").unwrap(), c);
        assert_eq!(c.segments[1].name(), "seg/00000000000000000010-w2");
        let mut bad = e.clone();
        bad[7] ^= 1;
        assert!(Commit::decode(&bad, "commit").is_err());
        assert!(Commit::decode(&e[..e.len() - 1], "commit").is_err());
        let empty = Commit::default();
        assert_eq!(Commit::decode(&empty.encode(), "c").unwrap(), empty);
    }
}
