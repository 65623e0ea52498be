//! Session states: the spec's numbers and names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

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
