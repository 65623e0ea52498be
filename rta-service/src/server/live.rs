//! Live sessions of the RTA Server: which sessions are open, where their
//! updates go (the in-process hub or Redis), and the [`SessionStore`] layer
//! that follows session state changes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rta_core::proto::session_service as ss;
use rta_core::proto::stream::{stream_data, StreamData, StreamTimeRange};
use rta_core::service::{IdentityCheck, SessionStore};
use rta_core::session::SessionState;
use rta_core::write::{DataObserver, DataSink, WriteItem};
use rta_stream::hub::LiveHub;
use rta_stream::StreamBuffer;

/// How long the WebSocket clients of a session that closed keep their
/// connection, so they receive the final session JSON before it closes.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Most live messages queued for the Redis publisher; beyond it live
/// updates are dropped (and logged): the data itself is already stored.
pub(super) const REDIS_QUEUE: usize = 1024;

/// Where live updates go.
pub(super) enum LiveOut {
    /// Straight to this process's WebSocket clients.
    Hub(LiveHub),
    /// To the Redis publisher task.
    Redis(tokio::sync::mpsc::Sender<RedisMsg>),
}

/// A live update for the Redis publisher.
pub(super) enum RedisMsg {
    Items(String, Vec<StreamData>),
    End(String, String),
}

impl LiveOut {
    fn publish(&self, identity: &str, items: Vec<StreamData>) {
        match self {
            LiveOut::Hub(hub) => {
                if let Err(e) = hub.publish(identity, items) {
                    tracing::warn!(%identity, error = %e, "live publish failed");
                }
            }
            LiveOut::Redis(tx) => {
                if tx
                    .try_send(RedisMsg::Items(identity.to_string(), items))
                    .is_err()
                {
                    tracing::warn!(%identity, "live update dropped: Redis publisher is behind");
                }
            }
        }
    }

    fn end(&self, identity: &str, final_json: String) {
        match self {
            LiveOut::Hub(hub) => {
                let _ = hub.publish_session_json(identity, final_json);
                let hub = hub.clone();
                let id = identity.to_string();
                tokio::spawn(async move {
                    tokio::time::sleep(CLOSE_GRACE).await;
                    hub.remove_session(&id);
                });
            }
            LiveOut::Redis(tx) => {
                if tx
                    .try_send(RedisMsg::End(identity.to_string(), final_json))
                    .is_err()
                {
                    tracing::warn!(%identity, "final session JSON dropped: Redis publisher is behind");
                }
            }
        }
    }
}

/// Writes live updates to Redis with one [`rta_stream::SessionWriter`] per live session.
pub(super) async fn redis_publisher(
    buffer: StreamBuffer,
    mut rx: tokio::sync::mpsc::Receiver<RedisMsg>,
) {
    let mut writers: std::collections::HashMap<String, rta_stream::SessionWriter> =
        std::collections::HashMap::new();
    while let Some(msg) = rx.recv().await {
        let (identity, items, end) = match msg {
            RedisMsg::Items(id, items) => (id, items, false),
            RedisMsg::End(id, json) => (id, vec![json_item(json)], true),
        };
        if !writers.contains_key(&identity) {
            match buffer.init_session(&identity, REDIS_STREAM).await {
                Ok(w) => {
                    writers.insert(identity.clone(), w);
                }
                Err(e) => {
                    tracing::warn!(%identity, error = %e, "cannot start the Redis live session");
                    continue;
                }
            }
        }
        let Some(w) = writers.get(&identity) else {
            continue;
        };
        let mut r = w.write_all(items).await;
        if r.is_ok() {
            r = w.end_burst().await;
        }
        if let Err(e) = r {
            tracing::warn!(%identity, error = %e, "Redis live write failed");
        }
        if end {
            if let Some(w) = writers.remove(&identity) {
                if let Err(e) = w.close().await {
                    tracing::warn!(%identity, error = %e, "closing the Redis live session failed");
                }
            }
        }
    }
}

/// Redis stream that an RTA Server writes its live sessions to.
pub const REDIS_STREAM: &str = "rta-server";

fn json_item(json: String) -> StreamData {
    StreamData {
        data: Some(stream_data::Data::SessionJson(json)),
    }
}

fn range_item(start_time: i64, end_time: i64) -> StreamData {
    StreamData {
        data: Some(stream_data::Data::TimeRange(StreamTimeRange {
            start_time,
            end_time,
        })),
    }
}

/// Sessions the server is streaming live, and where their updates go.
/// As a [`DataObserver`] it forwards data written for those sessions.
pub struct LiveSet {
    out: LiveOut,
    open: Mutex<HashSet<String>>,
}

impl LiveSet {
    pub(super) fn new(out: LiveOut) -> Self {
        Self {
            out,
            open: Mutex::new(HashSet::new()),
        }
    }

    pub(super) fn is_live(&self, identity: &str) -> bool {
        self.open
            .lock()
            .map(|s| s.contains(identity))
            .unwrap_or(false)
    }

    fn set_live(&self, identity: &str, live: bool) -> bool {
        let Ok(mut s) = self.open.lock() else {
            return false;
        };
        if live {
            s.insert(identity.to_string())
        } else {
            s.remove(identity)
        }
    }

    /// Publishes a time-range update of a live session.
    pub fn publish_time_range(&self, identity: &str, start: i64, end: i64) {
        if self.is_live(identity) {
            self.out.publish(identity, vec![range_item(start, end)]);
        }
    }
}

impl DataObserver for LiveSet {
    fn wants(&self, identity: &str) -> bool {
        self.is_live(identity)
    }

    fn observe(&self, identity: &str, items: &[WriteItem]) {
        if !self.is_live(identity) || items.is_empty() {
            return;
        }
        self.out.publish(
            identity,
            items.iter().map(WriteItem::to_stream_data).collect(),
        );
    }
}

/// A [`SessionStore`] layer that keeps the live hub in step with the
/// sessions: an open (or waiting) session streams its JSON and time range to
/// WebSocket clients; when it closes, clients get the final JSON, the data
/// sink [finishes](DataSink::finish) its data (the native store seals it) and
/// the clients are closed.
pub struct LiveSessionStore<S: ?Sized> {
    inner: Arc<S>,
    live: Arc<LiveSet>,
    sink: Option<Arc<dyn DataSink>>,
}

impl<S: SessionStore + ?Sized> LiveSessionStore<S> {
    pub(super) fn new(inner: Arc<S>, live: Arc<LiveSet>, sink: Option<Arc<dyn DataSink>>) -> Self {
        Self { inner, live, sink }
    }

    /// The live set this layer keeps in step.
    pub(super) fn live(&self) -> &Arc<LiveSet> {
        &self.live
    }

    /// Follows an update whose resulting state is `state` (`None`: unknown).
    /// The session is read back only when its JSON is published: when it is
    /// (or may be) live, or was live and has just closed.
    async fn after_update(
        &self,
        identity: &str,
        state: Option<SessionState>,
    ) -> rta_core::Result<()> {
        if state.is_some_and(|s| !is_live_state(s)) && !self.live.is_live(identity) {
            return Ok(());
        }
        let elements = ss::SessionElements {
            json: true,
            ..Default::default()
        };
        let Some(sess) = self.inner.get(identity, &elements).await? else {
            return Ok(());
        };
        let parsed = rta_core::session::Session::from_json(&sess.json)?;
        if is_live_state(parsed.state) {
            self.live.set_live(identity, true);
            let mut items = vec![json_item(sess.json)];
            if let (Some(s), Some(e)) = (&parsed.start_timestamp, &parsed.end_timestamp) {
                items.push(range_item(s.nanos(), e.nanos()));
            }
            self.live.out.publish(identity, items);
        } else if self.live.set_live(identity, false) {
            self.live.out.end(identity, sess.json);
            if let Some(sink) = self.sink.clone() {
                let id = identity.to_string();
                tokio::spawn(async move {
                    if let Err(e) = sink.finish(&id).await {
                        tracing::warn!(identity = %id, error = %e, "finishing data of a closed session failed");
                    }
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl<S: SessionStore + ?Sized> SessionStore for LiveSessionStore<S> {
    async fn create_or_update(
        &self,
        req: ss::CreateOrUpdateSessionRequest,
    ) -> rta_core::Result<()> {
        self.create_or_update_state(req).await.map(|_| ())
    }
    async fn create_or_update_state(
        &self,
        req: ss::CreateOrUpdateSessionRequest,
    ) -> rta_core::Result<Option<SessionState>> {
        let identity = req.identity.clone();
        let state = self.inner.create_or_update_state(req).await?;
        // The update is stored; a failure to notify live clients is logged, not returned.
        if let Err(e) = self.after_update(&identity, state).await {
            tracing::warn!(%identity, error = %e, "live session update failed");
        }
        Ok(state)
    }
    async fn get(
        &self,
        identity: &str,
        elements: &ss::SessionElements,
    ) -> rta_core::Result<Option<ss::Session>> {
        self.inner.get(identity, elements).await
    }
    async fn list(&self, req: &ss::ListSessionsRequest) -> rta_core::Result<Vec<ss::Session>> {
        self.inner.list(req).await
    }
    async fn delete(&self, identities: &[String]) -> rta_core::Result<()> {
        self.inner.delete(identities).await?;
        for id in identities {
            if self.live.set_live(id, false) {
                self.live.out.end(id, String::new());
            }
        }
        Ok(())
    }
    async fn folders(&self, parent: &str) -> rta_core::Result<Vec<ss::SessionFolder>> {
        self.inner.folders(parent).await
    }
    async fn put_folder(&self, req: ss::PutSessionFolderRequest) -> rta_core::Result<()> {
        self.inner.put_folder(req).await
    }
    async fn delete_folders(&self, identities: &[String]) -> rta_core::Result<()> {
        self.inner.delete_folders(identities).await
    }
    async fn metamodel(
        &self,
        folder_subtree: &str,
        json_properties: &[String],
    ) -> rta_core::Result<serde_json::Value> {
        self.inner.metamodel(folder_subtree, json_properties).await
    }
    async fn query_properties(
        &self,
        partial_match: &str,
        folder_subtree: &str,
    ) -> rta_core::Result<Vec<ss::PropertySummary>> {
        self.inner
            .query_properties(partial_match, folder_subtree)
            .await
    }
}

/// Whether sessions in `state` stream live (open, or waiting for data).
fn is_live_state(state: SessionState) -> bool {
    matches!(state, SessionState::Open | SessionState::Waiting)
}

/// The data API's check that a session exists (unknown sessions are 404).
pub(super) struct SessionExists<S: ?Sized>(pub(super) Arc<S>);

#[async_trait]
impl<S: SessionStore + ?Sized> IdentityCheck for SessionExists<S> {
    async fn exists(&self, identity: &str) -> rta_core::Result<bool> {
        Ok(self
            .0
            .get(identity, &ss::SessionElements::default())
            .await?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rta_core::proto::session_service::session_update::Op;

    use rta_adapters::native::{NativeConfig, NativeStore};
    use rta_adapters::stores::SqliteSessionStore;
    use rta_stream::hub::HubOptions;

    use super::*;

    /// A session store counting its reads; it tells the state after an
    /// update only when `tells_state` (otherwise the trait's default, `None`).
    struct Counting {
        inner: SqliteSessionStore,
        gets: AtomicUsize,
        tells_state: bool,
    }

    #[async_trait]
    impl SessionStore for Counting {
        async fn create_or_update(
            &self,
            req: ss::CreateOrUpdateSessionRequest,
        ) -> rta_core::Result<()> {
            self.inner.create_or_update(req).await
        }
        async fn create_or_update_state(
            &self,
            req: ss::CreateOrUpdateSessionRequest,
        ) -> rta_core::Result<Option<SessionState>> {
            if self.tells_state {
                self.inner.create_or_update_state(req).await
            } else {
                self.inner.create_or_update(req).await.map(|()| None)
            }
        }
        async fn get(
            &self,
            identity: &str,
            elements: &ss::SessionElements,
        ) -> rta_core::Result<Option<ss::Session>> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            self.inner.get(identity, elements).await
        }
        async fn list(&self, req: &ss::ListSessionsRequest) -> rta_core::Result<Vec<ss::Session>> {
            self.inner.list(req).await
        }
        async fn delete(&self, identities: &[String]) -> rta_core::Result<()> {
            self.inner.delete(identities).await
        }
        async fn folders(&self, parent: &str) -> rta_core::Result<Vec<ss::SessionFolder>> {
            self.inner.folders(parent).await
        }
        async fn put_folder(&self, req: ss::PutSessionFolderRequest) -> rta_core::Result<()> {
            self.inner.put_folder(req).await
        }
        async fn delete_folders(&self, identities: &[String]) -> rta_core::Result<()> {
            self.inner.delete_folders(identities).await
        }
        async fn metamodel(
            &self,
            folder_subtree: &str,
            json_properties: &[String],
        ) -> rta_core::Result<serde_json::Value> {
            self.inner.metamodel(folder_subtree, json_properties).await
        }
        async fn query_properties(
            &self,
            partial_match: &str,
            folder_subtree: &str,
        ) -> rta_core::Result<Vec<ss::PropertySummary>> {
            self.inner
                .query_properties(partial_match, folder_subtree)
                .await
        }
    }

    fn update(
        identity: &str,
        sequence: Option<i64>,
        ops: Vec<Op>,
    ) -> ss::CreateOrUpdateSessionRequest {
        ss::CreateOrUpdateSessionRequest {
            identity: identity.into(),
            sequence,
            updates: ops
                .into_iter()
                .map(|op| ss::SessionUpdate { op: Some(op) })
                .collect(),
            ..Default::default()
        }
    }

    /// Runs the same updates through a store that tells the state and one
    /// that does not: the live set follows them identically, and the session
    /// is read back only when its JSON is published.
    #[tokio::test]
    async fn sessions_are_read_back_only_to_publish_them() {
        let range = |end| {
            Op::SetTimeRange(ss::TimeRange {
                start_time: 0,
                end_time: end,
            })
        };
        let open = SessionState::Open.as_i32();
        let closed = SessionState::Closed.as_i32();
        // (request, live afterwards, read back when the store tells the state)
        let steps = [
            (
                update("a", None, vec![Op::SetType("t".into())]),
                false,
                false,
            ),
            (update("a", None, vec![Op::SetState(open)]), true, true),
            (update("a", None, vec![range(10)]), true, true),
            (update("a", None, vec![Op::SetState(closed)]), false, true),
            (update("a", None, vec![range(20)]), false, false),
            (
                update("b", None, vec![Op::SetState(open), Op::SetState(closed)]),
                false,
                false,
            ),
            (
                update("c", Some(2), vec![Op::SetState(closed)]),
                false,
                false,
            ),
            // stale: skipped by the store, so the state is unknown
            (update("c", Some(1), vec![Op::SetState(open)]), false, true),
        ];
        for tells_state in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let sink: Arc<dyn DataSink> =
                Arc::new(NativeStore::open(NativeConfig::new(dir.path().join("data"))).unwrap());
            let store = LiveSessionStore::new(
                Arc::new(Counting {
                    inner: SqliteSessionStore::open(dir.path().join("sessions.sqlite")).unwrap(),
                    gets: AtomicUsize::new(0),
                    tells_state,
                }),
                Arc::new(LiveSet::new(LiveOut::Hub(LiveHub::new(
                    HubOptions::default(),
                )))),
                Some(sink),
            );
            for (i, (req, live, read)) in steps.iter().enumerate() {
                let identity = req.identity.clone();
                let before = store.inner.gets.load(Ordering::SeqCst);
                store.create_or_update(req.clone()).await.unwrap();
                let reads = store.inner.gets.load(Ordering::SeqCst) - before;
                assert_eq!(store.live.is_live(&identity), *live, "step {i}");
                let expected = if tells_state { usize::from(*read) } else { 1 };
                assert_eq!(reads, expected, "step {i}, tells_state {tells_state}");
            }
        }
    }
}
