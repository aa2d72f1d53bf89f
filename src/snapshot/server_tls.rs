//! Downstream server identities: the default certificate and per-SNI ones.

use std::collections::HashMap;
use std::sync::Arc;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use super::host::{normalize_host, sort_most_specific_first, HostPattern};

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
    exact: HashMap<String, Arc<ServerIdentity>>,
    wildcard: Vec<(HostPattern, Arc<ServerIdentity>)>,
}

// === impl ServerIdentities ===

impl ServerIdentities {
    /// Builds the selector; `sni` lists (pattern, identity) in config order, and the first
    /// entry that names an exact host keeps it.
    pub fn new(default: Arc<ServerIdentity>, sni: Vec<(HostPattern, Arc<ServerIdentity>)>) -> ServerIdentities {
        let mut exact = HashMap::new();
        let mut wildcard = Vec::new();
        for (p, id) in sni {
            match p.exact_name() {
                Some(name) => {
                    exact.entry(name).or_insert(id);
                }
                None => wildcard.push((p, id)),
            }
        }
        sort_most_specific_first(&mut wildcard);
        ServerIdentities {
            default,
            exact,
            wildcard,
        }
    }

    /// The identity for this SNI.
    pub fn select(&self, sni: Option<&str>) -> &Arc<ServerIdentity> {
        let Some(sni) = sni else { return &self.default };
        let host = normalize_host(sni);
        if let Some(id) = self.exact.get(&*host) {
            return id;
        }
        self.wildcard
            .iter()
            .find(|(p, _)| p.matches(&host))
            .map(|(_, id)| id)
            .unwrap_or(&self.default)
    }
}
