//! [`RtaClient`]: one handle on the session, config, schema-mapping and data
//! services, and its [`ClientBuilder`].

use std::path::PathBuf;
use std::time::Duration;

use rta_core::config::Config;
use rta_core::proto::config_service::{
    config_store_client::ConfigStoreClient, GetConfigRequest, GetConfigResponse,
};
use rta_core::proto::data_service::data_writer_client::DataWriterClient;
use rta_core::proto::schema_mapping_service::schema_mapping_store_client::SchemaMappingStoreClient;
use rta_core::proto::session_service::{
    self as ss, session_store_client::SessionStoreClient, SessionElements,
};
use rta_core::service::StoredConfig;
use rta_core::session_request::SessionRequest;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use crate::auth::{Bearer, Grpc, Token};
use crate::reader::RestReader;
use crate::writer::{DataWriter, WriterOptions};
use crate::{Error, Result};

/// Builds an [`RtaClient`]: the gRPC URL of an `rta-server` (or of each
/// service), the REST URL, TLS, token and timeouts.
///
/// ```
/// use std::time::Duration;
/// let builder = rta_client::RtaClient::builder("https://rta.example.com:8082")
///     .rest("https://rta.example.com:8081")
///     .sessions("https://sessions.example.com:2652")
///     .ca_file("/etc/rta/ca.pem")
///     .timeout(Duration::from_secs(10));
/// # drop(builder);
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    grpc: String,
    sessions: Option<String>,
    configs: Option<String>,
    schema_mappings: Option<String>,
    data: Option<String>,
    rest: Option<String>,
    ca_file: Option<PathBuf>,
    token: Token,
    timeout: Duration,
    connect_timeout: Duration,
}

impl ClientBuilder {
    /// The session service's gRPC URL, when it is not the default one.
    pub fn sessions(mut self, url: impl Into<String>) -> Self {
        self.sessions = Some(url.into());
        self
    }

    /// The config service's gRPC URL, when it is not the default one.
    pub fn configs(mut self, url: impl Into<String>) -> Self {
        self.configs = Some(url.into());
        self
    }

    /// The schema mapping service's gRPC URL, when it is not the default one.
    pub fn schema_mappings(mut self, url: impl Into<String>) -> Self {
        self.schema_mappings = Some(url.into());
        self
    }

    /// The data service's gRPC URL (its `DataWriter`), when it is not the default one.
    pub fn data(mut self, url: impl Into<String>) -> Self {
        self.data = Some(url.into());
        self
    }

    /// The REST base URL (an `rta-server`'s HTTP port, or a gateway).
    pub fn rest(mut self, url: impl Into<String>) -> Self {
        self.rest = Some(url.into());
        self
    }

    /// A PEM file of CA certificates to trust, besides the system's roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// A fixed bearer token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Token::fixed(token);
        self
    }

    /// Where tokens come from (fixed, or a refreshing callback).
    pub fn token_source(mut self, token: Token) -> Self {
        self.token = token;
        self
    }

    /// Longest wait for one unary call or REST request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Longest wait for a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Builds the client. Connections are made on first use, so a service
    /// that is not used need not be up; a failed connection is reported by
    /// the call that needed it as [`Error::Unreachable`].
    pub async fn connect(self) -> Result<RtaClient> {
        let ca = match &self.ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|source| Error::Io {
                path: p.display().to_string(),
                source,
            })?),
            None => None,
        };
        let channel = |url: &Option<String>, streaming: bool| -> Result<(String, Grpc)> {
            let url = url.clone().unwrap_or_else(|| self.grpc.clone());
            let mut ep = Endpoint::from_shared(url.clone())
                .map_err(|e| Error::InvalidArgument(format!("gRPC URL {url:?}: {e}")))?
                .connect_timeout(self.connect_timeout);
            if !streaming {
                ep = ep.timeout(self.timeout);
            }
            if url.starts_with("https://") {
                let mut tls = ClientTlsConfig::new().with_enabled_roots();
                if let Some(pem) = &ca {
                    tls = tls.ca_certificate(Certificate::from_pem(pem));
                }
                ep = ep
                    .tls_config(tls)
                    .map_err(|e| Error::InvalidArgument(format!("TLS for {url}: {e}")))?;
            }
            let ch = ep.connect_lazy();
            Ok((url, InterceptedService::new(ch, Bearer(self.token.clone()))))
        };
        let sessions = channel(&self.sessions, false)?;
        let configs = channel(&self.configs, false)?;
        let schema_mappings = channel(&self.schema_mappings, false)?;
        let data = channel(&self.data, true)?;
        let rest = match &self.rest {
            Some(url) => Some(RestReader::new(
                url,
                ca.as_deref(),
                self.token.clone(),
                self.timeout,
                self.connect_timeout,
            )?),
            None => None,
        };
        Ok(RtaClient {
            sessions,
            configs,
            schema_mappings,
            data,
            rest,
        })
    }
}

/// One handle on an RTA deployment. Clone it freely: clones share the
/// connections.
#[derive(Debug, Clone)]
pub struct RtaClient {
    sessions: (String, Grpc),
    configs: (String, Grpc),
    schema_mappings: (String, Grpc),
    data: (String, Grpc),
    rest: Option<RestReader>,
}

impl RtaClient {
    /// A builder for a client of the services at `grpc_url` (every gRPC
    /// service on one URL, as `rta-server` serves them; override each with
    /// the builder's methods).
    pub fn builder(grpc_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            grpc: grpc_url.into(),
            sessions: None,
            configs: None,
            schema_mappings: None,
            data: None,
            rest: None,
            ca_file: None,
            token: Token::None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// The generated session service client (every RPC).
    pub fn session_store(&self) -> SessionStoreClient<Grpc> {
        SessionStoreClient::new(self.sessions.1.clone())
    }

    /// The generated config service client.
    pub fn config_store(&self) -> ConfigStoreClient<Grpc> {
        ConfigStoreClient::new(self.configs.1.clone())
    }

    /// The generated schema mapping service client.
    pub fn schema_mapping_store(&self) -> SchemaMappingStoreClient<Grpc> {
        SchemaMappingStoreClient::new(self.schema_mappings.1.clone())
    }

    /// The REST reader (needs [`ClientBuilder::rest`]).
    pub fn rest(&self) -> Result<&RestReader> {
        self.rest
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("no REST URL was given (--server)".into()))
    }

    /// Creates or updates a session; every op of the request is applied
    /// atomically by the service.
    pub async fn put_session(&self, request: SessionRequest) -> Result<()> {
        self.session_store()
            .create_or_update_session(request.build())
            .await
            .map_err(|s| Error::grpc(&self.sessions.0, s))?;
        Ok(())
    }

    /// One session with its JSON, folders and data bindings.
    pub async fn get_session(&self, identity: &str) -> Result<ss::Session> {
        let req = ss::GetSessionRequest {
            identity: identity.into(),
            elements: Some(all_elements()),
        };
        match self.session_store().get_session(req).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) if s.code() == tonic::Code::NotFound => {
                Err(Error::NotFound(format!("session {identity:?}")))
            }
            Err(s) => Err(Error::grpc(&self.sessions.0, s)),
        }
    }

    /// Every session that `query` (the REST query dialect as JSON, or "")
    /// selects, under `folder` (or everywhere for ""), newest first; pages
    /// are fetched as needed.
    pub async fn list_sessions(&self, query: &str, folder: &str) -> Result<Vec<ss::Session>> {
        const PAGE: i32 = 500;
        let mut out = Vec::new();
        for page_index in 0.. {
            let req = ss::ListSessionsRequest {
                query: query.into(),
                folder_subtree: folder.into(),
                sorts: Vec::new(),
                session_elements: Some(all_elements()),
                include_sub_sessions: false,
                page_index,
                page_size: PAGE,
            };
            let page = self
                .session_store()
                .list_sessions(req)
                .await
                .map_err(|s| Error::grpc(&self.sessions.0, s))?
                .into_inner()
                .sessions;
            let n = page.len();
            out.extend(page);
            if n < PAGE as usize {
                break;
            }
        }
        Ok(out)
    }

    /// Creates or renames a folder `identity` under `parent` ("" for the root).
    pub async fn put_folder(&self, parent: &str, identity: &str, label: &str) -> Result<()> {
        let req = ss::PutSessionFolderRequest {
            parent_identity: parent.into(),
            identity: identity.into(),
            label: label.into(),
            description: String::new(),
        };
        self.session_store()
            .put_session_folder(req)
            .await
            .map_err(|s| Error::grpc(&self.sessions.0, s))?;
        Ok(())
    }

    /// Publishes `config` as `identifier`. Returns `false` when a config of
    /// that identifier was already there (configs are immutable).
    pub async fn put_config(&self, identifier: &str, config: &Config) -> Result<bool> {
        self.put_stored_config(identifier, StoredConfig::json(config))
            .await
    }

    /// Publishes a config as given (JSON or FFC). Returns `false` when a
    /// config of that identifier was already there.
    pub async fn put_stored_config(&self, identifier: &str, config: StoredConfig) -> Result<bool> {
        match self
            .config_store()
            .put_config(config.put_request(identifier))
            .await
        {
            Ok(_) => Ok(true),
            Err(s) if s.code() == tonic::Code::AlreadyExists => Ok(false),
            Err(s) => Err(Error::grpc(&self.configs.0, s)),
        }
    }

    /// A published config: its media type and bytes.
    pub async fn get_config(&self, identifier: &str) -> Result<GetConfigResponse> {
        let req = GetConfigRequest {
            identifier: identifier.into(),
        };
        match self.config_store().get_config(req).await {
            Ok(r) => Ok(r.into_inner()),
            Err(s) if s.code() == tonic::Code::NotFound => {
                Err(Error::NotFound(format!("config {identifier:?}")))
            }
            Err(s) => Err(Error::grpc(&self.configs.0, s)),
        }
    }

    /// A writer of data to `identity` with the default options.
    pub async fn writer(&self, identity: &str) -> Result<DataWriter> {
        self.writer_with(identity, WriterOptions::default()).await
    }

    /// A writer of data to `identity`.
    pub async fn writer_with(&self, identity: &str, opts: WriterOptions) -> Result<DataWriter> {
        let client = DataWriterClient::new(self.data.1.clone());
        DataWriter::start(client, self.data.0.clone(), identity.to_string(), opts).await
    }
}

/// Every element of a session.
fn all_elements() -> SessionElements {
    SessionElements {
        json: true,
        json_properties: Vec::new(),
        heartbeat_utc: true,
        data_bindings: true,
        folders: true,
        refs: true,
    }
}
