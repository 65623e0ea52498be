//! The services on an S3-compatible object store (`moto_server` on
//! loopback), each its own process: `rta-datasvc` with `Store=Aws` reads
//! back exactly what the file store does; a writer killed with `kill -9`
//! right after a flush acknowledgement loses nothing acknowledged, a
//! read-only instance on the same bucket serves it, and the restarted writer
//! continues the session; configs and schema mappings through their
//! services; the object store stopped gives 503s and `/health` 503, and the
//! services recover when it returns.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../rta-adapters/tests/moto/mod.rs"]
mod moto;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use moto::Moto;
use rta::core::chunk::ChunkDecoder;
use rta::core::data::{periodic, read_samples, read_timestamps, timestamped};
use rta::core::proto::config_service as pb;
use rta::core::proto::config_service::config_store_client::ConfigStoreClient;
use rta::core::proto::data::{PeriodicDataList, TimestampedDataList};
use rta::core::proto::data_service::{
    data_writer_client::DataWriterClient, write_data_stream_message::Type as W,
    write_data_stream_response_message::Type as R, WriteDataStreamMessage,
};
use rta::core::proto::schema_mapping_service as sm;
use rta::core::proto::schema_mapping_service::schema_mapping_store_client::SchemaMappingStoreClient;
use support::Service;

const MS: i64 = 1_000_000;
const T0: i64 = 1_700_000_000_000 * MS;

/// Starts `bin` with the settings `env`. Services other than the data
/// service also get `--data-dir dir`, where a File store would be: it must
/// stay empty with `Store=Aws`.
async fn start(bin: &str, dir: &Path, args: &[&str], env: &[(String, String)]) -> Service {
    std::fs::create_dir_all(dir).unwrap();
    let data_dir = dir.display().to_string();
    let mut all = Vec::new();
    if !bin.ends_with("rta-datasvc") {
        all.extend(["--data-dir", data_dir.as_str()]);
    }
    all.extend_from_slice(args);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Service::start(bin, dir, &all, &env).await
}

/// Batch `k`: 1000 periodic samples of channel 0 (1 kHz) and 100
/// timestamped samples of channel 1, at times no other batch uses.
fn batch(k: i64) -> Vec<W> {
    let t0 = T0 + k * 1000 * MS;
    let pv: Vec<f64> = (0..1000).map(|i| (k * 1000 + i) as f64).collect();
    let times: Vec<i64> = (0..100).map(|i| t0 + i * 10 * MS).collect();
    let tv: Vec<f64> = (0..100).map(|i| -((k * 100 + i) as f64)).collect();
    vec![
        W::PeriodicData(periodic(0, t0, MS, &pv).unwrap()),
        W::TimestampedData(timestamped(1, &times, &tv).unwrap()),
    ]
}

/// Writes batches `ks` to `identity` through `WriteDataStream`, each
/// followed by a flush marker, and returns once the last flush is
/// acknowledged.
async fn write(svc: &Service, identity: &str, ks: std::ops::Range<i64>) {
    let mut client = DataWriterClient::connect(svc.grpc_uri()).await.unwrap();
    let mut msgs = vec![W::DataIdentity(identity.into())];
    for k in ks.clone() {
        msgs.extend(batch(k));
        msgs.push(W::FlushMarker(format!("f{k}")));
    }
    let msgs: Vec<WriteDataStreamMessage> = msgs
        .into_iter()
        .map(|t| WriteDataStreamMessage { r#type: Some(t) })
        .collect();
    let mut resp = client
        .write_data_stream(futures::stream::iter(msgs))
        .await
        .unwrap()
        .into_inner();
    for k in ks {
        let ack = resp.next().await.unwrap().unwrap();
        assert_eq!(ack.r#type, Some(R::FlushCompleted(format!("f{k}"))));
    }
}

/// Every (time, value) of the periodic and timestamped channels, as read
/// over REST, and the status codes.
async fn samples(svc: &Service, identity: &str) -> (u16, Vec<(i64, f64)>) {
    let mut out = Vec::new();
    let r = reqwest::get(svc.url(&format!("/rta/v2/data/{identity}/periodic/0")))
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status != 200 {
        return (status, out);
    }
    for c in ChunkDecoder::decode_all(r.bytes().await.unwrap()).unwrap() {
        for p in c.decode_list::<PeriodicDataList>().unwrap().periodic_data {
            let v = read_samples::<f64>(&p.buffer).unwrap();
            out.extend(
                v.into_iter()
                    .enumerate()
                    .map(|(i, x)| (p.start_timestamp + i as i64 * p.interval, x)),
            );
        }
    }
    let r = reqwest::get(svc.url(&format!("/rta/v2/data/{identity}/timestamped/1")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for c in ChunkDecoder::decode_all(r.bytes().await.unwrap()).unwrap() {
        for t in c
            .decode_list::<TimestampedDataList>()
            .unwrap()
            .timestamped_data
        {
            let ts = read_timestamps(&t).unwrap();
            let v = read_samples::<f64>(&t.buffer).unwrap();
            out.extend(ts.into_iter().zip(v));
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (200, out)
}

/// The samples of batches `ks`, sorted.
fn expected(ks: std::ops::Range<i64>) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    for k in ks {
        let t0 = T0 + k * 1000 * MS;
        out.extend((0..1000).map(|i| (t0 + i * MS, (k * 1000 + i) as f64)));
        out.extend((0..100).map(|i| (t0 + i * 10 * MS, -((k * 100 + i) as f64))));
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn aws_env(moto: &Moto, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = moto.env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

async fn wait_for(svc: &Service, identity: &str, want: &[(i64, f64)]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, got) = samples(svc, identity).await;
        if status == 200 && got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "reader did not serve the acknowledged data within 10 s: status {status}, {} of {} samples",
            got.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_service_on_the_object_store_reads_like_the_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.create_bucket("rt-data");
    let datasvc = env!("CARGO_BIN_EXE_rta-datasvc");
    let files = dir.path().join("files").display().to_string();
    let on_files = start(datasvc, dir.path(), &["--FilePath", &files], &[]).await;
    let env = aws_env(
        &moto,
        &[("RTA_Store", "Aws"), ("RTA_AwsS3Bucket", "rt-data")],
    );
    let on_s3 = start(datasvc, dir.path(), &[], &env).await;
    for svc in [&on_files, &on_s3] {
        write(svc, "sess", 0..4).await;
        // Late data, merged into stored chunks.
        write(svc, "sess", 1..2).await;
    }
    let (s1, want) = samples(&on_files, "sess").await;
    assert_eq!((s1, want.len()), (200, expected(0..4).len()));
    assert_eq!(want, expected(0..4));
    assert_eq!(samples(&on_s3, "sess").await, (200, want));
    // The very same bytes on the wire.
    for path in [
        "/rta/v2/data/sess/periodic/0",
        "/rta/v2/data/sess/timestamped/1",
    ] {
        let a = reqwest::get(on_files.url(path))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let b = reqwest::get(on_s3.url(path))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(!a.is_empty());
        assert_eq!(a, b, "{path}");
    }
    let health = reqwest::get(on_s3.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writer_loses_nothing_acknowledged_and_a_reader_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.create_bucket("kill-data");
    let datasvc = env!("CARGO_BIN_EXE_rta-datasvc");
    let env = aws_env(
        &moto,
        &[("RTA_Store", "Aws"), ("RTA_AwsS3Bucket", "kill-data")],
    );
    let mut reader_env = env.clone();
    reader_env.push(("RTA_EnableWrite".into(), "false".into()));
    let mut writer = start(datasvc, dir.path(), &[], &env).await;
    let reader = start(datasvc, dir.path(), &[], &reader_env).await;
    assert_eq!(samples(&reader, "live").await.1, vec![]);
    write(&writer, "live", 0..3).await;
    // The reader follows a session being written, within seconds.
    wait_for(&reader, "live", &expected(0..3)).await;
    write(&writer, "live", 3..6).await;
    writer.stop();
    wait_for(&reader, "live", &expected(0..6)).await;
    // A reader started after the crash serves it too.
    let second = start(datasvc, dir.path(), &[], &reader_env).await;
    assert_eq!(samples(&second, "live").await, (200, expected(0..6)));
    // The writer restarted continues the session.
    let writer = start(datasvc, dir.path(), &[], &env).await;
    write(&writer, "live", 6..9).await;
    assert_eq!(samples(&writer, "live").await, (200, expected(0..9)));
    wait_for(&reader, "live", &expected(0..9)).await;
    wait_for(&second, "live", &expected(0..9)).await;
}

const CONFIG: &str = r#"{"demo": {"parameters": [{"id": "param:demo", "name": "param", "desc": "Demo", "channels": [1]}],
    "channels": [{"id": 1, "source": "timestamped"}]}}"#;

fn put(identifier: &str, data: &str) -> pb::PutConfigRequest {
    pb::PutConfigRequest {
        identifier: identifier.into(),
        content_type: "application/vnd.mat.config+json".into(),
        data: data.as_bytes().to_vec().into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_and_schema_mappings_through_their_services_on_the_object_store() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.create_bucket("cfgs");
    let env = aws_env(&moto, &[("RTA_Store", "Aws"), ("RTA_AwsS3Bucket", "cfgs")]);
    let configsvc = env!("CARGO_BIN_EXE_rta-configsvc");
    let a = start(configsvc, &dir.path().join("a"), &[], &env).await;
    let b = start(configsvc, &dir.path().join("b"), &[], &env).await;
    let mut ca = ConfigStoreClient::connect(a.grpc_uri()).await.unwrap();
    let mut cb = ConfigStoreClient::connect(b.grpc_uri()).await.unwrap();
    ca.put_config(put("cfg-1", CONFIG)).await.unwrap();
    cb.put_config(put("cfg-1", CONFIG)).await.unwrap();
    // First write wins, across instances.
    let err = cb.put_config(put("cfg-1", "{}")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::AlreadyExists, "{err:?}");
    let has = |id: &str| pb::HasConfigRequest {
        identifier: id.into(),
    };
    assert!(cb.has_config(has("cfg-1")).await.unwrap().into_inner());
    assert!(!cb.has_config(has("cfg-2")).await.unwrap().into_inner());
    let r = reqwest::get(b.url("/rta/v2/configs/cfg-1")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.mat.config+json"
    );
    assert_eq!(r.text().await.unwrap(), CONFIG);
    assert_eq!(
        reqwest::get(a.url("/rta/v2/configs/cfg-2"))
            .await
            .unwrap()
            .status(),
        404
    );
    let dir_a = dir.path().join("a");
    assert!(!dir_a.join("configs").exists(), "nothing on the local disk");

    let svc = env!("CARGO_BIN_EXE_rta-schemamappingsvc");
    let m1 = start(svc, &dir.path().join("m1"), &[], &env).await;
    let m2 = start(svc, &dir.path().join("m2"), &[], &env).await;
    let mut c1 = SchemaMappingStoreClient::connect(m1.grpc_uri())
        .await
        .unwrap();
    let mut c2 = SchemaMappingStoreClient::connect(m2.grpc_uri())
        .await
        .unwrap();
    let mapping = sm::SchemaMapping {
        properties: [("table".to_string(), "telemetry".to_string())].into(),
        field_mappings: vec![sm::FieldMapping {
            source_field: "rpm".into(),
            target_channel: 3,
            ..Default::default()
        }],
        ..Default::default()
    };
    let key = || (String::from("influx"), String::from("car/1"));
    c1.put_schema_mapping(sm::PutSchemaMappingRequest {
        data_source: key().0,
        data_identity: key().1,
        schema_mapping: Some(mapping.clone()),
    })
    .await
    .unwrap();
    let got = c2
        .get_schema_mapping(sm::GetSchemaMappingRequest {
            data_source: key().0,
            data_identity: key().1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, mapping);
    c2.delete_schema_mapping(sm::DeleteSchemaMappingRequest {
        data_source: key().0,
        data_identity: key().1,
    })
    .await
    .unwrap();
    let has = c1
        .has_schema_mapping(sm::HasSchemaMappingRequest {
            data_source: key().0,
            data_identity: key().1,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!has);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_store_outage_gives_503_and_the_services_recover() {
    let dir = tempfile::tempdir().unwrap();
    let mut moto = Moto::start();
    let port = moto.port;
    moto.create_bucket("out");
    let env = aws_env(&moto, &[("RTA_Store", "Aws"), ("RTA_AwsS3Bucket", "out")]);
    let data = start(env!("CARGO_BIN_EXE_rta-datasvc"), dir.path(), &[], &env).await;
    let configs = start(env!("CARGO_BIN_EXE_rta-configsvc"), dir.path(), &[], &env).await;
    write(&data, "s", 0..1).await;
    for svc in [&data, &configs] {
        assert_eq!(
            reqwest::get(svc.url("/health")).await.unwrap().status(),
            200
        );
    }
    moto.stop();
    for svc in [&data, &configs] {
        let r = reqwest::get(svc.url("/health")).await.unwrap();
        assert_eq!(r.status(), 503);
    }
    let r = reqwest::get(data.url("/rta/v2/data/other/periodic/0"))
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("object store bucket") && body.contains("out"),
        "{body}"
    );
    assert!(!body.contains("testing"), "credentials in {body}");
    let r = reqwest::get(configs.url("/rta/v2/configs/c"))
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("object store"));
    let log = std::fs::read_to_string(&data.log).unwrap();
    assert!(!log.contains("testing"), "credentials in the log: {log}");

    // Back (moto keeps nothing, so the bucket is made again): healthy, and
    // writes and reads work.
    let moto = Moto::start_on(port);
    moto.create_bucket("out");
    for svc in [&data, &configs] {
        assert_eq!(
            reqwest::get(svc.url("/health")).await.unwrap().status(),
            200
        );
    }
    write(&data, "t", 0..2).await;
    assert_eq!(samples(&data, "t").await, (200, expected(0..2)));
    let mut c = ConfigStoreClient::connect(configs.grpc_uri())
        .await
        .unwrap();
    c.put_config(put("c", CONFIG)).await.unwrap();
    let r = reqwest::get(configs.url("/rta/v2/configs/c"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rta_server_keeps_configs_and_data_in_its_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    moto.create_bucket("srv-configs");
    moto.create_bucket("srv-data");
    let env = aws_env(
        &moto,
        &[
            ("RTA_Store", "Aws"),
            ("RTA_AwsS3ConfigsBucket", "srv-configs"),
            ("RTA_AwsS3DataBucket", "srv-data"),
        ],
    );
    let server = start(env!("CARGO_BIN_EXE_rta-server"), dir.path(), &[], &env).await;
    assert_eq!(
        reqwest::get(server.url("/health")).await.unwrap().status(),
        200
    );
    let mut c = ConfigStoreClient::connect(server.grpc_uri()).await.unwrap();
    c.put_config(put("srv-cfg", CONFIG)).await.unwrap();
    write(&server, "srv-session", 0..2).await;
    assert!(!dir.path().join("configs").join("srv-cfg.json").exists());

    // Another service on the same buckets sees both.
    let configs = start(
        env!("CARGO_BIN_EXE_rta-configsvc"),
        &dir.path().join("c"),
        &[],
        &aws_env(
            &moto,
            &[("RTA_Store", "Aws"), ("RTA_AwsS3Bucket", "srv-configs")],
        ),
    )
    .await;
    let r = reqwest::get(configs.url("/rta/v2/configs/srv-cfg"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), CONFIG);
    let reader = start(
        env!("CARGO_BIN_EXE_rta-datasvc"),
        dir.path(),
        &["--EnableWrite", "false"],
        &aws_env(
            &moto,
            &[("RTA_Store", "Aws"), ("RTA_AwsS3Bucket", "srv-data")],
        ),
    )
    .await;
    assert_eq!(samples(&reader, "srv-session").await, (200, expected(0..2)));
}
