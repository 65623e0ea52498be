//! Typed sample columns and the batches a [`SampleSource`](super::SampleSource) yields.

use rta_core::data::{periodic, timestamped};
use rta_core::proto::data::{Event, PeriodicData, TimestampedData};
use rta_core::{Error, Result};

/// The samples of one channel, in the channel's own data type (`u8` …
/// `f64`), as the adapter read them: never widened to `f64` on the way.
///
/// ```
/// use rta_adapters::kit::Samples;
/// let s = Samples::from(vec![1u16, 2, 3]);
/// assert_eq!((s.len(), s.type_name()), (3, "u16"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Samples {
    /// Unsigned 8-bit samples.
    U8(Vec<u8>),
    /// Signed 8-bit samples.
    I8(Vec<i8>),
    /// Unsigned 16-bit samples.
    U16(Vec<u16>),
    /// Signed 16-bit samples.
    I16(Vec<i16>),
    /// Unsigned 32-bit samples.
    U32(Vec<u32>),
    /// Signed 32-bit samples.
    I32(Vec<i32>),
    /// 32-bit floating-point samples.
    F32(Vec<f32>),
    /// 64-bit floating-point samples.
    F64(Vec<f64>),
}

/// Runs `$body` with `$v` bound to the vector inside any [`Samples`].
macro_rules! each {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            Samples::U8($v) => $body,
            Samples::I8($v) => $body,
            Samples::U16($v) => $body,
            Samples::I16($v) => $body,
            Samples::U32($v) => $body,
            Samples::I32($v) => $body,
            Samples::F32($v) => $body,
            Samples::F64($v) => $body,
        }
    };
}

/// Rebuilds the same variant as `$s` around `$body` (with `$v` bound to its vector).
macro_rules! map_same {
    ($s:expr, $v:ident => $body:expr) => {
        match $s {
            Samples::U8($v) => Samples::U8($body),
            Samples::I8($v) => Samples::I8($body),
            Samples::U16($v) => Samples::U16($body),
            Samples::I16($v) => Samples::I16($body),
            Samples::U32($v) => Samples::U32($body),
            Samples::I32($v) => Samples::I32($body),
            Samples::F32($v) => Samples::F32($body),
            Samples::F64($v) => Samples::F64($body),
        }
    };
}

macro_rules! from_vec {
    ($($t:ty => $variant:ident),*) => {$(
        impl From<Vec<$t>> for Samples {
            fn from(v: Vec<$t>) -> Self {
                Samples::$variant(v)
            }
        }
    )*};
}
from_vec!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, f32 => F32, f64 => F64);

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        each!(self, v => v.len())
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The Rust name of the sample type (`"u8"` … `"f64"`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Samples::U8(_) => "u8",
            Samples::I8(_) => "i8",
            Samples::U16(_) => "u16",
            Samples::I16(_) => "i16",
            Samples::U32(_) => "u32",
            Samples::I32(_) => "i32",
            Samples::F32(_) => "f32",
            Samples::F64(_) => "f64",
        }
    }

    /// An empty column of the type named `"u8"`, `"i8"`, `"u16"`, `"i16"`,
    /// `"u32"`, `"i32"`, `"f32"` or `"f64"`.
    ///
    /// ```
    /// use rta_adapters::kit::Samples;
    /// let mut col = Samples::of_type("u16").unwrap();
    /// col.push_str("65535")?;
    /// assert!(col.push_str("65536").is_err());
    /// assert_eq!(col, Samples::U16(vec![65535]));
    /// # Ok::<(), rta_core::Error>(())
    /// ```
    pub fn of_type(name: &str) -> Option<Samples> {
        Some(match name {
            "u8" => Samples::U8(Vec::new()),
            "i8" => Samples::I8(Vec::new()),
            "u16" => Samples::U16(Vec::new()),
            "i16" => Samples::I16(Vec::new()),
            "u32" => Samples::U32(Vec::new()),
            "i32" => Samples::I32(Vec::new()),
            "f32" => Samples::F32(Vec::new()),
            "f64" => Samples::F64(Vec::new()),
            _ => return None,
        })
    }

    /// Parses `text` as one sample of the column's type and appends it.
    pub fn push_str(&mut self, text: &str) -> Result<()> {
        let bad = |ty: &str| Error::InvalidArgument(format!("{text:?} is not a {ty} value"));
        let ty = self.type_name();
        let text = text.trim();
        each!(self, v => v.push(text.parse().map_err(|_| bad(ty))?));
        Ok(())
    }

    /// The samples in `range`, as a new column of the same type.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Samples {
        map_same!(self, v => v[range].to_vec())
    }

    /// An empty column of the same type.
    pub fn empty_like(&self) -> Samples {
        map_same!(self, _v => Vec::new())
    }

    /// Appends `other`, which must have the same type.
    pub fn extend_from(&mut self, other: &Samples) -> Result<()> {
        self.extend_from_range(other, 0..other.len())
    }

    /// Appends the samples of `other` in `range`; `other` must have the same type.
    pub fn extend_from_range(
        &mut self,
        other: &Samples,
        range: std::ops::Range<usize>,
    ) -> Result<()> {
        let r = range;
        match (self, other) {
            (Samples::U8(a), Samples::U8(b)) => a.extend_from_slice(&b[r]),
            (Samples::I8(a), Samples::I8(b)) => a.extend_from_slice(&b[r]),
            (Samples::U16(a), Samples::U16(b)) => a.extend_from_slice(&b[r]),
            (Samples::I16(a), Samples::I16(b)) => a.extend_from_slice(&b[r]),
            (Samples::U32(a), Samples::U32(b)) => a.extend_from_slice(&b[r]),
            (Samples::I32(a), Samples::I32(b)) => a.extend_from_slice(&b[r]),
            (Samples::F32(a), Samples::F32(b)) => a.extend_from_slice(&b[r]),
            (Samples::F64(a), Samples::F64(b)) => a.extend_from_slice(&b[r]),
            (a, b) => {
                return Err(Error::Data(format!(
                    "a channel changed sample type from {} to {}",
                    a.type_name(),
                    b.type_name()
                )))
            }
        }
        Ok(())
    }

    /// A `TimestampedData` of `channel` at `times`.
    pub fn timestamped(&self, channel: u32, times: &[i64]) -> Result<TimestampedData> {
        each!(self, v => timestamped(channel, times, v))
    }

    /// A `PeriodicData` of `channel` from `start`, `interval` apart.
    pub fn periodic(&self, channel: u32, start: i64, interval: i64) -> Result<PeriodicData> {
        each!(self, v => periodic(channel, start, interval, v))
    }
}

/// What a [`SampleSource`](super::SampleSource) reads: samples of one
/// channel, in time order per channel, or events. Batches of different
/// channels may interleave in any way; a channel's batches must follow each
/// other in time (the kit refuses a sample older than the channel's last).
/// Samples outside the range asked for are dropped by the kit.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// Samples with a time each (ns since the Unix epoch, non-decreasing).
    Timestamped {
        /// RTA channel id.
        channel: u32,
        /// One time per sample.
        times: Vec<i64>,
        /// The values.
        values: Samples,
    },
    /// A run of samples `interval` ns apart from `start`.
    Periodic {
        /// RTA channel id.
        channel: u32,
        /// Time of the first sample.
        start: i64,
        /// Time between samples (positive).
        interval: i64,
        /// The values.
        values: Samples,
    },
    /// Events, in time order.
    Events(Vec<Event>),
}

impl Batch {
    /// A timestamped batch.
    ///
    /// ```
    /// use rta_adapters::kit::Batch;
    /// let b = Batch::timestamped(2, vec![10, 20], vec![1.5f32, 2.5]);
    /// assert_eq!(b.sample_count(), 2);
    /// ```
    pub fn timestamped(channel: u32, times: Vec<i64>, values: impl Into<Samples>) -> Self {
        Batch::Timestamped {
            channel,
            times,
            values: values.into(),
        }
    }

    /// A periodic batch.
    pub fn periodic(channel: u32, start: i64, interval: i64, values: impl Into<Samples>) -> Self {
        Batch::Periodic {
            channel,
            start,
            interval,
            values: values.into(),
        }
    }

    /// Number of samples (or events).
    pub fn sample_count(&self) -> usize {
        match self {
            Batch::Timestamped { values, .. } | Batch::Periodic { values, .. } => values.len(),
            Batch::Events(e) => e.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rta_core::data::read_samples;

    #[test]
    fn typed_columns_keep_their_width() {
        let s = Samples::from(vec![1i16, -2, 3]);
        let d = s.timestamped(4, &[1, 2, 3]).unwrap();
        assert_eq!(d.buffer.len(), 6);
        assert_eq!(read_samples::<i16>(&d.buffer).unwrap(), vec![1, -2, 3]);
        let mut a = s.slice(0..1);
        a.extend_from(&s.slice(2..3)).unwrap();
        assert_eq!(a, Samples::I16(vec![1, 3]));
        let e = a.extend_from(&Samples::F64(vec![1.0])).unwrap_err();
        assert!(e.to_string().contains("i16 to f64"), "{e}");
    }
}
