//! Session service performance: listing over 100,000 sessions and the
//! live-ingest `CreateOrUpdateSession` rate.
//!
//! ```sh
//! cargo bench -p rta-service --bench session_store
//! RTA_BENCH_SESSIONS=20000 cargo bench -p rta-service --bench session_store   # smaller
//! RTA_BENCH_POSTGRES=0 cargo bench -p rta-service --bench session_store       # SQLite only
//! RTA_BENCH_PG_URL=postgres://… cargo bench …   # an existing server (loaded once, then reused)
//! RTA_BENCH_PG_EXPLAIN=1 cargo bench …          # log the plans of slow statements (auto_explain)
//! ```
//!
//! Prints the reports, then runs the criterion benches:
//!
//! - latency of `POST /rta/v2/sessions` (`pageSize=50`) over HTTP on
//!   loopback: p50 / p99 / max per scenario, on the SQLite store and on the
//!   PostgreSQL store (a throwaway local cluster, the same sessions), with
//!   the PostgreSQL / SQLite p99 ratio;
//! - live ingest over gRPC on loopback: 1000 open sessions, each receiving an
//!   `extend_time_range` (+ heartbeat) per tick, as many ticks as fit in the
//!   measuring window: sessions/s sustained, p99 latency of an update;
//! - criterion: the same listings at the store level, with two baselines in
//!   the same run: a point lookup by identity (the cheapest database request)
//!   and the reference evaluator (`rta_core::query`) filtering the same
//!   sessions held in memory as JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use rta_adapters::stores::{PostgresOptions, PostgresSessionStore, SqliteSessionStore};
use rta_adapters::testing::PgCluster;
use rta_core::proto::session_service as pb;
use rta_core::proto::session_service::session_store_client::SessionStoreClient;
use rta_core::proto::session_service::session_update::{self as su, Op};
use rta_core::query::Query;
use rta_core::service::SessionStore;
use rta_core::session::SessionState;
use rta_service::{monitor, rpc, serve, sessions};
use serde_json::Value;

const DRIVERS: usize = 20;
const TRACKS: &[&str] = &[
    "Monza",
    "Spa",
    "Silverstone",
    "Suzuka",
    "Interlagos",
    "Imola",
    "Zandvoort",
    "Austin",
];
const OFFSETS: &[&str] = &["Z", "+01:00", "-05:00", "+09:00", "+05:30"];
const FILTER: &str = r#"{"details.Driver": {"$in": ["D03", "D07"]}, "quality": {"$gte": 0.5}}"#;

fn session(i: usize) -> pb::CreateOrUpdateSessionRequest {
    // spread over a year, with several offsets
    let secs = 1_609_459_200 + (i as i64) * 311;
    let dt = chrono_like(secs);
    let offset = OFFSETS[i % OFFSETS.len()];
    let timestamp = format!("{dt}{offset}");
    let details = serde_json::json!({
        "Driver": format!("D{:02}", (i * 7) % DRIVERS),
        "Run": (i * 37) % 1000,
        "Track": TRACKS[i % TRACKS.len()],
        "AirTemp": 15.0 + ((i * 13) % 200) as f64 / 10.0,
    });
    let ops = vec![
        Op::SetDetailsJson(su::DetailsJson {
            category: String::new(),
            json: details.to_string(),
        }),
        Op::SetType(["Stream", "Model", "Download"][i % 3].into()),
        Op::SetQuality(((i * 17) % 101) as f64 / 100.0),
        Op::SetTimeRange(pb::TimeRange {
            start_time: secs * 1_000_000_000,
            end_time: (secs + 600) * 1_000_000_000,
        }),
        Op::SetConfigBindings(su::ConfigBindingsList {
            config_bindings: vec![pb::ConfigBinding {
                identifier: format!("cfg-{}", i % 50),
                channel_offset: 0,
            }],
        }),
    ];
    pb::CreateOrUpdateSessionRequest {
        identity: format!("session-{i:06}"),
        create_if_not_exists: Some(pb::create_or_update_session_request::CreateIfNotExists {
            state: SessionState::Closed.as_i32(),
            timestamp,
            identifier: format!("Run {i} at {}", TRACKS[i % TRACKS.len()]),
        }),
        updates: ops
            .into_iter()
            .map(|op| pb::SessionUpdate { op: Some(op) })
            .collect(),
        ..Default::default()
    }
}

/// `YYYY-MM-DDThh:mm:ss` for seconds since the epoch (local time of the
/// offset; the bench only needs plausible, distinct values).
fn chrono_like(secs: i64) -> String {
    let t = rta_core::time::Timestamp::from_nanos(secs * 1_000_000_000);
    t.as_str().trim_end_matches('Z').to_string()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

struct Scenario {
    name: &'static str,
    sort: &'static str,
    query: &'static str,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "timestamp, no filter",
        sort: "timestamp:desc",
        query: "",
    },
    Scenario {
        name: "details.Run, no filter",
        sort: "details.Run:asc",
        query: "",
    },
    Scenario {
        name: "timestamp, filter",
        sort: "timestamp:desc",
        query: FILTER,
    },
    Scenario {
        name: "details.Run, filter",
        sort: "details.Run:asc",
        query: FILTER,
    },
    Scenario {
        name: "timestamp, last page",
        sort: "timestamp:desc",
        query: "",
    },
    Scenario {
        name: "identifier $contains",
        sort: "timestamp:desc",
        query: r#"{"identifier": {"$contains": "Run 4242"}}"#,
    },
];

fn list_request(s: &Scenario, page_index: i32) -> pb::ListSessionsRequest {
    pb::ListSessionsRequest {
        query: s.query.into(),
        sorts: vec![s.sort.into()],
        session_elements: Some(pb::SessionElements {
            json: true,
            ..Default::default()
        }),
        page_size: 50,
        page_index,
        ..Default::default()
    }
}

fn form(s: &Scenario, page_index: usize) -> String {
    let q: String = s
        .query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!(
        "pageSize=50&pageIndex={page_index}&sort={}&query={q}",
        s.sort.replace(':', "%3A")
    )
}

/// Creates `n` sessions, `concurrency` requests at a time.
fn load(
    rt: &tokio::runtime::Runtime,
    what: &str,
    store: Arc<dyn SessionStore>,
    n: usize,
    concurrency: usize,
) {
    let t = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..concurrency {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in (w..n).step_by(concurrency) {
                    store.create_or_update(session(i)).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let load = t.elapsed();
    println!(
        "{what}: loaded {n} sessions in {:.1} s ({:.0} creates/s, each with 5 updates, {concurrency} at a time)",
        load.as_secs_f64(),
        n as f64 / load.as_secs_f64()
    );
}

/// Vacuums and refreshes the planner statistics after the bulk load (what
/// autovacuum does shortly after in a real deployment).
async fn tokio_postgres_analyze(url: &str) -> Result<(), String> {
    let opts = PostgresOptions::parse(url).map_err(|e| e.to_string())?;
    let store = PostgresSessionStore::connect(opts)
        .await
        .map_err(|e| e.to_string())?;
    store.analyze().await.map_err(|e| e.to_string())
}

async fn serve_store(store: Arc<dyn SessionStore>) -> serve::RunningServer {
    let http = monitor::service_router(
        monitor::ServiceInfo::new("bench"),
        sessions::session_router(store.clone()),
    );
    let grpc_routes = rpc::routes().add_service(sessions::session_server(store));
    let lo = "127.0.0.1:0".parse().unwrap();
    serve::spawn(lo, http, Some((lo, grpc_routes)))
        .await
        .unwrap()
}

/// The listings on both stores in alternation: each round sends one
/// request to each (the order swapped every round), so both stores see the
/// same machine load and the p99 ratio compares like with like.
fn paired_latency(
    rt: &tokio::runtime::Runtime,
    sqlite: &serve::RunningServer,
    postgres: &serve::RunningServer,
    n: usize,
) {
    println!("\nPaired: SQLite and PostgreSQL alternating per request, {n} sessions");
    println!(
        "| scenario | SQLite p50 / p99 ms | PostgreSQL p50 / p99 ms | p99 ratio | median per-round ratio |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let client = reqwest::Client::new();
    let urls = [
        format!("{}/rta/v2/sessions", sqlite.http_url()),
        format!("{}/rta/v2/sessions", postgres.http_url()),
    ];
    let last_page = (n / 50).saturating_sub(1);
    for s in SCENARIOS {
        let page = if s.name.contains("last page") {
            last_page
        } else {
            0
        };
        let body = form(s, page);
        let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
        let mut ratios = Vec::new();
        rt.block_on(async {
            for round in 0..220 {
                let mut took = [Duration::ZERO; 2];
                for k in 0..2 {
                    let which = (k + round) % 2;
                    let t = Instant::now();
                    list(&client, &urls[which], &body).await;
                    took[which] = t.elapsed();
                }
                if round >= 20 {
                    times[0].push(took[0]);
                    times[1].push(took[1]);
                    ratios.push(took[1].as_secs_f64() / took[0].as_secs_f64());
                }
            }
        });
        for t in &mut times {
            t.sort();
        }
        ratios.sort_by(f64::total_cmp);
        let (a, b) = (percentile(&times[0], 0.99), percentile(&times[1], 0.99));
        println!(
            "| {} | {} / {} | {} / {} | {:.2} | {:.2} |",
            s.name,
            ms(percentile(&times[0], 0.5)),
            ms(a),
            ms(percentile(&times[1], 0.5)),
            ms(b),
            b.as_secs_f64() / a.as_secs_f64(),
            ratios[ratios.len() / 2]
        );
    }
}

/// One listing request (`POST /rta/v2/sessions` with a form body), read to
/// its end.
async fn list(client: &reqwest::Client, url: &str, body: &str) -> Value {
    let r = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The listing latencies over HTTP; returns the p99 of each scenario.
fn latency(
    rt: &tokio::runtime::Runtime,
    what: &str,
    server: &serve::RunningServer,
    n: usize,
) -> Vec<(&'static str, Duration)> {
    println!("\n{what}: POST /rta/v2/sessions, pageSize=50, {n} sessions (HTTP on loopback)");
    println!("| scenario | p50 ms | p99 ms | max ms | sessions returned |");
    println!("| --- | --- | --- | --- | --- |");
    let client = reqwest::Client::new();
    let url = format!("{}/rta/v2/sessions", server.http_url());
    let last_page = (n / 50).saturating_sub(1);
    let mut out = Vec::new();
    for s in SCENARIOS {
        let page = if s.name.contains("last page") {
            last_page
        } else {
            0
        };
        let body = form(s, page);
        let mut times = Vec::new();
        let mut returned = 0;
        rt.block_on(async {
            for i in 0..220 {
                let t = Instant::now();
                let v = list(&client, &url, &body).await;
                if i >= 20 {
                    times.push(t.elapsed());
                }
                returned = v["sessions"].as_array().map_or(0, Vec::len);
            }
        });
        times.sort();
        println!(
            "| {} | {} | {} | {} | {returned} |",
            s.name,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().unwrap())
        );
        out.push((s.name, percentile(&times, 0.99)));
    }
    out
}

fn main() {
    let n: usize = std::env::var("RTA_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteSessionStore::open(dir.path().join("sessions.sqlite")).unwrap());
    load(&rt, "SQLite", store.clone(), n, 1);
    let server = rt.block_on(serve_store(store.clone()));
    let sqlite = latency(&rt, "SQLite", &server, n);

    // The same listings on PostgreSQL.
    let postgres = std::env::var("RTA_BENCH_POSTGRES").map_or(true, |v| v != "0");
    if postgres {
        // RTA_BENCH_PG_URL: an existing server instead of a throwaway
        // cluster (loaded once, kept for `EXPLAIN` in psql afterwards).
        let external = std::env::var("RTA_BENCH_PG_URL").ok();
        let mut pg = match external {
            Some(_) => None,
            None => Some(PgCluster::start().expect("PostgreSQL (Debian package postgresql)")),
        };
        let explain = std::env::var_os("RTA_BENCH_PG_EXPLAIN").is_some();
        if let (true, Some(pg)) = (explain, pg.as_mut()) {
            // Diagnostics: every statement slower than 2 ms is logged with
            // its actual plan (auto_explain), in the cluster's log.
            use std::io::Write;
            let conf = pg.dir().join("data").join("postgresql.auto.conf");
            let mut f = std::fs::OpenOptions::new().append(true).open(conf).unwrap();
            writeln!(
                f,
                "session_preload_libraries = 'auto_explain'\n\
                 auto_explain.log_min_duration = '2ms'\n\
                 auto_explain.log_analyze = on\n\
                 auto_explain.log_buffers = on"
            )
            .unwrap();
            pg.stop().unwrap();
            pg.restart().unwrap();
        }
        let url = match (&external, &pg) {
            (Some(url), _) => url.clone(),
            (None, Some(pg)) => pg.connection_string(),
            (None, None) => unreachable!("a cluster is started when no URL is given"),
        };
        let pg_store = rt.block_on(async {
            let opts = PostgresOptions::parse(&url).unwrap();
            Arc::new(PostgresSessionStore::init(opts).await.unwrap())
        });
        let stored = rt.block_on(pg_store.count()).unwrap();
        if stored < n as u64 {
            load(&rt, "PostgreSQL", pg_store.clone(), n, 16);
        } else {
            println!("PostgreSQL: {stored} sessions already stored, not loaded again");
        }
        rt.block_on(async {
            let c = tokio_postgres_analyze(&url).await;
            c.unwrap_or_else(|e| println!("ANALYZE failed: {e}"));
        });
        let pg_server = rt.block_on(serve_store(pg_store.clone()));
        let pg_times = latency(&rt, "PostgreSQL", &pg_server, n);
        println!("\nPostgreSQL / SQLite, {n} sessions, measured one after the other");
        println!("| scenario | p99 SQLite ms | p99 PostgreSQL ms | ratio |");
        println!("| --- | --- | --- | --- |");
        for ((name, a), (_, b)) in sqlite.iter().zip(&pg_times) {
            println!(
                "| {name} | {} | {} | {:.2} |",
                ms(*a),
                ms(*b),
                b.as_secs_f64() / a.as_secs_f64()
            );
        }
        paired_latency(&rt, &server, &pg_server, n);
        if let (true, Some(pg)) = (explain, &pg) {
            let log = pg.dir().join("postgres.log");
            std::fs::copy(&log, "/tmp/rta-bench-postgres.log").unwrap();
            println!("(PostgreSQL log with plans copied to /tmp/rta-bench-postgres.log)");
        }
        rt.block_on(pg_server.stop()).unwrap();
        drop(pg);
    }
    let last_page = (n / 50).saturating_sub(1);

    // Live ingest over gRPC: 1000 open sessions, one extend per session per tick.
    let open = 1000;
    let (rate, p50, p99, max) = rt.block_on(async {
        let uri = server.grpc_uri().unwrap();
        let channel = tonic::transport::Channel::from_shared(uri)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let base = 1_700_000_000_000_000_000_i64;
        let mut c = SessionStoreClient::new(channel.clone());
        for i in 0..open {
            c.create_or_update_session(pb::CreateOrUpdateSessionRequest {
                identity: format!("live-{i:04}"),
                create_if_not_exists: Some(
                    pb::create_or_update_session_request::CreateIfNotExists {
                        state: SessionState::Open.as_i32(),
                        ..Default::default()
                    },
                ),
                ..Default::default()
            })
            .await
            .unwrap();
        }
        let window = Duration::from_secs(5);
        let start = Instant::now();
        let workers = 8;
        let mut tasks = Vec::new();
        for w in 0..workers {
            let mut c = SessionStoreClient::new(channel.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut tick = 0i64;
                while start.elapsed() < window {
                    for i in (w..open).step_by(workers) {
                        let t0 = base + tick * 1_000_000_000;
                        let t = Instant::now();
                        c.create_or_update_session(pb::CreateOrUpdateSessionRequest {
                            identity: format!("live-{i:04}"),
                            updates: vec![
                                pb::SessionUpdate {
                                    op: Some(Op::ExtendTimeRange(pb::TimeRange {
                                        start_time: base,
                                        end_time: t0 + 999_999_999,
                                    })),
                                },
                                pb::SessionUpdate {
                                    op: Some(Op::UpdateHeartbeat(())),
                                },
                            ],
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                        lat.push(t.elapsed());
                    }
                    tick += 1;
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let secs = start.elapsed().as_secs_f64();
        all.sort();
        (
            all.len() as f64 / secs,
            percentile(&all, 0.5),
            percentile(&all, 0.99),
            *all.last().unwrap(),
        )
    });
    println!(
        "\nlive ingest (gRPC, {open} open sessions, extend_time_range + heartbeat, 8 concurrent clients): \
         {rate:.0} updates/s sustained; update latency p50 {} ms, p99 {} ms, max {} ms",
        ms(p50),
        ms(p99),
        ms(max)
    );
    println!("(the live pattern needs {open} updates/s: one per session per second)\n");

    // Criterion, store level.
    let mut crit = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let docs: Vec<Value> = rt.block_on(async {
        let all = store
            .list(&pb::ListSessionsRequest {
                session_elements: Some(pb::SessionElements {
                    json: true,
                    ..Default::default()
                }),
                include_sub_sessions: true,
                ..Default::default()
            })
            .await
            .unwrap();
        all.iter()
            .map(|s| serde_json::from_str(&s.json).unwrap())
            .collect()
    });
    {
        let mut g = crit.benchmark_group("session_list");
        g.throughput(Throughput::Elements(n as u64));
        let filter = Query::parse(FILTER).unwrap();
        g.bench_function("baseline_reference_filter_in_memory", |b| {
            b.iter(|| docs.iter().filter(|d| filter.matches(*d)).count())
        });
        g.bench_function("baseline_get_by_identity", |b| {
            let e = pb::SessionElements {
                json: true,
                ..Default::default()
            };
            b.iter(|| rt.block_on(store.get("session-004242", &e)).unwrap())
        });
        for s in SCENARIOS {
            let page = if s.name.contains("last page") {
                last_page as i32
            } else {
                0
            };
            let req = list_request(s, page);
            g.bench_with_input(BenchmarkId::new("list", s.name), &req, |b, req| {
                b.iter(|| rt.block_on(store.list(req)).unwrap())
            });
        }
        g.finish();
    }
    {
        let mut g = crit.benchmark_group("session_update");
        g.throughput(Throughput::Elements(1));
        let mut tick = 0i64;
        g.bench_function("extend_time_range", |b| {
            b.iter(|| {
                tick += 1;
                let req = pb::CreateOrUpdateSessionRequest {
                    identity: format!("live-{:04}", tick % 1000),
                    updates: vec![pb::SessionUpdate {
                        op: Some(Op::ExtendTimeRange(pb::TimeRange {
                            start_time: 0,
                            end_time: tick,
                        })),
                    }],
                    ..Default::default()
                };
                rt.block_on(store.create_or_update(req)).unwrap()
            })
        });
        g.finish();
    }
    crit.final_summary();
    rt.block_on(server.stop()).unwrap();
}
