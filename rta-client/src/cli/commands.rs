//! `rta sessions`, `rta configs` and `rta data`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rta_core::config::ChannelDataType;
use rta_core::data::DataKind;
use rta_core::service::StoredConfig;

use crate::{Error, Result, RtaClient, SessionRequest, SessionState};

#[derive(Debug, Subcommand)]
pub(super) enum Sessions {
    /// List sessions, newest first (a table, or JSON lines with --json).
    ///
    /// Example: rta sessions ls --query '{"state":"open"}' --folder tests
    ///
    /// Example: rta sessions ls --where "state = open and quality >= 0.5"
    Ls {
        /// A query in the REST dialect, as JSON.
        #[arg(long, conflicts_with = "filter")]
        query: Option<String>,
        /// The same as comparisons joined by `and`: PATH OP VALUE with OP one
        /// of = != > >= < <= ~ (contains); quote values with spaces.
        #[arg(long = "where", value_name = "EXPR")]
        filter: Option<String>,
        /// Only sessions under this folder.
        #[arg(long, default_value = "")]
        folder: String,
        /// One JSON object per line, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Print one session's JSON.
    ///
    /// Example: rta sessions show run-1
    Show {
        /// Session identity.
        id: String,
    },
    /// Change a session's state (open, closed, truncated, ...).
    ///
    /// Example: rta sessions set-state run-1 closed
    SetState {
        /// Session identity.
        id: String,
        /// The new state.
        state: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum Configs {
    /// Publish a config file (JSON) under its identifier.
    ///
    /// Example: rta configs put logger.json --id logger-v1
    Put {
        /// The config file (application/vnd.mat.config+json).
        file: PathBuf,
        /// Identifier (default: the file name without extension).
        #[arg(long)]
        id: Option<String>,
    },
    /// Print a config.
    ///
    /// Example: rta configs get logger-v1
    Get {
        /// Config identifier.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(super) struct DataArgs {
    /// Session identity.
    id: String,
    /// timestamped, periodic or events.
    kind: String,
    /// Channel expression, e.g. 0-3,7 (ignored for events).
    #[arg(default_value = "-")]
    channels: String,
    /// Data type of the samples (u8, s8, u16, s16, u32, s32, f32, 3f32, f64).
    #[arg(long = "type", default_value = "f64")]
    data_type: String,
    /// From this time (ns since the epoch).
    #[arg(long)]
    start: Option<i64>,
    /// Until this time (ns since the epoch).
    #[arg(long)]
    end: Option<i64>,
}

pub(super) async fn sessions(client: &RtaClient, cmd: Sessions) -> Result<()> {
    match cmd {
        Sessions::Ls {
            query,
            filter,
            folder,
            json,
        } => {
            let q = match filter {
                Some(expr) => super::where_expr::to_query(&expr)?,
                None => query.unwrap_or_default(),
            };
            if !q.is_empty() {
                rta_core::query::Query::parse(&q)
                    .map_err(|e| Error::InvalidArgument(format!("--query: {e}")))?;
            }
            let list = client.list_sessions(&q, &folder).await?;
            if !json {
                println!(
                    "{:<36} {:<10} {:<32} TIMESTAMP",
                    "IDENTITY", "STATE", "IDENTIFIER"
                );
            }
            for s in list {
                let v: serde_json::Value =
                    serde_json::from_str(&s.json).unwrap_or(serde_json::Value::Null);
                if json {
                    println!("{}", s.json);
                } else {
                    let field = |k: &str| v[k].as_str().unwrap_or("").to_string();
                    println!(
                        "{:<36} {:<10} {:<32} {}",
                        s.identity,
                        field("state"),
                        field("identifier"),
                        field("timestamp")
                    );
                }
            }
        }
        Sessions::Show { id } => {
            let s = client.rest()?.session(&id).await?;
            println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
        }
        Sessions::SetState { id, state } => {
            let st: SessionState = state
                .parse()
                .map_err(|e| Error::InvalidArgument(format!("state {state:?}: {e}")))?;
            client.get_session(&id).await?; // never create one by accident
            client
                .put_session(SessionRequest::update(&id).state(st))
                .await?;
            eprintln!("{id}: {}", st.as_str());
        }
    }
    Ok(())
}

pub(super) async fn configs(client: &RtaClient, cmd: Configs) -> Result<()> {
    match cmd {
        Configs::Put { file, id } => {
            let data = super::read_file(&file)?;
            let id = match id {
                Some(i) => i,
                None => file
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .ok_or_else(|| Error::InvalidArgument("give --id".into()))?,
            };
            let stored = StoredConfig {
                content_type: rta_core::media::CONFIG_JSON.to_string(),
                data: data.into(),
            };
            if client.put_stored_config(&id, stored).await? {
                eprintln!("published config {id}");
            } else {
                eprintln!("config {id} was already published (configs are immutable)");
            }
        }
        Configs::Get { id } => {
            let c = client.get_config(&id).await?;
            if c.content_type == rta_core::media::CONFIG_JSON {
                println!("{}", String::from_utf8_lossy(&c.data));
            } else {
                use std::io::Write;
                std::io::stdout()
                    .write_all(&c.data)
                    .map_err(|source| Error::Io {
                        path: "stdout".into(),
                        source,
                    })?;
            }
        }
    }
    Ok(())
}

pub(super) async fn data(client: &RtaClient, a: DataArgs) -> Result<()> {
    let kind = DataKind::from_path_segment(&a.kind).map_err(|_| {
        Error::InvalidArgument(format!(
            "kind {:?}: use timestamped, periodic or events",
            a.kind
        ))
    })?;
    let t: ChannelDataType = a
        .data_type
        .parse()
        .map_err(|e| Error::InvalidArgument(format!("--type: {e}")))?;
    if kind.has_channels() {
        rta_core::channels::ChannelExpr::parse(&a.channels)
            .map_err(|e| Error::InvalidArgument(format!("channels {:?}: {e}", a.channels)))?;
    }
    let mut d = client
        .rest()?
        .download(&a.id, kind, &a.channels, a.start, a.end);
    println!("channel\ttime\tvalue");
    while let Some(c) = d.next_chunk().await? {
        for s in crate::Samples::from_chunk(&c, kind, t)? {
            for (i, time) in s.times.iter().enumerate() {
                let v = &s.values[i * s.components..(i + 1) * s.components];
                let v: Vec<String> = v.iter().map(f64::to_string).collect();
                let ch = if kind.has_channels() {
                    s.channel.to_string()
                } else {
                    "event".into()
                };
                println!("{ch}\t{time}\t{}", v.join(","));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub(super) struct TailArgs {
    /// Session identity.
    id: String,
    /// Channel expression, e.g. 0-3,7 (default: every channel).
    #[arg(long, default_value = "-")]
    channels: String,
    /// Data type of the samples.
    #[arg(long = "type", default_value = "f64")]
    data_type: String,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

/// One line of `rta tail` per sample, event or time range.
fn print_burst(
    b: &rta_core::proto::stream::StreamDataBurst,
    t: ChannelDataType,
    json: bool,
) -> Result<()> {
    use rta_core::proto::stream::stream_data::Data;
    let sample = |ch: u32, time: i64, v: &[f64]| {
        if json {
            let value = if v.len() == 1 {
                serde_json::json!(v[0])
            } else {
                serde_json::json!(v)
            };
            println!(
                "{}",
                serde_json::json!({"channel": ch, "time": time, "value": value})
            );
        } else {
            let v: Vec<String> = v.iter().map(f64::to_string).collect();
            println!("{ch}\t{time}\t{}", v.join(","));
        }
    };
    for it in &b.data {
        let samples = match &it.data {
            Some(Data::TimestampedData(d)) => Some(crate::Samples::read(
                d.channel_id,
                rta_core::data::read_timestamps(d)?,
                &d.buffer,
                t,
            )?),
            Some(Data::PeriodicData(d)) => Some(crate::Samples::read(
                d.channel_id,
                rta_core::data::periodic_timestamps(d)?,
                &d.buffer,
                t,
            )?),
            _ => None,
        };
        if let Some(s) = samples {
            let w = s.components;
            for (i, time) in s.times.iter().enumerate() {
                sample(
                    s.channel,
                    *time,
                    s.values.get(i * w..(i + 1) * w).unwrap_or(&[]),
                );
            }
            continue;
        }
        match &it.data {
            Some(Data::Event(e)) if json => println!(
                "{}",
                serde_json::json!({"event": e.event_definition_id, "time": e.timestamp, "status": e.status_text})
            ),
            Some(Data::Event(e)) => {
                println!(
                    "event\t{}\t{} {}",
                    e.timestamp, e.event_definition_id, e.status_text
                )
            }
            Some(Data::TimeRange(r)) if json => println!(
                "{}",
                serde_json::json!({"timeRange": {"startTime": r.start_time, "endTime": r.end_time}})
            ),
            _ => {}
        }
    }
    Ok(())
}

pub(super) async fn tail(client: &RtaClient, a: TailArgs) -> Result<()> {
    let t: ChannelDataType = a
        .data_type
        .parse()
        .map_err(|e| Error::InvalidArgument(format!("--type: {e}")))?;
    let expr = rta_core::channels::ChannelExpr::parse(&a.channels)
        .map_err(|e| Error::InvalidArgument(format!("--channels {:?}: {e}", a.channels)))?;
    let channels = if expr.is_all() {
        None
    } else if expr.len() <= 100_000 {
        Some(expr.iter().collect())
    } else {
        return Err(Error::InvalidArgument(
            "--channels: at most 100,000 channels".into(),
        ));
    };
    let mut follow = client.rest()?.follow(&a.id, channels).await?;
    loop {
        let update = follow.next().await?;
        match update {
            crate::LiveUpdate::Burst(ref b) => {
                print_burst(b, t, a.json)?;
                // Through Redis the stream stays open after the session
                // ends: its final session JSON is the end.
                if let Some(state) = update.final_state() {
                    eprintln!("{}: session {state}", a.id);
                    return Ok(());
                }
            }
            crate::LiveUpdate::Ended(crate::Ended::Closed(1000, reason)) => {
                eprintln!("{}: {reason}", a.id);
                return Ok(());
            }
            crate::LiveUpdate::Ended(crate::Ended::Closed(code, reason)) => {
                return Err(Error::Service {
                    service: format!("live stream of {}", a.id),
                    status: format!("close {code}"),
                    message: reason,
                })
            }
            crate::LiveUpdate::Ended(crate::Ended::Dropped) => {
                return Err(Error::Unreachable {
                    url: client.rest()?.base_url().to_string(),
                    message: "the live stream dropped".into(),
                })
            }
        }
    }
}
