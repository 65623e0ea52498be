//! The native chunk store on its own (blocking API): round trips of all
//! four kinds, stable chunk boundaries, late data, fragments, restart, and
//! a property test against a simple last-write-wins model.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_core::chunk::Chunk;
use rta_core::data::{
    periodic, periodic_timestamps, read_samples, read_timestamps, row, timestamped, DataItem,
    DataKind, DataList,
};
use rta_core::proto::data::{
    Event, EventsList, PeriodicDataList, RowDataList, TimestampedDataList,
};
use rta_core::service::DataRequest;
use rta_core::write::WriteItem;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;

fn store(dir: &std::path::Path) -> NativeStore {
    NativeStore::open(NativeConfig::new(dir)).unwrap()
}

fn small_store(dir: &std::path::Path) -> NativeStore {
    NativeStore::open(NativeConfig::new(dir).with_target_list_bytes(1024)).unwrap()
}

fn req(kind: DataKind, id: &str, ch: &str) -> DataRequest {
    DataRequest::channels(kind, id, ch.parse().unwrap())
}

/// (time, value) pairs of timestamped f64 chunks, checking order and overlaps.
fn ts_samples(chunks: &[Chunk]) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    let mut prev_chunk_end = i64::MIN;
    for c in chunks {
        assert!(
            c.start > prev_chunk_end,
            "chunks overlap or are out of order"
        );
        prev_chunk_end = c.end;
        let list: TimestampedDataList = c.decode_list().unwrap();
        let mut prev = i64::MIN;
        for it in list.items() {
            let (s, e) = it.time_bounds().unwrap();
            assert!(s > prev, "results overlap");
            assert!(s >= c.start && e <= c.end, "result outside its chunk");
            prev = e;
            let ts = read_timestamps(it).unwrap();
            let vs = read_samples::<f64>(&it.buffer).unwrap();
            out.extend(ts.into_iter().zip(vs));
        }
    }
    out
}

fn ramp(n: usize, t0: i64, step: i64) -> (Vec<i64>, Vec<f64>) {
    let t: Vec<i64> = (0..n as i64).map(|i| t0 + i * step).collect();
    let v: Vec<f64> = (0..n).map(|i| (i as f64 * 0.01).sin() * 100.0).collect();
    (t, v)
}

#[test]
fn all_kinds_round_trip_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let (t, v) = ramp(5000, T0, 10_000_000); // 100 Hz for 50 s
    let mut items: Vec<WriteItem> = Vec::new();
    for (tc, vc) in t.chunks(100).zip(v.chunks(100)) {
        items.push(timestamped(0xA, tc, vc).unwrap().into());
    }
    let pvals: Vec<i16> = (0..3000).map(|i| (i % 700) as i16 - 350).collect();
    for (k, chunk) in pvals.chunks(250).enumerate() {
        items.push(
            periodic(0xB, T0 + k as i64 * 250 * 1_000_000, 1_000_000, chunk)
                .unwrap()
                .into(),
        );
    }
    for i in 0..200i64 {
        items.push(row(vec![1, 2, 3], T0 + i * 50_000_000, vec![i as u8; 12]).into());
    }
    for i in 0..20i64 {
        items.push(
            Event {
                event_definition_id: (i % 3) as i32,
                app_name: "app".into(),
                timestamp: T0 + i * S,
                status_text: format!("event {i}"),
                raw_data: vec![i as f64],
            }
            .into(),
        );
    }
    st.write_blocking("s1", items).unwrap();
    st.flush_blocking("s1").unwrap();

    let got = ts_samples(
        &st.read_blocking(&req(DataKind::Timestamped, "s1", "A"))
            .unwrap(),
    );
    assert_eq!(
        got,
        t.iter().copied().zip(v.iter().copied()).collect::<Vec<_>>()
    );

    let pchunks = st
        .read_blocking(&req(DataKind::Periodic, "s1", "-F"))
        .unwrap();
    assert!(pchunks.iter().all(|c| c.channel_ids == vec![0xB]));
    let mut pgot = Vec::new();
    for c in &pchunks {
        for p in c.decode_list::<PeriodicDataList>().unwrap().periodic_data {
            let ts = periodic_timestamps(&p).unwrap();
            pgot.extend(ts.into_iter().zip(read_samples::<i16>(&p.buffer).unwrap()));
        }
    }
    let pexp: Vec<(i64, i16)> = (0..3000)
        .map(|i| (T0 + i as i64 * 1_000_000, pvals[i]))
        .collect();
    assert_eq!(pgot, pexp);

    let rchunks = st.read_blocking(&req(DataKind::Row, "s1", "2")).unwrap();
    let rows: Vec<_> = rchunks
        .iter()
        .flat_map(|c| c.decode_list::<RowDataList>().unwrap().row_data)
        .collect();
    assert_eq!(rows.len(), 200);
    assert!(rows
        .iter()
        .enumerate()
        .all(|(i, r)| r.timestamp == T0 + i as i64 * 50_000_000
            && r.buffer[..] == [i as u8; 12][..]
            && r.channel_ids == vec![1, 2, 3]));
    assert!(st
        .read_blocking(&req(DataKind::Row, "s1", "4-"))
        .unwrap()
        .is_empty());

    let evs: Vec<Event> = st
        .read_blocking(&DataRequest::events("s1"))
        .unwrap()
        .iter()
        .flat_map(|c| c.decode_list::<EventsList>().unwrap().events)
        .collect();
    assert_eq!(evs.len(), 20);
    assert_eq!(evs[7].status_text, "event 7");
    assert_eq!(evs[7].raw_data, vec![7.0]);

    // Unknown identities and channels read as empty.
    assert!(st
        .read_blocking(&req(DataKind::Timestamped, "nope", "A"))
        .unwrap()
        .is_empty());
    assert!(st
        .read_blocking(&req(DataKind::Timestamped, "s1", "B"))
        .unwrap()
        .is_empty());

    let stats = st.identity_stats("s1").unwrap();
    assert_eq!(stats.samples, 5000 + 3000 + 200 + 20);
    assert!(stats.bytes_per_sample() > 0.0 && stats.bytes_per_sample() < 12.0);
}

#[test]
fn chunk_boundaries_do_not_depend_on_request_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let st = small_store(dir.path());
    let (t, v) = ramp(20_000, T0, 1_000_000); // 1 kHz for 20 s
    let items = t
        .chunks(64)
        .zip(v.chunks(64))
        .map(|(a, b)| timestamped(3, a, b).unwrap().into())
        .collect();
    st.write_blocking("s", items).unwrap();
    st.seal_blocking("s").unwrap();
    let all = st
        .read_blocking(&req(DataKind::Timestamped, "s", "3"))
        .unwrap();
    assert!(all.len() > 20);
    for (s, e) in [
        (T0 + 1_234_567, T0 + 3 * S),
        (T0 + 5 * S, T0 + 5 * S),
        (T0 - S, T0),
        (T0 + 19 * S, T0 + 30 * S),
    ] {
        let part = st
            .read_blocking(&req(DataKind::Timestamped, "s", "3").with_bounds(Some(s), Some(e)))
            .unwrap();
        assert!(!part.is_empty());
        // Whole stored chunks, rounded outwards: covering the bounds, identical to the full read.
        let first = all
            .iter()
            .position(|c| c == &part[0])
            .expect("chunk not in full read");
        assert_eq!(&all[first..first + part.len()], &part[..]);
        assert!(part[0].start <= s.max(all[0].start));
        assert!(part.last().unwrap().end >= e.min(all.last().unwrap().end));
        assert!(part.iter().all(|c| c.end >= s && c.start <= e));
    }
}

#[test]
fn late_data_is_merged_without_overlaps() {
    let dir = tempfile::tempdir().unwrap();
    let st = small_store(dir.path());
    let (t, v) = ramp(4000, T0, 10_000_000);
    // Even samples first, then the odd ones late, then some re-sent values.
    let even: Vec<usize> = (0..4000).step_by(2).collect();
    let odd: Vec<usize> = (1..4000).step_by(2).collect();
    for idx in [even, odd] {
        let items: Vec<WriteItem> = idx
            .chunks(50)
            .map(|c| {
                let tt: Vec<i64> = c.iter().map(|&i| t[i]).collect();
                let vv: Vec<f64> = c.iter().map(|&i| v[i]).collect();
                timestamped(7, &tt, &vv).unwrap().into()
            })
            .collect();
        st.write_blocking("late", items).unwrap();
        st.flush_blocking("late").unwrap();
    }
    let resend = timestamped(7, &t[100..110], &[42.0f64; 10]).unwrap();
    st.write_blocking("late", vec![resend.into()]).unwrap();
    st.seal_blocking("late").unwrap();
    let mut expect: Vec<(i64, f64)> = t.iter().copied().zip(v.iter().copied()).collect();
    for e in &mut expect[100..110] {
        e.1 = 42.0;
    }
    let chunks = st
        .read_blocking(&req(DataKind::Timestamped, "late", "7"))
        .unwrap();
    assert_eq!(ts_samples(&chunks), expect);
    // Reopen: the same chunks come back from the index.
    drop(st);
    let st = small_store(dir.path());
    assert_eq!(
        st.read_blocking(&req(DataKind::Timestamped, "late", "7"))
            .unwrap(),
        chunks
    );
}

#[test]
fn flush_fragments_are_packed_once_the_cell_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let (t, v) = ramp(6000, T0, 10_000_000); // 100 Hz, 60 s
    for (a, b) in t.chunks(100).zip(v.chunks(100)) {
        st.write_blocking("f", vec![timestamped(1, a, b).unwrap().into()])
            .unwrap();
        st.flush_blocking("f").unwrap();
    }
    st.seal_blocking("f").unwrap();
    let chunks = st
        .read_blocking(&req(DataKind::Timestamped, "f", "1"))
        .unwrap();
    assert_eq!(ts_samples(&chunks).len(), 6000);
    // 60 flushes, but the store holds full-size chunks, not one per flush.
    assert!(chunks.len() <= 6, "{} chunks", chunks.len());
    // Written in one go, the same samples take the same payload bytes.
    let st2 = store(&dir.path().join("once"));
    st2.write_blocking("f", vec![timestamped(1, &t, &v).unwrap().into()])
        .unwrap();
    st2.seal_blocking("f").unwrap();
    let (a, b) = (
        st.identity_stats("f").unwrap(),
        st2.identity_stats("f").unwrap(),
    );
    assert_eq!(a.samples, b.samples);
    assert!(
        a.bytes_per_sample() <= b.bytes_per_sample() * 1.05,
        "{} against {} bytes/sample",
        a.bytes_per_sample(),
        b.bytes_per_sample()
    );
}

#[test]
fn data_persists_across_restart_and_writes_continue() {
    let dir = tempfile::tempdir().unwrap();
    let (t, v) = ramp(3000, T0, 1_000_000);
    {
        let st = store(dir.path());
        st.write_blocking(
            "r",
            vec![timestamped(5, &t[..1500], &v[..1500]).unwrap().into()],
        )
        .unwrap();
        st.flush_blocking("r").unwrap();
        // Written but not flushed: may be lost, must not corrupt anything.
        st.write_blocking(
            "r",
            vec![timestamped(5, &t[1500..1600], &v[1500..1600])
                .unwrap()
                .into()],
        )
        .unwrap();
    }
    let st = store(dir.path());
    assert_eq!(st.identities().unwrap(), vec!["r".to_string()]);
    let got = ts_samples(
        &st.read_blocking(&req(DataKind::Timestamped, "r", "5"))
            .unwrap(),
    );
    assert!(got.len() >= 1500);
    assert_eq!(
        &got[..1500],
        &t[..1500]
            .iter()
            .copied()
            .zip(v[..1500].iter().copied())
            .collect::<Vec<_>>()[..]
    );
    st.write_blocking(
        "r",
        vec![timestamped(5, &t[1500..], &v[1500..]).unwrap().into()],
    )
    .unwrap();
    st.seal_blocking("r").unwrap();
    let got = ts_samples(
        &st.read_blocking(&req(DataKind::Timestamped, "r", "5"))
            .unwrap(),
    );
    assert_eq!(
        got,
        t.iter().copied().zip(v.iter().copied()).collect::<Vec<_>>()
    );
}

#[test]
fn extreme_rates_give_chunks_within_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    // 1 MHz for 0.2 s.
    let fast: Vec<f32> = (0..200_000).map(|i| i as f32).collect();
    let items = fast
        .chunks(10_000)
        .enumerate()
        .map(|(k, c)| {
            periodic(1, T0 + k as i64 * 10_000_000, 1_000, c)
                .unwrap()
                .into()
        })
        .collect();
    st.write_blocking("x", items).unwrap();
    // 0.001 Hz for 3 hours, one sample per write.
    for k in 0..11i64 {
        let s = timestamped(2, &[T0 + k * 1000 * S], &[k as f64]).unwrap();
        st.write_blocking("x", vec![s.into()]).unwrap();
    }
    st.seal_blocking("x").unwrap();
    let fast_chunks = st
        .read_blocking(&req(DataKind::Periodic, "x", "1"))
        .unwrap();
    let mut n = 0;
    for c in &fast_chunks {
        assert!(
            c.unpacked_length as usize <= 70 * 1024,
            "{}",
            c.unpacked_length
        );
        assert!(c.duration() <= 1000 * S);
        n += c
            .decode_list::<PeriodicDataList>()
            .unwrap()
            .periodic_data
            .iter()
            .map(|p| p.samples as usize)
            .sum::<usize>();
    }
    assert_eq!(n, 200_000);
    let slow = st
        .read_blocking(&req(DataKind::Timestamped, "x", "2"))
        .unwrap();
    assert!(slow.iter().all(|c| c.duration() <= 1000 * S));
    assert_eq!(ts_samples(&slow).len(), 11);
}

#[test]
fn bad_items_are_rejected_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let good = timestamped(1, &[T0, T0 + S], &[1.0f64, 2.0]).unwrap();
    let mut bad = good.clone();
    bad.buffer = bad.buffer.slice(..15); // not a whole number of samples
    let e = st
        .write_blocking("b", vec![good.clone().into(), bad.into()])
        .unwrap_err();
    assert!(e.is_client_error(), "{e}");
    assert!(st
        .read_blocking(&req(DataKind::Timestamped, "b", "1"))
        .unwrap()
        .is_empty());
    st.write_blocking("b", vec![good.into()]).unwrap();
    // Another sample width on the same channel.
    let narrow = timestamped(1, &[T0 + 5 * S], &[1.0f32]).unwrap();
    let e = st.write_blocking("b", vec![narrow.into()]).unwrap_err();
    assert!(e.to_string().contains("8-byte"), "{e}");
    // One row too large to split.
    let huge = row(vec![1], T0, vec![0u8; 2 * 1024 * 1024]);
    assert!(st
        .write_blocking("b", vec![huge.into()])
        .unwrap_err()
        .is_client_error());
    assert!(st.write_blocking("", vec![]).is_err());
    st.flush_blocking("b").unwrap();
    assert_eq!(
        ts_samples(
            &st.read_blocking(&req(DataKind::Timestamped, "b", "1"))
                .unwrap()
        )
        .len(),
        2
    );
    // start > end is refused.
    let r = req(DataKind::Timestamped, "b", "1").with_bounds(Some(5), Some(4));
    assert!(st.read_blocking(&r).is_err());
}

/// Periodic samples must be backed by buffer bytes: an item claiming many
/// zero-width samples costs a few bytes on the wire but its timestamps are
/// expanded by validation and merges (i32::MAX samples would be 16 GiB).
#[test]
fn periodic_samples_without_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let mut empty = periodic(3, T0, 1, &[1u8]).unwrap();
    empty.samples = 1_000_000;
    empty.buffer = bytes::Bytes::new();
    let e = st.write_blocking("z", vec![empty.into()]).unwrap_err();
    assert!(e.is_client_error(), "{e}");
    assert!(st
        .read_blocking(&req(DataKind::Periodic, "z", "3"))
        .unwrap()
        .is_empty());
}

#[test]
fn write_buffer_budget_bounds_memory() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 256 * 1024;
    let st =
        NativeStore::open(NativeConfig::new(dir.path()).with_write_buffer_bytes(budget)).unwrap();
    // 200 channels, each with less than a chunk buffered: 200 x 8 KB > budget.
    for round in 0..4i64 {
        let items = (0..200u32)
            .map(|ch| {
                let (t, v) = ramp(256, T0 + round * 256 * 1_000_000, 1_000_000);
                timestamped(ch, &t, &v).unwrap().into()
            })
            .collect();
        st.write_blocking("m", items).unwrap();
        assert!(
            st.buffered_bytes() <= budget,
            "{} buffered",
            st.buffered_bytes()
        );
    }
    st.seal_blocking("m").unwrap();
    assert_eq!(st.buffered_bytes(), 0);
    assert_eq!(st.identity_stats("m").unwrap().samples, 200 * 1024);
}

#[derive(Debug, Clone)]
enum Op {
    Write {
        ch: u32,
        start: i64,
        n: usize,
        step: i64,
        base: f64,
    },
    Flush,
    Seal,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u32..3, 0i64..20_000, 1usize..60, prop::sample::select(vec![1i64, 7, 50]), -1e6f64..1e6)
            .prop_map(|(ch, start, n, step, base)| Op::Write { ch, start: T0 + start * 1_000_000, n, step: step * 1_000_000, base }),
        1 => Just(Op::Flush),
        1 => Just(Op::Seal),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Any mix of in-order, late and overlapping writes reads back as the
    /// last value written at each time, with no overlapping chunks or
    /// results, before and after reopening.
    #[test]
    fn matches_last_write_wins_model(ops in prop::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let st = small_store(dir.path());
        let mut model: BTreeMap<u32, BTreeMap<i64, f64>> = BTreeMap::new();
        for o in &ops {
            match o {
                Op::Write { ch, start, n, step, base } => {
                    let t: Vec<i64> = (0..*n as i64).map(|i| start + i * step).collect();
                    let v: Vec<f64> = (0..*n).map(|i| base + i as f64).collect();
                    for (a, b) in t.iter().zip(&v) {
                        model.entry(*ch).or_default().insert(*a, *b);
                    }
                    st.write_blocking("p", vec![timestamped(*ch, &t, &v).unwrap().into()]).unwrap();
                }
                Op::Flush => st.flush_blocking("p").unwrap(),
                Op::Seal => st.seal_blocking("p").unwrap(),
            }
        }
        let check = |st: &NativeStore| {
            for ch in 1u32..3 {
                let chunks = st.read_blocking(&req(DataKind::Timestamped, "p", &format!("{ch:X}"))).unwrap();
                let got = ts_samples(&chunks);
                let exp: Vec<(i64, f64)> = model.get(&ch).map(|m| m.iter().map(|(a, b)| (*a, *b)).collect()).unwrap_or_default();
                prop_assert_eq!(got, exp);
            }
            Ok(())
        };
        check(&st)?;
        st.seal_blocking("p").unwrap();
        check(&st)?;
        drop(st);
        let st = small_store(dir.path());
        check(&st)?;
    }
}

/// The item as the `DataWriter` service hands it to the store: still encoded.
fn encoded<T: DataItem>(item: &T) -> WriteItem {
    WriteItem::Encoded(rta_core::encoded::EncodedSeries::from_item(item).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Items written still encoded (the gRPC path) are stored exactly as the
    /// same items written decoded: same chunks, byte for byte, for
    /// timestamped and periodic channels, through in-order, late and
    /// overlapping writes, flushes and seals.
    #[test]
    fn encoded_writes_store_what_typed_writes_store(ops in prop::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let st = small_store(dir.path());
        for o in &ops {
            match o {
                Op::Write { ch, start, n, step, base } => {
                    let t: Vec<i64> = (0..*n as i64).map(|i| start + i * step).collect();
                    let v: Vec<f64> = (0..*n).map(|i| base + i as f64).collect();
                    let ts = timestamped(*ch, &t, &v).unwrap();
                    let pd = periodic(*ch + 8, *start, *step, &v).unwrap();
                    st.write_blocking("typed", vec![ts.clone().into(), pd.clone().into()]).unwrap();
                    st.write_blocking("encoded", vec![encoded(&ts), encoded(&pd)]).unwrap();
                }
                Op::Flush => {
                    st.flush_blocking("typed").unwrap();
                    st.flush_blocking("encoded").unwrap();
                }
                Op::Seal => {
                    st.seal_blocking("typed").unwrap();
                    st.seal_blocking("encoded").unwrap();
                }
            }
        }
        for (kind, ch) in [(DataKind::Timestamped, "1-2"), (DataKind::Periodic, "9-A")] {
            let a = st.read_blocking(&req(kind, "typed", ch)).unwrap();
            let b = st.read_blocking(&req(kind, "encoded", ch)).unwrap();
            let wrote = ops.iter().any(|o| matches!(o, Op::Write { .. }));
            prop_assert_eq!(!a.is_empty(), wrote);
            prop_assert_eq!(a, b);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Batches holding items of several channels (the chunks a batch
    /// closes are compressed in parallel before they are stored) read back
    /// as the last value written at each time, before and after reopening.
    #[test]
    fn batched_writes_across_channels_match_the_model(
        batches in prop::collection::vec(prop::collection::vec(op(), 1..8), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let st = small_store(dir.path());
        let mut model: BTreeMap<u32, BTreeMap<i64, f64>> = BTreeMap::new();
        for batch in &batches {
            let mut items = Vec::new();
            for o in batch {
                if let Op::Write { ch, start, n, step, base } = o {
                    // Spread the batch over more channels than `op` picks.
                    let ch = ch + 2 * (items.len() as u32 % 3);
                    let t: Vec<i64> = (0..*n as i64).map(|i| start + i * step).collect();
                    let v: Vec<f64> = (0..*n).map(|i| base + i as f64).collect();
                    for (a, b) in t.iter().zip(&v) {
                        model.entry(ch).or_default().insert(*a, *b);
                    }
                    items.push(encoded(&timestamped(ch, &t, &v).unwrap()));
                }
            }
            st.write_blocking("b", items).unwrap();
            for o in batch {
                match o {
                    Op::Flush => st.flush_blocking("b").unwrap(),
                    Op::Seal => st.seal_blocking("b").unwrap(),
                    Op::Write { .. } => {}
                }
            }
        }
        let check = |st: &NativeStore| {
            for ch in 1u32..7 {
                let chunks = st.read_blocking(&req(DataKind::Timestamped, "b", &format!("{ch:X}"))).unwrap();
                let got = ts_samples(&chunks);
                let exp: Vec<(i64, f64)> = model.get(&ch).map(|m| m.iter().map(|(a, b)| (*a, *b)).collect()).unwrap_or_default();
                prop_assert_eq!(got, exp, "channel {}", ch);
            }
            Ok(())
        };
        check(&st)?;
        st.seal_blocking("b").unwrap();
        check(&st)?;
        drop(st);
        let st = small_store(dir.path());
        check(&st)?;
    }
}

/// The file backend, with data-log appends that start failing once
/// `allowed` reaches zero (a full disk, say); negative means never.
struct FailingAppends {
    files: rta_adapters::native::FileBackend,
    allowed: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

struct FailingStorage {
    files: std::sync::Arc<dyn rta_adapters::native::IdentityStorage>,
    allowed: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl rta_adapters::native::Backend for FailingAppends {
    fn identities(&self) -> rta_core::Result<Vec<String>> {
        self.files.identities()
    }
    fn open(
        &self,
        identity: &str,
        create: bool,
    ) -> rta_core::Result<Option<std::sync::Arc<dyn rta_adapters::native::IdentityStorage>>> {
        Ok(self.files.open(identity, create)?.map(|files| {
            std::sync::Arc::new(FailingStorage {
                files,
                allowed: self.allowed.clone(),
            }) as std::sync::Arc<dyn rta_adapters::native::IdentityStorage>
        }))
    }
    fn delete(&self, identity: &str) -> rta_core::Result<()> {
        self.files.delete(identity)
    }
}

impl rta_adapters::native::IdentityStorage for FailingStorage {
    fn append_data(&self, data: &[u8]) -> rta_core::Result<u64> {
        use std::sync::atomic::Ordering::SeqCst;
        match self.allowed.load(SeqCst) {
            0 => return Err(rta_core::Error::Internal("no space left (test)".into())),
            n if n > 0 => {
                self.allowed.fetch_sub(1, SeqCst);
            }
            _ => {}
        }
        self.files.append_data(data)
    }
    fn read_data(&self, offset: u64, len: usize) -> rta_core::Result<bytes::Bytes> {
        self.files.read_data(offset, len)
    }
    fn sync_data(&self) -> rta_core::Result<()> {
        self.files.sync_data()
    }
    fn append_index(&self, record: &[u8]) -> rta_core::Result<()> {
        self.files.append_index(record)
    }
    fn load_index(&self) -> rta_core::Result<Vec<u8>> {
        self.files.load_index()
    }
    fn truncate_index(&self, len: u64) -> rta_core::Result<()> {
        self.files.truncate_index(len)
    }
    fn data_len(&self) -> u64 {
        self.files.data_len()
    }
    fn stored_bytes(&self) -> u64 {
        self.files.stored_bytes()
    }
}

/// A data-log append that fails in the middle of a batch fails the write,
/// but loses nothing the store accepted: every channel still reads back
/// whole (chunks not stored yet are served from memory), and once appends
/// work again a flush stores them, which a reopen shows.
#[test]
fn a_failed_append_loses_nothing_already_accepted() {
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let allowed = Arc::new(AtomicI64::new(-1));
    let open = |allowed: &Arc<AtomicI64>| {
        let backend = FailingAppends {
            files: rta_adapters::native::FileBackend::new(dir.path()).unwrap(),
            allowed: allowed.clone(),
        };
        NativeStore::with_backend(
            Arc::new(backend),
            NativeConfig::new(dir.path()).with_target_list_bytes(1024),
        )
    };
    let st = open(&allowed);
    let mut model: BTreeMap<u32, Vec<(i64, f64)>> = BTreeMap::new();
    // Three channels, results of 50 samples: many chunks per batch.
    let mut batch = |first: i64| {
        let mut items: Vec<WriteItem> = Vec::new();
        for ch in 1..4u32 {
            let t: Vec<i64> = (0..2000).map(|i| first + i * 10_000_000).collect();
            let v: Vec<f64> = (0..2000).map(|i| f64::from(ch) * 1e4 + i as f64).collect();
            model
                .entry(ch)
                .or_default()
                .extend(t.iter().copied().zip(v.iter().copied()));
            for (t, v) in t.chunks(50).zip(v.chunks(50)) {
                items.push(timestamped(ch, t, v).unwrap().into());
            }
        }
        items
    };
    st.write_blocking("f", batch(T0)).unwrap();
    st.flush_blocking("f").unwrap();

    allowed.store(2, SeqCst);
    let err = st.write_blocking("f", batch(T0 + 20 * S)).unwrap_err();
    assert!(err.to_string().contains("no space left"), "{err}");
    let check = |st: &NativeStore| {
        for (ch, exp) in &model {
            let chunks = st
                .read_blocking(&req(DataKind::Timestamped, "f", &format!("{ch:X}")))
                .unwrap();
            assert_eq!(&ts_samples(&chunks), exp, "channel {ch}");
        }
    };
    check(&st);
    // A flush while appends still fail fails too, and loses nothing.
    assert!(st.flush_blocking("f").is_err());
    check(&st);

    allowed.store(-1, SeqCst);
    st.flush_blocking("f").unwrap();
    check(&st);
    drop(st);
    check(&open(&allowed));
}
