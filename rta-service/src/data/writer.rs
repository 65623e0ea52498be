//! The toolkit `DataWriter` gRPC service.
//!
//! The service is written out by hand rather than generated, for one reason:
//! its decoder. Each `WriteDataStreamMessage` carrying timestamped or
//! periodic data is read without decoding the samples
//! ([`EncodedSeries::scan`]) when the sink [accepts encoded
//! items](DataSink::accepts_encoded), so a store that keeps chunks in wire
//! form copies the item's bytes into a chunk list as they arrived. Every
//! other message, and any item that is not canonically encoded, is decoded
//! with prost as usual. On the wire the service is the generated one: same
//! path, messages, statuses and size limit.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures::{FutureExt, StreamExt};
use prost::encoding::{decode_key, decode_varint, WireType};
use prost::Message;
use rta_core::data::DataKind;
use rta_core::encoded::EncodedSeries;
use rta_core::proto::data_service::data_writer_server::SERVICE_NAME;
use rta_core::proto::data_service::{
    write_data_stream_message, write_data_stream_response_message, WriteDataStreamMessage,
    WriteDataStreamResponseMessage,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::codegen::{Body, BoxFuture, StdError};
use tonic::{Status, Streaming};
use tonic_prost::ProstEncoder;

use rta_core::write::{DataObserver, DataSink, WriteItem};

/// Largest message accepted by the `DataWriter` service (64 MiB).
pub const MAX_WRITE_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Items handed to the sink at most at once.
const BATCH_ITEMS: usize = 1024;
/// Serialized bytes handed to the sink at most at once.
const BATCH_BYTES: usize = 2 * 1024 * 1024;

/// How long a partial batch waits for more messages while the store is busy.
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

/// Batches of decoded messages waiting for the store, per call.
const PIPELINE_DEPTH: usize = 4;

/// The path of the one method.
const WRITE_DATA_STREAM: &str = "/rta.toolkit.api.chunk_service.DataWriter/WriteDataStream";

/// The `DataWriter` service over a [`DataSink`].
///
/// `WriteDataStream` expects the data identity first (a stream that sends
/// data or a flush marker before it fails with `INVALID_ARGUMENT`); another
/// `data_identity` later switches the identity. Items are handed to the sink
/// in batches of what has already arrived; a flush marker is echoed in
/// `flush_completed` only after [`DataSink::flush`] returned, that is once
/// everything before it is durable. When the client ends the stream the sink
/// is told the writer has finished ([`DataSink::finish`]). Invalid items end
/// the call with `INVALID_ARGUMENT` and the reason; batches stored before
/// them stay stored.
///
/// It is a `tower` service for `tonic`'s router:
///
/// ```no_run
/// use std::sync::Arc;
/// use rta_service::data;
/// use rta_adapters::native::{NativeConfig, NativeStore};
///
/// # fn run() -> rta_core::Result<()> {
/// let store = NativeStore::open(NativeConfig::new("./rta-data/data"))?;
/// let routes = tonic::service::Routes::default()
///     .add_service(data::data_writer_server(Arc::new(store), None));
/// # let _ = routes;
/// # Ok(())
/// # }
/// ```
pub struct DataWriterGrpc<S: ?Sized> {
    shared: Arc<Shared<S>>,
    max_decoding_message_size: usize,
}

struct Shared<S: ?Sized> {
    sink: Arc<S>,
    observer: Option<Arc<dyn DataObserver>>,
}

impl<S: ?Sized> Clone for DataWriterGrpc<S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            max_decoding_message_size: self.max_decoding_message_size,
        }
    }
}

impl<S: DataSink + ?Sized> DataWriterGrpc<S> {
    /// A writer service storing into `sink` and reporting stored batches to
    /// `observer`, if any. It accepts messages up to
    /// [`MAX_WRITE_MESSAGE_BYTES`].
    pub fn new(sink: Arc<S>, observer: Option<Arc<dyn DataObserver>>) -> Self {
        Self {
            shared: Arc::new(Shared { sink, observer }),
            max_decoding_message_size: MAX_WRITE_MESSAGE_BYTES,
        }
    }

    /// Sets the largest message accepted (larger ones end the call with
    /// `OUT_OF_RANGE`).
    #[must_use]
    pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
        self.max_decoding_message_size = limit;
        self
    }
}

/// The `DataWriter` gRPC server over a sink, accepting messages up to
/// [`MAX_WRITE_MESSAGE_BYTES`].
pub fn data_writer_server<S: DataSink + ?Sized>(
    sink: Arc<S>,
    observer: Option<Arc<dyn DataObserver>>,
) -> DataWriterGrpc<S> {
    DataWriterGrpc::new(sink, observer)
}

impl<S: ?Sized> tonic::server::NamedService for DataWriterGrpc<S> {
    const NAME: &'static str = SERVICE_NAME;
}

impl<S, B> tower::Service<http::Request<B>> for DataWriterGrpc<S>
where
    S: DataSink + ?Sized,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != WRITE_DATA_STREAM {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let codec = WriteCodec {
            keep_encoded: self.shared.sink.accepts_encoded(),
        };
        let method = WriteMethod(self.shared.clone());
        let limit = self.max_decoding_message_size;
        Box::pin(async move {
            let mut grpc =
                tonic::server::Grpc::new(codec).apply_max_message_size_config(Some(limit), None);
            Ok(grpc.streaming(method, req).await)
        })
    }
}

/// One message of a `WriteDataStream` call, as the service uses it.
#[derive(Debug)]
pub(crate) enum Incoming {
    Identity(String),
    Flush(String),
    Item(WriteItem),
    Empty,
}

/// Responses encoded by prost; requests decoded by [`IncomingDecoder`].
#[derive(Debug, Clone, Copy)]
struct WriteCodec {
    keep_encoded: bool,
}

impl Codec for WriteCodec {
    type Encode = WriteDataStreamResponseMessage;
    type Decode = Incoming;
    type Encoder = ProstEncoder<WriteDataStreamResponseMessage>;
    type Decoder = IncomingDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        IncomingDecoder {
            keep_encoded: self.keep_encoded,
        }
    }
}

#[derive(Debug)]
struct IncomingDecoder {
    keep_encoded: bool,
}

impl Decoder for IncomingDecoder {
    type Item = Incoming;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Incoming>, Status> {
        // The frame is split off tonic's buffer, not copied.
        let raw = src.copy_to_bytes(src.remaining());
        parse_incoming(raw, self.keep_encoded).map(Some)
    }
}

/// The one data field of a canonically encoded message (fields 3 and 4, the
/// timestamped and periodic items), or `None`.
fn single_series_field(raw: &Bytes) -> Option<(DataKind, Bytes)> {
    let mut buf = raw.clone();
    let (tag, wt) = decode_key(&mut buf).ok()?;
    let kind = match (tag, wt) {
        (3, WireType::LengthDelimited) => DataKind::Timestamped,
        (4, WireType::LengthDelimited) => DataKind::Periodic,
        _ => return None,
    };
    let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
    (len == buf.remaining()).then_some((kind, buf))
}

/// Reads one message: timestamped and periodic items stay encoded when
/// `keep_encoded` and they scan; anything else is decoded by prost.
pub(crate) fn parse_incoming(raw: Bytes, keep_encoded: bool) -> Result<Incoming, Status> {
    use write_data_stream_message::Type;
    if keep_encoded {
        if let Some((kind, item)) = single_series_field(&raw) {
            if let Some(e) = EncodedSeries::scan(kind, item) {
                return Ok(Incoming::Item(WriteItem::Encoded(e)));
            }
        }
    }
    let msg = WriteDataStreamMessage::decode(raw)
        .map_err(|e| Status::invalid_argument(format!("bad WriteDataStreamMessage: {e}")))?;
    Ok(match msg.r#type {
        None => Incoming::Empty,
        Some(Type::DataIdentity(id)) => Incoming::Identity(id),
        Some(Type::FlushMarker(m)) => Incoming::Flush(m),
        Some(Type::TimestampedData(d)) => Incoming::Item(WriteItem::Timestamped(d)),
        Some(Type::PeriodicData(d)) => Incoming::Item(WriteItem::Periodic(d)),
        Some(Type::RowData(d)) => Incoming::Item(WriteItem::Row(d)),
        Some(Type::Event(d)) => Incoming::Item(WriteItem::Event(d)),
    })
}

/// The method handler: one call of `WriteDataStream`.
struct WriteMethod<S: ?Sized>(Arc<Shared<S>>);

impl<S: DataSink + ?Sized> tonic::server::StreamingService<Incoming> for WriteMethod<S> {
    type Response = WriteDataStreamResponseMessage;
    type ResponseStream = ReceiverStream<Result<WriteDataStreamResponseMessage, Status>>;
    type Future = BoxFuture<tonic::Response<Self::ResponseStream>, Status>;

    fn call(&mut self, request: tonic::Request<Streaming<Incoming>>) -> Self::Future {
        let shared = self.0.clone();
        Box::pin(async move { Ok(write_data_stream(shared, request.into_inner())) })
    }
}

/// Starts the two halves of a call and returns its response stream.
fn write_data_stream<S: DataSink + ?Sized>(
    shared: Arc<Shared<S>>,
    inbound: Streaming<Incoming>,
) -> tonic::Response<ReceiverStream<Result<WriteDataStreamResponseMessage, Status>>> {
    let (tx, rx) = mpsc::channel(64);
    let (cmd_tx, cmd_rx) = mpsc::channel(PIPELINE_DEPTH);
    let storing = tokio::spawn(store_cmds(
        shared.sink.clone(),
        shared.observer.clone(),
        cmd_rx,
        tx.clone(),
    ));
    tokio::spawn(async move {
        let mut reader = Reader {
            identity: None,
            batch: Vec::new(),
            batch_bytes: 0,
            cmds: cmd_tx,
            ahead: None,
        };
        let read = reader.run(inbound).await;
        drop(reader);
        // Whatever was read is stored (or failed) before the call ends.
        let stored = match storing.await {
            Ok(r) => r,
            Err(e) => Err(Status::internal(format!("writer task failed: {e}"))),
        };
        if let Err(status) = stored.and(read) {
            let _ = tx.send(Err(status)).await;
        }
    });
    tonic::Response::new(ReceiverStream::new(rx))
}

/// What the reading half of a `WriteDataStream` call hands to the storing half.
enum Cmd {
    Write(String, Vec<WriteItem>),
    Flush(String, String),
    Finish(String),
    /// A flush marker that was the last message: finish, then acknowledge.
    FinishAck(String, String),
}

type Acks = mpsc::Sender<Result<WriteDataStreamResponseMessage, Status>>;

fn item_len(it: &WriteItem) -> usize {
    match it {
        WriteItem::Timestamped(d) => d.encoded_len(),
        WriteItem::Periodic(d) => d.encoded_len(),
        WriteItem::Row(d) => d.encoded_len(),
        WriteItem::Event(d) => d.encoded_len(),
        WriteItem::Encoded(e) => e.raw().len(),
    }
}

/// The reading half: gathers messages into batches while the storing half
/// writes the previous ones (so reading and storing overlap), bounded by
/// [`PIPELINE_DEPTH`] batches.
struct Reader {
    identity: Option<String>,
    batch: Vec<WriteItem>,
    batch_bytes: usize,
    cmds: mpsc::Sender<Cmd>,
    /// A message read ahead (see [`Reader::flush_or_finish`]).
    ahead: Option<Option<Result<Incoming, Status>>>,
}

impl Reader {
    /// Sends the batch on; `false` when the storing half has stopped.
    async fn send_batch(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let Some(identity) = self.identity.clone() else {
            return true;
        };
        self.batch_bytes = 0;
        let items = std::mem::take(&mut self.batch);
        self.cmds.send(Cmd::Write(identity, items)).await.is_ok()
    }

    async fn handle(&mut self, msg: Incoming) -> Result<bool, Status> {
        let item = match msg {
            Incoming::Empty => return Ok(true),
            Incoming::Identity(id) => {
                if id.is_empty() {
                    return Err(Status::invalid_argument("data_identity must not be empty"));
                }
                if self.identity.as_deref() != Some(id.as_str()) {
                    if !self.send_batch().await {
                        return Ok(false);
                    }
                    self.identity = Some(id);
                }
                return Ok(true);
            }
            Incoming::Flush(marker) => {
                let Some(identity) = self.identity.clone() else {
                    return Err(Status::invalid_argument(
                        "flush_marker before the data_identity of WriteDataStream",
                    ));
                };
                if !self.send_batch().await {
                    return Ok(false);
                }
                return Ok(self.cmds.send(Cmd::Flush(identity, marker)).await.is_ok());
            }
            Incoming::Item(item) => item,
        };
        if self.identity.is_none() {
            return Err(Status::invalid_argument(
                "the first message of WriteDataStream must be a data_identity",
            ));
        }
        self.batch_bytes += item_len(&item);
        self.batch.push(item);
        if self.batch.len() >= BATCH_ITEMS || self.batch_bytes >= BATCH_BYTES {
            return Ok(self.send_batch().await);
        }
        Ok(true)
    }

    /// A flush marker: when the client has already ended the call after it
    /// (the usual end of a writer), the sink is told the writer finished
    /// and the marker is acknowledged after that, which makes the data
    /// durable once instead of twice. Returns `false` when the call is over.
    async fn flush_or_finish(
        &mut self,
        marker: String,
        inbound: &mut Streaming<Incoming>,
    ) -> Result<bool, Status> {
        let Some(identity) = self.identity.clone() else {
            return self.handle(Incoming::Flush(marker)).await;
        };
        match inbound.next().now_or_never() {
            Some(None) => {
                if self.send_batch().await {
                    let _ = self.cmds.send(Cmd::FinishAck(identity, marker)).await;
                }
                Ok(false)
            }
            peeked => {
                self.ahead = peeked;
                self.handle(Incoming::Flush(marker)).await
            }
        }
    }

    /// Reads the call to its end. Returns an error for the client, if any.
    async fn run(&mut self, mut inbound: Streaming<Incoming>) -> Result<(), Status> {
        loop {
            // Gather what has already arrived into one batch; pass it on as
            // soon as the client has nothing more ready.
            let next = if let Some(m) = self.ahead.take() {
                m
            } else if self.batch.is_empty() {
                inbound.next().await
            } else {
                match inbound.next().now_or_never() {
                    Some(m) => m,
                    None if self.cmds.capacity() < self.cmds.max_capacity() => {
                        // The store is still busy with earlier batches: keep
                        // gathering for a moment rather than queue a small one.
                        match tokio::time::timeout(GATHER_WAIT, inbound.next()).await {
                            Ok(m) => m,
                            Err(_) => {
                                if !self.send_batch().await {
                                    return Ok(());
                                }
                                continue;
                            }
                        }
                    }
                    None => {
                        if !self.send_batch().await {
                            return Ok(());
                        }
                        continue;
                    }
                }
            };
            match next {
                None => {
                    if self.send_batch().await {
                        if let Some(identity) = self.identity.clone() {
                            let _ = self.cmds.send(Cmd::Finish(identity)).await;
                        }
                    }
                    return Ok(());
                }
                Some(Err(status)) => {
                    // The client went away or sent garbage: keep what it sent before.
                    self.send_batch().await;
                    return Err(status);
                }
                Some(Ok(Incoming::Flush(marker))) => {
                    if !self.flush_or_finish(marker, &mut inbound).await? {
                        return Ok(());
                    }
                }
                Some(Ok(msg)) => {
                    if !self.handle(msg).await? {
                        return Ok(());
                    }
                }
            }
        }
    }
}

fn flush_completed(marker: String) -> WriteDataStreamResponseMessage {
    WriteDataStreamResponseMessage {
        r#type: Some(write_data_stream_response_message::Type::FlushCompleted(
            marker,
        )),
    }
}

/// The storing half: runs the commands in order; stops at the first error.
async fn store_cmds<S: DataSink + ?Sized>(
    sink: Arc<S>,
    observer: Option<Arc<dyn DataObserver>>,
    mut cmds: mpsc::Receiver<Cmd>,
    acks: Acks,
) -> Result<(), Status> {
    while let Some(cmd) = cmds.recv().await {
        match cmd {
            // Encoded items are cheap to copy (shared bytes), so they are
            // kept for the observer whatever `wants` said before the write:
            // a session that turns live meanwhile still gets the batch.
            Cmd::Write(identity, items) => match observer.as_ref().filter(|o| {
                items.iter().all(|i| matches!(i, WriteItem::Encoded(_))) || o.wants(&identity)
            }) {
                Some(obs) => {
                    let copy = items.clone();
                    sink.write(&identity, items).await?;
                    obs.observe(&identity, &copy);
                }
                None => sink.write(&identity, items).await?,
            },
            Cmd::Flush(identity, marker) => {
                sink.flush(&identity).await?;
                // The client may have stopped listening; the data is durable anyway.
                let _ = acks.send(Ok(flush_completed(marker))).await;
            }
            Cmd::Finish(identity) => sink.finish(&identity).await?,
            Cmd::FinishAck(identity, marker) => {
                sink.finish(&identity).await?;
                let _ = acks.send(Ok(flush_completed(marker))).await;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rta_core::data::{periodic, timestamped};
    use rta_core::proto::data::RowData;

    fn msg(t: write_data_stream_message::Type) -> Bytes {
        Bytes::from(WriteDataStreamMessage { r#type: Some(t) }.encode_to_vec())
    }

    #[test]
    fn series_stay_encoded_and_decode_to_the_sent_item() {
        use write_data_stream_message::Type;
        let ts = timestamped(4, &[10, 20, 40], &[1.5f64, 2.5, 3.5]).unwrap();
        let raw = msg(Type::TimestampedData(ts.clone()));
        let Incoming::Item(item) = parse_incoming(raw.clone(), true).unwrap() else {
            panic!("not an item")
        };
        assert!(matches!(item, WriteItem::Encoded(_)));
        assert_eq!(item.decoded().unwrap(), WriteItem::Timestamped(ts.clone()));
        // A sink that does not take encoded items gets the decoded one.
        let Incoming::Item(item) = parse_incoming(raw, false).unwrap() else {
            panic!("not an item")
        };
        assert_eq!(item, WriteItem::Timestamped(ts));

        let pd = periodic(5, 0, 100, &[7u16, 8]).unwrap();
        let Incoming::Item(item) =
            parse_incoming(msg(Type::PeriodicData(pd.clone())), true).unwrap()
        else {
            panic!("not an item")
        };
        assert!(matches!(item, WriteItem::Encoded(_)));
        assert_eq!(item.decoded().unwrap(), WriteItem::Periodic(pd));
    }

    #[test]
    fn other_messages_are_decoded() {
        use write_data_stream_message::Type;
        assert!(matches!(
            parse_incoming(msg(Type::DataIdentity("s".into())), true).unwrap(),
            Incoming::Identity(s) if s == "s"
        ));
        assert!(matches!(
            parse_incoming(msg(Type::FlushMarker("m".into())), true).unwrap(),
            Incoming::Flush(s) if s == "m"
        ));
        let row = RowData {
            channel_ids: vec![1, 2],
            timestamp: 5,
            buffer: Bytes::from_static(&[1, 2]),
        };
        assert!(matches!(
            parse_incoming(msg(Type::RowData(row.clone())), true).unwrap(),
            Incoming::Item(WriteItem::Row(r)) if r == row
        ));
        assert!(matches!(
            parse_incoming(Bytes::new(), true).unwrap(),
            Incoming::Empty
        ));
        // An item without samples does not scan; it is decoded and left to the sink.
        let empty = rta_core::proto::data::TimestampedData::default();
        assert!(matches!(
            parse_incoming(msg(Type::TimestampedData(empty.clone())), true).unwrap(),
            Incoming::Item(WriteItem::Timestamped(d)) if d == empty
        ));
        // Garbage is INVALID_ARGUMENT.
        let err = parse_incoming(Bytes::from_static(&[0x1a, 0x05, 0x01]), true).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
}
