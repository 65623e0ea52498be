//! Consecutive time slices of a download's range, each sized from the data
//! rate seen so far to hold about a target number of bytes.
//!
//! A server sends each channel in time order but need not interleave the
//! channels: the native store sends one channel's whole range, then the
//! next. A reader that writes rows across channels (an export) must then
//! hold every channel but the last in memory. Asked for in slices, a long
//! range arrives a slice of all channels at a time, so the reader holds
//! about one slice.
//!
//! Slices are requested with inclusive bounds that touch: `[a, b]`, then
//! `[b, c]`, … — whether a server reads `end` as inclusive or not, every
//! time is in some slice. The range only places the boundaries: the first
//! slice starts and the last ends where the download does, so data outside
//! the range (a session's time range that is not exact) is not left out. A chunk overlapping two slices is sent for both;
//! the download recognises it the second time (chunk boundaries are
//! stable) and skips it.

/// Where a sliced download stands.
#[derive(Debug, Clone)]
pub(crate) struct Slices {
    /// Start of the current slice.
    at: i64,
    /// Its length (ns, at least 1).
    len: i64,
    /// Where slicing ends: the slice reaching it is the last.
    to: i64,
    /// Start of the first slice: the download's own start (`None`: from
    /// the earliest data), so slicing never leaves out data before `from`.
    first_start: Option<i64>,
    /// Whether the current slice is the first.
    first: bool,
    /// End of the last slice: the download's own end (`None`: open).
    last_end: Option<i64>,
    /// Bytes a slice should bring.
    target: u64,
    /// The shortest slice (so a range is never more than about
    /// [`MOST_SLICES`] requests).
    floor: i64,
}

/// Slices in the first guess at a range whose data rate is unknown.
const FIRST_GUESS: i64 = 64;
/// Slices of a range at most (about: the first guess may be off).
const MOST_SLICES: i64 = 4_096;
/// A slice is at most this many times as long as the one before (and at
/// least a quarter of it).
const GROWTH: i64 = 4;

impl Slices {
    /// Slices of `from..=to` (boundaries inside it), the first starting at
    /// `first_start` and the last ending at `last_end` — the download's own
    /// bounds —, each aiming at `target` bytes.
    pub(crate) fn new(
        (from, to): (i64, i64),
        (first_start, last_end): (Option<i64>, Option<i64>),
        target: u64,
    ) -> Self {
        let span = to.saturating_sub(from).max(0);
        Self {
            at: from,
            first_start,
            first: true,
            len: (span / FIRST_GUESS).max(1),
            to,
            last_end,
            target: target.max(1),
            floor: (span / MOST_SLICES).max(1),
        }
    }

    /// Bounds of the current slice.
    pub(crate) fn current(&self) -> (Option<i64>, Option<i64>) {
        let start = if self.first {
            self.first_start
        } else {
            Some(self.at)
        };
        if self.is_last() {
            (start, self.last_end)
        } else {
            (start, Some(self.at + self.len))
        }
    }

    fn is_last(&self) -> bool {
        self.at.saturating_add(self.len) >= self.to
    }

    /// Moves on after the current slice brought `bytes`; `false` when it
    /// was the last.
    pub(crate) fn advance(&mut self, bytes: u64) -> bool {
        if self.is_last() {
            return false;
        }
        self.at += self.len;
        self.first = false;
        let wanted = if bytes == 0 {
            self.len.saturating_mul(GROWTH)
        } else {
            let scaled = i128::from(self.len) * i128::from(self.target) / i128::from(bytes);
            i64::try_from(scaled).unwrap_or(i64::MAX)
        };
        let low = (self.len / GROWTH).max(self.floor);
        self.len = wanted.clamp(low, self.len.saturating_mul(GROWTH));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the rates, the slices touch, cover the range, end at
        /// the download's end and are finitely many.
        #[test]
        fn slices_cover_the_range(
            from in 0i64..1_000_000,
            span in 0i64..10_000_000,
            open in any::<bool>(),
            bytes in proptest::collection::vec(0u64..10_000_000, 1..200),
        ) {
            let to = from + span;
            let last_end = (!open).then_some(to);
            let first_start = open.then_some(from / 2);
            let mut s = Slices::new((from, to), (first_start, last_end), 1_000_000);
            let mut prev_end = None;
            let mut k = 0;
            loop {
                let (a, b) = s.current();
                match prev_end {
                    None => prop_assert_eq!(a, first_start, "the download's own start"),
                    Some(e) => prop_assert_eq!(a, Some(e), "slices touch"),
                }
                prev_end = b;
                if !s.advance(bytes[k % bytes.len()]) {
                    prop_assert_eq!(b, last_end, "the last slice ends where the download does");
                    break;
                }
                prop_assert!(b.is_some_and(|b| b < to && b > a.unwrap_or(i64::MIN)));
                k += 1;
                prop_assert!(k <= 2 * MOST_SLICES as usize, "too many slices");
            }
        }
    }

    #[test]
    fn slices_follow_the_data_rate() {
        let mut s = Slices::new((0, 1_000_000), (None, None), 100);
        assert_eq!(s.current(), (None, Some(15_625)));
        assert!(s.advance(25)); // a quarter of the target: 4 × longer
        assert_eq!(s.current(), (Some(15_625), Some(15_625 + 62_500)));
        assert!(s.advance(200)); // twice the target: half as long
        assert_eq!(s.current(), (Some(78_125), Some(78_125 + 31_250)));
    }
}
