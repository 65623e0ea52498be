//! The federated deployment (session, config, two data services and the
//! gateway, each a real server on loopback) read through the gateway for
//! every binding form of the spec's Data Bindings page; every timestamp and
//! value is checked against the reference the data was written from.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use rta_core::chunk::{Chunk, ChunkDecoder};
use rta_core::data::read_samples;
use rta_core::proto::data::{EventsList, PeriodicDataList};
use rta_core::proto::session_service::session_store_client::SessionStoreClient;
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_service::federation::{
    sample_value, Federation, FederationPorts, CHANNELS, EVENT_INTERVAL_NS, INTERVAL_NS, SECONDS,
    T0,
};

const MS: i64 = 1_000_000;

type Samples = BTreeMap<u32, Vec<(i64, f64)>>;

async fn chunks(url: &str) -> (u16, Vec<Chunk>) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    (
        status,
        ChunkDecoder::decode_all(resp.bytes().await.unwrap()).unwrap(),
    )
}

/// Periodic samples by session channel, and whether every chunk's header
/// bounds are exactly its samples' first and last times.
async fn periodic(gw: &str, session: &str, channels: &str) -> (Samples, bool) {
    let url = format!("{gw}/rta/v2/sessions/{session}/data/periodic/{channels}");
    let (status, chunks) = chunks(&url).await;
    assert_eq!(status, 200, "{url}");
    let mut out = Samples::new();
    let mut headers_match = true;
    for chunk in chunks {
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for p in chunk
            .decode_list::<PeriodicDataList>()
            .unwrap()
            .periodic_data
        {
            let values = read_samples::<f64>(&p.buffer).unwrap();
            let series = out.entry(p.channel_id).or_default();
            for (i, v) in values.into_iter().enumerate() {
                let t = p.start_timestamp + i as i64 * p.interval;
                lo = lo.min(t);
                hi = hi.max(t);
                series.push((t, v));
            }
        }
        headers_match &= (chunk.start, chunk.end) == (lo, hi);
    }
    (out, headers_match)
}

async fn events(gw: &str, session: &str) -> Vec<i64> {
    let (status, chunks) = chunks(&format!("{gw}/rta/v2/sessions/{session}/data/events")).await;
    assert_eq!(status, 200);
    let mut out: Vec<i64> = chunks
        .iter()
        .flat_map(|c| c.decode_list::<EventsList>().unwrap().events)
        .map(|e| e.timestamp)
        .collect();
    out.sort_unstable();
    out
}

/// The reference: data channel `ch` of `identity` over `[lo, hi]` (data
/// time), shifted by `offset` into session time.
fn reference(identity: &str, ch: u32, lo: i64, hi: i64, offset: i64) -> Vec<(i64, f64)> {
    let n = SECONDS * 1_000_000_000 / INTERVAL_NS;
    (0..n)
        .map(|i| T0 + i * INTERVAL_NS)
        .filter(|t| (lo..=hi).contains(t))
        .map(|t| (t + offset, sample_value(identity, ch, t)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_binding_form_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let fed = Federation::start(dir.path(), FederationPorts::any())
        .await
        .unwrap();
    let gw = fed.gateway_url();
    let all = (i64::MIN, i64::MAX);

    // A plain binding: every channel as written.
    let (got, _) = periodic(&gw, "fed-plain", "0-31").await;
    assert_eq!(got.len(), CHANNELS.0 as usize);
    for ch in 0..CHANNELS.0 {
        assert_eq!(
            got[&ch],
            reference("run-a", ch, all.0, all.1, 0),
            "channel {ch}"
        );
    }

    // Discontinuous time ranges: clipped exactly at both bounds (inclusive),
    // chunk headers rewritten to match.
    let (got, headers_match) = periodic(&gw, "fed-time-ranges", "7").await;
    let mut want = reference("run-a", 7, T0, T0 + 599_999_999, 0);
    want.extend(reference("run-a", 7, T0 + 900 * MS, T0 + 999_999_999, 0));
    assert_eq!(got[&7], want);
    assert!(
        headers_match,
        "a clipped chunk's header does not match its samples"
    );
    assert_eq!(
        events(&gw, "fed-time-ranges").await,
        [T0, T0 + EVENT_INTERVAL_NS, T0 + 2 * EVENT_INTERVAL_NS]
    );

    // A 300 ms session time offset: every timestamp moves, values do not.
    let (got, _) = periodic(&gw, "fed-time-shift", "5").await;
    assert_eq!(got[&5], reference("run-a", 5, all.0, all.1, 300 * MS));
    let shifted: Vec<i64> = (0..8)
        .map(|i| T0 + 300 * MS + i * EVENT_INTERVAL_NS)
        .collect();
    assert_eq!(events(&gw, "fed-time-shift").await, shifted);

    // Two sources: 0-49 from alpha as they are, 50-59 from beta shifted.
    let (got, _) = periodic(&gw, "fed-multi-source", "0-3B").await;
    assert_eq!(got.len(), (CHANNELS.0 + CHANNELS.1) as usize);
    for ch in 0..CHANNELS.0 {
        assert_eq!(
            got[&ch],
            reference("run-a", ch, all.0, all.1, 0),
            "channel {ch}"
        );
    }
    for ch in CHANNELS.0..CHANNELS.0 + CHANNELS.1 {
        let data_ch = ch - CHANNELS.0;
        assert_eq!(
            got[&ch],
            reference("run-b", data_ch, all.0, all.1, 0),
            "channel {ch}"
        );
    }

    // Sessions and configs come through too; bindings stay private.
    let s: serde_json::Value = reqwest::get(format!("{gw}/rta/v2/sessions/fed-multi-source"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["configBindings"][1]["channelOffset"], 50, "{s}");
    let r = reqwest::get(format!("{gw}/rta/v2/configs/fed-config-b"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::get(format!("{gw}/rta/v2/sessions/fed-plain/data-bindings"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body = reqwest::get(format!("{gw}/rta/v2/sessions/fed-multi-source"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!body.contains("run-b") && !body.contains("beta"), "{body}");

    // A session with no bindings has no data: 404.
    let mut sessions = SessionStoreClient::connect(fed.sessions.grpc_uri().unwrap())
        .await
        .unwrap();
    sessions
        .create_or_update_session(SessionRequest::new("fed-unbound", SessionState::Closed).build())
        .await
        .unwrap();
    let (status, _) = chunks(&format!("{gw}/rta/v2/sessions/fed-unbound/data/periodic/0")).await;
    assert_eq!(status, 404);

    // A data service down: its sessions answer 502, the others still read.
    let Federation {
        sessions: s_srv,
        configs,
        alpha,
        beta,
        gateway,
    } = fed;
    beta.stop().await.unwrap();
    let (status, _) = chunks(&format!(
        "{gw}/rta/v2/sessions/fed-multi-source/data/periodic/32"
    ))
    .await;
    assert_eq!(status, 502);
    let (got, _) = periodic(&gw, "fed-plain", "0").await;
    assert_eq!(got[&0].len(), 200);
    gateway.stop().await.unwrap();
    alpha.stop().await.unwrap();
    configs.stop().await.unwrap();
    s_srv.stop().await.unwrap();
}
