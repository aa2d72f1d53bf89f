//! Downstream server identities: the default certificate and per-SNI ones.

use std::sync::Arc;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use super::host::{normalize_host, HostMap, HostPattern};

/// What the listener presents for one name: one certificate chain and key per key type,
/// the config's `certificate` first, then its `alternate`. OpenSSL picks per handshake the
/// one the client's signature algorithms allow, ECDSA first when the client accepts both.
pub struct ServerIdentity {
    /// One or two credentials, each with a different key type.
    pub credentials: Vec<ServerCredential>,
}

/// A certificate chain and its private key.
pub struct ServerCredential {
    /// Leaf first.
    pub chain: Vec<X509>,
    /// The leaf's private key.
    pub key: PKey<Private>,
}

/// Server identities chosen by SNI at handshake time.
pub struct ServerIdentities {
    /// Used when the SNI is absent or matches nothing.
    pub default: Arc<ServerIdentity>,
    by_name: HostMap<Arc<ServerIdentity>>,
}

// === impl ServerIdentities ===

impl ServerIdentities {
    /// Builds the selector; `sni` lists (pattern, identity) in config order, and the first
    /// entry that names an exact host keeps it.
    pub fn new(default: Arc<ServerIdentity>, sni: Vec<(HostPattern, Arc<ServerIdentity>)>) -> ServerIdentities {
        let mut by_name = HostMap::default();
        for (p, id) in sni {
            by_name.entry_or_insert_with(&p, || id);
        }
        ServerIdentities {
            default,
            by_name: by_name.finish(),
        }
    }

    /// The identity for this SNI.
    pub fn select(&self, sni: Option<&str>) -> &Arc<ServerIdentity> {
        let Some(sni) = sni else { return &self.default };
        let host = normalize_host(sni);
        self.by_name.get(&host).unwrap_or(&self.default)
    }
}
