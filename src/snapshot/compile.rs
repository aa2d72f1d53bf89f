//! `RawConfig` → [`Snapshot`]. The only validator beyond serde: collects every error (with
//! its YAML path and line) instead of stopping at the first.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use super::client_allow::{CaSet, ClientAllowList};
use super::compile_upstream::{CaLists, GatewayUpstream};
use super::host::HostPattern;
use super::jwt::JwtVerifier;
use super::routes::RouteTableBuilder;
use super::server_tls::{ServerCredential, ServerIdentities, ServerIdentity};
use super::tokens::{TokenHash, TokenRecord, TokenTable};
use super::upstream::{parse_host_port, ApiUpstream, Target};
use super::{Api, ApiAuth, CertGauge, HandshakePrefs, ListenSettings, Overlay, Snapshot, SnapshotStats};
use crate::certs::{CertId, CertStore, DigestSet, Files, LoadedCert, PemCache};
use crate::config::{AlternateIdentity, AuthType, ConfigError, ConfigErrors, LoadedConfig};

/// Compiles a loaded config, reading the certificate store directory and every file it names.
pub fn compile(cfg: &LoadedConfig, generation: u64) -> Result<Snapshot, ConfigErrors> {
    compile_with(cfg, generation, &PemCache::default(), &Overlay::default())
}

/// Like [`compile`], reusing the PEM files `cache` parsed on earlier loads, and merging the
/// control plane's `overlay` (its certificates join the store, its allow-list entries and
/// tokens join the YAML's).
pub fn compile_with(
    cfg: &LoadedConfig,
    generation: u64,
    cache: &PemCache,
    overlay: &Overlay,
) -> Result<Snapshot, ConfigErrors> {
    let files = Files::disk(cache);
    let snap = compile_from(cfg, generation, &files, overlay);
    cache.retain_read(&files.into_recorded());
    snap
}

/// Like [`compile_with`], reading every file through `files`: the disk (recording what it
/// read), or what an earlier load recorded (see [`Files`]).
pub fn compile_from(
    cfg: &LoadedConfig,
    generation: u64,
    files: &Files<'_>,
    overlay: &Overlay,
) -> Result<Snapshot, ConfigErrors> {
    let mut c = Compiler::new(cfg, crate::clock::now_unix(), files, overlay);
    c.load_store(overlay.certificates.clone());
    let listen = c.listen();
    let server = c.server_identities();
    let (gateway_leaves, gateway_cas) = c.gateway_allow_list();
    let mut ca_sets = HashMap::new();
    let gateway_upstream = c.gateway_upstream();
    let (apis, routes) = c.apis(&gateway_cas, &mut ca_sets, &gateway_upstream);
    let tokens = c.tokens(&apis);
    let admin_allow = c.admin_allow();
    let allow_entries = gateway_leaves.len() + apis.iter().map(|a| a.auth.allow.leaves.len()).sum::<usize>();
    if !c.errors.is_empty() {
        return Err(ConfigErrors(c.errors));
    }
    let mut certificates: Vec<CertGauge> = c.gauges.into_iter().collect();
    certificates.sort();
    Ok(Snapshot {
        generation,
        listen: listen.expect("listen has no errors"),
        client_auth: cfg.raw.tls.as_ref().map(|t| t.client_auth).unwrap_or_default(),
        server,
        routes,
        stats: SnapshotStats {
            apis: apis.len(),
            tokens: tokens.len(),
            store_certificates: c.store.len(),
            allow_entries,
        },
        apis: apis.into(),
        tokens,
        gateway_leaves,
        admin_allow,
        certificates,
        warnings: c.warnings,
    })
}

/// Certificates expiring sooner than this are warned about at every load.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

pub(super) struct Compiler<'a> {
    pub(super) cfg: &'a LoadedConfig,
    now: i64,
    errors: Vec<ConfigError>,
    pub(super) warnings: Vec<String>,
    pub(super) store: CertStore,
    cert_files: HashMap<PathBuf, Result<Arc<LoadedCert>, String>>,
    pub(super) io: &'a Files<'a>,
    overlay: &'a Overlay,
    pub(super) gauges: BTreeSet<CertGauge>,
    warned_expired: BTreeSet<CertId>,
}

impl<'a> Compiler<'a> {
    fn new(cfg: &'a LoadedConfig, now: i64, io: &'a Files<'a>, overlay: &'a Overlay) -> Self {
        Compiler {
            cfg,
            now,
            errors: Vec::new(),
            warnings: Vec::new(),
            store: CertStore::default(),
            cert_files: HashMap::new(),
            io,
            overlay,
            gauges: BTreeSet::new(),
            warned_expired: BTreeSet::new(),
        }
    }

    /// `tls.groups` and `tls.ciphersuites`, each name checked against what this OpenSSL
    /// build knows.
    fn handshake_prefs(&mut self) -> HandshakePrefs {
        let cfg = self.cfg;
        let Some(tls) = cfg.raw.tls.as_ref() else {
            return HandshakePrefs::default();
        };
        HandshakePrefs {
            groups: self.openssl_names(
                "tls.groups",
                tls.groups.as_deref(),
                super::handshake::group_is_known,
                "key-exchange group",
                "X25519MLKEM768, X25519, P-256, P-384",
            ),
            ciphersuites: self.openssl_names(
                "tls.ciphersuites",
                tls.ciphersuites.as_deref(),
                super::handshake::ciphersuite_is_known,
                "TLS 1.3 cipher suite",
                "TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256",
            ),
        }
    }

    /// A list of OpenSSL names joined with `:`; each unknown name is an error at its index.
    fn openssl_names(
        &mut self,
        path: &str,
        names: Option<&[String]>,
        known: fn(&str) -> bool,
        what: &str,
        examples: &str,
    ) -> Option<Box<str>> {
        let names = names?;
        if names.is_empty() {
            self.error(path, "list at least one name, or remove the key for the default");
            return None;
        }
        let mut ok = true;
        for (i, n) in names.iter().enumerate() {
            if !known(n) {
                self.error(
                    &format!("{path}[{i}]"),
                    format!("unknown {what} `{n}` (e.g. {examples})"),
                );
                ok = false;
            }
        }
        ok.then(|| names.join(":").into())
    }

    pub(super) fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(self.cfg.error(path, message));
    }

    // --- files and certificate references ---

    fn load_store(&mut self, extra: Vec<Arc<LoadedCert>>) {
        if let Some(cs) = &self.cfg.raw.certificate_store {
            let dir = self.cfg.resolve_path(&cs.dir);
            let (store, errors, _) = CertStore::load_dir(&dir, self.io);
            for e in errors {
                self.error("certificate_store.dir", e.to_string());
            }
            self.store = store;
        }
        for cert in extra {
            self.store.insert(cert);
        }
        let store: Vec<Arc<LoadedCert>> = self.store.iter().cloned().collect();
        for c in store {
            self.warn_if_expired(&c);
        }
    }

    /// Resolves a certificate reference (SPEC §1): a store ID or a PEM path.
    pub(super) fn resolve(&mut self, reference: &str, path: &str) -> Option<Arc<LoadedCert>> {
        if let Some(id) = CertId::parse(reference) {
            return match self.store.get(&id) {
                Some(c) => {
                    let c = c.clone();
                    self.warn_if_expired(&c);
                    Some(c)
                }
                None => {
                    let hint = if self.cfg.raw.certificate_store.is_none() {
                        " (no certificate_store is configured)"
                    } else {
                        " (add its PEM to certificate_store.dir)"
                    };
                    self.error(path, format!("certificate {id} is not in the certificate store{hint}"));
                    None
                }
            };
        }
        match self.read_cert_file(reference) {
            Ok(c) => {
                self.warn_if_expired(&c);
                Some(c)
            }
            Err(e) => {
                self.error(path, e);
                None
            }
        }
    }

    fn read_cert_file(&mut self, reference: &str) -> Result<Arc<LoadedCert>, String> {
        let file = self.cfg.resolve_path(reference);
        if let Some(r) = self.cert_files.get(&file) {
            return r.clone();
        }
        let r = if self.io.exists(&file) {
            self.io.read_pem(&file).map_err(|e| e.to_string())
        } else {
            Err(format!(
                "{}: file not found (not a certificate ID either)",
                file.display()
            ))
        };
        self.cert_files.insert(file, r.clone());
        r
    }

    /// Warns (once per certificate and load) about certificates that have expired, are not
    /// valid yet, or expire within [`EXPIRY_WARNING_DAYS`].
    fn warn_if_expired(&mut self, c: &LoadedCert) {
        if c.is_public_key_only() || !self.warned_expired.insert(c.id) {
            return;
        }
        let (id, subject, source) = (c.id, &c.meta.subject, c.source.display());
        if c.meta.not_after < self.now {
            self.warnings
                .push(format!("certificate {id} ({subject}) from {source} has expired"));
        } else if c.meta.not_before > self.now {
            self.warnings
                .push(format!("certificate {id} ({subject}) from {source} is not valid yet"));
        } else if c.meta.not_after - self.now < EXPIRY_WARNING_DAYS * 86_400 {
            let days = (c.meta.not_after - self.now) / 86_400;
            self.warnings.push(format!(
                "certificate {id} ({subject}) from {source} expires in {days} days"
            ));
        }
    }

    pub(super) fn gauge(&mut self, c: &LoadedCert, role: &'static str) {
        if c.is_public_key_only() {
            return;
        }
        self.gauges.insert(CertGauge {
            id: c.id,
            subject: c.meta.subject.clone(),
            role,
            not_after: c.meta.not_after,
        });
    }

    // --- sections ---

    fn listen(&mut self) -> Option<ListenSettings> {
        let l = &self.cfg.raw.listen;
        let addr = |field: &str, v: &Option<String>, errors: &mut Vec<ConfigError>| -> Option<SocketAddr> {
            let s = v.as_ref()?;
            match s.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    errors.push(
                        self.cfg
                            .error(&format!("listen.{field}"), format!("`{s}` is not an address (ip:port)")),
                    );
                    None
                }
            }
        };
        let mut errors = Vec::new();
        let settings = ListenSettings {
            https: addr("https", &l.https, &mut errors),
            http: addr("http", &l.http, &mut errors),
            metrics: addr("metrics", &l.metrics, &mut errors),
            admin: addr("admin", &l.admin, &mut errors),
            threads: l.threads,
            shutdown_grace_seconds: l.shutdown_grace_seconds,
            handshake: self.handshake_prefs(),
            limits: self.conn_limits(l),
        };
        self.errors.extend(errors);
        if l.https.is_none() && l.http.is_none() {
            self.error("listen", "set `https` or `http` (or both)");
        }
        if l.https.is_some() && self.cfg.raw.tls.is_none() {
            self.error(
                "listen.https",
                "a TLS listener needs a `tls` section with certificate and key",
            );
        }
        if self.cfg.raw.admin.is_some() && l.admin.is_none() {
            self.error("admin", "the `admin` section needs `listen.admin`");
        }
        if l.admin.is_some() && self.cfg.raw.admin.is_none() {
            self.error(
                "listen.admin",
                "the admin listener needs an `admin` section (key_env, secret_env, data_dir)",
            );
        }
        let mut bound: Vec<(&str, SocketAddr)> = Vec::new();
        for (field, a) in [
            ("https", settings.https),
            ("http", settings.http),
            ("metrics", settings.metrics),
            ("admin", settings.admin),
        ] {
            let Some(a) = a else { continue };
            if let Some((other, _)) = bound.iter().find(|(_, b)| overlaps(*b, a)) {
                self.error(
                    &format!("listen.{field}"),
                    format!("`{a}` is also listen.{other}: each listener needs its own port"),
                );
            }
            bound.push((field, a));
        }
        Some(settings)
    }

    /// One identity: `base.certificate` and `base.key`, and `base.alternate` when set.
    fn server_identity(
        &mut self,
        base: &str,
        cert: &str,
        key: &str,
        alternate: Option<&AlternateIdentity>,
    ) -> Option<Arc<ServerIdentity>> {
        let primary = self.server_credential(base, cert, key);
        let Some(alt) = alternate else {
            return Some(Arc::new(ServerIdentity {
                credentials: vec![primary?],
            }));
        };
        let alt_base = format!("{base}.alternate");
        let second = self.server_credential(&alt_base, &alt.certificate, &alt.key);
        let (primary, second) = (primary?, second?);
        if primary.key.id() == second.key.id() {
            self.error(
                &format!("{alt_base}.certificate"),
                format!(
                    "has the same key type ({}) as {base}.certificate; an alternate needs another key type (RSA, ECDSA or Ed25519)",
                    key_type_name(&second.key)
                ),
            );
            return None;
        }
        Some(Arc::new(ServerIdentity {
            credentials: vec![primary, second],
        }))
    }

    /// A chain and the key that matches its leaf, from `base.certificate` and `base.key`.
    fn server_credential(&mut self, base: &str, cert: &str, key: &str) -> Option<ServerCredential> {
        let chain = match self.read_cert_file(cert) {
            Ok(c) if c.is_public_key_only() => {
                self.error(
                    &format!("{base}.certificate"),
                    format!("{}: holds a public key, not a certificate", c.source.display()),
                );
                None
            }
            Ok(c) => Some(c),
            Err(e) => {
                self.error(&format!("{base}.certificate"), e);
                None
            }
        };
        let key = match read_private_key(self.io, &self.cfg.resolve_path(key)) {
            Ok(k) => Some(k),
            Err(e) => {
                self.error(&format!("{base}.key"), e);
                None
            }
        };
        let (chain, key) = (chain?, key?);
        let matches = chain.chain[0].public_key().map(|p| p.public_eq(&key)).unwrap_or(false);
        if !matches {
            self.error(
                &format!("{base}.key"),
                format!("the key does not match the certificate {}", chain.source.display()),
            );
            return None;
        }
        self.warn_if_expired(&chain);
        self.gauge(&chain, "server");
        Some(ServerCredential {
            chain: chain.chain.clone(),
            key,
        })
    }

    fn server_identities(&mut self) -> Option<ServerIdentities> {
        let tls = self.cfg.raw.tls.as_ref()?;
        let default = self.server_identity("tls", &tls.certificate, &tls.key, tls.alternate.as_ref());
        let mut sni = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        for (i, s) in tls.sni.iter().enumerate() {
            let base = format!("tls.sni[{i}]");
            let id = self.server_identity(&base, &s.certificate, &s.key, s.alternate.as_ref());
            if s.hosts.is_empty() {
                self.error(&format!("{base}.hosts"), "at least one host is required");
            }
            for (j, h) in s.hosts.iter().enumerate() {
                match HostPattern::parse(h) {
                    Ok(p) => {
                        let here = format!("{base}.hosts[{j}]");
                        if let Some(first) = seen.insert(p.to_string(), here.clone()) {
                            self.error(
                                &here,
                                format!("`{p}` is also {first}: which certificate it gets would be a guess"),
                            );
                            continue;
                        }
                        if let Some(id) = &id {
                            sni.push((p, id.clone()));
                        }
                    }
                    Err(e) => self.error(&format!("{base}.hosts[{j}]"), e),
                }
            }
        }
        Some(ServerIdentities::new(default?, sni))
    }

    /// Resolves an allow list into leaf IDs and CA certificates.
    fn allow_entries(&mut self, refs: &[String], base: &str) -> (DigestSet<CertId>, Vec<(CertId, X509)>) {
        let mut leaves = DigestSet::default();
        let mut cas = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            let Some(c) = self.resolve(r, &format!("{base}[{i}]")) else {
                continue;
            };
            if c.is_public_key_only() {
                self.error(
                    &format!("{base}[{i}]"),
                    format!(
                        "`{r}` is a bare public key: allow lists match a client's leaf certificate or its issuing CA, never a key alone"
                    ),
                );
                continue;
            }
            self.gauge(&c, "client_allow");
            leaves.insert(c.id);
            if c.meta.is_ca {
                if let Some(leaf) = c.leaf() {
                    cas.push((c.id, leaf.clone()));
                }
            }
        }
        (leaves, cas)
    }

    /// `admin.client_certificates`: the admin API's own allow list.
    fn admin_allow(&mut self) -> Option<ClientAllowList> {
        let refs = self
            .cfg
            .raw
            .admin
            .as_ref()
            .map(|a| a.client_certificates.clone())
            .unwrap_or_default();
        if refs.is_empty() {
            return None;
        }
        if self.cfg.raw.tls.is_none() {
            self.error(
                "admin.client_certificates",
                "an mTLS admin listener needs the `tls` section for its server certificate",
            );
        }
        let (leaves, cas) = self.allow_entries(&refs, "admin.client_certificates");
        let cas = if cas.is_empty() {
            None
        } else {
            match CaSet::new(cas) {
                Ok(set) => Some(Arc::new(set)),
                Err(e) => {
                    self.error("admin.client_certificates", format!("cannot build the CA store: {e}"));
                    None
                }
            }
        };
        Some(ClientAllowList { leaves, cas })
    }

    fn gateway_allow_list(&mut self) -> (DigestSet<CertId>, Vec<(CertId, X509)>) {
        let refs = self.cfg.raw.security.client_certificates.clone();
        self.allow_entries(&refs, "security.client_certificates")
    }

    fn apis(
        &mut self,
        gateway_cas: &[(CertId, X509)],
        ca_sets: &mut HashMap<Vec<CertId>, Arc<CaSet>>,
        gateway_upstream: &GatewayUpstream,
    ) -> (Vec<Api>, super::RouteTable) {
        let mut ca_lists = CaLists::default();
        let mut apis: Vec<Api> = Vec::new();
        let mut routes = RouteTableBuilder::default();
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, conf) in self.cfg.raw.apis.iter().enumerate() {
            let base = format!("apis[{i}]");
            let errors_before = self.errors.len();
            if conf.name.trim().is_empty() {
                self.error(&format!("{base}.name"), "must not be empty");
            } else if let Some(j) = names.insert(conf.name.clone(), i) {
                self.error(
                    &format!("{base}.name"),
                    format!("duplicate API name `{}` (also apis[{j}])", conf.name),
                );
            }
            if let Err(e) = check_listen_path(&conf.listen_path) {
                self.error(&format!("{base}.listen_path"), e);
            }
            let mut hosts = Vec::new();
            for (j, h) in conf.hosts.iter().enumerate() {
                match HostPattern::parse(h) {
                    Ok(p) => hosts.push(p),
                    Err(e) => self.error(&format!("{base}.hosts[{j}]"), e),
                }
            }
            let auth = self.api_auth(conf, &base, gateway_cas, ca_sets);
            let upstream = self.api_upstream(
                &conf.name,
                &conf.upstream,
                &format!("{base}.upstream"),
                gateway_upstream,
                &mut ca_lists,
            );
            let (Some(auth), Some(upstream)) = (auth, upstream) else {
                continue;
            };
            if self.errors.len() > errors_before {
                continue;
            }
            let index = apis.len() as u32;
            if let Err(other) = routes.add(&hosts, &conf.listen_path, index) {
                let other = apis[other as usize].name.clone();
                self.error(
                    &format!("{base}.listen_path"),
                    format!("API `{other}` already serves this host and listen_path"),
                );
                continue;
            }
            apis.push(Api {
                index,
                name: conf.name.as_str().into(),
                listen_path: conf.listen_path.as_str().into(),
                strip_listen_path: conf.strip_listen_path,
                auth,
                upstream,
            });
        }
        (apis, routes.build())
    }

    fn api_auth(
        &mut self,
        conf: &crate::config::ApiConf,
        base: &str,
        gateway_cas: &[(CertId, X509)],
        ca_sets: &mut HashMap<Vec<CertId>, Arc<CaSet>>,
    ) -> Option<ApiAuth> {
        let a = &conf.auth;
        let errors_before = self.errors.len();
        let (mut leaves, mut cas) =
            self.allow_entries(&a.client_certificates, &format!("{base}.auth.client_certificates"));
        for id in self.overlay.allow.get(&conf.name).into_iter().flatten() {
            match self.store.get(id).cloned() {
                Some(c) => {
                    self.gauge(&c, "client_allow");
                    leaves.insert(c.id);
                    if let (true, Some(leaf)) = (c.meta.is_ca, c.leaf()) {
                        cas.push((c.id, leaf.clone()));
                    }
                }
                None => self.warnings.push(format!(
                    "API {}: control-plane allow-list entry {id} is not in the store",
                    conf.name
                )),
            }
        }
        if !a.mutual_tls && !a.client_certificates.is_empty() {
            self.warnings.push(format!(
                "API {}: auth.client_certificates is ignored because auth.mutual_tls is false",
                conf.name
            ));
        }
        if a.mutual_tls && a.client_certificates.is_empty() && self.cfg.raw.security.client_certificates.is_empty() {
            self.warnings.push(format!(
                "API {}: mutual_tls is on but no client certificate is allowed yet; every call is refused",
                conf.name
            ));
        }
        let mut allow = ClientAllowList { leaves, cas: None };
        if a.mutual_tls {
            cas.extend(gateway_cas.iter().cloned());
            if !cas.is_empty() {
                let mut key: Vec<CertId> = cas.iter().map(|(id, _)| *id).collect();
                key.sort();
                key.dedup();
                let set = match ca_sets.get(&key) {
                    Some(s) => Some(s.clone()),
                    None => match CaSet::new(cas) {
                        Ok(s) => {
                            let s = Arc::new(s);
                            ca_sets.insert(key, s.clone());
                            Some(s)
                        }
                        Err(e) => {
                            self.error(
                                &format!("{base}.auth.client_certificates"),
                                format!("cannot build the CA store: {e}"),
                            );
                            None
                        }
                    },
                };
                allow.cas = set;
            }
        }
        let token_header = match HeaderName::from_bytes(a.token_header.as_bytes()) {
            Ok(h) => Some(h),
            Err(_) => {
                self.error(
                    &format!("{base}.auth.token_header"),
                    format!("`{}` is not a valid header name", a.token_header),
                );
                None
            }
        };
        let jwt = match (&a.jwt, a.kind) {
            (Some(j), AuthType::Jwt) => {
                let (cfg, io) = (self.cfg, self.io);
                let read = |p: &str| -> Result<(Vec<u8>, PathBuf), String> {
                    let file = cfg.resolve_path(p);
                    io.read(&file)
                        .map(|b| (b.to_vec(), file.clone()))
                        .map_err(|e| format!("{}: cannot read: {e}", file.display()))
                };
                match JwtVerifier::compile(j, &read) {
                    Ok(v) => Some(v),
                    Err(errs) => {
                        for (field, msg) in errs {
                            let p = if field.is_empty() {
                                format!("{base}.auth.jwt")
                            } else {
                                format!("{base}.auth.jwt.{field}")
                            };
                            self.error(&p, msg);
                        }
                        None
                    }
                }
            }
            (None, AuthType::Jwt) => {
                self.error(
                    &format!("{base}.auth.jwt"),
                    "auth.type is jwt but there is no `jwt` section",
                );
                None
            }
            (Some(_), _) => {
                self.error(&format!("{base}.auth.jwt"), "a `jwt` section needs auth.type: jwt");
                None
            }
            (None, _) => None,
        };
        if self.errors.len() > errors_before {
            return None;
        }
        Some(ApiAuth {
            kind: a.kind,
            mutual_tls: a.mutual_tls,
            allow,
            token_header: token_header?,
            jwt,
        })
    }

    fn api_upstream(
        &mut self,
        name: &str,
        u: &crate::config::UpstreamConf,
        base: &str,
        gateway: &GatewayUpstream,
        ca_lists: &mut CaLists,
    ) -> Option<ApiUpstream> {
        let mut targets = Vec::new();
        let errors_before = self.errors.len();
        match (&u.url, u.targets.is_empty()) {
            (Some(url), true) => match Target::parse(url) {
                Ok(t) => targets.push(t),
                Err(e) => self.error(&format!("{base}.url"), e),
            },
            (None, false) => {
                for (i, url) in u.targets.iter().enumerate() {
                    match Target::parse(url) {
                        Ok(t) => targets.push(t),
                        Err(e) => self.error(&format!("{base}.targets[{i}]"), e),
                    }
                }
            }
            (Some(_), false) => self.error(base, "set `url` or `targets`, not both"),
            (None, true) => self.error(base, "set `url` or `targets`"),
        }
        let connect_to = match &u.connect_to {
            Some(s) => match parse_host_port(s) {
                Ok(hp) => Some(hp),
                Err(e) => {
                    self.error(&format!("{base}.connect_to"), e);
                    None
                }
            },
            None => None,
        };
        if u.connect_timeout_ms == 0 {
            self.error(&format!("{base}.connect_timeout_ms"), "must be greater than 0");
        }
        if u.read_timeout_ms == 0 {
            self.error(&format!("{base}.read_timeout_ms"), "must be greater than 0");
        }
        self.upstream_tls(name, u, base, &mut targets, gateway, ca_lists);
        if self.errors.len() > errors_before {
            return None;
        }
        Some(ApiUpstream::new(
            name,
            targets,
            u.sni.clone(),
            connect_to,
            Duration::from_millis(u.connect_timeout_ms),
            Duration::from_millis(u.read_timeout_ms),
        ))
    }

    fn tokens(&mut self, apis: &[Api]) -> TokenTable {
        let by_name: HashMap<&str, u32> = apis.iter().map(|a| (&*a.name, a.index)).collect();
        let known_names: BTreeSet<&str> = self.cfg.raw.apis.iter().map(|a| a.name.as_str()).collect();
        let mut table = TokenTable::with_capacity(self.cfg.raw.tokens.len() + self.overlay.tokens.len());
        for (i, t) in self.cfg.raw.tokens.iter().enumerate() {
            let base = format!("tokens[{i}]");
            let errors_before = self.errors.len();
            let hash = match (&t.token, &t.token_sha256) {
                (Some(plain), None) if !plain.is_empty() => Some(TokenHash::of(plain.as_bytes())),
                (None, Some(h)) => match CertId::parse(h) {
                    Some(d) => Some(TokenHash(d.0)),
                    None => {
                        self.error(&format!("{base}.token_sha256"), "must be 64 hex digits");
                        None
                    }
                },
                (Some(_), Some(_)) => {
                    self.error(&base, "set `token` or `token_sha256`, not both");
                    None
                }
                _ => {
                    self.error(&base, "set `token` or `token_sha256`");
                    None
                }
            };
            let mut grants = Vec::new();
            for (j, name) in t.apis.iter().enumerate() {
                match by_name.get(name.as_str()) {
                    Some(idx) => grants.push(*idx),
                    None if known_names.contains(name.as_str()) => {} // that API has its own error
                    None => self.error(&format!("{base}.apis[{j}]"), format!("unknown API `{name}`")),
                }
            }
            let mut bound = Vec::new();
            for (j, r) in t.bound_certificates.iter().enumerate() {
                if let Some(c) = self.resolve(r, &format!("{base}.bound_certificates[{j}]")) {
                    bound.push(c.id);
                }
            }
            let certificate = match &t.certificate {
                Some(r) => self.resolve(r, &format!("{base}.certificate")).map(|c| c.id),
                None => None,
            };
            let expires_at = t.expires_at.as_deref().and_then(|s| {
                let ts = crate::rfc3339::parse(s);
                if ts.is_none() {
                    self.error(
                        &format!("{base}.expires_at"),
                        format!("`{s}` is not an RFC 3339 time (e.g. 2027-01-01T00:00:00Z)"),
                    );
                }
                ts
            });
            if self.errors.len() > errors_before {
                continue;
            }
            let Some(hash) = hash else { continue };
            let record = TokenRecord {
                apis: grants.into(),
                bound_certificates: bound.into(),
                certificate,
                expires_at,
            };
            if !table.insert(hash, record) {
                self.error(&base, "the same token appears twice");
            }
        }
        for t in &self.overlay.tokens {
            let mut grants = Vec::new();
            for name in &t.apis {
                match by_name.get(name.as_str()) {
                    Some(idx) => grants.push(*idx),
                    None => self
                        .warnings
                        .push(format!("an issued token grants API `{name}`, which is not configured")),
                }
            }
            let record = TokenRecord {
                apis: grants.into(),
                bound_certificates: t.bound_certificates.clone().into(),
                certificate: None,
                expires_at: t.expires_at,
            };
            if !table.insert(t.hash, record) {
                self.warnings
                    .push("an issued token equals a configured one; the configured record wins".into());
            }
        }
        table
    }
}

/// How an error names a key type.
fn key_type_name(key: &PKey<Private>) -> &'static str {
    match key.id() {
        openssl::pkey::Id::RSA => "RSA",
        openssl::pkey::Id::EC => "ECDSA",
        openssl::pkey::Id::ED25519 => "Ed25519",
        openssl::pkey::Id::ED448 => "Ed448",
        _ => "other",
    }
}

/// Reads a PEM private key file.
fn read_private_key(io: &Files<'_>, path: &Path) -> Result<PKey<Private>, String> {
    let bytes = io
        .read(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    PKey::private_key_from_pem(&bytes).map_err(|_| {
        format!(
            "{}: no usable PEM private key (encrypted keys are not supported)",
            path.display()
        )
    })
}

impl Compiler<'_> {
    /// `listen.*_timeout_ms` and `listen.max_request_header_bytes`, checked for range.
    fn conn_limits(&mut self, l: &crate::config::Listen) -> crate::snapshot::ConnLimits {
        let d = crate::snapshot::ConnLimits::default();
        let mut ms = |key: &str, v: Option<u64>, default: Duration| match v {
            None => default,
            Some(0) => {
                self.error(&format!("listen.{key}"), "must be at least 1");
                default
            }
            Some(v) => Duration::from_millis(v),
        };
        let header_timeout = ms("header_timeout_ms", l.header_timeout_ms, d.header_timeout);
        let body_timeout = ms("body_timeout_ms", l.body_timeout_ms, d.body_timeout);
        let keepalive_timeout = ms("keepalive_timeout_ms", l.keepalive_timeout_ms, d.keepalive_timeout);
        let max_header_bytes = match l.max_request_header_bytes {
            None => d.max_header_bytes,
            Some(n) if (1024..=1024 * 1024).contains(&n) => n,
            Some(_) => {
                self.error(
                    "listen.max_request_header_bytes",
                    "must be between 1024 and 1048576 (Pingora's own limit)",
                );
                d.max_header_bytes
            }
        };
        crate::snapshot::ConnLimits {
            header_timeout,
            body_timeout,
            keepalive_timeout,
            max_header_bytes,
        }
    }
}

/// A listen path must start with `/` and already be in the form requests are normalised to
/// (SPEC §3 step 0), or it could never match.
fn check_listen_path(lp: &str) -> Result<(), String> {
    if !lp.starts_with('/') {
        return Err("must start with `/`".into());
    }
    if lp.contains(['?', ';']) {
        return Err("must not contain `?` or `;`".into());
    }
    match crate::request::path::normalize(lp) {
        Err(e) => Err(format!("not a valid path: {e}")),
        Ok(n) if n != lp => Err(format!("requests are normalised before routing: write `{n}`")),
        Ok(_) => Ok(()),
    }
}

/// Whether two listener addresses would take the same port (an unspecified address takes it
/// on every interface).
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}
