//! Every reason certgate refuses a request, and how each one is answered (SPEC §3.5, §3.7).

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
    /// No API matches the host and path.
    NoRoute,
    /// `mutual_tls` API, no client certificate.
    ClientCertRequired,
    /// The leaf is outside its validity window.
    CertExpired,
    /// The leaf is neither allow-listed nor issued by an allow-listed CA.
    CertNotAllowed(CertId),
    /// `type: token`, no token in the header.
    TokenMissing,
    /// Unknown, expired or not granted this API.
    TokenInvalid,
    /// `type: jwt`, no JWT in the header.
    JwtMissing,
    /// Bad signature or algorithm, expired, wrong iss/aud, malformed.
    JwtInvalid,
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
    /// The reason code (SPEC §3.5).
    pub fn reason(&self) -> &'static str {
        self.answer_parts().2
    }

    /// Status, message, reason and `WWW-Authenticate` for this denial.
    pub fn answer(&self) -> Answer {
        let (status, message, reason, www_authenticate) = self.answer_parts();
        Answer {
            status,
            message,
            reason,
            www_authenticate,
        }
    }

    fn answer_parts(&self) -> (u16, String, &'static str, Option<&'static str>) {
        const DISALLOWED: &str = "Access to this API has been disallowed";
        match self {
            Deny::BadPath => (400, "Invalid request path".into(), "bad_request", None),
            Deny::BadHost => (400, "Invalid Host header".into(), "bad_request", None),
            Deny::DuplicateCredential => (400, "Credential header sent more than once".into(), "bad_request", None),
            Deny::NoRoute => (404, "no API matches this request".into(), "no_route", None),
            Deny::ClientCertRequired => (
                403,
                "Client TLS certificate is required".into(),
                "client_cert_required",
                None,
            ),
            Deny::CertExpired => (403, "Certificate has expired".into(), "cert_expired", None),
            Deny::CertNotAllowed(id) => (
                403,
                format!("Certificate with SHA256 {id} not allowed"),
                "cert_not_allowed",
                None,
            ),
            Deny::TokenMissing => (401, "Authorization field missing".into(), "token_missing", BEARER),
            Deny::TokenInvalid => (403, DISALLOWED.into(), "token_invalid", None),
            Deny::JwtMissing => (401, "Authorization field missing".into(), "token_missing", BEARER),
            Deny::JwtInvalid => (401, "Invalid JWT".into(), "jwt_invalid", BEARER_INVALID),
            Deny::CertCredentialMissing => (401, "Client certificate required".into(), "client_cert_required", None),
            Deny::CertCredentialNotGranted => (401, DISALLOWED.into(), "cert_not_allowed", None),
            Deny::TokenBindingMismatch => (401, DISALLOWED.into(), "cert_binding_mismatch", BEARER_INVALID),
            Deny::JwtBindingMismatch => (401, "Invalid JWT".into(), "cert_binding_mismatch", BEARER_INVALID),
        }
    }

    /// The JSON body `{"error": ..., "code": ...}`.
    pub fn body(&self) -> Vec<u8> {
        let a = self.answer();
        json_error(&a.message, a.reason)
    }
}

/// `{"error": message, "code": reason}` as bytes.
pub fn json_error(message: &str, reason: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"error": message, "code": reason})).unwrap_or_default()
}
