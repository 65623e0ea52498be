//! What a data service reads from and writes to.

use std::sync::Arc;

use rta_adapters::native::NativeStore;
use rta_core::framing::{ChunkedSource, Framed};
use rta_core::service::DataService;
use rta_core::write::DataSink;

/// The data side of a server: what reads (a [`DataService`], served to REST
/// through a [`ChunkedSource`]) and, optionally, what writes (a
/// [`DataSink`]; without one the server has no `DataWriter` service).
#[derive(Clone)]
pub struct DataBackend {
    service: Arc<dyn DataService>,
    chunked: Arc<dyn ChunkedSource>,
    sink: Option<Arc<dyn DataSink>>,
}

impl DataBackend {
    /// A read-only backend over any data service: the REST data API frames
    /// its chunks with [`Framed`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rta_adapters::memory::MemoryData;
    /// use rta_service::data::DataBackend;
    ///
    /// let backend = DataBackend::read_only(Arc::new(MemoryData::new()));
    /// assert!(!backend.writable());
    /// ```
    pub fn read_only(service: Arc<dyn DataService>) -> Self {
        Self {
            chunked: Arc::new(Framed(service.clone())),
            service,
            sink: None,
        }
    }

    /// A backend that reads through `service` and writes through `sink`
    /// (usually the same object: pass two `Arc`s of it).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use rta_adapters::memory::MemoryData;
    /// use rta_service::data::DataBackend;
    ///
    /// let mem = Arc::new(MemoryData::new());
    /// let backend = DataBackend::new(mem.clone(), mem);
    /// assert!(backend.writable());
    /// ```
    pub fn new(service: Arc<dyn DataService>, sink: Arc<dyn DataSink>) -> Self {
        Self::read_only(service).with_sink(sink)
    }

    /// The native chunk store: reads, writes, and its own fast REST bodies
    /// (exact `Content-Length`, stored payloads copied in undecoded).
    pub fn native(store: NativeStore) -> Self {
        Self {
            service: Arc::new(store.clone()),
            chunked: Arc::new(store.clone()),
            sink: Some(Arc::new(store)),
        }
    }

    /// Adds (or replaces) the sink.
    pub fn with_sink(mut self, sink: Arc<dyn DataSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Serves REST bodies from `chunked` instead of framing the service's
    /// chunks (for adapters that can lay out response bodies more cheaply).
    pub fn with_chunked_source(mut self, chunked: Arc<dyn ChunkedSource>) -> Self {
        self.chunked = chunked;
        self
    }

    /// Whether the backend takes writes.
    pub fn writable(&self) -> bool {
        self.sink.is_some()
    }

    /// The data service.
    pub fn service(&self) -> &Arc<dyn DataService> {
        &self.service
    }

    /// The sink, if any.
    pub fn sink(&self) -> Option<&Arc<dyn DataSink>> {
        self.sink.as_ref()
    }

    /// What REST bodies are built from.
    pub fn chunked(&self) -> &Arc<dyn ChunkedSource> {
        &self.chunked
    }
}

impl std::fmt::Debug for DataBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataBackend")
            .field("writable", &self.writable())
            .finish_non_exhaustive()
    }
}
