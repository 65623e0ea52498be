//! Test data generation and the naive reference model shared by the tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use bytes::Bytes;
use rta_bindings::DataBinding;
use rta_core::channels::ChannelExpr;
use rta_core::chunk::{Chunk, ChunkDecoder, ChunkEncoder, Compression, MAX_LIST_BYTES};
use rta_core::data::{
    list_time_bounds, periodic_timestamps, read_timestamps, timestamped, DataItem, DataKind,
    DataList,
};
use rta_core::proto::data::{
    Event, EventsList, PeriodicData, PeriodicDataList, RowData, RowDataList, TimestampedDataList,
};

/// A tiny deterministic PRNG (xorshift64*), so generated data depends only on a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One sample as the reference model sees it: channels (one, a row group,
/// or none for events), time, and the sample's bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sample {
    pub channels: Vec<u32>,
    pub time: i64,
    pub value: Vec<u8>,
}

/// Decodes every sample of a chunk, in order.
pub fn samples_of(kind: DataKind, chunk: &Chunk) -> Vec<Sample> {
    let mut out = Vec::new();
    match kind {
        DataKind::Periodic => {
            let l: PeriodicDataList = chunk.decode_list().unwrap();
            for p in l.periodic_data {
                let times = periodic_timestamps(&p).unwrap();
                let w = if times.is_empty() {
                    0
                } else {
                    p.buffer.len() / times.len()
                };
                for (i, t) in times.into_iter().enumerate() {
                    out.push(Sample {
                        channels: vec![p.channel_id],
                        time: t,
                        value: p.buffer[i * w..(i + 1) * w].to_vec(),
                    });
                }
            }
        }
        DataKind::Timestamped => {
            let l: TimestampedDataList = chunk.decode_list().unwrap();
            for d in l.timestamped_data {
                let times = read_timestamps(&d).unwrap();
                let w = if times.is_empty() {
                    0
                } else {
                    d.buffer.len() / times.len()
                };
                for (i, t) in times.into_iter().enumerate() {
                    out.push(Sample {
                        channels: vec![d.channel_id],
                        time: t,
                        value: d.buffer[i * w..(i + 1) * w].to_vec(),
                    });
                }
            }
        }
        DataKind::Row => {
            let l: RowDataList = chunk.decode_list().unwrap();
            for r in l.row_data {
                out.push(Sample {
                    channels: r.channel_ids,
                    time: r.timestamp,
                    value: r.buffer.to_vec(),
                });
            }
        }
        DataKind::Events => {
            let l: EventsList = chunk.decode_list().unwrap();
            for mut e in l.events {
                let time = e.timestamp;
                e.timestamp = 0;
                out.push(Sample {
                    channels: vec![],
                    time,
                    value: prost::Message::encode_to_vec(&e),
                });
            }
        }
    }
    out
}

pub fn all_samples(kind: DataKind, chunks: &[Chunk]) -> Vec<Sample> {
    chunks.iter().flat_map(|c| samples_of(kind, c)).collect()
}

/// Naive reading of a binding: the session channel of a data channel.
pub fn naive_map(b: &DataBinding, data: u32) -> Option<u32> {
    if b.data_channel_bindings.is_empty() {
        return Some(data);
    }
    for cb in &b.data_channel_bindings {
        let span = u64::from(cb.last_session_channel - cb.first_session_channel);
        let d = u64::from(data);
        let fd = u64::from(cb.first_data_channel);
        if d >= fd && d <= fd + span {
            return Some((d - fd + u64::from(cb.first_session_channel)) as u32);
        }
    }
    None
}

/// The naive reference: apply a binding sample by sample.
pub fn reference(
    kind: DataKind,
    b: &DataBinding,
    wanted: Option<&ChannelExpr>,
    input: &[Sample],
) -> Vec<Sample> {
    let (lo, hi) = b.session_window();
    let mut out = Vec::new();
    for s in input {
        let channels = if kind == DataKind::Events {
            vec![]
        } else {
            let mapped: Vec<Option<u32>> = s.channels.iter().map(|c| naive_map(b, *c)).collect();
            if mapped.iter().any(|m| m.is_none()) {
                continue;
            }
            let mapped: Vec<u32> = mapped.into_iter().flatten().collect();
            if let Some(w) = wanted {
                if !mapped.iter().any(|c| w.contains(*c)) {
                    continue;
                }
            }
            mapped
        };
        let t = s.time + b.session_time_offset;
        if t < lo || t > hi {
            continue;
        }
        out.push(Sample {
            channels,
            time: t,
            value: s.value.clone(),
        });
    }
    out
}

/// Groups samples by channel (row group / all events), keeping their order.
pub fn by_channel(samples: &[Sample]) -> BTreeMap<Vec<u32>, Vec<Sample>> {
    let mut m: BTreeMap<Vec<u32>, Vec<Sample>> = BTreeMap::new();
    for s in samples {
        m.entry(s.channels.clone()).or_default().push(s.clone());
    }
    m
}

/// Checks an output stream against the chunk constraints: chunk times match
/// the data, header channels match the results, lists within 4 MiB, chunks
/// in time order per channel without overlaps, and the stream survives the
/// wire codec.
pub fn check_valid(kind: DataKind, chunks: &[Chunk], events_ordered: bool) {
    let mut last_end: BTreeMap<Vec<u32>, i64> = BTreeMap::new();
    for c in chunks {
        assert!(c.start <= c.end, "chunk {}..{}", c.start, c.end);
        assert!(c.unpacked_length as usize <= MAX_LIST_BYTES);
        let (bounds, ids) = match kind {
            DataKind::Periodic => header_facts::<PeriodicDataList>(c),
            DataKind::Timestamped => header_facts::<TimestampedDataList>(c),
            DataKind::Row => header_facts::<RowDataList>(c),
            DataKind::Events => header_facts::<EventsList>(c),
        };
        assert_eq!(
            bounds,
            Some((c.start, c.end)),
            "chunk times must reflect its data"
        );
        let mut header = c.channel_ids.clone();
        header.sort_unstable();
        header.dedup();
        assert_eq!(header, ids, "header channels must match the results");
        let keys: Vec<Vec<u32>> = match kind {
            DataKind::Periodic | DataKind::Timestamped => ids.iter().map(|c| vec![*c]).collect(),
            DataKind::Row => vec![ids.clone()],
            DataKind::Events if events_ordered => vec![vec![]],
            DataKind::Events => vec![],
        };
        for key in keys {
            if let Some(prev) = last_end.get(&key) {
                assert!(
                    c.start > *prev,
                    "channel(s) {key:X?}: chunk at {} after one ending at {prev}",
                    c.start
                );
            }
            last_end.insert(key, c.end);
        }
    }
    let wire = ChunkEncoder::encode_all(chunks).unwrap();
    let back = ChunkDecoder::decode_all(wire).unwrap();
    assert_eq!(back, chunks);
}

fn header_facts<L: DataList>(c: &Chunk) -> (Option<(i64, i64)>, Vec<u32>) {
    let l: L = c.decode_list().unwrap();
    let mut ids: Vec<u32> = l
        .items()
        .iter()
        .flat_map(|i| i.channel_ids().to_vec())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    (list_time_bounds(&l), ids)
}

/// Parameters of a generated chunk stream.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub kind: DataKind,
    pub seed: u64,
    /// Data channels (periodic, timestamped) or first channels of row groups.
    pub channels: Vec<u32>,
    /// Results per channel.
    pub results: usize,
    /// Base time of the data.
    pub base: i64,
}

/// Generates a valid chunk stream: per channel, results in strictly
/// increasing time, grouped into chunks of 1-3 results with random
/// compression; channels interleaved at random.
pub fn gen_stream(spec: &StreamSpec) -> Vec<Chunk> {
    let mut rng = Rng::new(spec.seed);
    let mut per_channel: Vec<Vec<Chunk>> = Vec::new();
    let channels: Vec<u32> = if spec.kind == DataKind::Events {
        vec![0]
    } else {
        spec.channels.clone()
    };
    for &ch in &channels {
        let mut t = spec.base + rng.range(0, 3) * 1_000;
        let mut chunks = Vec::new();
        let mut left = spec.results.max(1);
        while left > 0 {
            let n = (rng.range(1, 3) as usize).min(left);
            left -= n;
            let comp = if rng.chance(50) {
                Compression::Lz4
            } else {
                Compression::None
            };
            let chunk = match spec.kind {
                DataKind::Periodic => {
                    let mut items = Vec::new();
                    for _ in 0..n {
                        let samples = rng.range(1, 6);
                        let interval = [1i64, 7, 1_000, 1_000_000][rng.below(4) as usize];
                        let width = if rng.chance(50) { 2 } else { 8 };
                        items.push(PeriodicData {
                            channel_id: ch,
                            start_timestamp: t,
                            interval,
                            samples: samples as i32,
                            buffer: Bytes::from(rng.bytes(width * samples as usize)),
                        });
                        t += (samples - 1) * interval + rng.range(1, 5_000);
                    }
                    Chunk::from_list(
                        &PeriodicDataList {
                            periodic_data: items,
                        },
                        comp,
                    )
                }
                DataKind::Timestamped => {
                    let mut items = Vec::new();
                    for _ in 0..n {
                        let samples = rng.range(1, 6) as usize;
                        let mut times = Vec::new();
                        for _ in 0..samples {
                            times.push(t);
                            t += rng.range(1, 3) * [1i64, 10, 1_000_000][rng.below(3) as usize];
                        }
                        let values: Vec<u16> = (0..samples).map(|_| rng.next() as u16).collect();
                        items.push(timestamped(ch, &times, &values).unwrap());
                    }
                    Chunk::from_list(
                        &TimestampedDataList {
                            timestamped_data: items,
                        },
                        comp,
                    )
                }
                DataKind::Row => {
                    let mut items = Vec::new();
                    for _ in 0..n {
                        items.push(RowData {
                            channel_ids: vec![ch, ch + 1, ch + 2],
                            timestamp: t,
                            buffer: Bytes::from(rng.bytes(6)),
                        });
                        t += rng.range(1, 2_000);
                    }
                    Chunk::from_list(&RowDataList { row_data: items }, comp)
                }
                DataKind::Events => {
                    let mut items = Vec::new();
                    for _ in 0..n {
                        items.push(Event {
                            event_definition_id: rng.below(5) as i32,
                            app_name: "app".into(),
                            timestamp: t,
                            status_text: format!("s{}", rng.below(100)),
                            raw_data: vec![rng.below(1000) as f64 / 8.0],
                        });
                        t += rng.range(1, 2_000);
                    }
                    Chunk::from_list(&EventsList { events: items }, comp)
                }
            };
            chunks.push(chunk.unwrap().unwrap());
            t += rng.range(1, 100);
        }
        per_channel.push(chunks);
    }
    // Interleave channels at random, keeping each channel's order.
    let mut out = Vec::new();
    let mut idx = vec![0usize; per_channel.len()];
    loop {
        let open: Vec<usize> = (0..per_channel.len())
            .filter(|&i| idx[i] < per_channel[i].len())
            .collect();
        if open.is_empty() {
            break;
        }
        let pick = open[rng.below(open.len() as u64) as usize];
        // Sometimes emit a whole channel's run at once (channel-major order).
        let run = if rng.chance(30) {
            per_channel[pick].len()
        } else {
            1
        };
        for _ in 0..run {
            if idx[pick] < per_channel[pick].len() {
                out.push(per_channel[pick][idx[pick]].clone());
                idx[pick] += 1;
            }
        }
    }
    out
}

/// Time span of the data of a stream.
pub fn span(chunks: &[Chunk]) -> (i64, i64) {
    let lo = chunks.iter().map(|c| c.start).min().unwrap_or(0);
    let hi = chunks.iter().map(|c| c.end).max().unwrap_or(0);
    (lo, hi)
}
