//! The configuration JSON model (`application/vnd.mat.config+json`).
//!
//! A configuration is a map of applications keyed by app name. Each
//! [`Application`] defines parameters (what users see), the channels that
//! feed them (what the data API serves, by channel id), conversions from raw
//! to engineering values, a tree of parameter groups, event definitions and
//! error definitions.
//!
//! - [`Config::from_json`] parses and [validates](Config::validate);
//!   [`Config::from_json_unvalidated`] only parses.
//! - [`Config::to_json`] writes camelCase JSON with empties omitted; fields
//!   this model does not know are kept and written back.
//! - [`ConfigBuilder`] covers the common case: one app, a few parameters each
//!   fed by one channel.
//!
//! ```
//! use rta_core::config::{ChannelDataType, ChannelSource, Config};
//!
//! let json = r#"{"demo": {
//!     "tree": {"params": ["param:demo"]},
//!     "parameters": [{"id": "param:demo", "name": "param", "desc": "Example Parameter",
//!                     "conv": "1to1:demo", "channels": [1]}],
//!     "channels": [{"id": 1, "source": "timestamped", "type": "u16"}],
//!     "conversions": [{"name": "1to1:demo", "unit": "", "format": "%5.3f"}]
//! }}"#;
//! let config = Config::from_json(json)?;
//! let channel = config.channel(1).unwrap().1;
//! assert_eq!(channel.source_or_default(), ChannelSource::Timestamped);
//! assert_eq!(channel.data_type_or_default(), ChannelDataType::U16);
//! assert_eq!(channel.data_type_or_default().width(), 2);
//! assert_eq!(Config::from_json(&config.to_json())?, config);
//! # Ok::<(), rta_core::Error>(())
//! ```

mod builder;
mod document;
mod model;
mod types;

pub use builder::{ConfigBuilder, ParameterSpec};
pub use model::*;
pub use types::*;
