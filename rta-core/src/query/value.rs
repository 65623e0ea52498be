//! Literal values and how they compare.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value as Json;

/// A literal operand of a condition (or a property value being compared).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer that fits `i64`.
    Integer(i64),
    /// Any other number (fractional, or beyond `i64`); never NaN or infinite.
    Number(f64),
    /// A string. Strings in RFC 3339 form are also compared as instants, see
    /// [`Value::as_date_time`].
    String(String),
}

impl Value {
    /// Converts a JSON scalar; arrays and objects give `None`.
    pub fn from_json(v: &Json) -> Option<Value> {
        Some(match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Integer(i),
                None => Value::Number(n.as_f64()?),
            },
            Json::String(s) => Value::String(s.clone()),
            Json::Array(_) | Json::Object(_) => return None,
        })
    }

    /// The JSON form of the value (a non-finite number becomes `null`).
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Integer(i) => Json::from(*i),
            Value::Number(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Value::String(s) => Json::String(s.clone()),
        }
    }

    /// The instant denoted by a string value in RFC 3339 form (ISO 8601 with
    /// an offset), keeping its offset.
    pub fn as_date_time(&self) -> Option<DateTime<FixedOffset>> {
        match self {
            Value::String(s) => parse_date_time(s),
            _ => None,
        }
    }

    /// Typed comparison as described in the [module documentation](self):
    /// `None` when the values are of different kinds and so incomparable.
    ///
    /// ```
    /// use rta_core::query::Value;
    /// use std::cmp::Ordering;
    /// let a = Value::String("2021-01-01T12:00:00+01:00".into());
    /// let b = Value::String("2021-01-01T11:00:00Z".into());
    /// assert_eq!(a.compare(&b), Some(Ordering::Equal));
    /// assert_eq!(Value::Integer(2).compare(&Value::Number(2.5)), Some(Ordering::Less));
    /// assert_eq!(Value::Integer(2).compare(&Value::String("2".into())), None);
    /// ```
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Null, Value::Null) => Some(Ordering::Equal),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::Integer(a), Value::Integer(b)) => Some(a.cmp(b)),
            (Value::Integer(a), Value::Number(b)) => cmp_int_float(*a, *b),
            (Value::Number(a), Value::Integer(b)) => cmp_int_float(*b, *a).map(Ordering::reverse),
            (Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
            (Value::String(a), Value::String(b)) => {
                match (parse_date_time(a), parse_date_time(b)) {
                    (Some(x), Some(y)) => Some(x.cmp(&y)),
                    _ => Some(a.as_str().cmp(b.as_str())),
                }
            }
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Integer(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Number(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

pub(super) fn parse_date_time(s: &str) -> Option<DateTime<FixedOffset>> {
    // Cheap pre-check: RFC 3339 starts with four digits and a dash.
    let b = s.as_bytes();
    if b.len() < 20 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// Exact comparison of an integer with a finite float.
pub(super) fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // 2^63 as f64 is exact.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let whole = f.trunc();
    // In range, so the conversion is exact.
    let t = whole as i64;
    Some(match i.cmp(&t) {
        Ordering::Equal => {
            let frac = f - whole;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    })
}

/// The scalar view of a property value: missing and null are both `Null`;
/// arrays and objects are `None` (never comparable).
pub(super) fn scalar(actual: Option<&Json>) -> Option<Value> {
    match actual {
        None => Some(Value::Null),
        Some(v) => Value::from_json(v),
    }
}
