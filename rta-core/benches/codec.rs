//! Chunk codec throughput against memcpy and raw LZ4 of the same bytes.
//!
//! `cargo bench -p rta-core --bench codec` — figures and ratios go in docs/performance.md.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prost::Message;
use rta_core::chunk::{Chunk, ChunkDecoder, ChunkEncoder, Compression};
use rta_core::data::{periodic, timestamped};
use rta_core::proto::data::{PeriodicDataList, TimestampedDataList};

/// 64 KiB of samples per chunk, in results of 128 samples.
const CHUNK_BYTES: usize = 64 * 1024;
const RESULT_SAMPLES: usize = 128;

/// Deterministic noise in [-1, 1).
fn noise(i: u64) -> f64 {
    let x = i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// A sine-like f64 signal with noise (e.g. a pressure sensor at 1 kHz).
fn f64_list(chunk: u64) -> (PeriodicDataList, usize) {
    let n = CHUNK_BYTES / 8;
    let mut items = Vec::new();
    for r in 0..n / RESULT_SAMPLES {
        let base = chunk * n as u64 + (r * RESULT_SAMPLES) as u64;
        let v: Vec<f64> = (0..RESULT_SAMPLES as u64)
            .map(|i| ((base + i) as f64 * 0.01).sin() * 50.0 + 100.0 + noise(base + i) * 0.5)
            .collect();
        items.push(periodic(1, (base as i64) * 1_000_000, 1_000_000, &v).unwrap());
    }
    (
        PeriodicDataList {
            periodic_data: items,
        },
        n,
    )
}

/// A smooth u16 counter (e.g. engine speed at 1 kHz).
fn u16_list(chunk: u64) -> (PeriodicDataList, usize) {
    let n = CHUNK_BYTES / 2;
    let mut items = Vec::new();
    for r in 0..n / RESULT_SAMPLES {
        let base = chunk * n as u64 + (r * RESULT_SAMPLES) as u64;
        let v: Vec<u16> = (0..RESULT_SAMPLES as u64)
            .map(|i| (8000.0 + ((base + i) as f64 * 0.001).sin() * 4000.0) as u16)
            .collect();
        items.push(periodic(2, (base as i64) * 1_000_000, 1_000_000, &v).unwrap());
    }
    (
        PeriodicDataList {
            periodic_data: items,
        },
        n,
    )
}

/// Timestamped f64 at ~100 Hz with jitter.
fn ts_list(chunk: u64) -> (TimestampedDataList, usize) {
    let n = CHUNK_BYTES / 8;
    let mut items = Vec::new();
    for r in 0..n / RESULT_SAMPLES {
        let base = chunk * n as u64 + (r * RESULT_SAMPLES) as u64;
        let times: Vec<i64> = (0..RESULT_SAMPLES as u64)
            .map(|i| (base + i) as i64 * 10_000_000 + (noise(base + i) * 1000.0) as i64 * 1000)
            .collect();
        let v: Vec<f64> = (0..RESULT_SAMPLES as u64)
            .map(|i| noise(base + i) * 10.0)
            .collect();
        items.push(timestamped(3, &times, &v).unwrap());
    }
    (
        TimestampedDataList {
            timestamped_data: items,
        },
        n,
    )
}

fn bench_kind<L: Message + Default + Clone + 'static>(
    c: &mut Criterion,
    name: &str,
    make: fn(u64) -> (L, usize),
) {
    const CHUNKS: u64 = 16;
    let lists: Vec<(L, usize)> = (0..CHUNKS).map(make).collect();
    let samples: usize = lists.iter().map(|(_, n)| n).sum();
    let raw: Vec<Vec<u8>> = lists.iter().map(|(l, _)| l.encode_to_vec()).collect();
    let packed: Vec<Vec<u8>> = raw.iter().map(|r| lz4_flex::block::compress(r)).collect();
    let chunks: Vec<Chunk> = lists
        .iter()
        .map(|(l, _)| Chunk::encode(0, 1, vec![1], l, Compression::Lz4).unwrap())
        .collect();
    let wire: Bytes = ChunkEncoder::encode_all(&chunks).unwrap();

    let mut g = c.benchmark_group(format!("chunk/{name}"));
    g.throughput(Throughput::Elements(samples as u64));
    g.bench_function(BenchmarkId::from_parameter("memcpy"), |b| {
        let mut dst = vec![0u8; CHUNK_BYTES * 2];
        b.iter(|| {
            for r in &raw {
                dst[..r.len()].copy_from_slice(black_box(r));
            }
            black_box(&dst);
        })
    });
    g.bench_function(BenchmarkId::from_parameter("lz4_compress"), |b| {
        b.iter(|| {
            for r in &raw {
                black_box(lz4_flex::block::compress(black_box(r)));
            }
        })
    });
    g.bench_function(BenchmarkId::from_parameter("lz4_decompress"), |b| {
        b.iter(|| {
            for (p, r) in packed.iter().zip(&raw) {
                black_box(lz4_flex::block::decompress(black_box(p), r.len()).unwrap());
            }
        })
    });
    // Chunk codec proper: serialized list -> compressed chunk + transfer
    // header (the payload is then sent as is, so it is not copied here).
    g.bench_function(BenchmarkId::from_parameter("encode"), |b| {
        b.iter(|| {
            let mut enc = ChunkEncoder::new();
            let mut out = Vec::with_capacity(raw.len());
            for r in &raw {
                let ch =
                    Chunk::from_serialized(0, 1, vec![1], black_box(r), Compression::Lz4).unwrap();
                out.push((enc.header(&ch).unwrap(), ch.payload));
            }
            black_box(out);
        })
    });
    // Wire bytes -> chunks -> serialized lists (decompressed).
    g.bench_function(BenchmarkId::from_parameter("decode"), |b| {
        b.iter(|| {
            let mut dec = ChunkDecoder::new();
            dec.push_bytes(black_box(wire.clone()));
            while let Some(ch) = dec.next_chunk().unwrap() {
                black_box(ch.unpacked().unwrap());
            }
        })
    });
    // As `encode`, starting from the list message (adds protobuf serialization).
    g.bench_function(BenchmarkId::from_parameter("encode_list"), |b| {
        b.iter(|| {
            let mut enc = ChunkEncoder::new();
            let mut out = Vec::with_capacity(lists.len());
            for (l, _) in &lists {
                let ch = Chunk::encode(0, 1, vec![1], black_box(l), Compression::Lz4).unwrap();
                out.push((enc.header(&ch).unwrap(), ch.payload));
            }
            black_box(out);
        })
    });
    // As `decode`, ending with the list message (adds protobuf parsing;
    // sample buffers are slices of the decompressed payload).
    g.bench_function(BenchmarkId::from_parameter("decode_list"), |b| {
        b.iter(|| {
            let mut dec = ChunkDecoder::new();
            dec.push_bytes(black_box(wire.clone()));
            while let Some(ch) = dec.next_chunk().unwrap() {
                black_box(ch.decode_list::<L>().unwrap());
            }
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_kind(c, "periodic_f64", f64_list);
    bench_kind(c, "periodic_u16", u16_list);
    bench_kind(c, "timestamped_f64", ts_list);
}

criterion_group!(chunk, benches);
criterion_main!(chunk);
