//! The one-table path of an export: every item downloaded, one table built
//! of them all (`from_timestamped` / `from_periodic`), then written. It is
//! the reference the windowed path reproduces, and what an export falls
//! back to when the data breaks the windows' premise (a channel's times
//! not increasing).

use std::collections::BTreeSet;

use rta_core::data::DataKind;
use rta_core::proto::data::{PeriodicDataList, TimestampedDataList};

use super::{Job, BATCH_ROWS};
use crate::arrow::{from_periodic, from_timestamped, ChannelColumn};
use crate::cli::progress::Progress;
use crate::cli::tables::Writer;
use crate::Result;

/// Exports `job` through one table of all its samples.
pub(super) async fn export(job: &Job) -> Result<()> {
    let mut d = job
        .rest
        .download(&job.id, job.kind, &job.channels, job.start, job.end);
    let mut progress = Progress::new(None, "export");
    let (mut timestamped, mut periodic) = (Vec::new(), Vec::new());
    let mut seen = BTreeSet::new();
    while let Some(c) = d.next_chunk().await? {
        let mut n = 0u64;
        if job.kind == DataKind::Timestamped {
            let list: TimestampedDataList = c.decode_list()?;
            for item in list.timestamped_data {
                seen.insert(item.channel_id);
                n += item.timestamp_deltas.len() as u64;
                timestamped.push(item);
            }
        } else {
            let list: PeriodicDataList = c.decode_list()?;
            for item in list.periodic_data {
                seen.insert(item.channel_id);
                n += item.samples.max(0) as u64;
                periodic.push(item);
            }
        }
        progress.add(n, None);
    }
    let columns: Vec<ChannelColumn> = seen
        .iter()
        .enumerate()
        .map(|(k, &ch)| job.column(k + 1, ch))
        .collect();
    let batch = if job.kind == DataKind::Timestamped {
        from_timestamped(&timestamped, &columns)?
    } else {
        from_periodic(&periodic, &columns)?
    };
    drop((timestamped, periodic));
    let mut w = Writer::create(&job.out, job.format, &batch.schema())?;
    let mut at = 0;
    while at < batch.num_rows() {
        let n = BATCH_ROWS.min(batch.num_rows() - at);
        w.write(&batch.slice(at, n))?;
        at += n;
    }
    w.finish()?;
    progress.finish();
    Ok(())
}
