//! Schema mappings as protobuf files in a directory tree.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use prost::Message;
use rta_core::proto::schema_mapping_service::SchemaMapping;
use rta_core::service::SchemaMappingStore;
use rta_core::{Error, Result};

use super::{blocking, fsutil};

/// Stores each mapping as `<dir>/<source>/<identity>.pb` (the protobuf
/// encoding of `SchemaMapping`, names escaped). A put replaces the file
/// atomically.
///
/// ```
/// use rta_adapters::stores::FileSchemaMappingStore;
/// use rta_core::proto::schema_mapping_service::{FieldMapping, SchemaMapping};
/// use rta_core::service::SchemaMappingStore;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = FileSchemaMappingStore::open(dir.path()).unwrap();
/// let m = SchemaMapping {
///     field_mappings: vec![FieldMapping { source_field: "rpm".into(), target_channel: 3, ..Default::default() }],
///     ..Default::default()
/// };
/// store.put("influx", "car1", m.clone()).await.unwrap();
/// assert_eq!(store.get("influx", "car1").await.unwrap(), Some(m));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct FileSchemaMappingStore {
    dir: Arc<PathBuf>,
}

impl FileSchemaMappingStore {
    /// Opens (creating if needed) a store in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> crate::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        Ok(FileSchemaMappingStore { dir: Arc::new(dir) })
    }

    /// Checks that the directory is readable and writable (for `/health`).
    pub async fn check(&self) -> Result<()> {
        let dir = self.dir.clone();
        blocking(move || {
            let tmp = fsutil::write_temp(&dir, b"health")?;
            std::fs::remove_file(tmp)?;
            Ok(())
        })
        .await
    }

    fn paths(&self, source: &str, identity: &str) -> Result<(PathBuf, PathBuf)> {
        let s = fsutil::encode_name("data source", source)?;
        let i = fsutil::encode_name("data identity", identity)?;
        let dir = self.dir.join(s);
        let file = dir.join(format!("{i}.pb"));
        Ok((dir, file))
    }
}

#[async_trait]
impl SchemaMappingStore for FileSchemaMappingStore {
    async fn put(&self, source: &str, identity: &str, mapping: SchemaMapping) -> Result<()> {
        let (dir, file) = self.paths(source, identity)?;
        blocking(move || {
            std::fs::create_dir_all(&dir)?;
            fsutil::replace_file(&dir, &file, &mapping.encode_to_vec())
        })
        .await
    }

    async fn get(&self, source: &str, identity: &str) -> Result<Option<SchemaMapping>> {
        let Ok((_, file)) = self.paths(source, identity) else {
            return Ok(None);
        };
        blocking(move || match std::fs::read(&file) {
            Ok(bytes) => SchemaMapping::decode(bytes.as_slice())
                .map(Some)
                .map_err(|e| {
                    Error::Internal(format!("corrupt schema mapping {}: {e}", file.display()))
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        })
        .await
    }

    async fn delete(&self, source: &str, identity: &str) -> Result<()> {
        let Ok((dir, file)) = self.paths(source, identity) else {
            return Ok(());
        };
        blocking(move || {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            // Drop the source directory once it is empty (fails harmlessly otherwise).
            let _ = std::fs::remove_dir(&dir);
            Ok(())
        })
        .await
    }

    async fn has(&self, source: &str, identity: &str) -> Result<bool> {
        let Ok((_, file)) = self.paths(source, identity) else {
            return Ok(false);
        };
        blocking(move || Ok(file.is_file())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rta_core::proto::schema_mapping_service::FieldMapping;

    #[tokio::test]
    async fn upsert_get_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileSchemaMappingStore::open(dir.path()).unwrap();
        let mut m = SchemaMapping::default();
        m.properties.insert("table".into(), "t".into());
        store.put("src/x", "id.1", m.clone()).await.unwrap();
        m.field_mappings.push(FieldMapping {
            source_field: "a".into(),
            target_channel: 2,
            ..Default::default()
        });
        store.put("src/x", "id.1", m.clone()).await.unwrap();
        assert_eq!(store.get("src/x", "id.1").await.unwrap(), Some(m));
        assert!(store.has("src/x", "id.1").await.unwrap());
        assert!(!store.has("src/x", "id.2").await.unwrap());
        store.delete("src/x", "id.1").await.unwrap();
        store.delete("src/x", "id.1").await.unwrap();
        assert_eq!(store.get("src/x", "id.1").await.unwrap(), None);
        assert!(store.put("", "a", SchemaMapping::default()).await.is_err());
        store.check().await.unwrap();
    }
}
