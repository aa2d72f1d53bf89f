//! JWT verification (SPEC §3 step 3, `type: jwt`): the algorithm must be one the API
//! allows and must fit the key, then signature, `exp`/`nbf` (with leeway), `iss`, `aud`.

use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Signer, Verifier};
use serde::Deserialize;

use crate::snapshot::jwt::{b64url_nopad as b64url, Alg, JwtVerifier, KeyMaterial};

/// The claims certgate uses after a JWT verified.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `cnf."x5t#S256"`, as written.
    pub x5t_s256: Option<String>,
}

pub use crate::policy::deny::JwtError;

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    exp: Option<f64>,
    #[serde(default)]
    nbf: Option<f64>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    cnf: Option<Cnf>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Cnf {
    #[serde(rename = "x5t#S256", default)]
    x5t_s256: Option<String>,
}

/// Verifies a compact JWS and its registered claims.
pub fn verify(v: &JwtVerifier, token: &[u8], now: i64) -> Result<Claims, JwtError> {
    let token = std::str::from_utf8(token).map_err(|_| JwtError::Malformed)?;
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed);
    };
    let header: Header =
        serde_json::from_slice(&b64url(h).ok_or(JwtError::Malformed)?).map_err(|_| JwtError::Malformed)?;
    if header.crit.is_some() {
        return Err(JwtError::Malformed);
    }
    let alg = Alg::parse(&header.alg)
        .filter(|a| v.algorithms.contains(a))
        .ok_or(JwtError::Algorithm)?;
    let signature = b64url(s).ok_or(JwtError::Malformed)?;
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    let mut candidates = v
        .keys
        .iter()
        .filter(|k| alg.fits(&k.material) && k.alg.is_none_or(|a| a == alg))
        .filter(|k| match (&header.kid, &k.kid) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        })
        .peekable();
    if candidates.peek().is_none() {
        return Err(JwtError::Algorithm);
    }
    if !candidates.any(|k| check_signature(alg, &k.material, signed, &signature)) {
        return Err(JwtError::Signature);
    }
    let claims: RawClaims =
        serde_json::from_slice(&b64url(p).ok_or(JwtError::Malformed)?).map_err(|_| JwtError::Malformed)?;
    if let Some(exp) = claims.exp {
        if (now - v.leeway) as f64 >= exp {
            return Err(JwtError::Expired);
        }
    }
    if let Some(nbf) = claims.nbf {
        if ((now + v.leeway) as f64) < nbf {
            return Err(JwtError::NotYetValid);
        }
    }
    if let Some(iss) = &v.issuer {
        if claims.iss.as_deref() != Some(iss.as_str()) {
            return Err(JwtError::Issuer);
        }
    }
    if let Some(accepted) = &v.audience {
        let ok = match &claims.aud {
            Some(Audience::One(a)) => accepted.iter().any(|x| x == a),
            Some(Audience::Many(list)) => list.iter().any(|a| accepted.iter().any(|x| x == a)),
            None => false,
        };
        if !ok {
            return Err(JwtError::Audience);
        }
    }
    Ok(Claims {
        x5t_s256: claims.cnf.and_then(|c| c.x5t_s256),
    })
}

fn digest(alg: Alg) -> MessageDigest {
    match alg {
        Alg::HS256 | Alg::RS256 | Alg::PS256 | Alg::ES256 => MessageDigest::sha256(),
        Alg::HS384 | Alg::RS384 | Alg::PS384 | Alg::ES384 => MessageDigest::sha384(),
        Alg::HS512 | Alg::RS512 | Alg::PS512 => MessageDigest::sha512(),
        Alg::EdDSA => MessageDigest::null(),
    }
}

fn check_signature(alg: Alg, key: &KeyMaterial, signed: &[u8], sig: &[u8]) -> bool {
    let md = digest(alg);
    let result = (|| -> Result<bool, openssl::error::ErrorStack> {
        match key {
            KeyMaterial::Hmac(secret) => {
                let pkey = PKey::hmac(secret)?;
                let mut signer = Signer::new(md, &pkey)?;
                signer.update(signed)?;
                let mac = signer.sign_to_vec()?;
                Ok(mac.len() == sig.len() && openssl::memcmp::eq(&mac, sig))
            }
            KeyMaterial::Rsa(pkey) => {
                let mut verifier = Verifier::new(md, pkey)?;
                if matches!(alg, Alg::PS256 | Alg::PS384 | Alg::PS512) {
                    verifier.set_rsa_padding(Padding::PKCS1_PSS)?;
                    verifier.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
                    verifier.set_rsa_mgf1_md(md)?;
                } else {
                    verifier.set_rsa_padding(Padding::PKCS1)?;
                }
                verifier.update(signed)?;
                verifier.verify(sig)
            }
            KeyMaterial::Ec(pkey, _) => {
                let half = match alg {
                    Alg::ES256 => 32,
                    Alg::ES384 => 48,
                    _ => return Ok(false),
                };
                if sig.len() != 2 * half {
                    return Ok(false);
                }
                let r = BigNum::from_slice(&sig[..half])?;
                let s = BigNum::from_slice(&sig[half..])?;
                let der = EcdsaSig::from_private_components(r, s)?.to_der()?;
                let mut verifier = Verifier::new(md, pkey)?;
                verifier.update(signed)?;
                verifier.verify(&der)
            }
            KeyMaterial::Ed(pkey) => {
                let mut verifier = Verifier::new_without_digest(pkey)?;
                verifier.verify_oneshot(sig, signed)
            }
        }
    })();
    result.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JwtConf;
    use base64::Engine;

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    fn hs256(key: &[u8], claims: &str) -> String {
        let input = format!("{}.{}", b64(br#"{"alg":"HS256","kid":"k1"}"#), b64(claims.as_bytes()));
        let key = PKey::hmac(key).unwrap();
        let mut s = Signer::new(MessageDigest::sha256(), &key).unwrap();
        s.update(input.as_bytes()).unwrap();
        format!("{input}.{}", b64(&s.sign_to_vec().unwrap()))
    }

    fn conf(algorithms: &[&str]) -> JwtConf {
        serde_yaml_ng::from_str(&format!(
            "{{algorithms: [{}], jwks_file: keys.json}}",
            algorithms.join(", ")
        ))
        .unwrap()
    }

    fn jwks(keys: &str) -> impl Fn(&str) -> Result<(Vec<u8>, std::path::PathBuf), String> + '_ {
        move |_| Ok((keys.as_bytes().to_vec(), "keys.json".into()))
    }

    fn compile_errors(c: &JwtConf, keys: &str) -> Vec<crate::snapshot::jwt::JwtConfError> {
        match JwtVerifier::compile(c, &jwks(keys)) {
            Ok(_) => panic!("compiled"),
            Err(e) => e,
        }
    }

    #[test]
    fn hs256_verifies_with_an_oct_key_from_a_jwks() {
        let secret = b"a jwks oct key, 32 bytes long..!";
        let keys = format!(r#"{{"keys":[{{"kty":"oct","kid":"k1","k":"{}"}}]}}"#, b64(secret));
        let v = JwtVerifier::compile(&conf(&["HS256"]), &jwks(&keys)).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(verify(&v, hs256(secret, r#"{"sub":"a"}"#).as_bytes(), 0).is_ok());
        assert_eq!(
            verify(&v, hs256(b"another key of thirty-two bytes!", "{}").as_bytes(), 0),
            Err(JwtError::Signature)
        );
    }

    #[test]
    fn hs256_needs_a_shared_key_and_oct_keys_a_floor() {
        // An EC-only JWKS (RFC 7517's example key): HS256 has nothing to verify with.
        let only_ec = r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        let errs = compile_errors(&conf(&["HS256", "ES256"]), only_ec);
        assert!(
            errs.iter()
                .any(|e| e.0 == "algorithms[0]" && e.2.contains("needs `secret` or `oct` keys")),
            "{errs:?}"
        );
        let short = format!(r#"{{"keys":[{{"kty":"oct","k":"{}"}}]}}"#, b64(b"short"));
        let errs = compile_errors(&conf(&["HS256"]), &short);
        assert!(errs.iter().any(|e| e.2.contains("at least 16 bytes")), "{errs:?}");
    }
}
