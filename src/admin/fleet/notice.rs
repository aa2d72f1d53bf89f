//! Change notices: `<revision>.<hex HMAC-SHA256>` over the namespace and the revision, so a
//! publisher without the fleet secret cannot make instances act on its messages. (A valid
//! notice only says "look at the log"; what instances apply always comes from Redis.)

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;

fn mac(secret: &[u8], name: &str, rev: u64) -> Option<Vec<u8>> {
    let key = PKey::hmac(secret).ok()?;
    let mut s = Signer::new(MessageDigest::sha256(), &key).ok()?;
    s.update(format!("certgate-notice\0{name}\0{rev}").as_bytes()).ok()?;
    s.sign_to_vec().ok()
}

/// The notice announcing revision `rev` of namespace `name`.
pub fn sign_notice(secret: &[u8], name: &str, rev: u64) -> String {
    format!("{rev}.{}", hex::encode(mac(secret, name, rev).unwrap_or_default()))
}

/// The revision a notice announces, when its MAC is right (compared in constant time).
pub fn verify_notice(secret: &[u8], name: &str, payload: &str) -> Option<u64> {
    let (rev, tag) = payload.split_once('.')?;
    let rev: u64 = rev.parse().ok()?;
    let tag = hex::decode(tag).ok()?;
    let want = mac(secret, name, rev)?;
    (tag.len() == want.len() && openssl::memcmp::eq(&tag, &want)).then_some(rev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secret_holder_signs_for_its_namespace() {
        let secret = b"a fleet secret of 32 bytes......";
        let n = sign_notice(secret, "prod", 42);
        assert_eq!(verify_notice(secret, "prod", &n), Some(42));
        assert_eq!(verify_notice(secret, "staging", &n), None, "another namespace");
        assert_eq!(verify_notice(b"another secret of 32 bytes......", "prod", &n), None);
        let forged = n.replacen("42.", "43.", 1);
        assert_eq!(verify_notice(secret, "prod", &forged), None, "another revision");
        for junk in ["", "42", "42.", "x.00", "42.zz"] {
            assert_eq!(verify_notice(secret, "prod", junk), None, "{junk:?}");
        }
    }
}
