//! `rta.toolkit.api.session_service.SessionStore` over a [`SessionStore`].

use std::sync::Arc;

use rta_core::proto::session_service as pb;
use rta_core::proto::session_service::session_store_server::SessionStore as SessionStoreRpc;
use rta_core::service::SessionStore;
use tonic::{Request, Response, Status};

use crate::rpc::invalid;

/// The gRPC session service over a store.
#[derive(Debug)]
pub struct SessionGrpc<S: ?Sized> {
    store: Arc<S>,
}

impl<S: ?Sized> SessionGrpc<S> {
    /// Serves `store`.
    pub fn new(store: Arc<S>) -> Self {
        SessionGrpc { store }
    }
}

/// Without an element mask, a caller gets the session JSON.
fn elements_or_json(e: Option<pb::SessionElements>) -> pb::SessionElements {
    e.unwrap_or(pb::SessionElements {
        json: true,
        ..Default::default()
    })
}

#[tonic::async_trait]
impl<S: SessionStore + ?Sized> SessionStoreRpc for SessionGrpc<S> {
    async fn get_session_folders(
        &self,
        request: Request<pb::GetSessionFoldersRequest>,
    ) -> Result<Response<pb::GetSessionFoldersResponse>, Status> {
        let r = request.into_inner();
        let folders = self.store.folders(&r.parent_identity).await?;
        Ok(Response::new(pb::GetSessionFoldersResponse { folders }))
    }

    async fn put_session_folder(
        &self,
        request: Request<pb::PutSessionFolderRequest>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        if r.identity.is_empty() {
            return Err(invalid(
                "the root folder (empty identity) cannot be modified",
            ));
        }
        self.store.put_folder(r).await?;
        Ok(Response::new(()))
    }

    async fn delete_session_folders(
        &self,
        request: Request<pb::DeleteSessionFoldersRequest>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        self.store.delete_folders(&r.folder_identities).await?;
        Ok(Response::new(()))
    }

    async fn get_session_metamodel(
        &self,
        request: Request<pb::GetSessionMetamodelRequest>,
    ) -> Result<Response<pb::GetSessionMetamodelResponse>, Status> {
        let r = request.into_inner();
        let json = self
            .store
            .metamodel(&r.folder_subtree, &r.json_properties)
            .await?;
        Ok(Response::new(pb::GetSessionMetamodelResponse {
            metamodel_json: json.to_string(),
        }))
    }

    async fn query_session_metamodel(
        &self,
        request: Request<pb::QuerySessionMetamodelRequest>,
    ) -> Result<Response<pb::QuerySessionMetamodelResponse>, Status> {
        let r = request.into_inner();
        let property_summaries = self
            .store
            .query_properties(&r.partial_match, &r.folder_subtree)
            .await?;
        Ok(Response::new(pb::QuerySessionMetamodelResponse {
            property_summaries,
        }))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let mut r = request.into_inner();
        if r.page_index < 0 || r.page_size < 0 {
            return Err(invalid(format!(
                "page_index ({}) and page_size ({}) must not be negative",
                r.page_index, r.page_size
            )));
        }
        r.session_elements = Some(elements_or_json(r.session_elements));
        let sessions = self.store.list(&r).await?;
        Ok(Response::new(pb::ListSessionsResponse { sessions }))
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let r = request.into_inner();
        let elements = elements_or_json(r.elements);
        self.store
            .get(&r.identity, &elements)
            .await?
            .map(Response::new)
            .ok_or_else(|| Status::not_found(format!("session {:?} not found", r.identity)))
    }

    async fn create_or_update_session(
        &self,
        request: Request<pb::CreateOrUpdateSessionRequest>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        if r.identity.is_empty() {
            return Err(invalid("session identity must not be empty"));
        }
        self.store.create_or_update(r).await?;
        Ok(Response::new(()))
    }

    async fn delete_sessions(
        &self,
        request: Request<pb::DeleteSessionsRequest>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        self.store.delete(&r.identities).await?;
        Ok(Response::new(()))
    }
}
