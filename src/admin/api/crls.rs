//! `/crls`: the CRLs the data plane checks (SPEC §10), and uploads of new ones.
//!
//! An upload is parsed and its signature verified against a CA certificate certgate knows
//! before it is stored; it then replaces any earlier upload from the same CA and joins the
//! configured CRLs at the compile it triggers (one per CA, the newest `thisUpdate` wins).

use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use super::{ok, put, rfc3339, AdminResponse, ApiError};
use crate::admin::records::CrlRecord;
use crate::admin::state::{kind, StoredCrl};
use crate::admin::{ControlPlane, ControlState, Write};
use crate::certs::crl::{parse_crls, ParsedCrl};
use crate::certs::CertId;
use crate::clock::now_unix;
use crate::snapshot::revocation::Crl;

/// Longest upload: a CRL with a few hundred thousand entries.
pub const MAX_CRL_BODY: usize = 32 * 1024 * 1024;

impl ControlPlane {
    /// `GET /crls`: every CRL the data plane checks now, configured or uploaded.
    pub fn loaded_crls(&self) -> Vec<Value> {
        let Some(p) = self.publisher.get() else {
            return Vec::new();
        };
        let snap = p.store().load();
        snap.revocation
            .crls
            .iter()
            .map(|c| describe(&c.parsed, c.issuer_id, &c.source))
            .collect()
    }

    /// `POST /crls`: one DER CRL or any number of PEM `X509 CRL` blocks.
    pub(super) fn add_crls(&self, body: &[u8]) -> Result<AdminResponse, ApiError> {
        let parsed: Vec<Arc<ParsedCrl>> = parse_crls(body)
            .map_err(|e| ApiError::new(400, "invalid_crl", format!("not a CRL: {e}")))?
            .into_iter()
            .map(Arc::new)
            .collect();
        if parsed.is_empty() {
            return Err(ApiError::new(
                400,
                "invalid_crl",
                "the body holds no CRL: send one DER CRL or PEM `X509 CRL` blocks",
            ));
        }
        let loaded = self
            .publisher
            .get()
            .map(|p| p.store().load().revocation.clone())
            .unwrap_or_default();
        self.change(|s| {
            let mut issuers: Vec<(CertId, openssl::x509::X509)> = loaded.issuers.to_vec();
            issuers.extend(
                s.live_certificates()
                    .filter(|c| c.loaded.meta.is_ca)
                    .filter_map(|c| Some((c.loaded.id, c.loaded.leaf()?.clone()))),
            );
            let mut writes = Vec::new();
            let mut out = Vec::new();
            for p in &parsed {
                let crl = Crl::verified(p.clone(), "upload", &issuers)
                    .map_err(|e| ApiError::new(400, "invalid_crl", format!("CRL of {}: {e}", p.issuer)))?;
                let applied = loaded.crls.iter().find(|c| c.issuer_id == crl.issuer_id);
                if let Some(a) = applied.filter(|a| a.parsed.this_update > p.this_update) {
                    return Err(ApiError::new(
                        409,
                        "invalid_crl",
                        format!(
                            "the CRL of {} is older (thisUpdate {}) than the one applied from {} (thisUpdate {})",
                            p.issuer,
                            rfc3339(p.this_update),
                            a.source,
                            rfc3339(a.parsed.this_update)
                        ),
                    ));
                }
                let id = hex::encode(crate::certs::sha256(&p.der));
                writes.extend(store_upload(s, &id, p));
                out.push(describe(p, crl.issuer_id, &StoredCrl::source_of(&id)));
            }
            Ok((ok(201, json!({ "crls": out }))?, writes))
        })
    }
}

/// Stores `p` (record `id`, the SHA-256 of its DER) in place of any earlier upload from the
/// same CA; no write when it is stored already.
fn store_upload(s: &mut ControlState, id: &str, p: &Arc<ParsedCrl>) -> Vec<Write> {
    if s.crls.contains_key(id) {
        return Vec::new();
    }
    let earlier: Vec<String> = s
        .crls
        .iter()
        .filter(|(_, c)| c.parsed.issuer_der == p.issuer_der)
        .map(|(id, _)| id.clone())
        .collect();
    let mut writes = Vec::new();
    for old in earlier {
        s.crls.remove(&old);
        writes.push(Write::Remove {
            kind: kind::CRL,
            id: old,
        });
    }
    let record = CrlRecord {
        id: id.to_string(),
        der: base64::engine::general_purpose::STANDARD.encode(&p.der),
        issuer: p.issuer.clone(),
        created_at: now_unix(),
    };
    writes.push(put(kind::CRL, id, &record));
    s.crls.insert(
        id.to_string(),
        StoredCrl {
            record,
            parsed: p.clone(),
        },
    );
    writes
}

/// One CRL as `GET /crls` and `POST /crls` list it.
fn describe(p: &ParsedCrl, issuer_id: CertId, source: &str) -> Value {
    json!({
        "issuer": p.issuer,
        "issuer_id": issuer_id.to_hex(),
        "this_update": rfc3339(p.this_update),
        "next_update": p.next_update.map(rfc3339),
        "entries": p.serials.len(),
        "source": source,
    })
}
