//! Sorting sessions: keys, directions and orders.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde_json::Value as Json;

use super::errors::query_err;
use super::path::*;
use super::target::*;
use super::value::*;
use crate::{Error, Result};

/// Direction of a sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortDirection {
    /// Smallest first (`:asc`, and the default for a bare property).
    #[default]
    Ascending,
    /// Largest first (`:desc`).
    Descending,
}

/// One sort directive: a property and a direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// The property to sort by.
    pub path: Path,
    /// The direction.
    pub direction: SortDirection,
}

impl SortKey {
    /// Parses `property:asc`, `property:desc` (suffix case-insensitive) or a
    /// bare `property` (ascending).
    ///
    /// When the text after the last `:` is neither `asc` nor `desc`, the whole
    /// text is taken as the property name, so names containing `:` work.
    /// Names that are not valid query paths are kept as plain properties
    /// (they just sort as missing). Only an empty property is an error.
    ///
    /// ```
    /// use rta_core::query::{Path, SortDirection, SortKey};
    /// let k = SortKey::parse("extDetails.CarSetup.TyrePressure:DESC").unwrap();
    /// assert_eq!(k.direction, SortDirection::Descending);
    /// assert_eq!(k.path.to_string(), "extDetails.CarSetup.TyrePressure");
    /// assert_eq!(SortKey::parse("quality").unwrap().direction, SortDirection::Ascending);
    /// ```
    pub fn parse(text: &str) -> Result<SortKey> {
        let text = text.trim();
        let (name, direction) = match text.rsplit_once(':') {
            Some((name, dir)) if dir.trim().eq_ignore_ascii_case("asc") => {
                (name.trim(), SortDirection::Ascending)
            }
            Some((name, dir)) if dir.trim().eq_ignore_ascii_case("desc") => {
                (name.trim(), SortDirection::Descending)
            }
            _ => (text, SortDirection::Ascending),
        };
        if name.is_empty() {
            return Err(query_err(format!(
                "sort directive {text:?} names no property"
            )));
        }
        let path = Path::parse(name).unwrap_or_else(|_| Path::Property(name.to_owned()));
        Ok(SortKey { path, direction })
    }

    /// Compares two targets by this key. Missing or null values come after
    /// every present value in both directions.
    pub fn compare<T: QueryTarget + ?Sized>(&self, a: &T, b: &T) -> Ordering {
        let va = a.value(&self.path);
        let vb = b.value(&self.path);
        let present = |v: &Option<Cow<'_, Json>>| v.as_deref().filter(|j| !j.is_null()).cloned();
        match (present(&va), present(&vb)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => {
                let o = sort_cmp(&x, &y);
                match self.direction {
                    SortDirection::Ascending => o,
                    SortDirection::Descending => o.reverse(),
                }
            }
        }
    }
}

/// Total order on present JSON values for sorting: typed comparison within
/// a kind, and booleans < numbers < strings < arrays/objects across kinds.
fn sort_cmp(a: &Json, b: &Json) -> Ordering {
    fn rank(v: &Json) -> u8 {
        match v {
            Json::Null => 4,
            Json::Bool(_) => 0,
            Json::Number(_) => 1,
            Json::String(_) => 2,
            Json::Array(_) | Json::Object(_) => 3,
        }
    }
    match (Value::from_json(a), Value::from_json(b)) {
        (Some(x), Some(y)) => x.compare(&y).unwrap_or_else(|| rank(a).cmp(&rank(b))),
        _ => rank(a).cmp(&rank(b)),
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = match self.direction {
            SortDirection::Ascending => "asc",
            SortDirection::Descending => "desc",
        };
        write!(f, "{}:{dir}", self.path)
    }
}

impl FromStr for SortKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<SortKey> {
        SortKey::parse(s)
    }
}

/// A list of sort keys, highest priority first. Defaults to `timestamp`
/// descending (most recent first).
///
/// ```
/// use rta_core::query::SortOrder;
/// use serde_json::json;
///
/// let order = SortOrder::parse(["quality:desc", "timestamp:asc"]).unwrap();
/// let mut sessions = vec![
///     json!({"identity": "a", "quality": 0.5, "timestamp": "2021-05-22T14:30:00+01:00"}),
///     json!({"identity": "b", "timestamp": "2021-05-22T13:00:00Z"}),
///     json!({"identity": "c", "quality": 0.9, "timestamp": "2021-05-22T13:00:00Z"}),
///     json!({"identity": "d", "quality": 0.5, "timestamp": "2021-05-22T13:20:00Z"}),
/// ];
/// order.sort(&mut sessions);
/// let ids: Vec<_> = sessions.iter().map(|s| s["identity"].as_str().unwrap()).collect();
/// assert_eq!(ids, ["c", "d", "a", "b"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortOrder {
    keys: Vec<SortKey>,
}

impl Default for SortOrder {
    fn default() -> Self {
        SortOrder {
            keys: vec![SortKey {
                path: Path::timestamp(),
                direction: SortDirection::Descending,
            }],
        }
    }
}

impl SortOrder {
    /// Parses the `sort` arguments of a request, highest priority first.
    /// Blank items are skipped; with no items left the order is the default
    /// (`timestamp` descending).
    pub fn parse<I>(items: I) -> Result<SortOrder>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let keys = items
            .into_iter()
            .filter(|s| !s.as_ref().trim().is_empty())
            .map(|s| SortKey::parse(s.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        Ok(SortOrder::from_keys(keys))
    }

    /// An order from keys; an empty list gives the default order.
    pub fn from_keys(keys: Vec<SortKey>) -> SortOrder {
        if keys.is_empty() {
            SortOrder::default()
        } else {
            SortOrder { keys }
        }
    }

    /// The keys, highest priority first (never empty).
    pub fn keys(&self) -> &[SortKey] {
        &self.keys
    }

    /// Compares two targets key by key.
    pub fn compare<T: QueryTarget + ?Sized>(&self, a: &T, b: &T) -> Ordering {
        self.keys
            .iter()
            .map(|k| k.compare(a, b))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// Sorts targets in place (stable).
    pub fn sort<T: QueryTarget>(&self, items: &mut [T]) {
        items.sort_by(|a, b| self.compare(a, b));
    }
}

impl fmt::Display for SortOrder {
    /// The keys joined by commas, e.g. `quality:desc,timestamp:asc`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}")?;
        }
        Ok(())
    }
}
