//! Response bodies of the chunked data API: [`ChunkedSource`] gives the wire
//! bytes (`[i32 LE header length][ChunkTransferHeader][payload]...`) of the
//! chunks a request selects, and [`Framed`] provides it for any
//! [`DataService`] by gathering its chunks into large frames.
//!
//! ```
//! use futures::StreamExt;
//! use rta_core::framing::{ChunkedSource, Framed};
//! use rta_core::service::{DataRequest, DataService};
//! # use rta_core::service::ChunkStream;
//! # struct Empty;
//! # #[async_trait::async_trait]
//! # impl DataService for Empty {
//! #     async fn read(&self, _: DataRequest) -> rta_core::Result<ChunkStream> {
//! #         Ok(futures::stream::empty().boxed())
//! #     }
//! # }
//! # futures::executor::block_on(async {
//! let source = Framed(std::sync::Arc::new(Empty));
//! let body = source.read_chunked(DataRequest::events("s1")).await.unwrap();
//! assert_eq!(body.count().await, 0);
//! # });
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::chunk::ChunkEncoder;
use crate::service::{ChunkStream, DataRequest, DataService};
use crate::Result;

/// A source of chunked response bodies: the wire bytes
/// (`[i32 LE header length][ChunkTransferHeader][payload]...`) of the chunks
/// a request selects, in frames of any size.
///
/// [`Framed`] provides it for any [`DataService`]; a source that can build
/// its bodies more cheaply implements it directly, as the
/// native store of `rta-adapters` does (frames laid out from its
/// index, stored payloads copied in undecoded, exact length known up front).
#[async_trait]
pub trait ChunkedSource: Send + Sync + 'static {
    /// The body of a response to `req` (already validated).
    async fn read_chunked(&self, req: DataRequest) -> Result<BoxStream<'static, Result<Bytes>>>;

    /// The body of a response to `req` with its exact length in bytes when
    /// the source knows it before the first frame (the response then
    /// carries `Content-Length` instead of a chunked transfer, which HTTP
    /// clients read several times faster). The default does not know it.
    async fn read_chunked_sized(
        &self,
        req: DataRequest,
    ) -> Result<(Option<u64>, BoxStream<'static, Result<Bytes>>)> {
        Ok((None, self.read_chunked(req).await?))
    }
}

/// Frames the chunk stream of any [`DataService`]: chunks already available
/// are copied together into frames of up to 2 MiB (payloads of 1 MiB or more
/// go out uncopied); a frame goes out as soon as the service has nothing more
/// ready, so the first chunk is never held back.
pub struct Framed<D: ?Sized>(pub Arc<D>);

#[async_trait]
impl<D: DataService + ?Sized> ChunkedSource for Framed<D> {
    async fn read_chunked(&self, req: DataRequest) -> Result<BoxStream<'static, Result<Bytes>>> {
        Ok(framed(self.0.read(req).await?).boxed())
    }
}

/// Body frames at most this large are built by copying chunks together.
const FRAME_BYTES: usize = 2 * 1024 * 1024;
/// Payloads at least this large are sent as frames of their own, uncopied.
const OWN_FRAME_BYTES: usize = 1024 * 1024;

/// Turns a chunk stream into body frames: the chunks already available are
/// gathered (prefix, header and payload, as on the wire) into frames of up to
/// [`FRAME_BYTES`], and a frame goes out as soon as the store has nothing
/// more ready, so the first chunk is not held back. Per-frame costs of the
/// HTTP stack dominate with one frame per header and payload; one memory copy
/// into large frames is far cheaper. Large payloads go out uncopied.
fn framed(chunks: ChunkStream) -> impl futures::Stream<Item = Result<Bytes>> + Send {
    use futures::FutureExt;
    struct St {
        chunks: ChunkStream,
        enc: ChunkEncoder,
        pending: std::collections::VecDeque<Result<Bytes>>,
        done: bool,
    }
    let st = St {
        chunks,
        enc: ChunkEncoder::new(),
        pending: std::collections::VecDeque::new(),
        done: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        if let Some(b) = st.pending.pop_front() {
            return Some((b, st));
        }
        if st.done {
            return None;
        }
        let mut buf = bytes::BytesMut::new();
        let mut next = st.chunks.next().await;
        loop {
            let chunk = match next {
                None => {
                    st.done = true;
                    break;
                }
                Some(Err(e)) => {
                    // Send what was read, then fail the body (a truncated stream).
                    st.done = true;
                    st.pending.push_back(Err(e));
                    break;
                }
                Some(Ok(c)) => c,
            };
            let header = match st.enc.header(&chunk) {
                Ok(h) => h,
                Err(e) => {
                    st.done = true;
                    st.pending.push_back(Err(e));
                    break;
                }
            };
            buf.reserve(header.len() + chunk.payload.len());
            buf.extend_from_slice(&header);
            if chunk.payload.len() >= OWN_FRAME_BYTES {
                st.pending.push_back(Ok(buf.split().freeze()));
                st.pending.push_back(Ok(chunk.payload));
                break;
            }
            buf.extend_from_slice(&chunk.payload);
            if buf.len() >= FRAME_BYTES {
                break;
            }
            match st.chunks.next().now_or_never() {
                Some(n) => next = n,
                None => break,
            }
        }
        if !buf.is_empty() {
            st.pending.push_front(Ok(buf.freeze()));
        }
        st.pending.pop_front().map(|b| (b, st))
    })
}
