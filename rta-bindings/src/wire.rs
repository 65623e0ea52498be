//! Edits of serialized data lists at the protobuf wire level.
//!
//! Shifting time and renumbering channels change a few fields of every
//! result, and nothing else. Rather than decoding each list into messages
//! and encoding it again, the transformer edits the serialized bytes:
//!
//! - every time field (`start_timestamp` / `timestamp`) is an `sfixed64`,
//!   so a time shift overwrites 8 bytes in place;
//! - a channel id is a varint; when the new id has the same encoded length
//!   it is overwritten in place too;
//! - otherwise (a varint changes length, or a field left out because it held
//!   the default 0 must now be written) the list is rebuilt in one pass
//!   that copies every other byte verbatim.
//!
//! Unknown fields are kept. Only the field numbers of the four list types
//! are assumed: every list holds its items in field 1; `channel_id` /
//! `channel_ids` is field 1 of an item; the time is field 2, or field 3 for
//! an `Event`.

use rta_core::data::DataKind;

/// Why a wire edit could not be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The bytes are not a valid serialized list.
    Malformed(String),
    /// An item's channel is not mapped: the caller must filter items, which
    /// needs the decoding path.
    Unmapped(u32),
    /// A shifted time would overflow.
    Overflow(i64),
}

/// What to change in a list.
pub(crate) struct Edit<'a> {
    /// The kind of list.
    pub kind: DataKind,
    /// Added to every time field (0: times unchanged).
    pub offset: i64,
    /// Maps data channel ids to session channel ids (`None`: unchanged).
    pub map: Option<&'a dyn Fn(u32) -> Option<u32>>,
}

impl Edit<'_> {
    fn time_field(&self) -> u32 {
        match self.kind {
            DataKind::Events => 3,
            _ => 2,
        }
    }

    fn map_channel(&self, id: u32) -> Result<u32, WireError> {
        match self.map {
            Some(m) => m(id).ok_or(WireError::Unmapped(id)),
            None => Ok(id),
        }
    }

    fn edits_channels(&self) -> bool {
        self.map.is_some() && self.kind.has_channels()
    }

    fn shift(&self, t: i64) -> Result<i64, WireError> {
        t.checked_add(self.offset)
            .ok_or(WireError::Overflow(self.offset))
    }
}

/// One in-place change.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Patch {
    /// Write `value` as 8 little-endian bytes at `pos`.
    Fixed64 { pos: usize, value: i64 },
    /// Write `value` as a varint of exactly `len` bytes at `pos`.
    Varint { pos: usize, len: usize, value: u32 },
}

const WT_VARINT: u8 = 0;
const WT_I64: u8 = 1;
const WT_LEN: u8 = 2;
const WT_I32: u8 = 5;

fn malformed<T>(what: impl Into<String>) -> Result<T, WireError> {
    Err(WireError::Malformed(what.into()))
}

/// Reads a varint at `*pos` (bounded by `end`). One- and two-byte varints
/// (tags, ids, counts, result lengths) take the inlined fast path.
#[inline(always)]
fn read_varint(buf: &[u8], pos: &mut usize, end: usize) -> Result<u64, WireError> {
    let p = *pos;
    let window = buf.get(p..end.min(p + 2)).unwrap_or(&[]);
    match *window {
        [b0, ..] if b0 < 0x80 => {
            *pos = p + 1;
            Ok(u64::from(b0))
        }
        [b0, b1] if b1 < 0x80 => {
            *pos = p + 2;
            Ok(u64::from(b0 & 0x7F) | (u64::from(b1) << 7))
        }
        _ => read_varint_slow(buf, pos, end),
    }
}

#[inline(never)]
fn read_varint_slow(buf: &[u8], pos: &mut usize, end: usize) -> Result<u64, WireError> {
    let mut v: u64 = 0;
    let mut shift = 0u32;
    loop {
        if *pos >= end {
            return malformed("truncated varint");
        }
        let b = buf[*pos];
        *pos += 1;
        if shift == 63 && b > 1 {
            return malformed("varint overflows 64 bits");
        }
        v |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
        shift += 7;
        if shift > 63 {
            return malformed("varint longer than 10 bytes");
        }
    }
}

pub(crate) use rta_core::varint::{len as varint_len, put as put_varint};

/// Writes `value` as a varint of exactly `len` bytes (the caller checked
/// that this is its canonical length).
#[inline]
fn write_varint_at(buf: &mut [u8], pos: usize, len: usize, value: u32) {
    let mut v = value;
    for i in 0..len {
        let last = i + 1 == len;
        buf[pos + i] = (v as u8 & 0x7F) | if last { 0 } else { 0x80 };
        v >>= 7;
    }
}

#[inline(always)]
fn read_tag(buf: &[u8], pos: &mut usize, end: usize) -> Result<(u32, u8), WireError> {
    let tag = read_varint(buf, pos, end)?;
    let field = tag >> 3;
    let wt = (tag & 7) as u8;
    if field == 0 || field > u64::from(u32::MAX >> 3) {
        return malformed(format!("invalid field number {field}"));
    }
    Ok((field as u32, wt))
}

/// Moves `*pos` past the value of a field of wire type `wt`.
#[inline(always)]
fn skip_value(buf: &[u8], pos: &mut usize, end: usize, wt: u8) -> Result<(), WireError> {
    let n = match wt {
        WT_VARINT => {
            read_varint(buf, pos, end)?;
            return Ok(());
        }
        WT_I64 => 8,
        WT_LEN => {
            let n = read_varint(buf, pos, end)?;
            usize::try_from(n).map_err(|_| WireError::Malformed("length overflows".into()))?
        }
        WT_I32 => 4,
        _ => return malformed(format!("unsupported wire type {wt}")),
    };
    if n > end - *pos {
        return malformed("field runs past the end of its message");
    }
    *pos += n;
    Ok(())
}

/// Reads a length prefix and returns the end of the delimited bytes.
#[inline]
fn read_len(buf: &[u8], pos: &mut usize, end: usize) -> Result<usize, WireError> {
    let n = read_varint(buf, pos, end)?;
    match usize::try_from(n) {
        Ok(n) if n <= end - *pos => Ok(*pos + n),
        _ => malformed("length-delimited field runs past the end of its message"),
    }
}

#[inline]
fn read_fixed64(buf: &[u8], pos: usize, end: usize) -> Result<i64, WireError> {
    if end - pos < 8 {
        return malformed("truncated fixed64");
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[pos..pos + 8]);
    Ok(i64::from_le_bytes(b))
}

#[inline]
fn read_channel(buf: &[u8], pos: &mut usize, end: usize) -> Result<u32, WireError> {
    let v = read_varint(buf, pos, end)?;
    // proto3 uint32 values are written as up to 5-byte varints; a longer
    // value is truncated to 32 bits by every parser.
    Ok(v as u32)
}

/// Plans `edit` as in-place patches of `buf`. Returns `Ok(false)` when the
/// edit changes the list's length, so [`rebuild`] is needed.
pub(crate) fn plan_in_place(
    buf: &[u8],
    edit: &Edit<'_>,
    patches: &mut Vec<Patch>,
) -> Result<bool, WireError> {
    patches.clear();
    let end = buf.len();
    let mut pos = 0;
    while pos < end {
        let (field, wt) = read_tag(buf, &mut pos, end)?;
        if field == 1 {
            if wt != WT_LEN {
                return malformed(format!("list item with wire type {wt}"));
            }
            let item_end = read_len(buf, &mut pos, end)?;
            if !plan_item(buf, pos, item_end, edit, patches)? {
                return Ok(false);
            }
            pos = item_end;
        } else {
            skip_value(buf, &mut pos, end, wt)?;
        }
    }
    Ok(true)
}

fn plan_item(
    buf: &[u8],
    mut pos: usize,
    end: usize,
    edit: &Edit<'_>,
    patches: &mut Vec<Patch>,
) -> Result<bool, WireError> {
    let time_field = edit.time_field();
    let channels = edit.edits_channels();
    let mut saw_time = false;
    let mut saw_channel = false;
    while pos < end {
        let (field, wt) = read_tag(buf, &mut pos, end)?;
        if field == time_field && edit.offset != 0 {
            if wt != WT_I64 {
                return malformed(format!("time field with wire type {wt}"));
            }
            let t = read_fixed64(buf, pos, end)?;
            patches.push(Patch::Fixed64 {
                pos,
                value: edit.shift(t)?,
            });
            saw_time = true;
            pos += 8;
        } else if field == 1 && channels {
            saw_channel = true;
            match wt {
                WT_VARINT => {
                    if !plan_channel(buf, &mut pos, end, edit, patches)? {
                        return Ok(false);
                    }
                }
                WT_LEN if edit.kind == DataKind::Row => {
                    let packed_end = read_len(buf, &mut pos, end)?;
                    while pos < packed_end {
                        if !plan_channel(buf, &mut pos, packed_end, edit, patches)? {
                            return Ok(false);
                        }
                    }
                }
                _ => return malformed(format!("channel field with wire type {wt}")),
            }
        } else {
            skip_value(buf, &mut pos, end, wt)?;
        }
    }
    if edit.offset != 0 && !saw_time {
        // The time is 0 and was left out: it must be written.
        return Ok(false);
    }
    if channels && !saw_channel && edit.kind != DataKind::Row && edit.map_channel(0)? != 0 {
        // Channel 0 was left out and maps elsewhere: it must be written.
        return Ok(false);
    }
    Ok(true)
}

#[inline]
fn plan_channel(
    buf: &[u8],
    pos: &mut usize,
    end: usize,
    edit: &Edit<'_>,
    patches: &mut Vec<Patch>,
) -> Result<bool, WireError> {
    let start = *pos;
    let id = read_channel(buf, pos, end)?;
    let mapped = edit.map_channel(id)?;
    if mapped != id {
        let len = *pos - start;
        if varint_len(u64::from(mapped)) != len {
            return Ok(false);
        }
        patches.push(Patch::Varint {
            pos: start,
            len,
            value: mapped,
        });
    }
    Ok(true)
}

/// The items of a serialized list: for each field-1 entry, where the entry
/// starts (its tag) and the byte range of its content. Fails on malformed
/// input or on any other top-level field.
pub(crate) fn item_ranges(buf: &[u8]) -> Result<Vec<(usize, std::ops::Range<usize>)>, WireError> {
    let end = buf.len();
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < end {
        let entry = pos;
        let (field, wt) = read_tag(buf, &mut pos, end)?;
        if field != 1 || wt != WT_LEN {
            return malformed(format!("top-level field {field} with wire type {wt}"));
        }
        let item_end = read_len(buf, &mut pos, end)?;
        out.push((entry, pos..item_end));
        pos = item_end;
    }
    Ok(out)
}

/// Applies patches planned by [`plan_in_place`] on the same bytes.
pub(crate) fn apply_patches(buf: &mut [u8], patches: &[Patch]) {
    for p in patches {
        match *p {
            Patch::Fixed64 { pos, value } => {
                buf[pos..pos + 8].copy_from_slice(&value.to_le_bytes())
            }
            Patch::Varint { pos, len, value } => write_varint_at(buf, pos, len, value),
        }
    }
}

/// Writes the edited list into `out` (appending), copying every byte that
/// does not change.
pub(crate) fn rebuild(src: &[u8], edit: &Edit<'_>, out: &mut Vec<u8>) -> Result<(), WireError> {
    out.reserve(src.len() + src.len() / 16 + 16);
    let end = src.len();
    let mut pos = 0;
    while pos < end {
        let tag_start = pos;
        let (field, wt) = read_tag(src, &mut pos, end)?;
        if field == 1 {
            if wt != WT_LEN {
                return malformed(format!("list item with wire type {wt}"));
            }
            let item_end = read_len(src, &mut pos, end)?;
            let new_len = write_item(src, pos, item_end, edit, None)?;
            // Tags are written canonically (the source may pad them).
            out.push((1 << 3) | WT_LEN);
            put_varint(out, new_len as u64);
            write_item(src, pos, item_end, edit, Some(out))?;
            pos = item_end;
        } else {
            skip_value(src, &mut pos, end, wt)?;
            out.extend_from_slice(&src[tag_start..pos]);
        }
    }
    Ok(())
}

/// Writes one edited item (when `out` is given) and returns its length.
fn write_item(
    src: &[u8],
    mut pos: usize,
    end: usize,
    edit: &Edit<'_>,
    mut out: Option<&mut Vec<u8>>,
) -> Result<usize, WireError> {
    let time_field = edit.time_field();
    let channels = edit.edits_channels();
    let mut n = 0usize;
    let mut saw_time = false;
    let mut saw_channel = false;
    macro_rules! emit {
        ($bytes:expr) => {{
            let b: &[u8] = $bytes;
            n += b.len();
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(b);
            }
        }};
    }
    macro_rules! emit_varint {
        ($v:expr) => {{
            let v: u64 = $v;
            n += varint_len(v);
            if let Some(o) = out.as_deref_mut() {
                put_varint(o, v);
            }
        }};
    }
    while pos < end {
        let tag_start = pos;
        let (field, wt) = read_tag(src, &mut pos, end)?;
        if field == time_field && edit.offset != 0 {
            if wt != WT_I64 {
                return malformed(format!("time field with wire type {wt}"));
            }
            let t = edit.shift(read_fixed64(src, pos, end)?)?;
            emit!(&src[tag_start..pos]);
            emit!(&t.to_le_bytes());
            saw_time = true;
            pos += 8;
        } else if field == 1 && channels {
            saw_channel = true;
            match wt {
                WT_VARINT => {
                    let id = edit.map_channel(read_channel(src, &mut pos, end)?)?;
                    emit!(&[(1 << 3) | WT_VARINT]);
                    emit_varint!(u64::from(id));
                }
                WT_LEN if edit.kind == DataKind::Row => {
                    let packed_end = read_len(src, &mut pos, end)?;
                    let ids_start = pos;
                    let mut len = 0usize;
                    while pos < packed_end {
                        let id = edit.map_channel(read_channel(src, &mut pos, packed_end)?)?;
                        len += varint_len(u64::from(id));
                    }
                    emit!(&[(1 << 3) | WT_LEN]);
                    emit_varint!(len as u64);
                    pos = ids_start;
                    while pos < packed_end {
                        let id = edit.map_channel(read_channel(src, &mut pos, packed_end)?)?;
                        emit_varint!(u64::from(id));
                    }
                }
                _ => return malformed(format!("channel field with wire type {wt}")),
            }
        } else {
            skip_value(src, &mut pos, end, wt)?;
            emit!(&src[tag_start..pos]);
        }
    }
    if edit.offset != 0 && !saw_time {
        emit!(&[((time_field << 3) as u8) | WT_I64]);
        emit!(&edit.offset.to_le_bytes());
    }
    if channels && !saw_channel && edit.kind != DataKind::Row {
        let id = edit.map_channel(0)?;
        if id != 0 {
            emit!(&[(1 << 3) | WT_VARINT]);
            emit_varint!(u64::from(id));
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use rta_core::proto::data::{
        Event, EventsList, PeriodicData, PeriodicDataList, RowData, RowDataList, TimestampedData,
        TimestampedDataList,
    };

    fn edit_both<M: Message + Default>(src: &M, edit: &Edit<'_>) -> (bool, M, M) {
        let bytes = src.encode_to_vec();
        let mut patches = Vec::new();
        let in_place = plan_in_place(&bytes, edit, &mut patches).unwrap();
        let mut rebuilt = Vec::new();
        rebuild(&bytes, edit, &mut rebuilt).unwrap();
        let rebuilt = M::decode(rebuilt.as_slice()).unwrap();
        let patched = if in_place {
            let mut b = bytes.clone();
            apply_patches(&mut b, &patches);
            M::decode(b.as_slice()).unwrap()
        } else {
            M::default()
        };
        (in_place, patched, rebuilt)
    }

    #[test]
    fn varint_lengths() {
        for (v, n) in [
            (0u64, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (u64::MAX, 10),
        ] {
            assert_eq!(varint_len(v), n, "{v}");
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), n);
            let mut pos = 0;
            assert_eq!(read_varint(&out, &mut pos, out.len()).unwrap(), v);
        }
    }

    #[test]
    fn periodic_time_shift_is_in_place() {
        let list = PeriodicDataList {
            periodic_data: vec![
                PeriodicData {
                    channel_id: 5,
                    start_timestamp: 1_000,
                    interval: 10,
                    samples: 1,
                    buffer: vec![1, 2].into(),
                },
                PeriodicData {
                    channel_id: 5,
                    start_timestamp: 2_000,
                    interval: 10,
                    samples: 1,
                    buffer: vec![3, 4].into(),
                },
            ],
        };
        let edit = Edit {
            kind: DataKind::Periodic,
            offset: -300,
            map: None,
        };
        let (in_place, patched, rebuilt) = edit_both(&list, &edit);
        assert!(in_place);
        assert_eq!(patched.periodic_data[0].start_timestamp, 700);
        assert_eq!(patched.periodic_data[1].start_timestamp, 1_700);
        assert_eq!(patched, rebuilt);
    }

    #[test]
    fn missing_zero_fields_are_written() {
        // Time 0 and channel 0 are left out by the encoder.
        let list = PeriodicDataList {
            periodic_data: vec![PeriodicData {
                channel_id: 0,
                start_timestamp: 0,
                interval: 1,
                samples: 1,
                buffer: vec![9].into(),
            }],
        };
        let map = |c: u32| Some(c + 50);
        let edit = Edit {
            kind: DataKind::Periodic,
            offset: 7,
            map: Some(&map),
        };
        let (in_place, _, rebuilt) = edit_both(&list, &edit);
        assert!(!in_place);
        assert_eq!(rebuilt.periodic_data[0].start_timestamp, 7);
        assert_eq!(rebuilt.periodic_data[0].channel_id, 50);
        assert_eq!(rebuilt.periodic_data[0].buffer.as_ref(), &[9]);
    }

    #[test]
    fn channel_growth_rebuilds() {
        let list = TimestampedDataList {
            timestamped_data: vec![TimestampedData {
                channel_id: 3,
                start_timestamp: 10,
                timestamp_deltas_scale: 2,
                timestamp_deltas: vec![0, 1, 1],
                buffer: vec![1, 2, 3].into(),
            }],
        };
        let map = |c: u32| Some(c + 1_000_000);
        let edit = Edit {
            kind: DataKind::Timestamped,
            offset: 0,
            map: Some(&map),
        };
        let (in_place, _, rebuilt) = edit_both(&list, &edit);
        assert!(!in_place);
        let mut want = list.clone();
        want.timestamped_data[0].channel_id = 1_000_003;
        assert_eq!(rebuilt, want);

        let same_len = |c: u32| Some(c + 50);
        let edit = Edit {
            kind: DataKind::Timestamped,
            offset: 0,
            map: Some(&same_len),
        };
        let (in_place, patched, rebuilt) = edit_both(&list, &edit);
        assert!(in_place);
        assert_eq!(patched.timestamped_data[0].channel_id, 53);
        assert_eq!(patched, rebuilt);
    }

    #[test]
    fn row_channels_packed_and_unpacked() {
        let list = RowDataList {
            row_data: vec![RowData {
                channel_ids: vec![1, 2, 200],
                timestamp: 5,
                buffer: vec![0; 3].into(),
            }],
        };
        let same_len = |c: u32| Some(c * 2);
        let edit = Edit {
            kind: DataKind::Row,
            offset: 1,
            map: Some(&same_len),
        };
        let (in_place, patched, rebuilt) = edit_both(&list, &edit);
        assert!(in_place);
        assert_eq!(patched.row_data[0].channel_ids, vec![2, 4, 400]);
        assert_eq!(patched, rebuilt);

        let map = |c: u32| Some(c * 100);
        let edit = Edit {
            kind: DataKind::Row,
            offset: 1,
            map: Some(&map),
        };
        let (in_place, _, rebuilt) = edit_both(&list, &edit);
        assert!(!in_place);
        assert_eq!(rebuilt.row_data[0].channel_ids, vec![100, 200, 20_000]);
        assert_eq!(rebuilt.row_data[0].timestamp, 6);

        // Unpacked encoding of the repeated field (legal protobuf).
        let mut bytes = Vec::new();
        let mut item = vec![0x08, 1, 0x08, 2, 0x11];
        item.extend_from_slice(&5i64.to_le_bytes());
        bytes.push(0x0A);
        put_varint(&mut bytes, item.len() as u64);
        bytes.extend_from_slice(&item);
        let mut out = Vec::new();
        rebuild(&bytes, &edit, &mut out).unwrap();
        let back = RowDataList::decode(out.as_slice()).unwrap();
        assert_eq!(back.row_data[0].channel_ids, vec![100, 200]);
        assert_eq!(back.row_data[0].timestamp, 6);
    }

    #[test]
    fn padded_tags_are_rewritten_canonically() {
        // Item tag 0x0A padded to two bytes, channel tag 0x08 padded too.
        let mut item = vec![0x88, 0x00, 3, 0x11];
        item.extend_from_slice(&10i64.to_le_bytes());
        let mut bytes = vec![0x8A, 0x00, item.len() as u8];
        bytes.extend_from_slice(&item);
        assert_eq!(
            PeriodicDataList::decode(bytes.as_slice())
                .unwrap()
                .periodic_data[0]
                .channel_id,
            3
        );
        let map = |c: u32| Some(c + 1_000);
        let edit = Edit {
            kind: DataKind::Periodic,
            offset: 1,
            map: Some(&map),
        };
        let mut out = Vec::new();
        rebuild(&bytes, &edit, &mut out).unwrap();
        let back = PeriodicDataList::decode(out.as_slice()).unwrap();
        assert_eq!(back.periodic_data[0].channel_id, 1_003);
        assert_eq!(back.periodic_data[0].start_timestamp, 11);
    }

    #[test]
    fn events_time_field_is_three() {
        let list = EventsList {
            events: vec![Event {
                event_definition_id: 2,
                app_name: "a".into(),
                timestamp: 100,
                status_text: "s".into(),
                raw_data: vec![1.5],
            }],
        };
        let edit = Edit {
            kind: DataKind::Events,
            offset: 300,
            map: None,
        };
        let (in_place, patched, rebuilt) = edit_both(&list, &edit);
        assert!(in_place);
        assert_eq!(patched.events[0].timestamp, 400);
        assert_eq!(patched.events[0].event_definition_id, 2);
        assert_eq!(patched, rebuilt);
    }

    #[test]
    fn unmapped_overflow_and_garbage() {
        let list = PeriodicDataList {
            periodic_data: vec![PeriodicData {
                channel_id: 9,
                start_timestamp: i64::MAX - 1,
                interval: 1,
                samples: 0,
                buffer: Default::default(),
            }],
        };
        let bytes = list.encode_to_vec();
        let none = |_: u32| None;
        let mut patches = Vec::new();
        let edit = Edit {
            kind: DataKind::Periodic,
            offset: 0,
            map: Some(&none),
        };
        assert_eq!(
            plan_in_place(&bytes, &edit, &mut patches),
            Err(WireError::Unmapped(9))
        );
        let edit = Edit {
            kind: DataKind::Periodic,
            offset: 5,
            map: None,
        };
        assert_eq!(
            plan_in_place(&bytes, &edit, &mut patches),
            Err(WireError::Overflow(5))
        );
        for garbage in [
            &[0x0A, 0x05, 0x08][..],
            &[0x0B],
            &[0x0A, 0x02, 0x11, 0x00],
            &[0xFF; 12],
        ] {
            assert!(
                matches!(
                    plan_in_place(garbage, &edit, &mut patches),
                    Err(WireError::Malformed(_))
                ),
                "{garbage:?}"
            );
            assert!(
                matches!(
                    rebuild(garbage, &edit, &mut Vec::new()),
                    Err(WireError::Malformed(_))
                ),
                "{garbage:?}"
            );
        }
    }
}
