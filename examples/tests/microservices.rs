//! The microservice deployment, every service its own process on loopback:
//! `rta-sessionsvc`, `rta-configsvc`, two `rta-datasvc` and `rta-gatewaysvc`,
//! configured with the toolkit's options. Data written through `DataWriter`
//! to each data service is read back through the gateway by session
//! bindings; a data service that goes away gives 502/503 and the gateway
//! recovers when it returns.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;

use futures::StreamExt;
use rta::bindings::model::DataBinding;
use rta::core::chunk::ChunkDecoder;
use rta::core::data::{periodic, read_samples};
use rta::core::proto::data::PeriodicDataList;
use rta::core::proto::data_service::data_reader_client::DataReaderClient;
use rta::core::proto::data_service::{
    data_writer_client::DataWriterClient, write_data_stream_message::Type as W,
    write_data_stream_response_message::Type as R, ReadChannelDataStreamRequest,
    WriteDataStreamMessage,
};
use rta::core::proto::session_service::session_store_client::SessionStoreClient;
use rta::core::session::SessionState;
use rta::core::session_request::SessionRequest;
use support::{free_port, Service};

async fn write(svc: &Service, identity: &str, value: f64) {
    let mut client = DataWriterClient::connect(svc.grpc_uri()).await.unwrap();
    let item = periodic(0, 0, 1_000_000, &[value; 1_000]).unwrap();
    let msgs = [
        W::DataIdentity(identity.into()),
        W::PeriodicData(item),
        W::FlushMarker("f".into()),
    ]
    .map(|t| WriteDataStreamMessage { r#type: Some(t) });
    let mut resp = client
        .write_data_stream(futures::stream::iter(msgs))
        .await
        .unwrap()
        .into_inner();
    let first = resp.next().await.unwrap().unwrap();
    assert_eq!(first.r#type, Some(R::FlushCompleted("f".into())));
}

/// `(channel, first timestamp, sample count, every value)` per periodic item.
async fn periodic_via(url: &str) -> (u16, Vec<(u32, i64, usize, Vec<f64>)>) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    let mut out = Vec::new();
    if status == 200 {
        let body = resp.bytes().await.unwrap();
        for chunk in ChunkDecoder::decode_all(body).unwrap() {
            for p in chunk
                .decode_list::<PeriodicDataList>()
                .unwrap()
                .periodic_data
            {
                let v = read_samples::<f64>(&p.buffer).unwrap();
                out.push((p.channel_id, p.start_timestamp, v.len(), v));
            }
        }
    }
    (status, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_sessions_config_and_two_data_services_as_processes() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).display().to_string();
    let (s_dir, c_dir, a_dir, b_dir) = (d("s"), d("c"), d("a"), d("b"));

    let sessions = Service::start(
        env!("CARGO_BIN_EXE_rta-sessionsvc"),
        dir.path(),
        &["--data-dir", &s_dir],
        &[],
    )
    .await;
    let configs = Service::start(
        env!("CARGO_BIN_EXE_rta-configsvc"),
        dir.path(),
        &["--data-dir", &c_dir],
        &[],
    )
    .await;
    let datasvc = env!("CARGO_BIN_EXE_rta-datasvc");
    let alpha = Service::start(datasvc, dir.path(), &["--FilePath", &a_dir], &[]).await;
    let (b_http, b_grpc) = (free_port(), free_port());
    let beta_args = ["--Store", "File"];
    let beta_env = [("RTA_FILEPATH", b_dir.as_str())];
    let mut beta = Service::start_on(
        datasvc,
        dir.path(),
        b_http,
        Some(b_grpc),
        &beta_args,
        &beta_env,
    )
    .await;

    write(&alpha, "a-1", 7.0).await;
    write(&beta, "b-1", 9.0).await;

    // The session: channel 0 from alpha, channel 1 from beta 300 ms later.
    let bindings = [
        DataBinding::new("alpha", "a-1").with_channels(0, 0, 0),
        DataBinding::new("beta", "b-1")
            .with_channels(0, 1, 1)
            .with_offset(300_000_000),
    ];
    let mut client = SessionStoreClient::connect(sessions.grpc_uri())
        .await
        .unwrap();
    client
        .create_or_update_session(
            SessionRequest::new("s1", SessionState::Closed)
                .identifier("Run 1")
                .data_binding(bindings[0].to_proto())
                .data_binding(bindings[1].to_proto())
                .build(),
        )
        .await
        .unwrap();

    let s_url = sessions.url("/");
    let c_url = configs.url("/");
    let a_url = alpha.url("/");
    let b_url = beta.url("/");
    let gateway = Service::start_on(
        env!("CARGO_BIN_EXE_rta-gatewaysvc"),
        dir.path(),
        free_port(),
        None,
        &[
            "--SessionServiceUri",
            &s_url,
            "--ConfigServiceUri",
            &c_url,
            "--DataServiceUris:alpha",
            &a_url,
        ],
        &[("RTA_DataServiceUris__beta", b_url.as_str())],
    )
    .await;

    // Data through the gateway, composed by the bindings.
    let data_url = gateway.url("/rta/v2/sessions/s1/data/periodic/0-1");
    let (status, items) = periodic_via(&data_url).await;
    assert_eq!(status, 200);
    let ch0: Vec<_> = items.iter().filter(|i| i.0 == 0).collect();
    let ch1: Vec<_> = items.iter().filter(|i| i.0 == 1).collect();
    assert_eq!(ch0.iter().map(|i| i.2).sum::<usize>(), 1_000);
    assert_eq!(ch1.iter().map(|i| i.2).sum::<usize>(), 1_000);
    assert_eq!(ch0[0].1, 0);
    assert_eq!(ch1[0].1, 300_000_000, "beta's binding shifts it by 300 ms");
    assert!(ch0.iter().all(|i| i.3.iter().all(|v| *v == 7.0)));
    assert!(ch1.iter().all(|i| i.3.iter().all(|v| *v == 9.0)));

    // The private bindings route is not public; every service answers.
    let r = reqwest::get(gateway.url("/rta/v2/sessions/s1/data-bindings"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let health = reqwest::get(gateway.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200);

    // The data route and DataReader on a data service itself.
    let (status, direct) = periodic_via(&alpha.url("/rta/v2/data/a-1/periodic/0")).await;
    assert_eq!(
        (status, direct.iter().map(|i| i.2).sum::<usize>()),
        (200, 1_000)
    );
    let mut reader = DataReaderClient::connect(alpha.grpc_uri()).await.unwrap();
    let n: usize = reader
        .read_periodic_data_stream(ReadChannelDataStreamRequest {
            data_identity: "a-1".into(),
            channels: "0".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .map(|l| {
            l.unwrap()
                .periodic_data
                .iter()
                .map(|p| p.samples as usize)
                .sum::<usize>()
        })
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    assert_eq!(n, 1_000);

    // Beta goes away: its part is a 502 with a message, health is 503.
    beta.stop();
    let resp = reqwest::get(&data_url).await.unwrap();
    assert_eq!(resp.status(), 502);
    assert!(!resp.text().await.unwrap().is_empty());
    let health = reqwest::get(gateway.url("/health")).await.unwrap();
    assert_eq!(health.status(), 503);
    let (status, only_alpha) =
        periodic_via(&gateway.url("/rta/v2/sessions/s1/data/periodic/0")).await;
    assert_eq!(status, 200, "channel 0 needs only alpha");
    assert_eq!(only_alpha.iter().map(|i| i.2).sum::<usize>(), 1_000);

    // Beta returns on the same ports with its data: the gateway recovers.
    let beta = Service::start_on(
        datasvc,
        dir.path(),
        b_http,
        Some(b_grpc),
        &beta_args,
        &beta_env,
    )
    .await;
    let (status, items) = periodic_via(&data_url).await;
    assert_eq!(status, 200);
    assert_eq!(items.iter().map(|i| i.2).sum::<usize>(), 2_000);
    let health = reqwest::get(gateway.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    drop((gateway, beta, alpha, configs, sessions));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_service_roles_follow_enable_read_and_enable_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w").display().to_string();
    let datasvc = env!("CARGO_BIN_EXE_rta-datasvc");
    let write_only = Service::start(
        datasvc,
        dir.path(),
        &["--FilePath", &path],
        &[("RTA_EnableRead", "false")],
    )
    .await;
    write(&write_only, "w-1", 1.0).await;
    let r = reqwest::get(write_only.url("/rta/v2/data/w-1/periodic/0"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "no data route on a write-only instance");
    let mut reader = DataReaderClient::connect(write_only.grpc_uri())
        .await
        .unwrap();
    let err = reader
        .read_periodic_data_stream(ReadChannelDataStreamRequest {
            data_identity: "w-1".into(),
            channels: "0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    drop(write_only);

    // The same store, read-only: the data is there, writes are refused.
    let read_only = Service::start(
        datasvc,
        dir.path(),
        &["--FilePath", &path, "--EnableWrite", "false"],
        &[],
    )
    .await;
    let (status, items) = periodic_via(&read_only.url("/rta/v2/data/w-1/periodic/0")).await;
    assert_eq!(
        (status, items.iter().map(|i| i.2).sum::<usize>()),
        (200, 1_000)
    );
    let mut writer = DataWriterClient::connect(read_only.grpc_uri())
        .await
        .unwrap();
    let msgs = [WriteDataStreamMessage {
        r#type: Some(W::DataIdentity("w-2".into())),
    }];
    let err = writer
        .write_data_stream(futures::stream::iter(msgs))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
}

/// A CA and a `localhost`/127.0.0.1 server certificate in `dir`:
/// `(ca.pem, cert.pem, key.pem)`.
fn test_certificates(dir: &Path) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let write = |name: &str, pem: String| {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        p.display().to_string()
    };
    (
        write("ca.pem", ca.pem()),
        write("cert.pem", leaf.pem()),
        write("key.pem", key.serialize_pem()),
    )
}

/// The session service over TLS with its private data-bindings route on a
/// separate internal listener, and a gateway that trusts the deployment's
/// CA (`TlsCaFile`) and reads bindings from `SessionServiceBindingsUri`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_services_and_an_internal_bindings_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_certificates(dir.path());
    let tls = ["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];
    let (s_dir, a_dir) = (
        dir.path().join("s").display().to_string(),
        dir.path().join("a").display().to_string(),
    );
    let (s_https, internal) = (free_port(), free_port());
    let (s_https_s, internal_s) = (s_https.to_string(), internal.to_string());
    let mut args = vec!["--data-dir", &s_dir, "--https-port", &s_https_s];
    args.extend([
        "--InternalHttpPort",
        &internal_s,
        "--InternalBind",
        "127.0.0.1",
    ]);
    args.extend(tls);
    let sessions =
        Service::start(env!("CARGO_BIN_EXE_rta-sessionsvc"), dir.path(), &args, &[]).await;
    let alpha = Service::start(
        env!("CARGO_BIN_EXE_rta-datasvc"),
        dir.path(),
        &["--FilePath", &a_dir],
        &[],
    )
    .await;
    write(&alpha, "a-1", 5.0).await;

    // gRPC is TLS-only now: create the session with a client trusting the CA.
    let channel =
        tonic::transport::Endpoint::from_shared(format!("https://127.0.0.1:{}", sessions.grpc))
            .unwrap()
            .tls_config(
                tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(
                        std::fs::read(&ca).unwrap(),
                    ))
                    .domain_name("localhost"),
            )
            .unwrap()
            .connect()
            .await
            .unwrap();
    SessionStoreClient::new(channel)
        .create_or_update_session(
            SessionRequest::new("s1", SessionState::Closed)
                .data_binding(
                    DataBinding::new("alpha", "a-1")
                        .with_channels(0, 0, 0)
                        .to_proto(),
                )
                .build(),
        )
        .await
        .unwrap();

    // The private route only on the internal listener.
    let bindings = "/rta/v2/sessions/s1/data-bindings";
    assert_eq!(
        reqwest::get(sessions.url(bindings)).await.unwrap().status(),
        404
    );
    let internal_url = format!("http://127.0.0.1:{internal}");
    let r = reqwest::get(format!("{internal_url}{bindings}"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::get(format!("{internal_url}/rta/v2/sessions"))
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "the internal listener serves nothing public"
    );

    let s_url = format!("https://127.0.0.1:{s_https}");
    let gateway = Service::start_on(
        env!("CARGO_BIN_EXE_rta-gatewaysvc"),
        dir.path(),
        free_port(),
        None,
        &[
            "--SessionServiceUri",
            &s_url,
            "--SessionServiceBindingsUri",
            &internal_url,
            "--ConfigServiceUri",
            &s_url,
            "--DataServiceUris:alpha",
            &alpha.url("/"),
            "--TlsCaFile",
            &ca,
        ],
        &[],
    )
    .await;
    let r = reqwest::get(gateway.url("/rta/v2/sessions/s1"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let data_url = gateway.url("/rta/v2/sessions/s1/data/periodic/0");
    let (status, items) = periodic_via(&data_url).await;
    if status != 200 {
        let body = reqwest::get(&data_url).await.unwrap().text().await.unwrap();
        let log = std::fs::read_to_string(&gateway.log).unwrap_or_default();
        panic!("gateway data: {status} {body}\n{log}");
    }
    assert_eq!(items.iter().map(|i| i.2).sum::<usize>(), 1_000);
    assert!(items.iter().all(|i| i.3.iter().all(|v| *v == 5.0)));
}
