//! A reload under `perf record`: builds the compile bench's world once in `/tmp/prof` (1,000
//! APIs with 100 allow-list entries each, 100,000 tokens, 100,000 certificates in the store
//! directory), then loads and compiles it eight times, printing how long each step took.
//!
//! Run: `cargo run --release --example profile_compile` (under `perf record -g` to profile).

#![allow(missing_docs)]
use certgate::pki::{bulk_leaves, Spec};
use std::fmt::Write;
use std::time::Instant;
fn main() {
    let dir = std::path::Path::new("/tmp/prof");
    let n: usize = 100_000;
    if !dir.join("certgate.yaml").exists() {
        let ca = Spec::ca("bench CA").issue(None);
        Spec::server("localhost", &["localhost"])
            .issue(Some(&ca))
            .write(dir, "server");
        std::fs::write(dir.join("ca.crt"), ca.cert_pem()).unwrap();
        let store = dir.join("certs");
        std::fs::create_dir_all(&store).unwrap();
        let leaves = bulk_leaves(&ca, n);
        let mut ids = Vec::new();
        for (i, c) in leaves.iter().enumerate() {
            std::fs::write(store.join(format!("{i:06}.pem")), c.to_pem().unwrap()).unwrap();
            ids.push(hex::encode(c.digest(openssl::hash::MessageDigest::sha256()).unwrap()));
        }
        let mut y = String::from("listen:\n  https: \"127.0.0.1:1\"\ntls:\n  certificate: server.crt\n  key: server.key\ncertificate_store:\n  dir: certs\napis:\n");
        for a in 0..1000 {
            let allow: Vec<&str> = (0..100).map(|k| ids[(a * 100 + k) % n].as_str()).collect();
            writeln!(y, "  - name: api{a}\n    listen_path: /api{a}/\n    auth:\n      type: token\n      mutual_tls: true\n      client_certificates: [ca.crt, {}]\n    upstream: {{url: \"https://api{a}.internal:8443\"}}", allow.join(", ")).unwrap();
        }
        y.push_str("tokens:\n");
        for t in 0..100_000 {
            let hash = hex::encode(certgate::certs::sha256(format!("token-{t}").as_bytes()));
            writeln!(
                y,
                "  - token_sha256: {hash}\n    apis: [api{}, api{}]",
                t % 1000,
                (t * 7) % 1000
            )
            .unwrap();
        }
        std::fs::write(dir.join("certgate.yaml"), y).unwrap();
    }
    let cfg = dir.join("certgate.yaml");
    let cache = certgate::certs::PemCache::default();
    for round in 0..8 {
        let t = Instant::now();
        let loaded = certgate::config::load(&cfg).unwrap();
        let t_load = t.elapsed();
        let t = Instant::now();
        let snap = certgate::snapshot::compile_with(&loaded, 1, &cache, &Default::default()).unwrap();
        let t_compile = t.elapsed();
        let t = Instant::now();
        let (st, _, _) =
            certgate::certs::CertStore::load_dir(&dir.join("certs"), &certgate::certs::Files::disk(&cache));
        println!("  store load_dir warm {:?} ({} certs)", t.elapsed(), st.len());
        println!(
            "round {round}: load {t_load:?} compile {t_compile:?} apis {}",
            snap.stats.apis
        );
    }
}
