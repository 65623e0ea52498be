//! Entry points of the fuzz targets in `fuzz/`, shared with the test that
//! replays their corpus. Each takes arbitrary bytes and must never panic,
//! hang or allocate without bound; errors are the expected outcome.

use crate::chunk::ChunkDecoder;
use crate::proto::data::{EventsList, PeriodicDataList, RowDataList, TimestampedDataList};

/// Decodes a chunk stream and every payload in it as each list type.
pub fn chunk_decoder(data: &[u8]) {
    let mut dec = ChunkDecoder::with_max_payload(1 << 20);
    dec.push(data);
    while let Ok(Some(c)) = dec.next_chunk() {
        let _ = c.decode_list::<PeriodicDataList>();
        let list = c.decode_list::<TimestampedDataList>();
        timed_matches_prost(&c, list);
        let _ = c.decode_list::<RowDataList>();
        let _ = c.decode_list::<EventsList>();
    }
    let _ = dec.finish();
}

/// The fast timestamped reader must give what prost and `read_timestamps`
/// give: the same items and times, or an error where they fail.
fn timed_matches_prost(c: &crate::chunk::Chunk, list: crate::Result<TimestampedDataList>) {
    let timed = c.timed_items();
    let reference = list.and_then(|l| {
        l.timestamped_data
            .iter()
            .map(|d| crate::data::read_timestamps(d).map(|t| (d.channel_id, t, d.buffer.clone())))
            .collect::<crate::Result<Vec<_>>>()
    });
    match (timed, reference) {
        (Ok(a), Ok(b)) => {
            let a: Vec<_> = a
                .into_iter()
                .map(|i| (i.channel_id, i.times.to_vec(), i.buffer))
                .collect();
            assert_eq!(a, b, "timed items differ from prost's");
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!("timed reader {a:?}, prost {b:?}"),
    }
}

/// Reads an LZ4 pickle frame.
pub fn lz4_frame(data: &[u8]) {
    let _ = crate::lz4::Lz4Framing::decode(data, 1 << 20);
}

/// Parses a channel expression and re-parses its canonical form.
pub fn channels(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(e) = s.parse::<crate::channels::ChannelExpr>() {
            let again: Result<crate::channels::ChannelExpr, _> = e.to_string().parse();
            assert_eq!(
                again.ok().as_ref(),
                Some(&e),
                "canonical form must re-parse to the same set"
            );
        }
    }
}

/// Parses session JSON (and a timestamp from the same text).
pub fn session_json(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(sess) = crate::session::Session::from_json(s) {
            let _ = sess.to_json();
        }
        let _ = crate::time::Timestamp::parse(s);
    }
}

/// Parses configuration JSON.
pub fn config_json(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = crate::config::Config::from_json(s);
    }
}

/// Parses a session query and a sort directive.
pub fn query(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = crate::query::Query::parse(s);
        let _ = crate::query::SortKey::parse(s);
    }
}

/// Scans an encoded timestamped or periodic item (the first byte picks the
/// kind) and, when it scans, checks it decodes to an item with the same
/// facts: a disagreement panics.
pub fn encoded_series(data: &[u8]) {
    use crate::data::{DataItem, DataKind};
    use crate::encoded::EncodedSeries;
    use crate::proto::data::{PeriodicData, TimestampedData};
    fn check<T: DataItem>(e: &EncodedSeries) {
        let item: T = match e.decode() {
            Ok(item) => item,
            Err(err) => panic!("scanned item does not decode: {err}"),
        };
        assert!(item.validate().is_ok(), "scanned item is not valid");
        let facts = item
            .time_bounds()
            .map(|(s, end)| (item.channel_ids()[0], s, end, item.sample_count()));
        assert_eq!(
            facts,
            Some((e.channel_id(), e.start(), e.end(), e.samples())),
            "scanned facts differ from the decoded item"
        );
    }
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let raw = bytes::Bytes::copy_from_slice(rest);
    if first & 1 == 0 {
        if let Some(e) = EncodedSeries::scan(DataKind::Timestamped, raw) {
            check::<TimestampedData>(&e);
        }
    } else if let Some(e) = EncodedSeries::scan(DataKind::Periodic, raw) {
        check::<PeriodicData>(&e);
    }
}
