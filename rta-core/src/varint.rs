//! Protobuf varints written straight into a `Vec<u8>` and read straight
//! from a slice: the hand-written wire paths (`list_wire`, `timed`,
//! `rta-bindings`' in-place list edits) handle many small varints, where
//! prost's `encode_varint` / `decode_varint` through `BufMut` / `Buf` cost
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

/// Reads the varint at `buf[*pos..]` and moves `*pos` past it; `None` when
/// it is truncated, longer than 10 bytes or beyond 64 bits (what prost
/// rejects).
///
/// ```
/// let mut pos = 1;
/// assert_eq!(rta_core::varint::get(&[7, 0xAC, 0x02], &mut pos), Some(300));
/// assert_eq!(pos, 3);
/// assert_eq!(rta_core::varint::get(&[0x80], &mut 0), None);
/// ```
#[inline]
pub fn get(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *buf.get(*pos)?;
        *pos += 1;
        if i == 9 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7F) << (7 * i);
        if b < 0x80 {
            return Some(v);
        }
    }
    None
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
            let mut pos = 0;
            assert_eq!(super::get(&out, &mut pos), Some(v), "read back");
            assert_eq!(pos, n);
            assert_eq!(super::get(&out[..n - 1], &mut 0), None, "truncated");
        }
    }

    #[test]
    fn overlong_and_oversized_varints_are_refused() {
        let mut eleven = vec![0x80u8; 10];
        eleven.push(0x00);
        assert_eq!(super::get(&eleven, &mut 0), None, "11 bytes");
        let mut too_big = vec![0xFFu8; 9];
        too_big.push(0x02); // bit 64
        assert_eq!(super::get(&too_big, &mut 0), None, "beyond 64 bits");
        let mut max = vec![0xFFu8; 9];
        max.push(0x01);
        assert_eq!(super::get(&max, &mut 0), Some(u64::MAX));
    }
}
