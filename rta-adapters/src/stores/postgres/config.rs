//! Connection options of the PostgreSQL session store: the toolkit's
//! `PostgresConnectionString` (the .NET Npgsql `Key=Value;…` form, a
//! `postgres://` URL, or a libpq `key=value …` string), `PostgresSchema`
//! and `PostgresConnectionTimeout`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rta_core::Error;

/// The default schema (`PostgresSchema`).
pub const DEFAULT_SCHEMA: &str = "rta_sessions";

/// The default time to wait for a connection (`PostgresConnectionTimeout`).
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_millis(60_000);

/// The default number of pooled connections per store.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// Where and how the store connects. `Debug` never shows the password.
///
/// ```
/// use rta_adapters::stores::PostgresOptions;
///
/// let o = PostgresOptions::parse(
///     "Server=db.local;Port=5433;Database=rta;User Id=svc;Password=hunter2;",
/// )?;
/// assert_eq!(o.schema, "rta_sessions");
/// assert!(!format!("{o:?}").contains("hunter2"));
/// assert!(o.redacted().contains("db.local:5433"));
/// # Ok::<(), rta_core::Error>(())
/// ```
#[derive(Clone)]
pub struct PostgresOptions {
    /// The driver configuration (hosts, user, password, database).
    pub config: tokio_postgres::Config,
    /// The schema holding the tables (`PostgresSchema`).
    pub schema: String,
    /// How long to wait for a connection (`PostgresConnectionTimeout`).
    pub connection_timeout: Duration,
    /// Most pooled connections (`Maximum Pool Size` in the .NET form).
    pub pool_size: usize,
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("server", &self.redacted())
            .field("schema", &self.schema)
            .field("connection_timeout", &self.connection_timeout)
            .field("pool_size", &self.pool_size)
            .finish()
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(format!("PostgresConnectionString: {}", msg.into()))
}

impl PostgresOptions {
    /// Parses a connection string with the default schema and timeout.
    pub fn parse(connection_string: &str) -> rta_core::Result<Self> {
        let s = connection_string.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let mut pool_size = DEFAULT_POOL_SIZE;
        let config = if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            tokio_postgres::Config::from_str(s)
                .map_err(|e| bad(format!("not a valid postgres:// URL ({e})")))?
        } else if !s.contains(';') && s.contains(' ') {
            tokio_postgres::Config::from_str(s)
                .map_err(|e| bad(format!("not a valid libpq key=value string ({e})")))?
        } else {
            npgsql(s, &mut pool_size)?
        };
        if config.get_hosts().is_empty() {
            return Err(bad("no Server (or Host) given"));
        }
        if config.get_user().is_none() {
            return Err(bad("no User Id (or Username) given"));
        }
        Ok(PostgresOptions {
            config,
            schema: DEFAULT_SCHEMA.to_string(),
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
            pool_size,
        })
    }

    /// Sets the schema (`PostgresSchema`): letters, digits and `_`, not
    /// starting with a digit, at most 63 characters.
    pub fn with_schema(mut self, schema: &str) -> rta_core::Result<Self> {
        let ok = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !schema.starts_with(|c: char| c.is_ascii_digit());
        if !ok {
            return Err(Error::InvalidArgument(format!(
                "PostgresSchema {schema:?} must be 1 to 63 letters, digits or '_', not starting with a digit"
            )));
        }
        self.schema = schema.to_string();
        Ok(self)
    }

    /// Sets how long to wait for a connection (`PostgresConnectionTimeout`).
    pub fn with_connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// `user@host:port/database`, without the password (for logs).
    pub fn redacted(&self) -> String {
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let host = match h {
                    tokio_postgres::config::Host::Tcp(h) => h.clone(),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                };
                let ports = self.config.get_ports();
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                format!("{host}:{port}")
            })
            .collect();
        format!(
            "{}@{}/{}",
            self.config.get_user().unwrap_or_default(),
            hosts.join(","),
            self.config.get_dbname().unwrap_or_default()
        )
    }
}

/// Splits `Key=Value;Key="quoted;value";…` into pairs.
fn pairs(s: &str) -> rta_core::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ';') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            if c == ';' {
                return Err(bad(format!("{:?} has no value", key.trim())));
            }
            key.push(c);
        }
        while chars.peek().is_some_and(|c| *c == ' ') {
            chars.next();
        }
        let mut value = String::new();
        match chars.peek().copied() {
            Some(q @ ('"' | '\'')) => {
                chars.next();
                loop {
                    match chars.next() {
                        // a doubled quote is a literal quote
                        Some(c) if c == q && chars.peek() == Some(&q) => {
                            chars.next();
                            value.push(q);
                        }
                        Some(c) if c == q => break,
                        Some(c) => value.push(c),
                        None => return Err(bad(format!("unterminated quote in {:?}", key.trim()))),
                    }
                }
                while chars.peek().is_some_and(|c| *c != ';') {
                    chars.next();
                }
            }
            _ => {
                while let Some(c) = chars.peek().copied() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_string();
            }
        }
        out.push((key.trim().to_ascii_lowercase(), value));
    }
}

/// The .NET (Npgsql) form: `Server=…;Port=…;Database=…;User Id=…;Password=…`.
fn npgsql(s: &str, pool_size: &mut usize) -> rta_core::Result<tokio_postgres::Config> {
    let mut c = tokio_postgres::Config::new();
    let mut port = None;
    for (key, value) in pairs(s)? {
        match key.as_str() {
            "server" | "host" | "data source" | "datasource" | "address" | "addr" => {
                for h in value.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                    // `host:port` is accepted as well
                    match h.rsplit_once(':').filter(|(_, p)| p.parse::<u16>().is_ok()) {
                        Some((h, p)) => {
                            c.host(h);
                            port = p.parse().ok().or(port);
                        }
                        None => {
                            c.host(h);
                        }
                    }
                }
            }
            "port" => {
                port = Some(
                    value
                        .parse::<u16>()
                        .map_err(|_| bad(format!("Port {value:?} is not a port number")))?,
                );
            }
            "database" | "db" | "initial catalog" => {
                c.dbname(&value);
            }
            "user id" | "userid" | "user name" | "username" | "user" | "uid" => {
                c.user(&value);
            }
            "password" | "pwd" | "psw" => {
                c.password(value.as_bytes());
            }
            "application name" | "applicationname" => {
                c.application_name(&value);
            }
            "timeout" => {
                let secs: u64 = value
                    .parse()
                    .map_err(|_| bad(format!("Timeout {value:?} is not a number of seconds")))?;
                c.connect_timeout(Duration::from_secs(secs.max(1)));
            }
            "maximum pool size" | "maxpoolsize" => {
                *pool_size = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        bad(format!(
                            "Maximum Pool Size {value:?} is not a positive number"
                        ))
                    })?;
            }
            "ssl mode" | "sslmode" => {
                let v = value.to_ascii_lowercase();
                if !matches!(v.as_str(), "disable" | "allow" | "prefer") {
                    return Err(bad(format!(
                        "SSL Mode {value:?} is not supported (TLS to PostgreSQL is not built in; use Disable or Prefer)"
                    )));
                }
            }
            other => {
                tracing::warn!(key = other, "PostgresConnectionString: key ignored");
            }
        }
    }
    if let Some(p) = port {
        c.port(p);
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotnet_form_with_aliases_and_quotes() {
        let o = PostgresOptions::parse(
            "host=h1;PORT=6000;Database=d;Username=u;Pwd=\"p;w\"\"d\";Maximum Pool Size=4",
        )
        .unwrap();
        assert_eq!(o.config.get_user(), Some("u"));
        assert_eq!(o.config.get_password(), Some(&b"p;w\"d"[..]));
        assert_eq!(o.config.get_ports(), &[6000]);
        assert_eq!(o.config.get_dbname(), Some("d"));
        assert_eq!(o.pool_size, 4);
        assert_eq!(o.redacted(), "u@h1:6000/d");
        let o = PostgresOptions::parse("Server=db;Uid=x;Password=secret").unwrap();
        assert!(!format!("{o:?}").contains("secret"));
    }

    #[test]
    fn urls_and_errors() {
        let o = PostgresOptions::parse("postgres://a:b@localhost:5439/x").unwrap();
        assert_eq!(o.config.get_ports(), &[5439]);
        assert!(PostgresOptions::parse("Server=x;Port=abc;User Id=u")
            .unwrap_err()
            .to_string()
            .contains("Port"));
        assert!(PostgresOptions::parse("Port=1;User Id=u")
            .unwrap_err()
            .to_string()
            .contains("Server"));
        assert!(PostgresOptions::parse("Server=x;User Id=u")
            .unwrap()
            .with_schema("bad-name")
            .is_err());
    }
}
