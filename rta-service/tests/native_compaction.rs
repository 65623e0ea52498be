//! Compaction of the native store's data log, on real files: every sample
//! kept (before and after reopening), the space of superseded payloads
//! given back, reads under way across a compaction, automatic compaction
//! after a seal, and crashes in the middle of one (leftover files as a crash
//! leaves them, and a child process killed with SIGKILL).
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rta_adapters::native::{Backend, FileBackend, IdentityStorage, NativeConfig, NativeStore};
use rta_core::chunk::Chunk;
use rta_core::data::{periodic, read_samples, read_timestamps, row, timestamped, DataKind};
use rta_core::proto::data::{Event, TimestampedDataList};
use rta_core::service::{DataRequest, DataService};
use rta_core::write::WriteItem;
use rta_service::data;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_700_000_000 * S;

/// A store that compacts only when asked.
fn manual(dir: &Path) -> NativeStore {
    NativeStore::open(NativeConfig::new(dir).with_compaction(1.0, 0)).unwrap()
}

fn req(kind: DataKind, id: &str, ch: &str) -> DataRequest {
    DataRequest::channels(kind, id, ch.parse().unwrap())
}

/// Noisy values (they do not compress to nothing), a fixed sequence.
fn noise(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 100_000) as f64 / 7.0
        })
        .collect()
}

/// Every chunk of every kind for an identity, in read order.
fn read_all(st: &NativeStore, id: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    for kind in [DataKind::Timestamped, DataKind::Periodic, DataKind::Row] {
        out.extend(st.read_blocking(&req(kind, id, "-")).unwrap());
    }
    out.extend(st.read_blocking(&DataRequest::events(id)).unwrap());
    out
}

/// `time -> value` of the timestamped f64 samples of `chunks`.
fn ts_values(chunks: &[Chunk]) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for c in chunks {
        let list: TimestampedDataList = c.decode_list().unwrap();
        for it in &list.timestamped_data {
            let ts = read_timestamps(it).unwrap();
            let vs = read_samples::<f64>(&it.buffer).unwrap();
            for (t, v) in ts.into_iter().zip(vs) {
                assert!(out.insert(t, v).is_none(), "sample at {t} stored twice");
            }
        }
    }
    out
}

/// Log files in an identity's directory (`i-<identity>`).
fn log_files(root: &Path, id: &str) -> BTreeSet<String> {
    std::fs::read_dir(root.join(format!("i-{id}")))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Seconds `from..to` of a writer flushing every second: two timestamped
/// channels at 1 kHz, one periodic channel at 500 Hz, a row group at 10 Hz,
/// an event a second; then one second of channel 1 sent again with new
/// values (a merge). Returns the expected channel 1 and 2 values.
fn write_seconds(st: &NativeStore, id: &str, from: i64, to: i64, exp: &mut BTreeMap<i64, f64>) {
    for sec in from..to {
        let t0 = T0 + sec * S;
        let t: Vec<i64> = (0..1000).map(|i| t0 + i * 1_000_000).collect();
        let a = noise(sec as u64, 1000);
        let b = noise(1000 + sec as u64, 1000);
        let p = noise(2000 + sec as u64, 500);
        let mut items: Vec<WriteItem> = vec![
            timestamped(1, &t, &a).unwrap().into(),
            timestamped(2, &t, &b).unwrap().into(),
            periodic(3, t0, 2_000_000, &p).unwrap().into(),
        ];
        for r in 0..10 {
            items.push(row(vec![7, 8], t0 + r * S / 10, vec![(sec + r) as u8; 8]).into());
        }
        items.push(
            Event {
                event_definition_id: 1,
                app_name: "app".into(),
                timestamp: t0 + 5,
                status_text: format!("second {sec}"),
                raw_data: vec![sec as f64],
            }
            .into(),
        );
        for (t, v) in t.iter().zip(&a) {
            exp.insert(*t, *v);
        }
        for (t, v) in t.iter().zip(&b) {
            exp.insert(*t + 1, *v); // channel 2, told apart by an odd time
        }
        st.write_blocking(id, items).unwrap();
        if sec % 7 == 3 && sec > from {
            // Late data: the previous second of channel 1 again.
            let tl: Vec<i64> = (0..1000).map(|i| t0 - S + i * 1_000_000).collect();
            let vl = noise(5000 + sec as u64, 1000);
            for (t, v) in tl.iter().zip(&vl) {
                exp.insert(*t, *v);
            }
            st.write_blocking(id, vec![timestamped(1, &tl, &vl).unwrap().into()])
                .unwrap();
        }
        st.flush_blocking(id).unwrap();
    }
}

/// Channel 1 and 2 samples as `write_seconds` records them.
fn channels_1_2(st: &NativeStore, id: &str) -> BTreeMap<i64, f64> {
    let mut out = ts_values(
        &st.read_blocking(&req(DataKind::Timestamped, id, "1"))
            .unwrap(),
    );
    for (t, v) in ts_values(
        &st.read_blocking(&req(DataKind::Timestamped, id, "2"))
            .unwrap(),
    ) {
        out.insert(t + 1, v);
    }
    out
}

#[test]
fn compaction_keeps_every_sample_and_gives_the_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut exp = BTreeMap::new();
    let (before, chunks_before) = {
        let st = manual(dir.path());
        write_seconds(&st, "s", 0, 40, &mut exp);
        st.seal_blocking("s").unwrap();
        let before = st.identity_stats("s").unwrap();
        assert!(
            before.stored_bytes_per_sample() > 1.15 * before.bytes_per_sample(),
            "{before:?}"
        );
        let chunks = read_all(&st, "s");
        assert_eq!(channels_1_2(&st, "s"), exp);

        let report = st.compact_blocking("s").unwrap().unwrap();
        assert_eq!(report.stored_before, before.stored_bytes);
        assert_eq!(report.chunks, before.chunks);
        let after = st.identity_stats("s").unwrap();
        assert_eq!(report.stored_after, after.stored_bytes);
        assert_eq!(
            (
                after.samples,
                after.chunks,
                after.payload_bytes,
                after.streams
            ),
            (
                before.samples,
                before.chunks,
                before.payload_bytes,
                before.streams
            )
        );
        // What is left besides the payloads is the new index: a declaration
        // per stream and an entry per chunk.
        assert!(
            after.stored_bytes < after.payload_bytes + 64 * after.chunks as u64 + 256,
            "{after:?}"
        );
        assert!(after.stored_bytes_per_sample() < 1.02 * after.bytes_per_sample());
        // The very same chunks, byte for byte.
        assert_eq!(read_all(&st, "s"), chunks);
        assert_eq!(
            log_files(dir.path(), "s"),
            names(&["data.1.log", "index.1.log"])
        );
        (before, chunks)
    };

    // Reopened: the new generation, and writing (and merging) goes on.
    let st = manual(dir.path());
    assert_eq!(read_all(&st, "s"), chunks_before);
    assert_eq!(st.identity_stats("s").unwrap().samples, before.samples);
    write_seconds(&st, "s", 40, 50, &mut exp);
    assert_eq!(channels_1_2(&st, "s"), exp);
    st.seal_blocking("s").unwrap();
    let chunks = read_all(&st, "s");
    st.compact_blocking("s").unwrap().unwrap();
    assert_eq!(read_all(&st, "s"), chunks);
    drop(st);
    let st = manual(dir.path());
    assert_eq!(read_all(&st, "s"), chunks);
    assert_eq!(channels_1_2(&st, "s"), exp);
    assert_eq!(
        log_files(dir.path(), "s"),
        names(&["data.2.log", "index.2.log"])
    );
    // Unknown identities have nothing to compact.
    assert_eq!(st.compact_blocking("nope").unwrap(), None);
}

#[test]
fn sealing_compacts_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let st = NativeStore::open(NativeConfig::new(dir.path()).with_compaction(0.25, 0)).unwrap();
    let mut exp = BTreeMap::new();
    write_seconds(&st, "auto", 0, 30, &mut exp);
    let chunks = {
        // Flushes alone never compact.
        let s = st.identity_stats("auto").unwrap();
        assert!(s.stored_bytes > s.payload_bytes * 5 / 4, "{s:?}");
        st.seal_blocking("auto").unwrap();
        read_all(&st, "auto")
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = st.identity_stats("auto").unwrap();
        if s.stored_bytes < s.payload_bytes + 64 * s.chunks as u64 + 256 {
            break;
        }
        assert!(Instant::now() < deadline, "not compacted: {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(read_all(&st, "auto"), chunks);
    assert_eq!(channels_1_2(&st, "auto"), exp);

    // Below the threshold, sealing leaves the identity alone.
    let st2 = NativeStore::open(NativeConfig::new(dir.path()).with_compaction(0.99, 0)).unwrap();
    let mut exp2 = BTreeMap::new();
    write_seconds(&st2, "kept", 0, 10, &mut exp2);
    st2.seal_blocking("kept").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        log_files(dir.path(), "kept"),
        names(&["data.log", "index.log"])
    );
}

#[test]
fn writes_and_reads_go_on_during_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let st = manual(dir.path());
    let mut exp = BTreeMap::new();
    write_seconds(&st, "w", 0, 10, &mut exp);
    let writer = {
        let st = st.clone();
        std::thread::spawn(move || {
            // Writes, merges and flushes land between and inside compactions.
            for k in 10..40 {
                write_seconds(&st, "w", k, k + 1, &mut exp);
            }
            exp
        })
    };
    let mut compactions = 0;
    while !writer.is_finished() {
        st.compact_blocking("w").unwrap().unwrap();
        compactions += 1;
        // Every read sees whole, well-formed chunks.
        let _ = channels_1_2(&st, "w");
    }
    let exp = writer.join().unwrap();
    assert!(compactions >= 2, "{compactions} compactions");
    assert_eq!(channels_1_2(&st, "w"), exp);
    st.seal_blocking("w").unwrap();
    st.compact_blocking("w").unwrap().unwrap();
    let chunks = read_all(&st, "w");
    drop(st);
    let st = manual(dir.path());
    assert_eq!(read_all(&st, "w"), chunks);
    assert_eq!(channels_1_2(&st, "w"), exp);
    let s = st.identity_stats("w").unwrap();
    assert!(
        s.stored_bytes < s.payload_bytes + 64 * s.chunks as u64 + 256,
        "{s:?}"
    );
}

#[test]
fn a_store_opened_again_waits_for_the_background_compaction_of_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = || NativeConfig::new(dir.path()).with_compaction(0.1, 0);
    let mut exp = BTreeMap::new();
    for round in 0..3i64 {
        let st = NativeStore::open(config()).unwrap();
        write_seconds(&st, "d", round * 20, round * 20 + 20, &mut exp);
        st.seal_blocking("d").unwrap();
        // Dropped while its compaction has just started (or not yet).
        drop(st);
        let st = NativeStore::open(config()).unwrap();
        assert_eq!(channels_1_2(&st, "d"), exp, "round {round}");
        let files = log_files(dir.path(), "d");
        assert_eq!(files.len(), 2, "round {round}: {files:?}");
    }
}

/// A backend that cannot rewrite logs (the trait's default).
struct NoRewrite(FileBackend);

impl Backend for NoRewrite {
    fn identities(&self) -> rta_core::Result<Vec<String>> {
        self.0.identities()
    }
    fn open(
        &self,
        identity: &str,
        create: bool,
    ) -> rta_core::Result<Option<Arc<dyn IdentityStorage>>> {
        self.0.open(identity, create)
    }
    fn delete(&self, identity: &str) -> rta_core::Result<()> {
        self.0.delete(identity)
    }
}

#[test]
fn backends_without_rewrite_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(NoRewrite(FileBackend::new(dir.path()).unwrap()));
    let config = NativeConfig::new(dir.path()).with_compaction(0.0, 0);
    let st = NativeStore::with_backend(backend, config);
    let mut exp = BTreeMap::new();
    write_seconds(&st, "n", 0, 10, &mut exp);
    st.seal_blocking("n").unwrap();
    assert_eq!(st.compact_blocking("n").unwrap(), None);
    assert_eq!(channels_1_2(&st, "n"), exp);
    assert_eq!(
        log_files(dir.path(), "n"),
        names(&["data.log", "index.log"])
    );
}

/// One channel of `n` samples at 10 kHz that do not compress (random
/// finite values), written in 1-second items with a flush after each of the
/// first 20 (superseded fragments at the start of the log).
fn big_channel(st: &NativeStore, id: &str, n: usize) -> Vec<Chunk> {
    let v: Vec<f64> = noise(99, n)
        .iter()
        .map(|x| f64::from_bits(x.to_bits().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 2))
        .collect();
    let t: Vec<i64> = (0..n as i64).map(|i| T0 + i * 100_000).collect();
    for (k, (tc, vc)) in t.chunks(10_000).zip(v.chunks(10_000)).enumerate() {
        st.write_blocking(id, vec![timestamped(4, tc, vc).unwrap().into()])
            .unwrap();
        if k < 20 {
            st.flush_blocking(id).unwrap();
        }
    }
    st.seal_blocking(id).unwrap();
    st.read_blocking(&req(DataKind::Timestamped, id, "4"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_under_way_keep_their_bytes_across_a_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let st = manual(dir.path());
    // About 8 bytes a sample: a read well beyond what is read ahead.
    let s = st.clone();
    let expect = tokio::task::spawn_blocking(move || big_channel(&s, "big", 1_500_000))
        .await
        .unwrap();
    let payload: usize = expect.iter().map(|c| c.payload.len()).sum();
    assert!(payload > 8_000_000, "{payload}");

    // The chunk stream: its snapshot is taken before the first chunk.
    let mut stream = st
        .read(req(DataKind::Timestamped, "big", "4"))
        .await
        .unwrap();
    let mut got = vec![stream.next().await.unwrap().unwrap()];

    // The REST fast path: body frames read straight from the data log.
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let app = data::data_router_with(Arc::new(st.clone()), None);
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let url = format!("http://{addr}/rta/v2/sessions/big/data/timestamped/4");
    let client = reqwest::Client::new();
    let mut body = client.get(&url).send().await.unwrap().bytes_stream();
    let mut rest_body = body.next().await.unwrap().unwrap().to_vec();

    let s = st.clone();
    let report = tokio::task::spawn_blocking(move || s.compact_blocking("big"))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(report.stored_after < report.stored_before);

    while let Some(c) = stream.next().await {
        got.push(c.unwrap());
    }
    assert_eq!(got, expect);
    while let Some(b) = body.next().await {
        rest_body.extend_from_slice(&b.unwrap());
    }
    let after = client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(rest_body.len(), after.len());
    assert!(
        rest_body == after[..],
        "REST body changed by the compaction"
    );
    let decoded = rta_core::chunk::ChunkDecoder::decode_all(after).unwrap();
    assert_eq!(decoded, expect);
    let s = st.clone();
    let now = tokio::task::spawn_blocking(move || {
        s.read_blocking(&req(DataKind::Timestamped, "big", "4"))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(now, expect);
}

/// Copies the log files of an identity's directory to `to`.
fn copy_logs(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn leftovers_of_an_interrupted_compaction_are_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let idir: PathBuf = dir.path().join("i-c");
    let saved = tempfile::tempdir().unwrap();
    let mut exp = BTreeMap::new();
    let chunks = {
        let st = manual(dir.path());
        write_seconds(&st, "c", 0, 20, &mut exp);
        st.seal_blocking("c").unwrap();
        let chunks = read_all(&st, "c");
        copy_logs(&idir, saved.path());
        st.compact_blocking("c").unwrap().unwrap();
        chunks
    };
    let compacted = tempfile::tempdir().unwrap();
    copy_logs(&idir, compacted.path());
    let reset = |files: &[(&Path, &str, Option<usize>)]| {
        std::fs::remove_dir_all(&idir).unwrap();
        std::fs::create_dir_all(&idir).unwrap();
        for (from, name, cut) in files {
            let mut bytes = std::fs::read(from.join(name)).unwrap();
            if let Some(n) = cut {
                bytes.truncate(*n);
            }
            std::fs::write(idir.join(name), bytes).unwrap();
        }
    };
    let data1 = std::fs::read(compacted.path().join("data.1.log")).unwrap();
    let index1 = std::fs::read(compacted.path().join("index.1.log")).unwrap();

    // Killed while copying: part of the new data log, no new index.
    reset(&[
        (saved.path(), "data.log", None),
        (saved.path(), "index.log", None),
        (compacted.path(), "data.1.log", Some(data1.len() / 2)),
    ]);
    // Killed while writing the new index (before its rename).
    std::fs::write(idir.join("index.1.tmp"), &index1[..index1.len() / 3]).unwrap();
    {
        let st = manual(dir.path());
        assert_eq!(read_all(&st, "c"), chunks);
        assert_eq!(channels_1_2(&st, "c"), exp);
        assert_eq!(
            log_files(dir.path(), "c"),
            names(&["data.log", "index.log"])
        );
        // A compaction after the crash works as usual.
        st.compact_blocking("c").unwrap().unwrap();
        assert_eq!(read_all(&st, "c"), chunks);
    }

    // Killed after the switch, before the old logs were removed.
    reset(&[
        (saved.path(), "data.log", None),
        (saved.path(), "index.log", None),
        (compacted.path(), "data.1.log", None),
        (compacted.path(), "index.1.log", None),
    ]);
    {
        let st = manual(dir.path());
        assert_eq!(read_all(&st, "c"), chunks);
        assert_eq!(
            log_files(dir.path(), "c"),
            names(&["data.1.log", "index.1.log"])
        );
        assert_eq!(st.identities().unwrap(), vec!["c".to_string()]);
    }
    // Other generations are told apart by number, not by age.
    reset(&[
        (compacted.path(), "data.1.log", None),
        (compacted.path(), "index.1.log", None),
    ]);
    std::fs::write(idir.join("data.2.log"), b"partial copy").unwrap();
    std::fs::write(idir.join("index.2.tmp"), b"partial index").unwrap();
    let st = manual(dir.path());
    assert_eq!(read_all(&st, "c"), chunks);
    assert_eq!(
        log_files(dir.path(), "c"),
        names(&["data.1.log", "index.1.log"])
    );
}

/// Channel 9 of the child of `kill_9_during_compactions_loses_nothing`:
/// a second per round, at 2 kHz.
const KILL_RATE_NS: i64 = 500_000;
const KILL_ITEM: usize = 2_000;

/// Channel 9 values of round `k`: its own second, and the previous second
/// sent again (merged, leaving the superseded payloads to compact).
fn kill_round(k: i64) -> Vec<(Vec<i64>, Vec<f64>)> {
    let second = |s: i64, seed: u64| {
        let t: Vec<i64> = (0..KILL_ITEM as i64)
            .map(|i| T0 + s * S + i * KILL_RATE_NS)
            .collect();
        (t, noise(seed, KILL_ITEM))
    };
    let mut out = vec![second(k, k as u64 * 2)];
    if k > 0 {
        out.push(second(k - 1, k as u64 * 2 + 1));
    }
    out
}

/// The child half of `kill_9_during_compactions_loses_nothing`: rounds of
/// write, flush (printing `ACK <round>` once durable) and compaction.
#[test]
#[ignore = "run as a child process by kill_9_during_compactions_loses_nothing"]
fn compacting_child() {
    let Ok(dir) = std::env::var("RTA_COMPACT_CHILD_DIR") else {
        return;
    };
    let st = manual(Path::new(&dir));
    // A base of 40 s so that each compaction copies a few MB.
    for k in 0..40i64 {
        let (t, v) = &kill_round(k)[0];
        st.write_blocking("k", vec![timestamped(9, t, v).unwrap().into()])
            .unwrap();
    }
    st.flush_blocking("k").unwrap();
    println!("ACK 39");
    for k in 40..10_000i64 {
        let items = kill_round(k)
            .iter()
            .map(|(t, v)| timestamped(9, t, v).unwrap().into())
            .collect();
        st.write_blocking("k", items).unwrap();
        st.flush_blocking("k").unwrap();
        println!("ACK {k}");
        st.compact_blocking("k").unwrap();
    }
}

/// Expected channel 9 once round `k` is durable.
fn kill_expected(k: i64) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for r in 0..=k {
        let rounds = if r < 40 {
            kill_round(r)[..1].to_vec()
        } else {
            kill_round(r)
        };
        for (t, v) in rounds {
            out.extend(t.into_iter().zip(v));
        }
    }
    out
}

#[test]
fn kill_9_during_compactions_loses_nothing() {
    use std::io::BufRead;
    for (round, wait_ms) in [(0u64, 0u64), (1, 3), (2, 11), (3, 29)] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "compacting_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("RTA_COMPACT_CHILD_DIR", dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<i64>();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                // libtest may prefix the line with the test name.
                if let Some(i) = line.find("ACK ") {
                    if tx.send(line[i + 4..].trim().parse().unwrap()).is_err() {
                        break;
                    }
                }
            }
        });
        // Let a few compactions go by, then kill at an arbitrary point.
        let mut acked = -1;
        while acked < 42 + round as i64 {
            acked = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("child stopped acknowledging");
        }
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // More than two files: the kill interrupted a compaction.
        let before = log_files(dir.path(), "k");
        if before.len() > 2 {
            eprintln!("kill {round} interrupted a compaction: {before:?}");
        }
        while let Ok(k) = rx.recv_timeout(Duration::from_secs(5)) {
            acked = k;
        }
        reader.join().unwrap();

        let st = manual(dir.path());
        let got = ts_values(
            &st.read_blocking(&req(DataKind::Timestamped, "k", "9"))
                .unwrap(),
        );
        // Everything acknowledged is there; the round after it may be too.
        let durable = kill_expected(acked);
        let next = kill_expected(acked + 1);
        assert!(
            got == durable || got == next,
            "kill {round}: after ACK {acked}: {} samples, expected {} or {}",
            got.len(),
            durable.len(),
            next.len()
        );
        let files = log_files(dir.path(), "k");
        assert_eq!(files.len(), 2, "kill {round}: {files:?}");
        assert!(files
            .iter()
            .all(|f| f.starts_with("data.") || f.starts_with("index.")));
    }
}
