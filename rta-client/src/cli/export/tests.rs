//! The windowed rows against the one-table reference
//! (`rta_core::arrow::from_timestamped`) on generated data: channels of
//! several types on misaligned or shared times, cut into items and chunks
//! and interleaved in any order that keeps each channel's own order.

use std::collections::BTreeSet;

use arrow_array::RecordBatch;
use proptest::prelude::*;
use rta_core::chunk::{Chunk, Compression};
use rta_core::config::ChannelDataType;
use rta_core::data::{encode_timestamps, DataKind};
use rta_core::proto::data::{TimestampedData, TimestampedDataList};
use rta_core::timed::TimedDecoder;

use super::attempt::{items, Attempt, Knowledge, Limits, Msg, Outcome};
use crate::arrow::{from_timestamped, ChannelColumn};

fn data_type(channel: u32) -> ChannelDataType {
    [
        ChannelDataType::F64,
        ChannelDataType::U8,
        ChannelDataType::F32x3,
        ChannelDataType::S16,
    ][channel as usize % 4]
}

fn column(k: usize, channel: u32) -> ChannelColumn {
    ChannelColumn {
        column: k,
        name: format!("c{channel}"),
        channel,
        data_type: data_type(channel),
    }
}

fn item(channel: u32, times: &[i64], seed: u8) -> TimestampedData {
    let (start_timestamp, timestamp_deltas_scale, timestamp_deltas) =
        encode_timestamps(times).unwrap();
    let width = data_type(channel).width();
    TimestampedData {
        channel_id: channel,
        start_timestamp,
        timestamp_deltas_scale,
        timestamp_deltas,
        buffer: (0..times.len() * width)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<u8>>()
            .into(),
    }
}

/// What a written export handed to the file.
struct Run {
    schema: Option<arrow_schema::SchemaRef>,
    batches: Vec<RecordBatch>,
    passes: usize,
}

/// Runs passes as the export does over `chunks` (each pass reads them all
/// again), the requests of the channels of `empty` ending first; `None`
/// when it ends on the one-table path.
fn export(
    chunks: &[Chunk],
    limits: Limits,
    requested: Option<BTreeSet<u32>>,
    empty: &[u32],
) -> Option<Run> {
    let mut knowledge = Knowledge::default();
    for pass in 1..=3 {
        let mut run = Run {
            schema: None,
            batches: Vec::new(),
            passes: pass,
        };
        let mut finished = false;
        let mut sink = |m: Msg| {
            match m {
                Msg::Start(s) => {
                    assert!(run.schema.is_none(), "one schema per pass");
                    run.schema = Some(s);
                }
                Msg::Batch(b) => {
                    assert_eq!(Some(b.schema()), run.schema, "batches of the schema");
                    assert!(b.num_rows() > 0);
                    run.batches.push(b);
                }
                Msg::Finish => finished = true,
            }
            Ok(())
        };
        let mut a = Attempt::new(column, knowledge.clone(), requested.clone(), limits);
        for &ch in empty {
            a.ended(ch);
        }
        let mut decoder = TimedDecoder::new(); // one per pass, as in the pipeline
        for c in chunks {
            a.feed(
                items(c, DataKind::Timestamped, &mut decoder).unwrap(),
                &mut sink,
            )
            .unwrap();
            if a.one_table().is_some() {
                break;
            }
        }
        match a.end(&mut sink).unwrap() {
            Outcome::Written => {
                assert!(finished);
                return Some(run);
            }
            Outcome::Retry(k, _) => {
                assert!(!finished);
                knowledge = k;
            }
            Outcome::OneTable(_) => return None,
        }
    }
    None
}

/// Generated data: per channel, its items (times strictly increasing
/// across them unless `disorder`), then all items interleaved and grouped
/// into chunks.
fn data() -> impl Strategy<Value = (Vec<TimestampedData>, Vec<usize>, bool)> {
    (
        prop::collection::btree_set(0u32..8, 1..5),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 60),
        prop::collection::vec(any::<u64>(), 8),
        any::<bool>(),
        prop::collection::vec(1usize..5, 40),
        any::<u64>(),
    )
        .prop_map(
            |(channels, shared, mask, seeds, disorder, chunking, order)| {
                let mut per: Vec<Vec<TimestampedData>> = Vec::new();
                let mut disordered = false;
                for (k, &ch) in channels.iter().enumerate() {
                    let s = seeds[k];
                    let times: Vec<i64> = (0..60)
                        .filter(|&i| {
                            if shared {
                                mask[i]
                            } else {
                                mask[i] ^ (s >> (i % 64) & 1 == 1)
                            }
                        })
                        .map(|i| 1_000 + i as i64 * 10)
                        .collect();
                    let mut items = Vec::new();
                    let mut at = 0;
                    let mut cut = s;
                    while at < times.len() {
                        let n = (1 + (cut % 13) as usize).min(times.len() - at);
                        cut /= 13;
                        cut = cut.wrapping_add(s.rotate_left(7));
                        items.push(item(ch, &times[at..at + n], k as u8 + at as u8));
                        at += n;
                    }
                    if disorder && k == 0 && !items.is_empty() {
                        // An item again, or a sample at the channel's last time.
                        let again = if s & 1 == 0 {
                            items[items.len() / 2].clone()
                        } else {
                            item(ch, &times[times.len() - 1..], 7)
                        };
                        items.push(again);
                        disordered = true;
                    }
                    per.push(items);
                }
                // Interleave, keeping each channel's order.
                let mut all = Vec::new();
                let mut r = order;
                while per.iter().any(|p| !p.is_empty()) {
                    let live: Vec<usize> = (0..per.len()).filter(|&k| !per[k].is_empty()).collect();
                    let k = live[(r % live.len() as u64) as usize];
                    r = r.rotate_right(3) ^ 0x9e37_79b9_7f4a_7c15;
                    all.push(per[k].remove(0));
                }
                (all, chunking, disordered)
            },
        )
}

fn chunks(items: &[TimestampedData], chunking: &[usize]) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut k = 0;
    while at < items.len() {
        let n = chunking[k % chunking.len()].min(items.len() - at);
        k += 1;
        let list = TimestampedDataList {
            timestamped_data: items[at..at + n].to_vec(),
        };
        out.extend(Chunk::from_list(&list, Compression::Lz4).unwrap());
        at += n;
    }
    out
}

fn reference(items: &[TimestampedData]) -> RecordBatch {
    let seen: BTreeSet<u32> = items.iter().map(|d| d.channel_id).collect();
    let columns: Vec<ChannelColumn> = seen
        .iter()
        .enumerate()
        .map(|(k, &ch)| column(k + 1, ch))
        .collect();
    from_timestamped(items, &columns).unwrap()
}

fn assert_same(run: &Run, want: &RecordBatch) {
    let schema = run.schema.clone().unwrap();
    assert_eq!(schema, want.schema(), "schema");
    let mut at = 0;
    for b in &run.batches {
        for c in 0..want.num_columns() {
            assert_eq!(
                b.column(c).as_ref(),
                want.column(c).slice(at, b.num_rows()).as_ref(),
                "column {c} at row {at}"
            );
        }
        at += b.num_rows();
    }
    assert_eq!(at, want.num_rows(), "rows");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn windows_give_the_one_table(
        (items, chunking, disorder) in data(),
        window_rows in 1usize..12,
        request in 0..4,
    ) {
        let all = chunks(&items, &chunking);
        let limits = Limits { window_rows };
        let present: BTreeSet<u32> = items.iter().map(|d| d.channel_id).collect();
        let absent: Vec<u32> = (0..8).filter(|c| !present.contains(c)).collect();
        // No list; the channels with data; more, their requests ending
        // first; more, never known to be empty.
        let (requested, empty) = match request {
            0 => (None, &[][..]),
            1 => (Some(present), &[][..]),
            2 => (Some((0..8).collect()), &absent[..]),
            _ => (Some((0..8).collect()), &[][..]),
        };
        match export(&all, limits, requested, empty) {
            Some(run) => {
                prop_assert!(!disorder, "out-of-order data written by windows");
                assert_same(&run, &reference(&items));
            }
            None => prop_assert!(disorder, "in-order data sent to the one-table path"),
        }
    }
}

#[test]
fn aligned_channels_are_written_in_windows_in_one_pass() {
    let times: Vec<i64> = (0..1_000).map(|i| i * 1_000).collect();
    let items: Vec<TimestampedData> = times
        .chunks(100)
        .flat_map(|t| (0..3).map(move |ch| item(ch, t, ch as u8)))
        .collect();
    let all = chunks(&items, &[3]);
    let limits = Limits { window_rows: 200 };
    let run = export(&all, limits, Some((0..3).collect()), &[]).unwrap();
    assert_eq!(run.passes, 1);
    assert_eq!(run.batches.len(), 5, "a batch per 200 rows");
    assert_same(&run, &reference(&items));
}

#[test]
fn a_channel_ending_early_takes_a_second_pass() {
    let mut items = Vec::new();
    for s in 0..10i64 {
        let t: Vec<i64> = (0..100).map(|i| (s * 100 + i) * 1_000).collect();
        items.push(item(0, &t, 1));
        if s < 5 {
            items.push(item(1, &t, 2));
        }
    }
    let all = chunks(&items, &[2]);
    let limits = Limits { window_rows: 100 };
    let run = export(&all, limits, Some((0..2).collect()), &[]).unwrap();
    assert_eq!(run.passes, 2);
    assert!(run.schema.as_ref().unwrap().field(2).is_nullable());
    assert_same(&run, &reference(&items));
}

#[test]
fn no_data_is_a_file_of_the_time_column() {
    let run = export(&[], Limits::default(), Some((0..3).collect()), &[]).unwrap();
    assert_eq!(run.schema.unwrap().fields().len(), 1);
    assert!(run.batches.is_empty());
}
