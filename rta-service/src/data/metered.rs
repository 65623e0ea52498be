//! Store metrics: what a data backend writes and reads, counted by wrappers
//! around its sink, service and chunked source, registered on the process's
//! `/metrics` (`rta_data_*`).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use rta_core::framing::ChunkedSource;
use rta_core::service::{ChunkStream, DataRequest, DataService};
use rta_core::write::{DataSink, WriteItem};
use rta_core::Result;

use super::DataBackend;

/// Counters of a data backend (cheap clones of shared atomics).
///
/// ```
/// use std::sync::Arc;
/// use rta_adapters::memory::MemoryData;
/// use rta_service::data::{DataBackend, DataMetrics};
///
/// let metrics = DataMetrics::default();
/// let mem = Arc::new(MemoryData::new());
/// let backend = DataBackend::new(mem.clone(), mem).metered(&metrics);
/// let mut registry = prometheus_client::registry::Registry::default();
/// metrics.register(&mut registry);
/// # let _ = backend;
/// ```
#[derive(Debug, Clone, Default)]
pub struct DataMetrics {
    write_batches: Counter,
    written_items: Counter,
    written_samples: Counter,
    write_errors: Counter,
    read_requests: Counter,
    read_chunks: Counter,
    read_bytes: Counter,
    read_errors: Counter,
}

impl DataMetrics {
    /// Adds every counter to `registry` (names start `rta_data_`).
    pub fn register(&self, registry: &mut Registry) {
        let counters = [
            (
                "rta_data_write_batches",
                "Batches written to the store",
                &self.write_batches,
            ),
            (
                "rta_data_written_items",
                "Data items written to the store",
                &self.written_items,
            ),
            (
                "rta_data_written_samples",
                "Samples written to the store",
                &self.written_samples,
            ),
            (
                "rta_data_write_errors",
                "Writes the store refused or failed",
                &self.write_errors,
            ),
            (
                "rta_data_read_requests",
                "Data reads started",
                &self.read_requests,
            ),
            (
                "rta_data_read_chunks",
                "Chunks read through the data service",
                &self.read_chunks,
            ),
            (
                "rta_data_read_bytes",
                "Response body bytes read for REST",
                &self.read_bytes,
            ),
            (
                "rta_data_read_errors",
                "Data reads that failed",
                &self.read_errors,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
    }

    /// Samples written so far.
    pub fn written_samples(&self) -> u64 {
        self.written_samples.get()
    }
}

impl DataBackend {
    /// The same backend with its writes and reads counted in `metrics`.
    pub fn metered(&self, metrics: &DataMetrics) -> DataBackend {
        let m = metrics.clone();
        let mut backend = DataBackend::read_only(Arc::new(Metered {
            inner: self.service().clone(),
            m: m.clone(),
        }))
        .with_chunked_source(Arc::new(Metered {
            inner: self.chunked().clone(),
            m: m.clone(),
        }));
        if let Some(sink) = self.sink() {
            backend = backend.with_sink(Arc::new(Metered {
                inner: sink.clone(),
                m,
            }));
        }
        backend
    }
}

/// One wrapped part of a backend.
struct Metered<T: ?Sized> {
    inner: Arc<T>,
    m: DataMetrics,
}

#[async_trait]
impl DataSink for Metered<dyn DataSink> {
    async fn write(&self, identity: &str, items: Vec<WriteItem>) -> Result<()> {
        let samples: usize = items.iter().map(WriteItem::sample_count).sum();
        let n = items.len() as u64;
        let r = self.inner.write(identity, items).await;
        match &r {
            Ok(()) => {
                self.m.write_batches.inc();
                self.m.written_items.inc_by(n);
                self.m.written_samples.inc_by(samples as u64);
            }
            Err(_) => {
                self.m.write_errors.inc();
            }
        }
        r
    }

    async fn flush(&self, identity: &str) -> Result<()> {
        self.inner.flush(identity).await
    }

    async fn finish(&self, identity: &str) -> Result<()> {
        self.inner.finish(identity).await
    }

    async fn flush_all(&self) -> Result<()> {
        self.inner.flush_all().await
    }

    fn accepts_encoded(&self) -> bool {
        self.inner.accepts_encoded()
    }
}

#[async_trait]
impl DataService for Metered<dyn DataService> {
    async fn read(&self, req: DataRequest) -> Result<ChunkStream> {
        self.m.read_requests.inc();
        let chunks = self.inner.read(req).await.inspect_err(|_| {
            self.m.read_errors.inc();
        })?;
        let m = self.m.clone();
        Ok(chunks
            .inspect(move |c| match c {
                Ok(_) => {
                    m.read_chunks.inc();
                }
                Err(_) => {
                    m.read_errors.inc();
                }
            })
            .boxed())
    }
}

fn count_bytes(
    body: BoxStream<'static, Result<Bytes>>,
    m: DataMetrics,
) -> BoxStream<'static, Result<Bytes>> {
    body.inspect(move |b| {
        if let Ok(b) = b {
            m.read_bytes.inc_by(b.len() as u64);
        }
    })
    .boxed()
}

#[async_trait]
impl ChunkedSource for Metered<dyn ChunkedSource> {
    async fn read_chunked(&self, req: DataRequest) -> Result<BoxStream<'static, Result<Bytes>>> {
        self.m.read_requests.inc();
        let body = self.inner.read_chunked(req).await.inspect_err(|_| {
            self.m.read_errors.inc();
        })?;
        Ok(count_bytes(body, self.m.clone()))
    }

    async fn read_chunked_sized(
        &self,
        req: DataRequest,
    ) -> Result<(Option<u64>, BoxStream<'static, Result<Bytes>>)> {
        self.m.read_requests.inc();
        let (len, body) = self.inner.read_chunked_sized(req).await.inspect_err(|_| {
            self.m.read_errors.inc();
        })?;
        Ok((len, count_bytes(body, self.m.clone())))
    }
}
