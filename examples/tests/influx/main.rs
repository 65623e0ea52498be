//! `rta-influxdatasvc` against a real `influxd` (InfluxDB 1.x, started by
//! the test in a temporary directory on free loopback ports): the
//! RTA.Examples Influx scenario read back exactly through the service and
//! through `rta-gatewaysvc`, channel subsets, time bounds, identities that
//! try to break out of their brackets (400, InfluxDB untouched), and
//! InfluxDB going away (503 with a message) and coming back.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::collections::BTreeMap;

use rta::bindings::model::DataBinding;
use rta::core::config::{ChannelDataType, Config, ParameterSpec};
use rta::core::proto::config_service::config_store_client::ConfigStoreClient;
use rta::core::proto::schema_mapping_service::schema_mapping_store_client::SchemaMappingStoreClient;
use rta::core::proto::schema_mapping_service::{
    EventMapping, FieldMapping, PutSchemaMappingRequest, SchemaMapping,
};
use rta::core::proto::session_service::session_store_client::SessionStoreClient;
use rta::core::service::StoredConfig;
use rta::core::session::SessionState;
use rta::core::session_request::SessionRequest;
use support::{encode, timestamped, Influxd, Service};

const FIELDS: [&str; 3] = ["alpha", "beta", "gamma"];
const SOURCE: &str = "rta-influxdatasvc";
const MS: i64 = 1_000_000;
/// 2 minutes at 100 Hz, starting off the 10 s grid.
const ROWS: i64 = 12_000;
const START: i64 = 1_700_000_003_250_000_000;

/// The value of `field` at row `i`; `beta` is missing from every 7th row.
fn value(field: usize, i: i64) -> Option<f64> {
    if field == 1 && i % 7 == 3 {
        return None;
    }
    Some(((i as f64) * 0.001 + field as f64).sin() * 1500.0)
}

/// What was written, per channel: times and values.
fn expected(lo: i64, hi: i64) -> BTreeMap<u32, (Vec<i64>, Vec<f64>)> {
    let mut out: BTreeMap<u32, (Vec<i64>, Vec<f64>)> = BTreeMap::new();
    for i in 0..ROWS {
        let t = START + i * 10 * MS;
        for f in 0..3 {
            if let (Some(v), true) = (value(f, i), t >= lo && t <= hi) {
                let e = out.entry(f as u32).or_default();
                e.0.push(t);
                e.1.push(v);
            }
        }
    }
    out
}

fn line_protocol(session: &str) -> String {
    let mut body = String::new();
    for i in 0..ROWS {
        let fields: Vec<String> = (0..3)
            .filter_map(|f| value(f, i).map(|v| format!("{}={v:?}", FIELDS[f])))
            .collect();
        body.push_str(&format!(
            "data,session={session} {} {}\n",
            fields.join(","),
            START + i * 10 * MS
        ));
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influx_scenario_through_the_service_and_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let mut influx = Influxd::start(dir.path()).await;
    let session = "3f2b8a9e-5c1d-4e7f-9a0b-6c5d4e3f2a1b";
    let other = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a";
    influx.query("CREATE DATABASE rtademo").await;
    influx.write("rtademo", &line_protocol(session)).await;
    influx.write("rtademo", &line_protocol(other)).await; // same times, another session
                                                          // Laps as events: one row per lap in measurement `laps`.
    let laps: String = (0..4)
        .map(|n| {
            format!(
                "laps,session={session} lap={n}i,best={} {}\n",
                80.5 + n as f64,
                START + n * 30_000 * MS
            )
        })
        .collect();
    influx.write("rtademo", &laps).await;
    let identity = format!("session='{session}'");

    // The Schema Mapping Service and the mapping RTA.Examples publishes.
    let d = |name: &str| dir.path().join(name).display().to_string();
    let mappings = Service::start(
        env!("CARGO_BIN_EXE_rta-schemamappingsvc"),
        dir.path(),
        true,
        &["--data-dir", &d("m")],
    )
    .await;
    let mut client = SchemaMappingStoreClient::connect(mappings.grpc_uri())
        .await
        .unwrap();
    let field_mappings = FIELDS
        .iter()
        .zip(0..)
        .map(|(f, c)| FieldMapping {
            source_field: f.to_string(),
            target_channel: c,
            ..Default::default()
        })
        .collect();
    let properties = [
        ("dialect", "influxql"),
        ("database", "rtademo"),
        ("measurement", "data"),
    ];
    let mapping = SchemaMapping {
        properties: properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        field_mappings,
        event_mappings: vec![EventMapping {
            source_event: "laps".into(),
            target_event_app: "demo".into(),
            target_event_id: 5,
            source_event_data_fields: vec!["lap".into(), "best".into()],
            ..Default::default()
        }],
    };
    client
        .put_schema_mapping(PutSchemaMappingRequest {
            data_source: SOURCE.into(),
            data_identity: identity.clone(),
            schema_mapping: Some(mapping),
        })
        .await
        .unwrap();

    let m_grpc = mappings.grpc_uri();
    let adapter = Service::start(
        env!("CARGO_BIN_EXE_rta-influxdatasvc"),
        dir.path(),
        false,
        &[
            "--DataSource",
            SOURCE,
            "--SchemaMappingGrpcUri",
            &m_grpc,
            "--InfluxUri",
            &influx.uri(),
        ],
    )
    .await;
    // InfluxDB before 1.8 has no /health: the option says /ping.
    let health = reqwest::get(adapter.url("/health")).await.unwrap();
    assert_eq!(
        health.status(),
        503,
        "the default /health path does not exist on InfluxDB 1.6"
    );
    drop(adapter);
    let adapter = Service::start_env(
        env!("CARGO_BIN_EXE_rta-influxdatasvc"),
        dir.path(),
        &[
            "--DataSource",
            SOURCE,
            "--SchemaMappingGrpcUri",
            &m_grpc,
            "--InfluxUri",
            &influx.uri(),
        ],
        &[("RTA_InfluxHealthCheckPath", "/ping")],
    )
    .await;
    assert_eq!(
        reqwest::get(adapter.url("/health")).await.unwrap().status(),
        200
    );

    // Every sample back, exactly, through the data route.
    let path = |channels: &str, q: &str| {
        format!(
            "/rta/v2/data/{}/timestamped/{channels}{q}",
            encode(&identity)
        )
    };
    let all = expected(i64::MIN, i64::MAX);
    let (status, got) = timestamped(&adapter.url(&path("0-2", ""))).await;
    assert_eq!(status, 200);
    assert_eq!(got, all);
    assert_eq!(
        got[&1].0.len(),
        12_000 - 1_714,
        "beta's gaps are gaps, not zeros"
    );

    // Channel subsets.
    let (_, got) = timestamped(&adapter.url(&path("2", ""))).await;
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), [2]);
    assert_eq!(got[&2], all[&2]);
    let (_, got) = timestamped(&adapter.url(&path("0,2", ""))).await;
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), [0, 2]);

    // Time bounds: rounded out to the 10 s grid of MaxFrequency 100.
    let (lo, hi) = (START + 31_234 * MS, START + 45_000 * MS);
    let (glo, ghi) = (
        lo - lo.rem_euclid(10_000 * MS),
        hi - hi.rem_euclid(10_000 * MS) + 10_000 * MS - 1,
    );
    let (_, got) = timestamped(&adapter.url(&path("0-2", &format!("?start={lo}&end={hi}")))).await;
    assert_eq!(got, expected(glo, ghi));
    assert!(got[&0].0.len() < all[&0].0.len() && !got[&0].0.is_empty());

    // Events from the event mapping: one per lap row, raw data from its fields.
    let events = support::events(&adapter.url(&format!(
        "/rta/v2/data/{}/events?start={}",
        encode(&identity),
        START + 40_000 * MS
    )))
    .await;
    let got: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.timestamp,
                e.event_definition_id,
                e.app_name.as_str(),
                e.raw_data.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (START + 60_000 * MS, 5, "demo", vec![2.0, 82.5]),
            (START + 90_000 * MS, 5, "demo", vec![3.0, 83.5]),
        ],
        "laps in [40 s, ...] rounded out to the 10 s grid"
    );

    // An identity without a mapping has no data.
    let other_path = format!(
        "/rta/v2/data/{}/timestamped/0-2",
        encode(&format!("session='{other}'"))
    );
    let (status, got) = timestamped(&adapter.url(&other_path)).await;
    assert_eq!((status, got.len()), (200, 0));

    // Break-out attempts are refused before InfluxDB sees them.
    for bad in [
        format!("session='{session}') OR (1=1"),
        format!("session='{session}'; DROP DATABASE rtademo"),
        format!("session='{session}' -- "),
        format!("session='{session}"),
        "(session='x'".to_string(),
        format!("session='{session}') ; DELETE FROM \"data\" WHERE (1=1"),
    ] {
        let resp =
            reqwest::get(adapter.url(&format!("/rta/v2/data/{}/timestamped/0-2", encode(&bad))))
                .await
                .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let text = resp.text().await.unwrap();
        assert!(text.contains("InfluxQL filter"), "{bad}: {text}");
    }
    // Text that only looks like SQL inside a string is just a string.
    let quoted = format!(
        "/rta/v2/data/{}/timestamped/0-2",
        encode("session='; DROP DATABASE rtademo'")
    );
    assert_eq!(
        reqwest::get(adapter.url(&quoted)).await.unwrap().status(),
        200
    );
    let count = influx
        .query("SELECT count(\"alpha\") FROM \"rtademo\".\"autogen\".\"data\"")
        .await;
    assert!(
        count.contains(&format!("{}", 2 * ROWS)),
        "InfluxDB untouched: {count}"
    );

    // Through the gateway: a session bound to the Influx data.
    let sessions = Service::start(
        env!("CARGO_BIN_EXE_rta-sessionsvc"),
        dir.path(),
        true,
        &["--data-dir", &d("s")],
    )
    .await;
    let configs = Service::start(
        env!("CARGO_BIN_EXE_rta-configsvc"),
        dir.path(),
        true,
        &["--data-dir", &d("c")],
    )
    .await;
    let mut config = Config::builder("demo");
    for f in FIELDS {
        config = config
            .parameter(ParameterSpec::new(format!("{f}:demo"), ChannelDataType::F64).timestamped());
    }
    let stored = StoredConfig::json(&config.build().unwrap());
    let mut c = ConfigStoreClient::connect(configs.grpc_uri())
        .await
        .unwrap();
    c.put_config(stored.put_request("influx-demo"))
        .await
        .unwrap();
    let mut s = SessionStoreClient::connect(sessions.grpc_uri())
        .await
        .unwrap();
    let request = SessionRequest::new("influx-1", SessionState::Closed)
        .identifier("Influx Demo")
        .time_range(START, START + (ROWS - 1) * 10 * MS)
        .config_binding("influx-demo", 0)
        .data_binding(DataBinding::new(SOURCE, &identity).to_proto());
    s.create_or_update_session(request.build()).await.unwrap();
    let (s_url, c_url, a_url) = (sessions.url("/"), configs.url("/"), adapter.url("/"));
    let gateway = Service::start(
        env!("CARGO_BIN_EXE_rta-gatewaysvc"),
        dir.path(),
        false,
        &[
            "--SessionServiceUri",
            &s_url,
            "--ConfigServiceUri",
            &c_url,
            &format!("--DataServiceUris:{SOURCE}"),
            &a_url,
        ],
    )
    .await;
    let (status, got) =
        timestamped(&gateway.url("/rta/v2/sessions/influx-1/data/timestamped/0-2")).await;
    assert_eq!(status, 200);
    assert_eq!(got, all);
    let (_, got) = timestamped(&gateway.url(&format!(
        "/rta/v2/sessions/influx-1/data/timestamped/1?start={lo}&end={hi}"
    )))
    .await;
    assert_eq!(got[&1], expected(glo, ghi)[&1]);

    // InfluxDB goes away: 503 naming it, directly and through the gateway.
    influx.stop();
    let resp = reqwest::get(adapter.url(&path("0-2", ""))).await.unwrap();
    assert_eq!(resp.status(), 503);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("InfluxDB") && text.contains("unreachable"),
        "{text}"
    );
    assert_eq!(
        reqwest::get(adapter.url("/health")).await.unwrap().status(),
        503
    );
    let via = reqwest::get(gateway.url("/rta/v2/sessions/influx-1/data/timestamped/0"))
        .await
        .unwrap();
    assert!(
        via.status() == 502 || via.status() == 503,
        "{}",
        via.status()
    );

    // It comes back on the same port with its data: the service recovers.
    influx.restart().await;
    let (status, got) = timestamped(&adapter.url(&path("0-2", ""))).await;
    assert_eq!((status, got), (200, all));
    assert_eq!(
        reqwest::get(adapter.url("/health")).await.unwrap().status(),
        200
    );
    drop((gateway, sessions, configs, adapter, mappings));
}
