//! Runs an HTTP router and gRPC services on their listeners.
//!
//! [`serve`] is what a binary calls: it binds the ports of
//! [`ServiceOptions`] and runs until Ctrl-C or SIGTERM. [`spawn`] starts the
//! same servers in the background (use port 0 for an ephemeral port) and
//! returns their addresses and a handle to stop them, which is what tests use.
//!
//! ```
//! use rta_service::{monitor, serve};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let http = monitor::service_router(monitor::ServiceInfo::new("demo"), axum::Router::new());
//! let server = serve::spawn("127.0.0.1:0".parse().unwrap(), http, None).await.unwrap();
//! let addr = server.http_addr;
//! let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
//! server.stop().await.unwrap();
//! # });
//! ```

mod http;
mod listeners;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::Routes;

pub use listeners::Listeners;

use crate::options::ServiceOptions;
use crate::tls::CertStore;
use crate::{Error, Result};

/// HTTP/2 flow-control window per gRPC stream (8 MiB). h2's default of
/// 64 KiB lets a `WriteDataStream` client send only 64 KiB per round trip,
/// which caps bulk writes long before the store does.
pub const GRPC_STREAM_WINDOW: u32 = 8 * 1024 * 1024;

/// HTTP/2 flow-control window per gRPC connection (16 MiB).
pub const GRPC_CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

/// Largest HTTP/2 frame a gRPC client may send (1 MiB rather than 16 KiB):
/// bulk writes cross in fewer frames, which saved about an eighth of the
/// CPU of a `WriteDataStream` call on loopback.
pub const GRPC_MAX_FRAME: u32 = 1024 * 1024;

/// Serves `http` on the HTTP port (and the HTTPS port when TLS is
/// configured) and, if given, `grpc` on the gRPC port of `opts` (over TLS
/// when TLS is configured), until Ctrl-C or SIGTERM; then finishes
/// in-flight requests.
pub async fn serve(opts: &ServiceOptions, http: Router, grpc: Option<Routes>) -> Result<()> {
    let listeners = Listeners::bind(opts, grpc.is_some()).await?;
    tracing::info!(
        http = %listeners.http_addr(),
        https = ?listeners.https_addr(),
        grpc = ?listeners.grpc_addr(),
        tls = listeners.certificate().is_some(),
        "listening"
    );
    listeners.serve(http, grpc, shutdown_signal()).await
}

/// Completes on Ctrl-C, or SIGTERM on Unix.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// Servers started by [`spawn`] or [`spawn_with`].
#[derive(Debug)]
pub struct RunningServer {
    /// Where the HTTP server listens.
    pub http_addr: SocketAddr,
    /// Where the HTTPS server listens, if one was started.
    pub https_addr: Option<SocketAddr>,
    /// Where the gRPC server listens, if one was started.
    pub grpc_addr: Option<SocketAddr>,
    /// The certificate of the HTTPS and gRPC listeners, when TLS is on.
    pub certificate: Option<Arc<CertStore>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<()>>,
}

impl RunningServer {
    /// The gRPC endpoint as a URI for tonic clients (`https://` when the
    /// gRPC port speaks TLS).
    pub fn grpc_uri(&self) -> Option<String> {
        let scheme = if self.certificate.is_some() {
            "https"
        } else {
            "http"
        };
        self.grpc_addr.map(|a| format!("{scheme}://{a}"))
    }

    /// The HTTP base URL (`http://127.0.0.1:port`).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stops the servers gracefully and waits for them.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.task
            .await
            .map_err(|e| Error::Server(format!("server task failed: {e}")))?
    }
}

/// Binds `http_addr` (and `grpc`'s address) and serves plain HTTP and gRPC
/// in the background.
pub async fn spawn(
    http_addr: SocketAddr,
    http: Router,
    grpc: Option<(SocketAddr, Routes)>,
) -> Result<RunningServer> {
    let mut opts = ServiceOptions::http(http_addr);
    let routes = grpc.map(|(addr, routes)| {
        opts.grpc_port = addr.port();
        routes
    });
    spawn_with(&opts, http, routes).await
}

/// Binds the ports of `opts` (port 0 for an ephemeral one) and serves in
/// the background, with TLS when `opts.tls` is set.
pub async fn spawn_with(
    opts: &ServiceOptions,
    http: Router,
    grpc: Option<Routes>,
) -> Result<RunningServer> {
    let listeners = Listeners::bind(opts, grpc.is_some()).await?;
    let (stop, mut rx) = watch::channel(false);
    let shutdown = async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let (http_addr, https_addr, grpc_addr) = (
        listeners.http_addr(),
        listeners.https_addr(),
        listeners.grpc_addr(),
    );
    let certificate = listeners.certificate().cloned();
    let task = tokio::spawn(listeners.serve(http, grpc, shutdown));
    Ok(RunningServer {
        http_addr,
        https_addr,
        grpc_addr,
        certificate,
        stop,
        task,
    })
}
