//! The hot lookups on their own: upstream domain map selection, token table lookup, and
//! JWT verification with RFC 8705 `cnf` binding (HS256 and ES256).
//!
//! Run: `cargo bench --bench lookups`.

#![allow(missing_docs)]

use certgate::clock::now_unix;
use certgate::config::parse_str;
use certgate::pki::Spec;
use certgate::policy::downstream::{binding, jwt};
use certgate::policy::PeerCert;
use certgate::snapshot::{compile, TokenHash, TokenRecord, TokenTable};
use certgate::snapshot::{select, DomainMap};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

const TOKENS: usize = 1_000_000;
const DOMAINS: usize = 10_000;
const SECRET: &str = "bench-secret-that-is-long-enough";

fn domain_maps() -> (DomainMap<u32>, DomainMap<u32>) {
    let mut gateway: Vec<(String, u32)> = (0..DOMAINS)
        .flat_map(|i| {
            [
                (format!("svc{i}.internal"), i as u32),
                (format!("svc{i}.internal:8443"), i as u32),
                (format!("*.zone{i}.example.com"), i as u32),
            ]
        })
        .collect();
    gateway.push(("*".into(), u32::MAX));
    let api = vec![
        ("payments.internal:443".to_string(), 1),
        ("*.pay.internal".to_string(), 2),
    ];
    (
        DomainMap::build(api).expect("api map"),
        DomainMap::build(gateway).expect("gateway map"),
    )
}

fn token_table() -> TokenTable {
    let mut t = TokenTable::with_capacity(TOKENS);
    for i in 0..TOKENS {
        t.insert(
            TokenHash::of(format!("token-{i}").as_bytes()),
            TokenRecord {
                apis: vec![].into(),
                binding: certgate::snapshot::Binding::Unbound,
                certificate: None,
                expires_at: None,
            },
        );
    }
    t
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn claims(x5t: &str) -> String {
    b64(format!(
        r#"{{"sub":"bench","exp":{},"cnf":{{"x5t#S256":"{x5t}"}}}}"#,
        now_unix() + 86400
    )
    .as_bytes())
}

fn hs256(x5t: &str) -> String {
    let input = format!("{}.{}", b64(br#"{"alg":"HS256","typ":"JWT"}"#), claims(x5t));
    let key = openssl::pkey::PKey::hmac(SECRET.as_bytes()).unwrap();
    let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    s.update(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&s.sign_to_vec().unwrap()))
}

fn es256(x5t: &str, key: &openssl::pkey::PKey<openssl::pkey::Private>) -> String {
    let input = format!("{}.{}", b64(br#"{"alg":"ES256","typ":"JWT"}"#), claims(x5t));
    let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key).unwrap();
    s.update(input.as_bytes()).unwrap();
    // JWS wants r || s (32 bytes each), OpenSSL gives DER.
    let sig = openssl::ecdsa::EcdsaSig::from_der(&s.sign_to_vec().unwrap()).unwrap();
    let mut raw = sig.r().to_vec_padded(32).unwrap();
    raw.extend(sig.s().to_vec_padded(32).unwrap());
    format!("{input}.{}", b64(&raw))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookups");

    let (api, gateway) = domain_maps();
    assert_eq!(select(&api, &gateway, "payments.internal", 443), Some(&1));
    assert_eq!(select(&api, &gateway, "svc9999.internal", 8443), Some(&9999));
    assert_eq!(select(&api, &gateway, "a.zone77.example.com", 443), Some(&77));
    g.bench_function("upstream domain: exact host:port (30k-entry gateway map)", |b| {
        b.iter(|| black_box(select(&api, &gateway, black_box("svc4242.internal"), 8443)))
    });
    g.bench_function("upstream domain: API wildcard beats gateway", |b| {
        b.iter(|| black_box(select(&api, &gateway, black_box("eu.pay.internal"), 443)))
    });
    g.bench_function("upstream domain: fall through to \"*\"", |b| {
        b.iter(|| black_box(select(&api, &gateway, black_box("unknown.example.org"), 443)))
    });

    eprintln!("filling {TOKENS} tokens…");
    let tokens = token_table();
    assert!(tokens.get(b"token-500000").is_some());
    g.bench_function("token lookup: hit (1M tokens, SHA-256 + map)", |b| {
        b.iter(|| black_box(tokens.get(black_box(b"token-500000")).is_some()))
    });
    g.bench_function("token lookup: miss", |b| {
        b.iter(|| black_box(tokens.get(black_box(b"token-nope")).is_some()))
    });

    let dir = tempfile::tempdir().unwrap();
    let ca = Spec::ca("bench CA").issue(None);
    Spec::server("localhost", &["localhost"])
        .issue(Some(&ca))
        .write(dir.path(), "server");
    let ec = openssl::ec::EcKey::generate(
        &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap(),
    )
    .unwrap();
    let ec = openssl::pkey::PKey::from_ec_key(ec).unwrap();
    std::fs::write(dir.path().join("jwt-pub.pem"), ec.public_key_to_pem().unwrap()).unwrap();
    let yaml = format!(
        "listen:\n  https: \"127.0.0.1:1\"\ntls:\n  certificate: server.crt\n  key: server.key\napis:\n  - name: hs\n    listen_path: /hs/\n    auth:\n      type: jwt\n      jwt: {{algorithms: [HS256], secret: {SECRET}, require_cnf: true}}\n    upstream: {{url: \"http://127.0.0.1:1\"}}\n  - name: es\n    listen_path: /es/\n    auth:\n      type: jwt\n      jwt: {{algorithms: [ES256], public_key: jwt-pub.pem, require_cnf: true}}\n    upstream: {{url: \"http://127.0.0.1:1\"}}\n"
    );
    let snap = compile(&parse_str(&yaml, &dir.path().join("bench.yaml")).unwrap(), 1).unwrap_or_else(|e| panic!("{e}"));
    let client = Spec::client("bench client").issue(Some(&ca));
    let peer = PeerCert::new(client.cert.clone(), vec![]).unwrap();
    let x5t = peer.id.to_x5t_s256();
    for (name, token) in [("hs", hs256(&x5t)), ("es", es256(&x5t, &ec))] {
        let v = snap.api_by_name(name).unwrap().auth.jwt.as_ref().unwrap();
        let verify = |t: &[u8]| {
            let claims = jwt::verify(v, t, now_unix()).ok()?;
            binding::check_jwt(&claims, v, Some(&peer)).ok()
        };
        assert!(verify(token.as_bytes()).is_some(), "{name} token verifies");
        let label = if name == "hs" { "HS256" } else { "ES256" };
        g.bench_function(format!("JWT {label} verify + cnf binding"), |b| {
            b.iter(|| black_box(verify(black_box(token.as_bytes())).is_some()))
        });
    }
    g.finish();
    request_target(c);
}

/// SPEC §3 step 0 on a typical request head (8 headers), already canonical and not. The
/// header is cloned per iteration (as Pingora hands each request its own); the clone alone
/// is measured too, so the difference is what canonicalisation costs.
fn request_target(c: &mut Criterion) {
    use certgate::request::canonicalize;
    use pingora::http::RequestHeader;
    let head = |target: &[u8]| {
        let mut r = RequestHeader::build("GET", target, None).unwrap();
        for (k, v) in [
            ("host", "api.example.com"),
            ("user-agent", "oha/1.16"),
            ("accept", "*/*"),
            ("authorization", "Bearer token-123456"),
            ("x-request-id", "5f2c22d56e0e0846"),
            ("accept-encoding", "gzip"),
            ("content-type", "application/json"),
            ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ] {
            r.append_header(k, v).unwrap();
        }
        r
    };
    let canonical = head(b"/payments/v1/charges/ch_123?expand=customer");
    let messy = head(b"/payments/v1/./charges/%63h_123/../ch_123?expand=customer");
    let mut g = c.benchmark_group("request target");
    g.bench_function("clone of the request head (baseline)", |b| {
        b.iter(|| black_box(canonical.clone()))
    });
    g.bench_function("clone + canonicalize, already canonical", |b| {
        b.iter(|| {
            let mut r = canonical.clone();
            black_box(canonicalize(&mut r).is_ok())
        })
    });
    g.bench_function("clone + canonicalize, dot segments and escapes", |b| {
        b.iter(|| {
            let mut r = messy.clone();
            black_box(canonicalize(&mut r).is_ok())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
