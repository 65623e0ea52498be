//! Bearer tokens on every gRPC method: `UNAUTHENTICATED` without a valid
//! token, `PERMISSION_DENIED` for a method that changes state when
//! `Auth:WriteScope` is set and the token lacks it, `UNAVAILABLE` when the
//! issuer's keys cannot be had. The call never reaches the service.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use tonic::service::Routes;

use super::{AuthError, Authenticator};

/// The methods that change state (any service): they need the write scope.
pub const WRITE_METHODS: [&str; 10] = [
    "CreateOrUpdateSession",
    "DeleteSessions",
    "PutSessionFolder",
    "DeleteSessionFolders",
    "PutConfig",
    "PutConfigStream",
    "DeleteConfig",
    "PutSchemaMapping",
    "DeleteSchemaMapping",
    "WriteDataStream",
];

/// Whether the gRPC path `/package.Service/Method` names a write.
pub fn is_write(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|m| WRITE_METHODS.contains(&m))
}

/// `routes` behind a valid bearer token (no change without an authenticator).
pub fn protect(routes: Routes, auth: Option<Authenticator>) -> Routes {
    match auth {
        Some(auth) => Routes::from(
            routes
                .into_axum_router()
                .layer(from_fn_with_state(auth, require_token)),
        ),
        None => routes,
    }
}

async fn require_token(State(auth): State<Authenticator>, req: Request, next: Next) -> Response {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let checked = if is_write(req.uri().path()) {
        auth.validate_write(header).await
    } else {
        auth.validate(header).await
    };
    match checked {
        Ok(_) => next.run(req).await,
        Err(e) => status(&e).into_http::<axum::body::Body>(),
    }
}

fn status(e: &AuthError) -> tonic::Status {
    let msg = e.to_string();
    match e {
        AuthError::Missing | AuthError::Invalid(_) => tonic::Status::unauthenticated(msg),
        AuthError::Forbidden(_) => tonic::Status::permission_denied(msg),
        AuthError::Unavailable(_) => tonic::Status::unavailable(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::is_write;

    #[test]
    fn writes_are_known_by_method_name() {
        assert!(is_write(
            "/rta.toolkit.api.chunk_service.DataWriter/WriteDataStream"
        ));
        assert!(is_write("/x.SessionStore/CreateOrUpdateSession"));
        assert!(!is_write("/x.SessionStore/GetSession"));
        assert!(!is_write("/x.DataReader/ReadEventsStream"));
    }
}
