//! SPEC §3 step 3 for `type: token` and `type: certificate`.

use super::super::Deny;
use super::{credential, RequestView};
use crate::snapshot::{Api, Snapshot, TokenHash, TokenRecord, TokenTable};

/// The live record of the presented token, if it grants this API: the YAML's record, or
/// else the control plane's (a configured token shadows an issued one with the same hash).
pub fn check<'s>(snap: &'s Snapshot, api: &Api, req: &RequestView<'_>) -> Result<&'s TokenRecord, Deny> {
    let raw = credential(req.headers, &api.auth.token_header)?.ok_or(Deny::TokenMissing)?;
    let hash = TokenHash::of(raw);
    match snap.tokens.get_hash(&hash).or_else(|| snap.control.token(&hash)) {
        Some(r) if r.live_at(req.now) && r.grants(api.index) => Ok(r),
        _ => Err(Deny::TokenInvalid),
    }
}

/// `type: certificate`: a live record whose `certificate` is the leaf and which grants this
/// API. An expired leaf is refused as expired even when `mutual_tls` is off.
pub fn check_certificate_credential(tokens: &TokenTable, api: &Api, req: &RequestView<'_>) -> Result<(), Deny> {
    let peer = req.peer.ok_or(Deny::CertCredentialMissing)?;
    if !peer.valid_at(req.now) {
        return Err(Deny::CertExpired);
    }
    if !peer.strong_key {
        return Err(Deny::CertCredentialNotGranted);
    }
    if tokens
        .for_certificate(&peer.id)
        .any(|r| r.live_at(req.now) && r.grants(api.index))
    {
        Ok(())
    } else {
        Err(Deny::CertCredentialNotGranted)
    }
}
