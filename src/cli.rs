//! Small command-line tools.

use std::path::Path;
use std::sync::Arc;

use openssl::x509::X509;

use crate::certs::crl::parse_crls;
use crate::certs::{read_pem_file, CertId, DigestSet};
use crate::config::{OcspMode, StaleCrl};
use crate::policy::downstream::{client_cert, revocation};
use crate::policy::PeerCert;
use crate::snapshot::revocation::{Crl, RevocationSet};
use crate::snapshot::{CaSet, ClientAllowList};

/// Every certificate in the PEM file `p` (at least one), or an error naming the file.
pub fn read_certificates(p: &Path) -> anyhow::Result<Vec<X509>> {
    let bytes = std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", p.display()))?;
    let certs =
        X509::stack_from_pem(&bytes).map_err(|e| anyhow::anyhow!("{}: not PEM certificates: {e}", p.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{}: no CERTIFICATE block found", p.display());
    }
    Ok(certs)
}

/// `certgate cert id FILE`: the ID and metadata of a PEM.
pub fn print_cert_id(file: &Path) -> anyhow::Result<()> {
    let c = read_pem_file(file)?;
    let m = &c.meta;
    let t = |s: i64| crate::rfc3339::format(s).unwrap_or_else(|| "-".into());
    println!("id: {}", c.id);
    if c.is_public_key_only() {
        println!("kind: public key");
        println!("key_type: {}", m.key_type);
        println!("spki_sha256: {}", m.spki_sha256);
        return Ok(());
    }
    println!("subject: {}", m.subject);
    println!("issuer: {}", m.issuer);
    println!("dns_names: {}", m.dns_names.join(", "));
    println!("serial: {}", m.serial);
    println!("not_before: {}", t(m.not_before));
    println!("not_after: {}", t(m.not_after));
    println!("is_ca: {}", m.is_ca);
    println!("key_type: {}", m.key_type);
    println!("spki_sha256: {}", m.spki_sha256);
    println!("has_private_key: {}", c.key.is_some());
    println!("chain_length: {}", c.chain.len());
    Ok(())
}

/// What `certgate cert verify` decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The leaf would be allowed.
    Allowed,
    /// The leaf would be refused with this reason code.
    Refused(&'static str),
}

/// `certgate cert verify`: the SPEC §3 step 2 decision for one chain, with the data plane's
/// own functions ([`PeerCert::new`], [`client_cert::check`]): every certificate in `ca` is an
/// allow-list entry (CAs admit the chains that verify to them), `chain` and any certificate
/// after the leaf in `leaf` are the intermediates the client sent, and `at` is the time
/// (seconds since the epoch). Prints the decision and why.
pub fn verify_cert(
    ca: &Path,
    chain: Option<&Path>,
    crl: Option<&Path>,
    leaf: &Path,
    at: i64,
) -> anyhow::Result<Verdict> {
    let mut leaf_file = read_certificates(leaf)?.into_iter();
    let leaf_cert = leaf_file.next().expect("checked non-empty");
    let mut intermediates: Vec<X509> = leaf_file.collect();
    if let Some(c) = chain {
        intermediates.extend(read_certificates(c)?);
    }
    let ca_certs = read_certificates(ca)?;
    let revocation = match crl {
        None => RevocationSet::default(),
        Some(p) => crl_set(p, ca_certs.iter().chain(&intermediates))?,
    };
    let allow = allow_list_of(ca_certs)?;
    let peer = PeerCert::new(leaf_cert, intermediates)?;
    println!("leaf: {}", peer.id);
    println!("at: {}", crate::rfc3339::format(at).unwrap_or_else(|| at.to_string()));
    let decided = client_cert::check(&DigestSet::default(), &allow, Some(&peer), at)
        .and_then(|allowed| revocation::check(&revocation, &peer, allowed, at));
    match decided {
        Ok(_) => {
            println!("decision: allowed");
            Ok(Verdict::Allowed)
        }
        Err(deny) => {
            let a = deny.answer();
            println!("decision: refused");
            println!("reason: {}", a.reason);
            println!("message: {}", a.message);
            if let Some(set) = allow.cas.as_deref() {
                if let Some(why) = peer.explain(set) {
                    println!("detail: {why}");
                }
            }
            Ok(Verdict::Refused(a.reason))
        }
    }
}

/// The CRLs in `path`, each verified against the CA among `known` that issued it.
fn crl_set<'a>(path: &Path, known: impl Iterator<Item = &'a X509>) -> anyhow::Result<RevocationSet> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{name}: cannot read: {e}"))?;
    let issuers: Vec<(CertId, X509)> = known
        .filter_map(|c| Some((CertId::of_der(&c.to_der().ok()?), c.clone())))
        .collect();
    let mut crls = Vec::new();
    for parsed in parse_crls(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))? {
        let issuer = parsed.issuer.clone();
        let c = Crl::verified(Arc::new(parsed), &name, &issuers)
            .map_err(|e| anyhow::anyhow!("{name}: CRL of {issuer}: {e}"))?;
        println!(
            "crl: {issuer} ({} entries, next update {})",
            c.parsed.serials.len(),
            c.parsed
                .next_update
                .and_then(crate::rfc3339::format)
                .unwrap_or_else(|| "none".into())
        );
        crls.push(Arc::new(c));
    }
    Ok(RevocationSet::new(crls, StaleCrl::Refuse, OcspMode::Off))
}

/// An allow list holding `certs` the way the config compiles one: every certificate's ID as
/// a leaf entry, and the CAs among them as a verification set.
pub fn allow_list_of(certs: Vec<X509>) -> anyhow::Result<ClientAllowList> {
    let mut leaves = DigestSet::default();
    let mut cas = Vec::new();
    for c in certs {
        let der = c.to_der()?;
        let id = CertId::of_der(&der);
        leaves.insert(id);
        if crate::certs::CertMeta::from_der(&der).map(|m| m.is_ca).unwrap_or(false) {
            cas.push((id, c));
        }
    }
    let cas = if cas.is_empty() {
        None
    } else {
        Some(Arc::new(CaSet::new(cas)?))
    };
    Ok(ClientAllowList { leaves, cas })
}
