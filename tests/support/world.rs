//! The SPEC §3 test world: a PKI (a server identity, allow-listed leaves, CAs and
//! intermediates, expired and not-yet-valid certificates, JWT signing keys) and one config
//! whose APIs cover every decision of SPEC §3, written to a temporary directory.
//!
//! The same world serves the in-process decision table (`tests/spec/decision.rs`, which
//! compiles the config) and the end-to-end one (`tests/e2e/fixture.rs`, which starts a
//! gateway on it). The config's listener addresses are `{https}`/`{http}`/`{metrics}`
//! placeholders, filled by whoever runs it ([`crate::support::Gateway`] hands it listeners).

use std::collections::HashMap;

use certgate::pki::{Eku, Issued, KeyKind, Spec};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

use super::TestBed;

/// The HS256 secret of the `jwt` and `jwt-cnf` APIs.
pub const JWT_SECRET: &str = "a-test-secret-that-is-long-enough";

/// The files and certificates of one world.
pub struct World {
    /// The directory with the config's files (PKI, store directory) and server identity.
    pub bed: TestBed,
    /// The config, with listener placeholders.
    pub yaml: String,
    /// Client certificates and CAs by name (`listed`, `ca_client`, `stranger`, …).
    pub certs: HashMap<&'static str, Issued>,
    /// RS256/PS256 signer of the `jwt-rs` API.
    pub rsa_jwt: Issued,
    /// ES256 signer of the `jwt-es` API.
    pub ec_jwt: Issued,
}

impl World {
    /// Builds the world with every API forwarding to `upstream` (`host:port`).
    pub fn build(upstream: &str) -> World {
        Self::build_in(TestBed::new("test server CA"), upstream)
    }

    /// Like [`Self::build`], in `bed`.
    pub fn build_in(bed: TestBed, upstream: &str) -> World {
        let d = bed.path();
        std::fs::create_dir_all(d.join("certs")).unwrap();

        let client_ca = Spec::ca("allowed client CA").issue(None);
        let other_ca = Spec::ca("other CA").issue(None);
        let inter = Spec::ca("allowed intermediate").issue(Some(&client_ca));
        let mut certs = HashMap::new();
        certs.insert("listed", Spec::client("listed leaf").issue(Some(&other_ca)));
        certs.insert("listed2", Spec::client("second listed leaf").issue(Some(&other_ca)));
        certs.insert(
            "expired_listed",
            Spec::client("expired listed")
                .valid(-10 * 86400, -86400)
                .issue(Some(&other_ca)),
        );
        certs.insert(
            "ca_client",
            Spec::client("issued by allowed CA").issue(Some(&client_ca)),
        );
        certs.insert(
            "ca_expired",
            Spec::client("expired, allowed CA")
                .valid(-10 * 86400, -86400)
                .issue(Some(&client_ca)),
        );
        certs.insert(
            "ca_notyet",
            Spec::client("not yet valid, allowed CA")
                .valid(86400, 10 * 86400)
                .issue(Some(&client_ca)),
        );
        certs.insert(
            "ca_serverauth",
            Spec::client("serverAuth only").eku(Eku::Server).issue(Some(&client_ca)),
        );
        certs.insert(
            "ca_noeku",
            Spec::client("no EKU, allowed CA")
                .eku(Eku::None)
                .issue(Some(&client_ca)),
        );
        certs.insert(
            "inter_client",
            Spec::client("under the intermediate").issue(Some(&inter)),
        );
        certs.insert("stranger", Spec::client("stranger").issue(Some(&other_ca)));
        certs.insert("selfsigned", Spec::client("self-signed").issue(None));
        certs.insert("client_ca", client_ca.clone());
        certs.insert("inter", inter);

        // The store holds the listed leaves; the CA is referenced by file.
        for name in ["listed", "listed2", "expired_listed"] {
            std::fs::write(d.join(format!("certs/{name}.pem")), certs[name].cert_pem()).unwrap();
        }
        std::fs::write(d.join("client-ca.crt"), client_ca.cert_pem()).unwrap();
        let rsa_jwt = Spec::client("jwt rsa").key(KeyKind::Rsa2048).issue(None);
        let ec_jwt = Spec::client("jwt ec").issue(None);
        std::fs::write(d.join("jwt-rsa.pub"), rsa_jwt.key.public_key_to_pem().unwrap()).unwrap();
        std::fs::write(d.join("jwt-ec.pub"), ec_jwt.key.public_key_to_pem().unwrap()).unwrap();

        let id = |n: &str| certs[n].id().to_hex();
        let yaml = format!(
            r#"
{head}certificate_store:
  dir: certs
tokens:
  - token: tok-good
    apis: [token, token-mtls, custom-header]
  - token: tok-expired
    apis: [token]
    expires_at: 2020-01-01T00:00:00Z
  - token: tok-other
    apis: [open]
  - token_sha256: "{good_hash}"
    apis: [token]
  - token: tok-bound
    apis: [token-mtls, token]
    bound_certificates: [{listed}]
  - token: cert-record-listed
    apis: [certauth]
    certificate: {listed}
  - token: cert-record-ca-client
    apis: [open]
    certificate: {ca_client_path}
apis:
  - name: cert-only
    listen_path: /cert/
    strip_listen_path: true
    auth:
      mutual_tls: true
      client_certificates: [{listed}, {expired_listed}, client-ca.crt]
    upstream: {{url: "http://{up}"}}
  - name: colon
    listen_path: /colon/
    auth:
      mutual_tls: true
      client_certificates: ["{listed_colon}"]
    upstream: {{url: "http://{up}"}}
  - name: token
    listen_path: /token/
    auth: {{type: token}}
    upstream: {{url: "http://{up}"}}
  - name: token-mtls
    listen_path: /token-mtls/
    auth:
      type: token
      mutual_tls: true
      client_certificates: [{listed}, {listed2}, client-ca.crt]
    upstream: {{url: "http://{up}"}}
  - name: custom-header
    listen_path: /custom/
    auth: {{type: token, token_header: X-Api-Key}}
    upstream: {{url: "http://{up}"}}
  - name: jwt
    listen_path: /jwt/
    auth:
      type: jwt
      jwt: {{algorithms: [HS256], secret: "{JWT_SECRET}", issuer: certgate-tests, audience: api}}
    upstream: {{url: "http://{up}"}}
  - name: jwt-rs
    listen_path: /jwt-rs/
    auth:
      type: jwt
      jwt: {{algorithms: [RS256, PS256], public_key: jwt-rsa.pub}}
    upstream: {{url: "http://{up}"}}
  - name: jwt-es
    listen_path: /jwt-es/
    auth:
      type: jwt
      jwt: {{algorithms: [ES256], public_key: jwt-ec.pub}}
    upstream: {{url: "http://{up}"}}
  - name: jwt-cnf
    listen_path: /jwt-cnf/
    auth:
      type: jwt
      mutual_tls: true
      client_certificates: [{listed}, {listed2}]
      jwt: {{algorithms: [HS256], secret: "{JWT_SECRET}", require_cnf: true}}
    upstream: {{url: "http://{up}"}}
  - name: certauth
    listen_path: /certauth/
    auth: {{type: certificate}}
    upstream: {{url: "http://{up}"}}
  - name: open
    listen_path: /open/
    upstream: {{url: "http://{up}"}}
"#,
            head = TestBed::head(""),
            listed = id("listed"),
            listed2 = id("listed2"),
            listed_colon = colon_upper(&id("listed")),
            expired_listed = id("expired_listed"),
            ca_client_path = {
                std::fs::write(d.join("ca-client.crt"), certs["ca_client"].cert_pem()).unwrap();
                "ca-client.crt"
            },
            good_hash = sha256_hex(b"tok-hashed"),
            up = upstream,
        );
        World {
            bed,
            yaml,
            certs,
            rsa_jwt,
            ec_jwt,
        }
    }

    /// The config with every listener placeholder filled by an unused address (for
    /// compiling in process, where nothing listens).
    pub fn yaml_in_process(&self) -> String {
        self.yaml
            .replace("{https}", "1")
            .replace("{http}", "2")
            .replace("{metrics}", "3")
    }
}

pub fn colon_upper(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap().to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(certgate::certs::sha256(b))
}

pub fn now() -> i64 {
    certgate::clock::now_unix()
}

/// An HS256 JWT with these claims.
pub fn hs256(claims: serde_json::Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// A JWT signed with `alg` by `key`.
pub fn signed(alg: Algorithm, key: &Issued, claims: serde_json::Value) -> String {
    let pem = key.key.private_key_to_pem_pkcs8().unwrap();
    let k = match alg {
        Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => unreachable!(),
    };
    encode(&Header::new(alg), &claims, &k).unwrap()
}
