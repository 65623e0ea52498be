//! Property tests: the transformer and the planner + merge against a naive
//! reference that decodes every sample and applies the binding sample by sample.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{all_samples, by_channel, check_valid, gen_stream, reference, span, Rng, StreamSpec};
use futures::executor::block_on;
use futures::StreamExt;
use proptest::prelude::*;
use rta_bindings::{DataBinding, SessionBindings, SessionRequest, Transform, Transformer};
use rta_core::channels::ChannelExpr;
use rta_core::chunk::{Chunk, Compression};
use rta_core::data::DataKind;

fn kind() -> impl Strategy<Value = DataKind> {
    prop_oneof![
        Just(DataKind::Periodic),
        Just(DataKind::Timestamped),
        Just(DataKind::Row),
        Just(DataKind::Events),
    ]
}

/// Data channels: small ids, ids around varint length changes, and large ids.
/// Row groups start at multiples of 4 (a group is `c, c+1, c+2`).
fn channels(kind: DataKind) -> BoxedStrategy<Vec<u32>> {
    if kind == DataKind::Row {
        prop::collection::btree_set(prop_oneof![0u32..8, Just(31), Just(4095)], 1..3)
            .prop_map(|s| s.into_iter().map(|g| g * 4).collect())
            .boxed()
    } else {
        prop::collection::btree_set(
            prop_oneof![
                0u32..6,
                Just(127),
                Just(128),
                Just(16_383),
                Just(0xFFFF_FFF0)
            ],
            1..4,
        )
        .prop_map(|s| s.into_iter().collect())
        .boxed()
    }
}

fn stream_spec() -> impl Strategy<Value = StreamSpec> {
    (
        kind(),
        any::<u64>(),
        1usize..8,
        prop_oneof![Just(0i64), -5_000_000i64..5_000_000],
    )
        .prop_flat_map(|(kind, seed, results, base)| {
            channels(kind).prop_map(move |channels| StreamSpec {
                kind,
                seed,
                channels,
                results,
                base,
            })
        })
}

/// A random binding over data spanning `lo..=hi`: offsets (including the
/// spec's 300 ms and ones that land on 0), windows inside, across or outside
/// the data, and channel maps with shifts that keep or change varint lengths.
fn binding(kind: DataKind, lo: i64, hi: i64) -> impl Strategy<Value = DataBinding> {
    let offset = prop_oneof![
        Just(0i64),
        Just(300_000_000),
        Just(-lo),
        -10_000_000i64..10_000_000,
    ];
    let bound = move |off: i64| {
        prop_oneof![
            Just(None),
            (lo - 10..=hi + 10).prop_map(move |t| Some(t + off)),
        ]
    };
    let step = if kind == DataKind::Row { 4u32 } else { 1 };
    let cb = (0u32..40, 0u32..200, 0u32..12).prop_map(move |(fd, fs, len)| {
        let fd = fd * step;
        let fs = fs * step;
        (fd, fs, fs + (len + 1) * step - 1)
    });
    let cbs = prop_oneof![
        Just(vec![]),
        prop::collection::vec(cb, 1..4),
        Just(vec![(0u32, 100, 140)]),
        Just(vec![(0u32, 0x3FF0, 0x4010)]),
    ];
    offset
        .prop_flat_map(move |off| (Just(off), bound(off), bound(off), cbs.clone()))
        .prop_map(|(off, a, b, cbs)| {
            let (s, e) = match (a, b) {
                (Some(a), Some(b)) if b < a => (Some(b), Some(a)),
                x => x,
            };
            let mut bnd = DataBinding::new("src", "id")
                .with_offset(off)
                .with_session_range(s, e);
            for (fd, fs, ls) in cbs {
                // Keep only channel bindings that fit with the earlier ones.
                let next = bnd.clone().with_channels(fd, fs, ls);
                if next.validate().is_ok() {
                    bnd = next;
                }
            }
            bnd
        })
        .prop_filter("valid binding", |b| b.validate().is_ok())
}

fn wanted(kind: DataKind) -> impl Strategy<Value = Option<ChannelExpr>> {
    if kind == DataKind::Events {
        Just(None).boxed()
    } else {
        prop_oneof![
            Just(None),
            "[0-9A-F]{1,3}(-[0-9A-F]{1,4})?"
                .prop_filter_map("ordered range", |s| s.parse::<ChannelExpr>().ok().map(Some)),
        ]
        .boxed()
    }
}

fn single_case() -> impl Strategy<
    Value = (
        StreamSpec,
        Vec<Chunk>,
        DataBinding,
        Option<ChannelExpr>,
        Compression,
    ),
> {
    stream_spec().prop_flat_map(|spec| {
        let chunks = gen_stream(&spec);
        let (lo, hi) = span(&chunks);
        let kind = spec.kind;
        (
            Just(spec),
            Just(chunks),
            binding(kind, lo, hi),
            wanted(kind),
            prop_oneof![Just(Compression::Lz4), Just(Compression::None)],
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// One binding, transformer only: every sample comes out exactly as the
    /// naive reference says, in the same order per channel, in valid chunks.
    #[test]
    fn transformer_matches_reference((spec, chunks, b, want, comp) in single_case()) {
        let kind = spec.kind;
        let t = Transform::for_binding(&b, kind)
            .with_wanted(want.clone())
            .with_compression(comp);
        let identity = t.is_identity();
        let mut tr = Transformer::new(t);
        let mut out = Vec::new();
        for c in chunks.iter().cloned() {
            tr.push(c, &mut out).unwrap();
        }
        let expected = reference(kind, &b, want.as_ref(), &all_samples(kind, &chunks));
        let got = all_samples(kind, &out);
        prop_assert_eq!(by_channel(&got), by_channel(&expected));
        check_valid(kind, &out, true);
        let st = tr.stats();
        prop_assert_eq!(st.received, chunks.len() as u64);
        if identity {
            prop_assert_eq!(st.passed, chunks.len() as u64);
            for (a, b) in out.iter().zip(&chunks) {
                prop_assert_eq!(a.payload.as_ptr(), b.payload.as_ptr());
            }
        }
        // Rewritten chunks use the requested compression; passed ones keep theirs.
        for c in &out {
            let shared = chunks.iter().any(|i| i.payload.as_ptr() == c.payload.as_ptr() && !c.payload.is_empty());
            if !shared {
                prop_assert_eq!(c.compression, comp);
            }
        }
    }
}

/// Two or three bindings of one session (composite channels, or time
/// windows of one source), each with its own data, planned and merged.
fn multi_case() -> impl Strategy<Value = (DataKind, Vec<(DataBinding, Vec<Chunk>)>, SessionRequest)>
{
    (
        kind(),
        any::<u64>(),
        any::<bool>(),
        1usize..6,
        -3i64..3,
        prop::option::of(0u32..0x80),
    )
        .prop_map(|(kind, seed, windows, results, off_ms, req_ch)| {
            let mut rng = Rng::new(seed);
            let mut parts = Vec::new();
            if windows || kind == DataKind::Events {
                // Time windows of one source: the same data, disjoint windows.
                let spec = StreamSpec {
                    kind,
                    seed,
                    channels: vec![0, 4, 8],
                    results: results + 3,
                    base: 1_000_000,
                };
                let data = gen_stream(&spec);
                let (lo, hi) = span(&data);
                let cut1 = rng.range(lo, hi);
                let cut2 = rng.range(cut1, hi + 1);
                let off = off_ms * 1_000_000;
                let a = DataBinding::new("influx01", "q")
                    .with_time_ref(1)
                    .with_offset(off)
                    .with_session_range(None, Some(cut1 + off));
                let b = DataBinding::new("influx01", "q")
                    .with_time_ref(2)
                    .with_offset(off)
                    .with_session_range(Some(cut2 + 1 + off), None);
                parts.push((b, data.clone()));
                parts.push((a, data));
            } else {
                // Composite: data channels 0.. of each source onto disjoint session ranges.
                for (i, src) in ["influx01", "influx07", "influx09"].iter().enumerate() {
                    let spec = StreamSpec {
                        kind,
                        seed: seed.wrapping_add(i as u64),
                        channels: vec![0, 4, 8],
                        results,
                        base: rng.range(-2_000_000, 2_000_000),
                    };
                    let first = (i as u32) * 0x20;
                    let b = DataBinding::new(*src, format!("id{i}"))
                        .with_offset(if i == 1 { 300_000_000 } else { 0 })
                        .with_channels(0, first, first + 0x1F);
                    parts.push((b, gen_stream(&spec)));
                }
            }
            let req = match (kind, req_ch) {
                (DataKind::Events, _) => SessionRequest::events(),
                (_, None) => SessionRequest::channels(kind, ChannelExpr::all()),
                (_, Some(c)) => SessionRequest::channels(kind, ChannelExpr::range(c, c + 0x1F)),
            };
            (kind, parts, req)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn plan_and_merge_match_reference((kind, parts, req) in multi_case()) {
        let bindings = SessionBindings::new(parts.iter().map(|p| p.0.clone()).collect()).unwrap();
        let plan = bindings.plan(&req).unwrap();
        let mut responses = Vec::new();
        let mut expected = Vec::new();
        for part in &plan.parts {
            let (b, data) = parts.iter().find(|p| p.0.key == part.key).unwrap();
            // The data service answers with everything it has (over-fetching is allowed).
            responses.push(futures::stream::iter(data.clone().into_iter().map(Ok)).boxed());
            expected.extend(reference(kind, b, part.session_channels.as_ref(), &all_samples(kind, data)));
        }
        let out: Vec<Chunk> = block_on(plan.merge(responses).unwrap().map(|c| c.unwrap()).collect());
        let got = all_samples(kind, &out);
        let mut want = by_channel(&expected);
        // Per channel, the merged order is time order.
        for v in want.values_mut() {
            v.sort_by_key(|s| s.time);
        }
        let mut got_map = by_channel(&got);
        if kind == DataKind::Events {
            // Events of time-disjoint windows come out in time order too.
            for v in got_map.values_mut() {
                prop_assert!(v.windows(2).all(|w| w[0].time < w[1].time));
            }
        }
        for v in got_map.values_mut() {
            prop_assert!(v.windows(2).all(|w| w[0].time < w[1].time), "per-channel time order");
            v.sort_by_key(|s| s.time);
        }
        prop_assert_eq!(got_map, want);
        check_valid(kind, &out, true);
    }
}

/// Garbage payloads, lengths and compression codes: the transformer returns
/// errors or drops chunks, and never panics, on every path.
fn garbage_chunk() -> impl Strategy<Value = Chunk> {
    (
        -1_000i64..1_000,
        0i64..1_000,
        prop::collection::vec(0u32..20, 0..3),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..200),
        0u32..400,
    )
        .prop_map(|(start, dur, ids, lz4, payload, unpacked)| {
            let compression = if lz4 {
                Compression::Lz4
            } else {
                Compression::None
            };
            let unpacked_length = if lz4 { unpacked } else { payload.len() as u32 };
            Chunk {
                start,
                end: start + dur,
                channel_ids: ids,
                compression,
                unpacked_length,
                payload: payload.into(),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn garbage_never_panics(
        k in kind(),
        chunk in garbage_chunk(),
        offset in prop_oneof![Just(0i64), Just(300), Just(i64::MAX)],
        clip in prop_oneof![Just((None, None)), Just((Some(100i64), Some(500i64)))],
        shift in any::<bool>(),
        comp in prop_oneof![Just(Compression::Lz4), Just(Compression::None)],
    ) {
        let mut t = Transform::new(k).with_offset(offset).with_clip(clip.0, clip.1).with_compression(comp);
        if shift {
            t = t.with_channel_map(rta_bindings::ChannelMap::single(0, 9, 200));
        }
        let mut tr = Transformer::new(t);
        let mut out = Vec::new();
        let _ = tr.push(chunk, &mut out);
    }
}

#[test]
fn stream_errors_pass_through_and_end_the_stream() {
    let good = gen_stream(&StreamSpec {
        kind: DataKind::Periodic,
        seed: 7,
        channels: vec![1],
        results: 2,
        base: 0,
    });
    let input = futures::stream::iter(vec![
        Ok(good[0].clone()),
        Err(rta_core::Error::Unavailable(
            "data service went away".into(),
        )),
        Ok(good[0].clone()),
    ])
    .boxed();
    let out: Vec<_> = block_on(
        Transform::new(DataKind::Periodic)
            .with_offset(5)
            .apply_stream(input)
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.len(), 2);
    assert!(out[0].is_ok());
    let err = out[1].as_ref().unwrap_err();
    assert!(err.to_string().contains("data service went away"), "{err}");
    assert!(!err.is_client_error());
}
