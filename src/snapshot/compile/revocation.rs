//! `security.revocation`: the CRL files and directories, each CRL verified against the CA
//! certificate that issued it (SPEC §10).

use std::collections::BTreeMap;
use std::sync::Arc;

use openssl::x509::X509;

use super::Compiler;
use crate::certs::crl::parse_crls;
use crate::certs::CertId;
use crate::config::ConfigErrorKind as Kind;
use crate::config::{AuthType, OcspMode};
use crate::snapshot::revocation::{Crl, RevocationSet};

/// A CRL that goes stale within this many seconds is warned about at every load.
const STALE_SOON_SECONDS: i64 = 24 * 3600;

impl Compiler<'_> {
    /// Loads every configured CRL. Its issuer must be a CA certificate this load knows (the
    /// store, the control plane, or an allow-list file) whose key verifies its signature.
    pub(super) fn revocation(&mut self) -> RevocationSet {
        let conf = self.cfg.raw.security.revocation.clone();
        if !(1..=60_000).contains(&conf.ocsp_timeout_ms) {
            self.error(
                Kind::Invalid,
                "security.revocation.ocsp_timeout_ms",
                "must be between 1 and 60000 (milliseconds a request may wait for a responder)",
            );
        }
        for (i, api) in self.cfg.raw.apis.iter().enumerate() {
            let decides_a_certificate = api.auth.mutual_tls || api.auth.kind == AuthType::Certificate;
            if api.auth.revocation.as_ref().is_some_and(|r| r.ocsp != OcspMode::Off) && !decides_a_certificate {
                self.error(
                    Kind::Invalid,
                    &format!("apis[{i}].auth.revocation.ocsp"),
                    "this API decides no client certificate (mutual_tls is off and auth.type is not certificate): OCSP would never run",
                );
            }
        }
        let issuers = self.known_cas();
        let mut chosen: BTreeMap<CertId, Arc<Crl>> = BTreeMap::new();
        for (i, entry) in conf.crls.iter().enumerate() {
            let yaml = format!("security.revocation.crls[{i}]");
            let path = self.cfg.resolve_path(entry);
            let files = if path.is_dir() {
                match self.io.list_crls(&path) {
                    Ok(f) => f,
                    Err(e) => {
                        self.error(Kind::File, &yaml, format!("{}: {e}", path.display()));
                        continue;
                    }
                }
            } else {
                vec![path]
            };
            for file in files {
                let name = file.display().to_string();
                let bytes = match self.io.read(&file) {
                    Ok(b) => b,
                    Err(e) => {
                        self.error(Kind::File, &yaml, format!("{name}: {e}"));
                        continue;
                    }
                };
                let parsed = match parse_crls(&bytes) {
                    Ok(p) => p,
                    Err(e) => {
                        self.error(Kind::Certificate, &yaml, format!("{name}: {e}"));
                        continue;
                    }
                };
                for crl in parsed {
                    let issuer = crl.issuer.clone();
                    match Crl::verified(Arc::new(crl), &name, &issuers) {
                        Ok(c) => self.keep_newest(&mut chosen, Arc::new(c)),
                        Err(e) => self.error(Kind::Certificate, &yaml, format!("{name}: CRL of {issuer}: {e}")),
                    }
                }
            }
        }
        for up in &self.overlay.crls {
            // An upload was verified when it was stored; one that no longer verifies (its CA
            // is gone) is left out with a warning: the control plane never fails a load.
            match Crl::verified(up.parsed.clone(), &up.source, &issuers) {
                Ok(c) => self.keep_newest(&mut chosen, Arc::new(c)),
                Err(e) => self.warnings.push(format!(
                    "{}: CRL of {} is not applied: {e}",
                    up.source, up.parsed.issuer
                )),
            }
        }
        for c in chosen.values() {
            match c.parsed.next_update {
                Some(t) if t < self.now => self.warnings.push(format!(
                    "{}: the CRL of {} is stale (nextUpdate passed {} s ago); stale_crl: {:?}",
                    c.source,
                    c.parsed.issuer,
                    self.now - t,
                    conf.stale_crl
                )),
                Some(t) if t < self.now + STALE_SOON_SECONDS => self.warnings.push(format!(
                    "{}: the CRL of {} goes stale in {} s (nextUpdate); load a newer one",
                    c.source,
                    c.parsed.issuer,
                    t - self.now
                )),
                _ => {}
            }
        }
        let mut set = RevocationSet::new(chosen.into_values().collect(), conf.stale_crl, conf.ocsp);
        set.issuers = issuers.into();
        set.ocsp_timeout = std::time::Duration::from_millis(conf.ocsp_timeout_ms);
        set.ocsp_cache = std::time::Duration::from_secs(conf.ocsp_cache_seconds);
        set
    }

    /// Of two CRLs from one CA, the later `thisUpdate` is kept (a directory may hold both).
    fn keep_newest(&mut self, chosen: &mut BTreeMap<CertId, Arc<Crl>>, c: Arc<Crl>) {
        match chosen.get(&c.issuer_id) {
            Some(old) if old.parsed.this_update >= c.parsed.this_update => {
                self.warnings.push(format!(
                    "{}: an older CRL of {} than {} is ignored",
                    c.source, c.parsed.issuer, old.source
                ));
            }
            Some(old) => {
                self.warnings.push(format!(
                    "{}: an older CRL of {} than {} is ignored",
                    old.source, c.parsed.issuer, c.source
                ));
                chosen.insert(c.issuer_id, c);
            }
            None => {
                chosen.insert(c.issuer_id, c);
            }
        }
    }

    /// Every CA certificate loaded so far: the store (with the control plane's) and the
    /// files the config named.
    fn known_cas(&self) -> Vec<(CertId, X509)> {
        let from_files = self.cert_files.values().filter_map(|r| r.as_ref().ok());
        let mut out: Vec<(CertId, X509)> = self
            .store
            .iter()
            .chain(from_files)
            .filter(|c| c.meta.is_ca)
            .filter_map(|c| c.leaf().map(|x| (c.id, x.clone())))
            .collect();
        out.sort_by_key(|c| c.0);
        out.dedup_by_key(|c| c.0);
        out
    }
}
