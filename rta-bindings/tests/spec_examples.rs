//! The examples of the spec's Data Bindings page and tutorials, end to end:
//! bindings -> plan -> data service responses -> transformed, merged stream.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::{all_samples, check_valid, Sample};
use futures::executor::block_on;
use futures::StreamExt;
use rta_bindings::{DataBinding, Error, SessionBindings, SessionRequest, Transform, Transformer};
use rta_core::channels::ChannelExpr;
use rta_core::chunk::{Chunk, Compression};
use rta_core::data::{periodic, periodic_timestamps, DataKind};
use rta_core::proto::data::PeriodicDataList;
use rta_core::service::{ChunkStream, DataService};

/// 2021-05-04 11:50:55 UTC, as in the spec's data examples.
const T0: i64 = 1_620_129_055_000_000_000;
const MS: i64 = 1_000_000;

/// A 1 kHz periodic channel over `from..from + ms` milliseconds, in chunks of
/// 100 samples (100 ms), values = sample index as f64.
fn kilohertz(channel: u32, from: i64, ms: i64, compression: Compression) -> Vec<Chunk> {
    (0..ms / 100)
        .map(|k| {
            let values: Vec<f64> = (0..100).map(|i| (k * 100 + i) as f64).collect();
            let list = PeriodicDataList {
                periodic_data: vec![periodic(channel, from + k * 100 * MS, MS, &values).unwrap()],
            };
            Chunk::from_list(&list, compression).unwrap().unwrap()
        })
        .collect()
}

fn collect(stream: rta_bindings::BindingStream) -> Vec<Chunk> {
    block_on(stream.map(|c| c.unwrap()).collect())
}

fn respond(chunks: Vec<Chunk>) -> ChunkStream {
    futures::stream::iter(chunks.into_iter().map(Ok)).boxed()
}

/// A data service serving fixed chunks, filtered by channel and time like a real one.
struct Source(Vec<Chunk>);

#[async_trait::async_trait]
impl DataService for Source {
    async fn read(&self, req: rta_core::service::DataRequest) -> rta_core::Result<ChunkStream> {
        let chunks: Vec<Chunk> = self
            .0
            .iter()
            .filter(|c| match &req.channels {
                Some(e) => c.channel_ids.iter().any(|id| e.contains(*id)),
                None => true,
            })
            .filter(|c| {
                req.start.is_none_or(|s| c.end >= s) && req.end.is_none_or(|e| c.start <= e)
            })
            .cloned()
            .collect();
        Ok(respond(chunks))
    }
}

#[test]
fn time_shift_of_300_ms() {
    // "the session time is 300 milliseconds later than the data time"
    let bindings = SessionBindings::new(vec![
        DataBinding::new("influx01", "someField='abc123'").with_offset(300_000_000)
    ])
    .unwrap();
    let data = kilohertz(0, T0, 1_000, Compression::Lz4);
    let plan = bindings
        .plan(
            &SessionRequest::channels(DataKind::Periodic, ChannelExpr::single(0))
                .with_bounds(Some(T0 + 300 * MS), None),
        )
        .unwrap();
    // The data service is asked in data time.
    assert_eq!(plan.parts[0].request.start, Some(T0));
    let out = collect(plan.merge(vec![respond(data.clone())]).unwrap());
    assert_eq!(out.len(), data.len());
    for (o, i) in out.iter().zip(&data) {
        assert_eq!((o.start, o.end), (i.start + 300 * MS, i.end + 300 * MS));
        let a: PeriodicDataList = o.decode_list().unwrap();
        let b: PeriodicDataList = i.decode_list().unwrap();
        let ta = periodic_timestamps(&a.periodic_data[0]).unwrap();
        let tb = periodic_timestamps(&b.periodic_data[0]).unwrap();
        assert!(ta.iter().zip(&tb).all(|(x, y)| *x == y + 300 * MS));
        assert_eq!(a.periodic_data[0].buffer, b.periodic_data[0].buffer);
    }
    check_valid(DataKind::Periodic, &out, true);
}

#[test]
fn composite_session_from_two_sources() {
    // Channels 0-49 from influx01, 50-59 from data channels 0-9 of influx07.
    let bindings = SessionBindings::new(vec![
        DataBinding::new("influx01", "someField='abc123'").with_channels(0, 0, 49),
        DataBinding::new("influx07", "someOtherField='xxxyyyzzz'").with_channels(0, 50, 59),
    ])
    .unwrap();
    let first: Vec<Chunk> = (0..3)
        .flat_map(|c| kilohertz(c, T0, 300, Compression::Lz4))
        .collect();
    let second: Vec<Chunk> = (0..3)
        .flat_map(|c| kilohertz(c, T0, 300, Compression::None))
        .collect();
    let services: Vec<(&str, Arc<dyn DataService>)> = vec![
        ("influx01", Arc::new(Source(first.clone()))),
        ("influx07", Arc::new(Source(second.clone()))),
    ];
    // ATLAS asks for session channels 0-59 (0-3B in hex).
    let req = SessionRequest::channels(DataKind::Periodic, "0-3B".parse().unwrap());
    let plan = bindings.plan(&req).unwrap();
    assert_eq!(
        plan.parts[0].request.channels.as_ref().unwrap().to_string(),
        "-31"
    );
    assert_eq!(
        plan.parts[1].request.channels.as_ref().unwrap().to_string(),
        "-9"
    );
    let stream =
        block_on(plan.execute(|src| services.iter().find(|s| s.0 == src).map(|s| s.1.clone())))
            .unwrap();
    let out = collect(stream);
    assert_eq!(out.len(), first.len() + second.len());
    // The first source is proxied unchanged: same buffers.
    for c in &first {
        assert!(out.iter().any(|o| o.payload.as_ptr() == c.payload.as_ptr()));
    }
    // The second is shifted onto 50-59, sample for sample.
    let shifted: Vec<Sample> = all_samples(DataKind::Periodic, &out)
        .into_iter()
        .filter(|s| s.channels[0] >= 50)
        .collect();
    let original = all_samples(DataKind::Periodic, &second);
    assert_eq!(shifted.len(), original.len());
    for (s, o) in shifted.iter().zip(&original) {
        assert_eq!(s.channels[0], o.channels[0] + 50);
        assert_eq!((s.time, &s.value), (o.time, &o.value));
    }
    check_valid(DataKind::Periodic, &out, true);

    // An unknown source is a clear error.
    let plan = bindings.plan(&req).unwrap();
    let err = block_on(plan.execute(|_| None)).err().unwrap();
    assert!(err.to_string().contains("influx01"), "{err}");
}

#[test]
fn two_time_windows_of_one_source() {
    let start = T0;
    let bindings = SessionBindings::new(vec![
        DataBinding::new("influx01", "someField='abc123'")
            .with_time_ref(start)
            .with_session_range(Some(start), Some(start + 599_999_999)),
        DataBinding::new("influx01", "someField='abc123'")
            .with_time_ref(start + 900_000_000)
            .with_session_range(Some(start + 900_000_000), Some(start + 999_999_999)),
    ])
    .unwrap();
    // 1.2 s of data from 0.05 s before the session start: chunk edges fall
    // inside both windows, so edge chunks straddle the bounds.
    let data = kilohertz(3, start - 50 * MS, 1_200, Compression::Lz4);
    let plan = bindings
        .plan(&SessionRequest::channels(
            DataKind::Periodic,
            ChannelExpr::all(),
        ))
        .unwrap();
    assert_eq!(plan.parts.len(), 2);
    let out = collect(
        plan.merge(vec![respond(data.clone()), respond(data.clone())])
            .unwrap(),
    );
    let times: Vec<i64> = all_samples(DataKind::Periodic, &out)
        .iter()
        .map(|s| s.time)
        .collect();
    let want: Vec<i64> = (0..1_200)
        .map(|i| start - 50 * MS + i * MS)
        .filter(|t| {
            (start..=start + 599_999_999).contains(t)
                || (start + 900 * MS..=start + 999_999_999).contains(t)
        })
        .collect();
    assert_eq!(times, want);
    // Chunks wholly inside a window pass through; only edge chunks are rebuilt.
    let shared = out
        .iter()
        .filter(|o| {
            data.iter()
                .any(|d| d.payload.as_ptr() == o.payload.as_ptr())
        })
        .count();
    assert_eq!(shared, 5, "chunks 1-5 lie inside the first window");
    check_valid(DataKind::Periodic, &out, true);
}

#[test]
fn binding_without_channel_bindings_binds_every_channel_unchanged() {
    // The tutorials bind a session with only a key, and expect data to appear.
    let bindings = SessionBindings::new(vec![DataBinding::new("rta-datasvc", "guid")]).unwrap();
    let data: Vec<Chunk> = [0u32, 7, 0x1234, u32::MAX]
        .iter()
        .flat_map(|c| kilohertz(*c, T0, 200, Compression::Lz4))
        .collect();
    let plan = bindings
        .plan(&SessionRequest::channels(
            DataKind::Periodic,
            ChannelExpr::all(),
        ))
        .unwrap();
    assert!(plan.parts[0].transform.is_identity());
    assert_eq!(plan.parts[0].request.channels, Some(ChannelExpr::all()));
    let out = collect(plan.merge(vec![respond(data.clone())]).unwrap());
    assert_eq!(out, data);
    for (o, d) in out.iter().zip(&data) {
        assert_eq!(o.payload.as_ptr(), d.payload.as_ptr());
    }
    // Events take the same binding.
    let ev = bindings.plan(&SessionRequest::events()).unwrap();
    assert_eq!(ev.parts.len(), 1);
}

#[test]
fn passed_through_chunks_share_their_buffer() {
    let data = kilohertz(1, T0, 1_000, Compression::Lz4);
    // A clip whose bounds fall inside chunks 2 and 7: the rest pass through.
    let t = Transform::new(DataKind::Periodic).with_clip(Some(T0 + 250 * MS), Some(T0 + 749 * MS));
    let mut tr = Transformer::new(t);
    let mut out = Vec::new();
    for c in data.iter().cloned() {
        tr.push(c, &mut out).unwrap();
    }
    let st = tr.stats();
    // The start bound needs a decode; the end bound cuts the LZ4 block.
    assert_eq!((st.dropped, st.passed, st.decoded, st.cut), (4, 4, 1, 1));
    assert_eq!(out.len(), 6);
    for o in &out[1..5] {
        let src = data.iter().find(|d| d.start == o.start).unwrap();
        assert_eq!(o.payload.as_ptr(), src.payload.as_ptr());
        assert_eq!(o.payload.len(), src.payload.len());
    }
    assert_eq!(out[0].start, T0 + 250 * MS);
    assert_eq!(out[5].end, T0 + 749 * MS);
    check_valid(DataKind::Periodic, &out, true);
}

#[test]
fn spec_json_example_parses() {
    let json = r#"[
    {
        "key": { "source": "influx01", "identity": "someField='abc123'", "timeRef": 0 },
        "sessionStartTime": null, "sessionEndTime": null, "sessionTimeOffset": 0,
        "dataChannelBindings": [ { "firstDataChannel": 0, "firstSessionChannel": 0, "lastSessionChannel": 49 } ]
    },
    {
        "key": { "source": "influx07", "identity": "someOtherField='xxxyyyzzz'", "timeRef": 0 },
        "sessionStartTime": null, "sessionEndTime": null, "sessionTimeOffset": 0,
        "dataChannelBindings": [ { "firstDataChannel": 0, "firstSessionChannel": 50, "lastSessionChannel": 59 } ]
    }
]"#;
    let b = SessionBindings::from_json(json).unwrap();
    assert_eq!(b.bindings().len(), 2);
    assert_eq!(b.bindings()[1].data_channel_of(59), Some(9));
    let protos: Vec<_> = b.bindings().iter().map(|x| x.to_proto()).collect();
    assert_eq!(SessionBindings::from_proto(&protos).unwrap(), b);
}

#[test]
fn bad_bindings_are_rejected() {
    let overlap = SessionBindings::new(vec![
        DataBinding::new("influx01", "a").with_channels(0, 0, 49),
        DataBinding::new("influx07", "b").with_channels(0, 40, 59),
    ])
    .unwrap_err();
    assert!(matches!(overlap, Error::Conflict { .. }));
    let msg = overlap.to_string();
    assert!(
        msg.contains("influx01:a@0") && msg.contains("influx07:b@0") && msg.contains("28-31"),
        "{msg}"
    );

    let reversed = SessionBindings::new(vec![
        DataBinding::new("influx01", "a").with_session_range(Some(T0 + 1), Some(T0))
    ])
    .unwrap_err();
    assert!(matches!(reversed, Error::InvalidBinding { .. }));
    assert!(
        reversed.to_string().contains("ends before it starts"),
        "{reversed}"
    );

    // An all-channel binding and a channel binding over the same time conflict.
    let all = SessionBindings::new(vec![
        DataBinding::new("influx01", "a"),
        DataBinding::new("influx07", "b").with_channels(0, 50, 59),
    ])
    .unwrap_err();
    assert!(all.to_string().contains("every channel"), "{all}");
    assert!(all.is_client_error());
    let core: rta_core::Error = all.into();
    assert_eq!(core.http_status(), 400);
}

#[test]
fn partial_row_groups_are_an_error_not_a_silent_loss() {
    use rta_core::proto::data::{RowData, RowDataList};
    let list = RowDataList {
        row_data: vec![RowData {
            channel_ids: vec![8, 9],
            timestamp: T0,
            buffer: vec![0u8; 4].into(),
        }],
    };
    let chunk = Chunk::from_list(&list, Compression::Lz4).unwrap().unwrap();
    let b = DataBinding::new("s", "d").with_channels(9, 109, 120);
    let mut tr = Transformer::new(Transform::for_binding(&b, DataKind::Row));
    let err = tr.push(chunk, &mut Vec::new()).unwrap_err();
    assert!(
        err.to_string().contains("row group must be bound whole"),
        "{err}"
    );
}

#[test]
fn oversized_rewrites_are_split() {
    // A list just under 4 MiB of one-sample results on channel 0 (left out
    // of the encoding): shifting it to channel 0x4000 adds 3 bytes a result.
    let mut items = Vec::new();
    let mut len = 0;
    let mut k = 0i64;
    while len < rta_core::chunk::MAX_LIST_BYTES - 64 {
        let p = periodic(0, T0 + k, 1, &[k as u16]).unwrap();
        len += prost::Message::encoded_len(&p) + 2;
        items.push(p);
        k += 1;
    }
    let list = PeriodicDataList {
        periodic_data: items,
    };
    let chunk = Chunk::from_list(&list, Compression::Lz4).unwrap().unwrap();
    assert!(chunk.unpacked_length as usize <= rta_core::chunk::MAX_LIST_BYTES);
    let b = DataBinding::new("s", "d").with_channels(0, 0x4000, 0x4000);
    let mut tr = Transformer::new(Transform::for_binding(&b, DataKind::Periodic));
    let mut out = Vec::new();
    tr.push(chunk.clone(), &mut out).unwrap();
    assert!(out.len() >= 2, "split into {} chunks", out.len());
    check_valid(DataKind::Periodic, &out, true);
    let got = all_samples(DataKind::Periodic, &out);
    assert_eq!(got.len(), k as usize);
    assert!(got.iter().all(|s| s.channels == [0x4000]));
}
