//! `rta-server`: the RTA Server. Session, config, schema-mapping, data and
//! stream services in one process on embedded stores (SQLite and local
//! files under `--data-dir`), with no external services.
//!
//! ```text
//! rta-server --demo                        # REST 8080, gRPC 8082, demo content
//! rta-server --data-dir /var/lib/rta --https-port 8081 --tls-cert cert.pem --tls-key key.pem
//! rta-server --Store File --FileConfigsPath /configs --FileDataPath /data
//! rta-server --redis redis://localhost:6379    # live sessions through Redis
//! RTA_HttpPort=9000 rta-server
//! ```
//!
//! With `--redis` (`RedisConnectionString`) live sessions are written to
//! the Redis stream buffer, so a Stream Service or other servers can serve
//! them, and the live WebSocket here also serves sessions other processes
//! write to that Redis.

use std::process::ExitCode;
use std::sync::Arc;

use rta_adapters::native::{NativeConfig, NativeStore};
use rta_adapters::stores::FileConfigStore;
use rta_service::auth::Authenticator;
use rta_service::options::RtaServerOptions;
use rta_service::server::{DataBackend, RtaServer};
use rta_service::{demo, monitor};

async fn run() -> rta_service::Result<()> {
    let opts = RtaServerOptions::from_env()?;
    let svc = &opts.service;
    let auth = opts.auth.clone().map(Authenticator::new).transpose()?;
    let configs = Arc::new(FileConfigStore::open(&opts.configs_path)?);
    let data = NativeStore::open(NativeConfig::new(&opts.data_path))?;
    let mut builder = RtaServer::builder(&svc.data_dir)
        .configs(configs)
        .data(DataBackend::native(data))
        .grpc(opts.enable_grpc)
        .data_writer(opts.enable_data_writer)
        .info(monitor::ServiceInfo::from_options("rta-server", &opts.raw))
        .auth(auth);
    if let Some(redis) = &opts.redis {
        builder = builder.redis(redis, opts.redis_db);
    }
    let server = builder.build().await?;
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
    let grpc = match opts.enable_grpc {
        true => svc.grpc_addr().to_string(),
        false => "off".to_string(),
    };
    println!(
        "rta-server: REST http://{} gRPC {grpc} data {} configs {} live {}",
        svc.http_addr(),
        opts.data_path.display(),
        opts.configs_path.display(),
        if opts.redis.is_some() {
            "redis"
        } else {
            "in-process"
        }
    );
    server.serve(svc).await
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_service("rta-server", run()).await
}
