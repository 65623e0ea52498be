//! `rta.toolkit.api.schema_mapping_service.SchemaMappingStore` over a [`SchemaMappingStore`].

use std::sync::Arc;

use rta_core::channels::ChannelExpr;
use rta_core::proto::schema_mapping_service as pb;
use rta_core::proto::schema_mapping_service::schema_mapping_store_server::SchemaMappingStore as SchemaMappingRpc;
use rta_core::service::SchemaMappingStore;
use tonic::{Request, Response, Status};

use crate::rpc::invalid;
use rta_core::service::select_mapping;

/// The gRPC schema-mapping service over a store.
#[derive(Debug)]
pub struct SchemaMappingGrpc<M: ?Sized> {
    store: Arc<M>,
}

impl<M: ?Sized> SchemaMappingGrpc<M> {
    /// Serves `store`.
    pub fn new(store: Arc<M>) -> Self {
        SchemaMappingGrpc { store }
    }
}

fn check_key(source: &str, identity: &str) -> Result<(), Status> {
    if source.is_empty() {
        return Err(invalid("data_source must not be empty"));
    }
    if identity.is_empty() {
        return Err(invalid("data_identity must not be empty"));
    }
    Ok(())
}

fn not_found(source: &str, identity: &str) -> Status {
    Status::not_found(format!(
        "no schema mapping for data source {source:?} and identity {identity:?}"
    ))
}

#[tonic::async_trait]
impl<M: SchemaMappingStore + ?Sized> SchemaMappingRpc for SchemaMappingGrpc<M> {
    async fn has_schema_mapping(
        &self,
        request: Request<pb::HasSchemaMappingRequest>,
    ) -> Result<Response<bool>, Status> {
        let r = request.into_inner();
        check_key(&r.data_source, &r.data_identity)?;
        Ok(Response::new(
            self.store.has(&r.data_source, &r.data_identity).await?,
        ))
    }

    async fn get_schema_mapping(
        &self,
        request: Request<pb::GetSchemaMappingRequest>,
    ) -> Result<Response<pb::SchemaMapping>, Status> {
        let r = request.into_inner();
        check_key(&r.data_source, &r.data_identity)?;
        let m = self.store.get(&r.data_source, &r.data_identity).await?;
        m.map(Response::new)
            .ok_or_else(|| not_found(&r.data_source, &r.data_identity))
    }

    async fn query_schema_mapping(
        &self,
        request: Request<pb::QuerySchemaMappingRequest>,
    ) -> Result<Response<pb::SchemaMapping>, Status> {
        let r = request.into_inner();
        check_key(&r.data_source, &r.data_identity)?;
        let channels = if r.select_channels.trim().is_empty() {
            None
        } else {
            Some(ChannelExpr::parse(&r.select_channels)?)
        };
        let m = self
            .store
            .get(&r.data_source, &r.data_identity)
            .await?
            .ok_or_else(|| not_found(&r.data_source, &r.data_identity))?;
        Ok(Response::new(select_mapping(
            &m,
            channels.as_ref(),
            r.select_events,
        )))
    }

    async fn put_schema_mapping(
        &self,
        request: Request<pb::PutSchemaMappingRequest>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        check_key(&r.data_source, &r.data_identity)?;
        let mapping = r
            .schema_mapping
            .ok_or_else(|| invalid("schema_mapping is required"))?;
        self.store
            .put(&r.data_source, &r.data_identity, mapping)
            .await?;
        Ok(Response::new(()))
    }

    async fn delete_schema_mapping(
        &self,
        request: Request<pb::DeleteSchemaMappingRequest>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        check_key(&r.data_source, &r.data_identity)?;
        self.store.delete(&r.data_source, &r.data_identity).await?;
        Ok(Response::new(()))
    }
}
