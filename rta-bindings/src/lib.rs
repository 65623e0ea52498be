//! # rta-bindings
//!
//! Data bindings, and the transformer the Gateway applies to data it proxies.
//!
//! A session in a microservices deployment is bound to data held by one or
//! more data services. Each [`model::DataBinding`] names a data source and a
//! data identity, and may clip the data to a session time range, shift its
//! time, and renumber its channels. This crate
//!
//! - models bindings and converts them to and from their protobuf and JSON
//!   forms ([`model`]);
//! - validates a session's bindings as a whole and plans a client request
//!   into data service requests plus the transform each response needs
//!   ([`plan`]);
//! - transforms chunk streams, touching only what must change: chunks that
//!   need no change keep their payload buffer, time shifts and channel shifts
//!   patch the serialized results in place, and only chunks straddling a
//!   time bound are decoded ([`transform`]);
//! - merges the transformed streams of several bindings into one stream in
//!   time order per channel, holding at most one chunk per input ([`mod@merge`]);
//! - serves sessions' data through their bindings as a `DataService`, the
//!   Gateway's read path ([`service`]).
//!
//! ```
//! use futures::{executor::block_on, StreamExt};
//! use rta_bindings::model::DataBinding;
//! use rta_bindings::plan::{SessionBindings, SessionRequest};
//! use rta_core::chunk::{Chunk, Compression};
//! use rta_core::data::{periodic, DataKind};
//! use rta_core::proto::data::PeriodicDataList;
//!
//! // Session time is 300 ms later than data time.
//! let bindings = SessionBindings::new(vec![
//!     DataBinding::new("influx01", "someField='abc123'").with_offset(300_000_000),
//! ]).unwrap();
//! let plan = bindings.plan(&SessionRequest::channels(DataKind::Periodic, "0".parse().unwrap())).unwrap();
//!
//! // What the data service answers (data time 0 s, 1 kHz).
//! let list = PeriodicDataList { periodic_data: vec![periodic(0, 0, 1_000_000, &[1.0f64, 2.0]).unwrap()] };
//! let response = futures::stream::iter(vec![Chunk::from_list(&list, Compression::Lz4)]
//!     .into_iter().map(|c| Ok(c.unwrap().unwrap()))).boxed();
//!
//! let out: Vec<Chunk> = block_on(plan.merge(vec![response]).unwrap().map(|c| c.unwrap()).collect());
//! assert_eq!((out[0].start, out[0].end), (300_000_000, 301_000_000));
//! ```

pub mod error;
mod lz4cut;
pub mod merge;
pub mod model;
pub mod plan;
pub mod service;
pub mod transform;
mod wire;

use futures::stream::{BoxStream, StreamExt};
use rta_core::chunk::Chunk;
use rta_core::service::ChunkStream;

pub use error::{Error, Result};
pub use merge::{merge, MergeInput};
pub use model::{DataBinding, DataBindingKey, DataChannelBinding};
pub use plan::{Plan, PlanPart, SessionBindings, SessionRequest};
pub use transform::{ChannelMap, Transform, TransformStats, Transformer};

/// A stream of transformed chunks.
pub type BindingStream = BoxStream<'static, Result<Chunk>>;

/// Turns a transformed stream into a [`ChunkStream`] of the foundation
/// crate, mapping errors with `From<Error> for rta_core::Error`.
pub fn into_chunk_stream(stream: BindingStream) -> ChunkStream {
    stream.map(|r| r.map_err(rta_core::Error::from)).boxed()
}
