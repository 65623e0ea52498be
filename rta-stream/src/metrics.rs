//! Metrics of the stream service, on `prometheus-client`: a process
//! registers them into its registry ([`Metrics::register`]) so they appear
//! on its `/metrics` with its other metrics.
//!
//! ```
//! let m = rta_stream::metrics::Metrics::default();
//! m.add_bytes_sent(10);
//! let mut registry = prometheus_client::registry::Registry::default();
//! m.register(&mut registry);
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains("rta_stream_sent_bytes_total 10"));
//! ```

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Counters and gauges of the stream service (cheap clones of shared
/// atomics; share the struct in an `Arc`).
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    clients: Gauge,
    connections: Counter,
    bursts_sent: Counter,
    bytes_sent: Counter,
    backfill_bursts: Counter,
    slow_closes: Counter,
    entries_read: Counter,
    bad_entries: Counter,
    lag_seconds: Gauge<f64, AtomicU64>,
    trimmed: Counter,
    healthy: Gauge,
}

macro_rules! adders {
    ($($(#[$m:meta])* $name:ident => $field:ident;)*) => {$(
        $(#[$m])*
        pub fn $name(&self, n: u64) {
            self.$field.inc_by(n);
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
        self.clients.inc();
        self.connections.inc();
    }

    /// A client disconnected.
    pub fn client_disconnected(&self) {
        self.clients.dec();
    }

    /// Connected clients now.
    pub fn clients(&self) -> i64 {
        self.clients.get()
    }

    /// Clients closed for being too slow, so far.
    pub fn slow_closes(&self) -> u64 {
        self.slow_closes.get()
    }

    /// Bursts sent as back-fill, so far.
    pub fn backfill_bursts(&self) -> u64 {
        self.backfill_bursts.get()
    }

    /// Records the lag of the last entry read (now minus its id time), ms.
    pub fn set_lag_ms(&self, ms: i64) {
        self.lag_seconds.set(ms as f64 / 1000.0);
    }

    /// Records the last health check result.
    pub fn set_healthy(&self, ok: bool) {
        self.healthy.set(i64::from(ok));
    }

    /// Adds every metric to `registry` (names start `rta_stream_`).
    pub fn register(&self, registry: &mut Registry) {
        let counters = [
            (
                "rta_stream_connections",
                "WebSocket connections accepted",
                &self.connections,
            ),
            (
                "rta_stream_sent_bursts",
                "Bursts sent to clients",
                &self.bursts_sent,
            ),
            (
                "rta_stream_sent_bytes",
                "Bytes sent to clients (compressed)",
                &self.bytes_sent,
            ),
            (
                "rta_stream_backfill_bursts",
                "Bursts sent as back-fill",
                &self.backfill_bursts,
            ),
            (
                "rta_stream_slow_client_closes",
                "Clients closed for falling behind",
                &self.slow_closes,
            ),
            (
                "rta_stream_redis_entries_read",
                "Redis stream entries read",
                &self.entries_read,
            ),
            (
                "rta_stream_redis_bad_entries",
                "Redis stream entries that could not be decoded",
                &self.bad_entries,
            ),
            (
                "rta_stream_trimmed_entries",
                "Entries removed by the trimmer",
                &self.trimmed,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "rta_stream_clients",
            "Connected WebSocket clients",
            self.clients.clone(),
        );
        registry.register(
            "rta_stream_redis_lag_seconds",
            "Age of the last Redis entry when it was read",
            self.lag_seconds.clone(),
        );
        registry.register(
            "rta_stream_healthy",
            "1 when the last check of the live source passed",
            self.healthy.clone(),
        );
    }
}
