//! Serializing a `TimestampedDataList` by hand, byte for byte what prost
//! writes, without prost's call per packed varint: a chunk of timestamped
//! data is mostly its deltas and its sample buffer, and encoding the deltas
//! one `encode_varint` call at a time was a visible part of building chunks.

use crate::proto::data::{TimestampedData, TimestampedDataList};

use crate::varint::{len as varint_len, put as put_varint};

/// Whether every delta is below 128 (one byte each, a steady rate).
fn small_deltas(deltas: &[i64]) -> bool {
    deltas.iter().fold(0u64, |acc, &v| acc | v as u64) < 0x80
}

/// Bytes of one `TimestampedData` message body, what prost's
/// `encoded_len` gives.
pub(crate) fn item_len(d: &TimestampedData) -> usize {
    let mut n = 0;
    if d.channel_id != 0 {
        n += 1 + varint_len(u64::from(d.channel_id));
    }
    if d.start_timestamp != 0 {
        n += 9;
    }
    if d.timestamp_deltas_scale != 0 {
        n += 1 + varint_len(d.timestamp_deltas_scale as u64);
    }
    let deltas = &d.timestamp_deltas;
    if !deltas.is_empty() {
        let len = if small_deltas(deltas) {
            deltas.len()
        } else {
            deltas.iter().map(|&v| varint_len(v as u64)).sum()
        };
        n += 1 + varint_len(len as u64) + len;
    }
    if !d.buffer.is_empty() {
        n += 1 + varint_len(d.buffer.len() as u64) + d.buffer.len();
    }
    n
}

/// Appends one `TimestampedData` message body (no tag or length).
fn put_item(out: &mut Vec<u8>, d: &TimestampedData) {
    if d.channel_id != 0 {
        out.push(0x08); // field 1, varint
        put_varint(out, u64::from(d.channel_id));
    }
    if d.start_timestamp != 0 {
        out.push(0x11); // field 2, fixed 64-bit
        out.extend_from_slice(&d.start_timestamp.to_le_bytes());
    }
    if d.timestamp_deltas_scale != 0 {
        out.push(0x18); // field 3, varint
        put_varint(out, d.timestamp_deltas_scale as u64);
    }
    let deltas = &d.timestamp_deltas;
    if !deltas.is_empty() {
        out.push(0x22); // field 4, packed
                        // Deltas of a steady rate are all below 128 (one byte each): then
                        // they are written as bytes in one go.
        if small_deltas(deltas) {
            put_varint(out, deltas.len() as u64);
            out.extend(deltas.iter().map(|&v| v as u8));
        } else {
            let len: usize = deltas.iter().map(|&v| varint_len(v as u64)).sum();
            put_varint(out, len as u64);
            out.reserve(len);
            for &v in deltas {
                put_varint(out, v as u64);
            }
        }
    }
    if !d.buffer.is_empty() {
        out.push(0x2A); // field 5, bytes
        put_varint(out, d.buffer.len() as u64);
        out.extend_from_slice(&d.buffer);
    }
}

/// The serialized list, identical to `list.encode_to_vec()`.
pub(crate) fn timestamped_list(list: &TimestampedDataList) -> Vec<u8> {
    let lens: Vec<usize> = list.timestamped_data.iter().map(item_len).collect();
    let total: usize = lens.iter().map(|&n| 1 + varint_len(n as u64) + n).sum();
    let mut out = Vec::with_capacity(total);
    for (d, &n) in list.timestamped_data.iter().zip(&lens) {
        out.push(0x0A); // field 1 of the list, length-delimited
        put_varint(&mut out, n as u64);
        put_item(&mut out, d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    use crate::strategies::timestamped_item as item;

    proptest! {
        #[test]
        fn same_bytes_as_prost(items in proptest::collection::vec(item(), 0..4)) {
            let list = TimestampedDataList { timestamped_data: items };
            prop_assert_eq!(timestamped_list(&list), list.encode_to_vec());
            for d in &list.timestamped_data {
                prop_assert_eq!(item_len(d), d.encoded_len());
            }
        }
    }
}
