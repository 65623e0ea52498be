//! Redis key layout of the stream-buffer protocol, stream positions, and the
//! session record.
//!
//! The protocol names three structures: streams `stream:<name>`, the set
//! `streams`, and the "sessions hash". The spec describes the latter as a
//! single hash keyed by session identity, but gives each entry several fields
//! and asks for entries to expire, which Redis can only do per key. This crate
//! therefore uses, by default:
//!
//! | key | type | content |
//! | --- | --- | --- |
//! | `stream:<name>` | stream | entries with fields `id` and `data` |
//! | `streams` | set | stream names without the prefix |
//! | `lastStreamSessionId` | string | counter advanced with `INCRBY` |
//! | `sessions:<identity>` | hash | `streamSessionId`, `streamName`, `streamPosition`, `lastUpdated`, `json`, `tStart`, `tEnd`; expires |
//! | `sessions` | sorted set | member = identity, score = `lastUpdated` (ms), for discovery without `SCAN` |
//!
//! Every name is configurable through [`KeyLayout`].

use std::collections::HashMap;
use std::fmt;

use rta_core::proto::stream::StreamTimeRange;

use crate::{Error, Result};

/// Hash field: stream session id (the `id` of each stream entry).
pub const FIELD_STREAM_SESSION_ID: &str = "streamSessionId";
/// Hash field: stream name without prefix.
pub const FIELD_STREAM_NAME: &str = "streamName";
/// Hash field: stream position before the session's first entry, or `0-0`.
pub const FIELD_STREAM_POSITION: &str = "streamPosition";
/// Hash field: time of the last update, ms since the Unix epoch.
pub const FIELD_LAST_UPDATED: &str = "lastUpdated";
/// Hash field: latest session JSON.
pub const FIELD_JSON: &str = "json";
/// Hash field: start of the session time range, ns.
pub const FIELD_T_START: &str = "tStart";
/// Hash field: end of the session time range, ns.
pub const FIELD_T_END: &str = "tEnd";
/// Stream entry field: stream session id.
pub const ENTRY_ID: &str = "id";
/// Stream entry field: LZ4-framed `StreamDataBurst`.
pub const ENTRY_DATA: &str = "data";

/// Names of the Redis keys used by the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLayout {
    /// Prefix of stream keys (`stream:`).
    pub stream_prefix: String,
    /// Set of stream names (`streams`).
    pub streams_set: String,
    /// Counter of stream session ids (`lastStreamSessionId`).
    pub last_session_id: String,
    /// Prefix of per-session hashes (`sessions:`).
    pub session_prefix: String,
    /// Sorted set indexing sessions by last update (`sessions`).
    pub session_index: String,
}

impl Default for KeyLayout {
    fn default() -> Self {
        Self {
            stream_prefix: "stream:".into(),
            streams_set: "streams".into(),
            last_session_id: "lastStreamSessionId".into(),
            session_prefix: "sessions:".into(),
            session_index: "sessions".into(),
        }
    }
}

impl KeyLayout {
    /// Key of the stream named `name`.
    pub fn stream_key(&self, name: &str) -> String {
        format!("{}{name}", self.stream_prefix)
    }

    /// Key of the hash describing session `identity`.
    pub fn session_key(&self, identity: &str) -> String {
        format!("{}{identity}", self.session_prefix)
    }
}

/// A position in a live stream, ordered. For Redis this is the entry id
/// `<ms>-<seq>` packed as `ms << 64 | seq`; in-process sources use a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position(pub u128);

impl Position {
    /// The position before everything (`0-0`).
    pub const ZERO: Position = Position(0);

    /// Parses a Redis stream entry id (`<ms>-<seq>`, or `<ms>` meaning `<ms>-0`).
    pub fn from_redis_id(id: &str) -> Result<Self> {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        let ms: u64 = ms
            .parse()
            .map_err(|_| Error::Protocol(format!("bad stream entry id {id:?}")))?;
        let seq: u64 = seq
            .parse()
            .map_err(|_| Error::Protocol(format!("bad stream entry id {id:?}")))?;
        Ok(Position((u128::from(ms) << 64) | u128::from(seq)))
    }

    /// The Redis entry id form.
    pub fn to_redis_id(self) -> String {
        format!("{}-{}", self.millis(), self.0 as u64)
    }

    /// The millisecond part of a Redis entry id.
    pub fn millis(self) -> u64 {
        (self.0 >> 64) as u64
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.millis(), self.0 as u64)
    }
}

/// The content of a session hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// `streamSessionId`.
    pub stream_session_id: u64,
    /// `streamName` (no prefix).
    pub stream_name: String,
    /// `streamPosition`.
    pub stream_position: Position,
    /// `lastUpdated` (ms since the Unix epoch), 0 when absent.
    pub last_updated: i64,
    /// `json`, once the session is streamable.
    pub json: Option<String>,
    /// `tStart`/`tEnd`, when both are present.
    pub time_range: Option<StreamTimeRange>,
}

impl SessionRecord {
    /// Reads a record from the fields of a session hash (`HGETALL`).
    /// Returns `None` for an empty hash (no such session).
    pub fn from_fields(fields: &HashMap<String, String>) -> Result<Option<Self>> {
        if fields.is_empty() {
            return Ok(None);
        }
        let get = |name: &str| {
            fields
                .get(name)
                .ok_or_else(|| Error::Protocol(format!("session hash has no {name:?} field")))
        };
        let int = |name: &str, v: &str| {
            v.parse::<i64>()
                .map_err(|_| Error::Protocol(format!("session hash field {name:?} = {v:?}")))
        };
        let stream_session_id = get(FIELD_STREAM_SESSION_ID)?
            .parse::<u64>()
            .map_err(|_| Error::Protocol("session hash field \"streamSessionId\"".into()))?;
        let stream_name = get(FIELD_STREAM_NAME)?.clone();
        let stream_position = match fields.get(FIELD_STREAM_POSITION) {
            Some(p) => Position::from_redis_id(p)?,
            None => Position::ZERO,
        };
        let last_updated = match fields.get(FIELD_LAST_UPDATED) {
            Some(v) => int(FIELD_LAST_UPDATED, v)?,
            None => 0,
        };
        let time_range = match (fields.get(FIELD_T_START), fields.get(FIELD_T_END)) {
            (Some(s), Some(e)) => Some(StreamTimeRange {
                start_time: int(FIELD_T_START, s)?,
                end_time: int(FIELD_T_END, e)?,
            }),
            _ => None,
        };
        Ok(Some(Self {
            stream_session_id,
            stream_name,
            stream_position,
            last_updated,
            json: fields.get(FIELD_JSON).cloned(),
            time_range,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_like_redis_ids() {
        let a = Position::from_redis_id("1526919030474-55").unwrap();
        let b = Position::from_redis_id("1526919030474-56").unwrap();
        let c = Position::from_redis_id("1526919030475-0").unwrap();
        assert!(Position::ZERO < a && a < b && b < c);
        assert_eq!(a.to_redis_id(), "1526919030474-55");
        assert_eq!(Position::from_redis_id("0-0").unwrap(), Position::ZERO);
        assert_eq!(Position::from_redis_id("7").unwrap().to_redis_id(), "7-0");
        assert!(Position::from_redis_id("x-1").is_err());
        assert!(Position::from_redis_id("1-").is_err());
    }

    #[test]
    fn record_parsing() {
        let mut f = HashMap::new();
        assert!(SessionRecord::from_fields(&f).unwrap().is_none());
        f.insert("streamSessionId".to_string(), "42".to_string());
        f.insert("streamName".to_string(), "car".to_string());
        f.insert("streamPosition".to_string(), "0-0".to_string());
        f.insert("tStart".to_string(), "-5".to_string());
        let r = SessionRecord::from_fields(&f).unwrap().unwrap();
        assert_eq!(r.stream_session_id, 42);
        assert_eq!(r.json, None);
        assert_eq!(r.time_range, None, "tStart alone is not a range");
        f.insert("tEnd".to_string(), "9".to_string());
        let r = SessionRecord::from_fields(&f).unwrap().unwrap();
        assert_eq!(
            r.time_range,
            Some(StreamTimeRange {
                start_time: -5,
                end_time: 9
            })
        );
        f.insert("streamSessionId".to_string(), "x".to_string());
        assert!(SessionRecord::from_fields(&f).is_err());
    }
}
