//! An in-process [`LiveSource`]: a server pushes live data straight to
//! WebSocket clients, without Redis.
//!
//! ```
//! # async fn demo() -> rta_stream::Result<()> {
//! use rta_stream::hub::{HubOptions, LiveHub};
//! use rta_stream::service::{router, ServiceOptions, StreamService};
//!
//! let hub = LiveHub::new(HubOptions::default());
//! let app: axum::Router = router(StreamService::new(hub.clone(), ServiceOptions::default()));
//! // ... serve `app` (or merge it into a larger router), then, as data arrives:
//! hub.publish_session_json("abc123", r#"{"identity":"abc123","state":"open"}"#)?;
//! hub.publish_time_range("abc123", 0, 1_000)?;
//! hub.publish("abc123", vec![/* StreamData items */])?;
//! // and when the session is over and its clients should be closed:
//! hub.remove_session("abc123");
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use rta_core::proto::stream::{stream_data, StreamData, StreamTimeRange};
use tokio::time::Instant;

use crate::burst::BurstEncoder;
use crate::source::{
    is_data, live_channel, LiveBurst, LiveHistory, LiveSender, LiveSource, LiveSubscription,
    Position, SessionSnapshot,
};
use crate::Result;

/// Limits of the hub's per-session back-fill history.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Bytes of data items kept per session for back-fill (default 16 MiB).
    pub history_bytes: usize,
    /// Oldest data kept for back-fill (default 5 minutes).
    pub history_age: Duration,
}

impl Default for HubOptions {
    fn default() -> Self {
        Self {
            history_bytes: 16 << 20,
            history_age: Duration::from_secs(300),
        }
    }
}

struct Kept {
    at: Instant,
    size: usize,
    burst: LiveBurst,
}

#[derive(Default)]
struct HubSession {
    json: Option<String>,
    range: Option<StreamTimeRange>,
    seq: u128,
    history: VecDeque<Kept>,
    history_bytes: usize,
    subs: Vec<LiveSender>,
}

struct HubInner {
    opts: HubOptions,
    sessions: Mutex<HashMap<String, HubSession>>,
}

impl HubInner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HubSession>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The in-process live hub. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct LiveHub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for LiveHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveHub")
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl LiveHub {
    /// A hub with no sessions.
    pub fn new(opts: HubOptions) -> Self {
        Self {
            inner: Arc::new(HubInner {
                opts,
                sessions: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Publishes items of session `identity` (created on first use) to its
    /// subscribers, in order. Session JSON and time-range items also update
    /// what new clients receive first. Publish batches (one call per write or
    /// per ~100 ms) rather than single samples: each call becomes at least
    /// one WebSocket message per subscriber. An item that cannot fit in a
    /// 1 MiB burst is rejected with [`crate::Error::ItemTooLarge`] and nothing
    /// is published.
    pub fn publish(&self, identity: &str, items: Vec<StreamData>) -> Result<()> {
        let mut data_bytes = 0;
        for it in &items {
            let n = BurstEncoder::check(it)?;
            if is_data(it) {
                data_bytes += n;
            }
        }
        if items.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        let opts = &self.inner.opts;
        let mut sessions = self.inner.lock();
        let s = sessions.entry(identity.to_string()).or_default();
        for it in &items {
            match &it.data {
                Some(stream_data::Data::SessionJson(j)) => s.json = Some(j.clone()),
                Some(stream_data::Data::TimeRange(r)) => s.range = Some(*r),
                _ => {}
            }
        }
        s.seq += 1;
        let burst = LiveBurst {
            position: Position(s.seq),
            items: Arc::from(items),
        };
        if data_bytes > 0 {
            s.history.push_back(Kept {
                at: now,
                size: data_bytes,
                burst: burst.clone(),
            });
            s.history_bytes += data_bytes;
            while let Some(front) = s.history.front() {
                let too_old = now.duration_since(front.at) > opts.history_age;
                if !(too_old || s.history_bytes > opts.history_bytes) {
                    break;
                }
                s.history_bytes -= front.size;
                s.history.pop_front();
            }
        }
        s.subs.retain(|sub| sub.deliver(burst.clone()));
        Ok(())
    }

    /// Publishes data of any kind, e.g. the items of a decoded list:
    /// `hub.publish_data(id, list.data.into_iter().map(stream_data::Data::TimestampedData))`.
    pub fn publish_data(
        &self,
        identity: &str,
        data: impl IntoIterator<Item = stream_data::Data>,
    ) -> Result<()> {
        self.publish(
            identity,
            data.into_iter()
                .map(|d| StreamData { data: Some(d) })
                .collect(),
        )
    }

    /// Publishes a session JSON update.
    pub fn publish_session_json(&self, identity: &str, json: impl Into<String>) -> Result<()> {
        self.publish(
            identity,
            vec![StreamData {
                data: Some(stream_data::Data::SessionJson(json.into())),
            }],
        )
    }

    /// Publishes a time-range update.
    pub fn publish_time_range(&self, identity: &str, start_time: i64, end_time: i64) -> Result<()> {
        self.publish(
            identity,
            vec![StreamData {
                data: Some(stream_data::Data::TimeRange(StreamTimeRange {
                    start_time,
                    end_time,
                })),
            }],
        )
    }

    /// Forgets a session; its WebSocket clients are closed normally.
    pub fn remove_session(&self, identity: &str) {
        self.inner.lock().remove(identity);
    }

    /// Identities of the sessions the hub holds.
    pub fn sessions(&self) -> Vec<String> {
        self.inner.lock().keys().cloned().collect()
    }

    /// Live subscribers of a session.
    pub fn subscriber_count(&self, identity: &str) -> usize {
        self.inner
            .lock()
            .get(identity)
            .map_or(0, |s| s.subs.iter().filter(|x| !x.is_closed()).count())
    }
}

struct HubHistory {
    inner: Arc<HubInner>,
    identity: String,
}

impl LiveHistory for HubHistory {
    fn read(&self, up_to: Position) -> BoxStream<'static, Result<LiveBurst>> {
        let bursts: Vec<Result<LiveBurst>> = self
            .inner
            .lock()
            .get(&self.identity)
            .map(|s| {
                s.history
                    .iter()
                    .filter(|k| k.burst.position <= up_to)
                    .map(|k| Ok(k.burst.clone()))
                    .collect()
            })
            .unwrap_or_default();
        stream::iter(bursts).boxed()
    }
}

#[async_trait::async_trait]
impl LiveSource for LiveHub {
    async fn subscribe(
        &self,
        identity: &str,
        queue_len: usize,
    ) -> Result<Option<LiveSubscription>> {
        let mut sessions = self.inner.lock();
        let Some(s) = sessions.get_mut(identity) else {
            return Ok(None);
        };
        let Some(json) = s.json.clone() else {
            return Ok(None);
        };
        let (tx, rx) = live_channel(queue_len);
        s.subs.retain(|x| !x.is_closed());
        s.subs.push(tx);
        Ok(Some(LiveSubscription {
            snapshot: SessionSnapshot {
                json,
                time_range: s.range,
            },
            position: Position(s.seq),
            receiver: rx,
            history: Box::new(HubHistory {
                inner: self.inner.clone(),
                identity: identity.to_string(),
            }),
        }))
    }

    async fn health(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::LiveEvent;
    use rta_core::proto::data::PeriodicData;

    fn periodic(ch: u32, n: usize) -> StreamData {
        StreamData {
            data: Some(stream_data::Data::PeriodicData(PeriodicData {
                channel_id: ch,
                buffer: vec![0u8; n].into(),
                ..Default::default()
            })),
        }
    }

    #[tokio::test]
    async fn not_streamable_until_json() {
        let hub = LiveHub::new(HubOptions::default());
        assert!(hub.subscribe("a", 4).await.unwrap().is_none());
        hub.publish("a", vec![periodic(1, 8)]).unwrap();
        assert!(hub.subscribe("a", 4).await.unwrap().is_none());
        hub.publish_session_json("a", "{}").unwrap();
        hub.publish_time_range("a", 1, 2).unwrap();
        let mut sub = hub.subscribe("a", 4).await.unwrap().unwrap();
        assert_eq!(sub.snapshot.json, "{}");
        assert_eq!(sub.snapshot.time_range.unwrap().end_time, 2);
        assert_eq!(sub.position, Position(3));
        hub.publish("a", vec![periodic(2, 8)]).unwrap();
        let LiveEvent::Burst(b) = sub.receiver.recv().await else {
            panic!("expected a burst")
        };
        assert_eq!(b.position, Position(4));
        let hist: Vec<_> = sub.history.read(Position(3)).collect().await;
        assert_eq!(hist.len(), 1, "only data bursts at or before the position");
        hub.publish_data(
            "a",
            [stream_data::Data::Event(
                rta_core::proto::data::Event::default(),
            )],
        )
        .unwrap();
        let LiveEvent::Burst(b) = sub.receiver.recv().await else {
            panic!("expected a burst")
        };
        assert_eq!(b.items.len(), 1);
        hub.remove_session("a");
        assert!(matches!(sub.receiver.recv().await, LiveEvent::Ended));
    }

    #[tokio::test]
    async fn history_is_bounded() {
        let hub = LiveHub::new(HubOptions {
            history_bytes: 10_000,
            history_age: Duration::from_secs(60),
        });
        for _ in 0..100 {
            hub.publish("a", vec![periodic(1, 1000)]).unwrap();
        }
        hub.publish_session_json("a", "{}").unwrap();
        let sub = hub.subscribe("a", 4).await.unwrap().unwrap();
        let hist: Vec<_> = sub.history.read(sub.position).collect().await;
        assert!(hist.len() < 11 && hist.len() >= 9, "{}", hist.len());
        assert!(hub
            .publish("a", vec![periodic(1, crate::burst::MAX_BURST_BYTES)])
            .is_err());
    }
}
