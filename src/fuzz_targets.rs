//! Entry points for fuzzing: each takes arbitrary bytes and drives one parser the way the
//! gateway does. `fuzz/` (cargo-fuzz, nightly only) calls them in a loop; the `fuzz_seeds`
//! spec test replays the committed corpus through them on stable Rust, so a crash found once
//! stays fixed. None of them may panic, whatever the input; a few check invariants and panic
//! on purpose when one breaks.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use pingora::http::RequestHeader;

use crate::admin::{AdminRequest, ControlPlane};
use crate::certs::{parse_pem, FileSet, Files};
use crate::config::{parse_str, JwtConf};
use crate::policy::downstream::{jwt, route};
use crate::request::{canonicalize, path};
use crate::snapshot::jwt::{parse_jwks, JwtVerifier};
use crate::snapshot::{compile_from, Overlay, Snapshot};

/// The config loader: YAML text through parsing and the whole compile, with no file on disk
/// (every file a config names reads as missing).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(loaded) = parse_str(text, Path::new("/fuzz/certgate.yaml")) else {
        return;
    };
    let files = FileSet::default();
    let _ = compile_from(&loaded, 1, &Files::replay(&files), &Overlay::default());
}

/// PEM parsing as the certificate store and the admin upload do it.
pub fn pem(data: &[u8]) {
    if let Ok(c) = parse_pem(data, Path::new("fuzz.pem")) {
        // What the store and the admin API then read from it.
        let _ = (c.describe(), c.leaf().map(|l| l.to_der()), c.meta.valid_at(0));
    }
}

/// JWT verification against an HS256 and an ES256 verifier, and JWKS parsing.
pub fn jwt(data: &[u8]) {
    let (hs, es) = verifiers();
    let _ = jwt::verify(hs, data, 1_700_000_000);
    let _ = jwt::verify(es, data, 1_700_000_000);
    let _ = parse_jwks(data);
}

/// The request target: arbitrary bytes split into method, target and Host, through
/// Pingora's parser and [`canonicalize`], then routing. Checks that a canonical path is a
/// fixed point of normalisation and never climbs.
pub fn request_target(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let host = parts.next();
    let Ok(method) = std::str::from_utf8(method) else {
        return;
    };
    let Ok(mut req) = RequestHeader::build(method, target, None) else {
        return;
    };
    if let Some(h) = host {
        if let Ok(v) = http::HeaderValue::from_bytes(h) {
            req.append_header(http::header::HOST, v).expect("a valid header value");
        }
    }
    let Ok(canonical) = canonicalize(&mut req) else { return };
    let p = req.uri.path();
    if p != "*" {
        assert_eq!(
            path::normalize(p).as_deref(),
            Ok(p),
            "a canonical path is its own normal form"
        );
        assert!(
            !p.split('/').any(|s| s == ".." || s == "."),
            "dot segments left in {p:?}"
        );
    }
    let _ = route(
        snapshot(),
        crate::proxy::request_host(&req),
        p,
        canonical.param_reading.as_deref(),
    );
}

/// Admin API calls: the first line is `METHOD /path?query`, the rest the body, against an
/// in-memory control plane (a SQLite store in a temporary directory).
pub fn admin(data: &[u8]) {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(line) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let (method, target) = line.split_once(' ').unwrap_or(("POST", line));
    let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };
    let body = data.get(split + 1..).unwrap_or_default().to_vec();
    let _ = control_plane().handle(&AdminRequest {
        method,
        path,
        query,
        body,
    });
}

fn verifiers() -> &'static (JwtVerifier, JwtVerifier) {
    static V: OnceLock<(JwtVerifier, JwtVerifier)> = OnceLock::new();
    V.get_or_init(|| {
        let hs: JwtConf =
            serde_yaml_ng::from_str("algorithms: [HS256]\nsecret: a-fuzzing-secret-long-enough\n").expect("conf");
        let key = crate::pki::Spec::client("fuzz").issue(None).key;
        let pem = key.public_key_to_pem().expect("pem");
        let es: JwtConf = serde_yaml_ng::from_str("algorithms: [ES256]\npublic_key: es.pub\n").expect("conf");
        let read = |_: &str| Ok((pem.clone(), "es.pub".into()));
        (
            JwtVerifier::compile(&hs, &read).expect("HS256 verifier"),
            JwtVerifier::compile(&es, &read).expect("ES256 verifier"),
        )
    })
}

fn snapshot() -> &'static Snapshot {
    static S: OnceLock<Snapshot> = OnceLock::new();
    S.get_or_init(|| {
        let yaml = "listen:\n  http: \"127.0.0.1:1\"\napis:\n  - name: open\n    listen_path: /open/\n    upstream: {url: \"http://127.0.0.1:1\"}\n  - name: pay\n    hosts: [api.example.com, \"*.example.org\"]\n    listen_path: /pay\n    strip_listen_path: true\n    upstream: {url: \"http://127.0.0.1:1/base\"}\n";
        let loaded = parse_str(yaml, Path::new("/fuzz/certgate.yaml")).expect("fuzz config");
        compile_from(&loaded, 1, &Files::replay(&FileSet::default()), &Overlay::default()).expect("fuzz snapshot")
    })
}

fn control_plane() -> &'static ControlPlane {
    static CP: OnceLock<(Arc<ControlPlane>, tempfile_dir::Dir)> = OnceLock::new();
    &CP.get_or_init(|| {
        let dir = tempfile_dir::Dir::new();
        let yaml = format!(
            "listen:\n  http: \"127.0.0.1:1\"\n  admin: \"127.0.0.1:2\"\nadmin:\n  data_dir: {}\napis:\n  - name: orders\n    listen_path: /orders/\n    auth: {{type: token, mutual_tls: true}}\n    upstream: {{url: \"http://127.0.0.1:1\"}}\n",
            dir.path.display()
        );
        let loaded = parse_str(&yaml, Path::new("/fuzz/certgate.yaml")).expect("fuzz config");
        let env = |name: &str| match name {
            "CERTGATE_ADMIN_KEY" => Some("a-fuzzing-admin-key-0123456789".to_string()),
            "CERTGATE_SECRET" => Some("a-fuzzing-secret-0123456789".to_string()),
            _ => None,
        };
        (Arc::new(ControlPlane::open(&loaded, &env).expect("control plane")), dir)
    })
    .0
}

/// A directory under the system temp dir for this process. It lives in a static, which is
/// never dropped, so each new one first removes those of processes that have exited.
mod tempfile_dir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }

    impl Dir {
        pub fn new() -> Dir {
            const PREFIX: &str = "certgate-fuzz-";
            let tmp = std::env::temp_dir();
            for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
                let name = entry.file_name();
                let pid = name.to_str().and_then(|n| n.strip_prefix(PREFIX));
                if pid.is_some_and(|p| p.parse::<u32>().is_ok() && !std::path::Path::new("/proc").join(p).exists()) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
            let path = tmp.join(format!("{PREFIX}{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir { path }
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
