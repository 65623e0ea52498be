//! Redis connection strings.
//!
//! Two forms are accepted:
//!
//! - a URL: `redis://[user[:password]@]host[:port][/db]`, `rediss://...` for
//!   TLS (needs the `tls` feature), `unix:///path/to/socket`;
//! - the `host[:port][,option=value...]` form that the .NET toolkit's
//!   `RedisConnectionString` uses, e.g. `myredishost` or
//!   `localhost:6380,password=secret,ssl=true,defaultDatabase=2`
//!   (options `password`, `user`, `ssl`, `defaultDatabase`; others ignored).
//!
//! A separate `db` argument (the `RedisDb` option) overrides the database.
//!
//! Redis Sentinel and Redis Cluster are refused with an error saying so
//! (`redis+sentinel://`, `redis+cluster://` and similar schemes, a
//! `serviceName=` option, or several endpoints in the toolkit form): the
//! `redis` crate parses no such URL, and the live path reads several streams
//! with one `XREAD`, which a cluster refuses when the keys are on different
//! slots. Point the services at the primary (or a proxy in front of the
//! sentinels) instead.
//!
//! ```
//! let c = rta_stream::conn::client("localhost:6390,password=p@ss", Some(3)).unwrap();
//! let info = c.get_connection_info();
//! assert_eq!(info.redis_settings().db(), 3);
//! assert_eq!(info.redis_settings().password(), Some("p@ss"));
//! ```

use redis::IntoConnectionInfo;

use crate::{Error, Result};

/// Builds a Redis client (no connection is made yet) from a connection string.
pub fn client(target: &str, db: Option<i64>) -> Result<redis::Client> {
    client_with_ca(target, db, None)
}

/// [`client`], trusting the PEM certificates of `ca_file` (the `TlsCaFile`
/// option) for `rediss://` beside the web roots. A CA file needs the `tls`
/// feature; with a plain `redis://` URL it is not used.
///
/// ```
/// // A missing CA file is an error (naming the file with the `tls` feature).
/// let err = rta_stream::conn::client_with_ca("rediss://h", None, Some("/no/such.pem".as_ref()));
/// assert!(err.is_err());
/// ```
pub fn client_with_ca(
    target: &str,
    db: Option<i64>,
    ca_file: Option<&std::path::Path>,
) -> Result<redis::Client> {
    let url = to_url(target)?;
    let mut info = url
        .as_str()
        .into_connection_info()
        .map_err(|e| Error::Config(format!("Redis connection string {target:?}: {e}")))?;
    if let Some(db) = db {
        let settings = info.redis_settings().clone().set_db(db);
        info = info.set_redis_settings(settings);
    }
    let built = match ca_file {
        Some(ca) => with_ca(info, ca),
        None => redis::Client::open(info),
    };
    built.map_err(|e| Error::Config(format!("Redis {target:?}: {e}")))
}

#[cfg(feature = "tls")]
fn with_ca(info: redis::ConnectionInfo, ca: &std::path::Path) -> redis::RedisResult<redis::Client> {
    let pem = std::fs::read(ca).map_err(|e| {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "cannot read the CA file",
            format!("{}: {e}", ca.display()),
        ))
    })?;
    let certs = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    };
    redis::Client::build_with_tls(info, certs)
}

#[cfg(not(feature = "tls"))]
fn with_ca(
    _info: redis::ConnectionInfo,
    ca: &std::path::Path,
) -> redis::RedisResult<redis::Client> {
    Err(redis::RedisError::from((
        redis::ErrorKind::InvalidClientConfig,
        "a CA file needs rta-stream's `tls` feature",
        ca.display().to_string(),
    )))
}

/// Converts either accepted form to a URL.
pub fn to_url(target: &str) -> Result<String> {
    let target = target.trim();
    if target.is_empty() {
        return Err(Error::Config("empty Redis connection string".into()));
    }
    if let Some((scheme, _)) = target.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        if scheme.contains("sentinel") || scheme.contains("cluster") {
            return Err(unsupported(target, &scheme));
        }
        return Ok(target.to_string());
    }
    let mut parts = target.split(',').map(str::trim);
    let endpoint = parts.next().unwrap_or_default();
    let (mut user, mut password, mut tls, mut db) = (None, None, false, None);
    for opt in parts.filter(|p| !p.is_empty()) {
        let Some((k, v)) = opt.split_once('=') else {
            return Err(unsupported(target, "several endpoints (cluster)"));
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "password" => password = Some(v.to_string()),
            "user" => user = Some(v.to_string()),
            "ssl" => {
                tls = v
                    .trim()
                    .parse::<bool>()
                    .map_err(|_| Error::Config(format!("ssl={v:?} is not true or false")))?
            }
            "defaultdatabase" => {
                db =
                    Some(v.trim().parse::<i64>().map_err(|_| {
                        Error::Config(format!("defaultDatabase={v:?} is not a number"))
                    })?)
            }
            "servicename" => return Err(unsupported(target, "serviceName (sentinel)")),
            other => tracing::debug!("ignoring Redis connection option {other:?}"),
        }
    }
    let (host, port) = match endpoint.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (
            h,
            p.parse::<u16>()
                .map_err(|_| Error::Config(format!("bad Redis port in {endpoint:?}")))?,
        ),
        _ => (endpoint, 6379),
    };
    if host.is_empty() {
        return Err(Error::Config(format!("no Redis host in {target:?}")));
    }
    let mut url = String::from(if tls { "rediss://" } else { "redis://" });
    if user.is_some() || password.is_some() {
        if let Some(u) = &user {
            url.push_str(&encode_userinfo(u));
        }
        if let Some(p) = &password {
            url.push(':');
            url.push_str(&encode_userinfo(p));
        }
        url.push('@');
    }
    url.push_str(&format!("{host}:{port}"));
    if let Some(db) = db {
        url.push_str(&format!("/{db}"));
    }
    Ok(url)
}

/// The error for a Sentinel or Cluster connection string. The string may
/// hold a password: only the form is named.
fn unsupported(target: &str, what: &str) -> Error {
    let kind = if what.contains("sentinel") {
        "Redis Sentinel"
    } else {
        "Redis Cluster"
    };
    let shown = target.split([',', '@']).next().unwrap_or_default();
    let shown = if target.contains('@') {
        shown.split("://").next().unwrap_or_default().to_string() + "://..."
    } else {
        shown.to_string()
    };
    Error::Config(format!(
        "{kind} is not supported ({what} in {shown:?}): give the address of the primary, \
         e.g. redis://host:6379 or host:6379,password=..."
    ))
}

fn encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(to_url("myredishost").unwrap(), "redis://myredishost:6379");
        assert_eq!(to_url("localhost:8389").unwrap(), "redis://localhost:8389");
        assert_eq!(
            to_url("h:1,password=a b:c,ssl=true,defaultDatabase=4").unwrap(),
            "rediss://:a%20b%3Ac@h:1/4"
        );
        assert_eq!(to_url("redis://x:1/2").unwrap(), "redis://x:1/2");
        assert!(to_url("").is_err());
        assert!(to_url("h:notaport").is_err());
        assert!(to_url("h,ssl=maybe").is_err());
    }

    #[test]
    fn sentinel_and_cluster_are_refused_by_name() {
        for (target, kind) in [
            ("redis+sentinel://s1:26379/mymaster", "Sentinel"),
            ("redis-sentinel://s1:26379", "Sentinel"),
            ("redis+cluster://:pw@c1:7000", "Cluster"),
            ("s1:26379,serviceName=mymaster,password=pw", "Sentinel"),
            ("c1:7000,c2:7000,password=pw", "Cluster"),
        ] {
            let e = to_url(target).unwrap_err().to_string();
            assert!(e.contains(kind), "{target}: {e}");
            assert!(!e.contains("pw"), "the password is not shown: {e}");
        }
    }

    #[test]
    fn db_override_and_password() {
        let c = client("redis://:pw@localhost:1/5", None).unwrap();
        assert_eq!(c.get_connection_info().redis_settings().db(), 5);
        let c = client("redis://:pw@localhost:1/5", Some(9)).unwrap();
        assert_eq!(c.get_connection_info().redis_settings().db(), 9);
        let c = client("localhost,password=a%b", None).unwrap();
        assert_eq!(
            c.get_connection_info().redis_settings().password(),
            Some("a%b")
        );
    }
}
