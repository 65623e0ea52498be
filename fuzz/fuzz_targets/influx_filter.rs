#![no_main]
//! Fuzz target: see `rta_adapters::influxql::fuzz_filter`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rta_adapters::influxql::fuzz_filter(data));
