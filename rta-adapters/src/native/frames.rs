//! Response bodies of the REST fast path, built straight from the data log.
//!
//! A body frame is laid out from the index alone: the transfer headers of
//! its chunks are encoded first (so the frame's exact size is known), each
//! is copied to its place in a frame buffer, and the stored payloads are
//! then read from the data log straight into the gaps between them, with
//! one vectored positioned read per run of payloads lying next to each
//! other in the log. Payload bytes are copied once (page cache to frame),
//! never decoded, and no per-chunk objects are built. Frame buffers are
//! reused once the HTTP stack has dropped every frame cut from them.

use std::io::IoSliceMut;
use std::sync::Arc;

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
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let len = self.next(span, channel_ids, compression, unpacked, packed)?;
        out.reserve(4 + len);
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

/// Largest number of buffers handed to one vectored read (Linux allows 1024).
const MAX_IOV: usize = 512;

/// One stream's part of a response: its channel ids, the stored chunks
/// selected (in order) and the chunks packed from memory that follow them.
pub(crate) struct Part {
    pub channel_ids: Vec<u32>,
    pub stored: Vec<ChunkMeta>,
    pub volatile: Vec<Chunk>,
}

/// Exact wire length of a response made of `parts`.
pub(crate) fn body_len(parts: &[Part]) -> Result<u64> {
    let mut sizer = HeaderWriter::default();
    let mut total = 0u64;
    for p in parts {
        for m in &p.stored {
            total += sizer.wire_len(
                (m.start, m.end),
                &p.channel_ids,
                m.compression,
                m.unpacked,
                m.packed as usize,
            )?;
        }
        for c in &p.volatile {
            total += sizer.wire_len(
                (c.start, c.end),
                &c.channel_ids,
                c.compression,
                c.unpacked_length,
                c.payload.len(),
            )?;
        }
    }
    Ok(total)
}

/// The frames of one response, built on demand: each frame is laid out from
/// the index (transfer headers encoded first, so its exact size is known),
/// then the stored payloads are read from the data log straight into their
/// places in the frame, one vectored read per run of payloads lying next to
/// each other in the log. The first frame holds one chunk (the first byte is
/// not held back); later ones are cut once they reach [`FRAME_BYTES`].
pub(crate) struct Frames {
    storage: Arc<dyn IdentityStorage>,
    parts: Vec<Part>,
    /// Next part to lay out, and next stored chunk of it.
    part: usize,
    next: usize,
    /// Size at which the current frame is cut.
    limit: usize,
    headers: HeaderWriter,
    /// Stored chunks of the frame being laid out, as (part, chunk) indexes.
    metas: Vec<(usize, usize)>,
    /// Payload bytes laid out so far in the current frame.
    payload: usize,
    /// Encoded headers of the current frame, and where each one ends.
    head: Vec<u8>,
    head_ends: Vec<usize>,
    /// Frame buffers (whole, initialized), reused once the HTTP stack has
    /// dropped every frame sliced from them.
    pool: Vec<Bytes>,
}

/// Frame buffers kept for reuse (frames in flight plus one being built).
const POOL: usize = 8;

impl Frames {
    /// The frames of a response made of `parts`, reusing the frame buffers
    /// `pool` (see [`Frames::into_pool`]).
    pub(crate) fn new(
        storage: Arc<dyn IdentityStorage>,
        parts: Vec<Part>,
        pool: Vec<Bytes>,
    ) -> Self {
        Self {
            storage,
            parts,
            part: 0,
            next: 0,
            limit: 1,
            headers: HeaderWriter::default(),
            metas: Vec::new(),
            payload: 0,
            head: Vec::new(),
            head_ends: Vec::new(),
            pool,
        }
    }

    /// The frame buffers, for a later response (buffers whose frames are
    /// still in flight are reused once those are dropped).
    pub(crate) fn into_pool(mut self) -> Vec<Bytes> {
        self.pool.truncate(POOL);
        self.pool
    }

    /// The next frame of the body, `None` at its end.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Bytes>> {
        loop {
            let Some(p) = self.parts.get(self.part) else {
                if self.metas.is_empty() {
                    return Ok(None);
                }
                return self.finish(None).map(Some);
            };
            if let Some(m) = p.stored.get(self.next) {
                self.metas.push((self.part, self.next));
                self.next += 1;
                // 20-odd bytes of prefix and header per chunk: an estimate
                // is enough for cutting.
                self.payload += m.packed as usize;
                if self.payload + 24 * self.metas.len() >= self.limit {
                    self.limit = FRAME_BYTES;
                    return self.finish(None).map(Some);
                }
                continue;
            }
            let k = self.part;
            self.part += 1;
            self.next = 0;
            if !p.volatile.is_empty() {
                self.limit = FRAME_BYTES;
                return self.finish(Some(k)).map(Some);
            }
        }
    }

    /// Encodes the laid-out stored chunks, then the in-memory chunks of part
    /// `volatile`, into one frame.
    fn finish(&mut self, volatile: Option<usize>) -> Result<Bytes> {
        self.head.clear();
        self.head_ends.clear();
        let mut payload = 0usize;
        for &(k, i) in &self.metas {
            let p = &self.parts[k];
            let m = &p.stored[i];
            let packed = m.packed as usize;
            self.headers.write(
                (m.start, m.end),
                &p.channel_ids,
                m.compression,
                m.unpacked,
                packed,
                &mut self.head,
            )?;
            self.head_ends.push(self.head.len());
            payload += packed;
        }
        let vol: &[Chunk] = volatile.map_or(&[], |k| &self.parts[k].volatile);
        for c in vol {
            self.headers.write(
                (c.start, c.end),
                &c.channel_ids,
                c.compression,
                c.unpacked_length,
                c.payload.len(),
                &mut self.head,
            )?;
            self.head_ends.push(self.head.len());
            payload += c.payload.len();
        }
        let need = self.head.len() + payload;
        let mut buf = take_buf(&mut self.pool, need);
        {
            let mut rest: &mut [u8] = &mut buf[..need];
            let mut hpos = 0;
            let mut ends = self.head_ends.iter().copied();
            let mut iov: Vec<IoSliceMut<'_>> = Vec::new();
            let (mut run_start, mut run_end) = (0u64, 0u64);
            for &(k, i) in &self.metas {
                let m = &self.parts[k].stored[i];
                if !iov.is_empty() && (m.offset != run_end || iov.len() >= MAX_IOV) {
                    self.storage.read_data_vectored(run_start, &mut iov)?;
                    iov.clear();
                }
                if iov.is_empty() {
                    run_start = m.offset;
                    run_end = m.offset;
                }
                let hend = ends.next().unwrap_or(hpos);
                let slot = place(&mut rest, &self.head[hpos..hend], m.packed as usize);
                hpos = hend;
                iov.push(IoSliceMut::new(slot));
                run_end += u64::from(m.packed);
            }
            if !iov.is_empty() {
                self.storage.read_data_vectored(run_start, &mut iov)?;
            }
            drop(iov);
            for c in vol {
                let hend = ends.next().unwrap_or(hpos);
                place(&mut rest, &self.head[hpos..hend], c.payload.len())
                    .copy_from_slice(&c.payload);
                hpos = hend;
            }
        }
        self.metas.clear();
        self.payload = 0;
        let whole = buf.freeze();
        let frame = whole.slice(..need);
        if self.pool.len() < POOL {
            self.pool.push(whole);
        }
        Ok(frame)
    }
}

/// A buffer of at least `need` initialized bytes: a pooled one none of
/// whose frames is still in flight, else a new one.
fn take_buf(pool: &mut Vec<Bytes>, need: usize) -> BytesMut {
    let free = pool.iter().position(|b| b.len() >= need && b.is_unique());
    if let Some(i) = free {
        if let Ok(b) = pool.swap_remove(i).try_into_mut() {
            return b;
        }
    }
    BytesMut::zeroed(need.max(FRAME_BYTES * 2))
}

/// Copies `header` to the front of `rest` and splits off the `len` bytes
/// after it (the payload's place); `rest` keeps what follows.
fn place<'a>(rest: &mut &'a mut [u8], header: &[u8], len: usize) -> &'a mut [u8] {
    let (h, r) = std::mem::take(rest).split_at_mut(header.len());
    h.copy_from_slice(header);
    let (body, r) = r.split_at_mut(len);
    *rest = r;
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::backend::{Backend, FileBackend};
    use proptest::prelude::*;
    use rta_core::chunk::ChunkEncoder;
    use std::sync::Mutex;

    /// A data log in memory that keeps the trait's default vectored read.
    #[derive(Default)]
    struct MemLog(Mutex<Vec<u8>>);

    impl IdentityStorage for MemLog {
        fn append_data(&self, data: &[u8]) -> Result<u64> {
            let mut v = self.0.lock().unwrap();
            v.extend_from_slice(data);
            Ok((v.len() - data.len()) as u64)
        }
        fn read_data(&self, offset: u64, len: usize) -> Result<Bytes> {
            let v = self.0.lock().unwrap();
            let at = offset as usize;
            v.get(at..at + len)
                .map(Bytes::copy_from_slice)
                .ok_or_else(|| Error::Internal("read past the end".into()))
        }
        fn sync_data(&self) -> Result<()> {
            Ok(())
        }
        fn append_index(&self, _record: &[u8]) -> Result<()> {
            Ok(())
        }
        fn load_index(&self) -> Result<Vec<u8>> {
            Ok(Vec::new())
        }
        fn truncate_index(&self, _len: u64) -> Result<()> {
            Ok(())
        }
        fn data_len(&self) -> u64 {
            self.0.lock().unwrap().len() as u64
        }
        fn stored_bytes(&self) -> u64 {
            self.data_len()
        }
    }

    /// One stored chunk of a generated response: payload size and fill.
    #[derive(Debug, Clone)]
    struct Gen {
        size: usize,
        fill: u8,
        lz4: bool,
    }

    /// A response in parts over `storage`: payloads are appended in the
    /// order `order` gives (so runs are broken wherever it is not the
    /// response order), with `gap` junk bytes before each one. Returns the
    /// parts and the chunks the body must carry, in order.
    fn layout(
        storage: &dyn IdentityStorage,
        parts: &[(Vec<u32>, Vec<Gen>, usize)],
        order: &[usize],
        gap: usize,
    ) -> (Vec<Part>, Vec<Chunk>) {
        let flat: Vec<(usize, usize)> = parts
            .iter()
            .enumerate()
            .flat_map(|(k, p)| (0..p.1.len()).map(move |i| (k, i)))
            .collect();
        let payload = |k: usize, i: usize| {
            let g = &parts[k].1[i];
            (0..g.size)
                .map(|j| g.fill.wrapping_add((j % 251) as u8))
                .collect::<Vec<u8>>()
        };
        let mut offsets = vec![0u64; flat.len()];
        let mut rank: Vec<usize> = (0..flat.len()).collect();
        rank.sort_by_key(|&n| order.get(n).copied().unwrap_or(n));
        for n in rank {
            let (k, i) = flat[n];
            storage.append_data(&vec![0xEE; gap]).unwrap();
            offsets[n] = storage.append_data(&payload(k, i)).unwrap();
        }
        let mut out = Vec::new();
        let mut want = Vec::new();
        let mut n = 0;
        for (k, (ids, gens, volatile)) in parts.iter().enumerate() {
            let mut stored = Vec::new();
            for (i, g) in gens.iter().enumerate() {
                let (start, end) = (1_000 * n as i64, 1_000 * n as i64 + 999);
                let compression = if g.lz4 {
                    Compression::Lz4
                } else {
                    Compression::None
                };
                let unpacked = g.size as u32 * 2 + 1;
                stored.push(ChunkMeta {
                    start,
                    end,
                    offset: offsets[n],
                    packed: g.size as u32,
                    unpacked,
                    compression,
                    samples: 1,
                    fragment: false,
                });
                want.push(Chunk {
                    start,
                    end,
                    channel_ids: ids.clone(),
                    compression,
                    unpacked_length: unpacked,
                    payload: Bytes::from(payload(k, i)),
                });
                n += 1;
            }
            let vol: Vec<Chunk> = (0..*volatile)
                .map(|v| Chunk {
                    start: 5_000_000 + v as i64,
                    end: 5_000_010 + v as i64,
                    channel_ids: ids.clone(),
                    compression: Compression::None,
                    unpacked_length: 7,
                    payload: Bytes::from(vec![k as u8 ^ 0x5A; 7 + v]),
                })
                .collect();
            want.extend(vol.iter().cloned());
            out.push(Part {
                channel_ids: ids.clone(),
                stored,
                volatile: vol,
            });
        }
        (out, want)
    }

    fn all_frames(f: &mut Frames) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(b) = f.next_frame().unwrap() {
            assert!(!b.is_empty());
            out.push(b);
        }
        out
    }

    fn joined(frames: &[Bytes]) -> Vec<u8> {
        frames.iter().flat_map(|b| b.iter().copied()).collect()
    }

    fn gen_parts() -> impl Strategy<Value = Vec<(Vec<u32>, Vec<Gen>, usize)>> {
        let chunk = (0usize..90_000, any::<u8>(), any::<bool>())
            .prop_map(|(size, fill, lz4)| Gen { size, fill, lz4 });
        let part = (
            prop::collection::vec(0u32..40, 0..3),
            prop::collection::vec(chunk, 0..24),
            0usize..3,
        );
        prop::collection::vec(part, 1..5)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Frames carry exactly what the chunk encoder makes of the same
        /// chunks, whatever the frame cuts and the layout of the log (runs
        /// broken or not), over the trait's default vectored read and the
        /// file backend's; buffers of frames still held are never reused.
        #[test]
        fn frames_match_the_chunk_encoder(
            parts in gen_parts(),
            order in prop::collection::vec(0usize..1000, 0..100),
            gap in prop::sample::select(vec![0usize, 0, 3]),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let files = FileBackend::new(dir.path()).unwrap();
            let backends: Vec<Arc<dyn IdentityStorage>> = vec![
                Arc::new(MemLog::default()),
                files.open("s", true).unwrap().unwrap(),
            ];
            for storage in backends {
                let (p, want) = layout(&*storage, &parts, &order, gap);
                let want = ChunkEncoder::encode_all(&want).unwrap();
                prop_assert_eq!(body_len(&p).unwrap(), want.len() as u64);
                let mut f = Frames::new(storage.clone(), p, Vec::new());
                let first = all_frames(&mut f);
                prop_assert_eq!(&joined(&first)[..], &want[..]);
                let biggest = parts
                    .iter()
                    .flat_map(|p| p.1.iter().map(|g| g.size))
                    .max()
                    .unwrap_or(0);
                for b in &first {
                    prop_assert!(b.len() <= FRAME_BYTES + biggest + 4096, "{}", b.len());
                }
                // Again with the first response's buffers, its frames still held.
                let (p, _) = layout(&*storage, &parts, &order, gap);
                let mut f = Frames::new(storage.clone(), p, f.into_pool());
                let second = all_frames(&mut f);
                prop_assert_eq!(&joined(&first)[..], &want[..]);
                prop_assert_eq!(&joined(&second)[..], &want[..]);
                drop(first);
                drop(second);
                // And once they are dropped, reusing them.
                let (p, _) = layout(&*storage, &parts, &order, gap);
                let mut f = Frames::new(storage.clone(), p, f.into_pool());
                prop_assert_eq!(&joined(&all_frames(&mut f))[..], &want[..]);
            }
        }
    }

    /// The first frame holds only the first chunk (its bytes go out before
    /// more is read); later frames are cut at about `FRAME_BYTES`.
    #[test]
    fn first_frame_is_one_chunk() {
        let log = Arc::new(MemLog::default());
        let gens = vec![
            Gen {
                size: 10_000,
                fill: 1,
                lz4: true
            };
            200
        ];
        let (p, want) = layout(&*log, &[(vec![3], gens, 0)], &[], 0);
        let mut f = Frames::new(log, p, Vec::new());
        let frames = all_frames(&mut f);
        let one = ChunkEncoder::encode_all(&want[..1]).unwrap();
        assert_eq!(frames[0], one);
        assert!(frames.len() >= 4, "{} frames", frames.len());
        for b in &frames[1..frames.len() - 1] {
            assert!(b.len() >= FRAME_BYTES && b.len() < FRAME_BYTES + 10_100);
        }
    }

    /// A read past the end of the data log is an error, not a short frame.
    #[test]
    fn reading_past_the_log_end_fails() {
        let dir = tempfile::tempdir().unwrap();
        let files = FileBackend::new(dir.path()).unwrap();
        let log = files.open("s", true).unwrap().unwrap();
        log.append_data(&[7u8; 100]).unwrap();
        let (mut a, mut b) = ([0u8; 60], [0u8; 60]);
        let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        assert!(log.read_data_vectored(0, &mut bufs).is_err());
        let (mut a, mut b) = ([0u8; 60], [0u8; 40]);
        let mut bufs = [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)];
        log.read_data_vectored(0, &mut bufs).unwrap();
        assert_eq!((a, b), ([7u8; 60], [7u8; 40]));
    }

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
        let mut got = Vec::new();
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
