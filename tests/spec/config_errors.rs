//! Config errors: (name, yaml, path, line, message fragment, kind). Paths are relative to a temp
//! dir holding a valid server certificate (`server.crt`/`server.key`), a client
//! certificate (`client.crt`), a corrupt PEM (`bad.pem`) and a key that matches nothing
//! (`other.key`).

use std::path::Path;

use certgate::config::{parse_str, ConfigErrorKind as Kind};
use certgate::pki::Spec;
use certgate::snapshot::compile;

const HEAD: &str = "listen:\n  https: \"127.0.0.1:8443\"\ntls:\n  certificate: server.crt\n  key: server.key\n";

struct Case {
    name: &'static str,
    body: &'static str,
    path: &'static str,
    line: usize,
    fragment: &'static str,
    kind: Kind,
}

const CASES: &[Case] = &[
    Case {
        name: "unknown key",
        body: "apis:\n  - name: a\n    listen_path: /\n    upstrem: {url: http://x}\n",
        path: "apis[0].upstrem",
        line: 9,
        fragment: "unknown field `upstrem`", kind: Kind::Schema,
    },
    Case { name: "bad type", body: "tokens: 3\n", path: "tokens", line: 6, fragment: "invalid type", kind: Kind::Schema },
    Case {
        name: "bad enum",
        body: "apis:\n  - name: a\n    listen_path: /\n    auth: {type: tokn}\n    upstream: {url: http://x}\n",
        path: "apis[0].auth.type",
        line: 9,
        fragment: "unknown variant `tokn`", kind: Kind::Schema,
    },
    Case {
        name: "token names an unknown API",
        body: "tokens:\n  - token: t\n    apis: [nope]\n",
        path: "tokens[0].apis[0]",
        line: 8,
        fragment: "unknown API `nope`", kind: Kind::UnknownName,
    },
    Case {
        name: "certificate ID not in the store",
        body: "apis:\n  - name: a\n    listen_path: /\n    auth:\n      mutual_tls: true\n      client_certificates: [00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff]\n    upstream: {url: http://x}\n",
        path: "apis[0].auth.client_certificates[0]",
        line: 11,
        fragment: "is not in the certificate store", kind: Kind::UnknownName,
    },
    Case {
        name: "missing certificate file",
        body: "security:\n  client_certificates:\n    - missing.pem\n",
        path: "security.client_certificates[0]",
        line: 8,
        fragment: "missing.pem: file not found", kind: Kind::File,
    },
    Case {
        name: "malformed certificate names its file",
        body: "security:\n  client_certificates: [bad.pem]\n",
        path: "security.client_certificates[0]",
        line: 7,
        fragment: "bad.pem", kind: Kind::Certificate,
    },
    Case {
        name: "server key does not match",
        body: "tls:\n  certificate: server.crt\n  key: other.key\n",
        path: "tls.key",
        line: 0,
        fragment: "does not match", kind: Kind::Certificate,
    },
    Case {
        name: "duplicate API name",
        body: "apis:\n  - name: a\n    listen_path: /a/\n    upstream: {url: http://x}\n  - name: a\n    listen_path: /b/\n    upstream: {url: http://x}\n",
        path: "apis[1].name",
        line: 10,
        fragment: "duplicate API name `a`", kind: Kind::Duplicate,
    },
    Case {
        name: "two APIs on one host and path",
        body: "apis:\n  - name: a\n    listen_path: /a/\n    upstream: {url: http://x}\n  - name: b\n    listen_path: /a/\n    upstream: {url: http://x}\n",
        path: "apis[1].listen_path",
        line: 11,
        fragment: "already serves", kind: Kind::Duplicate,
    },
    Case {
        name: "bad upstream URL",
        body: "apis:\n  - name: a\n    listen_path: /\n    upstream: {url: \"ftp://x\"}\n",
        path: "apis[0].upstream.url",
        line: 9,
        fragment: "scheme must be http or https", kind: Kind::Invalid,
    },
    Case {
        name: "HS256 without a secret",
        body: "apis:\n  - name: a\n    listen_path: /\n    auth:\n      type: jwt\n      jwt: {algorithms: [HS256], public_key: client.crt}\n    upstream: {url: http://x}\n",
        path: "apis[0].auth.jwt.algorithms[0]",
        line: 11,
        fragment: "needs `secret`", kind: Kind::Missing,
    },
    Case {
        name: "unknown key-exchange group",
        body: "  groups: [X25519, X448MLKEM]\n",
        path: "tls.groups[1]",
        line: 6,
        fragment: "unknown key-exchange group `X448MLKEM`", kind: Kind::UnknownName,
    },
    Case {
        name: "unknown TLS 1.3 cipher suite",
        body: "  ciphersuites: [TLS_AES_128_GCM_SHA256, TLS_AES_512_GCM_SHA512]\n",
        path: "tls.ciphersuites[1]",
        line: 6,
        fragment: "unknown TLS 1.3 cipher suite `TLS_AES_512_GCM_SHA512`", kind: Kind::UnknownName,
    },
    Case {
        name: "a TLS 1.2 cipher name is not a TLS 1.3 suite",
        body: "  ciphersuites: [ECDHE-ECDSA-AES128-GCM-SHA256]\n",
        path: "tls.ciphersuites[0]",
        line: 6,
        fragment: "unknown TLS 1.3 cipher suite", kind: Kind::UnknownName,
    },
    Case {
        name: "an alternate identity needs another key type",
        body: "  alternate: {certificate: server.crt, key: server.key}\n",
        path: "tls.alternate.certificate",
        line: 6,
        fragment: "has the same key type (ECDSA) as tls.certificate", kind: Kind::Invalid,
    },
    Case {
        name: "an alternate identity's key must match its certificate",
        body: "  alternate: {certificate: server.crt, key: other.key}\n",
        path: "tls.alternate.key",
        line: 6,
        fragment: "the key does not match the certificate", kind: Kind::Certificate,
    },
    Case {
        name: "an SNI entry's alternate is checked the same way",
        body: "  sni:\n    - hosts: [a.example]\n      certificate: server.crt\n      key: server.key\n      alternate: {certificate: server.crt, key: server.key}\n",
        path: "tls.sni[0].alternate.certificate",
        line: 10,
        fragment: "as tls.sni[0].certificate", kind: Kind::Invalid,
    },
    Case {
        name: "duplicate domain in a pin map",
        body: "security:\n  pinned_public_keys:\n    a.example.com: client.crt\n    b.example.com: client.crt\n    a.example.com: client.crt\n",
        path: "security.pinned_public_keys.a.example.com",
        line: 10,
        fragment: "duplicate key `a.example.com` (first at line 8)", kind: Kind::Syntax,
    },
    Case {
        name: "duplicate domain in a certificate map",
        body: "security:\n  upstream_certificates:\n    \"*\": server.crt\n    \"*\": server.crt\n",
        path: "security.upstream_certificates.*",
        line: 9,
        fragment: "duplicate key `*` (first at line 8)", kind: Kind::Syntax,
    },
    Case {
        name: "duplicate top-level key",
        body: "listen:\n  http: \"127.0.0.1:8080\"\n",
        path: "listen",
        line: 6,
        fragment: "duplicate key `listen` (first at line 1)", kind: Kind::Syntax,
    },
    Case {
        name: "admin listener without an admin section",
        body: "@listen  admin: \"127.0.0.1:9000\"\n",
        path: "listen.admin",
        line: 3,
        fragment: "needs an `admin` section", kind: Kind::Missing,
    },
    Case {
        name: "two listeners on one port",
        body: "@listen  metrics: \"0.0.0.0:8443\"\n",
        path: "listen.metrics",
        line: 3,
        fragment: "is also listen.https", kind: Kind::Duplicate,
    },
    Case {
        name: "a host pattern with a port",
        body: "apis:\n  - name: a\n    hosts: [api.example.com:8443]\n    listen_path: /\n    upstream: {url: http://x}\n",
        path: "apis[0].hosts[0]",
        line: 8,
        fragment: "has a port", kind: Kind::Invalid,
    },
    Case {
        name: "a bare public key in an allow list",
        body: "apis:\n  - name: a\n    listen_path: /\n    auth: {mutual_tls: true, client_certificates: [client.pub]}\n    upstream: {url: http://x}\n",
        path: "apis[0].auth.client_certificates[0]",
        line: 9,
        fragment: "is a bare public key", kind: Kind::Invalid,
    },
    Case {
        name: "an upstream port out of range",
        body: "apis:\n  - name: a\n    listen_path: /\n    upstream: {url: \"http://x:99999\"}\n",
        path: "apis[0].upstream.url",
        line: 9,
        fragment: "between 1 and 65535", kind: Kind::Invalid,
    },
    Case {
        name: "a listen path that is not normalised",
        body: "apis:\n  - name: a\n    listen_path: /a/../b/\n    upstream: {url: http://x}\n",
        path: "apis[0].listen_path",
        line: 8,
        fragment: "write `/b/`", kind: Kind::Invalid,
    },
    Case {
        name: "a listen path with parameters",
        body: "apis:\n  - name: a\n    listen_path: /a;v=1/\n    upstream: {url: http://x}\n",
        path: "apis[0].listen_path",
        line: 8,
        fragment: "must not contain", kind: Kind::Invalid,
    },
    Case {
        name: "an upstream base path that climbs",
        body: "apis:\n  - name: a\n    listen_path: /\n    upstream: {url: \"http://x/base/../other\"}\n",
        path: "apis[0].upstream.url",
        line: 9,
        fragment: "normalised path", kind: Kind::Invalid,
    },
    Case {
        name: "two SNI entries for one host",
        body: "  sni:\n    - hosts: [a.example]\n      certificate: server.crt\n      key: server.key\n    - hosts: [b.example, A.example]\n      certificate: server.crt\n      key: server.key\n",
        path: "tls.sni[1].hosts[1]",
        line: 10,
        fragment: "is also tls.sni[0].hosts[0]", kind: Kind::Duplicate,
    },
    Case {
        name: "a zero timeout",
        body: "@listen  header_timeout_ms: 0\n",
        path: "listen.header_timeout_ms",
        line: 3,
        fragment: "must be at least 1", kind: Kind::Invalid,
    },
    Case {
        name: "bad expiry",
        body: "apis:\n  - name: a\n    listen_path: /\n    auth: {type: token}\n    upstream: {url: http://x}\ntokens:\n  - token: t\n    apis: [a]\n    expires_at: tomorrow\n",
        path: "tokens[0].expires_at",
        line: 14,
        fragment: "RFC 3339", kind: Kind::Invalid,
    },
    Case {
        name: "a fleet without an admin section",
        body: "fleet:\n  redis_url: redis://127.0.0.1:6379\n",
        path: "fleet",
        line: 6,
        fragment: "needs an `admin` section",
        kind: Kind::Missing,
    },
    Case {
        name: "a fleet URL that is not Redis",
        body: "admin: {}\nfleet:\n  redis_url: http://127.0.0.1:6379\n",
        path: "fleet.redis_url",
        line: 8,
        fragment: "must start with redis://",
        kind: Kind::Invalid,
    },
    Case {
        name: "a fleet name that cannot be a key",
        body: "admin: {}\nfleet:\n  redis_url: redis://127.0.0.1:6379\n  name: \"a}b\"\n",
        path: "fleet.name",
        line: 9,
        fragment: "letters, digits",
        kind: Kind::Invalid,
    },
    Case {
        name: "fleet TLS settings on a plain URL",
        body: "admin: {}\nfleet:\n  redis_url: redis://127.0.0.1:6379\n  tls: {ca: client.crt}\n",
        path: "fleet.tls",
        line: 9,
        fragment: "need a rediss:// URL",
        kind: Kind::Conflict,
    },
    Case {
        name: "a fleet client certificate without its key",
        body: "admin: {}\nfleet:\n  redis_url: rediss://127.0.0.1:6379\n  tls: {certificate: client.crt}\n",
        path: "fleet.tls.certificate",
        line: 9,
        fragment: "needs its private key",
        kind: Kind::Certificate,
    },
    Case {
        name: "a CRL file that is missing",
        body: "security:\n  revocation:\n    crls: [nope.crl]\n",
        path: "security.revocation.crls[0]",
        line: 8,
        fragment: "nope.crl",
        kind: Kind::File,
    },
    Case {
        name: "a CRL file that is no CRL",
        body: "security:\n  revocation:\n    crls: [bad.pem]\n",
        path: "security.revocation.crls[0]",
        line: 8,
        fragment: "bad.pem",
        kind: Kind::Certificate,
    },
    Case {
        name: "an unknown stale_crl policy",
        body: "security:\n  revocation:\n    stale_crl: maybe\n",
        path: "security.revocation.stale_crl",
        line: 8,
        fragment: "unknown variant `maybe`",
        kind: Kind::Schema,
    },
    Case {
        name: "an unknown OCSP mode",
        body: "security:\n  revocation:\n    ocsp: always\n",
        path: "security.revocation.ocsp",
        line: 8,
        fragment: "expected one of `off`, `leaf`, `leaf_strict`",
        kind: Kind::Schema,
    },
    Case {
        name: "an OCSP timeout of zero",
        body: "security:\n  revocation:\n    ocsp_timeout_ms: 0\n",
        path: "security.revocation.ocsp_timeout_ms",
        line: 8,
        fragment: "between 1 and 60000",
        kind: Kind::Invalid,
    },
    Case {
        name: "h2 to an http:// target",
        body: "apis:\n  - name: a\n    listen_path: /\n    upstream: {url: \"http://x\", protocol: h2}\n",
        path: "apis[0].upstream.protocol",
        line: 9,
        fragment: "every target must be https://",
        kind: Kind::Invalid,
    },
    Case {
        name: "h2c to an https:// target",
        body: "apis:\n  - name: a\n    listen_path: /\n    upstream: {url: \"https://x\", protocol: h2c}\n",
        path: "apis[0].upstream.protocol",
        line: 9,
        fragment: "h2c is HTTP/2 in the clear",
        kind: Kind::Invalid,
    },
    Case {
        name: "an unknown upstream protocol",
        body: "apis:\n  - name: a\n    listen_path: /\n    upstream: {url: \"http://x\", protocol: h3}\n",
        path: "apis[0].upstream.protocol",
        line: 9,
        fragment: "unknown variant `h3`",
        kind: Kind::Schema,
    },
    Case {
        name: "zero upstream h2 streams",
        body: "apis:\n  - name: a\n    listen_path: /\n    upstream: {url: \"https://x\", protocol: h2, h2_max_streams: 0}\n",
        path: "apis[0].upstream.h2_max_streams",
        line: 9,
        fragment: "between 1 and 1000",
        kind: Kind::Invalid,
    },
    Case {
        name: "per-API OCSP on an API that decides no certificate",
        body: "apis:\n  - name: a\n    listen_path: /\n    auth: {revocation: {ocsp: leaf}}\n    upstream: {url: http://x}\n",
        path: "apis[0].auth.revocation.ocsp",
        line: 9,
        fragment: "OCSP would never run",
        kind: Kind::Invalid,
    },
];

fn setup(dir: &Path) {
    let ca = Spec::ca("ca").issue(None);
    Spec::server("localhost", &["localhost"])
        .issue(Some(&ca))
        .write(dir, "server");
    std::fs::write(dir.join("client.crt"), Spec::client("c").issue(Some(&ca)).cert_pem()).unwrap();
    std::fs::write(
        dir.join("bad.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(dir.join("other.key"), Spec::client("o").issue(None).key_pem()).unwrap();
    let bare = Spec::client("bare").issue(None);
    std::fs::write(dir.join("client.pub"), bare.key.public_key_to_pem().unwrap()).unwrap();
}

fn errors_of(dir: &Path, text: &str) -> Vec<certgate::config::ConfigError> {
    let file = dir.join("certgate.yaml");
    match parse_str(text, &file) {
        Err(e) => e.0,
        Ok(loaded) => match compile(&loaded, 1) {
            Err(e) => e.0,
            Ok(_) => Vec::new(),
        },
    }
}

#[test]
fn every_error_names_file_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let mut failures = Vec::new();
    for c in CASES {
        // A case whose body replaces `tls:` drops the default one.
        let text = if c.body.starts_with("tls:") {
            format!("listen:\n  https: \"127.0.0.1:8443\"\n{}", c.body)
        } else if let Some(listen) = c.body.strip_prefix("@listen") {
            // Lines added to `listen:` (they become line 3).
            HEAD.replacen("\ntls:", &format!("\n{listen}tls:"), 1)
        } else {
            format!("{HEAD}{}", c.body)
        };
        let errs = errors_of(dir.path(), &text);
        let Some(e) = errs.iter().find(|e| e.path == c.path) else {
            failures.push(format!(
                "{}: no error at {} (got {:?})",
                c.name,
                c.path,
                errs.iter().map(|e| e.to_string()).collect::<Vec<_>>()
            ));
            continue;
        };
        let shown = e.to_string();
        let want_line = if c.line == 0 {
            text.lines()
                .position(|l| l.trim_start().starts_with(c.path.rsplit('.').next().unwrap()) && l.contains("other.key"))
                .map(|i| i + 1)
        } else {
            Some(c.line)
        };
        if e.line != want_line {
            failures.push(format!("{}: line {:?}, want {:?} ({shown})", c.name, e.line, want_line));
        }
        if e.kind != c.kind {
            failures.push(format!("{}: kind {:?}, want {:?} ({shown})", c.name, e.kind, c.kind));
        }
        if !shown.contains(c.fragment) {
            failures.push(format!("{}: message {shown:?} lacks {:?}", c.name, c.fragment));
        }
        if !shown.contains("certgate.yaml line") {
            failures.push(format!("{}: message {shown:?} does not name the file and line", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_errors_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let text = format!(
        "{HEAD}security:\n  client_certificates: [missing.pem, bad.pem]\ntokens:\n  - token: t\n    apis: [nope]\napis:\n  - name: a\n    listen_path: nope\n    upstream: {{url: http://x}}\n"
    );
    let errs = errors_of(dir.path(), &text);
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "security.client_certificates[0]",
        "security.client_certificates[1]",
        "tokens[0].apis[0]",
        "apis[0].listen_path",
    ] {
        assert!(paths.contains(&want), "missing {want} in {paths:?}");
    }
}

#[test]
fn a_valid_config_compiles() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let text = format!("{HEAD}apis:\n  - name: a\n    listen_path: /\n    upstream: {{url: http://x}}\n");
    assert!(errors_of(dir.path(), &text).is_empty());
}
