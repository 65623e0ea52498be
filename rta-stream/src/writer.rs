//! The Redis stream-buffer writer used by ingest processes.
//!
//! [`StreamBuffer`] owns a (multiplexed, reconnecting) Redis connection;
//! [`StreamBuffer::init_session`] registers a session following the protocol
//! and returns a [`SessionWriter`] that batches stream items into bursts.
//!
//! # Batching and back-pressure
//!
//! Items are appended to an open burst of about
//! [`WriterOptions::burst_bytes`] (64 KiB) before compression. A burst is sent
//! when the next item would not fit, when it reaches the target, or
//! [`WriterOptions::max_latency`] (100 ms) after its first item, whichever
//! comes first. Sent bursts queue for a background task that writes every
//! queued burst in one Redis pipeline (`XADD`s plus the session hash update).
//! At most [`WriterOptions::max_in_flight`] bursts wait in that queue; when
//! Redis is slow, `write` waits for room instead of letting memory grow.
//!
//! # Delivery guarantee
//!
//! Bursts of one session reach the stream in the order they were written.
//! A pipeline that fails (connection dropped, Redis restarted, timeout) is
//! retried with exponential backoff (50 ms doubling to 2 s) until
//! [`WriterOptions::retry_timeout`]; after a failure the next pipeline also
//! re-creates the session hash, the `streams` entry and the id counter, in
//! case Redis restarted empty. Every burst is therefore either written **at
//! least once** or counted as failed and reported: the next call to
//! `write*`, [`SessionWriter::flush`] or [`SessionWriter::close`] returns
//! [`Error::WriteFailed`] once for the bursts given up since the previous
//! report (the writer stays usable). A pipeline whose reply was lost after
//! Redis executed it is written again, so a burst may, rarely, appear twice;
//! readers and clients must tolerate such overlap, as they already do for
//! back-fill.
//!
//! ```no_run
//! # async fn demo() -> rta_stream::Result<()> {
//! use rta_stream::writer::{StreamBuffer, WriterOptions};
//! let buffer = StreamBuffer::connect("redis://127.0.0.1:6379", None, WriterOptions::default()).await?;
//! let session = buffer.init_session("f10f4a19-3831-4dd6-a178-faa94931a5b0", "car1").await?;
//! session.write_session_json(r#"{"identity":"f10f4a19-3831-4dd6-a178-faa94931a5b0","state":"open"}"#).await?;
//! session.write_timestamped(rta_core::data::timestamped(0, &[10, 20], &[1.5f64, 2.5])?).await?;
//! session.write_time_range(10, 20).await?;
//! session.close().await?;
//! # Ok(()) }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use rta_core::proto::data::{Event, PeriodicData, RowData, TimestampedData};
use rta_core::proto::stream::{stream_data, StreamData, StreamDataBurst, StreamTimeRange};
use tokio::sync::{mpsc, watch, Mutex, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use rta_core::lz4::Lz4Framing;

use crate::burst::{BurstEncoder, EncodedBurst, DEFAULT_BURST_BYTES};
use crate::keys::{self, KeyLayout, Position};
use crate::{Error, Result};

/// Options of the writer.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Redis key names.
    pub keys: KeyLayout,
    /// Burst size target before compression (default 64 KiB, at most 1 MiB).
    pub burst_bytes: usize,
    /// Longest time an item waits in an open burst (default 100 ms).
    pub max_latency: Duration,
    /// Bursts that may wait for Redis before `write` blocks (default 16).
    pub max_in_flight: usize,
    /// Expiry of a session hash after its last update (default 24 h).
    pub session_ttl: Duration,
    /// How long a failing burst is retried before it is given up and reported
    /// (default 60 s; `None` retries forever).
    pub retry_timeout: Option<Duration>,
    /// Timeout of one Redis round trip (default 5 s).
    pub response_timeout: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            keys: KeyLayout::default(),
            burst_bytes: DEFAULT_BURST_BYTES,
            max_latency: Duration::from_millis(100),
            max_in_flight: 16,
            session_ttl: Duration::from_secs(24 * 3600),
            retry_timeout: Some(Duration::from_secs(60)),
            response_timeout: Duration::from_secs(5),
        }
    }
}

impl WriterOptions {
    fn validate(&self) -> Result<()> {
        BurstEncoder::new(self.burst_bytes)?;
        if self.max_in_flight == 0 {
            return Err(Error::Config("max_in_flight must be at least 1".into()));
        }
        if self.max_latency.is_zero() {
            return Err(Error::Config("max_latency must be positive".into()));
        }
        if self.session_ttl.as_secs() == 0 {
            return Err(Error::Config("session_ttl must be at least 1 s".into()));
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A connection to Redis for writing live sessions.
#[derive(Clone)]
pub struct StreamBuffer {
    conn: ConnectionManager,
    opts: Arc<WriterOptions>,
}

impl std::fmt::Debug for StreamBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamBuffer")
            .field("opts", &self.opts)
            .finish()
    }
}

impl StreamBuffer {
    /// Connects using a connection string (see [`crate::conn`]) and optional db.
    pub async fn connect(target: &str, db: Option<i64>, opts: WriterOptions) -> Result<Self> {
        Self::with_client(crate::conn::client(target, db)?, opts).await
    }

    /// Connects with an existing client.
    pub async fn with_client(client: redis::Client, opts: WriterOptions) -> Result<Self> {
        opts.validate()?;
        let cfg = ConnectionManagerConfig::new()
            .set_response_timeout(Some(opts.response_timeout))
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client, cfg).await?;
        Ok(Self {
            conn,
            opts: Arc::new(opts),
        })
    }

    /// The options in use.
    pub fn options(&self) -> &WriterOptions {
        &self.opts
    }

    /// Starts streaming session `identity` into stream `stream` (name without
    /// the `stream:` prefix), following the protocol: a new stream session id
    /// from `INCRBY lastStreamSessionId 1`, the stream's current last entry id
    /// (or `0-0`) as `streamPosition`, the stream added to `streams`, and the
    /// session hash written with an expiry. The session becomes streamable
    /// once its JSON has been written.
    pub async fn init_session(&self, identity: &str, stream: &str) -> Result<SessionWriter> {
        if identity.is_empty() || stream.is_empty() {
            return Err(Error::Config(
                "session identity and stream name must not be empty".into(),
            ));
        }
        let keys = &self.opts.keys;
        let mut conn = self.conn.clone();
        let stream_key = keys.stream_key(stream);
        let session_key = keys.session_key(identity);
        let ssid: u64 = redis::cmd("INCRBY")
            .arg(&keys.last_session_id)
            .arg(1)
            .query_async(&mut conn)
            .await?;
        let last: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(&stream_key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        let position = match last.ids.first() {
            Some(e) => Position::from_redis_id(&e.id)?,
            None => Position::ZERO,
        };
        let base = SessionBase {
            identity: identity.to_string(),
            stream_name: stream.to_string(),
            stream_key,
            session_key,
            ssid,
            position,
        };
        let mut pipe = redis::pipe();
        base.register(&mut pipe, &self.opts, now_millis());
        pipe.query_async::<()>(&mut conn).await?;
        SessionWriter::start(base, self.conn.clone(), self.opts.clone())
    }
}

/// What identifies a session in Redis; enough to re-create its registration.
#[derive(Debug, Clone)]
struct SessionBase {
    identity: String,
    stream_name: String,
    stream_key: String,
    session_key: String,
    ssid: u64,
    position: Position,
}

impl SessionBase {
    /// Adds the commands registering the session (without `json`/range).
    fn register(&self, pipe: &mut redis::Pipeline, opts: &WriterOptions, now: i64) {
        let keys = &opts.keys;
        pipe.cmd("SADD")
            .arg(&keys.streams_set)
            .arg(&self.stream_name)
            .ignore();
        pipe.cmd("HSET")
            .arg(&self.session_key)
            .arg(keys::FIELD_STREAM_SESSION_ID)
            .arg(self.ssid)
            .arg(keys::FIELD_STREAM_NAME)
            .arg(&self.stream_name)
            .arg(keys::FIELD_STREAM_POSITION)
            .arg(self.position.to_redis_id())
            .arg(keys::FIELD_LAST_UPDATED)
            .arg(now)
            .ignore();
        self.touch(pipe, opts, now);
    }

    /// Adds the expiry refresh and index update.
    fn touch(&self, pipe: &mut redis::Pipeline, opts: &WriterOptions, now: i64) {
        pipe.cmd("EXPIRE")
            .arg(&self.session_key)
            .arg(opts.session_ttl.as_secs())
            .ignore();
        pipe.cmd("ZADD")
            .arg(&opts.keys.session_index)
            .arg(now)
            .arg(&self.identity)
            .ignore();
    }
}

/// Counters of one session writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Bursts written to Redis.
    pub bursts_written: u64,
    /// Items in those bursts.
    pub items_written: u64,
    /// Bytes of those bursts before compression.
    pub raw_bytes_written: u64,
    /// Bytes of those bursts after LZ4 framing (the `data` fields).
    pub frame_bytes_written: u64,
    /// Bursts given up after the retry deadline.
    pub bursts_failed: u64,
    /// Pipelines retried after an error.
    pub retries: u64,
}

#[derive(Default)]
struct Counters {
    bursts_written: AtomicU64,
    items_written: AtomicU64,
    raw_bytes_written: AtomicU64,
    frame_bytes_written: AtomicU64,
    bursts_failed: AtomicU64,
    retries: AtomicU64,
}

/// Failures not yet reported to the caller.
#[derive(Default)]
struct Unreported {
    bursts: u64,
    items: u64,
    reason: String,
}

struct Pending {
    enc: BurstEncoder,
    opened_at: Option<Instant>,
    next_seq: u64,
    tx: Option<mpsc::Sender<Queued>>,
}

/// A burst on its way to Redis; its LZ4 framing runs as a separate task
/// meanwhile (about 0.1-0.3 ms per 64 KiB), so bursts compress on other
/// runtime threads in parallel with the caller's encoding.
struct Queued {
    seq: u64,
    items: u64,
    raw_len: usize,
    session_json: Option<String>,
    time_range: Option<StreamTimeRange>,
    frame: JoinHandle<Vec<u8>>,
}

/// Buffers of bursts already compressed and of frames already written,
/// kept for the next bursts: a steady writer allocates (and page-faults)
/// nothing per burst.
struct BufferPool {
    raw: std::sync::Mutex<Vec<Vec<u8>>>,
    frames: std::sync::Mutex<Vec<Vec<u8>>>,
    cap: usize,
}

impl BufferPool {
    fn new(cap: usize) -> Self {
        Self {
            raw: std::sync::Mutex::new(Vec::new()),
            frames: std::sync::Mutex::new(Vec::new()),
            cap,
        }
    }

    fn put(&self, list: &std::sync::Mutex<Vec<Vec<u8>>>, mut buf: Vec<u8>) {
        let mut l = lock(list);
        if l.len() < self.cap && buf.capacity() > 0 {
            buf.clear();
            l.push(buf);
        }
    }

    fn take(list: &std::sync::Mutex<Vec<Vec<u8>>>) -> Option<Vec<u8>> {
        lock(list).pop()
    }
}

struct Inner {
    base: SessionBase,
    pool: BufferPool,
    opts: Arc<WriterOptions>,
    pending: Mutex<Pending>,
    wake_timer: Notify,
    unreported: std::sync::Mutex<Unreported>,
    done: watch::Sender<u64>,
    counters: Counters,
}

/// Writes one live session into its Redis stream. Methods take `&self`, so a
/// writer can be shared (e.g. in an `Arc`) by several producing tasks; items
/// are streamed in the order the calls complete.
///
/// Call [`close`](Self::close) (or at least [`flush`](Self::flush)) at the
/// end: items still in the open burst when the writer is dropped are lost.
pub struct SessionWriter {
    inner: Arc<Inner>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for SessionWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWriter")
            .field("identity", &self.inner.base.identity)
            .field("stream", &self.inner.base.stream_name)
            .field("stream_session_id", &self.inner.base.ssid)
            .finish()
    }
}

impl SessionWriter {
    fn start(base: SessionBase, conn: ConnectionManager, opts: Arc<WriterOptions>) -> Result<Self> {
        let enc = BurstEncoder::new(opts.burst_bytes)?;
        let (tx, rx) = mpsc::channel(opts.max_in_flight);
        let (done, _) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            base,
            pool: BufferPool::new(opts.max_in_flight + 2),
            pending: Mutex::new(Pending {
                enc,
                opened_at: None,
                next_seq: 1,
                tx: Some(tx),
            }),
            opts,
            wake_timer: Notify::new(),
            unreported: std::sync::Mutex::new(Unreported::default()),
            done,
            counters: Counters::default(),
        });
        let timer = tokio::spawn(latency_flusher(inner.clone()));
        let task = tokio::spawn(redis_writer(inner.clone(), conn, rx));
        Ok(Self {
            inner,
            tasks: std::sync::Mutex::new(vec![timer, task]),
        })
    }

    /// The session identity.
    pub fn identity(&self) -> &str {
        &self.inner.base.identity
    }

    /// The stream name (without prefix).
    pub fn stream_name(&self) -> &str {
        &self.inner.base.stream_name
    }

    /// The stream session id (`id` field of every entry of this session).
    pub fn stream_session_id(&self) -> u64 {
        self.inner.base.ssid
    }

    /// The `streamPosition` recorded for this session.
    pub fn stream_position(&self) -> Position {
        self.inner.base.position
    }

    /// Counters so far.
    pub fn stats(&self) -> WriterStats {
        let c = &self.inner.counters;
        WriterStats {
            bursts_written: c.bursts_written.load(Ordering::Relaxed),
            items_written: c.items_written.load(Ordering::Relaxed),
            raw_bytes_written: c.raw_bytes_written.load(Ordering::Relaxed),
            frame_bytes_written: c.frame_bytes_written.load(Ordering::Relaxed),
            bursts_failed: c.bursts_failed.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }

    /// Streams a session JSON update; the hash `json` field follows when the
    /// burst carrying it is written.
    pub async fn write_session_json(&self, json: impl Into<String>) -> Result<()> {
        self.write(item(stream_data::Data::SessionJson(json.into())))
            .await
    }

    /// Streams a time range update; `tStart`/`tEnd` follow as a pair.
    pub async fn write_time_range(&self, start_time: i64, end_time: i64) -> Result<()> {
        self.write(item(stream_data::Data::TimeRange(StreamTimeRange {
            start_time,
            end_time,
        })))
        .await
    }

    /// Streams timestamped data.
    pub async fn write_timestamped(&self, d: TimestampedData) -> Result<()> {
        self.write(item(stream_data::Data::TimestampedData(d)))
            .await
    }

    /// Streams periodic data.
    pub async fn write_periodic(&self, d: PeriodicData) -> Result<()> {
        self.write(item(stream_data::Data::PeriodicData(d))).await
    }

    /// Streams row data.
    pub async fn write_row(&self, d: RowData) -> Result<()> {
        self.write(item(stream_data::Data::RowData(d))).await
    }

    /// Streams an event.
    pub async fn write_event(&self, e: Event) -> Result<()> {
        self.write(item(stream_data::Data::Event(e))).await
    }

    /// Streams the items of a burst (they are re-packed into bursts of the configured size).
    pub async fn write_burst(&self, burst: StreamDataBurst) -> Result<()> {
        self.write_all(burst.data).await
    }

    /// Streams several items in order.
    pub async fn write_all(&self, items: impl IntoIterator<Item = StreamData>) -> Result<()> {
        let mut p = self.inner.pending.lock().await;
        self.take_failure()?;
        for it in items {
            self.push_locked(&mut p, &it).await?;
        }
        Ok(())
    }

    /// Streams one item. Errors: [`Error::ItemTooLarge`] when the item cannot
    /// fit in a 1 MiB burst (nothing is written), [`Error::WriteFailed`] when
    /// earlier bursts were given up, [`Error::Closed`] after `close`.
    pub async fn write(&self, item: StreamData) -> Result<()> {
        let mut p = self.inner.pending.lock().await;
        self.take_failure()?;
        self.push_locked(&mut p, &item).await
    }

    async fn push_locked(&self, p: &mut Pending, item: &StreamData) -> Result<()> {
        if p.tx.is_none() {
            return Err(Error::Closed);
        }
        if p.enc.wants_buffer() {
            if let Some(b) = BufferPool::take(&self.inner.pool.raw) {
                p.enc.recycle(b);
            }
        }
        let was_empty = p.enc.is_empty();
        if let Some(done) = p.enc.push(item)? {
            send_locked(&self.inner, p, done).await?;
            p.opened_at = Some(Instant::now());
        } else if was_empty {
            p.opened_at = Some(Instant::now());
            self.inner.wake_timer.notify_one();
        }
        if p.enc.is_full() {
            if let Some(b) = p.enc.take() {
                p.opened_at = None;
                send_locked(&self.inner, p, b).await?;
            }
        }
        Ok(())
    }

    /// Ends the open burst now and queues it for Redis without waiting for
    /// the write (a producer with natural bursts, e.g. one per 100 ms, calls
    /// this after each to skip the latency bound).
    pub async fn end_burst(&self) -> Result<()> {
        let mut p = self.inner.pending.lock().await;
        self.take_failure()?;
        if let Some(b) = p.enc.take() {
            p.opened_at = None;
            send_locked(&self.inner, &mut p, b).await?;
        }
        Ok(())
    }

    /// Sends the open burst and waits until every burst written so far has
    /// been written to Redis (or given up, which is then reported).
    pub async fn flush(&self) -> Result<()> {
        let target = {
            let mut p = self.inner.pending.lock().await;
            if p.tx.is_none() {
                return self.take_failure();
            }
            if let Some(b) = p.enc.take() {
                p.opened_at = None;
                send_locked(&self.inner, &mut p, b).await?;
            }
            p.next_seq - 1
        };
        let mut rx = self.inner.done.subscribe();
        rx.wait_for(|d| *d >= target)
            .await
            .map_err(|_| Error::Closed)?;
        self.take_failure()
    }

    /// Flushes, then stops the background tasks. Returns any unreported failure.
    pub async fn close(&self) -> Result<()> {
        let flushed = self.flush().await;
        {
            let mut p = self.inner.pending.lock().await;
            p.tx = None;
        }
        self.inner.wake_timer.notify_one();
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for t in tasks {
            let _ = t.await;
        }
        flushed?;
        self.take_failure()
    }

    fn take_failure(&self) -> Result<()> {
        let mut u = lock(&self.inner.unreported);
        if u.bursts == 0 {
            return Ok(());
        }
        let e = std::mem::take(&mut *u);
        Err(Error::WriteFailed {
            bursts: e.bursts,
            items: e.items,
            reason: e.reason,
        })
    }
}

impl Drop for SessionWriter {
    fn drop(&mut self) {
        for t in lock(&self.tasks).iter() {
            t.abort();
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn item(data: stream_data::Data) -> StreamData {
    StreamData { data: Some(data) }
}

async fn send_locked(inner: &Arc<Inner>, p: &mut Pending, burst: EncodedBurst) -> Result<()> {
    let tx = p.tx.as_ref().ok_or(Error::Closed)?;
    let permit = tx.reserve().await.map_err(|_| Error::Closed)?;
    let seq = p.next_seq;
    let EncodedBurst {
        bytes,
        items,
        session_json,
        time_range,
    } = burst;
    let raw_len = bytes.len();
    let pool = inner.clone();
    let frame = tokio::task::spawn(async move {
        let pool = &pool.pool;
        let mut frame = BufferPool::take(&pool.frames).unwrap_or_default();
        Lz4Framing::encode_into(&bytes, &mut frame);
        pool.put(&pool.raw, bytes);
        frame
    });
    permit.send(Queued {
        seq,
        items,
        raw_len,
        session_json,
        time_range,
        frame,
    });
    p.next_seq += 1;
    Ok(())
}

/// Sends open bursts that have waited `max_latency`.
async fn latency_flusher(inner: Arc<Inner>) {
    let latency = inner.opts.max_latency;
    loop {
        let deadline = {
            let p = inner.pending.lock().await;
            if p.tx.is_none() {
                return;
            }
            p.opened_at.map(|t| t + latency)
        };
        match deadline {
            None => inner.wake_timer.notified().await,
            Some(d) => {
                tokio::time::sleep_until(d).await;
                let mut p = inner.pending.lock().await;
                let due = p.opened_at.is_some_and(|t| t + latency <= Instant::now());
                if due {
                    if let Some(b) = p.enc.take() {
                        p.opened_at = None;
                        // Only fails once closed, and then the loop ends.
                        let _ = send_locked(&inner, &mut p, b).await;
                    }
                }
            }
        }
    }
}

/// Writes queued bursts, all that are waiting in one pipeline.
async fn redis_writer(
    inner: Arc<Inner>,
    mut conn: ConnectionManager,
    mut rx: mpsc::Receiver<Queued>,
) {
    let max_batch = inner.opts.max_in_flight.max(1);
    let mut latest_json: Option<String> = None;
    let mut latest_range: Option<StreamTimeRange> = None;
    let mut resync = false;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let mut frames = Vec::with_capacity(batch.len());
        for q in &mut batch {
            match (&mut q.frame).await {
                Ok(f) => frames.push(f),
                Err(e) => {
                    // Only a panic in the compressor could get here.
                    tracing::error!("burst compression failed: {e}");
                    frames.push(Lz4Framing::encode(&[]));
                }
            }
        }
        let json = batch.iter().rev().find_map(|q| q.session_json.clone());
        let range = batch.iter().rev().find_map(|q| q.time_range);
        let result = write_batch(
            &inner,
            &mut conn,
            &frames,
            json.as_deref().or(latest_json.as_deref()),
            json.is_some(),
            range.or(latest_range),
            range.is_some(),
            &mut resync,
        )
        .await;
        let items: u64 = batch.iter().map(|q| q.items).sum();
        let c = &inner.counters;
        match result {
            Ok(()) => {
                c.bursts_written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                c.items_written.fetch_add(items, Ordering::Relaxed);
                let raw: usize = batch.iter().map(|q| q.raw_len).sum();
                let framed: usize = frames.iter().map(Vec::len).sum();
                c.raw_bytes_written.fetch_add(raw as u64, Ordering::Relaxed);
                c.frame_bytes_written
                    .fetch_add(framed as u64, Ordering::Relaxed);
                if json.is_some() {
                    latest_json = json;
                }
                if range.is_some() {
                    latest_range = range;
                }
            }
            Err(e) => {
                tracing::error!(
                    identity = %inner.base.identity,
                    "giving up {} burst(s) after retries: {e}",
                    batch.len()
                );
                c.bursts_failed
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                let mut u = lock(&inner.unreported);
                u.bursts += batch.len() as u64;
                u.items += items;
                u.reason = e.to_string();
            }
        }
        for f in frames {
            inner.pool.put(&inner.pool.frames, f);
        }
        if let Some(last) = batch.last() {
            inner.done.send_replace(last.seq);
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn write_batch(
    inner: &Inner,
    conn: &mut ConnectionManager,
    frames: &[Vec<u8>],
    json: Option<&str>,
    json_changed: bool,
    range: Option<StreamTimeRange>,
    range_changed: bool,
    resync: &mut bool,
) -> Result<()> {
    let opts = &inner.opts;
    let base = &inner.base;
    let deadline = opts.retry_timeout.map(|t| Instant::now() + t);
    let mut delay = Duration::from_millis(50);
    loop {
        let now = now_millis();
        let mut pipe = redis::pipe();
        if *resync {
            // Redis may have restarted empty: register the session again and
            // make sure the id counter cannot hand out our id to someone else.
            base.register(&mut pipe, opts, now);
            pipe.cmd("EVAL")
                .arg(BUMP_COUNTER)
                .arg(1)
                .arg(&opts.keys.last_session_id)
                .arg(base.ssid)
                .ignore();
        }
        for f in frames {
            pipe.cmd("XADD")
                .arg(&base.stream_key)
                .arg("*")
                .arg(keys::ENTRY_ID)
                .arg(base.ssid)
                .arg(keys::ENTRY_DATA)
                .arg(f.as_slice())
                .ignore();
        }
        let mut hset = redis::cmd("HSET");
        hset.arg(&base.session_key)
            .arg(keys::FIELD_LAST_UPDATED)
            .arg(now);
        if let Some(j) = json.filter(|_| json_changed || *resync) {
            hset.arg(keys::FIELD_JSON).arg(j);
        }
        if let Some(r) = range.filter(|_| range_changed || *resync) {
            hset.arg(keys::FIELD_T_START)
                .arg(r.start_time)
                .arg(keys::FIELD_T_END)
                .arg(r.end_time);
        }
        pipe.add_command(hset).ignore();
        base.touch(&mut pipe, opts, now);
        match pipe.query_async::<()>(conn).await {
            Ok(()) => {
                *resync = false;
                return Ok(());
            }
            Err(e) => {
                *resync = true;
                if deadline.is_some_and(|d| Instant::now() + delay > d) {
                    return Err(e.into());
                }
                inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    identity = %base.identity,
                    "Redis write failed, retrying in {delay:?}: {e}"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Raises the id counter to at least ARGV[1] (after Redis lost its data).
const BUMP_COUNTER: &str = "local v = tonumber(redis.call('GET', KEYS[1]) or '0') \
    if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return 0";
