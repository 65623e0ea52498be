//! `rta.toolkit.api.config_service.ConfigStore` over a [`ConfigStore`].

use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use rta_core::proto::config_service as pb;
use rta_core::proto::config_service::config_store_server::ConfigStore as ConfigStoreRpc;
use rta_core::service::{ConfigStore, StoredConfig};
use tonic::{Request, Response, Status, Streaming};

use crate::rpc::{invalid, DEFAULT_MAX_MESSAGE_SIZE};

/// Size of the pieces `GetConfigStream` sends (1 MiB).
pub const CONFIG_PIECE_SIZE: usize = 1024 * 1024;

/// Largest config `PutConfigStream` accepts (1 GiB).
pub const MAX_STREAMED_CONFIG: usize = 1024 * 1024 * 1024;

/// The gRPC config service over a store.
#[derive(Debug)]
pub struct ConfigGrpc<C: ?Sized> {
    store: Arc<C>,
    max_unary: usize,
    max_streamed: usize,
}

impl<C: ?Sized> ConfigGrpc<C> {
    /// Serves `store` with the default limits.
    pub fn new(store: Arc<C>) -> Self {
        ConfigGrpc {
            store,
            max_unary: DEFAULT_MAX_MESSAGE_SIZE,
            max_streamed: MAX_STREAMED_CONFIG,
        }
    }

    /// Sets the largest config `GetConfig` returns in one message (larger
    /// ones must be read with `GetConfigStream`).
    pub fn with_max_unary(mut self, bytes: usize) -> Self {
        self.max_unary = bytes;
        self
    }

    /// Sets the largest config `PutConfigStream` accepts.
    pub fn with_max_streamed(mut self, bytes: usize) -> Self {
        self.max_streamed = bytes;
        self
    }
}

fn check_identifier(identifier: &str) -> Result<(), Status> {
    if identifier.is_empty() {
        Err(invalid("config identifier must not be empty"))
    } else {
        Ok(())
    }
}

type PieceStream = Pin<Box<dyn Stream<Item = Result<pb::ConfigStreamMessage, Status>> + Send>>;

#[tonic::async_trait]
impl<C: ConfigStore + ?Sized> ConfigStoreRpc for ConfigGrpc<C> {
    async fn put_config(
        &self,
        request: Request<pb::PutConfigRequest>,
    ) -> Result<Response<()>, Status> {
        let req = request.into_inner();
        check_identifier(&req.identifier)?;
        self.store
            .put(
                &req.identifier,
                StoredConfig {
                    content_type: req.content_type,
                    data: req.data,
                },
            )
            .await?;
        Ok(Response::new(()))
    }

    async fn put_config_stream(
        &self,
        request: Request<Streaming<pb::ConfigStreamMessage>>,
    ) -> Result<Response<()>, Status> {
        use pb::config_stream_message::Type;
        let mut stream = request.into_inner();
        let info = match stream.message().await? {
            Some(pb::ConfigStreamMessage {
                r#type: Some(Type::Info(info)),
            }) => info,
            Some(_) => {
                return Err(invalid(
                    "the first message of PutConfigStream must carry the info",
                ))
            }
            None => return Err(invalid("PutConfigStream received no messages")),
        };
        check_identifier(&info.identifier)?;
        let mut data = BytesMut::new();
        while let Some(msg) = stream.message().await? {
            match msg.r#type {
                Some(Type::Piece(piece)) => {
                    if data.len() + piece.len() > self.max_streamed {
                        return Err(Status::resource_exhausted(format!(
                            "config is larger than the limit of {} bytes",
                            self.max_streamed
                        )));
                    }
                    data.extend_from_slice(&piece);
                }
                Some(Type::Info(_)) => {
                    return Err(invalid("PutConfigStream carries the info only once, first"))
                }
                None => {}
            }
        }
        self.store
            .put(
                &info.identifier,
                StoredConfig {
                    content_type: info.content_type,
                    data: data.freeze(),
                },
            )
            .await?;
        Ok(Response::new(()))
    }

    async fn has_config(
        &self,
        request: Request<pb::HasConfigRequest>,
    ) -> Result<Response<bool>, Status> {
        let req = request.into_inner();
        check_identifier(&req.identifier)?;
        Ok(Response::new(self.store.has(&req.identifier).await?))
    }

    async fn get_config(
        &self,
        request: Request<pb::GetConfigRequest>,
    ) -> Result<Response<pb::GetConfigResponse>, Status> {
        let req = request.into_inner();
        check_identifier(&req.identifier)?;
        let cfg =
            self.store.get(&req.identifier).await?.ok_or_else(|| {
                Status::not_found(format!("config {:?} not found", req.identifier))
            })?;
        // Leave room for the media type and framing.
        if cfg.data.len() + 1024 > self.max_unary {
            return Err(Status::resource_exhausted(format!(
                "config {:?} is {} bytes, over the {} byte message limit: use GetConfigStream",
                req.identifier,
                cfg.data.len(),
                self.max_unary
            )));
        }
        Ok(Response::new(pb::GetConfigResponse {
            content_type: cfg.content_type,
            data: cfg.data,
        }))
    }

    type GetConfigStreamStream = PieceStream;

    async fn get_config_stream(
        &self,
        request: Request<pb::GetConfigRequest>,
    ) -> Result<Response<Self::GetConfigStreamStream>, Status> {
        use pb::config_stream_message::{ConfigInfo, Type};
        let req = request.into_inner();
        check_identifier(&req.identifier)?;
        let cfg =
            self.store.get(&req.identifier).await?.ok_or_else(|| {
                Status::not_found(format!("config {:?} not found", req.identifier))
            })?;
        let info = pb::ConfigStreamMessage {
            r#type: Some(Type::Info(ConfigInfo {
                identifier: req.identifier,
                content_type: cfg.content_type,
            })),
        };
        let data: Bytes = cfg.data;
        let pieces = (0..data.len().div_ceil(CONFIG_PIECE_SIZE)).map(move |i| {
            let end = ((i + 1) * CONFIG_PIECE_SIZE).min(data.len());
            Ok(pb::ConfigStreamMessage {
                r#type: Some(Type::Piece(data.slice(i * CONFIG_PIECE_SIZE..end))),
            })
        });
        let stream = futures::stream::iter(std::iter::once(Ok(info)).chain(pieces));
        Ok(Response::new(Box::pin(stream)))
    }

    async fn delete_config(
        &self,
        request: Request<pb::DeleteConfigRequest>,
    ) -> Result<Response<()>, Status> {
        let req = request.into_inner();
        check_identifier(&req.identifier)?;
        self.store.delete(&req.identifier).await?;
        Ok(Response::new(()))
    }
}
