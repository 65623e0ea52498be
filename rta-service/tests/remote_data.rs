//! `RemoteDataService` against real data services on loopback: it reads back
//! exactly what a direct read gives, and a service that refuses, fails, cuts
//! a body short or is not there gives a clear error, never a panic or a hang.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::routing::get;
use futures::StreamExt;
use rta_adapters::memory::MemoryData;
use rta_adapters::remote::RemoteDataService;
use rta_core::chunk::Chunk;
use rta_core::data::{periodic, timestamped, DataKind};
use rta_core::framing::Framed;
use rta_core::service::{DataRequest, DataService};
use rta_core::write::DataSink;
use rta_core::Error;
use rta_service::{data, serve};

async fn collect(svc: &dyn DataService, req: DataRequest) -> rta_core::Result<Vec<Chunk>> {
    let mut out = Vec::new();
    let mut s = svc.read(req).await?;
    while let Some(c) = s.next().await {
        out.push(c?);
    }
    Ok(out)
}

fn any() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[tokio::test]
async fn remote_reads_equal_direct_reads() {
    let mem = Arc::new(MemoryData::new());
    let identity = "run/7 ?#% 'quoted' ünïcode";
    let times: Vec<i64> = (0..5_000).map(|i| i * 7_000_000).collect();
    let values: Vec<f64> = (0..5_000).map(f64::from).collect();
    mem.write(
        identity,
        vec![
            periodic(2, 0, 1_000_000, &[3u16; 40_000]).unwrap().into(),
            timestamped(9, &times, &values).unwrap().into(),
        ],
    )
    .await
    .unwrap();
    let srv = serve::spawn(
        any(),
        data::data_service_router(Arc::new(Framed(mem.clone()))),
        None,
    )
    .await
    .unwrap();
    let remote = RemoteDataService::new(&format!("http://{}", srv.http_addr)).unwrap();
    let requests = [
        DataRequest::channels(DataKind::Periodic, identity, "0-F".parse().unwrap()),
        DataRequest::channels(DataKind::Timestamped, identity, "9".parse().unwrap())
            .with_bounds(Some(5_000_000_000), Some(20_000_000_000)),
        DataRequest::channels(DataKind::Periodic, "absent", "2".parse().unwrap()),
        DataRequest::events(identity),
    ];
    for req in requests {
        let direct = collect(mem.as_ref(), req.clone()).await.unwrap();
        let through = collect(&remote, req.clone()).await.unwrap();
        assert_eq!(through.len(), direct.len(), "{req:?}");
        for (a, b) in through.iter().zip(&direct) {
            assert_eq!(
                (a.start, a.end, &a.channel_ids, &a.payload),
                (b.start, b.end, &b.channel_ids, &b.payload)
            );
        }
    }
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn failures_are_clear_errors() {
    // A service that answers 500, and one that cuts its body short.
    let broken = axum::Router::new()
        .route(
            "/rta/v2/data/{id}/events",
            get(|| async {
                (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "disk on fire",
                )
            }),
        )
        .route(
            "/rta/v2/data/{id}/{kind}/{channels}",
            get(|| async { vec![40u8, 0, 0, 0, 1, 2] }),
        );
    let srv = serve::spawn(any(), broken, None).await.unwrap();
    let remote = RemoteDataService::new(&format!("http://{}", srv.http_addr)).unwrap();

    let e = collect(&remote, DataRequest::events("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Upstream(m) if m.contains("500") && m.contains("disk on fire")),
        "{e}"
    );
    assert_eq!(e.http_status(), 502);

    let req = DataRequest::channels(DataKind::Row, "x", "1".parse().unwrap());
    let e = collect(&remote, req).await.unwrap_err();
    assert!(
        matches!(&e, Error::Upstream(m) if m.contains("truncated")),
        "{e}"
    );
    srv.stop().await.unwrap();

    // A real data service refusing a request: its message comes through.
    let good = serve::spawn(
        any(),
        data::data_service_router(Arc::new(Framed(Arc::new(MemoryData::new())))),
        None,
    )
    .await
    .unwrap();
    let remote = RemoteDataService::new(&format!("http://{}/", good.http_addr)).unwrap();
    let bad = DataRequest::events("x").with_bounds(Some(10), Some(5));
    // Checked before any request leaves.
    assert!(collect(&remote, bad).await.is_err());
    let addr = good.http_addr;
    good.stop().await.unwrap();

    // Nothing listening any more: an upstream error naming the service.
    let remote = RemoteDataService::new(&format!("http://{addr}")).unwrap();
    let e = collect(&remote, DataRequest::events("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Upstream(m) if m.contains(&addr.to_string())),
        "{e}"
    );
}
