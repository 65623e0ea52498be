//! JSON helpers shared by the session and config models.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// Properties a model does not know, kept in document order and written back.
pub type Extra = Map<String, Value>;

/// Reads `null` as the type's default (empty collection).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

pub(crate) fn json_error(what: &'static str, e: serde_json::Error) -> Error {
    Error::Json {
        what,
        reason: e.to_string(),
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(what: &'static str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| json_error(what, e))
}

/// Serializes a model type. These types hold only string-keyed maps and
/// serializable values, so serde_json cannot fail on them.
pub(crate) fn to_json_string<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

pub(crate) fn to_json_pretty_string<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
