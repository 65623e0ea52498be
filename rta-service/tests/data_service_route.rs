//! The data-microservice route (`/rta/v2/data/{dataIdentity}/...`) on a real
//! socket: any data identity, URL-encoded in one path segment, reads back the
//! data written under it; errors are those of the public route.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rta_adapters::memory::MemoryData;
use rta_core::chunk::ChunkDecoder;
use rta_core::data::{periodic, DataList};
use rta_core::framing::Framed;
use rta_core::proto::data::{Event, EventsList, PeriodicDataList};
use rta_core::write::DataSink;
use rta_service::{data, serve};

/// Percent-encodes every byte outside the unreserved set.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn any_data_identity_reads_back_over_the_microservice_route() {
    let mem = Arc::new(MemoryData::new());
    // An InfluxQL-style filter with quotes, a slash, spaces and non-ASCII.
    let identity = "someData='50835ebe-1f2a' AND car/2 = 'zwölf'";
    mem.write(
        identity,
        vec![
            periodic(4, 0, 1_000_000, &[1.5f64; 300]).unwrap().into(),
            Event {
                timestamp: 5,
                ..Default::default()
            }
            .into(),
        ],
    )
    .await
    .unwrap();
    let app = data::data_service_router(Arc::new(Framed(mem.clone())));
    let any = "127.0.0.1:0".parse().unwrap();
    let srv = serve::spawn(any, app, None).await.unwrap();
    let base = format!("http://{}/rta/v2/data/{}", srv.http_addr, encode(identity));
    let client = reqwest::Client::new();

    let resp = client
        .get(format!("{base}/periodic/0-F"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.mat.protobuf+chunked"
    );
    let chunks = ChunkDecoder::decode_all(resp.bytes().await.unwrap()).unwrap();
    let samples: i32 = chunks
        .iter()
        .map(|c| c.decode_list::<PeriodicDataList>().unwrap())
        .flat_map(|l| l.periodic_data)
        .map(|d| d.samples)
        .sum();
    assert_eq!(samples, 300);

    let resp = client.get(format!("{base}/events")).send().await.unwrap();
    let chunks = ChunkDecoder::decode_all(resp.bytes().await.unwrap()).unwrap();
    let events: usize = chunks
        .iter()
        .map(|c| c.decode_list::<EventsList>().unwrap().items().len())
        .sum();
    assert_eq!(events, 1);

    // Unknown data identities are empty, not 404: a data service cannot
    // tell an identity without data from one that does not exist.
    let resp = client
        .get(format!(
            "http://{}/rta/v2/data/nothing/periodic/0",
            srv.http_addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.unwrap().is_empty());

    // Errors name what was wrong, as on the public route.
    let resp = client
        .get(format!("{base}/periodic/XYZ"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("XYZ"), "{body}");
    let resp = client
        .get(format!("{base}/periodic/0?start=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // Behind a gateway a binding's time shift can make a request start
    // before the epoch: the microservice route takes it.
    let resp = client
        .get(format!("{base}/periodic/0?start=-300000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client
        .get(format!("{base}/nonsense/0"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    srv.stop().await.unwrap();
}
