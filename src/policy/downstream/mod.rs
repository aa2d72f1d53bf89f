//! The per-request downstream decision (SPEC §3), in its fixed order:
//!
//! 1. route (done by the caller with [`crate::snapshot::RouteTable::find`]);
//! 2. `mutual_tls`: the leaf against the allow list ([`client_cert`]);
//! 3. the credential of `auth.type` ([`token`], [`jwt`], or the certificate itself);
//! 4. certificate-token binding ([`binding`]).

pub mod binding;
pub mod client_cert;
pub mod jwt;
pub mod token;

use http::HeaderMap;

use super::{Deny, PeerCert};
use crate::config::AuthType;
use crate::snapshot::{Api, Snapshot};

/// What the decision reads from one request.
pub struct RequestView<'a> {
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// The connection's client certificate, if any.
    pub peer: Option<&'a PeerCert>,
    /// Current time, seconds since the epoch.
    pub now: i64,
}

/// Decides whether this request may call `api` (steps 2–4 of SPEC §3).
pub fn authorize(snap: &Snapshot, api: &Api, req: &RequestView<'_>) -> Result<(), Deny> {
    if api.auth.mutual_tls {
        client_cert::check(&snap.gateway_leaves, &api.auth.allow, req.peer, req.now)?;
    }
    match api.auth.kind {
        AuthType::None => Ok(()),
        AuthType::Token => {
            let record = token::check(&snap.tokens, api, req)?;
            binding::check_token(record, api, req.peer)
        }
        AuthType::Jwt => {
            let Some(verifier) = api.auth.jwt.as_ref() else {
                return Err(Deny::JwtInvalid);
            };
            let raw = credential(req.headers, &api.auth.token_header).ok_or(Deny::JwtMissing)?;
            let claims = jwt::verify(verifier, raw, req.now).map_err(|_| Deny::JwtInvalid)?;
            binding::check_jwt(&claims, verifier, req.peer)
        }
        AuthType::Certificate => token::check_certificate_credential(&snap.tokens, api, req),
    }
}

/// The token in `header`: `Bearer <t>` (scheme case-insensitive) or the bare value.
/// `None` when the header is absent or empty.
pub fn credential<'h>(headers: &'h HeaderMap, header: &http::HeaderName) -> Option<&'h [u8]> {
    let v = headers.get(header)?.as_bytes();
    let v = match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case(b"bearer ") => &v[7..],
        _ if v.eq_ignore_ascii_case(b"bearer") => return None,
        _ => v,
    };
    let v = v.trim_ascii();
    (!v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_forms() {
        let h = http::HeaderName::from_static("authorization");
        let mut m = HeaderMap::new();
        assert_eq!(credential(&m, &h), None);
        for (v, want) in [
            ("Bearer abc", Some("abc")),
            ("bearer  abc ", Some("abc")),
            ("abc", Some("abc")),
            ("Bearer ", None),
            ("Bearer", None),
            ("", None),
        ] {
            m.insert(&h, v.parse().unwrap());
            assert_eq!(credential(&m, &h), want.map(str::as_bytes), "{v:?}");
        }
    }
}
