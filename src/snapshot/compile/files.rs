//! The certificate store and certificate references (SPEC §1): loading the store
//! directory, resolving an ID or a path, and the expiry warnings and gauges.

use std::sync::Arc;

use super::Compiler;
use crate::certs::{CertErrorKind, CertId, CertStore, LoadedCert};
use crate::config::ConfigErrorKind as Kind;
use crate::snapshot::CertGauge;

impl Compiler<'_> {
    pub(super) fn load_store(&mut self, extra: Vec<Arc<LoadedCert>>) {
        if let Some(cs) = &self.cfg.raw.certificate_store {
            let dir = self.cfg.resolve_path(&cs.dir);
            let (store, errors, _) = CertStore::load_dir(&dir, self.io);
            for e in errors {
                self.error(Kind::File, "certificate_store.dir", e.to_string());
            }
            self.store = store;
        }
        for cert in extra {
            self.store.insert(cert);
        }
        let store: Vec<Arc<LoadedCert>> = self.store.iter().cloned().collect();
        for c in store {
            self.warn_if_expired(&c);
        }
    }

    /// Resolves a certificate reference (SPEC §1): a store ID or a PEM path.
    pub(super) fn resolve(&mut self, reference: &str, path: &str) -> Option<Arc<LoadedCert>> {
        if let Some(id) = CertId::parse(reference) {
            self.referenced.insert(id);
            return match self.store.get(&id) {
                Some(c) => {
                    let c = c.clone();
                    self.warn_if_expired(&c);
                    Some(c)
                }
                None => {
                    let hint = if self.cfg.raw.certificate_store.is_none() {
                        " (no certificate_store is configured)"
                    } else {
                        " (add its PEM to certificate_store.dir)"
                    };
                    self.error(
                        Kind::UnknownName,
                        path,
                        format!("certificate {id} is not in the certificate store{hint}"),
                    );
                    None
                }
            };
        }
        match self.read_cert_file(reference) {
            Ok(c) => {
                self.warn_if_expired(&c);
                Some(c)
            }
            Err((kind, e)) => {
                self.error(kind, path, e);
                None
            }
        }
    }

    /// Reads (once per load) a certificate file the config names; the error says whether
    /// the file is missing or unreadable ([`Kind::File`]) or its content is wrong.
    pub(super) fn read_cert_file(&mut self, reference: &str) -> Result<Arc<LoadedCert>, (Kind, String)> {
        let file = self.cfg.resolve_path(reference);
        if let Some(r) = self.cert_files.get(&file) {
            return r.clone();
        }
        let r = if self.io.exists(&file) {
            self.io.read_pem(&file).map_err(|e| {
                let kind = match e.kind {
                    CertErrorKind::Unreadable => Kind::File,
                    CertErrorKind::Invalid | CertErrorKind::KeyMismatch => Kind::Certificate,
                };
                (kind, e.to_string())
            })
        } else {
            Err((
                Kind::File,
                format!("{}: file not found (not a certificate ID either)", file.display()),
            ))
        };
        self.cert_files.insert(file, r.clone());
        r
    }

    /// Warns (once per certificate and load) about certificates that have expired, are not
    /// valid yet, or expire within [`EXPIRY_WARNING_DAYS`].
    pub(super) fn warn_if_expired(&mut self, c: &LoadedCert) {
        if c.is_public_key_only() || !self.warned_expired.insert(c.id) {
            return;
        }
        let (id, subject, source) = (c.id, &c.meta.subject, c.source.display());
        if c.meta.not_after < self.now {
            self.warnings
                .push(format!("certificate {id} ({subject}) from {source} has expired"));
        } else if c.meta.not_before > self.now {
            self.warnings
                .push(format!("certificate {id} ({subject}) from {source} is not valid yet"));
        } else if c.meta.not_after - self.now < super::EXPIRY_WARNING_DAYS * 86_400 {
            let days = (c.meta.not_after - self.now) / 86_400;
            self.warnings.push(format!(
                "certificate {id} ({subject}) from {source} expires in {days} days"
            ));
        }
    }

    pub(super) fn gauge(&mut self, c: &LoadedCert, role: &'static str) {
        if c.is_public_key_only() {
            return;
        }
        self.gauges.insert(CertGauge {
            id: c.id,
            subject: c.meta.subject.clone(),
            role,
            not_after: c.meta.not_after,
        });
    }
}
