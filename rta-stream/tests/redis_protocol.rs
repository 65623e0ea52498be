//! The writer against a real `redis-server`: keys and fields of the buffer
//! protocol, the id sequence, burst sizing, the latency bound,
//! back-pressure, failure reporting, and the trimmer.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prost::Message as _;
use redis::streams::StreamRangeReply;
use redis::Value;
use rta_core::lz4::Lz4Framing;
use rta_core::proto::data::PeriodicData;
use rta_core::proto::stream::{stream_data, StreamData, StreamDataBurst};
use rta_stream::burst::MAX_BURST_BYTES;
use rta_stream::keys::Position;
use rta_stream::writer::{StreamBuffer, WriterOptions};
use rta_stream::Error;

use common::RedisServer;

fn periodic(ch: u32, n: usize, seed: u8) -> StreamData {
    // Varied bytes so LZ4 cannot collapse them completely.
    let buf: Vec<u8> = (0..n)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2654435761)
                .rotate_left(u32::from(seed)) as u8
        })
        .collect();
    StreamData {
        data: Some(stream_data::Data::PeriodicData(PeriodicData {
            channel_id: ch,
            start_timestamp: i64::from(seed),
            interval: 1000,
            samples: n as i32,
            buffer: buf.into(),
        })),
    }
}

async fn entries(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
) -> Vec<redis::streams::StreamId> {
    let r: StreamRangeReply = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .unwrap();
    r.ids
}

fn burst_of(e: &redis::streams::StreamId) -> (Vec<u8>, StreamDataBurst) {
    let Some(Value::BulkString(data)) = e.map.get("data") else {
        panic!("entry without data")
    };
    let raw = Lz4Framing::decode(data, MAX_BURST_BYTES).unwrap();
    let b = StreamDataBurst::decode(raw.as_slice()).unwrap();
    (raw, b)
}

#[tokio::test]
async fn keys_fields_and_id_sequence() {
    let redis = RedisServer::start();
    let mut c = redis.conn().await;
    // An existing stream: the new session must record its last entry id.
    let prior: String = redis::cmd("XADD")
        .arg("stream:car")
        .arg("*")
        .arg("id")
        .arg(999)
        .arg("data")
        .arg("x")
        .query_async(&mut c)
        .await
        .unwrap();
    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    let before = chrono::Utc::now().timestamp_millis();
    let a = buffer.init_session("sess-a", "car").await.unwrap();
    let b = buffer.init_session("sess-b", "bike").await.unwrap();
    let a2 = buffer.init_session("sess-c", "car").await.unwrap();
    assert_eq!(
        (
            a.stream_session_id(),
            b.stream_session_id(),
            a2.stream_session_id()
        ),
        (1, 2, 3),
        "ids come from INCRBY lastStreamSessionId"
    );
    let last: u64 = redis::cmd("GET")
        .arg("lastStreamSessionId")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(last, 3);

    let h: HashMap<String, String> = redis::cmd("HGETALL")
        .arg("sessions:sess-a")
        .query_async(&mut c)
        .await
        .unwrap();
    let mut keys: Vec<_> = h.keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "lastUpdated",
            "streamName",
            "streamPosition",
            "streamSessionId"
        ],
        "no json before the first session JSON"
    );
    assert_eq!(h["streamSessionId"], "1");
    assert_eq!(h["streamName"], "car");
    assert_eq!(h["streamPosition"], prior);
    let lu: i64 = h["lastUpdated"].parse().unwrap();
    assert!(lu >= before && lu <= chrono::Utc::now().timestamp_millis());
    let hb: HashMap<String, String> = redis::cmd("HGETALL")
        .arg("sessions:sess-b")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(hb["streamPosition"], "0-0", "new stream");

    let ttl: i64 = redis::cmd("TTL")
        .arg("sessions:sess-a")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 24 * 3600,
        "session hash expires (ttl {ttl})"
    );
    let mut streams: Vec<String> = redis::cmd("SMEMBERS")
        .arg("streams")
        .query_async(&mut c)
        .await
        .unwrap();
    streams.sort();
    assert_eq!(streams, ["bike", "car"], "stream names without prefix");
    let score: Option<i64> = redis::cmd("ZSCORE")
        .arg("sessions")
        .arg("sess-a")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(score.unwrap() >= before);

    // Session JSON, a time range and data, then flush.
    let json = r#"{"identity":"sess-a","state":"open"}"#;
    a.write_session_json(json).await.unwrap();
    let d = rta_core::data::timestamped(7, &[100, 200, 300], &[1.0f64, -2.5, 3.25]).unwrap();
    a.write_timestamped(d.clone()).await.unwrap();
    a.write_time_range(100, 300).await.unwrap();
    a.flush().await.unwrap();

    let h: HashMap<String, String> = redis::cmd("HGETALL")
        .arg("sessions:sess-a")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(h["json"], json);
    assert_eq!((h["tStart"].as_str(), h["tEnd"].as_str()), ("100", "300"));

    let es = entries(&mut c, "stream:car").await;
    assert_eq!(es.len(), 2, "prior entry + one burst");
    let e = &es[1];
    let mut fields: Vec<_> = e.map.keys().cloned().collect();
    fields.sort();
    assert_eq!(fields, ["data", "id"]);
    assert_eq!(e.get::<String>("id").unwrap(), "1");
    assert!(Position::from_redis_id(&e.id).unwrap() > Position::from_redis_id(&prior).unwrap());
    let (_, burst) = burst_of(e);
    assert_eq!(burst.data.len(), 3);
    assert_eq!(
        burst.data[0].data,
        Some(stream_data::Data::SessionJson(json.to_string()))
    );
    assert_eq!(
        burst.data[1].data,
        Some(stream_data::Data::TimestampedData(d))
    );
    let stats = a.stats();
    assert_eq!((stats.bursts_written, stats.items_written), (1, 3));
    for w in [a, b, a2] {
        w.close().await.unwrap();
    }
}

#[tokio::test]
async fn burst_sizing_and_hard_cap() {
    let redis = RedisServer::start();
    let mut c = redis.conn().await;
    assert!(matches!(
        StreamBuffer::connect(
            &redis.url(),
            None,
            WriterOptions {
                burst_bytes: MAX_BURST_BYTES + 1,
                ..Default::default()
            }
        )
        .await,
        Err(Error::Config(_))
    ));
    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    let w = buffer.init_session("s", "sizing").await.unwrap();
    let items: Vec<StreamData> = (0..600)
        .map(|i| periodic(i % 5, 1000, (i % 31) as u8))
        .collect();
    for it in &items {
        w.write(it.clone()).await.unwrap();
    }
    // Larger than the target but within 1 MiB: travels alone.
    let big = periodic(9, 900_000, 1);
    w.write(big.clone()).await.unwrap();
    // Cannot fit in 1 MiB: an error, nothing written, writer still usable.
    let err = w.write(periodic(9, MAX_BURST_BYTES, 2)).await.unwrap_err();
    assert!(matches!(err, Error::ItemTooLarge { limit, .. } if limit == MAX_BURST_BYTES));
    let tail = periodic(1, 10, 3);
    w.write(tail.clone()).await.unwrap();
    w.flush().await.unwrap();

    let es = entries(&mut c, "stream:sizing").await;
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    for e in &es {
        let (raw, b) = burst_of(e);
        assert!(raw.len() <= MAX_BURST_BYTES);
        sizes.push((raw.len(), b.data.len()));
        got.extend(b.data);
    }
    let mut expected = items.clone();
    expected.push(big);
    expected.push(tail);
    assert_eq!(got, expected, "every item once, in order");
    // 600 items of ~1 KiB at 64 KiB per burst: 10 bursts of data, then the big one alone.
    for (raw, n) in &sizes {
        assert!(
            *raw <= 64 * 1024 || *n == 1,
            "burst of {raw} bytes with {n} items"
        );
    }
    let full: Vec<_> = sizes
        .iter()
        .filter(|(r, _)| *r > 60 * 1024 && *r <= 64 * 1024)
        .collect();
    assert!(full.len() >= 9, "bursts fill up to ~64 KiB: {sizes:?}");
    assert!(sizes.iter().any(|(r, n)| *n == 1 && *r > 64 * 1024));
    w.close().await.unwrap();
}

#[tokio::test]
async fn latency_bound_flushes_without_flush() {
    let redis = RedisServer::start();
    let mut c = redis.conn().await;
    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    let w = buffer.init_session("s", "lat").await.unwrap();
    let t = Instant::now();
    w.write(periodic(1, 10, 1)).await.unwrap();
    let mut seen = None;
    while t.elapsed() < Duration::from_secs(2) {
        let n: u64 = redis::cmd("XLEN")
            .arg("stream:lat")
            .query_async(&mut c)
            .await
            .unwrap();
        if n == 1 {
            seen = Some(t.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seen = seen.expect("burst written by the latency bound");
    assert!(
        seen >= Duration::from_millis(90) && seen < Duration::from_millis(1000),
        "written after {seen:?}, expected ~100 ms"
    );
    w.close().await.unwrap();
}

#[tokio::test]
async fn back_pressure_when_redis_is_paused() {
    let redis = RedisServer::start();
    let mut c = redis.conn().await;
    let buffer = StreamBuffer::connect(
        &redis.url(),
        None,
        WriterOptions {
            burst_bytes: 4096,
            max_in_flight: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let w = buffer.init_session("s", "bp").await.unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(700)
        .arg("WRITE")
        .query_async(&mut c)
        .await
        .unwrap();
    let t = Instant::now();
    // 40 bursts' worth: far more than the 2 allowed in flight.
    for i in 0..40 {
        w.write(periodic(1, 4000, i)).await.unwrap();
    }
    let blocked = t.elapsed();
    assert!(
        blocked >= Duration::from_millis(500),
        "writes must wait for Redis (took {blocked:?})"
    );
    w.flush().await.unwrap();
    let n: u64 = redis::cmd("XLEN")
        .arg("stream:bp")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(n, 40);
    w.close().await.unwrap();
}

#[tokio::test]
async fn failure_is_reported_after_retry_deadline() {
    let mut redis = RedisServer::start();
    let buffer = StreamBuffer::connect(
        &redis.url(),
        None,
        WriterOptions {
            retry_timeout: Some(Duration::from_millis(800)),
            response_timeout: Duration::from_millis(500),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let w = buffer.init_session("s", "fail").await.unwrap();
    redis.kill();
    w.write(periodic(1, 100, 1)).await.unwrap();
    w.write(periodic(1, 100, 2)).await.unwrap();
    let t = Instant::now();
    let err = w.flush().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::WriteFailed {
                bursts: 1,
                items: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(w.stats().bursts_failed, 1);
    // Reported once; the writer stays usable.
    assert!(w.flush().await.is_ok());
}

#[tokio::test]
async fn writer_survives_redis_restart() {
    let mut redis = RedisServer::start();
    let port = redis.port;
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
    let w = buffer.init_session("s", "restart").await.unwrap();
    w.write_session_json("{\"identity\":\"s\"}").await.unwrap();
    w.write(periodic(1, 100, 1)).await.unwrap();
    w.flush().await.unwrap();
    redis.kill();
    let restart = tokio::task::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(700));
        RedisServer::start_on(port)
    });
    w.write(periodic(1, 100, 2)).await.unwrap();
    w.write_time_range(5, 6).await.unwrap();
    w.flush().await.unwrap();
    let redis = restart.await.unwrap();
    let mut c = redis.conn().await;
    // Redis restarted empty: the writer registered the session again.
    let h: HashMap<String, String> = redis::cmd("HGETALL")
        .arg("sessions:s")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(h["streamSessionId"], "1");
    assert_eq!(h["json"], "{\"identity\":\"s\"}");
    assert_eq!((h["tStart"].as_str(), h["tEnd"].as_str()), ("5", "6"));
    let last: u64 = redis::cmd("GET")
        .arg("lastStreamSessionId")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(
        last, 1,
        "the id counter cannot hand out the live session's id again"
    );
    let es = entries(&mut c, "stream:restart").await;
    let items: Vec<_> = es.iter().flat_map(|e| burst_of(e).1.data).collect();
    assert!(items.contains(&periodic(1, 100, 2)));
    assert!(w.stats().retries >= 1);
    w.close().await.unwrap();
}

#[tokio::test]
async fn trimmer_caps_every_stream() {
    let redis = RedisServer::start();
    let mut c = redis.conn().await;
    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    for name in ["t1", "t2"] {
        let w = buffer.init_session(name, name).await.unwrap();
        for i in 0..30 {
            w.write(periodic(1, 100, i)).await.unwrap();
            w.flush().await.unwrap();
        }
        w.close().await.unwrap();
    }
    let mut m = redis::aio::ConnectionManager::new(redis::Client::open(redis.url()).unwrap())
        .await
        .unwrap();
    let opts = rta_stream::trimmer::TrimmerOptions {
        target_stream_length: 10,
        ..Default::default()
    };
    let removed = rta_stream::trimmer::trim_once(&mut m, &opts).await.unwrap();
    assert_eq!(removed, 40);
    for name in ["stream:t1", "stream:t2"] {
        let n: u64 = redis::cmd("XLEN")
            .arg(name)
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 10);
    }
    // The newest entries are kept.
    let es = entries(&mut c, "stream:t1").await;
    assert_eq!(burst_of(&es[9]).1.data, vec![periodic(1, 100, 29)]);
}

#[tokio::test]
async fn session_discovery_through_the_index() {
    let redis = RedisServer::start();
    let buffer = StreamBuffer::connect(&redis.url(), None, WriterOptions::default())
        .await
        .unwrap();
    let a = buffer.init_session("first", "d").await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let b = buffer.init_session("second", "d").await.unwrap();
    let src = rta_stream::RedisLiveSource::connect(
        &redis.url(),
        None,
        Default::default(),
        Default::default(),
    )
    .await
    .unwrap();
    let ids = src.list_sessions(Duration::from_secs(60)).await.unwrap();
    assert_eq!(ids, ["second", "first"]);
    let rec = src.session("second").await.unwrap().unwrap();
    assert_eq!(rec.stream_session_id, 2);
    assert!(rec.json.is_none());
    assert!(src.session("nope").await.unwrap().is_none());
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn password_and_database_from_the_connection_string() {
    let port = common::free_port();
    let _redis = RedisServer::start_with(port, &["--requirepass", "s3cret"], false);
    let exists = |db: i64| async move {
        let mut c = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{port}/{db}"))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("sessions:*")
            .query_async(&mut c)
            .await
            .unwrap();
        keys
    };
    let no_pw = format!("127.0.0.1:{port}");
    let refused = match StreamBuffer::connect(&no_pw, None, WriterOptions::default()).await {
        Err(_) => true,
        Ok(b) => b.init_session("x", "s").await.is_err(),
    };
    assert!(refused, "no password: refused");
    // The .NET-style string, with its database.
    let dotnet = format!("127.0.0.1:{port},password=s3cret,defaultDatabase=3");
    let b = StreamBuffer::connect(&dotnet, None, WriterOptions::default())
        .await
        .unwrap();
    b.init_session("in3", "s")
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    // A URL, with the database overridden by the separate option.
    let url = format!("redis://:s3cret@127.0.0.1:{port}/3");
    let b = StreamBuffer::connect(&url, Some(5), WriterOptions::default())
        .await
        .unwrap();
    b.init_session("in5", "s")
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    assert_eq!(exists(3).await, ["sessions:in3"]);
    assert_eq!(exists(5).await, ["sessions:in5"]);
    assert!(exists(0).await.is_empty());
}

/// `rediss://` against `redis-server --tls-port`, with the throw-away
/// self-signed test certificate in `tests/data` (for tests only).
#[cfg(feature = "tls")]
#[tokio::test]
async fn rediss_tls_connection() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let (key, cert) = (
        data.join("test-tls-key.pem"),
        data.join("test-tls-cert.pem"),
    );
    let port = common::free_port();
    let (k, c) = (key.to_str().unwrap(), cert.to_str().unwrap());
    let p = port.to_string();
    // TLS only: the later `--port 0` turns the plain-text port off.
    let _redis = RedisServer::start_with(
        port,
        &[
            "--port",
            "0",
            "--tls-port",
            &p,
            "--tls-cert-file",
            c,
            "--tls-key-file",
            k,
            "--tls-ca-cert-file",
            c,
            "--tls-auth-clients",
            "no",
        ],
        false,
    );
    let buffer = StreamBuffer::connect(
        &format!("rediss://127.0.0.1:{p}/#insecure"),
        None,
        WriterOptions::default(),
    )
    .await
    .unwrap();
    let w = buffer.init_session("tls", "s").await.unwrap();
    w.write_session_json("{}").await.unwrap();
    w.close().await.unwrap();
    assert_eq!(w.stream_session_id(), 1);
}

/// `rediss://` verified against a private CA given as a file (the
/// `TlsCaFile` option): trusted with the CA, refused without it.
#[cfg(feature = "tls")]
#[tokio::test]
async fn rediss_verifies_against_a_ca_file() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let path = |name: &str, pem: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, pem).unwrap();
        p.to_str().unwrap().to_string()
    };
    let (ca_file, cert, key) = (
        path("ca.pem", ca.pem()),
        path("cert.pem", leaf.pem()),
        path("key.pem", leaf_key.serialize_pem()),
    );
    let port = common::free_port();
    let p = port.to_string();
    let _redis = RedisServer::start_with(
        port,
        &[
            "--port",
            "0",
            "--tls-port",
            &p,
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca_file,
            "--tls-auth-clients",
            "no",
        ],
        false,
    );
    let url = format!("rediss://127.0.0.1:{p}");
    let trusting = rta_stream::conn::client_with_ca(&url, None, Some(ca_file.as_ref())).unwrap();
    let buffer = StreamBuffer::with_client(trusting, WriterOptions::default())
        .await
        .unwrap();
    let w = buffer.init_session("tls-ca", "s").await.unwrap();
    w.write_session_json("{}").await.unwrap();
    w.close().await.unwrap();

    let untrusting = rta_stream::conn::client(&url, None).unwrap();
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        StreamBuffer::with_client(untrusting, WriterOptions::default()),
    )
    .await
    .expect("an untrusted server must be refused, not hang");
    assert!(
        refused.is_err(),
        "a server signed by an unknown CA was trusted"
    );
}
