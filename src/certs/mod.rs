//! Certificates as certgate sees them: IDs, PEM files and their parsed metadata.
//!
//! This module only *parses*: it turns bytes into [`LoadedCert`]s and IDs. It never decides
//! whether a certificate is allowed anywhere; that is the policy modules' job.

mod cache;
pub mod crl;
mod files;
mod id;
mod loaded;
mod meta;
pub mod ocsp;
mod store;

pub use cache::PemCache;
pub use files::{FileSet, Files};
pub use id::{sha256, spki_sha256, CertId, DigestHasher, DigestMap, DigestSet};
pub use loaded::{parse_pem, read_pem_file, CertError, CertErrorKind, LoadedCert};
pub use meta::CertMeta;
pub use store::CertStore;
