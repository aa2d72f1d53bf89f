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
    revocation: Mutex<SmallVec<[(u64, u64, RevocationVerdict); 2]>>,
    issuer: Mutex<Option<X509>>,
    rfc9440: std::sync::OnceLock<Rfc9440>,
}

/// A certificate and its chain as RFC 9440 header values (`Client-Cert`,
/// `Client-Cert-Chain`), built once per connection when an API forwards them.
#[derive(Debug)]
pub struct Rfc9440 {
    /// `:<base64 DER of the leaf>:`.
    pub cert: http::HeaderValue,
    /// The intermediates the client sent, `:<base64>:` each, comma-separated; `None` when
    /// it sent none.
    pub chain: Option<http::HeaderValue>,
}

/// What the loaded CRLs say of a connection's certificate and the path it was allowed by
/// (time excluded: staleness is judged per request against `fresh_until`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationVerdict {
    /// A certificate on the path is listed on its issuer's CRL.
    Revoked,
    /// None is listed; the earliest nextUpdate of the CRLs consulted (`i64::MAX` when
    /// none covered the path).
    NotRevoked {
        /// Earliest nextUpdate consulted.
        fresh_until: i64,
    },
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
            revocation: Mutex::new(SmallVec::new()),
            issuer: Mutex::new(None),
            rfc9440: std::sync::OnceLock::new(),
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

    /// The revocation verdict for the path `path_key` names (0: the leaf alone, else a CA
    /// set's fingerprint) under the CRLs of `generation`: computed by `compute` at most once
    /// per connection, path and CRL generation, so a new CRL applies from the next request.
    pub fn revocation_verdict(
        &self,
        path_key: u64,
        generation: u64,
        compute: impl FnOnce() -> RevocationVerdict,
    ) -> RevocationVerdict {
        if let Some((_, _, v)) = self
            .revocation
            .lock()
            .iter()
            .find(|(p, g, _)| *p == path_key && *g == generation)
        {
            return *v;
        }
        let verdict = compute();
        let mut cache = self.revocation.lock();
        if cache.len() >= 4 {
            cache.remove(0);
        }
        cache.push((path_key, generation, verdict));
        verdict
    }

    /// The certificate that issued the leaf: a CA certificate among `known` whose name and
    /// key match the leaf's signature, else the issuer on the path verified against `cas`
    /// (the API's CA set). An intermediate the client merely sent never counts: whoever
    /// holds a listed leaf could otherwise make one up, and with it the responder certgate
    /// calls. Once found it is kept for the connection (a leaf has one issuer).
    pub fn issuer(&self, known: &[(CertId, X509)], cas: Option<&CaSet>) -> Option<X509> {
        if let Some(i) = self.issuer.lock().as_ref() {
            return Some(i.clone());
        }
        let want = self.leaf.issuer_name().to_der().ok()?;
        let signed = |c: &X509| {
            c.subject_name().to_der().ok().as_deref() == Some(&want[..])
                && c.public_key().and_then(|k| self.leaf.verify(&k)).unwrap_or(false)
        };
        let found = match known.iter().map(|(_, c)| c).find(|c| signed(c)) {
            Some(c) => c.clone(),
            None => {
                let cas = cas.filter(|cas| matches!(self.chain_verdict(cas), ChainVerdict::Verified { .. }))?;
                self.verified_path(cas)?.get(1)?.clone()
            }
        };
        *self.issuer.lock() = Some(found.clone());
        Some(found)
    }

    /// The leaf and its chain as RFC 9440 header values (computed on first use).
    pub fn rfc9440(&self) -> &Rfc9440 {
        self.rfc9440.get_or_init(|| {
            use base64::Engine;
            let item = |c: &openssl::x509::X509Ref| {
                let der = c.to_der().unwrap_or_default();
                format!(":{}:", base64::engine::general_purpose::STANDARD.encode(der))
            };
            let value = |s: String| http::HeaderValue::from_str(&s).expect("base64 is a valid header value");
            let chain: Vec<String> = self.intermediates.iter().map(item).collect();
            Rfc9440 {
                cert: value(item(&self.leaf)),
                chain: (!chain.is_empty()).then(|| value(chain.join(", "))),
            }
        })
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &X509 {
        &self.leaf
    }

    /// The path from the leaf to a member of `set` that verification builds (leaf first),
    /// or `None` when there is none.
    pub fn verified_path(&self, set: &CaSet) -> Option<Vec<X509>> {
        let mut ctx = X509StoreContext::new().ok()?;
        ctx.init(&set.store, &self.leaf, &self.intermediates, |c| {
            if !c.verify_cert()? {
                return Ok(None);
            }
            Ok(c.chain().map(|chain| chain.iter().map(|x| x.to_owned()).collect()))
        })
        .ok()
        .flatten()
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
