//! One pass of an export as three concurrent stages: tasks downloading the
//! chunks ([`download`]), a thread decoding them and building the rows
//! ([`Attempt`]), and a thread writing the file; bounded queues between
//! them keep memory to a few windows.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};

use super::attempt::{items, Attempt, Knowledge, Limits, Msg, Outcome};
use super::download::{self, Feed};
use super::{column, Job, BATCH_ROWS};
use crate::cli::progress::Progress;
use crate::cli::tables::{Format, Writer};
use crate::{Error, Result};
use rta_core::timed::TimedDecoder;

/// Chunks delivered ahead of the decoder.
const CHUNKS_AHEAD: usize = 64;
/// Batches built ahead of the file writer.
const BATCHES_AHEAD: usize = 2;

/// Runs one pass of `job` (see [`Attempt`]).
pub(super) async fn run(
    job: &Job,
    knowledge: Knowledge,
    requested: Option<BTreeSet<u32>>,
) -> Result<Outcome> {
    let (mut feed, download) = download::start(job, requested.as_ref(), CHUNKS_AHEAD);

    let (msg_tx, msg_rx) = sync_channel::<Msg>(BATCHES_AHEAD);
    let (out, format) = (job.out.clone(), job.format);
    let writer = tokio::task::spawn_blocking(move || write_file(msg_rx, &out, format));

    let (known, forced, kind) = (job.known.clone(), job.forced, job.kind);
    let decoder = tokio::task::spawn_blocking(move || {
        let mut progress = Progress::new(None, "export");
        let mut decoder = TimedDecoder::new();
        let column = move |k, ch| column(&known, forced, k, ch);
        let mut attempt = Attempt::new(column, knowledge, requested, Limits::default());
        let mut sink = |m: Msg| {
            msg_tx
                .send(m)
                .map_err(|_| Error::WriterClosed("the file writer stopped".into()))
        };
        loop {
            let (only, chunk) = match feed.blocking_recv() {
                Some(Feed::Chunk(only, chunk)) => (only, chunk),
                Some(Feed::Ended(ch)) => {
                    attempt.ended(ch);
                    continue;
                }
                Some(Feed::Failed(e)) => return Err(e),
                Some(Feed::Done) => break,
                None => return Err(Error::Decode("the download stopped".into())),
            };
            let mut items = items(&chunk, kind, &mut decoder)?;
            if let Some(ch) = only {
                items.retain(|i| i.channel == ch);
            }
            progress.add(items.iter().map(|i| i.times.len() as u64).sum(), None);
            attempt.feed(items, &mut sink)?;
            if attempt.one_table().is_some() {
                break;
            }
        }
        attempt.end(&mut sink).map(|o| (o, progress))
    });

    let decoded = decoder.await;
    let written = writer.await;
    download.abort();
    let _ = download.await; // ended, or cancelled just now
    let joined = |e: tokio::task::JoinError| Error::Decode(format!("export thread: {e}"));
    written.map_err(joined)??;
    let (outcome, progress) = decoded.map_err(joined)??;
    if outcome == Outcome::Written {
        progress.finish();
    } else {
        progress.clear();
    }
    Ok(outcome)
}

/// Writes what `rx` says to `path`; whether the file was finished.
fn write_file(rx: Receiver<Msg>, path: &Path, format: Format) -> Result<bool> {
    let mut w = None;
    for m in rx {
        match m {
            Msg::Start(schema) => w = Some(Writer::create(path, format, &schema)?),
            Msg::Batch(b) => {
                let Some(w) = w.as_mut() else {
                    return Err(Error::Decode("rows before the file's schema".into()));
                };
                let mut at = 0;
                while at < b.num_rows() {
                    let n = BATCH_ROWS.min(b.num_rows() - at);
                    w.write(&b.slice(at, n))?;
                    at += n;
                }
            }
            Msg::Finish => {
                if let Some(w) = w.take() {
                    w.finish()?;
                }
                return Ok(true);
            }
        }
    }
    Ok(false)
}
