//! SPEC §10 costs: loading a 100,000-entry CRL, and what the revocation check adds to one
//! request's decision once a connection's verdict is cached.
//!
//! Run: `cargo bench --bench revocation`. Targets (issue 14): load < 200 ms; < 200 ns added
//! per request.

#![allow(missing_docs)]

use certgate::certs::crl::parse_crls;
use certgate::clock::now_unix;
use certgate::config::parse_str;
use certgate::pki::{crl_of_serials, Spec};
use certgate::policy::downstream::{authorize, RequestView};
use certgate::policy::PeerCert;
use certgate::snapshot::{compile, Snapshot};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::HeaderMap;
use openssl::bn::BigNum;

const ENTRIES: u32 = 100_000;

fn snapshot(dir: &std::path::Path, with_crl: bool) -> Snapshot {
    let revocation = if with_crl {
        "security:\n  revocation:\n    crls: [ca.crl]\n"
    } else {
        ""
    };
    let yaml = format!(
        "listen:\n  https: \"127.0.0.1:1\"\ntls:\n  certificate: server.crt\n  key: server.key\n{revocation}apis:\n  - name: ca\n    listen_path: /ca/\n    auth: {{mutual_tls: true, client_certificates: [ca.crt]}}\n    upstream: {{url: \"http://127.0.0.1:1\"}}\n"
    );
    let loaded = parse_str(&yaml, &dir.join("bench.yaml")).unwrap();
    compile(&loaded, 1).unwrap_or_else(|e| panic!("{e}"))
}

fn decide(snap: &Snapshot, headers: &HeaderMap, peer: &PeerCert) -> bool {
    let api = snap.routes.find(None, "/ca/x").unwrap();
    let view = RequestView {
        headers,
        peer: Some(peer),
        now: now_unix(),
    };
    authorize(snap, snap.api(api), &view).is_ok()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Spec::ca("bench server CA").issue(None);
    Spec::server("localhost", &["localhost"])
        .issue(Some(&server_ca))
        .write(dir.path(), "server");
    let ca = Spec::ca("bench client CA").issue(None);
    std::fs::write(dir.path().join("ca.crt"), ca.cert_pem()).unwrap();
    eprintln!("building a CRL of {ENTRIES} entries…");
    // Serials from 2^40 up: never a random 64-bit serial of the issued client.
    let serials: Vec<BigNum> = (0..ENTRIES)
        .map(|i| BigNum::from_dec_str(&(1u64 << 40 | i as u64).to_string()).unwrap())
        .collect();
    let now = now_unix();
    let crl = crl_of_serials(&ca, &serials, now - 60, now + 86_400).unwrap();
    let der = crl.to_der().unwrap();
    std::fs::write(dir.path().join("ca.crl"), &der).unwrap();

    let with = snapshot(dir.path(), true);
    let without = snapshot(dir.path(), false);
    let client = Spec::client("bench client").issue(Some(&ca));
    let peer = PeerCert::new(client.cert.clone(), vec![]).unwrap();
    let headers = HeaderMap::new();
    assert!(decide(&with, &headers, &peer) && decide(&without, &headers, &peer));

    let mut g = c.benchmark_group("revocation");
    g.bench_function("decision, CA API, no CRL", |b| {
        b.iter(|| black_box(decide(&without, &headers, &peer)))
    });
    g.bench_function("decision, CA API, 100k-entry CRL (verdict cached)", |b| {
        b.iter(|| black_box(decide(&with, &headers, &peer)))
    });
    g.sample_size(10);
    g.bench_function("parse a 100k-entry CRL (DER)", |b| {
        b.iter(|| parse_crls(black_box(&der)).unwrap())
    });
    g.bench_function("compile a config with a 100k-entry CRL (parse + signature)", |b| {
        b.iter(|| snapshot(dir.path(), true))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
