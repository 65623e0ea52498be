//! The issuer's signing keys: found through its discovery document, cached,
//! fetched again (at most every `REFRESH_INTERVAL`) when a token names a key
//! the cache does not hold.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use super::{AuthError, REFRESH_INTERVAL};

/// One verification key and the algorithm it is for.
pub(super) struct Key {
    pub(super) key: DecodingKey,
    pub(super) alg: Algorithm,
}

pub(super) struct KeyCache {
    client: reqwest::Client,
    authority: String,
    keys: RwLock<HashMap<String, Arc<Key>>>,
    last_fetch: Mutex<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
    refresh: Duration,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

impl KeyCache {
    pub(super) fn new(client: reqwest::Client, authority: &str) -> Self {
        KeyCache {
            client,
            authority: authority.to_string(),
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
            refresh: REFRESH_INTERVAL,
        }
    }

    pub(super) fn set_refresh_interval(&mut self, interval: Duration) {
        self.refresh = interval;
    }

    /// The key `kid` names ("" when the token names none: the only key).
    fn lookup(&self, kid: &str) -> Option<Arc<Key>> {
        let keys = self.keys.read().ok()?;
        match keys.get(kid) {
            Some(k) => Some(k.clone()),
            None if kid.is_empty() && keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    fn cached(&self) -> usize {
        self.keys.read().map_or(0, |k| k.len())
    }

    pub(super) async fn key(&self, kid: &str) -> Result<Arc<Key>, AuthError> {
        if let Some(k) = self.lookup(kid) {
            return Ok(k);
        }
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(k) = self.lookup(kid) {
            return Ok(k);
        }
        let recent = self
            .last_fetch
            .lock()
            .ok()
            .and_then(|t| *t)
            .is_some_and(|t| t.elapsed() < self.refresh);
        if !recent {
            if let Ok(mut t) = self.last_fetch.lock() {
                *t = Some(Instant::now());
            }
            match self.fetch().await {
                Ok(fresh) => {
                    if let Ok(mut keys) = self.keys.write() {
                        *keys = fresh;
                    }
                }
                Err(e) => {
                    tracing::warn!(authority = %self.authority, error = %e, "cannot fetch the issuer's keys");
                    if self.cached() == 0 {
                        return Err(AuthError::Unavailable(format!(
                            "the keys of {} cannot be fetched: {e}",
                            self.authority
                        )));
                    }
                }
            }
        } else if self.cached() == 0 {
            return Err(AuthError::Unavailable(format!(
                "the keys of {} could not be fetched; retrying within {} s",
                self.authority,
                self.refresh.as_secs()
            )));
        }
        self.lookup(kid)
            .ok_or_else(|| AuthError::Invalid(format!("unknown key id {kid:?}")))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url} answered {}", resp.status()));
        }
        resp.json().await.map_err(|e| format!("{url}: {e}"))
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<Key>>, String> {
        let discovery: Discovery = self
            .get_json(&format!(
                "{}/.well-known/openid-configuration",
                self.authority
            ))
            .await?;
        if self.authority.starts_with("https://") && !discovery.jwks_uri.starts_with("https://") {
            return Err(format!("jwks_uri {:?} is not https", discovery.jwks_uri));
        }
        let set: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let mut out = HashMap::new();
        for jwk in &set.keys {
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let alg = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(a), _) => Algorithm::from_str(&a.to_string()).ok(),
                (None, AlgorithmParameters::RSA(_)) => Some(Algorithm::RS256),
                (None, AlgorithmParameters::EllipticCurve(ec)) => match ec.curve {
                    EllipticCurve::P256 => Some(Algorithm::ES256),
                    EllipticCurve::P384 => Some(Algorithm::ES384),
                    _ => None,
                },
                _ => None,
            };
            // Only asymmetric keys: an HMAC "key" from a JWKS is never trusted.
            let asymmetric = matches!(
                jwk.algorithm,
                AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_)
            );
            let (Some(alg), true) = (alg, asymmetric) else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                let kid = jwk.common.key_id.clone().unwrap_or_default();
                out.insert(kid, Arc::new(Key { key, alg }));
            }
        }
        if out.is_empty() {
            return Err(format!("{} has no usable signing key", discovery.jwks_uri));
        }
        Ok(out)
    }
}
