#![no_main]
//! Fuzz target: see `rta_core::fuzzing::query`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rta_core::fuzzing::query(data));
