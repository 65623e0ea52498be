//! The object-store backends against a real S3-compatible server
//! (`moto_server` on loopback): the native store gives the same chunks as
//! on files, survives reopening, is seen by a second instance on the same
//! bucket, and refuses a second writer; configs and schema mappings keep
//! the file stores' semantics.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod moto;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use moto::Moto;
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_adapters::s3::{Bucket, S3Backend, S3BackendConfig, S3ConfigStore, S3SchemaMappingStore};
use rta_core::data::{periodic, timestamped, DataKind};
use rta_core::proto::data::Event;
use rta_core::proto::schema_mapping_service::{FieldMapping, SchemaMapping};
use rta_core::service::{ConfigStore, DataRequest, SchemaMappingStore, StoredConfig};
use rta_core::write::WriteItem;
use rta_core::Error;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;

fn bucket(moto: &Moto, name: &str) -> Bucket {
    moto.create_bucket(name);
    let settings = moto.settings();
    let s: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Bucket::from_env_with(name, &s).unwrap()
}

fn s3_store(b: &Bucket, cfg: S3BackendConfig) -> NativeStore {
    let backend = S3Backend::new(b.clone(), cfg);
    NativeStore::with_backend(
        Arc::new(backend),
        NativeConfig::new("unused").with_target_list_bytes(4096),
    )
}

fn fast_refresh() -> S3BackendConfig {
    S3BackendConfig {
        refresh_interval: Duration::from_millis(100),
        // Small segments and checkpoints, so that both paths are taken.
        segment_bytes: 16 * 1024,
        checkpoint_every: 3,
        ..S3BackendConfig::default()
    }
}

/// A batch of every kind: 100 Hz timestamped, 1 kHz periodic, events.
fn batch(k: i64) -> Vec<WriteItem> {
    let t0 = T0 + k * 10 * S;
    let times: Vec<i64> = (0..1000).map(|i| t0 + i * 10_000_000).collect();
    let vals: Vec<f64> = (0..1000)
        .map(|i| (i as f64 + k as f64 * 0.5).sin())
        .collect();
    let pv: Vec<i32> = (0..10_000).map(|i| (i * 7 + k as i32) % 1000).collect();
    vec![
        timestamped(0xA, &times, &vals).unwrap().into(),
        periodic(0xB, t0, 1_000_000, &pv).unwrap().into(),
        WriteItem::Event(Event {
            event_definition_id: 7,
            status_text: format!("e{k}"),
            timestamp: t0 + 5,
            ..Default::default()
        }),
    ]
}

fn requests(id: &str) -> Vec<DataRequest> {
    let mut partial = DataRequest::channels(DataKind::Periodic, id, "b".parse().unwrap());
    partial.start = Some(T0 + 15 * S);
    partial.end = Some(T0 + 31 * S);
    vec![
        DataRequest::channels(DataKind::Timestamped, id, "a".parse().unwrap()),
        DataRequest::channels(DataKind::Periodic, id, "b".parse().unwrap()),
        DataRequest::channels(DataKind::Events, id, "0".parse().unwrap()),
        partial,
    ]
}

fn read_all(store: &NativeStore, id: &str) -> Vec<Vec<rta_core::chunk::Chunk>> {
    requests(id)
        .iter()
        .map(|r| store.read_blocking(r).unwrap())
        .collect()
}

#[test]
fn native_store_on_the_object_store_equals_the_file_store() {
    let moto = Moto::start();
    let b = bucket(&moto, "native-eq");
    let dir = tempfile::tempdir().unwrap();
    let file =
        NativeStore::open(NativeConfig::new(dir.path()).with_target_list_bytes(4096)).unwrap();
    let s3 = s3_store(&b, fast_refresh());
    for k in 0..5 {
        for st in [&file, &s3] {
            st.write_blocking("sess-1", batch(k)).unwrap();
            if k % 2 == 1 {
                st.flush_blocking("sess-1").unwrap();
            }
        }
    }
    // Late data merged into stored chunks.
    for st in [&file, &s3] {
        st.write_blocking("sess-1", batch(1)).unwrap();
        st.seal_blocking("sess-1").unwrap();
    }
    let want = read_all(&file, "sess-1");
    assert!(want.iter().all(|c| !c.is_empty()));
    assert_eq!(read_all(&s3, "sess-1"), want);
    drop(s3);
    // A new instance opens it from the bucket alone (checkpoint + commits).
    let again = s3_store(&b, S3BackendConfig::default());
    assert_eq!(again.identities().unwrap(), vec!["sess-1".to_string()]);
    assert_eq!(read_all(&again, "sess-1"), want);
    assert_eq!(
        again.identity_stats("sess-1").unwrap().samples,
        file.identity_stats("sess-1").unwrap().samples
    );
    again.delete_blocking("sess-1").unwrap();
    let fresh = s3_store(&b, S3BackendConfig::default());
    assert!(fresh.identities().unwrap().is_empty());
    assert!(read_all(&fresh, "sess-1").iter().all(Vec::is_empty));
}

#[test]
fn a_second_instance_sees_flushed_data_and_a_second_writer_is_refused() {
    let moto = Moto::start();
    let b = bucket(&moto, "native-two");
    let writer = s3_store(&b, fast_refresh());
    let reader = s3_store(&b, fast_refresh());
    let id = "shared";
    assert!(read_all(&reader, id).iter().all(Vec::is_empty));
    writer.write_blocking(id, batch(0)).unwrap();
    writer.flush_blocking(id).unwrap();
    // On-miss: the reader had no state for it; it opens it now.
    let first = read_all(&reader, id);
    assert!(!first[1].is_empty());
    for k in 1..4 {
        writer.write_blocking(id, batch(k)).unwrap();
        writer.flush_blocking(id).unwrap();
    }
    // Open: the reader picks the new commits up within the refresh interval.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let want = read_all(&writer, id);
    loop {
        let got = read_all(&reader, id);
        if got == want {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "reader never caught up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A second writer on the same identity loses the race for the next
    // commit: its flush fails and the first writer's data is intact.
    let intruder = s3_store(&b, fast_refresh());
    intruder.write_blocking(id, batch(0)).unwrap();
    writer.write_blocking(id, batch(9)).unwrap();
    writer.flush_blocking(id).unwrap();
    let err = intruder.flush_blocking(id).unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    let fresh = s3_store(&b, S3BackendConfig::default());
    assert_eq!(read_all(&fresh, id), read_all(&writer, id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_and_schema_mappings_on_the_object_store() {
    let moto = Moto::start();
    let b = bucket(&moto, "cfg");
    let configs = S3ConfigStore::new(b.clone());
    configs.check().await.unwrap();
    let json = |s: &str| StoredConfig {
        content_type: "application/vnd.mat.config+json".into(),
        data: Bytes::copy_from_slice(s.as_bytes()),
    };
    assert!(!configs.has("A/b").await.unwrap());
    configs.put("A/b", json("{}")).await.unwrap();
    configs.put("A/b", json("{}")).await.unwrap();
    let err = configs.put("A/b", json(r#"{"x":{}}"#)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err}");
    // Another instance on the same bucket: the first write still wins.
    let other = S3ConfigStore::new(b.clone());
    let ffc = StoredConfig {
        content_type: "application/vnd.mat.config+ffc".into(),
        data: Bytes::from_static(b"\x00\x01ffc"),
    };
    assert!(matches!(
        other.put("A/b", ffc.clone()).await,
        Err(Error::Conflict(_))
    ));
    other.put("f", ffc.clone()).await.unwrap();
    assert_eq!(configs.get("A/b").await.unwrap(), Some(json("{}")));
    assert_eq!(configs.get("f").await.unwrap(), Some(ffc));
    assert!(configs.has("f").await.unwrap() && !configs.has("a/b").await.unwrap());
    assert!(configs
        .put("bad", json("{not json"))
        .await
        .unwrap_err()
        .is_client_error());
    assert!(!configs.has("bad").await.unwrap());
    configs.delete("f").await.unwrap();
    configs.delete("f").await.unwrap();
    assert_eq!(configs.get("f").await.unwrap(), None);

    let maps = S3SchemaMappingStore::new(b.clone());
    let mut m = SchemaMapping::default();
    m.properties.insert("table".into(), "t".into());
    maps.put("src/x", "id.1", m.clone()).await.unwrap();
    m.field_mappings.push(FieldMapping {
        source_field: "a".into(),
        target_channel: 2,
        ..Default::default()
    });
    maps.put("src/x", "id.1", m.clone()).await.unwrap();
    assert_eq!(maps.get("src/x", "id.1").await.unwrap(), Some(m));
    assert!(maps.has("src/x", "id.1").await.unwrap());
    assert!(!maps.has("src/x", "id.2").await.unwrap());
    maps.delete("src/x", "id.1").await.unwrap();
    assert_eq!(maps.get("src/x", "id.1").await.unwrap(), None);
    assert!(maps.put("", "a", SchemaMapping::default()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_object_store_is_unavailable_until_it_returns() {
    let mut moto = Moto::start();
    let port = moto.port;
    let b = bucket(&moto, "outage");
    let configs = S3ConfigStore::new(b.clone());
    configs.check().await.unwrap();
    moto.stop();
    let started = std::time::Instant::now();
    let err = configs.check().await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("outage"), "{err}");
    assert!(!err.to_string().contains("testing"), "credentials in {err}");
    let err = configs.get("x").await.unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let native = s3_store(&b, fast_refresh());
    let store = native.clone();
    let err = tokio::task::spawn_blocking(move || {
        store
            .write_blocking("s", batch(0))
            .and_then(|()| store.flush_blocking("s"))
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    // Back (empty: moto keeps nothing): everything works again.
    let moto = Moto::start_on(port);
    moto.create_bucket("outage");
    configs.check().await.unwrap();
    configs.put("x", json_cfg()).await.unwrap();
    assert!(configs.has("x").await.unwrap());
    let store = native.clone();
    let chunks = tokio::task::spawn_blocking(move || {
        store.write_blocking("s", batch(0))?;
        store.flush_blocking("s")?;
        let fresh = s3_store(&b, S3BackendConfig::default());
        fresh.read_blocking(&DataRequest::channels(
            DataKind::Periodic,
            "s",
            "b".parse().unwrap(),
        ))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(!chunks.is_empty());
}

fn json_cfg() -> StoredConfig {
    StoredConfig {
        content_type: "application/vnd.mat.config+json".into(),
        data: Bytes::from_static(b"{}"),
    }
}
