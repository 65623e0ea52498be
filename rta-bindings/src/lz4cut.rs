//! Cutting an LZ4 block to a prefix of its content without compressing again.
//!
//! An LZ4 block is a series of sequences, each a run of literals followed by
//! a match that copies earlier output. Every sequence depends only on what
//! came before it, so the compressed bytes of the first sequences, up to a
//! sequence boundary, decode to a prefix of the content on their own. To end
//! a block at an arbitrary point, those bytes are kept and a final
//! literal-only sequence carries whatever follows the boundary.
//!
//! The block end rules of the LZ4 format hold for the result: the final
//! sequence is literals only, at least 12 bytes long (so the last 5 bytes
//! are literals and the last match starts at least 12 bytes before the end),
//! which is what strict decoders (the reference one, and the .NET port ATLAS
//! uses) require.

/// Least length of the final literal run (LZ4's `MFLIMIT`).
const MIN_TAIL: usize = 12;

/// Longest final literal run worth keeping; beyond it, compressing again
/// gives a smaller chunk.
const MAX_TAIL: usize = 8 * 1024;

/// Reads an LZ4 length continuation (bytes of 255 then a final byte).
#[inline]
fn read_len(src: &[u8], ip: &mut usize, mut len: usize) -> Option<usize> {
    loop {
        let b = *src.get(*ip)?;
        *ip += 1;
        len = len.checked_add(usize::from(b))?;
        if b != 255 {
            return Some(len);
        }
    }
}

/// Appends the final literal-only sequence holding `lit`.
fn put_literals(out: &mut Vec<u8>, lit: &[&[u8]]) {
    let n: usize = lit.iter().map(|l| l.len()).sum();
    if n >= 15 {
        out.push(0xF0);
        let mut rest = n - 15;
        while rest >= 255 {
            out.push(255);
            rest -= 255;
        }
        out.push(rest as u8);
    } else {
        out.push((n as u8) << 4);
    }
    for l in lit {
        out.extend_from_slice(l);
    }
}

/// Compresses `content[..keep] ++ tail` by reusing the block `block`, whose
/// content is `content`. Returns `None` when the block cannot be followed
/// (malformed) or reusing it would not pay (the final literal run would be
/// long); the caller then compresses normally.
pub(crate) fn cut_block(block: &[u8], content: &[u8], keep: usize, tail: &[u8]) -> Option<Vec<u8>> {
    let new_len = keep.checked_add(tail.len())?;
    if keep > content.len() || new_len < MIN_TAIL {
        return None;
    }
    // The boundary must leave at least MIN_TAIL bytes after it.
    let limit = keep.min(new_len - MIN_TAIL);
    // Last sequence boundary (compressed position, content position) <= limit.
    let (mut best_ip, mut best_op) = (0usize, 0usize);
    let (mut ip, mut op) = (0usize, 0usize);
    while ip < block.len() {
        let token = block[ip];
        ip += 1;
        let mut lit = usize::from(token >> 4);
        if lit == 15 {
            lit = read_len(block, &mut ip, lit)?;
        }
        ip = ip.checked_add(lit)?;
        op = op.checked_add(lit)?;
        if ip > block.len() || op > content.len() {
            return None;
        }
        if ip == block.len() {
            break; // the block's own final sequence
        }
        if ip + 2 > block.len() {
            return None;
        }
        let offset = usize::from(u16::from_le_bytes([block[ip], block[ip + 1]]));
        ip += 2;
        if offset == 0 || offset > op {
            return None;
        }
        let mut m = usize::from(token & 0x0F);
        if m == 15 {
            m = read_len(block, &mut ip, m)?;
        }
        op = op.checked_add(m + 4)?;
        if op > limit {
            break;
        }
        (best_ip, best_op) = (ip, op);
    }
    if new_len - best_op > MAX_TAIL {
        return None;
    }
    let mut out = Vec::with_capacity(best_ip + 4 + (new_len - best_op) / 255 + (new_len - best_op));
    out.extend_from_slice(&block[..best_ip]);
    put_literals(&mut out, &[&content[best_op..keep], tail]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Checks the LZ4 end-of-block rules a strict decoder enforces, and
    /// returns the decoded content.
    fn strict_decode(block: &[u8], len: usize) -> Vec<u8> {
        let out = lz4_flex::block::decompress(block, len).unwrap();
        assert_eq!(out.len(), len);
        // Walk the sequences: the last is literals only and >= 5 bytes when
        // the block is longer than 12; every match ends <= len - 5 and starts
        // <= len - 12.
        let (mut ip, mut op) = (0usize, 0usize);
        loop {
            let token = block[ip];
            ip += 1;
            let mut lit = usize::from(token >> 4);
            if lit == 15 {
                lit = read_len(block, &mut ip, lit).unwrap();
            }
            ip += lit;
            op += lit;
            if ip == block.len() {
                if len >= MIN_TAIL {
                    assert!(lit >= 5, "final literals {lit}");
                }
                break;
            }
            assert!(
                op + MIN_TAIL <= len,
                "a sequence continues within 12 bytes of the end"
            );
            ip += 2;
            let mut m = usize::from(token & 0x0F);
            if m == 15 {
                m = read_len(block, &mut ip, m).unwrap();
            }
            op += m + 4;
            assert!(op + 5 <= len, "a match ends within 5 bytes of the end");
        }
        out
    }

    fn content(seed: u64, n: usize, repetitive: bool) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if repetitive {
                    ((i / 7) as u8).wrapping_add((x % 3) as u8)
                } else {
                    x as u8
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        #[test]
        fn cut_blocks_decode_to_the_prefix_and_tail(
            seed in any::<u64>(),
            n in 0usize..20_000,
            rep in any::<bool>(),
            keep_frac in 0.0f64..=1.0,
            tail_len in 0usize..300,
        ) {
            let c = content(seed, n, rep);
            let block = lz4_flex::block::compress(&c);
            let keep = ((n as f64) * keep_frac) as usize;
            let tail = content(seed ^ 0xABCD, tail_len, false);
            if let Some(cut) = cut_block(&block, &c, keep, &tail) {
                let mut want = c[..keep].to_vec();
                want.extend_from_slice(&tail);
                prop_assert_eq!(strict_decode(&cut, want.len()), want);
            }
        }
    }

    #[test]
    fn compressible_content_is_reused() {
        let c = content(42, 60_000, true);
        let block = lz4_flex::block::compress(&c);
        let cut = cut_block(&block, &c, 40_000, &[9; 100]).expect("reusable");
        assert!(cut.len() < block.len());
        let mut want = c[..40_000].to_vec();
        want.extend_from_slice(&[9; 100]);
        assert_eq!(strict_decode(&cut, want.len()), want);
    }

    #[test]
    fn long_runs_and_malformed_blocks() {
        let c = vec![7u8; 100_000];
        let block = lz4_flex::block::compress(&c);
        // One long match: nothing to reuse within MAX_TAIL of a cut far in.
        let cut = cut_block(&block, &c, 60_000, &[1, 2, 3]);
        if let Some(cut) = cut {
            let mut want = c[..60_000].to_vec();
            want.extend_from_slice(&[1, 2, 3]);
            assert_eq!(strict_decode(&cut, want.len()), want);
        }
        assert!(cut_block(&[0xF0], &c, 10, &[0; 20]).is_none());
        assert!(cut_block(&[0x10, 1, 0, 0, 0x00], &c, 10, &[0; 20]).is_none());
        assert!(cut_block(&block, &c, 200_000, &[]).is_none());
    }
}
