//! Realistic periodic telemetry in 64 KiB chunks, shared by the transform
//! bench and the streaming-memory example.
#![allow(dead_code)]

use rta_core::chunk::{Chunk, Compression, PREFERRED_LIST_BYTES};
use rta_core::data::periodic;
use rta_core::proto::data::{PeriodicData, PeriodicDataList};

/// Samples per result (the spec's preferred size).
pub const RESULT_SAMPLES: usize = 128;
/// 1 kHz.
pub const INTERVAL_NS: i64 = 1_000_000;
/// Channels start this far apart, so that a clip bound a few seconds inside
/// the stream's first (or last) chunk falls inside no other chunk.
pub const STAGGER_NS: i64 = 10_000_000_000;
/// 2021-05-04 11:50:55 UTC.
pub const T0: i64 = 1_620_129_055_000_000_000;

/// Deterministic noise in [-1, 1).
fn noise(i: u64) -> f64 {
    let x = i
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// One result of channel `ch` starting at sample index `k`: channels 0-3
/// are f64 (a pressure-like signal quantised to 1/64), channels 4-7 are u16
/// (an ADC count around a slow sine with a little noise).
fn result(ch: u32, k: u64) -> PeriodicData {
    let start = T0 + i64::from(ch) * STAGGER_NS + k as i64 * INTERVAL_NS;
    let seed = u64::from(ch) << 40;
    if ch < 4 {
        let v: Vec<f64> = (k..k + RESULT_SAMPLES as u64)
            .map(|i| {
                let x = (i as f64 * 0.002 * f64::from(ch + 1)).sin() * 40.0
                    + 100.0
                    + noise(seed + i) * 0.3;
                (x * 64.0).round() / 64.0
            })
            .collect();
        periodic(ch, start, INTERVAL_NS, &v).unwrap()
    } else {
        let v: Vec<u16> = (k..k + RESULT_SAMPLES as u64)
            .map(|i| {
                (2048.0
                    + (i as f64 * 0.0005 * f64::from(ch)).sin() * 1500.0
                    + noise(seed + i) * 6.0) as u16
            })
            .collect();
        periodic(ch, start, INTERVAL_NS, &v).unwrap()
    }
}

/// The chunks of one channel, each list just under 64 KiB.
fn channel_chunks(ch: u32, count: usize) -> Vec<Chunk> {
    let mut out = Vec::with_capacity(count);
    let mut k = 0u64;
    while out.len() < count {
        let mut items = Vec::new();
        let mut len = 0;
        loop {
            let r = result(ch, k);
            let l = prost::Message::encoded_len(&r) + 3;
            if len + l > PREFERRED_LIST_BYTES {
                break;
            }
            len += l;
            k += RESULT_SAMPLES as u64;
            items.push(r);
        }
        let list = PeriodicDataList {
            periodic_data: items,
        };
        out.push(Chunk::from_list(&list, Compression::Lz4).unwrap().unwrap());
    }
    out
}

/// `total` chunks over 8 channels (4 f64, 4 u16), LZ4-compressed as a data
/// service stores them, in order of start time across channels.
pub fn dataset(total: usize) -> Vec<Chunk> {
    let per = total.div_ceil(8);
    let mut all: Vec<Chunk> = (0..8).flat_map(|ch| channel_chunks(ch, per)).collect();
    all.truncate(total);
    all.sort_by_key(|c| (c.start, c.channel_ids.clone()));
    all
}

/// Samples in a chunk set.
pub fn sample_count(chunks: &[Chunk]) -> u64 {
    chunks
        .iter()
        .map(|c| {
            let l: PeriodicDataList = c.decode_list().unwrap();
            l.periodic_data
                .iter()
                .map(|p| p.samples as u64)
                .sum::<u64>()
        })
        .sum()
}
