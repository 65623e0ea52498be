//! Errors of the query dialect and the nesting limit.

use serde_json::Value as Json;

use crate::Error;

/// Deepest nesting of criteria and `$not` conditions accepted by the parser.
pub const MAX_DEPTH: usize = 64;

pub(super) fn query_err(msg: impl Into<String>) -> Error {
    Error::Query(msg.into())
}

/// Short name of a JSON value's type, for error messages.
pub(super) fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
