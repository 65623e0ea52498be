//! Channel expressions: sets of channel ids written as hexadecimal ids and
//! ranges, as used in the REST data paths
//! (`/sessions/{identity}/data/timestamped/{channels}`) and in the gRPC data
//! and schema mapping services.
//!
//! # Syntax
//!
//! An expression is a comma-separated list of items. Each item is either
//!
//! - a single id: `7`, `1A`;
//! - a closed range `first-last` (both inclusive): `B-D`;
//! - an open-started range `-last`, meaning `0-last`: `-5`;
//! - an open-ended range `first-`, meaning `first-FFFFFFFF`: `14-`;
//! - `-` alone, meaning every channel.
//!
//! Ids are unsigned 32-bit hexadecimal numbers without a prefix. Parsing is
//! lenient where the meaning is unambiguous and strict everywhere else:
//!
//! - hex digits may be upper or lower case, and leading zeros are allowed;
//! - ASCII whitespace around items and around the bounds of a range is ignored;
//! - items may overlap or come in any order; the set is normalised;
//! - an empty expression, an empty item (`1,,2`, a trailing comma), a non-hex
//!   character (including `0x` prefixes and signs), a value above `FFFFFFFF`
//!   and a reversed range (`D-B`) are errors.
//!
//! Formatting ([`Display`](std::fmt::Display)) is canonical: upper-case hex
//! without leading zeros, ranges sorted and merged when they overlap or touch,
//! a range starting at 0 written open-started (`-5`) and a range ending at
//! `FFFFFFFF` written open-ended (`14-`). So formatting then parsing gives back
//! the same set, and equal sets format identically.
//!
//! ```
//! use rta_core::channels::ChannelExpr;
//!
//! let expr: ChannelExpr = "14-, b-d ,7,-5,C".parse().unwrap();
//! assert_eq!(expr.to_string(), "-5,7,B-D,14-");
//! assert!(expr.contains(0xC));
//! assert!(!expr.contains(0x6));
//! assert!(expr.contains(u32::MAX));
//! ```

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::{Error, Result};

/// A set of channel ids, kept as sorted, disjoint, non-adjacent inclusive
/// ranges.
///
/// Parse one from the expression syntax described in the
/// [module documentation](self), or build one with [`ChannelExpr::from_ids`],
/// [`ChannelExpr::from_ranges`], [`ChannelExpr::range`] or [`ChannelExpr::all`].
///
/// ```
/// use rta_core::channels::ChannelExpr;
///
/// // 0..=5, 7, 0xB..=0xD and 0x14..=u32::MAX
/// let expr: ChannelExpr = "-5,7,B-D,14-".parse().unwrap();
/// assert!(expr.contains(0xC));
/// assert_eq!(expr.iter().take(8).collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5, 7, 0xB]);
///
/// let wanted = ChannelExpr::from_ids([3, 6, 0xC, 0x100]);
/// assert_eq!(expr.intersect(&wanted).to_string(), "3,C,100");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ChannelExpr {
    /// Sorted, disjoint, non-adjacent `(first, last)` pairs with `first <= last`.
    ranges: Vec<(u32, u32)>,
}

impl ChannelExpr {
    /// The empty set (no channels).
    pub const fn empty() -> Self {
        ChannelExpr { ranges: Vec::new() }
    }

    /// Every channel, `0..=u32::MAX` (written `-`).
    pub fn all() -> Self {
        ChannelExpr {
            ranges: vec![(0, u32::MAX)],
        }
    }

    /// A single channel id.
    pub fn single(id: u32) -> Self {
        ChannelExpr {
            ranges: vec![(id, id)],
        }
    }

    /// The ids `first..=last`; empty when `first > last`.
    pub fn range(first: u32, last: u32) -> Self {
        if first > last {
            Self::empty()
        } else {
            ChannelExpr {
                ranges: vec![(first, last)],
            }
        }
    }

    /// The set of the given ids, in any order, duplicates allowed.
    ///
    /// ```
    /// use rta_core::channels::ChannelExpr;
    /// let e = ChannelExpr::from_ids([5, 1, 2, 3, 9, 2]);
    /// assert_eq!(e.to_string(), "1-3,5,9");
    /// ```
    pub fn from_ids(ids: impl IntoIterator<Item = u32>) -> Self {
        let mut ids: Vec<u32> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for id in ids {
            match ranges.last_mut() {
                Some(last) if last.1.checked_add(1) == Some(id) => last.1 = id,
                _ => ranges.push((id, id)),
            }
        }
        ChannelExpr { ranges }
    }

    /// The union of the given inclusive ranges, in any order; empty ranges
    /// (`start > end`) are ignored.
    pub fn from_ranges(ranges: impl IntoIterator<Item = RangeInclusive<u32>>) -> Self {
        Self::normalise(
            ranges
                .into_iter()
                .filter(|r| r.start() <= r.end())
                .map(|r| (*r.start(), *r.end()))
                .collect(),
        )
    }

    /// Sorts and merges overlapping or adjacent pairs (all with `first <= last`).
    fn normalise(mut pairs: Vec<(u32, u32)>) -> Self {
        pairs.sort_unstable();
        let mut ranges: Vec<(u32, u32)> = Vec::with_capacity(pairs.len());
        for (first, last) in pairs {
            match ranges.last_mut() {
                Some(prev) if u64::from(first) <= u64::from(prev.1) + 1 => {
                    prev.1 = prev.1.max(last);
                }
                _ => ranges.push((first, last)),
            }
        }
        ChannelExpr { ranges }
    }

    /// True when the set holds no channel.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// True when the set holds every channel `0..=u32::MAX`.
    pub fn is_all(&self) -> bool {
        self.ranges == [(0, u32::MAX)]
    }

    /// Number of channel ids in the set (up to 2^32, hence `u64`).
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .map(|&(a, b)| u64::from(b) - u64::from(a) + 1)
            .sum()
    }

    /// True when `id` is in the set (binary search over the ranges).
    pub fn contains(&self, id: u32) -> bool {
        let i = self.ranges.partition_point(|&(_, last)| last < id);
        self.ranges.get(i).is_some_and(|&(first, _)| first <= id)
    }

    /// The smallest id in the set.
    pub fn first(&self) -> Option<u32> {
        self.ranges.first().map(|r| r.0)
    }

    /// The largest id in the set.
    pub fn last(&self) -> Option<u32> {
        self.ranges.last().map(|r| r.1)
    }

    /// The normalised ranges: sorted, disjoint and never adjacent.
    pub fn ranges(&self) -> impl ExactSizeIterator<Item = RangeInclusive<u32>> + '_ {
        self.ranges.iter().map(|&(a, b)| a..=b)
    }

    /// The ids in ascending order. Lazy: iterating an open-ended set such as
    /// `14-` visits up to 2^32 ids, so bound it with `take` or `take_while`.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            ranges: &self.ranges,
            next: self.ranges.first().map_or(0, |r| u64::from(r.0)),
            index: 0,
        }
    }

    /// The ids present in both sets.
    pub fn intersect(&self, other: &ChannelExpr) -> ChannelExpr {
        let (a, b) = (&self.ranges, &other.ranges);
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < a.len() && j < b.len() {
            let first = a[i].0.max(b[j].0);
            let last = a[i].1.min(b[j].1);
            if first <= last {
                out.push((first, last));
            }
            if a[i].1 < b[j].1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        // Pieces of disjoint, non-adjacent inputs are already disjoint and sorted,
        // and cannot be adjacent either (a gap in one input separates them).
        ChannelExpr { ranges: out }
    }

    /// The ids present in either set.
    pub fn union(&self, other: &ChannelExpr) -> ChannelExpr {
        let mut pairs = Vec::with_capacity(self.ranges.len() + other.ranges.len());
        pairs.extend_from_slice(&self.ranges);
        pairs.extend_from_slice(&other.ranges);
        Self::normalise(pairs)
    }

    /// The ids of `0..=u32::MAX` not in this set.
    pub fn complement(&self) -> ChannelExpr {
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        let mut next: u64 = 0;
        for &(first, last) in &self.ranges {
            if u64::from(first) > next {
                // `next` < `first` <= u32::MAX, so both fit.
                out.push((next as u32, first - 1));
            }
            next = u64::from(last) + 1;
        }
        if next <= u64::from(u32::MAX) {
            out.push((next as u32, u32::MAX));
        }
        ChannelExpr { ranges: out }
    }

    /// The ids in this set and not in `other`.
    pub fn difference(&self, other: &ChannelExpr) -> ChannelExpr {
        self.intersect(&other.complement())
    }

    /// Maps every id `x` to `x + offset`, dropping the ids that would fall
    /// outside `0..=u32::MAX`.
    ///
    /// This is what a data binding needs to map session channels onto data
    /// channels: clip to the bound range, then shift.
    ///
    /// ```
    /// use rta_core::channels::ChannelExpr;
    /// let e: ChannelExpr = "-5,7,14-".parse().unwrap();
    /// assert_eq!(e.shift(-3).to_string(), "-2,4,11-FFFFFFFC");
    /// assert_eq!(e.shift(0x10).to_string(), "10-15,17,24-");
    /// ```
    pub fn shift(&self, offset: i64) -> ChannelExpr {
        let max = i128::from(u32::MAX);
        let offset = i128::from(offset);
        let ranges = self
            .ranges
            .iter()
            .filter_map(|&(a, b)| {
                let first = (i128::from(a) + offset).max(0);
                let last = (i128::from(b) + offset).min(max);
                // 0 <= first <= last <= u32::MAX once first <= last.
                (first <= last).then_some((first as u32, last as u32))
            })
            .collect();
        // Shifting preserves order and gaps; clipping only removes ids.
        ChannelExpr { ranges }
    }

    /// Maps every id `x` to `x + offset`, or fails with
    /// [`Error::Channels`] if any id would fall outside `0..=u32::MAX`.
    ///
    /// An open-ended set cannot be shifted upwards without loss, so this
    /// fails for it; use [`ChannelExpr::shift`] to clip instead.
    pub fn checked_shift(&self, offset: i64) -> Result<ChannelExpr> {
        let shifted = self.shift(offset);
        if shifted.len() == self.len() {
            Ok(shifted)
        } else {
            Err(Error::Channels {
                expr: self.to_string(),
                reason: format!("shifting by {offset} moves ids outside 0-FFFFFFFF"),
            })
        }
    }

    /// Parses an expression; same as [`str::parse`].
    pub fn parse(expr: &str) -> Result<ChannelExpr> {
        expr.parse()
    }
}

fn parse_hex(expr: &str, text: &str) -> Result<u32> {
    let err = |reason: String| Error::Channels {
        expr: expr.to_owned(),
        reason,
    };
    if text.is_empty() {
        return Err(err("empty channel id".to_owned()));
    }
    if let Some(c) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(err(format!(
            "{text:?} is not a hexadecimal channel id (unexpected {c:?})"
        )));
    }
    u32::from_str_radix(text, 16)
        .map_err(|_| err(format!("channel id {text} is larger than FFFFFFFF")))
}

impl FromStr for ChannelExpr {
    type Err = Error;

    fn from_str(expr: &str) -> Result<Self> {
        let err = |reason: String| Error::Channels {
            expr: expr.to_owned(),
            reason,
        };
        if expr.trim().is_empty() {
            return Err(err("empty expression".to_owned()));
        }
        let mut pairs = Vec::new();
        for (n, item) in expr.split(',').enumerate() {
            let item = item.trim_matches(|c: char| c.is_ascii_whitespace());
            if item.is_empty() {
                return Err(err(format!("item {} is empty", n + 1)));
            }
            let pair = match item.split_once('-') {
                None => {
                    let id = parse_hex(expr, item)?;
                    (id, id)
                }
                Some((lo, hi)) => {
                    let lo = lo.trim_matches(|c: char| c.is_ascii_whitespace());
                    let hi = hi.trim_matches(|c: char| c.is_ascii_whitespace());
                    let first = if lo.is_empty() {
                        0
                    } else {
                        parse_hex(expr, lo)?
                    };
                    let last = if hi.is_empty() {
                        u32::MAX
                    } else {
                        parse_hex(expr, hi)?
                    };
                    if first > last {
                        return Err(err(format!("range {item:?} is reversed")));
                    }
                    (first, last)
                }
            };
            pairs.push(pair);
        }
        Ok(Self::normalise(pairs))
    }
}

impl TryFrom<&str> for ChannelExpr {
    type Error = Error;

    fn try_from(expr: &str) -> Result<Self> {
        expr.parse()
    }
}

impl fmt::Display for ChannelExpr {
    /// Canonical form, e.g. `-5,7,B-D,14-`; the empty set formats as an empty
    /// string (which does not parse back).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, &(first, last)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match (first, last) {
                (0, u32::MAX) => f.write_str("-")?,
                (a, b) if a == b => write!(f, "{a:X}")?,
                (0, b) => write!(f, "-{b:X}")?,
                (a, u32::MAX) => write!(f, "{a:X}-")?,
                (a, b) => write!(f, "{a:X}-{b:X}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ChannelExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelExpr({:?})", self.to_string())
    }
}

impl From<RangeInclusive<u32>> for ChannelExpr {
    fn from(r: RangeInclusive<u32>) -> Self {
        ChannelExpr::range(*r.start(), *r.end())
    }
}

impl FromIterator<u32> for ChannelExpr {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        ChannelExpr::from_ids(iter)
    }
}

impl<'a> IntoIterator for &'a ChannelExpr {
    type Item = u32;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl serde::Serialize for ChannelExpr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ChannelExpr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Lazy iterator over the ids of a [`ChannelExpr`], ascending.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    ranges: &'a [(u32, u32)],
    /// Next id to yield within `ranges[index]` (u64 so `u32::MAX + 1` fits).
    next: u64,
    index: usize,
}

impl Iterator for Iter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let &(_, last) = self.ranges.get(self.index)?;
        // `next` is always within the current range while index is valid.
        let id = self.next as u32;
        if self.next >= u64::from(last) {
            self.index += 1;
            self.next = self.ranges.get(self.index).map_or(0, |r| u64::from(r.0));
        } else {
            self.next += 1;
        }
        Some(id)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining: u64 = self
            .ranges
            .get(self.index)
            .map_or(0, |&(_, last)| u64::from(last) - self.next + 1)
            + self
                .ranges
                .iter()
                .skip(self.index + 1)
                .map(|&(a, b)| u64::from(b) - u64::from(a) + 1)
                .sum::<u64>();
        match usize::try_from(remaining) {
            Ok(n) => (n, Some(n)),
            Err(_) => (usize::MAX, None),
        }
    }
}

impl std::iter::FusedIterator for Iter<'_> {}
