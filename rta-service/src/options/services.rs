//! The options of each service binary as typed structs.
//!
//! Each struct declares its options (`parser()`, which gives `--help`) and
//! reads them into typed fields (`from_options`); `from_env` does both from
//! the process arguments and environment, warning about unknown `RTA_`
//! variables. The names, defaults and ports are the toolkit's.
//!
//! ```
//! use rta_service::options::{StoreService, StoreServiceOptions};
//!
//! let parser = StoreServiceOptions::parser(StoreService::Sessions);
//! let env = [("RTA_GRPCPORT".to_string(), "9652".to_string())];
//! let opts = StoreServiceOptions::from_parsed(parser.parse_from(["--init-store-and-exit"], env)?)?
//!     .expect("not --help");
//! assert_eq!((opts.service.http_port, opts.service.grpc_port), (2650, 9652));
//! assert!(opts.init_store_and_exit);
//! # Ok::<(), rta_service::Error>(())
//! ```

use std::time::Duration;

use rta_stream::keys::KeyLayout;
use rta_stream::redis_source::RedisSourceOptions;
use rta_stream::service::ServiceOptions as StreamOptions;
use rta_stream::trimmer::TrimmerOptions;

use super::names::{BIND, DATA_DIR, GRPC_PORT, HTTP_PORT};
use super::parser::{OptionsParser, Parsed};
use super::postgres::postgres_options;
use super::storage::{self, Storage};
use super::toolkit;
use super::values::{Options, ServiceOptions};
use crate::auth::AuthOptions;
use crate::{Error, Result};
use rta_adapters::stores::PostgresOptions;

const INIT_STORE_AND_EXIT: &str = "InitStoreAndExit";
const INIT_STORE: &str = "InitStore";
const REDIS: &str = "RedisConnectionString";
const REDIS_DB: &str = "RedisDb";
const INTERNAL_HTTP_PORT: &str = "InternalHttpPort";
const INTERNAL_BIND: &str = "InternalBind";

/// One of the three metadata services that keep a store under `DataDir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreService {
    /// `rta-sessionsvc`: HTTP 2650, gRPC 2652, `DataDir/sessions.sqlite`.
    Sessions,
    /// `rta-configsvc`: HTTP 2660, gRPC 2662, `DataDir/configs`.
    Configs,
    /// `rta-schemamappingsvc`: HTTP 2680, gRPC 2682, `DataDir/schema-mappings`.
    SchemaMappings,
}

impl StoreService {
    /// The program name (also the name in `/health` and `/metrics`).
    pub fn program(self) -> &'static str {
        match self {
            StoreService::Sessions => "rta-sessionsvc",
            StoreService::Configs => "rta-configsvc",
            StoreService::SchemaMappings => "rta-schemamappingsvc",
        }
    }

    /// The toolkit's default HTTP and gRPC ports.
    pub fn ports(self) -> (u16, u16) {
        match self {
            StoreService::Sessions => (2650, 2652),
            StoreService::Configs => (2660, 2662),
            StoreService::SchemaMappings => (2680, 2682),
        }
    }

    /// The toolkit's default HTTPS port (the schema-mapping service has
    /// none: TLS there is gRPC only).
    pub fn https_port(self) -> Option<u16> {
        match self {
            StoreService::Sessions => Some(2651),
            StoreService::Configs => Some(2661),
            StoreService::SchemaMappings => None,
        }
    }

    fn about(self) -> &'static str {
        match self {
            StoreService::Sessions => {
                "RTA Session Service: sessions in PostgreSQL (PostgresConnectionString) or SQLite (DataDir/sessions.sqlite), REST and gRPC"
            }
            StoreService::Configs => {
                "RTA Config Service: configurations as files in DataDir/configs, REST and gRPC"
            }
            StoreService::SchemaMappings => {
                "RTA Schema Mapping Service: mappings as files in DataDir/schema-mappings, gRPC"
            }
        }
    }

    /// The default `Label` of `/rta/v2/info`.
    fn label(self) -> &'static str {
        match self {
            StoreService::Sessions => "RTA Session Service",
            StoreService::Configs => "RTA Config Service",
            StoreService::SchemaMappings => "RTA Schema Mapping Service",
        }
    }
}

/// Options of the session, config and schema-mapping services.
#[derive(Debug, Clone)]
pub struct StoreServiceOptions {
    /// Ports, bind address and `DataDir`.
    pub service: ServiceOptions,
    /// `InitStoreAndExit`: create or upgrade the store, then exit.
    pub init_store_and_exit: bool,
    /// `FilePath` (`Store=File`), as given: see [`Self::store_dir`].
    pub file_path: Option<std::path::PathBuf>,
    /// `InternalBind` and `InternalHttpPort` (session service only): serve
    /// the private data-bindings route there instead of on `HttpPort`.
    pub internal_http: Option<std::net::SocketAddr>,
    /// `EnableAuth` and `Auth:*`: bearer tokens, when required.
    pub auth: Option<AuthOptions>,
    /// `PostgresConnectionString`, `PostgresSchema`,
    /// `PostgresConnectionTimeout` (session service only): sessions in
    /// PostgreSQL instead of SQLite.
    pub postgres: Option<PostgresOptions>,
    /// `Store` (`File` | `Aws`) and `AwsS3Bucket` of the config and
    /// schema-mapping services (`File` holds `DataDir`: the binaries keep
    /// their files in `DataDir/configs` and `DataDir/schema-mappings`);
    /// `None` for the session service.
    pub storage: Option<Storage>,
    /// The merged values (for `monitor::ServiceInfo::from_options`).
    pub raw: Options,
}

impl StoreServiceOptions {
    /// The options `service` declares.
    pub fn parser(service: StoreService) -> OptionsParser {
        let (http, grpc) = service.ports();
        let parser = OptionsParser::service(service.program(), service.about(), http, grpc)
            .listener_options(service.https_port())
            .auth_options()
            .switch(
                INIT_STORE_AND_EXIT,
                "Create or upgrade the store, then exit",
            );
        // `Store`, `AwsS3Bucket` and `FilePath`.
        let store =
            |parser, default| toolkit::file_path_option(storage::declare(parser, None), default);
        match service {
            // The schema-mapping service has no `/rta/v2/info` to label.
            StoreService::SchemaMappings => store(parser, "DataDir/schema-mappings"),
            StoreService::Configs => {
                store(parser, "DataDir/configs").info_options(service.label())
            }
            StoreService::Sessions => parser
                .info_options(service.label())
                .postgres_options()
                .option(
                    INTERNAL_HTTP_PORT,
                    "N",
                    "Serve the private data-bindings route (for gateways) on this port only, not on HttpPort",
                    None,
                )
                .option(
                    INTERNAL_BIND,
                    "HOST",
                    "Address of the InternalHttpPort listener (default: Bind)",
                    None,
                ),
        }
    }

    /// Reads the options from merged values.
    pub fn from_options(raw: Options) -> Result<Self> {
        let service = raw.service()?;
        let internal_http = match raw.parse::<u16>(INTERNAL_HTTP_PORT)? {
            Some(port) => {
                let bind = match raw.get(INTERNAL_BIND) {
                    Some(b) => b.parse().map_err(|_| {
                        Error::option(INTERNAL_BIND, format!("{b:?} is not an IP address"))
                    })?,
                    None => service.bind,
                };
                Some(std::net::SocketAddr::new(bind, port))
            }
            None => None,
        };
        // Declared (with a default) by the config and schema-mapping services only.
        let storage = match raw.get("Store") {
            Some(_) => Some(storage::storage(&raw, service.data_dir.clone())?),
            None => None,
        };
        Ok(StoreServiceOptions {
            file_path: raw.get(toolkit::FILE_PATH).map(std::path::PathBuf::from),
            service,
            storage,
            internal_http,
            init_store_and_exit: raw.switch(INIT_STORE_AND_EXIT)?,
            auth: raw.auth()?,
            postgres: postgres_options(&raw)?,
            raw,
        })
    }

    /// [`from_options`](Self::from_options) of a parse; `None` for `--help`.
    pub fn from_parsed(parsed: Parsed) -> Result<Option<Self>> {
        options(parsed).map(Self::from_options).transpose()
    }

    /// The directory of `service`'s store: `FilePath` when given, else
    /// `DataDir/configs` or `DataDir/schema-mappings` (and `DataDir` for
    /// the session service, which has no `FilePath`).
    pub fn store_dir(&self, service: StoreService) -> std::path::PathBuf {
        match (&self.file_path, service) {
            (Some(path), _) => path.clone(),
            (None, StoreService::Configs) => self.service.data_dir.join("configs"),
            (None, StoreService::SchemaMappings) => self.service.data_dir.join("schema-mappings"),
            (None, StoreService::Sessions) => self.service.data_dir.clone(),
        }
    }

    /// Parses the process arguments and environment (exits on `--help`).
    pub fn from_env(service: StoreService) -> Result<Self> {
        Self::from_options(Self::parser(service).parse_env()?)
    }
}

/// Options of `Parsed`, or `None` for `--help`.
pub(super) fn options(parsed: Parsed) -> Option<Options> {
    match parsed {
        Parsed::Options(o) => Some(o),
        Parsed::Help(_) => None,
    }
}

/// Options of `rta-server`.
///
/// ```
/// use rta_service::options::RtaServerOptions;
///
/// let parsed = RtaServerOptions::parser().parse_from(["--demo"], Vec::new())?;
/// let opts = RtaServerOptions::from_parsed(parsed)?.expect("not --help");
/// assert_eq!(opts.service.http_port, 8080);
/// assert!(opts.demo && opts.service.tls.is_none());
/// # Ok::<(), rta_service::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RtaServerOptions {
    /// Ports, bind address and `DataDir`.
    pub service: ServiceOptions,
    /// `Demo`: publish demo content and write a live demo session.
    pub demo: bool,
    /// `DemoSeconds`: length of the live demo session (`None` = until stopped).
    pub demo_duration: Option<Duration>,
    /// `EnableAuth` and `Auth:*`: bearer tokens, when required.
    pub auth: Option<AuthOptions>,
    /// `PostgresConnectionString`, `PostgresSchema`,
    /// `PostgresConnectionTimeout`: sessions in PostgreSQL instead of SQLite.
    pub postgres: Option<PostgresOptions>,
    /// `InitStore` (default true): create or upgrade the PostgreSQL schema
    /// at start-up.
    pub init_store: bool,
    /// `InitStoreAndExit`: create or upgrade the stores, then exit.
    pub init_store_and_exit: bool,
    /// `Store=Aws`: configs and schema mappings in `AwsS3ConfigsBucket`,
    /// data in `AwsS3DataBucket` (`None`: files under `DataDir`).
    pub aws: Option<ServerBuckets>,
    /// `FileConfigsPath` (default `DataDir/configs`).
    pub configs_path: std::path::PathBuf,
    /// `FileDataPath` (default `DataDir/data`).
    pub data_path: std::path::PathBuf,
    /// `EnableGrpc` (default `true`): serve the gRPC port.
    pub enable_grpc: bool,
    /// `EnableDataWriter` (default `true`): serve the gRPC `DataWriter`.
    pub enable_data_writer: bool,
    /// `RedisConnectionString` (alias `Redis`): live sessions through Redis.
    pub redis: Option<String>,
    /// `RedisDb`: overrides the connection string's database.
    pub redis_db: Option<i64>,
    /// The merged values (for `monitor::ServiceInfo::from_options`).
    pub raw: Options,
}

/// The buckets of `rta-server` with `Store=Aws`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBuckets {
    /// `AwsS3ConfigsBucket`: configurations and schema mappings.
    pub configs: String,
    /// `AwsS3DataBucket`: the native data store.
    pub data: String,
}

impl RtaServerOptions {
    /// The options `rta-server` declares.
    pub fn parser() -> OptionsParser {
        let parser = OptionsParser::new(
            "rta-server",
            "RTA Server: every RTA service in one process, on embedded stores",
        )
        .option(
            HTTP_PORT,
            "N",
            "HTTP port (REST API, live stream, /health, /metrics)",
            Some("8080"),
        )
        .option(
            GRPC_PORT,
            "N",
            "gRPC port (all toolkit gRPC services)",
            Some("8082"),
        )
        .option(BIND, "HOST", "Address to listen on", Some("0.0.0.0"))
        .option(
            DATA_DIR,
            "DIR",
            "Directory of the embedded stores",
            Some("./rta-data"),
        )
        .info_options("RTA Server")
        .switch(
            "Demo",
            "Publish demo configuration and sessions, and write a live demo session",
        )
        .option(
            "DemoSeconds",
            "N",
            "Length of the live demo session in seconds (0 = until stopped)",
            Some("0"),
        )
        .auth_options()
        .listener_options(Some(8081))
        .postgres_options()
        .option(
            INIT_STORE,
            "BOOL",
            "Create or upgrade the PostgreSQL schema at start-up",
            Some("true"),
        )
        .switch(
            INIT_STORE_AND_EXIT,
            "Create or upgrade the stores, then exit",
        )
        .option(
            "AwsS3ConfigsBucket",
            "BUCKET",
            "S3 bucket of configs and schema mappings (Store=Aws)",
            None,
        )
        .option(
            "AwsS3DataBucket",
            "BUCKET",
            "S3 bucket of data (Store=Aws)",
            None,
        )
        .option(
            "AwsDynamoDataTable",
            "TABLE",
            "Accepted for toolkit compatibility and unused: the index is kept in the S3 bucket",
            None,
        );
        toolkit::rta_server_options(parser)
    }

    /// Reads the options from merged values.
    pub fn from_options(raw: Options) -> Result<Self> {
        let secs: u64 = raw.get_or("DemoSeconds")?;
        let service = raw.service()?;
        let toolkit = toolkit::rta_server_values(&raw, &service.data_dir)?;
        Ok(RtaServerOptions {
            service,
            demo: raw.switch("Demo")?,
            demo_duration: (secs > 0).then(|| Duration::from_secs(secs)),
            auth: raw.auth()?,
            postgres: postgres_options(&raw)?,
            init_store: raw.switch(INIT_STORE)?,
            init_store_and_exit: raw.switch(INIT_STORE_AND_EXIT)?,
            aws: if storage::is_aws(&raw)? {
                Some(ServerBuckets {
                    configs: storage::bucket(&raw, "AwsS3ConfigsBucket")?,
                    data: storage::bucket(&raw, "AwsS3DataBucket")?,
                })
            } else {
                None
            },
            configs_path: toolkit.configs_path,
            data_path: toolkit.data_path,
            enable_grpc: toolkit.enable_grpc,
            enable_data_writer: toolkit.enable_data_writer,
            redis: toolkit.redis,
            redis_db: toolkit.redis_db,
            raw,
        })
    }

    /// [`from_options`](Self::from_options) of a parse; `None` for `--help`.
    pub fn from_parsed(parsed: Parsed) -> Result<Option<Self>> {
        options(parsed).map(Self::from_options).transpose()
    }

    /// Parses the process arguments and environment (exits on `--help`).
    pub fn from_env() -> Result<Self> {
        Self::from_options(Self::parser().parse_env()?)
    }
}

/// Options of `rta-streamsvc`, in the types the stream service takes.
#[derive(Debug, Clone)]
pub struct StreamServiceOptions {
    /// `RedisConnectionString` (alias `Redis`).
    pub redis: String,
    /// `RedisDb`: overrides the connection string's database.
    pub redis_db: Option<i64>,
    /// `Bind`, `HttpPort` (8180), and HTTPS (`HttpsPort` 8543) when
    /// `TlsCert` and `TlsKey` are given.
    pub listen: ServiceOptions,
    /// The trimmer, unless `EnableTrimmer` is `false`.
    pub trimmer: Option<TrimmerOptions>,
    /// Key layout and back-fill of the Redis source.
    pub source: RedisSourceOptions,
    /// Per-client settings of the WebSocket service.
    pub stream: StreamOptions,
    /// `EnableAuth` and `Auth:*`: bearer tokens, when required.
    pub auth: Option<AuthOptions>,
    /// The merged values.
    pub raw: Options,
}

impl StreamServiceOptions {
    /// The options `rta-streamsvc` declares.
    pub fn parser() -> OptionsParser {
        OptionsParser::new(
            "rta-streamsvc",
            "RTA Stream Service: live sessions from Redis over WebSocket",
        )
        .version(env!("CARGO_PKG_VERSION"))
        .option(
            REDIS,
            "URL",
            "Redis: a redis:// or rediss:// URL, or host[:port][,password=..][,ssl=true]",
            None,
        )
        .alias("Redis")
        .option(
            REDIS_DB,
            "N",
            "Redis database number (overrides the connection string's)",
            None,
        )
        .option(HTTP_PORT, "N", "HTTP port", Some("8180"))
        .option(BIND, "HOST", "Address to listen on", Some("0.0.0.0"))
        .option(
            "EnableTrimmer",
            "BOOL",
            "Run the stream trimmer",
            Some("true"),
        )
        .option(
            "Trimmer:TargetStreamLength",
            "N",
            "Entries kept in each Redis stream",
            Some("10000"),
        )
        .option(
            "Trimmer:Interval",
            "SECS",
            "Seconds between trimming passes",
            Some("30"),
        )
        .switch(
            "Trimmer:ApproxLength",
            "Trim approximately (MAXLEN ~), which is cheaper",
        )
        .option(
            "BackScanSeconds",
            "SECS",
            "How far back a new subscription is back-filled",
            Some("300"),
        )
        .alias("BackScanSecs")
        .option(
            "ClientQueueLength",
            "N",
            "Bursts buffered per client before a slow client is closed",
            Some("64"),
        )
        .alias("ClientQueue")
        .option(
            "BackfillConcurrency",
            "N",
            "Back-fills sent at once across all clients (bounds the memory of a crowd joining)",
            Some("32"),
        )
        .option(
            "SessionTtlSeconds",
            "SECS",
            "Expiry of session hashes, used to prune the session index",
            Some("86400"),
        )
        .alias("SessionTtlSecs")
        .option(
            "Keys:StreamPrefix",
            "TEXT",
            "Prefix of stream keys",
            Some("stream:"),
        )
        .alias("StreamPrefix")
        .option(
            "Keys:Streams",
            "KEY",
            "Set of stream names",
            Some("streams"),
        )
        .alias("StreamsKey")
        .option(
            "Keys:SessionPrefix",
            "TEXT",
            "Prefix of per-session hashes",
            Some("sessions:"),
        )
        .alias("SessionPrefix")
        .option(
            "Keys:SessionIndex",
            "KEY",
            "Sorted set indexing the sessions",
            Some("sessions"),
        )
        .alias("SessionIndex")
        .auth_options()
        .listener_options(Some(8543))
    }

    /// Reads the options from merged values.
    pub fn from_options(raw: Options) -> Result<Self> {
        let keys = KeyLayout {
            stream_prefix: raw.get_or("Keys:StreamPrefix")?,
            streams_set: raw.get_or("Keys:Streams")?,
            session_prefix: raw.get_or("Keys:SessionPrefix")?,
            session_index: raw.get_or("Keys:SessionIndex")?,
            ..KeyLayout::default()
        };
        let trimmer = TrimmerOptions {
            keys: keys.clone(),
            target_stream_length: raw.get_or("Trimmer:TargetStreamLength")?,
            interval: Duration::from_secs(raw.get_or::<u64>("Trimmer:Interval")?.max(1)),
            approx_length: raw.switch("Trimmer:ApproxLength")?,
            session_ttl: Duration::from_secs(raw.get_or("SessionTtlSeconds")?),
        };
        Ok(StreamServiceOptions {
            redis: raw.get_or(REDIS)?,
            redis_db: raw.parse(REDIS_DB)?,
            listen: raw.service()?,
            trimmer: raw.switch("EnableTrimmer")?.then_some(trimmer),
            source: RedisSourceOptions {
                keys,
                back_scan: Duration::from_secs(raw.get_or("BackScanSeconds")?),
                ..Default::default()
            },
            stream: StreamOptions {
                queue_len: raw.get_or::<usize>("ClientQueueLength")?.max(1),
                backfill_concurrency: raw.get_or::<usize>("BackfillConcurrency")?.max(1),
                ..Default::default()
            },
            auth: raw.auth()?,
            raw,
        })
    }

    /// [`from_options`](Self::from_options) of a parse; `None` for `--help`.
    pub fn from_parsed(parsed: Parsed) -> Result<Option<Self>> {
        options(parsed).map(Self::from_options).transpose()
    }

    /// Parses the process arguments and environment (exits on `--help`).
    pub fn from_env() -> Result<Self> {
        Self::from_options(Self::parser().parse_env()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn store_services_have_the_toolkit_ports() {
        for (svc, http, grpc) in [
            (StoreService::Sessions, 2650, 2652),
            (StoreService::Configs, 2660, 2662),
            (StoreService::SchemaMappings, 2680, 2682),
        ] {
            let parsed = StoreServiceOptions::parser(svc)
                .parse_from(Vec::<String>::new(), Vec::new())
                .unwrap();
            let o = StoreServiceOptions::from_parsed(parsed).unwrap().unwrap();
            assert_eq!((o.service.http_port, o.service.grpc_port), (http, grpc));
            assert!(!o.init_store_and_exit);
        }
    }

    #[test]
    fn rta_server_https_needs_both_files() {
        let parsed = RtaServerOptions::parser()
            .parse_from(["--tls-cert", "c.pem"], Vec::new())
            .unwrap();
        let err = RtaServerOptions::from_parsed(parsed).unwrap_err();
        assert!(err.to_string().contains("go together"), "{err}");

        let parsed = RtaServerOptions::parser()
            .parse_from(
                [
                    "--tls-cert",
                    "c.pem",
                    "--tls-key",
                    "k.pem",
                    "--bind",
                    "127.0.0.1",
                ],
                env(&[("RTA_HttpsPort", "9443"), ("RTA_DemoSeconds", "5")]),
            )
            .unwrap();
        let o = RtaServerOptions::from_parsed(parsed).unwrap().unwrap();
        assert_eq!(
            o.service.https_addr(),
            Some("127.0.0.1:9443".parse().unwrap())
        );
        assert_eq!(o.service.tls.unwrap().key, PathBuf::from("k.pem"));
        assert_eq!(o.demo_duration, Some(Duration::from_secs(5)));
    }

    #[test]
    fn stream_service_reads_toolkit_names() {
        let parsed = StreamServiceOptions::parser()
            .parse_from(
                ["--redis", "redis://h:1"],
                env(&[
                    ("RTA_ENABLETRIMMER", "false"),
                    ("RTA_Keys__StreamPrefix", "s:"),
                    ("RTA_ClientQueueLength", "0"),
                ]),
            )
            .unwrap();
        let o = StreamServiceOptions::from_parsed(parsed).unwrap().unwrap();
        assert_eq!(o.redis, "redis://h:1");
        assert!(o.trimmer.is_none());
        assert_eq!(o.source.keys.stream_prefix, "s:");
        assert_eq!(o.stream.queue_len, 1, "a zero queue is raised to one");
        assert_eq!(o.listen.http_port, 8180);
    }

    #[test]
    fn stream_service_requires_redis() {
        let parsed = StreamServiceOptions::parser()
            .parse_from(Vec::<String>::new(), Vec::new())
            .unwrap();
        let err = StreamServiceOptions::from_parsed(parsed).unwrap_err();
        assert!(
            err.to_string().contains("RTA_RedisConnectionString"),
            "{err}"
        );
    }
}
