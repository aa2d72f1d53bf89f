//! `/access-requests` and `/grants`: approving a request issues credentials and extends
//! allow lists; revoking a grant takes them back.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{new_id, new_token, ok, parse_json, put, AdminResponse, ApiError};
use crate::admin::records::*;
use crate::admin::state::{kind, ControlState};
use crate::admin::ControlPlane;
use crate::certs::CertId;
use crate::clock::now_unix;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    app: String,
    product: String,
    #[serde(default)]
    certificate: Option<String>,
}

impl ControlPlane {
    pub(super) fn add_request(&self, body: &[u8]) -> Result<AdminResponse, ApiError> {
        let b: NewRequest = parse_json(body)?;
        if b.certificate.as_deref().is_some_and(|pem| pem.contains("PRIVATE KEY")) {
            return Err(ApiError::new(
                400,
                "invalid_certificate",
                "send the certificate only: a consumer's private key never leaves the consumer",
            ));
        }
        let submitted = match &b.certificate {
            Some(pem) => Some(self.certificate_from_pem(pem.as_bytes(), None)?),
            None => None,
        };
        self.change(|s| {
            let app = s.apps.get(&b.app).cloned().ok_or_else(|| unknown("app", &b.app))?;
            let product = s
                .products
                .get(&b.product)
                .cloned()
                .ok_or_else(|| unknown("product", &b.product))?;
            let mut writes = Vec::new();
            let certificate = match (product.certificate_mode, submitted.clone()) {
                (CertificateMode::SelfServe, None) => return Err(ApiError::bad(SELF_SERVE_NEEDS_PEM)),
                (CertificateMode::Managed, Some(_)) => return Err(ApiError::bad(MANAGED_TAKES_NO_PEM)),
                (CertificateMode::Managed, None) => None,
                (CertificateMode::SelfServe, Some(mut cert)) => {
                    let id = cert.record.id.clone();
                    // The same certificate may serve several requests: keep the stored one.
                    if !s.has_live_certificate(&id) {
                        cert.record.name = format!("{} (self-serve, app {})", cert.record.name, app.name);
                        writes.push(put(kind::CERTIFICATE, &id, &cert.record));
                        s.certificates.insert(id.clone(), cert);
                    }
                    Some(id)
                }
            };
            let r = AccessRequest {
                id: new_id("req"),
                app: app.id,
                product: product.id,
                certificate,
                status: RequestStatus::Pending,
                grant: None,
            };
            writes.push(put(kind::REQUEST, &r.id, &r));
            let out = request_json(&r);
            s.requests.insert(r.id.clone(), r);
            Ok((ok(201, out)?, writes))
        })
    }

    pub(super) fn approve(&self, id: &str) -> Result<AdminResponse, ApiError> {
        self.change(|s| {
            let mut r = s
                .requests
                .get(id)
                .cloned()
                .ok_or_else(|| ApiError::not_found("access request", id))?;
            if r.status != RequestStatus::Pending {
                let message = format!("access request {id} is {:?}, not pending", r.status).to_lowercase();
                return Err(ApiError::new(409, "invalid_request", message));
            }
            let gone = || ApiError::bad(format!("product {} no longer exists", r.product));
            let product = s.products.get(&r.product).cloned().ok_or_else(gone)?;
            let (token, token_sha256) = match product.auth {
                ProductAuth::TokenMtls => {
                    let (t, h) = new_token();
                    (Some(t), Some(h))
                }
                ProductAuth::JwtMtls => (None, None),
            };
            let g = Grant {
                id: new_id("grant"),
                request: r.id.clone(),
                app: r.app.clone(),
                product: product.id.clone(),
                token_sha256,
                apis: product.apis.clone(),
                certificate_mode: product.certificate_mode,
                certificates: r.certificate.iter().cloned().collect(),
                bind: product.bind_certificate_to_token,
                status: GrantStatus::Active,
                created_at: now_unix(),
            };
            r.status = RequestStatus::Approved;
            r.grant = Some(g.id.clone());
            let mut grant = grant_json(s, &g);
            grant["token"] = json!(token);
            let out = json!({ "grant": grant });
            let writes = vec![put(kind::REQUEST, &r.id, &r), put(kind::GRANT, &g.id, &g)];
            s.requests.insert(r.id.clone(), r);
            s.grants.insert(g.id.clone(), g);
            Ok((ok(200, out)?, writes))
        })
    }

    pub(super) fn reject(&self, id: &str) -> Result<AdminResponse, ApiError> {
        self.change(|s| {
            let r = s
                .requests
                .get_mut(id)
                .ok_or_else(|| ApiError::not_found("access request", id))?;
            if r.status != RequestStatus::Pending {
                return Err(ApiError::new(
                    409,
                    "invalid_request",
                    format!("access request {id} is not pending"),
                ));
            }
            r.status = RequestStatus::Rejected;
            let write = put(kind::REQUEST, id, r);
            Ok((ok(200, json!({"id": id, "status": "rejected"}))?, vec![write]))
        })
    }

    /// Every access request, pending first, then by ID.
    pub(super) fn list_requests(&self) -> Result<AdminResponse, ApiError> {
        let s = self.state.lock();
        let mut all: Vec<&AccessRequest> = s.requests.values().collect();
        all.sort_by_key(|r| (r.status != RequestStatus::Pending, r.id.clone()));
        ok(200, json!({"access_requests": all}))
    }

    /// Every grant, as `GET /grants/{id}` answers it.
    pub(super) fn list_grants(&self) -> Result<AdminResponse, ApiError> {
        let s = self.state.lock();
        let grants: Vec<Value> = s
            .grants
            .values()
            .map(|g| {
                let mut out = grant_json(&s, g);
                out["status"] = json!(g.status);
                out["app"] = json!(g.app);
                out["product"] = json!(g.product);
                out
            })
            .collect();
        ok(200, json!({"grants": grants}))
    }

    pub(super) fn get_grant(&self, id: &str) -> Result<AdminResponse, ApiError> {
        let s = self.state.lock();
        let g = s.grants.get(id).ok_or_else(|| ApiError::not_found("grant", id))?;
        let mut out = grant_json(&s, g);
        out["status"] = json!(g.status);
        out["app"] = json!(g.app);
        out["product"] = json!(g.product);
        ok(200, out)
    }

    pub(super) fn revoke(&self, id: &str) -> Result<AdminResponse, ApiError> {
        self.change(|s| {
            let g = s.grants.get_mut(id).ok_or_else(|| ApiError::not_found("grant", id))?;
            if g.status == GrantStatus::Revoked {
                return Ok((ok(200, json!({"id": id, "status": "revoked"}))?, Vec::new()));
            }
            g.status = GrantStatus::Revoked;
            let write = put(kind::GRANT, id, g);
            Ok((ok(200, json!({"id": id, "status": "revoked"}))?, vec![write]))
        })
    }
}

const SELF_SERVE_NEEDS_PEM: &str = "a self-serve product needs a certificate (PEM) with the request";
const MANAGED_TAKES_NO_PEM: &str = "a managed product uses the organisation's certificates; send no certificate";

fn unknown(what: &str, id: &str) -> ApiError {
    ApiError::bad(format!("unknown {what} {id}"))
}

/// An access request as the API answers it.
fn request_json(r: &AccessRequest) -> Value {
    json!({
        "id": r.id,
        "status": "pending",
        "app": r.app,
        "product": r.product,
        "certificate": r.certificate,
    })
}

/// A grant as the API answers it: the certificates it covers now, and those its token is
/// bound to.
fn grant_json(s: &ControlState, g: &Grant) -> Value {
    let certs: Vec<String> = s.grant_certificates(g).iter().map(CertId::to_hex).collect();
    let bound = if g.bind { certs.clone() } else { Vec::new() };
    json!({
        "id": g.id,
        "apis": g.apis,
        "certificates": certs,
        "bound_certificates": bound,
        "certificate_mode": g.certificate_mode,
    })
}
