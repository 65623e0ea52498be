//! The WebSocket stream service: `GET /rta/v2/sessions/{identity}/stream`
//! with subprotocol `mat.ocs.rta.stream-lz4`, fed by any [`LiveSource`].
//!
//! Protocol as served here:
//!
//! - `400 Bad Request` when the request is not a WebSocket upgrade, `406 Not
//!   Acceptable` when it does not offer the subprotocol.
//! - The handshake succeeds for an unknown session, which is then closed
//!   normally (1000) without any message.
//! - First message: a burst with only the session JSON; then the time range
//!   (at most every 100 ms while it changes, at least every second), session
//!   JSON updates, and the data the client subscribed to with
//!   `StreamRequest`s (uncompressed). Each subscription widens the previous
//!   one and back-fills what it adds from the source's recent history.
//! - Every server message is an LZ4-framed `StreamDataBurst` of about
//!   [`ServiceOptions::burst_bytes`] (64 KiB) or less before compression.
//! - A client that falls [`ServiceOptions::queue_len`] bursts behind, or does
//!   not accept a message within [`ServiceOptions::send_timeout`], is closed
//!   with code 1013 (try again later).
//! - A client's close is answered; the server's close waits for the client's
//!   reply up to [`ServiceOptions::close_timeout`].
//!
//! Mounting in another server:
//!
//! ```
//! use rta_stream::hub::{HubOptions, LiveHub};
//! use rta_stream::service::{router, ServiceOptions, StreamService};
//!
//! let hub = LiveHub::new(HubOptions::default());
//! let svc = StreamService::new(hub.clone(), ServiceOptions::default());
//! let app: axum::Router = axum::Router::new().merge(router(svc.clone()));
//! // svc.metrics().register(&mut registry) adds its metrics to a process's registry.
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use rta_core::media::STREAM_SUBPROTOCOL;
use rta_core::proto::stream::{
    stream_data, stream_request, StreamData, StreamRequest, StreamSubscription, StreamTimeRange,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::burst::{BurstEncoder, DEFAULT_BURST_BYTES};
use crate::metrics::Metrics;
use crate::source::{
    LiveBurst, LiveEvent, LiveReceiver, LiveSource, LiveSubscription, Subscription,
};

/// The route of the WebSocket endpoint.
pub const STREAM_ROUTE: &str = "/rta/v2/sessions/{identity}/stream";

/// Close code: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code: unsupported data (a text message).
pub const CLOSE_UNSUPPORTED: u16 = 1003;
/// Close code: invalid payload (an undecodable `StreamRequest`).
pub const CLOSE_INVALID: u16 = 1007;
/// Close code: internal error (the source failed).
pub const CLOSE_INTERNAL: u16 = 1011;
/// Close code: try again later (client too slow).
pub const CLOSE_TRY_AGAIN: u16 = 1013;

/// Options of the WebSocket service.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Live bursts buffered per client before it is closed as too slow (default 64).
    pub queue_len: usize,
    /// Burst size target before compression (default 64 KiB).
    pub burst_bytes: usize,
    /// Shortest interval between time-range updates (default 100 ms: ≤ 10 Hz).
    pub time_range_min_interval: Duration,
    /// Longest interval between time-range updates (default 1 s: ≥ 1 Hz).
    pub time_range_max_interval: Duration,
    /// Longest wait for one message to be accepted by a client (default 30 s).
    pub send_timeout: Duration,
    /// Longest wait for the client's close reply (default 5 s).
    pub close_timeout: Duration,
    /// Largest client message accepted (default 1 MiB).
    pub max_client_message: usize,
    /// Live bursts held back while a back-fill is being sent, beyond the
    /// receiver's queue (default 1024); a client whose back-fill takes longer
    /// than that is closed as too slow.
    pub backfill_hold: usize,
    /// Back-fills sent at once, across all clients (default 32). A
    /// back-fill holds a burst encoder and WebSocket write buffers while it
    /// runs, so this bounds the memory of a crowd joining at once; a client
    /// waiting for its turn keeps receiving its current subscription live.
    pub backfill_concurrency: usize,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            queue_len: 64,
            burst_bytes: DEFAULT_BURST_BYTES,
            time_range_min_interval: Duration::from_millis(100),
            time_range_max_interval: Duration::from_secs(1),
            send_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            max_client_message: 1 << 20,
            backfill_hold: 1024,
            backfill_concurrency: 32,
        }
    }
}

/// State of the WebSocket service: a live source, options and metrics.
#[derive(Clone)]
pub struct StreamService {
    source: Arc<dyn LiveSource>,
    opts: Arc<ServiceOptions>,
    metrics: Arc<Metrics>,
    backfills: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for StreamService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamService")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl StreamService {
    /// A service over `source`, with fresh metrics.
    pub fn new(source: impl LiveSource, opts: ServiceOptions) -> Self {
        Self::with_metrics(Arc::new(source), opts, Arc::new(Metrics::default()))
    }

    /// A service over a shared source, recording into `metrics`.
    pub fn with_metrics(
        source: Arc<dyn LiveSource>,
        opts: ServiceOptions,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            source,
            backfills: Arc::new(tokio::sync::Semaphore::new(
                opts.backfill_concurrency.max(1),
            )),
            opts: Arc::new(opts),
            metrics,
        }
    }

    /// The service metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The live source.
    pub fn source(&self) -> &Arc<dyn LiveSource> {
        &self.source
    }

    /// Checks the live source's dependencies (Redis, for a Redis source)
    /// within 3 s, and records the result in the metrics.
    pub async fn check_health(&self) -> Result<(), crate::Error> {
        let r = match tokio::time::timeout(Duration::from_secs(3), self.source.health()).await {
            Ok(r) => r,
            Err(_) => Err(crate::Error::Core(rta_core::Error::Unavailable(
                "the live source did not answer within 3 s".into(),
            ))),
        };
        self.metrics.set_healthy(r.is_ok());
        r
    }
}

/// The WebSocket route only ([`STREAM_ROUTE`]), for mounting in a server.
pub fn router(svc: StreamService) -> Router {
    Router::new()
        .route(STREAM_ROUTE, get(stream_handler))
        .with_state(svc)
}

/// Whether a WebSocket upgrade request offers the stream subprotocol
/// (`Sec-WebSocket-Protocol`, any of its comma-separated values).
pub fn offers_subprotocol(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == STREAM_SUBPROTOCOL)
}

async fn stream_handler(
    State(svc): State<StreamService>,
    Path(identity): Path<String>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return (
            StatusCode::BAD_REQUEST,
            "expected a WebSocket upgrade request\n",
        )
            .into_response();
    };
    if !offers_subprotocol(&headers) {
        return (
            StatusCode::NOT_ACCEPTABLE,
            format!("the WebSocket subprotocol {STREAM_SUBPROTOCOL} is required\n"),
        )
            .into_response();
    }
    let max = svc.opts.max_client_message;
    ws.protocols([STREAM_SUBPROTOCOL])
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            svc.metrics.client_connected();
            run_client(&svc, &identity, socket).await;
            svc.metrics.client_disconnected();
        })
}

/// What the task reading client messages reports.
enum ClientMsg {
    Subscribe(StreamSubscription),
    Invalid(u16, &'static str),
    Closed,
}

/// Why a send did not happen.
enum SendError {
    Slow,
    Gone,
}

struct Conn<'a> {
    svc: &'a StreamService,
    sink: SplitSink<WebSocket, Message>,
}

impl Conn<'_> {
    /// Sends one framed burst, giving up when the client lags or stalls.
    async fn send(&mut self, frame: Vec<u8>, rx: &LiveReceiver) -> Result<(), SendError> {
        let n = frame.len() as u64;
        tokio::select! {
            r = self.sink.send(Message::Binary(frame.into())) => r.map_err(|_| SendError::Gone)?,
            _ = rx.wait_lagged() => return Err(SendError::Slow),
            _ = tokio::time::sleep(self.svc.opts.send_timeout) => return Err(SendError::Slow),
        }
        self.svc.metrics.add_bursts_sent(1);
        self.svc.metrics.add_bytes_sent(n);
        Ok(())
    }

    /// Packs items into bursts and sends them.
    async fn send_items(
        &mut self,
        items: &[&StreamData],
        rx: &LiveReceiver,
        backfill: bool,
    ) -> Result<(), SendError> {
        let Ok(mut enc) = BurstEncoder::new(self.svc.opts.burst_bytes) else {
            return Err(SendError::Gone);
        };
        for it in items {
            match enc.push(it) {
                Ok(Some(b)) => {
                    self.send(b.compress(), rx).await?;
                    if backfill {
                        self.svc.metrics.add_backfill_bursts(1);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("dropping an item that cannot be sent: {e}"),
            }
        }
        if let Some(b) = enc.take() {
            self.send(b.compress(), rx).await?;
            if backfill {
                self.svc.metrics.add_backfill_bursts(1);
            }
        }
        Ok(())
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            self.sink.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

fn range_item(r: StreamTimeRange) -> StreamData {
    StreamData {
        data: Some(stream_data::Data::TimeRange(r)),
    }
}

async fn close_unstreamable(
    mut socket: WebSocket,
    code: u16,
    reason: &'static str,
    wait: Duration,
) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(wait, async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}

async fn run_client(svc: &StreamService, identity: &str, socket: WebSocket) {
    let opts = svc.opts.clone();
    let sub = match svc.source.subscribe(identity, opts.queue_len).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            tracing::debug!(identity, "session not available to stream");
            return close_unstreamable(
                socket,
                CLOSE_NORMAL,
                "session not available",
                opts.close_timeout,
            )
            .await;
        }
        Err(e) => {
            tracing::warn!(identity, "live source failed: {e}");
            return close_unstreamable(
                socket,
                CLOSE_INTERNAL,
                "live source unavailable",
                opts.close_timeout,
            )
            .await;
        }
    };
    let (sink, mut stream) = socket.split();
    let (req_tx, mut req_rx) = mpsc::channel::<ClientMsg>(16);
    let reader = tokio::spawn(async move {
        let mut open = true;
        while let Some(msg) = stream.next().await {
            if !open {
                continue; // keep polling so the close reply is flushed
            }
            let report = match msg {
                Ok(Message::Binary(b)) => match StreamRequest::decode(b) {
                    Ok(StreamRequest {
                        option: Some(stream_request::Option::Subscribe(s)),
                    }) => Some(ClientMsg::Subscribe(s)),
                    Ok(_) => None, // unknown request kinds are ignored
                    Err(_) => Some(ClientMsg::Invalid(CLOSE_INVALID, "invalid StreamRequest")),
                },
                Ok(Message::Text(_)) => Some(ClientMsg::Invalid(
                    CLOSE_UNSUPPORTED,
                    "binary messages only",
                )),
                Ok(Message::Close(_)) => {
                    open = false;
                    Some(ClientMsg::Closed)
                }
                Ok(_) => None,
                Err(_) => break,
            };
            if let Some(r) = report {
                if req_tx.send(r).await.is_err() {
                    open = false;
                }
            }
        }
        let _ = req_tx.send(ClientMsg::Closed).await;
    });
    let mut conn = Conn { svc, sink };
    let outcome = serve(&mut conn, sub, &mut req_rx).await;
    // From now on the reader only drives the close handshake.
    drop(req_rx);
    let wait_for_client = match outcome {
        Outcome::ClientClosed => false,
        Outcome::Close(code, reason) => {
            if code == CLOSE_TRY_AGAIN {
                svc.metrics.add_slow_closes(1);
            }
            conn.close(code, reason).await;
            true
        }
        Outcome::Gone => false,
    };
    // Let the reader finish the close handshake (it flushes our reply to a
    // client close, or reads the client's reply to ours).
    let wait = if wait_for_client {
        opts.close_timeout
    } else {
        Duration::from_secs(1)
    };
    let mut reader = reader;
    if tokio::time::timeout(wait, &mut reader).await.is_err() {
        reader.abort();
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.sink.close()).await;
}

enum Outcome {
    ClientClosed,
    Close(u16, &'static str),
    Gone,
}

impl From<SendError> for Outcome {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Slow => Outcome::Close(CLOSE_TRY_AGAIN, "client too slow"),
            SendError::Gone => Outcome::Gone,
        }
    }
}

/// The last time range of a live burst.
fn last_range(b: &LiveBurst) -> Option<StreamTimeRange> {
    b.items.iter().rev().find_map(|it| match &it.data {
        Some(stream_data::Data::TimeRange(r)) => Some(*r),
        _ => None,
    })
}

/// Forwards a live burst: session JSON updates and subscribed data (time
/// ranges go out with the periodic updates instead).
async fn forward_live(
    conn: &mut Conn<'_>,
    b: &LiveBurst,
    subscription: &Subscription,
    receiver: &LiveReceiver,
) -> Result<(), SendError> {
    let items: Vec<&StreamData> = b
        .items
        .iter()
        .filter(|it| {
            matches!(it.data, Some(stream_data::Data::SessionJson(_))) || subscription.wants(it)
        })
        .collect();
    conn.send_items(&items, receiver, false).await
}

async fn serve(
    conn: &mut Conn<'_>,
    sub: LiveSubscription,
    req_rx: &mut mpsc::Receiver<ClientMsg>,
) -> Outcome {
    let opts = conn.svc.opts.clone();
    let LiveSubscription {
        snapshot,
        position,
        mut receiver,
        history,
    } = sub;
    let json = StreamData {
        data: Some(stream_data::Data::SessionJson(snapshot.json)),
    };
    if let Err(e) = conn.send_items(&[&json], &receiver, false).await {
        return e.into();
    }
    let mut range = snapshot.time_range;
    let mut range_sent: Option<(StreamTimeRange, Instant)> = None;
    let mut subscription = Subscription::default();
    let mut last_pos = position;
    let mut tick = tokio::time::interval(opts.time_range_min_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            msg = req_rx.recv() => match msg {
                Some(ClientMsg::Subscribe(req)) => {
                    let before = subscription.clone();
                    subscription.widen(&req);
                    if subscription == before {
                        continue;
                    }
                    // Wait for a back-fill slot; meanwhile the client keeps
                    // what it had subscribed to before, live.
                    let permits = conn.svc.backfills.clone();
                    let _slot = loop {
                        tokio::select! {
                            biased;
                            p = permits.clone().acquire_owned() => break p.ok(),
                            ev = receiver.recv() => match ev {
                                LiveEvent::Burst(b) => {
                                    if let Err(e) = forward_live(conn, &b, &before, &receiver).await {
                                        return e.into();
                                    }
                                    last_pos = b.position;
                                    range = last_range(&b).or(range);
                                }
                                LiveEvent::Lagged => return SendError::Slow.into(),
                                LiveEvent::Ended => return Outcome::Close(CLOSE_NORMAL, "session ended"),
                            },
                        }
                    };
                    let mut past = history.read(last_pos);
                    // Live bursts keep arriving meanwhile: hold them (bounded)
                    // so the receiver's queue does not overflow, and forward
                    // them after the back-fill, with the widened subscription.
                    let mut held = std::collections::VecDeque::new();
                    let mut ended = false;
                    while let Some(b) = past.next().await {
                        let b = match b {
                            Ok(b) => b,
                            Err(e) => {
                                tracing::warn!("back-fill stopped: {e}");
                                break;
                            }
                        };
                        let items: Vec<&StreamData> = b
                            .items
                            .iter()
                            .filter(|it| subscription.wants(it) && !before.wants(it))
                            .collect();
                        if let Err(e) = conn.send_items(&items, &receiver, true).await {
                            return e.into();
                        }
                        while !ended {
                            match receiver.try_recv() {
                                Some(LiveEvent::Burst(b)) if held.len() < opts.backfill_hold => {
                                    held.push_back(b)
                                }
                                Some(LiveEvent::Burst(_) | LiveEvent::Lagged) => {
                                    return SendError::Slow.into()
                                }
                                Some(LiveEvent::Ended) => ended = true,
                                None => break,
                            }
                        }
                    }
                    for b in held {
                        let r = forward_live(conn, &b, &subscription, &receiver).await;
                        if let Err(e) = r {
                            return e.into();
                        }
                        last_pos = b.position;
                        range = last_range(&b).or(range);
                    }
                    if ended {
                        return Outcome::Close(CLOSE_NORMAL, "session ended");
                    }
                }
                Some(ClientMsg::Invalid(code, reason)) => return Outcome::Close(code, reason),
                Some(ClientMsg::Closed) | None => return Outcome::ClientClosed,
            },
            ev = receiver.recv() => match ev {
                LiveEvent::Burst(b) => {
                    if let Err(e) = forward_live(conn, &b, &subscription, &receiver).await {
                        return e.into();
                    }
                    last_pos = b.position;
                    range = last_range(&b).or(range);
                }
                LiveEvent::Lagged => return SendError::Slow.into(),
                LiveEvent::Ended => return Outcome::Close(CLOSE_NORMAL, "session ended"),
            },
            _ = tick.tick() => {
                let Some(r) = range else { continue };
                let due = match range_sent {
                    None => true,
                    Some((prev, at)) => {
                        prev != r || at.elapsed() + Duration::from_millis(5) >= opts.time_range_max_interval
                    }
                };
                if due {
                    if let Err(e) = conn.send_items(&[&range_item(r)], &receiver, false).await {
                        return e.into();
                    }
                    range_sent = Some((r, Instant::now()));
                }
            }
        }
    }
}
