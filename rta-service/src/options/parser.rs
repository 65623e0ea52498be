//! Declaring options and parsing them from the command line, the
//! environment and a JSON config file.

use std::fmt::Write as _;

use serde_json::Value;

use super::names::{
    flag_of, is_bool, normalize_key, normalize_name, same_name, CONFIG, ENV_PREFIX,
};
use super::values::{Options, Source};
use crate::{Error, Result};

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
    /// exits on `--help`; returns an error for bad options; logs a warning
    /// naming each `RTA_` variable and config-file key no option reads.
    pub fn parse_env(&self) -> Result<Options> {
        match self.parse_from(std::env::args().skip(1), std::env::vars())? {
            Parsed::Help(text) => {
                println!("{text}");
                std::process::exit(0)
            }
            Parsed::Options(opts) => {
                for name in opts.unknown() {
                    tracing::warn!(
                        program = %self.program,
                        "{name} is not an option of {} and is ignored (see --help)",
                        self.program
                    );
                }
                Ok(opts)
            }
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
                match self.find_spec(&k) {
                    Some(spec) => opts.insert(&canonical_key(spec, &k), v, Source::ConfigFile),
                    None => opts.push_unknown(format!("{k} in {path}")),
                }
            }
        }
        for (k, v) in env {
            match self.find_spec(&k) {
                Some(spec) => opts.insert(&canonical_key(spec, &k), v, Source::Environment),
                None if normalize_key(&k) == config_norm => {}
                None => opts.push_unknown(format!("{ENV_PREFIX}{}", k.replace(':', "__"))),
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

/// The key an entry is stored under: the declared name of an option, or
/// `Section:sub` for a section entry (the sub-key as given).
fn canonical_key(spec: &OptionSpec, key: &str) -> String {
    match (spec.kind, key.split_once(':')) {
        (OptionKind::Section, Some((_, sub))) => format!("{}:{sub}", spec.name),
        _ => spec.name.clone(),
    }
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
