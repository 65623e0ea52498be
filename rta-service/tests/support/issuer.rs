//! A test OpenID issuer served on loopback: a discovery document and a
//! JWKS of keys generated here, and tokens signed with them. Shared by the
//! auth tests and the auth bench (`#[path]`-included, so each gets its own
//! copy of these items).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::routing::get;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rta_service::serve::{self, RunningServer};
use serde_json::{json, Value};

/// The audience every test token is for.
pub const AUDIENCE: &str = "rta";

/// An ES256 key pair: the private key as PEM, the public key as a JWK.
pub struct SigningKey {
    pub pem: String,
    pub jwk: Value,
}

/// A new P-256 key published under `kid`.
pub fn es256_key(kid: &str) -> SigningKey {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = key.public_key_raw(); // 0x04 | x | y
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": B64.encode(&raw[1..33]), "y": B64.encode(&raw[33..65]),
    });
    SigningKey {
        pem: key.serialize_pem(),
        jwk,
    }
}

/// The issuer's published keys (replace them to rotate) and how often its
/// JWKS was fetched.
#[derive(Clone, Default)]
pub struct Issuer {
    pub keys: Arc<Mutex<Vec<Value>>>,
    pub jwks_hits: Arc<AtomicUsize>,
    base: Arc<Mutex<String>>,
}

impl Issuer {
    /// How many times the JWKS was fetched.
    pub fn hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }
}

async fn discovery(State(i): State<Issuer>) -> Json<Value> {
    let base = i.base.lock().unwrap().clone();
    Json(json!({ "issuer": base, "jwks_uri": format!("{base}/jwks") }))
}

async fn jwks(State(i): State<Issuer>) -> Json<Value> {
    i.jwks_hits.fetch_add(1, Ordering::SeqCst);
    Json(json!({ "keys": *i.keys.lock().unwrap() }))
}

/// Serves an issuer publishing `keys`; returns it, its server and its URL
/// (the authority).
pub async fn start_issuer(keys: &[&SigningKey]) -> (Issuer, RunningServer, String) {
    let issuer = Issuer::default();
    *issuer.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .with_state(issuer.clone());
    let srv = serve::spawn("127.0.0.1:0".parse().unwrap(), app, None)
        .await
        .unwrap();
    let base = format!("http://{}", srv.http_addr);
    *issuer.base.lock().unwrap() = base.clone();
    (issuer, srv, base)
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Valid claims from `iss` for [`AUDIENCE`] (ten minutes), with `extra`
/// merged over them.
pub fn claims(iss: &str, extra: Value) -> Value {
    let mut c = json!({ "iss": iss, "aud": AUDIENCE, "sub": "user-1", "exp": now() + 600, "nbf": now() - 10 });
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

/// `claims` signed with `key`, naming `kid`.
pub fn token(key: &SigningKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_string());
    encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(key.pem.as_bytes()).unwrap(),
    )
    .unwrap()
}
