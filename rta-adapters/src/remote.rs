//! A [`DataService`] that reads another data service over HTTP, through its
//! data-microservice route (`GET /rta/v2/data/{dataIdentity}/...`): what a
//! Gateway uses to reach the data services named by session bindings.
//!
//! Responses are streamed: chunks are decoded as their bytes arrive, and
//! each payload is handed on as a slice of the received buffer, never
//! copied or decompressed. Failures are [`Error::Upstream`] (`502` on the
//! public API) naming the service and what went wrong; bad requests the
//! service refuses are [`Error::InvalidArgument`] with its message. The
//! request's [`Authorization`](rta_core::service::Authorization) goes out as
//! the `Authorization` header.
//!
//! ```no_run
//! use futures::StreamExt;
//! use rta_adapters::remote::RemoteDataService;
//! use rta_core::service::{DataRequest, DataService};
//!
//! # async fn run() -> rta_core::Result<()> {
//! let svc = RemoteDataService::new("http://127.0.0.1:2670")?;
//! let mut chunks = svc.read(DataRequest::events("someData='50835ebe'")).await?;
//! while let Some(chunk) = chunks.next().await {
//!     println!("{} bytes", chunk?.payload.len());
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rta_core::chunk::{Chunk, ChunkDecoder};
use rta_core::media::PROTOBUF_CHUNKED;
use rta_core::service::{ChunkStream, DataRequest, DataService};
use rta_core::{Error, Result};

/// How long connecting to a data service may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a response may go without bytes before it fails.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads a remote data service's chunks over HTTP (a pooled client; clone
/// it freely, clones share the pool).
#[derive(Debug, Clone)]
pub struct RemoteDataService {
    client: reqwest::Client,
    base: String,
}

impl RemoteDataService {
    /// A reader of the data service at `base_url` (`http://host:port`, or
    /// `https://`, with an optional path prefix), with the default
    /// timeouts.
    ///
    /// ```
    /// use rta_adapters::remote::RemoteDataService;
    /// assert!(RemoteDataService::new("http://127.0.0.1:2670").is_ok());
    /// assert!(RemoteDataService::new("ftp://x").is_err());
    /// ```
    pub fn new(base_url: &str) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|e| Error::Internal(format!("cannot build an HTTP client: {e}")))?;
        Self::with_client(client, base_url)
    }

    /// A reader using `client` (its pool, timeouts and TLS settings).
    pub fn with_client(client: reqwest::Client, base_url: &str) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_string();
        let scheme_ok = base.starts_with("http://") || base.starts_with("https://");
        if !scheme_ok || reqwest::Url::parse(&base).is_err() {
            return Err(Error::InvalidArgument(format!(
                "data service URL {base_url:?} is not an http:// or https:// URL"
            )));
        }
        Ok(Self { client, base })
    }

    /// The service's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The URL of a request: the data identity as one percent-encoded path
    /// segment, the channels as the canonical expression.
    pub fn url(&self, req: &DataRequest) -> String {
        let id = utf8_percent_encode(&req.data_identity, NON_ALPHANUMERIC);
        let mut url = match &req.channels {
            Some(c) if req.kind.has_channels() => format!(
                "{}/rta/v2/data/{id}/{}/{}",
                self.base,
                req.kind.path_segment(),
                utf8_percent_encode(&c.to_string(), NON_ALPHANUMERIC)
            ),
            _ => format!("{}/rta/v2/data/{id}/events", self.base),
        };
        let mut sep = '?';
        for (name, value) in [("start", req.start), ("end", req.end)] {
            if let Some(v) = value {
                url.push(sep);
                url.push_str(&format!("{name}={v}"));
                sep = '&';
            }
        }
        url
    }

    fn upstream(&self, what: impl std::fmt::Display) -> Error {
        Error::Upstream(format!("data service {}: {what}", self.base))
    }
}

#[async_trait]
impl DataService for RemoteDataService {
    async fn read(&self, req: DataRequest) -> Result<ChunkStream> {
        req.validate()?;
        let mut get = self
            .client
            .get(self.url(&req))
            .header(reqwest::header::ACCEPT, PROTOBUF_CHUNKED);
        if let Some(auth) = req.authorization.value() {
            get = get.header(reqwest::header::AUTHORIZATION, auth);
        }
        let resp = get
            .send()
            .await
            .map_err(|e| self.upstream(format_args!("request failed: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(if status == reqwest::StatusCode::BAD_REQUEST {
                Error::InvalidArgument(message)
            } else {
                self.upstream(format_args!("answered {status}: {message}"))
            });
        }
        let body = resp.bytes_stream().boxed();
        Ok(decode_stream(body, self.clone()))
    }
}

/// Chunks decoded from a body as its bytes arrive.
fn decode_stream(
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    svc: RemoteDataService,
) -> ChunkStream {
    struct St {
        body: BoxStream<'static, reqwest::Result<Bytes>>,
        dec: ChunkDecoder,
        svc: RemoteDataService,
        done: bool,
    }
    let st = St {
        body,
        dec: ChunkDecoder::new(),
        svc,
        done: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        loop {
            if st.done {
                return None;
            }
            match st.dec.next_chunk() {
                Ok(Some(chunk)) => return Some((Ok::<Chunk, Error>(chunk), st)),
                Ok(None) => {}
                Err(e) => {
                    st.done = true;
                    return Some((Err(st.svc.upstream(format_args!("bad body: {e}"))), st));
                }
            }
            match st.body.next().await {
                Some(Ok(bytes)) => st.dec.push_bytes(bytes),
                Some(Err(e)) => {
                    st.done = true;
                    let err = st.svc.upstream(format_args!("body failed: {e}"));
                    return Some((Err(err), st));
                }
                None => {
                    st.done = true;
                    return match st.dec.finish() {
                        Ok(()) => None,
                        Err(e) => {
                            let err = st.svc.upstream(format_args!("truncated body: {e}"));
                            Some((Err(err), st))
                        }
                    };
                }
            }
        }
    })
    .boxed()
}
