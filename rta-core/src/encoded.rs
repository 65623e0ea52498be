//! Timestamped and periodic items kept in their encoded form.
//!
//! A store that keeps chunks in wire form only needs a few facts about each
//! item it receives (channel, first and last time, sample count and width)
//! and the item's bytes, which go into a chunk's list unchanged. Reading
//! those facts off the encoded message is much cheaper than decoding it into
//! a [`TimestampedData`] or [`PeriodicData`] and encoding it again.
//!
//! [`EncodedSeries::scan`] accepts only the canonical encoding (each field at
//! most once, with its own wire type, packed deltas, no unknown fields) of a
//! valid item with at least one sample. Anything else returns `None`, and the
//! caller decodes the message the usual way, which gives the usual errors.
//! So an item that scans decodes to the same item, and a list made of scanned
//! items decodes like a list encoded from the decoded items.
//!
//! ```
//! use prost::Message;
//! use rta_core::data::{timestamped, DataKind};
//! use rta_core::encoded::EncodedSeries;
//! use rta_core::proto::data::TimestampedData;
//!
//! let item = timestamped(7, &[1_000, 2_000, 4_000], &[1.0f64, 2.0, 3.0]).unwrap();
//! let raw = bytes::Bytes::from(item.encode_to_vec());
//! let e = EncodedSeries::scan(DataKind::Timestamped, raw).unwrap();
//! assert_eq!((e.channel_id(), e.start(), e.end()), (7, 1_000, 4_000));
//! assert_eq!((e.samples(), e.width()), (3, 8));
//! assert_eq!(e.decode::<TimestampedData>().unwrap(), item);
//! ```

use bytes::{Buf, Bytes};
use prost::encoding::{decode_key, decode_varint, WireType};

use crate::data::{DataItem, DataKind};
use crate::{Error, Result};

/// A timestamped or periodic item as encoded on the wire, with the facts a
/// store needs about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSeries {
    kind: DataKind,
    channel_id: u32,
    start: i64,
    end: i64,
    samples: usize,
    width: usize,
    raw: Bytes,
}

/// Fields of a message read by [`fields`]: `(number, value)` where a varint
/// or fixed value is in `int` and a length-delimited one in `bytes`.
#[derive(Default)]
pub(crate) struct Fields {
    pub(crate) int: [Option<u64>; 6],
    pub(crate) bytes: [Option<Bytes>; 6],
}

/// Reads a canonical message with fields 1..=5 of the given wire types.
/// `None` when a field repeats, is unknown, or has another wire type.
pub(crate) fn fields(raw: &Bytes, types: [WireType; 5]) -> Option<Fields> {
    let mut out = Fields::default();
    let mut buf = raw.clone();
    while buf.has_remaining() {
        let (tag, wt) = decode_key(&mut buf).ok()?;
        let i = tag as usize;
        if !(1..=5).contains(&i) || types[i - 1] != wt {
            return None;
        }
        if out.int[i].is_some() || out.bytes[i].is_some() {
            return None;
        }
        match wt {
            WireType::Varint => out.int[i] = Some(decode_varint(&mut buf).ok()?),
            WireType::SixtyFourBit => {
                if buf.remaining() < 8 {
                    return None;
                }
                out.int[i] = Some(buf.get_u64_le());
            }
            WireType::LengthDelimited => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                if len > buf.remaining() {
                    return None;
                }
                out.bytes[i] = Some(buf.split_to(len));
            }
            _ => return None,
        }
    }
    Some(out)
}

impl EncodedSeries {
    /// Reads the facts off an encoded `TimestampedData` or `PeriodicData`
    /// (other kinds return `None`). `None` also for anything but the
    /// canonical encoding of a valid item with samples: decode those.
    pub fn scan(kind: DataKind, raw: Bytes) -> Option<Self> {
        match kind {
            DataKind::Timestamped => Self::scan_timestamped(raw),
            DataKind::Periodic => Self::scan_periodic(raw),
            DataKind::Row | DataKind::Events => None,
        }
    }

    fn scan_timestamped(raw: Bytes) -> Option<Self> {
        use WireType::{LengthDelimited as L, SixtyFourBit as F, Varint as V};
        let f = fields(&raw, [V, F, V, L, L])?;
        let channel_id = u32::try_from(f.int[1].unwrap_or(0)).ok()?;
        let start = f.int[2].unwrap_or(0) as i64;
        let scale = f.int[3].unwrap_or(0) as i64;
        let mut deltas = f.bytes[4].clone()?;
        let buffer_len = f.bytes[5].as_ref().map_or(0, Bytes::len);
        let mut samples = 0usize;
        let mut sum: i64 = 0;
        while deltas.has_remaining() {
            let d = decode_varint(&mut deltas).ok()? as i64;
            if samples == 0 {
                if d != 0 {
                    return None;
                }
            } else if d < 0 {
                return None;
            } else {
                sum = sum.checked_add(d)?;
            }
            samples += 1;
        }
        if samples == 0 || buffer_len == 0 || !buffer_len.is_multiple_of(samples) {
            return None;
        }
        if samples > 1 && scale <= 0 {
            return None;
        }
        let end = start.checked_add(sum.checked_mul(scale.max(1))?)?;
        Some(Self {
            kind: DataKind::Timestamped,
            channel_id,
            start,
            end,
            samples,
            width: buffer_len / samples,
            raw,
        })
    }

    fn scan_periodic(raw: Bytes) -> Option<Self> {
        use WireType::{LengthDelimited as L, SixtyFourBit as F, Varint as V};
        let f = fields(&raw, [V, F, V, V, L])?;
        let channel_id = u32::try_from(f.int[1].unwrap_or(0)).ok()?;
        let start = f.int[2].unwrap_or(0) as i64;
        let interval = f.int[3].unwrap_or(0) as i64;
        let samples = i32::try_from(f.int[4].unwrap_or(0)).ok()?;
        let buffer_len = f.bytes[5].as_ref().map_or(0, Bytes::len);
        let n = usize::try_from(samples).ok().filter(|n| *n > 0)?;
        if buffer_len == 0 || !buffer_len.is_multiple_of(n) {
            return None;
        }
        if n > 1 && interval <= 0 {
            return None;
        }
        let end = start.checked_add(i64::from(samples - 1).checked_mul(interval.max(0))?)?;
        Some(Self {
            kind: DataKind::Periodic,
            channel_id,
            start,
            end,
            samples: n,
            width: buffer_len / n,
            raw,
        })
    }

    /// Encodes a decoded item and scans it; `None` for an item that is not
    /// valid or has no samples.
    pub fn from_item<T: DataItem>(item: &T) -> Option<Self> {
        Self::scan(T::KIND, Bytes::from(item.encode_to_vec()))
    }

    /// [`DataKind::Timestamped`] or [`DataKind::Periodic`].
    pub fn kind(&self) -> DataKind {
        self.kind
    }

    /// The channel.
    pub fn channel_id(&self) -> u32 {
        self.channel_id
    }

    /// Time of the first sample (ns).
    pub fn start(&self) -> i64 {
        self.start
    }

    /// Time of the last sample (ns).
    pub fn end(&self) -> i64 {
        self.end
    }

    /// Number of samples (at least 1).
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Bytes per sample (at least 1).
    pub fn width(&self) -> usize {
        self.width
    }

    /// The encoded message.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Decodes the item (its buffer shares the encoded bytes). Fails when
    /// `T` is not this item's kind.
    pub fn decode<T: DataItem>(&self) -> Result<T> {
        if T::KIND != self.kind {
            return Err(Error::InvalidArgument(format!(
                "a {:?} item cannot be decoded as {:?}",
                self.kind,
                T::KIND
            )));
        }
        T::decode(self.raw.clone()).map_err(|source| Error::Decode {
            what: "encoded item",
            source,
        })
    }
}

/// The items of a serialized list message (`TimestampedDataList`,
/// `PeriodicDataList`, ...: field 1, repeated), each as its encoded bytes
/// sharing `list`'s buffer. `None` unless every field is field 1,
/// length-delimited, as a list encoded by prost is.
///
/// ```
/// use prost::Message;
/// use rta_core::data::timestamped;
/// use rta_core::encoded::list_items;
/// use rta_core::proto::data::TimestampedDataList;
///
/// let a = timestamped(1, &[10], &[1.0f64]).unwrap();
/// let b = timestamped(1, &[20], &[2.0f64]).unwrap();
/// let list = TimestampedDataList { timestamped_data: vec![a.clone(), b] };
/// let items = list_items(&bytes::Bytes::from(list.encode_to_vec())).unwrap();
/// assert_eq!(items.len(), 2);
/// assert_eq!(items[0], a.encode_to_vec());
/// ```
pub fn list_items(list: &Bytes) -> Option<Vec<Bytes>> {
    let mut buf = list.clone();
    let mut out = Vec::new();
    while buf.has_remaining() {
        let (tag, wt) = decode_key(&mut buf).ok()?;
        if tag != 1 || wt != WireType::LengthDelimited {
            return None;
        }
        let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
        if len > buf.remaining() {
            return None;
        }
        out.push(buf.split_to(len));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{periodic, timestamped};
    use crate::proto::data::{PeriodicData, TimestampedData};
    use proptest::prelude::*;
    use prost::Message;

    fn facts<T: DataItem>(item: &T) -> Option<(u32, i64, i64, usize)> {
        let (s, e) = item.time_bounds()?;
        Some((item.channel_ids()[0], s, e, item.sample_count()))
    }

    #[test]
    fn periodic_facts_match_the_decoded_item() {
        let item = periodic(3, 1_000, 250, &[1u16, 2, 3, 4]).unwrap();
        let e = EncodedSeries::from_item(&item).unwrap();
        assert_eq!(e.kind(), DataKind::Periodic);
        assert_eq!((e.channel_id(), e.start(), e.end()), (3, 1_000, 1_750));
        assert_eq!((e.samples(), e.width()), (4, 2));
        assert_eq!(e.decode::<PeriodicData>().unwrap(), item);
        assert!(e.decode::<TimestampedData>().is_err());
    }

    #[test]
    fn odd_encodings_are_left_to_the_decoder() {
        let item = timestamped(1, &[10, 20], &[1u8, 2]).unwrap();
        let mut raw = item.encode_to_vec();
        // The channel field again: valid protobuf, but not canonical.
        raw.extend_from_slice(&[0x08, 0x02]);
        assert!(EncodedSeries::scan(DataKind::Timestamped, raw.into()).is_none());
        // An unknown field.
        let mut raw = item.encode_to_vec();
        raw.extend_from_slice(&[0x30, 0x01]);
        assert!(EncodedSeries::scan(DataKind::Timestamped, raw.into()).is_none());
        // Truncated.
        let raw = item.encode_to_vec();
        let cut = Bytes::copy_from_slice(&raw[..raw.len() - 1]);
        assert!(EncodedSeries::scan(DataKind::Timestamped, cut).is_none());
        // No samples, a first delta that is not 0, a buffer that does not divide.
        let empty = TimestampedData::default().encode_to_vec();
        assert!(EncodedSeries::scan(DataKind::Timestamped, empty.into()).is_none());
        let mut bad = item.clone();
        bad.timestamp_deltas[0] = 5;
        assert!(EncodedSeries::from_item(&bad).is_none());
        let mut bad = item.clone();
        bad.buffer = Bytes::from_static(&[1, 2, 3]);
        assert!(EncodedSeries::from_item(&bad).is_none());
        let mut bad = periodic(1, 0, 10, &[1u8, 2]).unwrap();
        bad.interval = 0;
        assert!(EncodedSeries::from_item(&bad).is_none());
        bad.samples = -1;
        assert!(EncodedSeries::from_item(&bad).is_none());
        assert!(EncodedSeries::scan(DataKind::Row, Bytes::new()).is_none());
    }

    #[test]
    fn fuzz_seeds_scan() {
        // The seeds of the fuzz target are valid items: the fuzzer starts
        // from inputs that reach the end of the scanner.
        let ts = include_bytes!("../../fuzz/corpus/encoded_series/timestamped");
        let e = EncodedSeries::scan(DataKind::Timestamped, Bytes::from_static(&ts[1..])).unwrap();
        assert_eq!(
            (e.channel_id(), e.start(), e.end(), e.samples()),
            (7, 1_000, 4_000, 3)
        );
        let pd = include_bytes!("../../fuzz/corpus/encoded_series/periodic");
        let e = EncodedSeries::scan(DataKind::Periodic, Bytes::from_static(&pd[1..])).unwrap();
        assert_eq!(
            (e.channel_id(), e.start(), e.end(), e.samples()),
            (3, -5, 745, 4)
        );
    }

    #[test]
    fn list_items_refuses_other_fields() {
        assert_eq!(list_items(&Bytes::new()), Some(vec![]));
        // Field 2, and a length past the end.
        assert_eq!(list_items(&Bytes::from_static(&[0x12, 0x00])), None);
        assert_eq!(list_items(&Bytes::from_static(&[0x0a, 0x05, 0x01])), None);
    }

    proptest! {
        /// Whatever scans decodes, to an item with the same facts.
        #[test]
        fn scan_agrees_with_the_decoder(raw in proptest::collection::vec(any::<u8>(), 0..64), periodic_kind: bool) {
            let kind = if periodic_kind { DataKind::Periodic } else { DataKind::Timestamped };
            if let Some(e) = EncodedSeries::scan(kind, Bytes::from(raw)) {
                if periodic_kind {
                    let d = e.decode::<PeriodicData>().unwrap();
                    d.validate().unwrap();
                    prop_assert_eq!(facts(&d), Some((e.channel_id(), e.start(), e.end(), e.samples())));
                } else {
                    let d = e.decode::<TimestampedData>().unwrap();
                    d.validate().unwrap();
                    prop_assert_eq!(facts(&d), Some((e.channel_id(), e.start(), e.end(), e.samples())));
                }
            }
        }

        /// Valid items always scan, with the facts of the item.
        #[test]
        fn valid_items_scan(
            ch: u32,
            t0 in -1_000_000_000_000i64..1_000_000_000_000,
            gaps in proptest::collection::vec(0i64..1_000_000, 0..40),
            interval in 1i64..1_000_000_000,
        ) {
            let mut times = vec![t0];
            for g in &gaps {
                let last = *times.last().unwrap();
                times.push(last + g);
            }
            let values: Vec<f32> = times.iter().map(|t| *t as f32).collect();
            let ts = timestamped(ch, &times, &values).unwrap();
            let e = EncodedSeries::from_item(&ts).unwrap();
            prop_assert_eq!(facts(&ts), Some((e.channel_id(), e.start(), e.end(), e.samples())));
            prop_assert_eq!(e.width(), 4);
            prop_assert_eq!(e.decode::<TimestampedData>().unwrap(), ts);

            let pd = periodic(ch, t0, interval, &values).unwrap();
            let e = EncodedSeries::from_item(&pd).unwrap();
            prop_assert_eq!(facts(&pd), Some((e.channel_id(), e.start(), e.end(), e.samples())));
            prop_assert_eq!(e.decode::<PeriodicData>().unwrap(), pd);
        }
    }
}
