//! The session service over real sockets (tonic client, HTTP client),
//! every test run twice: against SQLite in a temporary directory and
//! against PostgreSQL in a throwaway cluster (`mod sqlite`, `mod postgres`).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)]

mod support;

use support::Backend;

use std::collections::HashMap;

use rta_core::proto::session_service as pb;
use rta_core::proto::session_service::session_update::{self as su, Op};
use rta_core::session::SessionState;
use serde_json::{json, Value};
use tonic::Code;

fn upd(op: Op) -> pb::SessionUpdate {
    pb::SessionUpdate { op: Some(op) }
}

fn create(identity: &str, timestamp: &str, updates: Vec<Op>) -> pb::CreateOrUpdateSessionRequest {
    pb::CreateOrUpdateSessionRequest {
        identity: identity.into(),
        sequence: None,
        create_if_not_exists: Some(pb::create_or_update_session_request::CreateIfNotExists {
            // 0: the state left out, which the service reads as closed.
            state: 0,
            timestamp: timestamp.into(),
            identifier: format!("Session {identity}"),
        }),
        updates: updates.into_iter().map(upd).collect(),
    }
}

fn update(identity: &str, updates: Vec<Op>) -> pb::CreateOrUpdateSessionRequest {
    pb::CreateOrUpdateSessionRequest {
        identity: identity.into(),
        updates: updates.into_iter().map(upd).collect(),
        ..Default::default()
    }
}

fn all_elements() -> pb::SessionElements {
    pb::SessionElements {
        json: true,
        json_properties: vec!["extDetails".into()],
        heartbeat_utc: true,
        data_bindings: true,
        folders: true,
        refs: true,
    }
}

async fn get(
    client: &mut pb::session_store_client::SessionStoreClient<tonic::transport::Channel>,
    identity: &str,
) -> (pb::Session, Value) {
    let s = client
        .get_session(pb::GetSessionRequest {
            identity: identity.into(),
            elements: Some(all_elements()),
        })
        .await
        .unwrap()
        .into_inner();
    let v: Value = serde_json::from_str(&s.json).unwrap();
    (s, v)
}

fn uris(list: &[&str]) -> su::RefUrisList {
    su::RefUrisList {
        ref_uris: list.iter().map(|s| s.to_string()).collect(),
    }
}

fn folders(list: &[&str]) -> su::FoldersList {
    su::FoldersList {
        identities: list.iter().map(|s| s.to_string()).collect(),
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|s| s["identity"].as_str().unwrap().to_string())
        .collect()
}

async fn create_defaults_and_every_update_op(b: Backend) {
    let svc = support::session_service_on(&b).await;
    let mut c = svc.sessions().await;

    // Defaults: closed, now, identifier = identity, in the root folder.
    let before = rta_core::time::Timestamp::now().nanos();
    c.create_or_update_session(pb::CreateOrUpdateSessionRequest {
        identity: "plain".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let (s, v) = get(&mut c, "plain").await;
    assert_eq!(v["state"], "closed");
    assert_eq!(v["identifier"], "plain");
    let ts = rta_core::time::Timestamp::parse(v["timestamp"].as_str().unwrap()).unwrap();
    assert!(
        ts.nanos() >= before && ts.nanos() - before < 60_000_000_000,
        "{v}"
    );
    assert_eq!(s.folders, vec![String::new()]);
    assert!(s.heartbeat_utc.is_empty());

    // Create with values, then apply every op in turn.
    c.create_or_update_session(pb::CreateOrUpdateSessionRequest {
        identity: "s".into(),
        create_if_not_exists: Some(pb::create_or_update_session_request::CreateIfNotExists {
            state: SessionState::Open.as_i32(),
            timestamp: "2021-05-06T18:58:56.20289+01:00".into(),
            identifier: "Demo".into(),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let (_, v) = get(&mut c, "s").await;
    assert_eq!(v["state"], "open");
    assert_eq!(v["timestamp"], "2021-05-06T18:58:56.20289+01:00");
    assert_eq!(v["identifier"], "Demo");

    let t0 = 1_620_323_936_202_890_000_i64;
    let mut markers = HashMap::new();
    markers.insert(
        "Laps".to_string(),
        su::MarkersList {
            markers: vec![
                pb::Marker {
                    id: "lap1".into(),
                    r#type: "lap".into(),
                    label: "Lap 1".into(),
                    description: Some("out lap".into()),
                    start_time: Some(t0),
                    end_time: Some(t0 + 10),
                    details_json: r#"{"fuel": 20.5}"#.into(),
                },
                pb::Marker {
                    id: "lap2".into(),
                    label: "Lap 2".into(),
                    ..Default::default()
                },
            ],
        },
    );
    let mut str_details = HashMap::new();
    str_details.insert("Driver".to_string(), "Bob".to_string());
    str_details.insert("Team".to_string(), "Red".to_string());
    let binding = |source: &str, time_ref: i64| pb::DataBinding {
        key: Some(pb::DataBindingKey {
            source: source.into(),
            identity: format!("{source}-id"),
            time_ref,
        }),
        session_start_time: Some(t0),
        session_end_time: None,
        session_time_offset: -300,
        data_channel_bindings: vec![pb::DataChannelBinding {
            first_data_channel: 0,
            first_session_channel: 50,
            last_session_channel: 59,
        }],
    };
    c.create_or_update_session(update(
        "s",
        vec![
            Op::UpdateHeartbeat(()),
            Op::SetState(SessionState::Closed.as_i32()),
            Op::SetTimestamp("2021-05-06T19:00:00+02:00".into()),
            Op::SetTimeRange(pb::TimeRange {
                start_time: t0,
                end_time: t0 + 1_000,
            }),
            Op::ExtendTimeRange(pb::TimeRange {
                start_time: t0 - 5,
                end_time: t0 + 500,
            }),
            Op::SetIdentifier("Renamed".into()),
            Op::SetDetails(su::DetailsMap {
                category: String::new(),
                details: str_details.clone(),
            }),
            Op::UpdateDetailsJson(su::DetailsJson {
                category: String::new(),
                json: r#"{"Run": 17, "Ratio": 0.5, "Wet": true, "Team": "Blue"}"#.into(),
            }),
            Op::DeleteDetails(su::DetailKeysList {
                category: String::new(),
                keys: vec!["Driver".into()],
            }),
            Op::SetDetails(su::DetailsMap {
                category: "CarSetup".into(),
                details: str_details,
            }),
            Op::SetDetailsJson(su::DetailsJson {
                category: "CarSetup".into(),
                json: r#"{"RideHeightFront": 32, "RideHeightRear": 78}"#.into(),
            }),
            Op::UpdateDetails(su::DetailsMap {
                category: "CarSetup".into(),
                details: [("Wing".to_string(), "high".to_string())].into(),
            }),
            Op::SetType("DDS".into()),
            Op::SetQuality(0.8),
            Op::SetGroup("Aero".into()),
            Op::SetVersion("1.2.0".into()),
            Op::SetMarkers(su::MarkersMap {
                markers_by_category: markers,
            }),
            Op::DeleteMarkers(su::MarkerIdsList {
                marker_ids: vec!["lap2".into()],
            }),
            Op::SetConfigBindings(su::ConfigBindingsList {
                config_bindings: vec![
                    pb::ConfigBinding {
                        identifier: "cfg-a".into(),
                        channel_offset: 0,
                    },
                    pb::ConfigBinding {
                        identifier: "cfg-b".into(),
                        channel_offset: 1000,
                    },
                ],
            }),
            Op::UpdateConfigBindings(su::ConfigBindingsList {
                config_bindings: vec![pb::ConfigBinding {
                    identifier: "cfg-c".into(),
                    channel_offset: 2000,
                }],
            }),
            Op::DeleteConfigBindings(su::ConfigIdentifiersList {
                identifiers: vec!["cfg-a".into()],
            }),
            Op::SetDataBindings(su::DataBindingsList {
                data_bindings: vec![binding("influx01", 0), binding("influx07", 5)],
            }),
            Op::UpdateDataBindings(su::DataBindingsList {
                data_bindings: vec![binding("files", 0)],
            }),
            Op::DeleteDataBindings(su::DataBindingKeysList {
                keys: vec![pb::DataBindingKey {
                    source: "influx07".into(),
                    identity: "influx07-id".into(),
                    time_ref: 5,
                }],
            }),
            Op::SetRefAnchors(uris(&["ref:aaa", "ref:bbb", "ref:ccc"])),
            Op::UpdateRefAnchors(uris(&["ref:ccc", "ref:ddd"])),
            Op::DeleteRefAnchors(uris(&["ref:aaa"])),
            Op::SetChildOfRefs(uris(&["parent:1", "parent:2"])),
            Op::DeleteChildOfRefs(uris(&["parent:2"])),
            Op::UpdateChildOfRefs(uris(&["parent:3"])),
            Op::SetAlternateOfRefs(uris(&["alt:1"])),
            Op::UpdateAlternateOfRefs(uris(&["alt:2"])),
            Op::DeleteAlternateOfRefs(uris(&["alt:1"])),
            Op::SetFolders(folders(&["animals"])),
            Op::UpdateFolders(folders(&["plants"])),
        ],
    ))
    .await
    .unwrap();

    let (s, v) = get(&mut c, "s").await;
    assert_eq!(v["state"], "closed");
    assert_eq!(v["timestamp"], "2021-05-06T19:00:00+02:00");
    assert_eq!(
        v["timeRange"],
        json!({"startTime": t0 - 5, "endTime": t0 + 1_000})
    );
    // start/end written in the offset of the session timestamp
    assert_eq!(v["startTimestamp"], "2021-05-06T19:58:56.202889995+02:00");
    assert_eq!(v["identifier"], "Renamed");
    assert_eq!(
        v["details"],
        json!({"Ratio": 0.5, "Run": 17, "Team": "Blue", "Wet": true})
    );
    assert_eq!(
        v["extDetails"],
        json!({"CarSetup": {"RideHeightFront": 32, "RideHeightRear": 78, "Wing": "high"}})
    );
    assert_eq!(v["type"], "DDS");
    assert_eq!(v["quality"], 0.8);
    assert_eq!(v["group"], "Aero");
    assert_eq!(v["version"], "1.2.0");
    assert_eq!(
        v["markers"],
        json!([{"id": "lap1", "category": "Laps", "type": "lap", "label": "Lap 1", "description": "out lap",
                "startTime": t0, "endTime": t0 + 10, "details": {"fuel": 20.5}}])
    );
    assert_eq!(
        v["configBindings"],
        json!([{"identifier": "cfg-b", "channelOffset": 1000}, {"identifier": "cfg-c", "channelOffset": 2000}])
    );
    assert!(!s.heartbeat_utc.is_empty());
    let sources: Vec<_> = s
        .data_bindings
        .iter()
        .map(|b| b.key.clone().unwrap().source)
        .collect();
    assert_eq!(sources, ["influx01", "files"]);
    assert_eq!(s.data_bindings[0], binding("influx01", 0));
    assert_eq!(s.ref_anchors, ["ref:bbb", "ref:ccc", "ref:ddd"]);
    assert_eq!(s.child_of_refs, ["parent:1", "parent:3"]);
    assert_eq!(s.alternate_of_refs, ["alt:2"]);
    assert_eq!(s.folders, ["animals", "plants"]);

    // Clear ops and folder removal back to the root.
    c.create_or_update_session(update(
        "s",
        vec![
            Op::ClearTimeRange(()),
            Op::ClearType(()),
            Op::ClearQuality(()),
            Op::ClearGroup(()),
            Op::ClearVersion(()),
            Op::UpdateMarkers(su::MarkersMap {
                markers_by_category: [(
                    "Sectors".to_string(),
                    su::MarkersList {
                        markers: vec![pb::Marker {
                            id: "lap1".into(),
                            label: "S1".into(),
                            ..Default::default()
                        }],
                    },
                )]
                .into(),
            }),
            Op::DeleteFolders(folders(&["animals", "plants"])),
        ],
    ))
    .await
    .unwrap();
    let (s, v) = get(&mut c, "s").await;
    for gone in [
        "timeRange",
        "startTimestamp",
        "endTimestamp",
        "type",
        "quality",
        "group",
        "version",
    ] {
        assert!(v.get(gone).is_none(), "{gone} still in {v}");
    }
    assert_eq!(
        v["markers"],
        json!([{"id": "lap1", "category": "Sectors", "label": "S1"}])
    );
    assert_eq!(s.folders, vec![String::new()]);

    // The data bindings as the gateway reads them.
    let (status, body) = svc.get_json("/rta/v2/sessions/s/data-bindings").await;
    assert_eq!(status, 200);
    assert_eq!(
        body[0]["key"],
        json!({"source": "influx01", "identity": "influx01-id", "timeRef": 0})
    );
    assert_eq!(body[0]["sessionStartTime"], json!(t0));
    assert_eq!(body[0]["sessionEndTime"], Value::Null);
    assert_eq!(body[0]["sessionTimeOffset"], json!(-300));
    assert_eq!(
        body[0]["dataChannelBindings"],
        json!([{"firstDataChannel": 0, "firstSessionChannel": 50, "lastSessionChannel": 59}])
    );
    assert_eq!(
        svc.get_json("/rta/v2/sessions/nope/data-bindings").await.0,
        404
    );

    // Delete ignores unknown identities.
    c.delete_sessions(pb::DeleteSessionsRequest {
        identities: vec!["plain".into(), "xxx-does-not-exist-xxx".into()],
    })
    .await
    .unwrap();
    let err = c
        .get_session(pb::GetSessionRequest {
            identity: "plain".into(),
            elements: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(svc.get_json("/rta/v2/sessions/plain").await.0, 404);
    let (status, one) = svc.get_json("/rta/v2/sessions/s").await;
    assert_eq!(status, 200);
    assert!(
        one.get("extDetails").is_none(),
        "extDetails only when asked: {one}"
    );
    let (_, one) = svc
        .get_json("/rta/v2/sessions/s?prop=extDetails.CarSetup.Wing")
        .await;
    assert_eq!(one["extDetails"], json!({"CarSetup": {"Wing": "high"}}));
    svc.stop().await;
}

async fn failed_transactions_change_nothing_and_bad_input_is_rejected(b: Backend) {
    let svc = support::session_service_on(&b).await;
    let mut c = svc.sessions().await;
    c.create_or_update_session(create(
        "a",
        "2021-01-01T00:00:00Z",
        vec![Op::SetType("before".into())],
    ))
    .await
    .unwrap();

    let bad_ops: Vec<(Op, &str)> = vec![
        (Op::SetState(3), "state"), // 3 is no SessionState
        (Op::SetTimestamp("yesterday".into()), "timestamp"),
        (Op::SetQuality(1.5), "quality"),
        (
            Op::SetTimeRange(pb::TimeRange {
                start_time: 10,
                end_time: 5,
            }),
            "before start",
        ),
        (
            Op::SetDetailsJson(su::DetailsJson {
                category: String::new(),
                json: "{bad".into(),
            }),
            "JSON",
        ),
        (
            Op::SetDetailsJson(su::DetailsJson {
                category: String::new(),
                json: r#"{"x": {"nested": 1}}"#.into(),
            }),
            "JSON",
        ),
        (
            Op::SetDetailsJson(su::DetailsJson {
                category: String::new(),
                json: r#"{"x": null}"#.into(),
            }),
            "JSON",
        ),
        (
            Op::SetDataBindings(su::DataBindingsList {
                data_bindings: vec![pb::DataBinding::default()],
            }),
            "key",
        ),
        (Op::SetRefAnchors(uris(&[""])), "empty"),
    ];
    for (op, needle) in bad_ops {
        let err = c
            .create_or_update_session(update(
                "a",
                vec![
                    Op::SetType("after".into()),
                    Op::SetIdentifier("changed".into()),
                    op,
                ],
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().contains(needle),
            "{needle:?} not in {:?}",
            err.message()
        );
        let (_, v) = get(&mut c, "a").await;
        assert_eq!(v["type"], "before");
        assert_eq!(v["identifier"], "Session a");
    }
    // A failing create leaves no session behind.
    let err = c
        .create_or_update_session(create(
            "new",
            "2021-01-01T00:00:00Z",
            vec![Op::SetState(99)], // no such SessionState
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = c
        .create_or_update_session(create("new", "not a date", vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut req = create("new", "", vec![]);
    req.create_if_not_exists.as_mut().unwrap().state = 7;
    assert_eq!(
        c.create_or_update_session(req).await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(
        c.get_session(pb::GetSessionRequest {
            identity: "new".into(),
            elements: None
        })
        .await
        .unwrap_err()
        .code(),
        Code::NotFound
    );

    // Oversize messages are refused before they reach the store.
    let huge = "x".repeat(5 * 1024 * 1024);
    let err = c
        .create_or_update_session(update("a", vec![Op::SetIdentifier(huge)]))
        .await
        .unwrap_err();
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
    assert!(!err.message().is_empty());
    let (_, v) = get(&mut c, "a").await;
    assert_eq!(v["identifier"], "Session a");

    // Bad listing arguments.
    for (query, needle) in [
        ("{bad json", "JSON"),
        (r#"{"type": {"$regex": "x"}}"#, "$regex"),
        (r#"{"$xor": []}"#, "$xor"),
        (r#"{"details.a": {"$in": 5}}"#, "$in"),
        (
            r#"{"timestamp": {"$gt": "2021-13-45T00:00:00Z"}}"#,
            "date-time",
        ),
        (r#"{"startTimestamp": "2021-05-06T10:00:00"}"#, "offset"),
    ] {
        let err = c
            .list_sessions(pb::ListSessionsRequest {
                query: query.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{query}");
        let form = format!("query={}", urlencode(query));
        let (status, body) = svc.post_form("/rta/v2/sessions", &form).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{needle} not in {body}"
        );
    }
    let err = c
        .list_sessions(pb::ListSessionsRequest {
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    for q in ["pageSize=-1", "pageIndex=-3", "pageSize=abc"] {
        let (status, body) = svc.get_json(&format!("/rta/v2/sessions?{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert!(body["error"].is_string());
    }
    // `query` is for POST only.
    assert_eq!(svc.get_json("/rta/v2/sessions?query=%7B%7D").await.0, 400);
    svc.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn sequence_makes_stale_updates_harmless(b: Backend) {
    let svc = support::session_service_on(&b).await;
    let mut c = svc.sessions().await;
    let seq = |n: i64, t: &str| pb::CreateOrUpdateSessionRequest {
        identity: "k".into(),
        sequence: Some(n),
        updates: vec![upd(Op::SetType(t.into()))],
        ..Default::default()
    };
    c.create_or_update_session(seq(100, "aaa")).await.unwrap();
    c.create_or_update_session(seq(120, "bbb")).await.unwrap();
    // replayed and older updates are accepted but not applied
    c.create_or_update_session(seq(110, "ccc")).await.unwrap();
    c.create_or_update_session(seq(120, "ddd")).await.unwrap();
    assert_eq!(get(&mut c, "k").await.1["type"], "bbb");
    // unsequenced updates always apply and keep the last sequence
    c.create_or_update_session(update("k", vec![Op::SetType("free".into())]))
        .await
        .unwrap();
    c.create_or_update_session(seq(119, "eee")).await.unwrap();
    assert_eq!(get(&mut c, "k").await.1["type"], "free");
    c.create_or_update_session(seq(121, "fff")).await.unwrap();
    assert_eq!(get(&mut c, "k").await.1["type"], "fff");
    svc.stop().await;
}

async fn folders_moves_deletes_and_orphans(b: Backend) {
    let svc = support::session_service_on(&b).await;
    let mut c = svc.sessions().await;
    let put = |parent: &str, id: &str, label: &str| pb::PutSessionFolderRequest {
        parent_identity: parent.into(),
        identity: id.into(),
        label: label.into(),
        description: format!("{label} folder"),
    };
    c.put_session_folder(put("", "animals", "Animals"))
        .await
        .unwrap();
    c.put_session_folder(put("", "plants", "Plants"))
        .await
        .unwrap();
    c.put_session_folder(put("animals", "animals::felines", "Felines"))
        .await
        .unwrap();
    c.put_session_folder(put("animals::felines", "animals::felines::big", "Big cats"))
        .await
        .unwrap();
    // parent must exist; no cycles; root is fixed
    assert_eq!(
        c.put_session_folder(put("nowhere", "x", "X"))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        c.put_session_folder(put("animals::felines::big", "animals", "Animals"))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );
    assert_eq!(
        c.put_session_folder(put("", "", "Root"))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );

    let (status, root) = svc.get_json("/rta/v2/session-folders/").await;
    assert_eq!(status, 200);
    assert_eq!(
        root,
        json!([
            {"identity": "animals", "label": "Animals", "description": "Animals folder", "hasChildren": true},
            {"identity": "plants", "label": "Plants", "description": "Plants folder", "hasChildren": false}
        ])
    );
    let (_, sub) = svc.get_json("/rta/v2/session-folders/animals").await;
    assert_eq!(sub[0]["identity"], "animals::felines");
    let r = c
        .get_session_folders(pb::GetSessionFoldersRequest {
            parent_identity: "animals::felines".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.folders.len(), 1);
    assert!(!r.folders[0].has_children);

    c.create_or_update_session(create(
        "cat",
        "2021-01-01T00:00:00Z",
        vec![Op::SetFolders(folders(&["animals::felines::big"]))],
    ))
    .await
    .unwrap();
    c.create_or_update_session(create(
        "rose",
        "2021-01-02T00:00:00Z",
        vec![Op::SetFolders(folders(&["plants"]))],
    ))
    .await
    .unwrap();
    c.create_or_update_session(create(
        "both",
        "2021-01-03T00:00:00Z",
        vec![Op::SetFolders(folders(&["animals", "plants"]))],
    ))
    .await
    .unwrap();
    c.create_or_update_session(create("loose", "2021-01-04T00:00:00Z", vec![]))
        .await
        .unwrap();

    let list = |folder: &'static str| {
        let svc = &svc;
        async move {
            ids(&svc
                .get_json(&format!("/rta/v2/sessions?folder={folder}"))
                .await
                .1)
        }
    };
    assert_eq!(list("animals").await, ["both", "cat"]);
    assert_eq!(list("animals%3A%3Afelines").await, ["cat"]);
    assert_eq!(list("plants").await, ["both", "rose"]);
    assert_eq!(list("").await, ["loose", "both", "rose", "cat"]);

    // Move felines under plants: its sessions follow.
    c.put_session_folder(put("plants", "animals::felines", "Felines"))
        .await
        .unwrap();
    assert_eq!(list("plants").await, ["both", "rose", "cat"]);
    assert_eq!(list("animals").await, ["both"]);
    let (_, root) = svc.get_json("/rta/v2/session-folders").await;
    assert_eq!(root[0]["hasChildren"], false);

    // Delete the plants subtree: rose and cat are orphans and go back to the root.
    c.delete_session_folders(pb::DeleteSessionFoldersRequest {
        folder_identities: vec!["plants".into(), "never-existed".into()],
    })
    .await
    .unwrap();
    let (_, root) = svc.get_json("/rta/v2/session-folders/").await;
    assert_eq!(
        root,
        json!([{"identity": "animals", "label": "Animals", "description": "Animals folder", "hasChildren": false}])
    );
    assert!(svc
        .get_json("/rta/v2/session-folders/animals::felines::big")
        .await
        .1
        .as_array()
        .unwrap()
        .is_empty());
    for (id, expect) in [
        ("rose", vec![String::new()]),
        ("cat", vec![String::new()]),
        ("both", vec!["animals".to_string()]),
    ] {
        assert_eq!(get(&mut c, id).await.0.folders, expect, "{id}");
    }
    assert_eq!(list("animals").await, ["both"]);
    assert_eq!(
        c.delete_session_folders(pb::DeleteSessionFoldersRequest {
            folder_identities: vec![String::new()]
        })
        .await
        .unwrap_err()
        .code(),
        Code::InvalidArgument
    );
    svc.stop().await;
}

async fn children_and_alternates_resolve_in_any_order(b: Backend) {
    let svc = support::session_service_on(&b).await;
    let mut c = svc.sessions().await;
    // The model (child) and the downsampled alternate arrive before the telemetry.
    c.create_or_update_session(create(
        "model_session",
        "2021-05-20T10:48:11+01:00",
        vec![
            Op::SetChildOfRefs(uris(&["acq:turbo-encabulator-5/2021-05-20T08:44:21+0000"])),
            Op::SetGroup("aero".into()),
        ],
    ))
    .await
    .unwrap();
    c.create_or_update_session(create(
        "downsampled_session",
        "2021-05-20T10:48:12+01:00",
        vec![Op::SetAlternateOfRefs(uris(&[
            "guid:8319B646-D262-47BF-8BD9-85AECC314C50",
        ]))],
    ))
    .await
    .unwrap();
    // Before the parent exists, the references resolve to nothing: both are top-level.
    let (_, page) = svc.get_json("/rta/v2/sessions").await;
    assert_eq!(ids(&page), ["downsampled_session", "model_session"]);

    c.create_or_update_session(create(
        "telemetry_session",
        "2021-05-20T10:48:10+01:00",
        vec![Op::SetRefAnchors(uris(&[
            "guid:8319B646-D262-47BF-8BD9-85AECC314C50",
            "acq:turbo-encabulator-5/2021-05-20T08:44:21+0000",
        ]))],
    ))
    .await
    .unwrap();
    c.create_or_update_session(create(
        "model_v2",
        "2021-05-20T10:48:13+01:00",
        vec![Op::SetChildOfRefs(uris(&[
            "acq:turbo-encabulator-5/2021-05-20T08:44:21+0000",
        ]))],
    ))
    .await
    .unwrap();

    let (_, page) = svc.get_json("/rta/v2/sessions").await;
    assert_eq!(ids(&page), ["telemetry_session"]);
    let top = &page["sessions"][0];
    assert_eq!(top["children"], json!(["model_session", "model_v2"]));
    assert_eq!(top["alternates"], json!(["downsampled_session"]));
    let (_, child) = svc.get_json("/rta/v2/sessions/downsampled_session").await;
    assert!(
        child.get("children").is_none() && child.get("alternates").is_none(),
        "{child}"
    );

    // gRPC can list sub-sessions too.
    let all = c
        .list_sessions(pb::ListSessionsRequest {
            include_sub_sessions: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.sessions.len(), 4);
    let top_only = c
        .list_sessions(pb::ListSessionsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(top_only.sessions.len(), 1);
    // Default elements: the JSON.
    assert!(top_only.sessions[0].json.contains("telemetry_session"));

    // Removing the anchor detaches them again; deleting a child removes it from the list.
    c.delete_sessions(pb::DeleteSessionsRequest {
        identities: vec!["model_v2".into()],
    })
    .await
    .unwrap();
    let (_, page) = svc.get_json("/rta/v2/sessions").await;
    assert_eq!(page["sessions"][0]["children"], json!(["model_session"]));
    c.create_or_update_session(update(
        "telemetry_session",
        vec![Op::DeleteRefAnchors(uris(&[
            "guid:8319B646-D262-47BF-8BD9-85AECC314C50",
        ]))],
    ))
    .await
    .unwrap();
    let (_, page) = svc.get_json("/rta/v2/sessions").await;
    assert_eq!(ids(&page), ["downsampled_session", "telemetry_session"]);
    svc.stop().await;
}

/// Sessions for the query tests: details of every type, timestamps in several offsets.
async fn seed_query_sessions(
    c: &mut pb::session_store_client::SessionStoreClient<tonic::transport::Channel>,
) {
    let rows = [
        // identity, timestamp, details json, type, quality
        (
            "a",
            "2020-03-13T10:00:00+00:00",
            r#"{"driver": "SAI", "Run": 17, "Lap Time": 81.5, "wet": false, "when": "2020-03-13T12:00:00+02:00"}"#,
            "race",
            Some(0.9),
        ),
        (
            "b",
            "2020-03-13T10:30:00+01:00",
            r#"{"driver": "RIC", "Run": 3, "Lap Time": 79.25, "wet": true, "when": "2020-03-13T09:30:00Z"}"#,
            "test",
            Some(0.5),
        ),
        (
            "c",
            "2020-03-13T05:00:00-04:00",
            r#"{"driver": "NOR", "Run": 200, "when": "not a date"}"#,
            "race",
            None,
        ),
        (
            "d",
            "2020-03-12T23:59:59.999999999Z",
            r#"{"Run": 17.0}"#,
            "model",
            Some(1.0),
        ),
    ];
    for (id, ts, details, ty, q) in rows {
        let mut ops = vec![
            Op::SetDetailsJson(su::DetailsJson {
                category: String::new(),
                json: details.into(),
            }),
            Op::SetType(ty.into()),
            Op::SetIdentifier(format!("Run-20200313-{id}")),
        ];
        if let Some(q) = q {
            ops.push(Op::SetQuality(q));
        }
        c.create_or_update_session(create(id, ts, ops))
            .await
            .unwrap();
    }
    c.create_or_update_session(update(
        "c",
        vec![Op::SetDetailsJson(su::DetailsJson {
            category: "Setup".into(),
            json: r#"{"Wing": 3}"#.into(),
        })],
    ))
    .await
    .unwrap();
}

async fn queries_sorting_and_paging(b: Backend) {
    let svc = support::session_service_on(&b).await;
    let mut c = svc.sessions().await;
    seed_query_sessions(&mut c).await;

    // Instants: a 10:00Z, b 09:30Z, c 09:00Z, d 23:59:59.999999999Z the day before.
    let (_, page) = svc.get_json("/rta/v2/sessions").await;
    assert_eq!(
        ids(&page),
        ["a", "b", "c", "d"],
        "default: timestamp descending"
    );

    let cases: &[(&str, &[&str])] = &[
        (
            r#"{"details.driver": {"$in": ["SAI", "RIC"]}}"#,
            &["a", "b"],
        ),
        (
            r#"{"details.driver": {"$nin": ["SAI", "RIC"]}}"#,
            &["c", "d"],
        ),
        (
            r#"{"identifier": {"$contains": "-20200313-"}, "details.driver": {"$in": ["SAI", "NOR"]}}"#,
            &["a", "c"],
        ),
        (r#"{"details.Run": 17}"#, &["a", "d"]),
        (r#"{"details.Run": {"$gt": 16.5}}"#, &["a", "c", "d"]),
        (r#"{"details.Run": {"$lte": 3}}"#, &["b"]),
        (r#"{"details.Run": {"$eq": "17"}}"#, &[]),
        (r#"{"details.wet": true}"#, &["b"]),
        (r#"{"details.wet": {"$neq": true}}"#, &["a", "c", "d"]),
        (r#"{"details.wet": null}"#, &["c", "d"]),
        (r#"{"details.Lap Time": {"$lt": 80}}"#, &["b"]),
        (
            r#"{"details.when": {"$gt": "2020-03-13T09:45:00Z"}}"#,
            &["a", "c"],
        ),
        (r#"{"details.when": "2020-03-13T10:00:00Z"}"#, &["a"]),
        (
            r#"{"timestamp": {"$gte": "2020-03-13T10:30:00+01:00"}}"#,
            &["a", "b"],
        ),
        (r#"{"timestamp": "2020-03-13T09:00:00Z"}"#, &["c"]),
        (
            r#"{"timestamp": {"$lte": "2020-03-13T01:59:59.999999999+02:00"}}"#,
            &["d"],
        ),
        (
            r#"{"timestamp": {"$lt": "2020-03-13T01:59:59.999999999+02:00"}}"#,
            &[],
        ),
        (r#"{"timestamp": {"$startsWith": "2020-03-13T05"}}"#, &["c"]),
        (r#"{"$not": {"type": "race"}}"#, &["b", "d"]),
        (r#"{"type": {"$not": {"$in": ["race", "test"]}}}"#, &["d"]),
        (
            r#"{"$nor": [{"type": "race"}, {"quality": {"$gte": 1}}]}"#,
            &["b"],
        ),
        (
            r#"{"$or": [{"quality": {"$lt": 0.6}}, {"quality": null}]}"#,
            &["b", "c"],
        ),
        (
            r#"{"$and": [{"type": "race"}, {"details.Run": {"$gte": 100}}]}"#,
            &["c"],
        ),
        (r#"{"quality": {"$gte": 0.5, "$lt": 1}}"#, &["a", "b"]),
        (r#"{"identifier": {"$endsWith": "-c"}}"#, &["c"]),
        (r#"{"state": "closed"}"#, &["a", "b", "c", "d"]),
        (r#"{"extDetails.Setup.Wing": {"$gte": 3}}"#, &["c"]),
        (r#"{"unknownProperty": null}"#, &["a", "b", "c", "d"]),
        (r#"{"unknownProperty": "x"}"#, &[]),
        ("", &["a", "b", "c", "d"]),
    ];
    for (query, expected) in cases {
        let form = format!("query={}&sort=identity:asc", urlencode(query));
        let (status, page) = svc.post_form("/rta/v2/sessions", &form).await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(ids(&page), *expected, "query {query}");
        // gRPC gives the same answer
        let r = c
            .list_sessions(pb::ListSessionsRequest {
                query: query.to_string(),
                sorts: vec!["identity:asc".into()],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let got: Vec<_> = r.sessions.iter().map(|s| s.identity.as_str()).collect();
        assert_eq!(got, *expected, "gRPC query {query}");
    }

    // Sorting: typed, multi-key, missing values last in both directions.
    let sorted = |q: &'static str| {
        let svc = &svc;
        async move { ids(&svc.get_json(&format!("/rta/v2/sessions?{q}")).await.1) }
    };
    assert_eq!(sorted("sort=timestamp:asc").await, ["d", "c", "b", "a"]);
    assert_eq!(
        sorted("sort=details.Run:asc&sort=identity:desc").await,
        ["b", "d", "a", "c"]
    );
    assert_eq!(
        sorted("sort=details.Run:desc&sort=identity:asc").await,
        ["c", "a", "d", "b"]
    );
    assert_eq!(sorted("sort=quality:asc").await, ["b", "a", "d", "c"]);
    assert_eq!(sorted("sort=quality:desc").await, ["d", "a", "b", "c"]);
    assert_eq!(
        sorted("sort=details.wet:desc&sort=identity:asc").await,
        ["b", "a", "c", "d"]
    );
    assert_eq!(
        sorted("sort=type:asc&quality:desc").await,
        ["d", "a", "c", "b"]
    );
    assert_eq!(
        sorted("sort=details.when:asc&sort=identity:asc").await,
        ["b", "a", "c", "d"]
    );
    // Unknown or non-sortable properties are accepted.
    assert_eq!(sorted("sort=nothing:asc").await, ["a", "b", "c", "d"]);

    // Paging.
    assert_eq!(
        sorted("sort=identity:asc&pageSize=3").await,
        ["a", "b", "c"]
    );
    assert_eq!(
        sorted("sort=identity:asc&pageSize=3&pageIndex=1").await,
        ["d"]
    );
    assert!(sorted("pageSize=3&pageIndex=5").await.is_empty());
    assert!(sorted("pageSize=0").await.is_empty());
    let (_, page) = svc
        .post_form(
            "/rta/v2/sessions",
            "pageSize=2&pageIndex=1&sort=identity:asc",
        )
        .await;
    assert_eq!(ids(&page), ["c", "d"]);
    let r = c
        .list_sessions(pb::ListSessionsRequest {
            sorts: vec!["identity:desc".into()],
            page_size: 1,
            page_index: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.sessions[0].identity, "b");

    // extDetails only when asked for with prop.
    let (_, page) = svc
        .post_form("/rta/v2/sessions", "query=%7B%22details.Run%22%3A200%7D")
        .await;
    assert!(page["sessions"][0].get("extDetails").is_none());
    let (_, page) = svc
        .post_form(
            "/rta/v2/sessions",
            "query=%7B%22details.Run%22%3A200%7D&prop=extDetails.Setup.Wing",
        )
        .await;
    assert_eq!(
        page["sessions"][0]["extDetails"],
        json!({"Setup": {"Wing": 3}})
    );
    svc.stop().await;
}

async fn metamodel_and_property_discovery(b: Backend) {
    let svc = support::session_service_on(&b).await;
    let mut c = svc.sessions().await;
    seed_query_sessions(&mut c).await;
    c.create_or_update_session(update(
        "a",
        vec![
            Op::SetGroup("Aero".into()),
            Op::SetVersion("1.0".into()),
            Op::SetTimeRange(pb::TimeRange {
                start_time: 0,
                end_time: 10,
            }),
        ],
    ))
    .await
    .unwrap();

    let (status, mm) = svc.get_json("/rta/v2/session-metamodel").await;
    assert_eq!(status, 200);
    assert_eq!(mm["state"], json!({"sort": true, "filter": true}));
    assert_eq!(
        mm["timestamp"]["capabilities"],
        json!({"sort": true, "filter": true})
    );
    assert_eq!(
        mm["timestamp"]["constraints"],
        json!({"minimum": "2020-03-12T23:59:59.999999999Z", "maximum": "2020-03-13T10:00:00+00:00"})
    );
    assert_eq!(
        mm["startTimestamp"]["constraints"]["minimum"],
        "1970-01-01T00:00:00+00:00"
    );
    assert_eq!(
        mm["type"]["constraints"]["values"],
        json!(["model", "race", "test"])
    );
    assert_eq!(mm["group"]["constraints"]["values"], json!(["Aero"]));
    assert_eq!(mm["version"]["constraints"]["values"], json!(["1.0"]));
    assert_eq!(
        mm["quality"]["constraints"],
        json!({"minimum": 0.5, "maximum": 1.0})
    );
    let d = &mm["details"];
    assert_eq!(d["driver"]["type"], "string");
    assert_eq!(d["driver"]["label"], "driver");
    assert_eq!(
        d["driver"]["constraints"]["values"],
        json!(["NOR", "RIC", "SAI"])
    );
    assert_eq!(d["Run"]["type"], "number");
    assert_eq!(d["wet"]["type"], "boolean");
    assert_eq!(d["wet"]["constraints"]["values"], json!([false, true]));
    assert_eq!(d["Lap Time"]["type"], "number");
    assert_eq!(
        d["when"]["type"], "string",
        "a non-date value makes it a string"
    );
    assert_eq!(mm["extDetails"], json!({}));

    let (_, mm) = svc
        .get_json("/rta/v2/session-metamodel?prop=extDetails.Setup")
        .await;
    assert_eq!(
        mm["extDetails"]["Setup"]["properties"]["Wing"]["type"],
        "integer"
    );

    // Scoped to a folder.
    c.put_session_folder(pb::PutSessionFolderRequest {
        identity: "f".into(),
        label: "F".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    c.create_or_update_session(update("b", vec![Op::SetFolders(folders(&["f"]))]))
        .await
        .unwrap();
    let (_, mm) = svc.get_json("/rta/v2/session-metamodel?folder=f").await;
    assert_eq!(mm["type"]["constraints"]["values"], json!(["test"]));
    assert_eq!(
        mm["details"]["driver"]["constraints"]["values"],
        json!(["RIC"])
    );
    assert!(mm["details"].get("Wing").is_none());
    let grpc_mm = c
        .get_session_metamodel(pb::GetSessionMetamodelRequest {
            folder_subtree: "f".into(),
            json_properties: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    let grpc_mm: Value = serde_json::from_str(&grpc_mm.metamodel_json).unwrap();
    assert_eq!(grpc_mm, mm);

    // Discovery.
    let (status, props) = svc
        .get_json("/rta/v2/session-metamodel/properties?query=details.")
        .await;
    assert_eq!(status, 200);
    let found: Vec<_> = props
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        found,
        [
            "details.Lap Time",
            "details.Run",
            "details.driver",
            "details.wet",
            "details.when",
            "extDetails.Setup.Wing"
        ]
    );
    let (_, props) = svc
        .get_json("/rta/v2/session-metamodel/properties?query=wing")
        .await;
    assert_eq!(
        props,
        json!([{"id": "extDetails.Setup.Wing", "label": "Wing", "description": "Extended detail in group Setup"}])
    );
    let r = c
        .query_session_metamodel(pb::QuerySessionMetamodelRequest {
            partial_match: "TIME".into(),
            folder_subtree: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let found: Vec<_> = r.property_summaries.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        found,
        [
            "timestamp",
            "startTimestamp",
            "endTimestamp",
            "details.Lap Time"
        ]
    );
    svc.stop().await;
}

async fn sessions_survive_restart_and_monitoring_answers(b: Backend) {
    let svc = support::session_service_on(&b).await;
    let mut c = svc.sessions().await;
    c.create_or_update_session(create(
        "persist",
        "2021-01-01T00:00:00+05:30",
        vec![Op::SetType("x".into())],
    ))
    .await
    .unwrap();
    c.put_session_folder(pb::PutSessionFolderRequest {
        identity: "f".into(),
        label: "F".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let (status, health) = svc.get_json("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["checks"][b.check_name()]["status"], "Healthy");
    let (status, root) = svc.get_json("/").await;
    assert_eq!(status, 200);
    assert_eq!(root["name"], "rta-sessionsvc");
    let (status, info) = svc.get_json("/rta/v2/info").await;
    assert_eq!(status, 200);
    assert_eq!(info["authRequired"], false);
    assert_eq!(svc.get_json("/rta/v2/nothing-here").await.0, 404);
    let metrics = svc
        .http
        .get(svc.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "rta_health_status{{check=\"{}\"}} 1",
            b.check_name()
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/rta/v2/info\",status=\"200\"} 1"),
        "{metrics}"
    );
    drop(c);
    svc.stop().await;

    let svc = support::session_service_on(&b).await;
    let (status, s) = svc.get_json("/rta/v2/sessions/persist").await;
    assert_eq!(status, 200);
    assert_eq!(s["timestamp"], "2021-01-01T00:00:00+05:30");
    assert_eq!(s["type"], "x");
    assert_eq!(
        svc.get_json("/rta/v2/session-folders/").await.1[0]["identity"],
        "f"
    );
    svc.stop().await;
}

async fn concurrent_readers_while_writing(b: Backend) {
    let svc = support::session_service_on(&b).await;
    let writer = {
        let mut c = svc.sessions().await;
        tokio::spawn(async move {
            for i in 0..200 {
                c.create_or_update_session(create(
                    &format!("w{i:03}"),
                    "2021-01-01T00:00:00Z",
                    vec![],
                ))
                .await
                .unwrap();
            }
        })
    };
    let mut seen = 0;
    let mut last = 0;
    while !writer.is_finished() && seen < 10_000 {
        let (status, page) = svc.get_json("/rta/v2/sessions?pageSize=1000").await;
        assert_eq!(status, 200);
        let n = ids(&page).len();
        assert!(n >= last, "a reader saw sessions disappear");
        last = n;
        seen += 1;
    }
    writer.await.unwrap();
    assert_eq!(
        ids(&svc.get_json("/rta/v2/sessions?pageSize=500").await.1).len(),
        200
    );
    svc.stop().await;
}

/// Each test on both stores.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Backend::sqlite()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::postgres().await).await
                }
            )*
        }
    };
}

on_both_stores!(
    create_defaults_and_every_update_op,
    failed_transactions_change_nothing_and_bad_input_is_rejected,
    sequence_makes_stale_updates_harmless,
    folders_moves_deletes_and_orphans,
    children_and_alternates_resolve_in_any_order,
    queries_sorting_and_paging,
    metamodel_and_property_discovery,
    sessions_survive_restart_and_monitoring_answers,
    concurrent_readers_while_writing,
);
