//! Private keys at rest: AES-256-GCM under a key derived (PBKDF2-HMAC-SHA256) from the
//! configured secret and a per-installation random salt.

use openssl::hash::MessageDigest;
use openssl::pkcs5::pbkdf2_hmac;
use openssl::rand::rand_bytes;
use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

pub use super::error::VaultError;

const VERSION: u8 = 1;
const ITERATIONS: usize = 200_000;

/// Encrypts and decrypts stored private keys. Never logs or prints key material.
pub struct KeyVault {
    key: [u8; 32],
}

// === impl KeyVault ===

impl KeyVault {
    /// Derives the vault key from `secret` and `salt`.
    pub fn derive(secret: &[u8], salt: &[u8]) -> Result<KeyVault, VaultError> {
        if secret.len() < 16 {
            return Err(VaultError::WeakSecret);
        }
        let mut key = [0u8; 32];
        pbkdf2_hmac(secret, salt, ITERATIONS, MessageDigest::sha256(), &mut key)?;
        Ok(KeyVault { key })
    }

    /// `version || nonce || ciphertext || tag`.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; 12];
        rand_bytes(&mut nonce)?;
        let mut tag = [0u8; 16];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(&nonce),
            &[VERSION],
            plaintext,
            &mut tag,
        )?;
        let mut out = Vec::with_capacity(1 + 12 + ct.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Reverses [`Self::seal`]; fails on a wrong secret or a tampered blob.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        if sealed.len() < 1 + 12 + 16 || sealed[0] != VERSION {
            return Err(VaultError::NotSealed);
        }
        let (nonce, rest) = sealed[1..].split_at(12);
        let (ct, tag) = rest.split_at(rest.len() - 16);
        decrypt_aead(Cipher::aes_256_gcm(), &self.key, Some(nonce), &[VERSION], ct, tag)
            .map_err(|_| VaultError::Decrypt)
    }
}

/// A fresh random salt.
pub fn new_salt() -> Vec<u8> {
    let mut s = vec![0u8; 16];
    let _ = rand_bytes(&mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let v = KeyVault::derive(b"a secret of sixteen+", b"salt").unwrap();
        let sealed = v.seal(b"-----BEGIN PRIVATE KEY-----").unwrap();
        assert!(!sealed.windows(11).any(|w| w == b"PRIVATE KEY"), "stored in the clear");
        assert_eq!(v.open(&sealed).unwrap(), b"-----BEGIN PRIVATE KEY-----");
        let wrong = KeyVault::derive(b"another secret of 16", b"salt").unwrap();
        assert!(wrong.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(v.open(&tampered).is_err());
        assert!(KeyVault::derive(b"short", b"salt").is_err());
    }
}
