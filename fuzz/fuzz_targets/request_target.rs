#![no_main]
//! See `certgate::fuzz_targets::request_target`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| certgate::fuzz_targets::request_target(data));
