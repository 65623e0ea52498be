//! Peak memory while streaming ~10 GiB through binding transforms.
//!
//! `cargo run --release -p rta-bindings --example stream_memory [GiB]`
//!
//! A synthetic data service repeats 64 chunks of realistic periodic data
//! (64 KiB lists, LZ4) with advancing times until the requested volume of
//! lists has been served. Two bindings of one session (a composite: one
//! source passed through but clipped at both ends, the other shifted onto
//! other channels and 300 ms later) are planned, their responses
//! transformed and merged, and every output chunk's header is encoded as a
//! Gateway would before writing header and payload out. The process's peak
//! resident set (VmHWM in /proc/self/status) is printed after 1/10 of the
//! volume and at the end: flat memory means the two are about equal.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "../benches/support/mod.rs"]
mod support;

use std::time::Instant;

use futures::executor::block_on;
use futures::StreamExt;
use rta_bindings::{DataBinding, SessionBindings, SessionRequest};
use rta_core::channels::ChannelExpr;
use rta_core::chunk::{Chunk, ChunkEncoder, Compression};
use rta_core::data::DataKind;
use rta_core::service::ChunkStream;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

/// `count` chunks cycling through `template`, each cycle later in time.
fn synthetic(template: &[Chunk], count: u64, shift_per_cycle: i64) -> ChunkStream {
    let template = template.to_vec();
    let n = template.len() as u64;
    futures::stream::iter((0..count).map(move |i| {
        let mut c = template[(i % n) as usize].clone();
        let cycle = (i / n) as i64;
        c.start += cycle * shift_per_cycle;
        c.end += cycle * shift_per_cycle;
        Ok(c)
    }))
    .boxed()
}

/// Streams `lists_bytes` of lists per binding through plan + transform + merge.
fn run(label: &str, template: &[Chunk], lists_bytes: u64, compression: Compression) -> (u64, u64) {
    let per_chunk = template
        .iter()
        .map(|c| u64::from(c.unpacked_length))
        .sum::<u64>()
        / template.len() as u64;
    let count = lists_bytes / per_chunk / 2;
    let span = template.iter().map(|c| c.end).max().unwrap() - template[0].start + 1;
    let total_span = span * (count / template.len() as u64 + 1) as i64;
    let t0 = template[0].start;
    // A composite session: data channels 0-7 of one source as they are,
    // clipped a second inside both ends; the same channels of another
    // source on session channels 0x100-0x107, 300 ms later.
    let bindings = SessionBindings::new(vec![
        DataBinding::new("a", "data")
            .with_channels(0, 0, 7)
            .with_session_range(
                Some(t0 + 1_000_000_000),
                Some(t0 + total_span - 1_000_000_000),
            ),
        DataBinding::new("b", "data")
            .with_channels(0, 0x100, 0x107)
            .with_offset(300_000_000),
    ])
    .unwrap();
    let plan = bindings
        .plan(
            &SessionRequest::channels(DataKind::Periodic, ChannelExpr::all())
                .with_compression(compression),
        )
        .unwrap();
    let responses = vec![
        synthetic(template, count, span),
        synthetic(template, count, span),
    ];
    let mut stream = plan.merge(responses).unwrap();
    let started = Instant::now();
    let mut enc = ChunkEncoder::new();
    let mut wire = 0u64;
    let mut chunks = 0u64;
    let mut hwm_early = 0;
    block_on(async {
        while let Some(c) = stream.next().await {
            let c = c.unwrap();
            wire += enc.header(&c).unwrap().len() as u64 + c.payload.len() as u64;
            chunks += 1;
            if chunks == count * 2 / 10 {
                hwm_early = vm_hwm_kib();
            }
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let hwm = vm_hwm_kib();
    println!(
        "{label}: {chunks} chunks out, {:.2} GiB of lists in, {:.2} GiB on the wire out, {secs:.1} s; \
         VmHWM after 1/10 of the chunks: {hwm_early} KiB, at the end: {hwm} KiB",
        (2 * count * per_chunk) as f64 / (1u64 << 30) as f64,
        wire as f64 / (1u64 << 30) as f64,
    );
    (hwm_early, hwm)
}

fn main() {
    let gib: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10.0);
    let bytes = (gib * (1u64 << 30) as f64) as u64;
    let template = support::dataset(64);
    println!("VmHWM before streaming: {} KiB", vm_hwm_kib());
    run("rewritten chunks LZ4", &template, bytes, Compression::Lz4);
    run(
        "rewritten chunks uncompressed",
        &template,
        bytes,
        Compression::None,
    );
}
