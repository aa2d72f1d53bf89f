//! `apis[].upstream` (SPEC §2, §4): targets, timeouts, and the TLS side (domain maps, trust
//! anchors and pins) resolved once per target at load time.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use openssl::x509::X509;
use pingora::utils::tls::CertKey;
use sha2::{Digest, Sha256};

use super::Compiler;
use crate::certs::spki_sha256;
use crate::certs::CertId;
use crate::config::ConfigErrorKind as Kind;
use crate::config::{StringList, UpstreamConf, UpstreamProtocol};
use crate::snapshot::upstream::{parse_host_port, ApiUpstream, Target, UpstreamTls};
use crate::snapshot::{select, DomainMap, PinSet};

/// A client certificate for upstream domains.
pub(super) type ClientCert = (CertId, Arc<CertKey>);

/// Gateway-level upstream settings, compiled once per load.
pub(super) struct GatewayUpstream {
    certs: DomainMap<ClientCert>,
    pins: DomainMap<Arc<PinSet>>,
    system_roots: bool,
    extra_roots: Vec<(CertId, X509)>,
    skip_verify: bool,
}

/// A trust-anchor list and its fingerprint.
type CaList = (Arc<Box<[X509]>>, u64);

/// Trust-anchor lists shared between targets, by member IDs.
#[derive(Default)]
pub(super) struct CaLists {
    lists: HashMap<(bool, Vec<CertId>), CaList>,
    system: Option<Result<Vec<(CertId, X509)>, String>>,
}

impl Compiler<'_> {
    /// `security.upstream_*`.
    pub(super) fn gateway_upstream(&mut self) -> GatewayUpstream {
        let sec = self.cfg.raw.security.clone();
        let certs = self.cert_map(&sec.upstream_certificates, "security.upstream_certificates");
        let pins = self.pin_map(&sec.pinned_public_keys, "security.pinned_public_keys");
        let mut system_roots = sec.upstream_ca.is_none();
        let mut extra_roots = Vec::new();
        for (i, entry) in sec
            .upstream_ca
            .as_ref()
            .map(|l| l.0.clone())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            if entry == "system" {
                system_roots = true;
            } else {
                extra_roots.extend(self.ca_bundle(entry, &format!("security.upstream_ca[{i}]")));
            }
        }
        if sec.insecure_skip_verify {
            self.warnings
                .push("security.insecure_skip_verify is ON: upstream certificates are NOT verified for any API".into());
        }
        GatewayUpstream {
            certs,
            pins,
            system_roots,
            extra_roots,
            skip_verify: sec.insecure_skip_verify,
        }
    }

    /// Fills `tls` on every https target of one API.
    pub(super) fn upstream_tls(
        &mut self,
        api_name: &str,
        u: &UpstreamConf,
        base: &str,
        targets: &mut [Target],
        gw: &GatewayUpstream,
        cas: &mut CaLists,
    ) {
        let certs = self.cert_map(&u.certificates, &format!("{base}.certificates"));
        let pins = self.pin_map(&u.pinned_public_keys, &format!("{base}.pinned_public_keys"));
        let api_roots = match &u.ca {
            Some(p) => self.ca_bundle(p, &format!("{base}.ca")),
            None => Vec::new(),
        };
        if u.sni.as_deref().is_some_and(|s| s.trim().is_empty()) {
            self.error(
                Kind::Invalid,
                &format!("{base}.sni"),
                "must not be empty (an empty SNI would turn verification off)",
            );
            return;
        }
        let verify = !(u.insecure_skip_verify || gw.skip_verify);
        if u.insecure_skip_verify {
            self.warnings.push(format!(
                "API {api_name}: upstream.insecure_skip_verify is ON: its upstream certificates are NOT verified"
            ));
        }
        let mut anchors: Vec<(CertId, X509)> = gw.extra_roots.clone();
        anchors.extend(api_roots);
        let (ca, ca_fingerprint) = if anchors.is_empty() && gw.system_roots {
            (None, 0)
        } else {
            match self.ca_list(gw.system_roots, anchors, cas, base) {
                Some((list, fp)) => (Some(list), fp),
                None => return,
            }
        };
        for t in targets.iter_mut().filter(|t| t.is_tls) {
            let client_cert = select(&certs, &gw.certs, &t.host, t.port).cloned();
            let pins = select(&pins, &gw.pins, &t.host, t.port).cloned();
            let sni = u.sni.clone().unwrap_or_else(|| t.host.clone());
            let ip = if u.sni.is_none() { t.ip } else { None };
            let mut h = Sha256::new();
            h.update(sni.as_bytes());
            h.update([verify as u8, ip.is_some() as u8]);
            h.update(ca_fingerprint.to_le_bytes());
            h.update(client_cert.as_ref().map(|c| c.0 .0).unwrap_or_default());
            h.update(pins.as_ref().map(|p| p.fingerprint).unwrap_or_default().to_le_bytes());
            let d = h.finalize();
            let mut gk = [0u8; 8];
            gk.copy_from_slice(&d[..8]);
            t.tls = Some(UpstreamTls {
                sni,
                verify,
                ca: ca.clone(),
                ca_fingerprint,
                client_cert,
                pins,
                ip,
                group_key: u64::from_le_bytes(gk),
            });
        }
    }

    fn cert_map(&mut self, map: &BTreeMap<String, String>, base: &str) -> DomainMap<ClientCert> {
        let mut entries = Vec::new();
        for (domain, reference) in map {
            let path = format!("{base}.{domain}");
            let Some(c) = self.resolve(reference, &path) else {
                continue;
            };
            let Some(key) = c.key.clone() else {
                self.error(
                    Kind::Certificate,
                    &path,
                    format!(
                        "{}: an upstream client certificate needs its private key (put the key in the same PEM)",
                        c.source.display()
                    ),
                );
                continue;
            };
            if c.chain.is_empty() {
                self.error(
                    Kind::Certificate,
                    &path,
                    format!("{}: holds a public key, not a certificate", c.source.display()),
                );
                continue;
            }
            self.gauge(&c, "upstream_client");
            entries.push((domain.clone(), (c.id, Arc::new(CertKey::new(c.chain.clone(), key)))));
        }
        self.domain_map(entries, base)
    }

    fn pin_map(&mut self, map: &BTreeMap<String, StringList>, base: &str) -> DomainMap<Arc<PinSet>> {
        let mut entries = Vec::new();
        for (domain, list) in map {
            let path = format!("{base}.{domain}");
            let mut spki = Vec::new();
            for (j, r) in list.0.iter().enumerate() {
                if let Some(p) = self.pin(r, &format!("{path}[{j}]")) {
                    spki.push(p);
                }
            }
            if list.0.is_empty() {
                self.error(
                    Kind::Invalid,
                    &path,
                    "an empty pin list would refuse every connection; remove the key instead",
                );
            }
            entries.push((domain.clone(), Arc::new(PinSet::new(spki))));
        }
        self.domain_map(entries, base)
    }

    /// A pin reference (SPEC §1): `sha256//<base64>`, a certificate reference (its public key
    /// is pinned), or 64 hex digits of an SPKI SHA-256.
    fn pin(&mut self, reference: &str, path: &str) -> Option<[u8; 32]> {
        let r = reference.trim();
        if let Some(b64) = r.strip_prefix("sha256//") {
            use base64::Engine;
            return match base64::engine::general_purpose::STANDARD.decode(b64) {
                Ok(v) if v.len() == 32 => v.try_into().ok(),
                _ => {
                    self.error(
                        Kind::Invalid,
                        path,
                        format!("`{r}` is not sha256// followed by the base64 of 32 bytes"),
                    );
                    None
                }
            };
        }
        if let Some(id) = CertId::parse(r) {
            if let Some(c) = self.store.get(&id).cloned() {
                self.gauge(&c, "pin");
                return Some(c.meta.spki_sha256.0);
            }
            return Some(id.0);
        }
        let c = self.resolve(r, path)?;
        self.gauge(&c, "pin");
        Some(if c.is_public_key_only() {
            spki_sha256(&c.der)
        } else {
            c.meta.spki_sha256.0
        })
    }

    fn domain_map<T>(&mut self, entries: Vec<(String, T)>, base: &str) -> DomainMap<T> {
        match DomainMap::build(entries) {
            Ok(m) => m,
            Err(errors) => {
                for (key, msg) in errors {
                    self.error(Kind::Invalid, &format!("{base}.{key}"), msg);
                }
                DomainMap::default()
            }
        }
    }

    fn ca_bundle(&mut self, reference: &str, path: &str) -> Vec<(CertId, X509)> {
        let file = self.cfg.resolve_path(reference);
        let bytes = match self.io.read(&file) {
            Ok(b) => b,
            Err(e) => {
                self.error(Kind::File, path, format!("{}: cannot read: {e}", file.display()));
                return Vec::new();
            }
        };
        match X509::stack_from_pem(&bytes) {
            Ok(certs) if !certs.is_empty() => certs
                .into_iter()
                .filter_map(|c| {
                    let der = c.to_der().ok()?;
                    if let Ok(meta) = crate::certs::CertMeta::from_der(&der) {
                        self.gauges.insert(crate::snapshot::CertGauge {
                            id: CertId::of_der(&der),
                            subject: meta.subject,
                            role: "ca",
                            not_after: meta.not_after,
                        });
                    }
                    Some((CertId::of_der(&der), c))
                })
                .collect(),
            _ => {
                self.error(
                    Kind::Certificate,
                    path,
                    format!("{}: no PEM certificates found", file.display()),
                );
                Vec::new()
            }
        }
    }

    fn ca_list(
        &mut self,
        system: bool,
        mut anchors: Vec<(CertId, X509)>,
        cas: &mut CaLists,
        base: &str,
    ) -> Option<CaList> {
        anchors.sort_by_key(|a| a.0);
        anchors.dedup_by_key(|a| a.0);
        let key = (system, anchors.iter().map(|a| a.0).collect::<Vec<_>>());
        if let Some(v) = cas.lists.get(&key) {
            return Some(v.clone());
        }
        let mut all: Vec<X509> = anchors.into_iter().map(|a| a.1).collect();
        if system {
            match cas.system.get_or_insert_with(|| load_system_roots(self.io)) {
                Ok(roots) => all.extend(roots.iter().map(|r| r.1.clone())),
                Err(e) => {
                    self.error(Kind::File, base, e.clone());
                    return None;
                }
            }
        }
        let mut h = Sha256::new();
        h.update([system as u8]);
        for id in &key.1 {
            h.update(id.0);
        }
        let d = h.finalize();
        let mut fp = [0u8; 8];
        fp.copy_from_slice(&d[..8]);
        let v = (Arc::new(all.into_boxed_slice()), u64::from_le_bytes(fp).max(1));
        cas.lists.insert(key, v.clone());
        Some(v)
    }
}

/// The operating system's trust store, as a list (needed when it is combined with a bundle).
fn load_system_roots(io: &crate::certs::Files<'_>) -> Result<Vec<(CertId, X509)>, String> {
    let probe = openssl_probe::probe();
    let file = probe
        .cert_file
        .ok_or("no system CA bundle found; list a PEM bundle in upstream_ca instead of `system`")?;
    let bytes = io
        .read(&file)
        .map_err(|e| format!("{}: cannot read the system CA bundle: {e}", file.display()))?;
    let certs = X509::stack_from_pem(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(certs
        .into_iter()
        .filter_map(|c| Some((CertId::of_der(&c.to_der().ok()?), c)))
        .collect())
}

impl Compiler<'_> {
    pub(super) fn api_upstream(
        &mut self,
        name: &str,
        u: &crate::config::UpstreamConf,
        base: &str,
        gateway: &GatewayUpstream,
        ca_lists: &mut CaLists,
    ) -> Option<ApiUpstream> {
        let mut targets = Vec::new();
        let mark = self.mark();
        match (&u.url, u.targets.is_empty()) {
            (Some(url), true) => match Target::parse(url) {
                Ok(t) => targets.push(t),
                Err(e) => self.error(Kind::Invalid, &format!("{base}.url"), e),
            },
            (None, false) => {
                for (i, url) in u.targets.iter().enumerate() {
                    match Target::parse(url) {
                        Ok(t) => targets.push(t),
                        Err(e) => self.error(Kind::Invalid, &format!("{base}.targets[{i}]"), e),
                    }
                }
            }
            (Some(_), false) => self.error(Kind::Conflict, base, "set `url` or `targets`, not both"),
            (None, true) => self.error(Kind::Missing, base, "set `url` or `targets`"),
        }
        let connect_to = match &u.connect_to {
            Some(s) => match parse_host_port(s) {
                Ok(hp) => Some(hp),
                Err(e) => {
                    self.error(Kind::Invalid, &format!("{base}.connect_to"), e);
                    None
                }
            },
            None => None,
        };
        if u.connect_timeout_ms == 0 {
            self.error(
                Kind::Invalid,
                &format!("{base}.connect_timeout_ms"),
                "must be greater than 0",
            );
        }
        if u.read_timeout_ms == 0 {
            self.error(
                Kind::Invalid,
                &format!("{base}.read_timeout_ms"),
                "must be greater than 0",
            );
        }
        self.upstream_protocol(u, base, &targets);
        self.upstream_tls(name, u, base, &mut targets, gateway, ca_lists);
        if self.failed_since(mark) {
            return None;
        }
        let mut up = ApiUpstream::new(
            name,
            targets,
            u.sni.clone(),
            connect_to,
            Duration::from_millis(u.connect_timeout_ms),
            Duration::from_millis(u.read_timeout_ms),
        );
        up.protocol = u.protocol;
        up.h2_max_streams = u.h2_max_streams;
        Some(up)
    }

    /// `protocol` must suit every target's scheme: `h2` and `auto` negotiate with ALPN, so
    /// they need `https://`; `h2c` is HTTP/2 in the clear, so it needs `http://`.
    fn upstream_protocol(&mut self, u: &UpstreamConf, base: &str, targets: &[Target]) {
        let path = format!("{base}.protocol");
        let need_tls = match u.protocol {
            UpstreamProtocol::Http1 => None,
            UpstreamProtocol::H2 | UpstreamProtocol::Auto => Some(true),
            UpstreamProtocol::H2c => Some(false),
        };
        if let Some(tls) = need_tls {
            if let Some(t) = targets.iter().find(|t| t.is_tls != tls) {
                let why = if tls {
                    "h2 and auto choose HTTP/2 with TLS ALPN: every target must be https://"
                } else {
                    "h2c is HTTP/2 in the clear: every target must be http:// (use h2 for https://)"
                };
                self.error(Kind::Invalid, &path, format!("{why}; {} is not", t.url));
            }
        }
        if !(1..=1000).contains(&u.h2_max_streams) {
            self.error(
                Kind::Invalid,
                &format!("{base}.h2_max_streams"),
                "must be between 1 and 1000",
            );
        }
    }
}
