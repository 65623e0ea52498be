//! Quality of service for the gateway: concurrency limits per user and per
//! data source, with first-come-first-served queueing inside each limit and
//! a queue timeout answered `503 Service Unavailable` with `Retry-After`.
//!
//! One user cannot take every data service's capacity, and one slow data
//! source cannot hold every request: a request waits for a slot of its user
//! ([`user_limit_layer`]) and, for each part it reads, for a slot of that
//! source ([`LimitedDataService`]). Slots are tokio semaphores, which grant
//! permits in the order they were asked for. A user is the bearer token
//! the client sent (a hash of it, never the token itself), else the client's
//! address. The toolkit's options are under `Qos:` (see
//! `options::GatewayServiceOptions`).
//!
//! ```
//! use std::time::Duration;
//! use rta_service::qos::Limiter;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let users = Limiter::new(1, Duration::from_millis(20));
//! let first = users.acquire("alice").await.unwrap();
//! assert!(users.acquire("alice").await.is_err(), "queued past the timeout");
//! assert!(users.acquire("bob").await.is_ok(), "other users are not held up");
//! drop(first);
//! assert!(users.acquire("alice").await.is_ok());
//! # });
//! ```

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use rta_core::service::{ChunkStream, DataRequest, DataService};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api_error::ApiError;

/// Limits of the gateway (`Qos:PerUser`, `Qos:PerSource`, `Qos:QueueTimeoutSeconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QosOptions {
    /// Requests of one user served at once (0: no limit).
    pub per_user: usize,
    /// Reads of one data source at once (0: no limit).
    pub per_source: usize,
    /// How long a request may wait for a slot before it is answered 503.
    pub queue_timeout: Duration,
}

impl Default for QosOptions {
    /// 16 per user, 64 per source, 30 s in the queue.
    fn default() -> Self {
        QosOptions {
            per_user: 16,
            per_source: 64,
            queue_timeout: Duration::from_secs(30),
        }
    }
}

/// Keys kept before idle ones are dropped.
const PRUNE_ABOVE: usize = 1024;

/// A request waited longer than the queue timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueTimeout(pub Duration);

/// Concurrency limits by key, each with a FIFO queue (see the [module](self)).
#[derive(Debug)]
pub struct Limiter {
    limit: usize,
    timeout: Duration,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Limiter {
    /// At most `limit` holders per key (0: no limit), waiting at most `timeout`.
    pub fn new(limit: usize, timeout: Duration) -> Self {
        Limiter {
            limit,
            timeout,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn semaphore(&self, key: &str) -> Arc<Semaphore> {
        let mut slots = match self.slots.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if slots.len() > PRUNE_ABOVE {
            // Idle keys: nobody holds or waits for a permit.
            let limit = self.limit;
            slots.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < limit);
        }
        slots
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.limit)))
            .clone()
    }

    /// Waits for a slot of `key`: `None` when there is no limit, else the
    /// permit to hold while the work runs.
    pub async fn acquire(&self, key: &str) -> Result<Option<OwnedSemaphorePermit>, QueueTimeout> {
        if self.limit == 0 {
            return Ok(None);
        }
        let sem = self.semaphore(key);
        match tokio::time::timeout(self.timeout, sem.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            // The semaphore is never closed; treat it as a timeout all the same.
            Ok(Err(_)) | Err(_) => Err(QueueTimeout(self.timeout)),
        }
    }
}

/// Who a request is for: a hash of its bearer token, else its client address.
fn user_key(req: &Request) -> String {
    if let Some(auth) = req.headers().get(header::AUTHORIZATION) {
        // Not a secret-keeping hash: the key only groups requests, and the
        // token itself is never kept or logged.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        auth.as_bytes().hash(&mut h);
        return format!("token:{:016x}", h.finish());
    }
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => format!("addr:{}", addr.ip()),
        None => "anonymous".to_string(),
    }
}

/// The 503 (with `Retry-After`) of a queue timeout.
fn busy_response(what: &str, waited: Duration) -> Response {
    let message = format!(
        "too many requests for {what}: none finished within {} ms; retry later",
        waited.as_millis()
    );
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message).into_response()
}

/// Middleware: holds a slot of the request's user until its response body
/// has been sent. Use with `axum::middleware::from_fn_with_state`.
pub async fn user_limit_layer(
    axum::extract::State(limiter): axum::extract::State<Arc<Limiter>>,
    req: Request,
    next: Next,
) -> Response {
    let key = user_key(&req);
    let started = Instant::now();
    let permit = match limiter.acquire(&key).await {
        Ok(p) => p,
        Err(QueueTimeout(t)) => {
            tracing::info!(
                waited_ms = started.elapsed().as_millis() as u64,
                "user queue timeout"
            );
            return busy_response("this user", t);
        }
    };
    let resp = next.run(req).await;
    let Some(permit) = permit else {
        return resp;
    };
    let (parts, body) = resp.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _held = &permit;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    source: String,
    outcome: String,
}

fn seconds_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

type SecondsFamily = Family<SourceLabels, Histogram, fn() -> Histogram>;

/// Per-source metrics of the gateway's reads (`rta_gateway_source_*`):
/// requests by outcome (`ok`, `busy`: queue timeout, `error`), payload
/// bytes, time queued for a slot, and time from the request to the end of
/// its chunks. Operators see source names here; clients never do.
#[derive(Clone, Debug)]
pub struct SourceMetrics {
    requests: Family<OutcomeLabels, Counter>,
    bytes: Family<SourceLabels, Counter>,
    queue_wait: SecondsFamily,
    read_time: SecondsFamily,
}

impl Default for SourceMetrics {
    fn default() -> Self {
        SourceMetrics {
            requests: Family::default(),
            bytes: Family::default(),
            queue_wait: Family::new_with_constructor(seconds_histogram),
            read_time: Family::new_with_constructor(seconds_histogram),
        }
    }
}

impl SourceMetrics {
    /// Adds the metrics to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "rta_gateway_source_requests",
            "Reads of each data source, by outcome (ok, busy, error)",
            self.requests.clone(),
        );
        registry.register(
            "rta_gateway_source_bytes",
            "Chunk payload bytes read from each data source",
            self.bytes.clone(),
        );
        registry.register(
            "rta_gateway_source_queue_wait_seconds",
            "Time a read waited for a slot of its data source",
            self.queue_wait.clone(),
        );
        registry.register(
            "rta_gateway_source_read_seconds",
            "Time from a read's start to the end of its chunks",
            self.read_time.clone(),
        );
    }

    fn outcome(&self, source: &str, outcome: &str) {
        let labels = OutcomeLabels {
            source: source.to_string(),
            outcome: outcome.to_string(),
        };
        self.requests.get_or_create(&labels).inc();
    }
}

/// Observes the time of a read when its chunk stream is dropped.
struct ReadTimer {
    started: Instant,
    histogram: Histogram,
}

impl Drop for ReadTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

/// A [`DataService`] that reads through a per-source [`Limiter`]: a read
/// waits for a slot of the source and holds it until its chunks are read.
pub struct LimitedDataService {
    inner: Arc<dyn DataService>,
    source: String,
    limiter: Arc<Limiter>,
    metrics: SourceMetrics,
}

impl LimitedDataService {
    /// Limits reads of `inner`, the data service of `source`, with `limiter`
    /// (shared by every source, keyed by source name).
    pub fn new(
        inner: Arc<dyn DataService>,
        source: impl Into<String>,
        limiter: Arc<Limiter>,
    ) -> Self {
        LimitedDataService {
            inner,
            source: source.into(),
            limiter,
            metrics: SourceMetrics::default(),
        }
    }

    /// Records the reads in `metrics` (shared by every source).
    pub fn with_metrics(mut self, metrics: SourceMetrics) -> Self {
        self.metrics = metrics;
        self
    }
}

#[async_trait]
impl DataService for LimitedDataService {
    async fn read(&self, req: DataRequest) -> rta_core::Result<ChunkStream> {
        let labels = SourceLabels {
            source: self.source.clone(),
        };
        let started = Instant::now();
        let permit = match self.limiter.acquire(&self.source).await {
            Ok(p) => p,
            Err(QueueTimeout(t)) => {
                tracing::warn!(source = %self.source, "data source queue timeout");
                self.metrics.outcome(&self.source, "busy");
                return Err(rta_core::Error::Unavailable(format!(
                    "a data source is busy: no slot within {} ms; retry later",
                    t.as_millis()
                )));
            }
        };
        let queued = started.elapsed().as_secs_f64();
        self.metrics
            .queue_wait
            .get_or_create(&labels)
            .observe(queued);
        let chunks = match self.inner.read(req).await {
            Ok(c) => c,
            Err(e) => {
                self.metrics.outcome(&self.source, "error");
                return Err(e);
            }
        };
        self.metrics.outcome(&self.source, "ok");
        let bytes = self.metrics.bytes.get_or_create(&labels).clone();
        let timer = ReadTimer {
            started,
            histogram: self.metrics.read_time.get_or_create(&labels).clone(),
        };
        Ok(chunks
            .map(move |c| {
                let _held = (&permit, &timer);
                if let Ok(chunk) = &c {
                    bytes.inc_by(chunk.payload.len() as u64);
                }
                c
            })
            .boxed())
    }
}
