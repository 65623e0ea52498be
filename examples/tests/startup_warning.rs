//! Every service binary names, at start-up, an `RTA_` variable that no option
//! reads, and still starts.

use std::process::Command;

fn run(bin: &str, dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(bin)
        .args(["--init-store-and-exit", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "info")
        .env("RTA_HtpPort", "9999")
        .env("rta_grpcport", "0")
        .output()
        .expect("run the binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unknown_rta_variable_is_named_in_a_warning() {
    for bin in [
        env!("CARGO_BIN_EXE_rta-sessionsvc"),
        env!("CARGO_BIN_EXE_rta-configsvc"),
        env!("CARGO_BIN_EXE_rta-schemamappingsvc"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (ok, stderr) = run(bin, dir.path());
        assert!(ok, "{bin} failed: {stderr}");
        let warning = stderr
            .lines()
            .find(|l| l.contains("WARN"))
            .unwrap_or_else(|| panic!("{bin} printed no warning: {stderr}"));
        assert!(warning.contains("RTA_HtpPort"), "{bin}: {warning}");
        assert!(
            !stderr.contains("grpcport"),
            "a known option in another case is not reported: {stderr}"
        );
    }
}
