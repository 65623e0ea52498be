//! On-disk index records of the native store.
//!
//! The index of a data identity is an append-only log of records. Each record
//! is framed as `[u32 LE payload length][u32 LE CRC-32 of the payload][payload]`
//! and its payload is a protobuf [`IndexRecord`]: an ordered list of
//! operations (define a stream, add a chunk, remove a chunk). Replaying the
//! log from the start rebuilds the index; a torn or corrupt record at the end
//! (a crash in the middle of an append) ends the replay, and everything it
//! would have added is ignored, which is safe because a record is only
//! appended after the chunk payloads it names were made durable.

use prost::Message;

use rta_core::{Error, Result};

/// Bytes of the frame before each record payload.
pub(crate) const FRAME_HEADER: usize = 8;

/// Largest record accepted on replay (guards against a corrupt length).
const MAX_RECORD: usize = 256 * 1024 * 1024;

/// One atomic batch of index operations.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct IndexRecord {
    /// Operations, applied in order.
    #[prost(message, repeated, tag = "1")]
    pub ops: Vec<Op>,
}

/// One index operation.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Op {
    /// What the operation does.
    #[prost(oneof = "op::Kind", tags = "1, 2, 3")]
    pub kind: Option<op::Kind>,
}

/// Operation kinds.
pub(crate) mod op {
    /// The body of an [`super::Op`].
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub(crate) enum Kind {
        /// Declares a stream.
        #[prost(message, tag = "1")]
        Stream(super::StreamDef),
        /// Adds a chunk to a stream.
        #[prost(message, tag = "2")]
        Add(super::AddChunk),
        /// Removes a chunk from a stream.
        #[prost(message, tag = "3")]
        Remove(super::RemoveChunk),
    }
}

/// Declares a stream: one channel of timestamped or periodic data, one row
/// group, or the events.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StreamDef {
    /// Id used by the chunk operations.
    #[prost(uint32, tag = "1")]
    pub stream_id: u32,
    /// 1 timestamped, 2 periodic, 3 row, 4 events.
    #[prost(int32, tag = "2")]
    pub kind: i32,
    /// Channel (timestamped, periodic), row group (row) or none (events).
    #[prost(uint32, repeated, tag = "3")]
    pub channel_ids: Vec<u32>,
    /// Chunk grid period (ns).
    #[prost(int64, tag = "4")]
    pub grid_period: i64,
    /// Sample width in bytes (0 when not fixed).
    #[prost(uint32, tag = "5")]
    pub width: u32,
}

/// Adds a chunk whose payload is stored at `offset` in the data log.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AddChunk {
    /// Stream.
    #[prost(uint32, tag = "1")]
    pub stream_id: u32,
    /// First sample time (ns).
    #[prost(sint64, tag = "2")]
    pub start: i64,
    /// Last sample time (ns, inclusive).
    #[prost(sint64, tag = "3")]
    pub end: i64,
    /// Offset of the payload in the data log.
    #[prost(uint64, tag = "4")]
    pub offset: u64,
    /// Payload length as stored.
    #[prost(uint32, tag = "5")]
    pub packed_length: u32,
    /// Payload length once decompressed.
    #[prost(uint32, tag = "6")]
    pub unpacked_length: u32,
    /// Compression code (0 none, 1 LZ4).
    #[prost(int32, tag = "7")]
    pub compression: i32,
    /// Samples in the chunk.
    #[prost(uint32, tag = "8")]
    pub samples: u32,
    /// Closed early (flush or memory pressure) rather than by size or grid.
    #[prost(bool, tag = "9")]
    pub fragment: bool,
}

/// Removes the chunk stored at `offset`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RemoveChunk {
    /// Stream.
    #[prost(uint32, tag = "1")]
    pub stream_id: u32,
    /// Offset of the removed chunk's payload.
    #[prost(uint64, tag = "2")]
    pub offset: u64,
    /// Start time of the removed chunk (to find it quickly).
    #[prost(sint64, tag = "3")]
    pub start: i64,
}

/// Frames a record for appending to the index log.
pub(crate) fn frame(record: &IndexRecord) -> Vec<u8> {
    let payload = record.encode_to_vec();
    let mut out = Vec::with_capacity(FRAME_HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Parses an index log: the complete, valid records and the length of the
/// valid prefix (anything after it is a torn append to be cut off).
pub(crate) fn parse_log(log: &[u8]) -> Result<(Vec<IndexRecord>, usize)> {
    let mut records = Vec::new();
    let mut pos = 0usize;
    while log.len() - pos >= FRAME_HEADER {
        let len = u32::from_le_bytes([log[pos], log[pos + 1], log[pos + 2], log[pos + 3]]) as usize;
        let crc = u32::from_le_bytes([log[pos + 4], log[pos + 5], log[pos + 6], log[pos + 7]]);
        if len > MAX_RECORD || log.len() - pos - FRAME_HEADER < len {
            break;
        }
        let payload = &log[pos + FRAME_HEADER..pos + FRAME_HEADER + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        let rec = IndexRecord::decode(payload).map_err(|source| Error::Decode {
            what: "native store index record",
            source,
        })?;
        records.push(rec);
        pos += FRAME_HEADER + len;
    }
    Ok((records, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) the index
    /// log has always used, bit by bit.
    fn reference_crc32(data: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for b in data {
            c ^= u32::from(*b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }

    #[test]
    fn crc_matches_known_values() {
        for (data, crc) in [
            (&b""[..], 0),
            (b"123456789", 0xCBF4_3926),
            (b"The quick brown fox jumps over the lazy dog", 0x414F_A339),
        ] {
            assert_eq!(crc32fast::hash(data), crc);
            assert_eq!(reference_crc32(data), crc);
        }
    }

    /// An index record of one operation.
    fn one_remove() -> IndexRecord {
        IndexRecord {
            ops: vec![Op {
                kind: Some(op::Kind::Remove(RemoveChunk {
                    stream_id: 1,
                    offset: 42,
                    start: -7,
                })),
            }],
        }
    }

    #[test]
    fn frame_bytes_are_stable() {
        // A record framed by earlier versions: existing index files must
        // still replay.
        let rec = one_remove();
        let framed = [
            0x0a, 0, 0, 0, 0xee, 0x99, 0x81, 0x89, 0x0a, 0x08, 0x1a, 0x06, 0x08, 0x01, 0x10, 0x2a,
            0x18, 0x0d,
        ];
        assert_eq!(frame(&rec), framed);
        let (recs, len) = parse_log(&framed).unwrap();
        assert_eq!((recs, len), (vec![rec], framed.len()));
    }

    proptest::proptest! {
        #[test]
        fn crc_matches_reference(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            proptest::prop_assert_eq!(crc32fast::hash(&data), reference_crc32(&data));
        }
    }

    #[test]
    fn torn_tail_is_ignored() {
        let rec = one_remove();
        let mut log = frame(&rec);
        let good = log.len();
        log.extend_from_slice(&frame(&rec));
        let (recs, len) = parse_log(&log).unwrap();
        assert_eq!((recs.len(), len), (2, log.len()));
        // Cut the second record short, then corrupt it instead.
        let (recs, len) = parse_log(&log[..log.len() - 1]).unwrap();
        assert_eq!((recs.len(), len), (1, good));
        let last = log.len() - 1;
        log[last] ^= 0xFF;
        let (recs, len) = parse_log(&log).unwrap();
        assert_eq!((recs.len(), len), (1, good));
        assert_eq!(recs[0], rec);
    }
}
