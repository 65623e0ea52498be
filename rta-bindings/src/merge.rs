//! Merging the transformed streams of several bindings into one valid stream.
//!
//! Every input is in time order per channel. The output must be too, while
//! chunks of different channels may interleave freely. Valid bindings never
//! give one session channel two sources at the same time: bindings sharing
//! a channel have disjoint time windows. So for channel data:
//!
//! - inputs are ranked by the start of their window;
//! - a chunk of input *i* is held back while an earlier-ranked input that
//!   can still produce one of the chunk's channels has not finished;
//! - otherwise inputs are served round-robin, so independent bindings (a
//!   composite session's sources) stream side by side.
//!
//! Events have no channel: their inputs are merged by chunk start time, so
//! event chunks of overlapping sources come out in start order.
//!
//! Each input holds at most one chunk in the merge, whatever its length.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{Stream, StreamExt};
use rta_core::channels::ChannelExpr;
use rta_core::chunk::Chunk;

use crate::{BindingStream, Result};

/// One input of [`merge`].
pub struct MergeInput {
    /// The transformed chunks of one binding (session times and channels).
    pub stream: BindingStream,
    /// The session channels it can produce; `None` for events.
    pub channels: Option<ChannelExpr>,
    /// Start of its session time window (`i64::MIN` when unbounded).
    pub window_start: i64,
}

impl std::fmt::Debug for MergeInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeInput")
            .field("channels", &self.channels)
            .field("window_start", &self.window_start)
            .finish_non_exhaustive()
    }
}

/// Merges the streams of several bindings of one request (all of one data
/// kind) into one stream, in time order per channel.
pub fn merge(mut inputs: Vec<MergeInput>) -> BindingStream {
    match inputs.len() {
        0 => futures::stream::empty().boxed(),
        1 => inputs.remove(0).stream,
        _ => {
            let events = inputs.iter().any(|i| i.channels.is_none());
            // Rank by window start; the sort is stable, so ties keep plan order.
            inputs.sort_by_key(|i| i.window_start);
            let n = inputs.len();
            let mut preds = vec![Vec::new(); n];
            for (i, pi) in preds.iter_mut().enumerate() {
                for j in 0..i {
                    let overlap = match (&inputs[i].channels, &inputs[j].channels) {
                        (Some(a), Some(b)) => !a.intersect(b).is_empty(),
                        _ => true,
                    };
                    if overlap {
                        pi.push(j);
                    }
                }
            }
            let mut channels = Vec::with_capacity(n);
            let mut streams = Vec::with_capacity(n);
            for i in inputs {
                channels.push(i.channels);
                streams.push(Some(i.stream));
            }
            Merge {
                heads: vec![None; n],
                streams,
                channels,
                preds,
                cursor: 0,
                events,
                failed: false,
            }
            .boxed()
        }
    }
}

struct Merge {
    streams: Vec<Option<BindingStream>>,
    heads: Vec<Option<Chunk>>,
    channels: Vec<Option<ChannelExpr>>,
    preds: Vec<Vec<usize>>,
    cursor: usize,
    events: bool,
    failed: bool,
}

impl Merge {
    fn finished(&self, i: usize) -> bool {
        self.streams[i].is_none() && self.heads[i].is_none()
    }

    /// True while an earlier-ranked unfinished input could still produce a
    /// channel of input `i`'s head chunk.
    fn blocked(&self, i: usize, head: &Chunk) -> bool {
        self.preds[i].iter().any(|&j| {
            if self.finished(j) {
                return false;
            }
            match &self.channels[j] {
                Some(cj) if !head.channel_ids.is_empty() => {
                    head.channel_ids.iter().any(|c| cj.contains(*c))
                }
                _ => true,
            }
        })
    }

    /// Polls input `i` for a head chunk if it has none. Returns an error to
    /// pass on, if any.
    fn fill(&mut self, i: usize, cx: &mut Context<'_>) -> Option<crate::Error> {
        if self.heads[i].is_some() {
            return None;
        }
        let s = self.streams[i].as_mut()?;
        match s.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(c))) => self.heads[i] = Some(c),
            Poll::Ready(Some(Err(e))) => return Some(e),
            Poll::Ready(None) => self.streams[i] = None,
            Poll::Pending => {}
        }
        None
    }

    fn fail(&mut self, e: crate::Error) -> Poll<Option<Result<Chunk>>> {
        self.failed = true;
        self.streams.iter_mut().for_each(|s| *s = None);
        self.heads.iter_mut().for_each(|h| *h = None);
        Poll::Ready(Some(Err(e)))
    }

    fn poll_channels(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Chunk>>> {
        let n = self.streams.len();
        loop {
            let mut progressed = false;
            for k in 0..n {
                let i = (self.cursor + k) % n;
                if self.finished(i) {
                    continue;
                }
                let had_stream = self.streams[i].is_some();
                if let Some(e) = self.fill(i, cx) {
                    return self.fail(e);
                }
                if had_stream && self.finished(i) {
                    progressed = true;
                    continue;
                }
                let emit = match &self.heads[i] {
                    Some(h) => !self.blocked(i, h),
                    None => false,
                };
                if emit {
                    self.cursor = (i + 1) % n;
                    return Poll::Ready(self.heads[i].take().map(Ok));
                }
            }
            if (0..n).all(|i| self.finished(i)) {
                return Poll::Ready(None);
            }
            if !progressed {
                // Every unfinished input is waiting on its stream (which
                // will wake us) or on an earlier one that is.
                return Poll::Pending;
            }
        }
    }

    fn poll_events(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Chunk>>> {
        let n = self.streams.len();
        let mut waiting = false;
        for i in 0..n {
            if let Some(e) = self.fill(i, cx) {
                return self.fail(e);
            }
            if self.heads[i].is_none() && self.streams[i].is_some() {
                waiting = true;
            }
        }
        if waiting {
            return Poll::Pending;
        }
        let best = (0..n)
            .filter_map(|i| self.heads[i].as_ref().map(|h| (h.start, i)))
            .min();
        match best {
            Some((_, i)) => Poll::Ready(self.heads[i].take().map(Ok)),
            None => Poll::Ready(None),
        }
    }
}

impl Stream for Merge {
    type Item = Result<Chunk>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        if this.events {
            this.poll_events(cx)
        } else {
            this.poll_channels(cx)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use rta_core::chunk::Compression;

    fn chunk(ch: u32, start: i64) -> Chunk {
        Chunk {
            start,
            end: start + 5,
            channel_ids: vec![ch],
            compression: Compression::None,
            unpacked_length: 0,
            payload: Default::default(),
        }
    }

    fn input(chunks: Vec<Chunk>, channels: Option<&str>, window_start: i64) -> MergeInput {
        MergeInput {
            stream: futures::stream::iter(chunks.into_iter().map(Ok)).boxed(),
            channels: channels.map(|c| c.parse().unwrap()),
            window_start,
        }
    }

    #[test]
    fn later_window_waits_for_the_earlier_one_per_channel() {
        // Input B (later window) is channel-major; input A (earlier) too.
        let a = vec![chunk(1, 0), chunk(1, 10), chunk(2, 0), chunk(2, 10)];
        let b = vec![chunk(2, 100), chunk(1, 100), chunk(3, 100)];
        let out: Vec<Chunk> = block_on(
            merge(vec![input(b, Some("1-3"), 100), input(a, Some("1-2"), 0)])
                .map(|c| c.unwrap())
                .collect(),
        );
        assert_eq!(out.len(), 7);
        for ch in 1..=3 {
            let starts: Vec<i64> = out
                .iter()
                .filter(|c| c.channel_ids == [ch])
                .map(|c| c.start)
                .collect();
            assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{ch}: {starts:?}");
        }
    }

    #[test]
    fn disjoint_channels_interleave() {
        let a = vec![chunk(1, 0), chunk(1, 10)];
        let b = vec![chunk(50, 0), chunk(50, 10)];
        let out: Vec<u32> = block_on(
            merge(vec![
                input(a, Some("1"), i64::MIN),
                input(b, Some("32"), i64::MIN),
            ])
            .map(|c| c.unwrap().channel_ids[0])
            .collect(),
        );
        assert_eq!(out, vec![1, 50, 1, 50]);
    }

    #[test]
    fn events_merge_by_start() {
        let ev = |s| Chunk {
            channel_ids: vec![],
            ..chunk(0, s)
        };
        let out: Vec<i64> = block_on(
            merge(vec![
                input(vec![ev(0), ev(20), ev(40)], None, 0),
                input(vec![ev(10), ev(30)], None, 0),
            ])
            .map(|c| c.unwrap().start)
            .collect(),
        );
        assert_eq!(out, vec![0, 10, 20, 30, 40]);
    }

    #[test]
    fn an_error_ends_the_merge() {
        let bad = MergeInput {
            stream: futures::stream::iter(vec![Err(crate::Error::InvalidRequest("boom".into()))])
                .boxed(),
            channels: Some(ChannelExpr::single(1)),
            window_start: 0,
        };
        let out: Vec<Result<Chunk>> = block_on(
            merge(vec![
                input(vec![chunk(2, 0), chunk(2, 1)], Some("2"), 0),
                bad,
            ])
            .collect(),
        );
        assert!(out.iter().any(|r| r.is_err()));
        assert!(out.last().unwrap().is_err());
    }
}
