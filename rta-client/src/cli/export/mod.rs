//! `rta export`: channels of a session to a CSV, Parquet or Arrow file, one
//! column per channel, named and typed from the session's configs.
//!
//! The rows are the union of the channels' times, in order; a channel
//! without a sample at a row's time has an empty cell there (the result of
//! `rta_core::arrow::from_timestamped` on all the data). They are written a
//! time window at a time while the data downloads: a task receives the
//! chunks, a thread decodes them and builds the rows as soon as every
//! channel has passed them ([`attempt`], [`rows`]), another writes the file
//! ([`pipeline`]). Data whose channels' times go back is written through
//! one table of it all ([`one_table`]).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use rta_core::config::{ChannelDataType, Config};
use rta_core::data::DataKind;

use super::tables::{Format, BATCH_ROWS};
use crate::arrow::ChannelColumn;
use crate::{Error, RestReader, Result, RtaClient};
use attempt::{Knowledge, Outcome};

mod attempt;
mod download;
mod one_table;
mod pipeline;
mod rows;

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
    let expr = rta_core::channels::ChannelExpr::parse(&a.channels)
        .map_err(|e| Error::InvalidArgument(format!("--channels {:?}: {e}", a.channels)))?;
    let requested: Option<BTreeSet<u32>> =
        (!expr.is_all() && expr.len() <= 100_000).then(|| expr.iter().collect());
    let rest = client.rest()?;
    let session = rest.session(&a.id).await?; // a clear error for an unknown session
    let known = config_channels(rest, &session).await;
    let range = session_range(&session);
    let job = Job {
        rest: rest.clone(),
        id: a.id,
        kind,
        channels: a.channels,
        start: a.start,
        end: a.end,
        out: a.out,
        format,
        known: Arc::new(known),
        forced,
        range,
    };
    let mut knowledge = Knowledge::default();
    for _ in 0..PASSES {
        match pipeline::run(&job, knowledge, requested.clone()).await? {
            Outcome::Written => return Ok(()),
            Outcome::Retry(k, why) => {
                eprintln!("rta export: {why}; reading the data again");
                knowledge = k;
            }
            Outcome::OneTable(why) => {
                eprintln!("rta export: {why}; building one table of all the data");
                return one_table::export(&job).await;
            }
        }
    }
    eprintln!("rta export: the data changed between reads; building one table of all the data");
    one_table::export(&job).await
}

/// Passes of windowed writing before the one-table path (the third has
/// every fact the first two can miss, unless the data changes meanwhile).
const PASSES: usize = 3;

/// What to export, and where.
pub(super) struct Job {
    rest: RestReader,
    id: String,
    kind: DataKind,
    channels: String,
    start: Option<i64>,
    end: Option<i64>,
    out: PathBuf,
    format: Format,
    known: Arc<HashMap<u32, (String, ChannelDataType)>>,
    forced: Option<ChannelDataType>,
    /// The session's time range, when it has one.
    range: Option<(i64, i64)>,
}

impl Job {
    /// The `k`-th column (from 1, after `time`): `channel`'s, named and
    /// typed from the configs (its id and `f64` where none says).
    fn column(&self, k: usize, channel: u32) -> ChannelColumn {
        column(&self.known, self.forced, k, channel)
    }
}

fn column(
    known: &HashMap<u32, (String, ChannelDataType)>,
    forced: Option<ChannelDataType>,
    k: usize,
    channel: u32,
) -> ChannelColumn {
    let (name, t) = known
        .get(&channel)
        .cloned()
        .unwrap_or_else(|| (channel.to_string(), ChannelDataType::F64));
    ChannelColumn {
        column: k,
        name,
        channel,
        data_type: forced.unwrap_or(t),
    }
}

/// The session's `timeRange` (`startTime`, `endTime`), when it has one.
fn session_range(session: &serde_json::Value) -> Option<(i64, i64)> {
    let r = &session["timeRange"];
    let (start, end) = (r["startTime"].as_i64()?, r["endTime"].as_i64()?);
    (start <= end).then_some((start, end))
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

#[cfg(test)]
mod tests;
