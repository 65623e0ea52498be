//! The live stream through the gateway: the WebSocket
//! `/rta/v2/sessions/{identity}/stream` relayed to a Stream Service
//! (`StreamServiceUri`), so that ATLAS needs one URL for everything.
//!
//! The gateway opens the upstream socket before it accepts the client's, so
//! a Stream Service that is down or refuses the session is an HTTP error
//! (502 with a message) rather than a socket that opens and dies. Messages
//! are relayed unchanged both ways; when either side closes, the other is
//! closed with the same code. The client's `Authorization` header goes
//! upstream with the handshake.

use std::sync::Arc;

use axum::extract::ws::{self, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::{SinkExt, StreamExt};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rta_core::media::STREAM_SUBPROTOCOL;
use rta_stream::service::offers_subprotocol;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
use tokio_tungstenite::tungstenite::{self as tung, Message as Up};
use tokio_tungstenite::Connector;

/// Largest message relayed either way (the stream service's own limit is
/// smaller; this only bounds what the relay buffers).
const MAX_MESSAGE: usize = 16 << 20;

type Upstream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Where and how to reach the Stream Service.
#[derive(Clone)]
struct Target {
    ws_base: String,
    tls: Arc<rustls::ClientConfig>,
}

/// The WebSocket route, relaying to the Stream Service at `base`
/// (`http://host:port` or `https://`, already checked); `wss://` is
/// verified with `tls`.
pub(super) fn router(base: String, tls: Arc<rustls::ClientConfig>) -> Router {
    let ws_base = match base.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}"),
        None => format!("ws://{}", base.trim_start_matches("http://")),
    };
    Router::new()
        .route("/rta/v2/sessions/{identity}/stream", get(relay))
        .with_state(Target { ws_base, tls })
}

fn error(status: StatusCode, message: String) -> Response {
    (status, format!("{message}\n")).into_response()
}

async fn relay(
    State(target): State<Target>,
    Path(identity): Path<String>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        let msg = "expected a WebSocket upgrade request".to_string();
        return error(StatusCode::BAD_REQUEST, msg);
    };
    if !offers_subprotocol(&headers) {
        let msg = format!("the WebSocket subprotocol {STREAM_SUBPROTOCOL} is required");
        return error(StatusCode::NOT_ACCEPTABLE, msg);
    }
    let path = utf8_percent_encode(&identity, NON_ALPHANUMERIC);
    let url = format!("{}/rta/v2/sessions/{path}/stream", target.ws_base);
    let upstream = match connect(&url, headers.get(header::AUTHORIZATION), &target.tls).await {
        Ok(up) => up,
        Err(e) => {
            tracing::warn!(%url, error = %e, "stream service did not accept the stream");
            let msg = format!("the stream service did not accept the stream: {e}");
            return error(StatusCode::BAD_GATEWAY, msg);
        }
    };
    ws.protocols([STREAM_SUBPROTOCOL])
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |client| pump(client, upstream))
}

async fn connect(
    url: &str,
    auth: Option<&header::HeaderValue>,
    tls: &Arc<rustls::ClientConfig>,
) -> tung::Result<Upstream> {
    let mut req = url.into_client_request()?;
    let h = req.headers_mut();
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        header::HeaderValue::from_static(STREAM_SUBPROTOCOL),
    );
    if let Some(auth) = auth {
        h.insert(header::AUTHORIZATION, auth.clone());
    }
    let config = tung::protocol::WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE));
    let connector = Connector::Rustls(tls.clone());
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(req, Some(config), false, Some(connector));
    match tokio::time::timeout(rta_adapters::remote::CONNECT_TIMEOUT, connecting).await {
        Ok(r) => r.map(|(up, _)| up),
        Err(_) => Err(tung::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out connecting",
        ))),
    }
}

/// Relays until either side closes, then closes the other.
async fn pump(client: WebSocket, upstream: Upstream) {
    let (mut c_tx, mut c_rx) = client.split();
    let (mut u_tx, mut u_rx) = upstream.split();
    let down = async {
        while let Some(Ok(m)) = u_rx.next().await {
            let closing = matches!(m, Up::Close(_));
            if let Some(m) = to_client(m) {
                if c_tx.send(m).await.is_err() || closing {
                    break;
                }
            }
        }
        let _ = c_tx.close().await;
    };
    let up = async {
        while let Some(Ok(m)) = c_rx.next().await {
            let closing = matches!(m, ws::Message::Close(_));
            if u_tx.send(to_upstream(m)).await.is_err() || closing {
                break;
            }
        }
        let _ = u_tx.close().await;
    };
    // Whichever side ends first ends the relay; the other half is dropped.
    tokio::select! {
        () = down => {}
        () = up => {}
    }
}

fn to_client(m: Up) -> Option<ws::Message> {
    Some(match m {
        Up::Binary(b) => ws::Message::Binary(b),
        Up::Text(t) => ws::Message::Text(t.as_str().into()),
        Up::Ping(p) => ws::Message::Ping(p),
        Up::Pong(p) => ws::Message::Pong(p),
        Up::Close(f) => ws::Message::Close(f.map(|f| ws::CloseFrame {
            code: f.code.into(),
            reason: f.reason.as_str().into(),
        })),
        Up::Frame(_) => return None,
    })
}

fn to_upstream(m: ws::Message) -> Up {
    match m {
        ws::Message::Binary(b) => Up::Binary(b),
        ws::Message::Text(t) => Up::Text(t.as_str().into()),
        ws::Message::Ping(p) => Up::Ping(p),
        ws::Message::Pong(p) => Up::Pong(p),
        ws::Message::Close(f) => Up::Close(f.map(|f| CloseFrame {
            code: CloseCode::from(f.code),
            reason: f.reason.as_str().into(),
        })),
    }
}
