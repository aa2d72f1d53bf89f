//! The per-request downstream decision (SPEC §3), in its fixed order:
//!
//! 1. route ([`route`], on a request [`crate::request::canonicalize`] made canonical);
//! 2. `mutual_tls`: the leaf against the allow list ([`client_cert`]);
//! 3. the credential of `auth.type` ([`token`], [`jwt`], or the certificate itself);
//! 4. certificate-token binding ([`binding`]).

pub mod binding;
pub mod client_cert;
pub mod jwt;
pub mod revocation;
pub mod token;

use http::HeaderMap;

use super::{Deny, PeerCert};
use crate::config::AuthType;
use crate::snapshot::{Api, ApiIndex, Snapshot};

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
        let listed = |id: &_| snap.gateway_leaves.contains(id) || snap.control.allows(api.index, id);
        let allowed = client_cert::check_listed(listed, &api.auth.allow, req.peer, req.now)?;
        if let Some(peer) = req.peer {
            revocation::check(&snap.revocation, peer, allowed, req.now)?;
        }
    }
    match api.auth.kind {
        AuthType::None => Ok(()),
        AuthType::Token => {
            let record = token::check(snap, api, req)?;
            binding::check_token(record, api, req.peer, &snap.control)
        }
        AuthType::Jwt => {
            let Some(verifier) = api.auth.jwt.as_ref() else {
                return Err(Deny::JwtInvalid(jwt::JwtError::Algorithm));
            };
            let raw = credential(req.headers, &api.auth.token_header)?.ok_or(Deny::JwtMissing)?;
            let claims = jwt::verify(verifier, raw, req.now).map_err(Deny::JwtInvalid)?;
            binding::check_jwt(&claims, verifier, req.peer)
        }
        AuthType::Certificate => {
            token::check_certificate_credential(&snap.tokens, api, req)?;
            match (req.peer, api.auth.mutual_tls) {
                // Without mutual_tls the leaf is the credential: its own CRL entry counts.
                (Some(peer), false) => revocation::check(&snap.revocation, peer, client_cert::Allowed::Listed, req.now),
                _ => Ok(()),
            }
        }
    }
}

/// The token in `header` (see [`crate::request::headers::bearer`]); a header sent twice is
/// refused, whatever the API's auth type reads.
pub fn credential<'h>(headers: &'h HeaderMap, header: &http::HeaderName) -> Result<Option<&'h [u8]>, Deny> {
    crate::request::headers::bearer(headers, header).map_err(|_| Deny::DuplicateCredential)
}

/// Routes a canonical request (SPEC §3 step 1): host match, then the longest listen path.
/// `param_reading` is the path as a `;`-stripping server reads it; when it would reach
/// another API (or none), the request means two things and is refused.
pub fn route(snap: &Snapshot, host: Option<&str>, path: &str, param_reading: Option<&str>) -> Result<ApiIndex, Deny> {
    let found = snap.routes.find(host, path);
    if let Some(alt) = param_reading {
        if snap.routes.find(host, alt) != found {
            return Err(Deny::BadPath);
        }
    }
    found.ok_or(Deny::NoRoute)
}
