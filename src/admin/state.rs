//! The control plane's records in memory. What they add to the data plane is
//! [`super::entries`]. Pure: no I/O, no locking.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::crypto::KeyVault;
use super::error::StateError;
use super::fleet::store::Position;
use super::records::*;
use super::store::Write;
use crate::certs::crl::ParsedCrl;
use crate::certs::{parse_pem, CertId, LoadedCert};

/// A stored certificate with its parsed form (the key decrypted, in memory only).
#[derive(Clone)]
pub struct StoredCert {
    /// The record.
    pub record: CertRecord,
    /// Parsed certificate (and key).
    pub loaded: Arc<LoadedCert>,
}

/// Equal when the records are and the parsed form is the same one (a copy of the state, or
/// a reload that reused it), which is what tells [`ControlState`] diffs apart.
impl PartialEq for StoredCert {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.loaded, &other.loaded) && self.record == other.record
    }
}

/// An uploaded CRL with its parsed form.
#[derive(Clone)]
pub struct StoredCrl {
    /// The record.
    pub record: CrlRecord,
    /// Parsed (once, when the record is read).
    pub parsed: Arc<ParsedCrl>,
}

impl StoredCrl {
    /// What an uploaded CRL's source reads as in lists and logs, for record `id`.
    pub fn source_of(id: &str) -> String {
        format!("admin API upload {id}")
    }
}

/// Equal when the records are and the parsed form is the same one (see [`StoredCert`]).
impl PartialEq for StoredCrl {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.parsed, &other.parsed) && self.record == other.record
    }
}

/// Records of one kind by ID: a persistent map, so copying the state for a change costs
/// nothing however many records it holds (the copy shares every untouched node).
pub type Records<V> = imbl::OrdMap<String, V>;

/// Every control-plane record, by ID.
#[derive(Clone, Default)]
pub struct ControlState {
    /// Certificates.
    pub certificates: Records<StoredCert>,
    /// Organisations.
    pub organisations: Records<Organisation>,
    /// Products.
    pub products: Records<Product>,
    /// Apps.
    pub apps: Records<App>,
    /// Access requests.
    pub requests: Records<AccessRequest>,
    /// Grants.
    pub grants: Records<Grant>,
    /// Directly issued keys.
    pub keys: Records<Key>,
    /// CRLs uploaded through the admin API.
    pub crls: Records<StoredCrl>,
    /// Store-directory records written before records kept their PEM, whose file is gone:
    /// kept (with their name and organisations) until the file comes back.
    pub dormant: Records<CertRecord>,
    /// Where in the fleet's history these records are (the default outside a fleet).
    pub fleet_at: Position,
}

/// Record kinds in the store.
pub mod kind {
    /// [`super::CertRecord`].
    pub const CERTIFICATE: &str = "certificate";
    /// [`super::Organisation`].
    pub const ORGANISATION: &str = "organisation";
    /// [`super::Product`].
    pub const PRODUCT: &str = "product";
    /// [`super::App`].
    pub const APP: &str = "app";
    /// [`super::AccessRequest`].
    pub const REQUEST: &str = "access_request";
    /// [`super::Grant`].
    pub const GRANT: &str = "grant";
    /// [`super::Key`].
    pub const KEY: &str = "key";
    /// [`super::CrlRecord`].
    pub const CRL: &str = "crl";

    /// Every kind this version knows.
    pub const ALL: [&str; 8] = [CERTIFICATE, ORGANISATION, PRODUCT, APP, REQUEST, GRANT, KEY, CRL];

    /// The kind constant for `name`, when this version knows it.
    pub fn known(name: &str) -> Option<&'static str> {
        ALL.into_iter().find(|k| *k == name)
    }
}

// === impl ControlState ===

impl ControlState {
    /// Rebuilds the state from stored records; keys are decrypted with `vault`.
    pub fn from_records(
        records: Vec<(String, String, Vec<u8>)>,
        vault: Option<&KeyVault>,
    ) -> Result<ControlState, StateError> {
        Self::from_records_reusing(&records, vault, &ControlState::default())
    }

    /// [`Self::from_records`], reusing what `before` already holds: the parsed form of every
    /// certificate whose record (PEM and sealed key) is unchanged, and the map node of every
    /// record that is equal. The result starts as a copy of `before` and is changed only
    /// where the records differ, so a fleet member's full load after an outage parses only
    /// what changed and its delta against `before` walks only what changed (unchanged
    /// subtrees stay shared, and the diff skips them).
    pub fn from_records_reusing(
        records: &[(String, String, Vec<u8>)],
        vault: Option<&KeyVault>,
        before: &ControlState,
    ) -> Result<ControlState, StateError> {
        let mut s = ControlState {
            fleet_at: Position::default(),
            ..before.clone()
        };
        s.drop_missing(records);
        for d in decode_certificates(records, vault, before)? {
            match d {
                Decoded::Ready(id, record, loaded) => {
                    let next = StoredCert { record, loaded };
                    if s.certificates.get(&id) != Some(&next) {
                        s.dormant.remove(&id);
                        s.certificates.insert(id, next);
                    }
                }
                Decoded::Later(i) => {
                    let (k, id, body) = &records[i];
                    s.put(k, id.clone(), body, vault)?;
                }
            }
        }
        for (k, id, body) in records.iter().filter(|r| r.0 != kind::CERTIFICATE) {
            s.put(k, id.clone(), body, vault)?;
        }
        Ok(s)
    }

    /// Removes every record that `records` (a full load) does not hold.
    fn drop_missing(&mut self, records: &[(String, String, Vec<u8>)]) {
        let ids = |k: &str| -> HashSet<&str> { records.iter().filter(|r| r.0 == k).map(|r| r.1.as_str()).collect() };
        fn keep<V: Clone>(map: &mut Records<V>, ids: &HashSet<&str>) {
            let gone: Vec<String> = map.keys().filter(|id| !ids.contains(id.as_str())).cloned().collect();
            for id in gone {
                map.remove(&id);
            }
        }
        let certificates = ids(kind::CERTIFICATE);
        keep(&mut self.certificates, &certificates);
        keep(&mut self.dormant, &certificates);
        keep(&mut self.organisations, &ids(kind::ORGANISATION));
        keep(&mut self.products, &ids(kind::PRODUCT));
        keep(&mut self.apps, &ids(kind::APP));
        keep(&mut self.requests, &ids(kind::REQUEST));
        keep(&mut self.grants, &ids(kind::GRANT));
        keep(&mut self.keys, &ids(kind::KEY));
        keep(&mut self.crls, &ids(kind::CRL));
    }

    /// Applies one change's writes (a fleet member replaying another's change). Store-
    /// directory certificates keep what this instance sees: visible (with the file's parsed
    /// form, its key included) while the file is in this instance's directory, hidden until
    /// its next directory sync finds it otherwise. An error leaves the state partly
    /// changed: apply to a copy.
    pub fn apply(&mut self, writes: &[Write], vault: Option<&KeyVault>) -> Result<(), StateError> {
        for w in writes {
            match w {
                Write::Put { kind: k, id, body } => {
                    let before = self.certificates.get(id).cloned();
                    self.put(k, id.clone(), body, vault)?;
                    if *k != kind::CERTIFICATE {
                        continue;
                    }
                    if let Some(c) = self.certificates.get_mut(id) {
                        local_dir_view(c, before.as_ref());
                    }
                }
                Write::Remove { kind: k, id } => self.remove(k, id),
            }
        }
        Ok(())
    }

    /// After a full load: every store-directory certificate as this instance sees it (see
    /// [`Self::apply`]), judged by `before`, the state it replaces.
    pub fn keep_local_dir(&mut self, before: &ControlState) {
        let dir_ids: Vec<String> = self
            .certificates
            .iter()
            .filter(|(_, c)| c.record.source == Source::Dir)
            .map(|(id, _)| id.clone())
            .collect();
        for id in dir_ids {
            let Some(current) = self.certificates.get(&id) else {
                continue;
            };
            let mut seen = current.clone();
            local_dir_view(&mut seen, before.certificates.get(&id));
            if &seen != current {
                // Only a change touches the map: an unchanged node stays shared.
                self.certificates.insert(id, seen);
            }
        }
    }

    /// Inserts or replaces one stored record.
    fn put(&mut self, k: &str, id: String, body: &[u8], vault: Option<&KeyVault>) -> Result<(), StateError> {
        let unreadable_id = id.clone();
        let bad = |source: serde_json::Error| StateError::Unreadable {
            kind: k.to_string(),
            id: unreadable_id.clone(),
            source,
        };
        match k {
            kind::CERTIFICATE => {
                let record: CertRecord = serde_json::from_slice(body).map_err(bad)?;
                if record.source == Source::Dir && record.pem.is_empty() {
                    // Written before directory records kept their PEM: read the file.
                    match record.path.as_deref().map(|p| (p, std::fs::read(p))) {
                        Some((p, Ok(pem))) => {
                            let loaded = parse_pem(&pem, Path::new(p))?;
                            self.dormant.remove(&id);
                            self.certificates.insert(
                                id,
                                StoredCert {
                                    record,
                                    loaded: Arc::new(loaded),
                                },
                            );
                        }
                        _ => {
                            self.certificates.remove(&id);
                            self.dormant.insert(id, record);
                        }
                    }
                    return Ok(());
                }
                let loaded = parse_record(&record, vault)?;
                self.dormant.remove(&id);
                self.certificates.insert(id, StoredCert { record, loaded });
            }
            kind::ORGANISATION => insert_json(&mut self.organisations, id, body).map_err(bad)?,
            kind::PRODUCT => insert_json(&mut self.products, id, body).map_err(bad)?,
            kind::APP => insert_json(&mut self.apps, id, body).map_err(bad)?,
            kind::REQUEST => insert_json(&mut self.requests, id, body).map_err(bad)?,
            kind::GRANT => insert_json(&mut self.grants, id, body).map_err(bad)?,
            kind::KEY => insert_json(&mut self.keys, id, body).map_err(bad)?,
            kind::CRL => {
                let record: CrlRecord = serde_json::from_slice(body).map_err(bad)?;
                if self.crls.get(&id).is_some_and(|c| c.record == record) {
                    return Ok(()); // unchanged: keep the parsed form (and the shared node)
                }
                let parsed = parse_crl_record(&record)?;
                self.crls.insert(id, StoredCrl { record, parsed });
            }
            _ => {} // a newer version's record: keep it in the store, ignore it here
        }
        Ok(())
    }

    /// Removes one record.
    fn remove(&mut self, k: &str, id: &str) {
        match k {
            kind::CERTIFICATE => {
                self.certificates.remove(id);
                self.dormant.remove(id);
            }
            kind::ORGANISATION => drop(self.organisations.remove(id)),
            kind::PRODUCT => drop(self.products.remove(id)),
            kind::APP => drop(self.apps.remove(id)),
            kind::REQUEST => drop(self.requests.remove(id)),
            kind::GRANT => drop(self.grants.remove(id)),
            kind::KEY => drop(self.keys.remove(id)),
            kind::CRL => drop(self.crls.remove(id)),
            _ => {}
        }
    }

    /// Visible certificates (not soft-deleted).
    pub fn live_certificates(&self) -> impl Iterator<Item = &StoredCert> {
        self.certificates.values().filter(|c| !c.record.deleted)
    }

    /// Whether a visible certificate has this ID.
    pub fn has_live_certificate(&self, id: &str) -> bool {
        self.certificates.get(id).is_some_and(|c| !c.record.deleted)
    }

    /// The certificates a grant covers now: for a managed grant every visible certificate of
    /// the app's organisation (so certificates added later count), for a self-serve grant
    /// the one it was approved with (while visible).
    pub fn grant_certificates(&self, g: &Grant) -> Vec<CertId> {
        let ids: Vec<&str> = match g.certificate_mode {
            CertificateMode::Managed => {
                let Some(org) = self.apps.get(&g.app).map(|a| a.organisation.as_str()) else {
                    return Vec::new();
                };
                self.live_certificates()
                    .filter(|c| c.record.organisations.iter().any(|o| o == org))
                    .map(|c| c.record.id.as_str())
                    .collect()
            }
            CertificateMode::SelfServe => g
                .certificates
                .iter()
                .map(String::as_str)
                .filter(|id| self.has_live_certificate(id))
                .collect(),
        };
        ids.into_iter().filter_map(CertId::parse).collect()
    }
}

/// A store-directory certificate as this instance sees it: while `before` (this instance's
/// view until now) shows it visible, the file's parsed form, path and visibility stay; a
/// certificate this instance has not seen in its directory stays hidden until its next
/// directory sync. Other certificates are left alone.
fn local_dir_view(c: &mut StoredCert, before: Option<&StoredCert>) {
    if c.record.source != Source::Dir {
        return;
    }
    match before.filter(|b| b.record.source == Source::Dir && !b.record.deleted) {
        Some(b) => {
            c.loaded = b.loaded.clone();
            c.record.path = b.record.path.clone();
            c.record.deleted = false;
        }
        None => c.record.deleted = true,
    }
}

/// A certificate record decoded for a full load.
enum Decoded {
    /// Decoded and parsed (or its parsed form reused).
    Ready(String, CertRecord, Arc<LoadedCert>),
    /// Needs [`ControlState::put`] (an old store-directory record that reads its file).
    Later(usize),
}

/// Decodes and parses every certificate record among `records` on every core (a full load
/// of 100k certificates is mostly this), reusing `before`'s parsed form where it holds the
/// same PEM and sealed key.
fn decode_certificates(
    records: &[(String, String, Vec<u8>)],
    vault: Option<&KeyVault>,
    before: &ControlState,
) -> Result<Vec<Decoded>, StateError> {
    let certs: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].0 == kind::CERTIFICATE)
        .collect();
    let one = |i: usize| -> Result<Decoded, StateError> {
        let (_, id, body) = &records[i];
        let record: CertRecord = serde_json::from_slice(body).map_err(|source| StateError::Unreadable {
            kind: kind::CERTIFICATE.to_string(),
            id: id.clone(),
            source,
        })?;
        if record.source == Source::Dir && record.pem.is_empty() {
            return Ok(Decoded::Later(i));
        }
        let known = before
            .certificates
            .get(id)
            .filter(|c| c.record.pem == record.pem && c.record.key_sealed == record.key_sealed);
        let loaded = match known {
            Some(c) => c.loaded.clone(),
            None => parse_record(&record, vault)?,
        };
        Ok(Decoded::Ready(id.clone(), record, loaded))
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let chunk = certs.len().div_ceil(threads).max(256);
    let parts: Vec<Result<Vec<Decoded>, StateError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = certs
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|&i| one(i)).collect()))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Vec::with_capacity(certs.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Parses a stored certificate, decrypting its key.
pub fn parse_record(record: &CertRecord, vault: Option<&KeyVault>) -> Result<Arc<LoadedCert>, StateError> {
    let mut pem = record.pem.clone().into_bytes();
    if let Some(sealed) = &record.key_sealed {
        let vault = vault.ok_or_else(|| StateError::NoSecret(record.id.clone()))?;
        let key = vault.open(sealed).map_err(|source| StateError::Vault {
            id: record.id.clone(),
            source,
        })?;
        pem.extend_from_slice(&key);
    }
    let source = record
        .path
        .clone()
        .unwrap_or_else(|| format!("control plane certificate {}", record.id));
    Ok(Arc::new(parse_pem(&pem, Path::new(&source))?))
}

/// Parses a stored CRL (what `POST /crls` checked when it stored it).
pub fn parse_crl_record(record: &CrlRecord) -> Result<Arc<ParsedCrl>, StateError> {
    use base64::Engine;
    let unreadable = |why: String| StateError::Crl {
        id: record.id.clone(),
        why,
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(&record.der)
        .map_err(|e| unreadable(format!("bad base64: {e}")))?;
    let mut parsed = crate::certs::crl::parse_crls(&der).map_err(unreadable)?;
    match (parsed.pop(), parsed.is_empty()) {
        (Some(one), true) => Ok(Arc::new(one)),
        _ => Err(unreadable("not exactly one CRL".into())),
    }
}

/// The public part of a loaded certificate as PEM, as records keep it: the certificate and
/// its chain, or the bare public key. Never the private key.
pub fn public_pem(loaded: &LoadedCert) -> String {
    if loaded.chain.is_empty() {
        return openssl::pkey::PKey::public_key_from_der(&loaded.der)
            .and_then(|k| k.public_key_to_pem())
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_default();
    }
    loaded
        .chain
        .iter()
        .filter_map(|c| c.to_pem().ok())
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .collect()
}

/// Parses one JSON record into its map (the record kinds that need no more than that),
/// leaving the map untouched when it already holds an equal record (so copies of it keep
/// sharing that node).
fn insert_json<V: serde::de::DeserializeOwned + Clone + PartialEq>(
    map: &mut Records<V>,
    id: String,
    body: &[u8],
) -> Result<(), serde_json::Error> {
    let v: V = serde_json::from_slice(body)?;
    if map.get(&id) != Some(&v) {
        map.insert(id, v);
    }
    Ok(())
}
