//! The adapter kit keeps every chunk rule of the spec, whatever the source
//! returns and whatever range is asked for: per-channel time order, size
//! limits, chunks inside one grid cell, no overlaps, the samples in the
//! rounded range exactly, and the same chunks for different request bounds
//! and different batch splits (with and without the cache).
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use proptest::prelude::*;
use rta_adapters::kit::{
    Batch, BatchStream, ChunkCache, KitService, SampleSource, Samples, SourceInfo, SourceQuery,
};
use rta_core::chunk::{Chunk, ChunkGrid, ChunkLimits, MAX_LIST_BYTES, MAX_RESULT_SAMPLES};
use rta_core::data::{periodic_timestamps, read_samples, read_timestamps, DataItem, DataKind};
use rta_core::proto::data::{PeriodicDataList, TimestampedDataList};
use rta_core::proto::schema_mapping_service::{FieldMapping, SchemaMapping};
use rta_core::service::{DataRequest, DataService};
use rta_core::Result;

const MS: i64 = 1_000_000;

/// A channel: times and values (as f64 for comparison), and its type.
#[derive(Debug, Clone)]
struct Column {
    times: Vec<i64>,
    values: Vec<f64>,
    ty: u8,
}

fn typed(ty: u8, v: &[f64]) -> Samples {
    match ty {
        0 => Samples::U8(v.iter().map(|x| *x as u8).collect()),
        1 => Samples::I16(v.iter().map(|x| *x as i16).collect()),
        2 => Samples::F32(v.iter().map(|x| *x as f32).collect()),
        _ => Samples::F64(v.to_vec()),
    }
}

fn widen(ty: u8, buf: &[u8]) -> Vec<f64> {
    match ty {
        0 => read_samples::<u8>(buf)
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        1 => read_samples::<i16>(buf)
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        2 => read_samples::<f32>(buf)
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        _ => read_samples::<f64>(buf).unwrap(),
    }
}

/// An in-memory source that returns `batch` samples at a time, channels
/// interleaved, as periodic runs (`interval` > 0, times regular) or
/// timestamped samples; it also returns a few samples outside the range.
struct Mem {
    columns: BTreeMap<u32, Column>,
    batch: usize,
    interval: Option<i64>,
}

#[async_trait]
impl SampleSource for Mem {
    async fn describe(&self, identity: &str) -> Result<Option<SourceInfo>> {
        let fields = self.columns.keys().map(|c| FieldMapping {
            source_field: format!("f{c}"),
            target_channel: *c,
            ..Default::default()
        });
        let mapping = SchemaMapping {
            field_mappings: fields.collect(),
            ..Default::default()
        };
        Ok((identity == "s").then(|| SourceInfo::rate(1000.0).mapping(mapping)))
    }

    async fn read(&self, q: SourceQuery) -> Result<BatchStream> {
        let (lo, hi) = (q.start.unwrap_or(i64::MIN), q.end.unwrap_or(i64::MAX));
        let mut per_channel: Vec<Vec<Batch>> = Vec::new();
        for (field, channel) in q.fields() {
            assert_eq!(field, format!("f{channel}"));
            let col = &self.columns[&channel];
            // A margin of 3 samples either side of the range.
            let from = col.times.partition_point(|t| *t < lo).saturating_sub(3);
            let to = (col.times.partition_point(|t| *t <= hi) + 3).min(col.times.len());
            let mut batches = Vec::new();
            let mut i = from;
            while i < to {
                let j = (i + self.batch).min(to);
                let values = typed(col.ty, &col.values[i..j]);
                batches.push(match self.interval {
                    Some(iv) => Batch::periodic(channel, col.times[i], iv, values),
                    None => Batch::Timestamped {
                        channel,
                        times: col.times[i..j].to_vec(),
                        values,
                    },
                });
                i = j;
            }
            per_channel.push(batches);
        }
        // Interleave the channels' batches.
        let mut out = Vec::new();
        let longest = per_channel.iter().map(Vec::len).max().unwrap_or(0);
        for k in 0..longest {
            for b in &per_channel {
                if let Some(x) = b.get(k) {
                    out.push(Ok(x.clone()));
                }
            }
        }
        Ok(futures::stream::iter(out).boxed())
    }
}

fn limits() -> ChunkLimits {
    ChunkLimits {
        max_result_samples: 40,
        target_list_bytes: 1024,
        ..ChunkLimits::default()
    }
}

fn service(source: Mem, cache: Option<Arc<ChunkCache>>) -> KitService<Mem> {
    let svc = KitService::new(source)
        .with_samples_per_cell(100)
        .with_limits(limits()); // 100 ms cells
    match cache {
        Some(c) => svc.with_cache(c),
        None => svc,
    }
}

async fn read(
    svc: &KitService<Mem>,
    kind: DataKind,
    channels: &str,
    b: (Option<i64>, Option<i64>),
) -> Vec<Chunk> {
    let req = DataRequest::channels(kind, "s", channels.parse().unwrap()).with_bounds(b.0, b.1);
    let chunks: Vec<_> = svc.read(req).await.unwrap().collect().await;
    chunks.into_iter().collect::<Result<Vec<_>>>().unwrap()
}

/// A decoded result: times, values, sample count, time bounds.
type Item = (Vec<i64>, Vec<f64>, usize, (i64, i64));

/// Checks every chunk rule; returns the samples per channel.
fn check(
    chunks: &[Chunk],
    kind: DataKind,
    grid: ChunkGrid,
    types: &BTreeMap<u32, u8>,
) -> BTreeMap<u32, (Vec<i64>, Vec<f64>)> {
    let mut last_end: BTreeMap<u32, i64> = BTreeMap::new();
    let mut out: BTreeMap<u32, (Vec<i64>, Vec<f64>)> = BTreeMap::new();
    for c in chunks {
        assert!(c.start <= c.end);
        assert_eq!(
            grid.cell_start(c.start),
            grid.cell_start(c.end),
            "chunk {}..{} crosses a cell",
            c.start,
            c.end
        );
        assert!((c.unpacked_length as usize) <= MAX_LIST_BYTES);
        assert_eq!(c.channel_ids.len(), 1);
        let ch = c.channel_ids[0];
        if let Some(prev) = last_end.insert(ch, c.end) {
            assert!(
                c.start > prev,
                "channel {ch}: chunk at {} overlaps or precedes one ending {prev}",
                c.start
            );
        }
        let items: Vec<Item> = match kind {
            DataKind::Periodic => c
                .decode_list::<PeriodicDataList>()
                .unwrap()
                .periodic_data
                .into_iter()
                .map(|d| {
                    (
                        periodic_timestamps(&d).unwrap(),
                        widen(types[&ch], &d.buffer),
                        d.sample_count(),
                        d.time_bounds().unwrap(),
                    )
                })
                .collect(),
            _ => c
                .decode_list::<TimestampedDataList>()
                .unwrap()
                .timestamped_data
                .into_iter()
                .map(|d| {
                    (
                        read_timestamps(&d).unwrap(),
                        widen(types[&ch], &d.buffer),
                        d.sample_count(),
                        d.time_bounds().unwrap(),
                    )
                })
                .collect(),
        };
        let (s, e) = (
            items.iter().map(|i| i.3 .0).min().unwrap(),
            items.iter().map(|i| i.3 .1).max().unwrap(),
        );
        assert_eq!((c.start, c.end), (s, e), "chunk span is its samples' span");
        for (times, values, n, _) in items {
            assert!(n <= 40, "results are split at the kit's limit (40 here)");
            let o = out.entry(ch).or_default();
            if let (Some(prev), Some(first)) = (o.0.last(), times.first()) {
                assert!(first >= prev, "channel {ch}: samples out of order");
            }
            o.0.extend(times);
            o.1.extend(values);
        }
    }
    out
}

/// The expected samples of a column in `[lo, hi]`, through its type.
fn expected(col: &Column, lo: i64, hi: i64) -> (Vec<i64>, Vec<f64>) {
    let keep: Vec<usize> = (0..col.times.len())
        .filter(|i| col.times[*i] >= lo && col.times[*i] <= hi)
        .collect();
    let values: Vec<f64> = keep.iter().map(|i| col.values[*i]).collect();
    (
        keep.iter().map(|i| col.times[*i]).collect(),
        widen(col.ty, &samples_bytes(&typed(col.ty, &values))),
    )
}

fn samples_bytes(s: &Samples) -> Vec<u8> {
    s.timestamped(0, &vec![0; s.len()]).unwrap().buffer.to_vec()
}

fn columns_strategy() -> impl Strategy<Value = (BTreeMap<u32, Column>, bool)> {
    let column = (
        0u8..4,
        proptest::collection::vec((0i64..25, -100i32..100), 0..300),
        0i64..2,
    );
    (
        proptest::collection::btree_map(0u32..6, column, 1..4),
        any::<bool>(),
    )
        .prop_map(|(m, periodic)| {
            let cols = m.into_iter().map(|(ch, (ty, steps, gap))| {
                let mut t = 1_700_000_000_000 * MS + gap * 37 * MS;
                let (mut times, mut values) = (Vec::new(), Vec::new());
                for (step, v) in steps {
                    // Periodic channels are regular: 2 ms apart.
                    t += if periodic { 2 * MS } else { step * MS / 5 };
                    times.push(t);
                    values.push(f64::from(v) + 0.25 * f64::from(v % 3));
                }
                (ch, Column { times, values, ty })
            });
            (cols.collect(), periodic)
        })
}

fn bounds() -> impl Strategy<Value = (Option<i64>, Option<i64>)> {
    let t = 1_700_000_000_000 * MS;
    (
        proptest::option::of(0i64..1_200),
        proptest::option::of(0i64..1_200),
    )
        .prop_map(move |(a, b)| match (a, b) {
            (Some(a), Some(b)) => (Some(t + a.min(b) * MS), Some(t + a.max(b) * MS)),
            (a, b) => (a.map(|x| t + x * MS), b.map(|x| t + x * MS)),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_samples_keep_every_chunk_rule(
        (cols, periodic) in columns_strategy(),
        a in bounds(),
        b in bounds(),
        batch_a in 1usize..80,
        batch_b in 1usize..80,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let kind = if periodic { DataKind::Periodic } else { DataKind::Timestamped };
            let interval = periodic.then_some(2 * MS);
            let types: BTreeMap<u32, u8> = cols.iter().map(|(c, col)| (*c, col.ty)).collect();
            let cache = Arc::new(ChunkCache::new(1 << 20));
            let svc_a = service(Mem { columns: cols.clone(), batch: batch_a, interval }, Some(cache.clone()));
            let svc_b = service(Mem { columns: cols.clone(), batch: batch_b, interval }, None);
            let grid = svc_b.grid_for(&SourceInfo::rate(1000.0));
            assert_eq!(grid.period(), 100 * MS);

            let ca = read(&svc_a, kind, "0-F", a).await;
            let cb = read(&svc_b, kind, "0-F", b).await;
            let got_a = check(&ca, kind, grid, &types);
            check(&cb, kind, grid, &types);

            // Exactly the samples of the request rounded out to the grid.
            let (lo, hi) = grid.round_out(a.0, a.1);
            let (lo, hi) = (lo.unwrap_or(i64::MIN), hi.unwrap_or(i64::MAX));
            for (ch, col) in &cols {
                let want = expected(col, lo, hi);
                let got = got_a.get(ch).cloned().unwrap_or_default();
                assert_eq!(got, want, "channel {ch}");
            }

            // Same chunks for the cells both requests cover, whatever the
            // bounds and the source's batch sizes.
            let (blo, bhi) = grid.round_out(b.0, b.1);
            let (blo, bhi) = (blo.unwrap_or(i64::MIN), bhi.unwrap_or(i64::MAX));
            let shared = |c: &&Chunk| c.start >= lo.max(blo) && c.end <= hi.min(bhi);
            let sa: Vec<_> = ca.iter().filter(shared).collect();
            let sb: Vec<_> = cb.iter().filter(shared).collect();
            let (mut sa, mut sb) = (sa, sb);
            sa.sort_by_key(|c| (c.channel_ids.clone(), c.start));
            sb.sort_by_key(|c| (c.channel_ids.clone(), c.start));
            assert_eq!(sa, sb);

            // Asked again, the cached answer is the same chunks.
            let again = read(&svc_a, kind, "0-F", a).await;
            let mut x = ca.clone();
            let mut y = again;
            x.sort_by_key(|c| (c.channel_ids.clone(), c.start));
            y.sort_by_key(|c| (c.channel_ids.clone(), c.start));
            assert_eq!(x, y);
            if a.0.is_some() && a.1.is_some() {
                assert!(cache.hits() > 0, "a bounded request is served from the cache the second time");
            }
        });
    }
}

/// The spec's hard limits with the default limits: 25,000 samples of a
/// channel in one cell become results of at most 10,000 samples in lists
/// under 4 MiB, and a channel subset reads only its channels.
#[tokio::test]
async fn default_limits_and_channel_subsets() {
    let t0 = 1_700_000_000_000 * MS;
    let col = |ty| Column {
        times: (0..25_000).map(|i| t0 + i * 1000).collect(),
        values: (0..25_000).map(f64::from).collect(),
        ty,
    };
    let cols = BTreeMap::from([(0, col(3)), (1, col(1)), (2, col(0))]);
    let svc = KitService::new(Mem {
        columns: cols,
        batch: 7_000,
        interval: None,
    })
    .with_grid(ChunkGrid::new(1_000_000_000).unwrap());
    let chunks = read_default(&svc, "1-2").await;
    assert!(chunks
        .iter()
        .all(|c| c.channel_ids == [1] || c.channel_ids == [2]));
    let mut n = 0;
    for c in &chunks {
        assert!((c.unpacked_length as usize) <= MAX_LIST_BYTES);
        for d in c
            .decode_list::<TimestampedDataList>()
            .unwrap()
            .timestamped_data
        {
            assert!(d.sample_count() <= MAX_RESULT_SAMPLES);
            n += d.sample_count();
            // i16 and u8 channels keep their width on the wire.
            assert_eq!(
                d.buffer.len(),
                d.sample_count() * if d.channel_id == 1 { 2 } else { 1 }
            );
        }
    }
    assert_eq!(n, 50_000);
}

async fn read_default(svc: &KitService<Mem>, channels: &str) -> Vec<Chunk> {
    let req = DataRequest::channels(DataKind::Timestamped, "s", channels.parse().unwrap());
    let chunks: Vec<_> = svc.read(req).await.unwrap().collect().await;
    chunks.into_iter().collect::<Result<Vec<_>>>().unwrap()
}

/// A source that goes back in time is an error naming the channel; an
/// unknown identity has no data.
#[tokio::test]
async fn out_of_order_sources_are_refused() {
    struct Backwards;
    #[async_trait]
    impl SampleSource for Backwards {
        async fn describe(&self, _: &str) -> Result<Option<SourceInfo>> {
            let f = FieldMapping {
                source_field: "x".into(),
                target_channel: 4,
                ..Default::default()
            };
            Ok(Some(SourceInfo::rate(10.0).mapping(SchemaMapping {
                field_mappings: vec![f],
                ..Default::default()
            })))
        }
        async fn read(&self, _: SourceQuery) -> Result<BatchStream> {
            let b = [
                Batch::timestamped(4, vec![10, 20], vec![1.0f64, 2.0]),
                Batch::timestamped(4, vec![15], vec![3.0f64]),
            ];
            Ok(futures::stream::iter(b.map(Ok)).boxed())
        }
    }
    let svc = KitService::new(Backwards);
    let req = DataRequest::channels(DataKind::Timestamped, "x", "4".parse().unwrap());
    let items: Vec<_> = svc.read(req).await.unwrap().collect().await;
    let err = items.into_iter().find_map(|r| r.err()).expect("an error");
    assert!(
        err.to_string().contains("channel 4") && err.to_string().contains("time order"),
        "{err}"
    );
    assert_eq!(err.http_status(), 400);
}
