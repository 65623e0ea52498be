//! What the deployment files may name: the binaries of `examples/src/bin`,
//! the images of `deploy/Dockerfile` (with the `ENV` each one sets), each
//! binary's options (its own parser, in-process) and the ports it listens
//! on. [`check`] runs one container of a compose file or a manifest against
//! them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rta_service::options::{
    DataServiceOptions, DemoIngestOptions, FileDataServiceOptions, GatewayServiceOptions,
    InfluxDataServiceOptions, Options, OptionsParser, Parsed, RtaServerOptions, StoreService,
    StoreServiceOptions, StreamServiceOptions,
};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The binaries of `examples/src/bin`.
pub fn binaries() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root().join("examples/src/bin"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// The option parser of a service binary (`None` for the `rta` CLI).
pub fn parser(bin: &str) -> Option<OptionsParser> {
    Some(match bin {
        "rta-server" => RtaServerOptions::parser(),
        "rta-sessionsvc" => StoreServiceOptions::parser(StoreService::Sessions),
        "rta-configsvc" => StoreServiceOptions::parser(StoreService::Configs),
        "rta-schemamappingsvc" => StoreServiceOptions::parser(StoreService::SchemaMappings),
        "rta-datasvc" => DataServiceOptions::parser(),
        "rta-influxdatasvc" => InfluxDataServiceOptions::parser(),
        "rta-filedatasvc" => FileDataServiceOptions::parser(),
        "rta-gatewaysvc" => GatewayServiceOptions::parser(),
        "rta-streamsvc" => StreamServiceOptions::parser(),
        "rta-demo-ingest" => DemoIngestOptions::parser(),
        _ => return None,
    })
}

/// Reads the merged values as the binary does at start-up.
fn typed(bin: &str, raw: Options) -> rta_service::Result<()> {
    match bin {
        "rta-server" => RtaServerOptions::from_options(raw).map(drop),
        "rta-sessionsvc" | "rta-configsvc" | "rta-schemamappingsvc" => {
            StoreServiceOptions::from_options(raw).map(drop)
        }
        "rta-datasvc" => DataServiceOptions::from_options(raw).map(drop),
        "rta-influxdatasvc" => InfluxDataServiceOptions::from_options(raw).map(drop),
        "rta-filedatasvc" => FileDataServiceOptions::from_options(raw).map(drop),
        "rta-gatewaysvc" => GatewayServiceOptions::from_options(raw).map(drop),
        "rta-streamsvc" => StreamServiceOptions::from_options(raw).map(drop),
        "rta-demo-ingest" => DemoIngestOptions::from_options(raw).map(drop),
        _ => Ok(()),
    }
}

/// One final stage of `deploy/Dockerfile`.
#[derive(Debug, Default, Clone)]
pub struct Stage {
    /// `ENV` of the stage and the stages it is built on.
    pub env: Vec<(String, String)>,
    /// `ENTRYPOINT`.
    pub entrypoint: Vec<String>,
    /// `EXPOSE`.
    pub expose: Vec<u16>,
}

/// The stages of `deploy/Dockerfile` by name, and the binaries its build
/// stage copies out.
pub fn dockerfile() -> (BTreeMap<String, Stage>, Vec<String>) {
    let text = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    // Join continuation lines.
    let text = text.replace("\\\n", " ");
    let mut stages: BTreeMap<String, Stage> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut built = Vec::new();
    for line in text.lines().map(str::trim) {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "FROM" => {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                let name = match parts.as_slice() {
                    [_, as_, name] if as_.eq_ignore_ascii_case("AS") => name.to_string(),
                    _ => panic!("every FROM names its stage: {line}"),
                };
                let base = stages.get(parts[0]).cloned().unwrap_or_default();
                stages.insert(name.clone(), base);
                current = Some(name);
            }
            "ENV" => {
                let stage = stages.get_mut(current.as_ref().unwrap()).unwrap();
                for pair in rest.split_whitespace() {
                    let (k, v) = pair.split_once('=').expect("ENV KEY=VALUE");
                    stage.env.push((k.to_string(), v.to_string()));
                }
            }
            "ENTRYPOINT" => {
                let stage = stages.get_mut(current.as_ref().unwrap()).unwrap();
                stage.entrypoint = serde_json::from_str(rest).expect("ENTRYPOINT [\"...\"]");
            }
            "EXPOSE" => {
                let stage = stages.get_mut(current.as_ref().unwrap()).unwrap();
                stage.expose = rest
                    .split_whitespace()
                    .map(|p| p.parse().unwrap())
                    .collect();
            }
            "RUN" if rest.contains("for bin in") => {
                let list = rest.split("for bin in").nth(1).unwrap();
                let list = list.split(';').next().unwrap();
                built = list.split_whitespace().map(str::to_string).collect();
            }
            _ => {}
        }
    }
    (stages, built)
}

/// A container of a compose file or a manifest, as the test sees it.
#[derive(Debug, Clone)]
pub struct Container {
    /// Where it is declared (for messages).
    pub origin: String,
    /// The binary it runs.
    pub bin: String,
    /// Its environment, without the image's.
    pub env: Vec<(String, String)>,
    /// Its arguments (after the binary).
    pub args: Vec<String>,
    /// The container ports it publishes.
    pub ports: Vec<u16>,
    /// The ports its HTTP probes use.
    pub probe_ports: Vec<u16>,
}

/// What [`check`] found wrong.
#[derive(Debug, Default)]
pub struct Findings {
    /// Problems that fail the test.
    pub errors: Vec<String>,
}

/// Parses `c`'s options with its binary's parser, over the image's `ENV`,
/// and checks them, its ports and its probes.
pub fn check(c: &Container, stages: &BTreeMap<String, Stage>, out: &mut Findings) {
    let o = &c.origin;
    let Some(stage) = stages.get(&c.bin) else {
        out.errors.push(format!(
            "{o}: {} is not an image of deploy/Dockerfile",
            c.bin
        ));
        return;
    };
    let Some(parser) = parser(&c.bin) else {
        out.errors
            .push(format!("{o}: {} is not a service binary", c.bin));
        return;
    };
    let mut env = stage.env.clone();
    env.extend(c.env.iter().cloned());
    let opts = match parser.parse_from(c.args.iter().cloned(), env) {
        Ok(Parsed::Options(opts)) => opts,
        Ok(Parsed::Help(_)) => {
            out.errors
                .push(format!("{o}: the arguments ask for --help"));
            return;
        }
        Err(e) => {
            // An unknown flag is a parse error.
            out.errors.push(format!("{o}: {e}"));
            return;
        }
    };
    for name in opts.unknown() {
        out.errors
            .push(format!("{o}: {name} is not an option of {}", c.bin));
    }
    if let Err(e) = typed(&c.bin, opts.clone()) {
        out.errors.push(format!("{o}: {e}"));
    }
    let http = port(&opts, "HttpPort");
    let listening = ports_of(&opts);
    for p in &c.ports {
        if !listening.contains(p) {
            out.errors.push(format!(
                "{o}: port {p} is not one {} listens on ({listening:?})",
                c.bin
            ));
        }
    }
    for p in &c.probe_ports {
        if Some(*p) != http {
            out.errors.push(format!(
                "{o}: probe on port {p}, but / and /health are on HttpPort {http:?}"
            ));
        }
    }
}

fn port(opts: &Options, name: &str) -> Option<u16> {
    opts.get(name).and_then(|p| p.parse().ok())
}

/// The ports a binary listens on with these options (HTTPS only with a
/// certificate, but it is always a port of the binary).
fn ports_of(opts: &Options) -> Vec<u16> {
    ["HttpPort", "HttpsPort", "GrpcPort", "InternalHttpPort"]
        .iter()
        .filter_map(|n| port(opts, n))
        .collect()
}

/// The ports `bin` listens on with the environment `env` (`None` for the
/// CLI and unparsable environments).
pub fn listening(bin: &str, env: &[(String, String)]) -> Option<Vec<u16>> {
    match parser(bin)?.parse_from(Vec::<String>::new(), env.to_vec()) {
        Ok(Parsed::Options(opts)) => Some(ports_of(&opts)),
        _ => None,
    }
}
