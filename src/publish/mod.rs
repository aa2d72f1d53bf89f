//! The one writer of the snapshot store, and SIGHUP ([`Reloader`]). Both inputs of a
//! snapshot go through here: the YAML (at start and on SIGHUP) and the control plane (on
//! every change). A YAML load compiles the YAML with the control plane's whole overlay; a
//! control-plane change patches a copy of the running snapshot's control layer and keeps
//! its compiled part, unless the change alters what only a compile builds (CA anchors, a
//! certificate the YAML names). The lock below is held by writers only; the request path
//! never touches it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use log::{error, info, warn};

mod sighup;
pub mod watch;

use parking_lot::Mutex;
pub use sighup::Reloader;

use crate::certs::{FileSet, Files, PemCache};
use crate::config::{self, ConfigErrors, LoadedConfig};
use crate::metrics::Metrics;
use crate::snapshot::{compile_from, EntriesDelta, Overlay, OverlaySource, Snapshot, SnapshotStore};

/// Builds and publishes snapshots.
pub struct Publisher {
    config_path: PathBuf,
    store: Arc<SnapshotStore>,
    metrics: Arc<Metrics>,
    cache: PemCache,
    state: Mutex<State>,
    /// YAML reloads finished (applied or rejected), for `reload.watch` to wait on.
    reloads_done: std::sync::atomic::AtomicU64,
}

struct State {
    config: Arc<LoadedConfig>,
    /// Every file the last good YAML load read, as it read them: control-plane changes
    /// recompile against these, never against the disk.
    files: Arc<FileSet>,
    /// The control plane as of its latest change.
    control: Arc<dyn OverlaySource>,
    /// Whether the running snapshot's control layer is `control`'s. False after a change
    /// whose compile failed: until a compile succeeds, every change compiles.
    layer_current: bool,
}

/// What one YAML reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new generation is live.
    Applied(u64),
    /// The old snapshot stays; the errors were logged.
    Rejected(usize),
}

// === impl Publisher ===

impl Publisher {
    /// Compiles the loaded YAML with `control`'s overlay and publishes it as generation 1;
    /// later reloads reread the same file.
    pub fn start(
        config: LoadedConfig,
        control: Arc<dyn OverlaySource>,
        metrics: Arc<Metrics>,
    ) -> Result<Publisher, ConfigErrors> {
        let cache = PemCache::default();
        let path = config.file.clone();
        let config = Arc::new(config);
        let overlay = control.overlay();
        let (snap, files) = compile_disk(&config, 1, &cache, &overlay);
        let snap = snap?;
        crate::logging::set_json_events(snap.logging.format == crate::config::LogFormat::Json);
        log_warnings(&snap);
        metrics.reload(true);
        set_gauges(&metrics, &snap, &overlay);
        let s = snap.totals();
        info!(
            "event=config_loaded generation=1 apis={} tokens={} store_certificates={} allow_entries={}",
            s.apis, s.tokens, s.store_certificates, s.allow_entries
        );
        Ok(Publisher {
            config_path: path,
            store: Arc::new(SnapshotStore::new(snap)),
            metrics,
            cache,
            state: Mutex::new(State {
                config,
                files: Arc::new(files),
                control,
                layer_current: true,
            }),
            reloads_done: Default::default(),
        })
    }

    /// The store the data plane reads.
    pub fn store(&self) -> &Arc<SnapshotStore> {
        &self.store
    }

    /// The gateway's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The YAML currently in force.
    pub fn config(&self) -> Arc<LoadedConfig> {
        self.state.lock().config.clone()
    }

    /// YAML reloads finished so far (applied or rejected).
    pub fn reloads_done(&self) -> u64 {
        self.reloads_done.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The config file and every file and directory the last good load read: what
    /// `reload.watch` watches.
    pub fn watched_paths(&self) -> Vec<PathBuf> {
        let mut paths = vec![self.config_path.clone()];
        paths.extend(self.state.lock().files.paths().map(std::path::Path::to_path_buf));
        paths.sort();
        paths.dedup();
        paths
    }

    /// SIGHUP: rereads the YAML and every file it names. A config that does not compile
    /// keeps the running snapshot.
    pub fn reload_config(&self) -> ReloadOutcome {
        let mut state = self.state.lock();
        let old = self.store.load_full();
        let generation = old.generation + 1;
        let started = Instant::now();
        let overlay = state.control.overlay();
        let result = config::load(&self.config_path).and_then(|c| {
            let (snap, files) = compile_disk(&c, generation, &self.cache, &overlay);
            Ok((c, snap?, files))
        });
        let _done = Done(&self.reloads_done);
        match result {
            Ok((config, snap, files)) => {
                if snap.listen != old.listen {
                    warn!("event=reload_listen_changed message=\"listen.*, tls.groups and tls.ciphersuites change only on restart or graceful upgrade (SIGQUIT)\"");
                }
                log_reload(&snap, &old, started);
                state.config = Arc::new(config);
                state.files = Arc::new(files);
                state.layer_current = true;
                self.publish_compiled(snap, &overlay);
                self.metrics.reload(true);
                ReloadOutcome::Applied(generation)
            }
            Err(errors) => {
                for e in errors.iter() {
                    error!("event=reload_error {e}");
                }
                error!(
                    "event=reload result=failure generation={} errors={} message=\"keeping the running configuration\"",
                    old.generation,
                    errors.len()
                );
                self.metrics.reload(false);
                ReloadOutcome::Rejected(errors.len())
            }
        }
    }

    /// A control-plane change, published at once: `control` is the control plane after
    /// it, `delta` what it changed (`None`: unknown, compile). The running snapshot's
    /// control layer is patched with `delta` unless the change needs the compile.
    pub fn set_control(
        &self,
        control: Arc<dyn OverlaySource>,
        delta: Option<EntriesDelta>,
    ) -> Result<u64, ConfigErrors> {
        let mut state = self.state.lock();
        let started = Instant::now();
        // Keep the source either way: it is what the control plane holds, and the next
        // successful compile applies it.
        state.control = control.clone();
        let current = self.store.load_full();
        if let Some(delta) = delta.filter(|_| state.layer_current) {
            let compile = delta.recompile
                || current.control.touches_anchors(&delta)
                || delta.removed_members().iter().any(|id| current.referenced.contains(id));
            if !compile {
                return Ok(self.patch(&current, &delta, started));
            }
        }
        let generation = current.generation + 1;
        let overlay = control.overlay();
        let compiled = compile_from(&state.config, generation, &Files::replay(&state.files), &overlay);
        match compiled {
            Ok(snap) => {
                let s = snap.totals();
                info!(
                    "event=control_plane_applied generation={generation} compiled=true took_ms={} tokens={} allow_entries={}",
                    started.elapsed().as_millis(),
                    s.tokens,
                    s.allow_entries
                );
                state.layer_current = true;
                self.publish_compiled(snap, &overlay);
                Ok(generation)
            }
            Err(errors) => {
                state.layer_current = false;
                for e in errors.iter() {
                    error!("event=control_plane_not_applied {e}");
                }
                Err(errors)
            }
        }
    }

    /// A control-plane change as a whole overlay (compiled): [`Self::set_control`] without
    /// a delta.
    pub fn set_overlay(&self, overlay: Overlay) -> Result<u64, ConfigErrors> {
        self.set_control(Arc::new(overlay), None)
    }

    /// Publishes `current` with its control layer patched by `delta`; an empty delta
    /// publishes nothing.
    fn patch(&self, current: &Snapshot, delta: &EntriesDelta, started: Instant) -> u64 {
        if delta.is_empty() {
            return current.generation;
        }
        let mut layer = (*current.control).clone();
        layer.apply(delta, &current.api_names());
        let gauges = |e: &crate::snapshot::Entries| {
            e.members
                .iter()
                .filter_map(|m| m.gauge.as_ref())
                .cloned()
                .collect::<Vec<_>>()
        };
        let (removed, added) = (gauges(&delta.removed), gauges(&delta.added));
        self.metrics.update_control_certificates(&removed, &added, false);
        let generation = current.generation + 1;
        let stats = layer.stats();
        self.store.publish(Snapshot {
            generation,
            compiled: current.compiled.clone(),
            control: Arc::new(layer),
        });
        info!(
            "event=control_plane_applied generation={generation} compiled=false took_us={} tokens={} allow_entries={}",
            started.elapsed().as_micros(),
            stats.tokens + current.compiled.stats.tokens,
            stats.allow_entries + current.compiled.stats.allow_entries
        );
        generation
    }

    /// Publishes a compiled snapshot, its warnings logged and its gauges set.
    fn publish_compiled(&self, snap: Snapshot, overlay: &Overlay) {
        crate::logging::set_json_events(snap.logging.format == crate::config::LogFormat::Json);
        log_warnings(&snap);
        set_gauges(&self.metrics, &snap, overlay);
        self.store.publish(snap);
    }
}

/// The expiry gauges of a compiled snapshot and its overlay's certificates.
fn set_gauges(metrics: &Metrics, snap: &Snapshot, overlay: &Overlay) {
    metrics.set_certificates(&snap.certificates);
    metrics.set_crls(snap.revocation.crls.iter().map(|c| (c.issuer_id, c.parsed.next_update)));
    let control = overlay.entries.members.iter().filter_map(|m| m.gauge.as_ref());
    metrics.update_control_certificates([], control, true);
}

/// Compiles against the disk; the snapshot and what was read for it.
fn compile_disk(
    config: &LoadedConfig,
    generation: u64,
    cache: &PemCache,
    overlay: &Overlay,
) -> (Result<Snapshot, ConfigErrors>, FileSet) {
    let files = Files::disk(cache);
    let snap = compile_from(config, generation, &files, overlay);
    let read = files.into_recorded();
    if snap.is_ok() {
        cache.retain_read(&read);
    }
    (snap, read)
}

fn log_reload(snap: &Snapshot, old: &Snapshot, started: Instant) {
    let (s, o) = (snap.totals(), old.totals());
    let delta = |a: usize, b: usize| a as i64 - b as i64;
    info!(
        "event=reload result=success generation={} took_ms={} apis={}({:+}) tokens={}({:+}) store_certificates={}({:+}) allow_entries={}({:+})",
        snap.generation,
        started.elapsed().as_millis(),
        s.apis,
        delta(s.apis, o.apis),
        s.tokens,
        delta(s.tokens, o.tokens),
        s.store_certificates,
        delta(s.store_certificates, o.store_certificates),
        s.allow_entries,
        delta(s.allow_entries, o.allow_entries),
    );
}

/// Logs a snapshot's warnings.
pub fn log_warnings(snap: &Snapshot) {
    for w in &snap.warnings {
        warn!("event=config_warning generation={} message=\"{w}\"", snap.generation);
    }
}

/// Counts a finished reload when dropped (after its outcome is stored).
struct Done<'a>(&'a std::sync::atomic::AtomicU64);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::parse_pem;
    use crate::pki::Spec;
    use crate::snapshot::{AllowEntry, AllowTarget, Entries, MemberEntry};

    /// A publisher over two mTLS APIs; `orders` (token auth) names `named` by ID in its
    /// allow list.
    fn publisher(dir: &std::path::Path, named: &crate::pki::Issued, start: Overlay) -> Publisher {
        let ca = Spec::ca("publish test CA").issue(None);
        Spec::server("localhost", &["localhost"])
            .issue(Some(&ca))
            .write(dir, "server");
        let yaml = format!(
            "listen:\n  https: \"127.0.0.1:1\"\ntls:\n  certificate: server.crt\n  key: server.key\napis:\n  - name: orders\n    listen_path: /orders/\n    auth: {{type: token, mutual_tls: true, client_certificates: [\"{}\"]}}\n    upstream: {{url: \"https://orders.internal\"}}\n  - name: billing\n    listen_path: /billing/\n    auth: {{type: none, mutual_tls: true}}\n    upstream: {{url: \"https://billing.internal\"}}\n",
            named.id().to_hex()
        );
        std::fs::write(dir.join("certgate.yaml"), yaml).unwrap();
        let cfg = config::load(&dir.join("certgate.yaml")).unwrap();
        Publisher::start(cfg, Arc::new(start), Arc::new(Metrics::new())).unwrap()
    }

    fn loaded(i: &crate::pki::Issued) -> Arc<crate::certs::LoadedCert> {
        Arc::new(parse_pem(&i.cert_pem(), std::path::Path::new("test")).unwrap())
    }

    fn member(i: &crate::pki::Issued) -> MemberEntry {
        MemberEntry {
            id: i.id(),
            organisations: vec![Arc::<str>::from("acme")].into(),
            gauge: None,
            is_ca: loaded(i).meta.is_ca,
        }
    }

    #[test]
    fn a_change_patches_the_layer_unless_only_a_compile_can_apply_it() {
        let dir = tempfile::tempdir().unwrap();
        let ca = Spec::ca("uploaded CA").issue(None);
        let (named, leaf) = (
            Spec::client("named").issue(Some(&ca)),
            Spec::client("leaf").issue(Some(&ca)),
        );
        let mut overlay = Overlay {
            certificates: vec![loaded(&named), loaded(&leaf), loaded(&ca)],
            ..Overlay::default()
        };
        overlay.entries.members = vec![member(&named), member(&leaf)];
        let p = publisher(dir.path(), &named, overlay.clone());
        let first = p.store().load_full();
        let billing = first.api_by_name("billing").unwrap().index;

        // A grant: the layer is patched, the compiled part is the same one.
        let grant = AllowEntry {
            api: "billing".into(),
            to: AllowTarget::Organisation("acme".into()),
        };
        let mut after = overlay.clone();
        after.entries.allow.push(grant.clone());
        let delta = EntriesDelta {
            recompile: false,
            removed: Entries::default(),
            added: Entries {
                allow: vec![grant.clone()],
                ..Entries::default()
            },
        };
        assert_eq!(p.set_control(Arc::new(after.clone()), Some(delta)).unwrap(), 2);
        let second = p.store().load_full();
        assert!(Arc::ptr_eq(&first.compiled, &second.compiled), "no compile");
        assert!(second.control.allows(billing, &leaf.id()));
        assert!(
            !first.control.allows(billing, &leaf.id()),
            "the old generation is untouched"
        );

        // The grant now covers a CA: only a compile makes it an anchor.
        let mut with_ca = after.clone();
        with_ca.entries.members.push(member(&ca));
        with_ca.ca_allow.insert("billing".into(), vec![ca.id()]);
        let delta = EntriesDelta {
            recompile: false,
            removed: Entries::default(),
            added: Entries {
                members: vec![member(&ca)],
                ..Entries::default()
            },
        };
        assert_eq!(p.set_control(Arc::new(with_ca.clone()), Some(delta)).unwrap(), 3);
        let third = p.store().load_full();
        assert!(!Arc::ptr_eq(&second.compiled, &third.compiled), "compiled");
        let cas = third.api(billing).auth.allow.cas.as_ref().expect("a CA set");
        assert_eq!(cas.ids, vec![ca.id()]);

        // An empty delta publishes nothing.
        assert_eq!(
            p.set_control(Arc::new(with_ca.clone()), Some(EntriesDelta::default()))
                .unwrap(),
            3
        );

        // Removing the certificate the YAML names needs the compile, which refuses it: the
        // running snapshot stays, and so does every later change until a compile succeeds.
        let mut gone = with_ca.clone();
        gone.certificates.retain(|c| c.id != named.id());
        gone.entries.members.retain(|m| m.id != named.id());
        let delta = EntriesDelta {
            recompile: false,
            removed: Entries {
                members: vec![member(&named)],
                ..Entries::default()
            },
            added: Entries::default(),
        };
        assert!(p.set_control(Arc::new(gone.clone()), Some(delta)).is_err());
        assert_eq!(p.store().load().generation, 3);
        let delta = EntriesDelta {
            recompile: false,
            removed: Entries {
                allow: vec![grant],
                ..Entries::default()
            },
            added: Entries::default(),
        };
        let mut revoked = gone.clone();
        revoked.entries.allow.clear();
        assert!(
            p.set_control(Arc::new(revoked), Some(delta)).is_err(),
            "compiles, still refused"
        );
        // Putting the certificate back compiles again.
        assert_eq!(
            p.set_control(Arc::new(with_ca), Some(EntriesDelta::default())).unwrap(),
            4
        );
        assert!(!Arc::ptr_eq(&third.compiled, &p.store().load().compiled));
    }

    /// A bound token issued by a managed grant follows the organisation's visible
    /// certificates: a certificate the YAML lets in by itself, once hidden in the control
    /// plane, no longer carries the token.
    #[test]
    fn a_managed_binding_follows_the_organisation_not_the_allow_list() {
        use crate::policy::downstream::{authorize, RequestView};
        use crate::policy::{Deny, PeerCert};
        use crate::snapshot::{Binding, OverlayToken, TokenHash};

        let dir = tempfile::tempdir().unwrap();
        let ca = Spec::ca("binding CA").issue(None);
        let (named, stranger) = (
            Spec::client("named").issue(Some(&ca)),
            Spec::client("stranger").issue(Some(&ca)),
        );
        let token = OverlayToken {
            owner: "grant/g1".into(),
            hash: TokenHash(crate::certs::sha256(b"issued")),
            apis: vec!["orders".into()],
            binding: Binding::Organisation("acme".into()),
            expires_at: None,
        };
        let mut overlay = Overlay {
            certificates: vec![loaded(&named), loaded(&stranger)],
            ..Overlay::default()
        };
        overlay.entries.members = vec![member(&named)];
        overlay.entries.tokens = vec![token];
        let p = publisher(dir.path(), &named, overlay.clone());
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", "Bearer issued".parse().unwrap());
        let decide = |who: &crate::pki::Issued| {
            let snap = p.store().load_full();
            let peer = PeerCert::new(who.cert.clone(), Vec::new()).unwrap();
            let req = RequestView {
                headers: &headers,
                peer: Some(&peer),
                now: crate::clock::now_unix(),
            };
            authorize(&snap, snap.api_by_name("orders").unwrap(), &req)
        };
        assert_eq!(decide(&named), Ok(()), "a visible certificate of the organisation");
        // Hidden in the control plane (still in the store, still on the YAML's list).
        let mut hidden = overlay.clone();
        hidden.entries.members.clear();
        let delta = EntriesDelta {
            recompile: false,
            removed: Entries {
                members: vec![member(&named)],
                ..Entries::default()
            },
            added: Entries::default(),
        };
        p.set_control(Arc::new(hidden), Some(delta)).unwrap();
        assert!(matches!(decide(&named), Err(Deny::TokenBindingMismatch)));
        assert!(matches!(decide(&stranger), Err(Deny::CertNotAllowed(_))));
    }
}
