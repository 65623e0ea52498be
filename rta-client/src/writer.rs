//! [`DataWriter`]: writes the data of one identity through the data
//! service's `WriteDataStream`, with back-pressure, acknowledged flushes and
//! reconnection.
//!
//! The guarantee: everything written before a [`DataWriter::flush`] that
//! returned `Ok` is stored, and is never sent again. Items written since the
//! last acknowledged flush are kept by the writer; when the stream drops,
//! the writer reconnects and sends them again, in order, so none is lost.
//! An item the server stored just before the stream dropped, but had not
//! acknowledged, can therefore reach the store twice: a store keyed by time
//! (as the native store's readers are) returns each sample once per write.
//! Call `flush` at the points your pipeline must know are durable.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use rta_core::proto::data::{Event, PeriodicData, RowData, TimestampedData};
use rta_core::proto::data_service::data_writer_client::DataWriterClient;
use rta_core::proto::data_service::write_data_stream_message::Type as W;
use rta_core::proto::data_service::write_data_stream_response_message::Type as R;
use rta_core::proto::data_service::{WriteDataStreamMessage, WriteDataStreamResponseMessage};
use rta_core::proto::stream::{stream_data, StreamData};
use rta_stream::writer::SessionWriter;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::Grpc;
use crate::{Error, Result};

/// Options of a [`DataWriter`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Items queued between the caller and the stream; `write` waits when
    /// the queue is full (default 256).
    pub queue: usize,
    /// The writer asks the server to acknowledge after this many bytes, so
    /// that what it keeps for a resend stays small (default 8 MiB).
    pub ack_every_bytes: usize,
    /// Unacknowledged bytes beyond which `write` waits for the server
    /// (default 64 MiB).
    pub max_unacked_bytes: usize,
    /// Reconnection attempts after the stream drops, before the writer gives
    /// up (default 10; waits grow from 100 ms to 2 s).
    pub reconnect_attempts: u32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            queue: 256,
            ack_every_bytes: 8 << 20,
            max_unacked_bytes: 64 << 20,
            reconnect_attempts: 10,
        }
    }
}

enum Cmd {
    Item(W),
    Flush(oneshot::Sender<Result<()>>),
}

#[derive(Default)]
struct Stats {
    items: AtomicU64,
    reconnects: AtomicU64,
}

/// Writes the data of one identity. Cheap to share behind an `Arc`; every
/// method takes `&self`.
///
/// ```no_run
/// # async fn run(client: rta_client::RtaClient) -> rta_client::Result<()> {
/// use rta_core::data::timestamped;
/// let writer = client.writer("run-1").await?;
/// writer.timestamped(timestamped(0, &[10, 20], &[1.5f64, 2.5])?).await?;
/// writer.flush().await?;
/// writer.close().await?;
/// # Ok(()) }
/// ```
pub struct DataWriter {
    tx: mpsc::Sender<Cmd>,
    task: tokio::task::JoinHandle<Result<()>>,
    stats: Arc<Stats>,
    live: Option<SessionWriter>,
}

impl std::fmt::Debug for DataWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataWriter")
            .field("items", &self.stats.items.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl DataWriter {
    pub(crate) async fn start(
        client: DataWriterClient<Grpc>,
        url: String,
        identity: String,
        opts: WriterOptions,
    ) -> Result<Self> {
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let stats = Arc::new(Stats::default());
        let mut run = Run {
            client,
            url,
            identity,
            opts,
            unacked: VecDeque::new(),
            unacked_bytes: 0,
            since_ack: 0,
            waiters: VecDeque::new(),
            next_marker: 0,
            stats: stats.clone(),
        };
        // Connect now, so a wrong URL or token is reported here.
        let conn = run.connect().await?;
        let task = tokio::spawn(async move { run.run(rx, conn).await });
        Ok(Self {
            tx,
            task,
            stats,
            live: None,
        })
    }

    /// Also writes every item to a live session in Redis (the leading edge
    /// ATLAS follows through a Stream Service), so an ingest process makes
    /// one call per item. Session JSON and time ranges go there with
    /// [`DataWriter::live_session_json`] and [`DataWriter::live_time_range`].
    ///
    /// ```no_run
    /// # async fn run(client: rta_client::RtaClient) -> rta_client::Result<()> {
    /// use rta_stream::writer::{StreamBuffer, WriterOptions};
    /// let redis = StreamBuffer::connect("redis://127.0.0.1:6379", None, WriterOptions::default())
    ///     .await
    ///     .map_err(|e| rta_client::Error::InvalidArgument(e.to_string()))?;
    /// let live = redis.init_session("run-1", "car-1").await
    ///     .map_err(|e| rta_client::Error::InvalidArgument(e.to_string()))?;
    /// let writer = client.writer("run-1").await?.with_live(live);
    /// # Ok(()) }
    /// ```
    pub fn with_live(mut self, live: SessionWriter) -> Self {
        self.live = Some(live);
        self
    }

    /// The live session written beside the data service, if any.
    pub fn live(&self) -> Option<&SessionWriter> {
        self.live.as_ref()
    }

    /// Streams the session JSON to the live session (no-op without one).
    pub async fn live_session_json(&self, json: impl Into<String>) -> Result<()> {
        match &self.live {
            Some(l) => l.write_session_json(json).await.map_err(live_error),
            None => Ok(()),
        }
    }

    /// Streams a time range update to the live session (no-op without one).
    pub async fn live_time_range(&self, start: i64, end: i64) -> Result<()> {
        match &self.live {
            Some(l) => l.write_time_range(start, end).await.map_err(live_error),
            None => Ok(()),
        }
    }

    /// Queues one item; waits while the queue or the unacknowledged window
    /// is full. With a live session, the item is streamed there too.
    pub async fn write(&self, item: W) -> Result<()> {
        if let Some(live) = &self.live {
            if let Some(data) = stream_item(&item) {
                live.write(StreamData { data: Some(data) })
                    .await
                    .map_err(live_error)?;
            }
        }
        self.tx
            .send(Cmd::Item(item))
            .await
            .map_err(|_| Error::WriterClosed("the writer's stream failed; see close()".into()))?;
        self.stats.items.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Writes timestamped data.
    pub async fn timestamped(&self, d: TimestampedData) -> Result<()> {
        self.write(W::TimestampedData(d)).await
    }

    /// Writes periodic data.
    pub async fn periodic(&self, d: PeriodicData) -> Result<()> {
        self.write(W::PeriodicData(d)).await
    }

    /// Writes one row.
    pub async fn row(&self, d: RowData) -> Result<()> {
        self.write(W::RowData(d)).await
    }

    /// Writes one event.
    pub async fn event(&self, e: Event) -> Result<()> {
        self.write(W::Event(e)).await
    }

    /// Returns once the server has stored everything written before this call.
    pub async fn flush(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Flush(tx))
            .await
            .map_err(|_| Error::WriterClosed("the writer's stream failed; see close()".into()))?;
        rx.await
            .map_err(|_| Error::WriterClosed("the writer stopped before the flush".into()))?
    }

    /// Items written so far.
    pub fn items_written(&self) -> u64 {
        self.stats.items.load(Relaxed)
    }

    /// Times the stream was re-established after dropping.
    pub fn reconnects(&self) -> u64 {
        self.stats.reconnects.load(Relaxed)
    }

    /// Flushes and ends the stream (and flushes the live session, which
    /// stays open: end it with its final session JSON). Returns the first
    /// failure, if any.
    pub async fn close(self) -> Result<()> {
        let flushed = self.flush().await;
        let live = match &self.live {
            Some(l) => l.flush().await.map_err(live_error),
            None => Ok(()),
        };
        drop(self.tx);
        let ended = self
            .task
            .await
            .map_err(|e| Error::WriterClosed(format!("writer task failed: {e}")))?;
        flushed.and(live).and(ended)
    }
}

fn live_error(e: rta_stream::Error) -> Error {
    Error::Service {
        service: "live session (Redis)".into(),
        status: "write failed".into(),
        message: e.to_string(),
    }
}

/// The live-stream form of a data item (identity and markers have none).
fn stream_item(w: &W) -> Option<stream_data::Data> {
    Some(match w {
        W::TimestampedData(d) => stream_data::Data::TimestampedData(d.clone()),
        W::PeriodicData(d) => stream_data::Data::PeriodicData(d.clone()),
        W::RowData(d) => stream_data::Data::RowData(d.clone()),
        W::Event(e) => stream_data::Data::Event(e.clone()),
        W::DataIdentity(_) | W::FlushMarker(_) => return None,
    })
}

/// One open `WriteDataStream` call.
struct Conn {
    tx: mpsc::Sender<WriteDataStreamMessage>,
    replies: tonic::Streaming<WriteDataStreamResponseMessage>,
}

/// The writer's background task.
struct Run {
    client: DataWriterClient<Grpc>,
    url: String,
    identity: String,
    opts: WriterOptions,
    /// Everything sent since the last acknowledgement (markers included), in order.
    unacked: VecDeque<(W, usize)>,
    unacked_bytes: usize,
    since_ack: usize,
    /// Flush markers sent and the callers waiting for them.
    waiters: VecDeque<(String, Option<oneshot::Sender<Result<()>>>)>,
    next_marker: u64,
    stats: Arc<Stats>,
}

/// A failure that a reconnection cannot fix.
fn is_final(s: &tonic::Status) -> bool {
    use tonic::Code::*;
    matches!(
        s.code(),
        InvalidArgument | Unauthenticated | PermissionDenied | NotFound | FailedPrecondition
    )
}

fn msg(t: W) -> WriteDataStreamMessage {
    WriteDataStreamMessage { r#type: Some(t) }
}

impl Run {
    /// Opens the stream and sends the identity and everything unacknowledged.
    async fn connect(&mut self) -> Result<Conn> {
        let (tx, rx) = mpsc::channel(64);
        let first = msg(W::DataIdentity(self.identity.clone()));
        let resend: Vec<W> = self.unacked.iter().map(|(w, _)| w.clone()).collect();
        // The channel holds 64; the rest is sent once the call is open.
        tx.send(first)
            .await
            .map_err(|_| Error::WriterClosed("stream closed".into()))?;
        let replies = self
            .client
            .write_data_stream(ReceiverStream::new(rx))
            .await
            .map_err(|s| Error::grpc(&self.url, s))?
            .into_inner();
        for w in resend {
            tx.send(msg(w))
                .await
                .map_err(|_| Error::WriterClosed("stream closed while resending".into()))?;
        }
        Ok(Conn { tx, replies })
    }

    /// Reconnects with growing waits; fails after the configured attempts.
    async fn reconnect(&mut self, why: String) -> Result<Conn> {
        let mut wait = Duration::from_millis(100);
        let mut last = why;
        for attempt in 1..=self.opts.reconnect_attempts {
            tracing::warn!(identity = %self.identity, attempt, "data stream dropped ({last}); reconnecting");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(2));
            match self.connect().await {
                Ok(c) => {
                    self.stats.reconnects.fetch_add(1, Relaxed);
                    return Ok(c);
                }
                Err(e @ (Error::Unauthenticated(_) | Error::PermissionDenied(_))) => return Err(e),
                Err(e) => last = e.to_string(),
            }
        }
        Err(Error::WriterClosed(format!(
            "gave up after {} reconnection attempts: {last}",
            self.opts.reconnect_attempts
        )))
    }

    fn push(&mut self, w: W) -> W {
        let n = w.encoded_len();
        self.unacked_bytes += n;
        self.since_ack += n;
        self.unacked.push_back((w.clone(), n));
        w
    }

    fn marker(&mut self, waiter: Option<oneshot::Sender<Result<()>>>) -> W {
        self.next_marker += 1;
        let name = format!("rta-client-{}", self.next_marker);
        self.waiters.push_back((name.clone(), waiter));
        self.since_ack = 0;
        self.push(W::FlushMarker(name))
    }

    /// The server stored everything up to marker `name`.
    fn acked(&mut self, name: &str) {
        if !self.waiters.iter().any(|(n, _)| n == name) {
            return; // not ours (or already handled)
        }
        while let Some((n, w)) = self.waiters.pop_front() {
            if let Some(w) = w {
                let _ = w.send(Ok(()));
            }
            if n == name {
                break;
            }
        }
        while let Some((w, len)) = self.unacked.pop_front() {
            self.unacked_bytes -= len;
            if matches!(&w, W::FlushMarker(m) if m == name) {
                break;
            }
        }
    }

    fn fail_all(&mut self, e: &Error) {
        for (_, w) in self.waiters.drain(..) {
            if let Some(w) = w {
                let _ = w.send(Err(Error::WriterClosed(e.to_string())));
            }
        }
    }

    /// Takes one command: kept for a resend, and sent when `online`.
    /// Returns `Err` once a send fails (the caller then reconnects, which
    /// resends what was kept).
    async fn take(&mut self, cmd: Cmd, conn: &Conn, online: bool) -> Result<(), String> {
        let mut out = Vec::with_capacity(2);
        match cmd {
            Cmd::Item(w) => {
                out.push(self.push(w));
                if self.since_ack >= self.opts.ack_every_bytes {
                    out.push(self.marker(None));
                }
            }
            Cmd::Flush(tx) => {
                if self.unacked.is_empty() && self.waiters.is_empty() {
                    let _ = tx.send(Ok(()));
                } else {
                    out.push(self.marker(Some(tx)));
                }
            }
        }
        if online {
            for w in out {
                conn.tx
                    .send(msg(w))
                    .await
                    .map_err(|_| "send failed".to_string())?;
            }
        }
        Ok(())
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>, mut conn: Conn) -> Result<()> {
        let mut input_open = true;
        // Commands are taken up to 64 at a time: one wake-up per batch.
        let mut batch = Vec::with_capacity(64);
        loop {
            if !input_open && self.waiters.is_empty() {
                return Ok(()); // everything acknowledged; the stream ends with `conn`
            }
            let room = self.unacked_bytes < self.opts.max_unacked_bytes;
            let sent: Result<(), String> = tokio::select! {
                n = rx.recv_many(&mut batch, 64), if input_open && room => {
                    let mut r = Ok(());
                    if n == 0 {
                        input_open = false;
                        if !self.unacked.is_empty() && self.waiters.is_empty() {
                            let m = self.marker(None);
                            r = conn.tx.send(msg(m)).await.map_err(|_| "send failed".to_string());
                        }
                    }
                    for cmd in batch.drain(..) {
                        // After a failed send the rest is only kept, for the resend.
                        let online = r.is_ok();
                        let taken = self.take(cmd, &conn, online).await;
                        r = r.and(taken);
                    }
                    r
                },
                reply = conn.replies.message() => match reply {
                    Ok(Some(WriteDataStreamResponseMessage { r#type: Some(R::FlushCompleted(name)) })) => {
                        self.acked(&name);
                        Ok(())
                    }
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("the server ended the stream".to_string()),
                    Err(s) if is_final(&s) => {
                        let e = Error::grpc(&self.url, s);
                        self.fail_all(&e);
                        return Err(e);
                    }
                    Err(s) => Err(format!("{}: {}", s.code(), s.message())),
                },
            };
            if let Err(why) = sent {
                conn = match self.reconnect(why).await {
                    Ok(c) => c,
                    Err(e) => {
                        self.fail_all(&e);
                        return Err(e);
                    }
                };
            }
        }
    }
}
