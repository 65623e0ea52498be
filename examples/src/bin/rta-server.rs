//! `rta-server`: the RTA Server. Session, config, schema-mapping, data and
//! stream services in one process on embedded stores (SQLite and local
//! files under `--data-dir`), with no external services.
//!
//! ```text
//! rta-server --demo                        # REST 8080, gRPC 8082, demo content
//! rta-server --data-dir /var/lib/rta --https-port 8081 --tls-cert cert.pem --tls-key key.pem
//! RTA_HttpPort=9000 rta-server
//! ```

use std::process::ExitCode;

use rta_service::options::{OptionsParser, BIND, DATA_DIR, GRPC_PORT, HTTP_PORT};
use rta_service::server::RtaServer;
use rta_service::{monitor, serve};

async fn run() -> rta_service::Result<()> {
    let opts = OptionsParser::new(
        "rta-server",
        "RTA Server: every RTA service in one process, on embedded stores",
    )
    .option(
        HTTP_PORT,
        "N",
        "HTTP port (REST API, live stream, /health, /metrics)",
        Some("8080"),
    )
    .option(
        GRPC_PORT,
        "N",
        "gRPC port (all toolkit gRPC services)",
        Some("8082"),
    )
    .option(
        "HttpsPort",
        "N",
        "HTTPS port, served when --tls-cert and --tls-key are given",
        Some("8081"),
    )
    .option("TlsCert", "FILE", "PEM certificate chain for HTTPS", None)
    .option("TlsKey", "FILE", "PEM private key for HTTPS", None)
    .option(BIND, "HOST", "Address to listen on", Some("0.0.0.0"))
    .option(
        DATA_DIR,
        "DIR",
        "Directory of the embedded stores",
        Some("./rta-data"),
    )
    .info_options("RTA Server")
    .switch(
        "Demo",
        "Publish demo configuration and sessions, and write a live demo session",
    )
    .option(
        "DemoSeconds",
        "N",
        "Length of the live demo session in seconds (0 = until stopped)",
        Some("0"),
    )
    .parse_env()?;
    let svc = opts.service()?;
    let server = RtaServer::open(&svc.data_dir)?
        .with_info(monitor::ServiceInfo::from_options("rta-server", &opts));

    let https = match (opts.get("TlsCert"), opts.get("TlsKey")) {
        (Some(cert), Some(key)) => {
            let port: u16 = opts.get_or("HttpsPort")?;
            Some((
                std::net::SocketAddr::new(svc.bind, port),
                cert.to_string(),
                key.to_string(),
            ))
        }
        (None, None) => None,
        _ => {
            return Err(rta_service::Error::Options(
                "--tls-cert and --tls-key go together".into(),
            ))
        }
    };
    if let Some((addr, cert, key)) = https {
        let router = server.http_router();
        tokio::spawn(async move {
            let r = serve::serve_https(
                addr,
                router,
                cert.into(),
                key.into(),
                serve::shutdown_signal(),
            )
            .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "HTTPS server failed");
            }
        });
        tracing::info!(%addr, "HTTPS listening");
    }

    if opts.switch("Demo")? {
        let identity =
            rta_service::demo::publish(&server, &rta_service::demo::DemoOptions::default()).await?;
        let secs: u64 = opts.get_or("DemoSeconds")?;
        tracing::info!(%identity, "demo published; writing the live session");
        let live = server.clone();
        tokio::spawn(async move {
            let d = (secs > 0).then(|| std::time::Duration::from_secs(secs));
            if let Err(e) = rta_service::demo::run_live(&live, &identity, d).await {
                tracing::error!(error = %e, "live demo session failed");
            }
        });
    }

    println!(
        "rta-server: REST http://{} gRPC {} data {}",
        svc.http_addr(),
        svc.grpc_addr(),
        svc.data_dir.display()
    );
    serve::serve(&svc, server.http_router(), Some(server.grpc_routes())).await?;
    server.flush_all().await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_service("rta-server", run()).await
}
