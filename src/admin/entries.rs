//! What the control plane's records add to the data plane: the whole [`Overlay`] (for a
//! compile), and the [`EntriesDelta`] between two states (for patching the running
//! snapshot's control layer). Pure: derived from [`ControlState`] alone.
//!
//! Each record contributes on its own: a visible certificate is a member with its
//! organisations; an active grant opens its APIs to its organisation (managed) or its
//! certificates (self-serve) and issues its token; a key issues its token. A change's delta
//! is therefore the contributions of the records it touched, before and after.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use imbl::ordmap::DiffItem;

use super::records::*;
use super::state::{ControlState, StoredCert, StoredCrl};
use crate::certs::CertId;
use crate::snapshot::{
    AllowEntry, AllowTarget, Binding, CertGauge, Entries, EntriesDelta, MemberEntry, Overlay, OverlayCrl,
    OverlaySource, OverlayToken, TokenHash,
};

/// A record that contributes entries.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Certificate(String),
    Grant(String),
    Key(String),
}

// === impl ControlState (entries) ===

impl ControlState {
    /// What the control plane adds to the data plane: uploaded certificates join the store,
    /// grants' CA certificates the CA sets, and every record's entries the control layer.
    pub fn overlay(&self) -> Overlay {
        let mut entries = Entries::default();
        for c in self.live_certificates() {
            entries.members.push(member(c));
        }
        for g in self.grants.values() {
            self.grant_entries(g, &mut entries);
        }
        for k in self.keys.values() {
            key_entries(k, &mut entries);
        }
        Overlay {
            certificates: self
                .live_certificates()
                .filter(|c| c.record.source == Source::Api)
                .map(|c| c.loaded.clone())
                .collect(),
            ca_allow: self.ca_allow(),
            entries,
            crls: self
                .crls
                .values()
                .map(|c| OverlayCrl {
                    source: StoredCrl::source_of(&c.record.id),
                    parsed: c.parsed.clone(),
                })
                .collect(),
        }
    }

    /// The CA certificates active grants allow, by API name: they must be chain anchors.
    pub fn ca_allow(&self) -> BTreeMap<String, Vec<CertId>> {
        let cas: Vec<&StoredCert> = self.live_certificates().filter(|c| c.loaded.meta.is_ca).collect();
        let mut out: BTreeMap<String, Vec<CertId>> = BTreeMap::new();
        if cas.is_empty() {
            return out;
        }
        for g in self.grants.values().filter(|g| g.status == GrantStatus::Active) {
            let covered: Vec<CertId> = match g.certificate_mode {
                CertificateMode::Managed => {
                    let Some(org) = self.apps.get(&g.app).map(|a| &a.organisation) else {
                        continue;
                    };
                    cas.iter()
                        .filter(|c| c.record.organisations.contains(org))
                        .map(|c| c.loaded.id)
                        .collect()
                }
                CertificateMode::SelfServe => cas
                    .iter()
                    .filter(|c| g.certificates.contains(&c.record.id))
                    .map(|c| c.loaded.id)
                    .collect(),
            };
            if covered.is_empty() {
                continue;
            }
            for api in &g.apis {
                out.entry(api.clone()).or_default().extend(covered.iter().copied());
            }
        }
        for ids in out.values_mut() {
            ids.sort();
            ids.dedup();
        }
        out
    }

    /// The entries `before` and `after` differ in: those of every record that differs
    /// between them (and of the grants of every app that does). The maps share their
    /// untouched nodes, so this costs what changed, not what is stored.
    pub fn delta(before: &ControlState, after: &ControlState) -> EntriesDelta {
        let mut owners = BTreeSet::new();
        owners.extend(changed(&before.certificates, &after.certificates).map(Owner::Certificate));
        owners.extend(changed(&before.grants, &after.grants).map(Owner::Grant));
        owners.extend(changed(&before.keys, &after.keys).map(Owner::Key));
        for app in changed(&before.apps, &after.apps) {
            let grants = before.grants.values().chain(after.grants.values());
            owners.extend(grants.filter(|g| g.app == app).map(|g| Owner::Grant(g.id.clone())));
        }
        let mut delta = EntriesDelta {
            recompile: before.crls.diff(&after.crls).next().is_some(),
            ..EntriesDelta::default()
        };
        for o in &owners {
            before.entries_of(o, &mut delta.removed);
            after.entries_of(o, &mut delta.added);
        }
        delta
    }

    /// What one record contributes.
    fn entries_of(&self, owner: &Owner, out: &mut Entries) {
        match owner {
            Owner::Certificate(id) => {
                if let Some(c) = self.certificates.get(id).filter(|c| !c.record.deleted) {
                    out.members.push(member(c));
                }
            }
            Owner::Grant(id) => {
                if let Some(g) = self.grants.get(id) {
                    self.grant_entries(g, out);
                }
            }
            Owner::Key(id) => {
                if let Some(k) = self.keys.get(id) {
                    key_entries(k, out);
                }
            }
        }
    }

    /// An active grant's allow entries and token. A managed grant follows its app's
    /// organisation (certificates added later count); a self-serve grant its certificates.
    fn grant_entries(&self, g: &Grant, out: &mut Entries) {
        if g.status != GrantStatus::Active {
            return;
        }
        let (targets, binding) = match g.certificate_mode {
            CertificateMode::Managed => match self.apps.get(&g.app) {
                Some(app) => {
                    let org: Arc<str> = app.organisation.as_str().into();
                    (vec![AllowTarget::Organisation(org.clone())], Binding::Organisation(org))
                }
                // No app, no certificates: a bound token matches no leaf.
                None => (Vec::new(), Binding::LiveLeaves(Box::new([]))),
            },
            CertificateMode::SelfServe => {
                let ids: Vec<CertId> = g.certificates.iter().filter_map(|c| CertId::parse(c)).collect();
                let targets = ids.iter().map(|id| AllowTarget::Certificate(*id)).collect();
                (targets, Binding::LiveLeaves(ids.into()))
            }
        };
        for api in &g.apis {
            for to in &targets {
                out.allow.push(AllowEntry {
                    api: api.clone(),
                    to: to.clone(),
                });
            }
        }
        if let Some(hash) = g.token_sha256.as_deref().and_then(CertId::parse) {
            out.tokens.push(OverlayToken {
                owner: format!("grant/{}", g.id).into(),
                hash: TokenHash(hash.0),
                apis: g.apis.clone(),
                binding: if g.bind { binding } else { Binding::Unbound },
                expires_at: None,
            });
        }
    }
}

impl OverlaySource for ControlState {
    fn overlay(&self) -> Overlay {
        ControlState::overlay(self)
    }
}

/// A key's token.
fn key_entries(k: &Key, out: &mut Entries) {
    let Some(hash) = CertId::parse(&k.token_sha256) else {
        return;
    };
    let bound: Vec<CertId> = k.bound_certificates.iter().filter_map(|id| CertId::parse(id)).collect();
    out.tokens.push(OverlayToken {
        owner: format!("key/{}", k.id).into(),
        hash: TokenHash(hash.0),
        apis: k.apis.clone(),
        binding: if bound.is_empty() {
            Binding::Unbound
        } else {
            Binding::Leaves(bound.into())
        },
        expires_at: k.expires_at,
    });
}

/// A visible certificate as a member of the control layer.
fn member(c: &StoredCert) -> MemberEntry {
    let l = &c.loaded;
    MemberEntry {
        id: l.id,
        organisations: c
            .record
            .organisations
            .iter()
            .map(|o| Arc::<str>::from(o.as_str()))
            .collect(),
        gauge: (!l.is_public_key_only()).then(|| CertGauge {
            id: l.id,
            subject: l.meta.subject.clone(),
            role: "client_allow",
            not_after: l.meta.not_after,
        }),
        is_ca: l.meta.is_ca,
    }
}

/// The IDs whose records differ between two maps.
fn changed<'a, V: Clone + PartialEq>(
    before: &'a super::state::Records<V>,
    after: &'a super::state::Records<V>,
) -> impl Iterator<Item = String> + 'a {
    before.diff(after).map(|d| match d {
        DiffItem::Add(k, _) | DiffItem::Remove(k, _) => k.clone(),
        DiffItem::Update { new: (k, _), .. } => k.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::store::Write;
    use crate::pki::Spec;
    use crate::snapshot::{ApiNames, ControlLayer};

    fn cert(issued: &crate::pki::Issued, orgs: &[&str]) -> CertRecord {
        CertRecord {
            id: issued.id().to_hex(),
            name: "c".into(),
            pem: String::from_utf8(issued.cert_pem()).unwrap(),
            key_sealed: None,
            source: Source::Api,
            path: None,
            deleted: false,
            organisations: orgs.iter().map(|o| o.to_string()).collect(),
            created_at: 0,
        }
    }

    fn grant(id: &str, mode: CertificateMode, certs: &[&str], apis: &[&str], status: GrantStatus) -> Grant {
        Grant {
            id: id.into(),
            request: format!("req_{id}"),
            app: "app_1".into(),
            product: "prod".into(),
            token_sha256: Some(hex::encode(crate::certs::sha256(id.as_bytes()))),
            apis: apis.iter().map(|a| a.to_string()).collect(),
            certificate_mode: mode,
            certificates: certs.iter().map(|c| c.to_string()).collect(),
            bind: true,
            status,
            created_at: 0,
        }
    }

    fn key(id: &str, bound: &[&str]) -> Key {
        Key {
            id: id.into(),
            token_sha256: hex::encode(crate::certs::sha256(id.as_bytes())),
            apis: vec!["orders".into()],
            bound_certificates: bound.iter().map(|c| c.to_string()).collect(),
            expires_at: None,
            created_at: 0,
        }
    }

    fn app(org: &str) -> App {
        App {
            id: "app_1".into(),
            name: "app".into(),
            organisation: org.into(),
        }
    }

    fn put<T: serde::Serialize>(kind: &'static str, id: &str, r: &T) -> Write {
        Write::Put {
            kind,
            id: id.into(),
            body: serde_json::to_vec(r).unwrap(),
        }
    }

    fn names() -> ApiNames<'static> {
        [("orders", 0), ("billing", 1)].into_iter().collect()
    }

    /// Every step's delta, patched into the layer of the step before, gives the layer built
    /// from scratch for the step after.
    #[test]
    fn a_patched_layer_equals_one_built_from_the_whole_state() {
        let ca = Spec::ca("entries CA").issue(None);
        let leaves: Vec<_> = (0..4)
            .map(|i| Spec::client(&format!("c{i}")).issue(Some(&ca)))
            .collect();
        let id = |i: usize| leaves[i].id().to_hex();
        let ca_id = ca.id().to_hex();
        let steps: Vec<(&str, Vec<Write>)> = vec![
            (
                "start",
                vec![
                    put("certificate", &id(0), &cert(&leaves[0], &["acme"])),
                    put("certificate", &id(1), &cert(&leaves[1], &["acme"])),
                    put("certificate", &id(2), &cert(&leaves[2], &["other"])),
                    put("certificate", &ca_id, &cert(&ca, &["other"])),
                    put("app", "app_1", &app("acme")),
                    put("key", "k1", &key("k1", &[])),
                ],
            ),
            (
                "managed grant",
                vec![put(
                    "grant",
                    "g1",
                    &grant("g1", CertificateMode::Managed, &[], &["orders"], GrantStatus::Active),
                )],
            ),
            (
                "self-serve grant",
                vec![put(
                    "grant",
                    "g2",
                    &grant(
                        "g2",
                        CertificateMode::SelfServe,
                        &[&id(2)],
                        &["billing"],
                        GrantStatus::Active,
                    ),
                )],
            ),
            (
                "upload to the organisation",
                vec![put("certificate", &id(3), &cert(&leaves[3], &["acme"]))],
            ),
            ("app moves organisation", vec![put("app", "app_1", &app("other"))]),
            (
                "self-serve certificate hidden",
                vec![put(
                    "certificate",
                    &id(2),
                    &CertRecord {
                        deleted: true,
                        ..cert(&leaves[2], &["other"])
                    },
                )],
            ),
            (
                "revoke",
                vec![put(
                    "grant",
                    "g1",
                    &grant("g1", CertificateMode::Managed, &[], &["orders"], GrantStatus::Revoked),
                )],
            ),
            (
                "keys",
                vec![
                    Write::Remove {
                        kind: "key",
                        id: "k1".into(),
                    },
                    put("key", "k2", &key("k2", &[&id(0)])),
                ],
            ),
            (
                "certificate deleted",
                vec![Write::Remove {
                    kind: "certificate",
                    id: id(1),
                }],
            ),
        ];
        let mut state = ControlState::default();
        let (mut layer, _) = ControlLayer::build(&state.overlay().entries, &names());
        for (step, writes) in &steps {
            let mut next = state.clone();
            next.apply(writes, None).unwrap();
            let delta = ControlState::delta(&state, &next);
            assert!(!delta.is_empty(), "{step}: the change shows in the delta");
            layer.apply(&delta, &names());
            let (built, _) = ControlLayer::build(&next.overlay().entries, &names());
            assert_eq!(layer.describe(), built.describe(), "after {step}");
            // The steps did what they say.
            let cid = |i: usize| leaves[i].id();
            match *step {
                "managed grant" => {
                    assert!(layer.allows(0, &cid(0)) && layer.allows(0, &cid(1)));
                    assert!(!layer.allows(0, &cid(2)) && !layer.allows(1, &cid(0)));
                }
                "self-serve grant" => assert!(layer.allows(1, &cid(2)) && !layer.allows(0, &cid(2))),
                "upload to the organisation" => assert!(layer.allows(0, &cid(3)), "a later certificate counts"),
                "app moves organisation" => assert!(!layer.allows(0, &cid(0)) && layer.allows(0, &cid(2))),
                "self-serve certificate hidden" => assert!(!layer.allows(1, &cid(2))),
                "revoke" => assert!(!layer.allows(0, &cid(2))),
                _ => {}
            }
            state = next;
        }
        assert!(layer.token(&TokenHash(crate::certs::sha256(b"k1"))).is_none());
        assert!(layer.token(&TokenHash(crate::certs::sha256(b"k2"))).is_some());
        assert!(state.ca_allow().is_empty(), "the CA is covered by no active grant");
    }

    #[test]
    fn an_unchanged_state_has_an_empty_delta_and_a_ca_under_a_grant_is_an_anchor() {
        let ca = Spec::ca("anchor CA").issue(None);
        let mut s = ControlState::default();
        s.apply(
            &[
                put("certificate", &ca.id().to_hex(), &cert(&ca, &["acme"])),
                put("app", "app_1", &app("acme")),
            ],
            None,
        )
        .unwrap();
        assert!(ControlState::delta(&s, &s.clone()).is_empty());
        assert!(s.ca_allow().is_empty());
        let mut next = s.clone();
        next.apply(
            &[put(
                "grant",
                "g1",
                &grant("g1", CertificateMode::Managed, &[], &["orders"], GrantStatus::Active),
            )],
            None,
        )
        .unwrap();
        assert_eq!(next.ca_allow().get("orders"), Some(&vec![ca.id()]));
    }

    fn body<T: serde::Serialize>(kind: &str, id: &str, r: &T) -> (String, String, Vec<u8>) {
        (kind.into(), id.into(), serde_json::to_vec(r).unwrap())
    }

    /// A full load that reuses the state it replaces gives what a load from nothing gives:
    /// records the store no longer holds are gone, changed ones replaced, and its delta
    /// against the old state names exactly those.
    #[test]
    fn a_full_load_reusing_the_old_state_equals_one_from_nothing() {
        let ca = Spec::ca("reuse CA").issue(None);
        let leaves: Vec<_> = (0..3)
            .map(|i| Spec::client(&format!("r{i}")).issue(Some(&ca)))
            .collect();
        let id = |i: usize| leaves[i].id().to_hex();
        let old = vec![
            body("certificate", &id(0), &cert(&leaves[0], &["acme"])),
            body("certificate", &id(1), &cert(&leaves[1], &["acme"])),
            body("key", "k1", &key("k1", &[])),
            body("key", "k2", &key("k2", &[])),
            body("app", "app_1", &app("acme")),
        ];
        let before = ControlState::from_records(old, None).unwrap();
        let new = vec![
            body("certificate", &id(0), &cert(&leaves[0], &["acme"])),
            body("certificate", &id(2), &cert(&leaves[2], &["acme"])),
            body("key", "k1", &key("k1", &[])),
            body("key", "k3", &key("k3", &[&id(0)])),
            body("app", "app_1", &app("other")),
        ];
        let reused = ControlState::from_records_reusing(&new, None, &before).unwrap();
        let fresh = ControlState::from_records(new, None).unwrap();
        let ids = |m: &crate::admin::state::Records<StoredCert>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(ids(&reused.certificates), ids(&fresh.certificates));
        assert_eq!(reused.keys, fresh.keys);
        assert_eq!(reused.apps, fresh.apps);
        assert!(
            Arc::ptr_eq(&reused.certificates[&id(0)].loaded, &before.certificates[&id(0)].loaded),
            "an unchanged certificate is not parsed again"
        );
        let delta = ControlState::delta(&before, &reused);
        let members: BTreeSet<CertId> = delta.added.members.iter().map(|m| m.id).collect();
        assert!(
            members.contains(&leaves[2].id()) && !members.contains(&leaves[0].id()),
            "{members:?}"
        );
        assert_eq!(delta.removed_members(), vec![leaves[1].id()]);
        let tokens = |e: &Entries| e.tokens.iter().map(|t| t.owner.to_string()).collect::<Vec<_>>();
        assert_eq!(tokens(&delta.removed), vec!["key/k2"]);
        assert_eq!(tokens(&delta.added), vec!["key/k3"]);
    }
}
