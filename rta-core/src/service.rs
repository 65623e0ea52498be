//! Service traits: the [`DataService`] that data adapters implement, and the
//! stores behind the session, config and schema-mapping services.
//!
//! Implement [`DataService`] to serve your own file format or database to
//! ATLAS; everything else (REST, gRPC, bindings, chunk framing) is built on it.
//!
//! ```
//! use futures::StreamExt;
//! use rta_core::chunk::{Chunk, Compression};
//! use rta_core::data::periodic;
//! use rta_core::proto::data::PeriodicDataList;
//! use rta_core::service::{ChunkStream, DataRequest, DataService};
//!
//! /// Serves one second of a constant 1 kHz channel 0 for any identity.
//! struct Constant;
//!
//! #[async_trait::async_trait]
//! impl DataService for Constant {
//!     async fn read(&self, req: DataRequest) -> rta_core::Result<ChunkStream> {
//!         let list = PeriodicDataList { periodic_data: vec![periodic(0, 0, 1_000_000, &[1.5f64; 1000])?] };
//!         let chunks: Vec<_> = match req.channels {
//!             Some(c) if c.contains(0) => Chunk::from_list(&list, Compression::Lz4)?.into_iter().collect(),
//!             _ => Vec::new(),
//!         };
//!         Ok(futures::stream::iter(chunks.into_iter().map(Ok)).boxed())
//!     }
//! }
//! # futures::executor::block_on(async {
//! let req = DataRequest::channels(rta_core::data::DataKind::Periodic, "s1", "0-3".parse().unwrap());
//! let chunks: Vec<_> = Constant.read(req).await.unwrap().collect().await;
//! assert_eq!(chunks.len(), 1);
//! # });
//! ```

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::channels::ChannelExpr;
use crate::chunk::Chunk;
use crate::data::DataKind;
use crate::proto::schema_mapping_service::SchemaMapping;
use crate::proto::session_service as ss;
use crate::Result;

/// A stream of chunks, in time order per channel.
pub type ChunkStream = BoxStream<'static, Result<Chunk>>;

/// A request for data of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRequest {
    /// Data kind.
    pub kind: DataKind,
    /// The data identity (in the RTA Server, the session identity).
    pub data_identity: String,
    /// Channels for channel-based kinds; `None` for events.
    pub channels: Option<ChannelExpr>,
    /// Inclusive start (ns since the Unix epoch); the response may start earlier.
    pub start: Option<i64>,
    /// Inclusive end (ns since the Unix epoch); the response may end later.
    pub end: Option<i64>,
    /// The credentials the client sent, for services that call others on
    /// its behalf (a gateway passes them to every data service).
    pub authorization: Authorization,
}

/// The `Authorization` header value a request arrived with. Its `Debug`
/// form never shows the value, so requests can be logged.
///
/// ```
/// use rta_core::service::Authorization;
/// let a = Authorization::new("Bearer secret-token");
/// assert_eq!(a.value(), Some("Bearer secret-token"));
/// assert!(!format!("{a:?}").contains("secret"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Authorization(Option<std::sync::Arc<str>>);

impl Authorization {
    /// Credentials with the given header value.
    pub fn new(value: impl Into<std::sync::Arc<str>>) -> Self {
        Self(Some(value.into()))
    }

    /// The header value, if the client sent one.
    pub fn value(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Authorization(redacted)"),
            None => f.write_str("Authorization(none)"),
        }
    }
}

impl DataRequest {
    /// A channel-data request without time bounds.
    pub fn channels(kind: DataKind, identity: impl Into<String>, channels: ChannelExpr) -> Self {
        Self {
            kind,
            data_identity: identity.into(),
            channels: Some(channels),
            start: None,
            end: None,
            authorization: Authorization::default(),
        }
    }

    /// An events request without time bounds.
    pub fn events(identity: impl Into<String>) -> Self {
        Self {
            kind: DataKind::Events,
            data_identity: identity.into(),
            channels: None,
            start: None,
            end: None,
            authorization: Authorization::default(),
        }
    }

    /// Sets the credentials to pass on.
    pub fn with_authorization(mut self, authorization: Authorization) -> Self {
        self.authorization = authorization;
        self
    }

    /// Sets the time bounds.
    pub fn with_bounds(mut self, start: Option<i64>, end: Option<i64>) -> Self {
        self.start = start;
        self.end = end;
        self
    }

    /// Checks the request: bounds ordered, channels present exactly for channel kinds.
    pub fn validate(&self) -> Result<()> {
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if s > e {
                return Err(crate::Error::InvalidArgument(format!(
                    "start {s} is after end {e}"
                )));
            }
        }
        if self.kind.has_channels() && self.channels.is_none() {
            return Err(crate::Error::InvalidArgument(format!(
                "{} data needs a channel expression",
                self.kind.path_segment()
            )));
        }
        Ok(())
    }
}

/// A source of chunked data: the trait a custom data adapter implements.
///
/// Responses must keep to the spec's chunk constraints: time order per
/// channel, size limits, and, once a session is closed, stable boundaries
/// with no overlaps. Requests may be widened to chunk boundaries.
#[async_trait]
pub trait DataService: Send + Sync + 'static {
    /// Reads data of any kind as a stream of chunks.
    async fn read(&self, req: DataRequest) -> Result<ChunkStream>;

    /// Reads timestamped data.
    async fn timestamped_data(
        &self,
        identity: &str,
        channels: ChannelExpr,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<ChunkStream> {
        self.read(
            DataRequest::channels(DataKind::Timestamped, identity, channels)
                .with_bounds(start, end),
        )
        .await
    }

    /// Reads periodic data.
    async fn periodic_data(
        &self,
        identity: &str,
        channels: ChannelExpr,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<ChunkStream> {
        self.read(
            DataRequest::channels(DataKind::Periodic, identity, channels).with_bounds(start, end),
        )
        .await
    }

    /// Reads row data.
    async fn row_data(
        &self,
        identity: &str,
        channels: ChannelExpr,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<ChunkStream> {
        self.read(DataRequest::channels(DataKind::Row, identity, channels).with_bounds(start, end))
            .await
    }

    /// Reads events.
    async fn events(
        &self,
        identity: &str,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<ChunkStream> {
        self.read(DataRequest::events(identity).with_bounds(start, end))
            .await
    }
}

#[async_trait]
impl<T: DataService + ?Sized> DataService for std::sync::Arc<T> {
    async fn read(&self, req: DataRequest) -> Result<ChunkStream> {
        (**self).read(req).await
    }
}

/// A stored configuration: its media type and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConfig {
    /// `application/vnd.mat.config+json` or `application/vnd.mat.config+ffc`.
    pub content_type: String,
    /// The configuration as published.
    pub data: Bytes,
}

impl StoredConfig {
    /// A configuration as JSON (`application/vnd.mat.config+json`).
    ///
    /// ```
    /// use rta_core::config::{ChannelDataType, Config, ParameterSpec};
    /// use rta_core::service::StoredConfig;
    ///
    /// let config = Config::builder("app")
    ///     .parameter(ParameterSpec::new("vCar", ChannelDataType::F64).timestamped())
    ///     .build()?;
    /// let stored = StoredConfig::json(&config);
    /// assert_eq!(stored.content_type, rta_core::media::CONFIG_JSON);
    /// assert_eq!(Config::from_json(std::str::from_utf8(&stored.data)?)?, config);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn json(config: &crate::config::Config) -> Self {
        StoredConfig {
            content_type: crate::media::CONFIG_JSON.to_string(),
            data: Bytes::from(config.to_json()),
        }
    }

    /// The `ConfigStore` gRPC request publishing this config as `identifier`.
    pub fn put_request(
        self,
        identifier: impl Into<String>,
    ) -> crate::proto::config_service::PutConfigRequest {
        crate::proto::config_service::PutConfigRequest {
            identifier: identifier.into(),
            content_type: self.content_type,
            data: self.data,
        }
    }
}

/// Storage of configurations keyed by identifier. The first write of an
/// identifier wins: writing different content again is [`crate::Error::Conflict`],
/// writing the same content is a no-op.
#[async_trait]
pub trait ConfigStore: Send + Sync + 'static {
    /// Stores a config unless the identifier already has one.
    async fn put(&self, identifier: &str, config: StoredConfig) -> Result<()>;
    /// Whether the identifier has a config.
    async fn has(&self, identifier: &str) -> Result<bool>;
    /// The config of an identifier, if any.
    async fn get(&self, identifier: &str) -> Result<Option<StoredConfig>>;
    /// Deletes a config; succeeds when absent.
    async fn delete(&self, identifier: &str) -> Result<()>;
}

/// Storage of schema mappings keyed by data source and data identity.
#[async_trait]
pub trait SchemaMappingStore: Send + Sync + 'static {
    /// Creates or replaces a mapping.
    async fn put(&self, source: &str, identity: &str, mapping: SchemaMapping) -> Result<()>;
    /// The mapping, if any.
    async fn get(&self, source: &str, identity: &str) -> Result<Option<SchemaMapping>>;
    /// Deletes a mapping; succeeds when absent.
    async fn delete(&self, source: &str, identity: &str) -> Result<()>;
    /// Whether a mapping exists.
    async fn has(&self, source: &str, identity: &str) -> Result<bool> {
        Ok(self.get(source, identity).await?.is_some())
    }
}

/// Storage behind the Session Service. Requests and results use the
/// messages of the `SessionStore` gRPC contract, so the gRPC service is a
/// thin layer and the REST API renders the same data as JSON.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Creates the session if needed, then applies the updates atomically, in order.
    async fn create_or_update(&self, req: ss::CreateOrUpdateSessionRequest) -> Result<()>;
    /// [`create_or_update`](Self::create_or_update), also telling the
    /// session's state once the request is applied, when the store knows it
    /// without another read; `None` means unknown (read the session to find
    /// out). Layers that follow state changes use it to skip that read.
    async fn create_or_update_state(
        &self,
        req: ss::CreateOrUpdateSessionRequest,
    ) -> Result<Option<crate::session::SessionState>> {
        self.create_or_update(req).await.map(|()| None)
    }
    /// One session with the selected elements, or `None`.
    async fn get(
        &self,
        identity: &str,
        elements: &ss::SessionElements,
    ) -> Result<Option<ss::Session>>;
    /// Sessions matching a query, sorted and paged.
    async fn list(&self, req: &ss::ListSessionsRequest) -> Result<Vec<ss::Session>>;
    /// Deletes sessions; unknown identities are ignored.
    async fn delete(&self, identities: &[String]) -> Result<()>;
    /// Child folders of a folder (`""` is the root).
    async fn folders(&self, parent: &str) -> Result<Vec<ss::SessionFolder>>;
    /// Creates or updates (moves) a folder.
    async fn put_folder(&self, req: ss::PutSessionFolderRequest) -> Result<()>;
    /// Deletes folders and their subtrees; orphaned sessions are linked to the root.
    async fn delete_folders(&self, identities: &[String]) -> Result<()>;
    /// The metamodel JSON over the sessions in a folder subtree.
    async fn metamodel(
        &self,
        folder_subtree: &str,
        json_properties: &[String],
    ) -> Result<serde_json::Value>;
    /// Properties whose id contains `partial_match`, over a folder subtree.
    async fn query_properties(
        &self,
        partial_match: &str,
        folder_subtree: &str,
    ) -> Result<Vec<ss::PropertySummary>>;
}
/// Tells the data API whether an identity exists, so unknown sessions get
/// `404 Not Found` instead of an empty `200` (the RTA Server plugs in its
/// session store).
#[async_trait]
pub trait IdentityCheck: Send + Sync + 'static {
    /// Whether the identity is known.
    async fn exists(&self, identity: &str) -> Result<bool>;
}

/// The part of a mapping selected by a channel expression (`None` selects
/// no field mappings) and, if `events`, its event mappings.
///
/// ```
/// use rta_core::service::select_mapping;
/// use rta_core::proto::schema_mapping_service::{EventMapping, FieldMapping, SchemaMapping};
///
/// let field = |c| FieldMapping { target_channel: c, ..Default::default() };
/// let m = SchemaMapping {
///     field_mappings: vec![field(1), field(0xB), field(0x20)],
///     event_mappings: vec![EventMapping::default()],
///     ..Default::default()
/// };
/// let sel = select_mapping(&m, Some(&"A-1F".parse().unwrap()), false);
/// assert_eq!(sel.field_mappings, vec![field(0xB)]);
/// assert!(sel.event_mappings.is_empty());
/// ```
pub fn select_mapping(
    mapping: &SchemaMapping,
    channels: Option<&ChannelExpr>,
    events: bool,
) -> SchemaMapping {
    SchemaMapping {
        properties: mapping.properties.clone(),
        field_mappings: match channels {
            Some(expr) => mapping
                .field_mappings
                .iter()
                .filter(|f| expr.contains(f.target_channel))
                .cloned()
                .collect(),
            None => Vec::new(),
        },
        event_mappings: if events {
            mapping.event_mappings.clone()
        } else {
            Vec::new()
        },
    }
}
