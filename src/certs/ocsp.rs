//! OCSP (RFC 6960) for one leaf: the request certgate sends and what a response says, once
//! it is verified. Pure: no I/O (the fetch is the caller's), no policy (what an answer means
//! for a request is [`crate::policy`]'s).
//!
//! No nonce is sent: most public responders serve pre-signed answers and ignore it, and the
//! openssl crate has no binding for it. Freshness is checked instead: `thisUpdate` may not
//! be in the future (beyond [`CLOCK_SKEW_SECONDS`]) nor older than [`MAX_AGE_SECONDS`]
//! when the response has no `nextUpdate`, and `nextUpdate` may not have passed.

use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspFlag, OcspRequest, OcspResponse, OcspResponseStatus};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509Ref, X509};

/// How far a responder's clock may be ahead of ours.
pub const CLOCK_SKEW_SECONDS: u32 = 300;

/// How old a response without `nextUpdate` may be.
pub const MAX_AGE_SECONDS: u32 = 7 * 24 * 3600;

/// What a verified response says of the leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspStatus {
    /// Not revoked.
    Good,
    /// Revoked.
    Revoked,
    /// The responder does not know the certificate.
    Unknown,
}

/// A verified answer for one leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OcspAnswer {
    /// The status.
    pub status: OcspStatus,
    /// `nextUpdate`, seconds since the epoch, when the response has one.
    pub next_update: Option<i64>,
}

/// The OCSP responder URLs of `leaf`'s Authority Information Access extension (`http://`
/// only: a responder is queried in the clear, its answer is signed).
pub fn responder_urls(leaf: &X509Ref) -> Vec<String> {
    leaf.ocsp_responders()
        .map(|s| {
            s.iter()
                .map(|u| u.to_string())
                .filter(|u| u.starts_with("http://"))
                .collect()
        })
        .unwrap_or_default()
}

/// The DER of a request for `leaf`'s status, issued by `issuer` (SHA-1 certificate ID, as
/// RFC 5019 requires responders to understand).
pub fn request_der(leaf: &X509Ref, issuer: &X509Ref) -> Result<Vec<u8>, String> {
    let id = OcspCertId::from_cert(MessageDigest::sha1(), leaf, issuer).map_err(|e| e.to_string())?;
    let mut req = OcspRequest::new().map_err(|e| e.to_string())?;
    req.add_id(id).map_err(|e| e.to_string())?;
    req.to_der().map_err(|e| e.to_string())
}

/// Reads a response to [`request_der`]: a successful response, signed by `issuer` or by a
/// responder certificate `issuer` issued for OCSP signing, that names `leaf` and is fresh.
/// `Err` says why the response cannot be used (never a status).
pub fn read_response(der: &[u8], leaf: &X509Ref, issuer: &X509) -> Result<OcspAnswer, String> {
    let resp = OcspResponse::from_der(der).map_err(|e| format!("not an OCSP response: {e}"))?;
    let status = resp.status();
    if status != OcspResponseStatus::SUCCESSFUL {
        return Err(format!("the responder answered status {}", status.as_raw()));
    }
    let basic = resp.basic().map_err(|e| format!("not a basic OCSP response: {e}"))?;
    let mut certs = Stack::new().map_err(|e| e.to_string())?;
    certs.push(issuer.clone()).map_err(|e| e.to_string())?;
    let mut store = X509StoreBuilder::new().map_err(|e| e.to_string())?;
    store.add_cert(issuer.clone()).map_err(|e| e.to_string())?;
    // The issuer may be an intermediate: it is the anchor here, whatever is above it.
    store
        .set_flags(X509VerifyFlags::PARTIAL_CHAIN)
        .map_err(|e| e.to_string())?;
    let store = store.build();
    basic
        .verify(&certs, &store, OcspFlag::empty())
        .map_err(|e| format!("the response's signature or signer is not trusted: {e}"))?;
    let id = OcspCertId::from_cert(MessageDigest::sha1(), leaf, issuer).map_err(|e| e.to_string())?;
    let found = basic
        .find_status(&id)
        .ok_or_else(|| "the response does not cover this certificate".to_string())?;
    found
        .check_validity(
            CLOCK_SKEW_SECONDS,
            found.next_update().is_none().then_some(MAX_AGE_SECONDS),
        )
        .map_err(|e| format!("the response is not fresh: {e}"))?;
    let next_update = match found.next_update() {
        Some(t) => Some(generalized_unix(t).ok_or_else(|| format!("unreadable nextUpdate {t}"))?),
        None => None,
    };
    let status = match found.status {
        OcspCertStatus::GOOD => OcspStatus::Good,
        OcspCertStatus::REVOKED => OcspStatus::Revoked,
        _ => OcspStatus::Unknown,
    };
    Ok(OcspAnswer { status, next_update })
}

/// A GeneralizedTime as seconds since the epoch, read from how OpenSSL prints it
/// (`Dec  3 13:00:00 2026 GMT`): the openssl crate converts only `Asn1Time`s.
fn generalized_unix(t: &openssl::asn1::Asn1GeneralizedTimeRef) -> Option<i64> {
    let format =
        time::macros::format_description!("[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT");
    let text = t.to_string();
    let parsed = time::PrimitiveDateTime::parse(&text, format).ok()?;
    Some(parsed.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::Spec;
    use std::process::Command;

    /// `openssl ocsp` answering `request` offline, from an index naming `revoked` revoked
    /// and `good` valid: the real responder's code, without a port.
    fn respond(
        request: &[u8],
        ca: &crate::pki::Issued,
        signer: &crate::pki::Issued,
        rows: &[(&crate::pki::Issued, bool)],
        extra: &[&str],
    ) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(p("req.der"), request).unwrap();
        std::fs::write(p("ca.pem"), ca.cert_pem()).unwrap();
        std::fs::write(p("signer.pem"), signer.cert_pem()).unwrap();
        std::fs::write(p("signer.key"), signer.key_pem()).unwrap();
        let pick = |want: bool| {
            rows.iter()
                .filter(|r| r.1 == want)
                .map(|r| &r.0.cert)
                .collect::<Vec<_>>()
        };
        let index = crate::pki::ocsp_index(&pick(false), &pick(true));
        std::fs::write(p("index.txt"), index).unwrap();
        let out = Command::new("openssl")
            .args(["ocsp", "-index"])
            .arg(p("index.txt"))
            .arg("-CA")
            .arg(p("ca.pem"))
            .arg("-rsigner")
            .arg(p("signer.pem"))
            .arg("-rkey")
            .arg(p("signer.key"))
            .arg("-reqin")
            .arg(p("req.der"))
            .arg("-respout")
            .arg(p("resp.der"))
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read(p("resp.der")).unwrap()
    }

    #[test]
    fn good_revoked_and_unknown_answers_are_read() {
        let ca = Spec::ca("ocsp CA").issue(None);
        let good = Spec::client("good").issue(Some(&ca));
        let revoked = Spec::client("revoked").issue(Some(&ca));
        let stranger = Spec::client("stranger").issue(Some(&ca));
        let rows = [(&good, false), (&revoked, true)];
        let ask = |leaf: &crate::pki::Issued| {
            let req = request_der(&leaf.cert, &ca.cert).unwrap();
            let resp = respond(&req, &ca, &ca, &rows, &["-ndays", "1"]);
            read_response(&resp, &leaf.cert, &ca.cert)
        };
        let a = ask(&good).unwrap();
        assert_eq!(a.status, OcspStatus::Good);
        let next = a.next_update.expect("-ndays sets nextUpdate");
        let now = crate::clock::now_unix();
        assert!((now + 86_000..now + 87_000).contains(&next), "{next} vs {now}");
        assert_eq!(ask(&revoked).unwrap().status, OcspStatus::Revoked);
        assert_eq!(ask(&stranger).unwrap().status, OcspStatus::Unknown);
    }

    #[test]
    fn a_delegated_responder_needs_the_ocsp_signing_usage() {
        let ca = Spec::ca("delegating CA").issue(None);
        let leaf = Spec::client("leaf").issue(Some(&ca));
        let req = request_der(&leaf.cert, &ca.cert).unwrap();
        let delegated = Spec::client("responder")
            .eku(crate::pki::Eku::OcspSigning)
            .issue(Some(&ca));
        let resp = respond(&req, &ca, &delegated, &[(&leaf, false)], &[]);
        assert_eq!(
            read_response(&resp, &leaf.cert, &ca.cert).unwrap().status,
            OcspStatus::Good
        );
        // A certificate of the CA without id-kp-OCSPSigning may not answer for it.
        let plain = Spec::client("not a responder").issue(Some(&ca));
        let resp = respond(&req, &ca, &plain, &[(&leaf, false)], &[]);
        let e = read_response(&resp, &leaf.cert, &ca.cert).unwrap_err();
        assert!(e.contains("not trusted"), "{e}");
    }

    #[test]
    fn a_response_signed_by_another_ca_or_for_another_leaf_is_refused() {
        let ca = Spec::ca("real CA").issue(None);
        let leaf = Spec::client("leaf").issue(Some(&ca));
        let other = Spec::client("other").issue(Some(&ca));
        let impostor = Spec::ca("real CA").issue(None);
        let req = request_der(&leaf.cert, &ca.cert).unwrap();
        let forged = respond(&req, &ca, &impostor, &[(&leaf, false)], &[]);
        assert!(read_response(&forged, &leaf.cert, &ca.cert)
            .unwrap_err()
            .contains("not trusted"));
        let resp = respond(&req, &ca, &ca, &[(&leaf, false)], &[]);
        let e = read_response(&resp, &other.cert, &ca.cert).unwrap_err();
        assert!(e.contains("does not cover"), "{e}");
        assert!(read_response(b"junk", &leaf.cert, &ca.cert)
            .unwrap_err()
            .contains("not an OCSP response"));
    }

    #[test]
    fn the_responder_comes_from_the_authority_information_access() {
        let ca = Spec::ca("aia CA").issue(None);
        let leaf = Spec::client("leaf").ocsp("http://127.0.0.1:9/ocsp").issue(Some(&ca));
        assert_eq!(responder_urls(&leaf.cert), vec!["http://127.0.0.1:9/ocsp".to_string()]);
        let https = Spec::client("leaf").ocsp("https://ocsp.example").issue(Some(&ca));
        assert!(responder_urls(&https.cert).is_empty(), "https responders are not used");
        assert!(responder_urls(&ca.cert).is_empty());
    }
}
