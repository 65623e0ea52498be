//! Shared helpers of the example binaries.

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
