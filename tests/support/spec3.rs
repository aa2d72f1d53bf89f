//! SPEC §3 as one table, in the SPEC's words: (name, client certificate, path, headers) →
//! pass, or the answer (status, code, message, `WWW-Authenticate`). The in-process decision
//! test runs every row through `policy::downstream`; the end-to-end test runs the rows
//! marked `smoke` through a real gateway and real TLS.

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::world::{hs256, now, signed, World, JWT_SECRET};

/// What a row expects.
pub struct Expect {
    pub status: u16,
    /// `code` in the JSON body (None: the request reached the upstream).
    pub code: Option<&'static str>,
    /// Exact `error` message, when the row checks it.
    pub message: Option<String>,
    /// Exact `WWW-Authenticate`, or None for "absent".
    pub www: Option<&'static str>,
}

pub const PASS: Expect = Expect {
    status: 200,
    code: None,
    message: None,
    www: None,
};

pub fn deny(status: u16, code: &'static str, message: &str, www: Option<&'static str>) -> Expect {
    Expect {
        status,
        code: Some(code),
        message: Some(message.to_string()),
        www,
    }
}

pub struct Row {
    pub name: &'static str,
    pub cert: Option<&'static str>,
    pub path: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub expect: Expect,
    /// Also run end to end.
    pub smoke: bool,
}

fn row(
    name: &'static str,
    cert: Option<&'static str>,
    path: &'static str,
    headers: &[(&'static str, String)],
    expect: Expect,
) -> Row {
    Row {
        name,
        cert,
        path,
        headers: headers.to_vec(),
        expect,
        smoke: SMOKE.contains(&name),
    }
}

fn bearer(t: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {t}"))
}

/// The rows the end-to-end test also runs: one or two per step and answer.
pub const SMOKE: &[&str] = &[
    "1 no route → 404",
    "2 mTLS API, no certificate → 403",
    "2 leaf in the allow list → pass",
    "2 listed leaf, expired → 403 expired",
    "2 issued by a listed CA → pass",
    "2 anything else → 403 not allowed",
    "3 token missing → 401 Bearer",
    "3 Bearer token → pass",
    "3 unknown token → 403",
    "3 certificate auth, leaf with a record → pass",
    "4 bound token with another allow-listed certificate → 401",
    "3 JWT missing → 401 Bearer",
    "3 JWT good → pass",
    "3 JWT expired → 401",
    "4 cnf matches the leaf → pass",
    "4 cnf names another certificate → 401",
];

/// Fails with every failed row listed, when there is any.
pub fn assert_no_failures(failures: &[String], rows: usize) {
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every row of the table.
pub fn all(f: &World) -> Vec<Row> {
    let mut rows = routing_and_client_certificates(f);
    rows.extend(tokens_and_certificate_credentials(f));
    rows.extend(jwt_and_rfc8705_binding(f));
    rows
}

/// Step 1 (routing) and step 2 (client certificates).
pub fn routing_and_client_certificates(f: &World) -> Vec<Row> {
    let id = |n: &str| f.certs[n].id().to_hex();
    vec![
        row(
            "1 no route → 404",
            Some("listed"),
            "/nowhere",
            &[],
            deny(404, "no_route", "no API matches this request", None),
        ),
        row(
            "2 mTLS API, no certificate → 403",
            None,
            "/cert/x",
            &[],
            deny(403, "client_cert_required", "Client TLS certificate is required", None),
        ),
        row("2 leaf in the allow list → pass", Some("listed"), "/cert/x", &[], PASS),
        row(
            "2 leaf listed by an openssl colon fingerprint → pass",
            Some("listed"),
            "/colon/x",
            &[],
            PASS,
        ),
        row(
            "2 another leaf on that API → 403",
            Some("listed2"),
            "/colon/x",
            &[],
            deny(403, "cert_not_allowed", "", None).any_message(),
        ),
        row(
            "2 listed leaf, expired → 403 expired",
            Some("expired_listed"),
            "/cert/x",
            &[],
            deny(403, "cert_expired", "Certificate has expired", None),
        ),
        row(
            "2 issued by a listed CA → pass",
            Some("ca_client"),
            "/cert/x",
            &[],
            PASS,
        ),
        row(
            "2 issued by a listed CA, no EKU extension → pass",
            Some("ca_noeku"),
            "/cert/x",
            &[],
            PASS,
        ),
        row(
            "2 listed CA, leaf expired → 403 expired",
            Some("ca_expired"),
            "/cert/x",
            &[],
            deny(403, "cert_expired", "Certificate has expired", None),
        ),
        row(
            "2 listed CA, leaf not yet valid → 403 expired",
            Some("ca_notyet"),
            "/cert/x",
            &[],
            deny(403, "cert_expired", "Certificate has expired", None),
        ),
        row(
            "2 anything else → 403 not allowed",
            Some("stranger"),
            "/cert/x",
            &[],
            deny(
                403,
                "cert_not_allowed",
                &format!("Certificate with SHA256 {} not allowed", id("stranger")),
                None,
            ),
        ),
        row("2 mutual_tls off: no certificate needed", None, "/open/x", &[], PASS),
    ]
}

/// Step 3 (tokens, certificate credentials) and step 4 (token binding).
pub fn tokens_and_certificate_credentials(_: &World) -> Vec<Row> {
    vec![
        row(
            "3 token missing → 401 Bearer",
            None,
            "/token/x",
            &[],
            deny(401, "token_missing", "Authorization field missing", Some("Bearer")),
        ),
        row(
            "3 token empty → 401",
            None,
            "/token/x",
            &[bearer("")],
            deny(401, "token_missing", "Authorization field missing", Some("Bearer")),
        ),
        row("3 Bearer token → pass", None, "/token/x", &[bearer("tok-good")], PASS),
        row(
            "3 bare token → pass",
            None,
            "/token/x",
            &[("Authorization", "tok-good".into())],
            PASS,
        ),
        row(
            "3 token stored as sha256 → pass",
            None,
            "/token/x",
            &[bearer("tok-hashed")],
            PASS,
        ),
        row(
            "3 unknown token → 403",
            None,
            "/token/x",
            &[bearer("nope")],
            deny(403, "token_invalid", "Access to this API has been disallowed", None),
        ),
        row(
            "3 expired token → 403",
            None,
            "/token/x",
            &[bearer("tok-expired")],
            deny(403, "token_invalid", "Access to this API has been disallowed", None),
        ),
        row(
            "3 token not granted this API → 403",
            None,
            "/token/x",
            &[bearer("tok-other")],
            deny(403, "token_invalid", "Access to this API has been disallowed", None),
        ),
        row(
            "3 token_header: X-Api-Key → pass",
            None,
            "/custom/x",
            &[("X-Api-Key", "tok-good".into())],
            PASS,
        ),
        row(
            "3 token_header: Authorization ignored there → 401",
            None,
            "/custom/x",
            &[bearer("tok-good")],
            deny(401, "token_missing", "Authorization field missing", Some("Bearer")),
        ),
        row(
            "3 mTLS + token: cert checked first → 403",
            Some("stranger"),
            "/token-mtls/x",
            &[bearer("tok-good")],
            deny(403, "cert_not_allowed", "", None).any_message(),
        ),
        row(
            "3 mTLS + token → pass",
            Some("ca_client"),
            "/token-mtls/x",
            &[bearer("tok-good")],
            PASS,
        ),
        row(
            "3 certificate auth, no certificate → 401",
            None,
            "/certauth/x",
            &[],
            deny(401, "client_cert_required", "Client certificate required", None),
        ),
        row(
            "3 certificate auth, leaf with a record → pass",
            Some("listed"),
            "/certauth/x",
            &[],
            PASS,
        ),
        row(
            "3 certificate auth, record grants another API → 401",
            Some("ca_client"),
            "/certauth/x",
            &[],
            deny(401, "cert_not_allowed", "Access to this API has been disallowed", None),
        ),
        row(
            "3 certificate auth, no record → 401",
            Some("stranger"),
            "/certauth/x",
            &[],
            deny(401, "cert_not_allowed", "Access to this API has been disallowed", None),
        ),
        row(
            "4 bound token with its certificate → pass",
            Some("listed"),
            "/token-mtls/x",
            &[bearer("tok-bound")],
            PASS,
        ),
        row(
            "4 bound token with another allow-listed certificate → 401",
            Some("listed2"),
            "/token-mtls/x",
            &[bearer("tok-bound")],
            deny(
                401,
                "cert_binding_mismatch",
                "Access to this API has been disallowed",
                Some("Bearer error=\"invalid_token\""),
            ),
        ),
        row(
            "4 bound token with no certificate → 403",
            None,
            "/token-mtls/x",
            &[bearer("tok-bound")],
            deny(403, "client_cert_required", "Client TLS certificate is required", None),
        ),
        row(
            "4 bound token on a non-mTLS API → pass (binding needs mutual_tls)",
            None,
            "/token/x",
            &[bearer("tok-bound")],
            PASS,
        ),
    ]
}

/// Step 3 (JWT) and step 4 (RFC 8705 binding).
pub fn jwt_and_rfc8705_binding(f: &World) -> Vec<Row> {
    let t = now();
    let good = hs256(json!({"iss": "certgate-tests", "aud": "api", "exp": t + 600}));
    let x5t = |n: &str| f.certs[n].id().to_x5t_s256();
    let invalid = || {
        deny(
            401,
            "jwt_invalid",
            "Invalid JWT",
            Some("Bearer error=\"invalid_token\""),
        )
    };
    let bad_sig = {
        let mut parts: Vec<String> = good.split('.').map(String::from).collect();
        parts[2] = hs256(json!({"other": 1})).split('.').nth(2).unwrap().to_string();
        parts.join(".")
    };
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS512),
        &json!({"iss": "certgate-tests", "aud": "api"}),
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    vec![
        row(
            "3 JWT missing → 401 Bearer",
            None,
            "/jwt/x",
            &[],
            deny(401, "token_missing", "Authorization field missing", Some("Bearer")),
        ),
        row("3 JWT good → pass", None, "/jwt/x", &[bearer(&good)], PASS),
        row(
            "3 JWT bad signature → 401",
            None,
            "/jwt/x",
            &[bearer(&bad_sig)],
            invalid(),
        ),
        row(
            "3 JWT algorithm not allowed → 401",
            None,
            "/jwt/x",
            &[bearer(&hs512)],
            invalid(),
        ),
        row(
            "3 JWT alg none → 401",
            None,
            "/jwt/x",
            &[bearer(&format!(
                "{}.{}.",
                b64("{\"alg\":\"none\"}"),
                b64("{\"iss\":\"certgate-tests\",\"aud\":\"api\"}")
            ))],
            invalid(),
        ),
        row(
            "3 JWT expired → 401",
            None,
            "/jwt/x",
            &[bearer(&hs256(
                json!({"iss": "certgate-tests", "aud": "api", "exp": t - 3600}),
            ))],
            invalid(),
        ),
        row(
            "3 JWT not yet valid → 401",
            None,
            "/jwt/x",
            &[bearer(&hs256(
                json!({"iss": "certgate-tests", "aud": "api", "nbf": t + 3600}),
            ))],
            invalid(),
        ),
        row(
            "3 JWT wrong issuer → 401",
            None,
            "/jwt/x",
            &[bearer(&hs256(json!({"iss": "evil", "aud": "api"})))],
            invalid(),
        ),
        row(
            "3 JWT wrong audience → 401",
            None,
            "/jwt/x",
            &[bearer(&hs256(json!({"iss": "certgate-tests", "aud": "other"})))],
            invalid(),
        ),
        row(
            "3 JWT audience in a list → pass",
            None,
            "/jwt/x",
            &[bearer(&hs256(json!({"iss": "certgate-tests", "aud": ["x", "api"]})))],
            PASS,
        ),
        row("3 JWT garbage → 401", None, "/jwt/x", &[bearer("not.a.jwt")], invalid()),
        row(
            "3 JWT RS256 → pass",
            None,
            "/jwt-rs/x",
            &[bearer(&signed(Algorithm::RS256, &f.rsa_jwt, json!({"sub": "a"})))],
            PASS,
        ),
        row(
            "3 JWT PS256 → pass",
            None,
            "/jwt-rs/x",
            &[bearer(&signed(Algorithm::PS256, &f.rsa_jwt, json!({"sub": "a"})))],
            PASS,
        ),
        row(
            "3 JWT ES256 → pass",
            None,
            "/jwt-es/x",
            &[bearer(&signed(Algorithm::ES256, &f.ec_jwt, json!({"sub": "a"})))],
            PASS,
        ),
        row(
            "3 JWT HS256 against an RSA key → 401",
            None,
            "/jwt-rs/x",
            &[bearer(&good)],
            invalid(),
        ),
        row(
            "4 cnf matches the leaf → pass",
            Some("listed"),
            "/jwt-cnf/x",
            &[bearer(&hs256(json!({"cnf": {"x5t#S256": x5t("listed")}})))],
            PASS,
        ),
        row(
            "4 cnf names another certificate → 401",
            Some("listed2"),
            "/jwt-cnf/x",
            &[bearer(&hs256(json!({"cnf": {"x5t#S256": x5t("listed")}})))],
            deny(
                401,
                "cert_binding_mismatch",
                "Invalid JWT",
                Some("Bearer error=\"invalid_token\""),
            ),
        ),
        row(
            "4 require_cnf and no cnf → 401",
            Some("listed"),
            "/jwt-cnf/x",
            &[bearer(&hs256(json!({"sub": "a"})))],
            deny(
                401,
                "cert_binding_mismatch",
                "Invalid JWT",
                Some("Bearer error=\"invalid_token\""),
            ),
        ),
        row(
            "4 cnf on an API without require_cnf, no certificate → 401",
            None,
            "/jwt/x",
            &[bearer(&hs256(
                json!({"iss": "certgate-tests", "aud": "api", "cnf": {"x5t#S256": x5t("listed")}}),
            ))],
            deny(
                401,
                "cert_binding_mismatch",
                "Invalid JWT",
                Some("Bearer error=\"invalid_token\""),
            ),
        ),
    ]
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

pub trait AnyMessage {
    fn any_message(self) -> Self;
}

impl AnyMessage for Expect {
    fn any_message(mut self) -> Self {
        self.message = None;
        self
    }
}
