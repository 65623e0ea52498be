//! API fuzzing in the test suite: schemathesis generates requests from the
//! spec's `api.yaml` (a copy in `tests/fixtures`, with the query schema it
//! refers to) against a spawned `rta-server --demo`, valid ones and ones
//! the schema forbids, and checks that no answer is a server error, that
//! requests the schema forbids (a negative `start`, say) are refused, and
//! that answers have the documented media types and JSON shapes.
//!
//! Two of schemathesis's checks are left out everywhere, on purpose:
//! `status_code_conformance`, because `api.yaml` documents no error
//! statuses at all (every 400, 404 and 406 would be "undocumented"), and
//! `positive_data_acceptance`, because the channel-expression, sort and
//! query grammars are not in the schema (a schema-valid string such as
//! channels `%6` is still a malformed expression and a 400, as is
//! `start > end`; see `docs/wire-format.md`). The form-encoded
//! `POST /sessions` also goes without `negative_data_rejection`: a form
//! cannot tell a string from a list of one string.
//!
//! `scripts/test.sh` installs schemathesis (`pip install schemathesis`)
//! when `st` is missing; without it this test fails and says so.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::free_port;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("rta-server did not start on port {port}");
}

#[test]
fn schemathesis_finds_no_server_error_and_no_accepted_invalid_request() {
    let st = std::env::var("RTA_SCHEMATHESIS").unwrap_or_else(|_| "st".to_string());
    let version = Command::new(&st).arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "schemathesis (`{st}`) is required: pip install schemathesis \
         (scripts/test.sh does this); {version:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (http, grpc) = (free_port(), free_port());
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_rta-server"))
            .args(["--demo", "--demo-seconds", "600", "--bind", "127.0.0.1"])
            .args([
                "--http-port",
                &http.to_string(),
                "--grpc-port",
                &grpc.to_string(),
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_ready(http);

    let url = format!("http://127.0.0.1:{http}/rta/v2");
    // Every operation but the form POST, with the negative-data check.
    schemathesis(
        &st,
        dir.path(),
        &url,
        "not_a_server_error,negative_data_rejection,content_type_conformance,response_schema_conformance",
        &["--exclude-operation-id", "query-sessions"],
    );
    // The form POST without it: a form body cannot tell `prop=AAA` (a
    // string, which the schema forbids) from `prop=AAA` (a list of one).
    schemathesis(
        &st,
        dir.path(),
        &url,
        "not_a_server_error,content_type_conformance,response_schema_conformance",
        &["--include-operation-id", "query-sessions"],
    );
}

fn schemathesis(st: &str, dir: &Path, url: &str, checks: &str, select: &[&str]) {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/api.yaml");
    let out = Command::new(st)
        .arg("run")
        .arg(&spec)
        .args(["--url", url, "--checks", checks])
        .args(select)
        .args([
            "--max-examples",
            "40",
            "--seed",
            "20261204",
            "--workers",
            "2",
        ])
        .args(["--request-timeout", "20", "--no-color", "--warnings", "off"])
        .current_dir(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("generated") || l.contains("passed") || l.contains("failures"))
        .collect();
    println!("{select:?}: {}", summary.join(" / "));
    assert!(
        out.status.success(),
        "schemathesis found failures ({select:?}):\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
