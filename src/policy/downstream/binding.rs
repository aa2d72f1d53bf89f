//! SPEC §3 step 4: certificate-token binding, additive to the allow list.

use super::super::{Deny, PeerCert};
use super::jwt::Claims;
use crate::snapshot::jwt::{b64url_nopad, JwtVerifier};
use crate::snapshot::{Api, Binding, ControlLayer, TokenRecord};

/// A bound token, on an API with `mutual_tls`, only works with a leaf its binding names:
/// one of its `bound_certificates`, or (issued by the control plane) one of its grant's
/// visible certificates.
pub fn check_token(
    record: &TokenRecord,
    api: &Api,
    peer: Option<&PeerCert>,
    control: &ControlLayer,
) -> Result<(), Deny> {
    if !api.auth.mutual_tls {
        return Ok(());
    }
    let bound = |id| match &record.binding {
        Binding::Unbound => true,
        Binding::Leaves(ids) => ids.contains(id),
        Binding::LiveLeaves(ids) => ids.contains(id) && control.is_visible(id),
        Binding::Organisation(org) => control.in_organisation(id, org),
    };
    match (&record.binding, peer) {
        (Binding::Unbound, _) => Ok(()),
        (_, Some(p)) if bound(&p.id) => Ok(()),
        _ => Err(Deny::TokenBindingMismatch),
    }
}

/// RFC 8705: a JWT's `cnf."x5t#S256"` must be the presented leaf's SHA-256 (base64url, no
/// padding, and no other spelling); `require_cnf` refuses a JWT without it.
pub fn check_jwt(claims: &Claims, verifier: &JwtVerifier, peer: Option<&PeerCert>) -> Result<(), Deny> {
    let Some(thumbprint) = claims.x5t_s256.as_deref() else {
        return if verifier.require_cnf {
            Err(Deny::JwtBindingMismatch)
        } else {
            Ok(())
        };
    };
    let (Some(peer), Some(want)) = (peer, b64url_nopad(thumbprint)) else {
        return Err(Deny::JwtBindingMismatch);
    };
    if want.len() == 32 && openssl::memcmp::eq(&want, &peer.id.0) {
        Ok(())
    } else {
        Err(Deny::JwtBindingMismatch)
    }
}
