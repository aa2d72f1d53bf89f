//! `apis[].auth`: the allow list, token header and JWT verifier of one API.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use http::HeaderName;
use openssl::x509::X509;

use super::Compiler;
use crate::certs::CertId;
use crate::config::AuthType;
use crate::config::ConfigErrorKind as Kind;
use crate::snapshot::client_allow::{CaSet, ClientAllowList};
use crate::snapshot::jwt::JwtVerifier;
use crate::snapshot::ApiAuth;

impl Compiler<'_> {
    pub(super) fn api_auth(
        &mut self,
        conf: &crate::config::ApiConf,
        base: &str,
        gateway_cas: &[(CertId, X509)],
        ca_sets: &mut HashMap<Vec<CertId>, Arc<CaSet>>,
    ) -> Option<ApiAuth> {
        let a = &conf.auth;
        let mark = self.mark();
        let (leaves, mut cas) = self.allow_entries(&a.client_certificates, &format!("{base}.auth.client_certificates"));
        // Control-plane grants' CA certificates become anchors here; their other entries
        // are in the control layer.
        for id in self.overlay.ca_allow.get(&conf.name).into_iter().flatten() {
            match self.store.get(id).cloned() {
                Some(c) => {
                    if let (true, Some(leaf)) = (c.meta.is_ca, c.leaf()) {
                        cas.push((c.id, leaf.clone()));
                    }
                }
                None => self.warnings.push(format!(
                    "API {}: control-plane CA entry {id} is not in the store",
                    conf.name
                )),
            }
        }
        if !a.mutual_tls && !a.client_certificates.is_empty() {
            self.warnings.push(format!(
                "API {}: auth.client_certificates is ignored because auth.mutual_tls is false",
                conf.name
            ));
        }
        if a.mutual_tls && a.client_certificates.is_empty() && self.cfg.raw.security.client_certificates.is_empty() {
            self.warnings.push(format!(
                "API {}: mutual_tls is on but no client certificate is allowed yet; every call is refused",
                conf.name
            ));
        }
        let mut allow = ClientAllowList { leaves, cas: None };
        if a.mutual_tls {
            cas.extend(gateway_cas.iter().cloned());
            if !cas.is_empty() {
                let mut key: Vec<CertId> = cas.iter().map(|(id, _)| *id).collect();
                key.sort();
                key.dedup();
                let set = match ca_sets.get(&key) {
                    Some(s) => Some(s.clone()),
                    None => match CaSet::new(cas) {
                        Ok(s) => {
                            let s = Arc::new(s);
                            ca_sets.insert(key, s.clone());
                            Some(s)
                        }
                        Err(e) => {
                            self.error(
                                Kind::Certificate,
                                &format!("{base}.auth.client_certificates"),
                                format!("cannot build the CA store: {e}"),
                            );
                            None
                        }
                    },
                };
                allow.cas = set;
            }
        }
        let token_header = match HeaderName::from_bytes(a.token_header.as_bytes()) {
            Ok(h) => Some(h),
            Err(_) => {
                self.error(
                    Kind::Invalid,
                    &format!("{base}.auth.token_header"),
                    format!("`{}` is not a valid header name", a.token_header),
                );
                None
            }
        };
        let jwt = match (&a.jwt, a.kind) {
            (Some(j), AuthType::Jwt) => {
                let (cfg, io) = (self.cfg, self.io);
                let read = |p: &str| -> Result<(Vec<u8>, PathBuf), String> {
                    let file = cfg.resolve_path(p);
                    io.read(&file)
                        .map(|b| (b.to_vec(), file.clone()))
                        .map_err(|e| format!("{}: cannot read: {e}", file.display()))
                };
                match JwtVerifier::compile(j, &read) {
                    Ok(v) => Some(v),
                    Err(errs) => {
                        for (field, kind, msg) in errs {
                            let p = if field.is_empty() {
                                format!("{base}.auth.jwt")
                            } else {
                                format!("{base}.auth.jwt.{field}")
                            };
                            self.error(kind, &p, msg);
                        }
                        None
                    }
                }
            }
            (None, AuthType::Jwt) => {
                self.error(
                    Kind::Missing,
                    &format!("{base}.auth.jwt"),
                    "auth.type is jwt but there is no `jwt` section",
                );
                None
            }
            (Some(_), _) => {
                self.error(
                    Kind::Conflict,
                    &format!("{base}.auth.jwt"),
                    "a `jwt` section needs auth.type: jwt",
                );
                None
            }
            (None, _) => None,
        };
        if self.failed_since(mark) {
            return None;
        }
        Some(ApiAuth {
            kind: a.kind,
            mutual_tls: a.mutual_tls,
            allow,
            token_header: token_header?,
            jwt,
            ocsp: a
                .revocation
                .as_ref()
                .map_or(self.cfg.raw.security.revocation.ocsp, |r| r.ocsp),
        })
    }
}
