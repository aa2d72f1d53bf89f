//! The upstream side of one proxied request, after the decision: the Pingora peer for the
//! routed target (an https target with a client certificate and pins, its address cached)
//! and the rewritten upstream URI (listen path stripped, base path prepended).
//!
//! Run: `cargo bench --bench upstream`.

#![allow(missing_docs)]

use std::time::Duration;

use certgate::config::parse_str;
use certgate::pki::Spec;
use certgate::proxy::resolve::Resolver;
use certgate::proxy::upstream::peer_for;
use certgate::proxy::upstream_uri;
use certgate::snapshot::compile;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pingora::http::RequestHeader;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Spec::ca("bench CA").issue(None);
    Spec::server("localhost", &["localhost"])
        .issue(Some(&ca))
        .write(dir.path(), "server");
    std::fs::write(dir.path().join("ca.crt"), ca.cert_pem()).unwrap();
    Spec::client("gateway")
        .issue(Some(&ca))
        .write_combined(dir.path(), "gateway");
    let yaml = "listen:\n  https: \"127.0.0.1:1\"\ntls:\n  certificate: server.crt\n  key: server.key\nsecurity:\n  upstream_ca: ca.crt\n  upstream_certificates: {\"*\": gateway.pem}\n  pinned_public_keys: {\"*\": ca.crt}\napis:\n  - name: payments\n    listen_path: /payments/\n    strip_listen_path: true\n    upstream: {url: \"https://127.0.0.1:9443/v2\"}\n";
    let loaded = parse_str(yaml, &dir.path().join("bench.yaml")).unwrap();
    let snap = compile(&loaded, 1).unwrap_or_else(|e| panic!("{e}"));
    let api = snap.api(snap.api_by_name("payments").unwrap().index);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let resolver = Resolver::new(Duration::from_secs(3600));
    let peer = rt.block_on(peer_for(api, 0, 0, &resolver)).unwrap().0;
    assert!(peer.client_cert_key.is_some() && peer.options.upstream_tls_handshake_complete_hook.is_some());
    let req = RequestHeader::build("GET", b"/payments/charges/42?expand=customer", None).unwrap();
    let uri = upstream_uri(api, &api.upstream.targets[0], &req).unwrap().unwrap();
    assert_eq!(uri, "/v2/charges/42?expand=customer");

    let mut g = c.benchmark_group("upstream");
    g.bench_function(
        "peer for an https target (client certificate, pins, cached address)",
        |b| b.iter(|| black_box(rt.block_on(peer_for(black_box(api), 0, 0, &resolver)).unwrap())),
    );
    g.bench_function("upstream URI (strip listen path, prepend base path, keep query)", |b| {
        b.iter(|| black_box(upstream_uri(api, &api.upstream.targets[0], black_box(&req))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
