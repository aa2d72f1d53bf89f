//! The admin API's calls (SPEC §8): routing, validation, and the JSON they answer with.
//! Transport-free: [`ControlPlane::handle`] takes an [`AdminRequest`] and returns an
//! [`AdminResponse`]; `http.rs` does the HTTP.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::records::*;
use super::state::{kind, parse_record, public_pem, ControlState, StoredCert};
use super::{ControlPlane, Write};
use crate::certs::{parse_pem, CertErrorKind, CertId};
use crate::clock::now_unix;
use crate::config::{AuthType, LoadedConfig};

/// Every (method, path) the admin API answers, as written in `docs/admin-openapi.yaml`
/// (a spec test keeps the two and the router in step).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/certificates"),
    ("GET", "/certificates"),
    ("GET", "/certificates/{id}"),
    ("PATCH", "/certificates/{id}"),
    ("DELETE", "/certificates/{id}"),
    ("POST", "/organisations"),
    ("GET", "/organisations"),
    ("POST", "/products"),
    ("GET", "/products"),
    ("POST", "/apps"),
    ("POST", "/access-requests"),
    ("GET", "/access-requests/{id}"),
    ("POST", "/access-requests/{id}/approve"),
    ("POST", "/access-requests/{id}/reject"),
    ("GET", "/grants/{id}"),
    ("POST", "/grants/{id}/revoke"),
    ("POST", "/keys"),
];

/// One admin call, transport-free.
#[derive(Clone, Debug)]
pub struct AdminRequest {
    /// HTTP method.
    pub method: http::Method,
    /// Path, without the query.
    pub path: String,
    /// Query string.
    pub query: Option<String>,
    /// Body (at most 1 MiB; `http.rs` enforces it).
    pub body: Vec<u8>,
}

/// An admin answer.
#[derive(Clone, Debug, PartialEq)]
pub struct AdminResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body (none for 204).
    pub body: Option<Value>,
}

/// A refused admin call: `{"error": message, "code": code}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Reason code.
    pub code: &'static str,
    /// Message.
    pub message: String,
}

// === impl ApiError ===

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_request", message)
    }

    fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(404, "not_found", format!("no {what} {id}"))
    }

    /// Persistence failed: nothing changed.
    pub(super) fn storage(e: String) -> ApiError {
        ApiError::new(500, "storage_error", format!("the change was not saved: {e}"))
    }

    /// The response for this error.
    pub fn response(&self) -> AdminResponse {
        AdminResponse {
            status: self.status,
            body: Some(json!({"error": self.message, "code": self.code})),
        }
    }
}

fn ok(status: u16, body: Value) -> Result<AdminResponse, ApiError> {
    Ok(AdminResponse {
        status,
        body: Some(body),
    })
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("bad JSON body: {e}")))
}

fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 8];
    let _ = openssl::rand::rand_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

/// A new auth token and its SHA-256 (hex). Tokens start with `cgt_` so secret scanners can
/// recognise them.
fn new_token() -> (String, String) {
    let mut b = [0u8; 32];
    let _ = openssl::rand::rand_bytes(&mut b);
    let token = format!("cgt_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b));
    let hash = hex::encode(openssl::sha::sha256(token.as_bytes()));
    (token, hash)
}

fn put<T: serde::Serialize>(kind: &'static str, id: &str, record: &T) -> Write {
    Write::Put {
        kind,
        id: id.to_string(),
        body: serde_json::to_vec(record).unwrap_or_default(),
    }
}

fn rfc3339(t: i64) -> String {
    crate::rfc3339::format(t).unwrap_or_default()
}

/// The certificate object of SPEC §8 (plus `key_type` and `source`).
fn cert_json(c: &StoredCert) -> Value {
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
struct NameBody {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchCert {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    organisations: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    name: String,
    apis: Vec<String>,
    auth: ProductAuth,
    certificate_mode: CertificateMode,
    #[serde(default)]
    bind_certificate_to_token: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApp {
    name: String,
    organisation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    app: String,
    product: String,
    #[serde(default)]
    certificate: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    apis: Vec<String>,
    #[serde(default)]
    bound_certificates: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

// === impl ControlPlane (the calls) ===

impl ControlPlane {
    /// Answers one admin call (authentication is done by the transport).
    pub fn handle(&self, req: &AdminRequest) -> AdminResponse {
        self.route(req).unwrap_or_else(|e| e.response())
    }

    fn route(&self, req: &AdminRequest) -> Result<AdminResponse, ApiError> {
        use http::Method as M;
        let segs: Vec<&str> = req
            .path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        match (&req.method, segs.as_slice()) {
            (&M::POST, ["certificates"]) => self.add_certificate(&req.body, req.query.as_deref()),
            (&M::GET, ["certificates"]) => self.list_certificates(req.query.as_deref()),
            (&M::GET, ["certificates", id]) => self.get_certificate(id),
            (&M::PATCH, ["certificates", id]) => self.patch_certificate(id, &req.body),
            (&M::DELETE, ["certificates", id]) => self.delete_certificate(id),
            (&M::POST, ["organisations"]) => self.add_organisation(&req.body),
            (&M::GET, ["organisations"]) => {
                let s = self.state.lock();
                ok(
                    200,
                    json!({"organisations": s.organisations.values().collect::<Vec<_>>()}),
                )
            }
            (&M::POST, ["products"]) => self.add_product(&req.body),
            (&M::GET, ["products"]) => {
                let s = self.state.lock();
                ok(200, json!({"products": s.products.values().collect::<Vec<_>>()}))
            }
            (&M::POST, ["apps"]) => self.add_app(&req.body),
            (&M::POST, ["access-requests"]) => self.add_request(&req.body),
            (&M::GET, ["access-requests", id]) => {
                let s = self.state.lock();
                let r = s
                    .requests
                    .get(*id)
                    .ok_or_else(|| ApiError::not_found("access request", id))?;
                ok(200, json!(r))
            }
            (&M::POST, ["access-requests", id, "approve"]) => self.approve(id),
            (&M::POST, ["access-requests", id, "reject"]) => self.reject(id),
            (&M::GET, ["grants", id]) => self.get_grant(id),
            (&M::POST, ["grants", id, "revoke"]) => self.revoke(id),
            (&M::POST, ["keys"]) => self.add_key(&req.body),
            (
                _,
                ["certificates" | "organisations" | "products" | "apps" | "access-requests" | "grants" | "keys", ..],
            ) => Err(ApiError::new(
                405,
                "invalid_request",
                format!("{} is not allowed on {}", req.method, req.path),
            )),
            _ => Err(ApiError::new(404, "not_found", format!("no admin route {}", req.path))),
        }
    }

    // --- certificates ---

    /// Parses an uploaded PEM into a record (the key sealed), refusing what SPEC §8 refuses.
    fn certificate_from_pem(&self, body: &[u8], name: Option<String>) -> Result<StoredCert, ApiError> {
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
        let key_sealed = match (&loaded.key, &self.vault) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(ApiError::bad(
                    "a PEM with a private key needs admin.secret_env (keys are stored encrypted)",
                ));
            }
            (Some(k), Some(v)) => {
                let pem = k.private_key_to_pem_pkcs8().map_err(|e| ApiError::bad(e.to_string()))?;
                Some(v.seal(&pem).map_err(ApiError::bad)?)
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
        let loaded = parse_record(&record, self.vault.as_ref()).map_err(ApiError::bad)?;
        Ok(StoredCert { record, loaded })
    }

    fn add_certificate(&self, body: &[u8], query: Option<&str>) -> Result<AdminResponse, ApiError> {
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
            cert.record.organisations = orgs;
            let write = put(kind::CERTIFICATE, &cert.record.id, &cert.record);
            let out = cert_json(&cert);
            s.certificates.insert(cert.record.id.clone(), cert);
            Ok((ok(201, out)?, vec![write]))
        })
    }

    fn list_certificates(&self, query: Option<&str>) -> Result<AdminResponse, ApiError> {
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

    fn get_certificate(&self, id: &str) -> Result<AdminResponse, ApiError> {
        let s = self.state.lock();
        let c = live_cert(&s, id)?;
        ok(200, cert_json(c))
    }

    fn patch_certificate(&self, id: &str, body: &[u8]) -> Result<AdminResponse, ApiError> {
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
            if let Some(name) = patch.name {
                c.record.name = name;
            }
            if let Some(orgs) = patch.organisations {
                c.record.organisations = orgs;
            }
            let write = put(kind::CERTIFICATE, &key, &c.record);
            Ok((ok(200, cert_json(c))?, vec![write]))
        })
    }

    fn delete_certificate(&self, id: &str) -> Result<AdminResponse, ApiError> {
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
            Ok((
                AdminResponse {
                    status: 204,
                    body: None,
                },
                vec![Write::Remove {
                    kind: kind::CERTIFICATE,
                    id: key,
                }],
            ))
        })
    }

    // --- organisations, products, apps ---

    fn add_organisation(&self, body: &[u8]) -> Result<AdminResponse, ApiError> {
        let b: NameBody = parse_json(body)?;
        non_empty("name", &b.name)?;
        self.change(|s| {
            let org = Organisation {
                id: new_id("org"),
                name: b.name,
            };
            let write = put(kind::ORGANISATION, &org.id, &org);
            let out = json!(org);
            s.organisations.insert(org.id.clone(), org);
            Ok((ok(201, out)?, vec![write]))
        })
    }

    /// The running config, provided it defines every API in `apis`.
    fn config_defining(&self, apis: &[String]) -> Result<Arc<LoadedConfig>, ApiError> {
        let cfg = self
            .config()
            .ok_or_else(|| ApiError::bad("the gateway is still starting"))?;
        let unknown: Vec<&str> = apis
            .iter()
            .filter(|a| !cfg.raw.apis.iter().any(|c| &c.name == *a))
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            Ok(cfg)
        } else {
            Err(ApiError::new(
                400,
                "unknown_api",
                format!("unknown APIs: {}", unknown.join(", ")),
            ))
        }
    }

    fn add_product(&self, body: &[u8]) -> Result<AdminResponse, ApiError> {
        let b: NewProduct = parse_json(body)?;
        non_empty("name", &b.name)?;
        if b.apis.is_empty() {
            return Err(ApiError::bad("a product needs at least one API"));
        }
        let cfg = self.config_defining(&b.apis)?;
        let want = match b.auth {
            ProductAuth::TokenMtls => AuthType::Token,
            ProductAuth::JwtMtls => AuthType::Jwt,
        };
        for name in &b.apis {
            let api = cfg.raw.apis.iter().find(|c| &c.name == name).expect("checked above");
            if api.auth.kind != want || !api.auth.mutual_tls {
                return Err(ApiError::bad(format!(
                    "API {name} must have auth.type: {} and mutual_tls: true for a {} product",
                    if want == AuthType::Token { "token" } else { "jwt" },
                    if want == AuthType::Token {
                        "token_mtls"
                    } else {
                        "jwt_mtls"
                    }
                )));
            }
        }
        if b.auth == ProductAuth::JwtMtls && b.bind_certificate_to_token {
            return Err(ApiError::bad("JWTs come from your identity provider: bind them with a cnf claim (require_cnf), not bind_certificate_to_token"));
        }
        self.change(|s| {
            let p = Product {
                id: new_id("prod"),
                name: b.name,
                apis: b.apis,
                auth: b.auth,
                certificate_mode: b.certificate_mode,
                bind_certificate_to_token: b.bind_certificate_to_token,
            };
            let write = put(kind::PRODUCT, &p.id, &p);
            let out = json!(p);
            s.products.insert(p.id.clone(), p);
            Ok((ok(201, out)?, vec![write]))
        })
    }

    fn add_app(&self, body: &[u8]) -> Result<AdminResponse, ApiError> {
        let b: NewApp = parse_json(body)?;
        non_empty("name", &b.name)?;
        self.change(|s| {
            check_orgs(s, std::slice::from_ref(&b.organisation))?;
            let app = App {
                id: new_id("app"),
                name: b.name,
                organisation: b.organisation,
            };
            let write = put(kind::APP, &app.id, &app);
            let out = json!(app);
            s.apps.insert(app.id.clone(), app);
            Ok((ok(201, out)?, vec![write]))
        })
    }

    // --- access requests and grants ---

    fn add_request(&self, body: &[u8]) -> Result<AdminResponse, ApiError> {
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
            let app = s.apps.get(&b.app).ok_or_else(|| ApiError::bad(format!("unknown app {}", b.app)))?.clone();
            let product = s.products.get(&b.product).ok_or_else(|| ApiError::bad(format!("unknown product {}", b.product)))?.clone();
            let mut writes = Vec::new();
            let certificate = match (product.certificate_mode, submitted) {
                (CertificateMode::SelfServe, None) => return Err(ApiError::bad("a self-serve product needs a certificate (PEM) with the request")),
                (CertificateMode::Managed, Some(_)) => {
                    return Err(ApiError::bad("a managed product uses the organisation's certificates; send no certificate"))
                }
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
            let r = AccessRequest { id: new_id("req"), app: app.id, product: product.id, certificate, status: RequestStatus::Pending, grant: None };
            writes.push(put(kind::REQUEST, &r.id, &r));
            let out = json!({"id": r.id, "status": "pending", "app": r.app, "product": r.product, "certificate": r.certificate});
            s.requests.insert(r.id.clone(), r);
            Ok((ok(201, out)?, writes))
        })
    }

    fn approve(&self, id: &str) -> Result<AdminResponse, ApiError> {
        self.change(|s| {
            let mut r = s.requests.get(id).ok_or_else(|| ApiError::not_found("access request", id))?.clone();
            if r.status != RequestStatus::Pending {
                return Err(ApiError::new(409, "invalid_request", format!("access request {id} is {:?}, not pending", r.status).to_lowercase()));
            }
            let product = s.products.get(&r.product).ok_or_else(|| ApiError::bad(format!("product {} no longer exists", r.product)))?.clone();
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
            let certs: Vec<String> = s.grant_certificates(&g).iter().map(CertId::to_hex).collect();
            let bound = if g.bind { certs.clone() } else { Vec::new() };
            let out = json!({"grant": {"id": g.id, "token": token, "apis": g.apis, "certificates": certs, "bound_certificates": bound, "certificate_mode": g.certificate_mode}});
            let writes = vec![put(kind::REQUEST, &r.id, &r), put(kind::GRANT, &g.id, &g)];
            s.requests.insert(r.id.clone(), r);
            s.grants.insert(g.id.clone(), g);
            Ok((ok(200, out)?, writes))
        })
    }

    fn reject(&self, id: &str) -> Result<AdminResponse, ApiError> {
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

    fn get_grant(&self, id: &str) -> Result<AdminResponse, ApiError> {
        let s = self.state.lock();
        let g = s.grants.get(id).ok_or_else(|| ApiError::not_found("grant", id))?;
        let certs: Vec<String> = s.grant_certificates(g).iter().map(CertId::to_hex).collect();
        let bound = if g.bind { certs.clone() } else { Vec::new() };
        ok(
            200,
            json!({"id": g.id, "status": g.status, "apis": g.apis, "certificates": certs, "bound_certificates": bound, "certificate_mode": g.certificate_mode, "app": g.app, "product": g.product}),
        )
    }

    fn revoke(&self, id: &str) -> Result<AdminResponse, ApiError> {
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

    // --- keys ---

    fn add_key(&self, body: &[u8]) -> Result<AdminResponse, ApiError> {
        let b: NewKey = parse_json(body)?;
        if b.apis.is_empty() {
            return Err(ApiError::bad("a key needs at least one API"));
        }
        self.config_defining(&b.apis)?;
        let expires_at = match &b.expires_at {
            Some(t) => Some(
                crate::rfc3339::parse(t)
                    .ok_or_else(|| ApiError::bad(format!("expires_at `{t}` is not an RFC 3339 time")))?,
            ),
            None => None,
        };
        if expires_at.is_some_and(|t| t <= now_unix()) {
            return Err(ApiError::bad("expires_at is in the past: the key would never work"));
        }
        self.change(|s| {
            let mut bound = Vec::new();
            let mut unknown = Vec::new();
            for raw in &b.bound_certificates {
                match CertId::parse(raw).map(|id| id.to_hex()).filter(|id| s.has_live_certificate(id)) {
                    Some(id) => bound.push(id),
                    None => unknown.push(raw.as_str()),
                }
            }
            if !unknown.is_empty() {
                return Err(ApiError::new(400, "unknown_certificate", format!("unknown certificates: {}", unknown.join(", "))));
            }
            let (token, token_sha256) = new_token();
            let k = Key { id: new_id("key"), token_sha256, apis: b.apis, bound_certificates: bound, expires_at, created_at: now_unix() };
            let write = put(kind::KEY, &k.id, &k);
            let out = json!({"id": k.id, "token": token, "apis": k.apis, "bound_certificates": k.bound_certificates, "expires_at": k.expires_at.map(rfc3339)});
            s.keys.insert(k.id.clone(), k);
            Ok((ok(201, out)?, vec![write]))
        })
    }
}

fn live_cert<'s>(s: &'s ControlState, raw: &str) -> Result<&'s StoredCert, ApiError> {
    let id = CertId::parse(raw)
        .map(|i| i.to_hex())
        .unwrap_or_else(|| raw.to_string());
    s.certificates
        .get(&id)
        .filter(|c| !c.record.deleted)
        .ok_or_else(|| ApiError::not_found("certificate", raw))
}

fn check_orgs(s: &ControlState, orgs: &[String]) -> Result<(), ApiError> {
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

/// Longest display name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// A display name: not empty, at most [`MAX_NAME_CHARS`], and nothing that would make it
/// print as something else (control characters, bidirectional overrides, invisible marks).
fn non_empty(field: &str, v: &str) -> Result<(), ApiError> {
    if v.trim().is_empty() {
        return Err(ApiError::bad(format!("{field} must not be empty")));
    }
    if v.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad(format!(
            "{field} is longer than {MAX_NAME_CHARS} characters"
        )));
    }
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    };
    if let Some(c) = v.chars().find(|c| hidden(*c)) {
        return Err(ApiError::bad(format!(
            "{field} contains U+{:04X}: control, bidirectional and invisible characters are not allowed in names",
            c as u32
        )));
    }
    Ok(())
}

/// A parsed query string.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Query {
        Query(
            q.unwrap_or("")
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, v)| key == k && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
