//! The toolkit `DataWriter` and `DataReader` gRPC services.

use std::sync::Arc;

use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use rta_core::channels::ChannelExpr;
use rta_core::data::{DataKind, DataList};
use rta_core::proto::data::{EventsList, PeriodicDataList, RowDataList, TimestampedDataList};
use rta_core::proto::data_service::data_reader_server::{DataReader, DataReaderServer};
use rta_core::proto::data_service::data_writer_server::{DataWriter, DataWriterServer};
use rta_core::proto::data_service::{
    write_data_stream_message, write_data_stream_response_message, ReadChannelDataStreamRequest,
    ReadDataStreamRequest, WriteDataStreamMessage, WriteDataStreamResponseMessage,
};
use rta_core::service::{DataRequest, DataService};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{DataObserver, DataSink, WriteItem};

/// Largest message accepted by the `DataWriter` service (64 MiB).
pub const MAX_WRITE_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Items handed to the sink at most at once.
const BATCH_ITEMS: usize = 4096;
/// Serialized bytes handed to the sink at most at once.
const BATCH_BYTES: usize = 8 * 1024 * 1024;

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
pub struct DataWriterGrpc<S: ?Sized> {
    sink: Arc<S>,
    observer: Option<Arc<dyn DataObserver>>,
}

impl<S: DataSink + ?Sized> DataWriterGrpc<S> {
    /// A writer service storing into `sink` and reporting stored batches to
    /// `observer`, if any.
    pub fn new(sink: Arc<S>, observer: Option<Arc<dyn DataObserver>>) -> Self {
        Self { sink, observer }
    }
}

/// The `DataWriter` gRPC server over a sink, accepting messages up to
/// [`MAX_WRITE_MESSAGE_BYTES`].
pub fn data_writer_server<S: DataSink + ?Sized>(
    sink: Arc<S>,
    observer: Option<Arc<dyn DataObserver>>,
) -> DataWriterServer<DataWriterGrpc<S>> {
    DataWriterServer::new(DataWriterGrpc::new(sink, observer))
        .max_decoding_message_size(MAX_WRITE_MESSAGE_BYTES)
}

/// The `DataReader` gRPC server over any data service.
pub fn data_reader_server<D: DataService + ?Sized>(
    svc: Arc<D>,
) -> DataReaderServer<DataReaderGrpc<D>> {
    DataReaderServer::new(DataReaderGrpc::new(svc))
}

/// What the reading half of a `WriteDataStream` call hands to the storing half.
enum Cmd {
    Write(String, Vec<WriteItem>),
    Flush(String, String),
    Finish(String),
}

/// How long a partial batch waits for more messages while the store is busy.
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

/// Batches of decoded messages waiting for the store, per call.
const PIPELINE_DEPTH: usize = 4;

type Acks = mpsc::Sender<Result<WriteDataStreamResponseMessage, Status>>;

fn item_len(it: &WriteItem) -> usize {
    use prost::Message;
    match it {
        WriteItem::Timestamped(d) => d.encoded_len(),
        WriteItem::Periodic(d) => d.encoded_len(),
        WriteItem::Row(d) => d.encoded_len(),
        WriteItem::Event(d) => d.encoded_len(),
    }
}

/// The reading half: decodes messages into batches while the storing half
/// writes the previous ones (so decoding and storing overlap), bounded by
/// [`PIPELINE_DEPTH`] batches.
struct Reader {
    identity: Option<String>,
    batch: Vec<WriteItem>,
    batch_bytes: usize,
    cmds: mpsc::Sender<Cmd>,
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

    async fn handle(&mut self, msg: WriteDataStreamMessage) -> Result<bool, Status> {
        use write_data_stream_message::Type;
        let item = match msg.r#type {
            None => return Ok(true),
            Some(Type::DataIdentity(id)) => {
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
            Some(Type::FlushMarker(marker)) => {
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
            Some(Type::TimestampedData(d)) => WriteItem::Timestamped(d),
            Some(Type::PeriodicData(d)) => WriteItem::Periodic(d),
            Some(Type::RowData(d)) => WriteItem::Row(d),
            Some(Type::Event(d)) => WriteItem::Event(d),
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

    /// Reads the call to its end. Returns an error for the client, if any.
    async fn run(&mut self, mut inbound: Streaming<WriteDataStreamMessage>) -> Result<(), Status> {
        loop {
            // Gather what has already arrived into one batch; pass it on as
            // soon as the client has nothing more ready.
            let next = if self.batch.is_empty() {
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
                Some(Ok(msg)) => {
                    if !self.handle(msg).await? {
                        return Ok(());
                    }
                }
            }
        }
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
            Cmd::Write(identity, items) => match &observer {
                Some(obs) => {
                    let copy = items.clone();
                    sink.write(&identity, items).await?;
                    obs.observe(&identity, &copy);
                }
                None => sink.write(&identity, items).await?,
            },
            Cmd::Flush(identity, marker) => {
                sink.flush(&identity).await?;
                let ack = WriteDataStreamResponseMessage {
                    r#type: Some(write_data_stream_response_message::Type::FlushCompleted(
                        marker,
                    )),
                };
                // The client may have stopped listening; the data is durable anyway.
                let _ = acks.send(Ok(ack)).await;
            }
            Cmd::Finish(identity) => sink.finish(&identity).await?,
        }
    }
    Ok(())
}

#[tonic::async_trait]
impl<S: DataSink + ?Sized> DataWriter for DataWriterGrpc<S> {
    type WriteDataStreamStream = ReceiverStream<Result<WriteDataStreamResponseMessage, Status>>;

    async fn write_data_stream(
        &self,
        request: Request<Streaming<WriteDataStreamMessage>>,
    ) -> Result<Response<Self::WriteDataStreamStream>, Status> {
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let (cmd_tx, cmd_rx) = mpsc::channel(PIPELINE_DEPTH);
        let storing = tokio::spawn(store_cmds(
            self.sink.clone(),
            self.observer.clone(),
            cmd_rx,
            tx.clone(),
        ));
        tokio::spawn(async move {
            let mut reader = Reader {
                identity: None,
                batch: Vec::new(),
                batch_bytes: 0,
                cmds: cmd_tx,
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
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// The `DataReader` service over any [`DataService`]: each stored chunk is
/// decoded and sent as one list message.
pub struct DataReaderGrpc<D: ?Sized> {
    svc: Arc<D>,
}

impl<D: DataService + ?Sized> DataReaderGrpc<D> {
    /// A reader service over `svc`.
    pub fn new(svc: Arc<D>) -> Self {
        Self { svc }
    }

    async fn read<L: DataList>(
        &self,
        kind: DataKind,
        identity: String,
        channels: Option<String>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Response<BoxStream<'static, Result<L, Status>>>, Status> {
        if identity.is_empty() {
            return Err(Status::invalid_argument("data_identity must not be empty"));
        }
        let channels = channels
            .map(|c| ChannelExpr::parse(&c))
            .transpose()
            .map_err(Status::from)?;
        let req = DataRequest {
            kind,
            data_identity: identity,
            channels,
            start,
            end,
        };
        req.validate()?;
        let chunks = self.svc.read(req).await?;
        let lists = chunks.map(|r| r.and_then(|c| c.decode_list::<L>()).map_err(Status::from));
        Ok(Response::new(lists.boxed()))
    }
}

#[tonic::async_trait]
impl<D: DataService + ?Sized> DataReader for DataReaderGrpc<D> {
    type ReadTimestampedDataStreamStream = BoxStream<'static, Result<TimestampedDataList, Status>>;
    type ReadPeriodicDataStreamStream = BoxStream<'static, Result<PeriodicDataList, Status>>;
    type ReadRowDataStreamStream = BoxStream<'static, Result<RowDataList, Status>>;
    type ReadEventsStreamStream = BoxStream<'static, Result<EventsList, Status>>;

    async fn read_timestamped_data_stream(
        &self,
        request: Request<ReadChannelDataStreamRequest>,
    ) -> Result<Response<Self::ReadTimestampedDataStreamStream>, Status> {
        let r = request.into_inner();
        self.read(
            DataKind::Timestamped,
            r.data_identity,
            Some(r.channels),
            r.start_time,
            r.end_time,
        )
        .await
    }

    async fn read_periodic_data_stream(
        &self,
        request: Request<ReadChannelDataStreamRequest>,
    ) -> Result<Response<Self::ReadPeriodicDataStreamStream>, Status> {
        let r = request.into_inner();
        self.read(
            DataKind::Periodic,
            r.data_identity,
            Some(r.channels),
            r.start_time,
            r.end_time,
        )
        .await
    }

    async fn read_row_data_stream(
        &self,
        request: Request<ReadChannelDataStreamRequest>,
    ) -> Result<Response<Self::ReadRowDataStreamStream>, Status> {
        let r = request.into_inner();
        self.read(
            DataKind::Row,
            r.data_identity,
            Some(r.channels),
            r.start_time,
            r.end_time,
        )
        .await
    }

    async fn read_events_stream(
        &self,
        request: Request<ReadDataStreamRequest>,
    ) -> Result<Response<Self::ReadEventsStreamStream>, Status> {
        let r = request.into_inner();
        self.read(
            DataKind::Events,
            r.data_identity,
            None,
            r.start_time,
            r.end_time,
        )
        .await
    }
}
