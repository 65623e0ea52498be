//! Options of `rta-influxdatasvc`, the Influx Data Service, with the
//! toolkit's names, ports and defaults.
//!
//! ```
//! use rta_service::options::InfluxDataServiceOptions;
//!
//! let args = ["--DataSource", "mydata", "--SchemaMappingGrpcUri", "http://myhost:2682/",
//!             "--InfluxUri", "http://myhost:8086/"];
//! let env = [("RTA_SchemaMappingDefaults__InfluxQL__Database".to_string(), "rtademo".to_string())];
//! let parsed = InfluxDataServiceOptions::parser().parse_from(args, env)?;
//! let opts = InfluxDataServiceOptions::from_parsed(parsed)?.expect("not --help");
//! assert_eq!(opts.service.http_port, 2690);
//! assert_eq!(opts.influx.max_frequency, 100.0);
//! assert_eq!(opts.influx.health_check_path, "/health");
//! assert_eq!(opts.influx.defaults.database.as_deref(), Some("rtademo"));
//! assert_eq!(opts.influx.defaults.retention_policy, "autogen");
//! # Ok::<(), rta_service::Error>(())
//! ```

use rta_adapters::influx::{InfluxConfig, MappingDefaults};

use super::names::{BIND, HTTP_PORT};
use super::parser::{OptionsParser, Parsed};
use super::services::options;
use super::values::{Options, ServiceOptions};
use crate::auth::AuthOptions;
use crate::{Error, Result};

/// Options of `rta-influxdatasvc`: InfluxDB behind the gateway, read-only.
#[derive(Debug, Clone)]
pub struct InfluxDataServiceOptions {
    /// `Bind`, `HttpPort` (2690), and HTTPS (`HttpsPort` 2691) when
    /// `TlsCert` and `TlsKey` are given; no gRPC port.
    pub service: ServiceOptions,
    /// `DataSource` (required): the data source schema mappings are looked up in.
    pub data_source: String,
    /// `SchemaMappingGrpcUri` (required).
    pub schema_mapping_uri: String,
    /// `InfluxUri`, `InfluxHealthCheckPath`, `MaxFrequency` and
    /// `SchemaMappingDefaults:*`.
    pub influx: InfluxConfig,
    /// `EnableAuth` and `Auth:*`: bearer tokens, when required (and passed
    /// on to the Schema Mapping Service).
    pub auth: Option<AuthOptions>,
    /// The merged values (for `monitor::ServiceInfo::from_options`).
    pub raw: Options,
}

fn required(raw: &Options, name: &str) -> Result<String> {
    match raw.get(name).map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(Error::option(name, "is required")),
    }
}

impl InfluxDataServiceOptions {
    /// The options `rta-influxdatasvc` declares.
    pub fn parser() -> OptionsParser {
        OptionsParser::new(
            "rta-influxdatasvc",
            "RTA Influx Data Service: InfluxDB (InfluxQL) as a read-only data service behind the gateway",
        )
        .option(HTTP_PORT, "N", "HTTP port (data route, /health, /metrics)", Some("2690"))
        .option(BIND, "HOST", "Address to listen on", Some("0.0.0.0"))
        .listener_options(Some(2691))
        .info_options("RTA Influx Data Service")
        .option("DataSource", "NAME", "Data source of the schema mappings (required)", None)
        .option(
            "SchemaMappingGrpcUri",
            "URI",
            "Schema Mapping Service gRPC root, e.g. http://localhost:2682/ (required)",
            None,
        )
        .option("InfluxUri", "URI", "InfluxDB root, e.g. http://localhost:8086/ (required)", None)
        .option(
            "InfluxHealthCheckPath",
            "PATH",
            "InfluxDB health path: /health (1.8+) or /ping",
            Some("/health"),
        )
        .option("MaxFrequency", "HZ", "Approximate highest sample rate: sets the chunk grid", Some("100"))
        .option("SchemaMappingDefaults:Dialect", "NAME", "Query dialect (influxql)", Some("influxql"))
        .option("SchemaMappingDefaults:InfluxQL:Database", "NAME", "Default database", None)
        .option(
            "SchemaMappingDefaults:InfluxQL:RetentionPolicy",
            "NAME",
            "Default retention policy",
            Some("autogen"),
        )
        .option("SchemaMappingDefaults:InfluxQL:Measurement", "NAME", "Default measurement", None)
        .auth_options()
    }

    /// Reads the options from merged values.
    pub fn from_options(raw: Options) -> Result<Self> {
        let service = raw.service()?;
        let data_source = required(&raw, "DataSource")?;
        let schema_mapping_uri = required(&raw, "SchemaMappingGrpcUri")?;
        let uri = required(&raw, "InfluxUri")?;
        let max_frequency: f64 = raw.get_or("MaxFrequency")?;
        if !(max_frequency.is_finite() && max_frequency > 0.0 && max_frequency <= 1e9) {
            return Err(Error::option(
                "MaxFrequency",
                format!("{max_frequency} is not a frequency in Hz (0, 1e9]"),
            ));
        }
        let dialect: String = raw.get_or("SchemaMappingDefaults:Dialect")?;
        if !dialect.eq_ignore_ascii_case("influxql") {
            return Err(Error::option(
                "SchemaMappingDefaults:Dialect",
                format!("{dialect:?} is not supported: only influxql is"),
            ));
        }
        let opt = |name: &str| raw.get(name).filter(|v| !v.is_empty()).map(str::to_string);
        let mut path: String = raw.get_or("InfluxHealthCheckPath")?;
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let influx = InfluxConfig {
            health_check_path: path,
            max_frequency,
            defaults: MappingDefaults {
                dialect,
                database: opt("SchemaMappingDefaults:InfluxQL:Database"),
                retention_policy: raw.get_or("SchemaMappingDefaults:InfluxQL:RetentionPolicy")?,
                measurement: opt("SchemaMappingDefaults:InfluxQL:Measurement"),
            },
            ..InfluxConfig::new(uri)
        };
        Ok(InfluxDataServiceOptions {
            service,
            data_source,
            schema_mapping_uri,
            influx,
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

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<InfluxDataServiceOptions> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let parsed = InfluxDataServiceOptions::parser().parse_from(args.iter().copied(), env)?;
        Ok(InfluxDataServiceOptions::from_parsed(parsed)?.unwrap())
    }

    const REQUIRED: [(&str, &str); 3] = [
        ("RTA_DataSource", "mydata"),
        ("RTA_SchemaMappingGrpcUri", "http://s:2682/"),
        ("RTA_InfluxUri", "http://i:8086/"),
    ];

    #[test]
    fn toolkit_defaults_and_names() {
        let o = parse(&[], &REQUIRED).unwrap();
        assert_eq!(o.service.http_port, 2690);
        assert!(o.service.https_addr().is_none());
        assert_eq!(
            (o.data_source.as_str(), o.influx.uri.as_str()),
            ("mydata", "http://i:8086/")
        );
        assert_eq!(o.influx.defaults, MappingDefaults::default());
        let o = parse(
            &[
                "--tls-cert",
                "c",
                "--tls-key",
                "k",
                "--InfluxHealthCheckPath",
                "ping",
            ],
            &REQUIRED,
        )
        .unwrap();
        assert_eq!(o.service.https_addr().unwrap().port(), 2691);
        assert_eq!(o.influx.health_check_path, "/ping");
        let o = parse(
            &["--SchemaMappingDefaults:InfluxQL:Measurement", "data"],
            &REQUIRED,
        )
        .unwrap();
        assert_eq!(o.influx.defaults.measurement.as_deref(), Some("data"));
    }

    #[test]
    fn missing_or_bad_options_are_named() {
        for (i, (name, _)) in REQUIRED.iter().enumerate() {
            let env: Vec<_> = REQUIRED
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, kv)| *kv)
                .collect();
            let e = parse(&[], &env).unwrap_err().to_string();
            assert!(e.contains(name.trim_start_matches("RTA_")), "{e}");
        }
        let e = parse(&["--MaxFrequency", "0"], &REQUIRED)
            .unwrap_err()
            .to_string();
        assert!(e.contains("MaxFrequency"), "{e}");
        let e = parse(&["--SchemaMappingDefaults:Dialect", "flux"], &REQUIRED)
            .unwrap_err()
            .to_string();
        assert!(e.contains("flux"), "{e}");
    }
}
