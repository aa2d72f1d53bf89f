//! Small command-line tools.

use std::path::Path;

use crate::certs::read_pem_file;

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
