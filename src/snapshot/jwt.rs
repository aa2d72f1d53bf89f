//! JWT verification settings compiled from `auth.jwt`: algorithms fixed, keys parsed once.
//! The verification itself lives in [`crate::policy::downstream::jwt`].

use std::path::Path;

use base64::Engine;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Rsa;

use crate::config::ConfigErrorKind as Kind;
use crate::config::JwtConf;

/// Reads a file named in the config: its bytes and resolved path, or a message.
pub type ReadFile<'a> = dyn Fn(&str) -> Result<(Vec<u8>, std::path::PathBuf), String> + 'a;

/// A JWS algorithm certgate verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    /// HMAC SHA-256.
    HS256,
    /// HMAC SHA-384.
    HS384,
    /// HMAC SHA-512.
    HS512,
    /// RSA PKCS#1 v1.5 SHA-256.
    RS256,
    /// RSA PKCS#1 v1.5 SHA-384.
    RS384,
    /// RSA PKCS#1 v1.5 SHA-512.
    RS512,
    /// RSA-PSS SHA-256.
    PS256,
    /// RSA-PSS SHA-384.
    PS384,
    /// RSA-PSS SHA-512.
    PS512,
    /// ECDSA P-256 SHA-256.
    ES256,
    /// ECDSA P-384 SHA-384.
    ES384,
    /// Ed25519 / Ed448.
    EdDSA,
}

/// Public (or shared) key material for one key.
pub enum KeyMaterial {
    /// HMAC secret.
    Hmac(Vec<u8>),
    /// RSA public key.
    Rsa(PKey<Public>),
    /// EC public key and its curve.
    Ec(PKey<Public>, Nid),
    /// Ed25519 or Ed448 public key.
    Ed(PKey<Public>),
}

/// One verification key.
pub struct JwtKey {
    /// `kid` from the JWKS, matched against the token header's `kid`.
    pub kid: Option<String>,
    /// `alg` from the JWKS, when it pins one.
    pub alg: Option<Alg>,
    /// The key.
    pub material: KeyMaterial,
}

/// Everything needed to verify a JWT for one API.
pub struct JwtVerifier {
    /// Accepted algorithms.
    pub algorithms: Vec<Alg>,
    /// Candidate keys.
    pub keys: Vec<JwtKey>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Accepted `aud` values (any one must appear).
    pub audience: Option<Vec<String>>,
    /// Demand `cnf."x5t#S256"`.
    pub require_cnf: bool,
    /// Clock skew on `exp` / `nbf`.
    pub leeway: i64,
}

// === impl Alg ===

impl Alg {
    /// Parses a JOSE `alg` name.
    pub fn parse(s: &str) -> Option<Alg> {
        Some(match s {
            "HS256" => Alg::HS256,
            "HS384" => Alg::HS384,
            "HS512" => Alg::HS512,
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "EdDSA" => Alg::EdDSA,
            _ => return None,
        })
    }

    /// Whether this is an HMAC algorithm.
    pub fn is_hmac(self) -> bool {
        matches!(self, Alg::HS256 | Alg::HS384 | Alg::HS512)
    }

    /// Whether `key` can verify this algorithm.
    pub fn fits(self, key: &KeyMaterial) -> bool {
        match (self, key) {
            (Alg::HS256 | Alg::HS384 | Alg::HS512, KeyMaterial::Hmac(_)) => true,
            (Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512, KeyMaterial::Rsa(_)) => true,
            (Alg::ES256, KeyMaterial::Ec(_, nid)) => *nid == Nid::X9_62_PRIME256V1,
            (Alg::ES384, KeyMaterial::Ec(_, nid)) => *nid == Nid::SECP384R1,
            (Alg::EdDSA, KeyMaterial::Ed(_)) => true,
            _ => false,
        }
    }
}

// === impl JwtVerifier ===

impl JwtVerifier {
    /// Compiles `auth.jwt`. `read` resolves and reads a file named in the config. Errors are
    /// `(field, kind, message)` relative to the `jwt` mapping.
    pub fn compile(conf: &JwtConf, read: &ReadFile<'_>) -> Result<JwtVerifier, Vec<JwtConfError>> {
        let mut errors = Vec::new();
        let mut algorithms = Vec::new();
        for (i, a) in conf.algorithms.iter().enumerate() {
            match Alg::parse(a) {
                Some(alg) => algorithms.push(alg),
                None => errors.push((format!("algorithms[{i}]"), Kind::UnknownName, format!("unknown algorithm `{a}` (one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)"))),
            }
        }
        if conf.algorithms.is_empty() {
            errors.push((
                "algorithms".into(),
                Kind::Missing,
                "at least one algorithm is required".into(),
            ));
        }
        let sources = [
            conf.public_key.is_some(),
            conf.secret.is_some(),
            conf.jwks_file.is_some(),
        ];
        let keys = match sources.iter().filter(|x| **x).count() {
            0 => {
                errors.push((
                    String::new(),
                    Kind::Missing,
                    "one of `public_key`, `secret` or `jwks_file` is required".into(),
                ));
                Vec::new()
            }
            1 => match load_keys(conf, read) {
                Ok(k) => k,
                Err(e) => {
                    errors.push(e);
                    Vec::new()
                }
            },
            _ => {
                errors.push((
                    String::new(),
                    Kind::Conflict,
                    "use only one of `public_key`, `secret` or `jwks_file`".into(),
                ));
                Vec::new()
            }
        };
        // HS* needs a shared key: `secret`, or `oct` keys in the JWKS. A `secret` verifies
        // nothing else. (A public key is never used as an HMAC key: `Alg::fits` pairs HS*
        // with `oct`/`secret` material only, so there is no algorithm confusion to forbid.)
        let shared_keys = conf.secret.is_some() || keys.iter().any(|k| matches!(k.material, KeyMaterial::Hmac(_)));
        for (i, a) in algorithms.iter().enumerate() {
            if a.is_hmac() && !shared_keys && (conf.public_key.is_some() || !keys.is_empty()) {
                errors.push((
                    format!("algorithms[{i}]"),
                    Kind::Missing,
                    format!("{a:?} needs `secret` or `oct` keys in `jwks_file` (HS* verifies with a shared key only)"),
                ));
            } else if !a.is_hmac() && conf.secret.is_some() {
                errors.push((
                    format!("algorithms[{i}]"),
                    Kind::Conflict,
                    format!("{a:?} cannot be verified with a shared `secret`"),
                ));
            }
        }
        if !keys.is_empty() && !algorithms.iter().any(|a| keys.iter().any(|k| a.fits(&k.material))) {
            errors.push((
                "algorithms".into(),
                Kind::Conflict,
                "none of these algorithms fits the configured key".into(),
            ));
        }
        if errors.is_empty() {
            Ok(JwtVerifier {
                algorithms,
                keys,
                issuer: conf.issuer.clone(),
                audience: conf.audience.as_ref().map(|a| a.0.clone()),
                require_cnf: conf.require_cnf,
                leeway: conf.leeway_seconds.min(i64::MAX as u64) as i64,
            })
        } else {
            Err(errors)
        }
    }
}

/// A problem in `auth.jwt`: the field under it, the kind, the message.
pub type JwtConfError = (String, Kind, String);

fn load_keys(conf: &JwtConf, read: &ReadFile<'_>) -> Result<Vec<JwtKey>, JwtConfError> {
    if let Some(secret) = &conf.secret {
        if secret.len() < 16 {
            return Err((
                "secret".into(),
                Kind::Invalid,
                "an HMAC secret must be at least 16 bytes".into(),
            ));
        }
        return Ok(vec![JwtKey {
            kid: None,
            alg: None,
            material: KeyMaterial::Hmac(secret.as_bytes().to_vec()),
        }]);
    }
    if let Some(path) = &conf.public_key {
        let (bytes, file) = read(path).map_err(|e| ("public_key".to_string(), Kind::File, e))?;
        let material = public_key_from_pem(&bytes).map_err(|e| {
            (
                "public_key".to_string(),
                Kind::Certificate,
                format!("{}: {e}", file.display()),
            )
        })?;
        return Ok(vec![JwtKey {
            kid: None,
            alg: None,
            material,
        }]);
    }
    let path = conf.jwks_file.as_deref().unwrap_or_default();
    let (bytes, file) = read(path).map_err(|e| ("jwks_file".to_string(), Kind::File, e))?;
    parse_jwks(&bytes).map_err(|e| {
        (
            "jwks_file".to_string(),
            Kind::Certificate,
            format!("{}: {e}", file.display()),
        )
    })
}

/// Reads a PEM public key or certificate into key material.
pub fn public_key_from_pem(bytes: &[u8]) -> Result<KeyMaterial, String> {
    let key = match PKey::public_key_from_pem(bytes) {
        Ok(k) => k,
        Err(_) => openssl::x509::X509::from_pem(bytes)
            .and_then(|c| c.public_key())
            .map_err(|_| "no PUBLIC KEY or CERTIFICATE block found".to_string())?,
    };
    material_of(key)
}

fn material_of(key: PKey<Public>) -> Result<KeyMaterial, String> {
    match key.id() {
        Id::RSA => Ok(KeyMaterial::Rsa(key)),
        Id::EC => {
            let nid = key
                .ec_key()
                .ok()
                .and_then(|k| k.group().curve_name())
                .ok_or_else(|| "EC key on an unnamed curve".to_string())?;
            Ok(KeyMaterial::Ec(key, nid))
        }
        Id::ED25519 | Id::ED448 => Ok(KeyMaterial::Ed(key)),
        other => Err(format!("unsupported key type {other:?}")),
    }
}

/// Parses a JWKS document (RFC 7517): RSA, EC (P-256, P-384), OKP (Ed25519, Ed448) and oct keys.
pub fn parse_jwks(bytes: &[u8]) -> Result<Vec<JwtKey>, String> {
    let doc: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let keys = doc.get("keys").and_then(|k| k.as_array()).ok_or("no `keys` array")?;
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let field = |name: &str| k.get(name).and_then(|v| v.as_str());
        let b64 = |name: &str| -> Result<Vec<u8>, String> {
            let s = field(name).ok_or_else(|| format!("keys[{i}]: missing `{name}`"))?;
            b64url(s).ok_or_else(|| format!("keys[{i}].{name}: not base64url"))
        };
        if field("use").is_some_and(|u| u != "sig") {
            continue;
        }
        let alg = match field("alg") {
            Some(a) => Some(Alg::parse(a).ok_or_else(|| format!("keys[{i}]: unknown alg `{a}`"))?),
            None => None,
        };
        let e = |m: openssl::error::ErrorStack| format!("keys[{i}]: {m}");
        let material = match field("kty") {
            Some("RSA") => {
                let rsa = Rsa::from_public_components(
                    BigNum::from_slice(&b64("n")?).map_err(e)?,
                    BigNum::from_slice(&b64("e")?).map_err(e)?,
                )
                .map_err(e)?;
                KeyMaterial::Rsa(PKey::from_rsa(rsa).map_err(e)?)
            }
            Some("EC") => {
                let nid = match field("crv") {
                    Some("P-256") => Nid::X9_62_PRIME256V1,
                    Some("P-384") => Nid::SECP384R1,
                    other => return Err(format!("keys[{i}]: unsupported EC curve {other:?}")),
                };
                let group = EcGroup::from_curve_name(nid).map_err(e)?;
                let x = BigNum::from_slice(&b64("x")?).map_err(e)?;
                let y = BigNum::from_slice(&b64("y")?).map_err(e)?;
                let key = EcKey::from_public_key_affine_coordinates(&group, &x, &y).map_err(e)?;
                KeyMaterial::Ec(PKey::from_ec_key(key).map_err(e)?, nid)
            }
            Some("OKP") => {
                let id = match field("crv") {
                    Some("Ed25519") => Id::ED25519,
                    Some("Ed448") => Id::ED448,
                    other => return Err(format!("keys[{i}]: unsupported OKP curve {other:?}")),
                };
                KeyMaterial::Ed(PKey::public_key_from_raw_bytes(&b64("x")?, id).map_err(e)?)
            }
            Some("oct") => match b64("k")? {
                k if k.len() < 16 => return Err(format!("keys[{i}]: an oct key must be at least 16 bytes")),
                k => KeyMaterial::Hmac(k),
            },
            other => return Err(format!("keys[{i}]: unsupported kty {other:?}")),
        };
        out.push(JwtKey {
            kid: field("kid").map(String::from),
            alg,
            material,
        });
    }
    if out.is_empty() {
        return Err("no usable signing keys".into());
    }
    Ok(out)
}

/// Base64url without padding, as JWS compact serialisation and RFC 8705 thumbprints are
/// written: one spelling per value, so a padded or standard-base64 variant is refused.
pub fn b64url_nopad(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()
}

/// Base64url decoding that accepts padding or none.
pub fn b64url(s: &str) -> Option<Vec<u8>> {
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
    .decode(s)
    .ok()
}

/// Reads a file named in the config; used by [`JwtVerifier::compile`] callers.
pub fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}
