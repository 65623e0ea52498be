//! Configurations on an object store.

use async_trait::async_trait;
use bytes::Bytes;
use object_store::path::Path;
use rta_core::service::{ConfigStore, StoredConfig};
use rta_core::{Error, Result};

use super::Bucket;
use crate::stores::fsutil::encode_name;
use crate::stores::validate_config;

/// Configurations on an object store: one object per identifier,
/// `configs/<name>` (the identifier escaped as by
/// [`FileConfigStore`](crate::stores::FileConfigStore)), holding the media
/// type, a line feed, then the configuration's bytes.
///
/// Same semantics as the file store: the first write of an identifier wins
/// (a conditional create, so across instances too); writing the same bytes
/// again is a no-op, anything else is [`Error::Conflict`]. JSON
/// configurations are validated before they are stored.
///
/// ```no_run
/// use rta_adapters::s3::{Bucket, S3ConfigStore};
/// use rta_core::service::{ConfigStore, StoredConfig};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = S3ConfigStore::new(Bucket::from_env("rta-configs").unwrap());
/// let cfg = StoredConfig {
///     content_type: "application/vnd.mat.config+json".into(),
///     data: r#"{"demo": {"channels": [{"id": 1}]}}"#.into(),
/// };
/// store.put("cfg-1", cfg.clone()).await.unwrap();
/// assert_eq!(store.get("cfg-1").await.unwrap(), Some(cfg));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct S3ConfigStore {
    bucket: Bucket,
}

impl S3ConfigStore {
    /// A store on `bucket`.
    pub fn new(bucket: Bucket) -> Self {
        Self { bucket }
    }

    /// Checks that the bucket answers (for `/health`).
    pub async fn check(&self) -> Result<()> {
        self.bucket.check().await
    }

    fn key(identifier: &str) -> Result<Path> {
        let name = encode_name("config identifier", identifier)?;
        Ok(Path::from(format!("configs/{name}")))
    }

    async fn read(&self, key: Path) -> Result<Option<StoredConfig>> {
        let b = self.bucket.clone();
        let Some(raw) = self
            .bucket
            .run(async move { b.get_opt(&key).await })
            .await?
        else {
            return Ok(None);
        };
        let nl = raw
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| Error::Internal("corrupt config object: no media type line".into()))?;
        let content_type = std::str::from_utf8(&raw[..nl])
            .map_err(|_| Error::Internal("corrupt config object: media type".into()))?
            .to_string();
        Ok(Some(StoredConfig {
            content_type,
            data: raw.slice(nl + 1..),
        }))
    }
}

#[async_trait]
impl ConfigStore for S3ConfigStore {
    async fn put(&self, identifier: &str, config: StoredConfig) -> Result<()> {
        let key = Self::key(identifier)?;
        validate_config(&config)?;
        let mut body = Vec::with_capacity(config.content_type.len() + 1 + config.data.len());
        body.extend_from_slice(config.content_type.as_bytes());
        body.push(b'\n');
        body.extend_from_slice(&config.data);
        let (b, k) = (self.bucket.clone(), key.clone());
        let created = self
            .bucket
            .run(async move { b.create(&k, Bytes::from(body)).await })
            .await?;
        if created || self.read(key).await?.as_ref() == Some(&config) {
            Ok(())
        } else {
            Err(Error::Conflict(format!(
                "config {identifier:?} already exists with different content"
            )))
        }
    }

    async fn has(&self, identifier: &str) -> Result<bool> {
        let Ok(key) = Self::key(identifier) else {
            return Ok(false);
        };
        let b = self.bucket.clone();
        self.bucket
            .run(async move {
                match b.store().head(&key).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(b.error("looking up a config", &e)),
                }
            })
            .await
    }

    async fn get(&self, identifier: &str) -> Result<Option<StoredConfig>> {
        let Ok(key) = Self::key(identifier) else {
            return Ok(None);
        };
        self.read(key).await
    }

    async fn delete(&self, identifier: &str) -> Result<()> {
        let Ok(key) = Self::key(identifier) else {
            return Ok(());
        };
        let b = self.bucket.clone();
        self.bucket
            .run(async move { b.delete_key(&key).await })
            .await
    }
}
