//! Schema mappings read from a Schema Mapping Service over gRPC.

use std::time::Duration;

use async_trait::async_trait;
use rta_adapters::kit::MappingResolver;
use rta_core::channels::ChannelExpr;
use rta_core::proto::schema_mapping_service as pb;
use rta_core::proto::schema_mapping_service::schema_mapping_store_client::SchemaMappingStoreClient;
use rta_core::service::Authorization;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::{Error, Result};

/// A [`MappingResolver`] calling `QuerySchemaMapping` of a Schema Mapping
/// Service for one data source, with the client's bearer token.
///
/// `NOT_FOUND` is "no mapping"; a service that cannot be reached is
/// `rta_core::Error::Unavailable` (503), any other failure
/// `rta_core::Error::Upstream` (502).
///
/// ```
/// use rta_service::schema_mappings::GrpcMappings;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // Connections are made on first use.
/// let m = GrpcMappings::connect("http://127.0.0.1:2682/", "rta-influxdatasvc").unwrap();
/// assert_eq!(m.data_source(), "rta-influxdatasvc");
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct GrpcMappings {
    client: SchemaMappingStoreClient<Channel>,
    data_source: String,
    uri: String,
}

impl GrpcMappings {
    /// Mappings of `data_source` at `uri` (`http://` or `https://` with the
    /// system roots). Must be called inside a Tokio runtime.
    pub fn connect(uri: &str, data_source: impl Into<String>) -> Result<Self> {
        let bad = |e: &dyn std::fmt::Display| {
            Error::option("SchemaMappingGrpcUri", format!("{uri:?}: {e}"))
        };
        let mut ep = Endpoint::from_shared(uri.to_string())
            .map_err(|e| bad(&e))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if uri.starts_with("https://") {
            ep = ep
                .tls_config(ClientTlsConfig::new().with_enabled_roots())
                .map_err(|e| bad(&e))?;
        }
        Ok(GrpcMappings {
            client: SchemaMappingStoreClient::new(ep.connect_lazy()),
            data_source: data_source.into(),
            uri: uri.to_string(),
        })
    }

    /// The data source mappings are looked up in.
    pub fn data_source(&self) -> &str {
        &self.data_source
    }

    /// Checks that the service answers (for `/health`): any gRPC answer,
    /// `NOT_FOUND` included, means it is up.
    pub async fn check(&self) -> rta_core::Result<()> {
        let req = pb::HasSchemaMappingRequest {
            data_source: self.data_source.clone(),
            data_identity: "health-check".into(),
        };
        match self.client.clone().has_schema_mapping(req).await {
            Ok(_) => Ok(()),
            Err(s) if s.code() == tonic::Code::Unavailable || s.code() == tonic::Code::Unknown => {
                Err(self.unreachable(&s))
            }
            // Unauthenticated and the like: it answered.
            Err(_) => Ok(()),
        }
    }

    fn unreachable(&self, s: &tonic::Status) -> rta_core::Error {
        rta_core::Error::Unavailable(format!(
            "Schema Mapping Service at {} is unreachable: {}",
            self.uri,
            s.message()
        ))
    }
}

#[async_trait]
impl MappingResolver for GrpcMappings {
    async fn resolve(
        &self,
        identity: &str,
        channels: Option<&ChannelExpr>,
        events: bool,
        authorization: &Authorization,
    ) -> rta_core::Result<Option<pb::SchemaMapping>> {
        let select_channels = match channels {
            Some(c) if c.is_empty() => return Ok(None),
            Some(c) => c.to_string(),
            None => String::new(),
        };
        let mut req = tonic::Request::new(pb::QuerySchemaMappingRequest {
            data_source: self.data_source.clone(),
            data_identity: identity.to_string(),
            select_channels,
            select_events: events,
        });
        if let Some(v) = authorization.value() {
            if let Ok(v) = v.parse() {
                req.metadata_mut().insert("authorization", v);
            }
        }
        match self.client.clone().query_schema_mapping(req).await {
            Ok(r) => {
                let mut m = r.into_inner();
                if channels.is_none() {
                    m.field_mappings.clear();
                }
                Ok(Some(m))
            }
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) if s.code() == tonic::Code::Unavailable => Err(self.unreachable(&s)),
            Err(s) => Err(rta_core::Error::Upstream(format!(
                "Schema Mapping Service at {}: {:?}: {}",
                self.uri,
                s.code(),
                s.message()
            ))),
        }
    }
}
