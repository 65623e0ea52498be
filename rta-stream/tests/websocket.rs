//! The WebSocket service end to end: writer -> Redis -> reader -> service ->
//! client, against a real `redis-server`, plus the in-process hub.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::SinkExt;
use rta_core::data::{periodic_timestamps, read_samples, read_timestamps};
use rta_core::proto::data::PeriodicData;
use rta_core::proto::stream::{stream_data, StreamData, StreamDataBurst};
use rta_stream::demo::{self, DemoOptions};
use rta_stream::metrics::Metrics;
use rta_stream::service::{router, ServiceOptions, StreamService};
use rta_stream::writer::{SessionWriter, StreamBuffer, WriterOptions};
use rta_stream::{HubOptions, LiveHub, RedisLiveSource, RedisSourceOptions};
use tokio_tungstenite::tungstenite::Message;

use common::{connect, next, next_burst, subscribe, Got, RedisServer, Ws};

const WAIT: Duration = Duration::from_secs(5);
const START: i64 = 1_700_000_000_000_000_000;

async fn redis_service(
    redis: &RedisServer,
    opts: ServiceOptions,
) -> (std::net::SocketAddr, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let src = RedisLiveSource::connect(
        &redis.url(),
        None,
        RedisSourceOptions {
            block: Duration::from_millis(200),
            ..Default::default()
        },
        metrics.clone(),
    )
    .await
    .unwrap();
    let svc = StreamService::with_metrics(Arc::new(src), opts, metrics.clone());
    (common::serve(router(svc)).await, metrics)
}

fn demo_opts(identity: &str) -> DemoOptions {
    DemoOptions {
        identity: identity.into(),
        stream: "demo".into(),
        duration: Duration::from_secs(1),
        fast: true,
        start_ns: START,
    }
}

async fn open_session(buffer: &StreamBuffer, identity: &str) -> SessionWriter {
    let w = buffer.init_session(identity, "demo").await.unwrap();
    w.write_session_json(demo::session_json(&demo_opts(identity), "open", None))
        .await
        .unwrap();
    w.flush().await.unwrap();
    w
}

/// Everything a client has received, by kind.
#[derive(Default, Debug)]
struct Received {
    json: Vec<String>,
    ranges: Vec<(i64, i64)>,
    /// channel -> (time, value as f64)
    samples: BTreeMap<u32, Vec<(i64, f64)>>,
    events: Vec<(i64, String)>,
}

impl Received {
    fn add(&mut self, b: StreamDataBurst) {
        for it in b.data {
            match it.data.unwrap() {
                stream_data::Data::SessionJson(j) => self.json.push(j),
                stream_data::Data::TimeRange(r) => self.ranges.push((r.start_time, r.end_time)),
                stream_data::Data::TimestampedData(d) => {
                    let t = read_timestamps(&d).unwrap();
                    let v = read_samples::<f64>(&d.buffer).unwrap();
                    let e = self.samples.entry(d.channel_id).or_default();
                    e.extend(t.into_iter().zip(v));
                }
                stream_data::Data::PeriodicData(d) => {
                    let t = periodic_timestamps(&d).unwrap();
                    let v = read_samples::<u16>(&d.buffer).unwrap();
                    let e = self.samples.entry(d.channel_id).or_default();
                    e.extend(t.into_iter().zip(v.into_iter().map(f64::from)));
                }
                stream_data::Data::RowData(_) => panic!("no rows in the demo"),
                stream_data::Data::Event(e) => self.events.push((e.timestamp, e.status_text)),
            }
        }
    }
}

/// Reads until `done` holds or the connection ends.
async fn collect_until(ws: &mut Ws, got: &mut Received, done: impl Fn(&Received) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(got) {
        assert!(
            Instant::now() < deadline,
            "timed out; got {:?}",
            got.samples.keys()
        );
        match next(ws, WAIT).await {
            Got::Burst(b) => got.add(b),
            other => panic!("connection ended early: {other:?}"),
        }
    }
}

/// Checks the exact values of the demo's channels for `steps` steps.
fn check_demo_values(got: &Received, channels: &[u32], steps: i64) {
    for &ch in channels {
        let s = &got.samples[&ch];
        if ch == demo::PERIODIC_CHANNEL {
            let n = steps * (demo::STEP_NS / demo::PERIODIC_INTERVAL_NS);
            assert_eq!(s.len() as i64, n, "channel {ch}");
            for (i, (t, v)) in s.iter().enumerate() {
                assert_eq!(*t, START + i as i64 * demo::PERIODIC_INTERVAL_NS);
                assert_eq!(*v, f64::from(demo::periodic_value(i as i64)));
            }
        } else {
            let n = steps * (demo::STEP_NS / demo::TIMESTAMPED_INTERVAL_NS);
            assert_eq!(s.len() as i64, n, "channel {ch}");
            for (i, (t, v)) in s.iter().enumerate() {
                let rel = i as i64 * demo::TIMESTAMPED_INTERVAL_NS;
                assert_eq!(*t, START + rel);
                assert_eq!(v.to_bits(), demo::timestamped_value(ch, rel).to_bits());
            }
        }
    }
}

#[tokio::test]
async fn http_errors() {
    let redis = RedisServer::start();
    let (addr, _) = redis_service(&redis, ServiceOptions::default()).await;
    let path = "/rta/v2/sessions/abc/stream";
    let (status, _) = common::http_get(addr, path, &[]).await;
    assert_eq!(status, 400, "not an upgrade");
    let upgrade = [
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ];
    let (status, _) = common::http_get(addr, path, &upgrade).await;
    assert_eq!(status, 406, "no subprotocol");
    let mut other = upgrade.to_vec();
    other.push("Sec-WebSocket-Protocol: chat, superchat");
    assert_eq!(common::http_get(addr, path, &other).await.0, 406);
    let mut ok = upgrade.to_vec();
    ok.push("Sec-WebSocket-Protocol: chat, mat.ocs.rta.stream-lz4");
    assert_eq!(common::http_get(addr, path, &ok).await.0, 101);

    // Monitoring (`/`, `/health`, `/metrics`) is rta-service's: see its
    // stream_service test.
}

#[tokio::test]
async fn unknown_or_unready_session_is_closed_normally() {
    let redis = RedisServer::start();
    let (addr, _) = redis_service(&redis, ServiceOptions::default()).await;
    let mut ws = connect(addr, "nobody").await;
    assert!(matches!(next(&mut ws, WAIT).await, Got::Close(Some(1000))));
    // Registered but no JSON yet: not streamable either.
    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    let _w = buffer.init_session("nojson", "demo").await.unwrap();
    let mut ws = connect(addr, "nojson").await;
    assert!(matches!(next(&mut ws, WAIT).await, Got::Close(Some(1000))));
}

#[tokio::test]
async fn round_trip_with_exact_values() {
    let redis = RedisServer::start();
    let (addr, metrics) = redis_service(&redis, ServiceOptions::default()).await;
    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    let w = open_session(&buffer, "rt").await;
    let mut ws = connect(addr, "rt").await;
    // First message: only the session JSON.
    let first = next_burst(&mut ws, WAIT).await;
    assert_eq!(first.data.len(), 1);
    assert_eq!(
        first.data[0].data,
        Some(stream_data::Data::SessionJson(demo::session_json(
            &demo_opts("rt"),
            "open",
            None
        )))
    );
    subscribe(&mut ws, true, true, &[]).await;
    // Give the subscription time to land before data is written (live only).
    tokio::time::sleep(Duration::from_millis(100)).await;
    let steps = 10;
    for step in 0..steps {
        demo::write_step(&w, START, step).await.unwrap();
    }
    let end = START + steps * demo::STEP_NS - demo::PERIODIC_INTERVAL_NS;
    let closed = demo::session_json(&demo_opts("rt"), "closed", Some(end));
    w.write_session_json(closed.clone()).await.unwrap();
    w.close().await.unwrap();

    let mut got = Received::default();
    collect_until(&mut ws, &mut got, |g| {
        g.json.len() == 1 && g.ranges.last().is_some_and(|r| r.1 == end)
    })
    .await;
    assert_eq!(got.json, [closed]);
    check_demo_values(&got, &[0, 1, 2, 3], steps);
    assert_eq!(
        got.events,
        [(START, "second 0".to_string())],
        "one event per second"
    );
    assert!(got.ranges.iter().all(|r| r.0 == START));
    assert_eq!(metrics.clients(), 1);

    // Close handshake started by the client is answered by the server.
    ws.send(Message::Close(None)).await.unwrap();
    loop {
        match next(&mut ws, WAIT).await {
            Got::Close(_) | Got::End => break,
            Got::Burst(_) => continue,
        }
    }
    let deadline = Instant::now() + WAIT;
    while metrics.clients() != 0 {
        assert!(Instant::now() < deadline, "server kept the connection");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn late_join_back_fills_subscribed_channels_only() {
    let redis = RedisServer::start();
    let (addr, metrics) = redis_service(&redis, ServiceOptions::default()).await;
    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    // Another session interleaved in the same stream must not leak in.
    let other = open_session(&buffer, "other").await;
    let w = open_session(&buffer, "late").await;
    for step in 0..20 {
        demo::write_step(&w, START, step).await.unwrap();
        demo::write_step(&other, START + 7, step).await.unwrap();
    }
    w.flush().await.unwrap();
    other.flush().await.unwrap();

    let mut ws = connect(addr, "late").await;
    let first = next_burst(&mut ws, WAIT).await;
    assert!(matches!(
        first.data[0].data,
        Some(stream_data::Data::SessionJson(_))
    ));
    subscribe(&mut ws, false, false, &[1]).await;
    let mut got = Received::default();
    collect_until(&mut ws, &mut got, |g| {
        g.samples.get(&1).is_some_and(|s| s.len() == 200)
    })
    .await;
    // Now live data follows the back-fill without a gap.
    for step in 20..25 {
        demo::write_step(&w, START, step).await.unwrap();
    }
    w.flush().await.unwrap();
    collect_until(&mut ws, &mut got, |g| {
        g.samples.get(&1).is_some_and(|s| s.len() == 250)
    })
    .await;
    check_demo_values(&got, &[1], 25);
    assert_eq!(
        got.samples.len(),
        1,
        "only channel 1: {:?}",
        got.samples.keys()
    );
    assert!(got.events.is_empty());
    assert!(metrics.backfill_bursts() > 0);
    w.close().await.unwrap();
    other.close().await.unwrap();
}

#[tokio::test]
async fn widening_subscription_back_fills_what_it_adds() {
    let hub = LiveHub::new(HubOptions::default());
    let svc = StreamService::new(hub.clone(), ServiceOptions::default());
    let addr = common::serve(router(svc)).await;
    let id = "wide";
    hub.publish_session_json(id, "{\"identity\":\"wide\"}")
        .unwrap();
    hub.publish_time_range(id, 0, 10).unwrap();
    let p = |ch: u32, t: i64| StreamData {
        data: Some(stream_data::Data::PeriodicData(PeriodicData {
            channel_id: ch,
            start_timestamp: t,
            interval: 1,
            samples: 1,
            buffer: vec![ch as u8, 0].into(),
        })),
    };
    let ev = |t: i64| StreamData {
        data: Some(stream_data::Data::Event(rta_core::proto::data::Event {
            timestamp: t,
            status_text: format!("e{t}"),
            ..Default::default()
        })),
    };
    hub.publish(id, vec![p(3, 1), p(4, 1), ev(1)]).unwrap();
    let mut ws = connect(addr, id).await;
    let first = next_burst(&mut ws, WAIT).await;
    assert_eq!(first.data.len(), 1);
    // The time range comes next, without any subscription.
    let second = next_burst(&mut ws, WAIT).await;
    assert!(matches!(
        second.data[..],
        [StreamData {
            data: Some(stream_data::Data::TimeRange(_))
        }]
    ));
    subscribe(&mut ws, false, false, &[3]).await;
    let mut got = Received::default();
    collect_until(&mut ws, &mut got, |g| g.samples.contains_key(&3)).await;
    hub.publish(id, vec![p(3, 2), p(4, 2), ev(2)]).unwrap();
    collect_until(&mut ws, &mut got, |g| g.samples[&3].len() == 2).await;
    subscribe(&mut ws, true, false, &[]).await;
    collect_until(&mut ws, &mut got, |g| g.events.len() == 2).await;
    hub.publish(id, vec![p(3, 3), p(4, 3), ev(3)]).unwrap();
    collect_until(&mut ws, &mut got, |g| g.events.len() == 3).await;
    assert_eq!(
        got.events.iter().map(|e| e.0).collect::<Vec<_>>(),
        [1, 2, 3],
        "events back-filled once, then live"
    );
    assert_eq!(
        got.samples[&3].iter().map(|s| s.0).collect::<Vec<_>>(),
        [1, 2, 3],
        "channel 3 not repeated by the widening"
    );
    assert!(!got.samples.contains_key(&4), "channel 4 never subscribed");
    // Server-initiated close when the session goes away: code 1000.
    hub.remove_session(id);
    loop {
        match next(&mut ws, WAIT).await {
            Got::Close(code) => {
                assert_eq!(code, Some(1000));
                break;
            }
            Got::Burst(_) => continue,
            Got::End => panic!("no close frame"),
        }
    }
    // The client's reply completes the handshake; the stream then ends.
    assert!(matches!(next(&mut ws, WAIT).await, Got::End));
}

#[tokio::test]
async fn time_range_rate_between_1_and_10_hz() {
    let hub = LiveHub::new(HubOptions::default());
    let svc = StreamService::new(hub.clone(), ServiceOptions::default());
    let addr = common::serve(router(svc)).await;
    hub.publish_session_json("tr", "{}").unwrap();
    hub.publish_time_range("tr", 0, 0).unwrap();
    let mut ws = connect(addr, "tr").await;
    next_burst(&mut ws, WAIT).await;
    // 100 Hz updates for 1 s: coalesced to at most 10 Hz.
    let pub_hub = hub.clone();
    let feeder = tokio::spawn(async move {
        for i in 1..=100 {
            pub_hub.publish_time_range("tr", 0, i).unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let t = Instant::now();
    let mut got = Received::default();
    while t.elapsed() < Duration::from_millis(1000) {
        if let Got::Burst(b) = next(&mut ws, WAIT).await {
            got.add(b);
        }
    }
    feeder.await.unwrap();
    let n = got.ranges.len();
    assert!((3..=12).contains(&n), "{n} range updates in 1 s");
    // Idle: the range is repeated at least once a second.
    let mut idle = Received::default();
    let t = Instant::now();
    while idle.ranges.len() < 2 {
        match next(&mut ws, Duration::from_millis(1500)).await {
            Got::Burst(b) => idle.add(b),
            other => panic!("{other:?}"),
        }
    }
    assert!(t.elapsed() < Duration::from_millis(2600));
    assert_eq!(idle.ranges.last(), Some(&(0, 100)));
}

#[tokio::test]
async fn slow_client_is_cut_off_with_bounded_memory() {
    let hub = LiveHub::new(HubOptions {
        history_bytes: 1 << 20,
        ..Default::default()
    });
    let metrics = Arc::new(Metrics::default());
    let svc = StreamService::with_metrics(
        Arc::new(hub.clone()),
        ServiceOptions {
            queue_len: 4,
            send_timeout: Duration::from_secs(2),
            close_timeout: Duration::from_millis(500),
            ..Default::default()
        },
        metrics.clone(),
    );
    let addr = common::serve(router(svc)).await;
    hub.publish_session_json("slow", "{}").unwrap();
    let mut ws = connect(addr, "slow").await;
    next_burst(&mut ws, WAIT).await;
    subscribe(&mut ws, true, true, &[]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The client now stops reading. 48 MiB of incompressible data.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut published = 0;
    for i in 0..96 {
        let buf: Vec<u8> = (0..512 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let item = StreamData {
            data: Some(stream_data::Data::PeriodicData(PeriodicData {
                channel_id: 1,
                start_timestamp: i,
                interval: 1,
                samples: buf.len() as i32,
                buffer: buf.into(),
            })),
        };
        hub.publish("slow", vec![item]).unwrap(); // never blocks
        published += 1;
        if hub.subscriber_count("slow") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics.slow_closes() == 0 {
        assert!(Instant::now() < deadline, "slow client never cut off");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub.subscriber_count("slow"), 0);
    // Reading again: some data, then the close (1013) or the end of the connection.
    let mut bursts = 0;
    let end = loop {
        match next(&mut ws, WAIT).await {
            Got::Burst(_) => bursts += 1,
            Got::Close(code) => {
                assert_eq!(code, Some(1013));
                break "close 1013";
            }
            Got::End => break "end",
        }
    };
    eprintln!("slow client: {bursts} of {published} bursts received, then {end}");
    assert!(bursts < published, "{bursts} of {published}");
}

#[tokio::test]
async fn redis_killed_and_restarted_mid_session() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let (addr, _) = redis_service(&redis, ServiceOptions::default()).await;
    let buffer = StreamBuffer::connect(
        &redis.url(),
        None,
        WriterOptions {
            response_timeout: Duration::from_millis(500),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let w = open_session(&buffer, "phoenix").await;
    let mut ws = connect(addr, "phoenix").await;
    next_burst(&mut ws, WAIT).await;
    subscribe(&mut ws, false, false, &[0]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    for step in 0..5 {
        demo::write_step(&w, START, step).await.unwrap();
    }
    w.flush().await.unwrap();
    let mut got = Received::default();
    collect_until(&mut ws, &mut got, |g| {
        g.samples.get(&0).is_some_and(|s| s.len() == 50)
    })
    .await;

    redis.kill();
    let restart = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(500));
        RedisServer::start_on(port)
    });
    // Written while Redis is down: retried until it is back.
    for step in 5..10 {
        demo::write_step(&w, START, step).await.unwrap();
    }
    w.flush().await.unwrap();
    let _redis = restart.await.unwrap();
    collect_until(&mut ws, &mut got, |g| {
        g.samples.get(&0).is_some_and(|s| s.len() >= 100)
    })
    .await;
    check_demo_values(&got, &[0], 10);
    w.close().await.unwrap();
}

#[tokio::test]
async fn one_reader_per_stream_fans_out_to_all_sessions() {
    let redis = RedisServer::start();
    let metrics = Arc::new(Metrics::default());
    let src = RedisLiveSource::connect(
        &redis.url(),
        None,
        RedisSourceOptions {
            block: Duration::from_millis(200),
            ..Default::default()
        },
        metrics.clone(),
    )
    .await
    .unwrap();
    let svc =
        StreamService::with_metrics(Arc::new(src.clone()), ServiceOptions::default(), metrics);
    let addr = common::serve(router(svc)).await;
    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    let a = open_session(&buffer, "fan-a").await;
    let b = open_session(&buffer, "fan-b").await;
    let mut clients = Vec::new();
    for id in ["fan-a", "fan-a", "fan-b"] {
        let mut ws = connect(addr, id).await;
        next_burst(&mut ws, WAIT).await;
        subscribe(&mut ws, false, false, &[2]).await;
        clients.push(ws);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        src.followed_streams(),
        1,
        "both sessions share the stream's reader"
    );
    for step in 0..3 {
        demo::write_step(&a, START, step).await.unwrap();
        demo::write_step(&b, START + 1, step).await.unwrap();
    }
    a.flush().await.unwrap();
    b.flush().await.unwrap();
    for (i, ws) in clients.iter_mut().enumerate() {
        let mut got = Received::default();
        collect_until(ws, &mut got, |g| {
            g.samples.get(&2).is_some_and(|s| s.len() == 30)
        })
        .await;
        let t0 = got.samples[&2][0].0;
        assert_eq!(
            t0,
            if i < 2 { START } else { START + 1 },
            "client {i} got its own session"
        );
    }
    drop(clients);
    let deadline = Instant::now() + WAIT;
    while src.followed_streams() != 0 {
        assert!(
            Instant::now() < deadline,
            "reader kept running without subscribers"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn chain_source_prefers_the_hub_then_redis() {
    let redis = RedisServer::start();
    let hub = LiveHub::new(HubOptions::default());
    let src = RedisLiveSource::connect(&redis.url(), None, Default::default(), Default::default())
        .await
        .unwrap();
    let chain = rta_stream::source::ChainSource::new(vec![Arc::new(hub.clone()), Arc::new(src)]);
    let addr = common::serve(router(StreamService::new(chain, ServiceOptions::default()))).await;
    hub.publish_session_json("in-proc", "{\"identity\":\"in-proc\"}")
        .unwrap();
    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    let w = open_session(&buffer, "in-redis").await;
    for (id, expect) in [("in-proc", "in-proc"), ("in-redis", "in-redis")] {
        let mut ws = connect(addr, id).await;
        let first = next_burst(&mut ws, WAIT).await;
        let Some(stream_data::Data::SessionJson(j)) = &first.data[0].data else {
            panic!("no json")
        };
        assert!(j.contains(expect), "{j}");
    }
    let mut ws = connect(addr, "neither").await;
    assert!(matches!(next(&mut ws, WAIT).await, Got::Close(Some(1000))));
    w.close().await.unwrap();
}

#[tokio::test]
async fn live_data_during_a_long_back_fill_is_held_not_dropped() {
    let hub = LiveHub::new(HubOptions::default());
    let svc = StreamService::new(
        hub.clone(),
        ServiceOptions {
            queue_len: 2,
            ..Default::default()
        },
    );
    let addr = common::serve(router(svc)).await;
    let id = "hold";
    hub.publish_session_json(id, "{}").unwrap();
    let item = |t: i64| StreamData {
        data: Some(stream_data::Data::PeriodicData(PeriodicData {
            channel_id: 1,
            start_timestamp: t,
            interval: 1,
            samples: 4000,
            buffer: vec![(t % 251) as u8; 8000].into(),
        })),
    };
    for t in 0..300 {
        hub.publish(id, vec![item(t)]).unwrap();
    }
    let mut ws = connect(addr, id).await;
    next_burst(&mut ws, WAIT).await;
    subscribe(&mut ws, false, true, &[]).await;
    let feeder_hub = hub.clone();
    let feeder = tokio::spawn(async move {
        for t in 300..400 {
            feeder_hub.publish(id, vec![item(t)]).unwrap();
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    });
    let mut starts = Vec::new();
    while starts.len() < 400 {
        match next(&mut ws, WAIT).await {
            Got::Burst(b) => {
                for it in b.data {
                    if let Some(stream_data::Data::PeriodicData(p)) = it.data {
                        starts.push(p.start_timestamp);
                    }
                }
            }
            other => panic!("cut off after {} items: {other:?}", starts.len()),
        }
    }
    feeder.await.unwrap();
    assert_eq!(
        starts,
        (0..400).collect::<Vec<_>>(),
        "back-fill, then held live data, in order"
    );
}
