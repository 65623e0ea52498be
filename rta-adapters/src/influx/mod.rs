//! InfluxDB 1.x as a data adapter (feature `influx`): the toolkit's Influx
//! Data Service, read-only, InfluxQL only, on the [adapter kit](crate::kit).
//!
//! The data identity is an InfluxQL filter (`session='50835ebe-…'`),
//! checked by [`check_filter`] and wrapped in brackets in the `WHERE`
//! clause. The schema mapping of the identity says where to read:
//! properties `dialect` (`influxql`), `database`, `retention_policy`
//! and `measurement` (each defaulting to [`MappingDefaults`]), and
//! `field_mappings` from `source_field` to `target_channel` (fields are
//! doubles). A request for channels `1,2` of the toolkit's sample mapping
//! becomes
//! `SELECT "bbb","ccc" FROM "mydb"."autogen"."mydata" WHERE (someData='…') AND time >= … AND time <= …`
//! with the request's bounds rounded out to the kit's grid (chosen from
//! [`InfluxConfig::max_frequency`]). The response is read as InfluxDB's
//! chunked JSON (`chunked=true`), one document at a time, so a session
//! is never held in memory whole.
//!
//! `event_mappings` (an extension: the toolkit documents the property but
//! not its use) read events from the measurement named by `source_event`
//! in the same database and retention policy: one event per row, at the
//! row's time, with `target_event_id` and `target_event_app`, and the
//! values of `source_event_data_fields` (every field when empty) as raw data.

mod json;

use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use rta_core::data::DataKind;
use rta_core::proto::data::Event;
use rta_core::proto::schema_mapping_service::{EventMapping, SchemaMapping};
use rta_core::{Error, Result};

pub use crate::influxql::{check_filter, quote_ident, select, Source, MAX_FILTER_LEN};

use crate::kit::{Batch, BatchStream, SampleSource, SourceInfo, SourceQuery};

/// Schema mapping properties used when a mapping does not set them
/// (`SchemaMappingDefaults:*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingDefaults {
    /// `SchemaMappingDefaults:Dialect` (`influxql`, the only one supported).
    pub dialect: String,
    /// `SchemaMappingDefaults:InfluxQL:Database`.
    pub database: Option<String>,
    /// `SchemaMappingDefaults:InfluxQL:RetentionPolicy` (`autogen`).
    pub retention_policy: String,
    /// `SchemaMappingDefaults:InfluxQL:Measurement`.
    pub measurement: Option<String>,
}

impl Default for MappingDefaults {
    fn default() -> Self {
        MappingDefaults {
            dialect: "influxql".into(),
            database: None,
            retention_policy: "autogen".into(),
            measurement: None,
        }
    }
}

/// How to reach InfluxDB and read from it.
#[derive(Debug, Clone, PartialEq)]
pub struct InfluxConfig {
    /// `InfluxUri`: the server root, e.g. `http://localhost:8086/`
    /// (credentials in the URI are used as basic auth and never logged).
    pub uri: String,
    /// `InfluxHealthCheckPath`: `/health` (InfluxDB 1.8+) or `/ping`.
    pub health_check_path: String,
    /// `MaxFrequency`: approximate highest sample rate (Hz), which sets the
    /// chunk grid (10 s cells at the default 100 Hz).
    pub max_frequency: f64,
    /// `SchemaMappingDefaults:*`.
    pub defaults: MappingDefaults,
    /// Rows per chunked JSON document asked of InfluxDB.
    pub chunk_size: usize,
}

impl InfluxConfig {
    /// The toolkit's defaults for InfluxDB at `uri`.
    pub fn new(uri: impl Into<String>) -> Self {
        InfluxConfig {
            uri: uri.into(),
            health_check_path: "/health".into(),
            max_frequency: 100.0,
            defaults: MappingDefaults::default(),
            chunk_size: 10_000,
        }
    }
}

/// `uri` with any `user:password@` replaced, for messages and logs.
///
/// ```
/// assert_eq!(rta_adapters::influx::redact("http://u:secret@h:8086/"), "http://***@h:8086/");
/// ```
pub fn redact(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://").map(|i| i + 3) else {
        return uri.to_string();
    };
    let rest = &uri[scheme_end..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{}***{}", &uri[..scheme_end], &rest[at..]),
        None => uri.to_string(),
    }
}

/// InfluxDB as a [`SampleSource`]: serve it with
/// [`KitService`](crate::kit::KitService) and a mapping resolver.
///
/// ```
/// use rta_adapters::influx::{InfluxConfig, InfluxSource};
/// use rta_adapters::kit::SampleSource;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let src = InfluxSource::new(InfluxConfig::new("http://127.0.0.1:8086/")).unwrap();
/// // Identities are checked before anything is read.
/// assert!(src.describe("session='a') OR (1=1").await.is_err());
/// assert!(src.describe("session='a'").await.unwrap().is_some());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct InfluxSource {
    http: reqwest::Client,
    config: InfluxConfig,
    base: String,
}

impl InfluxSource {
    /// A source reading InfluxDB as `config` says (no connection is made yet).
    pub fn new(config: InfluxConfig) -> Result<Self> {
        let base = config.uri.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::InvalidArgument(format!(
                "InfluxUri {:?} is not an http(s) URL",
                redact(&config.uri)
            )));
        }
        if !(config.max_frequency.is_finite() && config.max_frequency > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "MaxFrequency {} is not a positive number of Hz",
                config.max_frequency
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {}", e.without_url())))?;
        Ok(InfluxSource { http, config, base })
    }

    /// The configuration.
    pub fn config(&self) -> &InfluxConfig {
        &self.config
    }

    fn unreachable(&self, e: &reqwest::Error) -> Error {
        Error::Unavailable(format!(
            "InfluxDB at {} is unreachable: {}",
            redact(&self.config.uri),
            std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string())
        ))
    }

    /// Checks InfluxDB's health endpoint (for `/health`).
    pub async fn check(&self) -> Result<()> {
        let path = &self.config.health_check_path;
        let url = format!("{}/{}", self.base, path.trim_start_matches('/'));
        let resp = self
            .http
            .get(&url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| self.unreachable(&e.without_url()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(Error::Unavailable(format!(
                "InfluxDB at {} answered {path} with HTTP {}",
                redact(&self.config.uri),
                resp.status().as_u16()
            )))
        }
    }

    /// Where the mapping says to read (its properties over the defaults).
    fn source(&self, mapping: &SchemaMapping) -> Result<Source> {
        let p = &mapping.properties;
        let d = &self.config.defaults;
        let prop = |name: &str| p.get(name).filter(|v| !v.is_empty()).cloned();
        let dialect = prop("dialect").unwrap_or_else(|| d.dialect.clone());
        if !dialect.eq_ignore_ascii_case("influxql") {
            return Err(Error::InvalidArgument(format!(
                "schema mapping dialect {dialect:?} is not supported: only influxql is"
            )));
        }
        let missing = |what: &str, option: &str| {
            Error::InvalidArgument(format!(
                "no InfluxDB {what}: set the schema mapping property {what} or the option \
                 SchemaMappingDefaults:InfluxQL:{option}"
            ))
        };
        Ok(Source {
            database: prop("database")
                .or_else(|| d.database.clone())
                .ok_or_else(|| missing("database", "Database"))?,
            retention_policy: prop("retention_policy")
                .unwrap_or_else(|| d.retention_policy.clone()),
            measurement: prop("measurement")
                .or_else(|| d.measurement.clone())
                .ok_or_else(|| missing("measurement", "Measurement"))?,
        })
    }

    /// Sends a query; answers as InfluxDB's chunked JSON documents.
    async fn query(&self, database: &str, q: String) -> Result<Documents> {
        let chunk_size = self.config.chunk_size.max(1).to_string();
        let form = [
            ("db", database),
            ("epoch", "ns"),
            ("chunked", "true"),
            ("chunk_size", chunk_size.as_str()),
            ("q", q.as_str()),
        ];
        let resp = self
            .http
            .post(format!("{}/query", self.base))
            .form(&form)
            .send()
            .await
            .map_err(|e| self.unreachable(&e.without_url()))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            let msg = serde_json::from_slice::<json::Response>(&body)
                .ok()
                .and_then(|r| r.error)
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(match status.as_u16() {
                400 => Error::InvalidArgument(format!("InfluxDB refused the query: {msg}")),
                code => Error::Upstream(format!("InfluxDB answered HTTP {code}: {msg}")),
            });
        }
        Ok(Documents::new(resp))
    }
}

/// The documents of a chunked response, one per line, parsed as they arrive.
struct Documents {
    body: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    buf: BytesMut,
    done: bool,
}

impl Documents {
    fn new(resp: reqwest::Response) -> Self {
        Documents {
            body: resp.bytes_stream().boxed(),
            buf: BytesMut::new(),
            done: false,
        }
    }

    /// The next document, or `None` at the end.
    async fn next(&mut self) -> Result<Option<json::Response>> {
        loop {
            if let Some(nl) = self.buf.iter().position(|b| *b == b'\n') {
                let line = self.buf.split_to(nl + 1);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return parse(&line).map(Some);
            }
            if self.done {
                if self.buf.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                let line = self.buf.split();
                return parse(&line).map(Some);
            }
            match self.body.next().await {
                Some(Ok(b)) => self.buf.extend_from_slice(&b),
                Some(Err(e)) => {
                    return Err(Error::Upstream(format!(
                        "InfluxDB response broke off: {}",
                        e.without_url()
                    )))
                }
                None => self.done = true,
            }
        }
    }
}

fn parse(line: &[u8]) -> Result<json::Response> {
    let doc: json::Response = serde_json::from_slice(line)
        .map_err(|e| Error::Upstream(format!("InfluxDB sent a response that is not JSON: {e}")))?;
    if let Some(e) = doc
        .error
        .as_ref()
        .or_else(|| doc.results.iter().find_map(|r| r.error.as_ref()))
    {
        return Err(Error::Upstream(format!("InfluxDB: {e}")));
    }
    Ok(doc)
}

/// Streams `docs` as batches made by `f` from each document.
fn batches<F>(docs: Documents, f: F) -> impl Stream<Item = Result<Batch>> + Send
where
    F: Fn(json::Response) -> Vec<Batch> + Send + 'static,
{
    futures::stream::unfold(Some((docs, f)), |state| async move {
        let (mut docs, f) = state?;
        match docs.next().await {
            Ok(Some(doc)) => Some((Ok(f(doc)), Some((docs, f)))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    })
    .map(|r: Result<Vec<Batch>>| {
        futures::stream::iter(match r {
            Ok(v) => v.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        })
    })
    .flatten()
}

/// The field batches of one document: for each mapped field, its non-null samples.
fn field_batches(doc: json::Response, wanted: &[(String, u32)]) -> Vec<Batch> {
    let mut out = Vec::new();
    for series in doc.results.into_iter().flat_map(|r| r.series) {
        let cols = &series.values;
        for (field, channel) in wanted {
            // columns[0] is `time`.
            let Some(k) = series.columns.iter().skip(1).position(|c| c == field) else {
                continue;
            };
            let Some(values) = cols.values.get(k) else {
                continue;
            };
            let (mut t, mut v) = (
                Vec::with_capacity(values.len()),
                Vec::with_capacity(values.len()),
            );
            for (time, x) in cols.times.iter().zip(values) {
                if !x.is_nan() {
                    t.push(*time);
                    v.push(*x);
                }
            }
            if !t.is_empty() {
                out.push(Batch::timestamped(*channel, t, v));
            }
        }
    }
    out
}

/// The events of one document for one event mapping.
fn events_of(doc: json::Response, m: &EventMapping) -> Vec<Event> {
    let mut out = Vec::new();
    for series in doc.results.into_iter().flat_map(|r| r.series) {
        let cols = &series.values;
        for (row, t) in cols.times.iter().enumerate() {
            out.push(Event {
                event_definition_id: m.target_event_id,
                app_name: m.target_event_app.clone(),
                timestamp: *t,
                status_text: String::new(),
                raw_data: cols.values.iter().map(|c| c[row]).collect(),
            });
        }
    }
    out
}

#[async_trait]
impl SampleSource for InfluxSource {
    async fn describe(&self, identity: &str) -> Result<Option<SourceInfo>> {
        check_filter(identity)?;
        Ok(Some(SourceInfo::rate(self.config.max_frequency)))
    }

    async fn read(&self, q: SourceQuery) -> Result<BatchStream> {
        check_filter(&q.identity)?;
        let from = self.source(&q.mapping)?;
        match q.kind {
            DataKind::Timestamped => {
                let mut wanted: Vec<(String, u32)> =
                    q.fields().map(|(f, c)| (f.to_string(), c)).collect();
                wanted.sort_by_key(|(_, c)| *c);
                let mut fields: Vec<&str> = Vec::new();
                for (f, _) in &wanted {
                    if !fields.contains(&f.as_str()) {
                        fields.push(f);
                    }
                }
                if fields.is_empty() {
                    return Ok(crate::kit::batches([]));
                }
                let sql = select(&fields, &from, &q.identity, q.start, q.end);
                let docs = self.query(&from.database, sql).await?;
                Ok(batches(docs, move |doc| field_batches(doc, &wanted)).boxed())
            }
            DataKind::Events => {
                let mut all = Vec::new();
                for m in &q.mapping.event_mappings {
                    let source = Source {
                        measurement: m.source_event.clone(),
                        ..from.clone()
                    };
                    let fields: Vec<&str> = m
                        .source_event_data_fields
                        .iter()
                        .map(String::as_str)
                        .collect();
                    let sql = select(&fields, &source, &q.identity, q.start, q.end);
                    let mut docs = self.query(&from.database, sql).await?;
                    // Events are few: several mappings are merged in memory, in time order.
                    while let Some(doc) = docs.next().await? {
                        all.extend(events_of(doc, m));
                    }
                }
                all.sort_by_key(|e| e.timestamp);
                Ok(crate::kit::batches(
                    (!all.is_empty()).then_some(Batch::Events(all)),
                ))
            }
            // InfluxDB keeps a time per sample: timestamped data only.
            DataKind::Periodic | DataKind::Row => Ok(crate::kit::batches([])),
        }
    }
}
