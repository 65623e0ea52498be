//! The config and schema-mapping services over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)]

mod support;

use bytes::Bytes;
use rta_core::media::{CONFIG_FFC, CONFIG_JSON};
use rta_core::proto::config_service as pb;
use rta_core::proto::config_service::config_stream_message::{ConfigInfo, Type};
use rta_core::proto::schema_mapping_service as sm;
use tonic::Code;

fn put(identifier: &str, content_type: &str, data: &[u8]) -> pb::PutConfigRequest {
    pb::PutConfigRequest {
        identifier: identifier.into(),
        content_type: content_type.into(),
        data: Bytes::copy_from_slice(data),
    }
}

const CONFIG: &str = r#"{"demo": {"parameters": [{"id": "param:demo", "name": "param", "desc": "Demo", "channels": [1]}],
    "channels": [{"id": 1, "source": "timestamped"}]}}"#;

#[tokio::test]
async fn config_first_write_wins_over_grpc_and_rest() {
    let dir = tempfile::tempdir().unwrap();
    let svc = support::config_service(dir.path()).await;
    let mut c = svc.configs().await;

    c.put_config(put("6d711dbc", CONFIG_JSON, CONFIG.as_bytes()))
        .await
        .unwrap();
    // the same content again: a no-op
    c.put_config(put("6d711dbc", CONFIG_JSON, CONFIG.as_bytes()))
        .await
        .unwrap();
    // other content: refused
    let err = c
        .put_config(put("6d711dbc", CONFIG_JSON, b"{}"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
    let err = c
        .put_config(put("6d711dbc", CONFIG_FFC, CONFIG.as_bytes()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);

    assert!(c
        .has_config(pb::HasConfigRequest {
            identifier: "6d711dbc".into()
        })
        .await
        .unwrap()
        .into_inner());
    assert!(!c
        .has_config(pb::HasConfigRequest {
            identifier: "other".into()
        })
        .await
        .unwrap()
        .into_inner());
    let got = c
        .get_config(pb::GetConfigRequest {
            identifier: "6d711dbc".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.content_type, CONFIG_JSON);
    assert_eq!(got.data, CONFIG.as_bytes());

    // REST: GET with the stored media type, HEAD without a body.
    let r = svc
        .http
        .get(svc.url("/rta/v2/configs/6d711dbc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], CONFIG_JSON);
    assert_eq!(r.bytes().await.unwrap(), CONFIG.as_bytes());
    let r = svc
        .http
        .head(svc.url("/rta/v2/configs/6d711dbc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        svc.http
            .head(svc.url("/rta/v2/configs/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(svc.get_json("/rta/v2/configs/nope").await.0, 404);

    // FFC is stored opaque and served with its own media type.
    let ffc = [0u8, 1, 2, 255, 254];
    c.put_config(put("ffc/one", CONFIG_FFC, &ffc))
        .await
        .unwrap();
    let r = svc
        .http
        .get(svc.url("/rta/v2/configs/ffc%2Fone"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], CONFIG_FFC);
    assert_eq!(r.bytes().await.unwrap().as_ref(), ffc);

    // Bad input: nothing is stored.
    for (req, code) in [
        (put("bad", CONFIG_JSON, b"{not json"), Code::InvalidArgument),
        (put("bad", CONFIG_JSON, b"[1, 2]"), Code::InvalidArgument),
        (
            put("bad", CONFIG_JSON, br#"{"app": {"parameters": [{"id": "p", "name": "p", "desc": "d", "channels": [9]}]}}"#),
            Code::InvalidArgument,
        ),
        (put("bad", "text/plain", b"{}"), Code::InvalidArgument),
        (put("", CONFIG_JSON, b"{}"), Code::InvalidArgument),
    ] {
        let err = c.put_config(req).await.unwrap_err();
        assert_eq!(err.code(), code, "{err:?}");
        assert!(!err.message().is_empty());
    }
    assert!(!c
        .has_config(pb::HasConfigRequest {
            identifier: "bad".into()
        })
        .await
        .unwrap()
        .into_inner());

    // Delete: succeeds when absent.
    c.delete_config(pb::DeleteConfigRequest {
        identifier: "ffc/one".into(),
    })
    .await
    .unwrap();
    c.delete_config(pb::DeleteConfigRequest {
        identifier: "ffc/one".into(),
    })
    .await
    .unwrap();
    let err = c
        .get_config(pb::GetConfigRequest {
            identifier: "ffc/one".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    svc.stop().await;

    // Restart: still there.
    let svc = support::config_service(dir.path()).await;
    let r = svc
        .http
        .get(svc.url("/rta/v2/configs/6d711dbc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), CONFIG.as_bytes());
    svc.stop().await;
}

/// A valid JSON config of about `size` bytes.
fn big_config(size: usize) -> Vec<u8> {
    let mut params = String::new();
    let mut channels = String::new();
    let mut i = 0;
    while params.len() + channels.len() < size {
        if i > 0 {
            params.push(',');
            channels.push(',');
        }
        params.push_str(&format!(
            r#"{{"id": "param{i}:big", "name": "param{i}", "desc": "a parameter with a longish description {i}", "channels": [{i}]}}"#
        ));
        channels.push_str(&format!(
            r#"{{"id": {i}, "source": "periodic", "interval": 1000000}}"#
        ));
        i += 1;
    }
    format!(r#"{{"big": {{"parameters": [{params}], "channels": [{channels}]}}}}"#).into_bytes()
}

#[tokio::test]
async fn twenty_mib_config_through_the_streaming_calls() {
    let dir = tempfile::tempdir().unwrap();
    let svc = support::config_service(dir.path()).await;
    let mut c = svc
        .configs()
        .await
        .max_decoding_message_size(8 * 1024 * 1024);
    let data = big_config(20 * 1024 * 1024);
    assert!(data.len() >= 20 * 1024 * 1024);

    // Unary put is over the 4 MiB limit.
    let err = c
        .put_config(put("big", CONFIG_JSON, &data))
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );

    let mut msgs = vec![pb::ConfigStreamMessage {
        r#type: Some(Type::Info(ConfigInfo {
            identifier: "big".into(),
            content_type: CONFIG_JSON.into(),
        })),
    }];
    for piece in data.chunks(1024 * 1024) {
        msgs.push(pb::ConfigStreamMessage {
            r#type: Some(Type::Piece(Bytes::copy_from_slice(piece))),
        });
    }
    c.put_config_stream(futures::stream::iter(msgs.clone()))
        .await
        .unwrap();
    // the same again is a no-op; different content conflicts
    c.put_config_stream(futures::stream::iter(msgs.clone()))
        .await
        .unwrap();
    let mut changed = msgs.clone();
    changed.truncate(2);
    let err = c
        .put_config_stream(futures::stream::iter(changed))
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::AlreadyExists | Code::InvalidArgument),
        "{err:?}"
    );

    // Unary get refuses clearly; the stream returns it all.
    let err = c
        .get_config(pb::GetConfigRequest {
            identifier: "big".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().contains("GetConfigStream"), "{err:?}");
    let mut stream = c
        .get_config_stream(pb::GetConfigRequest {
            identifier: "big".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    match first.r#type {
        Some(Type::Info(info)) => {
            assert_eq!(info.identifier, "big");
            assert_eq!(info.content_type, CONFIG_JSON);
        }
        other => panic!("first message is not the info: {other:?}"),
    }
    let mut got = Vec::with_capacity(data.len());
    let mut pieces = 0;
    while let Some(m) = stream.message().await.unwrap() {
        match m.r#type {
            Some(Type::Piece(p)) => got.extend_from_slice(&p),
            other => panic!("unexpected message {other:?}"),
        }
        pieces += 1;
    }
    assert!(pieces >= 20);
    assert!(got == data, "streamed config differs");

    // Through REST as well.
    let r = svc
        .http
        .get(svc.url("/rta/v2/configs/big"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), data.len());

    // Bad streams.
    let no_info = vec![pb::ConfigStreamMessage {
        r#type: Some(Type::Piece(Bytes::from_static(b"{}"))),
    }];
    let err = c
        .put_config_stream(futures::stream::iter(no_info))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = c
        .put_config_stream(futures::stream::iter(Vec::<pb::ConfigStreamMessage>::new()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    svc.stop().await;
}

fn field(source: &str, channel: u32) -> sm::FieldMapping {
    sm::FieldMapping {
        source_field: source.into(),
        target_channel: channel,
        properties: [("unit".to_string(), "rpm".to_string())].into(),
        source_field_data_type: "float".into(),
        target_channel_data_type: sm::TargetChannelDataType::Float32 as i32,
    }
}

#[tokio::test]
async fn schema_mappings_put_query_delete() {
    let dir = tempfile::tempdir().unwrap();
    let svc = support::schema_mapping_service(dir.path()).await;
    let mut c = svc.mappings().await;
    let mapping = sm::SchemaMapping {
        properties: [("table".to_string(), "telemetry".to_string())].into(),
        field_mappings: vec![
            field("a", 0),
            field("b", 5),
            field("c", 0xB),
            field("d", 0x14),
            field("e", 0x100),
        ],
        event_mappings: vec![sm::EventMapping {
            source_event: "pit".into(),
            target_event_app: "demo".into(),
            target_event_id: 8,
            properties: Default::default(),
            source_event_data_fields: vec!["lap".into()],
        }],
    };
    let key = |id: &str| (String::from("influx"), id.to_string());
    let (src, id) = key("car/1");
    let err = c
        .get_schema_mapping(sm::GetSchemaMappingRequest {
            data_source: src.clone(),
            data_identity: id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    c.put_schema_mapping(sm::PutSchemaMappingRequest {
        data_source: src.clone(),
        data_identity: id.clone(),
        schema_mapping: Some(mapping.clone()),
    })
    .await
    .unwrap();
    assert!(c
        .has_schema_mapping(sm::HasSchemaMappingRequest {
            data_source: src.clone(),
            data_identity: id.clone()
        })
        .await
        .unwrap()
        .into_inner());
    let got = c
        .get_schema_mapping(sm::GetSchemaMappingRequest {
            data_source: src.clone(),
            data_identity: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, mapping);

    let query = |channels: &str, events: bool| sm::QuerySchemaMappingRequest {
        data_source: src.clone(),
        data_identity: id.clone(),
        select_channels: channels.into(),
        select_events: events,
    };
    let q = c
        .query_schema_mapping(query("-5,7,B-D,14-", false))
        .await
        .unwrap()
        .into_inner();
    let fields: Vec<_> = q
        .field_mappings
        .iter()
        .map(|f| f.source_field.as_str())
        .collect();
    assert_eq!(fields, ["a", "b", "c", "d", "e"]);
    assert!(q.event_mappings.is_empty());
    assert_eq!(q.properties, mapping.properties);
    let q = c
        .query_schema_mapping(query("1-A", true))
        .await
        .unwrap()
        .into_inner();
    let fields: Vec<_> = q
        .field_mappings
        .iter()
        .map(|f| f.source_field.as_str())
        .collect();
    assert_eq!(fields, ["b"]);
    assert_eq!(q.event_mappings.len(), 1);
    let q = c
        .query_schema_mapping(query("", true))
        .await
        .unwrap()
        .into_inner();
    assert!(q.field_mappings.is_empty());
    assert_eq!(q.event_mappings.len(), 1);
    let err = c
        .query_schema_mapping(query("Z-", false))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = c
        .query_schema_mapping(sm::QuerySchemaMappingRequest {
            data_source: src.clone(),
            data_identity: "missing".into(),
            select_channels: "-".into(),
            select_events: true,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Put replaces.
    c.put_schema_mapping(sm::PutSchemaMappingRequest {
        data_source: src.clone(),
        data_identity: id.clone(),
        schema_mapping: Some(sm::SchemaMapping::default()),
    })
    .await
    .unwrap();
    let got = c
        .get_schema_mapping(sm::GetSchemaMappingRequest {
            data_source: src.clone(),
            data_identity: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, sm::SchemaMapping::default());

    // Bad keys; deleting is idempotent.
    let err = c
        .put_schema_mapping(sm::PutSchemaMappingRequest {
            data_source: String::new(),
            data_identity: "x".into(),
            schema_mapping: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    for _ in 0..2 {
        c.delete_schema_mapping(sm::DeleteSchemaMappingRequest {
            data_source: src.clone(),
            data_identity: id.clone(),
        })
        .await
        .unwrap();
    }
    assert!(!c
        .has_schema_mapping(sm::HasSchemaMappingRequest {
            data_source: src.clone(),
            data_identity: id.clone()
        })
        .await
        .unwrap()
        .into_inner());

    // Monitoring only on HTTP.
    assert_eq!(svc.get_json("/health").await.0, 200);
    assert_eq!(svc.get_json("/rta/v2/sessions").await.0, 404);
    svc.stop().await;
}
