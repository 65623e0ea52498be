//! `federation`: a whole microservice deployment on loopback in one command:
//! Session Service (2650/2652), Config Service (2660/2662), data services
//! `alpha` (2670/2672) and `beta` (2674/2676), and the Gateway (8080), seeded
//! with sessions that use every data binding form (see
//! `rta_service::federation`). Point ATLAS at `http://localhost:8080`.
//! `cargo run --example federation -- [DIR]` (default `./rta-federation`)

use rta::service::federation::{Federation, FederationPorts, SESSIONS};

#[tokio::main]
async fn main() -> rta::service::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "./rta-federation".into());
    let fed = Federation::start(dir.as_ref(), FederationPorts::default()).await?;
    println!("gateway: {}", fed.gateway_url());
    for session in SESSIONS {
        println!("  {}/rta/v2/sessions/{session}", fed.gateway_url());
    }
    rta::service::serve::shutdown_signal().await;
    fed.stop().await
}
