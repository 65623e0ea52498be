//! Typed builders of the toolkit `SessionStore` write request
//! (`CreateOrUpdateSessionRequest`): what an ingest process or in-house
//! tooling sends to publish a session, its details, markers, folders and
//! bindings.
//!
//! [`SessionRequest::new`] creates the session if it does not exist and sets
//! its state; [`SessionRequest::update`] only changes a session that exists.
//! Updates are applied in the order they were added, all or nothing.
//!
//! ```
//! use rta_core::session::SessionState;
//! use rta_core::session_request::{MarkerSpec, SessionRequest};
//!
//! let start = 1_700_000_000_000_000_000;
//! let create = SessionRequest::new("run-42", SessionState::Open)
//!     .identifier("Run 42")
//!     .timestamp("2026-12-03T10:00:00Z")
//!     .detail("Driver", "A. Driver")
//!     .detail("Track", "Test Track")
//!     .folder("season-2026")
//!     .config_binding("logger-v3", 0)
//!     .marker("Laps", MarkerSpec::new("lap-1", "Lap", "Lap 1").range(start, start + 90_000_000_000))
//!     .build();
//! assert_eq!(create.identity, "run-42");
//! assert_eq!(create.create_if_not_exists.as_ref().map(|c| c.state), Some(2));
//!
//! let close = SessionRequest::update("run-42")
//!     .state(SessionState::Closed)
//!     .time_range(start, start + 600_000_000_000)
//!     .build();
//! assert!(close.create_if_not_exists.is_none());
//! assert_eq!(close.updates.len(), 2);
//! ```

use std::collections::HashMap;

use crate::proto::session_service::{
    self as ss, create_or_update_session_request::CreateIfNotExists, session_update::Op,
};
use crate::session::SessionState;

/// Builds a `CreateOrUpdateSessionRequest` (see the [module](self)).
#[derive(Debug, Clone, Default)]
#[must_use = "a request does nothing until it is built and sent"]
pub struct SessionRequest {
    identity: String,
    sequence: Option<i64>,
    create: Option<CreateIfNotExists>,
    updates: Vec<Op>,
    details: HashMap<String, String>,
    markers: HashMap<String, Vec<ss::Marker>>,
    folders: Vec<String>,
    config_bindings: Vec<ss::ConfigBinding>,
    data_bindings: Vec<ss::DataBinding>,
}

impl SessionRequest {
    /// Creates `identity` in `state` if it does not exist, and sets its
    /// state if it does.
    pub fn new(identity: impl Into<String>, state: SessionState) -> Self {
        SessionRequest {
            identity: identity.into(),
            create: Some(CreateIfNotExists {
                state: state.as_i32(),
                ..CreateIfNotExists::default()
            }),
            updates: vec![Op::SetState(state.as_i32())],
            ..SessionRequest::default()
        }
    }

    /// Changes a session that exists (the request fails with not-found
    /// otherwise).
    pub fn update(identity: impl Into<String>) -> Self {
        SessionRequest {
            identity: identity.into(),
            ..SessionRequest::default()
        }
    }

    /// Applies the request only if `sequence` is above the last applied one
    /// (writers that may retry or race use increasing numbers).
    pub fn sequence(mut self, sequence: i64) -> Self {
        self.sequence = Some(sequence);
        self
    }

    /// Sets the state.
    pub fn state(mut self, state: SessionState) -> Self {
        self.updates.push(Op::SetState(state.as_i32()));
        self
    }

    /// Sets the display name (the identity when never set).
    pub fn identifier(mut self, identifier: impl Into<String>) -> Self {
        let identifier = identifier.into();
        if let Some(c) = &mut self.create {
            c.identifier.clone_from(&identifier);
        }
        self.updates.push(Op::SetIdentifier(identifier));
        self
    }

    /// Sets the session timestamp (ISO 8601, e.g. `2026-12-03T10:00:00Z`).
    pub fn timestamp(mut self, timestamp: impl Into<String>) -> Self {
        let timestamp = timestamp.into();
        if let Some(c) = &mut self.create {
            c.timestamp.clone_from(&timestamp);
        }
        self.updates.push(Op::SetTimestamp(timestamp));
        self
    }

    /// Sets the time range (ns since the Unix epoch, both inclusive).
    pub fn time_range(mut self, start: i64, end: i64) -> Self {
        self.updates.push(Op::SetTimeRange(ss::TimeRange {
            start_time: start,
            end_time: end,
        }));
        self
    }

    /// Widens the time range to cover `[start, end]` (a live session growing).
    pub fn extend_time_range(mut self, start: i64, end: i64) -> Self {
        self.updates.push(Op::ExtendTimeRange(ss::TimeRange {
            start_time: start,
            end_time: end,
        }));
        self
    }

    /// Sets the session type.
    pub fn session_type(mut self, session_type: impl Into<String>) -> Self {
        self.updates.push(Op::SetType(session_type.into()));
        self
    }

    /// Adds or replaces one string detail (others are kept).
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Adds or replaces a marker in `category` (others are kept).
    pub fn marker(mut self, category: impl Into<String>, marker: MarkerSpec) -> Self {
        self.markers
            .entry(category.into())
            .or_default()
            .push(marker.0);
        self
    }

    /// Puts the session in the folder `identity` (as well as those it is in).
    pub fn folder(mut self, identity: impl Into<String>) -> Self {
        self.folders.push(identity.into());
        self
    }

    /// Binds the config published as `identifier`, its channel ids shifted
    /// by `channel_offset` (adds to the existing bindings).
    pub fn config_binding(mut self, identifier: impl Into<String>, channel_offset: u32) -> Self {
        self.config_bindings.push(ss::ConfigBinding {
            identifier: identifier.into(),
            channel_offset,
        });
        self
    }

    /// Adds a data binding (`rta_bindings::model::DataBinding::to_proto`
    /// gives one from the typed model).
    pub fn data_binding(mut self, binding: ss::DataBinding) -> Self {
        self.data_bindings.push(binding);
        self
    }

    /// Appends any other update, in order after those added so far.
    pub fn op(mut self, op: Op) -> Self {
        self.flush_collected();
        self.updates.push(op);
        self
    }

    /// Turns the collected details, markers, folders and bindings into
    /// updates, keeping their place relative to [`op`](Self::op) calls.
    fn flush_collected(&mut self) {
        if !self.details.is_empty() {
            self.updates
                .push(Op::UpdateDetails(ss::session_update::DetailsMap {
                    category: String::new(),
                    details: std::mem::take(&mut self.details),
                }));
        }
        if !self.markers.is_empty() {
            let markers_by_category = std::mem::take(&mut self.markers)
                .into_iter()
                .map(|(c, markers)| (c, ss::session_update::MarkersList { markers }))
                .collect();
            self.updates
                .push(Op::UpdateMarkers(ss::session_update::MarkersMap {
                    markers_by_category,
                }));
        }
        if !self.folders.is_empty() {
            self.updates
                .push(Op::UpdateFolders(ss::session_update::FoldersList {
                    identities: std::mem::take(&mut self.folders),
                }));
        }
        if !self.config_bindings.is_empty() {
            self.updates.push(Op::UpdateConfigBindings(
                ss::session_update::ConfigBindingsList {
                    config_bindings: std::mem::take(&mut self.config_bindings),
                },
            ));
        }
        if !self.data_bindings.is_empty() {
            self.updates.push(Op::UpdateDataBindings(
                ss::session_update::DataBindingsList {
                    data_bindings: std::mem::take(&mut self.data_bindings),
                },
            ));
        }
    }

    /// The request to send (`SessionStore::create_or_update`, or the
    /// `CreateOrUpdateSession` gRPC call).
    pub fn build(mut self) -> ss::CreateOrUpdateSessionRequest {
        self.flush_collected();
        ss::CreateOrUpdateSessionRequest {
            identity: self.identity,
            sequence: self.sequence,
            create_if_not_exists: self.create,
            updates: self
                .updates
                .into_iter()
                .map(|op| ss::SessionUpdate { op: Some(op) })
                .collect(),
        }
    }
}

/// A marker: a point or a range of a session, shown by ATLAS.
///
/// ```
/// use rta_core::session_request::MarkerSpec;
/// let m = MarkerSpec::new("pit-1", "Pit", "Pit stop").at(1_000).description("tyres");
/// # let _ = m;
/// ```
#[derive(Debug, Clone)]
pub struct MarkerSpec(ss::Marker);

impl MarkerSpec {
    /// A marker with a unique `id` (within the session), a `type` and a label.
    pub fn new(
        id: impl Into<String>,
        marker_type: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        MarkerSpec(ss::Marker {
            id: id.into(),
            r#type: marker_type.into(),
            label: label.into(),
            ..ss::Marker::default()
        })
    }

    /// A point in time (ns).
    pub fn at(self, time: i64) -> Self {
        self.range(time, time)
    }

    /// A range (ns, both inclusive).
    pub fn range(mut self, start: i64, end: i64) -> Self {
        self.0.start_time = Some(start);
        self.0.end_time = Some(end);
        self
    }

    /// A description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.0.description = Some(description.into());
        self
    }

    /// Details as a JSON object text.
    pub fn details_json(mut self, json: impl Into<String>) -> Self {
        self.0.details_json = json.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_updates_keep_their_place_around_ops() {
        let r = SessionRequest::update("s")
            .detail("A", "1")
            .op(Op::ClearType(()))
            .detail("B", "2")
            .build();
        let ops: Vec<_> = r.updates.into_iter().map(|u| u.op.unwrap()).collect();
        assert_eq!(ops.len(), 3);
        assert!(matches!(&ops[0], Op::UpdateDetails(d) if d.details["A"] == "1"));
        assert!(matches!(ops[1], Op::ClearType(())));
        assert!(matches!(&ops[2], Op::UpdateDetails(d) if d.details["B"] == "2"));
    }

    #[test]
    fn new_creates_with_state_name_and_timestamp() {
        let r = SessionRequest::new("s", SessionState::Closed)
            .identifier("Name")
            .timestamp("2026-01-01T00:00:00Z")
            .sequence(7)
            .build();
        let c = r.create_if_not_exists.unwrap();
        assert_eq!((c.state, c.identifier.as_str()), (4, "Name"));
        assert_eq!(c.timestamp, "2026-01-01T00:00:00Z");
        assert_eq!(r.sequence, Some(7));
        assert!(matches!(r.updates[0].op, Some(Op::SetState(4))));
    }

    #[test]
    fn markers_group_by_category() {
        let r = SessionRequest::update("s")
            .marker("Laps", MarkerSpec::new("l1", "Lap", "1").range(0, 9))
            .marker("Laps", MarkerSpec::new("l2", "Lap", "2").range(10, 19))
            .marker("Pits", MarkerSpec::new("p1", "Pit", "P").at(5))
            .build();
        let Some(Op::UpdateMarkers(m)) = &r.updates[0].op else {
            panic!("{:?}", r.updates)
        };
        assert_eq!(m.markers_by_category["Laps"].markers.len(), 2);
        assert_eq!(m.markers_by_category["Pits"].markers[0].end_time, Some(5));
    }
}
