//! Worked examples of the spec's data pages, and property tests of the
//! data helpers and the chunk codec against simple reference models.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use prost::Message;
use rta_core::chunk::{
    Chunk, ChunkDecoder, ChunkEncoder, ChunkGrid, ChunkLimits, Chunker, Compression,
};
use rta_core::data::{
    decode_timestamps, encode_timestamps, periodic, periodic_timestamps, read_samples,
    read_timestamps, row, timestamped, write_samples, DataItem,
};
use rta_core::proto::data::{
    EventsList, PeriodicData, PeriodicDataList, RowDataList, TimestampedData, TimestampedDataList,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// 2021-05-04T11:50:55Z
const T0: i64 = 1_620_129_055_000_000_000;
const SEC: i64 = 1_000_000_000;

#[test]
fn timestamped_worked_example() {
    let times = [T0, T0 + 4 * SEC, T0 + 9 * SEC];
    let d = timestamped(16, &times, &[12.7f64, 14.9, 21.2]).unwrap();
    assert_eq!(d.channel_id, 16);
    assert_eq!(d.start_timestamp, 1_620_129_055_000_000_000);
    assert_eq!(d.timestamp_deltas_scale, 1_000_000_000);
    assert_eq!(d.timestamp_deltas, vec![0, 4, 5]);
    assert_eq!(
        &d.buffer[..],
        &hex("6666666666662940 CDCCCCCCCCCC2D40 3333333333333540")[..]
    );
    assert_eq!(read_timestamps(&d).unwrap(), times);
}

#[test]
fn periodic_worked_example_splits_in_two_bursts() {
    // 11:50:55 and 11:51:00 are 5 s apart; 11:51:10 skips a sample, so a new burst starts.
    let a = periodic(16, T0, 5 * SEC, &[12.7f64, 14.9]).unwrap();
    let b = periodic(16, T0 + 15 * SEC, 5 * SEC, &[21.2f64]).unwrap();
    assert_eq!(
        (a.start_timestamp, a.interval, a.samples),
        (1_620_129_055_000_000_000, 5_000_000_000, 2)
    );
    assert_eq!(&a.buffer[..], &hex("6666666666662940 CDCCCCCCCCCC2D40")[..]);
    assert_eq!(
        (b.start_timestamp, b.samples),
        (1_620_129_070_000_000_000, 1)
    );
    assert_eq!(&b.buffer[..], &hex("3333333333333540")[..]);

    // Splitting one three-sample burst at the gap gives the same two bursts' first part.
    let whole = periodic(16, T0, 5 * SEC, &[12.7f64, 14.9, 99.0]).unwrap();
    let (head, tail) = whole.split_at_time(T0 + 10 * SEC).unwrap();
    assert_eq!(head.unwrap(), a);
    assert_eq!(tail.unwrap().start_timestamp, T0 + 10 * SEC);
}

#[test]
fn row_worked_example() {
    let mut buf = Vec::new();
    buf.extend_from_slice(&12.7f64.to_le_bytes());
    buf.extend_from_slice(&234u16.to_le_bytes());
    buf.extend_from_slice(&0.7f32.to_le_bytes());
    let r = row(vec![16, 17, 18], T0, buf);
    assert_eq!(&r.buffer[..], &hex("6666666666662940 EA00 3333333F")[..]);
    assert_eq!(r.time_bounds(), Some((T0, T0)));
}

#[test]
fn split_shares_buffers() {
    let d = timestamped(1, &[10, 20, 35, 40], &[1u16, 2, 3, 4]).unwrap();
    let (a, b) = d.split_at_time(30).unwrap();
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(read_timestamps(&a).unwrap(), vec![10, 20]);
    assert_eq!(read_timestamps(&b).unwrap(), vec![35, 40]);
    assert_eq!(read_samples::<u16>(&b.buffer).unwrap(), vec![3, 4]);
    // Same allocation: the split sliced the buffer.
    assert_eq!(b.buffer.as_ptr(), d.buffer[4..].as_ptr());
}

#[test]
fn bad_data_is_rejected() {
    assert!(timestamped(1, &[10, 5], &[1u8, 2]).is_err());
    assert!(timestamped(1, &[10], &[1u8, 2]).is_err());
    assert!(read_samples::<f64>(&[0u8; 7]).is_err());
    assert!(decode_timestamps(i64::MAX - 1, 10, &[0, 1]).is_err());
    let bad = PeriodicData {
        samples: 3,
        buffer: Bytes::from_static(&[1, 2]),
        interval: 1,
        ..Default::default()
    };
    assert!(bad.validate().is_err());
    let neg = TimestampedData {
        timestamp_deltas: vec![0, -1],
        timestamp_deltas_scale: 1,
        buffer: vec![0, 0].into(),
        ..Default::default()
    };
    assert!(neg.validate().is_err());
}

#[test]
fn chunk_codec_roundtrip_and_deltas() {
    let lists: Vec<PeriodicDataList> = (0..4)
        .map(|i| PeriodicDataList {
            periodic_data: vec![periodic(7, i * 100 * SEC, SEC / 10, &[i as f64; 50]).unwrap()],
        })
        .collect();
    let chunks: Vec<Chunk> = lists
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Chunk::from_list(
                l,
                if i == 2 {
                    Compression::None
                } else {
                    Compression::Lz4
                },
            )
            .unwrap()
            .unwrap()
        })
        .collect();
    let wire = ChunkEncoder::encode_all(&chunks).unwrap();
    // First header: deltas relative to zero; length prefix is little-endian.
    let hlen = i32::from_le_bytes(wire[..4].try_into().unwrap()) as usize;
    let h = rta_core::proto::chunks::ChunkTransferHeader::decode(&wire[4..4 + hlen]).unwrap();
    assert_eq!(h.chunk_start_time_delta, 0);
    assert_eq!(h.chunk_duration_delta, 49 * SEC / 10);
    assert_eq!(h.compression_delta, 1);
    assert_eq!(h.channel_ids, vec![7]);
    let back = ChunkDecoder::decode_all(wire.clone()).unwrap();
    assert_eq!(back, chunks);
    for (c, l) in back.iter().zip(&lists) {
        assert_eq!(&c.decode_list::<PeriodicDataList>().unwrap(), l);
    }
    // Byte-at-a-time streaming gives the same chunks.
    let mut dec = ChunkDecoder::new();
    let mut got = Vec::new();
    for b in wire.iter() {
        dec.push(&[*b]);
        while let Some(c) = dec.next_chunk().unwrap() {
            got.push(c);
        }
    }
    dec.finish().unwrap();
    assert_eq!(got, chunks);
    // Truncation is detected.
    let mut dec = ChunkDecoder::new();
    dec.push(&wire[..wire.len() - 1]);
    while dec.next_chunk().unwrap().is_some() {}
    assert!(dec.finish().is_err());
}

#[test]
fn malformed_chunk_streams_error() {
    for bad in [
        vec![0xFF, 0xFF, 0xFF, 0xFF],    // negative header length
        vec![0x00, 0x00, 0x00, 0x7F],    // huge header length
        vec![0x02, 0, 0, 0, 0xFF, 0xFF], // garbage header
        vec![0x02, 0, 0, 0, 0x30, 0x01], // packed_length -1 as varint? field 6 = 1 byte
        vec![0x02, 0, 0, 0, 0x20, 0x05], // compression code 5
    ] {
        let r = ChunkDecoder::decode_all(Bytes::from(bad.clone()));
        assert!(r.is_err(), "accepted {bad:?}");
    }
    // A decoded chunk whose LZ4 payload is garbage fails at decode_list, not before.
    let c = Chunk {
        start: 0,
        end: 0,
        channel_ids: vec![],
        compression: Compression::Lz4,
        unpacked_length: 100,
        payload: Bytes::from_static(&[0xF0, 1, 2]),
    };
    assert!(c.decode_list::<EventsList>().is_err());
}

#[test]
fn grid_rounds_outwards() {
    let g = ChunkGrid::new(10 * SEC).unwrap();
    assert_eq!(
        g.round_out(Some(-1), Some(0)),
        (Some(-10 * SEC), Some(10 * SEC - 1))
    );
    assert!(ChunkGrid::new(0).is_err());
    assert!(ChunkGrid::new(1001 * SEC).is_err());
    assert_eq!(ChunkGrid::for_rate(1e6, 8192).period(), 5_000_000);
    assert_eq!(ChunkGrid::for_rate(0.001, 8192).period(), 1_000 * SEC);
}

#[test]
fn chunker_keeps_to_grid_and_limits() {
    let grid = ChunkGrid::new(SEC).unwrap();
    let limits = ChunkLimits {
        max_result_samples: 100,
        target_list_bytes: 4096,
        compression: Compression::Lz4,
    };
    let mut ch = Chunker::<PeriodicData>::new(grid, limits);
    let mut chunks = Vec::new();
    // 10 kHz for 3.5 s in bursts of 1000 samples.
    for b in 0..35 {
        let samples: Vec<u16> = (0..1000).map(|i| (b * 1000 + i) as u16).collect();
        chunks.extend(
            ch.push(periodic(3, b as i64 * SEC / 10, 100_000, &samples).unwrap())
                .unwrap(),
        );
    }
    chunks.extend(ch.flush().unwrap());
    let mut all = Vec::new();
    let mut prev_end = i64::MIN;
    for c in &chunks {
        assert!(c.start > prev_end, "chunks overlap");
        prev_end = c.end;
        assert_eq!(
            grid.cell_start(c.start),
            grid.cell_start(c.end),
            "chunk crosses a grid line"
        );
        let l: PeriodicDataList = c.decode_list().unwrap();
        assert!(l.encoded_len() <= 4096 + 300);
        for p in &l.periodic_data {
            assert!(p.samples <= 100);
            all.extend(
                periodic_timestamps(p)
                    .unwrap()
                    .into_iter()
                    .zip(read_samples::<u16>(&p.buffer).unwrap()),
            );
        }
    }
    let expect: Vec<(i64, u16)> = (0..35_000)
        .map(|i| (i as i64 * 100_000, i as u16))
        .collect();
    assert_eq!(all, expect);
    // Older results are refused.
    assert!(ch.push(periodic(3, 0, 100_000, &[1u16]).unwrap()).is_err());
}

#[test]
fn chunker_handles_rows_and_events() {
    let mut ch = Chunker::<rta_core::proto::data::RowData>::new(
        ChunkGrid::new(SEC).unwrap(),
        ChunkLimits::default(),
    );
    let mut out = Vec::new();
    for i in 0..30 {
        out.extend(
            ch.push(row(vec![1, 2], i * SEC / 10, vec![1, 2, 3]))
                .unwrap(),
        );
    }
    out.extend(ch.flush().unwrap());
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].channel_ids, vec![1, 2]);
    let total: usize = out
        .iter()
        .map(|c| c.decode_list::<RowDataList>().unwrap().row_data.len())
        .sum();
    assert_eq!(total, 30);
}

fn arb_times() -> impl Strategy<Value = Vec<i64>> {
    (
        any::<i32>(),
        prop::collection::vec(0i64..1_000_000, 0..200),
        1i64..1000,
    )
        .prop_map(|(start, gaps, mul)| {
            let mut t = i64::from(start) * 1000;
            let mut out = Vec::new();
            for g in gaps {
                t += g * mul;
                out.push(t);
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn timestamp_deltas_roundtrip(times in arb_times()) {
        let (start, scale, deltas) = encode_timestamps(&times).unwrap();
        prop_assert_eq!(decode_timestamps(start, scale, &deltas).unwrap(), times.clone());
        if !deltas.is_empty() { prop_assert_eq!(deltas[0], 0); }
        // The scale is the GCD: no larger scale divides every difference.
        for w in times.windows(2) { prop_assert_eq!((w[1] - w[0]) % scale, 0); }
    }

    #[test]
    fn evenly_spaced_times_encode_as_one_step(
        start in prop_oneof![any::<i64>(), Just(i64::MAX - 5)],
        step in prop_oneof![Just(0i64), 1i64..1_000_000, any::<i64>()],
        n in 2usize..50,
    ) {
        // Times as far as they go without passing i64::MAX (then out of order).
        let times: Vec<i64> = (0..n as i64)
            .map(|i| start.wrapping_add(step.wrapping_mul(i)))
            .collect();
        let in_order = times.windows(2).all(|w| w[1] >= w[0])
            && (i128::from(start) + i128::from(step) * (n as i128 - 1)) == i128::from(times[n - 1]);
        match encode_timestamps(&times) {
            Ok((s, scale, deltas)) => {
                prop_assert!(in_order, "{times:?} was accepted");
                prop_assert_eq!(s, start);
                prop_assert_eq!(decode_timestamps(s, scale, &deltas).unwrap(), times.clone());
                if step > 0 { prop_assert_eq!(scale, step); prop_assert!(deltas[1..].iter().all(|d| *d == 1)); }
            }
            Err(_) => prop_assert!(!in_order, "{times:?} was refused"),
        }
    }

    #[test]
    fn split_matches_reference(times in arb_times(), cut in any::<i64>()) {
        let samples: Vec<f64> = (0..times.len()).map(|i| i as f64 * 0.5).collect();
        let d = timestamped(9, &times, &samples).unwrap();
        let cut = if times.is_empty() { cut } else { times[0] + cut.rem_euclid((times[times.len()-1] - times[0]).max(1) + 2) - 1 };
        let (a, b) = d.split_at_time(cut).unwrap();
        let mut got: Vec<(i64, f64)> = Vec::new();
        for part in [a.as_ref(), b.as_ref()].into_iter().flatten() {
            got.extend(read_timestamps(part).unwrap().into_iter().zip(read_samples::<f64>(&part.buffer).unwrap()));
        }
        let expect: Vec<(i64, f64)> = times.iter().copied().zip(samples.iter().copied()).collect();
        prop_assert_eq!(got, expect);
        if let Some(a) = a { prop_assert!(read_timestamps(&a).unwrap().iter().all(|t| *t < cut)); }
        if let Some(b) = b { prop_assert!(read_timestamps(&b).unwrap().iter().all(|t| *t >= cut)); }
    }

    #[test]
    fn chunk_stream_roundtrip(items in prop::collection::vec((any::<u32>(), any::<i64>(), 0i64..1<<40, prop::collection::vec(any::<u8>(), 0..64), any::<bool>()), 0..20)) {
        let chunks: Vec<Chunk> = items.iter().map(|(ch, start, dur, payload, lz4)| {
            let list = TimestampedDataList { timestamped_data: vec![TimestampedData { channel_id: *ch, buffer: Bytes::from(payload.clone()), ..Default::default() }] };
            Chunk::encode(*start, start.saturating_add(*dur), vec![*ch], &list, if *lz4 { Compression::Lz4 } else { Compression::None }).unwrap()
        }).collect();
        let wire = ChunkEncoder::encode_all(&chunks).unwrap();
        let back = ChunkDecoder::decode_all(wire).unwrap();
        prop_assert_eq!(back.len(), chunks.len());
        for (a, b) in back.iter().zip(&chunks) {
            prop_assert_eq!(a, b);
            prop_assert_eq!(a.decode_list::<TimestampedDataList>().unwrap(), b.decode_list::<TimestampedDataList>().unwrap());
        }
    }

    #[test]
    fn chunk_decoder_never_panics(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut dec = ChunkDecoder::with_max_payload(1 << 16);
        dec.push(&data);
        while let Ok(Some(c)) = dec.next_chunk() {
            let _ = c.decode_list::<PeriodicDataList>();
        }
    }

    #[test]
    fn samples_roundtrip(v in prop::collection::vec(any::<i32>(), 0..100)) {
        prop_assert_eq!(read_samples::<i32>(&write_samples(&v)).unwrap(), v);
    }
}

#[test]
fn encoder_header_then_untouched_payload() {
    let list = PeriodicDataList {
        periodic_data: vec![periodic(1, 0, 10, &[1.0f32; 100]).unwrap()],
    };
    let c = Chunk::from_list(&list, Compression::Lz4).unwrap().unwrap();
    let mut enc = ChunkEncoder::new();
    let h = enc.header(&c).unwrap();
    let mut wire = BytesMut::from(&h[..]);
    wire.extend_from_slice(&c.payload);
    let back = ChunkDecoder::decode_all(wire.freeze()).unwrap();
    assert_eq!(back[0], c);
    assert_eq!(
        periodic_timestamps(
            &back[0]
                .decode_list::<PeriodicDataList>()
                .unwrap()
                .periodic_data[0]
        )
        .unwrap()
        .len(),
        100
    );
}

/// Validating a periodic item does not expand its timestamps: a few wire
/// bytes claiming i32::MAX samples are checked at once, and an overflow of
/// the last time is still found.
#[test]
fn periodic_validation_does_not_expand_timestamps() {
    use rta_core::data::DataItem;
    let huge = rta_core::proto::data::PeriodicData {
        channel_id: 1,
        start_timestamp: 0,
        interval: 1,
        samples: i32::MAX,
        buffer: bytes::Bytes::new(),
    };
    let t = std::time::Instant::now();
    let _ = huge.validate();
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
    let overflow = rta_core::proto::data::PeriodicData {
        start_timestamp: i64::MAX - 10,
        interval: 1_000,
        samples: 3,
        buffer: bytes::Bytes::from_static(&[1, 2, 3]),
        ..huge
    };
    let err = overflow.validate().unwrap_err().to_string();
    assert!(err.contains("overflow"), "{err}");
}
