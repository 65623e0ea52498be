//! Shared helpers of the example binaries.

/// With the `jemalloc` feature (on by default) every binary allocates with
/// jemalloc: after 50 rounds of 300 WebSocket clients an `rta-server` held
/// 67 MiB with it against 97 MiB with the system allocator, and 31 MiB against
/// 97 MiB two seconds after the load (docs/performance.md, "WebSocket
/// connection churn"). `--no-default-features` builds with the system one.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

/// Logs to stderr at `RUST_LOG` (default `default_level`).
pub fn init_tracing(default_level: &str) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_level.into()),
        )
        .init();
}

/// The `main` of a service binary: sets up logging, runs `service`, and
/// turns its error into a message on stderr and a failure exit code.
pub async fn run_service<E: Display>(
    program: &str,
    service: impl Future<Output = Result<(), E>>,
) -> ExitCode {
    run_program(program, "info", service).await
}

/// [`run_service`] with logging at `default_level` when `RUST_LOG` is unset.
pub async fn run_program<E: Display>(
    program: &str,
    default_level: &str,
    service: impl Future<Output = Result<(), E>>,
) -> ExitCode {
    init_tracing(default_level);
    match service.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}
