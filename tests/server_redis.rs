//! Two RTA Servers sharing a real `redis-server`: data written through one
//! server's `DataWriter` reaches a WebSocket client of the other (the
//! multi-process deployment of `rta-server --redis URL`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use prost::Message as _;
use rta::core::data::{read_samples, read_timestamps, timestamped};
use rta::core::lz4::Lz4Framing;
use rta::core::proto::data_service::{
    data_writer_client::DataWriterClient, write_data_stream_message::Type as W,
    WriteDataStreamMessage,
};
use rta::core::proto::session_service::{
    self as ss, create_or_update_session_request::CreateIfNotExists,
    session_store_client::SessionStoreClient, session_update::Op,
};
use rta::core::proto::stream::{
    stream_data, stream_request, StreamDataBurst, StreamRequest, StreamSubscription,
};
use rta::server::RtaServer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// A private `redis-server` on a free loopback port, killed on drop.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is not installed: run ./scripts/test.sh, which installs it");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }
    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_data_crosses_processes_through_redis() {
    let redis = Redis::start();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = RtaServer::open_with_redis(dir_a.path(), &redis.url(), None)
        .await
        .unwrap();
    let b = RtaServer::open_with_redis(dir_b.path(), &redis.url(), None)
        .await
        .unwrap();
    let ra = a.spawn(loopback(), loopback()).await.unwrap();
    let rb = b.spawn(loopback(), loopback()).await.unwrap();
    let grpc = ra.grpc_uri().unwrap();

    let mut sessions = SessionStoreClient::connect(grpc.clone()).await.unwrap();
    sessions
        .create_or_update_session(ss::CreateOrUpdateSessionRequest {
            identity: "x1".into(),
            create_if_not_exists: Some(CreateIfNotExists {
                state: 2,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();

    // Server B knows the session only through Redis.
    let mut req = format!("ws://{}/rta/v2/sessions/x1/stream", rb.http_addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "mat.ocs.rta.stream-lz4".parse().unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ws = loop {
        let (mut ws, _) = tokio_tungstenite::connect_async(req.clone()).await.unwrap();
        // An unknown session is closed with no data; retry until Redis has it.
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => {
                let burst =
                    StreamDataBurst::decode(&Lz4Framing::decode(&b, 1 << 20).unwrap()[..]).unwrap();
                assert!(matches!(
                    burst.data[0].data,
                    Some(stream_data::Data::SessionJson(_))
                ));
                break ws;
            }
            _ => {
                assert!(
                    Instant::now() < deadline,
                    "session never appeared on server B"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let sub = StreamRequest {
        option: Some(stream_request::Option::Subscribe(StreamSubscription {
            all_events: true,
            all_data_channels: true,
            data_channel_ids: vec![],
        })),
    };
    ws.send(Message::Binary(sub.encode_to_vec().into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let times: Vec<i64> = (0..20)
        .map(|i| 1_700_000_000_000_000_000 + i * 5_000_000)
        .collect();
    let vals: Vec<f64> = (0..20).map(|i| f64::from(i).sqrt()).collect();
    let mut writer = DataWriterClient::connect(grpc.clone()).await.unwrap();
    let msgs = vec![
        WriteDataStreamMessage {
            r#type: Some(W::DataIdentity("x1".into())),
        },
        WriteDataStreamMessage {
            r#type: Some(W::TimestampedData(timestamped(9, &times, &vals).unwrap())),
        },
        WriteDataStreamMessage {
            r#type: Some(W::FlushMarker("m".into())),
        },
    ];
    let mut resp = writer
        .write_data_stream(futures::stream::iter(msgs))
        .await
        .unwrap()
        .into_inner();
    resp.next().await.unwrap().unwrap();

    let mut got = None;
    while got.is_none() {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("no data within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Binary(b) = msg {
            let burst =
                StreamDataBurst::decode(&Lz4Framing::decode(&b, 1 << 20).unwrap()[..]).unwrap();
            got = burst.data.into_iter().find_map(|d| match d.data {
                Some(stream_data::Data::TimestampedData(t)) => Some(t),
                _ => None,
            });
        }
    }
    let got = got.unwrap();
    assert_eq!(got.channel_id, 9);
    assert_eq!(read_timestamps(&got).unwrap(), times);
    assert_eq!(read_samples::<f64>(&got.buffer).unwrap(), vals);

    sessions
        .create_or_update_session(ss::CreateOrUpdateSessionRequest {
            identity: "x1".into(),
            updates: vec![ss::SessionUpdate {
                op: Some(Op::SetState(4)),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    ra.stop().await.unwrap();
    rb.stop().await.unwrap();
}
