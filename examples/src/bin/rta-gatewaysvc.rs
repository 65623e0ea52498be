//! `rta-gatewaysvc`: the RTA Gateway Service. The REST API ATLAS uses,
//! over a Session Service, a Config Service and any number of data services
//! chosen by each session's data bindings, and the live WebSocket of a
//! Stream Service when `StreamServiceUri` is set. HTTP only (8080; HTTPS 8081).
//!
//! ```text
//! rta-gatewaysvc --SessionServiceUri http://myhost:2650/ --ConfigServiceUri http://myhost:2660/ \
//!     --DataServiceUris:mydata http://myhost:2670/
//! RTA_DataServiceUris__influx01=http://influx-adapter:2670/ rta-gatewaysvc ...
//! ```

use std::process::ExitCode;

use rta_service::auth::Authenticator;
use rta_service::gateway::{Gateway, GatewayConfig};
use rta_service::options::GatewayServiceOptions;
use rta_service::{monitor, serve};

async fn run() -> rta_service::Result<()> {
    let opts = GatewayServiceOptions::from_env()?;
    let mut config = GatewayConfig::new(&opts.session_service, &opts.config_service);
    config.data_services = opts.data_services.clone();
    config.stream_service = opts.stream_service.clone();
    config.session_bindings_service = opts.session_bindings_service.clone();
    config.ca_file = opts.service.ca_file.clone();
    config.qos = opts.qos;
    config.auth = opts.auth.clone().map(Authenticator::new).transpose()?;
    config.info = monitor::ServiceInfo::from_options("rta-gatewaysvc", &opts.raw);
    let gateway = Gateway::new(config)?;
    serve::serve(&opts.service, gateway.http_router(), None).await
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_service("rta-gatewaysvc", run()).await
}
