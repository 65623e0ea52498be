//! `rta-server`: the RTA Server. Session, config, schema-mapping, data and
//! stream services in one process on embedded stores (SQLite and local
//! files under `--data-dir`), with no external services; sessions in
//! PostgreSQL when `PostgresConnectionString` is set (the schema is created
//! or upgraded at start-up unless `InitStore=false`).
//!
//! ```text
//! rta-server --demo                        # REST 8080, gRPC 8082, demo content
//! rta-server --data-dir /var/lib/rta --https-port 8081 --tls-cert cert.pem --tls-key key.pem
//! rta-server --Store File --FileConfigsPath /configs --FileDataPath /data
//! rta-server --redis redis://localhost:6379    # live sessions through Redis
//! RTA_HttpPort=9000 rta-server
//! rta-server --Store Aws --AwsS3ConfigsBucket rta-configs --AwsS3DataBucket rta-data
//! ```
//!
//! With `--redis` (`RedisConnectionString`) live sessions are written to
//! the Redis stream buffer, so a Stream Service or other servers can serve
//! them, and the live WebSocket here also serves sessions other processes
//! write to that Redis.

use std::process::ExitCode;
use std::sync::Arc;

use rta_adapters::native::{NativeConfig, NativeStore};
use rta_adapters::s3::{Bucket, S3Backend, S3BackendConfig, S3ConfigStore, S3SchemaMappingStore};
use rta_adapters::stores::{FileConfigStore, PostgresSessionStore};
use rta_service::auth::Authenticator;
use rta_service::data::DataBackend;
use rta_service::options::RtaServerOptions;
use rta_service::server::RtaServer;
use rta_service::{demo, monitor};

async fn run() -> rta_service::Result<()> {
    let opts = RtaServerOptions::from_env()?;
    let svc = &opts.service;
    let auth = opts.auth.clone().map(Authenticator::new).transpose()?;
    let mut info = monitor::ServiceInfo::from_options("rta-server", &opts.raw);
    let mut builder = RtaServer::builder(&svc.data_dir)
        .grpc(opts.enable_grpc)
        .data_writer(opts.enable_data_writer);
    if let Some(redis) = &opts.redis {
        builder = builder.redis(redis, opts.redis_db);
    }
    if let Some(pg) = &opts.postgres {
        let store = if opts.init_store || opts.init_store_and_exit {
            PostgresSessionStore::init(pg.clone()).await?
        } else {
            PostgresSessionStore::connect(pg.clone()).await?
        };
        tracing::info!(server = %pg.redacted(), schema = %pg.schema, "sessions in PostgreSQL");
        let store = Arc::new(store);
        let check = store.clone();
        info = info.with_health_check("postgres", move || {
            let store = check.clone();
            async move { store.check().await }
        });
        builder = builder.sessions(store);
    }
    if let Some(aws) = &opts.aws {
        // Configs, schema mappings and data go to the buckets; sessions
        // stay in SQLite under DataDir unless PostgreSQL is set.
        let configs = Bucket::from_env(&aws.configs)?;
        let data = Bucket::from_env(&aws.data)?;
        let native = NativeStore::with_backend(
            Arc::new(S3Backend::new(data.clone(), S3BackendConfig::default())),
            NativeConfig::new(&opts.data_path),
        );
        builder = builder
            .configs(Arc::new(S3ConfigStore::new(configs.clone())))
            .schema_mappings(Arc::new(S3SchemaMappingStore::new(configs.clone())))
            .data(DataBackend::native(native));
        for (name, bucket) in [("configs-bucket", configs), ("data-bucket", data)] {
            info = info.with_health_check(name, move || {
                let bucket = bucket.clone();
                async move { bucket.check().await }
            });
        }
    } else {
        let configs = Arc::new(FileConfigStore::open(&opts.configs_path)?);
        let data = NativeStore::open(NativeConfig::new(&opts.data_path))?;
        builder = builder.configs(configs).data(DataBackend::native(data));
    }
    let server = builder.info(info).auth(auth).build().await?;
    if opts.init_store_and_exit {
        tracing::info!(data = %svc.data_dir.display(), "stores ready");
        return Ok(());
    }
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
