//! Stores on an S3-compatible object store (feature `object-store`).
//!
//! - [`S3Backend`]: a [`Backend`](crate::native::Backend) of the native
//!   chunk store: immutable segment objects of the data log and a chain of
//!   create-only commit objects as the index (layout in
//!   `docs/wire-format.md`, "Native store on an object store").
//! - [`S3ConfigStore`]: configurations, the first write of an identifier
//!   wins (a conditional create).
//! - [`S3SchemaMappingStore`]: schema mappings, one object per source and
//!   identity.
//!
//! All three share a [`Bucket`]: a connection to one bucket made from the
//! standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, ...), so
//! any S3-compatible store works. Requests run on a small runtime owned by
//! the bucket, so the stores can be called from blocking threads (the
//! native store) and from any async runtime alike. An object store that
//! cannot be reached is [`Error::Unavailable`] (HTTP 503) with a message
//! naming the bucket; credentials never appear in messages or logs.
//!
//! ```no_run
//! use rta_adapters::s3::{Bucket, S3ConfigStore};
//! use rta_core::service::ConfigStore;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ALLOW_HTTP=true ...
//! let bucket = Bucket::from_env("rta-configs").unwrap();
//! let configs = S3ConfigStore::new(bucket);
//! assert!(!configs.has("missing").await.unwrap());
//! # });
//! ```

mod backend;
mod cache;
mod commit;
mod config;
mod load;
mod schema_mapping;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{ClientConfigKey, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig};
use rta_core::{Error, Result};

pub use backend::{S3Backend, S3BackendConfig};
pub use config::S3ConfigStore;
pub use schema_mapping::S3SchemaMappingStore;

/// A connection to one bucket of an S3-compatible object store, with the
/// runtime its requests run on. Cloning is cheap (a shared handle).
#[derive(Clone)]
pub struct Bucket {
    inner: Arc<BucketInner>,
}

struct BucketInner {
    store: Arc<dyn ObjectStore>,
    name: String,
    /// Taken out on drop and shut down in the background (dropping a
    /// runtime inside another one would panic).
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for BucketInner {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the store's own Debug: it would print the credentials.
        f.debug_struct("Bucket")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl Bucket {
    /// Connects to `bucket` with the endpoint, region and credentials of the
    /// standard AWS environment variables. Requests give up after a few
    /// seconds when the store cannot be reached (`AWS_CONNECT_TIMEOUT` and
    /// `AWS_TIMEOUT` override the 2 s connect and 30 s request limits).
    pub fn from_env(bucket: &str) -> Result<Self> {
        Self::from_env_with(bucket, &[])
    }

    /// Like [`Bucket::from_env`], with settings that override the
    /// environment, by `object_store`'s configuration key names
    /// (`aws_endpoint`, `aws_region`, `aws_allow_http`, ...).
    ///
    /// ```
    /// use rta_adapters::s3::Bucket;
    ///
    /// let b = Bucket::from_env_with("b", &[("aws_endpoint", "http://127.0.0.1:1"), ("aws_region", "x")]);
    /// assert!(b.is_ok());
    /// assert!(Bucket::from_env_with("b", &[("no_such_key", "1")]).is_err());
    /// ```
    pub fn from_env_with(bucket: &str, settings: &[(&str, &str)]) -> Result<Self> {
        if bucket.is_empty() {
            return Err(Error::InvalidArgument("empty S3 bucket name".into()));
        }
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (k, v) in settings {
            let key: AmazonS3ConfigKey = k
                .parse()
                .map_err(|_| Error::InvalidArgument(format!("unknown S3 setting {k:?}")))?;
            b = b.with_config(key, *v);
        }
        for (key, value) in [
            (ClientConfigKey::ConnectTimeout, "2s"),
            (ClientConfigKey::Timeout, "30s"),
        ] {
            let key = AmazonS3ConfigKey::Client(key);
            if b.get_config_value(&key).is_none() {
                b = b.with_config(key, value);
            }
        }
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(5),
            ..RetryConfig::default()
        };
        let store = b
            .with_retry(retry)
            .build()
            .map_err(|e| Error::InvalidArgument(format!("S3 bucket {bucket:?}: {e}")))?;
        Self::with_store(Arc::new(store), bucket)
    }

    /// A bucket over any [`ObjectStore`] (`name` is used in messages).
    pub fn with_store(store: Arc<dyn ObjectStore>, name: &str) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rta-s3")
            .enable_all()
            .build()?;
        Ok(Self {
            inner: Arc::new(BucketInner {
                store,
                name: name.to_string(),
                rt: Some(rt),
            }),
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The object store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    fn handle(&self) -> Result<&tokio::runtime::Handle> {
        self.inner
            .rt
            .as_ref()
            .map(|r| r.handle())
            .ok_or_else(|| Error::Internal("object store runtime stopped".into()))
    }

    /// Runs a request on the bucket's runtime and waits for it (blocking;
    /// for the native store's blocking threads).
    pub(crate) fn block<T, F>(&self, f: F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle()?.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| Error::Internal("object store request dropped".into()))?
    }

    /// Runs a request on the bucket's runtime from async code.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.handle()?
            .spawn(f)
            .await
            .map_err(|e| Error::Internal(format!("object store request failed: {e}")))?
    }

    /// Checks that the bucket answers (for `/health`): one listing request.
    pub async fn check(&self) -> Result<()> {
        let b = self.clone();
        self.run(async move {
            b.store()
                .list_with_delimiter(Some(&Path::from("health")))
                .await
                .map(|_| ())
                .map_err(|e| b.error("listing", &e))
        })
        .await
    }

    /// An object store error as an `rta-core` error: missing objects are
    /// [`Error::NotFound`], lost races [`Error::Conflict`], anything else
    /// (the store unreachable, refusing, failing) [`Error::Unavailable`].
    pub(crate) fn error(&self, what: &str, e: &object_store::Error) -> Error {
        let name = &self.inner.name;
        match e {
            object_store::Error::NotFound { path, .. } => {
                Error::NotFound(format!("object {path:?} in bucket {name:?}"))
            }
            object_store::Error::AlreadyExists { path, .. }
            | object_store::Error::Precondition { path, .. } => Error::Conflict(format!(
                "object {path:?} in bucket {name:?} was written by someone else first"
            )),
            other => Error::Unavailable(format!(
                "object store bucket {name:?} unavailable ({what}): {other}"
            )),
        }
    }

    /// Reads an object; `None` when it does not exist.
    pub(crate) async fn get_opt(&self, key: &Path) -> Result<Option<bytes::Bytes>> {
        match self.store().get(key).await {
            Ok(r) => r
                .bytes()
                .await
                .map(Some)
                .map_err(|e| self.error("reading an object", &e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("reading an object", &e)),
        }
    }

    /// Creates an object unless it exists: `true` when created, `false`
    /// when an object of that name was there first (it is left as it is).
    pub(crate) async fn create(&self, key: &Path, data: bytes::Bytes) -> Result<bool> {
        let opts = PutOptions::from(PutMode::Create);
        match self
            .store()
            .put_opts(key, PutPayload::from_bytes(data), opts)
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(self.error("creating an object", &e)),
        }
    }

    /// Deletes an object (succeeds when absent).
    pub(crate) async fn delete_key(&self, key: &Path) -> Result<()> {
        match self.store().delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error("deleting an object", &e)),
        }
    }
}
