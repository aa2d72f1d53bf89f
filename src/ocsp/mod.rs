//! OCSP for client leaves (SPEC §10): fetching a responder's answer and keeping it. The
//! request and the reading of a response are [`crate::certs::ocsp`]'s; what an answer
//! means for a request is the policy's. This module does the I/O between them.

mod cache;
mod fetch;

pub use cache::{OcspCache, MAX_CACHED, RETRY_AFTER_ERROR};
pub use fetch::{fetch, MAX_RESPONSE};
