//! Data shared by the native store benches: a realistic channel mix.
#![allow(dead_code)]

use rta_core::data::{periodic, timestamped};
use rta_core::write::WriteItem;

/// Items per result, as a typical writer sends them.
pub const RESULT: usize = 128;

/// Deterministic noise in [-1, 1).
pub fn noise(i: u64) -> f64 {
    let x = i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// One channel's samples: even channels are f64 engineering values
/// (quantized to 0.01 as converted ADC counts are), odd channels raw u16
/// counts. Returns the items and the raw little-endian sample bytes.
pub fn channel(ch: u32, t0: i64, interval: i64, n: usize) -> (Vec<WriteItem>, Vec<u8>) {
    channel_in(ch, t0, interval, n, RESULT)
}

/// [`channel`] with `result` samples per item.
pub fn channel_in(
    ch: u32,
    t0: i64,
    interval: i64,
    n: usize,
    result: usize,
) -> (Vec<WriteItem>, Vec<u8>) {
    let mut items = Vec::new();
    let mut raw = Vec::new();
    for r in 0..n.div_ceil(result) {
        let lo = r * result;
        let hi = (lo + result).min(n);
        let start = t0 + lo as i64 * interval;
        if ch.is_multiple_of(2) {
            let v: Vec<f64> = (lo..hi)
                .map(|i| {
                    let x = (i as f64 * 0.002 + f64::from(ch)).sin() * 250.0
                        + noise(i as u64 ^ u64::from(ch) << 32) * 0.3;
                    (x * 100.0).round() / 100.0
                })
                .collect();
            v.iter()
                .for_each(|x| raw.extend_from_slice(&x.to_le_bytes()));
            let times: Vec<i64> = (lo..hi).map(|i| t0 + i as i64 * interval).collect();
            items.push(WriteItem::Timestamped(timestamped(ch, &times, &v).unwrap()));
        } else {
            let v: Vec<u16> = (lo..hi)
                .map(|i| (2048.0 + (i as f64 * 0.001).cos() * 900.0 + noise(i as u64) * 3.0) as u16)
                .collect();
            v.iter()
                .for_each(|x| raw.extend_from_slice(&x.to_le_bytes()));
            items.push(WriteItem::Periodic(
                periodic(ch, start, interval, &v).unwrap(),
            ));
        }
    }
    (items, raw)
}

/// `channels` channels of `n` samples each, interleaved result by result as
/// a live writer sends them, and the raw sample bytes of every channel.
pub fn session(channels: u32, t0: i64, interval: i64, n: usize) -> (Vec<WriteItem>, Vec<Vec<u8>>) {
    session_in(channels, t0, interval, n, RESULT)
}

/// [`session`] with `result` samples per item.
pub fn session_in(
    channels: u32,
    t0: i64,
    interval: i64,
    n: usize,
    result: usize,
) -> (Vec<WriteItem>, Vec<Vec<u8>>) {
    let per: Vec<(Vec<WriteItem>, Vec<u8>)> = (0..channels)
        .map(|c| channel_in(c, t0, interval, n, result))
        .collect();
    let rounds = per.iter().map(|p| p.0.len()).max().unwrap_or(0);
    let mut items = Vec::with_capacity(rounds * channels as usize);
    for r in 0..rounds {
        for p in &per {
            if let Some(it) = p.0.get(r) {
                items.push(it.clone());
            }
        }
    }
    (items, per.into_iter().map(|p| p.1).collect())
}
