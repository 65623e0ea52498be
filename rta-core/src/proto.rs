//! Generated protobuf types and gRPC stubs of the RTA wire contract.
//!
//! The module tree mirrors the protobuf packages (`rta.model.data` is
//! [`packages::model::data`]); the short aliases below are what most code uses.
//! `bytes` fields are [`bytes::Bytes`], so buffers decoded from a larger
//! message share its allocation instead of being copied.
//!
//! ```
//! use prost::Message;
//! use rta_core::proto::data::PeriodicData;
//! let p = PeriodicData { channel_id: 3, samples: 1, buffer: vec![1, 0].into(), ..Default::default() };
//! let back = PeriodicData::decode(p.encode_to_vec().as_slice()).unwrap();
//! assert_eq!(back, p);
//! ```
#![allow(missing_docs, clippy::all, clippy::pedantic, rust_2018_idioms)]

/// Protobuf packages under `rta` (named `packages` so that no module
/// shares the name of the `rta` facade crate).
pub mod packages {
    /// `rta.model.*`
    pub mod model {
        /// `rta.model.data`
        pub mod data {
            include!(concat!(env!("OUT_DIR"), "/rta.model.data.rs"));
        }
        /// `rta.model.net.*`
        pub mod net {
            /// `rta.model.net.chunks`
            pub mod chunks {
                include!(concat!(env!("OUT_DIR"), "/rta.model.net.chunks.rs"));
            }
            /// `rta.model.net.stream`
            pub mod stream {
                include!(concat!(env!("OUT_DIR"), "/rta.model.net.stream.rs"));
            }
        }
    }
    /// `rta.toolkit.*`
    pub mod toolkit {
        /// `rta.toolkit.api.*`
        pub mod api {
            /// `rta.toolkit.api.session_service`
            pub mod session_service {
                include!(concat!(
                    env!("OUT_DIR"),
                    "/rta.toolkit.api.session_service.rs"
                ));
            }
            /// `rta.toolkit.api.config_service`
            pub mod config_service {
                // prost maps google.protobuf.BoolValue to `bool`, and the generated
                // service code names it as `super::bool`; this alias makes that path resolve.
                #[allow(non_camel_case_types)]
                type bool = ::core::primitive::bool;
                include!(concat!(
                    env!("OUT_DIR"),
                    "/rta.toolkit.api.config_service.rs"
                ));
            }
            /// `rta.toolkit.api.chunk_service` (the data service)
            pub mod chunk_service {
                include!(concat!(
                    env!("OUT_DIR"),
                    "/rta.toolkit.api.chunk_service.rs"
                ));
            }
            /// `rta.toolkit.api.schema_mapping_service`
            pub mod schema_mapping_service {
                // prost maps google.protobuf.BoolValue to `bool`, and the generated
                // service code names it as `super::bool`; this alias makes that path resolve.
                #[allow(non_camel_case_types)]
                type bool = ::core::primitive::bool;
                include!(concat!(
                    env!("OUT_DIR"),
                    "/rta.toolkit.api.schema_mapping_service.rs"
                ));
            }
        }
    }
}

pub use packages::model::data;
pub use packages::model::net::chunks;
pub use packages::model::net::stream;
pub use packages::toolkit::api::chunk_service as data_service;
pub use packages::toolkit::api::config_service;
pub use packages::toolkit::api::schema_mapping_service;
pub use packages::toolkit::api::session_service;
