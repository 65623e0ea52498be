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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::session::{
    json_error, null_as_default, parse_json, to_json_pretty_string, to_json_string, Extra,
};
use crate::{Error, Result};

// ---------------------------------------------------------------------------
// Enumerations
// ---------------------------------------------------------------------------

/// Declares a string enumeration with its JSON names.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $json:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $json)] $variant, )+
        }

        impl $name {
            /// Every value, in schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The JSON name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $json, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| Error::InvalidArgument(format!(
                        "unknown {} {:?} (valid: {})",
                        $what,
                        s,
                        [$($json),+].join(", ")
                    )))
            }
        }
    };
}

string_enum! {
    /// Data type and width of a channel's samples (JSON `type`; default `f64`).
    ///
    /// ```
    /// use rta_core::config::ChannelDataType;
    ///
    /// let t: ChannelDataType = "s16".parse()?;
    /// assert_eq!(t.width(), 2);
    /// assert!(t.is_signed() && !t.is_float());
    /// assert_eq!(ChannelDataType::F32x3.width(), 12);
    /// # Ok::<(), rta_core::Error>(())
    /// ```
    ChannelDataType, "channel data type" {
        /// Unsigned 8-bit integer.
        U8 = "u8",
        /// Signed 8-bit integer.
        S8 = "s8",
        /// Unsigned 16-bit integer.
        U16 = "u16",
        /// Signed 16-bit integer.
        S16 = "s16",
        /// Unsigned 32-bit integer.
        U32 = "u32",
        /// Signed 32-bit integer.
        S32 = "s32",
        /// 32-bit float.
        F32 = "f32",
        /// Three 32-bit floats (a 3-axis value), 12 bytes per sample.
        F32x3 = "3f32",
        /// 64-bit float (the default).
        F64 = "f64",
    }
}

impl ChannelDataType {
    /// Bytes per sample in a data buffer (little-endian).
    pub fn width(self) -> usize {
        match self {
            ChannelDataType::U8 | ChannelDataType::S8 => 1,
            ChannelDataType::U16 | ChannelDataType::S16 => 2,
            ChannelDataType::U32 | ChannelDataType::S32 | ChannelDataType::F32 => 4,
            ChannelDataType::F64 => 8,
            ChannelDataType::F32x3 => 12,
        }
    }

    /// Values per sample: 3 for `3f32`, otherwise 1.
    pub fn components(self) -> usize {
        match self {
            ChannelDataType::F32x3 => 3,
            _ => 1,
        }
    }

    /// True for the float types.
    pub fn is_float(self) -> bool {
        matches!(
            self,
            ChannelDataType::F32 | ChannelDataType::F32x3 | ChannelDataType::F64
        )
    }

    /// True for the signed types (signed integers and floats).
    pub fn is_signed(self) -> bool {
        !matches!(
            self,
            ChannelDataType::U8 | ChannelDataType::U16 | ChannelDataType::U32
        )
    }
}

// The enum comes from a macro, so `#[default]` cannot be attached.
#[allow(clippy::derivable_impls)]
impl Default for ChannelDataType {
    fn default() -> Self {
        ChannelDataType::F64
    }
}

string_enum! {
    /// Where a channel's data comes from, which sets its timing accuracy
    /// (JSON `source`; default `row`).
    ChannelSource, "channel source" {
        /// CAN bus data.
        Can = "can",
        /// Event data.
        Event = "event",
        /// Sampled at a fixed interval.
        Periodic = "periodic",
        /// Synchronized with another time source (same as timestamped).
        Synchro = "synchro",
        /// Individually timestamped samples.
        Timestamped = "timestamped",
        /// Memory snapshots (row data), the default.
        Row = "row",
        /// Periodic data sub-sampled from a faster source.
        SubSampledPeriodic = "subSampledPeriodic",
    }
}

#[allow(clippy::derivable_impls)]
impl Default for ChannelSource {
    fn default() -> Self {
        ChannelSource::Row
    }
}

string_enum! {
    /// Kind of parameter (JSON `type`; default `std`).
    ParameterType, "parameter type" {
        /// Measured parameter.
        Std = "std",
        /// Virtual parameter computed by a function.
        Virt = "virt",
    }
}

string_enum! {
    /// Byte order of raw parameter data (default little-endian).
    ByteOrder, "byte order" {
        /// Little-endian.
        Le = "le",
        /// Big-endian.
        Be = "be",
    }
}

string_enum! {
    /// Language of a virtual parameter's function (default `fdl`).
    FunctionLanguage, "function language" {
        /// FDL.
        Fdl = "fdl",
        /// SFDL.
        Sfdl = "sfdl",
        /// C#.
        CSharp = "C#",
        /// FDL#.
        FdlSharp = "fdl#",
        /// FDL# script.
        FdlSharpScript = "fdl#Script",
    }
}

string_enum! {
    /// RDA (reduced data access) support of an application.
    RdaSupport, "RDA support mode" {
        /// RDA is supported (the application may be locked).
        Supported = "supported",
        /// RDA is not supported.
        NotSupported = "notSupported",
    }
}

string_enum! {
    /// Priority (severity) of an event definition (default `debug`).
    EventPriority, "event priority" {
        /// Debug.
        Debug = "debug",
        /// Low.
        Low = "low",
        /// Medium.
        Medium = "medium",
        /// High.
        High = "high",
    }
}

// ---------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------

/// A configuration: applications keyed by app name.
///
/// Serializes as the JSON object itself (`{"demo": {...}}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Config {
    /// Applications by name.
    pub apps: BTreeMap<String, Application>,
}

/// Identity attributes of an application (for RDA and versioning).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIdentity {
    /// Namespace of the application version id.
    pub comms_path: String,
    /// Eight hex digits: application id (high word) and version (low word).
    pub application_version_id: String,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// RDA (reduced data access) settings of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRda {
    /// Team / owner id for licensing (0xffff: unlocked).
    pub owner_id: i64,
    /// Support mode.
    pub support: RdaSupport,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Parameter groups and parameters bound directly to an application.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ParameterTree {
    /// Top-level groups.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<ParameterGroup>,
    /// Parameter ids bound directly to the application.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub params: Vec<String>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ParameterTree {
    /// True when the tree has no groups, parameters or other fields.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.params.is_empty() && self.extra.is_empty()
    }
}

/// A group of parameters and child groups.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ParameterGroup {
    /// Unique group id.
    pub id: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Child groups.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<ParameterGroup>,
    /// Parameter ids in this group.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub params: Vec<String>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Function of a virtual parameter.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ParameterFunction {
    /// Language (default `fdl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<FunctionLanguage>,
    /// Function code.
    pub code: String,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A parameter: a time series shown to users, fed by channels.
///
/// The schema lists `conv` as required, yet the specification's own examples
/// omit it; a missing `conv` is accepted and means a 1:1 conversion.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    /// Kind (default `std`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub parameter_type: Option<ParameterType>,
    /// Globally unique id, conventionally `name:app`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub desc: String,
    /// Minimum expected value (default 0.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Maximum expected value (default 0.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Warning minimum (default `min`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_min: Option<f64>,
    /// Warning maximum (default `max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_max: Option<f64>,
    /// Format string overriding the conversion's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Unit overriding the conversion's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Byte order (default little-endian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_order: Option<ByteOrder>,
    /// Calibration offset added after conversion (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<f64>,
    /// Hex bit mask applied after shifting (default `ffffffff`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    /// Hex bit mask flagging the value as in error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_mask: Option<String>,
    /// Bit shift before masking (+ right, - left; default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<i32>,
    /// Conversion name (absent: 1:1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv: Option<String>,
    /// Channel ids feeding the parameter.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub channels: Vec<u32>,
    /// Function of a virtual parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub func: Option<ParameterFunction>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Parameter {
    /// A parameter with id, name, description and conversion.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        desc: impl Into<String>,
        conv: impl Into<String>,
    ) -> Self {
        Parameter {
            id: id.into(),
            name: name.into(),
            desc: desc.into(),
            conv: Some(conv.into()),
            ..Parameter::default()
        }
    }

    /// `min`, defaulting to 0.0.
    pub fn min_or_default(&self) -> f64 {
        self.min.unwrap_or(0.0)
    }

    /// `max`, defaulting to 0.0.
    pub fn max_or_default(&self) -> f64 {
        self.max.unwrap_or(0.0)
    }

    /// `warnMin`, defaulting to the minimum.
    pub fn warn_min_or_default(&self) -> f64 {
        self.warn_min.unwrap_or_else(|| self.min_or_default())
    }

    /// `warnMax`, defaulting to the maximum.
    pub fn warn_max_or_default(&self) -> f64 {
        self.warn_max.unwrap_or_else(|| self.max_or_default())
    }

    /// `mask` as a number, defaulting to `0xffffffff`.
    pub fn mask_value(&self) -> Result<u32> {
        self.mask
            .as_deref()
            .map_or(Ok(u32::MAX), |m| parse_hex_mask(m, "mask", &self.id))
    }
}

/// A channel: one source of samples, addressed by id in data requests.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Channel {
    /// Id, unique within the configuration, numbered contiguously from 0 or 1.
    pub id: u32,
    /// Informational name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Data source (default `row`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ChannelSource>,
    /// Sample data type (default `f64`), JSON `type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<ChannelDataType>,
    /// Nanoseconds between samples, 0 when not periodic (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Channel {
    /// A channel with an id, source and data type.
    pub fn new(id: u32, source: ChannelSource, data_type: ChannelDataType) -> Self {
        Channel {
            id,
            source: Some(source),
            data_type: Some(data_type),
            ..Channel::default()
        }
    }

    /// `source`, defaulting to `row`.
    pub fn source_or_default(&self) -> ChannelSource {
        self.source.unwrap_or_default()
    }

    /// `type`, defaulting to `f64`.
    pub fn data_type_or_default(&self) -> ChannelDataType {
        self.data_type.unwrap_or_default()
    }

    /// `interval` in nanoseconds, defaulting to 0.
    pub fn interval_or_default(&self) -> i64 {
        self.interval.unwrap_or(0)
    }
}

/// Rational conversion with six coefficients.
///
/// The schema gives the formula `(c1·x² + c2·x + c3) / (c4·x² + c5·x + c6)`,
/// yet calls `[0,1,0,0,1,0]` the 1:1 conversion and `[0,1,5,0,1,0]` a +5
/// offset, which that formula does not produce; this model therefore keeps
/// the coefficients as given and does not evaluate them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RationalConversion {
    /// The six coefficients `c1..c6` (1:1 is `[0,1,0,0,1,0]`).
    pub coeffs: Vec<f64>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Table-lookup conversion.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TableConversion {
    /// Raw values, ascending.
    pub raw: Vec<f64>,
    /// Engineering values matching `raw`.
    pub calibrated: Vec<f64>,
    /// Interpolate between entries (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interpolated: Option<bool>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Text (enumeration) conversion.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TextConversion {
    /// Raw values.
    pub keys: Vec<f64>,
    /// Text for each raw value.
    pub values: Vec<String>,
    /// Text for unmatched values (default empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl TextConversion {
    /// The text for a raw value (the default, or `""`, when unmatched).
    pub fn lookup(&self, raw: f64) -> &str {
        self.keys
            .iter()
            .position(|k| *k == raw)
            .and_then(|i| self.values.get(i))
            .or(self.default.as_ref())
            .map_or("", String::as_str)
    }
}

/// Formula conversion.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FormulaConversion {
    /// SFDL code.
    pub code: String,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A conversion from raw data to engineering values or text.
///
/// At most one of `rational`, `table`, `text`, `formula` is set; none means a
/// 1:1 rational conversion.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Conversion {
    /// Globally unique name, conventionally `name:app`.
    pub name: String,
    /// Unit of measure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// C-style format string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Rational conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rational: Option<RationalConversion>,
    /// Table conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableConversion>,
    /// Text conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextConversion>,
    /// Formula conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formula: Option<FormulaConversion>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Conversion {
    /// A 1:1 conversion with a unit and format.
    pub fn identity(
        name: impl Into<String>,
        unit: impl Into<String>,
        format: impl Into<String>,
    ) -> Self {
        Conversion {
            name: name.into(),
            unit: Some(unit.into()),
            format: Some(format.into()),
            ..Conversion::default()
        }
    }

    /// How many of `rational`, `table`, `text`, `formula` are set.
    fn kinds_set(&self) -> usize {
        usize::from(self.rational.is_some())
            + usize::from(self.table.is_some())
            + usize::from(self.text.is_some())
            + usize::from(self.formula.is_some())
    }
}

/// Extracts an error flag from parameter data.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorDefinition {
    /// Name.
    pub name: String,
    /// Description of the conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Group, qualified with the app name.
    pub group: String,
    /// Parameter id signalling the error currently applies.
    pub current: String,
    /// Parameter id signalling the error applied earlier.
    pub logged: String,
    /// Bit number (0-31) of the error flag (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bit: Option<u32>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Defines point-in-time events, which may carry up to a few data values.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventDefinition {
    /// Id (`event_definition_id` of the protobuf `Event`), unique in the configuration.
    pub id: i32,
    /// Alternate id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Short description (default empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Priority (default `debug`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pri: Option<EventPriority>,
    /// Conversion names for the event's data values, in order.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub convs: Vec<String>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl EventDefinition {
    /// `pri`, defaulting to `debug`.
    pub fn priority_or_default(&self) -> EventPriority {
        self.pri.unwrap_or(EventPriority::Debug)
    }
}

/// An application: a self-contained unit of configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Application {
    /// Description (defaults to the app name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// Identity attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ApplicationIdentity>,
    /// RDA settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rda: Option<ApplicationRda>,
    /// Groups and parameters bound to the application.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "ParameterTree::is_empty"
    )]
    pub tree: ParameterTree,
    /// Parameters.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub parameters: Vec<Parameter>,
    /// Channels.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub channels: Vec<Channel>,
    /// Conversions.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conversions: Vec<Conversion>,
    /// Error definitions.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub errors: Vec<ErrorDefinition>,
    /// Event definitions.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub events: Vec<EventDefinition>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Application {
    /// The parameter with id `id`.
    pub fn parameter(&self, id: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.id == id)
    }

    /// The channel with id `id`.
    pub fn channel(&self, id: u32) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }

    /// The conversion named `name`.
    pub fn conversion(&self, name: &str) -> Option<&Conversion> {
        self.conversions.iter().find(|c| c.name == name)
    }

    /// The event definition with id `id`.
    pub fn event(&self, id: i32) -> Option<&EventDefinition> {
        self.events.iter().find(|e| e.id == id)
    }
}

// ---------------------------------------------------------------------------
// Config: parse, write, look up, validate
// ---------------------------------------------------------------------------

impl Config {
    /// Starts a [`ConfigBuilder`] for a one-application configuration.
    pub fn builder(app: impl Into<String>) -> ConfigBuilder {
        ConfigBuilder::new(app)
    }

    /// Parses and [validates](Self::validate) a configuration.
    ///
    /// Malformed JSON gives [`Error::Json`]; a well-formed configuration that
    /// breaks a rule gives [`Error::Config`].
    pub fn from_json(json: &str) -> Result<Config> {
        let config = Config::from_json_unvalidated(json)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a configuration without validating it.
    pub fn from_json_unvalidated(json: &str) -> Result<Config> {
        parse_json("config", json)
    }

    /// Like [`from_json`](Self::from_json), from bytes.
    pub fn from_slice(json: &[u8]) -> Result<Config> {
        let config: Config = serde_json::from_slice(json).map_err(|e| json_error("config", e))?;
        config.validate()?;
        Ok(config)
    }

    /// Compact JSON (empties omitted, unknown fields kept).
    pub fn to_json(&self) -> String {
        to_json_string(self)
    }

    /// Indented JSON.
    pub fn to_json_pretty(&self) -> String {
        to_json_pretty_string(self)
    }

    /// The channel with id `id` and the name of the app defining it.
    pub fn channel(&self, id: u32) -> Option<(&str, &Channel)> {
        self.apps
            .iter()
            .find_map(|(name, app)| app.channel(id).map(|c| (name.as_str(), c)))
    }

    /// The parameter with id `id` and the name of the app defining it.
    pub fn parameter(&self, id: &str) -> Option<(&str, &Parameter)> {
        self.apps
            .iter()
            .find_map(|(name, app)| app.parameter(id).map(|p| (name.as_str(), p)))
    }

    /// The event definition with id `id` and the name of the app defining it.
    pub fn event(&self, id: i32) -> Option<(&str, &EventDefinition)> {
        self.apps
            .iter()
            .find_map(|(name, app)| app.event(id).map(|e| (name.as_str(), e)))
    }

    /// Data type of every channel (defaults applied), for decoding data.
    pub fn channel_data_types(&self) -> HashMap<u32, ChannelDataType> {
        self.apps
            .values()
            .flat_map(|app| app.channels.iter())
            .map(|c| (c.id, c.data_type_or_default()))
            .collect()
    }

    /// The lowest and highest channel id, if there are channels (useful to
    /// choose a `channelOffset` when binding several configurations).
    pub fn channel_id_range(&self) -> Option<(u32, u32)> {
        let ids = self
            .apps
            .values()
            .flat_map(|a| a.channels.iter().map(|c| c.id));
        ids.fold(None, |acc, id| match acc {
            None => Some((id, id)),
            Some((lo, hi)) => Some((lo.min(id), hi.max(id))),
        })
    }

    /// Gives every parameter without `conv` the app's default 1:1 conversion
    /// `1to1:<app>` (unit `""`, format `%5.3f`), adding that conversion to the
    /// app if it is missing, as the Configuration API does on publication.
    /// Returns how many parameters were changed.
    ///
    /// ```
    /// use rta_core::config::Config;
    ///
    /// let mut c = Config::from_json(r#"{"demo": {"parameters": [{"id": "p:demo", "name": "p", "desc": "P"}]}}"#)?;
    /// assert_eq!(c.fill_default_conversions(), 1);
    /// assert_eq!(c.apps["demo"].parameters[0].conv.as_deref(), Some("1to1:demo"));
    /// assert!(c.apps["demo"].conversion("1to1:demo").is_some());
    /// c.validate()?;
    /// # Ok::<(), rta_core::Error>(())
    /// ```
    pub fn fill_default_conversions(&mut self) -> usize {
        let mut changed = 0;
        for (name, app) in &mut self.apps {
            let conv_name = format!("1to1:{name}");
            let mut app_changed = false;
            for p in app.parameters.iter_mut().filter(|p| p.conv.is_none()) {
                p.conv = Some(conv_name.clone());
                app_changed = true;
                changed += 1;
            }
            if app_changed && app.conversion(&conv_name).is_none() {
                app.conversions
                    .push(Conversion::identity(conv_name, "", "%5.3f"));
            }
        }
        changed
    }

    /// Checks the configuration, failing with [`Error::Config`] on the first
    /// problem found (see [`problems`](Self::problems) for all of them).
    pub fn validate(&self) -> Result<()> {
        match self.problems().into_iter().next() {
            Some(p) => Err(Error::Config(p)),
            None => Ok(()),
        }
    }

    /// Every rule the configuration breaks, each naming the offending item:
    ///
    /// - app names, parameter ids/names/descriptions, group ids, conversion
    ///   names and error definition fields are non-empty;
    /// - channel ids, parameter ids and event ids are unique in the whole
    ///   configuration; group ids and conversion names are unique in their app;
    /// - references resolve within the app: tree and group parameter ids,
    ///   parameter channels and conversions, event conversions, error
    ///   definitions' `current` / `logged` parameters;
    /// - conversions set at most one of rational/table/text/formula; rational
    ///   has six finite coefficients; table and text lists have matching
    ///   lengths and table raw values ascend;
    /// - masks are hex `u32`s, error bits are 0-31, channel intervals are not
    ///   negative, `applicationVersionId` is eight hex digits, numbers are finite.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut channel_ids: HashMap<u32, &str> = HashMap::new();
        let mut parameter_ids: HashMap<&str, &str> = HashMap::new();
        let mut event_ids: HashMap<i32, &str> = HashMap::new();
        for (name, app) in &self.apps {
            if name.is_empty() {
                out.push("an application has an empty name".to_string());
            }
            for c in &app.channels {
                if let Some(other) = channel_ids.insert(c.id, name) {
                    out.push(format!(
                        "app {name:?}: channel {} is defined more than once (also in app {other:?})",
                        c.id
                    ));
                }
            }
            for p in &app.parameters {
                if let Some(other) = parameter_ids.insert(&p.id, name) {
                    out.push(format!(
                        "app {name:?}: parameter {:?} is defined more than once (also in app {other:?})",
                        p.id
                    ));
                }
            }
            for e in &app.events {
                if let Some(other) = event_ids.insert(e.id, name) {
                    out.push(format!(
                        "app {name:?}: event definition {} is defined more than once (also in app {other:?})",
                        e.id
                    ));
                }
            }
            check_app(name, app, &mut out);
        }
        out
    }
}

fn check_app(name: &str, app: &Application, out: &mut Vec<String>) {
    let params: HashSet<&str> = app.parameters.iter().map(|p| p.id.as_str()).collect();
    let channels: HashSet<u32> = app.channels.iter().map(|c| c.id).collect();
    let mut convs: HashSet<&str> = HashSet::new();

    if let Some(identity) = &app.identity {
        let v = &identity.application_version_id;
        if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push(format!(
                "app {name:?}: identity applicationVersionId {v:?} is not eight hex digits"
            ));
        }
    }

    for p in &app.tree.params {
        if !params.contains(p.as_str()) {
            out.push(format!(
                "app {name:?}: tree references undefined parameter {p:?}"
            ));
        }
    }
    let mut group_ids = HashSet::new();
    // Explicit stack: nesting is bounded by the JSON parser, but keep it iterative.
    let mut stack: Vec<&ParameterGroup> = app.tree.groups.iter().collect();
    while let Some(g) = stack.pop() {
        if g.id.is_empty() {
            out.push(format!("app {name:?}: a parameter group has an empty id"));
        } else if !group_ids.insert(g.id.as_str()) {
            out.push(format!(
                "app {name:?}: parameter group {:?} is defined more than once",
                g.id
            ));
        }
        for p in &g.params {
            if !params.contains(p.as_str()) {
                out.push(format!(
                    "app {name:?}: group {:?} references undefined parameter {p:?}",
                    g.id
                ));
            }
        }
        stack.extend(g.groups.iter());
    }

    for c in &app.conversions {
        let cn = &c.name;
        if cn.is_empty() {
            out.push(format!("app {name:?}: a conversion has an empty name"));
        } else if !convs.insert(cn.as_str()) {
            out.push(format!(
                "app {name:?}: conversion {cn:?} is defined more than once"
            ));
        }
        if c.kinds_set() > 1 {
            out.push(format!(
                "app {name:?}: conversion {cn:?} sets more than one of rational/table/text/formula"
            ));
        }
        if let Some(r) = &c.rational {
            if r.coeffs.len() != 6 {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} has {} rational coefficients, not 6",
                    r.coeffs.len()
                ));
            }
            if r.coeffs.iter().any(|v| !v.is_finite()) {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} has a non-finite coefficient"
                ));
            }
        }
        if let Some(t) = &c.table {
            if t.raw.len() != t.calibrated.len() {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} table has {} raw and {} calibrated values",
                    t.raw.len(),
                    t.calibrated.len()
                ));
            }
            if t.raw.windows(2).any(|w| w[0] > w[1]) {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} table raw values do not ascend"
                ));
            }
            if t.raw.iter().chain(&t.calibrated).any(|v| !v.is_finite()) {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} table has a non-finite value"
                ));
            }
        }
        if let Some(t) = &c.text {
            if t.keys.len() != t.values.len() {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} text has {} keys and {} values",
                    t.keys.len(),
                    t.values.len()
                ));
            }
            if t.keys.iter().any(|v| !v.is_finite()) {
                out.push(format!(
                    "app {name:?}: conversion {cn:?} text has a non-finite key"
                ));
            }
        }
    }

    for p in &app.parameters {
        let pid = &p.id;
        if pid.is_empty() {
            out.push(format!("app {name:?}: a parameter has an empty id"));
        }
        if p.name.is_empty() {
            out.push(format!("app {name:?}: parameter {pid:?} has an empty name"));
        }
        if p.desc.is_empty() {
            out.push(format!("app {name:?}: parameter {pid:?} has an empty desc"));
        }
        if let Some(conv) = &p.conv {
            if !convs.contains(conv.as_str()) {
                out.push(format!(
                    "app {name:?}: parameter {pid:?} references undefined conversion {conv:?}"
                ));
            }
        }
        for ch in &p.channels {
            if !channels.contains(ch) {
                out.push(format!(
                    "app {name:?}: parameter {pid:?} references undefined channel {ch}"
                ));
            }
        }
        for (field, value) in [
            ("min", p.min),
            ("max", p.max),
            ("warnMin", p.warn_min),
            ("warnMax", p.warn_max),
            ("offset", p.offset),
        ] {
            if value.is_some_and(|v| !v.is_finite()) {
                out.push(format!(
                    "app {name:?}: parameter {pid:?} {field} is not finite"
                ));
            }
        }
        for (field, mask) in [("mask", &p.mask), ("errorMask", &p.error_mask)] {
            if let Some(m) = mask {
                if let Err(e) = parse_hex_mask(m, field, pid) {
                    out.push(format!("app {name:?}: {}", config_reason(e)));
                }
            }
        }
    }

    for c in &app.channels {
        if c.interval_or_default() < 0 {
            out.push(format!(
                "app {name:?}: channel {} has a negative interval {}",
                c.id,
                c.interval_or_default()
            ));
        }
    }

    for e in &app.events {
        for conv in &e.convs {
            if !convs.contains(conv.as_str()) {
                out.push(format!(
                    "app {name:?}: event definition {} references undefined conversion {conv:?}",
                    e.id
                ));
            }
        }
    }

    for e in &app.errors {
        let en = &e.name;
        for (field, value) in [
            ("name", en),
            ("group", &e.group),
            ("current", &e.current),
            ("logged", &e.logged),
        ] {
            if value.is_empty() {
                out.push(format!(
                    "app {name:?}: error definition {en:?} has an empty {field}"
                ));
            }
        }
        for (field, value) in [("current", &e.current), ("logged", &e.logged)] {
            if !value.is_empty() && !params.contains(value.as_str()) {
                out.push(format!(
                    "app {name:?}: error definition {en:?} {field} references undefined parameter {value:?}"
                ));
            }
        }
        if let Some(bit) = e.bit {
            if bit > 31 {
                out.push(format!(
                    "app {name:?}: error definition {en:?} bit {bit} is not in 0-31"
                ));
            }
        }
    }
}

fn config_reason(e: Error) -> String {
    match e {
        Error::Config(s) => s,
        other => other.to_string(),
    }
}

fn parse_hex_mask(mask: &str, field: &str, parameter: &str) -> Result<u32> {
    let digits = mask
        .strip_prefix("0x")
        .or_else(|| mask.strip_prefix("0X"))
        .unwrap_or(mask);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Config(format!(
            "parameter {parameter:?} {field} {mask:?} is not a hex 32-bit mask"
        )));
    }
    u32::from_str_radix(digits, 16)
        .map_err(|e| Error::Config(format!("parameter {parameter:?} {field} {mask:?}: {e}")))
}

// ---------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------

/// One parameter for [`ConfigBuilder`]: a name, a data type and how it is
/// sampled, plus optional description, unit and range.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterSpec {
    name: String,
    desc: Option<String>,
    unit: Option<String>,
    format: Option<String>,
    range: Option<(f64, f64)>,
    data_type: ChannelDataType,
    source: ChannelSource,
    interval_ns: i64,
}

impl ParameterSpec {
    /// A timestamped parameter called `name` with samples of `data_type`.
    pub fn new(name: impl Into<String>, data_type: ChannelDataType) -> Self {
        ParameterSpec {
            name: name.into(),
            desc: None,
            unit: None,
            format: None,
            range: None,
            data_type,
            source: ChannelSource::Timestamped,
            interval_ns: 0,
        }
    }

    /// Description (defaults to the name).
    pub fn desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = Some(desc.into());
        self
    }

    /// Unit of measure.
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// Format string (overrides the shared conversion's `%5.3f`).
    pub fn format(mut self, format: impl Into<String>) -> Self {
        self.format = Some(format.into());
        self
    }

    /// Expected range (`min`, `max`).
    pub fn range(mut self, min: f64, max: f64) -> Self {
        self.range = Some((min, max));
        self
    }

    /// Sampled periodically at `hz` (channel source `periodic`, interval 1e9/hz ns).
    pub fn periodic_hz(mut self, hz: f64) -> Self {
        self.source = ChannelSource::Periodic;
        self.interval_ns = if hz.is_finite() && hz > 0.0 {
            (1e9 / hz).round() as i64
        } else {
            -1
        };
        self
    }

    /// Individually timestamped samples (the default).
    pub fn timestamped(mut self) -> Self {
        self.source = ChannelSource::Timestamped;
        self.interval_ns = 0;
        self
    }

    /// Row data (memory snapshots).
    pub fn row(mut self) -> Self {
        self.source = ChannelSource::Row;
        self.interval_ns = 0;
        self
    }
}

/// Builds the common configuration: one application, parameters each fed by
/// one channel (ids assigned in order from 1, or from
/// [`first_channel`](Self::first_channel)), one shared 1:1 conversion
/// (`1to1:<app>`), all parameters bound to the tree, and optional events.
///
/// Parameter ids are `<name>:<app>`.
///
/// ```
/// use rta_core::config::{ChannelDataType, Config, EventPriority, ParameterSpec};
///
/// let config = Config::builder("demo")
///     .parameter(ParameterSpec::new("vCar", ChannelDataType::F64).unit("km/h").periodic_hz(100.0))
///     .parameter(ParameterSpec::new("gear", ChannelDataType::U8).desc("Gear"))
///     .event(1, "Gear change", EventPriority::Medium)
///     .build()?;
///
/// let (app, channel) = config.channel(1).unwrap();
/// assert_eq!(app, "demo");
/// assert_eq!(channel.interval, Some(10_000_000));
/// assert_eq!(config.parameter("gear:demo").unwrap().1.channels, vec![2]);
/// assert_eq!(Config::from_json(&config.to_json())?, config);
/// # Ok::<(), rta_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    app: String,
    desc: Option<String>,
    first_channel: u32,
    parameters: Vec<ParameterSpec>,
    events: Vec<(i32, String, EventPriority)>,
}

impl ConfigBuilder {
    /// A builder for app `app`.
    pub fn new(app: impl Into<String>) -> Self {
        ConfigBuilder {
            app: app.into(),
            desc: None,
            first_channel: 1,
            parameters: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Application description.
    pub fn desc(mut self, desc: impl Into<String>) -> Self {
        self.desc = Some(desc.into());
        self
    }

    /// Id of the first channel (default 1).
    pub fn first_channel(mut self, id: u32) -> Self {
        self.first_channel = id;
        self
    }

    /// Adds a parameter.
    pub fn parameter(mut self, spec: ParameterSpec) -> Self {
        self.parameters.push(spec);
        self
    }

    /// Adds a parameter sampled at `hz`.
    pub fn periodic(self, name: impl Into<String>, data_type: ChannelDataType, hz: f64) -> Self {
        self.parameter(ParameterSpec::new(name, data_type).periodic_hz(hz))
    }

    /// Adds a timestamped parameter.
    pub fn timestamped(self, name: impl Into<String>, data_type: ChannelDataType) -> Self {
        self.parameter(ParameterSpec::new(name, data_type))
    }

    /// Adds an event definition without data.
    pub fn event(mut self, id: i32, desc: impl Into<String>, pri: EventPriority) -> Self {
        self.events.push((id, desc.into(), pri));
        self
    }

    /// Builds and validates the configuration.
    ///
    /// Fails with [`Error::Config`] on an empty app or parameter name, a
    /// duplicate parameter or event id, a non-positive frequency or when
    /// channel ids would overflow `u32`.
    pub fn build(self) -> Result<Config> {
        let app_name = self.app;
        if app_name.is_empty() {
            return Err(Error::Config("the application name is empty".into()));
        }
        let conv_name = format!("1to1:{app_name}");
        let mut app = Application {
            desc: self.desc,
            conversions: vec![Conversion::identity(conv_name.clone(), "", "%5.3f")],
            ..Application::default()
        };
        for (i, spec) in self.parameters.into_iter().enumerate() {
            if spec.name.is_empty() {
                return Err(Error::Config(format!("parameter #{i} has an empty name")));
            }
            if spec.interval_ns < 0 {
                return Err(Error::Config(format!(
                    "parameter {:?}: the frequency must be positive and finite",
                    spec.name
                )));
            }
            let channel_id = u32::try_from(i)
                .ok()
                .and_then(|i| self.first_channel.checked_add(i))
                .ok_or_else(|| Error::Config("channel ids overflow u32".into()))?;
            let id = format!("{}:{app_name}", spec.name);
            let mut channel = Channel::new(channel_id, spec.source, spec.data_type);
            if spec.interval_ns > 0 {
                channel.interval = Some(spec.interval_ns);
            }
            app.channels.push(channel);
            let mut param = Parameter::new(
                id.clone(),
                spec.name.clone(),
                spec.desc.unwrap_or(spec.name),
                conv_name.clone(),
            );
            param.channels = vec![channel_id];
            param.unit = spec.unit;
            param.format = spec.format;
            if let Some((min, max)) = spec.range {
                param.min = Some(min);
                param.max = Some(max);
            }
            app.tree.params.push(id);
            app.parameters.push(param);
        }
        for (id, desc, pri) in self.events {
            app.events.push(EventDefinition {
                id,
                desc: Some(desc),
                pri: Some(pri),
                ..EventDefinition::default()
            });
        }
        let mut config = Config::default();
        config.apps.insert(app_name, app);
        config.validate()?;
        Ok(config)
    }
}
