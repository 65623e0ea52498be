//! Options of `rta-filedatasvc`, the file data service: a directory of
//! Parquet, Arrow IPC and CSV files served in place (this SDK's own
//! service; the toolkit has none, so its port is ours: HTTP 2700, HTTPS 2701).
//!
//! ```
//! use rta_service::options::FileDataServiceOptions;
//!
//! let dir = tempfile::tempdir()?;
//! let parsed = FileDataServiceOptions::parser()
//!     .parse_from(["--FilePath", dir.path().to_str().unwrap(), "--http-port", "2800"], Vec::new())?;
//! let opts = FileDataServiceOptions::from_parsed(parsed)?.expect("not --help");
//! assert_eq!(opts.service.http_port, 2800);
//! assert_eq!(opts.data_source, "rta-filedatasvc");
//! assert!(opts.schema_mapping_uri.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;

use super::names::{BIND, HTTP_PORT};
use super::parser::{OptionsParser, Parsed};
use super::services::options;
use super::values::{Options, ServiceOptions};
use crate::auth::AuthOptions;
use crate::{Error, Result};

/// The data source name the file service publishes and looks mappings up under by default.
pub const FILE_DATA_SOURCE: &str = "rta-filedatasvc";

/// Options of `rta-filedatasvc`.
#[derive(Debug, Clone)]
pub struct FileDataServiceOptions {
    /// `Bind`, `HttpPort` (2700), and HTTPS (`HttpsPort` 2701) when
    /// `TlsCert` and `TlsKey` are given; no gRPC port.
    pub service: ServiceOptions,
    /// `FilePath` (required): the directory served.
    pub file_path: PathBuf,
    /// `DataSource` (`rta-filedatasvc`): the data source of the schema mappings.
    pub data_source: String,
    /// `SchemaMappingGrpcUri`: where published mappings are read; without
    /// it every file maps itself (columns in file order).
    pub schema_mapping_uri: Option<String>,
    /// `ChunkCacheBytes` (`268435456`, 0 = none): built chunks kept in memory.
    pub cache_bytes: u64,
    /// `EnableAuth` and `Auth:*`.
    pub auth: Option<AuthOptions>,
    /// The merged values.
    pub raw: Options,
}

impl FileDataServiceOptions {
    /// The options `rta-filedatasvc` declares.
    pub fn parser() -> OptionsParser {
        OptionsParser::new(
            "rta-filedatasvc",
            "RTA file data service: Parquet, Arrow IPC and CSV files in a directory served in place, read-only",
        )
        .option(HTTP_PORT, "N", "HTTP port (data route, /health, /metrics)", Some("2700"))
        .option(BIND, "HOST", "Address to listen on", Some("0.0.0.0"))
        .listener_options(Some(2701))
        .info_options("RTA File Data Service")
        .option("FilePath", "DIR", "Directory of the files (required); a file's path in it is its data identity", None)
        .option("DataSource", "NAME", "Data source of the schema mappings", Some(FILE_DATA_SOURCE))
        .option(
            "SchemaMappingGrpcUri",
            "URI",
            "Schema Mapping Service gRPC root (optional: without it, files map themselves)",
            None,
        )
        .option("ChunkCacheBytes", "BYTES", "Memory for built chunks (0: no cache)", Some("268435456"))
        .auth_options()
    }

    /// Reads the options from merged values.
    pub fn from_options(raw: Options) -> Result<Self> {
        let service = raw.service()?;
        let file_path = match raw.get("FilePath").map(str::trim) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => return Err(Error::option("FilePath", "is required")),
        };
        if !file_path.is_dir() {
            return Err(Error::option(
                "FilePath",
                format!("{} is not a directory", file_path.display()),
            ));
        }
        let opt = |name: &str| {
            raw.get(name)
                .filter(|v| !v.trim().is_empty())
                .map(str::to_string)
        };
        Ok(FileDataServiceOptions {
            service,
            file_path,
            data_source: raw.get_or("DataSource")?,
            schema_mapping_uri: opt("SchemaMappingGrpcUri"),
            cache_bytes: raw.get_or("ChunkCacheBytes")?,
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
