//! Demo content for `rta-server --demo`: a configuration, folders, a few
//! closed historical sessions with data, and one live session written in
//! real time, so a fresh server has something ATLAS can browse and follow.
//!
//! Channels (app `demo`): 0 `vCar`, 1 `nEngine`, 2 `pBrakeF` — timestamped
//! `f64` at 100 Hz; 3 `nCounter` — periodic `u16` at 1 kHz; event 1 "Lap"
//! each second. Values are pure functions of channel and time
//! ([`rta_stream::demo::timestamped_value`], [`rta_stream::demo::periodic_value`]).

use std::time::Duration;

use rta_core::config::{ChannelDataType, Config, EventPriority, ParameterSpec};
use rta_core::data::{periodic, timestamped};
use rta_core::proto::data::Event;
use rta_core::proto::session_service as ss;
use rta_core::service::{SessionStore, StoredConfig};
use rta_core::session::SessionState;
use rta_core::session_request::SessionRequest;
use rta_core::time::Timestamp;
use rta_core::write::WriteItem;
use rta_stream::demo::{periodic_value, timestamped_value, PERIODIC_CHANNEL};

use crate::server::RtaServer;
use crate::Result;

/// Identifier of the demo configuration.
pub const CONFIG_ID: &str = "rta-demo-config-v1";
/// Nanoseconds per write step of the live session.
pub const STEP_NS: i64 = 100_000_000;
const SEC: i64 = 1_000_000_000;

/// What [`publish`] creates.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Closed sessions with data (default 3).
    pub historical_sessions: usize,
    /// Seconds of data in each closed session (default 60).
    pub historical_secs: i64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            historical_sessions: 3,
            historical_secs: 60,
        }
    }
}

/// The demo configuration.
pub fn config() -> Result<Config> {
    Ok(Config::builder("demo")
        .first_channel(0)
        .parameter(
            ParameterSpec::new("vCar", ChannelDataType::F64)
                .unit("km/h")
                .timestamped(),
        )
        .parameter(
            ParameterSpec::new("nEngine", ChannelDataType::F64)
                .unit("rpm")
                .timestamped(),
        )
        .parameter(
            ParameterSpec::new("pBrakeF", ChannelDataType::F64)
                .unit("bar")
                .timestamped(),
        )
        .parameter(ParameterSpec::new("nCounter", ChannelDataType::U16).periodic_hz(1000.0))
        .event(1, "Lap", EventPriority::Medium)
        .build()?)
}

/// Data of the demo channels for `[start, start + STEP_NS)`.
pub fn step_items(start: i64) -> Result<Vec<WriteItem>> {
    let mut items = Vec::with_capacity(5);
    let times: Vec<i64> = (0..10).map(|i| start + i * 10_000_000).collect();
    for ch in 0..3u32 {
        let v: Vec<f64> = times.iter().map(|t| timestamped_value(ch, *t)).collect();
        items.push(WriteItem::Timestamped(timestamped(ch, &times, &v)?));
    }
    let first = start / 1_000_000;
    let v: Vec<u16> = (0..100).map(|i| periodic_value(first + i)).collect();
    items.push(WriteItem::Periodic(periodic(
        PERIODIC_CHANNEL,
        start,
        1_000_000,
        &v,
    )?));
    if start.rem_euclid(SEC) < STEP_NS {
        items.push(WriteItem::Event(Event {
            event_definition_id: 1,
            app_name: "demo".into(),
            timestamp: start,
            status_text: format!("Lap {}", start.div_euclid(SEC).rem_euclid(100)),
            raw_data: vec![start.div_euclid(SEC) as f64],
        }));
    }
    Ok(items)
}

fn session_request(
    identity: &str,
    state: SessionState,
    start: i64,
    end: Option<i64>,
    driver: &str,
    folder: &str,
) -> ss::CreateOrUpdateSessionRequest {
    let mut request = SessionRequest::new(identity, state)
        .timestamp(Timestamp::from_nanos(start).as_str())
        .detail("Driver", driver)
        .detail("Track", "Demo Circuit")
        .detail("Car", "RTA-1")
        .session_type("demo")
        .config_binding(CONFIG_ID, 0)
        .folder(folder);
    if let Some(end) = end {
        request = request.time_range(start, end);
    }
    request.build()
}

/// Publishes the configuration, folders and closed sessions, and creates
/// the live session (state open). Returns the live session's identity;
/// drive it with [`run_live`].
pub async fn publish(server: &RtaServer, opts: &DemoOptions) -> Result<String> {
    let cfg = config()?;
    match server
        .configs
        .put(CONFIG_ID, StoredConfig::json(&cfg))
        .await
    {
        Ok(()) | Err(rta_core::Error::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    for (parent, identity, label) in [
        ("", "demo", "Demo"),
        ("demo", "demo-historical", "Historical"),
        ("demo", "demo-live", "Live"),
    ] {
        server
            .sessions
            .put_folder(ss::PutSessionFolderRequest {
                parent_identity: parent.into(),
                identity: identity.into(),
                label: label.into(),
                description: format!("{label} demo sessions"),
            })
            .await?;
    }
    let now = Timestamp::now().nanos();
    let drivers = ["A. Senna", "J. Clark", "J. Stewart", "N. Lauda"];
    for i in 0..opts.historical_sessions {
        let identity = format!("demo-historical-{}", i + 1);
        let exists = server
            .sessions
            .get(&identity, &ss::SessionElements::default())
            .await?
            .is_some();
        if exists {
            continue;
        }
        let start = (now - (i as i64 + 1) * 3600 * SEC).div_euclid(SEC) * SEC;
        let end = start + opts.historical_secs * SEC - 1_000_000;
        let driver = drivers[i % drivers.len()];
        server
            .sessions
            .create_or_update(session_request(
                &identity,
                SessionState::Waiting,
                start,
                None,
                driver,
                "demo-historical",
            ))
            .await?;
        let mut t = start;
        while t < start + opts.historical_secs * SEC {
            server.write_data(&identity, step_items(t)?).await?;
            t += STEP_NS;
        }
        server
            .sessions
            .create_or_update(session_request(
                &identity,
                SessionState::Closed,
                start,
                Some(end),
                driver,
                "demo-historical",
            ))
            .await?;
    }
    let identity = format!("demo-live-{}", uuid_like(now));
    let start = now.div_euclid(STEP_NS) * STEP_NS;
    server
        .sessions
        .create_or_update(session_request(
            &identity,
            SessionState::Open,
            start,
            None,
            "Live Driver",
            "demo-live",
        ))
        .await?;
    Ok(identity)
}

fn uuid_like(n: i64) -> String {
    format!("{:016x}", (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Writes the live session in real time, 100 ms at a time, for `duration`
/// (forever when `None`), then closes it.
pub async fn run_live(
    server: &RtaServer,
    identity: &str,
    duration: Option<Duration>,
) -> Result<()> {
    let started = tokio::time::Instant::now();
    let start = Timestamp::now().nanos().div_euclid(STEP_NS) * STEP_NS;
    let mut t = start;
    let mut tick = tokio::time::interval(Duration::from_nanos(STEP_NS as u64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        server.write_data(identity, step_items(t)?).await?;
        let end = t + STEP_NS - 1_000_000;
        server.publish_time_range(identity, start, end);
        if (t - start).rem_euclid(SEC) == 0 {
            server
                .sessions
                .create_or_update(
                    SessionRequest::update(identity)
                        .time_range(start, end)
                        .build(),
                )
                .await?;
        }
        t += STEP_NS;
    }
    server
        .sessions
        .create_or_update(
            SessionRequest::update(identity)
                .time_range(start, t - 1_000_000)
                .state(SessionState::Closed)
                .build(),
        )
        .await?;
    Ok(())
}
