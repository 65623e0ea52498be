//! Property paths: top-level properties and details.

use std::fmt;
use std::str::FromStr;

use super::errors::query_err;
use crate::{Error, Result};

/// A property of the session model named by a query or sort directive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Path {
    /// A top-level property such as `identifier`, `type`, `timestamp`,
    /// `quality`, or any other name the server may know.
    Property(String),
    /// `details.<key>`: an entry of the session's `details`.
    Detail(String),
    /// `extDetails.<group>.<key>`: an entry of an extended details group.
    ExtDetail {
        /// The group name.
        group: String,
        /// The key inside the group.
        key: String,
    },
}

impl Path {
    /// Parses a dotted property path.
    ///
    /// Everything after `details.` is the detail key (it may contain dots);
    /// after `extDetails.` the group runs to the next dot and the rest is the
    /// key. Empty paths, paths starting with `$`, and `details.` or
    /// `extDetails.` paths with an empty group or key are errors.
    ///
    /// ```
    /// use rta_core::query::Path;
    /// assert_eq!(Path::parse("details.Lab Tech").unwrap(), Path::Detail("Lab Tech".into()));
    /// assert_eq!(
    ///     Path::parse("extDetails.CarSetup.RideHeightFront").unwrap(),
    ///     Path::ExtDetail { group: "CarSetup".into(), key: "RideHeightFront".into() }
    /// );
    /// assert_eq!(Path::parse("timestamp").unwrap(), Path::Property("timestamp".into()));
    /// ```
    pub fn parse(text: &str) -> Result<Path> {
        if text.is_empty() {
            return Err(query_err("empty property path"));
        }
        if text.starts_with('$') {
            return Err(query_err(format!(
                "{text:?} is not a property path (paths cannot start with '$')"
            )));
        }
        if let Some(key) = text.strip_prefix("details.") {
            if key.is_empty() {
                return Err(query_err(format!("{text:?} has an empty details key")));
            }
            return Ok(Path::Detail(key.to_owned()));
        }
        if let Some(rest) = text.strip_prefix("extDetails.") {
            return match rest.split_once('.') {
                Some((group, key)) if !group.is_empty() && !key.is_empty() => Ok(Path::ExtDetail {
                    group: group.to_owned(),
                    key: key.to_owned(),
                }),
                _ => Err(query_err(format!(
                    "{text:?} must name a group and a key: extDetails.<group>.<key>"
                ))),
            };
        }
        Ok(Path::Property(text.to_owned()))
    }

    /// `timestamp`, the default sort property.
    pub fn timestamp() -> Path {
        Path::Property("timestamp".to_owned())
    }

    /// True for the session properties that hold ISO 8601 date-times:
    /// `timestamp`, `startTimestamp` and `endTimestamp`.
    pub fn is_date_time(&self) -> bool {
        matches!(self, Path::Property(p) if p == "timestamp" || p == "startTimestamp" || p == "endTimestamp")
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Property(p) => f.write_str(p),
            Path::Detail(k) => write!(f, "details.{k}"),
            Path::ExtDetail { group, key } => write!(f, "extDetails.{group}.{key}"),
        }
    }
}

impl FromStr for Path {
    type Err = Error;

    fn from_str(s: &str) -> Result<Path> {
        Path::parse(s)
    }
}
