//! # rta
//!
//! Facade over the crates of the RTA telemetry SDK: one dependency, every
//! crate under a short name. It holds re-exports only.
//!
//! | module | crate | job |
//! | --- | --- | --- |
//! | [`core`] | `rta-core` | models, wire contract, chunk codec, channel expressions, queries, every extension trait |
//! | [`bindings`] | `rta-bindings` | data bindings and the zero-copy binding transformer |
//! | [`stream`] | `rta-stream` | Redis stream buffer and the WebSocket live protocol |
//! | [`adapters`] | `rta-adapters` | storage and data adapters (native chunk store, in-memory, SQLite, files) |
//! | [`service`] | `rta-service` | REST, gRPC, monitoring, options, serving, the RTA Server |
//! | [`client`] | `rta-client` | client SDK: sessions, configs, data writer, REST reader, the `rta` command line |
//!
//! ```
//! use rta::core::channels::ChannelExpr;
//! let expr: ChannelExpr = "-5,7,B-D,14-".parse().unwrap();
//! assert!(expr.contains(0xC));
//! ```

pub use rta_adapters as adapters;
pub use rta_bindings as bindings;
pub use rta_client as client;
pub use rta_core as core;
pub use rta_service as service;
pub use rta_stream as stream;

/// `docs/custom-adapter.md`, compiled so that its code blocks are tested
/// (`cargo test --doc -p rta`); not part of the API.
#[cfg(doctest)]
#[doc = include_str!("../docs/custom-adapter.md")]
pub struct CustomAdapterGuide;
