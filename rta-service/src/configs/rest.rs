//! `HEAD` and `GET /rta/v2/configs/{identifier}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rta_core::service::ConfigStore;

use crate::api_error::ApiError;

/// The config REST routes over `store`: `GET` answers the stored bytes with
/// their media type (`application/vnd.mat.config+json` or
/// `application/vnd.mat.config+ffc`), `HEAD` answers 200 or 404 without
/// reading the config.
pub fn config_router<C>(store: Arc<C>) -> Router
where
    C: ConfigStore + ?Sized,
{
    Router::new()
        .route(
            "/rta/v2/configs/{identifier}",
            get(get_config::<C>).head(head_config::<C>),
        )
        .with_state(store)
}

fn missing(identifier: &str) -> ApiError {
    ApiError::not_found(format!("config {identifier:?} is not available"))
}

async fn get_config<C: ConfigStore + ?Sized>(
    State(store): State<Arc<C>>,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let cfg = store
        .get(&identifier)
        .await?
        .ok_or_else(|| missing(&identifier))?;
    Ok((
        [
            (header::CONTENT_TYPE, cfg.content_type),
            // Configurations never change once published.
            (
                header::CACHE_CONTROL,
                "public, max-age=31536000, immutable".to_string(),
            ),
        ],
        cfg.data,
    )
        .into_response())
}

async fn head_config<C: ConfigStore + ?Sized>(
    State(store): State<Arc<C>>,
    Path(identifier): Path<String>,
) -> Result<StatusCode, ApiError> {
    if store.has(&identifier).await? {
        Ok(StatusCode::OK)
    } else {
        Err(missing(&identifier))
    }
}
