//! Options shared by every service binary.
//!
//! Each option has a PascalCase name (`HttpPort`) and can be given, from
//! lowest to highest precedence:
//!
//! 1. its default;
//! 2. a JSON config file named by `--config FILE` (or `RTA_Config`), whose
//!    nested objects are flattened with `:` (`{"Auth": {"Audience": "x"}}` is
//!    `Auth:Audience`) and whose arrays are numbered (`Uris:0`, `Uris:1`);
//! 3. environment variables prefixed `RTA_`, in any case, with `__` for
//!    `:` (`RTA_HttpPort`, `RTA_HTTPPORT`, `RTA_DataServiceUris__influx`);
//! 4. the command line: `--http-port 2650`, `--http-port=2650`,
//!    `--HttpPort 2650` and `--DataServiceUris:influx URL` are all accepted.
//!
//! Names are matched ignoring case, `-` and `_`, so `http-port`, `HTTP_PORT`
//! and `HttpPort` are the same option. A name may be nested with `:`
//! (`Trimmer:Interval`): it is then `RTA_Trimmer__Interval`,
//! `{"Trimmer": {"Interval": 30}}`, and `--trimmer-interval` or
//! `--Trimmer:Interval` on the command line. An option can have aliases,
//! other names accepted everywhere its own name is (`--redis` for
//! `RedisConnectionString`). Unknown command-line options are an
//! error; an `RTA_` environment variable or a config-file entry that no
//! option reads is kept in [`Options::unknown`] and logged as a warning at
//! start-up by [`OptionsParser::parse_env`], so a misspelt setting is never
//! silently ignored.
//!
//! Each service binary has a typed struct of its options (the
//! [`services`] module): [`SessionServiceOptions`], [`RtaServerOptions`]...
//!
//! ```
//! use rta_service::options::{OptionsParser, Parsed};
//!
//! let parser = OptionsParser::service("rta-sessionsvc", "Session service", 2650, 2652)
//!     .option("PageSize", "N", "Default page size", Some("50"));
//! let env = [("RTA_HTTPPORT".to_string(), "8000".to_string())];
//! let Parsed::Options(opts) = parser.parse_from(["--grpc-port", "9000"], env)? else { panic!() };
//! let svc = opts.service()?;
//! assert_eq!((svc.http_port, svc.grpc_port), (8000, 9000));
//! assert_eq!(opts.get_or::<u32>("PageSize")?, 50);
//! assert!(parser.help_text().contains("--http-port"));
//! # Ok::<(), rta_service::Error>(())
//! ```

mod demo_ingest;
mod files;
mod influx;
mod limits;
mod microservices;
mod names;
mod parser;
mod postgres;
pub mod services;
mod sets;
mod storage;
mod toolkit;
mod values;

pub use demo_ingest::DemoIngestOptions;
pub use files::{FileDataServiceOptions, FILE_DATA_SOURCE};
pub use influx::InfluxDataServiceOptions;
pub use limits::ListenerLimits;
pub use microservices::{DataServiceOptions, GatewayServiceOptions};
pub use names::*;
pub use parser::{OptionKind, OptionSpec, OptionsParser, Parsed};
pub use postgres::*;
pub use services::*;
pub use storage::Storage;
pub use values::{Options, ServiceOptions, Source};

#[cfg(test)]
mod tests;
