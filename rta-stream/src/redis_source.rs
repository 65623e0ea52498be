//! The Redis-backed [`LiveSource`]: finds sessions in the session hashes,
//! follows each Redis stream with one blocking reader shared by all the
//! subscribers of all its sessions, and back-fills from `streamPosition`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use redis::{AsyncConnectionConfig, Value};

use crate::burst::{decode_frame, MAX_BURST_BYTES};
use crate::keys::{self, KeyLayout, Position, SessionRecord};
use crate::metrics::Metrics;
use crate::source::{
    is_data, live_channel, LiveBurst, LiveHistory, LiveSender, LiveSource, LiveSubscription,
    SessionSnapshot,
};
use crate::writer::now_millis;
use crate::{Error, Result};

/// Options of the Redis reader.
#[derive(Debug, Clone)]
pub struct RedisSourceOptions {
    /// Redis key names.
    pub keys: KeyLayout,
    /// How far back (by entry time) back-fill scans, at most (default 5 minutes).
    pub back_scan: Duration,
    /// Most stream entries one back-fill scans (default 10,000).
    pub back_scan_entries: usize,
    /// Blocking time of each `XREAD` (default 1 s).
    pub block: Duration,
    /// Entries per `XREAD` / `XRANGE` page (default 64).
    pub read_count: usize,
    /// Largest decompressed burst accepted from Redis (default 4 MiB, four
    /// times the protocol's limit, to tolerate other writers).
    pub max_burst_bytes: usize,
}

impl Default for RedisSourceOptions {
    fn default() -> Self {
        Self {
            keys: KeyLayout::default(),
            back_scan: Duration::from_secs(300),
            back_scan_entries: 10_000,
            block: Duration::from_secs(1),
            read_count: 64,
            max_burst_bytes: 4 * MAX_BURST_BYTES,
        }
    }
}

struct Sub {
    ssid: u64,
    tx: LiveSender,
}

struct FollowerState {
    watermark: Position,
    subs: HashMap<u64, Sub>,
    running: bool,
}

struct Follower {
    stream_key: String,
    state: Mutex<FollowerState>,
}

impl Follower {
    fn lock(&self) -> MutexGuard<'_, FollowerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Inner {
    client: redis::Client,
    conn: ConnectionManager,
    opts: RedisSourceOptions,
    metrics: Arc<Metrics>,
    followers: Mutex<HashMap<String, Arc<Follower>>>,
    next_sub: AtomicU64,
}

impl Inner {
    fn followers(&self) -> MutexGuard<'_, HashMap<String, Arc<Follower>>> {
        self.followers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Live sessions read from the Redis stream buffer. Cheap to clone.
#[derive(Clone)]
pub struct RedisLiveSource {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisLiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLiveSource")
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl RedisLiveSource {
    /// Connects (a connection string per [`crate::conn`]).
    pub async fn connect(
        target: &str,
        db: Option<i64>,
        opts: RedisSourceOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        Self::with_client(crate::conn::client(target, db)?, opts, metrics).await
    }

    /// Uses an existing client. The connection is made on first use.
    pub async fn with_client(
        client: redis::Client,
        opts: RedisSourceOptions,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        if opts.read_count == 0 {
            return Err(Error::Config("read_count must be at least 1".into()));
        }
        let cfg = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        // Lazy: the service starts (and reports unhealthy) while Redis is down.
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), cfg)?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                conn,
                opts,
                metrics,
                followers: Mutex::new(HashMap::new()),
                next_sub: AtomicU64::new(1),
            }),
        })
    }

    /// Reads the hash of session `identity`.
    pub async fn session(&self, identity: &str) -> Result<Option<SessionRecord>> {
        let mut conn = self.inner.conn.clone();
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.inner.opts.keys.session_key(identity))
            .query_async(&mut conn)
            .await?;
        SessionRecord::from_fields(&fields)
    }

    /// Identities of sessions updated within `max_age`, newest first, from the
    /// session index (no `SCAN`).
    pub async fn list_sessions(&self, max_age: Duration) -> Result<Vec<String>> {
        let mut conn = self.inner.conn.clone();
        let min = now_millis() - max_age.as_millis() as i64;
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(&self.inner.opts.keys.session_index)
            .arg("+inf")
            .arg(min)
            .arg("BYSCORE")
            .arg("REV")
            .query_async(&mut conn)
            .await?;
        Ok(ids)
    }

    /// Number of Redis streams currently followed.
    pub fn followed_streams(&self) -> usize {
        self.inner.followers().len()
    }

    async fn follower(&self, stream_name: &str) -> Result<Arc<Follower>> {
        if let Some(f) = self.inner.followers().get(stream_name) {
            return Ok(f.clone());
        }
        let stream_key = self.inner.opts.keys.stream_key(stream_name);
        let mut conn = self.inner.conn.clone();
        let tail = stream_tail(&mut conn, &stream_key).await?;
        let mut map = self.inner.followers();
        if let Some(f) = map.get(stream_name) {
            return Ok(f.clone());
        }
        let f = Arc::new(Follower {
            stream_key,
            state: Mutex::new(FollowerState {
                watermark: tail,
                subs: HashMap::new(),
                running: true,
            }),
        });
        map.insert(stream_name.to_string(), f.clone());
        tokio::spawn(follow(
            self.inner.clone(),
            stream_name.to_string(),
            f.clone(),
        ));
        Ok(f)
    }
}

async fn stream_tail(conn: &mut ConnectionManager, key: &str) -> Result<Position> {
    let last: StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    match last.ids.first() {
        Some(e) => Position::from_redis_id(&e.id),
        None => Ok(Position::ZERO),
    }
}

/// Splits a stream entry into (position, stream session id, data).
fn parse_entry(mut e: StreamId) -> Result<(Position, u64, Vec<u8>)> {
    let pos = Position::from_redis_id(&e.id)?;
    let ssid = e
        .get::<u64>(keys::ENTRY_ID)
        .ok_or_else(|| Error::Protocol(format!("entry {} has no numeric \"id\"", e.id)))?;
    let data = match e.map.remove(keys::ENTRY_DATA) {
        Some(Value::BulkString(b)) => b,
        _ => return Err(Error::Protocol(format!("entry {} has no \"data\"", e.id))),
    };
    Ok((pos, ssid, data))
}

fn decode_items(data: &[u8], max: usize) -> Result<Arc<[rta_core::proto::stream::StreamData]>> {
    Ok(Arc::from(decode_frame(data, max)?.data))
}

/// One task per followed stream: blocking reads from the watermark, fan-out
/// to the subscribers of each session.
async fn follow(inner: Arc<Inner>, name: String, f: Arc<Follower>) {
    let opts = &inner.opts;
    let cfg = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(opts.block + Duration::from_secs(5)));
    let mut conn: Option<MultiplexedConnection> = None;
    let mut delay = Duration::from_millis(100);
    loop {
        let from = {
            let mut map = inner.followers();
            let mut st = f.lock();
            st.subs.retain(|_, s| !s.tx.is_closed());
            if st.subs.is_empty() {
                st.running = false;
                if map.get(&name).is_some_and(|x| Arc::ptr_eq(x, &f)) {
                    map.remove(&name);
                }
                tracing::debug!(stream = %name, "no subscribers left, stopping reader");
                return;
            }
            st.watermark
        };
        let c = match &mut conn {
            Some(c) => c,
            None => match inner
                .client
                .get_multiplexed_async_connection_with_config(&cfg)
                .await
            {
                Ok(c) => {
                    delay = Duration::from_millis(100);
                    conn.insert(c)
                }
                Err(e) => {
                    tracing::warn!(stream = %name, "Redis connect failed, retrying in {delay:?}: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    continue;
                }
            },
        };
        let reply: Option<StreamReadReply> = match redis::cmd("XREAD")
            .arg("COUNT")
            .arg(opts.read_count)
            .arg("BLOCK")
            .arg(opts.block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&f.stream_key)
            .arg(from.to_redis_id())
            .query_async(c)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(stream = %name, "XREAD failed, reconnecting in {delay:?}: {e}");
                conn = None;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        let entries = reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect::<Vec<_>>())
            .unwrap_or_default();
        if entries.is_empty() {
            continue;
        }
        inner.metrics.add_entries_read(entries.len() as u64);
        let mut st = f.lock();
        for e in entries {
            let id = e.id.clone();
            let (pos, ssid, data) = match parse_entry(e) {
                Ok(x) => x,
                Err(err) => {
                    inner.metrics.add_bad_entries(1);
                    tracing::warn!(stream = %name, "skipping entry {id}: {err}");
                    if let Ok(p) = Position::from_redis_id(&id) {
                        st.watermark = st.watermark.max(p);
                    }
                    continue;
                }
            };
            if pos <= st.watermark {
                continue;
            }
            st.watermark = pos;
            inner.metrics.set_lag_ms(now_millis() - pos.millis() as i64);
            if !st.subs.values().any(|s| s.ssid == ssid) {
                continue;
            }
            let items = match decode_items(&data, opts.max_burst_bytes) {
                Ok(i) => i,
                Err(err) => {
                    inner.metrics.add_bad_entries(1);
                    tracing::warn!(stream = %name, "skipping entry {id}: {err}");
                    continue;
                }
            };
            let burst = LiveBurst {
                position: pos,
                items,
            };
            st.subs
                .retain(|_, s| s.ssid != ssid || s.tx.deliver(burst.clone()));
        }
    }
}

struct RedisHistory {
    conn: ConnectionManager,
    stream_key: String,
    ssid: u64,
    start: Position,
    max_entries: usize,
    page: usize,
    max_burst_bytes: usize,
}

impl LiveHistory for RedisHistory {
    fn read(&self, up_to: Position) -> BoxStream<'static, Result<LiveBurst>> {
        struct Cursor {
            conn: ConnectionManager,
            key: String,
            ssid: u64,
            next: Option<String>,
            up_to: Position,
            left: usize,
            page: usize,
            max: usize,
        }
        let cursor = Cursor {
            conn: self.conn.clone(),
            key: self.stream_key.clone(),
            ssid: self.ssid,
            next: Some(self.start.to_redis_id()),
            up_to,
            left: self.max_entries,
            page: self.page,
            max: self.max_burst_bytes,
        };
        stream::unfold(cursor, |mut c| async move {
            let from = c.next.take()?;
            if c.left == 0 {
                return None;
            }
            let count = c.page.min(c.left);
            let reply: Result<StreamRangeReply> = redis::cmd("XRANGE")
                .arg(&c.key)
                .arg(&from)
                .arg(c.up_to.to_redis_id())
                .arg("COUNT")
                .arg(count)
                .query_async(&mut c.conn)
                .await
                .map_err(Error::from);
            let page = match reply {
                Ok(r) => r.ids,
                Err(e) => return Some((vec![Err(e)], c)),
            };
            c.left -= page.len();
            if page.len() == count {
                if let Some(last) = page.last() {
                    c.next = Some(format!("({}", last.id));
                }
            }
            let mut out = Vec::new();
            for e in page {
                let Ok((pos, ssid, data)) = parse_entry(e) else {
                    continue;
                };
                if ssid != c.ssid {
                    continue;
                }
                match decode_items(&data, c.max) {
                    Ok(items) if items.iter().any(is_data) => out.push(Ok(LiveBurst {
                        position: pos,
                        items,
                    })),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("skipping undecodable back-fill entry: {e}"),
                }
            }
            Some((out, c))
        })
        .flat_map(stream::iter)
        .boxed()
    }
}

#[async_trait::async_trait]
impl LiveSource for RedisLiveSource {
    async fn subscribe(
        &self,
        identity: &str,
        queue_len: usize,
    ) -> Result<Option<LiveSubscription>> {
        let Some(rec) = self.session(identity).await? else {
            return Ok(None);
        };
        if rec.json.is_none() {
            return Ok(None);
        }
        let (tx, rx) = live_channel(queue_len);
        let sub_id = self.inner.next_sub.fetch_add(1, Ordering::Relaxed);
        let (follower, position) = loop {
            let f = self.follower(&rec.stream_name).await?;
            let mut st = f.lock();
            if !st.running {
                continue;
            }
            st.subs.insert(
                sub_id,
                Sub {
                    ssid: rec.stream_session_id,
                    tx: tx.clone(),
                },
            );
            let w = st.watermark;
            drop(st);
            break (f, w);
        };
        drop(tx);
        // Read the hash again: anything written up to the watermark is now
        // reflected, and everything after it arrives live.
        let latest = self.session(identity).await?.unwrap_or(rec);
        let Some(json) = latest.json.clone() else {
            return Ok(None);
        };
        let opts = &self.inner.opts;
        let back = now_millis().saturating_sub(opts.back_scan.as_millis() as i64);
        let start = latest
            .stream_position
            .max(Position((back.max(0) as u128) << 64));
        Ok(Some(LiveSubscription {
            snapshot: SessionSnapshot {
                json,
                time_range: latest.time_range,
            },
            position,
            receiver: rx,
            history: Box::new(RedisHistory {
                conn: self.inner.conn.clone(),
                stream_key: follower.stream_key.clone(),
                ssid: latest.stream_session_id,
                start,
                max_entries: opts.back_scan_entries,
                page: opts.read_count.max(16),
                max_burst_bytes: opts.max_burst_bytes,
            }),
        }))
    }

    async fn health(&self) -> Result<()> {
        let mut conn = self.inner.conn.clone();
        let pong: String = tokio::time::timeout(
            Duration::from_secs(2),
            redis::cmd("PING").query_async(&mut conn),
        )
        .await
        .map_err(|_| Error::Protocol("Redis PING timed out".into()))??;
        if pong != "PONG" {
            return Err(Error::Protocol(format!("Redis PING answered {pong:?}")));
        }
        Ok(())
    }
}
