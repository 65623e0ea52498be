//! Proptest strategies the unit tests of the wire paths share.

use proptest::prelude::*;

use crate::proto::data::TimestampedData;

/// Any `TimestampedData`, with the values that matter on the wire made
/// likely: zero fields (left out), small channels, small deltas (one-byte
/// varints), zero and negative scales.
pub(crate) fn timestamped_item() -> impl Strategy<Value = TimestampedData> {
    let delta = prop_oneof![0i64..3, 0i64..200, any::<i64>()];
    (
        prop_oneof![Just(0u32), 0u32..4, any::<u32>()],
        prop_oneof![Just(0i64), Just(1_000i64), any::<i64>()],
        prop_oneof![Just(0i64), Just(1i64), Just(-3i64), any::<i64>()],
        proptest::collection::vec(delta, 0..40),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(
            |(channel_id, start, scale, deltas, buffer)| TimestampedData {
                channel_id,
                start_timestamp: start,
                timestamp_deltas_scale: scale,
                timestamp_deltas: deltas,
                buffer: buffer.into(),
            },
        )
}
