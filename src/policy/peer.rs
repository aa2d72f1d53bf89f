//! The client certificate of one connection, read once at handshake time.

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::error::ErrorStack;
use openssl::stack::Stack;
use openssl::x509::{X509StoreContext, X509};
use parking_lot::Mutex;
use smallvec::SmallVec;

use crate::certs::CertId;
use crate::snapshot::CaSet;

/// A connection's client certificate: its ID and validity, computed once per connection,
/// and the verdicts of chain verification against each CA set, computed at most once per
/// connection and CA set (and kept across reloads that leave the set unchanged).
pub struct PeerCert {
    /// Leaf certificate ID (SHA-256 of its DER).
    pub id: CertId,
    /// `X-Client-Cert-Sha256` value.
    pub header_value: http::HeaderValue,
    /// Leaf validity start, seconds since the epoch.
    pub not_before: i64,
    /// Leaf validity end, seconds since the epoch.
    pub not_after: i64,
    /// The leaf's key gives at least 112 bits of security (RSA and DSA from 2048 bits, EC
    /// from P-224), the level chains are verified at too.
    pub strong_key: bool,
    leaf: X509,
    intermediates: Stack<X509>,
    verdicts: Mutex<SmallVec<[(u64, ChainVerdict); 2]>>,
}

/// The outcome of verifying a client chain against a CA set (time excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainVerdict {
    /// A path from the leaf to a member of the set exists; the window is the intersection
    /// of the validity of every certificate above the leaf on that path.
    Verified {
        /// Latest `not_before` above the leaf.
        not_before: i64,
        /// Earliest `not_after` above the leaf.
        not_after: i64,
    },
    /// No such path.
    Failed,
}

// === impl PeerCert ===

impl PeerCert {
    /// Builds the identity from the leaf and the intermediates the client sent.
    pub fn new(leaf: X509, intermediates: Vec<X509>) -> Result<PeerCert, ErrorStack> {
        let id = CertId::of_der(&leaf.to_der()?);
        let not_before = unix_of(leaf.not_before())?;
        let not_after = unix_of(leaf.not_after())?;
        let mut stack = Stack::new()?;
        for c in intermediates {
            stack.push(c)?;
        }
        let header_value = http::HeaderValue::from_str(&id.to_hex()).expect("hex is a valid header value");
        let strong_key = leaf.public_key().map(|k| k.security_bits() >= 112).unwrap_or(false);
        Ok(PeerCert {
            id,
            header_value,
            not_before,
            not_after,
            strong_key,
            leaf,
            intermediates: stack,
            verdicts: Mutex::new(SmallVec::new()),
        })
    }

    /// Whether the leaf is inside its validity window at `now`.
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Number of intermediates the client sent with the leaf.
    pub fn intermediates_len(&self) -> usize {
        self.intermediates.len()
    }

    /// Verifies the chain against `set` (once per set per connection).
    pub fn chain_verdict(&self, set: &CaSet) -> ChainVerdict {
        if let Some((_, v)) = self.verdicts.lock().iter().find(|(fp, _)| *fp == set.fingerprint) {
            return *v;
        }
        let verdict = self.verify(set).unwrap_or(ChainVerdict::Failed);
        let mut cache = self.verdicts.lock();
        if cache.len() >= 8 {
            cache.remove(0);
        }
        cache.push((set.fingerprint, verdict));
        verdict
    }

    /// Why the chain does not verify against `set`, in OpenSSL's words (`None` when it
    /// does). For tools: the request path only needs the verdict.
    pub fn explain(&self, set: &CaSet) -> Option<String> {
        let mut ctx = X509StoreContext::new().ok()?;
        ctx.init(&set.store, &self.leaf, &self.intermediates, |c| {
            Ok(match c.verify_cert()? {
                true => None,
                false => Some(format!("{} (at depth {})", c.error(), c.error_depth())),
            })
        })
        .ok()
        .flatten()
    }

    fn verify(&self, set: &CaSet) -> Result<ChainVerdict, ErrorStack> {
        let mut ctx = X509StoreContext::new()?;
        ctx.init(&set.store, &self.leaf, &self.intermediates, |c| {
            if !c.verify_cert()? {
                return Ok(ChainVerdict::Failed);
            }
            let (mut not_before, mut not_after) = (i64::MIN, i64::MAX);
            if let Some(chain) = c.chain() {
                for cert in chain.iter().skip(1) {
                    not_before = not_before.max(unix_of(cert.not_before())?);
                    not_after = not_after.min(unix_of(cert.not_after())?);
                }
            }
            Ok(ChainVerdict::Verified { not_before, not_after })
        })
    }
}

impl std::fmt::Debug for PeerCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerCert")
            .field("id", &self.id)
            .field("intermediates", &self.intermediates.len())
            .finish()
    }
}

/// Seconds since the epoch of an ASN.1 time.
pub fn unix_of(t: &Asn1TimeRef) -> Result<i64, ErrorStack> {
    let epoch = Asn1Time::from_unix(0)?;
    let d = epoch.diff(t)?;
    Ok(d.days as i64 * 86_400 + d.secs as i64)
}
