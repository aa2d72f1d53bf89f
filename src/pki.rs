//! A throwaway PKI for the demo and the tests: CAs, intermediates and leaves with chosen
//! validity windows, extended key usages and names. Nothing here is for production keys.

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{CrlNumber, X509Crl, X509CrlBuilder, X509NameBuilder, X509RevokedBuilder, X509};

use crate::certs::CertId;

/// Which extended key usages a certificate carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eku {
    /// No EKU extension at all.
    None,
    /// clientAuth.
    Client,
    /// serverAuth.
    Server,
    /// clientAuth and serverAuth.
    Both,
    /// OCSPSigning (a delegated OCSP responder).
    OcspSigning,
}

/// Key algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// ECDSA P-256 (the default).
    EcP256,
    /// RSA 2048.
    Rsa2048,
    /// Ed25519.
    Ed25519,
    /// RSA 1024: too weak for certgate, for the tests that prove it is refused.
    Rsa1024,
}

/// What to issue.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Common name.
    pub cn: String,
    /// DNS names and IP addresses for the SAN extension.
    pub sans: Vec<String>,
    /// A CA (basicConstraints CA:TRUE, keyCertSign).
    pub is_ca: bool,
    /// Extended key usage.
    pub eku: Eku,
    /// Validity start, seconds relative to now.
    pub not_before: i64,
    /// Validity end, seconds relative to now.
    pub not_after: i64,
    /// Key algorithm.
    pub key: KeyKind,
    /// The keyUsage permits digital signatures (true for every preset).
    pub sign_usage: bool,
    /// An OCSP responder URL for the Authority Information Access extension.
    pub ocsp_url: Option<String>,
}

/// A certificate with its key and the chain above it (issuer first, root excluded).
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert: X509,
    /// Its private key.
    pub key: PKey<Private>,
    /// Intermediates between it and the root, nearest first.
    pub chain: Vec<X509>,
}

// === impl Spec ===

impl Spec {
    /// A CA valid from an hour ago for ten years.
    pub fn ca(cn: &str) -> Spec {
        Spec {
            cn: cn.into(),
            sans: vec![],
            is_ca: true,
            eku: Eku::None,
            not_before: -3600,
            not_after: 10 * 365 * 86400,
            key: KeyKind::EcP256,
            sign_usage: true,
            ocsp_url: None,
        }
    }

    /// A client leaf (clientAuth) valid from an hour ago for a year.
    pub fn client(cn: &str) -> Spec {
        Spec {
            cn: cn.into(),
            sans: vec![],
            is_ca: false,
            eku: Eku::Client,
            not_before: -3600,
            not_after: 365 * 86400,
            key: KeyKind::EcP256,
            sign_usage: true,
            ocsp_url: None,
        }
    }

    /// A server leaf (serverAuth) for these names, valid from an hour ago for a year.
    pub fn server(cn: &str, sans: &[&str]) -> Spec {
        Spec {
            cn: cn.into(),
            sans: sans.iter().map(|s| s.to_string()).collect(),
            is_ca: false,
            eku: Eku::Server,
            not_before: -3600,
            not_after: 365 * 86400,
            key: KeyKind::EcP256,
            sign_usage: true,
            ocsp_url: None,
        }
    }

    /// Sets the validity window (seconds relative to now).
    pub fn valid(mut self, not_before: i64, not_after: i64) -> Spec {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// Sets the EKU.
    pub fn eku(mut self, eku: Eku) -> Spec {
        self.eku = eku;
        self
    }

    /// A keyUsage without digitalSignature (keyEncipherment for a leaf, certificate and
    /// CRL signing for a CA).
    pub fn without_signature_usage(mut self) -> Spec {
        self.sign_usage = false;
        self
    }

    /// Names an OCSP responder in the Authority Information Access extension.
    pub fn ocsp(mut self, url: &str) -> Spec {
        self.ocsp_url = Some(url.to_string());
        self
    }

    /// Sets the key algorithm.
    pub fn key(mut self, key: KeyKind) -> Spec {
        self.key = key;
        self
    }

    /// Issues it, signed by `issuer` (self-signed when `None`).
    pub fn issue(&self, issuer: Option<&Issued>) -> Issued {
        issue(self, issuer).expect("openssl can build test certificates")
    }
}

// === impl Issued ===

impl Issued {
    /// The certificate ID.
    pub fn id(&self) -> CertId {
        CertId::of_der(&self.cert.to_der().expect("DER"))
    }

    /// The certificate as PEM.
    pub fn cert_pem(&self) -> Vec<u8> {
        self.cert.to_pem().expect("PEM")
    }

    /// The certificate followed by its intermediates, as PEM.
    pub fn chain_pem(&self) -> Vec<u8> {
        let mut out = self.cert_pem();
        for c in &self.chain {
            out.extend(c.to_pem().expect("PEM"));
        }
        out
    }

    /// The private key as PKCS#8 PEM.
    pub fn key_pem(&self) -> Vec<u8> {
        self.key.private_key_to_pem_pkcs8().expect("PEM")
    }

    /// Writes `<name>.crt` (with chain) and `<name>.key` into `dir`; returns both paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let crt = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&crt, self.chain_pem()).expect("write cert");
        std::fs::write(&key, self.key_pem()).expect("write key");
        (crt, key)
    }

    /// Writes `<name>.pem` holding the certificate (with chain) and its key; returns the path.
    pub fn write_combined(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(format!("{name}.pem"));
        let mut body = self.chain_pem();
        body.extend(self.key_pem());
        std::fs::write(&p, body).expect("write pem");
        p
    }
}

fn new_key(kind: KeyKind) -> Result<PKey<Private>, openssl::error::ErrorStack> {
    match kind {
        KeyKind::EcP256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            PKey::from_ec_key(EcKey::generate(&group)?)
        }
        KeyKind::Rsa2048 => PKey::from_rsa(Rsa::generate(2048)?),
        KeyKind::Rsa1024 => PKey::from_rsa(Rsa::generate(1024)?),
        KeyKind::Ed25519 => PKey::generate_ed25519(),
    }
}

fn issue(spec: &Spec, issuer: Option<&Issued>) -> Result<Issued, openssl::error::ErrorStack> {
    let key = new_key(spec.key)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, &spec.cn)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(120, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(issuer.map(|i| i.cert.subject_name()).unwrap_or(&name))?;
    b.set_pubkey(&key)?;
    let now = crate::clock::now_unix();
    let (not_before, not_after) = (
        Asn1Time::from_unix(now + spec.not_before)?,
        Asn1Time::from_unix(now + spec.not_after)?,
    );
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    let mut bc = BasicConstraints::new();
    bc.critical();
    if spec.is_ca {
        bc.ca();
    }
    b.append_extension(bc.build()?)?;
    let mut ku = KeyUsage::new();
    ku.critical();
    if spec.is_ca {
        ku.key_cert_sign().crl_sign();
        if spec.sign_usage {
            ku.digital_signature();
        }
    } else {
        if spec.sign_usage {
            ku.digital_signature();
        }
        if matches!(spec.key, KeyKind::Rsa2048 | KeyKind::Rsa1024) || !spec.sign_usage {
            ku.key_encipherment();
        }
    }
    b.append_extension(ku.build()?)?;
    match spec.eku {
        Eku::None => {}
        Eku::Client => b.append_extension(ExtendedKeyUsage::new().client_auth().build()?)?,
        Eku::Server => b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?,
        Eku::Both => b.append_extension(ExtendedKeyUsage::new().client_auth().server_auth().build()?)?,
        Eku::OcspSigning => b.append_extension(ExtendedKeyUsage::new().other("OCSPSigning").build()?)?,
    }
    if let Some(url) = &spec.ocsp_url {
        #[allow(deprecated)] // the openssl crate has no builder for authorityInfoAccess
        let aia = openssl::x509::X509Extension::new_nid(
            None,
            Some(&b.x509v3_context(issuer.map(|i| &*i.cert), None)),
            Nid::INFO_ACCESS,
            &format!("OCSP;URI:{url}"),
        )?;
        b.append_extension(aia)?;
    }
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(issuer.map(|i| &*i.cert), None))?;
    b.append_extension(ski)?;
    if issuer.is_some() {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(issuer.map(|i| &*i.cert), None))?;
        b.append_extension(aki)?;
    }
    if !spec.sans.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for s in &spec.sans {
            if s.parse::<std::net::IpAddr>().is_ok() {
                san.ip(s);
            } else {
                san.dns(s);
            }
        }
        let ext = san.build(&b.x509v3_context(issuer.map(|i| &*i.cert), None))?;
        b.append_extension(ext)?;
    }
    let signer = issuer.map(|i| &i.key).unwrap_or(&key);
    let md = if signer.id() == openssl::pkey::Id::ED25519 {
        MessageDigest::null()
    } else {
        MessageDigest::sha256()
    };
    b.sign(signer, md)?;
    let mut chain = Vec::new();
    if let Some(i) = issuer {
        // The issuer goes in the chain unless it is self-signed (a root).
        if i.cert.issuer_name().to_der()? != i.cert.subject_name().to_der()? {
            chain.push(i.cert.clone());
            chain.extend(i.chain.iter().cloned());
        }
    }
    Ok(Issued {
        cert: b.build(),
        key,
        chain,
    })
}

/// `n` distinct client leaves signed by `issuer`, sharing one key (fast: for benchmarks and
/// load tests that need many allow-list entries, never for anything real).
pub fn bulk_leaves(issuer: &Issued, n: usize) -> Vec<X509> {
    let key = new_key(KeyKind::EcP256).expect("key");
    let now = crate::clock::now_unix();
    (0..n)
        .map(|i| {
            let mut b = X509::builder().expect("builder");
            b.set_version(2).expect("v3");
            let serial = BigNum::from_u32(i as u32 + 1)
                .and_then(|s| s.to_asn1_integer())
                .expect("serial");
            b.set_serial_number(&serial).expect("serial");
            let mut name = X509NameBuilder::new().expect("name");
            name.append_entry_by_nid(Nid::COMMONNAME, &format!("bulk-{i}"))
                .expect("cn");
            let name = name.build();
            b.set_subject_name(&name).expect("subject");
            b.set_issuer_name(issuer.cert.subject_name()).expect("issuer");
            b.set_pubkey(&key).expect("pubkey");
            let (nb, na) = (
                Asn1Time::from_unix(now - 3600).expect("t"),
                Asn1Time::from_unix(now + 86400 * 365).expect("t"),
            );
            b.set_not_before(&nb).expect("nb");
            b.set_not_after(&na).expect("na");
            b.sign(&issuer.key, MessageDigest::sha256()).expect("sign");
            b.build()
        })
        .collect()
}

/// A CRL signed by `issuer`, revoking `revoked`, valid from `this_update` to `next_update`
/// (seconds since the epoch). For tests and the demo.
pub fn crl(issuer: &Issued, revoked: &[&X509], this_update: i64, next_update: i64) -> Result<X509Crl, ErrorStack> {
    let mut serials = Vec::with_capacity(revoked.len());
    for c in revoked {
        serials.push(c.serial_number().to_bn()?);
    }
    crl_of_serials(issuer, &serials, this_update, next_update)
}

/// A CRL signed by `issuer` listing `serials` (benchmarks build large ones this way).
pub fn crl_of_serials(
    issuer: &Issued,
    serials: &[BigNum],
    this_update: i64,
    next_update: i64,
) -> Result<X509Crl, ErrorStack> {
    let mut b = X509CrlBuilder::new()?;
    b.set_issuer_name(issuer.cert.subject_name())?;
    b.set_last_update(&*Asn1Time::from_unix(this_update)?)?;
    b.set_next_update(&*Asn1Time::from_unix(next_update)?)?;
    // The builder needs an AKI, taken from the issuer through a certificate context.
    let ctx_builder = X509::builder()?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&ctx_builder.x509v3_context(Some(&issuer.cert), None))?;
    b.append_extension(aki)?;
    b.append_extension(CrlNumber::new(BigNum::from_u32(1)?)?.build()?)?;
    let when = Asn1Time::from_unix(this_update)?;
    for s in serials {
        let mut r = X509RevokedBuilder::new()?;
        r.set_serial_number(&*s.to_asn1_integer()?)?;
        r.set_revocation_date(&when)?;
        b.add_revoked(r.build())?;
    }
    b.sign(&issuer.key, MessageDigest::sha256())?;
    b.build()
}

/// An `openssl ca`/`openssl ocsp` index file: `good` valid, `revoked` revoked (each subject
/// made unique by its serial, as the index requires), every other serial unknown.
pub fn ocsp_index(good: &[&X509], revoked: &[&X509]) -> String {
    let row = |c: &X509, state: &str, revoked_at: &str| {
        let serial = c
            .serial_number()
            .to_bn()
            .and_then(|b| b.to_hex_str().map(|h| h.to_string()))
            .unwrap_or_default();
        format!("{state}\t300101000000Z\t{revoked_at}\t{serial}\tunknown\t/CN={serial}\n")
    };
    let mut index = String::new();
    good.iter().for_each(|c| index.push_str(&row(c, "V", "")));
    revoked
        .iter()
        .for_each(|c| index.push_str(&row(c, "R", "240101000000Z")));
    index
}

/// `c` as an RFC 9440 byte sequence (`:<base64 DER>:`), the way a load balancer forwards
/// it: for tests that play one.
pub fn rfc9440(c: &X509) -> String {
    use base64::Engine;
    format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(c.to_der().expect("DER"))
    )
}

/// `certs` as one URL-encoded PEM (what AWS ALB forwards; XFCC's `Cert` and `Chain`), with
/// `+`, `/` and `=` left as they are: for tests that play a load balancer.
pub fn pem_urlencoded(certs: &[&X509]) -> String {
    let mut out = String::new();
    for b in certs.iter().flat_map(|c| c.to_pem().expect("PEM")) {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' | b'-' | b'.' | b'_' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
