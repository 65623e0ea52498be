//! [`RestReader`]: sessions and data over the public REST API, with
//! downloads that resume by chunk.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rta_core::chunk::{Chunk, ChunkDecoder};
use rta_core::config::ChannelDataType;
use rta_core::data::{periodic_timestamps, read_samples, read_timestamps, DataKind, Sample};
use rta_core::media::PROTOBUF_CHUNKED;
use rta_core::proto::data::{EventsList, PeriodicDataList, TimestampedDataList};

use crate::auth::Token;
use crate::slices::Slices;
use crate::{Error, Result};

/// Reads the public REST API (`/rta/v2/...`) of an `rta-server` or gateway.
#[derive(Debug, Clone)]
pub struct RestReader {
    http: reqwest::Client,
    base: String,
    token: Token,
    ca_pem: Option<std::sync::Arc<[u8]>>,
}

/// Decoded samples of one channel: times (ns since the epoch) and values as
/// `f64` (a `3f32` sample gives three values in a row).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// The channel.
    pub channel: u32,
    /// Sample times.
    pub times: Vec<i64>,
    /// Sample values, `components` per time.
    pub values: Vec<f64>,
    /// Values per sample (3 for `3f32`, otherwise 1).
    pub components: usize,
}

impl RestReader {
    pub(crate) fn new(
        base: &str,
        ca_pem: Option<&[u8]>,
        token: Token,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Self> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://"))
            || reqwest::Url::parse(&base).is_err()
        {
            return Err(Error::InvalidArgument(format!(
                "REST URL {base:?} is not an http:// or https:// URL"
            )));
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(timeout);
        if let Some(pem) = ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::InvalidArgument(format!("CA file: {e}")))?
            {
                b = b.add_root_certificate(cert);
            }
        }
        let http = b
            .build()
            .map_err(|e| Error::InvalidArgument(format!("HTTP client: {e}")))?;
        let ca_pem = ca_pem.map(std::sync::Arc::from);
        Ok(Self {
            http,
            base,
            token,
            ca_pem,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn get(&self, url: &str, accept: &str) -> Result<reqwest::Response> {
        let mut req = self.http.get(url).header(reqwest::header::ACCEPT, accept);
        if let Some(h) = self.token.header() {
            req = req.header(reqwest::header::AUTHORIZATION, h);
        }
        let resp = req.send().await.map_err(|e| Error::request(url, e))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            Err(Error::http(url, status, &body))
        }
    }

    async fn json(&self, url: &str) -> Result<serde_json::Value> {
        self.get(url, "application/json")
            .await?
            .json()
            .await
            .map_err(|e| Error::Decode(format!("{url}: {e}")))
    }

    /// `GET /rta/v2/sessions/{identity}`: the session JSON.
    pub async fn session(&self, identity: &str) -> Result<serde_json::Value> {
        let id = utf8_percent_encode(identity, NON_ALPHANUMERIC);
        self.json(&format!("{}/rta/v2/sessions/{id}", self.base))
            .await
            .map_err(|e| match e {
                Error::NotFound(_) => Error::NotFound(format!("session {identity:?}")),
                e => e,
            })
    }

    /// `GET /rta/v2/configs/{identifier}`: the config JSON.
    pub async fn config(&self, identifier: &str) -> Result<serde_json::Value> {
        let id = utf8_percent_encode(identifier, NON_ALPHANUMERIC);
        self.json(&format!("{}/rta/v2/configs/{id}", self.base))
            .await
    }

    /// Follows the live session `identity` over the WebSocket stream: its
    /// events and `channels` (`None`: every channel), until it ends.
    pub async fn follow(
        &self,
        identity: &str,
        channels: Option<Vec<u32>>,
    ) -> Result<crate::live::Follow> {
        crate::live::Follow::connect(
            &self.base,
            identity,
            channels,
            self.token.header(),
            self.ca_pem.as_deref(),
        )
        .await
    }

    /// `GET /rta/v2/info`.
    pub async fn info(&self) -> Result<serde_json::Value> {
        self.json(&format!("{}/rta/v2/info", self.base)).await
    }

    /// The URL of a data request.
    fn data_url(
        &self,
        identity: &str,
        kind: DataKind,
        channels: &str,
        start: Option<i64>,
        end: Option<i64>,
    ) -> String {
        let id = utf8_percent_encode(identity, NON_ALPHANUMERIC);
        let mut url = if kind.has_channels() {
            let ch = utf8_percent_encode(channels, NON_ALPHANUMERIC);
            let seg = kind.path_segment();
            format!("{}/rta/v2/sessions/{id}/data/{seg}/{ch}", self.base)
        } else {
            format!("{}/rta/v2/sessions/{id}/data/events", self.base)
        };
        let mut sep = '?';
        for (name, v) in [("start", start), ("end", end)] {
            if let Some(v) = v {
                url.push_str(&format!("{sep}{name}={v}"));
                sep = '&';
            }
        }
        url
    }

    /// A download of the `kind` data of `channels` (an expression such as
    /// `0-3,7` or `-`) between `start` and `end`, chunk by chunk; see
    /// [`Download`].
    pub fn download(
        &self,
        identity: &str,
        kind: DataKind,
        channels: &str,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Download {
        Download {
            reader: self.clone(),
            identity: identity.to_string(),
            kind,
            channels: channels.to_string(),
            start,
            end,
            progress: HashMap::new(),
            body: None,
            dec: ChunkDecoder::new(),
            finished: false,
            resumes: 0,
            slices: None,
            slice_bytes: 0,
            resuming: false,
        }
    }
}

/// A data download that can be resumed: it remembers, per channel, the end
/// of the last chunk it delivered. When the connection drops, the next call
/// to [`Download::next_chunk`] asks again from there (chunk boundaries are
/// stable, so the chunks already delivered are recognised and skipped) and
/// the result equals one uninterrupted download.
pub struct Download {
    reader: RestReader,
    identity: String,
    kind: DataKind,
    channels: String,
    start: Option<i64>,
    end: Option<i64>,
    /// Channel (events: `u32::MAX`) -> end time of the last chunk delivered.
    progress: HashMap<u32, i64>,
    body: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
    dec: ChunkDecoder,
    finished: bool,
    resumes: u32,
    /// Requests by time slice ([`Download::in_slices`]).
    slices: Option<Slices>,
    /// Body bytes of the current slice so far.
    slice_bytes: u64,
    /// Whether the next request resumes an interrupted one.
    resuming: bool,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("identity", &self.identity)
            .field("kind", &self.kind)
            .field("channels", &self.channels)
            .field("resumes", &self.resumes)
            .finish_non_exhaustive()
    }
}

const EVENTS: u32 = u32::MAX;

impl Download {
    /// Times the download was resumed after an interruption.
    pub fn resumes(&self) -> u32 {
        self.resumes
    }

    /// Asks for the download in consecutive time slices of about
    /// `target_bytes` of chunks each (sized from the data rate seen so
    /// far), their boundaries inside `from..=to` (the session's time range,
    /// say); the first slice starts and the last ends where the download
    /// does, so no data outside that range is left out. A server that
    /// sends one channel's whole range before the next (the native store)
    /// then sends a slice of every channel at a time, so a reader
    /// combining channels holds one slice, not the whole download. The
    /// chunks are the same as unsliced: one overlapping two slices is
    /// delivered once.
    ///
    /// ```no_run
    /// # async fn f(reader: rta_client::RestReader) -> rta_client::Result<()> {
    /// use rta_core::data::DataKind;
    /// let mut d = reader
    ///     .download("s1", DataKind::Timestamped, "0-99", None, None)
    ///     .in_slices(1_700_000_000_000_000_000, 1_700_003_600_000_000_000, 16 << 20);
    /// while let Some(chunk) = d.next_chunk().await? {
    ///     println!("{} {:?}", chunk.start, chunk.channel_ids);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn in_slices(mut self, from: i64, to: i64, target_bytes: u64) -> Self {
        let from = self.start.map_or(from, |s| s.max(from));
        let to = self.end.map_or(to, |e| e.min(to));
        self.slices = Some(Slices::new(
            (from, to),
            (self.start, self.end),
            target_bytes,
        ));
        self
    }

    /// Where a resumed request starts: just after the earliest channel's
    /// progress when every requested channel is known to have some (an
    /// explicit channel list), else the original start.
    fn resume_start(&self) -> Option<i64> {
        let listed: Option<Vec<u32>> = if self.kind.has_channels() {
            rta_core::channels::ChannelExpr::parse(&self.channels)
                .ok()
                .filter(|e| !e.is_all() && e.len() <= 100_000)
                .map(|e| e.iter().collect())
        } else {
            Some(vec![EVENTS])
        };
        let min = listed.and_then(|ids| {
            ids.iter()
                .map(|c| self.progress.get(c).copied())
                .collect::<Option<Vec<i64>>>()
                .and_then(|v| v.into_iter().min())
        });
        match (min, self.start) {
            (Some(m), Some(s)) => Some(s.max(m.saturating_add(1))),
            (Some(m), None) => Some(m.saturating_add(1)),
            (None, s) => s,
        }
    }

    fn already_delivered(&self, c: &Chunk) -> bool {
        let ids: &[u32] = if self.kind.has_channels() {
            &c.channel_ids
        } else {
            &[EVENTS]
        };
        !ids.is_empty()
            && ids
                .iter()
                .all(|ch| self.progress.get(ch).is_some_and(|&p| c.end <= p))
    }

    async fn open(&mut self) -> Result<()> {
        let (from, end) = match &self.slices {
            Some(s) => s.current(),
            None => (self.start, self.end),
        };
        let start = if self.resuming {
            match (self.resume_start(), from) {
                (Some(r), Some(f)) => Some(r.max(f)),
                (r, f) => r.or(f),
            }
        } else {
            from
        };
        self.resuming = false;
        let url = self
            .reader
            .data_url(&self.identity, self.kind, &self.channels, start, end);
        let resp = self.reader.get(&url, PROTOBUF_CHUNKED).await?;
        self.body = Some(resp.bytes_stream().boxed());
        self.dec = ChunkDecoder::new();
        Ok(())
    }

    /// The next chunk, or `None` at the end. A dropped connection is resumed
    /// up to 5 times in a row before its error is returned.
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let mut failures = 0;
        loop {
            if self.finished {
                return Ok(None);
            }
            if self.body.is_none() {
                self.open().await?;
            }
            match self.dec.next_chunk() {
                Ok(Some(c)) => {
                    if self.already_delivered(&c) {
                        continue;
                    }
                    let ids = if self.kind.has_channels() {
                        c.channel_ids.clone()
                    } else {
                        vec![EVENTS]
                    };
                    for ch in ids {
                        self.progress.insert(ch, c.end);
                    }
                    return Ok(Some(c));
                }
                Ok(None) => {}
                Err(e) => return Err(Error::Decode(format!("data body: {e}"))),
            }
            let next = match self.body.as_mut() {
                Some(b) => b.next().await,
                None => None,
            };
            match next {
                Some(Ok(bytes)) => {
                    self.slice_bytes += bytes.len() as u64;
                    self.dec.push_bytes(bytes);
                }
                None => {
                    self.dec
                        .finish()
                        .map_err(|e| Error::Decode(format!("truncated data body: {e}")))?;
                    let bytes = std::mem::take(&mut self.slice_bytes);
                    let more = self.slices.as_mut().is_some_and(|s| s.advance(bytes));
                    if more {
                        self.body = None; // the next slice
                    } else {
                        self.finished = true;
                    }
                }
                Some(Err(e)) => {
                    failures += 1;
                    if failures > 5 {
                        return Err(Error::Service {
                            service: self.reader.base.clone(),
                            status: "body failed".into(),
                            message: e.to_string(),
                        });
                    }
                    tracing::warn!(identity = %self.identity, "download interrupted ({e}); resuming");
                    self.body = None;
                    self.resuming = true;
                    self.resumes += 1;
                }
            }
        }
    }

    /// Every remaining chunk decoded as samples of `data_type` (timestamped
    /// and periodic data only).
    pub async fn samples(&mut self, data_type: ChannelDataType) -> Result<Vec<Samples>> {
        let mut by_channel: std::collections::BTreeMap<u32, Samples> = Default::default();
        while let Some(c) = self.next_chunk().await? {
            for s in decode_chunk(&c, self.kind, data_type)? {
                let e = by_channel.entry(s.channel).or_insert_with(|| Samples {
                    channel: s.channel,
                    components: s.components,
                    ..Default::default()
                });
                e.times.extend(s.times);
                e.values.extend(s.values);
            }
        }
        Ok(by_channel.into_values().collect())
    }
}

/// The samples of one timestamped or periodic chunk, values read as `data_type`.
///
/// ```
/// use rta_core::chunk::{Chunk, Compression};
/// use rta_core::config::ChannelDataType;
/// use rta_core::data::{periodic, DataKind};
/// use rta_core::proto::data::PeriodicDataList;
/// let list = PeriodicDataList { periodic_data: vec![periodic(3, 100, 10, &[1u16, 2])?] };
/// let chunk = Chunk::from_list(&list, Compression::Lz4)?.unwrap();
/// let s = rta_client::Samples::from_chunk(&chunk, DataKind::Periodic, ChannelDataType::U16)?;
/// assert_eq!(s[0].times, vec![100, 110]);
/// assert_eq!(s[0].values, vec![1.0, 2.0]);
/// # Ok::<(), rta_client::Error>(())
/// ```
impl Samples {
    /// Decodes one chunk (see the type's example).
    pub fn from_chunk(c: &Chunk, kind: DataKind, data_type: ChannelDataType) -> Result<Vec<Self>> {
        decode_chunk(c, kind, data_type)
    }
}

impl Samples {
    /// The samples of one channel: `times` and the little-endian `buffer`
    /// read as `data_type`.
    pub(crate) fn read(
        channel: u32,
        times: Vec<i64>,
        buffer: &[u8],
        data_type: ChannelDataType,
    ) -> Result<Self> {
        Ok(Samples {
            channel,
            times,
            values: values(buffer, data_type)?,
            components: data_type.components(),
        })
    }
}

fn decode_chunk(c: &Chunk, kind: DataKind, data_type: ChannelDataType) -> Result<Vec<Samples>> {
    match kind {
        DataKind::Timestamped => {
            let list: TimestampedDataList = c.decode_list()?;
            list.timestamped_data
                .iter()
                .map(|d| Samples::read(d.channel_id, read_timestamps(d)?, &d.buffer, data_type))
                .collect()
        }
        DataKind::Periodic => {
            let list: PeriodicDataList = c.decode_list()?;
            list.periodic_data
                .iter()
                .map(|d| Samples::read(d.channel_id, periodic_timestamps(d)?, &d.buffer, data_type))
                .collect()
        }
        DataKind::Events => {
            let list: EventsList = c.decode_list()?;
            let n = list.events.len();
            Ok(vec![Samples {
                channel: EVENTS,
                times: list.events.iter().map(|e| e.timestamp).collect(),
                values: vec![0.0; n],
                components: 1,
            }])
        }
        DataKind::Row => Err(Error::InvalidArgument(
            "row data holds several channels of their own types: read its chunks".into(),
        )),
    }
}

/// Little-endian samples of `t` as `f64` (a `3f32` sample gives three).
fn values(buf: &[u8], t: ChannelDataType) -> Result<Vec<f64>> {
    fn widen<T: Sample + Into<f64>>(buf: &[u8]) -> Result<Vec<f64>> {
        Ok(read_samples::<T>(buf)?
            .into_iter()
            .map(Into::into)
            .collect())
    }
    if !buf.len().is_multiple_of(t.width()) {
        return Err(Error::Decode(format!(
            "a buffer of {} bytes is not a whole number of {t} samples",
            buf.len()
        )));
    }
    match t {
        ChannelDataType::U8 => widen::<u8>(buf),
        ChannelDataType::S8 => widen::<i8>(buf),
        ChannelDataType::U16 => widen::<u16>(buf),
        ChannelDataType::S16 => widen::<i16>(buf),
        ChannelDataType::U32 => widen::<u32>(buf),
        ChannelDataType::S32 => widen::<i32>(buf),
        ChannelDataType::F32 | ChannelDataType::F32x3 => widen::<f32>(buf),
        ChannelDataType::F64 => Ok(read_samples::<f64>(buf)?),
    }
}
