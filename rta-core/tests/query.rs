//! Session query dialect: the worked examples of the spec, typed comparison,
//! errors, sorting, paging, and a property test against a naive evaluator.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use proptest::prelude::*;
use rta_core::query::{
    Condition, Expr, Operator, Paging, Path, Query, QueryTarget, SortDirection, SortKey, SortOrder,
    Value, MAX_DEPTH,
};
use rta_core::Error;
use serde_json::{json, Value as Json};

fn q(text: &str) -> Query {
    Query::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn session(identifier: &str, ty: &str, driver: Json) -> Json {
    json!({
        "identity": identifier.to_lowercase(),
        "state": "closed",
        "timestamp": "2021-05-22T14:30:08.244956+01:00",
        "identifier": identifier,
        "type": ty,
        "details": {"driver": driver},
    })
}

// ---------------------------------------------------------------------------
// Worked examples of the queries page

#[test]
fn docs_browser_example() {
    let query = q(r#"{
        "identifier": {"$contains":"-20200313-"},
        "details.driver": {"$in": ["SAI", "RIC"]}
    }"#);
    assert_eq!(
        query.filter,
        Expr::And(vec![
            Expr::property(
                Path::Property("identifier".into()),
                Condition::compare(Operator::Contains, "-20200313-")
            ),
            Expr::property(
                Path::Detail("driver".into()),
                Condition::In(vec!["SAI".into(), "RIC".into()])
            ),
        ])
    );
    assert!(query.matches(&session("Run-20200313-1", "race", json!("SAI"))));
    assert!(query.matches(&session("Run-20200313-1", "race", json!("RIC"))));
    assert!(!query.matches(&session("Run-20200313-1", "race", json!("NOR"))));
    assert!(!query.matches(&session("Run-20200314-1", "race", json!("SAI"))));
    assert!(!query.matches(&json!({"identifier": "Run-20200313-1"})));
}

#[test]
fn docs_equality_shorthand_and_eq() {
    let a = q(r#"{"type": "aaa"}"#);
    let b = q(r#"{"type": {"$eq": "aaa"}}"#);
    assert_eq!(a, b);
    assert!(a.matches(&session("x", "aaa", Json::Null)));
    assert!(!a.matches(&session("x", "aab", Json::Null)));
    assert!(!a.matches(&json!({})));
}

#[test]
fn docs_text_match() {
    let query = q(r#"{"identifier": {"$contains": " 2021-"}}"#);
    assert!(query.matches(&session("Silverstone 2021-07-18", "race", Json::Null)));
    assert!(!query.matches(&session("Silverstone-2021-07-18", "race", Json::Null)));
    let starts = q(r#"{"identifier": {"$startsWith": "Silver"}}"#);
    let ends = q(r#"{"identifier": {"$endsWith": "-18"}}"#);
    let s = session("Silverstone 2021-07-18", "race", Json::Null);
    assert!(starts.matches(&s) && ends.matches(&s));
    // case-sensitive, strings only
    assert!(!q(r#"{"identifier": {"$startsWith": "silver"}}"#).matches(&s));
    assert!(!q(r#"{"details.lap": {"$contains": "1"}}"#).matches(&json!({"details": {"lap": 12}})));
}

#[test]
fn docs_aggregation() {
    let query = q(r#"{"details.driver": {"$in": ["SAI", "NOR"]}}"#);
    assert!(query.matches(&session("a", "t", json!("NOR"))));
    assert!(!query.matches(&session("a", "t", json!("RIC"))));
    let nin = q(r#"{"details.driver": {"$nin": ["SAI", "NOR"]}}"#);
    assert!(nin.matches(&session("a", "t", json!("RIC"))));
    assert!(!nin.matches(&session("a", "t", json!("SAI"))));
    assert!(nin.matches(&json!({})), "$nin matches a missing property");
    assert!(!q(r#"{"details.driver": {"$in": []}}"#).matches(&session("a", "t", json!("SAI"))));
    assert!(q(r#"{"details.driver": {"$nin": []}}"#).matches(&session("a", "t", json!("SAI"))));
    assert!(q(r#"{"details.driver": {"$in": [null, "SAI"]}}"#).matches(&json!({})));
    assert!(q(r#"{"details.lap": {"$in": [1, 2.0, 3]}}"#).matches(&json!({"details": {"lap": 2}})));
}

#[test]
fn docs_negation() {
    let query = q(r#"{"$not": {"type": "test"}}"#);
    assert_eq!(
        query.filter,
        Expr::Not(Box::new(Expr::property(
            Path::Property("type".into()),
            Condition::eq("test")
        )))
    );
    assert!(!query.matches(&session("a", "test", Json::Null)));
    assert!(query.matches(&session("a", "live", Json::Null)));
    assert!(query.matches(&json!({})));
    // the schema's condition-level form
    let cond = q(r#"{"type": {"$not": {"$eq": "test"}}}"#);
    assert!(!cond.matches(&session("a", "test", Json::Null)));
    assert!(cond.matches(&session("a", "live", Json::Null)));
    let not_in = q(r#"{"details.driver": {"$not": {"$in": ["SAI"]}}}"#);
    assert!(not_in.matches(&session("a", "t", json!("RIC"))));
    assert!(!not_in.matches(&session("a", "t", json!("SAI"))));
    let not_starts = q(r#"{"identifier": {"$not": {"$startsWith": "Run"}}}"#);
    assert!(!not_starts.matches(&session("Run 1", "t", Json::Null)));
    assert!(not_starts.matches(&session("Test 1", "t", Json::Null)));
    // double negation
    let nn = q(r#"{"type": {"$not": {"$not": {"$eq": "test"}}}}"#);
    assert!(nn.matches(&session("a", "test", Json::Null)));
    assert!(!nn.matches(&session("a", "live", Json::Null)));
    // lenient literal form
    assert_eq!(
        q(r#"{"type": {"$not": "test"}}"#),
        q(r#"{"type": {"$not": {"$eq": "test"}}}"#)
    );
}

#[test]
fn docs_criteria_implicit_and_explicit() {
    let implicit = q(r#"{"type": "foo", "details.thang": "bar"}"#);
    let explicit = q(r#"{"$and": [{"type": "foo"}, {"details.thang": "bar"}]}"#);
    assert_eq!(implicit, explicit);
    let yes = json!({"type": "foo", "details": {"thang": "bar"}});
    let no1 = json!({"type": "foo", "details": {"thang": "baz"}});
    let no2 = json!({"type": "fob", "details": {"thang": "bar"}});
    for query in [&implicit, &explicit] {
        assert!(query.matches(&yes));
        assert!(!query.matches(&no1));
        assert!(!query.matches(&no2));
    }
    let or = q(r#"{"$or": [{"type": "foo"}, {"details.thang": "bar"}]}"#);
    assert!(or.matches(&no1) && or.matches(&no2) && !or.matches(&json!({})));
    let nor = q(r#"{"$nor": [{"type": "foo"}, {"details.thang": "bar"}]}"#);
    assert!(!nor.matches(&no1) && !nor.matches(&no2) && nor.matches(&json!({"type": "x"})));
    // empty lists
    assert!(q(r#"{"$and": []}"#).matches(&yes));
    assert!(!q(r#"{"$or": []}"#).matches(&yes));
    assert!(q(r#"{"$nor": []}"#).matches(&yes));
}

#[test]
fn grpc_example_and_match_all() {
    let query = q("{\"identifier\": \"Example\"}");
    assert!(query.matches(&session("Example", "t", Json::Null)));
    assert!(!query.matches(&session("Example 2", "t", Json::Null)));
    for all in ["", "  ", "{}"] {
        let query = q(all);
        assert!(query.is_all());
        assert!(query.matches(&json!({})));
        assert_eq!(query, Query::all());
    }
}

#[test]
fn ext_details_paths() {
    let doc = json!({
        "extDetails": {"CarSetup": {"RideHeightFront": 31.5, "Wing.Angle": 7}},
        "details": {"Lab Tech": "Bob Jones", "a.b": 1},
        "timeRange": {"start": 5}
    });
    assert!(q(r#"{"extDetails.CarSetup.RideHeightFront": {"$gt": 30}}"#).matches(&doc));
    assert!(!q(r#"{"extDetails.CarSetup.RideHeightFront": {"$gt": 31.5}}"#).matches(&doc));
    assert!(q(r#"{"extDetails.CarSetup.Wing.Angle": 7}"#).matches(&doc));
    assert!(q(r#"{"details.Lab Tech": "Bob Jones"}"#).matches(&doc));
    assert!(q(r#"{"details.a.b": 1}"#).matches(&doc));
    assert!(q(r#"{"timeRange.start": 5}"#).matches(&doc));
    assert!(q(r#"{"extDetails.Other.X": null}"#).matches(&doc));
    let query = q(r#"{"extDetails.CarSetup.RideHeightFront": 1, "$or": [{"details.x": 2}]}"#);
    let paths: Vec<String> = query.paths().iter().map(|p| p.to_string()).collect();
    assert_eq!(paths, ["extDetails.CarSetup.RideHeightFront", "details.x"]);
}

// ---------------------------------------------------------------------------
// Typed comparison

#[test]
fn date_times_compare_as_instants() {
    // The three spellings of 1609502400000000000 in the data guide.
    let spellings = [
        "2021-01-01T13:00:00+01:00",
        "2021-01-01T12:00:00Z",
        "2021-01-01T04:00:00-08:00",
    ];
    for a in spellings {
        let doc = json!({ "timestamp": a });
        for b in spellings {
            let eq = Query::from_json(&json!({"timestamp": {"$eq": b}})).unwrap();
            assert!(eq.matches(&doc), "{a} == {b}");
            let neq = Query::from_json(&json!({"timestamp": {"$neq": b}})).unwrap();
            assert!(!neq.matches(&doc), "{a} != {b}");
            let gte = Query::from_json(&json!({"timestamp": {"$gte": b}})).unwrap();
            assert!(gte.matches(&doc));
            let gt = Query::from_json(&json!({"timestamp": {"$gt": b}})).unwrap();
            assert!(!gt.matches(&doc));
        }
        // 12:30+01:00 is 11:30Z: earlier than all of them, although it sorts later as text
        let lt = Query::from_json(&json!({"timestamp": {"$lt": a}})).unwrap();
        assert!(lt.matches(&json!({"timestamp": "2021-01-01T12:30:00+01:00"})));
        assert!(!lt.matches(&json!({"timestamp": "2021-01-01T12:00:00.000000001Z"})));
        let in_ = Query::from_json(&json!({"timestamp": {"$in": ["x", a]}})).unwrap();
        assert!(in_.matches(&json!({"timestamp": "2021-01-01T12:00:00.000Z"})));
    }
    // sub-second precision survives
    let q1 = q(r#"{"timestamp": {"$gt": "2021-05-22T14:30:08.244955+01:00"}}"#);
    assert!(q1.matches(&json!({"timestamp": "2021-05-22T13:30:08.244956Z"})));
    assert!(!q1.matches(&json!({"timestamp": "2021-05-22T13:30:08.244955Z"})));
    // not a date-time on one side: plain text comparison
    let text = q(r#"{"timestamp": {"$lt": "2021-01-02"}}"#);
    assert!(text.matches(&json!({"timestamp": "2021-01-01T23:00:00-05:00"})));
    // text matches, and details (free text), take date-like prefixes as they are
    let prefix = q(r#"{"timestamp": {"$startsWith": "2021-01-01T2"}}"#);
    assert!(prefix.matches(&json!({"timestamp": "2021-01-01T23:00:00-05:00"})));
    // every spelling a session timestamp may have is accepted as an operand
    q(r#"{"timestamp": {"$gt": "2021-05-06T18:58:56,5+0100"}}"#);
    q(r#"{"endTimestamp": {"$lt": "2021-05-06 18:58:56+01"}}"#);
    let detail = q(r#"{"details.when": "2021-13-45T00:00:00Z"}"#);
    assert!(detail.matches(&json!({"details": {"when": "2021-13-45T00:00:00Z"}})));
    assert_eq!(
        Value::from("2021-01-01T13:00:00+01:00")
            .as_date_time()
            .map(|d| d.timestamp_nanos_opt()),
        Some(Some(1_609_502_400_000_000_000))
    );
}

#[test]
fn numbers_booleans_null_and_mixed_types() {
    let doc = json!({"quality": 0.75, "details": {"Run": 17, "big": 9007199254740993i64, "ok": true, "none": null}});
    assert!(q(r#"{"quality": {"$gt": 0.5}}"#).matches(&doc));
    assert!(q(r#"{"quality": {"$lte": 0.75}}"#).matches(&doc));
    assert!(!q(r#"{"quality": {"$lt": 0.75}}"#).matches(&doc));
    assert!(q(r#"{"details.Run": 17.0}"#).matches(&doc));
    assert!(q(r#"{"details.Run": {"$gt": 16.5, "$lt": 17.5}}"#).matches(&doc));
    assert!(q(r#"{"details.Run": {"$gte": 17, "$lte": 17}}"#).matches(&doc));
    assert!(
        !q(r#"{"details.Run": {"$gt": 2, "$lt": 10}}"#).matches(&doc),
        "numeric, not text"
    );
    // integers beyond 2^53 compare exactly
    assert!(!q(r#"{"details.big": 9007199254740992}"#).matches(&doc));
    assert!(q(r#"{"details.big": {"$gt": 9007199254740992}}"#).matches(&doc));
    assert!(q(r#"{"details.big": {"$gt": 9007199254740992.0}}"#).matches(&doc));
    // booleans
    assert!(q(r#"{"details.ok": true}"#).matches(&doc));
    assert!(q(r#"{"details.ok": {"$gt": false}}"#).matches(&doc));
    // mixed kinds never compare
    assert!(!q(r#"{"details.Run": "17"}"#).matches(&doc));
    assert!(q(r#"{"details.Run": {"$neq": "17"}}"#).matches(&doc));
    assert!(!q(r#"{"details.Run": {"$lt": "a"}}"#).matches(&doc));
    assert!(!q(r#"{"details.ok": 1}"#).matches(&doc));
    // null and missing are the same; only $eq/$neq/$gte/$lte are useful with null
    for path in ["details.none", "details.missing"] {
        let eq = Query::from_json(&json!({ path: null })).unwrap();
        assert!(eq.matches(&doc), "{path}");
        let neq = Query::from_json(&json!({ path: {"$neq": null} })).unwrap();
        assert!(!neq.matches(&doc));
        let gte = Query::from_json(&json!({ path: {"$gte": null} })).unwrap();
        assert!(gte.matches(&doc));
        let gt = Query::from_json(&json!({ path: {"$gt": null} })).unwrap();
        assert!(!gt.matches(&doc));
        let neq5 = Query::from_json(&json!({ path: {"$ne": 5} })).unwrap();
        assert!(neq5.matches(&doc), "$neq matches missing");
    }
    assert!(!q(r#"{"details.Run": null}"#).matches(&doc));
    assert!(q(r#"{"details.Run": {"$neq": null}}"#).matches(&doc));
    // arrays and objects as property values compare with nothing
    let odd = json!({"details": {"list": [1], "obj": {"a": 1}}});
    assert!(!q(r#"{"details.list": 1}"#).matches(&odd));
    assert!(!q(r#"{"details.obj": null}"#).matches(&odd));
    assert!(q(r#"{"details.obj": {"$neq": null}}"#).matches(&odd));
}

// ---------------------------------------------------------------------------
// Errors

#[test]
fn errors_are_query_errors_naming_the_problem() {
    let cases: &[(&str, &str)] = &[
        ("{", "not valid JSON"),
        ("[1]", "object"),
        ("\"type\"", "object"),
        (r#"{"$where": "1"}"#, "$where"),
        (r#"{"type": {"$regex": "a.*"}}"#, "$regex"),
        (r#"{"type": {"$in": "a"}}"#, "$in"),
        (r#"{"type": {"$nin": [[1]]}}"#, "$nin"),
        (r#"{"type": {"$contains": 5}}"#, "$contains"),
        (r#"{"type": {"$startsWith": null}}"#, "$startsWith"),
        (r#"{"type": {}}"#, "empty"),
        (r#"{"type": [1, 2]}"#, "array"),
        (r#"{"type": {"a": 1}}"#, "nested"),
        (r#"{"type": {"$eq": {"a": 1}}}"#, "$eq"),
        (r#"{"type": {"$gt": [1]}}"#, "$gt"),
        (r#"{"$and": {}}"#, "$and"),
        (r#"{"$or": [1]}"#, "object"),
        (r#"{"$nor": null}"#, "$nor"),
        (r#"{"$not": []}"#, "object"),
        (r#"{"": 1}"#, "empty"),
        (r#"{"details.": 1}"#, "details"),
        (r#"{"extDetails.G": 1}"#, "extDetails"),
        (r#"{"extDetails..k": 1}"#, "extDetails"),
        (r#"{"type": {"$not": {"$eq": 1, "$gt": 2}}}"#, "exactly one"),
        (r#"{"type": {"$not": {}}}"#, "exactly one"),
        (r#"{"type": {"$not": [1]}}"#, "$not"),
        // date-time properties: operands shaped like a date-time must be one
        (
            r#"{"timestamp": {"$gt": "2021-13-45T00:00:00Z"}}"#,
            "date-time",
        ),
        (r#"{"timestamp": "2021-05-06T10:00:00"}"#, "offset"),
        (
            r#"{"startTimestamp": {"$in": ["2021-05-06T25:00:00Z"]}}"#,
            "$in",
        ),
        (
            r#"{"endTimestamp": {"$not": "2021-05-06 10:00+01:00"}}"#,
            "$not",
        ),
        (
            r#"{"timestamp": {"$nin": ["2021-02-30T00:00:00Z"]}}"#,
            "date-time",
        ),
    ];
    for (text, needle) in cases {
        match Query::parse(text) {
            Err(Error::Query(msg)) => {
                assert!(
                    msg.contains(needle),
                    "{text}: message {msg:?} lacks {needle:?}"
                )
            }
            other => panic!("{text}: expected a query error, got {other:?}"),
        }
    }
}

fn nested_and(levels: usize) -> String {
    let mut s = String::from(r#"{"type": "x"}"#);
    for _ in 1..levels {
        s = format!(r#"{{"$and": [{s}]}}"#);
    }
    s
}

fn nested_not(levels: usize) -> String {
    let mut s = String::from(r#"{"$eq": 1}"#);
    for _ in 0..levels {
        s = format!(r#"{{"$not": {s}}}"#);
    }
    format!(r#"{{"details.x": {s}}}"#)
}

#[test]
fn nesting_is_bounded() {
    // The exact limit, on trees built in memory (the JSON text parser has its
    // own, lower, limit of 128 containers).
    let nested = |levels: usize| {
        let mut v = json!({"type": "x"});
        for _ in 1..levels {
            v = json!({ "$and": [v] });
        }
        v
    };
    let ok = Query::from_json(&nested(MAX_DEPTH)).unwrap();
    assert!(ok.matches(&json!({"type": "x"})));
    assert!(!ok.matches(&json!({"type": "y"})));
    assert!(
        matches!(Query::from_json(&nested(MAX_DEPTH + 1)), Err(Error::Query(m)) if m.contains("nested"))
    );
    assert!(q(&nested_and(60)).matches(&json!({"type": "x"})));
    assert!(matches!(
        Query::parse(&nested_and(MAX_DEPTH + 1)),
        Err(Error::Query(_))
    ));
    // 60 $not around $eq: even count, so the same as $eq
    let even = q(&nested_not(60));
    assert!(even.matches(&json!({"details": {"x": 1}})));
    assert!(Query::parse(&nested_not(MAX_DEPTH + 1)).is_err());
    // hostile depth, far beyond the JSON parser's own limit: an error, no stack overflow
    let deep = "[".repeat(100_000);
    assert!(matches!(Query::parse(&deep), Err(Error::Query(_))));
    let deep_obj = format!("{}{}", r#"{"$not":"#.repeat(50_000), "{}");
    assert!(matches!(Query::parse(&deep_obj), Err(Error::Query(_))));
    // a deep tree built in memory is also refused before recursing far
    let mut v = json!({"type": "x"});
    for _ in 0..200 {
        v = json!({ "$or": [v] });
    }
    assert!(Query::from_json(&v).is_err());
}

// ---------------------------------------------------------------------------
// A target that is not JSON

struct Row {
    identifier: String,
    quality: Option<f64>,
}

impl QueryTarget for Row {
    fn value(&self, path: &Path) -> Option<Cow<'_, Json>> {
        match path {
            Path::Property(p) if p == "identifier" => Some(Cow::Owned(json!(self.identifier))),
            Path::Property(p) if p == "quality" => self.quality.map(|q| Cow::Owned(json!(q))),
            _ => None,
        }
    }
}

#[test]
fn custom_targets() {
    let rows = [
        Row {
            identifier: "A".into(),
            quality: Some(0.2),
        },
        Row {
            identifier: "B".into(),
            quality: None,
        },
        Row {
            identifier: "C".into(),
            quality: Some(0.9),
        },
    ];
    let query = q(r#"{"$or": [{"quality": {"$gte": 0.5}}, {"quality": null}]}"#);
    let hits: Vec<&str> = rows
        .iter()
        .filter(|r| query.matches(*r))
        .map(|r| r.identifier.as_str())
        .collect();
    assert_eq!(hits, ["B", "C"]);
}

#[test]
fn serde_and_display() {
    let query = q(r#"{"type": "foo", "quality": {"$gte": 0.5}}"#);
    let text = query.to_string();
    assert_eq!(
        text,
        r#"{"$and":[{"type":{"$eq":"foo"}},{"quality":{"$gte":0.5}}]}"#
    );
    assert_eq!(q(&text), query);
    let from_obj: Query =
        serde_json::from_value(json!({"type": "foo", "quality": {"$gte": 0.5}})).unwrap();
    assert_eq!(from_obj, query);
    let from_str: Query = serde_json::from_value(json!(text)).unwrap();
    assert_eq!(from_str, query);
    assert!(serde_json::from_value::<Query>(json!({"type": {"$bad": 1}})).is_err());
    assert_eq!(serde_json::to_value(&query).unwrap(), query.to_json());
    assert_eq!(Query::all().to_string(), "{}");
}

// ---------------------------------------------------------------------------
// Sorting and paging

fn ids(items: &[Json]) -> Vec<&str> {
    items
        .iter()
        .map(|s| s["identity"].as_str().unwrap())
        .collect()
}

#[test]
fn sort_default_is_timestamp_descending() {
    let order = SortOrder::parse(Vec::<String>::new()).unwrap();
    assert_eq!(order, SortOrder::default());
    assert_eq!(order.to_string(), "timestamp:desc");
    assert_eq!(SortOrder::parse(["", "  "]).unwrap(), SortOrder::default());
    let mut sessions = vec![
        json!({"identity": "a", "timestamp": "2021-01-01T12:30:00+01:00"}), // 11:30Z
        json!({"identity": "b", "timestamp": "2021-01-01T12:00:00Z"}),
        json!({"identity": "c"}),
        json!({"identity": "d", "timestamp": "2021-01-01T04:00:01-08:00"}), // 12:00:01Z
    ];
    order.sort(&mut sessions);
    assert_eq!(ids(&sessions), ["d", "b", "a", "c"]);
    SortOrder::parse(["timestamp:asc"])
        .unwrap()
        .sort(&mut sessions);
    assert_eq!(ids(&sessions), ["a", "b", "d", "c"], "missing stays last");
}

#[test]
fn sort_docs_directives() {
    for (text, path, dir) in [
        ("timestamp:asc", "timestamp", SortDirection::Ascending),
        ("quality:desc", "quality", SortDirection::Descending),
        (
            "details.Engineer:asc",
            "details.Engineer",
            SortDirection::Ascending,
        ),
        (
            "extDetails.CarSetup.TyrePressure:asc",
            "extDetails.CarSetup.TyrePressure",
            SortDirection::Ascending,
        ),
        ("quality", "quality", SortDirection::Ascending),
        (" quality : DESC ", "quality", SortDirection::Descending),
        (
            "details.Time:Zone",
            "details.Time:Zone",
            SortDirection::Ascending,
        ),
        (
            "timestamp:sideways",
            "timestamp:sideways",
            SortDirection::Ascending,
        ),
        ("details.", "details.", SortDirection::Ascending),
    ] {
        let key = SortKey::parse(text).unwrap();
        assert_eq!(key.path.to_string(), path, "{text}");
        assert_eq!(key.direction, dir, "{text}");
    }
    assert_eq!(
        SortKey::parse("details.Engineer:asc").unwrap().path,
        Path::Detail("Engineer".into())
    );
    for bad in ["", ":asc", "  :desc"] {
        assert!(
            matches!(SortKey::parse(bad), Err(Error::Query(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn sort_typed_multi_key_and_unknown_properties() {
    let mut sessions = vec![
        json!({"identity": "a", "details": {"Run": 10, "Engineer": "Bob"}}),
        json!({"identity": "b", "details": {"Run": 9, "Engineer": "Ann"}}),
        json!({"identity": "c", "details": {"Run": 10.5, "Engineer": "Ann"}}),
        json!({"identity": "d", "details": {"Engineer": "Ann", "Run": null}}),
        json!({"identity": "e", "details": {"Run": "7", "Engineer": "Bob"}}),
    ];
    SortOrder::parse(["details.Run:asc"])
        .unwrap()
        .sort(&mut sessions);
    assert_eq!(
        ids(&sessions),
        ["b", "a", "c", "e", "d"],
        "numbers typed, then strings, then missing"
    );
    SortOrder::parse(["details.Run:desc"])
        .unwrap()
        .sort(&mut sessions);
    assert_eq!(ids(&sessions), ["e", "c", "a", "b", "d"]);
    SortOrder::parse(["details.Engineer:asc", "details.Run:desc"])
        .unwrap()
        .sort(&mut sessions);
    assert_eq!(ids(&sessions), ["c", "b", "d", "e", "a"]);
    // unknown property: accepted, order unchanged (stable)
    let before = ids(&sessions)
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    SortOrder::parse(["extDetails.Nope.Nothing:desc", "bogus"])
        .unwrap()
        .sort(&mut sessions);
    assert_eq!(ids(&sessions), before);
    let order = SortOrder::parse(["quality:desc", "timestamp"]).unwrap();
    assert_eq!(order.keys().len(), 2);
    assert_eq!(order.to_string(), "quality:desc,timestamp:asc");
    assert_eq!(
        order.compare(&json!({"quality": 1}), &json!({"quality": 0.5})),
        Ordering::Less
    );
}

#[test]
fn paging() {
    assert_eq!(
        Paging::default(),
        Paging {
            page_index: 0,
            page_size: Paging::DEFAULT_PAGE_SIZE
        }
    );
    assert_eq!(Paging::from_params(None, None).unwrap(), Paging::default());
    assert_eq!(
        Paging::from_params(Some(""), Some(" 5 ")).unwrap(),
        Paging {
            page_index: 0,
            page_size: 5
        }
    );
    let p = Paging::new(3, 4).unwrap();
    let items: Vec<u32> = (0..14).collect();
    assert_eq!(p.offset(), 12);
    assert_eq!(p.page(&items), &[12, 13]);
    assert_eq!(Paging::new(4, 4).unwrap().page(&items), &[] as &[u32]);
    assert_eq!(Paging::new(0, 0).unwrap().page(&items), &[] as &[u32]);
    assert_eq!(Paging::new(0, 100).unwrap().page(&items).len(), 14);
    let huge = Paging::new(i64::from(u32::MAX), i64::from(u32::MAX)).unwrap();
    assert_eq!(huge.offset(), u64::from(u32::MAX) * u64::from(u32::MAX));
    assert_eq!(huge.range(10), 10..10);
    for (i, s, needle) in [
        (Some("-1"), None, "negative"),
        (None, Some("-5"), "negative"),
        (Some("x"), None, "integer"),
        (None, Some("1.5"), "integer"),
        (Some("99999999999"), None, "too large"),
    ] {
        match Paging::from_params(i, s) {
            Err(Error::Query(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{i:?} {s:?}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Property test: random queries over random documents against a naive model

/// Paths the generator uses, and whether they live at the top level.
const PATHS: [&str; 6] = [
    "identifier",
    "type",
    "quality",
    "timestamp",
    "details.driver",
    "extDetails.Car.pressure",
];

#[derive(Debug, Clone, PartialEq)]
enum M {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl M {
    fn json(&self) -> Json {
        match self {
            M::Null => Json::Null,
            M::Bool(b) => json!(b),
            M::Int(i) => json!(i),
            M::Float(f) => json!(f),
            M::Str(s) => json!(s),
        }
    }
}

fn m_value() -> impl Strategy<Value = M> {
    prop_oneof![
        Just(M::Null),
        any::<bool>().prop_map(M::Bool),
        (-3i64..4).prop_map(M::Int),
        prop::sample::select(vec![-1.5, 0.0, 0.5, 0.75, 1.0, 2.0, 3.25]).prop_map(M::Float),
        prop::sample::select(vec![
            "SAI",
            "RIC",
            "NOR",
            "sai",
            "",
            "Run-20200313-05",
            "run 2021-01",
            "aaa",
            "test",
            "2021-01-01T13:00:00+01:00",
            "2021-01-01T12:00:00Z",
            "2021-01-01T04:00:00-08:00",
            "2021-01-01T12:00:00.5Z",
            "2021-01-01T12:30:00+01:00",
            "2020-12-31T23:59:59-01:00",
        ])
        .prop_map(|s| M::Str(s.to_owned())),
    ]
}

fn text_operand() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "", "S", "SAI", "AI", "R", "2021", "-01", "Z", "+01:00", "Run",
    ])
    .prop_map(str::to_owned)
}

#[derive(Debug, Clone)]
enum MCond {
    Cmp(&'static str, M),
    Text(&'static str, String),
    In(Vec<M>),
    Nin(Vec<M>),
    Not(Box<MCond>),
}

#[derive(Debug, Clone)]
enum MExpr {
    Prop(&'static str, MCond),
    And(Vec<MExpr>),
    Or(Vec<MExpr>),
    Nor(Vec<MExpr>),
    Not(Box<MExpr>),
}

fn m_cond() -> impl Strategy<Value = MCond> {
    let leaf = prop_oneof![
        (
            prop::sample::select(vec!["$eq", "$neq", "$ne", "$gt", "$gte", "$lt", "$lte"]),
            m_value()
        )
            .prop_map(|(op, v)| MCond::Cmp(op, v)),
        (
            prop::sample::select(vec!["$startsWith", "$endsWith", "$contains"]),
            text_operand()
        )
            .prop_map(|(op, t)| MCond::Text(op, t)),
        prop::collection::vec(m_value(), 0..4).prop_map(MCond::In),
        prop::collection::vec(m_value(), 0..4).prop_map(MCond::Nin),
    ];
    leaf.prop_recursive(2, 4, 1, |inner| inner.prop_map(|c| MCond::Not(Box::new(c))))
}

fn m_expr() -> impl Strategy<Value = MExpr> {
    let leaf =
        (prop::sample::select(PATHS.to_vec()), m_cond()).prop_map(|(p, c)| MExpr::Prop(p, c));
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(MExpr::And),
            prop::collection::vec(inner.clone(), 0..4).prop_map(MExpr::Or),
            prop::collection::vec(inner.clone(), 0..4).prop_map(MExpr::Nor),
            inner.prop_map(|e| MExpr::Not(Box::new(e))),
        ]
    })
}

fn cond_json(c: &MCond, shorthand: bool) -> Json {
    match c {
        MCond::Cmp("$eq", v) if shorthand => v.json(),
        MCond::Cmp(op, v) => json!({ *op: v.json() }),
        MCond::Text(op, t) => json!({ *op: t }),
        MCond::In(vs) => json!({"$in": vs.iter().map(M::json).collect::<Vec<_>>()}),
        MCond::Nin(vs) => json!({"$nin": vs.iter().map(M::json).collect::<Vec<_>>()}),
        MCond::Not(inner) => json!({"$not": cond_json(inner, false)}),
    }
}

/// Writes the model as query JSON, using implicit AND when the children of an
/// AND are properties with distinct paths (and `flavour` says so).
fn expr_json(e: &MExpr, flavour: bool) -> Json {
    match e {
        MExpr::Prop(p, c) => json!({ *p: cond_json(c, flavour) }),
        MExpr::And(es) => {
            let mut seen = std::collections::BTreeSet::new();
            let implicit = flavour
                && es
                    .iter()
                    .all(|e| matches!(e, MExpr::Prop(p, _) if seen.insert(*p)));
            if implicit {
                let mut m = serde_json::Map::new();
                for e in es {
                    if let MExpr::Prop(p, c) = e {
                        m.insert((*p).to_owned(), cond_json(c, !flavour));
                    }
                }
                Json::Object(m)
            } else {
                json!({"$and": es.iter().map(|e| expr_json(e, !flavour)).collect::<Vec<_>>()})
            }
        }
        MExpr::Or(es) => {
            json!({"$or": es.iter().map(|e| expr_json(e, flavour)).collect::<Vec<_>>()})
        }
        MExpr::Nor(es) => {
            json!({"$nor": es.iter().map(|e| expr_json(e, flavour)).collect::<Vec<_>>()})
        }
        MExpr::Not(inner) => json!({"$not": expr_json(inner, !flavour)}),
    }
}

/// Instant in nanoseconds, for strings in the generator's date-time format.
fn instant(s: &str) -> Option<i128> {
    let dt = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(i128::from(dt.timestamp()) * 1_000_000_000 + i128::from(dt.timestamp_subsec_nanos()))
}

/// Naive three-way comparison following the documented rules.
fn naive_cmp(a: &M, b: &M) -> Option<Ordering> {
    let num = |m: &M| match m {
        M::Int(i) => Some(*i as f64),
        M::Float(f) => Some(*f),
        _ => None,
    };
    match (a, b) {
        (M::Null, M::Null) => Some(Ordering::Equal),
        (M::Bool(x), M::Bool(y)) => Some(x.cmp(y)),
        (M::Str(x), M::Str(y)) => match (instant(x), instant(y)) {
            (Some(i), Some(j)) => Some(i.cmp(&j)),
            _ => Some(x.cmp(y)),
        },
        _ => num(a)?.partial_cmp(&num(b)?),
    }
}

fn naive_cond(c: &MCond, actual: Option<&M>) -> bool {
    let a = actual.cloned().unwrap_or(M::Null);
    match c {
        MCond::Cmp(op, v) => {
            let ord = naive_cmp(&a, v);
            match *op {
                "$eq" => ord == Some(Ordering::Equal),
                "$neq" | "$ne" => ord != Some(Ordering::Equal),
                "$gt" => ord == Some(Ordering::Greater),
                "$gte" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                "$lt" => ord == Some(Ordering::Less),
                "$lte" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                _ => unreachable!(),
            }
        }
        MCond::Text(op, t) => match &a {
            M::Str(s) => match *op {
                "$startsWith" => s.starts_with(t.as_str()),
                "$endsWith" => s.ends_with(t.as_str()),
                _ => s.contains(t.as_str()),
            },
            _ => false,
        },
        MCond::In(vs) => vs.iter().any(|v| naive_cmp(&a, v) == Some(Ordering::Equal)),
        MCond::Nin(vs) => vs.iter().all(|v| naive_cmp(&a, v) != Some(Ordering::Equal)),
        MCond::Not(inner) => !naive_cond(inner, actual),
    }
}

fn naive_eval(e: &MExpr, doc: &BTreeMap<&'static str, M>) -> bool {
    match e {
        MExpr::Prop(p, c) => naive_cond(c, doc.get(p)),
        MExpr::And(es) => es.iter().all(|e| naive_eval(e, doc)),
        MExpr::Or(es) => es.iter().any(|e| naive_eval(e, doc)),
        MExpr::Nor(es) => !es.iter().any(|e| naive_eval(e, doc)),
        MExpr::Not(inner) => !naive_eval(inner, doc),
    }
}

fn doc_json(doc: &BTreeMap<&'static str, M>) -> Json {
    let mut root = json!({"identity": "x", "details": {}, "extDetails": {"Car": {}}});
    for (path, v) in doc {
        match *path {
            "details.driver" => root["details"]["driver"] = v.json(),
            "extDetails.Car.pressure" => root["extDetails"]["Car"]["pressure"] = v.json(),
            p => root[p] = v.json(),
        }
    }
    root
}

fn m_doc() -> impl Strategy<Value = BTreeMap<&'static str, M>> {
    prop::collection::btree_map(
        prop::sample::select(PATHS.to_vec()),
        m_value(),
        0..=PATHS.len(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn evaluation_matches_naive_model(
        expr in m_expr(),
        flavour in any::<bool>(),
        docs in prop::collection::vec(m_doc(), 1..6),
    ) {
        let text = expr_json(&expr, flavour).to_string();
        let query = Query::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        for doc in &docs {
            let json = doc_json(doc);
            prop_assert_eq!(query.matches(&json), naive_eval(&expr, doc), "query {} doc {}", text, json);
        }
        // the JSON form parses back to the same tree
        let again = Query::parse(&query.to_string()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again, &query);
    }

    #[test]
    fn value_compare_is_antisymmetric(a in m_value(), b in m_value()) {
        let (x, y) = (Value::from_json(&a.json()).unwrap(), Value::from_json(&b.json()).unwrap());
        prop_assert_eq!(x.compare(&y), y.compare(&x).map(Ordering::reverse));
        prop_assert_eq!(x.compare(&y), naive_cmp(&a, &b));
    }

    #[test]
    fn arbitrary_json_text_never_panics(text in r#"[{}\[\]":,$a-z0-9 .-]{0,48}"#) {
        match Query::parse(&text) {
            Ok(query) => {
                let _ = query.matches(&json!({"a": 1, "details": {"a": "x"}}));
                prop_assert_eq!(Query::parse(&query.to_string()).ok(), Some(query));
            }
            Err(Error::Query(msg)) => prop_assert!(!msg.is_empty()),
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
    }
}
