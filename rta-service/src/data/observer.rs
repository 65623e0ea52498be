//! A [`DataObserver`] that hands stored batches to in-process receivers.

use std::sync::Arc;

use rta_core::proto::stream::StreamData;
use rta_core::write::{DataObserver, WriteItem};

/// A [`DataObserver`] that publishes every batch on a Tokio broadcast
/// channel as `(identity, stream items)`. Receivers that lag lose batches
/// (the broadcast channel's usual behaviour).
///
/// ```
/// use rta_core::write::{DataObserver, WriteItem};
/// use rta_service::data::BroadcastObserver;
/// use rta_core::proto::data::Event;
///
/// let obs = BroadcastObserver::new(16);
/// let mut rx = obs.subscribe();
/// obs.observe("s1", &[WriteItem::Event(Event { timestamp: 5, ..Default::default() })]);
/// let (identity, items) = rx.try_recv().unwrap();
/// assert_eq!((&*identity, items.len()), ("s1", 1));
/// ```
#[derive(Debug, Clone)]
pub struct BroadcastObserver {
    tx: tokio::sync::broadcast::Sender<ObservedBatch>,
}

/// A batch seen by a [`BroadcastObserver`]: the identity and the items as
/// live-stream messages.
pub type ObservedBatch = (Arc<str>, Arc<Vec<StreamData>>);

impl BroadcastObserver {
    /// A broadcaster keeping up to `capacity` batches for slow receivers.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = tokio::sync::broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// A new receiver of the batches published from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ObservedBatch> {
        self.tx.subscribe()
    }
}

impl DataObserver for BroadcastObserver {
    fn observe(&self, identity: &str, items: &[WriteItem]) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let data: Vec<StreamData> = items.iter().map(WriteItem::to_stream_data).collect();
        let _ = self.tx.send((Arc::from(identity), Arc::new(data)));
    }
}
