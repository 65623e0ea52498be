//! `GET /`, `/health`, `/metrics` and `/rta/v2/info`, and request metrics.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde_json::json;

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

/// (method, route, status)
type RequestKey = (String, String, u16);

#[derive(Default)]
struct Metrics {
    /// Request count and total seconds per key.
    requests: Mutex<BTreeMap<RequestKey, (u64, f64)>>,
    started: Option<Instant>,
}

#[derive(Clone)]
struct MonitorState {
    info: Arc<ServiceInfo>,
    metrics: Arc<Metrics>,
}

/// Wraps the API routes of a process with the monitoring endpoints, request
/// metrics and a JSON 404 for unknown paths.
///
/// `api` must not define a fallback; build it by merging
/// [`session_router`](super::session_router),
/// [`config_router`](super::config_router) and any other API router.
pub fn service_router(info: ServiceInfo, api: Router) -> Router {
    let metrics = Arc::new(Metrics {
        started: Some(Instant::now()),
        ..Default::default()
    });
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
        .layer(axum::middleware::from_fn_with_state(metrics, count_request))
}

async fn count_request(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    if let Ok(mut map) = metrics.requests.lock() {
        let e = map
            .entry((method, route, resp.status().as_u16()))
            .or_insert((0, 0.0));
        e.0 += 1;
        e.1 += secs;
    }
    resp
}

async fn not_found(req: Request) -> Response {
    crate::api_error::ApiError::not_found(format!("no resource at {}", req.uri().path()))
        .into_response()
}

async fn root(State(s): State<MonitorState>) -> Response {
    Json(json!({ "name": s.info.name, "version": s.info.version, "status": "ok" })).into_response()
}

async fn info_json(State(s): State<MonitorState>) -> Response {
    Json(json!({
        "label": s.info.label,
        "description": s.info.description,
        "authRequired": s.info.auth_required,
    }))
    .into_response()
}

async fn health(State(s): State<MonitorState>) -> Response {
    let results = s.info.run_checks().await;
    let healthy = results.iter().all(|(_, r)| r.is_ok());
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

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

async fn metrics_text(State(s): State<MonitorState>) -> Response {
    let results = s.info.run_checks().await;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP rta_up Whether the service is running.\n# TYPE rta_up gauge\nrta_up 1"
    );
    let _ = writeln!(
        out,
        "# HELP rta_build_info Service name and version.\n# TYPE rta_build_info gauge\n\
         rta_build_info{{service=\"{}\",version=\"{}\"}} 1",
        label(&s.info.name),
        label(&s.info.version)
    );
    if let Some(start) = s.metrics.started {
        let _ = writeln!(
            out,
            "# HELP rta_uptime_seconds Seconds since the router was built.\n# TYPE rta_uptime_seconds gauge\n\
             rta_uptime_seconds {:.3}",
            start.elapsed().as_secs_f64()
        );
    }
    let healthy = results.iter().all(|(_, r)| r.is_ok());
    let _ = writeln!(
        out,
        "# HELP rta_health_status Result of the health checks (1 healthy, 0 unhealthy).\n\
         # TYPE rta_health_status gauge\nrta_health_status {}",
        u8::from(healthy)
    );
    for (name, r) in &results {
        let _ = writeln!(
            out,
            "rta_health_status{{check=\"{}\"}} {}",
            label(name),
            u8::from(r.is_ok())
        );
    }
    let snapshot: Vec<_> = match s.metrics.requests.lock() {
        Ok(map) => map.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        Err(_) => Vec::new(),
    };
    let _ = writeln!(
        out,
        "# HELP rta_http_requests_total HTTP requests by method, route and status.\n\
         # TYPE rta_http_requests_total counter"
    );
    for ((method, route, status), (count, _)) in &snapshot {
        let _ = writeln!(
            out,
            "rta_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
            label(method),
            label(route)
        );
    }
    let _ = writeln!(
        out,
        "# HELP rta_http_request_duration_seconds Time spent answering HTTP requests.\n\
         # TYPE rta_http_request_duration_seconds summary"
    );
    for ((method, route, status), (count, secs)) in &snapshot {
        let labels = format!(
            "method=\"{}\",route=\"{}\",status=\"{status}\"",
            label(method),
            label(route)
        );
        let _ = writeln!(
            out,
            "rta_http_request_duration_seconds_sum{{{labels}}} {secs:.6}"
        );
        let _ = writeln!(
            out,
            "rta_http_request_duration_seconds_count{{{labels}}} {count}"
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
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
