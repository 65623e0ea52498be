//! Test support (feature `testing`): a throwaway PostgreSQL cluster.
//!
//! [`PgCluster::start`] creates a cluster with `initdb` in a temporary
//! directory and runs `postgres` on a free loopback port (its socket in the
//! same directory); dropping it stops the server and removes everything.
//! The server binaries are looked up in `RTA_PG_BIN`, then
//! `/usr/lib/postgresql/<version>/bin` (Debian's `postgresql` package,
//! which `scripts/test.sh` installs), then `PATH`. PostgreSQL refuses to
//! run as root: as root the cluster belongs to, and runs as, the
//! unprivileged user `rta-pg` (created when missing).
//!
//! ```no_run
//! let mut pg = rta_adapters::testing::PgCluster::start().unwrap();
//! let conn = pg.connection_string(); // Server=127.0.0.1;Port=…;User Id=rta;Password=…
//! pg.stop().unwrap(); // e.g. to test an outage
//! pg.restart().unwrap();
//! # let _ = conn;
//! ```

use std::io;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The unprivileged user the cluster runs as when the tests run as root.
pub const PG_USER: &str = "rta-pg";

/// The superuser created in the cluster, and its password.
pub const PG_ROLE: (&str, &str) = ("rta", "rta-test-secret");

/// A PostgreSQL server for one test, stopped and deleted on drop.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    run_as: Option<String>,
    child: Option<Child>,
}

fn missing(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "PostgreSQL server binary {what} not found (looked in RTA_PG_BIN, /usr/lib/postgresql/*/bin, PATH): \
             install the Debian package `postgresql` (scripts/test.sh does)"
        ),
    )
}

/// The directory holding `initdb` and `postgres`.
pub fn pg_bin_dir() -> io::Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("RTA_PG_BIN") {
        candidates.push(PathBuf::from(dir));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        // newest first (15 before 9.6 would sort wrong as text; compare numerically)
        versions.sort_by_key(|p| {
            std::cmp::Reverse(
                p.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.split('.').next())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0),
            )
        });
        candidates.extend(versions);
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
        .ok_or_else(|| missing("initdb/postgres"))
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn run(cmd: &mut Command, what: &str) -> io::Result<()> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// Makes sure the unprivileged user exists (root only).
fn ensure_user() -> io::Result<()> {
    let exists = |_: ()| {
        Command::new("id")
            .arg("-u")
            .arg(PG_USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if exists(()) {
        return Ok(());
    }
    let made = run(
        Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(PG_USER),
        "useradd",
    );
    // another test may have created it meanwhile
    if exists(()) {
        Ok(())
    } else {
        made
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PgCluster {
    /// Creates and starts a cluster; waits until it accepts connections.
    pub fn start() -> io::Result<Self> {
        let bin = pg_bin_dir()?;
        let root = is_root();
        let run_as = root.then(|| PG_USER.to_string());
        if root {
            ensure_user()?;
        }
        let dir = tempfile::Builder::new()
            .prefix("rta-pg")
            .tempdir_in(if root {
                PathBuf::from("/tmp")
            } else {
                std::env::temp_dir()
            })?;
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PG_ROLE.1)?;
        if root {
            run(
                Command::new("chown").arg("-R").arg(PG_USER).arg(dir.path()),
                "chown",
            )?;
        }
        let mut cluster = PgCluster {
            dir,
            bin,
            port: 0,
            run_as,
            child: None,
        };
        let data = cluster.data_dir();
        run(
            cluster
                .command("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-U", PG_ROLE.0, "-E", "UTF8", "--locale=C.UTF-8"])
                .args(["--auth-host=scram-sha-256", "--auth-local=trust"])
                .arg(format!("--pwfile={}", pwfile.display())),
            "initdb",
        )?;
        let mut last = None;
        for _ in 0..3 {
            cluster.port = free_port()?;
            match cluster.launch() {
                Ok(()) => return Ok(cluster),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("postgres did not start")))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn launch(&mut self) -> io::Result<()> {
        let log = std::fs::File::create(self.dir.path().join("postgres.log"))?;
        if let Some(user) = &self.run_as {
            let _ = Command::new("chown")
                .arg(user)
                .arg(self.dir.path().join("postgres.log"))
                .status();
        }
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some();
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.path().join("postgres.log"))
                    .unwrap_or_default();
                let _ = self.stop();
                return Err(io::Error::other(format!(
                    "postgres did not start on port {}: {log}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data and socket).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The .NET form the toolkit documents, for the `postgres` database.
    pub fn connection_string(&self) -> String {
        format!(
            "Server=127.0.0.1;Port={};Database=postgres;User Id={};Password={}",
            self.port, PG_ROLE.0, PG_ROLE.1
        )
    }

    /// Stops the server (fast shutdown), keeping its data.
    pub fn stop(&mut self) -> io::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let stopped = run(
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "fast", "-w", "-t", "60", "stop"]),
            "pg_ctl stop",
        );
        if stopped.is_err() {
            let _ = child.kill();
        }
        child.wait()?;
        Ok(())
    }

    /// Starts the server again on the same port with the same data.
    pub fn restart(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        self.launch()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
