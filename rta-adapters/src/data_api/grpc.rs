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

struct Writer<S: ?Sized> {
    sink: Arc<S>,
    observer: Option<Arc<dyn DataObserver>>,
    identity: Option<String>,
    batch: Vec<WriteItem>,
    batch_bytes: usize,
}

fn item_len(it: &WriteItem) -> usize {
    use prost::Message;
    match it {
        WriteItem::Timestamped(d) => d.encoded_len(),
        WriteItem::Periodic(d) => d.encoded_len(),
        WriteItem::Row(d) => d.encoded_len(),
        WriteItem::Event(d) => d.encoded_len(),
    }
}

impl<S: DataSink + ?Sized> Writer<S> {
    async fn write_batch(&mut self) -> Result<(), Status> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let Some(identity) = self.identity.clone() else {
            return Err(Status::invalid_argument(
                "the first message of WriteDataStream must be a data_identity",
            ));
        };
        let items = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        match &self.observer {
            Some(obs) => {
                let copy = items.clone();
                self.sink.write(&identity, items).await?;
                obs.observe(&identity, &copy);
            }
            None => self.sink.write(&identity, items).await?,
        }
        Ok(())
    }

    async fn handle(
        &mut self,
        msg: WriteDataStreamMessage,
        tx: &mpsc::Sender<Result<WriteDataStreamResponseMessage, Status>>,
    ) -> Result<(), Status> {
        use write_data_stream_message::Type;
        let item = match msg.r#type {
            None => return Ok(()),
            Some(Type::DataIdentity(id)) => {
                if id.is_empty() {
                    return Err(Status::invalid_argument("data_identity must not be empty"));
                }
                if self.identity.as_deref() != Some(id.as_str()) {
                    self.write_batch().await?;
                    self.identity = Some(id);
                }
                return Ok(());
            }
            Some(Type::FlushMarker(marker)) => {
                self.write_batch().await?;
                let Some(identity) = self.identity.as_deref() else {
                    return Err(Status::invalid_argument(
                        "flush_marker before the data_identity of WriteDataStream",
                    ));
                };
                self.sink.flush(identity).await?;
                let ack = WriteDataStreamResponseMessage {
                    r#type: Some(write_data_stream_response_message::Type::FlushCompleted(
                        marker,
                    )),
                };
                // The client may have stopped listening; the data is durable anyway.
                let _ = tx.send(Ok(ack)).await;
                return Ok(());
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
            self.write_batch().await?;
        }
        Ok(())
    }

    async fn run(
        &mut self,
        mut inbound: Streaming<WriteDataStreamMessage>,
        tx: &mpsc::Sender<Result<WriteDataStreamResponseMessage, Status>>,
    ) -> Result<(), Status> {
        loop {
            // Gather what has already arrived into one batch; write it as
            // soon as the client has nothing more ready.
            let next = if self.batch.is_empty() {
                inbound.next().await
            } else {
                match inbound.next().now_or_never() {
                    Some(m) => m,
                    None => {
                        self.write_batch().await?;
                        continue;
                    }
                }
            };
            match next {
                None => {
                    self.write_batch().await?;
                    if let Some(identity) = self.identity.as_deref() {
                        self.sink.finish(identity).await?;
                    }
                    return Ok(());
                }
                Some(Err(status)) => {
                    // The client went away or sent garbage: keep what it sent before.
                    self.write_batch().await?;
                    return Err(status);
                }
                Some(Ok(msg)) => self.handle(msg, tx).await?,
            }
        }
    }
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
        let mut writer = Writer {
            sink: self.sink.clone(),
            observer: self.observer.clone(),
            identity: None,
            batch: Vec::new(),
            batch_bytes: 0,
        };
        tokio::spawn(async move {
            if let Err(status) = writer.run(inbound, &tx).await {
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
