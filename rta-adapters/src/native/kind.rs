//! What the store needs to know about each data kind beyond
//! [`rta_core::data::DataItem`]: sample width, the size of an unsplittable
//! unit, and the canonical merge used when late data lands on stored data.

use rta_core::data::{encode_timestamps, periodic_timestamps, read_timestamps, DataKind, ListOf};
use rta_core::proto::data::{Event, PeriodicData, RowData, TimestampedData};
use rta_core::{Error, Result};

/// An item type the native store keeps.
pub(crate) trait StoredItem: ListOf {
    /// Kind code used in the index (1 timestamped, 2 periodic, 3 row, 4 events).
    const CODE: i32;

    /// Bytes per sample, for kinds whose samples have a fixed width.
    fn width(&self) -> Option<usize>;

    /// Serialized size of the smallest part that cannot be split off (a
    /// sample, a row, an event).
    fn unit_bytes(&self) -> usize;

    /// Merges items into a sorted list of items that do not overlap each
    /// other. `items` come in write order (stored items first); where two
    /// samples share a time the later one wins (a re-sent sample replaces
    /// the stored one). Events are points, so distinct events at one time
    /// are all kept and only exact duplicates dropped.
    fn merge_items(items: Vec<Self>, max_run: usize) -> Result<Vec<Self>>;

    /// Sample rate (Hz) the item shows by itself, if any.
    fn rate_hint(&self) -> Option<f64> {
        None
    }
}

/// The data kind of a code.
pub(crate) fn kind_of_code(code: i32) -> Result<DataKind> {
    Ok(match code {
        1 => DataKind::Timestamped,
        2 => DataKind::Periodic,
        3 => DataKind::Row,
        4 => DataKind::Events,
        c => return Err(Error::Internal(format!("unknown stream kind {c} in index"))),
    })
}

/// `(time, item index, sample index)`, sorted stably by time with the last
/// entry of each time kept.
fn sorted_latest(mut entries: Vec<(i64, u32, u32)>) -> Vec<(i64, u32, u32)> {
    entries.sort_by_key(|e| e.0);
    let mut out: Vec<(i64, u32, u32)> = Vec::with_capacity(entries.len());
    for e in entries {
        match out.last_mut() {
            Some(last) if last.0 == e.0 => *last = e,
            _ => out.push(e),
        }
    }
    out
}

fn common_width(widths: impl Iterator<Item = Option<usize>>) -> Result<usize> {
    let mut w: Option<usize> = None;
    for x in widths.flatten() {
        match w {
            None => w = Some(x),
            Some(prev) if prev != x => {
                return Err(Error::Data(format!(
                    "samples of {x} bytes cannot be merged with samples of {prev} bytes"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(w.unwrap_or(0))
}

fn gather(items_buf: &[&[u8]], run: &[(i64, u32, u32)], w: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(run.len() * w);
    for e in run {
        let b = items_buf[e.1 as usize];
        let at = e.2 as usize * w;
        buf.extend_from_slice(&b[at..at + w]);
    }
    buf
}

impl StoredItem for TimestampedData {
    const CODE: i32 = 1;

    fn width(&self) -> Option<usize> {
        let n = self.timestamp_deltas.len();
        (n > 0).then(|| self.buffer.len() / n)
    }

    fn unit_bytes(&self) -> usize {
        self.width().unwrap_or(0)
    }

    fn rate_hint(&self) -> Option<f64> {
        let n = self.timestamp_deltas.len();
        let (s, e) = rta_core::data::DataItem::time_bounds(self)?;
        (n >= 2 && e > s).then(|| (n - 1) as f64 * 1e9 / (e - s) as f64)
    }

    fn merge_items(items: Vec<Self>, max_run: usize) -> Result<Vec<Self>> {
        let Some(channel_id) = items.first().map(|i| i.channel_id) else {
            return Ok(Vec::new());
        };
        let w = common_width(items.iter().map(StoredItem::width))?;
        let mut entries = Vec::new();
        for (k, it) in items.iter().enumerate() {
            for (i, t) in read_timestamps(it)?.into_iter().enumerate() {
                entries.push((t, k as u32, i as u32));
            }
        }
        let entries = sorted_latest(entries);
        let bufs: Vec<&[u8]> = items.iter().map(|i| &i.buffer[..]).collect();
        let mut out = Vec::with_capacity(entries.len() / max_run.max(1) + 1);
        for run in entries.chunks(max_run.max(1)) {
            let times: Vec<i64> = run.iter().map(|e| e.0).collect();
            let (start_timestamp, timestamp_deltas_scale, timestamp_deltas) =
                encode_timestamps(&times)?;
            out.push(TimestampedData {
                channel_id,
                start_timestamp,
                timestamp_deltas_scale,
                timestamp_deltas,
                buffer: gather(&bufs, run, w).into(),
            });
        }
        Ok(out)
    }
}

impl StoredItem for PeriodicData {
    const CODE: i32 = 2;

    fn width(&self) -> Option<usize> {
        (self.samples > 0).then(|| self.buffer.len() / self.samples as usize)
    }

    fn unit_bytes(&self) -> usize {
        self.width().unwrap_or(0)
    }

    fn rate_hint(&self) -> Option<f64> {
        (self.interval > 0).then(|| 1e9 / self.interval as f64)
    }

    fn merge_items(items: Vec<Self>, max_run: usize) -> Result<Vec<Self>> {
        let Some(channel_id) = items.first().map(|i| i.channel_id) else {
            return Ok(Vec::new());
        };
        let max_run = max_run.max(1);
        let w = common_width(items.iter().map(StoredItem::width))?;
        let mut entries = Vec::new();
        for (k, it) in items.iter().enumerate() {
            for (i, t) in periodic_timestamps(it)?.into_iter().enumerate() {
                entries.push((t, k as u32, i as u32));
            }
        }
        let e = sorted_latest(entries);
        let bufs: Vec<&[u8]> = items.iter().map(|i| &i.buffer[..]).collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < e.len() {
            let mut j = i + 1;
            let interval = if j < e.len() {
                let d = e[j].0 - e[i].0;
                while j < e.len() && j - i < max_run && e[j].0 - e[j - 1].0 == d {
                    j += 1;
                }
                if j - i == 1 {
                    items[e[i].1 as usize].interval.max(1)
                } else {
                    d
                }
            } else {
                items[e[i].1 as usize].interval.max(1)
            };
            let run = &e[i..j];
            out.push(PeriodicData {
                channel_id,
                start_timestamp: e[i].0,
                interval,
                samples: run.len() as i32,
                buffer: gather(&bufs, run, w).into(),
            });
            i = j;
        }
        Ok(out)
    }
}

impl StoredItem for RowData {
    const CODE: i32 = 3;

    fn width(&self) -> Option<usize> {
        None
    }

    fn unit_bytes(&self) -> usize {
        prost::Message::encoded_len(self)
    }

    fn merge_items(items: Vec<Self>, _max_run: usize) -> Result<Vec<Self>> {
        let entries = items
            .iter()
            .enumerate()
            .map(|(k, r)| (r.timestamp, k as u32, 0))
            .collect();
        let keep = sorted_latest(entries);
        let mut slots: Vec<Option<RowData>> = items.into_iter().map(Some).collect();
        Ok(keep
            .into_iter()
            .filter_map(|e| slots[e.1 as usize].take())
            .collect())
    }
}

impl StoredItem for Event {
    const CODE: i32 = 4;

    fn width(&self) -> Option<usize> {
        None
    }

    fn unit_bytes(&self) -> usize {
        prost::Message::encoded_len(self)
    }

    fn merge_items(mut items: Vec<Self>, _max_run: usize) -> Result<Vec<Self>> {
        items.sort_by_key(|e| e.timestamp);
        let mut out: Vec<Event> = Vec::with_capacity(items.len());
        let mut group_start = 0;
        for ev in items {
            if out.last().is_some_and(|l| l.timestamp != ev.timestamp) {
                group_start = out.len();
            }
            if !out[group_start..].contains(&ev) {
                out.push(ev);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rta_core::data::{periodic, read_samples, timestamped, DataItem};

    #[test]
    fn timestamped_merge_later_wins_and_no_overlaps() {
        let a = timestamped(1, &[0, 10, 20, 30], &[1.0f64, 2.0, 3.0, 4.0]).unwrap();
        let b = timestamped(1, &[5, 20, 40], &[9.0f64, 8.0, 7.0]).unwrap();
        let out = TimestampedData::merge_items(vec![a, b], 2).unwrap();
        let mut times = Vec::new();
        let mut vals = Vec::new();
        let mut prev_end = i64::MIN;
        for it in &out {
            let (s, e) = it.time_bounds().unwrap();
            assert!(s > prev_end);
            prev_end = e;
            times.extend(read_timestamps(it).unwrap());
            vals.extend(read_samples::<f64>(&it.buffer).unwrap());
        }
        assert_eq!(times, vec![0, 5, 10, 20, 30, 40]);
        assert_eq!(vals, vec![1.0, 9.0, 2.0, 8.0, 4.0, 7.0]);
        assert!(out.iter().all(|i| i.sample_count() <= 2));
    }

    #[test]
    fn periodic_merge_keeps_runs() {
        let a = periodic(2, 0, 10, &[1u16, 2, 3, 4, 5]).unwrap();
        let b = periodic(2, 25, 10, &[7u16]).unwrap();
        let out = PeriodicData::merge_items(vec![a, b], 128).unwrap();
        let all: Vec<(i64, u16)> = out
            .iter()
            .flat_map(|p| {
                periodic_timestamps(p)
                    .unwrap()
                    .into_iter()
                    .zip(read_samples::<u16>(&p.buffer).unwrap())
            })
            .collect();
        assert_eq!(
            all,
            vec![(0, 1), (10, 2), (20, 3), (25, 7), (30, 4), (40, 5)]
        );
        assert_eq!(out[0].samples, 3);
    }

    #[test]
    fn events_keep_distinct_same_time() {
        let e = |id, t| Event {
            event_definition_id: id,
            timestamp: t,
            ..Default::default()
        };
        let out = Event::merge_items(vec![e(1, 5), e(2, 5), e(1, 5), e(3, 1)], 0).unwrap();
        assert_eq!(out, vec![e(3, 1), e(1, 5), e(2, 5)]);
    }
}
