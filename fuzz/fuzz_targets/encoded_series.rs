#![no_main]
//! Fuzz target: see `rta_core::fuzzing::encoded_series`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rta_core::fuzzing::encoded_series(data));
