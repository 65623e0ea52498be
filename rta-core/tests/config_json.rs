//! Configuration JSON model: the examples of `api.yaml` and of the
//! configuration guide round-trip, validation names the offending item,
//! malformed documents fail cleanly, and the builder makes valid configs.

use std::path::PathBuf;

use proptest::prelude::*;
use rta_core::config::{
    Application, ChannelDataType, ChannelSource, Config, ConfigBuilder, EventPriority,
    ParameterSpec,
};
use rta_core::Error;
use serde_json::{json, Value};

const FIXTURES: &[&str] = &[
    "api_config.json",
    "docs_config_channels_parameters_1.json",
    "docs_config_channels_parameters_2.json",
    "docs_config_channels_parameters_3.json",
    "docs_config_channels_parameters_4.json",
    "docs_config_channels_parameters_5.json",
    "docs_config_channels_parameters_6.json",
    "docs_config_channels_parameters_7.json",
    "docs_config_conversions_1.json",
    "docs_config_conversions_2.json",
    "docs_config_conversions_3.json",
    "docs_config_event_defs_1.json",
    "docs_config_index_1.json",
    "docs_config_parameter_groups_1.json",
];

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Drops `null` members, empty arrays and empty objects, and reads every
/// number as f64 (`-1500` and `-1500.0` are the same configuration value).
fn normalise(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Number(n) => n.as_f64().map(|f| json!(f)),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|i| normalise(i).unwrap_or(Value::Null))
                .collect(),
        )),
        Value::Object(map) => {
            let out: serde_json::Map<String, Value> = map
                .iter()
                .filter_map(|(k, v)| normalise(v).map(|v| (k.clone(), v)))
                .collect();
            (!out.is_empty()).then_some(Value::Object(out))
        }
        other => Some(other.clone()),
    }
}

fn assert_same_json(original: &str, written: &str) {
    let a: Value = serde_json::from_str(original).expect("original is JSON");
    let b: Value = serde_json::from_str(written).expect("output is JSON");
    assert_eq!(normalise(&a), normalise(&b), "written: {written}");
}

fn config_error(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::Config(msg)) => msg,
        other => panic!("expected Error::Config, got {other:?}"),
    }
}

fn json_error(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::Json { what, reason }) => {
            assert_eq!(what, "config");
            reason
        }
        other => panic!("expected Error::Json, got {other:?}"),
    }
}

#[test]
fn spec_examples_parse_validate_and_round_trip() {
    for name in FIXTURES {
        let json = fixture(name);
        let config = Config::from_json(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(config.problems().is_empty(), "{name}");
        let written = config.to_json();
        assert_eq!(
            Config::from_json(&written).expect("output parses"),
            config,
            "{name}"
        );
        assert_same_json(&json, &written);
        assert_same_json(&json, &config.to_json_pretty());
        assert_eq!(Config::from_slice(json.as_bytes()).expect("bytes"), config);
    }
}

#[test]
fn api_yaml_config_example_reads_as_the_spec_says() {
    let config = Config::from_json(&fixture("api_config.json")).expect("valid");
    let demo = &config.apps["demo"];
    assert_eq!(demo.tree.params, vec!["param:demo"]);
    let p = demo.parameter("param:demo").expect("parameter");
    assert_eq!(
        (p.name.as_str(), p.desc.as_str()),
        ("param", "Example Parameter")
    );
    assert_eq!((p.min, p.max), (Some(-1500.0), Some(1500.0)));
    assert_eq!(
        (p.warn_min_or_default(), p.warn_max_or_default()),
        (-1000.0, 1000.0)
    );
    assert_eq!(p.conv.as_deref(), Some("1to1:demo"));
    assert_eq!(p.channels, vec![1]);
    assert_eq!(p.mask_value().expect("default mask"), u32::MAX);
    let (app, channel) = config.channel(1).expect("channel 1");
    assert_eq!(app, "demo");
    assert_eq!(channel.source_or_default(), ChannelSource::Timestamped);
    assert_eq!(
        channel.data_type_or_default(),
        ChannelDataType::F64,
        "f64 by default"
    );
    assert_eq!(channel.interval_or_default(), 0);
    let conv = demo.conversion("1to1:demo").expect("conversion");
    assert_eq!(
        (conv.unit.as_deref(), conv.format.as_deref()),
        (Some(""), Some("%5.3f"))
    );
    let (_, event) = config.event(8).expect("event 8");
    assert_eq!(event.code.as_deref(), Some("0008"));
    assert_eq!(event.pri, Some(EventPriority::High));
    assert!(event.convs.is_empty());
    assert_eq!(config.channel_data_types()[&1], ChannelDataType::F64);
    assert_eq!(config.channel_id_range(), Some((1, 1)));
}

#[test]
fn guide_examples_read_as_the_guide_says() {
    let c = Config::from_json(&fixture("docs_config_channels_parameters_7.json")).expect("valid");
    let p = c.parameter("param:demo").expect("param").1;
    assert_eq!((p.mask.as_deref(), p.shift), (Some("1"), Some(4)));
    assert_eq!(p.mask_value().expect("hex"), 1);
    assert_eq!(
        c.channel(1).expect("channel").1.data_type,
        Some(ChannelDataType::U16)
    );
    assert_eq!(
        c.channel(1).expect("channel").1.source_or_default(),
        ChannelSource::Row,
        "row by default"
    );

    let c = Config::from_json(&fixture("docs_config_conversions_1.json")).expect("valid");
    let rational = c.apps["demo"].conversions[0]
        .rational
        .as_ref()
        .expect("rational");
    assert_eq!(rational.coeffs, vec![0.0, 1.0, 5.0, 0.0, 1.0, 0.0]);

    let c = Config::from_json(&fixture("docs_config_conversions_2.json")).expect("valid");
    let table = c.apps["demo"].conversions[0].table.as_ref().expect("table");
    assert_eq!(table.calibrated, vec![1.0, 20.0, 40.0]);
    assert_eq!(table.interpolated, Some(false));

    let c = Config::from_json(&fixture("docs_config_conversions_3.json")).expect("valid");
    let text = c.apps["demo"].conversions[0].text.as_ref().expect("text");
    assert_eq!((text.lookup(2.0), text.lookup(9.0)), ("two", "?"));

    let c = Config::from_json(&fixture("docs_config_parameter_groups_1.json")).expect("valid");
    let hydro = &c.apps["hydro"];
    assert_eq!(hydro.desc.as_deref(), Some("Hydraulics"));
    assert_eq!(hydro.tree.groups[0].params, vec!["ratDeployed:hydro"]);
    assert_eq!(hydro.tree.groups[1].id, "ptu:hydro");
    assert_eq!(hydro.parameters[0].conv, None, "the guide omits conv");
    // Publication adds the default conversion, as the guide describes.
    let mut filled = c.clone();
    assert_eq!(filled.fill_default_conversions(), 1);
    let conv = filled.apps["hydro"]
        .conversion("1to1:hydro")
        .expect("added");
    assert_eq!(
        (conv.unit.as_deref(), conv.format.as_deref()),
        (Some(""), Some("%5.3f"))
    );
    assert_eq!(
        filled.apps["hydro"].parameters[0].conv.as_deref(),
        Some("1to1:hydro")
    );
    filled.validate().expect("still valid");
    assert_eq!(filled.fill_default_conversions(), 0, "idempotent");
    // Where the app already has the conversion, it is reused, not duplicated.
    let mut c =
        Config::from_json(&fixture("docs_config_channels_parameters_2.json")).expect("valid");
    c.apps.get_mut("demo").expect("demo").parameters[0].conv = None;
    assert_eq!(c.fill_default_conversions(), 1);
    assert_eq!(c.apps["demo"].conversions.len(), 2);
}

#[test]
fn unknown_fields_are_kept_and_written_back() {
    let json = json!({
        "app": {
            "desc": "An app",
            "vendorInfo": {"built": "2021-05-06"},
            "identity": {"commsPath": "x", "applicationVersionId": "0001FFfe", "extra": 1},
            "rda": {"ownerId": 65535, "support": "notSupported"},
            "tree": {"groups": [{"id": "g", "params": ["p:app"], "colour": "red"}], "hidden": true},
            "parameters": [{"id": "p:app", "name": "p", "desc": "P", "conv": "c:app",
                            "channels": [7], "type": "virt", "byteOrder": "be", "errorMask": "0x80",
                            "func": {"lang": "fdl#Script", "code": "x*2", "note": "n"},
                            "calibrated": true}],
            "channels": [{"id": 7, "name": "0x1234", "source": "subSampledPeriodic", "type": "3f32",
                          "interval": 1000000, "quality": "good"}],
            "conversions": [{"name": "c:app", "formula": {"code": "x", "dialect": "sfdl"}, "x": 0}],
            "errors": [{"name": "E1", "group": "Analogue:app", "current": "p:app", "logged": "p:app",
                        "bit": 31, "severity": 2}],
            "events": [{"id": -5, "pri": "low", "convs": ["c:app"], "nData": 1}]
        }
    });
    let text = json.to_string();
    let config = Config::from_json(&text).expect("valid");
    let app = &config.apps["app"];
    assert!(app.extra.contains_key("vendorInfo"));
    assert_eq!(app.parameters[0].extra["calibrated"], json!(true));
    assert_eq!(app.channels[0].data_type.expect("type").width(), 12);
    assert_eq!(app.tree.extra["hidden"], json!(true));
    let out: Value = serde_json::from_str(&config.to_json()).expect("json");
    assert_eq!(normalise(&out), normalise(&json));
}

#[test]
fn validation_names_the_offending_item() {
    let base =
        || -> Value { serde_json::from_str(&fixture("docs_config_index_1.json")).expect("json") };
    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, &str)> = vec![
        (
            |v| v["demo"]["parameters"][0]["channels"] = json!([1, 2]),
            "parameter \"param:demo\" references undefined channel 2",
        ),
        (
            |v| v["demo"]["parameters"][0]["conv"] = json!("nope"),
            "parameter \"param:demo\" references undefined conversion \"nope\"",
        ),
        (
            |v| v["demo"]["tree"]["params"] = json!(["param:demo", "ghost:demo"]),
            "tree references undefined parameter \"ghost:demo\"",
        ),
        (
            |v| {
                v["demo"]["tree"]["groups"] =
                    json!([{"id": "g1", "groups": [{"id": "g2", "params": ["ghost"]}]}])
            },
            "group \"g2\" references undefined parameter \"ghost\"",
        ),
        (
            |v| v["demo"]["tree"]["groups"] = json!([{"id": "g1", "groups": [{"id": "g1"}]}]),
            "parameter group \"g1\" is defined more than once",
        ),
        (
            |v| v["demo"]["tree"]["groups"] = json!([{"id": ""}]),
            "empty id",
        ),
        (
            |v| v["demo"]["channels"] = json!([{"id": 1}, {"id": 1}]),
            "channel 1 is defined more than once",
        ),
        (
            |v| v["other"] = json!({"channels": [{"id": 1}]}),
            "channel 1 is defined more than once",
        ),
        (
            |v| {
                v["other"] = json!({"parameters": [{"id": "param:demo", "name": "n", "desc": "d"}]})
            },
            "parameter \"param:demo\" is defined more than once",
        ),
        (
            |v| v["other"] = json!({"events": [{"id": 8}]}),
            "event definition 8 is defined more than once",
        ),
        (
            |v| v["demo"]["conversions"] = json!([{"name": "1to1:demo"}, {"name": "1to1:demo"}]),
            "conversion \"1to1:demo\" is defined more than once",
        ),
        (
            |v| v["demo"]["conversions"][0]["rational"] = json!({"coeffs": [0, 1, 0, 0, 1]}),
            "has 5 rational coefficients",
        ),
        (
            |v| {
                v["demo"]["conversions"][0]["rational"] = json!({"coeffs": [0, 1, 0, 0, 1, 0]});
                v["demo"]["conversions"][0]["formula"] = json!({"code": "x"});
            },
            "more than one of rational/table/text/formula",
        ),
        (
            |v| v["demo"]["conversions"][0]["table"] = json!({"raw": [1, 2], "calibrated": [1]}),
            "table has 2 raw and 1 calibrated",
        ),
        (
            |v| v["demo"]["conversions"][0]["table"] = json!({"raw": [2, 1], "calibrated": [1, 2]}),
            "raw values do not ascend",
        ),
        (
            |v| v["demo"]["conversions"][0]["text"] = json!({"keys": [1], "values": []}),
            "text has 1 keys and 0 values",
        ),
        (
            |v| v["demo"]["conversions"][0]["name"] = json!(""),
            "empty name",
        ),
        (
            |v| v["demo"]["events"][0]["convs"] = json!(["missing"]),
            "event definition 8 references undefined conversion \"missing\"",
        ),
        (
            |v| v["demo"]["parameters"][0]["mask"] = json!("xyz"),
            "parameter \"param:demo\" mask \"xyz\"",
        ),
        (
            |v| v["demo"]["parameters"][0]["mask"] = json!("123456789"),
            "not a hex 32-bit mask",
        ),
        (
            |v| v["demo"]["parameters"][0]["errorMask"] = json!(""),
            "errorMask",
        ),
        (
            |v| v["demo"]["parameters"][0]["name"] = json!(""),
            "parameter \"param:demo\" has an empty name",
        ),
        (
            |v| v["demo"]["parameters"][0]["desc"] = json!(""),
            "has an empty desc",
        ),
        (
            |v| v["demo"]["channels"][0]["interval"] = json!(-1),
            "channel 1 has a negative interval",
        ),
        (
            |v| {
                v["demo"]["errors"] =
                    json!([{"name": "E", "group": "g", "current": "param:demo", "logged": "gone"}])
            },
            "error definition \"E\" logged references undefined parameter \"gone\"",
        ),
        (
            |v| v["demo"]["errors"] = json!([{"name": "E", "group": "g", "current": "param:demo", "logged": "param:demo", "bit": 32}]),
            "bit 32 is not in 0-31",
        ),
        (
            |v| v["demo"]["errors"] = json!([{"name": "E", "group": "", "current": "param:demo", "logged": "param:demo"}]),
            "has an empty group",
        ),
        (
            |v| v["demo"]["identity"] = json!({"commsPath": "p", "applicationVersionId": "12345"}),
            "applicationVersionId \"12345\"",
        ),
        (|v| v[""] = json!({}), "empty name"),
    ];
    for (edit, hint) in cases {
        let mut v = base();
        edit(&mut v);
        let text = v.to_string();
        let msg = config_error(Config::from_json(&text));
        assert!(msg.contains(hint), "{msg:?} lacks {hint:?}");
        // Unvalidated parsing accepts it, and lists the same problem.
        let config = Config::from_json_unvalidated(&text).expect("well-formed");
        assert!(config.problems().iter().any(|p| p.contains(hint)));
        assert!(config.validate().is_err());
    }
    // Several problems are all listed.
    let mut v = base();
    v["demo"]["parameters"][0]["channels"] = json!([5]);
    v["demo"]["parameters"][0]["conv"] = json!("none");
    let problems = Config::from_json_unvalidated(&v.to_string())
        .expect("parses")
        .problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
}

#[test]
fn malformed_configs_give_json_errors() {
    let cases = [
        ("[]", "map"),
        ("{\"demo\": []}", "struct Application"),
        ("{\"demo\": {\"channels\": [{\"id\": \"1\"}]}}", "\"1\""),
        ("{\"demo\": {\"channels\": [{\"id\": -1}]}}", "-1"),
        ("{\"demo\": {\"channels\": [{\"id\": 4294967296}]}}", "4294967296"),
        ("{\"demo\": {\"channels\": [{\"id\": 1, \"type\": \"u64\"}]}}", "u64"),
        ("{\"demo\": {\"channels\": [{\"id\": 1, \"source\": \"Row\"}]}}", "Row"),
        ("{\"demo\": {\"channels\": [{}]}}", "id"),
        ("{\"demo\": {\"parameters\": [{\"id\": \"p\", \"desc\": \"d\"}]}}", "name"),
        ("{\"demo\": {\"parameters\": [{\"id\": \"p\", \"name\": \"n\", \"desc\": \"d\", \"min\": \"low\"}]}}", "low"),
        ("{\"demo\": {\"events\": [{\"id\": 1, \"pri\": \"urgent\"}]}}", "urgent"),
        ("{\"demo\": {\"events\": [{\"id\": 2147483648}]}}", "2147483648"),
        ("{\"demo\": {\"rda\": {\"ownerId\": 1}}}", "support"),
        ("{\"demo\": {\"identity\": {\"commsPath\": \"x\"}}}", "applicationVersionId"),
        ("{\"demo\": {\"conversions\": [{\"name\": \"c\", \"rational\": {}}]}}", "coeffs"),
        ("{\"demo\": {\"tree\": {\"groups\": [{\"desc\": \"no id\"}]}}}", "id"),
        ("{\"demo\": {\"errors\": [{\"name\": \"e\"}]}}", "group"),
        ("{\"demo\": ", "EOF"),
        ("", "EOF"),
    ];
    for (json, hint) in cases {
        let reason = json_error(Config::from_json(json));
        assert!(reason.contains(hint), "{json}: {reason:?} lacks {hint:?}");
    }
    // Nulls are read as absent.
    let c = Config::from_json(r#"{"demo": {"desc": null, "parameters": null, "tree": null}}"#)
        .expect("valid");
    assert_eq!(c.apps["demo"], Application::default());
    assert_eq!(c.to_json(), r#"{"demo":{}}"#);
}

#[test]
fn data_types_have_the_schema_names_and_widths() {
    let expected = [
        ("u8", 1, false, false),
        ("s8", 1, true, false),
        ("u16", 2, false, false),
        ("s16", 2, true, false),
        ("u32", 4, false, false),
        ("s32", 4, true, false),
        ("f32", 4, true, true),
        ("3f32", 12, true, true),
        ("f64", 8, true, true),
    ];
    assert_eq!(ChannelDataType::ALL.len(), expected.len());
    for (name, width, signed, float) in expected {
        let t: ChannelDataType = name.parse().expect("known");
        assert_eq!(t.as_str(), name);
        assert_eq!(t.to_string(), name);
        assert_eq!(t.width(), width, "{name}");
        assert_eq!(t.is_signed(), signed, "{name}");
        assert_eq!(t.is_float(), float, "{name}");
        assert_eq!(t.width() % t.components(), 0);
        assert_eq!(serde_json::to_value(t).expect("ok"), json!(name));
        assert_eq!(
            serde_json::from_value::<ChannelDataType>(json!(name)).expect("ok"),
            t
        );
    }
    assert_eq!(ChannelDataType::default(), ChannelDataType::F64);
    assert!(
        matches!("u64".parse::<ChannelDataType>(), Err(Error::InvalidArgument(m)) if m.contains("u64"))
    );
    for source in [
        "can",
        "event",
        "periodic",
        "synchro",
        "timestamped",
        "row",
        "subSampledPeriodic",
    ] {
        assert_eq!(
            source.parse::<ChannelSource>().expect("known").as_str(),
            source
        );
    }
    assert_eq!(ChannelSource::default(), ChannelSource::Row);
}

#[test]
fn builder_makes_the_common_config() {
    let config = ConfigBuilder::new("car")
        .desc("Car telemetry")
        .first_channel(10)
        .periodic("vCar", ChannelDataType::F32, 200.0)
        .timestamped("gear", ChannelDataType::U8)
        .parameter(
            ParameterSpec::new("pBrake", ChannelDataType::S16)
                .desc("Brake pressure")
                .unit("bar")
                .format("%4.1f")
                .range(0.0, 200.0)
                .row(),
        )
        .event(3, "Pit entry", EventPriority::High)
        .build()
        .expect("valid");
    let app = &config.apps["car"];
    assert_eq!(app.desc.as_deref(), Some("Car telemetry"));
    assert_eq!(app.tree.params, vec!["vCar:car", "gear:car", "pBrake:car"]);
    let ids: Vec<u32> = app.channels.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![10, 11, 12]);
    assert_eq!(app.channels[0].interval, Some(5_000_000));
    assert_eq!(app.channels[0].source, Some(ChannelSource::Periodic));
    assert_eq!(app.channels[1].source, Some(ChannelSource::Timestamped));
    assert_eq!(app.channels[2].source, Some(ChannelSource::Row));
    let brake = app.parameter("pBrake:car").expect("param");
    assert_eq!(brake.channels, vec![12]);
    assert_eq!(
        (brake.unit.as_deref(), brake.format.as_deref()),
        (Some("bar"), Some("%4.1f"))
    );
    assert_eq!((brake.min, brake.max), (Some(0.0), Some(200.0)));
    assert_eq!(brake.desc, "Brake pressure");
    assert_eq!(app.parameter("gear:car").expect("param").desc, "gear");
    assert_eq!(app.conversions.len(), 1);
    assert_eq!(
        app.event(3).expect("event").priority_or_default(),
        EventPriority::High
    );
    assert_eq!(config.channel_data_types()[&12], ChannelDataType::S16);
    assert_eq!(config.channel_id_range(), Some((10, 12)));
    assert_eq!(
        Config::from_json(&config.to_json()).expect("round trip"),
        config
    );

    assert!(config_error(ConfigBuilder::new("").build()).contains("application name"));
    assert!(config_error(
        ConfigBuilder::new("a")
            .timestamped("", ChannelDataType::U8)
            .build()
    )
    .contains("empty name"));
    assert!(config_error(
        ConfigBuilder::new("a")
            .periodic("x", ChannelDataType::U8, 0.0)
            .build()
    )
    .contains("\"x\""));
    assert!(config_error(
        ConfigBuilder::new("a")
            .periodic("x", ChannelDataType::U8, f64::NAN)
            .build()
    )
    .contains("frequency"));
    let dup = ConfigBuilder::new("a")
        .timestamped("x", ChannelDataType::U8)
        .timestamped("x", ChannelDataType::U8)
        .build();
    assert!(config_error(dup).contains("\"x:a\" is defined more than once"));
    let dup_events = ConfigBuilder::new("a")
        .event(1, "one", EventPriority::Low)
        .event(1, "uno", EventPriority::Low)
        .build();
    assert!(config_error(dup_events).contains("event definition 1"));
    let overflow = ConfigBuilder::new("a")
        .first_channel(u32::MAX)
        .timestamped("x", ChannelDataType::U8)
        .timestamped("y", ChannelDataType::U8)
        .build();
    assert!(config_error(overflow).contains("overflow"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn built_configs_round_trip(
        params in prop::collection::btree_map(
            "[a-zA-Z][a-zA-Z0-9_]{0,10}",
            (prop::sample::select(ChannelDataType::ALL.to_vec()), prop::option::of(0.5f64..100_000.0)),
            1..8,
        ),
        first in 0u32..1_000_000,
        events in prop::collection::btree_set(any::<i32>(), 0..4),
    ) {
        let mut b = Config::builder("app").first_channel(first);
        for (name, (data_type, hz)) in &params {
            b = match hz {
                Some(hz) => b.periodic(name.clone(), *data_type, *hz),
                None => b.timestamped(name.clone(), *data_type),
            };
        }
        for id in &events {
            b = b.event(*id, format!("event {id}"), EventPriority::Debug);
        }
        let config = b.build().expect("valid");
        let types = config.channel_data_types();
        prop_assert_eq!(types.len(), params.len());
        for (i, (_, (data_type, _))) in params.iter().enumerate() {
            prop_assert_eq!(types[&(first + i as u32)], *data_type);
        }
        let back = Config::from_json(&config.to_json()).expect("round trip");
        prop_assert_eq!(back, config);
    }

    #[test]
    fn config_from_json_never_panics(text in ".{0,200}") {
        let _ = Config::from_json(&text);
    }

    /// Corrupting a spec example byte by byte gives an error or a config that
    /// round-trips, never a panic.
    #[test]
    fn corrupted_examples_never_panic(which in 0usize..FIXTURES.len(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = fixture(FIXTURES[which]).into_bytes();
        let i = pos % bytes.len();
        bytes[i] = byte;
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Ok(c) = Config::from_json_unvalidated(text) {
                let _ = c.problems();
                prop_assert_eq!(Config::from_json_unvalidated(&c.to_json()).expect("round trip"), c);
            }
        }
    }
}
