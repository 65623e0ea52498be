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
        let _ = c.decode_list::<TimestampedDataList>();
        let _ = c.decode_list::<RowDataList>();
        let _ = c.decode_list::<EventsList>();
    }
    let _ = dec.finish();
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
