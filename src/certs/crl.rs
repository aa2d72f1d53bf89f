//! Certificate revocation lists (SPEC §10), parsed: PEM or DER bytes into the issuer, the
//! update times and the set of revoked serial numbers. Parsing only: which CA signed a CRL
//! and which certificates it covers is decided when the snapshot is compiled.
//!
//! A CRL certgate would misread is refused here rather than half understood: delta CRLs,
//! indirect CRLs (entries naming another issuer), CRLs partitioned by reason or certificate
//! type, and any critical extension this parser does not know.

use std::collections::HashSet;

use smallvec::SmallVec;
use x509_parser::extensions::ParsedExtension;
use x509_parser::revocation_list::CertificateRevocationList;

/// A serial number as big-endian magnitude bytes without leading zeros (how both the CRL
/// entries and the certificates are keyed, whatever their DER padding).
pub type Serial = SmallVec<[u8; 20]>;

/// One parsed CRL.
pub struct ParsedCrl {
    /// The CRL's DER (for its signature check against the issuer).
    pub der: Vec<u8>,
    /// The issuer Name as encoded in the CRL (DER).
    pub issuer_der: Vec<u8>,
    /// The issuer Name, readable (for logs and errors).
    pub issuer: String,
    /// `thisUpdate`, seconds since the epoch.
    pub this_update: i64,
    /// `nextUpdate`, seconds since the epoch (absent: the CRL never goes stale).
    pub next_update: Option<i64>,
    /// The CRL number, decimal, when present.
    pub number: Option<String>,
    /// Revoked serial numbers.
    pub serials: HashSet<Serial>,
}

impl std::fmt::Debug for ParsedCrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedCrl")
            .field("issuer", &self.issuer)
            .field("this_update", &self.this_update)
            .field("next_update", &self.next_update)
            .field("entries", &self.serials.len())
            .finish()
    }
}

/// `serial` (DER INTEGER content bytes) as a [`Serial`].
pub fn serial_key(serial: &[u8]) -> Serial {
    let start = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    SmallVec::from_slice(&serial[start..])
}

const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
const CERTIFICATE_ISSUER: &str = "2.5.29.29";
/// CRL extensions understood well enough to honour when marked critical.
const KNOWN_CRL_EXTENSIONS: [&str; 4] = [
    "2.5.29.20", // CRL number
    "2.5.29.35", // authority key identifier
    "2.5.29.18", // issuer alternative name
    ISSUING_DISTRIBUTION_POINT,
];
/// Entry extensions likewise.
const KNOWN_ENTRY_EXTENSIONS: [&str; 2] = [
    "2.5.29.21", // reason code
    "2.5.29.24", // invalidity date
];
/// `removeFromCRL`: only meaningful in a delta CRL; such an entry revokes nothing.
const REMOVE_FROM_CRL: u8 = 8;

/// Every CRL in `bytes`: one DER CRL, or one or more PEM `X509 CRL` blocks.
pub fn parse_crls(bytes: &[u8]) -> Result<Vec<ParsedCrl>, String> {
    if bytes.first() == Some(&0x30) {
        return Ok(vec![parse_der(bytes.to_vec())?]);
    }
    let mut out = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
        let pem = pem.map_err(|e| format!("not PEM or DER: {e}"))?;
        if pem.label == "X509 CRL" {
            out.push(parse_der(pem.contents)?);
        }
    }
    if out.is_empty() {
        return Err("no X509 CRL block in the file (PEM) and not a DER CRL".into());
    }
    Ok(out)
}

fn parse_der(der: Vec<u8>) -> Result<ParsedCrl, String> {
    let (rest, crl) = x509_parser::parse_x509_crl(&der).map_err(|e| format!("not a CRL: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the CRL", rest.len()));
    }
    let issuer = crl.issuer().to_string();
    check_crl_extensions(&crl)?;
    let mut serials = HashSet::with_capacity(crl.tbs_cert_list.revoked_certificates.len());
    for entry in crl.iter_revoked_certificates() {
        for ext in entry.extensions() {
            let oid = ext.oid.to_id_string();
            if oid == CERTIFICATE_ISSUER {
                return Err("indirect CRL (an entry names another certificate issuer): not supported".into());
            }
            if ext.critical && !KNOWN_ENTRY_EXTENSIONS.contains(&oid.as_str()) {
                return Err(format!(
                    "entry {} has an unknown critical extension {oid}",
                    entry.raw_serial_as_string()
                ));
            }
        }
        if entry.reason_code().is_some_and(|(_, r)| r.0 == REMOVE_FROM_CRL) {
            continue;
        }
        serials.insert(serial_key(entry.raw_serial()));
    }
    let this_update = crl.last_update().timestamp();
    let next_update = crl.next_update().map(|t| t.timestamp());
    let number = crl.crl_number().map(|n| n.to_string());
    let issuer_der = crl.issuer().as_raw().to_vec();
    drop(crl);
    Ok(ParsedCrl {
        der,
        issuer_der,
        issuer,
        this_update,
        next_update,
        number,
        serials,
    })
}

fn check_crl_extensions(crl: &CertificateRevocationList<'_>) -> Result<(), String> {
    for ext in crl.extensions() {
        let oid = ext.oid.to_id_string();
        if oid == DELTA_CRL_INDICATOR {
            return Err("delta CRL: not supported (load the full CRL instead)".into());
        }
        if let ParsedExtension::IssuingDistributionPoint(idp) = ext.parsed_extension() {
            if idp.indirect_crl {
                return Err("indirect CRL (issuing distribution point says indirectCRL): not supported".into());
            }
            if idp.only_some_reasons.is_some()
                || idp.only_contains_user_certs
                || idp.only_contains_ca_certs
                || idp.only_contains_attribute_certs
            {
                return Err(
                    "partitioned CRL (covers only some reasons or certificate types): not supported; load a full CRL"
                        .into(),
                );
            }
        }
        if ext.critical && !KNOWN_CRL_EXTENSIONS.contains(&oid.as_str()) {
            return Err(format!("unknown critical extension {oid}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_keyed_without_padding() {
        assert_eq!(serial_key(&[0, 0x80, 1]).as_slice(), &[0x80, 1]);
        assert_eq!(serial_key(&[5]).as_slice(), &[5]);
        assert_eq!(serial_key(&[0]).as_slice(), &[] as &[u8]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b""[..],
            b"hello",
            b"\x30\x03\x02\x01",
            b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
        ] {
            assert!(parse_crls(bytes).is_err(), "{bytes:?}");
        }
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use crate::pki::{crl, Spec};

    fn serial_of(c: &openssl::x509::X509) -> Serial {
        serial_key(&c.serial_number().to_bn().unwrap().to_vec())
    }

    #[test]
    fn a_crl_lists_its_revoked_serials_in_pem_and_der() {
        let ca = Spec::ca("crl test CA").issue(None);
        let revoked = Spec::client("revoked").issue(Some(&ca));
        let sibling = Spec::client("sibling").issue(Some(&ca));
        let now = crate::clock::now_unix();
        let c = crl(&ca, &[&revoked.cert], now - 60, now + 3600).unwrap();
        for bytes in [c.to_der().unwrap(), c.to_pem().unwrap()] {
            let parsed = parse_crls(&bytes).unwrap();
            assert_eq!(parsed.len(), 1);
            let p = &parsed[0];
            assert!(p.serials.contains(&serial_of(&revoked.cert)));
            assert!(!p.serials.contains(&serial_of(&sibling.cert)));
            assert_eq!(p.next_update, Some(now + 3600));
            assert_eq!(p.this_update, now - 60);
            assert_eq!(p.issuer_der, ca.cert.subject_name().to_der().unwrap());
        }
    }
}
