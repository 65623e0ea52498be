//! One pass of an export over the downloaded items: rows written by time
//! window as the items arrive ([`Rows`]), with what has to be known before
//! the first batch is written — which channels have columns, which columns
//! are nullable — guessed from the data seen so far and checked as the rest
//! arrives.
//!
//! A guess that turns out wrong (a channel appearing after the first batch,
//! an empty cell in a column written as non-nullable) ends the writing; the
//! pass goes on reading to learn the facts, and the export starts over with
//! them ([`Outcome::Retry`]). Items that break the channels' time order
//! cannot be written by window at all ([`Outcome::OneTable`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use rta_core::chunk::Chunk;
use rta_core::data::{periodic_timestamps, DataKind};
use rta_core::proto::data::PeriodicDataList;
use rta_core::timed::TimedDecoder;

use super::rows::{Pushed, Rows, Taken};
use crate::arrow::ChannelColumn;
use crate::Result;

/// Sizes of a pass.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Final rows gathered before they are built into a batch.
    pub(super) window_rows: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            window_rows: super::BATCH_ROWS,
        }
    }
}

/// The samples of one item of a chunk.
pub(super) struct Item {
    pub(super) channel: u32,
    /// Sample times (shared by the items of a chunk that have the same).
    pub(super) times: Arc<[i64]>,
    /// Whether `times` strictly increases.
    pub(super) increasing: bool,
    pub(super) values: Bytes,
}

/// The items of a chunk of `kind` data, their times decoded (timestamped
/// ones by `decoder`, which shares the times of channels on one clock).
pub(super) fn items(c: &Chunk, kind: DataKind, decoder: &mut TimedDecoder) -> Result<Vec<Item>> {
    if kind == DataKind::Timestamped {
        Ok(decoder
            .decode(c.unpacked()?)?
            .into_iter()
            .map(|d| Item {
                channel: d.channel_id,
                times: d.times,
                increasing: d.increasing,
                values: d.buffer,
            })
            .collect())
    } else {
        let list: PeriodicDataList = c.decode_list()?;
        list.periodic_data
            .into_iter()
            .map(|d| {
                Ok(Item {
                    channel: d.channel_id,
                    times: periodic_timestamps(&d)?.into(),
                    increasing: d.interval > 0 || d.samples <= 1,
                    values: d.buffer,
                })
            })
            .collect()
    }
}

/// What a pass knows before it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Knowledge {
    /// The channels that have data: exactly these (from an earlier pass),
    /// or `None`.
    pub(super) channels: Option<BTreeSet<u32>>,
    /// Channels whose columns have an empty cell.
    pub(super) nullable: BTreeSet<u32>,
}

/// To the file writer.
#[derive(Debug)]
pub(super) enum Msg {
    /// Create the file for batches of this schema.
    Start(SchemaRef),
    /// Append rows.
    Batch(RecordBatch),
    /// Finish the file.
    Finish,
}

/// How a pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The file is written.
    Written,
    /// The file's schema was guessed wrong (why); start over knowing this.
    Retry(Knowledge, String),
    /// Only the one-table path gives this data's result (why).
    OneTable(String),
}

enum State {
    /// Items held until the columns are known.
    Collecting { items: Vec<Item> },
    /// Rows written as they become final.
    Writing(Rows),
    /// Writing ended (why); rows still built to learn where cells are empty.
    Learning(Rows, String),
    /// Given up on windows (why).
    OneTable(String),
}

/// One pass: fed the items of each chunk, it hands [`Msg`]s to a sink.
pub(super) struct Attempt<F> {
    column: F,
    knowledge: Knowledge,
    /// Channels of the request (`None`: any), when the pass has no better.
    requested: Option<BTreeSet<u32>>,
    seen: BTreeSet<u32>,
    state: State,
    started: bool,
    limits: Limits,
}

impl<F: Fn(usize, u32) -> ChannelColumn> Attempt<F> {
    /// A pass; `column(k, channel)` names and types the `k`-th channel
    /// column (`k` from 1, after `time`).
    pub(super) fn new(
        column: F,
        knowledge: Knowledge,
        requested: Option<BTreeSet<u32>>,
        limits: Limits,
    ) -> Self {
        Self {
            column,
            knowledge,
            requested,
            seen: BTreeSet::new(),
            state: State::Collecting { items: Vec::new() },
            started: false,
            limits,
        }
    }

    /// Why the pass stopped writing by windows for good, if it did.
    pub(super) fn one_table(&self) -> Option<&str> {
        match &self.state {
            State::OneTable(why) => Some(why),
            _ => None,
        }
    }

    /// Takes the items of one chunk.
    pub(super) fn feed(
        &mut self,
        items: Vec<Item>,
        sink: &mut impl FnMut(Msg) -> Result<()>,
    ) -> Result<()> {
        for it in &items {
            self.seen.insert(it.channel);
        }
        if let State::Collecting { items: held } = &mut self.state {
            held.extend(items);
            if self.settled() {
                self.settle();
            }
        } else {
            for it in items {
                let channel = it.channel;
                let pushed = match &mut self.state {
                    State::Writing(rows) | State::Learning(rows, _) => {
                        rows.push(channel, it.times, it.increasing, it.values)
                    }
                    _ => return Ok(()),
                };
                self.state_after(pushed, channel);
            }
        }
        while let State::Writing(rows) | State::Learning(rows, _) = &mut self.state {
            if !rows.ready() {
                break;
            }
            let taken = rows.take(false)?;
            self.emit(taken, sink)?;
        }
        Ok(())
    }

    /// The end of the data: the last rows, and how the pass went.
    pub(super) fn end(mut self, sink: &mut impl FnMut(Msg) -> Result<()>) -> Result<Outcome> {
        if matches!(self.state, State::Collecting { .. }) {
            self.settle();
        }
        if let State::Writing(rows) | State::Learning(rows, _) = &mut self.state {
            let taken = rows.take(true)?;
            self.emit(taken, sink)?;
        }
        match self.state {
            State::Collecting { .. } => Ok(Outcome::OneTable("no columns settled".into())),
            State::OneTable(why) => Ok(Outcome::OneTable(why)),
            State::Learning(rows, why) => Ok(Outcome::Retry(
                Knowledge {
                    channels: Some(self.seen),
                    nullable: rows.nullable().clone(),
                },
                why,
            )),
            State::Writing(rows) => {
                if !self.started {
                    sink(Msg::Start(rows.schema()))?;
                }
                sink(Msg::Finish)?;
                Ok(Outcome::Written)
            }
        }
    }

    /// Whether the columns can be fixed now: every channel expected has
    /// been seen (else they are at the end of the data).
    fn settled(&self) -> bool {
        if !matches!(self.state, State::Collecting { .. }) {
            return true;
        }
        let expected = self.knowledge.channels.as_ref().or(self.requested.as_ref());
        expected.is_some_and(|e| e.is_subset(&self.seen))
    }

    /// `channel`'s own request has ended: if it had no data, it is not
    /// waited for.
    pub(super) fn ended(&mut self, channel: u32) {
        if self.seen.contains(&channel) {
            return;
        }
        for e in [&mut self.knowledge.channels, &mut self.requested]
            .into_iter()
            .flatten()
        {
            e.remove(&channel);
        }
        if self.settled() {
            self.settle();
        }
    }

    /// Columns for the channels seen so far; the held items go into rows.
    fn settle(&mut self) {
        let columns: Vec<ChannelColumn> = self
            .seen
            .iter()
            .enumerate()
            .map(|(k, &ch)| (self.column)(k + 1, ch))
            .collect();
        let mut rows = Rows::new(
            columns,
            self.knowledge.nullable.clone(),
            self.limits.window_rows,
        );
        let placeholder = State::OneTable(String::new());
        let held = match std::mem::replace(&mut self.state, placeholder) {
            State::Collecting { items, .. } => items,
            other => {
                self.state = other;
                return;
            }
        };
        for it in held {
            let channel = it.channel;
            let pushed = rows.push(channel, it.times, it.increasing, it.values);
            if let Some(why) = broken(pushed, channel) {
                self.state = State::OneTable(why);
                return;
            }
        }
        self.state = State::Writing(rows);
    }

    /// The state after an item was pushed in `Writing` or `Learning`.
    fn state_after(&mut self, p: Pushed, channel: u32) {
        if let Some(why) = broken(p, channel) {
            self.state = State::OneTable(why);
        } else if p == Pushed::Unknown {
            self.learn(format!(
                "channel {channel} appeared after the first rows were written"
            ));
        }
    }

    /// Stops writing; the pass goes on learning (why).
    fn learn(&mut self, why: String) {
        let state = std::mem::replace(&mut self.state, State::OneTable(String::new()));
        self.state = match state {
            State::Writing(rows) => State::Learning(rows, why),
            other => other,
        };
    }

    fn emit(
        &mut self,
        taken: Option<Taken>,
        sink: &mut impl FnMut(Msg) -> Result<()>,
    ) -> Result<()> {
        let State::Writing(rows) = &self.state else {
            return Ok(()); // learning: the rows only tell where cells are empty
        };
        match taken {
            None => {}
            Some(Taken::Batch(b)) => {
                if !self.started {
                    sink(Msg::Start(rows.schema()))?;
                    self.started = true;
                }
                sink(Msg::Batch(b))?;
            }
            Some(Taken::Widened(chs)) => self.learn(format!(
                "channel {} has empty cells after the first rows were written without",
                chs[0]
            )),
        }
        Ok(())
    }
}

/// Why an item stops the rows being built by windows.
fn broken(p: Pushed, channel: u32) -> Option<String> {
    match p {
        Pushed::OutOfOrder => Some(format!("channel {channel}'s times are not increasing")),
        Pushed::BadSize => Some(format!(
            "an item of channel {channel} has a buffer of a size its times do not match"
        )),
        Pushed::Added | Pushed::Unknown => None,
    }
}
