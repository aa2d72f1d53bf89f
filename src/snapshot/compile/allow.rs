//! Allow lists (SPEC §3 step 2): leaf IDs and CA entries, for APIs, the gateway and the
//! admin listener.

use std::sync::Arc;

use openssl::x509::X509;

use super::Compiler;
use crate::certs::{CertId, DigestSet};
use crate::config::ConfigErrorKind as Kind;
use crate::snapshot::client_allow::{CaSet, ClientAllowList};

impl Compiler<'_> {
    /// Resolves an allow list into leaf IDs and CA certificates.
    pub(super) fn allow_entries(&mut self, refs: &[String], base: &str) -> (DigestSet<CertId>, Vec<(CertId, X509)>) {
        let mut leaves = DigestSet::default();
        let mut cas = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            let Some(c) = self.resolve(r, &format!("{base}[{i}]")) else {
                continue;
            };
            if c.is_public_key_only() {
                self.error(Kind::Invalid,
                    &format!("{base}[{i}]"),
                    format!(
                        "`{r}` is a bare public key: allow lists match a client's leaf certificate or its issuing CA, never a key alone"
                    ),
                );
                continue;
            }
            self.gauge(&c, "client_allow");
            leaves.insert(c.id);
            if c.meta.is_ca {
                if let Some(leaf) = c.leaf() {
                    cas.push((c.id, leaf.clone()));
                }
            }
        }
        (leaves, cas)
    }

    /// `admin.client_certificates`: the admin API's own allow list.
    pub(super) fn admin_allow(&mut self) -> Option<ClientAllowList> {
        let refs = self
            .cfg
            .raw
            .admin
            .as_ref()
            .map(|a| a.client_certificates.clone())
            .unwrap_or_default();
        if refs.is_empty() {
            return None;
        }
        if self.cfg.raw.tls.is_none() {
            self.error(
                Kind::Missing,
                "admin.client_certificates",
                "an mTLS admin listener needs the `tls` section for its server certificate",
            );
        }
        let (leaves, cas) = self.allow_entries(&refs, "admin.client_certificates");
        let cas = if cas.is_empty() {
            None
        } else {
            match CaSet::new(cas) {
                Ok(set) => Some(Arc::new(set)),
                Err(e) => {
                    self.error(
                        Kind::Certificate,
                        "admin.client_certificates",
                        format!("cannot build the CA store: {e}"),
                    );
                    None
                }
            }
        };
        Some(ClientAllowList { leaves, cas })
    }

    pub(super) fn gateway_allow_list(&mut self) -> (DigestSet<CertId>, Vec<(CertId, X509)>) {
        let refs = self.cfg.raw.security.client_certificates.clone();
        self.allow_entries(&refs, "security.client_certificates")
    }
}
