//! Merged option values and the options every service has.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use super::names::{
    flag_of, normalize_key, normalize_name, parse_bool, BIND, DATA_DIR, ENV_PREFIX, GRPC_PORT,
    HTTPS_PORT, HTTP_PORT, TLS_CA_FILE, TLS_CERT, TLS_KEY,
};
use crate::tls::TlsFiles;
use crate::{Error, Result};

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// The declared default.
    Default,
    /// The JSON config file.
    ConfigFile,
    /// An `RTA_` environment variable.
    Environment,
    /// The command line.
    CommandLine,
}

#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The key as written (sub-keys keep their case).
    pub(super) key: String,
    pub(super) value: String,
    pub(super) source: Source,
}

/// Merged option values, looked up by name ignoring case, `-` and `_`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    entries: BTreeMap<String, Entry>,
    /// `RTA_` variables and config-file keys that no option reads, as given.
    unknown: Vec<String>,
}

/// The options every service binary has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    /// Address to listen on (`0.0.0.0` by default).
    pub bind: IpAddr,
    /// HTTP (REST, monitoring) port.
    pub http_port: u16,
    /// gRPC port.
    pub grpc_port: u16,
    /// Directory of the embedded stores.
    pub data_dir: PathBuf,
    /// `TlsCert` and `TlsKey`: when set, HTTPS is served on `https_port`
    /// and the gRPC port speaks TLS only.
    pub tls: Option<TlsFiles>,
    /// `HttpsPort`, for services that have one.
    pub https_port: Option<u16>,
    /// `TlsCaFile`: CA certificates trusted when this service calls others.
    pub ca_file: Option<PathBuf>,
    /// `Limits:*`: timeouts and caps of every listener.
    pub limits: super::ListenerLimits,
}

impl ServiceOptions {
    /// Plain HTTP on `http_addr` only: no gRPC port, no TLS, no store
    /// directory (what a test or a gateway starts from).
    ///
    /// ```
    /// let o = rta_service::options::ServiceOptions::http("127.0.0.1:0".parse().unwrap());
    /// assert!(o.tls.is_none() && o.https_addr().is_none());
    /// ```
    pub fn http(http_addr: SocketAddr) -> Self {
        ServiceOptions {
            bind: http_addr.ip(),
            http_port: http_addr.port(),
            grpc_port: 0,
            data_dir: PathBuf::new(),
            tls: None,
            https_port: None,
            ca_file: None,
            limits: super::ListenerLimits::default(),
        }
    }

    /// The HTTPS listen address, when TLS is configured and the service has
    /// an HTTPS port.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        match (&self.tls, self.https_port) {
            (Some(_), Some(port)) => Some(SocketAddr::new(self.bind, port)),
            _ => None,
        }
    }

    /// The HTTP listen address.
    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.http_port)
    }

    /// The gRPC listen address.
    pub fn grpc_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.grpc_port)
    }
}

impl Options {
    pub(super) fn insert(&mut self, key: &str, value: String, source: Source) {
        self.entries.insert(
            normalize_key(key),
            Entry {
                key: key.to_string(),
                value,
                source,
            },
        );
    }

    pub(super) fn push_unknown(&mut self, what: String) {
        self.unknown.push(what);
    }

    /// The `RTA_` environment variables (`RTA_HtpPort`) and config-file keys
    /// (`Htp:Port in appsettings.json`) that no option reads, as they were
    /// given. [`OptionsParser::parse_env`] logs each as a warning.
    ///
    /// ```
    /// use rta_service::options::{OptionsParser, Parsed};
    ///
    /// let parser = OptionsParser::service("svc", "a service", 2650, 2652);
    /// let env = [("RTA_HtpPort".to_string(), "1".to_string())];
    /// let Parsed::Options(opts) = parser.parse_from(Vec::<String>::new(), env)? else { panic!() };
    /// assert_eq!(opts.unknown(), ["RTA_HtpPort"]);
    /// # Ok::<(), rta_service::Error>(())
    /// ```
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }

    /// The raw value of an option (after defaults), if any.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .get(&normalize_key(name))
            .map(|e| e.value.as_str())
    }

    /// Where the value of an option came from.
    pub fn source(&self, name: &str) -> Option<Source> {
        self.entries.get(&normalize_key(name)).map(|e| e.source)
    }

    /// The value of whichever of `names` (aliases of one setting) was given
    /// with the highest precedence; the first name wins a tie.
    ///
    /// ```
    /// use rta_service::options::{OptionsParser, Parsed, LABEL, SERVICE_INFO_LABEL};
    ///
    /// let parser = OptionsParser::new("svc", "a service").info_options("Default label");
    /// let env = [("RTA_SERVICEINFO__LABEL".to_string(), "From env".to_string())];
    /// let Parsed::Options(opts) = parser.parse_from(Vec::<String>::new(), env)? else { panic!() };
    /// assert_eq!(opts.get_first(&[LABEL, SERVICE_INFO_LABEL]), Some("From env"));
    /// # Ok::<(), rta_service::Error>(())
    /// ```
    pub fn get_first(&self, names: &[&str]) -> Option<&str> {
        let mut best: Option<&Entry> = None;
        for name in names {
            if let Some(e) = self.entries.get(&normalize_key(name)) {
                if best.is_none_or(|b| e.source > b.source) {
                    best = Some(e);
                }
            }
        }
        best.map(|e| e.value.as_str())
    }

    /// The value parsed as `T`, or `None` when absent.
    pub fn parse<T>(&self, name: &str) -> Result<Option<T>>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|e| Error::option(name, format!("{v:?}: {e}"))),
        }
    }

    /// The value parsed as `T`; an error when absent (with no default).
    pub fn get_or<T>(&self, name: &str) -> Result<T>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        self.parse(name)?.ok_or_else(|| {
            Error::option(
                name,
                format!(
                    "is required (--{} or {ENV_PREFIX}{})",
                    flag_of(name),
                    name.replace(':', "__")
                ),
            )
        })
    }

    /// A switch: `true`/`false` in any case, `1`/`0`, `yes`/`no`; absent is `false`.
    pub fn switch(&self, name: &str) -> Result<bool> {
        match self.get(name) {
            None => Ok(false),
            Some(v) => parse_bool(v)
                .ok_or_else(|| Error::option(name, format!("{v:?} is not true or false"))),
        }
    }

    /// The entries of a section, keyed by sub-key as written.
    pub fn section(&self, name: &str) -> BTreeMap<String, String> {
        let prefix = format!("{}:", normalize_name(name));
        self.entries
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(_, e)| {
                let sub = e.key.split_once(':')?.1;
                Some((sub.to_string(), e.value.clone()))
            })
            .collect()
    }

    /// The [`BIND`] address: an IP address (`[::1]` too), `localhost`, or
    /// `*` for every interface; `0.0.0.0` when absent.
    pub fn bind(&self) -> Result<IpAddr> {
        let bind_text = self.get(BIND).unwrap_or("0.0.0.0");
        Ok(match bind_text.trim() {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            "*" | "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            other => other
                .trim_matches(|c| c == '[' || c == ']')
                .parse()
                .map_err(|_| Error::option(BIND, format!("{bind_text:?} is not an IP address")))?,
        })
    }

    /// The auth options when `EnableAuth` is true (declared by
    /// [`OptionsParser::auth_options`](super::OptionsParser::auth_options)):
    /// `Auth:Authority` and `Auth:Audience` are then required, and an
    /// `http://` authority needs `Auth:RequireHttpsMetadata=false`.
    ///
    /// ```
    /// use rta_service::options::{OptionsParser, Parsed};
    ///
    /// let parser = OptionsParser::new("svc", "a service").auth_options();
    /// let args = ["--enable-auth", "true", "--Auth:Authority", "http://idp", "--Auth:Audience", "rta"];
    /// let Parsed::Options(opts) = parser.parse_from(args, Vec::new())? else { panic!() };
    /// assert!(opts.auth().unwrap_err().to_string().contains("RequireHttpsMetadata"));
    /// # Ok::<(), rta_service::Error>(())
    /// ```
    pub fn auth(&self) -> Result<Option<crate::auth::AuthOptions>> {
        if !self.switch("EnableAuth")? {
            return Ok(None);
        }
        let authority: String = self.get_or("Auth:Authority")?;
        let audience: String = self.get_or("Auth:Audience")?;
        let https = authority.starts_with("https://");
        if !https && !authority.starts_with("http://") {
            return Err(Error::option(
                "Auth:Authority",
                format!("{authority:?} is not an http(s) URL"),
            ));
        }
        let require_https = match self.get("Auth:RequireHttpsMetadata") {
            None => true,
            Some(_) => self.switch("Auth:RequireHttpsMetadata")?,
        };
        if !https && require_https {
            return Err(Error::option(
                "Auth:Authority",
                format!(
                    "{authority:?} is not https; set Auth:RequireHttpsMetadata=false for a lab issuer"
                ),
            ));
        }
        Ok(Some(crate::auth::AuthOptions {
            authority,
            audience,
            write_scope: self.get("Auth:WriteScope").map(str::to_string),
            ca_file: self.ca_file(),
        }))
    }

    /// The options every service has (ports, bind address, `DataDir`, TLS),
    /// validated; ports a service does not declare are 0.
    pub fn service(&self) -> Result<ServiceOptions> {
        Ok(ServiceOptions {
            bind: self.bind()?,
            http_port: self.get_or(HTTP_PORT)?,
            // The gateway and the stream service have no gRPC port.
            grpc_port: self
                .get(GRPC_PORT)
                .map(|_| self.get_or(GRPC_PORT))
                .transpose()?
                .unwrap_or(0),
            data_dir: PathBuf::from(self.get(DATA_DIR).unwrap_or("data")),
            tls: self.tls()?,
            https_port: self
                .get(HTTPS_PORT)
                .map(|_| self.get_or(HTTPS_PORT))
                .transpose()?,
            ca_file: self.ca_file(),
            limits: super::ListenerLimits::from_options(self)?,
        })
    }

    /// `TlsCert` and `TlsKey` (both or neither).
    pub fn tls(&self) -> Result<Option<TlsFiles>> {
        match (self.get(TLS_CERT), self.get(TLS_KEY)) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles::new(cert, key))),
            (None, None) => Ok(None),
            _ => Err(Error::option(
                TLS_CERT,
                "--tls-cert and --tls-key go together",
            )),
        }
    }

    /// `TlsCaFile`, when given.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.get(TLS_CA_FILE).map(PathBuf::from)
    }
}
