//! `tls`: the server identities (default, alternate, per SNI), each key checked against
//! its certificate.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use openssl::pkey::{PKey, Private};

use super::Compiler;
use crate::certs::Files;
use crate::config::AlternateIdentity;
use crate::config::ConfigErrorKind as Kind;
use crate::snapshot::host::HostPattern;
use crate::snapshot::server_tls::{ServerCredential, ServerIdentities, ServerIdentity};

impl Compiler<'_> {
    /// One identity: `base.certificate` and `base.key`, and `base.alternate` when set.
    pub(super) fn server_identity(
        &mut self,
        base: &str,
        cert: &str,
        key: &str,
        alternate: Option<&AlternateIdentity>,
    ) -> Option<Arc<ServerIdentity>> {
        let primary = self.server_credential(base, cert, key);
        let Some(alt) = alternate else {
            return Some(Arc::new(ServerIdentity {
                credentials: vec![primary?],
            }));
        };
        let alt_base = format!("{base}.alternate");
        let second = self.server_credential(&alt_base, &alt.certificate, &alt.key);
        let (primary, second) = (primary?, second?);
        if primary.key.id() == second.key.id() {
            self.error(Kind::Invalid,
                &format!("{alt_base}.certificate"),
                format!(
                    "has the same key type ({}) as {base}.certificate; an alternate needs another key type (RSA, ECDSA or Ed25519)",
                    key_type_name(&second.key)
                ),
            );
            return None;
        }
        Some(Arc::new(ServerIdentity {
            credentials: vec![primary, second],
        }))
    }

    /// A chain and the key that matches its leaf, from `base.certificate` and `base.key`.
    pub(super) fn server_credential(&mut self, base: &str, cert: &str, key: &str) -> Option<ServerCredential> {
        let chain = match self.read_cert_file(cert) {
            Ok(c) if c.is_public_key_only() => {
                self.error(
                    Kind::Certificate,
                    &format!("{base}.certificate"),
                    format!("{}: holds a public key, not a certificate", c.source.display()),
                );
                None
            }
            Ok(c) => Some(c),
            Err((kind, e)) => {
                self.error(kind, &format!("{base}.certificate"), e);
                None
            }
        };
        let key = match read_private_key(self.io, &self.cfg.resolve_path(key)) {
            Ok(k) => Some(k),
            Err(e) => {
                self.error(Kind::Certificate, &format!("{base}.key"), e);
                None
            }
        };
        let (chain, key) = (chain?, key?);
        let matches = chain.chain[0].public_key().map(|p| p.public_eq(&key)).unwrap_or(false);
        if !matches {
            self.error(
                Kind::Certificate,
                &format!("{base}.key"),
                format!("the key does not match the certificate {}", chain.source.display()),
            );
            return None;
        }
        self.warn_if_expired(&chain);
        self.gauge(&chain, "server");
        Some(ServerCredential {
            chain: chain.chain.clone(),
            key,
        })
    }

    pub(super) fn server_identities(&mut self) -> Option<ServerIdentities> {
        let tls = self.cfg.raw.tls.as_ref()?;
        let default = self.server_identity("tls", &tls.certificate, &tls.key, tls.alternate.as_ref());
        let mut sni = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        for (i, s) in tls.sni.iter().enumerate() {
            let base = format!("tls.sni[{i}]");
            let id = self.server_identity(&base, &s.certificate, &s.key, s.alternate.as_ref());
            if s.hosts.is_empty() {
                self.error(Kind::Missing, &format!("{base}.hosts"), "at least one host is required");
            }
            for (j, h) in s.hosts.iter().enumerate() {
                match HostPattern::parse(h) {
                    Ok(p) => {
                        let here = format!("{base}.hosts[{j}]");
                        if let Some(first) = seen.insert(p.to_string(), here.clone()) {
                            self.error(
                                Kind::Duplicate,
                                &here,
                                format!("`{p}` is also {first}: which certificate it gets would be a guess"),
                            );
                            continue;
                        }
                        if let Some(id) = &id {
                            sni.push((p, id.clone()));
                        }
                    }
                    Err(e) => self.error(Kind::Invalid, &format!("{base}.hosts[{j}]"), e),
                }
            }
        }
        Some(ServerIdentities::new(default?, sni))
    }
}

/// How an error names a key type.
fn key_type_name(key: &PKey<Private>) -> &'static str {
    match key.id() {
        openssl::pkey::Id::RSA => "RSA",
        openssl::pkey::Id::EC => "ECDSA",
        openssl::pkey::Id::ED25519 => "Ed25519",
        openssl::pkey::Id::ED448 => "Ed448",
        _ => "other",
    }
}

/// Reads a PEM private key file.
fn read_private_key(io: &Files<'_>, path: &Path) -> Result<PKey<Private>, String> {
    let bytes = io
        .read(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    PKey::private_key_from_pem(&bytes).map_err(|_| {
        format!(
            "{}: no usable PEM private key (encrypted keys are not supported)",
            path.display()
        )
    })
}
