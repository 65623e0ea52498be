//! Progress of a long command: a bar with samples/s and ETA on a terminal,
//! plain lines every few seconds otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar on a terminal; plain lines every few seconds otherwise.
pub(super) struct Progress {
    bar: ProgressBar,
    plain: bool,
    started: Instant,
    last_line: Instant,
    samples: u64,
}

impl Progress {
    pub(super) fn new(len: Option<u64>, what: &str) -> Self {
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

    pub(super) fn rate(&self) -> f64 {
        self.samples as f64 / self.started.elapsed().as_secs_f64().max(1e-6)
    }

    pub(super) fn add(&mut self, samples: u64, pos: Option<u64>) {
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

    /// Removes the bar without a summary (a pass that starts over).
    pub(super) fn clear(&self) {
        self.bar.finish_and_clear();
    }

    pub(super) fn finish(&self) {
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
