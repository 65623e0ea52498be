//! The resource limits of every listener (`Limits:*`), so that slow,
//! broken or hostile clients cannot hold a service's connections, memory or
//! file descriptors.
//!
//! ```
//! use rta_service::options::{ListenerLimits, OptionsParser, Parsed};
//!
//! let parser = OptionsParser::new("svc", "a service").listener_options(None);
//! let env = [("RTA_Limits__MaxConnections".to_string(), "100".to_string())];
//! let Parsed::Options(opts) = parser.parse_from(Vec::<String>::new(), env)? else { panic!() };
//! let limits = ListenerLimits::from_options(&opts)?;
//! assert_eq!(limits.max_connections, 100);
//! assert_eq!(limits.header_read_timeout, ListenerLimits::default().header_read_timeout);
//! # Ok::<(), rta_service::Error>(())
//! ```

use std::time::Duration;

use super::parser::OptionsParser;
use super::values::Options;
use crate::{Error, Result};

const HEADER_READ_TIMEOUT: &str = "Limits:HeaderReadTimeoutSeconds";
const MAX_CONNECTIONS: &str = "Limits:MaxConnections";
const MAX_BODY: &str = "Limits:MaxRequestBodyBytes";
const H2_STREAMS: &str = "Limits:Http2MaxConcurrentStreams";
const H2_HEADER_LIST: &str = "Limits:Http2MaxHeaderListBytes";
const KEEPALIVE: &str = "Limits:KeepAliveSeconds";

/// Limits applied by `serve` to every HTTP, HTTPS and gRPC listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerLimits {
    /// A client must send a whole request head within this time, counted
    /// from when the connection is ready for one: it also closes HTTP/1
    /// keep-alive connections left idle that long, and bounds the wait for
    /// a new connection's first bytes (`Limits:HeaderReadTimeoutSeconds`,
    /// default 10 s).
    pub header_read_timeout: Duration,
    /// Open connections per listener; beyond it a new connection waits up
    /// to a second for a free slot and is then closed, while existing
    /// connections keep working (`Limits:MaxConnections`, default 4096).
    pub max_connections: usize,
    /// Largest request body the REST routes read
    /// (`Limits:MaxRequestBodyBytes`, default 2 MiB).
    pub max_request_body: usize,
    /// HTTP/2 streams at once per connection (REST over h2 and gRPC;
    /// `Limits:Http2MaxConcurrentStreams`, default 256).
    pub http2_max_concurrent_streams: u32,
    /// Largest HTTP/2 header list (`Limits:Http2MaxHeaderListBytes`,
    /// default 64 KiB).
    pub http2_max_header_list: u32,
    /// HTTP/2 and gRPC keep-alive ping interval; a peer that does not answer
    /// within it is dropped (`Limits:KeepAliveSeconds`, default 30 s).
    pub keep_alive: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_request_body: 2 * 1024 * 1024,
            http2_max_concurrent_streams: 256,
            http2_max_header_list: 64 * 1024,
            keep_alive: Duration::from_secs(30),
        }
    }
}

impl ListenerLimits {
    /// Reads the `Limits:*` options; absent ones keep their defaults.
    pub fn from_options(raw: &Options) -> Result<Self> {
        let d = ListenerLimits::default();
        let secs = |name: &str, default: Duration| -> Result<Duration> {
            match raw.parse::<f64>(name)? {
                None => Ok(default),
                Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
                    Ok(Duration::from_secs_f64(s))
                }
                Some(s) => Err(Error::option(
                    name,
                    format!("{s} is not a number of seconds in (0, 86400]"),
                )),
            }
        };
        let positive = |name: &str, v: Option<u64>, default: u64| -> Result<u64> {
            match v {
                None => Ok(default),
                Some(0) => Err(Error::option(name, "must be at least 1")),
                Some(n) => Ok(n),
            }
        };
        let to_u32 = |name: &str, n: u64| {
            u32::try_from(n).map_err(|_| Error::option(name, format!("{n} is too large")))
        };
        Ok(ListenerLimits {
            header_read_timeout: secs(HEADER_READ_TIMEOUT, d.header_read_timeout)?,
            max_connections: positive(
                MAX_CONNECTIONS,
                raw.parse(MAX_CONNECTIONS)?,
                d.max_connections as u64,
            )? as usize,
            max_request_body: positive(MAX_BODY, raw.parse(MAX_BODY)?, d.max_request_body as u64)?
                as usize,
            http2_max_concurrent_streams: to_u32(
                H2_STREAMS,
                positive(
                    H2_STREAMS,
                    raw.parse(H2_STREAMS)?,
                    u64::from(d.http2_max_concurrent_streams),
                )?,
            )?,
            http2_max_header_list: to_u32(
                H2_HEADER_LIST,
                positive(
                    H2_HEADER_LIST,
                    raw.parse(H2_HEADER_LIST)?,
                    u64::from(d.http2_max_header_list),
                )?,
            )?,
            keep_alive: secs(KEEPALIVE, d.keep_alive)?,
        })
    }
}

/// Declares the `Limits:*` options (no defaults in the parser: absent
/// values keep [`ListenerLimits::default`]).
pub(super) fn declare(parser: OptionsParser) -> OptionsParser {
    parser
        .option(
            HEADER_READ_TIMEOUT,
            "SECS",
            "Time a client has to send a request head; also the HTTP/1 idle keep-alive limit (default 10)",
            None,
        )
        .option(
            MAX_CONNECTIONS,
            "N",
            "Open connections per listener; more wait briefly, then are closed (default 4096)",
            None,
        )
        .option(
            MAX_BODY,
            "BYTES",
            "Largest REST request body (default 2097152)",
            None,
        )
        .option(
            H2_STREAMS,
            "N",
            "HTTP/2 and gRPC streams at once per connection (default 256)",
            None,
        )
        .option(
            H2_HEADER_LIST,
            "BYTES",
            "Largest HTTP/2 header list (default 65536)",
            None,
        )
        .option(
            KEEPALIVE,
            "SECS",
            "HTTP/2 and gRPC keep-alive ping interval (default 30)",
            None,
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Parsed;

    fn parse(env: &[(&str, &str)]) -> Result<ListenerLimits> {
        let parser = OptionsParser::new("t", "t").listener_options(None);
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let Parsed::Options(o) =
            parser.parse_from(Vec::<String>::new(), env.collect::<Vec<_>>())?
        else {
            panic!("help")
        };
        ListenerLimits::from_options(&o)
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(parse(&[]).unwrap(), ListenerLimits::default());
        let l = parse(&[
            ("RTA_Limits__HeaderReadTimeoutSeconds", "2.5"),
            ("RTA_Limits__Http2MaxConcurrentStreams", "8"),
        ])
        .unwrap();
        assert_eq!(l.header_read_timeout, Duration::from_millis(2500));
        assert_eq!(l.http2_max_concurrent_streams, 8);
    }

    #[test]
    fn bad_values_name_the_option() {
        for (k, v) in [
            ("RTA_Limits__MaxConnections", "0"),
            ("RTA_Limits__HeaderReadTimeoutSeconds", "-1"),
            ("RTA_Limits__Http2MaxHeaderListBytes", "99999999999"),
            ("RTA_Limits__KeepAliveSeconds", "soon"),
        ] {
            let err = parse(&[(k, v)]).unwrap_err().to_string();
            let name = k.trim_start_matches("RTA_").replace("__", ":");
            assert!(err.contains(&name), "{err}");
        }
    }
}
