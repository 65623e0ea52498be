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
//! error; unknown environment variables and config-file entries are ignored
//! (the environment holds other things too).
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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use serde_json::Value;

use crate::{Error, Result};

/// Prefix of the environment variables read as options.
pub const ENV_PREFIX: &str = "RTA_";

/// Name of the option giving the JSON config file.
pub const CONFIG: &str = "Config";
/// HTTP port option.
pub const HTTP_PORT: &str = "HttpPort";
/// gRPC port option.
pub const GRPC_PORT: &str = "GrpcPort";
/// Bind address option.
pub const BIND: &str = "Bind";
/// Data directory option.
pub const DATA_DIR: &str = "DataDir";
/// Label of `/rta/v2/info`.
pub const LABEL: &str = "Label";
/// Description of `/rta/v2/info`.
pub const DESCRIPTION: &str = "Description";
/// The toolkit's section for `/rta/v2/info` (`ServiceInfo:Label`,
/// `ServiceInfo:Description`; `RTA_ServiceInfo__Label`), accepted as well as
/// [`LABEL`] and [`DESCRIPTION`].
pub const SERVICE_INFO: &str = "ServiceInfo";
/// `ServiceInfo:Label`, the toolkit's name of [`LABEL`].
pub const SERVICE_INFO_LABEL: &str = "ServiceInfo:Label";
/// `ServiceInfo:Description`, the toolkit's name of [`DESCRIPTION`].
pub const SERVICE_INFO_DESCRIPTION: &str = "ServiceInfo:Description";

/// What kind of value an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    /// One value (`--name VALUE` or `--name=VALUE`).
    Value,
    /// A boolean; `--name` alone means `true`, `--name=false` turns it off.
    Switch,
    /// A map of values: `--name:key VALUE`, `RTA_name__key`, or a JSON object.
    Section,
}

/// The declaration of one option.
#[derive(Debug, Clone)]
pub struct OptionSpec {
    /// PascalCase name, e.g. `HttpPort`.
    pub name: String,
    /// Placeholder shown in the help (`N`, `DIR`...).
    pub value_name: String,
    /// One-line description.
    pub help: String,
    /// Default value, if any.
    pub default: Option<String>,
    /// What kind of value it takes.
    pub kind: OptionKind,
    /// Other names of the option (see [`OptionsParser::alias`]).
    pub aliases: Vec<String>,
}

impl OptionSpec {
    /// The kebab-case flag (`http-port` for `HttpPort`,
    /// `trimmer-interval` for `Trimmer:Interval`).
    pub fn flag(&self) -> String {
        flag_of(&self.name)
    }

    /// The environment variable (`RTA_HttpPort`, `RTA_Trimmer__Interval`).
    pub fn env_var(&self) -> String {
        format!("{ENV_PREFIX}{}", self.name.replace(':', "__"))
    }

    /// The declared name and the aliases.
    fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

/// Declares the options of a program and parses them.
#[derive(Debug, Clone)]
pub struct OptionsParser {
    program: String,
    about: String,
    version: Option<String>,
    specs: Vec<OptionSpec>,
}

/// The result of parsing: either options, or a help text to print.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// `--help` (or `--version`, see [`OptionsParser::version`]) was given:
    /// print this and exit successfully.
    Help(String),
    /// The merged options.
    Options(Options),
}

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
struct Entry {
    /// The key as written (sub-keys keep their case).
    key: String,
    value: String,
    source: Source,
}

/// Merged option values, looked up by name ignoring case, `-` and `_`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    entries: BTreeMap<String, Entry>,
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
}

impl ServiceOptions {
    /// The HTTP listen address.
    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.http_port)
    }

    /// The gRPC listen address.
    pub fn grpc_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.grpc_port)
    }
}

impl OptionsParser {
    /// A parser with only `--config FILE` (and `--help`).
    pub fn new(program: impl Into<String>, about: impl Into<String>) -> Self {
        OptionsParser {
            program: program.into(),
            about: about.into(),
            version: None,
            specs: Vec::new(),
        }
        .option(
            CONFIG,
            "FILE",
            "JSON file of options (same names as below)",
            None,
        )
    }

    /// A parser with the four service options (`--http-port`, `--grpc-port`,
    /// `--bind`, `--data-dir`) and their defaults.
    pub fn service(
        program: impl Into<String>,
        about: impl Into<String>,
        http_port: u16,
        grpc_port: u16,
    ) -> Self {
        OptionsParser::new(program, about)
            .option(
                HTTP_PORT,
                "N",
                "HTTP port (REST API, /health, /metrics)",
                Some(&http_port.to_string()),
            )
            .option(GRPC_PORT, "N", "gRPC port", Some(&grpc_port.to_string()))
            .option(BIND, "HOST", "Address to listen on", Some("0.0.0.0"))
            .option(
                DATA_DIR,
                "DIR",
                "Directory of the embedded stores",
                Some("data"),
            )
    }

    /// Adds `--label` and `--description`, what `/rta/v2/info` tells ATLAS
    /// (see `monitor::ServiceInfo::from_options`), and the toolkit's names for
    /// them, `ServiceInfo:Label` and `ServiceInfo:Description`
    /// (`RTA_ServiceInfo__Label`, `{"ServiceInfo": {"Label": ...}}`), so
    /// existing deployments keep their settings.
    pub fn info_options(self, default_label: &str) -> Self {
        self.option(
            LABEL,
            "TEXT",
            "Server label shown by ATLAS (/rta/v2/info)",
            Some(default_label),
        )
        .option(
            DESCRIPTION,
            "TEXT",
            "Server description shown by ATLAS (/rta/v2/info)",
            Some(""),
        )
        .section(
            SERVICE_INFO,
            "Toolkit names of the two above: ServiceInfo:Label, ServiceInfo:Description",
        )
    }

    /// Declares an option taking one value.
    pub fn option(self, name: &str, value_name: &str, help: &str, default: Option<&str>) -> Self {
        self.declare(name, value_name, help, default, OptionKind::Value)
    }

    /// Declares a boolean switch (default `false`).
    pub fn switch(self, name: &str, help: &str) -> Self {
        self.declare(name, "", help, Some("false"), OptionKind::Switch)
    }

    /// Declares a map of values (`--name:key VALUE`).
    pub fn section(self, name: &str, help: &str) -> Self {
        self.declare(name, "VALUE", help, None, OptionKind::Section)
    }

    /// Gives the option declared last another name, accepted on the command
    /// line, in the environment and in the config file alike. Values are
    /// still looked up by the declared name.
    ///
    /// ```
    /// use rta_service::options::{OptionsParser, Parsed};
    ///
    /// let parser = OptionsParser::new("svc", "a service")
    ///     .option("RedisConnectionString", "URL", "Redis", None)
    ///     .alias("Redis");
    /// let Parsed::Options(opts) = parser.parse_from(["--redis", "redis://h"], Vec::new())? else {
    ///     panic!()
    /// };
    /// assert_eq!(opts.get("RedisConnectionString"), Some("redis://h"));
    /// # Ok::<(), rta_service::Error>(())
    /// ```
    pub fn alias(mut self, alias: &str) -> Self {
        if let Some(spec) = self.specs.last_mut() {
            spec.aliases.push(alias.to_string());
        }
        self
    }

    /// Accepts `--version` (and `-V`), which then answers
    /// [`Parsed::Help`] with the program name and `version`.
    pub fn version(mut self, version: &str) -> Self {
        self.version = Some(version.to_string());
        self
    }

    fn declare(
        mut self,
        name: &str,
        value_name: &str,
        help: &str,
        default: Option<&str>,
        kind: OptionKind,
    ) -> Self {
        let norm = normalize_name(name);
        self.specs.retain(|s| normalize_name(&s.name) != norm);
        self.specs.push(OptionSpec {
            name: name.to_string(),
            value_name: value_name.to_string(),
            help: help.to_string(),
            default: default.map(str::to_string),
            kind,
            aliases: Vec::new(),
        });
        self
    }

    /// The declared options.
    pub fn specs(&self) -> &[OptionSpec] {
        &self.specs
    }

    /// The `--help` text, listing every option with its environment variable and default.
    pub fn help_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} - {}\n", self.program, self.about);
        let _ = writeln!(out, "Usage: {} [OPTIONS]\n\nOptions:", self.program);
        for spec in &self.specs {
            let mut flag = format!("--{}", spec.flag());
            for alias in &spec.aliases {
                let _ = write!(flag, ", --{}", flag_of(alias));
            }
            match spec.kind {
                OptionKind::Value => {
                    let _ = write!(flag, " {}", spec.value_name);
                }
                OptionKind::Switch => {}
                OptionKind::Section => {
                    let _ = write!(flag, ":KEY {}", spec.value_name);
                }
            }
            if flag.len() <= 32 {
                let _ = write!(out, "  {flag:<32} {}", spec.help);
            } else {
                let _ = write!(out, "  {flag}\n  {:<32} {}", "", spec.help);
            }
            if let Some(d) = &spec.default {
                let _ = write!(out, " [default: {d}]");
            }
            let env = match spec.kind {
                OptionKind::Section => format!("{}__KEY", spec.env_var()),
                _ => spec.env_var(),
            };
            let _ = writeln!(out, "\n  {:<32} env: {env}", "");
        }
        let _ = writeln!(out, "  {:<32} Print this help", "-h, --help");
        if self.version.is_some() {
            let _ = writeln!(out, "  {:<32} Print the version", "-V, --version");
        }
        let _ = writeln!(
            out,
            "\nPrecedence: command line > {ENV_PREFIX}* environment variables (any case, `__` for `:`) \
             > config file > defaults."
        );
        out
    }

    /// Parses the process arguments and environment. Prints the help and
    /// exits on `--help`; returns an error for bad options.
    pub fn parse_env(&self) -> Result<Options> {
        match self.parse_from(std::env::args().skip(1), std::env::vars())? {
            Parsed::Help(text) => {
                println!("{text}");
                std::process::exit(0)
            }
            Parsed::Options(opts) => Ok(opts),
        }
    }

    /// Parses `args` (without the program name) and `env` (all variables;
    /// only `RTA_` ones are read).
    pub fn parse_from<A, S, E>(&self, args: A, env: E) -> Result<Parsed>
    where
        A: IntoIterator<Item = S>,
        S: Into<String>,
        E: IntoIterator<Item = (String, String)>,
    {
        let mut opts = Options::default();
        for spec in &self.specs {
            if let Some(d) = &spec.default {
                opts.insert(&spec.name, d.clone(), Source::Default);
            }
        }

        let cli = match self.parse_args(args)? {
            Cli::Print(text) => return Ok(Parsed::Help(text)),
            Cli::Pairs(pairs) => pairs,
        };
        let env: Vec<(String, String)> = env
            .into_iter()
            .filter_map(|(k, v)| {
                let rest = k.get(..ENV_PREFIX.len())?;
                if !rest.eq_ignore_ascii_case(ENV_PREFIX) {
                    return None;
                }
                let key = k[ENV_PREFIX.len()..].replace("__", ":");
                (!key.is_empty()).then_some((key, v))
            })
            .collect();

        // The config file can come from the command line or the environment.
        let config_norm = normalize_name(CONFIG);
        let config_file = cli
            .iter()
            .chain(env.iter())
            .find(|(k, _)| normalize_key(k) == config_norm)
            .map(|(_, v)| v.clone());
        if let Some(path) = config_file {
            for (k, v) in read_config_file(&path)? {
                if let Some(spec) = self.find_spec(&k) {
                    opts.insert(&canonical_key(spec, &k), v, Source::ConfigFile);
                }
            }
        }
        for (k, v) in env {
            if let Some(spec) = self.find_spec(&k) {
                opts.insert(&canonical_key(spec, &k), v, Source::Environment);
            }
        }
        for (k, v) in cli {
            opts.insert(&k, v, Source::CommandLine);
        }
        Ok(Parsed::Options(opts))
    }

    /// The spec a key (`HttpPort`, `Trimmer:Interval`, `trimmer-interval`,
    /// `DataServiceUris:influx`) belongs to: an option by its name or an
    /// alias, else a section by the part before the first `:`.
    fn find_spec(&self, key: &str) -> Option<&OptionSpec> {
        let fixed = self
            .specs
            .iter()
            .find(|s| s.kind != OptionKind::Section && s.names().any(|name| same_name(name, key)));
        if fixed.is_some() {
            return fixed;
        }
        let (head, sub) = key.split_once(':')?;
        if sub.is_empty() {
            return None;
        }
        self.specs
            .iter()
            .find(|s| s.kind == OptionKind::Section && s.names().any(|name| same_name(name, head)))
    }

    /// Command-line pairs (keys as declared), or the text to print for
    /// `--help` / `--version`.
    fn parse_args<A, S>(&self, args: A) -> Result<Cli>
    where
        A: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = Vec::new();
        let mut args = args.into_iter().map(Into::into).peekable();
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" || arg == "-?" {
                return Ok(Cli::Print(self.help_text()));
            }
            if let (Some(version), "-V" | "--version") = (&self.version, arg.as_str()) {
                return Ok(Cli::Print(format!("{} {version}", self.program)));
            }
            let Some(body) = arg.strip_prefix("--") else {
                return Err(Error::option(
                    arg.clone(),
                    format!("unexpected argument {arg:?} (options start with --; see --help)"),
                ));
            };
            let (key, inline) = match body.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (body.to_string(), None),
            };
            let Some(spec) = self.find_spec(&key) else {
                return Err(Error::option(
                    key.clone(),
                    format!("unknown option --{key} (see --help)"),
                ));
            };
            let value = match (inline, spec.kind) {
                (Some(v), _) => v,
                (None, OptionKind::Switch) => match args.peek() {
                    Some(next) if is_bool(next) => args.next().unwrap_or_default(),
                    _ => "true".to_string(),
                },
                (None, _) => args.next().ok_or_else(|| {
                    Error::option(spec.name.clone(), format!("--{key} needs a value"))
                })?,
            };
            out.push((canonical_key(spec, &key), value));
        }
        Ok(Cli::Pairs(out))
    }
}

/// What the command line asks for.
enum Cli {
    /// Print this (help or version) and stop.
    Print(String),
    /// These options, keyed as declared.
    Pairs(Vec<(String, String)>),
}

impl Options {
    fn insert(&mut self, key: &str, value: String, source: Source) {
        self.entries.insert(
            normalize_key(key),
            Entry {
                key: key.to_string(),
                value,
                source,
            },
        );
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

    /// The four service options, validated.
    pub fn service(&self) -> Result<ServiceOptions> {
        Ok(ServiceOptions {
            bind: self.bind()?,
            http_port: self.get_or(HTTP_PORT)?,
            grpc_port: self.get_or(GRPC_PORT)?,
            data_dir: PathBuf::from(self.get(DATA_DIR).unwrap_or("data")),
        })
    }
}

/// `HttpPort` -> `http-port`.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The flag of a name: `HttpPort` -> `http-port`, `Trimmer:Interval` ->
/// `trimmer-interval`.
fn flag_of(name: &str) -> String {
    name.split(':').map(kebab).collect::<Vec<_>>().join("-")
}

/// Whether `key` (as given) names the option or alias `name`: ignoring case,
/// `-` and `_`; a key written without `:` may also leave out the nesting
/// (`trimmer-interval` for `Trimmer:Interval`).
fn same_name(name: &str, key: &str) -> bool {
    let name = normalize_name(name);
    let key = normalize_name(key);
    if key.contains(':') {
        name == key
    } else {
        name.replace(':', "") == key
    }
}

/// The key an entry is stored under: the declared name of an option, or
/// `Section:sub` for a section entry (the sub-key as given).
fn canonical_key(spec: &OptionSpec, key: &str) -> String {
    match (spec.kind, key.split_once(':')) {
        (OptionKind::Section, Some((_, sub))) => format!("{}:{sub}", spec.name),
        _ => spec.name.clone(),
    }
}

/// An option name without case, `-` or `_`.
fn normalize_name(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A full key: the name normalized, sub-keys lower-cased.
fn normalize_key(key: &str) -> String {
    match key.split_once(':') {
        Some((head, rest)) => format!("{}:{}", normalize_name(head), rest.to_lowercase()),
        None => normalize_name(key),
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn is_bool(v: &str) -> bool {
    parse_bool(v).is_some()
}

/// Reads a JSON config file into flattened `key: value` pairs.
fn read_config_file(path: &str) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::option(CONFIG, format!("cannot read {path}: {e}")))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| Error::option(CONFIG, format!("{path} is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(Error::option(
            CONFIG,
            format!("{path} must hold a JSON object"),
        ));
    }
    let mut out = Vec::new();
    flatten("", &value, &mut out);
    Ok(out)
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}:{k}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&join(&i.to_string()), v, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser() -> OptionsParser {
        OptionsParser::service("svc", "test", 2650, 2652)
            .switch("InitStoreAndExit", "init")
            .section("DataServiceUris", "uris")
    }

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Options> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        match parser().parse_from(args.iter().copied(), env)? {
            Parsed::Options(o) => Ok(o),
            Parsed::Help(_) => panic!("unexpected help"),
        }
    }

    #[test]
    fn defaults_env_and_cli_precedence() {
        let o = parse(&[], &[]).unwrap();
        let s = o.service().unwrap();
        assert_eq!(s.http_port, 2650);
        assert_eq!(s.grpc_port, 2652);
        assert_eq!(s.bind, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(o.source(HTTP_PORT), Some(Source::Default));

        let o = parse(
            &[],
            &[
                ("RTA_HttpPort", "1"),
                ("rta_grpc_port", "2"),
                ("OTHER", "x"),
            ],
        )
        .unwrap();
        assert_eq!(o.service().unwrap().http_port, 1);
        assert_eq!(o.service().unwrap().grpc_port, 2);

        let o = parse(
            &["--http-port=3", "--GrpcPort", "4", "--bind", "127.0.0.1"],
            &[("RTA_HTTPPORT", "1")],
        )
        .unwrap();
        let s = o.service().unwrap();
        assert_eq!((s.http_port, s.grpc_port), (3, 4));
        assert_eq!(s.http_addr().to_string(), "127.0.0.1:3");
        assert_eq!(o.source(HTTP_PORT), Some(Source::CommandLine));
    }

    #[test]
    fn sections_and_switches() {
        let o = parse(
            &[
                "--DataServiceUris:Influx",
                "http://a",
                "--init-store-and-exit",
            ],
            &[("RTA_DATASERVICEURIS__other", "http://b")],
        )
        .unwrap();
        assert!(o.switch("InitStoreAndExit").unwrap());
        let s = o.section("DataServiceUris");
        assert_eq!(s.get("Influx").map(String::as_str), Some("http://a"));
        assert_eq!(s.get("other").map(String::as_str), Some("http://b"));
        let o = parse(&["--init-store-and-exit", "false"], &[]).unwrap();
        assert!(!o.switch("InitStoreAndExit").unwrap());
    }

    #[test]
    fn service_info_takes_plain_and_toolkit_names() {
        let info = |args: &[&str], env: &[(&str, &str)], file: Option<&str>| {
            let dir = tempfile::tempdir().unwrap();
            let mut env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if let Some(text) = file {
                let path = dir.path().join("opts.json");
                std::fs::write(&path, text).unwrap();
                env.push(("RTA_Config".into(), path.display().to_string()));
            }
            let parser = OptionsParser::new("svc", "test").info_options("Default");
            let Parsed::Options(o) = parser.parse_from(args.iter().copied(), env).unwrap() else {
                panic!("unexpected help")
            };
            let i = crate::monitor::ServiceInfo::from_options("svc", &o);
            (i.label, i.description)
        };
        assert_eq!(info(&[], &[], None), ("Default".into(), String::new()));
        // the toolkit's names, from each source
        assert_eq!(
            info(&[], &[("RTA_ServiceInfo__Label", "Env label")], None).0,
            "Env label"
        );
        assert_eq!(
            info(
                &[],
                &[],
                Some(r#"{"ServiceInfo": {"Label": "File", "Description": "From file"}}"#)
            ),
            ("File".into(), "From file".into())
        );
        assert_eq!(
            info(&["--ServiceInfo:Description", "Cli"], &[], None).1,
            "Cli"
        );
        // either name: the higher precedence wins, the plain name on a tie
        assert_eq!(
            info(
                &["--label", "Cli"],
                &[("RTA_SERVICEINFO__LABEL", "Env")],
                None
            )
            .0,
            "Cli"
        );
        assert_eq!(
            info(
                &[],
                &[("RTA_ServiceInfo__Label", "Env")],
                Some(r#"{"Label": "File"}"#)
            )
            .0,
            "Env"
        );
        assert_eq!(
            info(
                &["--label", "Plain", "--service-info:label", "Toolkit"],
                &[],
                None
            )
            .0,
            "Plain"
        );
        let help = OptionsParser::new("svc", "test")
            .info_options("x")
            .help_text();
        assert!(help.contains("--service-info:KEY"), "{help}");
        assert!(help.contains("RTA_ServiceInfo__KEY"), "{help}");
    }

    #[test]
    fn config_file_is_below_env_and_cli() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("opts.json");
        std::fs::write(
            &path,
            r#"{"HttpPort": 7000, "GrpcPort": 7001, "DataDir": "/x", "DataServiceUris": {"a": "u"}}"#,
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let o = parse(
            &["--config", p, "--grpc-port", "9"],
            &[("RTA_DataDir", "/y")],
        )
        .unwrap();
        let s = o.service().unwrap();
        assert_eq!(s.http_port, 7000);
        assert_eq!(s.grpc_port, 9);
        assert_eq!(s.data_dir, PathBuf::from("/y"));
        assert_eq!(o.section("DataServiceUris").len(), 1);
        // From the environment too.
        let o = parse(&[], &[("RTA_CONFIG", p)]).unwrap();
        assert_eq!(o.service().unwrap().http_port, 7000);
    }

    #[test]
    fn errors_are_clear() {
        let e = parse(&["--nope", "1"], &[]).unwrap_err();
        assert!(e.to_string().contains("unknown option --nope"), "{e}");
        let e = parse(&["--http-port"], &[]).unwrap_err();
        assert!(e.to_string().contains("needs a value"), "{e}");
        let e = parse(&["--http-port", "x"], &[])
            .unwrap()
            .service()
            .unwrap_err();
        assert!(e.to_string().contains("HttpPort"), "{e}");
        let e = parse(&["--bind", "nowhere"], &[])
            .unwrap()
            .service()
            .unwrap_err();
        assert!(e.to_string().contains("Bind"), "{e}");
        let e = parse(&["positional"], &[]).unwrap_err();
        assert!(e.to_string().contains("unexpected argument"), "{e}");
        let e = parse(&["--config", "/definitely/missing.json"], &[]).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }

    #[test]
    fn nested_names_aliases_and_version() {
        let parser = OptionsParser::new("svc", "test")
            .version("1.2.3")
            .option("RedisConnectionString", "URL", "Redis", None)
            .alias("Redis")
            .option("Trimmer:Interval", "SECS", "Trim period", Some("30"))
            .option("Keys:StreamPrefix", "TEXT", "Stream keys", Some("stream:"))
            .alias("StreamPrefix")
            .section("DataServiceUris", "uris")
            .alias("Uris");
        let parse = |args: &[&str], env: &[(&str, &str)], file: Option<&str>| {
            let dir = tempfile::tempdir().unwrap();
            let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            if let Some(text) = file {
                let path = dir.path().join("opts.json");
                std::fs::write(&path, text).unwrap();
                args.extend(["--config".to_string(), path.display().to_string()]);
            }
            let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
            match parser.parse_from(args, env).unwrap() {
                Parsed::Options(o) => o,
                Parsed::Help(text) => panic!("unexpected help {text}"),
            }
        };
        // defaults, looked up by the declared (nested) name
        let o = parse(&[], &[], None);
        assert_eq!(o.get("Trimmer:Interval"), Some("30"));
        assert_eq!(o.get("Keys:StreamPrefix"), Some("stream:"));
        assert_eq!(o.get("RedisConnectionString"), None);
        let e = o.get_or::<String>("RedisConnectionString").unwrap_err();
        assert!(
            e.to_string()
                .contains("--redis-connection-string or RTA_RedisConnectionString"),
            "{e}"
        );
        // the nested name from each source, flat or with `:` on the command line
        for args in [["--trimmer-interval", "5"], ["--Trimmer:Interval", "5"]] {
            assert_eq!(parse(&args, &[], None).get("Trimmer:Interval"), Some("5"));
        }
        let o = parse(&[], &[("RTA_TRIMMER__INTERVAL", "6")], None);
        assert_eq!(o.get("Trimmer:Interval"), Some("6"));
        assert_eq!(o.source("Trimmer:Interval"), Some(Source::Environment));
        let o = parse(&[], &[], Some(r#"{"Trimmer": {"Interval": 7}}"#));
        assert_eq!(o.get("Trimmer:Interval"), Some("7"));
        // aliases from each source, stored under the declared name
        let o = parse(&["--redis", "a"], &[], None);
        assert_eq!(o.get("RedisConnectionString"), Some("a"));
        let o = parse(
            &["--stream-prefix=b"],
            &[("RTA_Keys__StreamPrefix", "c")],
            None,
        );
        assert_eq!(o.get("Keys:StreamPrefix"), Some("b"));
        assert_eq!(o.source("Keys:StreamPrefix"), Some(Source::CommandLine));
        let o = parse(&[], &[("RTA_REDIS", "d")], Some(r#"{"StreamPrefix": "e"}"#));
        assert_eq!(o.get("RedisConnectionString"), Some("d"));
        assert_eq!(o.get("Keys:StreamPrefix"), Some("e"));
        let o = parse(&["--uris:influx", "http://x"], &[], None);
        let uris = o.section("DataServiceUris");
        assert_eq!(uris.get("influx").map(String::as_str), Some("http://x"));
        // a nested name is not a section, and a section needs a sub-key
        for bad in [["--trimmer", "1"], ["--Keys:Other", "1"], ["--uris", "1"]] {
            let e = parser.parse_from(bad, Vec::new()).unwrap_err();
            assert!(e.to_string().contains("unknown option"), "{e}");
        }
        // --version, and help showing flags, aliases and nested variables
        for v in ["--version", "-V"] {
            let Parsed::Help(text) = parser.parse_from([v], Vec::new()).unwrap() else {
                panic!("no version")
            };
            assert_eq!(text, "svc 1.2.3");
        }
        let help = parser.help_text();
        for part in [
            "--redis-connection-string, --redis URL",
            "--trimmer-interval SECS",
            "env: RTA_Trimmer__Interval",
            "--keys-stream-prefix, --stream-prefix TEXT",
            "--data-service-uris, --uris:KEY VALUE",
            "-V, --version",
        ] {
            assert!(help.contains(part), "{part} missing from\n{help}");
        }
        // without a version, --version is an unknown option
        let e = OptionsParser::new("svc", "test")
            .parse_from(["--version"], Vec::new())
            .unwrap_err();
        assert!(e.to_string().contains("unknown option --version"), "{e}");
    }

    #[test]
    fn bind_alone() {
        let parser = OptionsParser::new("svc", "test").option(BIND, "HOST", "bind", None);
        let bind = |args: &[&str]| match parser.parse_from(args.iter().copied(), Vec::new()) {
            Ok(Parsed::Options(o)) => o.bind(),
            other => panic!("{other:?}"),
        };
        assert_eq!(bind(&[]).unwrap(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(bind(&["--bind", "localhost"]).unwrap(), Ipv4Addr::LOCALHOST);
        assert_eq!(
            bind(&["--bind", "[::1]"]).unwrap(),
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        );
        assert!(bind(&["--bind", "nowhere"]).is_err());
    }

    #[test]
    fn help_lists_every_option() {
        let Parsed::Help(text) = parser().parse_from(["--help"], Vec::new()).unwrap() else {
            panic!("no help")
        };
        for flag in [
            "--http-port",
            "--grpc-port",
            "--bind",
            "--data-dir",
            "--config",
            "--init-store-and-exit",
            "RTA_HttpPort",
            "[default: 2650]",
        ] {
            assert!(text.contains(flag), "{flag} missing from\n{text}");
        }
        assert_eq!(kebab("HttpPort"), "http-port");
        assert_eq!(kebab("AwsS3Bucket"), "aws-s3-bucket");
        assert_eq!(kebab("RTAServer"), "rta-server");
    }
}
