//! The native store as a [`ChunkedSource`]: response bodies laid out from its
//! index, stored payloads copied in undecoded, exact length known up front.

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use rta_core::framing::ChunkedSource;
use rta_core::service::DataRequest;
use rta_core::Result;

use super::store::NativeStore;

#[async_trait]
impl ChunkedSource for NativeStore {
    async fn read_chunked(&self, req: DataRequest) -> Result<BoxStream<'static, Result<Bytes>>> {
        Ok(self.read_frames(req).await?.1)
    }

    async fn read_chunked_sized(
        &self,
        req: DataRequest,
    ) -> Result<(Option<u64>, BoxStream<'static, Result<Bytes>>)> {
        let (len, frames) = self.read_frames(req).await?;
        Ok((Some(len), frames))
    }
}
