//! The toolkit's storage and feature options that several binaries share:
//! `Store` and `FilePath` (config and schema-mapping services),
//! `FileConfigsPath`, `FileDataPath`, `EnableGrpc`, `EnableDataWriter` and
//! `RedisConnectionString` (`rta-server`), with the toolkit's names and
//! defaults, so its compose files and `docker run` lines work unchanged.
//!
//! ```
//! use rta_service::options::{RtaServerOptions, StoreService, StoreServiceOptions};
//!
//! let env = [
//!     ("RTA_Store".to_string(), "File".to_string()),
//!     ("RTA_FilePath".to_string(), "/data/rta-configs".to_string()),
//! ];
//! let parsed = StoreServiceOptions::parser(StoreService::Configs).parse_from(Vec::<String>::new(), env)?;
//! let opts = StoreServiceOptions::from_parsed(parsed)?.expect("not --help");
//! assert_eq!(opts.store_dir(StoreService::Configs), std::path::PathBuf::from("/data/rta-configs"));
//!
//! let args = ["--redis", "redis://cache:6379", "--EnableDataWriter=false"];
//! let parsed = RtaServerOptions::parser().parse_from(args, Vec::new())?;
//! let opts = RtaServerOptions::from_parsed(parsed)?.expect("not --help");
//! assert_eq!(opts.redis.as_deref(), Some("redis://cache:6379"));
//! assert!(opts.enable_grpc && !opts.enable_data_writer);
//! # Ok::<(), rta_service::Error>(())
//! ```

use std::path::{Path, PathBuf};

use super::parser::OptionsParser;
use super::values::Options;
use crate::{Error, Result};

/// `Store`: where a service keeps its files.
pub(super) const STORE: &str = "Store";
/// `FilePath`: the store's directory when `Store=File`.
pub(super) const FILE_PATH: &str = "FilePath";
/// `FileConfigsPath` (`rta-server`): the config store's directory.
pub(super) const FILE_CONFIGS_PATH: &str = "FileConfigsPath";
/// `FileDataPath` (`rta-server`): the data store's directory.
pub(super) const FILE_DATA_PATH: &str = "FileDataPath";
/// `EnableGrpc` (`rta-server`): serve the gRPC port.
pub(super) const ENABLE_GRPC: &str = "EnableGrpc";
/// `EnableDataWriter` (`rta-server`): serve `DataWriter` on the gRPC port.
pub(super) const ENABLE_DATA_WRITER: &str = "EnableDataWriter";
/// `RedisConnectionString` (alias `Redis`).
pub(super) const REDIS: &str = "RedisConnectionString";
/// `RedisDb`: overrides the connection string's database.
pub(super) const REDIS_DB: &str = "RedisDb";

/// Declares `Store` (default `File`) for `rta-server`: its configs, schema
/// mappings and data together.
pub(super) fn store_option(parser: OptionsParser) -> OptionsParser {
    parser.option(
        STORE,
        "KIND",
        "Storage of configs, schema mappings and data: File (under DataDir) or Aws \
         (S3-compatible buckets; endpoint, region and credentials from AWS_ENDPOINT_URL, \
         AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP)",
        Some("File"),
    )
}

/// Declares `FilePath`, the directory of a service's store (`what`).
pub(super) fn file_path_option(parser: OptionsParser, default_help: &str) -> OptionsParser {
    parser.option(
        FILE_PATH,
        "DIR",
        &format!("Directory of the store when Store=File (default: {default_help})"),
        None,
    )
}

/// Checks `Store` names a store: `File` or `Aws`.
pub(super) fn check_store(raw: &Options) -> Result<()> {
    super::storage::is_aws(raw).map(|_| ())
}

/// The path option `name`, else `default`.
pub(super) fn path_or(raw: &Options, name: &str, default: &Path) -> PathBuf {
    raw.get(name)
        .filter(|p| !p.trim().is_empty())
        .map_or_else(|| default.to_path_buf(), PathBuf::from)
}

/// Declares the options `rta-server` shares with the toolkit's RTA Server
/// beyond the service basics: `Store`, `FileConfigsPath`, `FileDataPath`,
/// `EnableGrpc`, `EnableDataWriter`, `RedisConnectionString` and `RedisDb`.
pub(super) fn rta_server_options(parser: OptionsParser) -> OptionsParser {
    store_option(parser)
        .option(
            FILE_CONFIGS_PATH,
            "DIR",
            "Directory of the config store (default: DataDir/configs)",
            None,
        )
        .option(
            FILE_DATA_PATH,
            "DIR",
            "Directory of the data store (default: DataDir/data)",
            None,
        )
        .option(
            ENABLE_GRPC,
            "BOOL",
            "Serve the gRPC services on GrpcPort",
            Some("true"),
        )
        .option(
            ENABLE_DATA_WRITER,
            "BOOL",
            "Serve the gRPC DataWriter (data writes)",
            Some("true"),
        )
        .option(
            REDIS,
            "URL",
            "Stream live sessions through Redis: a redis:// or rediss:// URL, or \
             host[:port][,password=..][,ssl=true] (Sentinel and Cluster are refused)",
            None,
        )
        .alias("Redis")
        .option(
            REDIS_DB,
            "N",
            "Redis database number (overrides the connection string's)",
            None,
        )
}

/// The values of [`rta_server_options`].
pub(super) struct RtaServerToolkit {
    pub configs_path: PathBuf,
    pub data_path: PathBuf,
    pub enable_grpc: bool,
    pub enable_data_writer: bool,
    pub redis: Option<String>,
    pub redis_db: Option<i64>,
}

/// Reads [`rta_server_options`]; the paths default under `data_dir`. A
/// Redis Sentinel or Cluster connection string is refused here, at start-up.
pub(super) fn rta_server_values(raw: &Options, data_dir: &Path) -> Result<RtaServerToolkit> {
    check_store(raw)?;
    let redis = raw
        .get(REDIS)
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    if let Some(r) = &redis {
        rta_stream::conn::to_url(r).map_err(|e| Error::option(REDIS, e.to_string()))?;
    }
    Ok(RtaServerToolkit {
        configs_path: path_or(raw, FILE_CONFIGS_PATH, &data_dir.join("configs")),
        data_path: path_or(raw, FILE_DATA_PATH, &data_dir.join("data")),
        enable_grpc: raw.switch(ENABLE_GRPC)?,
        enable_data_writer: raw.switch(ENABLE_DATA_WRITER)?,
        redis,
        redis_db: raw.parse(REDIS_DB)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{RtaServerOptions, StoreService, StoreServiceOptions};
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn server(args: &[&str], vars: &[(&str, &str)]) -> Result<RtaServerOptions> {
        let parsed = RtaServerOptions::parser().parse_from(args.iter().copied(), env(vars))?;
        Ok(RtaServerOptions::from_parsed(parsed)?.expect("not --help"))
    }

    #[test]
    fn rta_server_defaults_are_the_toolkit_ones() {
        let o = server(&["--data-dir", "/srv/rta"], &[]).unwrap();
        assert!(o.enable_grpc && o.enable_data_writer);
        assert_eq!(o.configs_path, PathBuf::from("/srv/rta/configs"));
        assert_eq!(o.data_path, PathBuf::from("/srv/rta/data"));
        assert_eq!((o.redis, o.redis_db), (None, None));
    }

    #[test]
    fn rta_server_reads_the_toolkit_names() {
        let o = server(
            &[
                "--FileConfigsPath",
                "/c",
                "--redis",
                "cache:6380,password=x",
            ],
            &[
                ("RTA_FILEDATAPATH", "/d"),
                ("RTA_EnableGrpc", "false"),
                ("RTA_EnableDataWriter", "false"),
                ("RTA_Store", "file"),
                ("RTA_RedisDb", "3"),
            ],
        )
        .unwrap();
        assert_eq!(o.configs_path, PathBuf::from("/c"));
        assert_eq!(o.data_path, PathBuf::from("/d"));
        assert!(!o.enable_grpc && !o.enable_data_writer);
        assert_eq!(o.redis.as_deref(), Some("cache:6380,password=x"));
        assert_eq!(o.redis_db, Some(3));
        assert!(o.raw.unknown().is_empty(), "{:?}", o.raw.unknown());
        let o = server(&[], &[("RTA_RedisConnectionString", "redis://r:1")]).unwrap();
        assert_eq!(o.redis.as_deref(), Some("redis://r:1"));
    }

    #[test]
    fn rta_server_refuses_what_it_cannot_do() {
        let e = server(&["--redis", "redis+sentinel://s:26379/m"], &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("RedisConnectionString") && e.contains("Sentinel"),
            "{e}"
        );
        let e = server(&["--Store", "Blob"], &[]).unwrap_err().to_string();
        assert!(e.contains("Store") && e.contains("Blob"), "{e}");
        let e = server(&["--EnableGrpc", "maybe"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("EnableGrpc"), "{e}");
    }

    #[test]
    fn file_path_of_the_config_and_mapping_services() {
        for (svc, sub) in [
            (StoreService::Configs, "configs"),
            (StoreService::SchemaMappings, "schema-mappings"),
        ] {
            let parse = |args: &[&str], vars: &[(&str, &str)]| {
                let parsed = StoreServiceOptions::parser(svc)
                    .parse_from(args.iter().copied(), env(vars))
                    .unwrap();
                StoreServiceOptions::from_parsed(parsed)
            };
            let o = parse(&["--data-dir", "/v"], &[]).unwrap().unwrap();
            assert_eq!(o.store_dir(svc), Path::new("/v").join(sub));
            let o = parse(&[], &[("RTA_Store", "File"), ("RTA_FilePath", "/m")])
                .unwrap()
                .unwrap();
            assert_eq!(o.store_dir(svc), PathBuf::from("/m"));
            assert!(o.raw.unknown().is_empty(), "{:?}", o.raw.unknown());
            let e = parse(&["--Store", "Blob"], &[]).unwrap_err().to_string();
            assert!(e.contains("Blob"), "{e}");
        }
        // Every store service takes the toolkit's OAuth options.
        for svc in [
            StoreService::Sessions,
            StoreService::Configs,
            StoreService::SchemaMappings,
        ] {
            let vars = env(&[
                ("RTA_EnableAuth", "true"),
                ("RTA_Auth__Authority", "https://login.example.com"),
                ("RTA_Auth__Audience", "rta"),
            ]);
            let parsed = StoreServiceOptions::parser(svc)
                .parse_from(Vec::<String>::new(), vars)
                .unwrap();
            let o = StoreServiceOptions::from_parsed(parsed).unwrap().unwrap();
            assert!(o.auth.is_some(), "{}", svc.program());
            assert!(o.raw.unknown().is_empty(), "{:?}", o.raw.unknown());
        }
        // The session service keeps its store in DataDir and has no FilePath.
        let e = StoreServiceOptions::parser(StoreService::Sessions)
            .parse_from(["--FilePath", "/x"], Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("FilePath"), "{e}");
    }
}
