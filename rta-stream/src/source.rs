//! Where the WebSocket service gets live sessions from.
//!
//! [`LiveSource`] is implemented by [`crate::redis_source::RedisLiveSource`]
//! (the Stream Service reading the Redis buffer) and by
//! [`crate::hub::LiveHub`] (an in-process hub a server pushes data into, no
//! Redis involved). A subscription hands the service:
//!
//! - a snapshot of the session (latest JSON and time range);
//! - a [`Position`]: every burst after it arrives through the receiver;
//! - a bounded [`LiveReceiver`] of live bursts; a subscriber that falls behind
//!   is cut off (the receiver reports [`LiveEvent::Lagged`]) rather than
//!   buffered without limit;
//! - a [`LiveHistory`] to back-fill bursts up to a position.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::stream::BoxStream;
use rta_core::proto::stream::{stream_data, StreamData, StreamSubscription, StreamTimeRange};
use tokio::sync::{mpsc, Notify};

pub use crate::keys::Position;
use crate::Result;

/// Bursts of one session, at one position of its source.
#[derive(Debug, Clone)]
pub struct LiveBurst {
    /// Position of the burst in its source (increasing).
    pub position: Position,
    /// The items, in stream order (session JSON, time ranges and data).
    pub items: Arc<[StreamData]>,
}

/// What a new client is sent first.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSnapshot {
    /// Latest session JSON.
    pub json: String,
    /// Latest time range, if known.
    pub time_range: Option<StreamTimeRange>,
}

/// Reads the recent past of a session, for back-fill.
pub trait LiveHistory: Send + Sync {
    /// Data-carrying bursts of the session at or before `up_to`, oldest first,
    /// limited by the source's back-scan settings.
    fn read(&self, up_to: Position) -> BoxStream<'static, Result<LiveBurst>>;
}

/// A live subscription to one session.
pub struct LiveSubscription {
    /// The session as it is now.
    pub snapshot: SessionSnapshot,
    /// Everything after this position arrives through `receiver`.
    pub position: Position,
    /// Live bursts.
    pub receiver: LiveReceiver,
    /// Back-fill.
    pub history: Box<dyn LiveHistory>,
}

impl std::fmt::Debug for LiveSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSubscription")
            .field("snapshot", &self.snapshot)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// A source of live sessions.
#[async_trait::async_trait]
pub trait LiveSource: Send + Sync + 'static {
    /// Subscribes to session `identity`. `Ok(None)` when the session cannot be
    /// streamed (unknown, or no session JSON yet). At most `queue_len` bursts
    /// wait in the receiver before the subscriber is cut off as too slow.
    async fn subscribe(&self, identity: &str, queue_len: usize)
        -> Result<Option<LiveSubscription>>;

    /// Checks that the source's dependencies are reachable.
    async fn health(&self) -> Result<()>;
}

/// Several sources tried in order: a session is served by the first source
/// that can stream it (e.g. an in-process [`crate::hub::LiveHub`] first, then
/// Redis). Healthy only when every source is.
#[derive(Clone, Default)]
pub struct ChainSource {
    sources: Vec<Arc<dyn LiveSource>>,
}

impl ChainSource {
    /// A chain of `sources`, tried in order.
    pub fn new(sources: Vec<Arc<dyn LiveSource>>) -> Self {
        Self { sources }
    }
}

#[async_trait::async_trait]
impl LiveSource for ChainSource {
    async fn subscribe(
        &self,
        identity: &str,
        queue_len: usize,
    ) -> Result<Option<LiveSubscription>> {
        for s in &self.sources {
            if let Some(sub) = s.subscribe(identity, queue_len).await? {
                return Ok(Some(sub));
            }
        }
        Ok(None)
    }

    async fn health(&self) -> Result<()> {
        for s in &self.sources {
            s.health().await?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct LagSignal {
    lagged: AtomicBool,
    notify: Notify,
}

/// The sending half kept by a source for each subscriber.
#[derive(Clone)]
pub(crate) struct LiveSender {
    tx: mpsc::Sender<LiveBurst>,
    signal: Arc<LagSignal>,
}

impl LiveSender {
    /// Delivers a burst without waiting. Returns false when the subscriber is
    /// gone or too slow (it is then marked lagged): drop this sender.
    pub(crate) fn deliver(&self, burst: LiveBurst) -> bool {
        match self.tx.try_send(burst) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.signal.lagged.store(true, Ordering::SeqCst);
                self.signal.notify.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// True once the receiver has been dropped.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// What a [`LiveReceiver`] yields.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// A live burst.
    Burst(LiveBurst),
    /// The subscriber fell too far behind and was cut off.
    Lagged,
    /// The source ended the subscription (session removed).
    Ended,
}

/// The receiving half of a subscription: bounded, with lag detection.
pub struct LiveReceiver {
    rx: mpsc::Receiver<LiveBurst>,
    signal: Arc<LagSignal>,
}

impl std::fmt::Debug for LiveReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveReceiver")
            .field("lagged", &self.lagged())
            .finish()
    }
}

impl LiveReceiver {
    /// The next event; [`LiveEvent::Lagged`] as soon as the subscriber was cut off.
    pub async fn recv(&mut self) -> LiveEvent {
        if self.lagged() {
            return LiveEvent::Lagged;
        }
        match self.rx.recv().await {
            Some(b) => LiveEvent::Burst(b),
            None if self.lagged() => LiveEvent::Lagged,
            None => LiveEvent::Ended,
        }
    }

    /// The next event if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Option<LiveEvent> {
        if self.lagged() {
            return Some(LiveEvent::Lagged);
        }
        match self.rx.try_recv() {
            Ok(b) => Some(LiveEvent::Burst(b)),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) if self.lagged() => {
                Some(LiveEvent::Lagged)
            }
            Err(mpsc::error::TryRecvError::Disconnected) => Some(LiveEvent::Ended),
        }
    }

    /// True once the subscriber has been cut off for being too slow.
    pub fn lagged(&self) -> bool {
        self.signal.lagged.load(Ordering::SeqCst)
    }

    /// Completes when the subscriber is cut off for being too slow.
    pub async fn wait_lagged(&self) {
        loop {
            let n = self.signal.notify.notified();
            if self.lagged() {
                return;
            }
            n.await;
        }
    }
}

/// A bounded subscriber channel.
pub(crate) fn live_channel(queue_len: usize) -> (LiveSender, LiveReceiver) {
    let (tx, rx) = mpsc::channel(queue_len.max(1));
    let signal = Arc::new(LagSignal::default());
    (
        LiveSender {
            tx,
            signal: signal.clone(),
        },
        LiveReceiver { rx, signal },
    )
}

/// A client's accumulated subscription (requests only ever widen it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// Every event.
    pub all_events: bool,
    /// Every data channel.
    pub all_channels: bool,
    /// Listed data channels.
    pub channels: HashSet<u32>,
}

impl Subscription {
    /// Widens with a client request.
    pub fn widen(&mut self, req: &StreamSubscription) {
        self.all_events |= req.all_events;
        self.all_channels |= req.all_data_channels;
        if !self.all_channels {
            self.channels.extend(req.data_channel_ids.iter().copied());
        }
    }

    /// True when nothing is subscribed.
    pub fn is_empty(&self) -> bool {
        !self.all_events && !self.all_channels && self.channels.is_empty()
    }

    fn channel(&self, id: u32) -> bool {
        self.all_channels || self.channels.contains(&id)
    }

    /// True when a data item (event or samples) is subscribed. A row is
    /// subscribed when any of its channels is; session JSON and time ranges
    /// are not data and return false.
    pub fn wants(&self, item: &StreamData) -> bool {
        match &item.data {
            Some(stream_data::Data::TimestampedData(d)) => self.channel(d.channel_id),
            Some(stream_data::Data::PeriodicData(d)) => self.channel(d.channel_id),
            Some(stream_data::Data::RowData(d)) => d.channel_ids.iter().any(|c| self.channel(*c)),
            Some(stream_data::Data::Event(_)) => self.all_events,
            _ => false,
        }
    }
}

/// True when the item carries events or samples (not JSON or a time range).
pub fn is_data(item: &StreamData) -> bool {
    matches!(
        item.data,
        Some(
            stream_data::Data::TimestampedData(_)
                | stream_data::Data::PeriodicData(_)
                | stream_data::Data::RowData(_)
                | stream_data::Data::Event(_)
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rta_core::proto::data::{Event, PeriodicData, RowData};

    fn periodic(ch: u32) -> StreamData {
        StreamData {
            data: Some(stream_data::Data::PeriodicData(PeriodicData {
                channel_id: ch,
                ..Default::default()
            })),
        }
    }

    #[test]
    fn widening() {
        let mut s = Subscription::default();
        assert!(s.is_empty());
        assert!(!s.wants(&periodic(3)));
        s.widen(&StreamSubscription {
            data_channel_ids: vec![3, 4],
            ..Default::default()
        });
        assert!(s.wants(&periodic(3)) && !s.wants(&periodic(5)));
        let ev = StreamData {
            data: Some(stream_data::Data::Event(Event::default())),
        };
        assert!(!s.wants(&ev));
        s.widen(&StreamSubscription {
            all_events: true,
            ..Default::default()
        });
        assert!(
            s.wants(&ev) && s.wants(&periodic(4)),
            "widening keeps channels"
        );
        let row = StreamData {
            data: Some(stream_data::Data::RowData(RowData {
                channel_ids: vec![9, 4],
                ..Default::default()
            })),
        };
        assert!(s.wants(&row));
        s.widen(&StreamSubscription {
            all_data_channels: true,
            ..Default::default()
        });
        assert!(s.wants(&periodic(1000)));
    }

    #[tokio::test]
    async fn slow_subscriber_is_cut_off() {
        let (tx, mut rx) = live_channel(2);
        let b = LiveBurst {
            position: Position(1),
            items: Arc::from(Vec::new()),
        };
        assert!(tx.deliver(b.clone()));
        assert!(tx.deliver(b.clone()));
        assert!(!tx.deliver(b.clone()));
        assert!(rx.lagged());
        rx.wait_lagged().await;
        assert!(matches!(rx.recv().await, LiveEvent::Lagged));
        let (tx, mut rx) = live_channel(2);
        drop(tx);
        assert!(matches!(rx.recv().await, LiveEvent::Ended));
    }
}
