//! The downloads of an export, delivered as one feed in time order across
//! the channels as far as the servers allow.
//!
//! Servers send each channel in time order, but not the channels side by
//! side: the native store sends one channel after the other. Rows can only
//! be written once every channel has passed them, so a short list of
//! channels is downloaded as one request per channel, in parallel, and the
//! feed takes the next chunk from the channel that is furthest behind;
//! bounded queues hold the others back. If that channel stays silent (its
//! request queued behind the others by a server's per-user limit, say),
//! the feed takes whatever the others have, so no request waits on another.
//! A longer or open channel list is one request, asked for in time slices
//! of the session's range
//! ([`Download::in_slices`](crate::Download::in_slices)), so that such a
//! server sends a slice of every channel at a time and the rows hold about
//! one slice, not the whole export.
//!
//! Every request is a [`Download`](crate::Download): an interrupted one
//! resumes where it stopped.

use std::collections::BTreeSet;
use std::time::Duration;

use rta_core::chunk::Chunk;
use tokio::sync::mpsc::{channel, Receiver, Sender};
use tokio::task::JoinHandle;

use super::Job;
use crate::{Error, Result};

/// Most requests of one export at once (the gateway serves 16 per user by
/// default).
const MAX_REQUESTS: usize = 8;
/// Chunks a request gets ahead of the feed.
const CHUNKS_AHEAD: usize = 32;
/// Bytes of chunks a time slice of a many-channel request aims at.
const SLICE_BYTES: u64 = 16 << 20;
/// How long the feed waits for the channel furthest behind before it takes
/// what the others have.
const STALL: Duration = Duration::from_millis(100);

/// What the feed delivers.
#[derive(Debug)]
pub(super) enum Feed {
    /// A chunk; of the request for this one channel (`None`: for all).
    Chunk(Option<u32>, Chunk),
    /// The request for this one channel has ended.
    Ended(u32),
    /// A request failed.
    Failed(Error),
    /// Every request has ended.
    Done,
}

/// The requests of `job` and the task merging them into one feed of
/// `capacity` entries; the task ends when the feed's receiver is dropped.
pub(super) fn start(
    job: &Job,
    requested: Option<&BTreeSet<u32>>,
    capacity: usize,
) -> (Receiver<Feed>, JoinHandle<()>) {
    let per_channel: Option<Vec<u32>> = requested
        .filter(|r| r.len() > 1 && r.len() <= MAX_REQUESTS)
        .map(|r| r.iter().copied().collect());
    let mut streams = Vec::new();
    match per_channel {
        Some(channels) => {
            for ch in channels {
                streams.push(request(job, Some(ch)));
            }
        }
        None => streams.push(request(job, None)),
    }
    let (tx, rx) = channel(capacity);
    let merge = tokio::spawn(merge(streams, tx));
    (rx, merge)
}

/// One request's chunks.
struct Stream {
    channel: Option<u32>,
    rx: Receiver<Result<Option<Chunk>>>,
    task: JoinHandle<()>,
    /// End time of its latest chunk.
    front: i64,
    done: bool,
}

fn request(job: &Job, channel: Option<u32>) -> Stream {
    let expr = channel.map_or_else(|| job.channels.clone(), |c| c.to_string());
    let mut d = job
        .rest
        .download(&job.id, job.kind, &expr, job.start, job.end);
    if let (None, Some((from, to))) = (channel, job.range) {
        d = d.in_slices(from, to, SLICE_BYTES);
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Option<Chunk>>>(CHUNKS_AHEAD);
    let task = tokio::spawn(async move {
        loop {
            let next = d.next_chunk().await;
            let more = matches!(next, Ok(Some(_)));
            if tx.send(next).await.is_err() || !more {
                break;
            }
        }
    });
    Stream {
        channel,
        rx,
        task,
        front: i64::MIN,
        done: false,
    }
}

/// Sends the streams' chunks to `tx`, the one furthest behind first.
async fn merge(mut streams: Vec<Stream>, tx: Sender<Feed>) {
    let open = loop {
        let Some(k) = (0..streams.len())
            .filter(|&k| !streams[k].done)
            .min_by_key(|&k| streams[k].front)
        else {
            break tx.send(Feed::Done).await.is_ok();
        };
        let next = match tokio::time::timeout(STALL, streams[k].rx.recv()).await {
            Ok(next) => next,
            Err(_) => {
                // Stalled: take what the others have, then wait again.
                if !drain_others(&mut streams, k, &tx).await {
                    break false;
                }
                continue;
            }
        };
        if !deliver(&mut streams[k], next, &tx).await {
            break false;
        }
    };
    if !open {
        for s in &streams {
            s.task.abort();
        }
    }
}

/// Delivers what every stream but `k` has ready; whether the feed is open.
async fn drain_others(streams: &mut [Stream], k: usize, tx: &Sender<Feed>) -> bool {
    for (j, s) in streams.iter_mut().enumerate() {
        while j != k && !s.done {
            let Ok(next) = s.rx.try_recv() else {
                break;
            };
            if !deliver(s, Some(next), tx).await {
                return false;
            }
        }
    }
    true
}

/// Delivers one entry of `s`; whether the feed is open (and `s` not failed).
async fn deliver(s: &mut Stream, next: Option<Result<Option<Chunk>>>, tx: &Sender<Feed>) -> bool {
    let feed = match next {
        Some(Ok(Some(c))) => {
            s.front = s.front.max(c.end);
            Feed::Chunk(s.channel, c)
        }
        Some(Ok(None)) => {
            s.done = true;
            match s.channel {
                Some(ch) => Feed::Ended(ch),
                None => return true,
            }
        }
        Some(Err(e)) => {
            s.done = true;
            let _ = tx.send(Feed::Failed(e)).await;
            return false;
        }
        None => {
            s.done = true;
            let _ = tx
                .send(Feed::Failed(Error::Decode("a download stopped".into())))
                .await;
            return false;
        }
    };
    tx.send(feed).await.is_ok()
}
