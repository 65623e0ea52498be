//! Compiles `proto/` into Rust with a pure-Rust protobuf compiler (protox),
//! so no system `protoc` is needed.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "protos/API/model_data.proto",
    "protos/API/net_chunks.proto",
    "protos/API/net_stream.proto",
    "protos/Toolkit/session_service.proto",
    "protos/Toolkit/config_service.proto",
    "protos/Toolkit/data_service.proto",
    "protos/Toolkit/schema_mapping_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    for p in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    let fds = protox::compile(PROTOS, [&root])?;
    tonic_prost_build::configure()
        .bytes(".")
        .build_client(true)
        .build_server(true)
        // `XClient::connect(url)` needs tonic's channel: only with the
        // `transport` feature, so that rta-core alone has no HTTP stack.
        .build_transport(std::env::var_os("CARGO_FEATURE_TRANSPORT").is_some())
        .compile_fds(fds)?;
    Ok(())
}
