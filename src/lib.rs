//! # rta
//!
//! Facade over the crates of the RTA telemetry SDK. Each module re-exports one crate:
//!
//! | module | crate | job |
//! | --- | --- | --- |
//! | [`core`] | `rta-core` | models, wire contract, chunk codec, channel expressions, queries, traits |
//! | [`bindings`] | `rta-bindings` | data bindings and the zero-copy binding transformer |
//! | [`stream`] | `rta-stream` | Redis stream buffer and the WebSocket live protocol |
//! | [`adapters`] | `rta-adapters` | storage and data adapters |
//!
//! ```
//! use rta::core::channels::ChannelExpr;
//! let expr: ChannelExpr = "-5,7,B-D,14-".parse().unwrap();
//! assert!(expr.contains(0xC));
//! ```

pub mod demo;
mod error;
pub mod server;

pub use error::{Error, Result};
pub use rta_adapters as adapters;
pub use rta_bindings as bindings;
pub use rta_core as core;
pub use rta_stream as stream;
