//! The trimmer: caps the length of every stream listed in `streams`, and
//! drops expired sessions from the session index.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::keys::KeyLayout;
use crate::metrics::Metrics;
use crate::writer::now_millis;
use crate::Result;

/// Options of the trimmer (`Trimmer:*` in the toolkit's configuration).
#[derive(Debug, Clone)]
pub struct TrimmerOptions {
    /// Redis key names.
    pub keys: KeyLayout,
    /// Entries kept in each stream (`TargetStreamLength`, default 10000).
    pub target_stream_length: u64,
    /// Time between passes (`Interval`, default 30 s).
    pub interval: Duration,
    /// Trim with `MAXLEN ~` (faster, leaves some extra entries) instead of an
    /// exact `MAXLEN =` (`ApproxLength`, default false).
    pub approx_length: bool,
    /// Index members older than this are removed (their hashes have expired;
    /// default 24 h, the writer's session expiry).
    pub session_ttl: Duration,
}

impl Default for TrimmerOptions {
    fn default() -> Self {
        Self {
            keys: KeyLayout::default(),
            target_stream_length: 10_000,
            interval: Duration::from_secs(30),
            approx_length: false,
            session_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// One trimming pass. Returns the number of stream entries removed.
pub async fn trim_once(conn: &mut ConnectionManager, opts: &TrimmerOptions) -> Result<u64> {
    let names: Vec<String> = redis::cmd("SMEMBERS")
        .arg(&opts.keys.streams_set)
        .query_async(conn)
        .await?;
    let mut removed = 0u64;
    for name in names {
        let n: u64 = redis::cmd("XTRIM")
            .arg(opts.keys.stream_key(&name))
            .arg("MAXLEN")
            .arg(if opts.approx_length { "~" } else { "=" })
            .arg(opts.target_stream_length)
            .query_async(conn)
            .await?;
        removed += n;
    }
    let cutoff = now_millis() - opts.session_ttl.as_millis() as i64;
    let _: u64 = redis::cmd("ZREMRANGEBYSCORE")
        .arg(&opts.keys.session_index)
        .arg("-inf")
        .arg(format!("({cutoff}"))
        .query_async(conn)
        .await?;
    Ok(removed)
}

/// Runs [`trim_once`] every `interval` until the task is aborted; errors are
/// logged and the next pass tries again.
pub fn spawn(
    mut conn: ConnectionManager,
    opts: TrimmerOptions,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(opts.interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match trim_once(&mut conn, &opts).await {
                Ok(n) => {
                    metrics.add_trimmed(n);
                    if n > 0 {
                        tracing::debug!("trimmed {n} stream entries");
                    }
                }
                Err(e) => tracing::warn!("stream trimming failed: {e}"),
            }
        }
    })
}
