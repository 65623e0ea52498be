//! `rta import` and `rta export`: CSV files with a time column (integer
//! nanoseconds since the epoch) and one column per channel.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rta_core::config::{ChannelDataType, Config, ParameterSpec};
use rta_core::data::{timestamped, DataKind};

use crate::{Error, Result, RtaClient, SessionRequest, SessionState};

/// Rows written per batch.
const BATCH_ROWS: usize = 10_000;

#[derive(Debug, Args)]
pub(super) struct ImportArgs {
    /// The CSV file: a header, a time column (ns since the epoch), then one column per channel.
    file: PathBuf,
    /// Identity of the session to create.
    #[arg(long)]
    session: String,
    /// Publish a config with one f64 parameter per column (named as the
    /// column) and bind it to the session.
    #[arg(long)]
    config_from_columns: bool,
}

#[derive(Debug, Args)]
pub(super) struct ExportArgs {
    /// Session identity.
    id: String,
    /// Channel expression, e.g. 0-3,7.
    #[arg(long, default_value = "-")]
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
    /// Data type of the samples.
    #[arg(long = "type", default_value = "f64")]
    data_type: String,
    /// Output format (csv).
    #[arg(long, default_value = "csv")]
    format: String,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
}

/// A progress bar on a terminal; plain lines every few seconds otherwise.
struct Progress {
    bar: ProgressBar,
    plain: bool,
    started: Instant,
    last_line: Instant,
    samples: u64,
}

impl Progress {
    fn new(len: Option<u64>, what: &str) -> Self {
        let plain = !std::io::stderr().is_terminal();
        let bar = match len {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        };
        if plain {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let template = if len.is_some() {
            "{spinner} {prefix} [{bar:30}] {percent}% {msg} eta {eta}"
        } else {
            "{spinner} {prefix} {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_string());
        Self {
            bar,
            plain,
            started: Instant::now(),
            last_line: Instant::now(),
            samples: 0,
        }
    }

    fn rate(&self) -> f64 {
        self.samples as f64 / self.started.elapsed().as_secs_f64().max(1e-6)
    }

    fn add(&mut self, samples: u64, pos: Option<u64>) {
        self.samples += samples;
        if let Some(p) = pos {
            self.bar.set_position(p);
        }
        let msg = format!("{} samples, {:.0} samples/s", self.samples, self.rate());
        if self.plain && self.last_line.elapsed() >= Duration::from_secs(2) {
            eprintln!("{}: {msg}", self.bar.prefix());
            self.last_line = Instant::now();
        }
        self.bar.set_message(msg);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
        eprintln!(
            "{}: {} samples in {:.1} s ({:.0} samples/s)",
            self.bar.prefix(),
            self.samples,
            self.started.elapsed().as_secs_f64(),
            self.rate()
        );
    }
}

fn csv_error(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{}: {e}", path.display()))
}

pub(super) async fn import(client: &RtaClient, a: ImportArgs) -> Result<()> {
    let size = std::fs::metadata(&a.file)
        .map_err(|source| Error::Io {
            path: a.file.display().to_string(),
            source,
        })?
        .len();
    let mut rd = csv::Reader::from_path(&a.file).map_err(|e| csv_error(&a.file, e))?;
    let header: Vec<String> = rd
        .headers()
        .map_err(|e| csv_error(&a.file, e))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.len() < 2 {
        return Err(csv_error(
            &a.file,
            "needs a time column and at least one channel column",
        ));
    }
    let channels = header.len() - 1;
    let mut session = SessionRequest::new(&a.session, SessionState::Open).identifier(
        a.file
            .file_name()
            .map_or(a.session.clone(), |n| n.to_string_lossy().to_string()),
    );
    if a.config_from_columns {
        let mut b = Config::builder(&a.session);
        for name in &header[1..] {
            b = b.parameter(ParameterSpec::new(name, ChannelDataType::F64).timestamped());
        }
        let config = b.build()?;
        client.put_config(&a.session, &config).await?;
        session = session.config_binding(&a.session, 0);
    }
    client.put_session(session).await?;
    let writer = client.writer(&a.session).await?;
    let mut progress = Progress::new(Some(size), "import");
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let mut times: Vec<Vec<i64>> = vec![Vec::new(); channels];
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); channels];
    let mut rows = 0usize;
    let mut record = csv::StringRecord::new();
    loop {
        let more = rd
            .read_record(&mut record)
            .map_err(|e| csv_error(&a.file, e))?;
        if more {
            let line = record.position().map_or(0, |p| p.line());
            let t: i64 = record.get(0).unwrap_or("").trim().parse().map_err(|_| {
                csv_error(
                    &a.file,
                    format_args!("line {line}: the time is not integer nanoseconds"),
                )
            })?;
            first = first.min(t);
            last = last.max(t);
            for ch in 0..channels {
                let cell = record.get(ch + 1).unwrap_or("").trim();
                if cell.is_empty() {
                    continue; // no sample of this channel at this time
                }
                let v: f64 = cell.parse().map_err(|_| {
                    csv_error(
                        &a.file,
                        format_args!(
                            "line {line}, column {:?}: {cell:?} is not a number",
                            header[ch + 1]
                        ),
                    )
                })?;
                times[ch].push(t);
                values[ch].push(v);
            }
            rows += 1;
        }
        if rows == BATCH_ROWS || (!more && rows > 0) {
            let mut n = 0;
            for ch in 0..channels {
                if times[ch].is_empty() {
                    continue;
                }
                n += times[ch].len() as u64;
                let d = timestamped(ch as u32, &times[ch], &values[ch])?;
                writer.timestamped(d).await?;
                times[ch].clear();
                values[ch].clear();
            }
            rows = 0;
            progress.add(n, Some(rd.position().byte()));
        }
        if !more {
            break;
        }
    }
    writer.close().await?;
    let mut done = SessionRequest::update(&a.session).state(SessionState::Closed);
    if first <= last {
        done = done.time_range(first, last);
    }
    client.put_session(done).await?;
    progress.finish();
    Ok(())
}

pub(super) async fn export(client: &RtaClient, a: ExportArgs) -> Result<()> {
    if a.format != "csv" {
        return Err(Error::InvalidArgument(format!(
            "--format {:?}: this build writes csv",
            a.format
        )));
    }
    let kind = match a.kind.as_str() {
        "timestamped" => DataKind::Timestamped,
        "periodic" => DataKind::Periodic,
        k => {
            return Err(Error::InvalidArgument(format!(
                "--kind {k:?}: use timestamped or periodic"
            )))
        }
    };
    let t: ChannelDataType = a
        .data_type
        .parse()
        .map_err(|e| Error::InvalidArgument(format!("--type: {e}")))?;
    rta_core::channels::ChannelExpr::parse(&a.channels)
        .map_err(|e| Error::InvalidArgument(format!("--channels {:?}: {e}", a.channels)))?;
    client.rest()?.session(&a.id).await?; // a clear error for an unknown session
    let mut d = client
        .rest()?
        .download(&a.id, kind, &a.channels, a.start, a.end);
    let mut progress = Progress::new(None, "export");
    // time -> channel -> value
    let mut table: BTreeMap<i64, BTreeMap<u32, f64>> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(c) = d.next_chunk().await? {
        let mut n = 0;
        for s in crate::Samples::from_chunk(&c, kind, t)? {
            seen.insert(s.channel);
            for (i, time) in s.times.iter().enumerate() {
                table
                    .entry(*time)
                    .or_default()
                    .insert(s.channel, s.values[i * s.components]);
            }
            n += s.times.len() as u64;
        }
        progress.add(n, None);
    }
    let mut w = csv::Writer::from_path(&a.out).map_err(|e| csv_error(&a.out, e))?;
    let mut head = vec!["time".to_string()];
    head.extend(seen.iter().map(u32::to_string));
    w.write_record(&head).map_err(|e| csv_error(&a.out, e))?;
    for (time, row) in table {
        let mut rec = vec![time.to_string()];
        rec.extend(
            seen.iter()
                .map(|c| row.get(c).map_or(String::new(), f64::to_string)),
        );
        w.write_record(&rec).map_err(|e| csv_error(&a.out, e))?;
    }
    w.flush().map_err(|source| Error::Io {
        path: a.out.display().to_string(),
        source,
    })?;
    progress.finish();
    Ok(())
}
