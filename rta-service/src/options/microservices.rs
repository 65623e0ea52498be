//! Options of the microservice binaries, `rta-datasvc` and `rta-gatewaysvc`,
//! with the toolkit's names, ports and defaults.
//!
//! ```
//! use rta_service::options::DataServiceOptions;
//!
//! let env = [("RTA_ENABLEWRITE".to_string(), "false".to_string())];
//! let parsed = DataServiceOptions::parser().parse_from(["--FilePath", "/data"], env)?;
//! let opts = DataServiceOptions::from_parsed(parsed)?.expect("not --help");
//! assert_eq!((opts.service.http_port, opts.service.grpc_port), (2670, 2672));
//! assert!(opts.enable_read && !opts.enable_write);
//! assert_eq!(opts.file_path, std::path::PathBuf::from("/data"));
//! # Ok::<(), rta_service::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::names::{BIND, GRPC_PORT, HTTP_PORT};
use super::parser::{OptionsParser, Parsed};
use super::services::options;
use super::storage::{self, Storage};
use super::values::{Options, ServiceOptions};
use crate::auth::AuthOptions;
use crate::qos::QosOptions;
use crate::{Error, Result};

const MIB: usize = 1 << 20;

/// `Qos:QueueTimeoutSeconds`: a positive number of seconds, at most an hour.
fn queue_timeout(raw: &Options) -> Result<Duration> {
    let secs: f64 = raw.get_or("Qos:QueueTimeoutSeconds")?;
    if secs.is_finite() && secs > 0.0 && secs <= 3600.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(Error::option(
            "Qos:QueueTimeoutSeconds",
            format!("{secs} is not a number of seconds in (0, 3600]"),
        ))
    }
}

/// Options of `rta-datasvc`: the native chunk store as a data microservice.
#[derive(Debug, Clone)]
pub struct DataServiceOptions {
    /// `Bind`, `HttpPort` (2670), `GrpcPort` (2672), and HTTPS
    /// (`HttpsPort` 2671) when `TlsCert` and `TlsKey` are given; `data_dir`
    /// is unused.
    pub service: ServiceOptions,
    /// `FilePath`: the store's directory (`Store=File`).
    pub file_path: PathBuf,
    /// `Store` (`File` | `Aws`) with `FilePath` or `AwsS3Bucket`.
    pub storage: Storage,
    /// `EnableRead`: serve the data route and `DataReader` (default `true`).
    pub enable_read: bool,
    /// `EnableWrite`: serve `DataWriter` (default `true`).
    pub enable_write: bool,
    /// `InitStoreAndExit`: create or open the store, then exit.
    pub init_store_and_exit: bool,
    /// `EnableAuth` and `Auth:*`: bearer tokens, when required.
    pub auth: Option<AuthOptions>,
    /// `DataWriteMemory:WriteBuffers` × `DataWriteMemory:WriteBufferSize`
    /// (MiB): the most written bytes held in memory (default 256 MiB).
    pub write_buffer_bytes: usize,
    /// The merged values (for `monitor::ServiceInfo::from_options`).
    pub raw: Options,
}

impl DataServiceOptions {
    /// The options `rta-datasvc` declares.
    pub fn parser() -> OptionsParser {
        let parser = OptionsParser::new(
            "rta-datasvc",
            "RTA Data Service: the native chunk store behind the gateway; REST and gRPC",
        )
        .option(
            HTTP_PORT,
            "N",
            "HTTP port (data route, /health, /metrics)",
            Some("2670"),
        )
        .option(
            GRPC_PORT,
            "N",
            "gRPC port (DataWriter, DataReader)",
            Some("2672"),
        )
        .option(BIND, "HOST", "Address to listen on", Some("0.0.0.0"))
        .listener_options(Some(2671))
        .info_options("RTA Data Service")
        .option(
            "FilePath",
            "DIR",
            "Directory of the store (Store=File)",
            Some("data"),
        )
        .option(
            "EnableRead",
            "BOOL",
            "Serve reads over REST and gRPC",
            Some("true"),
        )
        .option(
            "EnableWrite",
            "BOOL",
            "Serve writes over gRPC",
            Some("true"),
        )
        .switch("InitStoreAndExit", "Create or open the store, then exit")
        .option(
            "DataWriteMemory:WriteBuffers",
            "N",
            "Write buffers",
            Some("128"),
        )
        .option(
            "DataWriteMemory:WriteBufferSize",
            "MIB",
            "Write buffer size",
            Some("2"),
        )
        .section(
            "DataWriteMemory",
            "Other toolkit memory options (FlushBuffers, FlushBufferSize, thresholds, \
                 Preallocate): accepted; the native store flushes from its write budget",
        )
        .auth_options();
        storage::declare(parser, Some("AwsDynamoTable"))
    }

    /// Reads the options from merged values.
    pub fn from_options(raw: Options) -> Result<Self> {
        let service = raw.service()?;
        let file_path = PathBuf::from(raw.get_or::<String>("FilePath")?);
        let storage = storage::storage(&raw, file_path.clone())?;
        let buffers: usize = raw.get_or("DataWriteMemory:WriteBuffers")?;
        let size: usize = raw.get_or("DataWriteMemory:WriteBufferSize")?;
        let write_buffer_bytes = buffers
            .checked_mul(size)
            .and_then(|m| m.checked_mul(MIB))
            .filter(|b| *b > 0)
            .ok_or_else(|| {
                Error::option(
                    "DataWriteMemory:WriteBuffers",
                    format!("{buffers} buffers of {size} MiB is not a usable budget"),
                )
            })?;
        let read = raw.switch("EnableRead")?;
        let write = raw.switch("EnableWrite")?;
        if !read && !write {
            return Err(Error::option(
                "EnableRead",
                "EnableRead and EnableWrite are both false: the service would do nothing",
            ));
        }
        Ok(DataServiceOptions {
            service,
            file_path,
            storage,
            enable_read: read,
            enable_write: write,
            init_store_and_exit: raw.switch("InitStoreAndExit")?,
            auth: raw.auth()?,
            write_buffer_bytes,
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

/// Options of `rta-gatewaysvc`: the public REST API over the other services.
///
/// ```
/// use rta_service::options::GatewayServiceOptions;
///
/// let env = [("RTA_DataServiceUris__influx01".to_string(), "http://i:2670/".to_string())];
/// let args = ["--SessionServiceUri", "http://s:2650/", "--ConfigServiceUri", "http://c:2660/"];
/// let parsed = GatewayServiceOptions::parser().parse_from(args, env)?;
/// let opts = GatewayServiceOptions::from_parsed(parsed)?.expect("not --help");
/// assert_eq!(opts.data_services["influx01"], "http://i:2670/");
/// assert_eq!(opts.service.http_port, 8080);
/// # Ok::<(), rta_service::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GatewayServiceOptions {
    /// `Bind`, `HttpPort` (8080), HTTPS (`HttpsPort` 8443) when `TlsCert`
    /// and `TlsKey` are given, and `TlsCaFile` for calling the services;
    /// the gateway has no gRPC port.
    pub service: ServiceOptions,
    /// `SessionServiceUri` (required).
    pub session_service: String,
    /// `ConfigServiceUri` (required).
    pub config_service: String,
    /// `SessionServiceBindingsUri`: the session service's internal listener.
    pub session_bindings_service: Option<String>,
    /// `DataServiceUris:<source>`: data services by source name.
    pub data_services: BTreeMap<String, String>,
    /// `StreamServiceUri`: a Stream Service whose live WebSocket is relayed.
    pub stream_service: Option<String>,
    /// `Qos:PerUser`, `Qos:PerSource`, `Qos:QueueTimeoutSeconds`.
    pub qos: QosOptions,
    /// `EnableAuth` and `Auth:*`: bearer tokens, when required.
    pub auth: Option<AuthOptions>,
    /// The merged values (for `monitor::ServiceInfo::from_options`).
    pub raw: Options,
}

impl GatewayServiceOptions {
    /// The options `rta-gatewaysvc` declares.
    pub fn parser() -> OptionsParser {
        OptionsParser::new(
            "rta-gatewaysvc",
            "RTA Gateway Service: the REST API ATLAS uses, over the session, config and data services",
        )
        .option(HTTP_PORT, "N", "HTTP port", Some("8080"))
        .option(BIND, "HOST", "Address to listen on", Some("0.0.0.0"))
        .listener_options(Some(8443))
            .info_options("RTA Gateway")
            .option(
                "SessionServiceUri",
                "URI",
                "Session Service root (required)",
                None,
            )
            .option(
                "ConfigServiceUri",
                "URI",
                "Config Service root (required)",
                None,
            )
            .option(
                "SessionServiceBindingsUri",
                "URI",
                "Session Service internal listener of the data-bindings route (default: SessionServiceUri)",
                None,
            )
            .section("DataServiceUris", "Data service root per source name")
            .option(
                "StreamServiceUri",
                "URI",
                "Stream Service root: relay the live WebSocket through the gateway",
                None,
            )
            .option(
                "Qos:PerUser",
                "N",
                "Data requests of one user at once (0: no limit)",
                Some("16"),
            )
            .option(
                "Qos:PerSource",
                "N",
                "Reads of one data source at once (0: no limit)",
                Some("64"),
            )
            .option(
                "Qos:QueueTimeoutSeconds",
                "SECS",
                "Longest wait for a slot before a 503 with Retry-After",
                Some("30"),
            )
            .auth_options()
    }

    /// Reads the options from merged values.
    pub fn from_options(raw: Options) -> Result<Self> {
        Ok(GatewayServiceOptions {
            service: raw.service()?,
            session_service: raw.get_or("SessionServiceUri")?,
            config_service: raw.get_or("ConfigServiceUri")?,
            session_bindings_service: raw.get("SessionServiceBindingsUri").map(str::to_string),
            data_services: raw.section("DataServiceUris").into_iter().collect(),
            stream_service: raw.get("StreamServiceUri").map(str::to_string),
            qos: QosOptions {
                per_user: raw.get_or("Qos:PerUser")?,
                per_source: raw.get_or("Qos:PerSource")?,
                queue_timeout: queue_timeout(&raw)?,
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

    fn data(args: &[&str], env: &[(&str, &str)]) -> Result<DataServiceOptions> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let parsed = DataServiceOptions::parser().parse_from(args.iter().copied(), env)?;
        Ok(DataServiceOptions::from_parsed(parsed)?.unwrap())
    }

    #[test]
    fn data_service_defaults_are_the_toolkit_ones() {
        let o = data(&[], &[]).unwrap();
        assert_eq!((o.service.http_port, o.service.grpc_port), (2670, 2672));
        assert!(o.enable_read && o.enable_write && !o.init_store_and_exit);
        assert_eq!(o.write_buffer_bytes, 256 * MIB);
        assert!(o.service.https_addr().is_none());
        let o = data(&["--tls-cert", "c", "--tls-key", "k"], &[]).unwrap();
        assert_eq!(o.service.https_addr().unwrap().port(), 2671);
    }

    #[test]
    fn data_service_rejects_what_it_cannot_do() {
        let e = data(&["--Store", "Aws"], &[]).unwrap_err().to_string();
        assert!(e.contains("AwsS3Bucket"), "{e}");
        let e = data(&["--Store", "Azure"], &[]).unwrap_err().to_string();
        assert!(e.contains("Store") && e.contains("Azure"), "{e}");
        let o = data(
            &[],
            &[
                ("RTA_Store", "aws"),
                ("RTA_AwsS3Bucket", "b1"),
                ("RTA_AwsDynamoTable", "t"),
            ],
        )
        .unwrap();
        assert_eq!(
            o.storage,
            Storage::Aws {
                bucket: "b1".into()
            }
        );
        let o = data(&["--FilePath", "/d"], &[]).unwrap();
        assert_eq!(o.storage, Storage::File("/d".into()));
        let e = data(
            &[],
            &[("RTA_EnableRead", "false"), ("RTA_EnableWrite", "false")],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("EnableRead"), "{e}");
        let e = data(&[], &[("RTA_DataWriteMemory__WriteBuffers", "0")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("WriteBuffers"), "{e}");
        // The toolkit's other memory options are accepted, not reported.
        let o = data(&[], &[("RTA_DataWriteMemory__Preallocate", "true")]).unwrap();
        assert!(o.raw.unknown().is_empty(), "{:?}", o.raw.unknown());
    }

    #[test]
    fn gateway_needs_session_and_config_services() {
        let parsed = GatewayServiceOptions::parser()
            .parse_from(["--SessionServiceUri", "http://s/"], Vec::new())
            .unwrap();
        let e = GatewayServiceOptions::from_parsed(parsed)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ConfigServiceUri"), "{e}");
        for bad in ["NaN", "0", "-1", "1e9"] {
            let parsed = GatewayServiceOptions::parser()
                .parse_from(
                    [
                        "--SessionServiceUri",
                        "http://s/",
                        "--ConfigServiceUri",
                        "http://c/",
                    ],
                    vec![("RTA_QOS__QUEUETIMEOUTSECONDS".to_string(), bad.to_string())],
                )
                .unwrap();
            let e = GatewayServiceOptions::from_parsed(parsed)
                .unwrap_err()
                .to_string();
            assert!(e.contains("Qos:QueueTimeoutSeconds"), "{bad}: {e}");
        }
    }
}
