//! One monitoring layer for every binary: `GET /` (name and version),
//! `/health` (the same JSON body everywhere: `{"status": "Healthy" |
//! "Unhealthy", "checks": {name: {"status", "error"?}}}`, 200 only when every
//! check passes, else 503), `/metrics` (OpenMetrics text from one
//! `prometheus-client` registry per process: request counts and latency by
//! route and status, health, and each service's own metrics) and
//! `/rta/v2/info`.

mod metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;
use serde_json::json;

use metrics::{check_labels, record_request, ProcessMetrics};
pub use metrics::{MetricsSource, METRICS_CONTENT_TYPE};

/// A named check behind `/health`: `Ok` when the dependency is reachable.
pub type HealthCheck = Arc<dyn Fn() -> BoxFuture<'static, rta_core::Result<()>> + Send + Sync>;

/// How long one health check may take before it counts as failed.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// What a service says about itself on `/`, `/rta/v2/info`, `/health` and `/metrics`.
#[derive(Clone)]
pub struct ServiceInfo {
    /// Program name, e.g. `rta-sessionsvc`.
    pub name: String,
    /// Software version.
    pub version: String,
    /// Label ATLAS shows for the server (`/rta/v2/info`).
    pub label: String,
    /// Description ATLAS shows for the server (`/rta/v2/info`).
    pub description: String,
    /// Whether clients must authenticate (`/rta/v2/info`).
    pub auth_required: bool,
    checks: Vec<(String, HealthCheck)>,
    metrics: Vec<MetricsSource>,
    auth: Option<crate::auth::Authenticator>,
}

impl std::fmt::Debug for ServiceInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceInfo")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("label", &self.label)
            .field("description", &self.description)
            .field("auth_required", &self.auth_required)
            .field(
                "checks",
                &self.checks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ServiceInfo {
    /// Info for the program `name`, labelled with its name, at this crate's version.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        ServiceInfo {
            label: name.clone(),
            name,
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: String::new(),
            auth_required: false,
            checks: Vec::new(),
            metrics: Vec::new(),
            auth: None,
        }
    }

    /// Info for `name` with the label and description of
    /// [`OptionsParser::info_options`](crate::options::OptionsParser::info_options).
    pub fn from_options(name: impl Into<String>, opts: &crate::options::Options) -> Self {
        use crate::options::{DESCRIPTION, LABEL, SERVICE_INFO_DESCRIPTION, SERVICE_INFO_LABEL};
        let mut info = ServiceInfo::new(name);
        if let Some(label) = opts
            .get_first(&[LABEL, SERVICE_INFO_LABEL])
            .filter(|l| !l.is_empty())
        {
            info.label = label.to_string();
        }
        if let Some(d) = opts.get_first(&[DESCRIPTION, SERVICE_INFO_DESCRIPTION]) {
            info.description = d.to_string();
        }
        info
    }

    /// Sets the version reported on `/`.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets the label of `/rta/v2/info`.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the description of `/rta/v2/info`.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets whether `/rta/v2/info` says authentication is required.
    pub fn with_auth_required(mut self, required: bool) -> Self {
        self.auth_required = required;
        self
    }

    /// Adds a dependency check run by `/health` (and reported by `/metrics`).
    ///
    /// ```
    /// # use rta_service::monitor::ServiceInfo;
    /// let info = ServiceInfo::new("svc").with_health_check("disk", || async { Ok(()) });
    /// ```
    pub fn with_health_check<F, Fut>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = rta_core::Result<()>> + Send + 'static,
    {
        let check: HealthCheck = Arc::new(move || Box::pin(check()));
        self.checks.push((name.into(), check));
        self
    }

    /// Adds a service's metrics to the process's `/metrics`: `register` is
    /// called with the registry when the router is built.
    ///
    /// ```
    /// # use rta_service::monitor::ServiceInfo;
    /// let stream = rta_stream::metrics::Metrics::default();
    /// let info = ServiceInfo::new("svc").with_metrics(move |r| stream.register(r));
    /// ```
    pub fn with_metrics(
        mut self,
        register: impl Fn(&mut Registry) + Send + Sync + 'static,
    ) -> Self {
        self.metrics.push(Arc::new(register));
        self
    }

    /// Requires bearer tokens on every API route of the router (not on `/`,
    /// `/health`, `/metrics` or `/rta/v2/info`, which reports the
    /// authority); `None` leaves the routes open.
    pub fn with_auth(mut self, auth: Option<crate::auth::Authenticator>) -> Self {
        self.auth_required = auth.is_some();
        self.auth = auth;
        self
    }

    /// The authenticator, when tokens are required.
    pub fn auth(&self) -> Option<&crate::auth::Authenticator> {
        self.auth.as_ref()
    }

    /// Runs every check (concurrently, each with a timeout).
    async fn run_checks(&self) -> Vec<(String, Result<(), String>)> {
        let futures = self.checks.iter().map(|(name, check)| {
            let fut = check();
            async move {
                let result = match tokio::time::timeout(HEALTH_TIMEOUT, fut).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("timed out after {HEALTH_TIMEOUT:?}")),
                };
                (name.clone(), result)
            }
        });
        futures::future::join_all(futures).await
    }
}

#[derive(Clone)]
struct MonitorState {
    info: Arc<ServiceInfo>,
    metrics: Arc<ProcessMetrics>,
}

/// Wraps the API routes of a process with the monitoring endpoints, request
/// metrics and a JSON 404 for unknown paths.
///
/// `api` must not define a fallback; build it by merging the resources'
/// routers (`sessions::session_router`, `configs::config_router`, ...).
///
/// ```
/// use rta_service::monitor::{service_router, ServiceInfo};
/// let app = service_router(ServiceInfo::new("svc"), axum::Router::new());
/// # let _ = app;
/// ```
pub fn service_router(info: ServiceInfo, api: Router) -> Router {
    let api = crate::auth::rest::protect(api, info.auth.clone());
    let metrics = Arc::new(ProcessMetrics::new(
        &info.name,
        &info.version,
        &info.metrics,
    ));
    let state = MonitorState {
        info: Arc::new(info),
        metrics: metrics.clone(),
    };
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/rta/v2/info", get(info_json))
        .with_state(state)
        .merge(api)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            record_request,
        ))
}

async fn not_found(req: Request) -> Response {
    crate::api_error::ApiError::not_found(format!("no resource at {}", req.uri().path()))
        .into_response()
}

async fn root(State(s): State<MonitorState>) -> Response {
    Json(json!({ "name": s.info.name, "version": s.info.version, "status": "ok" })).into_response()
}

async fn info_json(State(s): State<MonitorState>) -> Response {
    let mut body = json!({
        "label": s.info.label,
        "description": s.info.description,
        "authRequired": s.info.auth_required,
    });
    if let Some(auth) = &s.info.auth {
        body["authority"] = json!(auth.options().authority);
        body["audience"] = json!(auth.options().audience);
    }
    Json(body).into_response()
}

/// Runs the checks and records them in the metrics.
async fn checked(s: &MonitorState) -> (bool, Vec<(String, Result<(), String>)>) {
    let results = s.info.run_checks().await;
    let healthy = results.iter().all(|(_, r)| r.is_ok());
    s.metrics.healthy.set(i64::from(healthy));
    for (name, r) in &results {
        s.metrics
            .health
            .get_or_create(&check_labels(name))
            .set(i64::from(r.is_ok()));
    }
    (healthy, results)
}

async fn health(State(s): State<MonitorState>) -> Response {
    let (healthy, results) = checked(&s).await;
    let checks: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(name, r)| {
            let v = match r {
                Ok(()) => json!({ "status": "Healthy" }),
                Err(e) => json!({ "status": "Unhealthy", "error": e }),
            };
            (name, v)
        })
        .collect();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if healthy { "Healthy" } else { "Unhealthy" },
        "checks": checks,
    });
    (status, Json(body)).into_response()
}

async fn metrics_text(State(s): State<MonitorState>) -> Response {
    checked(&s).await;
    s.metrics.render()
}

/// A health check of a store directory: healthy while `dir` is a directory.
///
/// ```
/// let dir = std::env::temp_dir();
/// assert!(rta_service::monitor::check_dir(&dir).is_ok());
/// assert!(rta_service::monitor::check_dir(&dir.join("no-such-dir-rta")).is_err());
/// ```
pub fn check_dir(dir: &std::path::Path) -> rta_core::Result<()> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(rta_core::Error::Unavailable(format!(
            "directory {} is missing",
            dir.display()
        )))
    }
}
