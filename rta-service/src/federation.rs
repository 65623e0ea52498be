//! A whole microservice deployment in one process, for trying the federated
//! architecture in a minute: a Session Service, a Config Service, two data
//! services (`alpha` and `beta`, native stores) and a Gateway on loopback,
//! seeded with sessions that use every form of data binding the spec shows:
//!
//! | session | binding |
//! | --- | --- |
//! | `fed-plain` | `alpha`/`run-a`, unchanged |
//! | `fed-time-ranges` | `alpha`/`run-a` twice, with `time_ref`, clipped to `[T, T+599 999 999]` and `[T+900 ms, T+999 999 999]` |
//! | `fed-time-shift` | `alpha`/`run-a`, session time 300 ms after data time |
//! | `fed-multi-source` | channels 0-49 from `alpha`/`run-a`, 50-59 from `beta`/`run-b` (channel-shifted) |
//!
//! Every sample's value is [`sample_value`] of its data channel and data
//! time, so a client can check what the gateway serves. `cargo run
//! --example federation` runs it on the toolkit's ports.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use rta_adapters::native::{NativeConfig, NativeStore};
use rta_adapters::stores::{FileConfigStore, SqliteSessionStore};
use rta_bindings::model::DataBinding;
use rta_core::config::{ChannelDataType, Config, ParameterSpec};
use rta_core::data::periodic;
use rta_core::proto::data::Event;
use rta_core::service::{ConfigStore, SessionStore, StoredConfig};
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_core::write::{DataSink, WriteItem};

use crate::data::{DataBackend, DataMicroservice};
use crate::gateway::{Gateway, GatewayConfig};
use crate::monitor::{self, ServiceInfo};
use crate::serve::{self, RunningServer};
use crate::{configs, rpc, sessions, Result};

/// Start of the seeded data: 2023-11-14T22:13:20Z.
pub const T0: i64 = 1_700_000_000_000_000_000;
/// Seconds of data in each data service.
pub const SECONDS: i64 = 2;
/// Sample interval of every channel: 100 Hz.
pub const INTERVAL_NS: i64 = 10_000_000;
/// Channels of `alpha`/`run-a` and of `beta`/`run-b`.
pub const CHANNELS: (u32, u32) = (50, 10);
/// Interval of the `Lap` events of `alpha`/`run-a`.
pub const EVENT_INTERVAL_NS: i64 = 250_000_000;
/// The seeded sessions.
pub const SESSIONS: [&str; 4] = [
    "fed-plain",
    "fed-time-ranges",
    "fed-time-shift",
    "fed-multi-source",
];

/// The value of data channel `channel` of data identity `identity` at data
/// time `t`: `run-a` channel 3 at `T0 + 20 ms` is `3_000.02`.
pub fn sample_value(identity: &str, channel: u32, t: i64) -> f64 {
    let base = if identity == "run-b" { 100_000.0 } else { 0.0 };
    base + f64::from(channel) * 1_000.0 + (t - T0) as f64 / 1e9
}

/// Where each service listens (port 0: any free port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FederationPorts {
    /// Session Service HTTP and gRPC (2650, 2652).
    pub sessions: (u16, u16),
    /// Config Service HTTP and gRPC (2660, 2662).
    pub configs: (u16, u16),
    /// Data service `alpha` HTTP and gRPC (2670, 2672).
    pub alpha: (u16, u16),
    /// Data service `beta` HTTP and gRPC (2674, 2676).
    pub beta: (u16, u16),
    /// Gateway HTTP (8080).
    pub gateway: u16,
}

impl Default for FederationPorts {
    fn default() -> Self {
        FederationPorts {
            sessions: (2650, 2652),
            configs: (2660, 2662),
            alpha: (2670, 2672),
            beta: (2674, 2676),
            gateway: 8080,
        }
    }
}

impl FederationPorts {
    /// Every port 0, for tests.
    pub fn any() -> Self {
        FederationPorts {
            sessions: (0, 0),
            configs: (0, 0),
            alpha: (0, 0),
            beta: (0, 0),
            gateway: 0,
        }
    }
}

/// The running deployment.
#[derive(Debug)]
pub struct Federation {
    /// The Session Service.
    pub sessions: RunningServer,
    /// The Config Service.
    pub configs: RunningServer,
    /// Data service `alpha`.
    pub alpha: RunningServer,
    /// Data service `beta`.
    pub beta: RunningServer,
    /// The Gateway: the one URL ATLAS needs.
    pub gateway: RunningServer,
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

impl Federation {
    /// Starts every service with its stores under `dir`, seeds the demo
    /// content (again harmlessly when `dir` was used before) and returns
    /// once all of them listen.
    pub async fn start(dir: &Path, ports: FederationPorts) -> Result<Federation> {
        let store = Arc::new(SqliteSessionStore::open(dir.join("sessions.sqlite"))?);
        let session_api = monitor::service_router(
            ServiceInfo::new("rta-sessionsvc"),
            sessions::session_service_router(store.clone()),
        );
        let session_grpc = rpc::routes().add_service(sessions::session_server(store.clone()));
        let sessions_srv = serve::spawn(
            addr(ports.sessions.0),
            session_api,
            Some((addr(ports.sessions.1), session_grpc)),
        )
        .await?;
        let cfgs = Arc::new(FileConfigStore::open(dir.join("configs"))?);
        let config_api = monitor::service_router(
            ServiceInfo::new("rta-configsvc"),
            configs::config_router(cfgs.clone()),
        );
        let config_grpc = rpc::routes().add_service(configs::config_server(cfgs.clone()));
        let configs_srv = serve::spawn(
            addr(ports.configs.0),
            config_api,
            Some((addr(ports.configs.1), config_grpc)),
        )
        .await?;

        let mut data = Vec::new();
        for (name, (http, grpc)) in [("alpha", ports.alpha), ("beta", ports.beta)] {
            let native = NativeStore::open(NativeConfig::new(dir.join(name)))?;
            seed_data(&native, name).await?;
            let info = ServiceInfo::new(format!("rta-datasvc {name}"));
            let svc = DataMicroservice::new(DataBackend::native(native)).info(info);
            data.push(svc.spawn(addr(http), addr(grpc)).await?);
        }
        let beta = data.pop();
        let alpha = data.pop();
        let (Some(alpha), Some(beta)) = (alpha, beta) else {
            return Err(crate::Error::Server("data services did not start".into()));
        };

        seed_configs(cfgs.as_ref()).await?;
        seed_sessions(store.as_ref()).await?;

        let mut cfg = GatewayConfig::new(
            format!("http://{}", sessions_srv.http_addr),
            format!("http://{}", configs_srv.http_addr),
        );
        cfg.data_services = BTreeMap::from([
            ("alpha".to_string(), format!("http://{}", alpha.http_addr)),
            ("beta".to_string(), format!("http://{}", beta.http_addr)),
        ]);
        let gateway = Gateway::new(cfg)?;
        let gateway = serve::spawn(addr(ports.gateway), gateway.http_router(), None).await?;
        Ok(Federation {
            sessions: sessions_srv,
            configs: configs_srv,
            alpha,
            beta,
            gateway,
        })
    }

    /// The gateway's base URL.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway.http_addr)
    }

    /// Stops every service.
    pub async fn stop(self) -> Result<()> {
        self.gateway.stop().await?;
        self.alpha.stop().await?;
        self.beta.stop().await?;
        self.configs.stop().await?;
        self.sessions.stop().await
    }
}

/// `run-a` (50 channels and events) into `alpha`, `run-b` (10 channels) into `beta`.
async fn seed_data(store: &NativeStore, source: &str) -> Result<()> {
    let (identity, channels) = match source {
        "alpha" => ("run-a", CHANNELS.0),
        _ => ("run-b", CHANNELS.1),
    };
    if store.identities()?.iter().any(|i| i == identity) {
        return Ok(());
    }
    let n = SECONDS * 1_000_000_000 / INTERVAL_NS;
    let mut items = Vec::new();
    for ch in 0..channels {
        let values: Vec<f64> = (0..n)
            .map(|i| sample_value(identity, ch, T0 + i * INTERVAL_NS))
            .collect();
        items.push(WriteItem::Periodic(periodic(ch, T0, INTERVAL_NS, &values)?));
    }
    if source == "alpha" {
        for i in 0..(SECONDS * 1_000_000_000 / EVENT_INTERVAL_NS) {
            items.push(WriteItem::Event(Event {
                event_definition_id: 1,
                app_name: "fed".into(),
                timestamp: T0 + i * EVENT_INTERVAL_NS,
                status_text: format!("Lap {i}"),
                raw_data: vec![i as f64],
            }));
        }
    }
    store.write(identity, items).await?;
    store.flush(identity).await?;
    Ok(())
}

fn config(app: &str, prefix: &str, channels: u32) -> Result<Config> {
    let mut builder = Config::builder(app).first_channel(0);
    for ch in 0..channels {
        builder = builder.parameter(
            ParameterSpec::new(format!("{prefix}{ch:02}"), ChannelDataType::F64).periodic_hz(100.0),
        );
    }
    Ok(builder.build()?)
}

async fn seed_configs(store: &dyn ConfigStore) -> Result<()> {
    for (id, prefix, channels) in [
        ("fed-config-a", "a", CHANNELS.0),
        ("fed-config-b", "b", CHANNELS.1),
    ] {
        let stored = StoredConfig::json(&config(id, prefix, channels)?);
        match store.put(id, stored).await {
            Ok(()) | Err(rta_core::Error::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The session request of each demo session.
pub fn session_requests() -> Vec<rta_core::proto::session_service::CreateOrUpdateSessionRequest> {
    let end = T0 + SECONDS * 1_000_000_000 - 1;
    let closed = |id: &str| {
        SessionRequest::new(id, SessionState::Closed)
            .timestamp("2023-11-14T22:13:20Z")
            .session_type("federation demo")
            .config_binding("fed-config-a", 0)
    };
    let bind = |b: DataBinding| b.to_proto();
    vec![
        closed("fed-plain")
            .time_range(T0, end)
            .data_binding(bind(DataBinding::new("alpha", "run-a")))
            .build(),
        closed("fed-time-ranges")
            .time_range(T0, T0 + 999_999_999)
            .data_binding(bind(
                DataBinding::new("alpha", "run-a")
                    .with_time_ref(T0)
                    .with_session_range(Some(T0), Some(T0 + 599_999_999)),
            ))
            .data_binding(bind(
                DataBinding::new("alpha", "run-a")
                    .with_time_ref(T0 + 900_000_000)
                    .with_session_range(Some(T0 + 900_000_000), Some(T0 + 999_999_999)),
            ))
            .build(),
        closed("fed-time-shift")
            .time_range(T0 + 300_000_000, end + 300_000_000)
            .data_binding(bind(
                DataBinding::new("alpha", "run-a").with_offset(300_000_000),
            ))
            .build(),
        closed("fed-multi-source")
            .time_range(T0, end)
            .config_binding("fed-config-b", CHANNELS.0)
            .data_binding(bind(DataBinding::new("alpha", "run-a").with_channels(
                0,
                0,
                CHANNELS.0 - 1,
            )))
            .data_binding(bind(DataBinding::new("beta", "run-b").with_channels(
                0,
                CHANNELS.0,
                CHANNELS.0 + CHANNELS.1 - 1,
            )))
            .build(),
    ]
}

async fn seed_sessions(store: &dyn SessionStore) -> Result<()> {
    for request in session_requests() {
        store.create_or_update(request).await?;
    }
    Ok(())
}
