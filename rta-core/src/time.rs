//! ISO 8601 / RFC 3339 timestamps that keep their offset and precision.
//!
//! RTA measures data time in signed 64-bit nanoseconds since the Unix epoch
//! (UTC), while the Session JSON model carries human-facing timestamps as
//! ISO 8601 text with a time-zone offset (`"2021-05-06T18:58:56.20289+01:00"`).
//! [`Timestamp`] bridges the two: it parses the text into the exact instant in
//! nanoseconds and the offset, and keeps the text it was parsed from, so a
//! document that is read and written again reproduces every timestamp
//! character for character.
//!
//! Two timestamps compare by instant only: the three spellings below are equal.
//!
//! ```
//! use rta_core::time::Timestamp;
//!
//! let a = Timestamp::parse("2021-01-01T13:00:00+01:00")?;
//! let b = Timestamp::parse("2021-01-01T12:00:00Z")?;
//! let c = Timestamp::parse("2021-01-01T04:00:00-08:00")?;
//! assert_eq!(a.nanos(), 1_609_502_400_000_000_000);
//! assert!(a == b && b == c);
//! assert_eq!(a.offset_minutes(), 60);
//! assert_eq!(c.to_string(), "2021-01-01T04:00:00-08:00");
//! # Ok::<(), rta_core::Error>(())
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

const NANOS_PER_SEC: i128 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;
/// Largest offset magnitude accepted, in minutes (23:59, as RFC 3339 allows).
const MAX_OFFSET_MINUTES: i16 = 23 * 60 + 59;
/// How much of a bad value is quoted back in an error message.
const MAX_QUOTED: usize = 64;

/// An instant with the time-zone offset and text it was written with.
///
/// - [`nanos`](Self::nanos): exact nanoseconds since the Unix epoch (UTC).
/// - [`offset_minutes`](Self::offset_minutes): the offset from UTC of the text.
/// - [`as_str`](Self::as_str) / `Display` / serde: the original text, unchanged.
///
/// Equality, ordering and hashing use the instant alone, so
/// `2021-01-01T13:00:00+01:00` equals `2021-01-01T12:00:00Z`. Compare
/// [`as_str`](Self::as_str) when the spelling matters.
///
/// Accepted syntax: `YYYY-MM-DD`, then `T` (or `t` or a space), `hh:mm:ss`,
/// an optional fraction of 1 to 9 digits after `.` or `,`, then `Z`/`z` or an
/// offset `±hh:mm`, `±hhmm` or `±hh` (at most 23:59). Leap seconds (`:60`),
/// local times without an offset and instants outside the `i64` nanosecond
/// range (1677-09-21 to 2262-04-11) are rejected with [`Error::Timestamp`].
#[derive(Clone)]
pub struct Timestamp {
    nanos: i64,
    offset_minutes: i16,
    text: Box<str>,
}

impl Timestamp {
    /// Parses ISO 8601 / RFC 3339 text with an offset.
    ///
    /// ```
    /// # use rta_core::time::Timestamp;
    /// let t = Timestamp::parse("2021-05-06T18:58:56.20289+01:00")?;
    /// assert_eq!(t.nanos(), 1_620_323_936_202_890_000);
    /// assert_eq!(t.as_str(), "2021-05-06T18:58:56.20289+01:00");
    /// assert!(Timestamp::parse("2021-05-06 18:58").is_err());
    /// # Ok::<(), rta_core::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Timestamp> {
        let (nanos, offset_minutes) =
            parse_parts(text.as_bytes()).map_err(|reason| timestamp_error(text, reason))?;
        Ok(Timestamp {
            nanos,
            offset_minutes,
            text: text.into(),
        })
    }

    /// The instant `nanos` (since the Unix epoch) written in UTC with a `Z`
    /// suffix and as many fractional digits as needed (none for whole seconds).
    ///
    /// ```
    /// # use rta_core::time::Timestamp;
    /// let t = Timestamp::from_nanos(1_609_502_400_500_000_000);
    /// assert_eq!(t.as_str(), "2021-01-01T12:00:00.5Z");
    /// ```
    pub fn from_nanos(nanos: i64) -> Timestamp {
        Timestamp {
            nanos,
            offset_minutes: 0,
            text: format_text(nanos, 0, true).into(),
        }
    }

    /// The instant `nanos` written with an offset of `offset_minutes` from UTC
    /// as `±hh:mm` (so UTC is written `+00:00`).
    ///
    /// Fails when the offset exceeds ±23:59.
    ///
    /// ```
    /// # use rta_core::time::Timestamp;
    /// let t = Timestamp::from_nanos_with_offset(1_620_323_936_202_890_000, 60)?;
    /// assert_eq!(t.as_str(), "2021-05-06T18:58:56.20289+01:00");
    /// # Ok::<(), rta_core::Error>(())
    /// ```
    pub fn from_nanos_with_offset(nanos: i64, offset_minutes: i16) -> Result<Timestamp> {
        if offset_minutes.unsigned_abs() > MAX_OFFSET_MINUTES as u16 {
            return Err(Error::Timestamp {
                value: format!("{nanos} ns with offset {offset_minutes} min"),
                reason: "offset beyond ±23:59".into(),
            });
        }
        Ok(Timestamp {
            nanos,
            offset_minutes,
            text: format_text(nanos, offset_minutes, false).into(),
        })
    }

    /// The current time in UTC (`Z` suffix), at the precision of the system clock.
    pub fn now() -> Timestamp {
        let nanos = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
        };
        Timestamp::from_nanos(nanos)
    }

    /// Nanoseconds since the Unix epoch (UTC).
    pub fn nanos(&self) -> i64 {
        self.nanos
    }

    /// Offset from UTC of the original text, in minutes (`+01:00` is 60, `Z` is 0).
    pub fn offset_minutes(&self) -> i16 {
        self.offset_minutes
    }

    /// The text this timestamp was parsed from or formatted as.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The same instant written with another offset (`±hh:mm`).
    pub fn with_offset(&self, offset_minutes: i16) -> Result<Timestamp> {
        Timestamp::from_nanos_with_offset(self.nanos, offset_minutes)
    }

    /// The same instant written in UTC with a `Z` suffix.
    pub fn to_utc(&self) -> Timestamp {
        Timestamp::from_nanos(self.nanos)
    }

    /// The same instant and offset as a `chrono` date-time.
    pub fn to_chrono(&self) -> chrono::DateTime<chrono::FixedOffset> {
        let utc = chrono::DateTime::from_timestamp_nanos(self.nanos);
        // The offset was range-checked on construction (|offset| < 24 h).
        match chrono::FixedOffset::east_opt(i32::from(self.offset_minutes) * 60) {
            Some(offset) => utc.with_timezone(&offset),
            None => utc.fixed_offset(),
        }
    }

    /// Converts a `chrono` date-time, keeping its offset (whole minutes only)
    /// and sub-second precision.
    ///
    /// Fails when the instant falls outside the `i64` nanosecond range or the
    /// offset is not a whole number of minutes.
    pub fn from_chrono<Tz: chrono::TimeZone>(dt: &chrono::DateTime<Tz>) -> Result<Timestamp> {
        use chrono::Offset;
        let offset_secs = dt.offset().fix().local_minus_utc();
        let nanos = dt.timestamp_nanos_opt().ok_or_else(|| Error::Timestamp {
            value: dt.to_utc().to_rfc3339(),
            reason: "outside the range of i64 nanoseconds since the Unix epoch".into(),
        })?;
        if offset_secs % 60 != 0 {
            return Err(Error::Timestamp {
                value: dt.to_utc().to_rfc3339(),
                reason: format!("offset of {offset_secs} s is not a whole number of minutes"),
            });
        }
        let offset = i16::try_from(offset_secs / 60).unwrap_or(i16::MAX);
        Timestamp::from_nanos_with_offset(nanos, offset)
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Timestamp {}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Hash for Timestamp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({:?} = {} ns)", &*self.text, self.nanos)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Timestamp {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Timestamp::parse(s)
    }
}

impl TryFrom<&str> for Timestamp {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self> {
        Timestamp::parse(s)
    }
}

impl From<Timestamp> for i64 {
    fn from(t: Timestamp) -> i64 {
        t.nanos
    }
}

impl AsRef<str> for Timestamp {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 8601 timestamp string with an offset")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(Visitor)
    }
}

fn timestamp_error(text: &str, reason: String) -> Error {
    let value = if text.len() <= MAX_QUOTED {
        text.to_string()
    } else {
        let mut end = MAX_QUOTED;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    };
    Error::Timestamp { value, reason }
}

/// Cursor over the bytes of a timestamp being parsed.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn digits(&mut self, n: usize, what: &str) -> std::result::Result<u32, String> {
        let mut value = 0u32;
        for i in 0..n {
            match self.bytes.get(self.pos + i) {
                Some(b) if b.is_ascii_digit() => value = value * 10 + u32::from(b - b'0'),
                _ => {
                    return Err(format!(
                        "expected {n} digits of {what} at position {}",
                        self.pos
                    ))
                }
            }
        }
        self.pos += n;
        Ok(value)
    }

    fn expect(&mut self, c: u8, after: &str) -> std::result::Result<(), String> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!(
                "expected '{}' after the {after} at position {}",
                c as char, self.pos
            ))
        }
    }
}

/// Parses the text into (nanoseconds since the epoch, offset in minutes).
fn parse_parts(bytes: &[u8]) -> std::result::Result<(i64, i16), String> {
    let mut c = Cursor { bytes, pos: 0 };
    let year = c.digits(4, "year")?;
    c.expect(b'-', "year")?;
    let month = c.digits(2, "month")?;
    c.expect(b'-', "month")?;
    let day = c.digits(2, "day")?;
    match c.peek() {
        Some(b'T' | b't' | b' ') => c.pos += 1,
        None => return Err("a time of day and an offset are required after the date".into()),
        _ => return Err(format!("expected 'T' after the date at position {}", c.pos)),
    }
    let hour = c.digits(2, "hour")?;
    c.expect(b':', "hour")?;
    let minute = c.digits(2, "minute")?;
    c.expect(b':', "minute")?;
    let second = c.digits(2, "second")?;

    if !(1..=12).contains(&month) {
        return Err(format!("month {month:02} is not in 01-12"));
    }
    let days_in_month = match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days_in_month {
        return Err(format!(
            "day {day:02} does not exist in {year:04}-{month:02}"
        ));
    }
    if hour > 23 {
        return Err(format!("hour {hour:02} is not in 00-23"));
    }
    if minute > 59 {
        return Err(format!("minute {minute:02} is not in 00-59"));
    }
    if second == 60 {
        return Err("leap seconds (:60) are not supported".into());
    }
    if second > 59 {
        return Err(format!("second {second:02} is not in 00-59"));
    }

    let mut fraction: i64 = 0;
    if let Some(b'.' | b',') = c.peek() {
        c.pos += 1;
        let start = c.pos;
        while let Some(b) = c.peek() {
            if !b.is_ascii_digit() {
                break;
            }
            c.pos += 1;
        }
        let n = c.pos - start;
        if n == 0 {
            return Err(format!("expected fractional digits at position {}", start));
        }
        if n > 9 {
            return Err(format!(
                "{n} fractional digits; at most 9 (nanoseconds) are supported"
            ));
        }
        for &b in &bytes[start..c.pos] {
            fraction = fraction * 10 + i64::from(b - b'0');
        }
        for _ in n..9 {
            fraction *= 10;
        }
    }

    let offset_minutes: i16 = match c.peek() {
        Some(b'Z' | b'z') => {
            c.pos += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            c.pos += 1;
            let oh = c.digits(2, "offset hours")?;
            let om = match c.peek() {
                Some(b':') => {
                    c.pos += 1;
                    c.digits(2, "offset minutes")?
                }
                Some(b) if b.is_ascii_digit() => c.digits(2, "offset minutes")?,
                _ => 0,
            };
            if oh > 23 || om > 59 {
                return Err(format!("offset {oh:02}:{om:02} is beyond 23:59"));
            }
            // Both parts are range-checked above, so this fits in i16.
            let total = (oh * 60 + om) as i16;
            if sign == b'-' {
                -total
            } else {
                total
            }
        }
        None => return Err("an offset ('Z' or ±hh:mm) is required".into()),
        Some(_) => {
            return Err(format!(
                "expected an offset ('Z' or ±hh:mm) at position {}",
                c.pos
            ))
        }
    };
    if c.pos != bytes.len() {
        return Err(format!("unexpected text at position {}", c.pos));
    }

    let days = days_from_civil(i64::from(year), month, day);
    let local_secs =
        days * SECS_PER_DAY + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
    let utc_secs = local_secs - i64::from(offset_minutes) * 60;
    let nanos = i128::from(utc_secs) * NANOS_PER_SEC + i128::from(fraction);
    let nanos = i64::try_from(nanos).map_err(|_| {
        "outside the range of i64 nanoseconds since the Unix epoch (1677-09-21 to 2262-04-11)"
            .to_string()
    })?;
    Ok((nanos, offset_minutes))
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats an instant in the given offset; fraction digits are trimmed.
fn format_text(nanos: i64, offset_minutes: i16, zulu: bool) -> String {
    use std::fmt::Write;

    let local = i128::from(nanos) + i128::from(offset_minutes) * 60 * NANOS_PER_SEC;
    // |local| < 2^63 + 2^47, so the seconds fit in i64 and the fraction in u32.
    let secs = local.div_euclid(NANOS_PER_SEC) as i64;
    let frac = local.rem_euclid(NANOS_PER_SEC) as u32;
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(36);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if frac != 0 {
        let mut digits = format!("{frac:09}");
        while digits.ends_with('0') {
            digits.pop();
        }
        out.push('.');
        out.push_str(&digits);
    }
    if zulu && offset_minutes == 0 {
        out.push('Z');
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let abs = offset_minutes.unsigned_abs();
        let _ = write!(out, "{sign}{:02}:{:02}", abs / 60, abs % 60);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_conversions_agree_around_the_epoch_and_leap_days() {
        for days in [-719_468, -1, 0, 1, 11_016, 18_628, 106_751, -106_752] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn extremes_of_the_nanosecond_range_format_and_parse() {
        for nanos in [i64::MIN, i64::MAX, 0, -1, 1] {
            for offset in [-MAX_OFFSET_MINUTES, -1, 0, 1, MAX_OFFSET_MINUTES] {
                let t = Timestamp::from_nanos_with_offset(nanos, offset).expect("offset in range");
                let back = Timestamp::parse(t.as_str()).expect("formatted text parses");
                assert_eq!(back.nanos(), nanos, "{}", t.as_str());
                assert_eq!(back.offset_minutes(), offset);
            }
        }
    }
}
