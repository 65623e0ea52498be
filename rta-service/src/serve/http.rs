//! Serves an axum `Router` on one listener with hyper's connection
//! settings and the [`ListenerLimits`]: a deadline for a connection's first
//! bytes and for every request head (which also ends idle HTTP/1
//! keep-alive connections), a cap on open connections, HTTP/2 stream and
//! header-list limits and keep-alive pings, and graceful shutdown.
//!
//! `axum::serve` offers none of these settings (its hyper builder has no
//! timer, so hyper's header timeout never runs), hence this loop over
//! hyper-util's connection builders.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::options::ListenerLimits;
use crate::tls::TlsListener;

/// How long a new connection may wait for a free slot when
/// `Limits:MaxConnections` are open, before it is closed.
const SLOT_WAIT: Duration = Duration::from_secs(1);

/// How long in-flight requests get to finish after shutdown starts.
pub(super) const DRAIN: Duration = Duration::from_secs(10);

/// The first bytes of an HTTP/2 connection (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A connection whose HTTP version can be told before hyper takes it.
pub(super) trait Sniff:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static
{
    /// Whether the client speaks HTTP/2 (prior knowledge, or ALPN `h2`);
    /// returns once the connection's first bytes tell.
    fn is_h2(&self) -> impl std::future::Future<Output = std::io::Result<bool>> + Send;
}

impl Sniff for TcpStream {
    async fn is_h2(&self) -> std::io::Result<bool> {
        let mut buf = [0u8; 24];
        loop {
            let n = self.peek(&mut buf).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if buf[..n] != H2_PREFACE[..n] {
                return Ok(false);
            }
            if n == H2_PREFACE.len() {
                return Ok(true);
            }
            // A partial preface: `peek` would return the same bytes at once,
            // so wait a little for the rest (the caller's deadline bounds it).
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Sniff for tokio_rustls::server::TlsStream<TcpStream> {
    async fn is_h2(&self) -> std::io::Result<bool> {
        Ok(self.get_ref().1.alpn_protocol() == Some(b"h2"))
    }
}

/// Where connections come from: a TCP or a TLS listener.
pub(super) trait Accept: Send + 'static {
    type Io: Sniff;
    fn accept_one(
        &mut self,
    ) -> impl std::future::Future<Output = Option<(Self::Io, SocketAddr)>> + Send;
}

impl Accept for tokio::net::TcpListener {
    type Io = TcpStream;
    async fn accept_one(&mut self) -> Option<(TcpStream, SocketAddr)> {
        loop {
            match self.accept().await {
                Ok((s, a)) => {
                    let _ = s.set_nodelay(true);
                    return Some((s, a));
                }
                Err(e) => {
                    // Out of descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

impl Accept for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    async fn accept_one(&mut self) -> Option<(Self::Io, SocketAddr)> {
        self.next().await
    }
}

/// The hyper connection builder for `limits`.
fn builder(limits: &ListenerLimits) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    b.http2()
        .timer(TokioTimer::new())
        // RFC 8441: WebSockets over HTTP/2.
        .enable_connect_protocol()
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .max_header_list_size(limits.http2_max_header_list)
        .keep_alive_interval(limits.keep_alive)
        .keep_alive_timeout(limits.keep_alive);
    b
}

/// Serves `router` on `listener` until `stop` turns true, then lets
/// in-flight requests finish (up to 10 s).
pub(super) async fn serve<L: Accept>(
    mut listener: L,
    router: Router,
    limits: ListenerLimits,
    mut stop: watch::Receiver<bool>,
) {
    let router = router.layer(axum::extract::DefaultBodyLimit::max(
        limits.max_request_body,
    ));
    let builder = Arc::new(builder(&limits));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let header_timeout = limits.header_read_timeout;
    loop {
        let (io, peer) = tokio::select! {
            c = listener.accept_one() => match c {
                Some(c) => c,
                None => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let (builder, slots, watcher, router) = (
            builder.clone(),
            slots.clone(),
            graceful.watcher(),
            router.clone(),
        );
        tokio::spawn(async move {
            let Ok(Ok(_slot)) = tokio::time::timeout(SLOT_WAIT, slots.acquire_owned()).await else {
                tracing::debug!(%peer, "connection refused: Limits:MaxConnections are open");
                return;
            };
            // hyper's own version detection has no deadline: wait here,
            // bounded, until the protocol is known.
            if !matches!(
                tokio::time::timeout(header_timeout, io.is_h2()).await,
                Ok(Ok(_))
            ) {
                return;
            }
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(req.map(axum::body::Body::new))
            });
            let io = TokioIo::new(io);
            let conn = builder.serve_connection_with_upgrades(io, svc);
            let result = watcher.watch(conn.into_owned()).await;
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain period; closing them");
    }
}
