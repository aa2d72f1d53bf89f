//! `listen` and the handshake preferences: addresses, connection limits, groups and
//! cipher suites.

use std::net::SocketAddr;
use std::time::Duration;

use super::Compiler;
use crate::config::ConfigError;
use crate::config::ConfigErrorKind as Kind;
use crate::snapshot::{HandshakePrefs, ListenSettings};

impl Compiler<'_> {
    /// `tls.groups` and `tls.ciphersuites`, each name checked against what this OpenSSL
    /// build knows.
    pub(super) fn handshake_prefs(&mut self) -> HandshakePrefs {
        let cfg = self.cfg;
        let Some(tls) = cfg.raw.tls.as_ref() else {
            return HandshakePrefs::default();
        };
        HandshakePrefs {
            groups: self.openssl_names(
                "tls.groups",
                tls.groups.as_deref(),
                crate::snapshot::handshake::group_is_known,
                "key-exchange group",
                "X25519MLKEM768, X25519, P-256, P-384",
            ),
            ciphersuites: self.openssl_names(
                "tls.ciphersuites",
                tls.ciphersuites.as_deref(),
                crate::snapshot::handshake::ciphersuite_is_known,
                "TLS 1.3 cipher suite",
                "TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256",
            ),
        }
    }

    /// A list of OpenSSL names joined with `:`; each unknown name is an error at its index.
    pub(super) fn openssl_names(
        &mut self,
        path: &str,
        names: Option<&[String]>,
        known: fn(&str) -> bool,
        what: &str,
        examples: &str,
    ) -> Option<Box<str>> {
        let names = names?;
        if names.is_empty() {
            self.error(
                Kind::Invalid,
                path,
                "list at least one name, or remove the key for the default",
            );
            return None;
        }
        let mut ok = true;
        for (i, n) in names.iter().enumerate() {
            if !known(n) {
                self.error(
                    Kind::UnknownName,
                    &format!("{path}[{i}]"),
                    format!("unknown {what} `{n}` (e.g. {examples})"),
                );
                ok = false;
            }
        }
        ok.then(|| names.join(":").into())
    }

    pub(super) fn listen(&mut self) -> Option<ListenSettings> {
        let l = &self.cfg.raw.listen;
        let addr = |field: &str, v: &Option<String>, errors: &mut Vec<ConfigError>| -> Option<SocketAddr> {
            let s = v.as_ref()?;
            match s.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    errors.push(self.cfg.error(
                        Kind::Invalid,
                        &format!("listen.{field}"),
                        format!("`{s}` is not an address (ip:port)"),
                    ));
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
            self.error(Kind::Missing, "listen", "set `https` or `http` (or both)");
        }
        if l.https.is_some() && self.cfg.raw.tls.is_none() {
            self.error(
                Kind::Missing,
                "listen.https",
                "a TLS listener needs a `tls` section with certificate and key",
            );
        }
        // A fleet member without `listen.admin` follows the shared state and takes no writes.
        if self.cfg.raw.admin.is_some() && l.admin.is_none() && self.cfg.raw.fleet.is_none() {
            self.error(Kind::Missing, "admin", "the `admin` section needs `listen.admin`");
        }
        if l.admin.is_some() && self.cfg.raw.admin.is_none() {
            self.error(
                Kind::Missing,
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
                    Kind::Duplicate,
                    &format!("listen.{field}"),
                    format!("`{a}` is also listen.{other}: each listener needs its own port"),
                );
            }
            bound.push((field, a));
        }
        Some(settings)
    }

    /// `listen.*_timeout_ms` and `listen.max_request_header_bytes`, checked for range.
    pub(super) fn conn_limits(&mut self, l: &crate::config::Listen) -> crate::snapshot::ConnLimits {
        let d = crate::snapshot::ConnLimits::default();
        let mut ms = |key: &str, v: Option<u64>, default: Duration| match v {
            None => default,
            Some(0) => {
                self.error(Kind::Invalid, &format!("listen.{key}"), "must be at least 1");
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
                    Kind::Invalid,
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

/// Whether two listener addresses would take the same port (an unspecified address takes it
/// on every interface).
fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

impl Compiler<'_> {
    /// `listen.trusted_ingress`: its addresses and header names checked.
    pub(super) fn trusted_ingress(&mut self) -> Option<crate::snapshot::ingress::TrustedIngress> {
        use crate::snapshot::ingress::{parse_cidr, TrustedIngress};
        let t = self.cfg.raw.listen.trusted_ingress.as_ref()?;
        let base = "listen.trusted_ingress";
        if t.from.is_empty() {
            self.error(
                Kind::Invalid,
                &format!("{base}.from"),
                "list at least one address or CIDR",
            );
        }
        let mut from = Vec::new();
        for (i, s) in t.from.iter().enumerate() {
            match parse_cidr(s) {
                Ok(net) => from.push(net),
                Err(e) => self.error(Kind::Invalid, &format!("{base}.from[{i}]"), e),
            }
        }
        let mut name = |field: &str, v: &str| match http::HeaderName::from_bytes(v.trim().as_bytes()) {
            Ok(n) => Some(n),
            Err(_) => {
                self.error(
                    Kind::Invalid,
                    &format!("{base}.{field}"),
                    format!("`{v}` is not a header name"),
                );
                None
            }
        };
        let header = name(
            "header",
            t.header.as_deref().unwrap_or(TrustedIngress::default_header(t.format)),
        )?;
        let chain_header = match (&t.chain_header, t.format) {
            (Some(c), _) => Some(name("chain_header", c)?),
            (None, crate::config::ForwardedFormat::Rfc9440) => Some(http::HeaderName::from_static("client-cert-chain")),
            (None, _) => None,
        };
        if chain_header.as_ref() == Some(&header) {
            self.error(
                Kind::Invalid,
                &format!("{base}.chain_header"),
                "the chain header must differ from the certificate header",
            );
        }
        Some(TrustedIngress {
            from,
            format: t.format,
            header,
            chain_header,
        })
    }
}
