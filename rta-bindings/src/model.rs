//! The data binding model, its protobuf and JSON forms, and the checks a
//! single binding must pass.
//!
//! A [`DataBinding`] tells the Gateway where a session's data lives (a data
//! *source* token and a data *identity* within it) and how to map it onto
//! the session: which session time range it covers, how far session time is
//! ahead of data time, and which data channels become which session channels.
//!
//! Times are nanoseconds since the Unix epoch and
//! `session time = data time + session_time_offset`.
//!
//! A binding with no channel bindings binds **every channel unchanged** (see
//! `docs/wire-format.md` for why); [`DataBinding::effective_channel_bindings`]
//! spells that out.
//!
//! ```
//! use rta_bindings::model::DataBinding;
//!
//! // The JSON of the Session Service's internal data-bindings endpoint.
//! let json = r#"[{"key":{"source":"influx07","identity":"someOtherField='xxxyyyzzz'","timeRef":0},
//!   "sessionStartTime":null,"sessionEndTime":null,"sessionTimeOffset":0,
//!   "dataChannelBindings":[{"firstDataChannel":0,"firstSessionChannel":50,"lastSessionChannel":59}]}]"#;
//! let bindings = DataBinding::list_from_json(json).unwrap();
//! let b = &bindings[0];
//! assert_eq!(b.key.source, "influx07");
//! assert_eq!(b.session_channels().to_string(), "32-3B"); // 50-59, in hex
//! assert_eq!(b.data_channel_of(55), Some(5));
//! ```

use std::fmt;

use rta_core::channels::ChannelExpr;
use rta_core::proto::session_service as pb;
use serde::{Deserialize, Deserializer, Serialize};

use crate::{Error, Result};

/// Identifies a binding within its session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataBindingKey {
    /// Data source token: tells the Gateway which data service to ask.
    #[serde(default, deserialize_with = "de::string")]
    pub source: String,
    /// Data identity within the source (a file path, a key, a query...),
    /// passed to the data service as is.
    #[serde(default, deserialize_with = "de::string")]
    pub identity: String,
    /// Makes the key unique when one identity is bound over several time
    /// ranges; its value has no other meaning.
    #[serde(default, deserialize_with = "de::int64")]
    pub time_ref: i64,
}

impl DataBindingKey {
    /// A key without a time reference.
    pub fn new(source: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            identity: identity.into(),
            time_ref: 0,
        }
    }

    /// Sets the time reference.
    pub fn with_time_ref(mut self, time_ref: i64) -> Self {
        self.time_ref = time_ref;
        self
    }
}

impl fmt::Display for DataBindingKey {
    /// `source:identity@time_ref`, as used in error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}@{}", self.source, self.identity, self.time_ref)
    }
}

/// A contiguous range of data channels mapped onto session channels:
/// session channel `first_session_channel + i` is data channel
/// `first_data_channel + i`, for `i` in `0..=last_session_channel - first_session_channel`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataChannelBinding {
    /// Data channel of `first_session_channel`.
    #[serde(default)]
    pub first_data_channel: u32,
    /// First session channel (inclusive).
    #[serde(default)]
    pub first_session_channel: u32,
    /// Last session channel (inclusive).
    #[serde(default)]
    pub last_session_channel: u32,
}

impl DataChannelBinding {
    /// Binds session channels `first_session..=last_session` to data
    /// channels starting at `first_data`.
    pub fn new(first_data: u32, first_session: u32, last_session: u32) -> Self {
        Self {
            first_data_channel: first_data,
            first_session_channel: first_session,
            last_session_channel: last_session,
        }
    }

    /// Every channel, unchanged: what an empty channel binding list means.
    pub fn all_unchanged() -> Self {
        Self::new(0, 0, u32::MAX)
    }

    /// The last data channel, or `None` when the range is reversed or runs
    /// past `u32::MAX`.
    pub fn last_data_channel(&self) -> Option<u32> {
        let span = self
            .last_session_channel
            .checked_sub(self.first_session_channel)?;
        self.first_data_channel.checked_add(span)
    }

    /// Session channel minus data channel.
    pub fn shift(&self) -> i64 {
        i64::from(self.first_session_channel) - i64::from(self.first_data_channel)
    }

    /// The bound session channels.
    pub fn session_channels(&self) -> ChannelExpr {
        if self.last_session_channel < self.first_session_channel {
            return ChannelExpr::empty();
        }
        ChannelExpr::range(self.first_session_channel, self.last_session_channel)
    }

    /// The bound data channels (empty when the binding is invalid).
    pub fn data_channels(&self) -> ChannelExpr {
        match self.last_data_channel() {
            Some(last) => ChannelExpr::range(self.first_data_channel, last),
            None => ChannelExpr::empty(),
        }
    }
}

/// Binds data held by one data service onto a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataBinding {
    /// Unique key of the binding within the session.
    #[serde(default, deserialize_with = "de::key")]
    pub key: DataBindingKey,
    /// Inclusive start of the bound range, in session time; unbounded when `None`.
    #[serde(default, deserialize_with = "de::opt_int64")]
    pub session_start_time: Option<i64>,
    /// Inclusive end of the bound range, in session time; unbounded when `None`.
    #[serde(default, deserialize_with = "de::opt_int64")]
    pub session_end_time: Option<i64>,
    /// Session time minus data time, in nanoseconds.
    #[serde(default, deserialize_with = "de::int64")]
    pub session_time_offset: i64,
    /// Channel ranges bound onto the session; empty binds every channel unchanged.
    #[serde(default, deserialize_with = "de::vec")]
    pub data_channel_bindings: Vec<DataChannelBinding>,
}

impl DataBinding {
    /// A binding of `source`/`identity` over all time and all channels, unchanged.
    pub fn new(source: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            key: DataBindingKey::new(source, identity),
            ..Self::default()
        }
    }

    /// Sets the time reference of the key.
    pub fn with_time_ref(mut self, time_ref: i64) -> Self {
        self.key.time_ref = time_ref;
        self
    }

    /// Sets the inclusive session time range (`None` for unbounded).
    pub fn with_session_range(mut self, start: Option<i64>, end: Option<i64>) -> Self {
        self.session_start_time = start;
        self.session_end_time = end;
        self
    }

    /// Sets the session time offset (session time minus data time).
    pub fn with_offset(mut self, offset_ns: i64) -> Self {
        self.session_time_offset = offset_ns;
        self
    }

    /// Adds a channel binding.
    pub fn with_channels(mut self, first_data: u32, first_session: u32, last_session: u32) -> Self {
        self.data_channel_bindings.push(DataChannelBinding::new(
            first_data,
            first_session,
            last_session,
        ));
        self
    }

    /// The channel bindings in force: the listed ones, or every channel
    /// unchanged when none are listed.
    pub fn effective_channel_bindings(&self) -> Vec<DataChannelBinding> {
        if self.data_channel_bindings.is_empty() {
            vec![DataChannelBinding::all_unchanged()]
        } else {
            self.data_channel_bindings.clone()
        }
    }

    /// The session channels this binding provides.
    pub fn session_channels(&self) -> ChannelExpr {
        self.effective_channel_bindings()
            .iter()
            .fold(ChannelExpr::empty(), |acc, cb| {
                acc.union(&cb.session_channels())
            })
    }

    /// The data channel behind a session channel, if this binding maps it.
    pub fn data_channel_of(&self, session_channel: u32) -> Option<u32> {
        self.effective_channel_bindings().iter().find_map(|cb| {
            (cb.first_session_channel..=cb.last_session_channel)
                .contains(&session_channel)
                .then(|| {
                    let d = i64::from(session_channel) - cb.shift();
                    u32::try_from(d).ok()
                })
                .flatten()
        })
    }

    /// The inclusive session time window, with `i64::MIN` / `i64::MAX` for
    /// unbounded ends.
    pub fn session_window(&self) -> (i64, i64) {
        (
            self.session_start_time.unwrap_or(i64::MIN),
            self.session_end_time.unwrap_or(i64::MAX),
        )
    }

    /// True when the binding clips data to a time range.
    pub fn is_time_bounded(&self) -> bool {
        self.session_start_time.is_some() || self.session_end_time.is_some()
    }

    fn invalid(&self, reason: impl Into<String>) -> Error {
        Error::InvalidBinding {
            key: self.key.to_string(),
            reason: reason.into(),
        }
    }

    /// Checks the binding on its own: a source, ordered time bounds that
    /// survive the offset, ordered channel ranges inside `0..=u32::MAX`, and
    /// no session or data channel bound twice.
    ///
    /// ```
    /// use rta_bindings::model::DataBinding;
    /// let bad = DataBinding::new("influx01", "x").with_session_range(Some(10), Some(5));
    /// let err = bad.validate().unwrap_err().to_string();
    /// assert!(err.contains("ends before it starts"), "{err}");
    /// ```
    pub fn validate(&self) -> Result<()> {
        if self.key.source.is_empty() {
            return Err(self.invalid("the data source is empty"));
        }
        if let (Some(s), Some(e)) = (self.session_start_time, self.session_end_time) {
            if e < s {
                return Err(self.invalid(format!(
                    "the session time range ends before it starts ({e} < {s})"
                )));
            }
        }
        for (what, t) in [
            ("start", self.session_start_time),
            ("end", self.session_end_time),
        ] {
            if let Some(t) = t {
                if t.checked_sub(self.session_time_offset).is_none() {
                    return Err(self.invalid(format!(
                        "session {what} time {t} minus the offset {} overflows",
                        self.session_time_offset
                    )));
                }
            }
        }
        let cbs = &self.data_channel_bindings;
        for (i, cb) in cbs.iter().enumerate() {
            if cb.last_session_channel < cb.first_session_channel {
                return Err(self.invalid(format!(
                    "channel binding {i} ends before it starts (session channels {:X}-{:X})",
                    cb.first_session_channel, cb.last_session_channel
                )));
            }
            if cb.last_data_channel().is_none() {
                return Err(self.invalid(format!(
                    "channel binding {i} maps session channels {:X}-{:X} from data channel {:X}, \
                     past the last channel FFFFFFFF",
                    cb.first_session_channel, cb.last_session_channel, cb.first_data_channel
                )));
            }
        }
        for i in 0..cbs.len() {
            for j in i + 1..cbs.len() {
                let s = cbs[i]
                    .session_channels()
                    .intersect(&cbs[j].session_channels());
                if !s.is_empty() {
                    return Err(self.invalid(format!(
                        "channel bindings {i} and {j} both map session channels {s}"
                    )));
                }
                let d = cbs[i].data_channels().intersect(&cbs[j].data_channels());
                if !d.is_empty() {
                    return Err(self.invalid(format!(
                        "channel bindings {i} and {j} both map data channels {d} \
                         (a data channel can appear once per binding)"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Reads a binding from its protobuf form. A missing key reads as an
    /// empty key, which [`DataBinding::validate`] rejects.
    pub fn from_proto(p: &pb::DataBinding) -> Self {
        let key = p.key.clone().unwrap_or_default();
        Self {
            key: DataBindingKey {
                source: key.source,
                identity: key.identity,
                time_ref: key.time_ref,
            },
            session_start_time: p.session_start_time,
            session_end_time: p.session_end_time,
            session_time_offset: p.session_time_offset,
            data_channel_bindings: p
                .data_channel_bindings
                .iter()
                .map(|c| {
                    DataChannelBinding::new(
                        c.first_data_channel,
                        c.first_session_channel,
                        c.last_session_channel,
                    )
                })
                .collect(),
        }
    }

    /// The protobuf form.
    pub fn to_proto(&self) -> pb::DataBinding {
        pb::DataBinding {
            key: Some(pb::DataBindingKey {
                source: self.key.source.clone(),
                identity: self.key.identity.clone(),
                time_ref: self.key.time_ref,
            }),
            session_start_time: self.session_start_time,
            session_end_time: self.session_end_time,
            session_time_offset: self.session_time_offset,
            data_channel_bindings: self
                .data_channel_bindings
                .iter()
                .map(|c| pb::DataChannelBinding {
                    first_data_channel: c.first_data_channel,
                    first_session_channel: c.first_session_channel,
                    last_session_channel: c.last_session_channel,
                })
                .collect(),
        }
    }

    /// Parses the JSON array served by the Session Service at
    /// `GET /rta/v2/sessions/{identity}/data-bindings`. 64-bit integers may
    /// be JSON numbers or decimal strings; `null` and missing fields take
    /// their defaults.
    pub fn list_from_json(json: &str) -> Result<Vec<DataBinding>> {
        Ok(serde_json::from_str(json)?)
    }

    /// Renders bindings as that endpoint serves them (camelCase, unbounded
    /// times as `null`).
    pub fn list_to_json(bindings: &[DataBinding]) -> Result<String> {
        Ok(serde_json::to_string(bindings)?)
    }
}

impl From<&pb::DataBinding> for DataBinding {
    fn from(p: &pb::DataBinding) -> Self {
        Self::from_proto(p)
    }
}

impl From<pb::DataBinding> for DataBinding {
    fn from(p: pb::DataBinding) -> Self {
        Self::from_proto(&p)
    }
}

impl From<&DataBinding> for pb::DataBinding {
    fn from(b: &DataBinding) -> Self {
        b.to_proto()
    }
}

impl From<DataBinding> for pb::DataBinding {
    fn from(b: DataBinding) -> Self {
        b.to_proto()
    }
}

/// Lenient deserializers: `null` means the default, 64-bit integers may be strings.
mod de {
    use super::*;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Num(i64),
        Str(String),
    }

    fn int<E: serde::de::Error>(v: Int) -> Result<i64, E> {
        match v {
            Int::Num(n) => Ok(n),
            Int::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("{s:?} is not a 64-bit integer"))),
        }
    }

    pub(super) fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match Option::<Int>::deserialize(d)? {
            None => Ok(0),
            Some(v) => int(v),
        }
    }

    pub(super) fn opt_int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<Int>::deserialize(d)?.map(int).transpose()
    }

    pub(super) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
    }

    pub(super) fn key<'de, D: Deserializer<'de>>(d: D) -> Result<DataBindingKey, D::Error> {
        Ok(Option::<DataBindingKey>::deserialize(d)?.unwrap_or_default())
    }

    pub(super) fn vec<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<DataChannelBinding>, D::Error> {
        Ok(Option::<Vec<DataChannelBinding>>::deserialize(d)?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_matches_the_spec_shape() {
        let b = DataBinding::new("influx01", "someField='abc123'").with_channels(0, 0, 49);
        let json = DataBinding::list_to_json(std::slice::from_ref(&b)).unwrap();
        assert_eq!(
            json,
            r#"[{"key":{"source":"influx01","identity":"someField='abc123'","timeRef":0},"sessionStartTime":null,"sessionEndTime":null,"sessionTimeOffset":0,"dataChannelBindings":[{"firstDataChannel":0,"firstSessionChannel":0,"lastSessionChannel":49}]}]"#
        );
        assert_eq!(DataBinding::list_from_json(&json).unwrap(), vec![b]);
    }

    #[test]
    fn json_accepts_strings_nulls_and_missing_fields() {
        let json = r#"[{"key":{"source":"s","identity":null,"timeRef":"42"},
            "sessionStartTime":"-5","sessionTimeOffset":null,"dataChannelBindings":null}]"#;
        let b = &DataBinding::list_from_json(json).unwrap()[0];
        assert_eq!(b.key, DataBindingKey::new("s", "").with_time_ref(42));
        assert_eq!(b.session_start_time, Some(-5));
        assert_eq!(b.session_end_time, None);
        assert_eq!(b.session_time_offset, 0);
        assert!(b.data_channel_bindings.is_empty());
        let err = DataBinding::list_from_json(r#"[{"sessionTimeOffset":"abc"}]"#).unwrap_err();
        assert!(err.to_string().contains("JSON"), "{err}");
    }

    #[test]
    fn proto_round_trip() {
        let b = DataBinding::new("a", "b")
            .with_time_ref(7)
            .with_session_range(Some(1), None)
            .with_offset(-300)
            .with_channels(3, 10, 12);
        let p = b.to_proto();
        assert_eq!(p.session_time_offset, -300);
        assert_eq!(DataBinding::from_proto(&p), b);
        assert_eq!(
            DataBinding::from(pb::DataBinding::default()),
            DataBinding::default()
        );
    }

    #[test]
    fn channel_mapping() {
        let b = DataBinding::new("a", "b")
            .with_channels(0, 50, 59)
            .with_channels(100, 0, 9);
        assert_eq!(b.data_channel_of(50), Some(0));
        assert_eq!(b.data_channel_of(59), Some(9));
        assert_eq!(b.data_channel_of(60), None);
        assert_eq!(b.data_channel_of(3), Some(103));
        let all = DataBinding::new("a", "b");
        assert_eq!(all.data_channel_of(u32::MAX), Some(u32::MAX));
        assert!(all.session_channels().is_all());
    }

    #[test]
    fn invalid_bindings_are_rejected_with_reasons() {
        let cases = [
            (DataBinding::new("", "x"), "data source is empty"),
            (
                DataBinding::new("s", "x").with_session_range(Some(2), Some(1)),
                "ends before it starts",
            ),
            (
                DataBinding::new("s", "x").with_channels(0, 9, 8),
                "channel binding 0 ends before it starts",
            ),
            (
                DataBinding::new("s", "x").with_channels(u32::MAX, 0, 1),
                "past the last channel",
            ),
            (
                DataBinding::new("s", "x")
                    .with_channels(0, 0, 9)
                    .with_channels(100, 5, 20),
                "both map session channels 5-9",
            ),
            (
                DataBinding::new("s", "x")
                    .with_channels(0, 0, 9)
                    .with_channels(5, 100, 120),
                "both map data channels 5-9",
            ),
            (
                DataBinding::new("s", "x")
                    .with_session_range(Some(i64::MIN), None)
                    .with_offset(1),
                "overflows",
            ),
        ];
        for (b, want) in cases {
            let err = b.validate().unwrap_err();
            assert!(matches!(err, Error::InvalidBinding { .. }));
            assert!(err.to_string().contains(want), "{err} should say {want}");
        }
        DataBinding::new("s", "")
            .with_session_range(Some(5), Some(5))
            .with_channels(0, 0, 0)
            .validate()
            .unwrap();
    }
}
