//! Compiled token records: keyed by the SHA-256 of the token, never the token itself.

use std::hash::{Hash, Hasher};

use smallvec::SmallVec;

use super::routes::ApiIndex;
use crate::certs::{CertId, DigestMap};

/// SHA-256 of an auth token. Equality is constant-time.
#[derive(Clone, Copy)]
pub struct TokenHash(pub [u8; 32]);

/// What one token (static or issued) allows.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    /// APIs this token may call, sorted.
    pub apis: Box<[ApiIndex]>,
    /// Certificate-token binding: which leaves this token may be used with.
    pub binding: Binding,
    /// Makes the record the credential of this certificate (`auth.type: certificate`).
    pub certificate: Option<CertId>,
    /// Expiry, seconds since the epoch.
    pub expires_at: Option<i64>,
}

/// Which leaves a token may be used with on an mTLS API (SPEC §3 step 4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Binding {
    /// Any leaf the allow list lets in.
    #[default]
    Unbound,
    /// One of these leaf IDs (`bound_certificates`, keys' bindings).
    Leaves(Box<[CertId]>),
    /// One of these leaf IDs while the control plane holds it visible (a bound self-serve
    /// grant: a certificate deleted later no longer carries the token).
    LiveLeaves(Box<[CertId]>),
    /// Any visible control-plane certificate of this organisation, including ones added
    /// after the token was issued (a bound managed grant).
    Organisation(std::sync::Arc<str>),
}

/// Every token record, by token hash, and the certificate credentials, by leaf ID.
#[derive(Debug, Default)]
pub struct TokenTable {
    by_hash: DigestMap<TokenHash, TokenRecord>,
    by_cert: DigestMap<CertId, SmallVec<[TokenHash; 1]>>,
}

// === impl TokenHash ===

impl TokenHash {
    /// Hashes a presented token.
    pub fn of(token: &[u8]) -> TokenHash {
        TokenHash(crate::certs::sha256(token))
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        openssl::memcmp::eq(&self.0, &other.0)
    }
}

impl Eq for TokenHash {}

impl Hash for TokenHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(b));
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A hash prefix is enough to tell records apart and reveals nothing usable.
        write!(f, "TokenHash({}…)", hex::encode(&self.0[..4]))
    }
}

// === impl TokenRecord ===

impl TokenRecord {
    /// Whether this record grants `api`.
    pub fn grants(&self, api: ApiIndex) -> bool {
        self.apis.binary_search(&api).is_ok()
    }

    /// Whether the record has not expired at `now`.
    pub fn live_at(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }
}

// === impl TokenTable ===

impl TokenTable {
    /// An empty table with room for `n` records.
    pub fn with_capacity(n: usize) -> TokenTable {
        TokenTable {
            by_hash: DigestMap::with_capacity_and_hasher(n, Default::default()),
            by_cert: DigestMap::default(),
        }
    }

    /// Adds a record; returns false (and changes nothing) when the hash is already present.
    pub fn insert(&mut self, hash: TokenHash, mut record: TokenRecord) -> bool {
        if self.by_hash.contains_key(&hash) {
            return false;
        }
        let mut apis = record.apis.to_vec();
        apis.sort_unstable();
        apis.dedup();
        record.apis = apis.into();
        if let Some(cert) = record.certificate {
            self.by_cert.entry(cert).or_default().push(hash);
        }
        self.by_hash.insert(hash, record);
        true
    }

    /// The record for a presented token. The map is keyed by a SHA-256 and digests are
    /// compared in constant time, so timing reveals nothing about stored tokens.
    pub fn get(&self, token: &[u8]) -> Option<&TokenRecord> {
        self.get_hash(&TokenHash::of(token))
    }

    /// The record for a token hash.
    pub fn get_hash(&self, hash: &TokenHash) -> Option<&TokenRecord> {
        self.by_hash.get(hash)
    }

    /// Whether a record has this hash.
    pub fn contains(&self, hash: &TokenHash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The records whose `certificate` is this leaf.
    pub fn for_certificate(&self, id: &CertId) -> impl Iterator<Item = &TokenRecord> {
        self.by_cert
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|h| self.by_hash.get(h))
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}
