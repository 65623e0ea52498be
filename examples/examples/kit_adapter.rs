//! `kit_adapter`: typed CSV files through the adapter kit. `DIR/NAME.csv` is identity `NAME`:
//! a header `time_ns,vCar:f64,gear:u8,...` then rows in time order; column k is channel k.
//! Only `SampleSource` is written here; the kit does grid, chunks, limits, LZ4 and cache.
//! `cargo run --example kit_adapter -- --data-dir DIR` (`rta-server`'s options)
use std::{path::PathBuf, sync::Arc};

use async_trait::async_trait;
use rta::adapters::kit::{self, field_mapping, Batch, BatchStream, ChunkCache, KitService};
use rta::adapters::kit::{SampleSource, Samples, SourceInfo, SourceQuery};
use rta::core::{Error, Result};
use rta::service::{options::RtaServerOptions, server::DataBackend, server::RtaServer};

/// A directory of typed CSV files.
pub struct TypedCsv(pub PathBuf);

/// One file: column names, times, and one typed column per channel.
pub struct Table(pub Vec<String>, pub Vec<i64>, pub Vec<Samples>);

impl TypedCsv {
    /// Parses `DIR/{identity}.csv`; `None` when there is no such file.
    pub fn table(&self, identity: &str) -> Result<Option<Table>> {
        let path = self.0.join(format!("{identity}.csv"));
        let text = match std::fs::read_to_string(&path) {
            Ok(t) if !identity.contains(['/', '\\', '.']) => t, // never leave the directory
            _ => return Ok(None),
        };
        let bad = |n, what| Error::InvalidArgument(format!("{}:{n}: {what}", path.display()));
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let (mut names, mut cols, mut times) = (Vec::new(), Vec::new(), Vec::new());
        let header = lines.next().unwrap_or_default();
        for h in header.split(',').skip(1).map(str::trim) {
            let (name, ty) = h.split_once(':').unwrap_or((h, "f64"));
            cols.push(Samples::of_type(ty).ok_or_else(|| bad(1, "unknown type"))?);
            names.push(name.to_string());
        }
        for (n, line) in lines.enumerate() {
            let mut cells = line.split(',').map(str::trim);
            let time = cells.next().and_then(|t| t.parse().ok());
            times.push(time.ok_or_else(|| bad(n + 2, "bad time"))?);
            for col in &mut cols {
                let ok = cells.next().map(|c| col.push_str(c));
                ok.and_then(|r| r.ok())
                    .ok_or_else(|| bad(n + 2, "bad value"))?;
            }
        }
        Ok(Some(Table(names, times, cols)))
    }
}

#[async_trait]
impl SampleSource for TypedCsv {
    async fn describe(&self, identity: &str) -> Result<Option<SourceInfo>> {
        let Some(Table(names, times, _)) = self.table(identity)? else {
            return Ok(None);
        };
        let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
            return Ok(None); // no rows yet
        };
        let rate = ((times.len() - 1) as f64 * 1e9 / (last - first).max(1) as f64).round(); // Hz
        let mapping = field_mapping(names.into_iter().zip(0..)); // column k is channel k
        Ok(Some(
            SourceInfo::rate(rate).extent(first, last).mapping(mapping),
        ))
    }

    async fn read(&self, q: SourceQuery) -> Result<BatchStream> {
        let Some(Table(names, times, cols)) = self.table(&q.identity)? else {
            return Ok(kit::batches([]));
        };
        let from = times.partition_point(|t| *t < q.start.unwrap_or(i64::MIN));
        let to = times.partition_point(|t| *t <= q.end.unwrap_or(i64::MAX));
        let mut batches = Vec::new();
        for (field, channel) in q.fields() {
            if let Some(k) = names.iter().position(|n| n == field) {
                let (times, values) = (times[from..to].to_vec(), cols[k].slice(from..to));
                batches.push(Batch::Timestamped {
                    channel,
                    times,
                    values,
                });
            }
        }
        Ok(kit::batches(batches))
    }
}

#[tokio::main]
async fn main() -> rta::service::Result<()> {
    let opts = RtaServerOptions::from_env()?;
    let files = TypedCsv(opts.service.data_dir.clone());
    let kit = KitService::new(files).with_cache(Arc::new(ChunkCache::new(256 << 20)));
    let server = RtaServer::builder(opts.service.data_dir.join(".rta")) // metadata only
        .data(DataBackend::read_only(Arc::new(kit)))
        .build()
        .await?;
    server.serve(&opts.service).await
}
