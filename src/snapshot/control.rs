//! The control plane's layer of a snapshot: visible control-plane certificates, the allow-
//! list additions of active grants and the issued tokens, in persistent hash maps. A change
//! patches a copy of the layer in O(what it touches) ([`ControlLayer::apply`]) and the
//! copy shares every untouched node, so a grant change or a new key at 100k tokens and
//! 100k certificates costs microseconds, not a recompile of the YAML. Deciding with it is
//! [`crate::policy::downstream`]'s job.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use smallvec::SmallVec;

use super::overlay::{AllowTarget, Entries, EntriesDelta, OverlayToken};
use super::routes::ApiIndex;
use super::tokens::{TokenHash, TokenRecord};
use crate::certs::{CertId, DigestHasher};

/// A persistent map keyed by a SHA-256 digest.
type DigestPmap<K, V> =
    imbl::GenericHashMap<K, V, BuildHasherDefault<DigestHasher>, imbl::shared_ptr::DefaultSharedPtr>;

/// API names → indexes of the snapshot a layer is built for.
pub type ApiNames<'a> = HashMap<&'a str, ApiIndex>;

/// What the control plane adds to one snapshot, ready for lookups.
#[derive(Clone, Default)]
pub struct ControlLayer {
    /// Visible control-plane certificates and their organisations.
    members: DigestPmap<CertId, Arc<[Arc<str>]>>,
    /// The CA certificates among them (few), to tell which changes need a compile.
    cas: DigestPmap<CertId, Arc<[Arc<str>]>>,
    /// APIs that self-serve grants open to one certificate.
    by_certificate: DigestPmap<CertId, ApiCounts>,
    /// APIs that managed grants open to an organisation.
    by_organisation: imbl::HashMap<Arc<str>, ApiCounts>,
    /// Issued tokens.
    tokens: DigestPmap<TokenHash, Issued>,
    /// Distinct (API, certificate or organisation) allow entries.
    allow_entries: usize,
}

/// How many grants open each API to one key (a certificate or an organisation).
#[derive(Clone, Default)]
struct ApiCounts(SmallVec<[(ApiIndex, u32); 2]>);

/// An issued token and the record that issued it.
#[derive(Clone)]
struct Issued {
    owner: Arc<str>,
    record: Arc<TokenRecord>,
}

/// Sizes of a layer, for logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlStats {
    /// Issued tokens.
    pub tokens: usize,
    /// Visible control-plane certificates.
    pub certificates: usize,
    /// Allow-list additions.
    pub allow_entries: usize,
}

// === impl ControlLayer ===

impl ControlLayer {
    /// Builds a layer from every entry; the warnings say what could not be used.
    pub fn build(entries: &Entries, apis: &ApiNames<'_>) -> (ControlLayer, Vec<String>) {
        let mut layer = ControlLayer::default();
        let mut warnings = Vec::new();
        layer.add(entries, apis, Some(&mut warnings));
        (layer, warnings)
    }

    /// Applies one change: the touched records' old entries out, their new ones in. The
    /// layer must hold the `removed` side (it was built from the state the change starts
    /// from), which the publisher guarantees by applying every change in order.
    pub fn apply(&mut self, delta: &EntriesDelta, apis: &ApiNames<'_>) {
        self.remove(&delta.removed, apis);
        self.add(&delta.added, apis, None);
    }

    /// Whether `delta` may change which CA certificates grants cover (chain anchors, which
    /// only a compile builds): it adds, removes or changes a CA certificate, or an allow
    /// entry that names a CA certificate or an organisation holding one.
    pub fn touches_anchors(&self, delta: &EntriesDelta) -> bool {
        let (removed, added) = (&delta.removed, &delta.added);
        if removed.members.iter().chain(&added.members).any(|m| m.is_ca) {
            return true;
        }
        if self.cas.is_empty() {
            return false;
        }
        removed.allow.iter().chain(&added.allow).any(|a| match &a.to {
            AllowTarget::Certificate(id) => self.cas.contains_key(id),
            AllowTarget::Organisation(o) => self.cas.values().any(|orgs| orgs.contains(o)),
        })
    }

    /// Whether a control-plane grant lets this leaf call `api`: the certificate is visible
    /// and a self-serve grant names it, or a managed grant covers one of its organisations.
    pub fn allows(&self, api: ApiIndex, id: &CertId) -> bool {
        let Some(orgs) = self.members.get(id) else {
            return false;
        };
        self.by_certificate.get(id).is_some_and(|c| c.has(api))
            || orgs
                .iter()
                .any(|o| self.by_organisation.get(o).is_some_and(|c| c.has(api)))
    }

    /// Whether this leaf is a visible control-plane certificate.
    pub fn is_visible(&self, id: &CertId) -> bool {
        self.members.contains_key(id)
    }

    /// Whether this leaf is a visible control-plane certificate of `organisation`.
    pub fn in_organisation(&self, id: &CertId, organisation: &str) -> bool {
        self.members
            .get(id)
            .is_some_and(|orgs| orgs.iter().any(|o| &**o == organisation))
    }

    /// The issued token with this hash.
    pub fn token(&self, hash: &TokenHash) -> Option<&TokenRecord> {
        self.tokens.get(hash).map(|t| &*t.record)
    }

    /// Sizes, for logs.
    pub fn stats(&self) -> ControlStats {
        ControlStats {
            tokens: self.tokens.len(),
            certificates: self.members.len(),
            allow_entries: self.allow_entries,
        }
    }

    /// Everything the layer holds, in a fixed order: two layers that decide alike print
    /// alike (for tests that check a patched layer against one built from scratch).
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (id, orgs) in &self.members {
            out.push(format!("member {} {:?}", id.to_hex(), orgs));
        }
        for (id, c) in &self.by_certificate {
            out.push(format!("certificate {} {:?}", id.to_hex(), c.sorted()));
        }
        for (org, c) in &self.by_organisation {
            out.push(format!("organisation {org} {:?}", c.sorted()));
        }
        for (hash, t) in &self.tokens {
            out.push(format!("token {} {} {:?}", hex::encode(hash.0), t.owner, t.record));
        }
        out.sort();
        out.push(format!("allow_entries {}", self.allow_entries));
        out
    }

    fn add(&mut self, entries: &Entries, apis: &ApiNames<'_>, mut warnings: Option<&mut Vec<String>>) {
        for m in &entries.members {
            self.members.insert(m.id, m.organisations.clone());
            if m.is_ca {
                self.cas.insert(m.id, m.organisations.clone());
            }
        }
        for a in &entries.allow {
            let Some(&api) = apis.get(a.api.as_str()) else {
                if let Some(w) = warnings.as_deref_mut() {
                    w.push(format!("a grant allows API `{}`, which is not configured", a.api));
                }
                continue;
            };
            let first = match &a.to {
                AllowTarget::Certificate(id) => self.by_certificate.entry(*id).or_default().add(api),
                AllowTarget::Organisation(o) => self.by_organisation.entry(o.clone()).or_default().add(api),
            };
            self.allow_entries += usize::from(first);
        }
        for t in &entries.tokens {
            if let Some(existing) = self.tokens.get(&t.hash) {
                if let Some(w) = warnings.as_deref_mut() {
                    w.push(format!(
                        "{} and {} hold the same token; {} wins",
                        existing.owner, t.owner, existing.owner
                    ));
                }
                continue;
            }
            let record = resolve_token(t, apis, warnings.as_deref_mut());
            let issued = Issued {
                owner: t.owner.clone(),
                record: Arc::new(record),
            };
            self.tokens.insert(t.hash, issued);
        }
    }

    fn remove(&mut self, entries: &Entries, apis: &ApiNames<'_>) {
        for t in &entries.tokens {
            // Only the record that holds the slot frees it.
            if self.tokens.get(&t.hash).is_some_and(|i| i.owner == t.owner) {
                self.tokens.remove(&t.hash);
            }
        }
        for a in &entries.allow {
            let Some(&api) = apis.get(a.api.as_str()) else {
                continue;
            };
            let last = match &a.to {
                AllowTarget::Certificate(id) => count_down(&mut self.by_certificate, id, api),
                AllowTarget::Organisation(o) => count_down(&mut self.by_organisation, o, api),
            };
            self.allow_entries -= usize::from(last);
        }
        for m in &entries.members {
            self.members.remove(&m.id);
            self.cas.remove(&m.id);
        }
    }
}

/// Counts one grant of `api` less under `key`, dropping the key when nothing is left; true
/// when it was the last grant of `api` there.
fn count_down<K, S>(
    map: &mut imbl::GenericHashMap<K, ApiCounts, S, imbl::shared_ptr::DefaultSharedPtr>,
    key: &K,
    api: ApiIndex,
) -> bool
where
    K: std::hash::Hash + Eq + Clone,
    S: std::hash::BuildHasher + Clone,
{
    let Some(counts) = map.get_mut(key) else {
        return false;
    };
    let last = counts.sub(api);
    if counts.is_empty() {
        map.remove(key);
    }
    last
}

/// An issued token's record against this snapshot's API indexes.
fn resolve_token(t: &OverlayToken, apis: &ApiNames<'_>, mut warnings: Option<&mut Vec<String>>) -> TokenRecord {
    let mut granted = Vec::with_capacity(t.apis.len());
    for name in &t.apis {
        match apis.get(name.as_str()) {
            Some(&i) => granted.push(i),
            None => {
                if let Some(w) = warnings.as_deref_mut() {
                    w.push(format!("an issued token grants API `{name}`, which is not configured"));
                }
            }
        }
    }
    granted.sort_unstable();
    granted.dedup();
    TokenRecord {
        apis: granted.into(),
        binding: t.binding.clone(),
        certificate: None,
        expires_at: t.expires_at,
    }
}

// === impl ApiCounts ===

impl ApiCounts {
    fn has(&self, api: ApiIndex) -> bool {
        self.0.iter().any(|(a, _)| *a == api)
    }

    /// Counts one more grant of `api`; true when it is the first.
    fn add(&mut self, api: ApiIndex) -> bool {
        match self.0.iter_mut().find(|(a, _)| *a == api) {
            Some((_, n)) => {
                *n += 1;
                false
            }
            None => {
                self.0.push((api, 1));
                true
            }
        }
    }

    /// Counts one grant of `api` less; true when it was the last.
    fn sub(&mut self, api: ApiIndex) -> bool {
        let Some(pos) = self.0.iter().position(|(a, _)| *a == api) else {
            return false;
        };
        self.0[pos].1 -= 1;
        if self.0[pos].1 == 0 {
            self.0.swap_remove(pos);
            return true;
        }
        false
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn sorted(&self) -> Vec<(ApiIndex, u32)> {
        let mut v = self.0.to_vec();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::overlay::{AllowEntry, MemberEntry};
    use crate::snapshot::Binding;

    fn id(n: u8) -> CertId {
        CertId([n; 32])
    }

    fn member(n: u8, orgs: &[&str]) -> MemberEntry {
        MemberEntry {
            id: id(n),
            organisations: orgs.iter().map(|o| Arc::<str>::from(*o)).collect(),
            gauge: None,
            is_ca: false,
        }
    }

    fn allow(api: &str, to: AllowTarget) -> AllowEntry {
        AllowEntry { api: api.into(), to }
    }

    fn token(owner: &str, n: u8, apis: &[&str]) -> OverlayToken {
        OverlayToken {
            owner: owner.into(),
            hash: TokenHash([n; 32]),
            apis: apis.iter().map(|a| a.to_string()).collect(),
            binding: Binding::Unbound,
            expires_at: None,
        }
    }

    fn names() -> ApiNames<'static> {
        [("orders", 0), ("billing", 1)].into_iter().collect()
    }

    #[test]
    fn a_managed_grant_covers_visible_certificates_of_its_organisation() {
        let entries = Entries {
            members: vec![member(1, &["acme"]), member(2, &["other"])],
            allow: vec![allow("orders", AllowTarget::Organisation("acme".into()))],
            tokens: vec![],
        };
        let (layer, warnings) = ControlLayer::build(&entries, &names());
        assert!(warnings.is_empty());
        assert!(layer.allows(0, &id(1)));
        assert!(!layer.allows(1, &id(1)), "only the granted API");
        assert!(!layer.allows(0, &id(2)), "another organisation");
        assert!(!layer.allows(0, &id(3)), "not a visible certificate");
    }

    #[test]
    fn a_self_serve_entry_needs_the_certificate_visible() {
        let entries = Entries {
            members: vec![],
            allow: vec![allow("orders", AllowTarget::Certificate(id(1)))],
            tokens: vec![],
        };
        let (mut layer, _) = ControlLayer::build(&entries, &names());
        assert!(!layer.allows(0, &id(1)));
        let delta = EntriesDelta {
            recompile: false,
            removed: Entries::default(),
            added: Entries {
                members: vec![member(1, &[])],
                ..Entries::default()
            },
        };
        layer.apply(&delta, &names());
        assert!(layer.allows(0, &id(1)));
    }

    #[test]
    fn two_grants_of_one_api_count_until_both_are_gone() {
        let grant = |_: u8| Entries {
            members: vec![],
            allow: vec![allow("orders", AllowTarget::Organisation("acme".into()))],
            tokens: vec![],
        };
        let mut all = grant(1);
        all.members.push(member(1, &["acme"]));
        all.allow.extend(grant(2).allow);
        let (mut layer, _) = ControlLayer::build(&all, &names());
        assert_eq!(layer.stats().allow_entries, 1);
        let revoke = EntriesDelta {
            recompile: false,
            removed: grant(1),
            added: Entries::default(),
        };
        layer.apply(&revoke, &names());
        assert!(layer.allows(0, &id(1)), "the other grant still opens it");
        layer.apply(&revoke, &names());
        assert!(!layer.allows(0, &id(1)));
        assert_eq!(layer.stats().allow_entries, 0);
    }

    #[test]
    fn tokens_resolve_api_names_and_only_their_owner_frees_them() {
        let entries = Entries {
            tokens: vec![
                token("key/a", 7, &["billing", "orders", "gone"]),
                token("key/b", 7, &["orders"]),
            ],
            ..Entries::default()
        };
        let (mut layer, warnings) = ControlLayer::build(&entries, &names());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        let r = layer.token(&TokenHash([7; 32])).unwrap();
        assert_eq!(&*r.apis, &[0, 1]);
        let not_owner = EntriesDelta {
            recompile: false,
            removed: Entries {
                tokens: vec![token("key/b", 7, &["orders"])],
                ..Entries::default()
            },
            added: Entries::default(),
        };
        layer.apply(&not_owner, &names());
        assert!(layer.token(&TokenHash([7; 32])).is_some());
        let owner = EntriesDelta {
            recompile: false,
            removed: Entries {
                tokens: vec![token("key/a", 7, &[])],
                ..Entries::default()
            },
            added: Entries::default(),
        };
        layer.apply(&owner, &names());
        assert!(layer.token(&TokenHash([7; 32])).is_none());
    }

    #[test]
    fn a_copy_is_independent() {
        let (layer, _) = ControlLayer::build(
            &Entries {
                members: vec![member(1, &["acme"])],
                ..Entries::default()
            },
            &names(),
        );
        let mut next = layer.clone();
        next.apply(
            &EntriesDelta {
                recompile: false,
                removed: Entries {
                    members: vec![member(1, &["acme"])],
                    ..Entries::default()
                },
                added: Entries::default(),
            },
            &names(),
        );
        assert!(layer.is_visible(&id(1)));
        assert!(!next.is_visible(&id(1)));
    }
}
