//! The client and the `rta` command line against an `rta-server` that
//! requires bearer tokens from a test OpenID issuer served here: no token
//! or a forged one gets a clear "not authenticated" error (exit 1 from the
//! binary), a token from a refreshing callback works for every service.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../rta-service/tests/support/issuer.rs"]
mod issuer;

use std::time::Duration;

use issuer::{claims, es256_key, start_issuer, token, AUDIENCE};
use rta::service::auth::{AuthOptions, Authenticator};
use rta::service::server::RtaServer;
use rta_client::{Error, RtaClient, SessionRequest, SessionState, Token};

const WRITE: &str = "rta.write";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_sent_and_refusals_are_named() {
    let key = es256_key("k1");
    let forged = es256_key("k1");
    let (_issuer, _issuer_srv, authority) = start_issuer(&[&key]).await;
    let auth = Authenticator::new(AuthOptions {
        authority: authority.clone(),
        audience: AUDIENCE.to_string(),
        write_scope: Some(WRITE.to_string()),
        ca_file: None,
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::builder(dir.path())
        .auth(Some(auth))
        .build()
        .await
        .unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let running = server.spawn(loopback, loopback).await.unwrap();
    let (http, grpc) = (running.http_url(), running.grpc_uri().unwrap());

    // No token, and a forged one: refused everywhere, and said so.
    let bad = token(
        &forged,
        "k1",
        &claims(&authority, serde_json::json!({"scope": WRITE})),
    );
    for b in [
        RtaClient::builder(&grpc).rest(&http),
        RtaClient::builder(&grpc).rest(&http).token(&bad),
    ] {
        let c = b.connect().await.unwrap();
        let open = SessionRequest::new("a-1", SessionState::Open).identifier("a");
        assert!(matches!(
            c.put_session(open).await,
            Err(Error::Unauthenticated(_))
        ));
        assert!(matches!(
            c.rest().unwrap().session("a-1").await,
            Err(Error::Unauthenticated(_))
        ));
        assert!(matches!(
            c.writer("a-1").await,
            Err(Error::Unauthenticated(_))
        ));
    }

    // A token from a callback, asked for on every call.
    let good = token(
        &key,
        "k1",
        &claims(&authority, serde_json::json!({"scope": WRITE})),
    );
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    let c = RtaClient::builder(&grpc)
        .rest(&http)
        .token_source(Token::callback(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Some(good.clone())
        }))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    c.put_session(SessionRequest::new("a-1", SessionState::Open).identifier("a"))
        .await
        .unwrap();
    let w = c.writer("a-1").await.unwrap();
    w.timestamped(rta::core::data::timestamped(0, &[5], &[1.0f64]).unwrap())
        .await
        .unwrap();
    w.close().await.unwrap();
    assert_eq!(
        c.rest().unwrap().session("a-1").await.unwrap()["identity"],
        "a-1"
    );
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= 3);

    // The binary: a wrong token is a clear message and exit code 1.
    let bad_token = bad.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rta"))
            .args([
                "--server", &http, "--grpc", &grpc, "--token", &bad, "sessions", "ls",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not authenticated"), "{err}");
    assert!(!err.contains(&bad_token), "the token is not echoed");
    running.stop().await.unwrap();
}
