//! The admin API's calls (SPEC §8): routing, validation, and the JSON they answer with.
//! Transport-free: [`ControlPlane::handle`] takes an [`AdminRequest`] and returns an
//! [`AdminResponse`]; `http.rs` does the HTTP.

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

mod access;
mod catalogue;
mod certificates;
mod crls;
mod keys;

pub use crls::MAX_CRL_BODY;

use super::{ControlPlane, Write};

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
    ("GET", "/apps"),
    ("POST", "/access-requests"),
    ("GET", "/access-requests"),
    ("GET", "/access-requests/{id}"),
    ("POST", "/access-requests/{id}/approve"),
    ("POST", "/access-requests/{id}/reject"),
    ("GET", "/grants"),
    ("GET", "/grants/{id}"),
    ("POST", "/grants/{id}/revoke"),
    ("POST", "/keys"),
    ("GET", "/keys"),
    ("DELETE", "/keys/{id}"),
    ("GET", "/crls"),
    ("POST", "/crls"),
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
    pub(super) fn storage(e: crate::admin::error::StoreError) -> ApiError {
        ApiError::new(500, "storage_error", format!("the change was not saved: {e}"))
    }

    /// The fleet's Redis is unreachable (or this member is not in step yet): SPEC §9.
    pub(super) fn fleet_unavailable() -> ApiError {
        ApiError::new(
            503,
            "fleet_unavailable",
            "the fleet's Redis is unreachable or this instance is still catching up: changes are refused until it is in step; reads answer from this instance's copy",
        )
    }

    /// Other members kept committing first.
    pub(super) fn fleet_busy() -> ApiError {
        ApiError::new(
            503,
            "fleet_unavailable",
            "other fleet members changed the state while this change was retried; try again",
        )
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
    let hash = hex::encode(crate::certs::sha256(token.as_bytes()));
    (token, hash)
}

fn put<T: serde::Serialize>(kind: &'static str, id: &str, record: &T) -> Write {
    Write::Put {
        kind,
        id: id.to_string(),
        body: serde_json::to_vec(record).unwrap_or_default(),
    }
}

/// A deletion's answer: 204, and the one record it removes.
fn removed(kind: &'static str, id: String) -> (AdminResponse, Vec<Write>) {
    (
        AdminResponse {
            status: 204,
            body: None,
        },
        vec![Write::Remove { kind, id }],
    )
}

fn rfc3339(t: i64) -> String {
    crate::rfc3339::format(t).unwrap_or_default()
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
            (&M::GET, ["crls"]) => ok(200, json!({"crls": self.loaded_crls()})),
            (&M::POST, ["crls"]) => self.add_crls(&req.body),
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
            (&M::GET, ["apps"]) => {
                let s = self.state.lock();
                ok(200, json!({"apps": s.apps.values().collect::<Vec<_>>()}))
            }
            (&M::POST, ["access-requests"]) => self.add_request(&req.body),
            (&M::GET, ["access-requests"]) => self.list_requests(),
            (&M::GET, ["grants"]) => self.list_grants(),
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
            (&M::GET, ["keys"]) => self.list_keys(),
            (&M::DELETE, ["keys", id]) => self.delete_key(id),
            (
                _,
                ["certificates" | "organisations" | "products" | "apps" | "access-requests" | "grants" | "keys" | "crls", ..],
            ) => Err(ApiError::new(
                405,
                "invalid_request",
                format!("{} is not allowed on {}", req.method, req.path),
            )),
            _ => Err(ApiError::new(404, "not_found", format!("no admin route {}", req.path))),
        }
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
            || matches!(
                c,
                '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}'
            )
    };
    if let Some(c) = v.chars().find(|c| hidden(*c)) {
        return Err(ApiError::bad(format!(
            "{field} contains U+{:04X}: control, bidirectional and invisible characters are not allowed in names",
            c as u32
        )));
    }
    Ok(())
}

/// A parsed query string or `application/x-www-form-urlencoded` body (the console's forms).
pub(in crate::admin) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Query {
        Query::from_bytes(q.unwrap_or("").as_bytes())
    }

    /// The pairs as they are (the console's multipart forms).
    pub(in crate::admin) fn from_pairs(pairs: Vec<(String, String)>) -> Query {
        Query(pairs)
    }

    /// Parses URL-encoded `key=value` pairs.
    pub(in crate::admin) fn from_bytes(b: &[u8]) -> Query {
        Query(form_urlencoded::parse(b).into_owned().collect())
    }

    /// The first non-empty value of `k`, or `""`.
    pub(in crate::admin) fn value(&self, k: &str) -> &str {
        self.get(k).unwrap_or("")
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
