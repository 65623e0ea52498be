//! The session JSON model, its time range, config bindings and pages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::details::{DetailValue, Details, ExtDetails};
use super::state::SessionState;
use crate::json::{
    json_error, null_as_default, parse_json, to_json_pretty_string, to_json_string, Extra,
};
use crate::time::Timestamp;
use crate::{Error, Result};

/// Valid time range of a session's data (inclusive), in nanoseconds since the
/// Unix epoch (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionTimeRange {
    /// Time of the earliest data (ns).
    pub start_time: i64,
    /// Time of the latest data (ns).
    pub end_time: i64,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl SessionTimeRange {
    /// A range from `start_time` to `end_time` (ns, inclusive).
    pub fn new(start_time: i64, end_time: i64) -> Self {
        SessionTimeRange {
            start_time,
            end_time,
            extra: Extra::new(),
        }
    }
}

/// Binds a configuration onto a session, offsetting its channel ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigBinding {
    /// Identifier the configuration can be read under (`GET /configs/{identifier}`).
    pub identifier: String,
    /// Added to every channel id of the configuration.
    pub channel_offset: u32,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ConfigBinding {
    /// A binding of `identifier` with `channel_offset`.
    pub fn new(identifier: impl Into<String>, channel_offset: u32) -> Self {
        ConfigBinding {
            identifier: identifier.into(),
            channel_offset,
            extra: Extra::new(),
        }
    }
}

/// The RTA session descriptor (`GET /rta/v2/sessions/{identity}`).
///
/// Required: `identity`, `state`, `timestamp`, `identifier`. Everything else
/// is optional; empty collections and `None` are omitted on output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Unique, preferably unpredictable, identity.
    pub identity: String,
    /// Whether more data is expected.
    pub state: SessionState,
    /// Official session timestamp, with offset.
    pub timestamp: Timestamp,
    /// Human-readable name (not necessarily unique).
    pub identifier: String,
    /// Start of the telemetry (inclusive), if there is data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_timestamp: Option<Timestamp>,
    /// End of the telemetry (inclusive); present whenever `start_timestamp` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_timestamp: Option<Timestamp>,
    /// Exact time range of the data in nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_range: Option<SessionTimeRange>,
    /// Key-value metadata.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub details: Details,
    /// Groups of extended metadata.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub ext_details: ExtDetails,
    /// Type classifier (origin or content of the session), JSON `type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub session_type: Option<String>,
    /// Quality from 0.0 (worst) to 1.0 (best).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<f64>,
    /// Group amongst peers (children / alternates), e.g. the model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// SemVer-style version within the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Identities of child sessions.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub children: Vec<String>,
    /// Identities of alternate sessions.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub alternates: Vec<String>,
    /// Configurations bound onto the session.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub config_bindings: Vec<ConfigBinding>,
    /// Properties this model does not know, written back unchanged.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Session {
    /// A session with the four required properties and nothing else.
    ///
    /// ```
    /// use rta_core::session::{Session, SessionState};
    /// use rta_core::time::Timestamp;
    ///
    /// let mut s = Session::new("001", SessionState::Open, Timestamp::now(), "example");
    /// s.details.insert("Run".into(), 5.into());
    /// assert!(s.to_json().contains(r#""details":{"Run":5}"#));
    /// ```
    pub fn new(
        identity: impl Into<String>,
        state: SessionState,
        timestamp: Timestamp,
        identifier: impl Into<String>,
    ) -> Self {
        Session {
            identity: identity.into(),
            state,
            timestamp,
            identifier: identifier.into(),
            start_timestamp: None,
            end_timestamp: None,
            time_range: None,
            details: Details::new(),
            ext_details: ExtDetails::new(),
            session_type: None,
            quality: None,
            group: None,
            version: None,
            children: Vec::new(),
            alternates: Vec::new(),
            config_bindings: Vec::new(),
            extra: Extra::new(),
        }
    }

    /// Parses and [validates](Self::validate) a session JSON document.
    ///
    /// Errors are [`Error::Json`] with the reason (a missing required
    /// property, a bad timestamp or state, a quality out of range...).
    pub fn from_json(json: &str) -> Result<Session> {
        let session: Session = parse_json("session", json)?;
        session.validate()?;
        Ok(session)
    }

    /// Like [`from_json`](Self::from_json), from bytes.
    pub fn from_slice(json: &[u8]) -> Result<Session> {
        let session: Session =
            serde_json::from_slice(json).map_err(|e| json_error("session", e))?;
        session.validate()?;
        Ok(session)
    }

    /// Like [`from_json`](Self::from_json), from a JSON value.
    pub fn from_value(value: Value) -> Result<Session> {
        let session: Session =
            serde_json::from_value(value).map_err(|e| json_error("session", e))?;
        session.validate()?;
        Ok(session)
    }

    /// Compact JSON (camelCase, empties omitted, unknown properties kept).
    pub fn to_json(&self) -> String {
        to_json_string(self)
    }

    /// Indented JSON.
    pub fn to_json_pretty(&self) -> String {
        to_json_pretty_string(self)
    }

    /// The session as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Checks the rules the schema states beyond types: a non-empty identity,
    /// `quality` within 0..=1, `endTimestamp` present with `startTimestamp` and
    /// not before it, `timeRange` not reversed, finite detail numbers and
    /// non-empty configuration identifiers.
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| {
            Err(Error::Json {
                what: "session",
                reason,
            })
        };
        if self.identity.is_empty() {
            return fail("identity must not be empty".into());
        }
        if let Some(q) = self.quality {
            if !(0.0..=1.0).contains(&q) {
                return fail(format!("quality {q} is outside 0.0..=1.0"));
            }
        }
        match (&self.start_timestamp, &self.end_timestamp) {
            (Some(_), None) => {
                return fail("endTimestamp must be present with startTimestamp".into())
            }
            (Some(start), Some(end)) if end < start => {
                return fail(format!(
                    "endTimestamp {end} is before startTimestamp {start}"
                ))
            }
            _ => {}
        }
        if let Some(range) = &self.time_range {
            if range.end_time < range.start_time {
                return fail(format!(
                    "timeRange endTime {} is before startTime {}",
                    range.end_time, range.start_time
                ));
            }
        }
        let groups = std::iter::once((None, &self.details))
            .chain(self.ext_details.iter().map(|(g, d)| (Some(g), d)));
        for (group, details) in groups {
            for (key, value) in details {
                if let DetailValue::Number(n) = value {
                    if !n.is_finite() {
                        let path = match group {
                            Some(g) => format!("extDetails.{g}.{key}"),
                            None => format!("details.{key}"),
                        };
                        return fail(format!("{path} is not a finite number ({n})"));
                    }
                }
            }
        }
        if let Some(i) = self
            .config_bindings
            .iter()
            .position(|b| b.identifier.is_empty())
        {
            return fail(format!("configBindings[{i}] has an empty identifier"));
        }
        Ok(())
    }

    /// Sets `timeRange` to `start..=end` (ns) and `startTimestamp` /
    /// `endTimestamp` to the same instants, written in the offset of the
    /// session `timestamp`.
    ///
    /// ```
    /// use rta_core::session::{Session, SessionState};
    /// use rta_core::time::Timestamp;
    ///
    /// let ts = Timestamp::parse("2021-05-06T18:58:56.20289+01:00")?;
    /// let mut s = Session::new("id", SessionState::Closed, ts, "demo");
    /// s.set_time_range(1_620_323_936_202_890_000, 1_620_324_536_202_890_000)?;
    /// assert_eq!(s.end_timestamp.unwrap().as_str(), "2021-05-06T19:08:56.20289+01:00");
    /// # Ok::<(), rta_core::Error>(())
    /// ```
    pub fn set_time_range(&mut self, start: i64, end: i64) -> Result<()> {
        if end < start {
            return Err(Error::InvalidArgument(format!(
                "time range end {end} is before start {start}"
            )));
        }
        let offset = self.timestamp.offset_minutes();
        self.start_timestamp = Some(Timestamp::from_nanos_with_offset(start, offset)?);
        self.end_timestamp = Some(Timestamp::from_nanos_with_offset(end, offset)?);
        self.time_range = Some(SessionTimeRange::new(start, end));
        Ok(())
    }

    /// Removes `timeRange`, `startTimestamp` and `endTimestamp` (no data).
    pub fn clear_time_range(&mut self) {
        self.start_timestamp = None;
        self.end_timestamp = None;
        self.time_range = None;
    }

    /// Looks up a detail (`details.X`) or an extended detail (`extDetails.G.X`)
    /// by the dotted path used in queries; `None` if absent.
    pub fn detail(&self, path: &str) -> Option<&DetailValue> {
        if let Some(key) = path.strip_prefix("details.") {
            return self.details.get(key);
        }
        let rest = path.strip_prefix("extDetails.")?;
        // Group names may contain dots; try each split point.
        rest.match_indices('.').find_map(|(i, _)| {
            self.ext_details
                .get(&rest[..i])
                .and_then(|g| g.get(&rest[i + 1..]))
        })
    }
}

/// A page of sessions (`GET` / `POST /rta/v2/sessions`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SessionsPage {
    /// The sessions on this page (always written, even when empty).
    pub sessions: Vec<Session>,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl SessionsPage {
    /// A page of `sessions`.
    pub fn new(sessions: Vec<Session>) -> Self {
        SessionsPage {
            sessions,
            extra: Extra::new(),
        }
    }

    /// Parses a page and validates every session in it.
    pub fn from_json(json: &str) -> Result<SessionsPage> {
        let page: SessionsPage = parse_json("sessions page", json)?;
        for (i, s) in page.sessions.iter().enumerate() {
            s.validate().map_err(|e| match e {
                Error::Json { reason, .. } => Error::Json {
                    what: "sessions page",
                    reason: format!("sessions[{i}]: {reason}"),
                },
                other => other,
            })?;
        }
        Ok(page)
    }

    /// Compact JSON.
    pub fn to_json(&self) -> String {
        to_json_string(self)
    }
}
