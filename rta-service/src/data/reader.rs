//! The toolkit `DataReader` gRPC service.

use std::sync::Arc;

use futures::stream::BoxStream;
use futures::StreamExt;
use rta_core::channels::ChannelExpr;
use rta_core::data::{DataKind, DataList};
use rta_core::proto::data::{EventsList, PeriodicDataList, RowDataList, TimestampedDataList};
use rta_core::proto::data_service::data_reader_server::{DataReader, DataReaderServer};
use rta_core::proto::data_service::{ReadChannelDataStreamRequest, ReadDataStreamRequest};
use rta_core::service::{DataRequest, DataService};
use tonic::{Request, Response, Status};

/// The `DataReader` gRPC server over any data service.
pub fn data_reader_server<D: DataService + ?Sized>(
    svc: Arc<D>,
) -> DataReaderServer<DataReaderGrpc<D>> {
    DataReaderServer::new(DataReaderGrpc::new(svc))
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
            authorization: Default::default(),
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
