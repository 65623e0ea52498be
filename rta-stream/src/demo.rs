//! A live demo session written to Redis, used by the `rta-demo-ingest`
//! example, the tests and the benches.
//!
//! Channels: 0, 1 and 2 are timestamped `f64` at 100 Hz, 3 is periodic `u16`
//! at 1 kHz; one event (definition 1) each second. Data goes out in 100 ms
//! steps, each followed by a time-range update. The session is opened
//! (state `open`) at the start and closed (state `closed`, final JSON with
//! the time range) at the end. Every value is a pure function of the
//! channel and the time, so a reader can check what it receives.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rta_core::data::{periodic, timestamped};
use rta_core::proto::data::Event;

use crate::writer::{SessionWriter, StreamBuffer};
use crate::Result;

/// Nanoseconds per 100 ms step.
pub const STEP_NS: i64 = 100_000_000;
/// Interval of the timestamped channels (100 Hz).
pub const TIMESTAMPED_INTERVAL_NS: i64 = 10_000_000;
/// Interval of the periodic channel (1 kHz).
pub const PERIODIC_INTERVAL_NS: i64 = 1_000_000;
/// Id of the periodic channel.
pub const PERIODIC_CHANNEL: u32 = 3;
/// Event definition id of the per-second event.
pub const EVENT_ID: i32 = 1;

/// Value of timestamped channel `ch` (0..3) at `t_ns` ns after the session start.
pub fn timestamped_value(ch: u32, t_ns: i64) -> f64 {
    let t = t_ns as f64 / 1e9;
    let f = 0.5 + f64::from(ch) * 0.25;
    (f64::from(ch) + 1.0) * 100.0 * (2.0 * std::f64::consts::PI * f * t).sin()
}

/// Value of the periodic channel at sample index `i`.
pub fn periodic_value(i: i64) -> u16 {
    (i.rem_euclid(4096) * 16) as u16
}

/// What to write.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Session identity.
    pub identity: String,
    /// Stream name (no prefix).
    pub stream: String,
    /// Session length.
    pub duration: Duration,
    /// Write as fast as possible instead of in real time.
    pub fast: bool,
    /// Start time, ns since the Unix epoch.
    pub start_ns: i64,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Timestamped samples (all three channels).
    pub timestamped_samples: u64,
    /// Periodic samples.
    pub periodic_samples: u64,
    /// Events.
    pub events: u64,
    /// 100 ms steps.
    pub steps: u64,
}

/// The session JSON of the demo.
pub fn session_json(opts: &DemoOptions, state: &str, end_ns: Option<i64>) -> String {
    let ts = |ns: i64| {
        DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, false)
    };
    let mut v = serde_json::json!({
        "identity": opts.identity,
        "state": state,
        "timestamp": ts(opts.start_ns),
        "identifier": format!("rta-stream demo {}", ts(opts.start_ns)),
        "type": "demo",
    });
    if let Some(end) = end_ns {
        v["timeRange"] = serde_json::json!({ "startTime": opts.start_ns, "endTime": end });
        v["startTimestamp"] = ts(opts.start_ns).into();
        v["endTimestamp"] = ts(end).into();
    }
    v.to_string()
}

/// Writes one 100 ms step (`step` counted from 0) of demo data.
pub async fn write_step(w: &SessionWriter, start_ns: i64, step: i64) -> Result<DemoSummary> {
    let t0 = step * STEP_NS;
    let mut s = DemoSummary {
        steps: 1,
        ..Default::default()
    };
    let n_ts = (STEP_NS / TIMESTAMPED_INTERVAL_NS) as usize;
    let times: Vec<i64> = (0..n_ts as i64)
        .map(|i| start_ns + t0 + i * TIMESTAMPED_INTERVAL_NS)
        .collect();
    for ch in 0..3u32 {
        let values: Vec<f64> = times
            .iter()
            .map(|t| timestamped_value(ch, t - start_ns))
            .collect();
        w.write_timestamped(timestamped(ch, &times, &values)?)
            .await?;
        s.timestamped_samples += n_ts as u64;
    }
    let n_p = STEP_NS / PERIODIC_INTERVAL_NS;
    let first = t0 / PERIODIC_INTERVAL_NS;
    let values: Vec<u16> = (first..first + n_p).map(periodic_value).collect();
    w.write_periodic(periodic(
        PERIODIC_CHANNEL,
        start_ns + t0,
        PERIODIC_INTERVAL_NS,
        &values,
    )?)
    .await?;
    s.periodic_samples += n_p as u64;
    if t0 % 1_000_000_000 == 0 {
        let n = t0 / 1_000_000_000;
        w.write_event(Event {
            event_definition_id: EVENT_ID,
            app_name: "demo".into(),
            timestamp: start_ns + t0,
            status_text: format!("second {n}"),
            raw_data: vec![n as f64],
        })
        .await?;
        s.events += 1;
    }
    w.write_time_range(start_ns, start_ns + t0 + STEP_NS - PERIODIC_INTERVAL_NS)
        .await?;
    Ok(s)
}

/// Runs the whole demo session: open, data steps, close.
pub async fn run(buffer: &StreamBuffer, opts: &DemoOptions) -> Result<DemoSummary> {
    let w = buffer.init_session(&opts.identity, &opts.stream).await?;
    w.write_session_json(session_json(opts, "open", None))
        .await?;
    let steps = (opts.duration.as_nanos() as i64 / STEP_NS).max(1);
    let begun = tokio::time::Instant::now();
    let mut total = DemoSummary::default();
    for step in 0..steps {
        if !opts.fast {
            tokio::time::sleep_until(begun + Duration::from_millis(100 * step as u64)).await;
        }
        let s = write_step(&w, opts.start_ns, step).await?;
        total.timestamped_samples += s.timestamped_samples;
        total.periodic_samples += s.periodic_samples;
        total.events += s.events;
        total.steps += 1;
    }
    let end = opts.start_ns + steps * STEP_NS - PERIODIC_INTERVAL_NS;
    w.write_session_json(session_json(opts, "closed", Some(end)))
        .await?;
    w.close().await?;
    Ok(total)
}
