//! TLS for the listeners and trust for the clients.
//!
//! - [`CertStore`] holds a certificate chain and key loaded from PEM files
//!   and hands them to every handshake. [`CertStore::watch`] reloads them
//!   when the files change or on SIGHUP: new handshakes get the new
//!   certificate, connections already open keep theirs, and a reload that
//!   fails (a half-written file, a key that does not match) keeps the old
//!   one and logs why.
//! - [`TlsListener`] accepts TCP connections and runs their handshakes
//!   concurrently, each bounded by [`HANDSHAKE_TIMEOUT`], so a client that
//!   never finishes its handshake cannot hold up the others. HTTPS
//!   (`axum::serve`) and gRPC (tonic) both take one.
//! - [`http_client`] builds the `reqwest` client the SDK's HTTP clients use
//!   (gateway, remote data service, key fetching), trusting the system's
//!   web roots plus an optional CA file.
//!
//! ```no_run
//! use rta_service::tls::{CertStore, TlsFiles, TlsListener, Alpn};
//!
//! # async fn run() -> rta_service::Result<()> {
//! let certs = CertStore::load(TlsFiles::new("cert.pem", "key.pem"))?;
//! certs.clone().watch(std::time::Duration::from_secs(2));
//! let tcp = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
//! let https = TlsListener::new(tcp, certs.server_config(Alpn::Http))?;
//! # let _ = https; Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::{Error, Result};

/// How long a client may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often [`CertStore::watch`] looks at the files' modification times.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Handshaken connections waiting for the server to take them.
const ACCEPT_QUEUE: usize = 128;

/// The PEM files of a server certificate (`TlsCert`, `TlsKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The files at `cert` and `key`.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        TlsFiles {
            cert: cert.into(),
            key: key.into(),
        }
    }

    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((m(&self.cert)?, m(&self.key)?))
    }
}

/// Which protocols a TLS listener offers with ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// HTTP/2 and HTTP/1.1 (REST, WebSocket upgrades).
    Http,
    /// HTTP/2 only (gRPC).
    Grpc,
}

/// The server certificate every handshake uses, reloadable (cheap to share).
#[derive(Debug)]
pub struct CertStore {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    loaded_stamp: Mutex<Option<(SystemTime, SystemTime)>>,
}

impl CertStore {
    /// Loads the certificate chain and key, checking that they match.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>> {
        install_provider();
        let stamp = files.modified();
        let key = read_certified_key(&files)?;
        Ok(Arc::new(CertStore {
            files,
            current: RwLock::new(Arc::new(key)),
            loaded_stamp: Mutex::new(stamp),
        }))
    }

    /// The files this store reads.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Reads the files again; on failure the current certificate stays.
    pub fn reload(&self) -> Result<()> {
        let stamp = self.files.modified();
        let key = read_certified_key(&self.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        *self.loaded_stamp.lock().unwrap_or_else(|p| p.into_inner()) = stamp;
        tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
        Ok(())
    }

    /// Reloads when the files' modification times differ from the loaded ones.
    pub fn reload_if_changed(&self) -> Result<bool> {
        let now = self.files.modified();
        let loaded = *self.loaded_stamp.lock().unwrap_or_else(|p| p.into_inner());
        if now.is_none() || now == loaded {
            return Ok(false);
        }
        self.reload().map(|()| true)
    }

    /// Watches the files in the background (every `interval`, and at once on
    /// SIGHUP) and reloads them when they change. The task lives as long
    /// as the runtime.
    pub fn watch(self: Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut hangup = hangup_signal();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let forced = tokio::select! {
                    _ = tick.tick() => false,
                    Some(()) = recv_hangup(&mut hangup) => true,
                };
                let result = if forced {
                    self.reload().map(|()| true)
                } else {
                    self.reload_if_changed()
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, "TLS certificate not reloaded; keeping the current one");
                }
            }
        })
    }

    /// A rustls server configuration whose handshakes take the current
    /// certificate from this store.
    pub fn server_config(self: &Arc<Self>, alpn: Alpn) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = match alpn {
            Alpn::Http => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Alpn::Grpc => vec![b"h2".to_vec()],
        };
        Arc::new(config)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// Several rustls providers may be linked into one binary (reqwest, redis,
/// tonic); choose ring once so that builders without an explicit provider
/// work.
fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn read_certified_key(files: &TlsFiles) -> Result<CertifiedKey> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::Tls(format!(
                "cannot read certificates from {}: {e}",
                files.cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "no certificate in {}",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        Error::Tls(format!(
            "cannot read a private key from {}: {e}",
            files.key.display()
        ))
    })?;
    CertifiedKey::from_der(certs, key, &rustls::crypto::ring::default_provider()).map_err(|e| {
        Error::Tls(format!(
            "certificate {} and key {} cannot be used together: {e}",
            files.cert.display(),
            files.key.display()
        ))
    })
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

fn hangup_signal() -> Hangup {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
}

async fn recv_hangup(h: &mut Hangup) -> Option<()> {
    #[cfg(unix)]
    if let Some(s) = h {
        return s.recv().await;
    }
    let _ = h;
    std::future::pending().await
}

/// A listener of TLS connections: TCP accepted in the background,
/// handshakes run concurrently with a deadline, handshaken streams handed
/// out in order of completion. Failed handshakes are logged at debug level
/// and dropped.
#[derive(Debug)]
pub struct TlsListener {
    local_addr: std::net::SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, std::net::SocketAddr)>,
}

impl TlsListener {
    /// Starts accepting on `tcp` with `config`; stops when this listener is
    /// dropped.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> Result<Self> {
        let local_addr = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(ACCEPT_QUEUE);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = tx.closed() => return,
                    a = tcp.accept() => a,
                };
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %e, "TLS accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local_addr, ready })
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    /// The next handshaken connection and its peer address.
    pub async fn next(&mut self) -> Option<(TlsStream<TcpStream>, std::net::SocketAddr)> {
        self.ready.recv().await
    }

    /// The connections as a stream, as tonic's `serve_with_incoming` takes them.
    pub fn into_stream(
        self,
    ) -> impl futures::Stream<Item = std::io::Result<TlsStream<TcpStream>>> + Send + 'static {
        futures::stream::unfold(self, |mut l| async move {
            let (io, _) = l.next().await?;
            Some((Ok(io), l))
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.next().await {
            Some(c) => c,
            // The accept task only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// Reads the PEM certificates of a CA file (`TlsCaFile`).
pub fn read_ca(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::Tls(format!("cannot read CA file {}: {e}", path.display())))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| Error::Tls(format!("CA file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "no certificate in CA file {}",
            path.display()
        )));
    }
    Ok(certs)
}

/// A `reqwest` client builder that trusts the web's roots and, if given,
/// the certificates of `ca_file`.
///
/// ```
/// let client = rta_service::tls::http_client(None)?.build().unwrap();
/// # let _ = client;
/// # Ok::<(), rta_service::Error>(())
/// ```
pub fn http_client(ca_file: Option<&Path>) -> Result<reqwest::ClientBuilder> {
    install_provider();
    let mut builder = reqwest::Client::builder();
    if let Some(ca) = ca_file {
        for cert in read_ca(ca)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder)
}

/// A rustls client configuration that trusts the web's roots and, if
/// given, the certificates of `ca_file` (for clients that are not
/// `reqwest`, such as the gateway's WebSocket relay).
///
/// ```
/// let config = rta_service::tls::client_config(None)?;
/// assert!(config.alpn_protocols.is_empty());
/// # Ok::<(), rta_service::Error>(())
/// ```
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    install_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca) = ca_file {
        let certs = CertificateDer::pem_file_iter(ca)
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| Error::Tls(format!("cannot read CA file {}: {e}", ca.display())))?;
        if certs.is_empty() {
            return Err(Error::Tls(format!(
                "no certificate in CA file {}",
                ca.display()
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| Error::Tls(format!("CA file {}: {e}", ca.display())))?;
        }
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}
