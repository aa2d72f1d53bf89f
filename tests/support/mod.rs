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
