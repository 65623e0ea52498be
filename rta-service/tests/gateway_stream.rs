//! The live WebSocket through the gateway (`StreamServiceUri`): a client of
//! the gateway follows a live session served by a real stream endpoint (an
//! RTA Server), with its token passed upstream; errors are HTTP answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::{from_fn, Next};
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use rta_core::data::{read_samples, timestamped};
use rta_core::media::STREAM_SUBPROTOCOL;
use rta_core::proto::session_service::{self as ss};
use rta_core::proto::stream::{
    stream_data, stream_request, StreamDataBurst, StreamRequest, StreamSubscription,
};
use rta_core::service::SessionStore;
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_core::write::WriteItem;
use rta_service::gateway::{Gateway, GatewayConfig};
use rta_service::serve;
use rta_service::server::RtaServer;
use rta_stream::burst::decode_frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const T0: i64 = 1_700_000_000_000_000_000;

fn state(identity: &str, state: SessionState) -> ss::CreateOrUpdateSessionRequest {
    SessionRequest::new(identity, state).build()
}

async fn connect(gateway: &str, identity: &str, token: &str) -> Result<Ws, u16> {
    let mut req = format!("ws://{gateway}/rta/v2/sessions/{identity}/stream")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        STREAM_SUBPROTOCOL.parse().unwrap(),
    );
    req.headers_mut()
        .insert("Authorization", token.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, resp)) => {
            assert_eq!(resp.headers()["Sec-WebSocket-Protocol"], STREAM_SUBPROTOCOL);
            Ok(ws)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// The next burst, or `None` once the socket closed.
async fn next_burst(ws: &mut Ws) -> Option<StreamDataBurst> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("timed out waiting for the gateway");
        match m {
            Some(Ok(Message::Binary(b))) => return Some(decode_frame(&b, 1 << 20).unwrap()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(other)) => panic!("unexpected message {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_relays_the_live_stream() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    let upstream_router = server
        .http_router()
        .layer(from_fn(move |req: Request, next: Next| {
            let record = record.clone();
            async move {
                if let Some(v) = req.headers().get("authorization") {
                    record.lock().unwrap().push(v.to_str().unwrap().to_string());
                }
                next.run(req).await
            }
        }));
    let upstream = serve::spawn("127.0.0.1:0".parse().unwrap(), upstream_router, None)
        .await
        .unwrap();
    let url = format!("http://{}", upstream.http_addr);
    let mut cfg = GatewayConfig::new(&url, &url);
    cfg.stream_service = Some(format!("{url}/"));
    let gateway = Gateway::new(cfg).unwrap();
    let gw = serve::spawn("127.0.0.1:0".parse().unwrap(), gateway.http_router(), None)
        .await
        .unwrap();
    let gw_addr = gw.http_addr.to_string();

    server
        .sessions
        .create_or_update(state("live-1", SessionState::Open))
        .await
        .unwrap();
    let mut ws = connect(&gw_addr, "live-1", "Bearer live-token")
        .await
        .unwrap();
    let first = next_burst(&mut ws).await.unwrap();
    match &first.data[0].data {
        Some(stream_data::Data::SessionJson(j)) => assert!(j.contains("live-1"), "{j}"),
        other => panic!("first item is not the session JSON: {other:?}"),
    }
    let subscribe = StreamRequest {
        option: Some(stream_request::Option::Subscribe(StreamSubscription {
            all_events: true,
            all_data_channels: true,
            data_channel_ids: Vec::new(),
        })),
    };
    ws.send(Message::Binary(subscribe.encode_to_vec().into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let times: Vec<i64> = (0..10).map(|i| T0 + i * 1_000_000).collect();
    let values: Vec<f64> = (0..10).map(f64::from).collect();
    let item = timestamped(4, &times, &values).unwrap();
    server
        .write_data("live-1", vec![WriteItem::Timestamped(item)])
        .await
        .unwrap();
    let mut got = None;
    for _ in 0..50 {
        let Some(b) = next_burst(&mut ws).await else {
            break;
        };
        got = b.data.into_iter().find_map(|d| match d.data {
            Some(stream_data::Data::TimestampedData(t)) => Some(t),
            _ => None,
        });
        if got.is_some() {
            break;
        }
    }
    let got = got.expect("no data came through the gateway");
    assert_eq!(read_samples::<f64>(&got.buffer).unwrap(), values);
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|t| t == "Bearer live-token"),
        "the token did not reach the stream service"
    );

    // Closing the session upstream ends the client's socket too.
    server
        .sessions
        .create_or_update(state("live-1", SessionState::Closed))
        .await
        .unwrap();
    let mut ended = false;
    for _ in 0..50 {
        if next_burst(&mut ws).await.is_none() {
            ended = true;
            break;
        }
    }
    assert!(ended, "the relay did not close with the upstream socket");

    // Without the subprotocol: 406 from the gateway itself.
    let resp = reqwest::Client::new()
        .get(format!("http://{gw_addr}/rta/v2/sessions/live-1/stream"))
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 406);

    // The stream service goes away: a clear 502, and /health says so.
    upstream.stop().await.unwrap();
    assert_eq!(
        connect(&gw_addr, "live-1", "Bearer t").await.err(),
        Some(502)
    );
    let health = reqwest::get(format!("http://{gw_addr}/health"))
        .await
        .unwrap();
    assert_eq!(health.status(), 503);
    let body = health.text().await.unwrap();
    assert!(body.contains("stream-service"), "{body}");
    gw.stop().await.unwrap();
}

/// The relay to a Stream Service over `wss://`, verified against the
/// deployment's CA (`TlsCaFile`); without that CA the gateway refuses to
/// relay (502) rather than connect unverified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_relays_over_wss_to_a_trusted_stream_service() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let files = rta_service::tls::TlsFiles::new(dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&files.cert, leaf.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let server = RtaServer::open(dir.path().join("data")).unwrap();
    let opts = rta_service::options::ServiceOptions {
        tls: Some(files),
        https_port: Some(0),
        ..rta_service::options::ServiceOptions::http("127.0.0.1:0".parse().unwrap())
    };
    let upstream = serve::spawn_with(&opts, server.http_router(), None)
        .await
        .unwrap();
    let https = format!("https://127.0.0.1:{}", upstream.https_addr.unwrap().port());
    server
        .sessions
        .create_or_update(state("live-tls", SessionState::Open))
        .await
        .unwrap();

    let gateway = |ca: Option<std::path::PathBuf>| {
        let mut cfg = GatewayConfig::new(upstream.http_url(), upstream.http_url());
        cfg.stream_service = Some(https.clone());
        cfg.ca_file = ca;
        Gateway::new(cfg).unwrap().http_router()
    };
    let trusting = serve::spawn("127.0.0.1:0".parse().unwrap(), gateway(Some(ca_file)), None)
        .await
        .unwrap();
    let mut ws = connect(&trusting.http_addr.to_string(), "live-tls", "Bearer t")
        .await
        .unwrap();
    match &next_burst(&mut ws).await.unwrap().data[0].data {
        Some(stream_data::Data::SessionJson(j)) => assert!(j.contains("live-tls"), "{j}"),
        other => panic!("first item is not the session JSON: {other:?}"),
    }
    drop(ws);

    let untrusting = serve::spawn("127.0.0.1:0".parse().unwrap(), gateway(None), None)
        .await
        .unwrap();
    let refused = connect(&untrusting.http_addr.to_string(), "live-tls", "Bearer t").await;
    assert_eq!(refused.err(), Some(502));
    for s in [trusting, untrusting, upstream] {
        s.stop().await.unwrap();
    }
}
