//! Certificate metadata parsed with x509-parser (SPEC §1).

use serde::Serialize;
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::CertId;

/// What an operator wants to know about a certificate; never includes key material.
#[derive(Clone, Debug, Serialize)]
pub struct CertMeta {
    /// Subject distinguished name (RFC 4514 style).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// DNS names and IP addresses from the subjectAltName extension.
    pub dns_names: Vec<String>,
    /// Serial number, lower-case hex.
    pub serial: String,
    /// Start of validity, seconds since the epoch.
    pub not_before: i64,
    /// End of validity, seconds since the epoch.
    pub not_after: i64,
    /// basicConstraints CA flag.
    pub is_ca: bool,
    /// Key algorithm and size, e.g. `EC P-256`, `RSA 2048`, `Ed25519`.
    pub key_type: String,
    /// SHA-256 of the SubjectPublicKeyInfo DER (what pins name).
    pub spki_sha256: CertId,
    /// Whether the extendedKeyUsage extension is present and allows clientAuth
    /// (`None` when the certificate has no EKU extension).
    pub client_auth_eku: Option<bool>,
}

// === impl CertMeta ===

impl CertMeta {
    /// Parses the metadata of one certificate DER.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
        let dns_names = match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_string()),
                    GeneralName::IPAddress(ip) => ip_to_string(ip),
                    _ => None,
                })
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => return Err(format!("bad subjectAltName: {e}")),
        };
        let client_auth_eku = match cert.extended_key_usage() {
            Ok(Some(eku)) => Some(eku.value.any || eku.value.client_auth),
            Ok(None) => None,
            Err(e) => return Err(format!("bad extendedKeyUsage: {e}")),
        };
        let spki = cert.public_key();
        Ok(CertMeta {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            dns_names,
            serial: hex::encode(cert.raw_serial()),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            is_ca: cert.is_ca(),
            key_type: key_type(spki),
            spki_sha256: CertId::of_der(spki.raw),
            client_auth_eku,
        })
    }

    /// Metadata for a PEM that holds only a public key (its SPKI DER).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, String> {
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| format!("not a valid public key: {e}"))?;
        Ok(CertMeta {
            subject: String::new(),
            issuer: String::new(),
            dns_names: Vec::new(),
            serial: String::new(),
            not_before: i64::MIN,
            not_after: i64::MAX,
            is_ca: false,
            key_type: key_type(&spki),
            spki_sha256: CertId::of_der(der),
            client_auth_eku: None,
        })
    }

    /// Whether `now` (seconds since the epoch) is inside the validity window.
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

fn ip_to_string(ip: &[u8]) -> Option<String> {
    match ip.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(ip).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?).to_string()),
        _ => None,
    }
}

fn key_type(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> String {
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("RSA {}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| {
                    if oid == oid_registry::OID_EC_P256 {
                        "P-256".to_string()
                    } else if oid == oid_registry::OID_NIST_EC_P384 {
                        "P-384".to_string()
                    } else if oid == oid_registry::OID_NIST_EC_P521 {
                        "P-521".to_string()
                    } else {
                        oid.to_id_string()
                    }
                })
                .unwrap_or_else(|| "unknown curve".into());
            format!("EC {curve}")
        }
        _ if spki.algorithm.algorithm == oid_registry::OID_SIG_ED25519 => "Ed25519".into(),
        _ if spki.algorithm.algorithm == oid_registry::OID_SIG_ED448 => "Ed448".into(),
        _ => spki.algorithm.algorithm.to_id_string(),
    }
}
