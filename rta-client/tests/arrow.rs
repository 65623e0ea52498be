//! Arrow record batches to RTA data and back: exact for every data type, in
//! memory and through a real `rta-server` (written with the data writer,
//! read back over REST).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use arrow_array::types::Float32Type;
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int16Array, Int32Array,
    Int64Array, Int8Array, RecordBatch, TimestampNanosecondArray, UInt16Array, UInt32Array,
    UInt8Array,
};
use proptest::prelude::*;
use rta_client::arrow::{from_timestamped, to_timestamped, ChannelColumn, Columns};
use rta_client::{RtaClient, SessionRequest, SessionState};
use rta_core::config::ChannelDataType;
use rta_core::data::DataKind;
use rta_core::proto::data::TimestampedDataList;
use rta_service::server::RtaServer;

const T0: i64 = 1_700_000_000_000_000_000;

/// A batch with one column of every RTA data type over `n` rows.
fn every_type(n: usize, seed: i64) -> RecordBatch {
    let i = |k: usize| seed.wrapping_mul(31).wrapping_add(k as i64 * 7919);
    let times: Vec<i64> = (0..n)
        .map(|k| T0 + k as i64 * 1_000_000 + (k as i64 % 3))
        .collect();
    let f3 = FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
        (0..n).map(|k| {
            Some(vec![
                Some(k as f32),
                Some(-(k as f32)),
                Some(i(k) as f32 / 3.0),
            ])
        }),
        3,
    );
    // from_iter_primitive makes a nullable child; the RTA type's child is not.
    let f3: ArrayRef = Arc::new(
        FixedSizeListArray::try_new(
            Arc::new(arrow_schema::Field::new(
                "item",
                arrow_schema::DataType::Float32,
                false,
            )),
            3,
            f3.values().clone(),
            None,
        )
        .unwrap(),
    );
    RecordBatch::try_from_iter([
        (
            "time",
            Arc::new(TimestampNanosecondArray::from(times)) as ArrayRef,
        ),
        (
            "u8",
            Arc::new(UInt8Array::from_iter_values((0..n).map(|k| i(k) as u8))) as _,
        ),
        (
            "s8",
            Arc::new(Int8Array::from_iter_values((0..n).map(|k| i(k) as i8))) as _,
        ),
        (
            "u16",
            Arc::new(UInt16Array::from_iter_values((0..n).map(|k| i(k) as u16))) as _,
        ),
        (
            "s16",
            Arc::new(Int16Array::from_iter_values((0..n).map(|k| i(k) as i16))) as _,
        ),
        (
            "u32",
            Arc::new(UInt32Array::from_iter_values((0..n).map(|k| i(k) as u32))) as _,
        ),
        (
            "s32",
            Arc::new(Int32Array::from_iter_values((0..n).map(|k| i(k) as i32))) as _,
        ),
        (
            "f32",
            Arc::new(Float32Array::from_iter_values(
                (0..n).map(|k| i(k) as f32 / 7.0),
            )) as _,
        ),
        ("3f32", f3),
        (
            "f64",
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|k| i(k) as f64 / 9.0),
            )) as _,
        ),
    ])
    .unwrap()
}

#[test]
fn columns_are_inferred_with_their_types() {
    let batch = every_type(4, 1);
    let c = Columns::infer(batch.schema().as_ref()).unwrap();
    assert_eq!(c.time, 0);
    let types: Vec<String> = c.channels.iter().map(|c| c.data_type.to_string()).collect();
    assert_eq!(
        types,
        ["u8", "s8", "u16", "s16", "u32", "s32", "f32", "3f32", "f64"]
    );
    let ids: Vec<u32> = c.channels.iter().map(|c| c.channel).collect();
    assert_eq!(ids, (0..9).collect::<Vec<_>>());

    // No time column is a clear error.
    let no_time =
        RecordBatch::try_from_iter([("x", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef)])
            .unwrap();
    let e = Columns::infer(no_time.schema().as_ref())
        .unwrap_err()
        .to_string();
    assert!(e.contains("time column"), "{e}");
}

#[test]
fn values_are_shared_not_copied() {
    let batch = every_type(100, 2);
    let c = Columns::infer(batch.schema().as_ref()).unwrap();
    let items = to_timestamped(&batch, &c).unwrap();
    let f64_col = batch.column(9).to_data();
    let f64_ptr = f64_col.buffers()[0].as_ptr();
    assert_eq!(
        items[8].buffer.as_ptr(),
        f64_ptr,
        "the f64 column's buffer is the item's"
    );
    let back = from_timestamped(&items, &c.channels).unwrap();
    assert_eq!(back.column(9).to_data().buffers()[0].as_ptr(), f64_ptr);
}

#[test]
fn nulls_become_missing_samples_and_back() {
    let batch = RecordBatch::try_from_iter([
        (
            "timestamp",
            Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
        ),
        (
            "a",
            Arc::new(Int16Array::from(vec![Some(1), None, Some(3), None])) as _,
        ),
        (
            "b",
            Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5, 3.5])) as _,
        ),
        (
            "label",
            Arc::new(arrow_array::StringArray::from(vec!["x"; 4])) as _,
        ),
    ])
    .unwrap();
    let c = Columns::infer(batch.schema().as_ref()).unwrap();
    assert_eq!(c.channels.len(), 2, "the string column is not a channel");
    let items = to_timestamped(&batch, &c).unwrap();
    assert_eq!(rta_core::data::read_timestamps(&items[0]).unwrap(), [1, 3]);
    let back = from_timestamped(&items, &c.channels).unwrap();
    assert_eq!(back.num_rows(), 4);
    let a = back.column(1);
    assert_eq!(a.null_count(), 2);
    assert_eq!(a.as_ref(), batch.column(1).as_ref());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any batch of every type survives the round trip exactly, whatever
    /// slice of it is converted (offsets into shared buffers).
    #[test]
    fn round_trip_is_exact(n in 1usize..300, seed in any::<i64>(), cut in 0usize..50) {
        let batch = every_type(n + cut, seed).slice(cut, n);
        let c = Columns::infer(batch.schema().as_ref()).unwrap();
        let items = to_timestamped(&batch, &c).unwrap();
        let back = from_timestamped(&items, &c.channels).unwrap();
        prop_assert_eq!(back.num_rows(), batch.num_rows());
        for k in 0..batch.num_columns() {
            prop_assert_eq!(back.column(k).as_ref(), batch.column(k).as_ref(), "column {}", k);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_through_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtaServer::open(dir.path()).unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let running = server.spawn(loopback, loopback).await.unwrap();
    let client = RtaClient::builder(running.grpc_uri().unwrap())
        .rest(running.http_url())
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();

    let batch = every_type(5_000, 3);
    let c = Columns::infer(batch.schema().as_ref()).unwrap();
    client
        .put_session(
            SessionRequest::new("arrow-1", SessionState::Open).time_range(T0, T0 + 10_000_000_000),
        )
        .await
        .unwrap();
    let writer = client.writer("arrow-1").await.unwrap();
    for item in to_timestamped(&batch, &c).unwrap() {
        writer.timestamped(item).await.unwrap();
    }
    writer.close().await.unwrap();

    let mut items = Vec::new();
    let mut d =
        client
            .rest()
            .unwrap()
            .download("arrow-1", DataKind::Timestamped, "0-8", None, None);
    while let Some(chunk) = d.next_chunk().await.unwrap() {
        let list: TimestampedDataList = chunk.decode_list().unwrap();
        items.extend(list.timestamped_data);
    }
    let back = from_timestamped(&items, &c.channels).unwrap();
    assert_eq!(back.num_rows(), 5_000);
    for k in 0..batch.num_columns() {
        assert_eq!(
            back.column(k).as_ref(),
            batch.column(k).as_ref(),
            "column {k}"
        );
    }
    // Column names and types come from the channel list.
    let renamed = vec![ChannelColumn {
        column: 1,
        name: "renamed".into(),
        channel: 8,
        data_type: ChannelDataType::F64,
    }];
    let one = from_timestamped(&items, &renamed).unwrap();
    assert_eq!(one.schema().field(1).name(), "renamed");
    assert_eq!(one.column(1).as_ref(), batch.column(9).as_ref());
}
