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

use rta_service::auth::Authenticator;
use rta_service::options::RtaServerOptions;
use rta_service::server::RtaServer;
use rta_service::{demo, monitor};

async fn run() -> rta_service::Result<()> {
    let opts = RtaServerOptions::from_env()?;
    let svc = &opts.service;
    let auth = opts.auth.clone().map(Authenticator::new).transpose()?;
    let server = RtaServer::builder(&svc.data_dir)
        .info(monitor::ServiceInfo::from_options("rta-server", &opts.raw))
        .auth(auth)
        .build()
        .await?;
    if opts.demo {
        let identity = demo::publish(&server, &demo::DemoOptions::default()).await?;
        tracing::info!(%identity, "demo published; writing the live session");
        let (live, duration) = (server.clone(), opts.demo_duration);
        tokio::spawn(async move {
            if let Err(e) = demo::run_live(&live, &identity, duration).await {
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
    server.serve(svc).await
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_service("rta-server", run()).await
}
