//! The per-request downstream decision (route + allow list + credential + binding) on a
//! snapshot holding 100,000 allow-listed certificates and 1,000,000 tokens.
//!
//! Run: `cargo bench --bench decision`. Setup (certificate generation, compile) takes
//! about a minute; the measured loop is only the decision.

#![allow(missing_docs)]

use std::path::Path;
use std::sync::Arc;

use certgate::certs::{parse_pem, LoadedCert};
use certgate::clock::now_unix;
use certgate::config::parse_str;
use certgate::pki::{bulk_leaves, Spec};
use certgate::policy::downstream::{authorize, RequestView};
use certgate::policy::PeerCert;
use certgate::snapshot::{compile_with, Snapshot, TokenHash, TokenRecord, TokenTable};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::HeaderMap;

const ALLOWED: usize = 100_000;
const TOKENS: usize = 1_000_000;
const SECRET: &str = "bench-secret-that-is-long-enough";

struct World {
    snap: Snapshot,
    listed: PeerCert,
    ca_issued: PeerCert,
    token: String,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let ca = Spec::ca("bench CA").issue(None);
    let client_ca = Spec::ca("bench client CA").issue(None);
    Spec::server("localhost", &["localhost"])
        .issue(Some(&ca))
        .write(dir.path(), "server");
    std::fs::write(dir.path().join("client-ca.crt"), client_ca.cert_pem()).unwrap();
    eprintln!("generating {ALLOWED} certificates…");
    let leaves = bulk_leaves(&ca, ALLOWED);
    let store: Vec<Arc<LoadedCert>> = leaves
        .iter()
        .map(|c| Arc::new(parse_pem(&c.to_pem().unwrap(), Path::new("bench")).unwrap()))
        .collect();
    let ids: Vec<String> = store.iter().map(|c| c.id.to_hex()).collect();
    let yaml = format!(
        "listen:\n  https: \"127.0.0.1:1\"\ntls:\n  certificate: server.crt\n  key: server.key\napis:\n{}  - name: target\n    hosts: [api.example.com]\n    listen_path: /payments/\n    auth:\n      type: token\n      mutual_tls: true\n      client_certificates: [client-ca.crt, {}]\n    upstream: {{url: \"http://127.0.0.1:1\"}}\n  - name: jwt\n    listen_path: /jwt/\n    auth:\n      type: jwt\n      mutual_tls: true\n      client_certificates: [{}]\n      jwt: {{algorithms: [HS256], secret: {SECRET}, require_cnf: true}}\n    upstream: {{url: \"http://127.0.0.1:1\"}}\n",
        (0..50).map(|i| format!("  - name: other{i}\n    listen_path: /other{i}/\n    upstream: {{url: \"http://127.0.0.1:1\"}}\n")).collect::<String>(),
        ids.join(", "),
        ids[7],
    );
    let loaded = parse_str(&yaml, &dir.path().join("bench.yaml")).unwrap();
    eprintln!("compiling…");
    let mut snap = compile_with(
        &loaded,
        1,
        &Default::default(),
        &certgate::snapshot::Overlay {
            certificates: store,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("filling {TOKENS} tokens…");
    let target = snap.api_by_name("target").unwrap().index;
    let mut tokens = TokenTable::with_capacity(TOKENS);
    for i in 0..TOKENS {
        let record = TokenRecord {
            apis: vec![target].into(),
            binding: certgate::snapshot::Binding::Unbound,
            certificate: None,
            expires_at: None,
        };
        tokens.insert(TokenHash::of(format!("token-{i}").as_bytes()), record);
    }
    std::sync::Arc::get_mut(&mut snap.compiled)
        .expect("not shared yet")
        .tokens = tokens;
    let listed = PeerCert::new(leaves[7].clone(), vec![]).unwrap();
    let issued = Spec::client("issued by the client CA").issue(Some(&client_ca));
    let ca_issued = PeerCert::new(issued.cert.clone(), vec![]).unwrap();
    World {
        snap,
        listed,
        ca_issued,
        token: format!("Bearer token-{}", TOKENS / 2),
    }
}

fn decide(snap: &Snapshot, host: &str, path: &str, headers: &HeaderMap, peer: &PeerCert) -> bool {
    let Some(api) = snap.routes.find(Some(host), path) else {
        return false;
    };
    let view = RequestView {
        headers,
        peer: Some(peer),
        now: now_unix(),
    };
    authorize(snap, snap.api(api), &view).is_ok()
}

fn bench(c: &mut Criterion) {
    let w = world();
    let mut headers = HeaderMap::new();
    headers.insert("authorization", w.token.parse().unwrap());
    assert!(decide(
        &w.snap,
        "api.example.com",
        "/payments/charge",
        &headers,
        &w.listed
    ));
    assert!(decide(
        &w.snap,
        "api.example.com",
        "/payments/charge",
        &headers,
        &w.ca_issued
    ));

    let mut g = c.benchmark_group("decision");
    g.bench_function("route+leaf allow list+token (100k certs, 1M tokens)", |b| {
        b.iter(|| {
            black_box(decide(
                &w.snap,
                black_box("api.example.com"),
                "/payments/charge",
                &headers,
                &w.listed,
            ))
        })
    });
    g.bench_function("route+CA chain (cached verdict)+token", |b| {
        b.iter(|| {
            black_box(decide(
                &w.snap,
                black_box("api.example.com"),
                "/payments/charge",
                &headers,
                &w.ca_issued,
            ))
        })
    });
    let mut bad = HeaderMap::new();
    bad.insert("authorization", "Bearer nope".parse().unwrap());
    g.bench_function("refusal: unknown token", |b| {
        b.iter(|| {
            black_box(decide(
                &w.snap,
                black_box("api.example.com"),
                "/payments/charge",
                &bad,
                &w.listed,
            ))
        })
    });
    let jwt = hs256_with_cnf(&w.listed.id.to_x5t_s256());
    let mut jh = HeaderMap::new();
    jh.insert("authorization", format!("Bearer {jwt}").parse().unwrap());
    assert!(decide(&w.snap, "x", "/jwt/a", &jh, &w.listed));
    g.bench_function("route+leaf+JWT HS256 with cnf binding", |b| {
        b.iter(|| black_box(decide(&w.snap, black_box("x"), "/jwt/a", &jh, &w.listed)))
    });
    g.finish();
}

fn hs256_with_cnf(x5t: &str) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let head = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64(format!(
        r#"{{"sub":"bench","exp":{},"cnf":{{"x5t#S256":"{x5t}"}}}}"#,
        now_unix() + 86400
    )
    .as_bytes());
    let key = openssl::pkey::PKey::hmac(SECRET.as_bytes()).unwrap();
    let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    s.update(format!("{head}.{body}").as_bytes()).unwrap();
    format!("{head}.{body}.{}", b64(&s.sign_to_vec().unwrap()))
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
