//! `/keys`: tokens issued directly, with APIs, expiry and bound certificates.

use serde::Deserialize;
use serde_json::json;

use super::{new_id, new_token, ok, parse_json, put, rfc3339, AdminResponse, ApiError};
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
}
