#![no_main]
//! Fuzz target: see `rta_core::fuzzing::session_json`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rta_core::fuzzing::session_json(data));
