//! LZ4 block compression, and the one framing used for live-stream messages.
//!
//! The spec says live messages (WebSocket binary messages and the Redis
//! `data` field) are "compressed in a block using LZ4" but not how the block
//! is framed. The reference toolkit is .NET, whose de-facto block wrapper is
//! the K4os.Compression.LZ4 *pickle* format, so [`Lz4Framing`] writes exactly
//! that:
//!
//! ```text
//! byte 0      : flags = version (bits 0..2, always 0) | size code << 6
//! bytes 1..=n : n = 0, 1, 2 or 4 (size code 0, 1, 2, 3) little-endian bytes of
//!               (uncompressed length - compressed length)
//! rest        : the LZ4 block, or the raw bytes when the difference is 0
//! ```
//!
//! A difference of 0 means the payload is stored uncompressed (it did not
//! compress). Decoding checks every length before allocating, so hostile
//! input yields an error, never a panic or an oversized allocation.
//!
//! Chunk payloads of `application/vnd.mat.protobuf+chunked` do not use this
//! framing: their header already carries both lengths, so a chunk payload is a
//! bare LZ4 block ([`compress_block`] / [`decompress_block`]).
//!
//! ```
//! use rta_core::lz4::Lz4Framing;
//! let msg = vec![7u8; 10_000];
//! let framed = Lz4Framing::encode(&msg);
//! assert!(framed.len() < msg.len());
//! assert_eq!(Lz4Framing::decode(&framed, 1 << 20).unwrap(), msg);
//! ```

use crate::{Error, Result};

/// Compresses `src` into a bare LZ4 block.
pub fn compress_block(src: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress(src)
}

/// Compresses `src` into a bare LZ4 block appended to `dst`; returns the block length.
pub fn compress_block_into(src: &[u8], dst: &mut Vec<u8>) -> usize {
    let start = dst.len();
    dst.resize(
        start + lz4_flex::block::get_maximum_output_size(src.len()),
        0,
    );
    // The buffer is sized with the crate's own bound, so this cannot fail.
    let n = lz4_flex::block::compress_into(src, &mut dst[start..]).unwrap_or(0);
    dst.truncate(start + n);
    n
}

/// Decompresses a bare LZ4 block that must expand to exactly `unpacked_len` bytes.
pub fn decompress_block(src: &[u8], unpacked_len: usize) -> Result<Vec<u8>> {
    // `decompress` writes into uninitialised capacity (no memset) and fails
    // when the block would expand beyond `unpacked_len`.
    let out = lz4_flex::block::decompress(src, unpacked_len)
        .map_err(|e| Error::Lz4(format!("bad LZ4 block: {e}")))?;
    if out.len() != unpacked_len {
        return Err(Error::Lz4(format!(
            "LZ4 block expanded to {} bytes, header says {unpacked_len}",
            out.len()
        )));
    }
    Ok(out)
}

/// The pickle framing of live-stream messages (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Lz4Framing;

impl Lz4Framing {
    /// Frames `src`: compressed when that saves space, raw otherwise.
    pub fn encode(src: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + lz4_flex::block::get_maximum_output_size(src.len()));
        Self::encode_into(src, &mut out);
        out
    }

    /// Frames `src`, appending to `out`.
    pub fn encode_into(src: &[u8], out: &mut Vec<u8>) {
        let base = out.len();
        // Reserve the widest header the length difference can need (it is
        // below `src.len()`), compress after it, then close any gap: for the
        // usual 64 KiB bursts the guess is right and nothing moves.
        let reserved = match src.len() {
            0..=0xFF => 1,
            0x100..=0xFFFF => 2,
            _ => 4,
        };
        out.resize(base + 1 + reserved, 0);
        let packed = compress_block_into(src, out);
        let diff = src.len().saturating_sub(packed);
        if packed == 0 || diff == 0 || src.len() > u32::MAX as usize {
            out.truncate(base);
            out.push(0);
            out.extend_from_slice(src);
            return;
        }
        let (code, width) = match diff {
            0..=0xFF => (1u8, 1usize),
            0x100..=0xFFFF => (2, 2),
            _ => (3, 4),
        };
        out[base] = code << 6;
        let d = (diff as u32).to_le_bytes();
        out[base + 1..base + 1 + width].copy_from_slice(&d[..width]);
        // Move the block down over the unused header bytes.
        let gap = reserved - width;
        if gap > 0 {
            out.copy_within(base + 1 + reserved.., base + 1 + width);
            let len = out.len() - gap;
            out.truncate(len);
        }
    }

    /// Reads a framed message. `max_len` caps the decompressed size, so a
    /// hostile length cannot force a large allocation.
    pub fn decode(src: &[u8], max_len: usize) -> Result<Vec<u8>> {
        let (&flags, rest) = src
            .split_first()
            .ok_or_else(|| Error::Lz4("empty LZ4 frame".into()))?;
        let version = flags & 0x07;
        if version != 0 {
            return Err(Error::Lz4(format!(
                "unsupported LZ4 frame version {version}"
            )));
        }
        if flags & 0x38 != 0 {
            return Err(Error::Lz4(format!(
                "reserved LZ4 frame flag bits set: {flags:#04x}"
            )));
        }
        let width = match flags >> 6 {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => 4,
        };
        if rest.len() < width {
            return Err(Error::Lz4("truncated LZ4 frame header".into()));
        }
        let mut d = [0u8; 4];
        d[..width].copy_from_slice(&rest[..width]);
        let diff = u32::from_le_bytes(d) as usize;
        let body = &rest[width..];
        if diff == 0 {
            if body.len() > max_len {
                return Err(Error::Lz4(format!(
                    "LZ4 frame of {} bytes exceeds the limit of {max_len}",
                    body.len()
                )));
            }
            return Ok(body.to_vec());
        }
        let unpacked = body
            .len()
            .checked_add(diff)
            .filter(|n| *n <= max_len)
            .ok_or_else(|| {
                Error::Lz4(format!(
                    "LZ4 frame expands beyond the limit of {max_len} bytes"
                ))
            })?;
        decompress_block(body, unpacked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_when_incompressible() {
        let src: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let f = Lz4Framing::encode(&src);
        assert_eq!(f[0], 0);
        assert_eq!(&f[1..], &src[..]);
        assert_eq!(Lz4Framing::decode(&f, 1024).unwrap(), src);
    }

    #[test]
    fn size_codes() {
        for (n, code) in [(100usize, 1u8), (10_000, 2), (200_000, 3)] {
            let src = vec![1u8; n];
            let f = Lz4Framing::encode(&src);
            assert_eq!(f[0] >> 6, code, "len {n}");
            assert_eq!(Lz4Framing::decode(&f, 1 << 20).unwrap(), src);
        }
    }

    #[test]
    fn header_width_follows_the_difference() {
        // Lengths around each header width, compressible a little or a lot,
        // appended after existing bytes.
        let mut widths = std::collections::BTreeSet::new();
        for n in [20usize, 255, 256, 300, 65_535, 65_536, 70_000] {
            // Noise, runs of 97 equal bytes, half noise and half zeros.
            for kind in 0..3 {
                let noise = |i: usize| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3];
                let src: Vec<u8> = (0..n)
                    .map(|i| match kind {
                        0 => noise(i),
                        1 => noise(i / 97),
                        _ if i < n / 2 => noise(i),
                        _ => 0,
                    })
                    .collect();
                let mut out = vec![0xEE; 2];
                Lz4Framing::encode_into(&src, &mut out);
                assert_eq!(&out[..2], &[0xEE, 0xEE]);
                let f = &out[2..];
                let width = [0usize, 1, 2, 4][usize::from(f[0] >> 6)];
                let mut d = [0u8; 4];
                d[..width].copy_from_slice(&f[1..1 + width]);
                let diff = u32::from_le_bytes(d) as usize;
                if diff > 0 {
                    assert_eq!(diff, n - (f.len() - 1 - width), "len {n}");
                    let smallest = match diff {
                        0..=0xFF => 1,
                        0x100..=0xFFFF => 2,
                        _ => 4,
                    };
                    assert_eq!(width, smallest, "len {n}");
                    assert_eq!(&f[1 + width..], &lz4_flex::block::compress(&src)[..]);
                    widths.insert((n, width));
                }
                assert_eq!(Lz4Framing::decode(f, 1 << 20).unwrap(), src);
            }
        }
        // Headers narrower than reserved were produced (the block moved).
        assert!(widths.contains(&(300, 1)), "{widths:?}");
        assert!(widths.contains(&(70_000, 2)), "{widths:?}");
    }

    #[test]
    fn empty_roundtrip() {
        let f = Lz4Framing::encode(&[]);
        assert_eq!(f, vec![0]);
        assert!(Lz4Framing::decode(&f, 0).unwrap().is_empty());
    }

    #[test]
    fn hostile_frames_error() {
        assert!(Lz4Framing::decode(&[], 10).is_err());
        assert!(Lz4Framing::decode(&[0x01], 10).is_err());
        assert!(Lz4Framing::decode(&[0xC0, 0xFF, 0xFF, 0xFF, 0x7F, 0], 1 << 20).is_err());
        assert!(Lz4Framing::decode(&[0x40, 5, 0xFF], 100).is_err());
        assert!(Lz4Framing::decode(&[0x40], 100).is_err());
    }
}
