//! Client SDK for the RTA telemetry API.
//!
//! One [`RtaClient`] talks to the session, config, schema-mapping and data
//! services, whether they are one `rta-server` or separate services (a URL
//! per service), over plain HTTP or TLS, with a bearer token when the
//! services require one:
//!
//! - sessions and folders with the typed [`SessionRequest`] builder;
//! - configs from [`rta_core::config`] builders, and schema mappings;
//! - a [`DataWriter`] for one data identity: batching, back-pressure, and a
//!   [`flush`](DataWriter::flush) that returns once the server has stored
//!   everything written so far; a dropped stream is reconnected and what the
//!   server had not acknowledged is sent again;
//! - a [`RestReader`] over the public REST API: sessions, and data of every
//!   kind decoded to typed samples, resumable by chunk, and live sessions
//!   followed over the WebSocket stream ([`RestReader::follow`]).
//!
//! With the `arrow` feature, [`arrow`](crate::arrow) converts Arrow record
//! batches to RTA data and back. With the `cli` feature, [`cli`] is the `rta` command line.
//!
//! ```no_run
//! use rta_client::{RtaClient, SessionRequest, SessionState};
//! use rta_core::data::periodic;
//!
//! # async fn run() -> rta_client::Result<()> {
//! let client = RtaClient::builder("http://127.0.0.1:8082")
//!     .rest("http://127.0.0.1:8080")
//!     .token("eyJ...")
//!     .connect()
//!     .await?;
//! client
//!     .put_session(SessionRequest::new("run-1", SessionState::Open).identifier("Run 1"))
//!     .await?;
//! let writer = client.writer("run-1").await?;
//! writer.periodic(periodic(0, 0, 1_000_000, &[1.0f64, 2.0, 3.0])?).await?;
//! writer.flush().await?; // stored on the server
//! # Ok(()) }
//! ```

#[cfg(feature = "arrow")]
pub use rta_core::arrow;
mod auth;
mod client;
mod error;
mod live;
mod reader;
mod slices;
mod writer;

#[cfg(feature = "cli")]
pub mod cli;

pub use auth::{Bearer, Grpc, Token};
pub use client::{ClientBuilder, RtaClient};
pub use error::{Error, Result};
pub use live::{Ended, Follow, LiveUpdate};
pub use reader::{Download, RestReader, Samples};
pub use rta_core::session::SessionState;
pub use rta_core::session_request::{MarkerSpec, SessionRequest};
pub use writer::{DataWriter, WriterOptions};
