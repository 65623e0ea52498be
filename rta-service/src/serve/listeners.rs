//! The bound listeners of one service and the servers run on them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::Routes;

use super::{http, GRPC_CONNECTION_WINDOW, GRPC_MAX_FRAME, GRPC_STREAM_WINDOW};
use crate::options::{ListenerLimits, ServiceOptions};
use crate::tls::{Alpn, CertStore, TlsListener};
use crate::{Error, Result};

async fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Server(format!("cannot listen for {what} on {addr}: {e}")))
}

/// The bound listeners of one service: HTTP, and optionally HTTPS and gRPC,
/// with the certificate they share when TLS is on and the limits they
/// apply.
#[derive(Debug)]
pub struct Listeners {
    http: TcpListener,
    http_addr: SocketAddr,
    https: Option<TlsListener>,
    grpc: Option<(TcpListener, SocketAddr)>,
    tls: Option<Arc<CertStore>>,
    limits: ListenerLimits,
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
            limits: opts.limits.clone(),
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
    /// until `shutdown` completes, then lets in-flight requests finish.
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
        let https_task = {
            let (router, limits, rx) = (http.clone(), self.limits.clone(), rx.clone());
            async move {
                if let Some(listener) = self.https {
                    http::serve(listener, router, limits, rx).await;
                }
            }
        };
        let http_task = http::serve(self.http, http, self.limits.clone(), rx.clone());
        let grpc_task = serve_grpc(self.grpc, grpc, self.tls, &self.limits, rx);
        let ((), (), g) = tokio::join!(http_task, https_task, grpc_task);
        g
    }
}

async fn serve_grpc(
    listener: Option<(TcpListener, SocketAddr)>,
    routes: Option<Routes>,
    tls: Option<Arc<CertStore>>,
    limits: &ListenerLimits,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let (Some((listener, _)), Some(routes)) = (listener, routes) else {
        return Ok(());
    };
    let server = tonic::transport::Server::builder()
        .initial_stream_window_size(Some(GRPC_STREAM_WINDOW))
        .initial_connection_window_size(Some(GRPC_CONNECTION_WINDOW))
        .max_frame_size(Some(GRPC_MAX_FRAME))
        .max_concurrent_streams(Some(limits.http2_max_concurrent_streams))
        .http2_max_header_list_size(Some(limits.http2_max_header_list))
        .http2_keepalive_interval(Some(limits.keep_alive))
        .http2_keepalive_timeout(Some(limits.keep_alive))
        .add_routes(routes);
    let mut deadline = stop.clone();
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    // tonic's graceful shutdown waits for every call to end, and a client
    // streaming `WriteDataStream` may never end its call: after the drain
    // period `serve` returns regardless, so a stopping process can exit
    // (which cuts the calls still open).
    let drained = async move {
        let _ = deadline.wait_for(|s| *s).await;
        tokio::time::sleep(http::DRAIN).await;
    };
    let (tls_incoming, plain) = match tls {
        Some(certs) => (
            Some(TlsListener::new(listener, certs.server_config(Alpn::Grpc))?),
            None,
        ),
        None => (None, Some(listener)),
    };
    let serving = async move {
        match (tls_incoming, plain) {
            (Some(incoming), _) => {
                server
                    .serve_with_incoming_shutdown(incoming.into_stream(), stopped)
                    .await
            }
            // Nagle's algorithm would hold back small responses (flush acks) by
            // tens of milliseconds; gRPC frames are already batched. (The TLS
            // listener sets it too.)
            (None, Some(listener)) => {
                let incoming =
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
                server.serve_with_incoming_shutdown(incoming, stopped).await
            }
            (None, None) => Ok(()),
        }
    };
    let served = tokio::select! {
        r = serving => r,
        () = drained => {
            tracing::warn!("gRPC calls still open after the drain period; closing them");
            Ok(())
        }
    };
    served.map_err(|e| Error::Server(format!("gRPC server: {e}")))
}
