//! The configuration model: applications, parameters, channels,
//! conversions, groups, events and errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::*;
use crate::json::{null_as_default, Extra};
use crate::{Error, Result};

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
    pub(super) fn kinds_set(&self) -> usize {
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

pub(super) fn parse_hex_mask(mask: &str, field: &str, parameter: &str) -> Result<u32> {
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
