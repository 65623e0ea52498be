//! The toolkit's PostgreSQL options of `rta-sessionsvc` and `rta-server`:
//! `PostgresConnectionString`, `PostgresSchema` (`rta_sessions`) and
//! `PostgresConnectionTimeout` (ms, `60000`). When the connection string is
//! set, sessions live in PostgreSQL; otherwise in SQLite under `DataDir`.
//!
//! ```
//! use rta_service::options::{postgres_options, OptionsParser, Parsed};
//!
//! let parser = OptionsParser::new("x", "x").postgres_options();
//! let env = [(
//!     "RTA_PostgresConnectionString".to_string(),
//!     "Server=db;Port=5432;Database=postgres;User Id=postgres;Password=hunter2;".to_string(),
//! )];
//! let Parsed::Options(raw) = parser.parse_from(["--PostgresConnectionTimeout", "5000"], env)? else {
//!     panic!()
//! };
//! let pg = postgres_options(&raw)?.expect("set");
//! assert_eq!(pg.schema, "rta_sessions");
//! assert_eq!(pg.connection_timeout.as_millis(), 5000);
//! assert!(!format!("{pg:?}").contains("hunter2"));
//! # Ok::<(), rta_service::Error>(())
//! ```

use std::time::Duration;

use rta_adapters::stores::postgres::{DEFAULT_CONNECTION_TIMEOUT, DEFAULT_SCHEMA};
use rta_adapters::stores::PostgresOptions;

use super::parser::OptionsParser;
use super::values::Options;
use crate::{Error, Result};

/// `PostgresConnectionString`.
pub const POSTGRES_CONNECTION_STRING: &str = "PostgresConnectionString";
/// `PostgresSchema`.
pub const POSTGRES_SCHEMA: &str = "PostgresSchema";
/// `PostgresConnectionTimeout` (milliseconds).
pub const POSTGRES_CONNECTION_TIMEOUT: &str = "PostgresConnectionTimeout";

impl OptionsParser {
    /// Declares the PostgreSQL session-store options.
    pub fn postgres_options(self) -> Self {
        let timeout = DEFAULT_CONNECTION_TIMEOUT.as_millis().to_string();
        self.option(
            POSTGRES_CONNECTION_STRING,
            "CONN",
            "Keep sessions in PostgreSQL: Server=…;Port=…;Database=…;User Id=…;Password=… or postgres://… (default: SQLite under DataDir)",
            None,
        )
        .option(
            POSTGRES_SCHEMA,
            "NAME",
            "PostgreSQL schema of the session tables",
            Some(DEFAULT_SCHEMA),
        )
        .option(
            POSTGRES_CONNECTION_TIMEOUT,
            "MS",
            "Time (ms) to wait for a PostgreSQL connection",
            Some(&timeout),
        )
    }
}

/// The PostgreSQL options, or `None` when `PostgresConnectionString` is
/// not set (or empty).
pub fn postgres_options(raw: &Options) -> Result<Option<PostgresOptions>> {
    let Some(conn) = raw
        .get(POSTGRES_CONNECTION_STRING)
        .filter(|c| !c.trim().is_empty())
    else {
        return Ok(None);
    };
    let opts = PostgresOptions::parse(conn)
        .map_err(|e| Error::option(POSTGRES_CONNECTION_STRING, e.to_string()))?;
    let schema = raw.get(POSTGRES_SCHEMA).unwrap_or(DEFAULT_SCHEMA);
    let opts = opts
        .with_schema(schema)
        .map_err(|e| Error::option(POSTGRES_SCHEMA, e.to_string()))?;
    let ms: u64 = match raw.parse(POSTGRES_CONNECTION_TIMEOUT)? {
        Some(ms) => ms,
        None => DEFAULT_CONNECTION_TIMEOUT.as_millis() as u64,
    };
    if ms == 0 {
        return Err(Error::option(
            POSTGRES_CONNECTION_TIMEOUT,
            "must be a positive number of milliseconds",
        ));
    }
    Ok(Some(
        opts.with_connection_timeout(Duration::from_millis(ms)),
    ))
}
