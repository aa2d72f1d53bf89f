//! Certificate IDs (SPEC §1) and a hasher for maps keyed by SHA-256 digests.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use base64::Engine;

/// A certificate ID: the SHA-256 of the DER of a leaf certificate (or, for a PEM that holds
/// only a public key, of its SPKI DER). Displayed as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CertId(pub [u8; 32]);

/// A `HashMap` keyed by a SHA-256 digest, hashed by its first eight bytes.
pub type DigestMap<K, V> = HashMap<K, V, BuildHasherDefault<DigestHasher>>;
/// A `HashSet` of SHA-256 digests, hashed by their first eight bytes.
pub type DigestSet<K> = HashSet<K, BuildHasherDefault<DigestHasher>>;

/// A pass-through hasher for keys that are already uniformly distributed (SHA-256 outputs).
///
/// Nobody can choose a SHA-256 output, so using its bytes directly is as safe against
/// hash flooding as a keyed hash, and costs nothing.
#[derive(Default, Clone, Copy)]
pub struct DigestHasher(u64);

// === impl CertId ===

impl CertId {
    /// The ID of a DER blob: its SHA-256.
    pub fn of_der(der: &[u8]) -> Self {
        CertId(sha256(der))
    }

    /// Parses an ID written as hex, upper or lower case, with or without `:` separators
    /// (the form `openssl x509 -fingerprint -sha256` prints, with or without its
    /// `sha256 Fingerprint=` prefix). Returns `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let text = match text.split_once('=') {
            Some((prefix, rest)) if prefix.to_ascii_lowercase().contains("fingerprint") => rest,
            _ => text,
        };
        let mut out = [0u8; 32];
        let mut nibbles = 0usize;
        for c in text.chars() {
            if c == ':' {
                continue;
            }
            let v = c.to_digit(16)? as u8;
            if nibbles >= 64 {
                return None;
            }
            out[nibbles / 2] |= if nibbles % 2 == 0 { v << 4 } else { v };
            nibbles += 1;
        }
        (nibbles == 64).then_some(CertId(out))
    }

    /// Lower-case hex, as used in logs, headers and error messages.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// RFC 8705 `x5t#S256` form: base64url without padding.
    pub fn to_x5t_s256(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The first eight bytes, as the map hash.
    fn prefix(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(b)
    }
}

impl Hash for CertId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.prefix());
    }
}

impl fmt::Display for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for CertId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl fmt::Debug for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertId({self})")
    }
}

// === impl DigestHasher ===

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys that do not call `write_u64` themselves; fold them in.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

/// SHA-256 of a SubjectPublicKeyInfo DER (what pins name).
pub fn spki_sha256(spki_der: &[u8]) -> [u8; 32] {
    sha256(spki_der)
}

/// SHA-256 of `data`: the one hash certgate uses (the `sha2` crate: for the short inputs of
/// the request path, tokens and IDs, it is several times faster than a call into OpenSSL).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, &str, bool)] = &[
        ("lower hex", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", true),
        ("upper hex", "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF", true),
        (
            "openssl colon form",
            "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
            true,
        ),
        (
            "openssl with prefix",
            "sha256 Fingerprint=00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
            true,
        ),
        ("too short", "0011", false),
        ("too long", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00", false),
        ("not hex", "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", false),
        ("a path", "pki/client.crt", false),
    ];

    #[test]
    fn parse_normalises_every_form() {
        for (name, input, ok) in CASES {
            let got = CertId::parse(input);
            assert_eq!(got.is_some(), *ok, "case {name}");
            if let Some(id) = got {
                assert_eq!(
                    id.to_hex(),
                    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                    "case {name}"
                );
            }
        }
    }

    #[test]
    fn x5t_is_base64url_without_padding() {
        let id = CertId([0xfb; 32]);
        let s = id.to_x5t_s256();
        assert!(!s.contains('=') && !s.contains('+') && !s.contains('/'));
        assert_eq!(s.len(), 43);
    }
}
