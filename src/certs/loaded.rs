//! One PEM file turned into a certificate (with its chain and key) or a bare public key.

use std::path::{Path, PathBuf};

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use x509_parser::pem::Pem;

use super::{CertId, CertMeta};

/// A certificate (or public key) loaded from PEM, with everything certgate needs from it.
pub struct LoadedCert {
    /// The certificate ID (SPEC §1).
    pub id: CertId,
    /// Where it came from (a file path, or a description such as `admin upload`).
    pub source: PathBuf,
    /// Leaf first, then the chain that followed it in the file. Empty for a bare public key.
    pub chain: Vec<X509>,
    /// The private key that came with it, checked to match the leaf.
    pub key: Option<PKey<Private>>,
    /// Parsed metadata of the leaf (or of the public key).
    pub meta: CertMeta,
    /// DER of the leaf certificate, or of the SPKI for a bare public key.
    pub der: Vec<u8>,
}

/// Why a PEM could not be turned into a [`LoadedCert`]. The message names the source.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct CertError {
    /// The file (or other source) that was being read.
    pub source_name: String,
    /// What was wrong with it.
    pub message: String,
    /// The kind of problem, for callers that answer differently per kind.
    pub kind: CertErrorKind,
}

/// Kinds of [`CertError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertErrorKind {
    /// The file could not be read.
    Unreadable,
    /// Not PEM, no certificate, or a certificate or key that does not parse.
    Invalid,
    /// The private key does not belong to the certificate.
    KeyMismatch,
}

// === impl LoadedCert ===

impl LoadedCert {
    /// Whether this holds only a public key (no certificate).
    pub fn is_public_key_only(&self) -> bool {
        self.chain.is_empty()
    }

    /// The leaf certificate, when there is one.
    pub fn leaf(&self) -> Option<&X509> {
        self.chain.first()
    }

    /// A short human description: the subject, or the key type for a bare key.
    pub fn describe(&self) -> String {
        if self.is_public_key_only() {
            format!("public key ({})", self.meta.key_type)
        } else {
            self.meta.subject.clone()
        }
    }
}

impl std::fmt::Debug for LoadedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("LoadedCert")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("subject", &self.meta.subject)
            .field("has_key", &self.key.is_some())
            .finish()
    }
}

/// Reads and parses one PEM file. Errors name the file.
pub fn read_pem_file(path: &Path) -> Result<LoadedCert, CertError> {
    let bytes = std::fs::read(path).map_err(|e| CertError {
        source_name: path.display().to_string(),
        message: format!("cannot read: {e}"),
        kind: CertErrorKind::Unreadable,
    })?;
    parse_pem(&bytes, path)
}

/// Parses PEM text holding a certificate, a certificate with its chain, either of those with
/// the private key, or a bare `PUBLIC KEY`.
pub fn parse_pem(bytes: &[u8], source: &Path) -> Result<LoadedCert, CertError> {
    let err = |message: String| CertError {
        source_name: source.display().to_string(),
        message,
        kind: CertErrorKind::Invalid,
    };
    let mut cert_ders: Vec<Vec<u8>> = Vec::new();
    let mut public_key: Option<Vec<u8>> = None;
    let mut has_private_key = false;
    for block in Pem::iter_from_buffer(bytes) {
        let block = block.map_err(|e| err(format!("not valid PEM: {e}")))?;
        match block.label.as_str() {
            "CERTIFICATE" | "TRUSTED CERTIFICATE" => cert_ders.push(block.contents),
            "PUBLIC KEY" => public_key = Some(block.contents),
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => has_private_key = true,
            "ENCRYPTED PRIVATE KEY" => {
                return Err(err("encrypted private keys are not supported; decrypt it first".into()))
            }
            _ => {} // EC PARAMETERS and friends carry nothing we need
        }
    }
    let key = if has_private_key {
        Some(PKey::private_key_from_pem(bytes).map_err(|e| err(format!("cannot parse private key: {e}")))?)
    } else {
        None
    };
    if cert_ders.is_empty() {
        let Some(spki) = public_key else {
            return Err(err("no CERTIFICATE or PUBLIC KEY block found".into()));
        };
        if key.is_some() {
            return Err(err("a private key without its certificate".into()));
        }
        let meta = CertMeta::from_spki_der(&spki).map_err(err)?;
        return Ok(LoadedCert {
            id: CertId::of_der(&spki),
            source: source.into(),
            chain: Vec::new(),
            key: None,
            meta,
            der: spki,
        });
    }
    let mut chain = Vec::with_capacity(cert_ders.len());
    for (i, der) in cert_ders.iter().enumerate() {
        let cert = X509::from_der(der).map_err(|e| err(format!("certificate #{} does not parse: {e}", i + 1)))?;
        chain.push(cert);
    }
    let meta = CertMeta::from_der(&cert_ders[0]).map_err(err)?;
    if let Some(key) = &key {
        let public = chain[0]
            .public_key()
            .map_err(|e| err(format!("certificate public key: {e}")))?;
        if !public.public_eq(key) {
            return Err(CertError {
                kind: CertErrorKind::KeyMismatch,
                ..err("the private key does not match the certificate".into())
            });
        }
    }
    let der = cert_ders.swap_remove(0);
    Ok(LoadedCert {
        id: CertId::of_der(&der),
        source: source.into(),
        chain,
        key,
        meta,
        der,
    })
}
