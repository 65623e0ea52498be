//! `rta-influxdatasvc`: the RTA Influx Data Service. InfluxDB 1.x (InfluxQL)
//! as a read-only data service behind the gateway: the data route
//! (`/rta/v2/data/{dataIdentity}/...`) on HTTP 2690 (HTTPS 2691), no gRPC.
//! The data identity is an InfluxQL filter; schema mappings from the
//! Schema Mapping Service say which database, measurement and fields.
//!
//! ```text
//! rta-influxdatasvc --DataSource mydata --SchemaMappingGrpcUri "http://myhost:2682/" \
//!     --InfluxUri "http://myhost:8086/" --MaxFrequency 100
//! RTA_InfluxHealthCheckPath=/ping rta-influxdatasvc ...      # InfluxDB before 1.8
//! ```

use std::process::ExitCode;

use rta_service::data::InfluxDataService;
use rta_service::options::InfluxDataServiceOptions;

async fn run() -> rta_service::Result<()> {
    let opts = InfluxDataServiceOptions::from_env()?;
    InfluxDataService::new(&opts)?.serve(&opts.service).await
}

#[tokio::main]
async fn main() -> ExitCode {
    rta_examples::run_service("rta-influxdatasvc", run()).await
}
