//! Binding transformer throughput against memcpy and raw LZ4 on the same chunks.
//!
//! `cargo bench -p rta-bindings --bench transform -- --warm-up-time 1 --measurement-time 3`
//!
//! Every benchmark processes the same 1000 LZ4-compressed chunks of periodic
//! data (64 KiB lists; four f64 and four u16 channels at 1 kHz) and reports
//! samples per second. The transform benchmarks include what a Gateway does
//! per chunk besides the transform: encoding the transfer header.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};
use prost::Message;
use rta_bindings::{ChannelMap, Transform, Transformer};
use rta_core::chunk::{Chunk, ChunkEncoder, Compression};
use rta_core::data::DataKind;

const CHUNKS: usize = 1000;

/// Transforms owned chunks as they would arrive from a data service, and
/// encodes each output chunk's transfer header into a reused buffer, as a
/// wire writer does (the payload would follow untouched).
fn run(t: &Transform, chunks: Vec<Chunk>) -> usize {
    let mut tr = Transformer::new(t.clone());
    let mut enc = ChunkEncoder::new();
    let mut out = Vec::with_capacity(4);
    let mut header = Vec::with_capacity(64);
    let mut bytes = 0;
    for c in chunks {
        tr.push(c, &mut out).unwrap();
        for o in out.drain(..) {
            let h = enc.next_header(&o).unwrap();
            header.clear();
            header.extend_from_slice(&(h.encoded_len() as i32).to_le_bytes());
            h.encode(&mut header).unwrap();
            bytes += header.len() + o.payload.len();
            black_box(&o);
        }
    }
    bytes
}

/// Times `run` on fresh clones of the input (cloning is not timed).
fn bench_transform(
    g: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    t: &Transform,
    chunks: &[Chunk],
) {
    g.bench_function(id, |b| {
        b.iter_batched(
            || chunks.to_vec(),
            |input| run(t, input),
            BatchSize::LargeInput,
        )
    });
}

fn bench(c: &mut Criterion) {
    let chunks = support::dataset(CHUNKS);
    let samples = support::sample_count(&chunks);
    let packed: usize = chunks.iter().map(|c| c.payload.len()).sum();
    let unpacked: usize = chunks.iter().map(|c| c.unpacked_length as usize).sum();
    eprintln!(
        "dataset: {} chunks, {samples} samples, {unpacked} bytes of lists, {packed} bytes LZ4 ({:.2}:1)",
        chunks.len(),
        unpacked as f64 / packed as f64
    );
    let unpacked_lists: Vec<Vec<u8>> = chunks
        .iter()
        .map(|c| c.unpacked().unwrap().to_vec())
        .collect();

    let first = &chunks[0];
    let last = chunks.iter().max_by_key(|c| c.end).unwrap();
    let clip = Transform::new(DataKind::Periodic).with_clip(
        Some(first.start + 3_000_000_000),
        Some(last.end - 3_000_000_000),
    );
    {
        let mut tr = Transformer::new(clip.clone());
        let mut out = Vec::new();
        for ch in chunks.iter().cloned() {
            tr.push(ch, &mut out).unwrap();
        }
        let st = tr.stats();
        assert_eq!(
            (st.decoded + st.cut, st.passed),
            (2, CHUNKS as u64 - 2),
            "{st:?}"
        );
    }
    let identity = Transform::new(DataKind::Periodic);
    let offset = Transform::new(DataKind::Periodic).with_offset(300_000_000);
    let offset_raw = offset.clone().with_compression(Compression::None);
    // The spec's composite example: data channels 0-9 onto session 50-59.
    let shift = Transform::new(DataKind::Periodic).with_channel_map(ChannelMap::single(0, 9, 50));

    let mut g = c.benchmark_group("transform");
    g.sample_size(10);
    g.throughput(Throughput::Elements(samples));

    // Each target runs right after its baseline, so that a change in the
    // machine's load during the run affects both alike.
    // Copy every list as it is held in memory once decompressed.
    let mut dst = vec![0u8; unpacked_lists.iter().map(Vec::len).max().unwrap()];
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            for l in &unpacked_lists {
                dst[..l.len()].copy_from_slice(l);
                black_box(&dst);
            }
        })
    });
    bench_transform(&mut g, "passthrough", &identity, &chunks);
    bench_transform(&mut g, "clip_edges", &clip, &chunks);
    let mut scratch = vec![0u8; dst.len()];
    g.bench_function("lz4_decompress", |b| {
        b.iter(|| {
            for c in &chunks {
                let n = lz4_flex::block::decompress_into(&c.payload, &mut scratch).unwrap();
                black_box(&scratch[..n]);
            }
        })
    });
    bench_transform(&mut g, "time_offset_uncompressed", &offset_raw, &chunks);
    g.bench_function("lz4_roundtrip", |b| {
        b.iter(|| {
            for c in &chunks {
                let n = lz4_flex::block::decompress_into(&c.payload, &mut scratch).unwrap();
                black_box(lz4_flex::block::compress(&scratch[..n]));
            }
        })
    });
    bench_transform(&mut g, "time_offset", &offset, &chunks);
    bench_transform(&mut g, "channel_shift", &shift, &chunks);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
