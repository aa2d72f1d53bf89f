//! Every reason certgate refuses a request, and how each one is answered (SPEC §3.5, §3.7).

use std::borrow::Cow;

use crate::certs::CertId;

/// Why a request was refused. One variant per answer; [`Deny::answer`] is the one place
/// that maps them to status, message, reason code and `WWW-Authenticate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deny {
    /// The request target cannot be given one meaning (SPEC §3 step 0).
    BadPath,
    /// The host cannot be given one meaning: missing, doubled, conflicting or malformed.
    BadHost,
    /// The credential header was sent more than once (in any spelling): which one counts
    /// would depend on who reads it.
    DuplicateCredential,
    /// A trusted load balancer forwarded a client certificate header that cannot be read
    /// (SPEC §12), or sent it more than once.
    BadForwardedCert,
    /// No API matches the host and path.
    NoRoute,
    /// `mutual_tls` API, no client certificate.
    ClientCertRequired,
    /// The leaf is outside its validity window.
    CertExpired,
    /// The leaf is neither allow-listed nor issued by an allow-listed CA.
    CertNotAllowed(CertId),
    /// The leaf, or a certificate on its verified path, is on its issuer's CRL (SPEC §10).
    CertRevoked,
    /// The revocation status cannot be established and the policy refuses then: a CRL past
    /// its nextUpdate under `stale_crl: refuse` (SPEC §10).
    RevocationUnknown,
    /// `type: token`, no token in the header.
    TokenMissing,
    /// Unknown, expired or not granted this API.
    TokenInvalid,
    /// `type: jwt`, no JWT in the header.
    JwtMissing,
    /// Bad signature or algorithm, expired, wrong iss/aud, malformed: answered alike, the
    /// [`JwtError`] is for the log.
    JwtInvalid(JwtError),
    /// `type: certificate`, no client certificate.
    CertCredentialMissing,
    /// `type: certificate`, no live record names this leaf for this API.
    CertCredentialNotGranted,
    /// A bound token used with another (or no) certificate.
    TokenBindingMismatch,
    /// A JWT whose `cnf."x5t#S256"` does not name the presented leaf, or lacks one under
    /// `require_cnf`.
    JwtBindingMismatch,
}

/// Why a JWT was refused (all are answered the same way; the variant is for tests and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    Malformed,
    /// `alg` not allowed for this API, or no configured key fits it.
    Algorithm,
    /// No key verified the signature.
    Signature,
    /// `exp` passed.
    Expired,
    /// `nbf` not reached.
    NotYetValid,
    /// `iss` differs.
    Issuer,
    /// `aud` does not include an accepted value.
    Audience,
}

// === impl JwtError ===

impl JwtError {
    /// A word for the log line (`detail=expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            JwtError::Malformed => "malformed",
            JwtError::Algorithm => "algorithm",
            JwtError::Signature => "signature",
            JwtError::Expired => "expired",
            JwtError::NotYetValid => "not_yet_valid",
            JwtError::Issuer => "issuer",
            JwtError::Audience => "audience",
        }
    }
}

/// How a denial is answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The `error` field of the JSON body.
    pub message: String,
    /// The `code` field (and the `reason` metric label).
    pub reason: &'static str,
    /// `WWW-Authenticate` value, for 401s that carry one.
    pub www_authenticate: Option<&'static str>,
}

const BEARER: Option<&str> = Some("Bearer");
const BEARER_INVALID: Option<&str> = Some("Bearer error=\"invalid_token\"");

// === impl Deny ===

impl Deny {
    /// The reason code (SPEC §3.5): the `code` field and the `reason` metric label. A
    /// static string, so counting and logging a denial formats nothing.
    pub fn reason(&self) -> &'static str {
        match self {
            Deny::BadPath | Deny::BadHost | Deny::DuplicateCredential | Deny::BadForwardedCert => "bad_request",
            Deny::NoRoute => "no_route",
            Deny::ClientCertRequired | Deny::CertCredentialMissing => "client_cert_required",
            Deny::CertExpired => "cert_expired",
            Deny::CertRevoked => "cert_revoked",
            Deny::RevocationUnknown => "revocation_unknown",
            Deny::CertNotAllowed(_) | Deny::CertCredentialNotGranted => "cert_not_allowed",
            Deny::TokenMissing | Deny::JwtMissing => "token_missing",
            Deny::TokenInvalid => "token_invalid",
            Deny::JwtInvalid(_) => "jwt_invalid",
            Deny::TokenBindingMismatch | Deny::JwtBindingMismatch => "cert_binding_mismatch",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Deny::BadPath | Deny::BadHost | Deny::DuplicateCredential | Deny::BadForwardedCert => 400,
            Deny::NoRoute => 404,
            Deny::ClientCertRequired
            | Deny::CertExpired
            | Deny::CertNotAllowed(_)
            | Deny::CertRevoked
            | Deny::RevocationUnknown
            | Deny::TokenInvalid => 403,
            Deny::TokenMissing
            | Deny::JwtMissing
            | Deny::JwtInvalid(_)
            | Deny::CertCredentialMissing
            | Deny::CertCredentialNotGranted
            | Deny::TokenBindingMismatch
            | Deny::JwtBindingMismatch => 401,
        }
    }

    /// The `error` field of the JSON body. Only `cert_not_allowed` is formatted (it names
    /// the leaf); every other message is static. A JWT's failure detail is never sent.
    pub fn message(&self) -> Cow<'static, str> {
        const DISALLOWED: &str = "Access to this API has been disallowed";
        Cow::Borrowed(match self {
            Deny::BadPath => "Invalid request path",
            Deny::BadHost => "Invalid Host header",
            Deny::DuplicateCredential => "Credential header sent more than once",
            Deny::BadForwardedCert => "Invalid forwarded client certificate",
            Deny::NoRoute => "no API matches this request",
            Deny::ClientCertRequired => "Client TLS certificate is required",
            Deny::CertExpired => "Certificate has expired",
            Deny::CertRevoked => "Certificate has been revoked",
            Deny::RevocationUnknown => "Certificate revocation status unknown",
            Deny::CertNotAllowed(id) => return Cow::Owned(format!("Certificate with SHA256 {id} not allowed")),
            Deny::TokenMissing | Deny::JwtMissing => "Authorization field missing",
            Deny::TokenInvalid | Deny::CertCredentialNotGranted | Deny::TokenBindingMismatch => DISALLOWED,
            Deny::JwtInvalid(_) | Deny::JwtBindingMismatch => "Invalid JWT",
            Deny::CertCredentialMissing => "Client certificate required",
        })
    }

    /// The `WWW-Authenticate` value, for the 401s that carry one.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        match self {
            Deny::TokenMissing | Deny::JwtMissing => BEARER,
            Deny::JwtInvalid(_) | Deny::TokenBindingMismatch | Deny::JwtBindingMismatch => BEARER_INVALID,
            _ => None,
        }
    }

    /// What the log line adds to the reason (never sent to the client): why a JWT failed.
    pub fn detail(&self) -> Option<&'static str> {
        match self {
            Deny::JwtInvalid(e) => Some(e.as_str()),
            _ => None,
        }
    }

    /// Status, message, reason and `WWW-Authenticate` for this denial.
    pub fn answer(&self) -> Answer {
        Answer {
            status: self.status(),
            message: self.message().into_owned(),
            reason: self.reason(),
            www_authenticate: self.www_authenticate(),
        }
    }

    /// The JSON body `{"error": ..., "code": ...}`.
    pub fn body(&self) -> Vec<u8> {
        json_error(&self.message(), self.reason())
    }
}

/// `{"error": message, "code": reason}` as bytes.
pub fn json_error(message: &str, reason: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"error": message, "code": reason})).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_jwt_failure_is_answered_alike_and_logged_apart() {
        use JwtError::*;
        let all = [Malformed, Algorithm, Signature, Expired, NotYetValid, Issuer, Audience];
        let first = Deny::JwtInvalid(Malformed).answer();
        let mut details = std::collections::HashSet::new();
        for e in all {
            let d = Deny::JwtInvalid(e);
            assert_eq!(d.answer(), first, "{e:?} answered differently");
            assert!(details.insert(d.detail().unwrap()), "{e:?} logged like another");
        }
        assert_eq!((first.status, first.reason), (401, "jwt_invalid"));
        assert_eq!(Deny::TokenInvalid.detail(), None);
    }
}
