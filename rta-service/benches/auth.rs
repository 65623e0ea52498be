//! What bearer tokens cost: validating a token seen for the first time
//! (the signature check, key cached), validating one seen before (what
//! every further request with it costs), and the REST fast-path read of a
//! closed session through the same router with and without the auth layer,
//! in the same run.
//!
//! The issuer is served by the bench on loopback (keys generated here), as
//! in `tests/auth.rs`; the key is fetched once, on the first request.
//! After the criterion group, a paired run alternates blocks of requests
//! with and without auth and prints the median of the block-by-block
//! ratios (the machines are noisy; pairing cancels most of it).
//!
//! `cargo bench -p rta-service --bench auth`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/issuer.rs"]
mod issuer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::StreamExt;
use rta_adapters::native::{NativeConfig, NativeStore};
use rta_core::data::timestamped;
use rta_core::write::WriteItem;
use rta_service::auth::{AuthOptions, Authenticator};
use rta_service::monitor::{service_router, ServiceInfo};
use rta_service::{data, serve};

const CHANNELS: u32 = 32;
const SAMPLES: usize = 16_384;
const T0: i64 = 1_700_000_000_000_000_000;

async fn fetch(client: &reqwest::Client, url: &str, token: Option<&str>) -> usize {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut s = resp.bytes_stream();
    let mut n = 0;
    while let Some(b) = s.next().await {
        n += b.unwrap().len();
    }
    n
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = NativeStore::open(NativeConfig::new(dir.path())).unwrap();
    for ch in 0..CHANNELS {
        let items: Vec<WriteItem> = (0..SAMPLES / 128)
            .map(|r| {
                let t: Vec<i64> = (0..128)
                    .map(|i| T0 + ((r * 128 + i) as i64) * 1_000_000)
                    .collect();
                let v: Vec<f64> = (0..128)
                    .map(|i| ((r * 128 + i) as f64 * 0.003 + f64::from(ch)).sin())
                    .collect();
                timestamped(ch, &t, &v).unwrap().into()
            })
            .collect();
        store.write_blocking("s", items).unwrap();
    }
    store.seal_blocking("s").unwrap();
    let samples = u64::from(CHANNELS) * SAMPLES as u64;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let key = issuer::es256_key("k1");
    let (auth, token, open_url, auth_url, _servers) = rt.block_on(async {
        let (_issuer, issuer_srv, iss) = issuer::start_issuer(&[&key]).await;
        let auth = Authenticator::new(AuthOptions {
            authority: iss.clone(),
            audience: issuer::AUDIENCE.to_string(),
            write_scope: None,
            ca_file: None,
        })
        .unwrap();
        let token = issuer::token(&key, "k1", &issuer::claims(&iss, serde_json::json!({})));
        let api = data::data_router_with(Arc::new(store.clone()), None);
        let loopback = "127.0.0.1:0".parse().unwrap();
        let open = serve::spawn(
            loopback,
            service_router(ServiceInfo::new("open"), api.clone()),
            None,
        )
        .await
        .unwrap();
        let info = ServiceInfo::new("auth").with_auth(Some(auth.clone()));
        let authed = serve::spawn(loopback, service_router(info, api), None)
            .await
            .unwrap();
        let path = "/rta/v2/sessions/s/data/timestamped/-";
        (
            auth,
            token,
            format!("{}{path}", open.http_url()),
            format!("{}{path}", authed.http_url()),
            (issuer_srv, open, authed),
        )
    });
    let client = reqwest::Client::new();
    let size = rt.block_on(fetch(&client, &open_url, None));
    assert_eq!(rt.block_on(fetch(&client, &auth_url, Some(&token))), size);
    println!("closed session: {samples} samples, response body {size} bytes");

    let header = format!("Bearer {token}");
    let mut g = c.benchmark_group("auth");
    g.throughput(Throughput::Elements(1));
    // A token seen for the first time: the signature check (key cached).
    let iss = auth.options().authority.clone();
    let mut serial = 0u64;
    g.bench_function("validate_first_sight", |b| {
        b.iter_custom(|iters| {
            let headers: Vec<String> = (0..iters)
                .map(|_| {
                    serial += 1;
                    let c = issuer::claims(&iss, serde_json::json!({ "jti": serial }));
                    format!("Bearer {}", issuer::token(&key, "k1", &c))
                })
                .collect();
            let t = Instant::now();
            for h in &headers {
                rt.block_on(auth.validate(Some(h))).unwrap();
            }
            t.elapsed()
        })
    });
    // The same token again: found among the validated ones.
    g.bench_function("validate_repeat", |b| {
        b.iter(|| rt.block_on(auth.validate(Some(&header))).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("auth_read");
    g.throughput(Throughput::Elements(samples));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("rest_fast_path_no_auth", |b| {
        b.iter(|| rt.block_on(fetch(&client, &open_url, None)))
    });
    g.bench_function("rest_fast_path_bearer", |b| {
        b.iter(|| rt.block_on(fetch(&client, &auth_url, Some(&token))))
    });
    g.finish();

    paired(&rt, &client, &open_url, &auth_url, &token);
}

/// Rounds of a block of unauthenticated reads and a block of authenticated
/// ones (order alternating); prints the median and quartiles of
/// authenticated ÷ unauthenticated sample rate.
fn paired(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    open: &str,
    authed: &str,
    token: &str,
) {
    const ROUNDS: usize = 24;
    const PER_BLOCK: usize = 16;
    let block = |url: &str, token: Option<&str>| -> f64 {
        let t = Instant::now();
        rt.block_on(async {
            for _ in 0..PER_BLOCK {
                fetch(client, url, token).await;
            }
        });
        t.elapsed().as_secs_f64()
    };
    let mut ratios = Vec::with_capacity(ROUNDS);
    for r in 0..ROUNDS {
        let (t_open, t_auth) = if r % 2 == 0 {
            let o = block(open, None);
            (o, block(authed, Some(token)))
        } else {
            let a = block(authed, Some(token));
            (block(open, None), a)
        };
        ratios.push(t_open / t_auth);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "paired rest_fast_path_bearer / rest_fast_path_no_auth: rate ratio median {:.3} \
         (quartiles {:.3}-{:.3}, {ROUNDS} rounds of {PER_BLOCK} requests)",
        ratios[ROUNDS / 2],
        ratios[ROUNDS / 4],
        ratios[3 * ROUNDS / 4],
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
