//! `/metrics`: one `prometheus-client` registry per process, holding the
//! request metrics of every HTTP route, the health of each dependency, and
//! whatever the services of the process register (the stream service's,
//! the data path's).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Adds a service's metrics to a process's registry.
pub type MetricsSource = Arc<dyn Fn(&mut Registry) + Send + Sync>;

/// The media type of `/metrics` (OpenMetrics text, which Prometheus reads).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CheckLabels {
    check: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    service: String,
    version: String,
}

fn request_seconds() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The registry of one process and the metrics the monitor itself records.
pub(super) struct ProcessMetrics {
    pub(super) registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    pub(super) health: Family<CheckLabels, Gauge>,
    pub(super) healthy: Gauge,
    uptime: Gauge<f64, std::sync::atomic::AtomicU64>,
    started: Instant,
}

impl ProcessMetrics {
    pub(super) fn new(name: &str, version: &str, sources: &[MetricsSource]) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            request_seconds,
        );
        let health = Family::<CheckLabels, Gauge>::default();
        let healthy = Gauge::default();
        let uptime = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                service: name.to_string(),
                version: version.to_string(),
            })
            .set(1);
        let up = Gauge::<i64>::default();
        up.set(1);
        registry.register("rta_up", "Whether the service is running", up);
        registry.register("rta_build_info", "Service name and version", build);
        registry.register(
            "rta_uptime_seconds",
            "Seconds since the service started",
            uptime.clone(),
        );
        registry.register(
            "rta_healthy",
            "1 when every health check passed at the last scrape",
            healthy.clone(),
        );
        registry.register(
            "rta_health_status",
            "Result of each health check at the last scrape (1 healthy, 0 unhealthy)",
            health.clone(),
        );
        registry.register(
            "rta_http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "rta_http_request_duration_seconds",
            "Time spent answering HTTP requests, by method, route and status",
            latency.clone(),
        );
        for source in sources {
            source(&mut registry);
        }
        ProcessMetrics {
            registry,
            requests,
            latency,
            health,
            healthy,
            uptime,
            started: Instant::now(),
        }
    }

    fn record(&self, labels: &RequestLabels, seconds: f64) {
        self.requests.get_or_create(labels).inc();
        self.latency.get_or_create(labels).observe(seconds);
    }

    /// The OpenMetrics text of the registry.
    pub(super) fn render(&self) -> Response {
        self.uptime.set(self.started.elapsed().as_secs_f64());
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response()
    }
}

/// Middleware recording every request's count and latency by matched route.
pub(super) async fn record_request(
    State(metrics): State<Arc<ProcessMetrics>>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    let labels = RequestLabels {
        method,
        route,
        status: resp.status().as_u16(),
    };
    metrics.record(&labels, start.elapsed().as_secs_f64());
    resp
}

pub(super) fn check_labels(name: &str) -> CheckLabels {
    CheckLabels {
        check: name.to_string(),
    }
}
