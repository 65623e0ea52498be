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
use std::sync::Arc;

use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::Routes;

use crate::options::ServiceOptions;
use crate::tls::{Alpn, CertStore, TlsListener};
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
        http = %listeners.http_addr,
        https = ?listeners.https_addr(),
        grpc = ?listeners.grpc_addr(),
        tls = listeners.tls.is_some(),
        "listening"
    );
    listeners.serve(http, grpc, shutdown_signal()).await
}

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Server(format!("cannot listen for {what} on {addr}: {e}")))
}

/// The bound listeners of one service: HTTP, and optionally HTTPS and gRPC,
/// with the certificate they share when TLS is on.
#[derive(Debug)]
pub struct Listeners {
    http: TcpListener,
    http_addr: SocketAddr,
    https: Option<TlsListener>,
    grpc: Option<(TcpListener, SocketAddr)>,
    tls: Option<Arc<CertStore>>,
}

impl Listeners {
    /// Binds the ports of `opts` (the gRPC port only when `grpc`), loads the
    /// certificate when `TlsCert` is set and starts watching it for changes.
    pub async fn bind(opts: &ServiceOptions, grpc: bool) -> Result<Self> {
        let tls = match &opts.tls {
            Some(files) => {
                let certs = CertStore::load(files.clone())?;
                certs.clone().watch(crate::tls::WATCH_INTERVAL);
                Some(certs)
            }
            None => None,
        };
        let http = bind(opts.http_addr(), "HTTP").await?;
        let http_addr = http.local_addr()?;
        let https = match (&tls, opts.https_addr()) {
            (Some(certs), Some(addr)) => Some(TlsListener::new(
                bind(addr, "HTTPS").await?,
                certs.server_config(Alpn::Http),
            )?),
            _ => None,
        };
        let grpc = match grpc {
            true => {
                let l = bind(opts.grpc_addr(), "gRPC").await?;
                let a = l.local_addr()?;
                Some((l, a))
            }
            false => None,
        };
        Ok(Listeners {
            http,
            http_addr,
            https,
            grpc,
            tls,
        })
    }

    /// Where HTTP is served.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where HTTPS is served, if it is.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().map(TlsListener::local_addr)
    }

    /// Where gRPC is served, if it is.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().map(|(_, a)| *a)
    }

    /// The certificate of the HTTPS and gRPC listeners, when TLS is on.
    pub fn certificate(&self) -> Option<&Arc<CertStore>> {
        self.tls.as_ref()
    }

    /// Serves `http` on HTTP (and HTTPS) and `grpc` on the gRPC listener
    /// until `shutdown` completes.
    pub async fn serve(
        self,
        http: Router,
        grpc: Option<Routes>,
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

        let (http_rx, https_rx) = (rx.clone(), rx.clone());
        let https_router = http.clone();
        let http_task = async move {
            axum::serve(
                self.http,
                http.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(wait(http_rx))
            .await
            .map_err(|e| Error::Server(format!("HTTP server: {e}")))
        };
        let https_task = async move {
            match self.https {
                // `tap_io` gives the listener axum's `ConnectInfo` support.
                Some(listener) => axum::serve(
                    listener.tap_io(|_| {}),
                    https_router.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(wait(https_rx))
                .await
                .map_err(|e| Error::Server(format!("HTTPS server: {e}"))),
                None => Ok(()),
            }
        };
        let tls = self.tls;
        let grpc_task = async move {
            let (Some((listener, _)), Some(routes)) = (self.grpc, grpc) else {
                return Ok(());
            };
            let server = tonic::transport::Server::builder()
                .initial_stream_window_size(Some(GRPC_STREAM_WINDOW))
                .initial_connection_window_size(Some(GRPC_CONNECTION_WINDOW))
                .max_frame_size(Some(GRPC_MAX_FRAME))
                .add_routes(routes);
            let served = match tls {
                Some(certs) => {
                    let incoming =
                        TlsListener::new(listener, certs.server_config(Alpn::Grpc))?.into_stream();
                    server
                        .serve_with_incoming_shutdown(incoming, wait(rx))
                        .await
                }
                // Nagle's algorithm would hold back small responses (flush
                // acks) by tens of milliseconds; gRPC frames are already
                // batched. (The TLS listener sets it too.)
                None => {
                    server
                        .serve_with_incoming_shutdown(
                            tonic::transport::server::TcpIncoming::from(listener)
                                .with_nodelay(Some(true)),
                            wait(rx),
                        )
                        .await
                }
            };
            served.map_err(|e| Error::Server(format!("gRPC server: {e}")))
        };
        let (h, s, g) = tokio::join!(http_task, https_task, grpc_task);
        h.and(s).and(g)
    }
}

/// Serves on listeners that are already bound, until `shutdown` completes.
pub async fn serve_listeners(
    http_listener: TcpListener,
    http: Router,
    grpc: Option<(TcpListener, Routes)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let http_addr = http_listener.local_addr()?;
    let (grpc_listener, routes) = match grpc {
        Some((l, r)) => {
            let a = l.local_addr()?;
            (Some((l, a)), Some(r))
        }
        None => (None, None),
    };
    Listeners {
        http: http_listener,
        http_addr,
        https: None,
        grpc: grpc_listener,
        tls: None,
    }
    .serve(http, routes, shutdown)
    .await
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
