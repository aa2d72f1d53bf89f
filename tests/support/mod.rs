//! Shared test support: a blocking HTTPS client with client certificates and session
//! control, a running certgate process, and free ports. Certificates come from
//! `certgate::pki`, generated per run.

#![allow(dead_code)]

pub mod bed;
pub mod client;
pub mod console;
pub mod curl;
pub mod gateway;
pub mod hostile;
pub mod ocsp;
pub mod redis;
pub mod spec3;
pub mod world;

#[allow(unused_imports)]
pub use bed::TestBed;
#[allow(unused_imports)]
pub use client::{Conn, Response, TlsClient};
#[allow(unused_imports)]
pub use gateway::{free_port, Gateway};

/// The certgate binary the tests start as a process: `CERTGATE_TEST_BIN` when set (how
/// `scripts/test.sh` runs the suites a second time on the release build that ships, LTO and
/// all), else the binary Cargo built with the tests.
pub fn certgate_bin() -> std::ffi::OsString {
    std::env::var_os("CERTGATE_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_certgate").into())
}
