//! Configurations as files in a directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use rta_core::media::{CONFIG_FFC, CONFIG_JSON};
use rta_core::service::{ConfigStore, StoredConfig};
use rta_core::{Error, Result};

use super::{blocking, fsutil};

/// Stores each configuration as one file named after its identifier:
/// `<name>.json` for `application/vnd.mat.config+json` and `<name>.ffc` for
/// `application/vnd.mat.config+ffc`, where `<name>` is the identifier with
/// unsafe characters escaped.
///
/// The first write of an identifier wins: writing the same bytes again is a
/// no-op, writing anything else is [`Error::Conflict`]. JSON configurations
/// are validated before they are stored; FFC is stored as given.
///
/// ```
/// use rta_adapters::stores::FileConfigStore;
/// use rta_core::service::{ConfigStore, StoredConfig};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = FileConfigStore::open(dir.path()).unwrap();
/// let cfg = StoredConfig {
///     content_type: "application/vnd.mat.config+json".into(),
///     data: r#"{"demo": {"channels": [{"id": 1}]}}"#.into(),
/// };
/// store.put("cfg-1", cfg.clone()).await.unwrap();
/// store.put("cfg-1", cfg.clone()).await.unwrap(); // same content: fine
/// assert_eq!(store.get("cfg-1").await.unwrap(), Some(cfg));
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct FileConfigStore {
    dir: Arc<PathBuf>,
    /// Serialises puts within the process, so a JSON and an FFC put of the
    /// same identifier cannot both win.
    put_lock: Arc<Mutex<()>>,
}

const EXT_JSON: &str = "json";
const EXT_FFC: &str = "ffc";

impl FileConfigStore {
    /// Opens (creating if needed) a store in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> crate::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)?;
        fsutil::clean_temp(&dir);
        Ok(FileConfigStore {
            dir: Arc::new(dir),
            put_lock: Arc::new(Mutex::new(())),
        })
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
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

    fn path(dir: &Path, name: &str, ext: &str) -> PathBuf {
        dir.join(format!("{name}.{ext}"))
    }

    /// The existing file of an identifier and its media type.
    fn find(dir: &Path, name: &str) -> Option<(PathBuf, &'static str)> {
        [(EXT_JSON, CONFIG_JSON), (EXT_FFC, CONFIG_FFC)]
            .into_iter()
            .map(|(ext, media)| (Self::path(dir, name, ext), media))
            .find(|(p, _)| p.is_file())
    }
}

/// Checks a configuration before it is stored.
pub(crate) fn validate(config: &StoredConfig) -> Result<&'static str> {
    match config.content_type.as_str() {
        CONFIG_JSON => {
            validate_json(&config.data)?;
            Ok(EXT_JSON)
        }
        CONFIG_FFC => {
            if config.data.is_empty() {
                return Err(Error::Config("FFC configuration is empty".into()));
            }
            Ok(EXT_FFC)
        }
        other => Err(Error::InvalidArgument(format!(
            "unsupported config content type {other:?} (expected {CONFIG_JSON} or {CONFIG_FFC})"
        ))),
    }
}

/// JSON configurations must parse and pass [`rta_core::config::Config::validate`].
fn validate_json(data: &[u8]) -> Result<()> {
    rta_core::config::Config::from_slice(data).map(|_| ())
}

#[async_trait]
impl ConfigStore for FileConfigStore {
    async fn put(&self, identifier: &str, config: StoredConfig) -> Result<()> {
        let name = fsutil::encode_name("config identifier", identifier)?;
        let ext = validate(&config)?;
        let dir = self.dir.clone();
        let lock = self.put_lock.clone();
        let identifier = identifier.to_string();
        blocking(move || {
            let _guard = lock
                .lock()
                .map_err(|_| Error::Internal("config store lock poisoned".into()))?;
            let conflict = || {
                Error::Conflict(format!(
                    "config {identifier:?} already exists with different content"
                ))
            };
            if let Some((path, media)) = Self::find(&dir, &name) {
                return if media == config.content_type && std::fs::read(&path)? == config.data {
                    Ok(())
                } else {
                    Err(conflict())
                };
            }
            let path = Self::path(&dir, &name, ext);
            if fsutil::create_file(&dir, &path, &config.data)?
                || std::fs::read(&path)? == config.data
            {
                Ok(())
            } else {
                Err(conflict())
            }
        })
        .await
    }

    async fn has(&self, identifier: &str) -> Result<bool> {
        let Ok(name) = fsutil::encode_name("config identifier", identifier) else {
            return Ok(false);
        };
        let dir = self.dir.clone();
        blocking(move || Ok(Self::find(&dir, &name).is_some())).await
    }

    async fn get(&self, identifier: &str) -> Result<Option<StoredConfig>> {
        let Ok(name) = fsutil::encode_name("config identifier", identifier) else {
            return Ok(None);
        };
        let dir = self.dir.clone();
        blocking(move || {
            let Some((path, media)) = Self::find(&dir, &name) else {
                return Ok(None);
            };
            match std::fs::read(&path) {
                Ok(data) => Ok(Some(StoredConfig {
                    content_type: media.to_string(),
                    data: Bytes::from(data),
                })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn delete(&self, identifier: &str) -> Result<()> {
        let Ok(name) = fsutil::encode_name("config identifier", identifier) else {
            return Ok(());
        };
        let dir = self.dir.clone();
        blocking(move || {
            for ext in [EXT_JSON, EXT_FFC] {
                match std::fs::remove_file(Self::path(&dir, &name, ext)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> StoredConfig {
        StoredConfig {
            content_type: CONFIG_JSON.into(),
            data: Bytes::copy_from_slice(s.as_bytes()),
        }
    }

    #[tokio::test]
    async fn first_write_wins_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileConfigStore::open(dir.path()).unwrap();
        store.put("A/b", json("{}")).await.unwrap();
        store.put("A/b", json("{}")).await.unwrap();
        let err = store.put("A/b", json(r#"{"x":{}}"#)).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        let ffc = StoredConfig {
            content_type: CONFIG_FFC.into(),
            data: Bytes::from_static(b"{}"),
        };
        assert!(matches!(
            store.put("A/b", ffc.clone()).await,
            Err(Error::Conflict(_))
        ));
        store.put("f", ffc.clone()).await.unwrap();

        let again = FileConfigStore::open(dir.path()).unwrap();
        assert_eq!(again.get("A/b").await.unwrap(), Some(json("{}")));
        assert_eq!(again.get("f").await.unwrap(), Some(ffc));
        assert!(again.has("f").await.unwrap());
        assert!(!again.has("a/b").await.unwrap());
        again.delete("f").await.unwrap();
        again.delete("f").await.unwrap();
        assert_eq!(again.get("f").await.unwrap(), None);
        again.check().await.unwrap();
    }

    #[tokio::test]
    async fn bad_input_is_rejected_and_nothing_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileConfigStore::open(dir.path()).unwrap();
        for (id, cfg) in [
            ("x", json("{not json")),
            ("x", json("[1,2]")),
            (
                "x",
                json(
                    r#"{"app": {"parameters": [{"id": "p", "name": "p", "desc": "d", "channels": [9]}]}}"#,
                ),
            ),
            ("", json("{}")),
            (
                "x",
                StoredConfig {
                    content_type: "text/plain".into(),
                    data: Bytes::from_static(b"{}"),
                },
            ),
        ] {
            let err = store.put(id, cfg).await.unwrap_err();
            assert!(err.is_client_error(), "{err}");
        }
        assert!(!store.has("x").await.unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
