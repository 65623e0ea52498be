//! The Gateway Service: the public REST API in front of a Session Service,
//! a Config Service and any number of data services.
//!
//! Sessions and configs are forwarded to their services (method, path,
//! query and body as they came; caching headers passed back; bodies
//! streamed). Data is read through each session's data bindings
//! ([`BindingDataService`]) from the data services named by source, over
//! their data-microservice route ([`RemoteDataService`]). The private
//! `/rta/v2/sessions/{identity}/data-bindings` is never exposed, and the
//! client's `Authorization` header goes with every call the gateway makes.
//! `/health` answers 200 only when every configured service answers at its
//! root. With a Stream Service configured, the live WebSocket is relayed
//! too, so ATLAS needs the gateway's URL only.
//!
//! ```no_run
//! use rta_service::gateway::{Gateway, GatewayConfig};
//!
//! # async fn run() -> rta_service::Result<()> {
//! let mut cfg = GatewayConfig::new("http://127.0.0.1:2650", "http://127.0.0.1:2660");
//! cfg.data_services.insert("native".into(), "http://127.0.0.1:2670".into());
//! let gateway = Gateway::new(cfg)?;
//! let running = rta_service::serve::spawn("127.0.0.1:8080".parse().unwrap(), gateway.http_router(), None).await?;
//! # let _ = running; Ok(()) }
//! ```

mod bindings;
mod proxy;
mod stream;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, head};
use axum::Router;
use rta_adapters::remote::{RemoteDataService, CONNECT_TIMEOUT, READ_TIMEOUT};
use rta_bindings::service::BindingDataService;
use rta_core::framing::Framed;
use rta_core::service::DataService;

pub use bindings::RemoteBindings;

use crate::monitor::{self, ServiceInfo};
use crate::qos::{self, LimitedDataService, Limiter, QosOptions, SourceMetrics};
use crate::{data, Error, Result};
use proxy::{forward, Upstream};

/// How long a health check of one service may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the services behind a gateway are (the toolkit's
/// `SessionServiceUri`, `ConfigServiceUri` and `DataServiceUris:<source>`).
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Session Service base URL.
    pub session_service: String,
    /// Config Service base URL.
    pub config_service: String,
    /// Data service base URLs by data source token.
    pub data_services: BTreeMap<String, String>,
    /// `StreamServiceUri`: a Stream Service whose live WebSocket the gateway
    /// relays at `/rta/v2/sessions/{identity}/stream` (none by default).
    pub stream_service: Option<String>,
    /// Concurrency limits per user and per data source (`Qos:*`).
    pub qos: QosOptions,
    /// Bearer tokens required of clients (each service behind checks them
    /// again: the gateway forwards them).
    pub auth: Option<crate::auth::Authenticator>,
    /// What `/rta/v2/info` and `GET /` report.
    pub info: ServiceInfo,
    /// `SessionServiceBindingsUri`: where the session service serves the
    /// private data-bindings route, when that is a separate internal
    /// listener (default: `session_service`).
    pub session_bindings_service: Option<String>,
    /// `TlsCaFile`: CA certificates trusted for `https://` services, beyond
    /// the web roots.
    pub ca_file: Option<std::path::PathBuf>,
}

impl GatewayConfig {
    /// A gateway over a Session Service and a Config Service, with no data
    /// services yet.
    pub fn new(session_service: impl Into<String>, config_service: impl Into<String>) -> Self {
        Self {
            session_service: session_service.into(),
            config_service: config_service.into(),
            data_services: BTreeMap::new(),
            stream_service: None,
            qos: QosOptions::default(),
            auth: None,
            info: ServiceInfo::new("rta-gatewaysvc").with_label("RTA Gateway"),
            session_bindings_service: None,
            ca_file: None,
        }
    }
}

/// A configured gateway (see the [module](self)).
#[derive(Clone)]
pub struct Gateway {
    sessions: Upstream,
    configs: Upstream,
    data: Arc<BindingDataService>,
    data_urls: BTreeMap<String, String>,
    stream_url: Option<String>,
    per_user: Arc<Limiter>,
    source_metrics: SourceMetrics,
    client: reqwest::Client,
    ws_tls: Arc<rustls::ClientConfig>,
    info: ServiceInfo,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("session_service", &self.sessions.base)
            .field("config_service", &self.configs.base)
            .field("data_sources", &self.data_urls.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn checked_url(name: &str, url: &str) -> Result<String> {
    let base = url.trim_end_matches('/').to_string();
    let ok = (base.starts_with("http://") || base.starts_with("https://"))
        && reqwest::Url::parse(&base).is_ok();
    if ok {
        Ok(base)
    } else {
        Err(Error::option(
            name,
            format!("{url:?} is not an http:// or https:// URL"),
        ))
    }
}

impl Gateway {
    /// Checks the URLs and builds the HTTP clients (one pool shared by every
    /// service behind).
    pub fn new(cfg: GatewayConfig) -> Result<Self> {
        let client = crate::tls::http_client(cfg.ca_file.as_deref())?
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| Error::Server(format!("cannot build the HTTP client: {e}")))?;
        let sessions = Upstream {
            client: client.clone(),
            base: checked_url("SessionServiceUri", &cfg.session_service)?,
            what: "session service",
        };
        let configs = Upstream {
            client: client.clone(),
            base: checked_url("ConfigServiceUri", &cfg.config_service)?,
            what: "config service",
        };
        let per_source = Arc::new(Limiter::new(cfg.qos.per_source, cfg.qos.queue_timeout));
        let source_metrics = SourceMetrics::default();
        let mut services: HashMap<String, Arc<dyn DataService>> = HashMap::new();
        let mut data_urls = BTreeMap::new();
        for (source, url) in &cfg.data_services {
            let name = format!("DataServiceUris:{source}");
            let base = checked_url(&name, url)?;
            let svc = RemoteDataService::with_client(client.clone(), &base)?;
            let limited = LimitedDataService::new(Arc::new(svc), source, per_source.clone())
                .with_metrics(source_metrics.clone());
            services.insert(source.clone(), Arc::new(limited));
            data_urls.insert(source.clone(), base);
        }
        let stream_url = match &cfg.stream_service {
            Some(url) => Some(checked_url("StreamServiceUri", url)?),
            None => None,
        };
        let mut bindings = RemoteBindings::new(client.clone(), &sessions.base);
        if let Some(url) = &cfg.session_bindings_service {
            bindings = bindings.with_bindings_base(&checked_url("SessionServiceBindingsUri", url)?);
        }
        Ok(Self {
            data: Arc::new(BindingDataService::new(Arc::new(bindings), services)),
            sessions,
            configs,
            data_urls,
            stream_url,
            per_user: Arc::new(Limiter::new(cfg.qos.per_user, cfg.qos.queue_timeout)),
            source_metrics,
            client,
            ws_tls: crate::tls::client_config(cfg.ca_file.as_deref())?,
            info: cfg.info.with_auth(cfg.auth),
        })
    }

    /// The public REST API with the monitoring endpoints.
    pub fn http_router(&self) -> Router {
        let sessions = Router::new()
            .route("/rta/v2/sessions", get(forward).post(forward))
            .route("/rta/v2/sessions/{identity}", get(forward))
            .route("/rta/v2/session-folders", get(forward))
            .route("/rta/v2/session-folders/", get(forward))
            .route("/rta/v2/session-folders/{*parent}", get(forward))
            .route("/rta/v2/session-metamodel", get(forward))
            .route("/rta/v2/session-metamodel/properties", get(forward))
            .with_state(self.sessions.clone());
        let configs = Router::new()
            .route(
                "/rta/v2/configs/{identifier}",
                get(forward).merge(head(forward)),
            )
            .with_state(self.configs.clone());
        let data = data::data_router_with(Arc::new(Framed(self.data.clone())), None).layer(
            axum::middleware::from_fn_with_state(self.per_user.clone(), qos::user_limit_layer),
        );
        let source_metrics = self.source_metrics.clone();
        let mut info = self
            .info
            .clone()
            .with_metrics(move |r| source_metrics.register(r));
        let mut targets = vec![
            ("session-service".to_string(), self.sessions.base.clone()),
            ("config-service".to_string(), self.configs.base.clone()),
        ];
        for (source, url) in &self.data_urls {
            targets.push((format!("data-service:{source}"), url.clone()));
        }
        let mut api = sessions.merge(configs).merge(data);
        if let Some(url) = &self.stream_url {
            targets.push(("stream-service".to_string(), url.clone()));
            api = api.merge(stream::router(url.clone(), self.ws_tls.clone()));
        }
        for (name, url) in targets {
            let client = self.client.clone();
            info = info.with_health_check(name, move || {
                let (client, url) = (client.clone(), url.clone());
                async move { root_answers(&client, &url).await }
            });
        }
        monitor::service_router(info, api)
    }
}

/// Whether a service answers `GET /` with a success.
async fn root_answers(client: &reqwest::Client, base: &str) -> rta_core::Result<()> {
    let resp = client
        .get(format!("{base}/"))
        .timeout(HEALTH_TIMEOUT)
        .send()
        .await
        .map_err(|e| rta_core::Error::Unavailable(format!("{base} did not answer: {e}")))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(rta_core::Error::Unavailable(format!(
            "{base} answered {}",
            resp.status()
        )))
    }
}
