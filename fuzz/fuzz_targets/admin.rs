#![no_main]
//! See `certgate::fuzz_targets::admin`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| certgate::fuzz_targets::admin(data));
