//! The Session JSON model of the RTA REST API, and the other JSON documents of
//! the Session API (session pages, virtual folders and the metamodel).
//!
//! Conventions, as the specification sets them:
//!
//! - property names are camelCase, enumerations are lower camelCase strings;
//! - `null`, empty arrays and empty maps are omitted on output (and `null` is
//!   accepted on input wherever a property is optional);
//! - timestamps are ISO 8601 with an offset ([`Timestamp`]) and come back out
//!   exactly as they went in;
//! - properties this model does not know are kept (in each type's `extra`
//!   map) and written back, so a document passes through unchanged.
//!
//! ```
//! use rta_core::session::{DetailValue, Session, SessionState};
//!
//! let json = r#"{
//!     "identity": "f10f4a19-3831-4dd6-a178-faa94931a5b0",
//!     "state": "closed",
//!     "timestamp": "2021-05-06T18:58:56.20289+01:00",
//!     "identifier": "Session Demo 06 May 2021 18:58",
//!     "details": {"Lab Tech": "Bob Jones", "Run": 17}
//! }"#;
//! let session = Session::from_json(json)?;
//! assert_eq!(session.state, SessionState::Closed);
//! assert_eq!(session.state.as_i32(), 4);
//! assert_eq!(session.details["Run"], DetailValue::Integer(17));
//! assert_eq!(session.timestamp.nanos(), 1_620_323_936_202_890_000);
//!
//! let again = Session::from_json(&session.to_json())?;
//! assert_eq!(again, session);
//! # Ok::<(), rta_core::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::time::Timestamp;
use crate::{Error, Result};

/// Properties a model does not know, kept in document order and written back.
pub type Extra = Map<String, Value>;

/// Session details: flat key-value metadata.
pub type Details = BTreeMap<String, DetailValue>;

/// Extended session details: named groups of [`Details`].
pub type ExtDetails = BTreeMap<String, Details>;

// ---------------------------------------------------------------------------
// Session state
// ---------------------------------------------------------------------------

/// Whether a session is expected to receive more data.
///
/// JSON uses the lower-case names; gRPC uses the numbers. The numbers are
/// chosen so that every closed state has bit 4 set (`>= 4`).
///
/// ```
/// use rta_core::session::SessionState;
///
/// assert_eq!(SessionState::from_i32(12)?, SessionState::Truncated);
/// assert_eq!(SessionState::Abandoned.as_i32(), 44);
/// assert_eq!("open".parse::<SessionState>()?, SessionState::Open);
/// assert!(SessionState::Failed.is_closed());
/// assert!(SessionState::from_i32(3).is_err());
/// # Ok::<(), rta_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(i32)]
pub enum SessionState {
    /// Should be ignored by clients (0).
    #[default]
    Unknown = 0,
    /// Acquisition is starting, or temporarily paused (1).
    Waiting = 1,
    /// Receiving data; more may follow even if the session looks idle (2).
    Open = 2,
    /// No more data should arrive, though metadata may still change (4).
    Closed = 4,
    /// Closed without all of the data (12).
    Truncated = 12,
    /// Closed without all of the data because of a fault (28).
    Failed = 28,
    /// Closed by hand or by a watchdog after being idle too long (44).
    Abandoned = 44,
}

impl SessionState {
    /// Every state, in numeric order.
    pub const ALL: [SessionState; 7] = [
        SessionState::Unknown,
        SessionState::Waiting,
        SessionState::Open,
        SessionState::Closed,
        SessionState::Truncated,
        SessionState::Failed,
        SessionState::Abandoned,
    ];

    /// The numeric value used on gRPC.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The state with numeric value `value`; other numbers are rejected
    /// with [`Error::InvalidArgument`].
    pub fn from_i32(value: i32) -> Result<SessionState> {
        SessionState::ALL
            .into_iter()
            .find(|s| s.as_i32() == value)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown session state number {value} (valid: 0, 1, 2, 4, 12, 28, 44)"
                ))
            })
    }

    /// The JSON name (`"closed"`...).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Unknown => "unknown",
            SessionState::Waiting => "waiting",
            SessionState::Open => "open",
            SessionState::Closed => "closed",
            SessionState::Truncated => "truncated",
            SessionState::Failed => "failed",
            SessionState::Abandoned => "abandoned",
        }
    }

    /// The state named `name`, ignoring ASCII case; other names are rejected
    /// with [`Error::InvalidArgument`].
    pub fn from_name(name: &str) -> Result<SessionState> {
        SessionState::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown session state {name:?} (valid: unknown, waiting, open, closed, \
                     truncated, failed, abandoned)"
                ))
            })
    }

    /// True for `closed` and the states derived from it (`truncated`,
    /// `failed`, `abandoned`).
    pub fn is_closed(self) -> bool {
        self.as_i32() & SessionState::Closed.as_i32() != 0
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        SessionState::from_name(s)
    }
}

impl TryFrom<i32> for SessionState {
    type Error = Error;

    fn try_from(value: i32) -> Result<Self> {
        SessionState::from_i32(value)
    }
}

impl From<SessionState> for i32 {
    fn from(s: SessionState) -> i32 {
        s.as_i32()
    }
}

impl Serialize for SessionState {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SessionState {
    /// Accepts the names (any ASCII case) and, leniently, the numbers.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = SessionState;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a session state name such as \"closed\"")
            }

            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<SessionState, E> {
                SessionState::from_name(v).map_err(E::custom)
            }

            fn visit_i64<E: serde::de::Error>(
                self,
                v: i64,
            ) -> std::result::Result<SessionState, E> {
                let n = i32::try_from(v)
                    .map_err(|_| E::custom(format!("unknown session state number {v}")))?;
                SessionState::from_i32(n).map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(
                self,
                v: u64,
            ) -> std::result::Result<SessionState, E> {
                let n = i32::try_from(v)
                    .map_err(|_| E::custom(format!("unknown session state number {v}")))?;
                SessionState::from_i32(n).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

// ---------------------------------------------------------------------------
// Detail values
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Folders
// ---------------------------------------------------------------------------

/// A virtual folder (`GET /rta/v2/session-folders/{parent}` returns a list).
///
/// The schema in `api.yaml` misspells `hasChildren` as `hasChldren`; both are
/// read, `hasChildren` (as in the examples) is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionFolder {
    /// Globally unique folder identity (the root is `""`).
    pub identity: String,
    /// Label for display.
    pub label: String,
    /// Longer description for display.
    pub description: String,
    /// Whether the folder has child folders.
    #[serde(default, alias = "hasChldren")]
    pub has_children: bool,
    /// Properties this model does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl SessionFolder {
    /// A folder without children.
    pub fn new(
        identity: impl Into<String>,
        label: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        SessionFolder {
            identity: identity.into(),
            label: label.into(),
            description: description.into(),
            has_children: false,
            extra: Extra::new(),
        }
    }

    /// Parses the JSON array returned for a parent folder.
    pub fn list_from_json(json: &str) -> Result<Vec<SessionFolder>> {
        parse_json("session folders", json)
    }

    /// Writes a list of folders as a JSON array.
    pub fn list_to_json(folders: &[SessionFolder]) -> String {
        to_json_string(&folders)
    }
}

// ---------------------------------------------------------------------------
// Metamodel
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

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
