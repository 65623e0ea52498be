//! A [`DataService`] over sessions' data bindings: what a Gateway serves.
//!
//! For a session identity it gets the session's bindings from a
//! [`BindingsSource`], plans the request per binding, asks the data service
//! each binding names, transforms the answers only where a binding needs it
//! (clip, time offset, channel shift) and merges them in time order per
//! channel; chunks that need no change pass through untouched.
//!
//! Bindings of closed sessions cannot change, so they are cached; those of
//! open sessions are read again for every request. A session without
//! bindings is [`rta_core::Error::NotFound`]; a binding to a data source
//! with no configured data service is [`rta_core::Error::Upstream`] (`502`)
//! whose message does not name the source (sources are private).
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Arc;
//! use futures::StreamExt;
//! use rta_bindings::model::DataBinding;
//! use rta_bindings::service::{BindingDataService, Bindings, BindingsSource};
//! use rta_core::chunk::{Chunk, Compression};
//! use rta_core::data::{periodic, DataKind};
//! use rta_core::proto::data::PeriodicDataList;
//! use rta_core::service::{Authorization, ChunkStream, DataRequest, DataService};
//!
//! /// One session, bound to data identity "d1" of source "src" with a 1 s offset.
//! struct Fixed;
//! #[async_trait::async_trait]
//! impl BindingsSource for Fixed {
//!     async fn bindings(&self, session: &str, _auth: &Authorization) -> rta_core::Result<Option<Bindings>> {
//!         Ok((session == "s1").then(|| Bindings {
//!             bindings: vec![DataBinding::new("src", "d1").with_offset(1_000_000_000)],
//!             cacheable: true,
//!         }))
//!     }
//! }
//! /// A data service with 2 samples on channel 0 at data time 0.
//! struct Source;
//! #[async_trait::async_trait]
//! impl DataService for Source {
//!     async fn read(&self, _req: DataRequest) -> rta_core::Result<ChunkStream> {
//!         let list = PeriodicDataList { periodic_data: vec![periodic(0, 0, 10, &[1u8, 2]).unwrap()] };
//!         let chunk = Chunk::from_list(&list, Compression::None)?.into_iter().map(Ok);
//!         Ok(futures::stream::iter(chunk).boxed())
//!     }
//! }
//! # futures::executor::block_on(async {
//! let mut sources: HashMap<String, Arc<dyn DataService>> = HashMap::new();
//! sources.insert("src".into(), Arc::new(Source));
//! let gateway = BindingDataService::new(Arc::new(Fixed), sources);
//! let req = DataRequest::channels(DataKind::Periodic, "s1", "0".parse().unwrap());
//! let chunks: Vec<_> = gateway.read(req).await.unwrap().collect().await;
//! assert_eq!(chunks[0].as_ref().unwrap().start, 1_000_000_000);
//! # });
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rta_core::proto::session_service as ss;
use rta_core::service::{Authorization, ChunkStream, DataRequest, DataService, SessionStore};
use rta_core::session::{Session, SessionState};

use crate::model::DataBinding;
use crate::plan::{SessionBindings, SessionRequest};

/// Most sessions whose bindings are kept; the cache is emptied when full.
pub const BINDINGS_CACHE_SESSIONS: usize = 4096;

/// A session's bindings as a [`BindingsSource`] found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bindings {
    /// The bindings, in the session's order.
    pub bindings: Vec<DataBinding>,
    /// Whether they can no longer change (the session is closed), so they
    /// may be cached.
    pub cacheable: bool,
}

/// Where the bindings of a session come from: a session store in-process
/// ([`SessionStoreBindings`]), or a Session Service's private
/// `GET /rta/v2/sessions/{identity}/data-bindings` route.
#[async_trait]
pub trait BindingsSource: Send + Sync + 'static {
    /// The bindings of `session`, or `None` when there is no such session.
    /// `auth` is the client's credentials, for sources that pass them on.
    async fn bindings(
        &self,
        session: &str,
        auth: &Authorization,
    ) -> rta_core::Result<Option<Bindings>>;
}

/// The bindings of sessions in any [`SessionStore`]; those of closed
/// sessions are cacheable.
pub struct SessionStoreBindings<S: ?Sized>(pub Arc<S>);

#[async_trait]
impl<S: SessionStore + ?Sized> BindingsSource for SessionStoreBindings<S> {
    async fn bindings(
        &self,
        session: &str,
        _auth: &Authorization,
    ) -> rta_core::Result<Option<Bindings>> {
        let elements = ss::SessionElements {
            json: true,
            data_bindings: true,
            ..Default::default()
        };
        let Some(s) = self.0.get(session, &elements).await? else {
            return Ok(None);
        };
        let state = Session::from_json(&s.json)?.state;
        Ok(Some(Bindings {
            bindings: s
                .data_bindings
                .iter()
                .map(DataBinding::from_proto)
                .collect(),
            cacheable: state == SessionState::Closed,
        }))
    }
}

/// Serves sessions' data through their bindings (see the [module](self)).
pub struct BindingDataService {
    source: Arc<dyn BindingsSource>,
    services: HashMap<String, Arc<dyn DataService>>,
    cache: Mutex<HashMap<String, Arc<SessionBindings>>>,
}

impl BindingDataService {
    /// Serves the sessions `source` knows from the data services in
    /// `services`, keyed by data source token (the `source` of a binding key).
    pub fn new(
        source: Arc<dyn BindingsSource>,
        services: HashMap<String, Arc<dyn DataService>>,
    ) -> Self {
        Self {
            source,
            services,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The data source tokens with a configured data service, sorted.
    pub fn sources(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.services.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The validated bindings of `session`, from the cache when they are
    /// final; `None` for an unknown session.
    pub async fn session_bindings(
        &self,
        session: &str,
        auth: &Authorization,
    ) -> rta_core::Result<Option<Arc<SessionBindings>>> {
        if let Some(b) = self.cached(session) {
            return Ok(Some(b));
        }
        let Some(found) = self.source.bindings(session, auth).await? else {
            return Ok(None);
        };
        let validated = Arc::new(SessionBindings::new(found.bindings).map_err(|e| {
            rta_core::Error::Upstream(format!(
                "session {session:?} has invalid data bindings: {e}"
            ))
        })?);
        if found.cacheable {
            if let Ok(mut cache) = self.cache.lock() {
                if cache.len() >= BINDINGS_CACHE_SESSIONS {
                    cache.clear();
                }
                cache.insert(session.to_string(), validated.clone());
            }
        }
        Ok(Some(validated))
    }

    fn cached(&self, session: &str) -> Option<Arc<SessionBindings>> {
        self.cache.lock().ok()?.get(session).cloned()
    }
}

#[async_trait]
impl DataService for BindingDataService {
    async fn read(&self, req: DataRequest) -> rta_core::Result<ChunkStream> {
        req.validate()?;
        let session = req.data_identity.as_str();
        let bindings = self.session_bindings(session, &req.authorization).await?;
        let bindings = match bindings {
            Some(b) if !b.bindings().is_empty() => b,
            Some(_) => {
                return Err(rta_core::Error::NotFound(format!(
                    "session {session:?} has no data bindings"
                )))
            }
            None => {
                return Err(rta_core::Error::NotFound(format!(
                    "session {session:?} not found"
                )))
            }
        };
        let sreq = match req.channels {
            Some(c) => SessionRequest::channels(req.kind, c),
            None => SessionRequest::events(),
        }
        .with_bounds(req.start, req.end);
        let mut plan = bindings.plan(&sreq)?;
        // Every data service sees the client's credentials.
        for part in &mut plan.parts {
            part.request.authorization = req.authorization.clone();
        }
        if let Some(part) = plan
            .parts
            .iter()
            .find(|p| !self.services.contains_key(&p.source))
        {
            // The log names the source; the response does not.
            tracing::warn!(%session, source = %part.source, "a data binding names an unconfigured data source");
            return Err(rta_core::Error::Upstream(format!(
                "a data binding of session {session:?} names a data source with no configured data service"
            )));
        }
        let stream = plan
            .execute(|source| self.services.get(source).cloned())
            .await?;
        Ok(crate::into_chunk_stream(stream))
    }
}
