//! Tests of option parsing.

use super::*;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use crate::Result;

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

#[test]
fn unknown_variables_and_config_keys_are_reported() {
    let dir = std::env::temp_dir().join(format!("rta-opts-unknown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("appsettings.json");
    std::fs::write(
        &file,
        r#"{"HttpPort": 1, "Trimer": {"Interval": 3}, "DataServiceUris": {"a": "http://a"}}"#,
    )
    .unwrap();
    let path = file.display().to_string();
    let o = parse(
        &[],
        &[
            ("RTA_HtpPort", "1"),
            ("rta_grpcport", "2"),
            ("RTA_Config", &path),
            ("RTA_DataServiceUris__b", "http://b"),
            ("RTA_DataServiceUris", "no sub-key"),
            ("PATH", "/bin"),
        ],
    )
    .unwrap();
    assert_eq!(
        o.unknown(),
        [
            format!("Trimer:Interval in {path}"),
            "RTA_HtpPort".to_string(),
            "RTA_DataServiceUris".to_string(),
        ]
    );
    assert_eq!(o.service().unwrap().grpc_port, 2);
    assert_eq!(o.section("DataServiceUris").len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}
