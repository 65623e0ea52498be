#![no_main]
//! Fuzz target: see `rta_core::fuzzing::config_json`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| rta_core::fuzzing::config_json(data));
