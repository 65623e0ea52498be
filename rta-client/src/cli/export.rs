//! `rta export`: channels of a session to a CSV, Parquet or Arrow file, one
//! column per channel, named and typed from the session's configs.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use clap::Args;
use rta_core::config::{ChannelDataType, Config};
use rta_core::data::DataKind;
use rta_core::proto::data::{PeriodicDataList, TimestampedDataList};

use super::progress::Progress;
use super::tables::{Format, Writer, BATCH_ROWS};
use crate::arrow::{from_periodic, from_timestamped, ChannelColumn};
use crate::{Error, RestReader, Result, RtaClient};

#[derive(Debug, Args)]
pub(super) struct ExportArgs {
    /// Session identity.
    id: String,
    /// Channel expression, e.g. 0-3,7.
    #[arg(long)]
    channels: String,
    /// From this time (ns since the epoch).
    #[arg(long)]
    start: Option<i64>,
    /// Until this time (ns since the epoch).
    #[arg(long)]
    end: Option<i64>,
    /// timestamped or periodic.
    #[arg(long, default_value = "timestamped")]
    kind: String,
    /// Data type of the samples; `auto` takes each channel's from the
    /// session's configs (f64 where none says).
    #[arg(long = "type", default_value = "auto")]
    data_type: String,
    /// Output format (default: from the --out extension).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
}

pub(super) async fn export(client: &RtaClient, a: ExportArgs) -> Result<()> {
    let format = match a.format {
        Some(f) => f,
        None => Format::of(&a.out)?,
    };
    let kind = match a.kind.as_str() {
        "timestamped" => DataKind::Timestamped,
        "periodic" => DataKind::Periodic,
        k => {
            return Err(Error::InvalidArgument(format!(
                "--kind {k:?}: use timestamped or periodic"
            )))
        }
    };
    let forced: Option<ChannelDataType> = match a.data_type.as_str() {
        "auto" => None,
        t => Some(
            t.parse()
                .map_err(|e| Error::InvalidArgument(format!("--type: {e}")))?,
        ),
    };
    rta_core::channels::ChannelExpr::parse(&a.channels)
        .map_err(|e| Error::InvalidArgument(format!("--channels {:?}: {e}", a.channels)))?;
    let rest = client.rest()?;
    let session = rest.session(&a.id).await?; // a clear error for an unknown session
    let known = config_channels(rest, &session).await;

    let mut d = rest.download(&a.id, kind, &a.channels, a.start, a.end);
    let mut progress = Progress::new(None, "export");
    let (mut timestamped, mut periodic) = (Vec::new(), Vec::new());
    let mut seen = BTreeSet::new();
    while let Some(c) = d.next_chunk().await? {
        let mut n = 0u64;
        if kind == DataKind::Timestamped {
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
        .map(|(k, &ch)| {
            let (name, t) = known
                .get(&ch)
                .cloned()
                .unwrap_or_else(|| (ch.to_string(), ChannelDataType::F64));
            ChannelColumn {
                column: k + 1,
                name,
                channel: ch,
                data_type: forced.unwrap_or(t),
            }
        })
        .collect();
    let batch = if kind == DataKind::Timestamped {
        from_timestamped(&timestamped, &columns)?
    } else {
        from_periodic(&periodic, &columns)?
    };
    drop((timestamped, periodic));
    let mut w = Writer::create(&a.out, format, &batch.schema())?;
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

/// Name and data type of every channel the session's configs describe
/// (channel offsets applied). A config that cannot be read leaves its
/// channels unnamed `f64`, with a warning.
async fn config_channels(
    rest: &RestReader,
    session: &serde_json::Value,
) -> HashMap<u32, (String, ChannelDataType)> {
    let mut out = HashMap::new();
    let bindings = session["configBindings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for b in bindings {
        let Some(id) = b["identifier"].as_str() else {
            continue;
        };
        let offset = b["channelOffset"].as_u64().unwrap_or(0) as u32;
        let config = match rest.config(id).await {
            Ok(json) => Config::from_json(&json.to_string()),
            Err(e) => Err(rta_core::Error::InvalidArgument(e.to_string())),
        };
        let config = match config {
            Ok(c) => c,
            Err(e) => {
                eprintln!("rta: config {id:?} not used for column names and types: {e}");
                continue;
            }
        };
        for app in config.apps.values() {
            for ch in &app.channels {
                let name = app
                    .parameters
                    .iter()
                    .find(|p| p.channels.contains(&ch.id))
                    .map_or_else(|| ch.id.to_string(), |p| p.name.clone());
                out.insert(ch.id + offset, (name, ch.data_type_or_default()));
            }
        }
    }
    out
}
