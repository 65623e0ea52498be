//! Response bodies of the REST fast path, built straight from the data log.
//!
//! A body frame is laid out from the index alone: the transfer header of
//! each chunk is encoded first, and then the stored payloads of the frame
//! (usually one contiguous run of the data log) are read with one positioned
//! read into a reused buffer and placed after their headers. The payload
//! bytes are never decoded, and no per-chunk objects are built.

use bytes::{Bytes, BytesMut};
use prost::Message;
use rta_core::chunk::{Chunk, Compression};
use rta_core::proto::chunks::ChunkTransferHeader;
use rta_core::{Error, Result};

use super::backend::IdentityStorage;
use super::stream::ChunkMeta;

/// Body frames are cut once they reach this many bytes.
pub(crate) const FRAME_BYTES: usize = 512 * 1024;

/// Encodes transfer headers with the delta state of one response (the same
/// rules as [`rta_core::chunk::ChunkEncoder`], without needing the payload).
#[derive(Default)]
pub(crate) struct HeaderWriter {
    h: ChunkTransferHeader,
    prev_start: i64,
    prev_duration: i64,
    prev_compression: i32,
}

impl HeaderWriter {
    /// Appends the length prefix and header of the next chunk to `out`.
    pub(crate) fn write(
        &mut self,
        span: (i64, i64),
        channel_ids: &[u32],
        compression: Compression,
        unpacked: u32,
        packed: usize,
        out: &mut BytesMut,
    ) -> Result<()> {
        let len = self.next(span, channel_ids, compression, unpacked, packed)?;
        out.reserve(4 + len + packed);
        out.extend_from_slice(&(len as i32).to_le_bytes());
        self.h
            .encode(out)
            .map_err(|e| Error::Chunk(format!("header encode: {e}")))
    }

    /// Wire bytes of the next chunk (prefix, header and payload), without
    /// writing them (advances the delta state as [`HeaderWriter::write`]).
    pub(crate) fn wire_len(
        &mut self,
        span: (i64, i64),
        channel_ids: &[u32],
        compression: Compression,
        unpacked: u32,
        packed: usize,
    ) -> Result<u64> {
        let len = self.next(span, channel_ids, compression, unpacked, packed)?;
        Ok((4 + len + packed) as u64)
    }

    /// Sets up the header of the next chunk; returns its encoded length.
    fn next(
        &mut self,
        (start, end): (i64, i64),
        channel_ids: &[u32],
        compression: Compression,
        unpacked: u32,
        packed: usize,
    ) -> Result<usize> {
        let packed_length = i32::try_from(packed)
            .map_err(|_| Error::Chunk("payload too large for the transfer header".into()))?;
        let unpacked_length = i32::try_from(unpacked).map_err(|_| {
            Error::Chunk("unpacked length too large for the transfer header".into())
        })?;
        let duration = end.saturating_sub(start);
        if self.h.channel_ids != channel_ids {
            self.h.channel_ids.clear();
            self.h.channel_ids.extend_from_slice(channel_ids);
        }
        self.h.chunk_start_time_delta = start.wrapping_sub(self.prev_start);
        self.h.chunk_duration_delta = duration.wrapping_sub(self.prev_duration);
        self.h.compression_delta = compression.code() - self.prev_compression;
        self.h.unpacked_length = unpacked_length;
        self.h.packed_length = packed_length;
        self.prev_start = start;
        self.prev_duration = duration;
        self.prev_compression = compression.code();
        Ok(self.h.encoded_len())
    }
}

/// Builds the frames of one response.
pub(crate) struct FrameBuilder {
    headers: HeaderWriter,
    /// Stored chunks of the frame being laid out.
    metas: Vec<(ChunkMeta, usize)>,
    /// Wire bytes of the frame being laid out.
    wire: usize,
    /// Reused buffer the payload runs are read into.
    scratch: Vec<u8>,
    /// Frame buffers, reused once the HTTP stack has dropped their frames
    /// (fresh multi-MiB allocations cost a page fault per 4 KiB).
    pool: Vec<BytesMut>,
}

/// Frame buffers kept for reuse (frames in flight plus one being built).
const POOL: usize = 6;

impl FrameBuilder {
    /// A builder reusing the frame buffers `pool` (see [`FrameBuilder::into_pool`]).
    pub(crate) fn with_pool(mut pool: Vec<BytesMut>) -> Self {
        pool.truncate(POOL);
        Self {
            headers: HeaderWriter::default(),
            metas: Vec::new(),
            wire: 0,
            scratch: Vec::new(),
            pool,
        }
    }

    /// The frame buffers, for a later response (buffers whose frames are
    /// still in flight are reclaimed once those are dropped).
    pub(crate) fn into_pool(self) -> Vec<BytesMut> {
        self.pool
    }

    /// Wire bytes laid out so far in the current frame.
    pub(crate) fn pending(&self) -> usize {
        self.wire
    }

    /// Adds a stored chunk to the current frame; `stream` indexes the
    /// channel ids passed to [`FrameBuilder::finish`].
    pub(crate) fn add_stored(&mut self, m: &ChunkMeta, stream: usize) {
        // 20-odd bytes of prefix and header: an estimate is enough for cutting.
        self.wire += m.packed as usize + 24;
        self.metas.push((m.clone(), stream));
    }

    /// Encodes the laid-out stored chunks, then the in-memory chunks
    /// `volatile`, into one frame.
    pub(crate) fn finish(
        &mut self,
        storage: &dyn IdentityStorage,
        channels: &[&[u32]],
        volatile: &[Chunk],
    ) -> Result<Bytes> {
        let extra: usize = volatile.iter().map(|c| c.payload.len() + 32).sum();
        let need = self.wire + self.metas.len() * 8 + extra;
        let slot = self.pool.iter_mut().position(|b| b.try_reclaim(need));
        let mut fresh = BytesMut::new();
        let frame = match slot {
            Some(i) => &mut self.pool[i],
            None if self.pool.len() < POOL => {
                self.pool
                    .push(BytesMut::with_capacity(need.max(FRAME_BYTES * 2)));
                let last = self.pool.len() - 1;
                &mut self.pool[last]
            }
            None => {
                fresh.reserve(need);
                &mut fresh
            }
        };
        frame.clear();
        let mut i = 0;
        while i < self.metas.len() {
            // One read per run of payloads lying next to each other.
            let start = self.metas[i].0.offset;
            let mut end = start + u64::from(self.metas[i].0.packed);
            let mut j = i + 1;
            while j < self.metas.len() && self.metas[j].0.offset == end {
                end += u64::from(self.metas[j].0.packed);
                j += 1;
            }
            let len = usize::try_from(end - start)
                .map_err(|_| Error::Internal("read run too large".into()))?;
            if self.scratch.len() < len {
                self.scratch.resize(len, 0);
            }
            storage.read_data_into(start, &mut self.scratch[..len])?;
            for (m, s) in &self.metas[i..j] {
                let ids = channels.get(*s).copied().unwrap_or(&[]);
                let packed = m.packed as usize;
                self.headers.write(
                    (m.start, m.end),
                    ids,
                    m.compression,
                    m.unpacked,
                    packed,
                    frame,
                )?;
                let at = (m.offset - start) as usize;
                frame.extend_from_slice(&self.scratch[at..at + packed]);
            }
            i = j;
        }
        for c in volatile {
            self.headers.write(
                (c.start, c.end),
                &c.channel_ids,
                c.compression,
                c.unpacked_length,
                c.payload.len(),
                frame,
            )?;
            frame.extend_from_slice(&c.payload);
        }
        self.metas.clear();
        self.wire = 0;
        Ok(frame.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rta_core::chunk::ChunkEncoder;

    #[test]
    fn headers_match_the_chunk_encoder() {
        let chunks: Vec<Chunk> = (0..5i64)
            .map(|i| Chunk {
                start: 1_000 * i - 7,
                end: 1_000 * i + 500 * (i % 2),
                channel_ids: vec![(i % 3) as u32, 9],
                compression: if i % 2 == 0 {
                    Compression::Lz4
                } else {
                    Compression::None
                },
                unpacked_length: 100 + i as u32,
                payload: Bytes::from(vec![i as u8; 10 + i as usize]),
            })
            .collect();
        let want = ChunkEncoder::encode_all(&chunks).unwrap();
        let mut hw = HeaderWriter::default();
        let mut got = BytesMut::new();
        for c in &chunks {
            hw.write(
                (c.start, c.end),
                &c.channel_ids,
                c.compression,
                c.unpacked_length,
                c.payload.len(),
                &mut got,
            )
            .unwrap();
            got.extend_from_slice(&c.payload);
        }
        assert_eq!(&want[..], &got[..]);
        let mut sizer = HeaderWriter::default();
        let total: u64 = chunks
            .iter()
            .map(|c| {
                sizer
                    .wire_len(
                        (c.start, c.end),
                        &c.channel_ids,
                        c.compression,
                        c.unpacked_length,
                        c.payload.len(),
                    )
                    .unwrap()
            })
            .sum();
        assert_eq!(total, want.len() as u64);
    }
}
