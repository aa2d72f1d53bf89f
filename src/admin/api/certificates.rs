//! `/certificates`: the certificate store (upload, list with filters, get, patch, delete).

use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{non_empty, ok, parse_json, put, removed, rfc3339, AdminResponse, ApiError, Query};
use crate::admin::records::*;
use crate::admin::state::{kind, parse_record, public_pem, ControlState, StoredCert};
use crate::admin::ControlPlane;
use crate::certs::{parse_pem, CertErrorKind, CertId};
use crate::clock::now_unix;

/// The certificate object of SPEC §8 (plus `key_type` and `source`).
pub(super) fn cert_json(c: &StoredCert) -> Value {
    let m = &c.loaded.meta;
    json!({
        "id": c.record.id,
        "name": c.record.name,
        "subject": m.subject,
        "issuer": m.issuer,
        "dns_names": m.dns_names,
        "serial": m.serial,
        "not_before": rfc3339(m.not_before),
        "not_after": rfc3339(m.not_after),
        "is_ca": m.is_ca,
        "has_private_key": c.loaded.key.is_some(),
        "spki_sha256": m.spki_sha256.to_hex(),
        "key_type": m.key_type,
        "organisations": c.record.organisations,
        "source": c.record.source,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchCert {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    organisations: Option<Vec<String>>,
}

pub(super) fn live_cert<'s>(s: &'s ControlState, raw: &str) -> Result<&'s StoredCert, ApiError> {
    let id = CertId::parse(raw)
        .map(|i| i.to_hex())
        .unwrap_or_else(|| raw.to_string());
    s.certificates
        .get(&id)
        .filter(|c| !c.record.deleted)
        .ok_or_else(|| ApiError::not_found("certificate", raw))
}

pub(super) fn check_orgs(s: &ControlState, orgs: &[String]) -> Result<(), ApiError> {
    let unknown: Vec<&str> = orgs
        .iter()
        .filter(|o| !s.organisations.contains_key(*o))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad(format!("unknown organisations: {}", unknown.join(", "))))
    }
}

impl ControlPlane {
    /// Parses an uploaded PEM into a record (the key sealed), refusing what SPEC §8 refuses.
    pub(super) fn certificate_from_pem(&self, body: &[u8], name: Option<String>) -> Result<StoredCert, ApiError> {
        if let Some(n) = &name {
            non_empty("name", n)?;
        }
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ApiError::new(
                400,
                "invalid_certificate",
                "the body must be a PEM certificate",
            ));
        }
        let loaded = parse_pem(body, Path::new("upload")).map_err(|e| match e.kind {
            CertErrorKind::KeyMismatch => {
                ApiError::new(400, "key_mismatch", "the private key does not match the certificate")
            }
            _ => ApiError::new(400, "invalid_certificate", e.message),
        })?;
        if loaded.is_public_key_only() {
            return Err(ApiError::new(
                400,
                "invalid_certificate",
                "a certificate is required, not a bare public key",
            ));
        }
        if loaded.meta.not_after < now_unix() {
            return Err(ApiError::new(
                400,
                "certificate_expired",
                format!("the certificate expired at {}", rfc3339(loaded.meta.not_after)),
            ));
        }
        let key_sealed = match (&loaded.key, self.vault()) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(ApiError::bad(
                    "a PEM with a private key needs admin.secret_env (keys are stored encrypted)",
                ));
            }
            (Some(k), Some(v)) => {
                let pem = k.private_key_to_pem_pkcs8().map_err(|e| ApiError::bad(e.to_string()))?;
                Some(v.seal(&pem).map_err(|e| ApiError::bad(e.to_string()))?)
            }
        };
        let pem = public_pem(&loaded);
        let id = loaded.id.to_hex();
        let record = CertRecord {
            name: name.unwrap_or_else(|| loaded.meta.subject.clone()),
            id,
            pem,
            key_sealed,
            source: Source::Api,
            path: None,
            deleted: false,
            organisations: Vec::new(),
            created_at: now_unix(),
        };
        let loaded = parse_record(&record, self.vault()).map_err(|e| ApiError::bad(e.to_string()))?;
        Ok(StoredCert { record, loaded })
    }

    pub(super) fn add_certificate(&self, body: &[u8], query: Option<&str>) -> Result<AdminResponse, ApiError> {
        let q = Query::parse(query);
        let mut cert = self.certificate_from_pem(body, q.get("name").map(String::from))?;
        let orgs: Vec<String> = q.all("organisation");
        self.change(|s| {
            if let Some(existing) = s.certificates.get(&cert.record.id) {
                if !existing.record.deleted {
                    return Err(ApiError::new(
                        409,
                        "duplicate",
                        format!("certificate {} is already in the store", cert.record.id),
                    ));
                }
            }
            check_orgs(s, &orgs)?;
            cert.record.organisations = orgs.clone();
            let write = put(kind::CERTIFICATE, &cert.record.id, &cert.record);
            let out = cert_json(&cert);
            s.certificates.insert(cert.record.id.clone(), cert.clone());
            Ok((ok(201, out)?, vec![write]))
        })
    }

    pub(super) fn list_certificates(&self, query: Option<&str>) -> Result<AdminResponse, ApiError> {
        let q = Query::parse(query);
        let org = q.get("organisation");
        let expiring = match q.get("expiring_within_days") {
            Some(d) => Some(
                d.parse::<i64>()
                    .map_err(|_| ApiError::bad("expiring_within_days must be a number of days"))?,
            ),
            None => None,
        };
        let has_key = match q.get("has_private_key") {
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(ApiError::bad("has_private_key must be true or false")),
            None => None,
        };
        let now = now_unix();
        let s = self.state.lock();
        let list: Vec<Value> = s
            .live_certificates()
            .filter(|c| org.is_none_or(|o| c.record.organisations.iter().any(|x| x == o)))
            .filter(|c| expiring.is_none_or(|d| c.loaded.meta.not_after <= now + d * 86_400))
            .filter(|c| has_key.is_none_or(|k| c.loaded.key.is_some() == k))
            .map(cert_json)
            .collect();
        ok(200, json!({"certificates": list}))
    }

    pub(super) fn get_certificate(&self, id: &str) -> Result<AdminResponse, ApiError> {
        let s = self.state.lock();
        let c = live_cert(&s, id)?;
        ok(200, cert_json(c))
    }

    pub(super) fn patch_certificate(&self, id: &str, body: &[u8]) -> Result<AdminResponse, ApiError> {
        let patch: PatchCert = parse_json(body)?;
        if let Some(name) = &patch.name {
            non_empty("name", name)?;
        }
        self.change(|s| {
            let key = live_cert(s, id)?.record.id.clone();
            if let Some(orgs) = &patch.organisations {
                check_orgs(s, orgs)?;
            }
            let c = s.certificates.get_mut(&key).expect("checked above");
            if let Some(name) = &patch.name {
                c.record.name = name.clone();
            }
            if let Some(orgs) = &patch.organisations {
                c.record.organisations = orgs.clone();
            }
            let write = put(kind::CERTIFICATE, &key, &c.record);
            Ok((ok(200, cert_json(c))?, vec![write]))
        })
    }

    pub(super) fn delete_certificate(&self, id: &str) -> Result<AdminResponse, ApiError> {
        self.change(|s| {
            let c = live_cert(s, id)?;
            if c.record.source == Source::Dir {
                return Err(ApiError::new(
                    409,
                    "invalid_request",
                    "this certificate comes from certificate_store.dir: remove its file instead",
                ));
            }
            let key = c.record.id.clone();
            s.certificates.remove(&key);
            Ok(removed(kind::CERTIFICATE, key))
        })
    }
}
