//! Following a live session over the WebSocket stream
//! (`/rta/v2/sessions/{identity}/stream`, subprotocol
//! `mat.ocs.rta.stream-lz4`).

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use prost::Message as _;
use rta_core::media::STREAM_SUBPROTOCOL;
use rta_core::proto::stream::{
    stream_data, stream_request, StreamDataBurst, StreamRequest, StreamSubscription,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::{Error, Result};

/// Largest burst accepted from the server, decompressed.
const MAX_BURST: usize = 64 << 20;

/// A subscription to a live session: [`Follow::next`] gives its bursts until
/// the session ends.
pub struct Follow {
    ws: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl std::fmt::Debug for Follow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follow").finish_non_exhaustive()
    }
}

/// How a followed session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The server closed the stream with this code and reason (1000: the
    /// session ended).
    Closed(u16, String),
    /// The connection ended without a close frame.
    Dropped,
}

/// What [`Follow::next`] gives.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveUpdate {
    /// A burst of session JSON, time ranges, data and events.
    Burst(StreamDataBurst),
    /// The stream is over.
    Ended(Ended),
}

impl LiveUpdate {
    /// The session's state when this burst carries session JSON whose
    /// `state` is no longer `open` (`closed`, `truncated`…). A stream service
    /// reading Redis keeps a finished session's stream open (it ends when
    /// the session expires from Redis), so a follower that should stop with
    /// the session watches for this.
    ///
    /// ```
    /// use rta_client::LiveUpdate;
    /// use rta_core::proto::stream::{stream_data::Data, StreamData, StreamDataBurst};
    ///
    /// let json = r#"{"identity":"a","state":"closed"}"#.to_string();
    /// let burst = StreamDataBurst { data: vec![StreamData { data: Some(Data::SessionJson(json)) }] };
    /// assert_eq!(LiveUpdate::Burst(burst).final_state().as_deref(), Some("closed"));
    /// ```
    pub fn final_state(&self) -> Option<String> {
        let LiveUpdate::Burst(b) = self else {
            return None;
        };
        b.data.iter().rev().find_map(|d| match &d.data {
            Some(stream_data::Data::SessionJson(j)) => {
                let v: serde_json::Value = serde_json::from_str(j).ok()?;
                let state = v.get("state")?.as_str()?;
                (state != "open").then(|| state.to_string())
            }
            _ => None,
        })
    }
}

/// The TLS settings of a `wss://` connection: the web roots and the CA file's
/// certificates.
fn tls(ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::InvalidArgument(format!("CA file: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::InvalidArgument(format!("CA file: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::InvalidArgument(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl Follow {
    /// Connects to the stream of `identity` under the REST `base` URL and
    /// subscribes to `channels` (`None`: every channel) and to events.
    pub(crate) async fn connect(
        base: &str,
        identity: &str,
        channels: Option<Vec<u32>>,
        authorization: Option<String>,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self> {
        let ws_base = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            return Err(Error::InvalidArgument(format!("REST URL {base:?}")));
        };
        let id =
            percent_encoding::utf8_percent_encode(identity, percent_encoding::NON_ALPHANUMERIC);
        let url = format!("{ws_base}/rta/v2/sessions/{id}/stream");
        let mut req = url
            .as_str()
            .into_client_request()
            .map_err(|e| Error::InvalidArgument(format!("{url}: {e}")))?;
        let h = req.headers_mut();
        h.insert(
            "Sec-WebSocket-Protocol",
            STREAM_SUBPROTOCOL
                .parse()
                .map_err(|_| Error::InvalidArgument("subprotocol".into()))?,
        );
        if let Some(a) = authorization {
            h.insert(
                "Authorization",
                a.parse().map_err(|_| {
                    Error::InvalidArgument("the token is not a valid header".into())
                })?,
            );
        }
        let connector = if ws_base.starts_with("wss://") {
            Some(Connector::Rustls(tls(ca_pem)?))
        } else {
            None
        };
        let (mut ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(req, None, false, connector)
                .await
                .map_err(|e| match e {
                    tokio_tungstenite::tungstenite::Error::Http(r) => {
                        let body = r
                            .body()
                            .as_ref()
                            .map(|b| String::from_utf8_lossy(b).to_string())
                            .unwrap_or_default();
                        Error::http(&url, r.status(), &body)
                    }
                    e => Error::Unreachable {
                        url: url.clone(),
                        message: e.to_string(),
                    },
                })?;
        let sub = StreamRequest {
            option: Some(stream_request::Option::Subscribe(StreamSubscription {
                all_events: true,
                all_data_channels: channels.is_none(),
                data_channel_ids: channels.unwrap_or_default(),
            })),
        };
        ws.send(Message::Binary(sub.encode_to_vec().into()))
            .await
            .map_err(|e| Error::Unreachable {
                url,
                message: e.to_string(),
            })?;
        Ok(Self { ws })
    }

    /// The next burst, or how the stream ended.
    pub async fn next(&mut self) -> Result<LiveUpdate> {
        loop {
            return match self.ws.next().await {
                Some(Ok(Message::Binary(b))) => {
                    let burst = rta_stream::burst::decode_frame(&b, MAX_BURST)
                        .map_err(|e| Error::Decode(format!("live burst: {e}")))?;
                    Ok(LiveUpdate::Burst(burst))
                }
                Some(Ok(Message::Close(f))) => Ok(LiveUpdate::Ended(match f {
                    Some(f) => Ended::Closed(u16::from(f.code), f.reason.to_string()),
                    None => Ended::Closed(1005, String::new()),
                })),
                Some(Ok(_)) => continue, // pings, pongs, text
                Some(Err(_)) | None => Ok(LiveUpdate::Ended(Ended::Dropped)),
            };
        }
    }
}
