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

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::Routes;

use crate::options::ServiceOptions;
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

/// Serves `http` on the HTTP port and, if given, `grpc` on the gRPC port of
/// `opts`, until Ctrl-C or SIGTERM; then finishes in-flight requests.
pub async fn serve(opts: &ServiceOptions, http: Router, grpc: Option<Routes>) -> Result<()> {
    let http_listener = bind(opts.http_addr(), "HTTP").await?;
    let grpc = match grpc {
        Some(routes) => Some((bind(opts.grpc_addr(), "gRPC").await?, routes)),
        None => None,
    };
    tracing::info!(http = %opts.http_addr(), grpc = ?grpc.as_ref().map(|_| opts.grpc_addr()), "listening");
    serve_listeners(http_listener, http, grpc, shutdown_signal()).await
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Server(format!("cannot listen for {what} on {addr}: {e}")))
}

/// Serves on listeners that are already bound, until `shutdown` completes.
pub async fn serve_listeners(
    http_listener: TcpListener,
    http: Router,
    grpc: Option<(TcpListener, Routes)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let http_rx = rx.clone();
    let http_task = async move {
        axum::serve(
            http_listener,
            http.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(wait(http_rx))
        .await
        .map_err(|e| Error::Server(format!("HTTP server: {e}")))
    };
    let grpc_task = async move {
        match grpc {
            Some((listener, routes)) => tonic::transport::Server::builder()
                .initial_stream_window_size(Some(GRPC_STREAM_WINDOW))
                .initial_connection_window_size(Some(GRPC_CONNECTION_WINDOW))
                .max_frame_size(Some(GRPC_MAX_FRAME))
                .add_routes(routes)
                // Nagle's algorithm would hold back small responses (flush acks) by
                // tens of milliseconds; gRPC frames are already batched.
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                    wait(rx),
                )
                .await
                .map_err(|e| Error::Server(format!("gRPC server: {e}"))),
            None => Ok(()),
        }
    };
    let (h, g) = tokio::join!(http_task, grpc_task);
    h.and(g)
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

/// Servers started by [`spawn`].
#[derive(Debug)]
pub struct RunningServer {
    /// Where the HTTP server listens.
    pub http_addr: SocketAddr,
    /// Where the gRPC server listens, if one was started.
    pub grpc_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<()>>,
}

impl RunningServer {
    /// The gRPC endpoint as an `http://` URI for tonic clients.
    pub fn grpc_uri(&self) -> Option<String> {
        self.grpc_addr.map(|a| format!("http://{a}"))
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

/// Binds `http_addr` (and `grpc`'s address) and serves in the background.
pub async fn spawn(
    http_addr: SocketAddr,
    http: Router,
    grpc: Option<(SocketAddr, Routes)>,
) -> Result<RunningServer> {
    let http_listener = bind(http_addr, "HTTP").await?;
    let http_addr = http_listener.local_addr()?;
    let (grpc, grpc_addr) = match grpc {
        Some((addr, routes)) => {
            let l = bind(addr, "gRPC").await?;
            let a = l.local_addr()?;
            (Some((l, routes)), Some(a))
        }
        None => (None, None),
    };
    let (stop, mut rx) = watch::channel(false);
    let shutdown = async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let task = tokio::spawn(serve_listeners(http_listener, http, grpc, shutdown));
    Ok(RunningServer {
        http_addr,
        grpc_addr,
        stop,
        task,
    })
}

/// Serves `router` over HTTPS (rustls) on `addr` with a PEM certificate
/// chain and private key, until `shutdown` completes.
pub async fn serve_https(
    addr: SocketAddr,
    router: axum::Router,
    cert_pem: PathBuf,
    key_pem: PathBuf,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // Several rustls providers may be linked in; pick ring explicitly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert_pem, &key_pem)
        .await
        .map_err(|e| {
            Error::Options(format!(
                "cannot load TLS certificate {} / key {}: {e}",
                cert_pem.display(),
                key_pem.display()
            ))
        })?;
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    axum_server::bind_rustls(addr, tls)
        .handle(handle)
        .serve(router.into_make_service())
        .await?;
    Ok(())
}

/// Serves `router` over HTTPS in the background when `https` is configured
/// (the `HttpsPort`, `TlsCert` and `TlsKey` options), until Ctrl-C or
/// SIGTERM; a failure (a missing certificate, a port in use) is logged.
pub fn spawn_https(https: Option<&crate::options::HttpsOptions>, router: Router) {
    let Some(https) = https.cloned() else {
        return;
    };
    tokio::spawn(async move {
        tracing::info!(addr = %https.addr, "HTTPS listening");
        let shutdown = shutdown_signal();
        if let Err(e) = serve_https(https.addr, router, https.cert, https.key, shutdown).await {
            tracing::error!(error = %e, "HTTPS server failed");
        }
    });
}
