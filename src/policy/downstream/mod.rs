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
    authorize_traced(snap, api, req, |_, _| {})
}

/// One step of [`authorize`], for [`authorize_traced`]'s observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Step 2: the leaf against the allow list (`mutual_tls`).
    AllowList,
    /// Step 2, continued: the leaf and its path against the loaded CRLs (SPEC §10).
    Revocation,
    /// Step 3: the credential of `auth.type`.
    Credential,
    /// Step 4: the credential bound to the certificate.
    Binding,
}

impl Step {
    /// What the step is called in `certgate explain`.
    pub fn name(self) -> &'static str {
        match self {
            Step::AllowList => "2. client certificate against the allow list (mutual_tls)",
            Step::Revocation => "2. revocation (CRLs)",
            Step::Credential => "3. credential (auth.type)",
            Step::Binding => "4. certificate binding",
        }
    }
}

/// [`authorize`], telling `observe` each step it takes and its outcome, in order, up to the
/// first refusal (the data plane passes a closure that does nothing; `certgate explain`
/// prints them).
pub fn authorize_traced(
    snap: &Snapshot,
    api: &Api,
    req: &RequestView<'_>,
    mut observe: impl FnMut(Step, &Result<(), Deny>),
) -> Result<(), Deny> {
    let mut step = |s: Step, r: Result<(), Deny>| {
        observe(s, &r);
        r
    };
    if api.auth.mutual_tls {
        let listed = |id: &_| snap.gateway_leaves.contains(id) || snap.control.allows(api.index, id);
        let allowed = client_cert::check_listed(listed, &api.auth.allow, req.peer, req.now);
        let allowed = match allowed {
            Ok(a) => {
                step(Step::AllowList, Ok(()))?;
                a
            }
            Err(d) => return step(Step::AllowList, Err(d)),
        };
        if let Some(peer) = req.peer {
            step(
                Step::Revocation,
                revocation::check(&snap.revocation, peer, allowed, req.now),
            )?;
        }
    }
    match api.auth.kind {
        AuthType::None => Ok(()),
        AuthType::Token => {
            let record = match token::check(snap, api, req) {
                Ok(r) => {
                    step(Step::Credential, Ok(()))?;
                    r
                }
                Err(d) => return step(Step::Credential, Err(d)),
            };
            step(
                Step::Binding,
                binding::check_token(record, api, req.peer, &snap.control),
            )
        }
        AuthType::Jwt => {
            let Some(verifier) = api.auth.jwt.as_ref() else {
                return step(Step::Credential, Err(Deny::JwtInvalid(jwt::JwtError::Algorithm)));
            };
            let claims = credential(req.headers, &api.auth.token_header)
                .and_then(|raw| raw.ok_or(Deny::JwtMissing))
                .and_then(|raw| jwt::verify(verifier, raw, req.now).map_err(Deny::JwtInvalid));
            let claims = match claims {
                Ok(c) => {
                    step(Step::Credential, Ok(()))?;
                    c
                }
                Err(d) => return step(Step::Credential, Err(d)),
            };
            step(Step::Binding, binding::check_jwt(&claims, verifier, req.peer))
        }
        AuthType::Certificate => {
            step(
                Step::Credential,
                token::check_certificate_credential(&snap.tokens, api, req).map(|_| ()),
            )?;
            match (req.peer, api.auth.mutual_tls) {
                // Without mutual_tls the leaf is the credential: its own CRL entry counts.
                (Some(peer), false) => step(
                    Step::Revocation,
                    revocation::check(&snap.revocation, peer, client_cert::Allowed::Listed, req.now),
                ),
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
