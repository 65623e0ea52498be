//! Counters of the stream service, rendered in the Prometheus text format.
//!
//! ```
//! let m = rta_stream::metrics::Metrics::default();
//! m.add_bytes_sent(10);
//! assert!(m.render().contains("rta_stream_sent_bytes_total 10"));
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Service counters and gauges (all atomics; share in an `Arc`).
#[derive(Debug, Default)]
pub struct Metrics {
    clients: AtomicI64,
    connections: AtomicU64,
    bursts_sent: AtomicU64,
    bytes_sent: AtomicU64,
    backfill_bursts: AtomicU64,
    slow_closes: AtomicU64,
    entries_read: AtomicU64,
    bad_entries: AtomicU64,
    lag_ms: AtomicI64,
    trimmed: AtomicU64,
    healthy: AtomicI64,
}

macro_rules! adders {
    ($($(#[$m:meta])* $name:ident => $field:ident;)*) => {$(
        $(#[$m])*
        pub fn $name(&self, n: u64) {
            self.$field.fetch_add(n, Ordering::Relaxed);
        }
    )*};
}

impl Metrics {
    adders! {
        /// Counts bursts sent to WebSocket clients.
        add_bursts_sent => bursts_sent;
        /// Counts bytes sent to WebSocket clients (compressed).
        add_bytes_sent => bytes_sent;
        /// Counts bursts sent as back-fill.
        add_backfill_bursts => backfill_bursts;
        /// Counts clients closed for being too slow.
        add_slow_closes => slow_closes;
        /// Counts Redis stream entries read.
        add_entries_read => entries_read;
        /// Counts Redis stream entries that could not be decoded.
        add_bad_entries => bad_entries;
        /// Counts entries removed by the trimmer.
        add_trimmed => trimmed;
    }

    /// A client connected.
    pub fn client_connected(&self) {
        self.clients.fetch_add(1, Ordering::Relaxed);
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// A client disconnected.
    pub fn client_disconnected(&self) {
        self.clients.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connected clients now.
    pub fn clients(&self) -> i64 {
        self.clients.load(Ordering::Relaxed)
    }

    /// Records the lag of the last entry read (now minus its id time), ms.
    pub fn set_lag_ms(&self, ms: i64) {
        self.lag_ms.store(ms, Ordering::Relaxed);
    }

    /// Records the last health check result.
    pub fn set_healthy(&self, ok: bool) {
        self.healthy.store(i64::from(ok), Ordering::Relaxed);
    }

    /// Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut put = |name: &str, kind: &str, help: &str, v: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        let u = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        let i = |a: &AtomicI64| a.load(Ordering::Relaxed).to_string();
        put(
            "rta_stream_clients",
            "gauge",
            "Connected WebSocket clients.",
            i(&self.clients),
        );
        put(
            "rta_stream_connections_total",
            "counter",
            "WebSocket connections accepted.",
            u(&self.connections),
        );
        put(
            "rta_stream_sent_bursts_total",
            "counter",
            "Bursts sent to clients.",
            u(&self.bursts_sent),
        );
        put(
            "rta_stream_sent_bytes_total",
            "counter",
            "Bytes sent to clients (compressed).",
            u(&self.bytes_sent),
        );
        put(
            "rta_stream_backfill_bursts_total",
            "counter",
            "Bursts sent as back-fill.",
            u(&self.backfill_bursts),
        );
        put(
            "rta_stream_slow_client_closes_total",
            "counter",
            "Clients closed for falling behind.",
            u(&self.slow_closes),
        );
        put(
            "rta_stream_redis_entries_read_total",
            "counter",
            "Redis stream entries read.",
            u(&self.entries_read),
        );
        put(
            "rta_stream_redis_bad_entries_total",
            "counter",
            "Redis stream entries that could not be decoded.",
            u(&self.bad_entries),
        );
        put(
            "rta_stream_redis_lag_seconds",
            "gauge",
            "Age of the last Redis entry when it was read.",
            format!("{:.3}", self.lag_ms.load(Ordering::Relaxed) as f64 / 1000.0),
        );
        put(
            "rta_stream_trimmed_entries_total",
            "counter",
            "Entries removed by the trimmer.",
            u(&self.trimmed),
        );
        put(
            "rta_stream_healthy",
            "gauge",
            "1 when the last health check passed.",
            i(&self.healthy),
        );
        out
    }
}
