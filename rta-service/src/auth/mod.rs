//! OAuth 2.0 bearer tokens (the toolkit's `EnableAuth`, `Auth:Authority`,
//! `Auth:Audience`, plus `Auth:RequireHttpsMetadata` and, beyond the
//! toolkit, `Auth:WriteScope`).
//!
//! An [`Authenticator`] validates JSON Web Tokens signed by the issuer
//! (`Auth:Authority`) with the keys its OpenID Connect discovery document
//! names (`{authority}/.well-known/openid-configuration` → `jwks_uri`):
//! the signature (RS256/384/512, PS256/384/512, ES256/384; never `none`,
//! never an HMAC), `iss` equal to the authority, `aud` containing the
//! audience, `exp` and `nbf` with 60 s of clock skew. Keys are cached and
//! fetched again when a token names an unknown `kid`, at most once every
//! [`REFRESH_INTERVAL`]. A token that passed is remembered for
//! [`TOKEN_CACHE_TTL`] (never past its `exp`), so repeated requests with
//! one token pay for one signature check. Validation and the key fetch use
//! `jsonwebtoken` and `reqwest`: no cryptography here.
//!
//! [`rest`] protects HTTP routes (401 with `WWW-Authenticate: Bearer`),
//! [`grpc`] every gRPC method (`UNAUTHENTICATED`; `PERMISSION_DENIED` for a
//! write without the write scope). Token contents are never logged.

mod cache;
pub mod grpc;
mod keys;
pub mod rest;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{decode, decode_header, Algorithm, Validation};
use serde::Deserialize;

use cache::TokenCache;
pub use cache::{TOKEN_CACHE_ENTRIES, TOKEN_CACHE_TTL};
use keys::KeyCache;

/// Shortest time between two fetches of the issuer's keys.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;

/// The auth options of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOptions {
    /// `Auth:Authority`: the issuer (`iss`) and where its keys are found.
    pub authority: String,
    /// `Auth:Audience`: a value the token's `aud` must contain.
    pub audience: String,
    /// `Auth:WriteScope`: when set, a scope writes need (`scope` or `scp`).
    pub write_scope: Option<String>,
    /// `TlsCaFile`: CA certificates trusted when fetching the issuer's keys.
    pub ca_file: Option<std::path::PathBuf>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("a bearer token is required")]
    Missing,
    /// A token was given and is not valid (the reason, never the token).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token is valid but lacks the write scope.
    #[error("the token lacks the scope {0:?} that writes need")]
    Forbidden(String),
    /// The issuer's keys could not be fetched and none are cached.
    #[error("cannot check tokens: {0}")]
    Unavailable(String),
}

/// What a validated token says.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Claims {
    /// The subject.
    #[serde(default)]
    pub sub: Option<String>,
    /// Space-separated scopes (`scope`).
    #[serde(default)]
    pub scope: Option<String>,
    /// Scopes as `scp` (a string or a list).
    #[serde(default)]
    pub scp: Option<serde_json::Value>,
    /// Expiry, seconds since the epoch.
    #[serde(default)]
    pub exp: Option<i64>,
}

impl Claims {
    /// Whether `scope` is among the token's scopes (`scope` or `scp`).
    pub fn has_scope(&self, scope: &str) -> bool {
        let in_text = |s: &str| s.split_whitespace().any(|x| x == scope);
        self.scope.as_deref().is_some_and(in_text)
            || match &self.scp {
                Some(serde_json::Value::String(s)) => in_text(s),
                Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(scope)),
                _ => false,
            }
    }
}

/// Validates bearer tokens for one issuer and audience (cheap to clone).
#[derive(Clone)]
pub struct Authenticator {
    options: Arc<AuthOptions>,
    keys: Arc<KeyCache>,
    validated: Arc<TokenCache>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("authority", &self.options.authority)
            .field("audience", &self.options.audience)
            .finish_non_exhaustive()
    }
}

const ALLOWED: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

impl Authenticator {
    /// An authenticator for `options` (keys are fetched on first use).
    pub fn new(options: AuthOptions) -> crate::Result<Self> {
        let client = crate::tls::http_client(options.ca_file.as_deref())?
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| crate::Error::Server(format!("cannot build the HTTP client: {e}")))?;
        let authority = options.authority.trim_end_matches('/').to_string();
        Ok(Authenticator {
            keys: Arc::new(KeyCache::new(client, &authority)),
            validated: Arc::new(TokenCache::default()),
            options: Arc::new(AuthOptions {
                authority,
                ..options
            }),
        })
    }

    /// Fetches keys again for an unknown `kid` at most every `interval`
    /// (default [`REFRESH_INTERVAL`]).
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        if let Some(keys) = Arc::get_mut(&mut self.keys) {
            keys.set_refresh_interval(interval);
        }
        self
    }

    /// The options.
    pub fn options(&self) -> &AuthOptions {
        &self.options
    }

    /// Validates the value of an `Authorization` header.
    pub async fn validate(&self, authorization: Option<&str>) -> Result<Claims, AuthError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        if let Some(claims) = self.validated.get(token) {
            return Ok(claims);
        }
        let header = decode_header(token)
            .map_err(|e| AuthError::Invalid(format!("malformed token ({e})")))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header.kid.unwrap_or_default();
        let key = self.keys.key(&kid).await?;
        if key.alg != header.alg {
            return Err(AuthError::Invalid(format!(
                "the key {kid:?} is not for {:?}",
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.options.authority.as_str()]);
        validation.set_audience(&[self.options.audience.as_str()]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = decode::<Claims>(token, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|e| AuthError::Invalid(reason(&e)))?;
        self.validated.put(token, &claims);
        Ok(claims)
    }

    /// Validates a token for a write: valid, and with the write scope when
    /// one is configured.
    pub async fn validate_write(&self, authorization: Option<&str>) -> Result<Claims, AuthError> {
        let claims = self.validate(authorization).await?;
        match &self.options.write_scope {
            Some(scope) if !claims.has_scope(scope) => Err(AuthError::Forbidden(scope.clone())),
            _ => Ok(claims),
        }
    }
}

/// A short reason for a rejected token (never its contents).
fn reason(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "the token has expired".into(),
        K::ImmatureSignature => "the token is not valid yet".into(),
        K::InvalidIssuer => "the token is from another issuer".into(),
        K::InvalidAudience => "the token is for another audience".into(),
        K::InvalidSignature => "the signature does not verify".into(),
        K::MissingRequiredClaim(c) => format!("the token has no {c} claim"),
        _ => "the token cannot be verified".into(),
    }
}
