//! Session details: typed values of `details` and `extDetails`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::time::Timestamp;
use crate::{Error, Result};

/// Session details: flat key-value metadata.
pub type Details = BTreeMap<String, DetailValue>;

/// Extended session details: named groups of [`Details`].
pub type ExtDetails = BTreeMap<String, Details>;

/// One value of session `details` / `extDetails`.
///
/// Integers and other numbers stay distinct: `17` reads as
/// [`Integer`](Self::Integer) and `17.0` as [`Number`](Self::Number), and
/// each is written back the way it was read. Date-times are strings in JSON;
/// [`as_timestamp`](Self::as_timestamp) parses them.
///
/// ```
/// use rta_core::session::DetailValue;
///
/// let v: DetailValue = serde_json::from_str("17").unwrap();
/// assert_eq!(v, DetailValue::Integer(17));
/// let v: DetailValue = serde_json::from_str("17.0").unwrap();
/// assert_eq!(serde_json::to_string(&v).unwrap(), "17.0");
/// assert!(serde_json::from_str::<DetailValue>("null").is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum DetailValue {
    /// A string (also used for ISO 8601 date-times).
    String(String),
    /// An integer.
    Integer(i64),
    /// A non-integer number (or one written with a fraction or exponent).
    Number(f64),
    /// A boolean.
    Boolean(bool),
}

impl DetailValue {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            DetailValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            DetailValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as a float, if this is an integer or a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            DetailValue::Integer(i) => Some(*i as f64),
            DetailValue::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            DetailValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The string parsed as an ISO 8601 date-time, if it is one.
    pub fn as_timestamp(&self) -> Option<Timestamp> {
        self.as_str().and_then(|s| Timestamp::parse(s).ok())
    }

    /// The JSON type name: `string`, `integer`, `number` or `boolean`.
    pub fn type_name(&self) -> &'static str {
        match self {
            DetailValue::String(_) => "string",
            DetailValue::Integer(_) => "integer",
            DetailValue::Number(_) => "number",
            DetailValue::Boolean(_) => "boolean",
        }
    }

    /// Converts a JSON value; `null`, arrays and objects are rejected.
    pub fn from_value(value: &Value) -> Result<DetailValue> {
        DetailValue::deserialize(value).map_err(|e| Error::Json {
            what: "detail value",
            reason: e.to_string(),
        })
    }

    /// The value as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            DetailValue::String(s) => Value::String(s.clone()),
            DetailValue::Integer(i) => Value::from(*i),
            DetailValue::Number(n) => {
                serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
            }
            DetailValue::Boolean(b) => Value::Bool(*b),
        }
    }
}

impl fmt::Display for DetailValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetailValue::String(s) => f.write_str(s),
            DetailValue::Integer(i) => write!(f, "{i}"),
            DetailValue::Number(n) => write!(f, "{n}"),
            DetailValue::Boolean(b) => write!(f, "{b}"),
        }
    }
}

impl From<&str> for DetailValue {
    fn from(v: &str) -> Self {
        DetailValue::String(v.to_string())
    }
}

impl From<String> for DetailValue {
    fn from(v: String) -> Self {
        DetailValue::String(v)
    }
}

impl From<i64> for DetailValue {
    fn from(v: i64) -> Self {
        DetailValue::Integer(v)
    }
}

impl From<i32> for DetailValue {
    fn from(v: i32) -> Self {
        DetailValue::Integer(i64::from(v))
    }
}

impl From<u32> for DetailValue {
    fn from(v: u32) -> Self {
        DetailValue::Integer(i64::from(v))
    }
}

impl From<f64> for DetailValue {
    fn from(v: f64) -> Self {
        DetailValue::Number(v)
    }
}

impl From<bool> for DetailValue {
    fn from(v: bool) -> Self {
        DetailValue::Boolean(v)
    }
}

impl From<&Timestamp> for DetailValue {
    fn from(v: &Timestamp) -> Self {
        DetailValue::String(v.as_str().to_string())
    }
}

impl Serialize for DetailValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            DetailValue::String(s) => serializer.serialize_str(s),
            DetailValue::Integer(i) => serializer.serialize_i64(*i),
            DetailValue::Number(n) => serializer.serialize_f64(*n),
            DetailValue::Boolean(b) => serializer.serialize_bool(*b),
        }
    }
}

impl<'de> Deserialize<'de> for DetailValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = DetailValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, integer, number or boolean (no null or nesting)")
            }

            fn visit_bool<E: serde::de::Error>(
                self,
                v: bool,
            ) -> std::result::Result<DetailValue, E> {
                Ok(DetailValue::Boolean(v))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<DetailValue, E> {
                Ok(DetailValue::Integer(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<DetailValue, E> {
                // Integers beyond i64 cannot be kept exactly; keep them as numbers.
                Ok(i64::try_from(v).map_or(DetailValue::Number(v as f64), DetailValue::Integer))
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<DetailValue, E> {
                Ok(DetailValue::Number(v))
            }

            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<DetailValue, E> {
                Ok(DetailValue::String(v.to_string()))
            }

            fn visit_string<E: serde::de::Error>(
                self,
                v: String,
            ) -> std::result::Result<DetailValue, E> {
                Ok(DetailValue::String(v))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

/// Parses a JSON object of details (`{"Run": 17, "Driver": "Bob"}`), as carried
/// by the session service's `details_json` fields.
pub fn details_from_json(json: &str) -> Result<Details> {
    serde_json::from_str(json).map_err(|e| Error::Json {
        what: "session details",
        reason: e.to_string(),
    })
}
