//! Session JSON model and ISO 8601 timestamps: the examples of `api.yaml` and
//! of the session guide pages round-trip, malformed documents fail with clear
//! errors, and timestamps keep their offset and precision.

use std::path::PathBuf;

use proptest::prelude::*;
use rta_core::session::{
    details_from_json, ConfigBinding, DetailPropertyType, DetailValue, PropertySummary, Session,
    SessionFolder, SessionMetamodel, SessionState, SessionsPage,
};
use rta_core::time::Timestamp;
use rta_core::Error;
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", name]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Drops `null` members, empty arrays and empty objects (recursively): the
/// model omits them on output, as the specification allows.
fn normalise(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
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

fn json_reason(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::Json { reason, .. }) => reason,
        other => panic!("expected Error::Json, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------

#[test]
fn the_three_spellings_of_1609502400000000000_are_equal() {
    let texts = [
        "2021-01-01T13:00:00+01:00",
        "2021-01-01T12:00:00Z",
        "2021-01-01T04:00:00-08:00",
    ];
    let stamps: Vec<Timestamp> = texts
        .iter()
        .map(|t| Timestamp::parse(t).expect("valid"))
        .collect();
    for (t, text) in stamps.iter().zip(texts) {
        assert_eq!(t.nanos(), 1_609_502_400_000_000_000, "{text}");
        assert_eq!(t.as_str(), text);
        assert_eq!(t.to_string(), text);
    }
    assert_eq!(stamps[0].offset_minutes(), 60);
    assert_eq!(stamps[1].offset_minutes(), 0);
    assert_eq!(stamps[2].offset_minutes(), -480);
    assert_eq!(stamps[0], stamps[1]);
    assert_eq!(stamps[1], stamps[2]);
    assert_eq!(
        Timestamp::from_nanos(1_609_502_400_000_000_000).as_str(),
        "2021-01-01T12:00:00Z"
    );
    assert_eq!(
        Timestamp::from_nanos_with_offset(1_609_502_400_000_000_000, -480)
            .expect("offset in range")
            .as_str(),
        "2021-01-01T04:00:00-08:00"
    );
}

#[test]
fn timestamps_keep_precision_and_order_by_instant() {
    let a = Timestamp::parse("2021-05-06T18:58:56.20289+01:00").expect("valid");
    assert_eq!(a.nanos(), 1_620_323_936_202_890_000);
    let b = Timestamp::parse("2021-05-06T17:58:56.202890001Z").expect("valid");
    assert_eq!(b.nanos(), 1_620_323_936_202_890_001);
    assert!(a < b);
    let c = Timestamp::parse("2021-05-06T17:58:56,2028900+00:00").expect("comma fraction");
    assert_eq!(c, a);
    assert_eq!(c.as_str(), "2021-05-06T17:58:56,2028900+00:00");
    // Basic offsets and a lower-case separator.
    assert_eq!(
        Timestamp::parse("2021-01-01t13:00:00+0100")
            .expect("valid")
            .nanos(),
        1_609_502_400_000_000_000
    );
    assert_eq!(
        Timestamp::parse("2021-01-01 13:00:00+01")
            .expect("valid")
            .nanos(),
        1_609_502_400_000_000_000
    );
    // Before the epoch.
    let pre = Timestamp::parse("1969-12-31T23:59:59.999999999Z").expect("valid");
    assert_eq!(pre.nanos(), -1);
    assert_eq!(
        Timestamp::from_nanos(-1).as_str(),
        "1969-12-31T23:59:59.999999999Z"
    );
    // Re-expressed in another offset.
    assert_eq!(a.to_utc().as_str(), "2021-05-06T17:58:56.20289Z");
    assert_eq!(
        a.with_offset(-90).expect("ok").as_str(),
        "2021-05-06T16:28:56.20289-01:30"
    );
    // Interop with chrono keeps instant and offset.
    let dt = a.to_chrono();
    assert_eq!(dt.timestamp_nanos_opt(), Some(a.nanos()));
    let back = Timestamp::from_chrono(&dt).expect("in range");
    assert_eq!(back.as_str(), a.as_str());
}

#[test]
fn bad_timestamps_are_rejected_naming_the_value() {
    let cases = [
        ("", "expected 4 digits of year"),
        ("2021-01-01", "time of day"),
        ("2021-01-01T12:00:00", "offset"),
        ("2021-13-01T12:00:00Z", "month"),
        ("2021-02-29T12:00:00Z", "day 29"),
        ("2021-04-31T12:00:00Z", "day 31"),
        ("2021-01-01T24:00:00Z", "hour"),
        ("2021-01-01T12:60:00Z", "minute"),
        ("2021-01-01T12:00:60Z", "leap second"),
        ("2021-01-01T12:00:00.Z", "fractional digits"),
        ("2021-01-01T12:00:00.1234567890Z", "at most 9"),
        ("2021-01-01T12:00:00+24:00", "beyond 23:59"),
        ("2021-01-01T12:00:00+01:60", "beyond 23:59"),
        ("2021-01-01T12:00:00+1", "offset hours"),
        ("2021-01-01T12:00:00Zjunk", "unexpected text"),
        ("2021-01-01X12:00:00Z", "expected 'T'"),
        ("2262-04-12T00:00:00Z", "outside the range"),
        ("1677-09-21T00:00:00Z", "outside the range"),
        ("21-01-01T12:00:00Z", "year"),
        ("２０２１-01-01T12:00:00Z", "year"),
    ];
    for (text, hint) in cases {
        match Timestamp::parse(text) {
            Err(Error::Timestamp { value, reason }) => {
                assert_eq!(value, text);
                assert!(reason.contains(hint), "{text:?}: {reason:?} lacks {hint:?}");
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }
    // Long values are quoted shortened.
    let long = format!("2021-01-01T12:00:00Z{}", "x".repeat(1000));
    match Timestamp::parse(&long) {
        Err(Error::Timestamp { value, .. }) => assert!(value.len() < 100, "{value}"),
        other => panic!("{other:?}"),
    }
    assert!(Timestamp::from_nanos_with_offset(0, 24 * 60).is_err());
    // 2000 is a leap year, 1900 is not.
    assert!(Timestamp::parse("2000-02-29T00:00:00Z").is_ok());
    assert!(Timestamp::parse("1900-02-29T00:00:00Z").is_err());
}

#[test]
fn timestamp_serde_is_the_original_string() {
    let t: Timestamp = serde_json::from_str("\"2021-05-24T16:21:39+00:00\"").expect("valid");
    assert_eq!(
        serde_json::to_string(&t).expect("ok"),
        "\"2021-05-24T16:21:39+00:00\""
    );
    let err = serde_json::from_str::<Timestamp>("\"yesterday\"").expect_err("invalid");
    assert!(err.to_string().contains("yesterday"), "{err}");
    assert!(serde_json::from_str::<Timestamp>("1609502400000000000").is_err());
}

#[test]
fn now_is_recent_and_utc() {
    let now = Timestamp::now();
    assert!(now.nanos() > 1_700_000_000_000_000_000);
    assert!(now.as_str().ends_with('Z'));
    assert_eq!(Timestamp::parse(now.as_str()).expect("parses"), now);
}

fn offsets() -> impl Strategy<Value = i16> {
    -(23 * 60 + 59)..=(23 * 60 + 59i16)
}

proptest! {
    #[test]
    fn timestamp_format_parse_round_trip(nanos in any::<i64>(), offset in offsets()) {
        let t = Timestamp::from_nanos_with_offset(nanos, offset).expect("offset in range");
        let back = Timestamp::parse(t.as_str()).expect("formatted text parses");
        prop_assert_eq!(back.nanos(), nanos);
        prop_assert_eq!(back.offset_minutes(), offset);
        prop_assert_eq!(back.as_str(), t.as_str());
        let utc = Timestamp::from_nanos(nanos);
        prop_assert_eq!(Timestamp::parse(utc.as_str()).expect("parses").nanos(), nanos);
    }

    /// chrono is the reference model: any text we format, at any precision,
    /// means the same instant to chrono's RFC 3339 parser.
    #[test]
    fn timestamp_parse_agrees_with_chrono(
        // 1678..2261 keeps every offset inside the i64 range.
        secs in -9_200_000_000i64..9_200_000_000i64,
        frac in 0u32..1_000_000_000,
        digits in 0usize..=9,
        offset in offsets(),
        zulu in any::<bool>(),
    ) {
        use chrono::{FixedOffset, TimeZone};
        let tz = FixedOffset::east_opt(i32::from(offset) * 60).expect("in range");
        let dt = tz.timestamp_opt(secs, 0).single().expect("in range");
        let mut text = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
        if digits > 0 {
            text.push('.');
            text.push_str(&format!("{frac:09}")[..digits]);
        }
        if zulu && offset == 0 {
            text.push('Z');
        } else {
            text.push_str(&dt.format("%:z").to_string());
        }
        let ours = Timestamp::parse(&text).expect("valid");
        let theirs = chrono::DateTime::parse_from_rfc3339(&text).expect("chrono parses");
        prop_assert_eq!(Some(ours.nanos()), theirs.timestamp_nanos_opt(), "{}", text);
        prop_assert_eq!(i32::from(ours.offset_minutes()) * 60, theirs.offset().local_minus_utc());
        prop_assert_eq!(ours.as_str(), text.as_str());
    }

    #[test]
    fn timestamp_parse_never_panics(text in ".{0,40}") {
        let _ = Timestamp::parse(&text);
    }

    #[test]
    fn timestamp_parse_never_panics_on_near_misses(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.,][0-9]{0,11})?([Zz]|[+-][0-9]{1,4}|[+-][0-9]{2}:[0-9]{2})?") {
        if let Ok(t) = Timestamp::parse(&text) {
            // Whatever parses must agree with chrono where chrono accepts it too.
            if let Ok(c) = chrono::DateTime::parse_from_rfc3339(&text) {
                prop_assert_eq!(Some(t.nanos()), c.timestamp_nanos_opt());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Session state
// ---------------------------------------------------------------------------

#[test]
fn states_have_the_spec_numbers_and_names() {
    let expected = [
        (SessionState::Unknown, 0, "unknown", false),
        (SessionState::Waiting, 1, "waiting", false),
        (SessionState::Open, 2, "open", false),
        (SessionState::Closed, 4, "closed", true),
        (SessionState::Truncated, 12, "truncated", true),
        (SessionState::Failed, 28, "failed", true),
        (SessionState::Abandoned, 44, "abandoned", true),
    ];
    for (state, number, name, closed) in expected {
        assert_eq!(state.as_i32(), number);
        assert_eq!(SessionState::from_i32(number).expect("known"), state);
        assert_eq!(state.as_str(), name);
        assert_eq!(name.parse::<SessionState>().expect("known"), state);
        assert_eq!(
            name.to_uppercase()
                .parse::<SessionState>()
                .expect("any case"),
            state
        );
        assert_eq!(state.is_closed(), closed, "{name}");
        assert_eq!(state.is_closed(), number >= 4, "{name}");
        assert_eq!(
            serde_json::to_string(&state).expect("ok"),
            format!("\"{name}\"")
        );
    }
    for bad in [-1, 3, 5, 8, 13, 45, i32::MAX] {
        assert!(
            matches!(SessionState::from_i32(bad), Err(Error::InvalidArgument(m)) if m.contains(&bad.to_string())),
            "{bad}"
        );
    }
    assert!("closing".parse::<SessionState>().is_err());
}

// ---------------------------------------------------------------------------
// Sessions: spec examples
// ---------------------------------------------------------------------------

fn round_trip_session(json: &str) -> Session {
    let session = Session::from_json(json).expect("spec example parses");
    let written = session.to_json();
    let again = Session::from_json(&written).expect("output parses");
    assert_eq!(again, session);
    assert_same_json(json, &written);
    assert_same_json(json, &session.to_json_pretty());
    session
}

#[test]
fn api_yaml_session_example_round_trips() {
    let json = fixture("api_session.json");
    let s = round_trip_session(&json);
    assert_eq!(s.identity, "f10f4a19-3831-4dd6-a178-faa94931a5b0");
    assert_eq!(s.state, SessionState::Closed);
    assert_eq!(s.timestamp.as_str(), "2021-05-06T18:58:56.20289+01:00");
    assert_eq!(s.identifier, "Session Demo 06 May 2021 18:58");
    let range = s.time_range.as_ref().expect("timeRange");
    assert_eq!(range.start_time, 1_620_323_936_202_890_000);
    assert_eq!(range.end_time, 1_620_324_536_202_890_000);
    // The ISO timestamps and the nanosecond range describe the same instants.
    assert_eq!(
        s.start_timestamp.as_ref().map(Timestamp::nanos),
        Some(range.start_time)
    );
    assert_eq!(
        s.end_timestamp.as_ref().map(Timestamp::nanos),
        Some(range.end_time)
    );
    assert_eq!(s.details["Lab Tech"], DetailValue::from("Bob Jones"));
    assert_eq!(s.details["Run"], DetailValue::Integer(17));
    assert_eq!(
        s.config_bindings,
        vec![ConfigBinding::new(
            "6d711dbc-5f0d-47d2-b127-8c9d20bcec01",
            0
        )]
    );
    // Timestamps are written back character for character.
    let written = s.to_json();
    assert!(
        written.contains("\"timestamp\":\"2021-05-06T18:58:56.20289+01:00\""),
        "{written}"
    );
    assert!(
        written.contains("\"endTimestamp\":\"2021-05-06T19:08:56.20289+01:00\""),
        "{written}"
    );
    // Rebuilding the session from its parts gives the same document.
    let mut built = Session::new(
        &s.identity,
        SessionState::Closed,
        s.timestamp.clone(),
        &s.identifier,
    );
    built
        .set_time_range(range.start_time, range.end_time)
        .expect("ordered range");
    built.details.insert("Lab Tech".into(), "Bob Jones".into());
    built.details.insert("Run".into(), 17.into());
    built.config_bindings.push(ConfigBinding::new(
        "6d711dbc-5f0d-47d2-b127-8c9d20bcec01",
        0,
    ));
    assert_eq!(built, s);
    assert_same_json(&json, &built.to_json());
}

#[test]
fn model_page_properties_round_trip() {
    let json = fixture("docs_session_model_properties.json");
    let s = round_trip_session(&json);
    assert_eq!(s.session_type.as_deref(), Some("DDS"));
    assert_eq!(s.quality, Some(0.8));
    assert_eq!(s.group.as_deref(), Some("Aero"));
    assert_eq!(s.version.as_deref(), Some("1.2.0"));
    assert_eq!(
        s.ext_details["Car Setup"]["rideHeightFront"],
        DetailValue::Integer(32)
    );
    assert_eq!(
        s.detail("extDetails.Car Setup.rideHeightRear"),
        Some(&DetailValue::Integer(78))
    );
    assert_eq!(s.detail("details.Run"), Some(&DetailValue::Integer(17)));
    assert_eq!(s.detail("details.Nope"), None);
    assert_eq!(s.config_bindings[0].channel_offset, 1000);
    // Empty arrays of the page are omitted on output.
    let out: Value = serde_json::from_str(&s.to_json()).expect("json");
    assert!(out.get("children").is_none() && out.get("alternates").is_none());
}

#[test]
fn sessions_pages_round_trip() {
    for name in [
        "api_sessions_page.json",
        "docs_sessions_page_folder.json",
        "docs_sessions_page_empty.json",
    ] {
        let json = fixture(name);
        let page = SessionsPage::from_json(&json).expect(name);
        let written = page.to_json();
        assert_eq!(
            SessionsPage::from_json(&written).expect("output parses"),
            page
        );
        assert_same_json(&json, &written);
        // An empty page still names its (required) sessions array.
        if page.sessions.is_empty() {
            assert_eq!(written, r#"{"sessions":[]}"#);
        }
    }
    let page = SessionsPage::from_json(&fixture("api_sessions_page.json")).expect("parses");
    assert_eq!(page.sessions.len(), 2);
    assert_eq!(page.sessions[0].state, SessionState::Waiting);
    assert_eq!(
        page.sessions[0].timestamp.nanos(),
        1_621_873_299_000_000_000
    );
    assert_eq!(page.sessions[0].details["Run"], DetailValue::Integer(200));
    let docs = SessionsPage::from_json(&fixture("docs_sessions_page_folder.json")).expect("parses");
    assert_eq!(docs.sessions[0].state, SessionState::Unknown);
    // A bad session inside a page is reported with its index.
    let bad = r#"{"sessions":[{"identity":"a","state":"open","timestamp":"2021-01-01T00:00:00Z","identifier":"x","quality":2}]}"#;
    let reason = json_reason(SessionsPage::from_json(bad));
    assert!(
        reason.contains("sessions[0]") && reason.contains("quality"),
        "{reason}"
    );
    assert!(
        SessionsPage::from_json("{}").is_err(),
        "sessions is required"
    );
}

#[test]
fn folders_round_trip_and_accept_the_schema_spelling() {
    for name in [
        "api_session_folders.json",
        "docs_session_folders_root.json",
        "docs_session_folders_animals.json",
    ] {
        let json = fixture(name);
        let folders = SessionFolder::list_from_json(&json).expect(name);
        assert!(!folders.is_empty());
        let written = SessionFolder::list_to_json(&folders);
        assert_eq!(
            SessionFolder::list_from_json(&written).expect("parses"),
            folders
        );
        assert_same_json(&json, &written);
    }
    let api = SessionFolder::list_from_json(&fixture("api_session_folders.json")).expect("parses");
    assert_eq!(api[0].identity, "animals::felines");
    assert!(api[0].has_children);
    let typo = SessionFolder::list_from_json(
        r#"[{"identity":"a","label":"A","description":"d","hasChldren":true}]"#,
    )
    .expect("schema spelling");
    assert!(typo[0].has_children);
    assert!(SessionFolder::list_to_json(&typo).contains("\"hasChildren\":true"));
    assert!(SessionFolder::list_from_json(r#"[{"identity":"a","label":"A"}]"#).is_err());
}

#[test]
fn metamodel_examples_round_trip() {
    for name in [
        "api_session_metamodel.json",
        "docs_metamodel_capabilities.json",
        "docs_metamodel_constraints.json",
        "docs_metamodel_display.json",
    ] {
        let json = fixture(name);
        let m = SessionMetamodel::from_json(&json).expect(name);
        let written = m.to_json();
        assert_eq!(SessionMetamodel::from_json(&written).expect("parses"), m);
        assert_same_json(&json, &written);
    }
    let m = SessionMetamodel::from_json(&fixture("api_session_metamodel.json")).expect("parses");
    assert!(m
        .state
        .as_ref()
        .is_some_and(|c| c.can_filter() && c.can_sort()));
    let run = &m.details["Run"];
    assert_eq!(run.label, "Run");
    assert_eq!(
        run.constraints.as_ref().expect("constraints").values,
        vec![json!(17), json!(200)]
    );
    let quality = m
        .quality
        .as_ref()
        .and_then(|q| q.constraints.as_ref())
        .expect("quality constraints");
    assert_eq!(quality.maximum, Some(json!(1)));
    let display =
        SessionMetamodel::from_json(&fixture("docs_metamodel_display.json")).expect("parses");
    let weight = &display.details["weight"];
    assert_eq!(weight.property_type, Some(DetailPropertyType::Number));
    assert_eq!(
        weight.display.as_ref().and_then(|d| d.unit.as_deref()),
        Some("kg")
    );
    let caps =
        SessionMetamodel::from_json(&fixture("docs_metamodel_capabilities.json")).expect("parses");
    // `edit` is not in the schema: it is kept rather than lost.
    assert!(caps.to_json().contains("\"edit\":true"));

    let summaries =
        PropertySummary::list_from_json(&fixture("docs_property_summaries.json")).expect("parses");
    assert_eq!(summaries.len(), 4);
    assert_eq!(
        summaries[2].description.as_deref(),
        Some("Size of the vehicle")
    );
    assert_same_json(
        &fixture("docs_property_summaries.json"),
        &serde_json::to_string(&summaries).expect("ok"),
    );
}

// ---------------------------------------------------------------------------
// Sessions: conventions
// ---------------------------------------------------------------------------

const MINIMAL: &str = r#"{"identity":"s1","state":"open","timestamp":"2021-01-01T13:00:00+01:00","identifier":"one"}"#;

#[test]
fn unknown_properties_are_kept_and_written_back() {
    let json = r#"{
        "identity": "s1", "state": "open", "timestamp": "2021-01-01T13:00:00+01:00",
        "identifier": "one",
        "markers": [{"label": "Lap 1", "timestamp": 1609502400000000000}],
        "vendor": {"nested": {"deep": [1, 2.5, "x", true, null]}},
        "children": ["c1", "c2"],
        "alternates": ["a1"],
        "timeRange": {"startTime": 1, "endTime": 2, "resolution": "ns"},
        "configBindings": [{"identifier": "cfg", "channelOffset": 4096, "note": "kept"}]
    }"#;
    let s = Session::from_json(json).expect("valid");
    assert_eq!(s.children, vec!["c1", "c2"]);
    assert_eq!(s.alternates, vec!["a1"]);
    assert!(s.extra.contains_key("markers") && s.extra.contains_key("vendor"));
    assert_eq!(s.config_bindings[0].extra["note"], json!("kept"));
    let out: Value = serde_json::from_str(&s.to_json()).expect("json");
    let original: Value = serde_json::from_str(json).expect("json");
    // Nothing is empty here, so the output equals the input exactly.
    assert_eq!(out, original);
}

#[test]
fn nulls_and_empties_are_accepted_and_omitted() {
    let json = r#"{"identity":"s1","state":"open","timestamp":"2021-01-01T13:00:00+01:00","identifier":"one",
        "startTimestamp":null,"endTimestamp":null,"timeRange":null,"details":null,"extDetails":{},
        "type":null,"quality":null,"group":null,"version":null,"children":null,"alternates":[],
        "configBindings":null}"#;
    let s = Session::from_json(json).expect("valid");
    assert_eq!(s.to_json(), MINIMAL);
    assert_eq!(Session::from_json(MINIMAL).expect("valid"), s);
}

#[test]
fn integers_and_numbers_stay_distinct() {
    let json = r#"{"identity":"s1","state":"open","timestamp":"2021-01-01T12:00:00Z","identifier":"x",
        "details":{"i":17,"f":17.0,"neg":-3,"e":1e3,"big":18446744073709551615,"b":false,"s":"17",
                   "when":"2021-01-01T12:00:00Z"}}"#;
    let s = Session::from_json(json).expect("valid");
    assert_eq!(s.details["i"], DetailValue::Integer(17));
    assert_eq!(s.details["f"], DetailValue::Number(17.0));
    assert_eq!(s.details["neg"], DetailValue::Integer(-3));
    assert_eq!(s.details["e"], DetailValue::Number(1000.0));
    assert_eq!(
        s.details["big"],
        DetailValue::Number(18_446_744_073_709_551_615.0)
    );
    assert_eq!(s.details["b"], DetailValue::Boolean(false));
    assert_eq!(s.details["s"], DetailValue::String("17".into()));
    assert_eq!(
        s.details["when"].as_timestamp().map(|t| t.nanos()),
        Some(1_609_502_400_000_000_000)
    );
    assert_eq!(s.details["i"].as_f64(), Some(17.0));
    let out = s.to_json();
    assert!(
        out.contains("\"i\":17,") && out.contains("\"f\":17.0"),
        "{out}"
    );
    assert_eq!(Session::from_json(&out).expect("valid"), s);
    let d = details_from_json(r#"{"Run": 5, "Driver": "Bob", "wet": true, "temp": 21.5}"#)
        .expect("valid");
    assert_eq!(d["temp"].type_name(), "number");
    assert_eq!(d["Run"].type_name(), "integer");
    assert!(details_from_json(r#"{"a": {"b": 1}}"#).is_err());
}

#[test]
fn states_are_read_by_name_or_number() {
    let by_number = MINIMAL.replace("\"open\"", "2");
    assert_eq!(
        Session::from_json(&by_number).expect("valid").state,
        SessionState::Open
    );
    let upper = MINIMAL.replace("\"open\"", "\"Closed\"");
    let s = Session::from_json(&upper).expect("valid");
    assert_eq!(s.state, SessionState::Closed);
    assert!(s.to_json().contains("\"state\":\"closed\""));
}

#[test]
fn malformed_sessions_give_clear_errors() {
    let with = |field: &str, value: &str| -> String {
        let mut v: Value = serde_json::from_str(MINIMAL).expect("json");
        v[field] = serde_json::from_str(value).expect("json value");
        v.to_string()
    };
    let without = |field: &str| -> String {
        let mut v: Value = serde_json::from_str(MINIMAL).expect("json");
        v.as_object_mut().expect("object").remove(field);
        v.to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (without("identity"), "identity"),
        (without("state"), "state"),
        (without("timestamp"), "timestamp"),
        (without("identifier"), "identifier"),
        (with("identity", "\"\""), "identity must not be empty"),
        (with("state", "\"opened\""), "opened"),
        (with("state", "3"), "3"),
        (with("state", "null"), "state"),
        (with("timestamp", "\"2021-01-01T12:00:00\""), "offset"),
        (with("timestamp", "1609502400000000000"), "timestamp"),
        (with("startTimestamp", "\"2021-02-30T00:00:00Z\""), "day 30"),
        (with("quality", "1.5"), "quality 1.5"),
        (with("quality", "-0.1"), "quality -0.1"),
        (with("quality", "\"high\""), "high"),
        (with("details", r#"{"a": {"b": 1}}"#), "no null or nesting"),
        (with("details", r#"{"a": null}"#), "no null or nesting"),
        (with("details", r#"{"a": [1]}"#), "no null or nesting"),
        (with("details", "[1]"), "map"),
        (with("extDetails", r#"{"g": 1}"#), "map"),
        (with("children", r#"[1]"#), "string"),
        (
            with(
                "configBindings",
                r#"[{"identifier": "x", "channelOffset": -1}]"#,
            ),
            "-1",
        ),
        (
            with("configBindings", r#"[{"identifier": "x"}]"#),
            "channelOffset",
        ),
        (
            with(
                "configBindings",
                r#"[{"identifier": "", "channelOffset": 0}]"#,
            ),
            "configBindings[0]",
        ),
        (
            with("timeRange", r#"{"startTime": 5, "endTime": 4}"#),
            "timeRange",
        ),
        (with("timeRange", r#"{"startTime": 5}"#), "endTime"),
        (
            with("startTimestamp", "\"2021-01-01T00:00:00Z\""),
            "endTimestamp must be present",
        ),
        ("[]".to_string(), "struct Session"),
        ("".to_string(), "EOF"),
        ("{\"identity\":".to_string(), "EOF"),
        ("not json".to_string(), "expected"),
    ];
    for (json, hint) in cases {
        let reason = json_reason(Session::from_json(&json));
        assert!(reason.contains(hint), "{json}: {reason:?} lacks {hint:?}");
        assert!(Session::from_slice(json.as_bytes()).is_err());
    }
    // Reversed start / end timestamps.
    let mut v: Value = serde_json::from_str(MINIMAL).expect("json");
    v["startTimestamp"] = json!("2021-01-02T00:00:00Z");
    v["endTimestamp"] = json!("2021-01-02T01:00:00+02:00");
    let reason = json_reason(Session::from_json(&v.to_string()));
    assert!(reason.contains("before startTimestamp"), "{reason}");
    // Non-finite numbers can only come from code; validation catches them.
    let mut s = Session::from_json(MINIMAL).expect("valid");
    s.details.insert("x".into(), DetailValue::Number(f64::NAN));
    assert!(json_reason(s.validate()).contains("details.x"));
}

#[test]
fn time_range_helpers() {
    let mut s = Session::from_json(MINIMAL).expect("valid");
    s.set_time_range(1_609_502_400_000_000_000, 1_609_502_401_500_000_000)
        .expect("ordered");
    assert_eq!(
        s.start_timestamp.as_ref().expect("set").as_str(),
        "2021-01-01T13:00:00+01:00"
    );
    assert_eq!(
        s.end_timestamp.as_ref().expect("set").as_str(),
        "2021-01-01T13:00:01.5+01:00"
    );
    assert!(s.set_time_range(2, 1).is_err());
    s.validate().expect("valid");
    s.clear_time_range();
    assert_eq!(s.to_json(), MINIMAL);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn session_from_json_never_panics(text in ".{0,200}") {
        let _ = Session::from_json(&text);
        let _ = SessionsPage::from_json(&text);
        let _ = SessionMetamodel::from_json(&text);
        let _ = SessionFolder::list_from_json(&text);
    }

    /// Corrupting the spec example byte by byte gives an error or a valid
    /// session, never a panic; anything accepted round-trips.
    #[test]
    fn corrupted_examples_never_panic(pos in 0usize..700, byte in any::<u8>()) {
        let mut bytes = fixture("docs_session_model_properties.json").into_bytes();
        let i = pos % bytes.len();
        bytes[i] = byte;
        if let Ok(s) = Session::from_slice(&bytes) {
            prop_assert_eq!(Session::from_json(&s.to_json()).expect("round trip"), s);
        }
    }

    #[test]
    fn built_sessions_round_trip(
        identity in "[a-z0-9-]{1,20}",
        state in prop::sample::select(SessionState::ALL.to_vec()),
        nanos in any::<i64>(),
        offset in offsets(),
        quality in prop::option::of(0.0f64..=1.0),
        ints in prop::collection::btree_map("[A-Za-z ]{1,8}", any::<i64>(), 0..4),
        floats in prop::collection::btree_map("[a-z]{1,8}", -1e12f64..1e12, 0..4),
        children in prop::collection::vec("[a-z0-9]{1,8}", 0..3),
    ) {
        let ts = Timestamp::from_nanos_with_offset(nanos, offset).expect("in range");
        let mut s = Session::new(identity, state, ts, "identifier");
        s.quality = quality;
        for (k, v) in ints { s.details.insert(k, v.into()); }
        for (k, v) in floats { s.ext_details.entry("g".into()).or_default().insert(k, v.into()); }
        s.children = children;
        let back = Session::from_json(&s.to_json()).expect("round trip");
        prop_assert_eq!(back.timestamp.as_str(), s.timestamp.as_str());
        prop_assert_eq!(back, s);
    }
}
