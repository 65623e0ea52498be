//! Reading a `TimestampedDataList` straight into items with their times
//! decoded: what `prost` decoding followed by
//! [`read_timestamps`](crate::data::read_timestamps) gives, in one pass and
//! without the list's intermediate vectors.
//!
//! A reader of timestamped data (an export, a conversion to Arrow) wants
//! each item's sample times, not its deltas. Decoding through prost builds
//! a `Vec<i64>` of deltas one `decode_varint` call at a time, then a second
//! vector of times; in `rta export` that was about a fifth of the client's
//! work (docs/performance.md). Here the deltas are read once, and items
//! whose times are encoded alike (the channels of one sampling clock, in one
//! chunk or, through a [`TimedDecoder`], across the chunks of a download)
//! share one decoded vector.
//!
//! Only the encoding prost itself writes is read here, through the
//! canonical-field reader of [`encoded`](crate::encoded): each field once,
//! packed deltas, no unknown fields. Anything else — and every error — goes
//! through prost and `read_timestamps`, so the result, errors included, is
//! always theirs.
//!
//! ```
//! use rta_core::data::timestamped;
//! use rta_core::proto::data::TimestampedDataList;
//! use rta_core::timed::decode_timed;
//! use prost::Message;
//!
//! let list = TimestampedDataList {
//!     timestamped_data: vec![
//!         timestamped(1, &[10, 20, 30], &[1.0f64, 2.0, 3.0]).unwrap(),
//!         timestamped(2, &[10, 20, 30], &[4.0f64, 5.0, 6.0]).unwrap(),
//!     ],
//! };
//! let items = decode_timed(list.encode_to_vec().into()).unwrap();
//! assert_eq!(&items[1].times[..], &[10, 20, 30]);
//! assert!(std::sync::Arc::ptr_eq(&items[0].times, &items[1].times));
//! assert!(items[0].increasing);
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use prost::Message;

use crate::data::read_timestamps;
use crate::proto::data::TimestampedDataList;
use crate::{encoded, varint};
use crate::{Error, Result};

/// One `TimestampedData` with its sample times decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedItem {
    /// The channel.
    pub channel_id: u32,
    /// Sample times (ns since the epoch); items whose times are encoded
    /// alike share this vector (within a list, or across the lists of one
    /// [`TimedDecoder`]).
    pub times: Arc<[i64]>,
    /// Whether `times` is strictly increasing.
    pub increasing: bool,
    /// The samples, little-endian, one per time (a slice of the list's
    /// bytes, not a copy).
    pub buffer: Bytes,
}

/// Decodes a serialized `TimestampedDataList` (a chunk's unpacked payload).
///
/// Equal to decoding with prost and applying
/// [`read_timestamps`](crate::data::read_timestamps) to each item, errors
/// included. To share times across the chunks of a download, keep a
/// [`TimedDecoder`] instead.
pub fn decode_timed(raw: Bytes) -> Result<Vec<TimedItem>> {
    TimedDecoder::new().decode(raw)
}

/// Decodes chunk payloads one after another, remembering the time
/// encodings it has decoded lately: the chunks of channels sampled on one
/// clock carry the same times, and their items get the same shared vector
/// without decoding it again (a lookup by start, scale and length, then a
/// byte comparison of the deltas).
///
/// The memory it keeps is bounded ([`TimedDecoder::MAX_BYTES`]): the
/// oldest encodings are forgotten first.
///
/// ```
/// use rta_core::data::timestamped;
/// use rta_core::proto::data::TimestampedDataList;
/// use rta_core::timed::TimedDecoder;
/// use prost::Message;
///
/// let chunk = |ch| {
///     let d = timestamped(ch, &[10, 20, 30], &[1.0f64, 2.0, 3.0]).unwrap();
///     TimestampedDataList { timestamped_data: vec![d] }.encode_to_vec().into()
/// };
/// let mut decoder = TimedDecoder::new();
/// let a = decoder.decode(chunk(1)).unwrap();
/// let b = decoder.decode(chunk(2)).unwrap();
/// assert!(std::sync::Arc::ptr_eq(&a[0].times, &b[0].times));
/// ```
#[derive(Debug, Default)]
pub struct TimedDecoder {
    /// Time encodings by (start, scale, bytes of deltas).
    clocks: HashMap<(i64, i64, usize), Clock>,
    /// Their keys, oldest first.
    order: VecDeque<(i64, i64, usize)>,
    /// Bytes the clocks hold.
    bytes: usize,
}

impl TimedDecoder {
    /// Bytes of remembered deltas and times, at most.
    pub const MAX_BYTES: usize = 16 << 20;

    /// A decoder remembering nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes one serialized `TimestampedDataList`, as [`decode_timed`].
    pub fn decode(&mut self, raw: Bytes) -> Result<Vec<TimedItem>> {
        match self.fast(&raw) {
            Some(items) => Ok(items),
            None => reference(raw),
        }
    }

    /// The times of an item's encoding, remembered or decoded now.
    fn times(&mut self, start: i64, scale: i64, deltas: &[u8]) -> Option<(Arc<[i64]>, bool)> {
        let key = (start, scale, deltas.len());
        if let Some(c) = self.clocks.get(&key) {
            if &c.deltas[..] == deltas {
                return Some((c.times.clone(), c.increasing));
            }
        }
        let (times, increasing) = decode_times(start, scale, deltas)?;
        let size = deltas.len() + times.len() * 8;
        if size > Self::MAX_BYTES {
            return Some((times, increasing));
        }
        while self.bytes + size > Self::MAX_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(c) = self.clocks.remove(&old) {
                self.bytes -= c.deltas.len() + c.times.len() * 8;
            }
        }
        let clock = Clock {
            deltas: deltas.into(),
            times: times.clone(),
            increasing,
        };
        if let Some(c) = self.clocks.insert(key, clock) {
            self.bytes -= c.deltas.len() + c.times.len() * 8; // same key, other deltas
        } else {
            self.order.push_back(key);
        }
        self.bytes += size;
        Some((times, increasing))
    }

    /// The items, or `None` when the input is not in prost's own encoding
    /// or is not valid (the reference path decides then).
    fn fast(&mut self, raw: &Bytes) -> Option<Vec<TimedItem>> {
        use prost::encoding::WireType::{LengthDelimited as L, SixtyFourBit as F, Varint as V};
        let items = encoded::list_items(raw)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let f = encoded::fields(&item, [V, F, V, L, L])?;
            let start = f.int[2].unwrap_or(0) as i64;
            let scale = f.int[3].unwrap_or(0) as i64;
            let deltas = f.bytes[4].as_deref().unwrap_or_default();
            let (times, increasing) = self.times(start, scale, deltas)?;
            out.push(TimedItem {
                channel_id: u32::try_from(f.int[1].unwrap_or(0)).ok()?,
                times,
                increasing,
                buffer: f.bytes[5].clone().unwrap_or_default(),
            });
        }
        Some(out)
    }
}

/// A remembered time encoding and the times it gives.
#[derive(Debug)]
struct Clock {
    deltas: Box<[u8]>,
    times: Arc<[i64]>,
    increasing: bool,
}

/// The prost path: every input, every error.
fn reference(raw: Bytes) -> Result<Vec<TimedItem>> {
    let list = TimestampedDataList::decode(raw).map_err(|source| Error::Decode {
        what: "chunk payload list",
        source,
    })?;
    list.timestamped_data
        .into_iter()
        .map(|d| {
            let times: Arc<[i64]> = read_timestamps(&d)?.into();
            Ok(TimedItem {
                channel_id: d.channel_id,
                increasing: times.windows(2).all(|w| w[0] < w[1]),
                times,
                buffer: d.buffer,
            })
        })
        .collect()
}

/// The times of packed `deltas` from `start` (the first delta is not used,
/// as in `read_timestamps`), and whether they strictly increase; `None` on
/// a malformed varint or an overflow.
fn decode_times(start: i64, scale: i64, deltas: &[u8]) -> Option<(Arc<[i64]>, bool)> {
    let one_byte = deltas.iter().fold(0u8, |acc, &b| acc | b) < 0x80;
    if one_byte {
        // Every delta is below 128: no time can overflow if the largest
        // possible step sum does not.
        let n = i64::try_from(deltas.len()).ok()?;
        let reach = n.checked_mul(127)?.checked_mul(scale)?;
        start.checked_add(reach)?;
        let mut t = start;
        let times: Arc<[i64]> = deltas
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if i > 0 {
                    t += i64::from(d) * scale;
                }
                t
            })
            .collect();
        // (`contains` looks for a zero delta with memchr, many bytes at a time)
        let increasing = deltas.len() <= 1 || (scale > 0 && !deltas[1..].contains(&0));
        return Some((times, increasing));
    }
    let mut pos = 0;
    let mut values = Vec::with_capacity(deltas.len() / 2);
    while pos < deltas.len() {
        values.push(varint::get(deltas, &mut pos)? as i64);
    }
    let times: Arc<[i64]> = crate::data::decode_timestamps(start, scale, &values)
        .ok()?
        .into();
    let increasing = times.windows(2).all(|w| w[0] < w[1]);
    Some((times, increasing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::data::TimestampedData;
    use proptest::prelude::*;

    use crate::strategies::timestamped_item as item;

    fn same(raw: Vec<u8>) -> std::result::Result<(), TestCaseError> {
        let fast = decode_timed(raw.clone().into());
        let slow = reference(raw.into());
        match (&fast, &slow) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            _ => prop_assert!(false, "fast {fast:?} but prost {slow:?}"),
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn equals_prost_and_read_timestamps(
            items in proptest::collection::vec(item(), 0..5),
            twins in any::<bool>(),
        ) {
            let mut items = items;
            if twins && items.len() > 1 {
                // channels of one clock: equal time encodings
                let (first, rest) = items.split_at_mut(1);
                for d in rest {
                    d.start_timestamp = first[0].start_timestamp;
                    d.timestamp_deltas_scale = first[0].timestamp_deltas_scale;
                    d.timestamp_deltas = first[0].timestamp_deltas.clone();
                }
            }
            let list = TimestampedDataList { timestamped_data: items };
            same(list.encode_to_vec())?;
        }

        #[test]
        fn damaged_lists_give_prost_result(
            items in proptest::collection::vec(item(), 1..4),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut raw = TimestampedDataList { timestamped_data: items }.encode_to_vec();
            for (at, b) in edits {
                let k = at.index(raw.len());
                raw[k] = b;
            }
            same(raw.clone())?;
            raw.truncate(cut.index(raw.len() + 1));
            same(raw)?;
        }
    }

    /// Lists of a few channels on a few clocks, some with equal starts,
    /// scales and lengths but other deltas.
    fn lists() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let clock = (0i64..3, 1i64..3, proptest::collection::vec(0i64..4, 0..6));
        proptest::collection::vec(proptest::collection::vec((0u32..3, clock), 0..4), 1..6).prop_map(
            |lists| {
                lists
                    .into_iter()
                    .map(|items| {
                        let timestamped_data = items
                            .into_iter()
                            .map(|(ch, (start, scale, deltas))| TimestampedData {
                                channel_id: ch,
                                start_timestamp: start,
                                timestamp_deltas_scale: scale,
                                buffer: vec![1; deltas.len() * 8].into(),
                                timestamp_deltas: deltas,
                            })
                            .collect();
                        TimestampedDataList { timestamped_data }.encode_to_vec()
                    })
                    .collect()
            },
        )
    }

    proptest! {
        #[test]
        fn one_decoder_across_lists_equals_prost(lists in lists()) {
            let mut decoder = TimedDecoder::new();
            for raw in lists {
                let fast = decoder.decode(raw.clone().into()).unwrap();
                prop_assert_eq!(fast, reference(raw.into()).unwrap());
                prop_assert!(decoder.bytes <= TimedDecoder::MAX_BYTES);
                prop_assert_eq!(decoder.order.len(), decoder.clocks.len());
            }
        }
    }

    #[test]
    fn remembered_bytes_stay_bounded() {
        let mut decoder = TimedDecoder::new();
        let n = 100_000; // 900 kB of deltas and times per clock
        for start in 0..100 {
            let d = TimestampedData {
                channel_id: 1,
                start_timestamp: start,
                timestamp_deltas_scale: 1,
                timestamp_deltas: vec![1; n],
                buffer: vec![0; n].into(),
            };
            let raw = TimestampedDataList {
                timestamped_data: vec![d],
            }
            .encode_to_vec();
            let items = decoder.decode(raw.into()).unwrap();
            assert_eq!(items[0].times[n - 1], start + n as i64 - 1);
        }
        assert!(decoder.bytes <= TimedDecoder::MAX_BYTES);
        assert!(decoder.clocks.len() < 100, "the oldest were forgotten");
        assert_eq!(decoder.order.len(), decoder.clocks.len());
    }

    #[test]
    fn shared_times_and_increase() {
        let d = |ch, deltas: Vec<i64>| TimestampedData {
            channel_id: ch,
            start_timestamp: 100,
            timestamp_deltas_scale: 10,
            timestamp_deltas: deltas,
            buffer: vec![0; 24].into(),
        };
        let list = TimestampedDataList {
            timestamped_data: vec![
                d(1, vec![0, 1, 2]),
                d(2, vec![0, 1, 2]),
                d(3, vec![0, 0, 2]),
            ],
        };
        let items = decode_timed(list.encode_to_vec().into()).unwrap();
        assert_eq!(&items[0].times[..], &[100, 110, 130]);
        assert!(Arc::ptr_eq(&items[0].times, &items[1].times));
        assert!(items[0].increasing);
        assert_eq!(&items[2].times[..], &[100, 100, 120]);
        assert!(!items[2].increasing);
    }

    #[test]
    fn overflow_is_the_reference_error() {
        let list = TimestampedDataList {
            timestamped_data: vec![TimestampedData {
                channel_id: 1,
                start_timestamp: i64::MAX - 5,
                timestamp_deltas_scale: 1,
                timestamp_deltas: vec![0, 3, 3],
                buffer: vec![0; 3].into(),
            }],
        };
        let err = decode_timed(list.encode_to_vec().into()).unwrap_err();
        assert!(err.to_string().contains("overflow at sample 2"), "{err}");
    }
}
