#![no_main]
//! Fuzz target: see `rta_core::fuzzing::lz4_frame`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rta_core::fuzzing::lz4_frame(data));
