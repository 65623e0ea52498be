//! The Session JSON model of the RTA REST API, and the other JSON documents of
//! the Session API (session pages, virtual folders and the metamodel).
//!
//! Conventions, as the specification sets them:
//!
//! - property names are camelCase, enumerations are lower camelCase strings;
//! - `null`, empty arrays and empty maps are omitted on output (and `null` is
//!   accepted on input wherever a property is optional);
//! - timestamps are ISO 8601 with an offset ([`Timestamp`]) and come back out
//!   exactly as they went in;
//! - properties this model does not know are kept (in each type's `extra`
//!   map) and written back, so a document passes through unchanged.
//!
//! ```
//! use rta_core::session::{DetailValue, Session, SessionState};
//!
//! let json = r#"{
//!     "identity": "f10f4a19-3831-4dd6-a178-faa94931a5b0",
//!     "state": "closed",
//!     "timestamp": "2021-05-06T18:58:56.20289+01:00",
//!     "identifier": "Session Demo 06 May 2021 18:58",
//!     "details": {"Lab Tech": "Bob Jones", "Run": 17}
//! }"#;
//! let session = Session::from_json(json)?;
//! assert_eq!(session.state, SessionState::Closed);
//! assert_eq!(session.state.as_i32(), 4);
//! assert_eq!(session.details["Run"], DetailValue::Integer(17));
//! assert_eq!(session.timestamp.nanos(), 1_620_323_936_202_890_000);
//!
//! let again = Session::from_json(&session.to_json())?;
//! assert_eq!(again, session);
//! # Ok::<(), rta_core::Error>(())
//! ```

mod details;
mod folders;
mod metamodel;
mod model;
mod state;

pub use crate::json::Extra;
pub use details::{details_from_json, DetailValue, Details, ExtDetails};
pub use folders::*;
pub use metamodel::*;
pub use model::*;
pub use state::SessionState;
