//! Schema mappings on an object store.

use async_trait::async_trait;
use bytes::Bytes;
use object_store::path::Path;
use object_store::PutPayload;
use prost::Message;
use rta_core::proto::schema_mapping_service::SchemaMapping;
use rta_core::service::SchemaMappingStore;
use rta_core::{Error, Result};

use super::Bucket;
use crate::stores::fsutil::encode_name;

/// Schema mappings on an object store: one object per source and identity,
/// `schema-mappings/<source>/<identity>.pb` (names escaped as by
/// [`FileSchemaMappingStore`](crate::stores::FileSchemaMappingStore)),
/// holding the protobuf encoding of `SchemaMapping`. A put replaces the
/// object (one request, atomic), as the file store replaces its file.
///
/// ```no_run
/// use rta_adapters::s3::{Bucket, S3SchemaMappingStore};
/// use rta_core::proto::schema_mapping_service::SchemaMapping;
/// use rta_core::service::SchemaMappingStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = S3SchemaMappingStore::new(Bucket::from_env("rta-configs").unwrap());
/// store.put("influx", "car1", SchemaMapping::default()).await.unwrap();
/// assert!(store.has("influx", "car1").await.unwrap());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct S3SchemaMappingStore {
    bucket: Bucket,
}

impl S3SchemaMappingStore {
    /// A store on `bucket`.
    pub fn new(bucket: Bucket) -> Self {
        Self { bucket }
    }

    /// Checks that the bucket answers (for `/health`).
    pub async fn check(&self) -> Result<()> {
        self.bucket.check().await
    }

    fn key(source: &str, identity: &str) -> Result<Path> {
        let s = encode_name("data source", source)?;
        let i = encode_name("data identity", identity)?;
        Ok(Path::from(format!("schema-mappings/{s}/{i}.pb")))
    }
}

#[async_trait]
impl SchemaMappingStore for S3SchemaMappingStore {
    async fn put(&self, source: &str, identity: &str, mapping: SchemaMapping) -> Result<()> {
        let key = Self::key(source, identity)?;
        let b = self.bucket.clone();
        let body = PutPayload::from_bytes(Bytes::from(mapping.encode_to_vec()));
        self.bucket
            .run(async move {
                b.store()
                    .put(&key, body)
                    .await
                    .map(|_| ())
                    .map_err(|e| b.error("storing a schema mapping", &e))
            })
            .await
    }

    async fn get(&self, source: &str, identity: &str) -> Result<Option<SchemaMapping>> {
        let Ok(key) = Self::key(source, identity) else {
            return Ok(None);
        };
        let b = self.bucket.clone();
        let (k, raw) = (
            key.clone(),
            self.bucket
                .run(async move { b.get_opt(&key).await })
                .await?,
        );
        raw.map(|bytes| {
            SchemaMapping::decode(bytes)
                .map_err(|e| Error::Internal(format!("corrupt schema mapping {k}: {e}")))
        })
        .transpose()
    }

    async fn delete(&self, source: &str, identity: &str) -> Result<()> {
        let Ok(key) = Self::key(source, identity) else {
            return Ok(());
        };
        let b = self.bucket.clone();
        self.bucket
            .run(async move { b.delete_key(&key).await })
            .await
    }

    async fn has(&self, source: &str, identity: &str) -> Result<bool> {
        let Ok(key) = Self::key(source, identity) else {
            return Ok(false);
        };
        let b = self.bucket.clone();
        self.bucket
            .run(async move {
                match b.store().head(&key).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(b.error("looking up a schema mapping", &e)),
                }
            })
            .await
    }
}
