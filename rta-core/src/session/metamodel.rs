//! The session metamodel: what properties sessions have and what the server can do with them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::json::{null_as_default, parse_json, to_json_string, Extra};
use crate::Result;

/// What the server can do with a property.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyCapabilities {
    /// The server can sort sessions by the property (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<bool>,
    /// The server can filter sessions by the property (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<bool>,
    /// Properties this model does not know (e.g. `edit`).
    #[serde(flatten)]
    pub extra: Extra,
}

impl PropertyCapabilities {
    /// Capabilities with both `sort` and `filter` set as given.
    pub fn new(sort: bool, filter: bool) -> Self {
        PropertyCapabilities {
            sort: Some(sort),
            filter: Some(filter),
            extra: Extra::new(),
        }
    }

    /// `sort`, defaulting to false.
    pub fn can_sort(&self) -> bool {
        self.sort.unwrap_or(false)
    }

    /// `filter`, defaulting to false.
    pub fn can_filter(&self) -> bool {
        self.filter.unwrap_or(false)
    }
}

/// Values a property can take, for editing and faceted filtering.
///
/// Values and bounds are kept as JSON because they may be strings, numbers,
/// booleans or date-times (and the spec's own example lists a `null`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyConstraints {
    /// True if only `values` are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_values: Option<bool>,
    /// Allowed or observed values.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<Value>,
    /// Inclusive minimum (number or string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<Value>,
    /// Inclusive maximum (number or string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<Value>,
    /// Exclusive minimum (number or string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_minimum: Option<Value>,
    /// Exclusive maximum (number or string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_maximum: Option<Value>,
    /// Minimum string length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Maximum string length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// Regular expression for string values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Capabilities and constraints of one of the predefined session properties.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionPropertyDescriptor {
    /// What the server can do with the property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<PropertyCapabilities>,
    /// Values the property can take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<PropertyConstraints>,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Data type of a described detail property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DetailPropertyType {
    /// Text (the default).
    #[default]
    String,
    /// Any number.
    Number,
    /// Whole number.
    Integer,
    /// True / false.
    Boolean,
    /// ISO 8601 date-time (a string in JSON).
    DateTime,
}

/// Maps numeric values to display text.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PropertyDisplayEnum {
    /// Mapped values.
    pub values: Vec<f64>,
    /// Text for each value (same length as `values`).
    pub text: Vec<String>,
    /// Text for unmapped values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Display formatting of a property.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PropertyDisplay {
    /// Unit of measure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// C-style format string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Value-to-text mapping.
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub enumeration: Option<PropertyDisplayEnum>,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Describes one `details` / `extDetails` property.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetailPropertyDescriptor {
    /// Display name.
    pub label: String,
    /// Free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Data type (default string).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub property_type: Option<DetailPropertyType>,
    /// What the server can do with the property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<PropertyCapabilities>,
    /// Values the property can take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<PropertyConstraints>,
    /// Display formatting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<PropertyDisplay>,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Describes a group of extended details.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SessionDetailPropertyGroupDescriptor {
    /// Display name of the group.
    pub label: String,
    /// Free-text description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Properties of the group (possibly a subset).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub properties: BTreeMap<String, SessionDetailPropertyDescriptor>,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The session metamodel (`GET /rta/v2/session-metamodel`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMetamodel {
    /// Capabilities for `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PropertyCapabilities>,
    /// `timestamp` descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<SessionPropertyDescriptor>,
    /// `startTimestamp` descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<SessionPropertyDescriptor>,
    /// `endTimestamp` descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_timestamp: Option<SessionPropertyDescriptor>,
    /// `identifier` descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<SessionPropertyDescriptor>,
    /// `type` descriptor.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub session_type: Option<SessionPropertyDescriptor>,
    /// `quality` descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<SessionPropertyDescriptor>,
    /// `group` descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<SessionPropertyDescriptor>,
    /// `version` descriptor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<SessionPropertyDescriptor>,
    /// Descriptors of `details` properties, by key.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub details: BTreeMap<String, SessionDetailPropertyDescriptor>,
    /// Descriptors of `extDetails` groups, by group name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub ext_details: BTreeMap<String, SessionDetailPropertyGroupDescriptor>,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl SessionMetamodel {
    /// Parses a metamodel document.
    pub fn from_json(json: &str) -> Result<SessionMetamodel> {
        parse_json("session metamodel", json)
    }

    /// Compact JSON.
    pub fn to_json(&self) -> String {
        to_json_string(self)
    }
}

/// A property found by `GET /rta/v2/session-metamodel/properties`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PropertySummary {
    /// Qualified property id, e.g. `details.Driver`.
    pub id: String,
    /// Label for display.
    pub label: String,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl PropertySummary {
    /// Parses the JSON array returned by the property search.
    pub fn list_from_json(json: &str) -> Result<Vec<PropertySummary>> {
        parse_json("property summaries", json)
    }
}
