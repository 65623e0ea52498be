//! Protobuf varints written straight into a `Vec<u8>`: the hand-written
//! wire paths (`list_wire`, `rta-bindings`' in-place list edits) append
//! many small varints, where prost's `encode_varint` through `BufMut` costs
//! a call per value.

/// Appends `v` as a protobuf varint.
///
/// ```
/// let mut out = Vec::new();
/// rta_core::varint::put(&mut out, 300);
/// assert_eq!(out, [0xAC, 0x02]);
/// ```
#[inline]
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Bytes of the varint of `v` (1 for 0, 10 for `u64::MAX`).
///
/// ```
/// assert_eq!(rta_core::varint::len(127), 1);
/// assert_eq!(rta_core::varint::len(128), 2);
/// ```
#[inline]
pub fn len(v: u64) -> usize {
    // one byte per started group of 7 bits
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lengths_match_what_is_written() {
        for (v, n) in [
            (0u64, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u64::MAX, 10),
        ] {
            assert_eq!(super::len(v), n, "{v}");
            let mut out = Vec::new();
            super::put(&mut out, v);
            assert_eq!(out.len(), n, "{v}");
        }
    }
}
