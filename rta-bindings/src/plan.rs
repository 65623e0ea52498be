//! The planner: from a session's bindings and a client request, the data
//! service requests to make and the transform each response needs.
//!
//! ```
//! use rta_bindings::model::DataBinding;
//! use rta_bindings::plan::{SessionBindings, SessionRequest};
//! use rta_core::data::DataKind;
//!
//! // The spec's composite session: channels 0-49 from one source, 50-59
//! // from data channels 0-9 of another.
//! let bindings = SessionBindings::new(vec![
//!     DataBinding::new("influx01", "someField='abc123'").with_channels(0, 0, 49),
//!     DataBinding::new("influx07", "someOtherField='xxxyyyzzz'").with_channels(0, 50, 59),
//! ]).unwrap();
//!
//! // ATLAS asks for session channels 0x30-0x33 (48-51).
//! let plan = bindings.plan(&SessionRequest::channels(DataKind::Periodic, "30-33".parse().unwrap())).unwrap();
//! assert_eq!(plan.parts.len(), 2);
//! assert_eq!(plan.parts[0].source, "influx01");
//! assert_eq!(plan.parts[0].request.channels.as_ref().unwrap().to_string(), "30-31");
//! assert_eq!(plan.parts[1].source, "influx07");
//! assert_eq!(plan.parts[1].request.channels.as_ref().unwrap().to_string(), "-1"); // data 0-1
//! assert!(!plan.parts[0].transform.channel_map().shifts());
//! assert!(plan.parts[1].transform.channel_map().shifts());
//! ```

use std::sync::Arc;

use rta_core::channels::ChannelExpr;
use rta_core::chunk::Compression;
use rta_core::data::DataKind;
use rta_core::proto::session_service as pb;
use rta_core::service::{ChunkStream, DataRequest, DataService};

use crate::merge::{merge, MergeInput};
use crate::model::{DataBinding, DataBindingKey};
use crate::transform::Transform;
use crate::{BindingStream, Error, Result};

/// The validated data bindings of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionBindings {
    bindings: Vec<DataBinding>,
}

fn fmt_time(t: i64) -> String {
    match t {
        i64::MIN => "the beginning".into(),
        i64::MAX => "the end".into(),
        t => t.to_string(),
    }
}

impl SessionBindings {
    /// Validates bindings: each on its own ([`DataBinding::validate`]), and
    /// every pair: keys must differ, and two bindings may share a session
    /// channel only over disjoint session time ranges.
    ///
    /// ```
    /// use rta_bindings::model::DataBinding;
    /// use rta_bindings::plan::SessionBindings;
    /// let err = SessionBindings::new(vec![
    ///     DataBinding::new("a", "x").with_channels(0, 0, 9),
    ///     DataBinding::new("b", "y").with_channels(0, 5, 20),
    /// ]).unwrap_err();
    /// assert!(err.to_string().contains("both bind session channels 5-9"), "{err}");
    /// ```
    pub fn new(bindings: Vec<DataBinding>) -> Result<Self> {
        for b in &bindings {
            b.validate()?;
        }
        let channels: Vec<ChannelExpr> = bindings.iter().map(|b| b.session_channels()).collect();
        for i in 0..bindings.len() {
            for j in i + 1..bindings.len() {
                let (a, b) = (&bindings[i], &bindings[j]);
                let conflict = |reason: String| Error::Conflict {
                    first: a.key.to_string(),
                    second: b.key.to_string(),
                    reason,
                };
                if a.key == b.key {
                    return Err(conflict("they have the same key".into()));
                }
                let (a0, a1) = a.session_window();
                let (b0, b1) = b.session_window();
                let (s, e) = (a0.max(b0), a1.min(b1));
                if s > e {
                    continue;
                }
                let shared = channels[i].intersect(&channels[j]);
                if !shared.is_empty() {
                    return Err(conflict(format!(
                        "both bind session channels {shared} from {} to {} \
                         (a binding without channel bindings binds every channel)",
                        fmt_time(s),
                        fmt_time(e)
                    )));
                }
            }
        }
        Ok(Self { bindings })
    }

    /// Validates bindings in their protobuf form.
    pub fn from_proto<'a>(bindings: impl IntoIterator<Item = &'a pb::DataBinding>) -> Result<Self> {
        Self::new(bindings.into_iter().map(DataBinding::from_proto).collect())
    }

    /// Validates the JSON of `GET /rta/v2/sessions/{identity}/data-bindings`.
    pub fn from_json(json: &str) -> Result<Self> {
        Self::new(DataBinding::list_from_json(json)?)
    }

    /// The bindings.
    pub fn bindings(&self) -> &[DataBinding] {
        &self.bindings
    }

    /// Plans a client request: one part per binding that can contribute,
    /// in binding order.
    pub fn plan(&self, req: &SessionRequest) -> Result<Plan> {
        req.validate()?;
        let mut parts = Vec::new();
        for b in &self.bindings {
            if let Some(p) = plan_binding(b, req)? {
                parts.push(p);
            }
        }
        Ok(Plan {
            kind: req.kind,
            parts,
        })
    }
}

/// A client request in session terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRequest {
    /// Data kind.
    pub kind: DataKind,
    /// Session channels, for channel kinds; `None` for events.
    pub channels: Option<ChannelExpr>,
    /// Inclusive start in session time.
    pub start: Option<i64>,
    /// Inclusive end in session time.
    pub end: Option<i64>,
    /// Compression of rewritten chunks (LZ4 by default).
    pub compression: Compression,
}

impl SessionRequest {
    /// A channel-data request without time bounds.
    pub fn channels(kind: DataKind, channels: ChannelExpr) -> Self {
        Self {
            kind,
            channels: Some(channels),
            start: None,
            end: None,
            compression: Compression::Lz4,
        }
    }

    /// An events request without time bounds.
    pub fn events() -> Self {
        Self {
            kind: DataKind::Events,
            channels: None,
            start: None,
            end: None,
            compression: Compression::Lz4,
        }
    }

    /// Sets the session time bounds.
    pub fn with_bounds(mut self, start: Option<i64>, end: Option<i64>) -> Self {
        self.start = start;
        self.end = end;
        self
    }

    /// Sets the compression of rewritten chunks.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Checks bounds order and that channels come exactly with channel kinds.
    pub fn validate(&self) -> Result<()> {
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if e < s {
                return Err(Error::InvalidRequest(format!(
                    "end {e} is before start {s}"
                )));
            }
        }
        match (self.kind.has_channels(), &self.channels) {
            (true, None) => Err(Error::InvalidRequest(format!(
                "{} data needs a channel expression",
                self.kind.path_segment()
            ))),
            (false, Some(_)) => Err(Error::InvalidRequest(
                "events are not requested by channel".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// What to ask one data service, and how to transform its answer.
#[derive(Debug, Clone)]
pub struct PlanPart {
    /// The binding's key.
    pub key: DataBindingKey,
    /// The data source token (the data service to ask).
    pub source: String,
    /// The request for the data service: data identity, data channels, data-time bounds.
    pub request: DataRequest,
    /// The session channels this part yields (`None` for events).
    pub session_channels: Option<ChannelExpr>,
    /// The binding's session time window (inclusive; `i64::MIN`/`MAX` when unbounded).
    pub window: (i64, i64),
    /// The transform of the response.
    pub transform: Transform,
}

impl PlanPart {
    /// Wraps the data service's response in this part's transform.
    pub fn transform_stream(&self, response: ChunkStream) -> BindingStream {
        self.transform.clone().apply_stream(response)
    }
}

/// The parts of a planned request.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The data kind.
    pub kind: DataKind,
    /// One part per contributing binding.
    pub parts: Vec<PlanPart>,
}

impl Plan {
    /// True when no binding contributes: the response is empty.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Transforms the responses (one per part, in order) and merges them
    /// into the session's stream.
    pub fn merge(self, responses: Vec<ChunkStream>) -> Result<BindingStream> {
        if responses.len() != self.parts.len() {
            return Err(Error::InvalidRequest(format!(
                "{} responses for a plan of {} parts",
                responses.len(),
                self.parts.len()
            )));
        }
        let inputs = self
            .parts
            .into_iter()
            .zip(responses)
            .map(|(p, r)| MergeInput {
                channels: p.session_channels.clone(),
                window_start: p.window.0,
                stream: p.transform.apply_stream(r),
            })
            .collect();
        Ok(merge(inputs))
    }

    /// Asks the data service of each part (found by source token with
    /// `resolve`) and merges the transformed responses.
    pub async fn execute<F>(self, resolve: F) -> Result<BindingStream>
    where
        F: Fn(&str) -> Option<Arc<dyn DataService>>,
    {
        let mut calls = Vec::with_capacity(self.parts.len());
        for p in &self.parts {
            let svc = resolve(&p.source).ok_or_else(|| Error::UnknownSource(p.source.clone()))?;
            let req = p.request.clone();
            calls.push(async move { svc.read(req).await });
        }
        let responses = futures::future::try_join_all(calls).await?;
        self.merge(responses)
    }
}

/// Session time bounds to data time bounds: `t - offset`, or `None` when
/// unbounded or past the range of `i64` on the unbounded side. Returns
/// `Err(())` when the bound leaves `i64` on the bounded side (no data can match).
fn to_data_time(t: i64, offset: i64, is_start: bool) -> Result<Option<i64>, ()> {
    if (is_start && t == i64::MIN) || (!is_start && t == i64::MAX) {
        return Ok(None);
    }
    let d = i128::from(t) - i128::from(offset);
    match i64::try_from(d) {
        Ok(v) => Ok(Some(v)),
        // Below i64::MIN: a start there is unbounded, an end there excludes everything.
        Err(_) if d < 0 => {
            if is_start {
                Ok(None)
            } else {
                Err(())
            }
        }
        Err(_) => {
            if is_start {
                Err(())
            } else {
                Ok(None)
            }
        }
    }
}

fn plan_binding(b: &DataBinding, req: &SessionRequest) -> Result<Option<PlanPart>> {
    let (w0, w1) = b.session_window();
    let s = req.start.unwrap_or(i64::MIN).max(w0);
    let e = req.end.unwrap_or(i64::MAX).min(w1);
    if s > e {
        return Ok(None);
    }
    let offset = b.session_time_offset;
    let (Ok(ds), Ok(de)) = (
        to_data_time(s, offset, true),
        to_data_time(e, offset, false),
    ) else {
        return Ok(None);
    };
    let (data_channels, session_channels) = match &req.channels {
        None => (None, None),
        Some(wanted) => {
            let session = wanted.intersect(&b.session_channels());
            if session.is_empty() {
                return Ok(None);
            }
            let data = b
                .effective_channel_bindings()
                .iter()
                .fold(ChannelExpr::empty(), |acc, cb| {
                    acc.union(&wanted.intersect(&cb.session_channels()).shift(-cb.shift()))
                });
            (Some(data), Some(session))
        }
    };
    let request = DataRequest {
        kind: req.kind,
        data_identity: b.key.identity.clone(),
        channels: data_channels,
        start: ds,
        end: de,
        authorization: Default::default(),
    };
    let transform = Transform::for_binding(b, req.kind)
        .with_wanted(session_channels.clone())
        .with_compression(req.compression);
    Ok(Some(PlanPart {
        key: b.key.clone(),
        source: b.key.source.clone(),
        request,
        session_channels,
        window: (w0, w1),
        transform,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(s: &str) -> ChannelExpr {
        s.parse().unwrap()
    }

    #[test]
    fn conflicts_are_rejected() {
        let dup =
            SessionBindings::new(vec![DataBinding::new("a", "x"), DataBinding::new("a", "x")])
                .unwrap_err();
        assert!(dup.to_string().contains("same key"), "{dup}");
        // Two all-channel bindings over overlapping time.
        let err = SessionBindings::new(vec![
            DataBinding::new("a", "x")
                .with_time_ref(1)
                .with_session_range(Some(0), Some(10)),
            DataBinding::new("a", "x")
                .with_time_ref(2)
                .with_session_range(Some(10), Some(20)),
        ])
        .unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }));
        assert!(err.to_string().contains("from 10 to 10"), "{err}");
        // Disjoint windows, or disjoint channels: fine.
        SessionBindings::new(vec![
            DataBinding::new("a", "x")
                .with_time_ref(1)
                .with_session_range(Some(0), Some(9)),
            DataBinding::new("a", "x")
                .with_time_ref(2)
                .with_session_range(Some(10), Some(20)),
            DataBinding::new("b", "y")
                .with_channels(0, 0, 0)
                .with_session_range(Some(15), None),
        ])
        .unwrap_err();
        SessionBindings::new(vec![
            DataBinding::new("a", "x")
                .with_time_ref(1)
                .with_session_range(Some(0), Some(9)),
            DataBinding::new("a", "x")
                .with_time_ref(2)
                .with_session_range(Some(10), Some(20)),
            DataBinding::new("b", "y")
                .with_channels(0, 0, 0)
                .with_session_range(Some(21), None),
        ])
        .unwrap();
    }

    #[test]
    fn requests_are_checked() {
        let b = SessionBindings::new(vec![DataBinding::new("a", "x")]).unwrap();
        let bad = [
            SessionRequest::channels(DataKind::Row, ch("1")).with_bounds(Some(5), Some(4)),
            SessionRequest {
                channels: None,
                ..SessionRequest::channels(DataKind::Periodic, ch("1"))
            },
            SessionRequest {
                channels: Some(ch("1")),
                ..SessionRequest::events()
            },
        ];
        for r in bad {
            assert!(matches!(b.plan(&r), Err(Error::InvalidRequest(_))), "{r:?}");
        }
    }

    #[test]
    fn offsets_and_windows_become_data_bounds() {
        let b = SessionBindings::new(vec![DataBinding::new("s", "d")
            .with_offset(300)
            .with_session_range(Some(1_000), Some(2_000))])
        .unwrap();
        let plan = b
            .plan(&SessionRequest::events().with_bounds(Some(1_500), None))
            .unwrap();
        let p = &plan.parts[0];
        assert_eq!((p.request.start, p.request.end), (Some(1_200), Some(1_700)));
        assert_eq!(p.request.channels, None);
        assert_eq!(p.transform.clip(), (Some(1_000), Some(2_000)));
        assert_eq!(p.transform.offset(), 300);
        // Outside the window: nothing to ask.
        let none = b
            .plan(&SessionRequest::events().with_bounds(Some(2_001), None))
            .unwrap();
        assert!(none.is_empty());
        // Unbounded binding and request: unbounded data request.
        let open = SessionBindings::new(vec![DataBinding::new("s", "d").with_offset(-5)]).unwrap();
        let p = &open.plan(&SessionRequest::events()).unwrap().parts[0];
        assert_eq!((p.request.start, p.request.end), (None, None));
    }

    #[test]
    fn data_time_conversion_edges() {
        assert_eq!(to_data_time(i64::MIN, 5, true), Ok(None));
        assert_eq!(to_data_time(i64::MAX, 5, false), Ok(None));
        assert_eq!(to_data_time(i64::MIN + 1, 5, true), Ok(None));
        assert_eq!(to_data_time(i64::MIN + 1, 5, false), Err(()));
        assert_eq!(to_data_time(i64::MAX - 1, -5, true), Err(()));
        assert_eq!(to_data_time(i64::MAX - 1, -5, false), Ok(None));
        assert_eq!(to_data_time(10, 3, true), Ok(Some(7)));
    }

    #[test]
    fn channel_bindings_split_requests() {
        let b = SessionBindings::new(vec![DataBinding::new("s", "d")
            .with_channels(0x100, 0, 0xF)
            .with_channels(0, 0x10, 0x1F)])
        .unwrap();
        let plan = b
            .plan(&SessionRequest::channels(
                DataKind::Timestamped,
                ch("8-17,40"),
            ))
            .unwrap();
        assert_eq!(plan.parts.len(), 1);
        let p = &plan.parts[0];
        assert_eq!(
            p.request.channels.as_ref().unwrap().to_string(),
            "-7,108-10F"
        );
        assert_eq!(p.session_channels.as_ref().unwrap().to_string(), "8-17");
        assert_eq!(p.transform.channel_map().map(0x108), Some(8));
        assert_eq!(p.transform.channel_map().map(3), Some(0x13));
        assert_eq!(p.transform.channel_map().map(0x20), None);
    }
}
