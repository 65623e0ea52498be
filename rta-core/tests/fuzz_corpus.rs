//! Replays the corpus of every fuzz target in `fuzz/` through the same entry
//! points, plus a bounded number of deterministic mutations of each input
//! (bit flips, truncations, splices). A panic fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use rta_core::fuzzing;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("chunk_decoder", fuzzing::chunk_decoder),
    ("lz4_frame", fuzzing::lz4_frame),
    ("channels", fuzzing::channels),
    ("session_json", fuzzing::session_json),
    ("config_json", fuzzing::config_json),
    ("query", fuzzing::query),
    ("encoded_series", fuzzing::encoded_series),
];

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    match rng.below(5) {
        0 if !v.is_empty() => {
            let i = rng.below(v.len());
            v[i] ^= 1 << rng.below(8);
        }
        1 => v.truncate(rng.below(v.len() + 1)),
        2 => {
            let at = rng.below(v.len() + 1);
            let from = rng.below(other.len() + 1);
            v.splice(at..at, other[from..].iter().copied().take(64));
        }
        3 if !v.is_empty() => {
            let i = rng.below(v.len());
            v[i] = [0x00, 0xFF, 0x7F, 0x80, b'"', b'{', b'}', b'-', b','][rng.below(9)];
        }
        _ => {
            let i = rng.below(v.len() + 1);
            v.insert(i, rng.next() as u8);
        }
    }
    v
}

#[test]
fn fuzz_corpus_replays_without_panics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, target) in TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()))
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        assert!(!inputs.is_empty(), "corpus of {name} is empty");
        inputs.sort();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        let mut runs = 0;
        for (i, input) in inputs.iter().enumerate() {
            target(input);
            let other = &inputs[(i + 1) % inputs.len()];
            let mut cur = input.clone();
            for _ in 0..300 {
                cur = mutate(&mut rng, &cur, other);
                if cur.len() > 1 << 16 {
                    cur = input.clone();
                }
                target(&cur);
                runs += 1;
            }
        }
        assert!(runs >= 300, "{name}: only {runs} runs");
    }
}
