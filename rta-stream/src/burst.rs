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

use prost::encoding::{encode_varint as put_varint, encoded_len_varint as varint_len};
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
    Layout::of(item).framed
}

/// Length of a packed `repeated int64` body (negative values take 10 bytes).
fn packed_i64_len(values: &[i64]) -> usize {
    values.iter().map(|v| varint_len(*v as u64)).sum()
}

/// Appends a packed `repeated int64` body whose length is `len`.
fn put_packed_i64(buf: &mut Vec<u8>, values: &[i64], len: usize) {
    if len == values.len() {
        // Every value is a one-byte varint (the common case of regular
        // timestamps): the body is the values themselves.
        buf.extend(values.iter().map(|v| *v as u8));
    } else {
        for v in values {
            put_varint(*v as u64, buf);
        }
    }
}

/// Sizes of an item's encoding, computed once and used both to decide where
/// it goes and to write it (prost would walk repeated fields several times).
///
/// `TimestampedData` and `PeriodicData`, the bulk of live traffic, are
/// written by hand here, byte for byte as prost writes them (fields in tag
/// order, proto3 defaults omitted, `timestamp_deltas` packed); other items go
/// through prost. Tests compare both encodings.
struct Layout {
    /// Bytes of the `StreamData` message.
    msg: usize,
    /// Bytes of the nested data message (hand-written kinds only).
    inner: usize,
    /// Bytes of the packed `timestamp_deltas` body (timestamped only).
    deltas: usize,
    /// Bytes in the burst: key, length prefix and message.
    framed: usize,
}

/// Length of a length-delimited field with a one-byte key.
#[inline]
fn field_len(n: usize) -> usize {
    1 + varint_len(n as u64) + n
}

impl Layout {
    fn of(item: &StreamData) -> Self {
        let (msg, inner, deltas) = match &item.data {
            Some(stream_data::Data::TimestampedData(d)) => {
                let deltas = packed_i64_len(&d.timestamp_deltas);
                let inner = timestamped_len(d, deltas);
                (field_len(inner), inner, deltas)
            }
            Some(stream_data::Data::PeriodicData(d)) => {
                let inner = periodic_len(d);
                (field_len(inner), inner, 0)
            }
            _ => (item.encoded_len(), 0, 0),
        };
        Self {
            msg,
            inner,
            deltas,
            framed: field_len(msg),
        }
    }

    /// Appends `item` as a `StreamDataBurst.data` field.
    fn write(&self, item: &StreamData, buf: &mut Vec<u8>) {
        buf.push(BURST_DATA_KEY);
        put_varint(self.msg as u64, buf);
        match &item.data {
            Some(stream_data::Data::TimestampedData(d)) => {
                buf.push(0x22);
                put_varint(self.inner as u64, buf);
                put_head(buf, d.channel_id, d.start_timestamp);
                if d.timestamp_deltas_scale != 0 {
                    buf.push(0x18);
                    put_varint(d.timestamp_deltas_scale as u64, buf);
                }
                if !d.timestamp_deltas.is_empty() {
                    buf.push(0x22);
                    put_varint(self.deltas as u64, buf);
                    put_packed_i64(buf, &d.timestamp_deltas, self.deltas);
                }
                if !d.buffer.is_empty() {
                    buf.push(0x2A);
                    put_varint(d.buffer.len() as u64, buf);
                    buf.extend_from_slice(&d.buffer);
                }
            }
            Some(stream_data::Data::PeriodicData(d)) => {
                buf.push(0x2A);
                put_varint(self.inner as u64, buf);
                put_head(buf, d.channel_id, d.start_timestamp);
                if d.interval != 0 {
                    buf.push(0x18);
                    put_varint(d.interval as u64, buf);
                }
                if d.samples != 0 {
                    buf.push(0x20);
                    // int32 is sign-extended to 64 bits on the wire.
                    put_varint(i64::from(d.samples) as u64, buf);
                }
                if !d.buffer.is_empty() {
                    buf.push(0x2A);
                    put_varint(d.buffer.len() as u64, buf);
                    buf.extend_from_slice(&d.buffer);
                }
            }
            // Encoding into a Vec cannot fail: it grows as needed.
            _ => {
                let _ = item.encode(buf);
            }
        }
    }
}

/// Appends fields 1 (`channel_id`) and 2 (`start_timestamp`), which
/// `TimestampedData` and `PeriodicData` share, omitting defaults.
fn put_head(buf: &mut Vec<u8>, channel_id: u32, start_timestamp: i64) {
    if channel_id != 0 {
        buf.push(0x08);
        put_varint(u64::from(channel_id), buf);
    }
    if start_timestamp != 0 {
        buf.push(0x11);
        buf.extend_from_slice(&start_timestamp.to_le_bytes());
    }
}

/// Bytes of what [`put_head`] writes.
fn head_len(channel_id: u32, start_timestamp: i64) -> usize {
    let mut n = 0;
    if channel_id != 0 {
        n += 1 + varint_len(u64::from(channel_id));
    }
    if start_timestamp != 0 {
        n += 9;
    }
    n
}

fn timestamped_len(d: &rta_core::proto::data::TimestampedData, deltas: usize) -> usize {
    let mut n = head_len(d.channel_id, d.start_timestamp);
    if d.timestamp_deltas_scale != 0 {
        n += 1 + varint_len(d.timestamp_deltas_scale as u64);
    }
    if !d.timestamp_deltas.is_empty() {
        n += field_len(deltas);
    }
    if !d.buffer.is_empty() {
        n += field_len(d.buffer.len());
    }
    n
}

fn periodic_len(d: &rta_core::proto::data::PeriodicData) -> usize {
    let mut n = head_len(d.channel_id, d.start_timestamp);
    if d.interval != 0 {
        n += 1 + varint_len(d.interval as u64);
    }
    if d.samples != 0 {
        n += 1 + varint_len(i64::from(d.samples) as u64);
    }
    if !d.buffer.is_empty() {
        n += field_len(d.buffer.len());
    }
    n
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
    spare: Option<Vec<u8>>,
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
            spare: None,
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
        Self::checked_layout(item).map(|l| l.framed)
    }

    fn checked_layout(item: &StreamData) -> Result<Layout> {
        let layout = Layout::of(item);
        if layout.framed > MAX_BURST_BYTES {
            return Err(Error::ItemTooLarge {
                size: layout.framed,
                limit: MAX_BURST_BYTES,
            });
        }
        Ok(layout)
    }

    /// Gives the encoder an empty buffer to use for a later burst instead of
    /// allocating one (e.g. the buffer of a burst already compressed).
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.is_none() && buf.capacity() >= self.target {
            buf.clear();
            self.spare = Some(buf);
        }
    }

    /// True when the encoder has no spare buffer for its next burst (see
    /// [`recycle`](Self::recycle)).
    pub fn wants_buffer(&self) -> bool {
        self.spare.is_none()
    }

    /// Adds an item. Returns the previously open burst when the item did not
    /// fit in it (the item then starts a new burst).
    pub fn push(&mut self, item: &StreamData) -> Result<Option<EncodedBurst>> {
        let layout = Self::checked_layout(item)?;
        let size = layout.framed;
        let done = if !self.is_empty() && self.open.bytes.len() + size > self.target {
            self.take()
        } else {
            None
        };
        let buf = &mut self.open.bytes;
        if buf.capacity() == 0 {
            match self.spare.take() {
                Some(spare) => *buf = spare,
                None => buf.reserve(self.target.max(size)),
            }
        }
        buf.reserve(size);
        layout.write(item, buf);
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

    fn any_item() -> impl proptest::strategy::Strategy<Value = StreamData> {
        use proptest::prelude::*;
        use rta_core::proto::data::{Event, TimestampedData};
        let int = prop_oneof![Just(0i64), -3i64..300, any::<i64>()];
        let bytes = proptest::collection::vec(any::<u8>(), 0..300);
        let ts = (
            prop_oneof![Just(0u32), any::<u32>()],
            int.clone(),
            int.clone(),
            proptest::collection::vec(prop_oneof![0i64..128, int.clone()], 0..200),
            bytes.clone(),
        )
            .prop_map(|(channel_id, start, scale, deltas, buf)| {
                stream_data::Data::TimestampedData(TimestampedData {
                    channel_id,
                    start_timestamp: start,
                    timestamp_deltas_scale: scale,
                    timestamp_deltas: deltas,
                    buffer: buf.into(),
                })
            });
        let per = (
            prop_oneof![Just(0u32), any::<u32>()],
            int.clone(),
            int.clone(),
            prop_oneof![Just(0i32), any::<i32>()],
            bytes,
        )
            .prop_map(|(channel_id, start, interval, samples, buf)| {
                stream_data::Data::PeriodicData(PeriodicData {
                    channel_id,
                    start_timestamp: start,
                    interval,
                    samples,
                    buffer: buf.into(),
                })
            });
        let other = prop_oneof![
            ".{0,40}".prop_map(stream_data::Data::SessionJson),
            (int.clone(), int).prop_map(|(a, b)| stream_data::Data::TimeRange(StreamTimeRange {
                start_time: a,
                end_time: b
            })),
            any::<i32>().prop_map(|id| stream_data::Data::Event(Event {
                event_definition_id: id,
                raw_data: vec![1.5, -2.0],
                ..Default::default()
            })),
        ];
        prop_oneof![ts, per, other].prop_map(|d| StreamData { data: Some(d) })
    }

    proptest::proptest! {
        /// The hand-written encoding is byte for byte prost's, sizes included.
        #[test]
        fn hand_encoding_matches_prost(items in proptest::collection::vec(any_item(), 0..12)) {
            let mut enc = BurstEncoder::new(MAX_BURST_BYTES).unwrap();
            for it in &items {
                let n = it.encoded_len();
                proptest::prop_assert_eq!(framed_len(it), 1 + prost::length_delimiter_len(n) + n);
                proptest::prop_assert!(enc.push(it).unwrap().is_none());
            }
            let expected = StreamDataBurst { data: items.clone() }.encode_to_vec();
            let got = enc.take().map(|b| b.bytes).unwrap_or_default();
            proptest::prop_assert_eq!(got, expected);
        }
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
