//! What the control plane adds to a snapshot, in two parts:
//!
//! - what goes through the same [`super::compile_with`] as the YAML: its certificates join
//!   the store (so the YAML may name them by ID) and the CA certificates its grants allow
//!   join the APIs' CA sets, and its CRLs join the configured ones ([`Overlay::certificates`],
//!   [`Overlay::ca_allow`], [`Overlay::crls`]);
//! - everything else ([`Entries`]: visible certificates and their organisations, allow-list
//!   entries, issued tokens), which lives in the snapshot's [`super::ControlLayer`] and is
//!   patched change by change ([`EntriesDelta`]) without recompiling the YAML.
//!
//! Problems in either are warnings, never errors: what the control plane holds can never
//! make a YAML reload fail.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Binding, CertGauge, TokenHash};
use crate::certs::crl::ParsedCrl;
use crate::certs::{CertId, DigestSet, LoadedCert};

/// Everything the control plane adds to the YAML's configuration.
#[derive(Clone, Default)]
pub struct Overlay {
    /// Certificates added through the admin API (with their decrypted keys).
    pub certificates: Vec<Arc<LoadedCert>>,
    /// CA certificates that active grants allow, by API name (sorted, no duplicates): they
    /// become chain-verification anchors, which only a compile builds.
    pub ca_allow: BTreeMap<String, Vec<CertId>>,
    /// What the control layer holds.
    pub entries: Entries,
    /// CRLs uploaded through the admin API: they join the configured CRLs at a compile.
    pub crls: Vec<OverlayCrl>,
}

/// A CRL the control plane holds, parsed (its signature is checked at each compile, against
/// the CA certificates that compile knows).
#[derive(Clone, Debug)]
pub struct OverlayCrl {
    /// Where it came from, for lists and logs (`admin API upload <id>`).
    pub source: String,
    /// The CRL.
    pub parsed: Arc<ParsedCrl>,
}

/// The control layer's content, as records produce it (API names, not indexes).
#[derive(Clone, Debug, Default)]
pub struct Entries {
    /// Visible control-plane certificates.
    pub members: Vec<MemberEntry>,
    /// Allow-list additions of active grants.
    pub allow: Vec<AllowEntry>,
    /// Issued tokens (grants' and keys').
    pub tokens: Vec<OverlayToken>,
}

/// A certificate the control plane holds visible (uploaded, or in the store directory).
#[derive(Clone, Debug)]
pub struct MemberEntry {
    /// Its ID.
    pub id: CertId,
    /// The organisations it belongs to.
    pub organisations: Arc<[Arc<str>]>,
    /// Its expiry gauge (role `client_allow`); none for a bare public key.
    pub gauge: Option<CertGauge>,
    /// A CA certificate: a grant covering it makes it a chain anchor, which needs a compile.
    pub is_ca: bool,
}

/// One allow-list addition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowEntry {
    /// API name.
    pub api: String,
    /// Who it lets in.
    pub to: AllowTarget,
}

/// Who an allow-list addition lets in; either way only visible control-plane certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowTarget {
    /// One certificate (a self-serve grant).
    Certificate(CertId),
    /// Every certificate of an organisation, including later ones (a managed grant).
    Organisation(Arc<str>),
}

/// A token issued by the control plane.
#[derive(Clone, Debug)]
pub struct OverlayToken {
    /// The record that issued it (`grant/<id>`, `key/<id>`).
    pub owner: Arc<str>,
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// API names it may call.
    pub apis: Vec<String>,
    /// Certificate-token binding.
    pub binding: Binding,
    /// Expiry, seconds since the epoch.
    pub expires_at: Option<i64>,
}

/// One control-plane change, as the control layer sees it: the entries of every record the
/// change touched, before and after it.
#[derive(Clone, Debug, Default)]
pub struct EntriesDelta {
    /// The touched records' entries before the change.
    pub removed: Entries,
    /// Their entries after it.
    pub added: Entries,
    /// The change touched what only a compile applies (the uploaded CRLs).
    pub recompile: bool,
}

/// Where a publisher gets the control plane's overlay when it must compile (at start, on a
/// YAML reload, and when a change needs the compile). Implemented by the control plane's
/// state, which is cheap to keep a copy of.
pub trait OverlaySource: Send + Sync {
    /// The whole overlay.
    fn overlay(&self) -> Overlay;
}

// === impl Overlay ===

impl Overlay {
    /// Whether the overlay adds nothing.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty() && self.ca_allow.is_empty() && self.entries.is_empty() && self.crls.is_empty()
    }
}

impl OverlaySource for Overlay {
    fn overlay(&self) -> Overlay {
        self.clone()
    }
}

// === impl Entries ===

impl Entries {
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.allow.is_empty() && self.tokens.is_empty()
    }
}

// === impl EntriesDelta ===

impl EntriesDelta {
    /// Certificates the change removes (visible before, not after).
    pub fn removed_members(&self) -> Vec<CertId> {
        let added: DigestSet<CertId> = self.added.members.iter().map(|m| m.id).collect();
        self.removed
            .members
            .iter()
            .map(|m| m.id)
            .filter(|id| !added.contains(id))
            .collect()
    }

    /// Whether the change changes nothing the layer holds (and needs no compile).
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty() && !self.recompile
    }
}
