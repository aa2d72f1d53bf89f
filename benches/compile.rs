//! Building a snapshot (what every reload does) with 100,000 certificates in the store
//! directory, 100,000 tokens and 1,000 APIs.
//!
//! Run: `cargo bench --bench compile`. Two cases: a full reload (parse YAML, read and parse
//! every store file, compile) and a reload where the store files are unchanged since the
//! last load (certgate reuses what it parsed).

#![allow(missing_docs)]

use std::fmt::Write;

use certgate::certs::PemCache;
use certgate::config::load;
use certgate::pki::{bulk_leaves, Spec};
use certgate::snapshot::compile_with;
use criterion::{criterion_group, criterion_main, Criterion};

const CERTS: usize = 100_000;
const TOKENS: usize = 100_000;
const APIS: usize = 1_000;

fn setup(dir: &std::path::Path) -> std::path::PathBuf {
    let ca = Spec::ca("bench CA").issue(None);
    Spec::server("localhost", &["localhost"])
        .issue(Some(&ca))
        .write(dir, "server");
    std::fs::write(dir.join("ca.crt"), ca.cert_pem()).unwrap();
    let store = dir.join("certs");
    std::fs::create_dir_all(&store).unwrap();
    eprintln!("writing {CERTS} certificates…");
    let leaves = bulk_leaves(&ca, CERTS);
    let mut ids = Vec::with_capacity(CERTS);
    for (i, c) in leaves.iter().enumerate() {
        std::fs::write(store.join(format!("{i:06}.pem")), c.to_pem().unwrap()).unwrap();
        ids.push(hex::encode(c.digest(openssl::hash::MessageDigest::sha256()).unwrap()));
    }
    let mut y = String::from("listen:\n  https: \"127.0.0.1:1\"\ntls:\n  certificate: server.crt\n  key: server.key\ncertificate_store:\n  dir: certs\napis:\n");
    for a in 0..APIS {
        // Each API allow-lists 100 leaves by ID and the CA.
        let allow: Vec<&str> = (0..100).map(|k| ids[(a * 100 + k) % CERTS].as_str()).collect();
        writeln!(
            y,
            "  - name: api{a}\n    listen_path: /api{a}/\n    auth:\n      type: token\n      mutual_tls: true\n      client_certificates: [ca.crt, {}]\n    upstream: {{url: \"https://api{a}.internal:8443\"}}",
            allow.join(", ")
        )
        .unwrap();
    }
    y.push_str("tokens:\n");
    for t in 0..TOKENS {
        let hash = hex::encode(certgate::certs::sha256(format!("token-{t}").as_bytes()));
        writeln!(
            y,
            "  - token_sha256: {hash}\n    apis: [api{}, api{}]",
            t % APIS,
            (t * 7) % APIS
        )
        .unwrap();
    }
    let cfg = dir.join("certgate.yaml");
    std::fs::write(&cfg, y).unwrap();
    cfg
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path());
    let cache = PemCache::default();
    let snap = compile_with(&load(&cfg).unwrap(), 1, &cache, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (snap.stats.apis, snap.stats.tokens, snap.stats.store_certificates),
        (APIS, TOKENS, CERTS)
    );
    let mut g = c.benchmark_group("compile");
    g.sample_size(10);
    g.bench_function(
        "reload, store files unchanged (100k certs, 100k tokens, 1k APIs)",
        |b| b.iter(|| compile_with(&load(&cfg).unwrap(), 2, &cache, &Default::default()).unwrap()),
    );
    g.bench_function("cold load, every store file parsed", |b| {
        b.iter(|| compile_with(&load(&cfg).unwrap(), 2, &PemCache::default(), &Default::default()).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
