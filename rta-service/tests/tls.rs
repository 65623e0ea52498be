//! TLS on the listeners, with a CA this test makes: the RTA Server's REST
//! API over HTTPS and its gRPC services over TLS for a client that trusts
//! the CA, refused for one that does not; the certificate replaced on disk
//! and picked up without a restart (a broken replacement keeps the old
//! one); a gateway that trusts the CA through `TlsCaFile` reaching HTTPS
//! services, and one that does not getting an error rather than data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rta_adapters::stores::{FileConfigStore, SqliteSessionStore};
use rta_core::proto::session_service::session_store_client::SessionStoreClient;
use rta_core::proto::session_service::ListSessionsRequest;
use rta_core::service::SessionStore;
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_service::gateway::{Gateway, GatewayConfig};
use rta_service::options::ServiceOptions;
use rta_service::serve::{self, RunningServer};
use rta_service::server::RtaServer;
use rta_service::tls::TlsFiles;
use rta_service::{configs, monitor, sessions};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// A test certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `localhost` and 127.0.0.1, as PEM chain and key.
    fn leaf(&self) -> (String, String) {
        let params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Writes a leaf into `dir` (cert.pem, key.pem) and returns the files.
    fn write_leaf(&self, dir: &Path) -> TlsFiles {
        let (cert, key) = self.leaf();
        let files = TlsFiles::new(dir.join("cert.pem"), dir.join("key.pem"));
        // Key first: a watcher that sees the new certificate finds its key.
        std::fs::write(&files.key, key).unwrap();
        std::fs::write(&files.cert, cert).unwrap();
        files
    }

    fn write_pem(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.pem()).unwrap();
        path.to_path_buf()
    }
}

fn tls_options(files: TlsFiles) -> ServiceOptions {
    ServiceOptions {
        tls: Some(files),
        https_port: Some(0),
        ..ServiceOptions::http("127.0.0.1:0".parse().unwrap())
    }
}

fn client_trusting(cas: &[&Ca]) -> reqwest::Client {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
    for ca in cas {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap());
    }
    b.build().unwrap()
}

async fn rta_server(dir: &Path, files: TlsFiles) -> (RtaServer, RunningServer) {
    let server = RtaServer::open(dir.join("data")).unwrap();
    server
        .sessions
        .create_or_update(SessionRequest::new("s1", SessionState::Closed).build())
        .await
        .unwrap();
    let running = serve::spawn_with(
        &tls_options(files),
        server.http_router(),
        Some(server.grpc_routes()),
    )
    .await
    .unwrap();
    (server, running)
}

fn https_url(running: &RunningServer, path: &str) -> String {
    format!(
        "https://127.0.0.1:{}{path}",
        running.https_addr.unwrap().port()
    )
}

async fn grpc_list(running: &RunningServer, ca: &Ca) -> Result<usize, String> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(running.grpc_uri().unwrap())
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut client = SessionStoreClient::new(channel);
    let resp = client
        .list_sessions(ListSessionsRequest::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(resp.into_inner().sessions.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_and_grpc_over_tls_trust_only_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, stranger) = (Ca::new("test CA"), Ca::new("another CA"));
    let (_server, running) = rta_server(dir.path(), ca.write_leaf(dir.path())).await;
    assert!(running.grpc_uri().unwrap().starts_with("https://"));

    // REST over HTTPS for a client trusting the CA.
    let resp = client_trusting(&[&ca])
        .get(https_url(&running, "/rta/v2/sessions/s1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["identity"], "s1");
    // Plain HTTP keeps serving on the HTTP port.
    let plain = reqwest::get(format!("{}/rta/v2/sessions/s1", running.http_url()))
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);

    // A client that does not trust the CA is refused at the handshake.
    let err = client_trusting(&[&stranger])
        .get(https_url(&running, "/rta/v2/sessions/s1"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let err = reqwest::Client::new()
        .get(https_url(&running, "/"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.is_connect(),
        "web roots do not include a test CA: {err:?}"
    );

    // gRPC over TLS: the CA's client lists the session; others cannot connect.
    assert_eq!(grpc_list(&running, &ca).await, Ok(1));
    assert!(grpc_list(&running, &stranger).await.is_err());
    let mut plain_grpc =
        SessionStoreClient::connect(format!("http://{}", running.grpc_addr.unwrap()))
            .await
            .unwrap();
    let refused = tokio::time::timeout(
        Duration::from_secs(10),
        plain_grpc.list_sessions(ListSessionsRequest::default()),
    )
    .await
    .expect("a plaintext call on the TLS port must fail, not hang");
    assert!(refused.is_err(), "plaintext gRPC on the TLS port must fail");
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (Ca::new("old CA"), Ca::new("new CA"));
    let files = old_ca.write_leaf(dir.path());
    let (_server, running) = rta_server(dir.path(), files.clone()).await;
    let url = https_url(&running, "/rta/v2/sessions/s1");
    let both = client_trusting(&[&old_ca, &new_ca]);
    assert_eq!(both.get(&url).send().await.unwrap().status(), 200);
    let only_new = client_trusting(&[&new_ca]);
    assert!(only_new.get(&url).send().await.is_err());

    // A broken replacement is refused and the old certificate stays.
    std::fs::write(&files.cert, "not a certificate").unwrap();
    let certs = running.certificate.clone().unwrap();
    let err = certs.reload().unwrap_err();
    assert!(err.to_string().contains("cert.pem"), "{err}");
    let fresh = client_trusting(&[&old_ca]);
    assert_eq!(fresh.get(&url).send().await.unwrap().status(), 200);

    // A new certificate written in place is picked up by the watcher.
    new_ca.write_leaf(dir.path());
    let mut served_new = false;
    for _ in 0..80 {
        if only_new.get(&url).send().await.is_ok() {
            served_new = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served_new, "the new certificate was not picked up");
    // The pooled connection made before the change still works.
    assert_eq!(both.get(&url).send().await.unwrap().status(), 200);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_trusts_https_services_through_its_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("deployment CA");
    let files = ca.write_leaf(dir.path());
    let store = Arc::new(SqliteSessionStore::open(dir.path().join("s.sqlite")).unwrap());
    store
        .create_or_update(SessionRequest::new("s1", SessionState::Closed).build())
        .await
        .unwrap();
    let session_api = monitor::service_router(
        monitor::ServiceInfo::new("rta-sessionsvc"),
        sessions::session_service_router(store),
    );
    let sessions_srv = serve::spawn_with(&tls_options(files.clone()), session_api, None)
        .await
        .unwrap();
    let cfgs = Arc::new(FileConfigStore::open(dir.path().join("configs")).unwrap());
    let config_api = monitor::service_router(
        monitor::ServiceInfo::new("rta-configsvc"),
        configs::config_router(cfgs),
    );
    let configs_srv = serve::spawn_with(&tls_options(files), config_api, None)
        .await
        .unwrap();

    let gateway = |ca_file: Option<PathBuf>| {
        let mut cfg = GatewayConfig::new(https_url(&sessions_srv, ""), https_url(&configs_srv, ""));
        cfg.ca_file = ca_file;
        Gateway::new(cfg).unwrap().http_router()
    };
    let trusting = serve::spawn(
        "127.0.0.1:0".parse().unwrap(),
        gateway(Some(ca.write_pem(&dir.path().join("ca.pem")))),
        None,
    )
    .await
    .unwrap();
    let resp = reqwest::get(format!("{}/rta/v2/sessions/s1", trusting.http_url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let health = reqwest::get(format!("{}/health", trusting.http_url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let untrusting = serve::spawn("127.0.0.1:0".parse().unwrap(), gateway(None), None)
        .await
        .unwrap();
    let resp = reqwest::get(format!("{}/rta/v2/sessions/s1", untrusting.http_url()))
        .await
        .unwrap();
    assert!(
        resp.status().is_server_error(),
        "a gateway that does not trust the services' CA must not serve their data: {}",
        resp.status()
    );
    let health = reqwest::get(format!("{}/health", untrusting.http_url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 503);

    // A CA file that is not PEM is an error that names it.
    std::fs::write(dir.path().join("bad.pem"), "nothing").unwrap();
    let mut cfg = GatewayConfig::new("http://127.0.0.1:1", "http://127.0.0.1:1");
    cfg.ca_file = Some(dir.path().join("bad.pem"));
    let err = Gateway::new(cfg).unwrap_err();
    assert!(err.to_string().contains("bad.pem"), "{err}");

    for s in [trusting, untrusting, sessions_srv, configs_srv] {
        s.stop().await.unwrap();
    }
}
