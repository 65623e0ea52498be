//! Options of `rta-demo-ingest`, which writes a live demo session to Redis.

use std::time::Duration;

use super::parser::OptionsParser;
use super::values::Options;
use crate::Result;

const REDIS: &str = "RedisConnectionString";
const REDIS_DB: &str = "RedisDb";

/// Options of `rta-demo-ingest`, which writes a live demo session to Redis.
#[derive(Debug, Clone)]
pub struct DemoIngestOptions {
    /// `RedisConnectionString` (alias `Redis`).
    pub redis: String,
    /// `RedisDb`.
    pub redis_db: Option<i64>,
    /// `Stream`: stream name without the `stream:` prefix.
    pub stream: String,
    /// `Session`: the session identity (the caller picks one when absent).
    pub session: Option<String>,
    /// `DurationSecs`: session length.
    pub duration: Duration,
    /// `Fast`: write as fast as possible instead of in real time.
    pub fast: bool,
}

impl DemoIngestOptions {
    /// The options `rta-demo-ingest` declares.
    pub fn parser() -> OptionsParser {
        OptionsParser::new("rta-demo-ingest", "Writes a live demo session to Redis")
            .version(env!("CARGO_PKG_VERSION"))
            .option(
                REDIS,
                "URL",
                "Redis: a redis:// or rediss:// URL, or host[:port][,password=..]",
                Some("redis://127.0.0.1:6379"),
            )
            .alias("Redis")
            .option(REDIS_DB, "N", "Redis database number", None)
            .option(
                "Stream",
                "NAME",
                "Stream name (without the stream: prefix)",
                Some("demo"),
            )
            .option(
                "Session",
                "ID",
                "Session identity (a random UUID when absent)",
                None,
            )
            .option(
                "DurationSecs",
                "SECS",
                "Session length in seconds",
                Some("60"),
            )
            .switch("Fast", "Write as fast as possible instead of in real time")
    }

    /// Reads the options from merged values.
    pub fn from_options(raw: Options) -> Result<Self> {
        Ok(DemoIngestOptions {
            redis: raw.get_or(REDIS)?,
            redis_db: raw.parse(REDIS_DB)?,
            stream: raw.get_or("Stream")?,
            session: raw.get("Session").map(str::to_string),
            duration: Duration::from_secs(raw.get_or("DurationSecs")?),
            fast: raw.switch("Fast")?,
        })
    }

    /// Parses the process arguments and environment (exits on `--help`).
    pub fn from_env() -> Result<Self> {
        Self::from_options(Self::parser().parse_env()?)
    }
}
