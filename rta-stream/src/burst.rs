//! Sizing, encoding and decoding of `StreamDataBurst` messages.
//!
//! A burst is what travels in one Redis `data` field and in one WebSocket
//! binary message: a serialized [`StreamDataBurst`] framed with
//! [`Lz4Framing`]. The protocol asks for bursts of roughly 64 KiB before
//! compression and never more than 1 MiB; [`BurstEncoder`] packs items
//! accordingly, appending each item's encoding straight into the burst buffer
//! so nothing is serialized twice.
//!
//! ```
//! use rta_core::proto::stream::{stream_data, StreamData, StreamTimeRange};
//! use rta_stream::burst::{decode_frame, BurstEncoder};
//!
//! let mut enc = BurstEncoder::new(64 * 1024).unwrap();
//! let item = StreamData {
//!     data: Some(stream_data::Data::TimeRange(StreamTimeRange { start_time: 1, end_time: 2 })),
//! };
//! assert!(enc.push(&item).unwrap().is_none()); // fits in the open burst
//! let burst = enc.take().unwrap();
//! let back = decode_frame(&burst.compress(), 1 << 20).unwrap();
//! assert_eq!(back.data, vec![item]);
//! ```

use prost::Message;
use rta_core::lz4::Lz4Framing;
use rta_core::proto::stream::{stream_data, StreamData, StreamDataBurst, StreamTimeRange};

use crate::{Error, Result};

/// Hard limit of a burst before compression (1 MiB), from the Redis protocol.
pub const MAX_BURST_BYTES: usize = 1 << 20;

/// Default burst size target before compression (64 KiB).
pub const DEFAULT_BURST_BYTES: usize = 64 * 1024;

/// Protobuf key of `StreamDataBurst.data` (field 1, length-delimited).
const BURST_DATA_KEY: u8 = 0x0A;

/// Bytes an item takes inside a serialized burst: key, length prefix, message.
pub fn framed_len(item: &StreamData) -> usize {
    let n = item.encoded_len();
    1 + prost::length_delimiter_len(n) + n
}

/// A burst ready to send: the serialized (uncompressed) `StreamDataBurst`
/// plus what the Redis writer needs to keep the session hash current.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedBurst {
    /// Serialized `StreamDataBurst`, not yet compressed.
    pub bytes: Vec<u8>,
    /// Number of `StreamData` items in the burst.
    pub items: u64,
    /// The last session JSON carried by the burst, if any.
    pub session_json: Option<String>,
    /// The last time range carried by the burst, if any.
    pub time_range: Option<StreamTimeRange>,
}

impl EncodedBurst {
    /// The burst framed and compressed with [`Lz4Framing`], as sent on the wire.
    pub fn compress(&self) -> Vec<u8> {
        Lz4Framing::encode(&self.bytes)
    }
}

/// Packs stream items into bursts of about `target` bytes (before compression).
///
/// [`push`](Self::push) never lets the open burst grow past the target: when an
/// item does not fit, the open burst is handed back first. An item larger than
/// the target travels alone; an item that cannot fit in [`MAX_BURST_BYTES`] is
/// an error (it is never dropped silently).
#[derive(Debug)]
pub struct BurstEncoder {
    target: usize,
    open: EncodedBurst,
}

impl BurstEncoder {
    /// An encoder aiming at `target` bytes per burst (1 ..= [`MAX_BURST_BYTES`]).
    pub fn new(target: usize) -> Result<Self> {
        if target == 0 || target > MAX_BURST_BYTES {
            return Err(Error::Config(format!(
                "burst size must be between 1 and {MAX_BURST_BYTES} bytes, got {target}"
            )));
        }
        Ok(Self {
            target,
            open: EncodedBurst::default(),
        })
    }

    /// The size target.
    pub fn target(&self) -> usize {
        self.target
    }

    /// Bytes in the open burst.
    pub fn len(&self) -> usize {
        self.open.bytes.len()
    }

    /// True when the open burst has no items.
    pub fn is_empty(&self) -> bool {
        self.open.items == 0
    }

    /// True when the open burst has reached the target and should be sent now.
    pub fn is_full(&self) -> bool {
        self.open.bytes.len() >= self.target
    }

    /// Checks that `item` can travel in a burst at all; returns its framed size.
    pub fn check(item: &StreamData) -> Result<usize> {
        let size = framed_len(item);
        if size > MAX_BURST_BYTES {
            return Err(Error::ItemTooLarge {
                size,
                limit: MAX_BURST_BYTES,
            });
        }
        Ok(size)
    }

    /// Adds an item. Returns the previously open burst when the item did not
    /// fit in it (the item then starts a new burst).
    pub fn push(&mut self, item: &StreamData) -> Result<Option<EncodedBurst>> {
        let size = Self::check(item)?;
        let done = if !self.is_empty() && self.open.bytes.len() + size > self.target {
            self.take()
        } else {
            None
        };
        let buf = &mut self.open.bytes;
        if buf.capacity() == 0 {
            buf.reserve(self.target.max(size));
        }
        buf.push(BURST_DATA_KEY);
        // Encoding into a Vec cannot fail: it grows as needed.
        let _ = item.encode_length_delimited(buf);
        self.open.items += 1;
        match &item.data {
            Some(stream_data::Data::SessionJson(j)) => self.open.session_json = Some(j.clone()),
            Some(stream_data::Data::TimeRange(r)) => self.open.time_range = Some(*r),
            _ => {}
        }
        Ok(done)
    }

    /// Takes the open burst, if it has any item.
    pub fn take(&mut self) -> Option<EncodedBurst> {
        if self.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut self.open))
    }
}

/// Serializes and frames a whole burst, checking the 1 MiB limit.
pub fn encode_frame(burst: &StreamDataBurst) -> Result<Vec<u8>> {
    let n = burst.encoded_len();
    if n > MAX_BURST_BYTES {
        return Err(Error::ItemTooLarge {
            size: n,
            limit: MAX_BURST_BYTES,
        });
    }
    Ok(Lz4Framing::encode(&burst.encode_to_vec()))
}

/// Unframes and decodes a burst; `max_len` caps the decompressed size.
pub fn decode_frame(frame: &[u8], max_len: usize) -> Result<StreamDataBurst> {
    let raw = Lz4Framing::decode(frame, max_len)?;
    StreamDataBurst::decode(raw.as_slice()).map_err(|source| Error::Decode {
        what: "StreamDataBurst",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rta_core::proto::data::PeriodicData;

    fn periodic(n: usize) -> StreamData {
        StreamData {
            data: Some(stream_data::Data::PeriodicData(PeriodicData {
                channel_id: 1,
                start_timestamp: 5,
                interval: 10,
                samples: n as i32,
                buffer: vec![3u8; n].into(),
            })),
        }
    }

    #[test]
    fn bytes_match_prost_encoding() {
        let items: Vec<_> = (1..40).map(|i| periodic(i * 37)).collect();
        let mut enc = BurstEncoder::new(MAX_BURST_BYTES).unwrap();
        for it in &items {
            assert!(enc.push(it).unwrap().is_none());
        }
        let b = enc.take().unwrap();
        let expected = StreamDataBurst {
            data: items.clone(),
        }
        .encode_to_vec();
        assert_eq!(b.bytes, expected);
        assert_eq!(b.items, items.len() as u64);
    }

    #[test]
    fn never_exceeds_target_unless_single_item() {
        let mut enc = BurstEncoder::new(1000).unwrap();
        let mut out = Vec::new();
        for i in 0..200 {
            if let Some(b) = enc.push(&periodic(i * 7 % 300)).unwrap() {
                out.push(b);
            }
        }
        out.extend(enc.take());
        for b in &out {
            assert!(b.bytes.len() <= 1000 || b.items == 1, "{}", b.bytes.len());
        }
        let total: u64 = out.iter().map(|b| b.items).sum();
        assert_eq!(total, 200);
    }

    proptest::proptest! {
        /// Reference model: the bursts, decoded and concatenated, are the
        /// items in order; every burst respects the target unless it holds a
        /// single item; no burst could have taken the next burst's first item.
        #[test]
        fn packing_matches_reference(
            sizes in proptest::collection::vec(0usize..5000, 0..120),
            target in 1usize..20_000,
        ) {
            let items: Vec<StreamData> = sizes.iter().map(|n| periodic(*n)).collect();
            let mut enc = BurstEncoder::new(target).unwrap();
            let mut bursts = Vec::new();
            for it in &items {
                if let Some(b) = enc.push(it).unwrap() {
                    bursts.push(b);
                }
            }
            bursts.extend(enc.take());
            let mut back = Vec::new();
            for (i, b) in bursts.iter().enumerate() {
                proptest::prop_assert!(b.bytes.len() <= target || b.items == 1);
                let d = decode_frame(&b.compress(), MAX_BURST_BYTES).unwrap().data;
                proptest::prop_assert_eq!(d.len() as u64, b.items);
                if let Some(next) = bursts.get(i + 1) {
                    let first = StreamDataBurst::decode(next.bytes.as_slice()).unwrap().data[0].clone();
                    proptest::prop_assert!(b.bytes.len() + framed_len(&first) > target);
                }
                back.extend(d);
            }
            proptest::prop_assert_eq!(back, items);
        }
    }

    #[test]
    fn oversize_item_is_error() {
        let mut enc = BurstEncoder::new(DEFAULT_BURST_BYTES).unwrap();
        let err = enc.push(&periodic(MAX_BURST_BYTES)).unwrap_err();
        assert!(matches!(err, Error::ItemTooLarge { .. }));
        assert!(enc.is_empty());
        assert!(BurstEncoder::new(MAX_BURST_BYTES + 1).is_err());
        assert!(BurstEncoder::new(0).is_err());
    }
}
