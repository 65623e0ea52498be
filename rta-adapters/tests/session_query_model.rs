//! The SQL transpilation of queries and sorts, checked against the
//! reference evaluator of `rta_core::query` on random sessions and queries,
//! for both session stores: SQLite and PostgreSQL (a throwaway cluster).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)]

use std::cmp::Ordering;

use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use rta_adapters::stores::{PostgresOptions, PostgresSessionStore, SqliteSessionStore};
use rta_adapters::testing::PgCluster;
use rta_core::proto::session_service as pb;
use rta_core::proto::session_service::session_update::{self as su, Op};
use rta_core::query::{Condition, Expr, Operator, Path, Query, SortOrder, Value};
use rta_core::service::SessionStore;
use serde_json::Value as Json;

const TIMESTAMPS: &[&str] = &[
    "2021-01-01T00:00:00Z",
    "2021-01-01T01:00:00+01:00",
    "2020-12-31T20:00:00-05:00",
    "2021-06-01T12:00:00.5+02:00",
];

const STRINGS: &[&str] = &[
    "x",
    "y",
    "",
    "Run-1",
    "run-2",
    "2021-01-01T00:00:00Z",
    "2021-01-01T01:00:00+01:00",
    "2020-12-31T23:00:00-01:00",
    "17",
    "1.0",
];

fn string() -> impl Strategy<Value = String> {
    prop::sample::select(STRINGS).prop_map(str::to_string)
}

fn detail_json() -> impl Strategy<Value = Json> {
    prop_oneof![
        (-3i64..4).prop_map(Json::from),
        prop::sample::select(&[0.5f64, 1.0, 2.0, -1.5][..]).prop_map(Json::from),
        any::<bool>().prop_map(Json::from),
        string().prop_map(Json::from),
    ]
}

#[derive(Debug, Clone)]
struct Spec {
    timestamp: &'static str,
    identifier: String,
    session_type: Option<String>,
    quality: Option<f64>,
    details: Vec<(&'static str, Json)>,
    ext: Option<Json>,
    range: Option<(i64, i64)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::sample::select(TIMESTAMPS),
        string(),
        prop::option::of(
            prop::sample::select(&["race", "test", "model"][..]).prop_map(str::to_string),
        ),
        prop::option::of(prop::sample::select(&[0.0f64, 0.25, 0.5, 1.0][..])),
        prop::collection::vec(
            (prop::sample::select(&["a", "b", "c"][..]), detail_json()),
            0..4,
        ),
        prop::option::of(detail_json()),
        prop::option::of((0i64..3, 0i64..3)),
    )
        .prop_map(
            |(timestamp, identifier, session_type, quality, details, ext, range)| Spec {
                timestamp,
                identifier,
                session_type,
                quality,
                details,
                ext,
                range: range.map(|(a, b)| (a.min(b), a.max(b))),
            },
        )
}

fn operand() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..4).prop_map(Value::Integer),
        prop::sample::select(&[0.5f64, 1.0, 2.0, 0.25][..]).prop_map(Value::Number),
        string().prop_map(Value::String),
        prop::sample::select(TIMESTAMPS).prop_map(|s| Value::String(s.to_string())),
        prop::sample::select(&["closed", "race", "2021"][..])
            .prop_map(|s| Value::String(s.to_string())),
    ]
}

const PATHS: &[&str] = &[
    "details.a",
    "details.b",
    "details.c",
    "extDetails.G.k",
    "type",
    "quality",
    "identifier",
    "timestamp",
    "startTimestamp",
    "state",
    "unknown",
    "timeRange.startTime",
    "timeRange",
];

fn path() -> impl Strategy<Value = Path> {
    prop::sample::select(PATHS).prop_map(|p| Path::parse(p).unwrap())
}

fn condition() -> impl Strategy<Value = Condition> {
    let leaf = prop_oneof![
        (prop::sample::select(&Operator::ALL[..]), operand()).prop_map(|(op, value)| {
            // text matches take string operands
            let value = match (op.is_text(), value) {
                (true, Value::String(s)) => Value::String(s.chars().take(3).collect()),
                (true, _) => Value::String("2".into()),
                (false, v) => v,
            };
            Condition::Compare { op, value }
        }),
        prop::collection::vec(operand(), 0..3).prop_map(Condition::In),
        prop::collection::vec(operand(), 0..3).prop_map(Condition::Nin),
    ];
    leaf.prop_recursive(2, 4, 1, |inner| {
        inner.prop_map(|c| Condition::Not(Box::new(c)))
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = (path(), condition()).prop_map(|(p, c)| Expr::property(p, c));
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Expr::Or),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Expr::Nor),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

fn sort_key() -> impl Strategy<Value = String> {
    (
        prop::sample::select(
            &[
                "details.a",
                "details.b",
                "type",
                "quality",
                "identifier",
                "timestamp",
                "startTimestamp",
                "extDetails.G.k",
            ][..],
        ),
        any::<bool>(),
    )
        .prop_map(|(p, asc)| format!("{p}:{}", if asc { "asc" } else { "desc" }))
}

fn requests(specs: &[Spec]) -> Vec<pb::CreateOrUpdateSessionRequest> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut ops = vec![Op::SetIdentifier(s.identifier.clone())];
            let details: serde_json::Map<String, Json> = s
                .details
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            ops.push(Op::SetDetailsJson(su::DetailsJson {
                category: String::new(),
                json: Json::Object(details).to_string(),
            }));
            if let Some(v) = &s.ext {
                ops.push(Op::SetDetailsJson(su::DetailsJson {
                    category: "G".into(),
                    json: serde_json::json!({ "k": v }).to_string(),
                }));
            }
            if let Some(t) = &s.session_type {
                ops.push(Op::SetType(t.clone()));
            }
            if let Some(q) = s.quality {
                ops.push(Op::SetQuality(q));
            }
            if let Some((a, b)) = s.range {
                ops.push(Op::SetTimeRange(pb::TimeRange {
                    start_time: a,
                    end_time: b,
                }));
            }
            pb::CreateOrUpdateSessionRequest {
                identity: format!("s{i:02}"),
                create_if_not_exists: Some(
                    pb::create_or_update_session_request::CreateIfNotExists {
                        // 0: left out; the store reads it as closed.
                        state: 0,
                        timestamp: s.timestamp.into(),
                        identifier: String::new(),
                    },
                ),
                updates: ops
                    .into_iter()
                    .map(|op| pb::SessionUpdate { op: Some(op) })
                    .collect(),
                ..Default::default()
            }
        })
        .collect()
}

fn list(query: &str, sorts: Vec<String>) -> pb::ListSessionsRequest {
    pb::ListSessionsRequest {
        query: query.to_string(),
        sorts,
        include_sub_sessions: true,
        session_elements: Some(pb::SessionElements {
            json: true,
            json_properties: vec!["extDetails".into()],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A fresh, empty store for one case.
enum Backend {
    Sqlite,
    Postgres(PgCluster),
}

static CASE: AtomicUsize = AtomicUsize::new(0);

impl Backend {
    async fn store(&self) -> (Box<dyn SessionStore>, Option<tempfile::TempDir>) {
        match self {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let store = SqliteSessionStore::open(dir.path().join("s.sqlite")).unwrap();
                (Box::new(store), Some(dir))
            }
            Backend::Postgres(pg) => {
                let n = CASE.fetch_add(1, AtomicOrdering::SeqCst);
                let opts = PostgresOptions::parse(&pg.connection_string())
                    .unwrap()
                    .with_schema(&format!("case{n}"))
                    .unwrap();
                (
                    Box::new(PostgresSessionStore::init(opts).await.unwrap()),
                    None,
                )
            }
        }
    }
}

type Case = (Vec<Spec>, Vec<Expr>, Vec<String>);

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(spec(), 1..10),
        prop::collection::vec(expr(), 1..8),
        prop::collection::vec(sort_key(), 1..3),
    )
}

fn run_model(backend: Backend) {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runner
        .run(&case(), |(specs, queries, sorts)| {
            rt.block_on(check_case(&backend, specs, queries, sorts))
        })
        .unwrap();
}

#[test]
fn sql_matches_and_sorts_like_the_reference_sqlite() {
    run_model(Backend::Sqlite);
}

#[test]
fn sql_matches_and_sorts_like_the_reference_postgres() {
    run_model(Backend::Postgres(
        PgCluster::start().expect("PostgreSQL test cluster"),
    ));
}

async fn check_case(
    backend: &Backend,
    specs: Vec<Spec>,
    queries: Vec<Expr>,
    sorts: Vec<String>,
) -> Result<(), TestCaseError> {
    let (store, _dir) = backend.store().await;

    for r in requests(&specs) {
        store.create_or_update(r).await.unwrap();
    }
    let all = store
        .list(&list("", vec!["identity:asc".into()]))
        .await
        .unwrap();
    let docs: Vec<(String, Json)> = all
        .iter()
        .map(|s| (s.identity.clone(), serde_json::from_str(&s.json).unwrap()))
        .collect();
    prop_assert_eq!(docs.len(), specs.len());
    // Details come back exactly as written (types and values).
    for (i, spec) in specs.iter().enumerate() {
        let want: serde_json::Map<String, Json> = spec
            .details
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let got = docs[i]
            .1
            .get("details")
            .cloned()
            .unwrap_or(Json::Object(Default::default()));
        prop_assert_eq!(got, Json::Object(want), "details of s{:02}", i);
        if let Some(v) = &spec.ext {
            prop_assert_eq!(&docs[i].1["extDetails"]["G"]["k"], v);
        }
    }

    for e in &queries {
        let q = Query { filter: e.clone() };
        let text = q.to_json().to_string();
        let got: Vec<String> = store
            .list(&list(&text, vec!["identity:asc".into()]))
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.identity)
            .collect();
        let want: Vec<String> = docs
            .iter()
            .filter(|(_, d)| q.matches(d))
            .map(|(i, _)| i.clone())
            .collect();
        prop_assert_eq!(&got, &want, "query {}", text);

        // The same filter under the case's sort (a detail sort plans its
        // own statements): the same sessions, and pages that add up to it.
        let whole: Vec<String> = store
            .list(&list(&text, sorts.clone()))
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.identity)
            .collect();
        let mut set = whole.clone();
        set.sort();
        let mut want_set = want.clone();
        want_set.sort();
        prop_assert_eq!(set, want_set, "query {} with sort {:?}", text, sorts);
        let mut paged = Vec::new();
        for index in 0.. {
            let mut req = list(&text, sorts.clone());
            req.page_size = 2;
            req.page_index = index;
            let page = store.list(&req).await.unwrap();
            if page.is_empty() {
                break;
            }
            paged.extend(page.into_iter().map(|s| s.identity));
        }
        prop_assert_eq!(
            &paged,
            &whole,
            "pages of 2, query {} with sort {:?}",
            text,
            sorts
        );
    }

    // Pages, concatenated, give the whole ordered list.
    let whole: Vec<String> = store
        .list(&list("", sorts.clone()))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.identity)
        .collect();
    for size in [1, 3] {
        let mut paged = Vec::new();
        for index in 0.. {
            let mut req = list("", sorts.clone());
            req.page_size = size;
            req.page_index = index;
            let page = store.list(&req).await.unwrap();
            prop_assert!(page.len() <= size as usize);
            if page.is_empty() {
                break;
            }
            paged.extend(page.into_iter().map(|s| s.identity));
        }
        prop_assert_eq!(&paged, &whole, "pages of {} with sort {:?}", size, sorts);
    }

    let order = SortOrder::parse(&sorts).unwrap();
    let sorted = store.list(&list("", sorts.clone())).await.unwrap();
    let sorted: Vec<Json> = sorted
        .iter()
        .map(|s| serde_json::from_str(&s.json).unwrap())
        .collect();
    for w in sorted.windows(2) {
        prop_assert!(
            order.compare(&w[0], &w[1]) != Ordering::Greater,
            "sort {:?}: {} before {}",
            sorts,
            w[0],
            w[1]
        );
    }
    Ok(())
}
