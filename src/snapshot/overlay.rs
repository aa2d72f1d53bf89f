//! Control-plane state that is merged into a snapshot by the same [`super::compile_with`]
//! the YAML goes through. Problems in it are warnings, never errors: what the control plane
//! holds can never make a YAML reload fail.

use std::collections::HashMap;
use std::sync::Arc;

use super::TokenHash;
use crate::certs::{CertId, LoadedCert};

/// Everything the control plane adds to the YAML's configuration.
#[derive(Clone, Default)]
pub struct Overlay {
    /// Certificates added through the admin API (with their decrypted keys).
    pub certificates: Vec<Arc<LoadedCert>>,
    /// Extra allow-list entries, by API name.
    pub allow: HashMap<String, Vec<CertId>>,
    /// Issued tokens.
    pub tokens: Vec<OverlayToken>,
}

/// A token issued by the control plane.
#[derive(Clone, Debug)]
pub struct OverlayToken {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// API names it may call.
    pub apis: Vec<String>,
    /// Certificate-token binding.
    pub bound_certificates: Vec<CertId>,
    /// Expiry, seconds since the epoch.
    pub expires_at: Option<i64>,
}

// === impl Overlay ===

impl Overlay {
    /// Whether the overlay adds nothing.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty() && self.allow.is_empty() && self.tokens.is_empty()
    }
}
