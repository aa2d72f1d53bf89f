//! `/keys`: tokens issued directly, with APIs, expiry and bound certificates; listed (never
//! with the token or its hash) and revoked by deleting them.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{new_id, new_token, ok, parse_json, put, removed, rfc3339, AdminResponse, ApiError};
use crate::admin::records::*;
use crate::admin::state::kind;
use crate::admin::ControlPlane;
use crate::certs::CertId;
use crate::clock::now_unix;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    apis: Vec<String>,
    #[serde(default)]
    bound_certificates: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

impl ControlPlane {
    pub(super) fn add_key(&self, body: &[u8]) -> Result<AdminResponse, ApiError> {
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
                match CertId::parse(raw)
                    .map(|id| id.to_hex())
                    .filter(|id| s.has_live_certificate(id))
                {
                    Some(id) => bound.push(id),
                    None => unknown.push(raw.as_str()),
                }
            }
            if !unknown.is_empty() {
                let message = format!("unknown certificates: {}", unknown.join(", "));
                return Err(ApiError::new(400, "unknown_certificate", message));
            }
            let (token, token_sha256) = new_token();
            let k = Key {
                id: new_id("key"),
                token_sha256,
                apis: b.apis.clone(),
                bound_certificates: bound,
                expires_at,
                created_at: now_unix(),
            };
            let write = put(kind::KEY, &k.id, &k);
            let out = json!({
                "id": k.id,
                "token": token,
                "apis": k.apis,
                "bound_certificates": k.bound_certificates,
                "expires_at": k.expires_at.map(rfc3339),
            });
            s.keys.insert(k.id.clone(), k);
            Ok((ok(201, out)?, vec![write]))
        })
    }

    /// `GET /keys`: every key, oldest first (what it opens, its binding and expiry).
    pub(super) fn list_keys(&self) -> Result<AdminResponse, ApiError> {
        let s = self.state.lock();
        let mut keys: Vec<&Key> = s.keys.values().collect();
        keys.sort_by_key(|k| (k.created_at, k.id.clone()));
        let now = now_unix();
        let keys: Vec<Value> = keys.into_iter().map(|k| key_json(k, now)).collect();
        ok(200, json!({ "keys": keys }))
    }

    /// `DELETE /keys/{id}`: the key's token stops working at the compile this triggers.
    pub(super) fn delete_key(&self, id: &str) -> Result<AdminResponse, ApiError> {
        self.change(|s| {
            if s.keys.remove(id).is_none() {
                return Err(ApiError::not_found("key", id));
            }
            Ok(removed(kind::KEY, id.to_string()))
        })
    }
}

/// A key as `GET /keys` shows it: never its token or the token's hash.
fn key_json(k: &Key, now: i64) -> Value {
    json!({
        "id": k.id,
        "apis": k.apis,
        "bound_certificates": k.bound_certificates,
        "expires_at": k.expires_at.map(rfc3339),
        "expired": k.expires_at.is_some_and(|t| t <= now),
        "created_at": rfc3339(k.created_at),
    })
}
