//! Bearer tokens on HTTP routes (REST and the WebSocket upgrade): a missing
//! or invalid token is `401` with `WWW-Authenticate: Bearer` (RFC 6750), the
//! issuer's keys unavailable `503`; nothing behind the layer runs.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::{AuthError, Authenticator};
use crate::api_error::ApiError;

/// `router` with every route behind a valid bearer token (no change
/// without an authenticator). Unknown paths still answer 404.
///
/// ```
/// let api = rta_service::auth::rest::protect(axum::Router::new(), None);
/// # let _ = api;
/// ```
pub fn protect(router: Router, auth: Option<Authenticator>) -> Router {
    match auth {
        Some(auth) => router.route_layer(from_fn_with_state(auth, require_token)),
        None => router,
    }
}

async fn require_token(
    State(auth): State<Authenticator>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match auth.validate(header).await {
        Ok(claims) => {
            req.extensions_mut().insert(claims);
            next.run(req).await
        }
        Err(e) => refusal(&e),
    }
}

/// The response to a refused request.
pub fn refusal(e: &AuthError) -> Response {
    let challenge = match e {
        AuthError::Missing => "Bearer".to_string(),
        AuthError::Invalid(why) => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            why.replace(['"', '\\'], "'")
        ),
        AuthError::Forbidden(scope) => {
            format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"")
        }
        AuthError::Unavailable(_) => {
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response()
        }
    };
    let status = match e {
        AuthError::Forbidden(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    };
    let mut resp = ApiError::new(status, e.to_string()).into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}
