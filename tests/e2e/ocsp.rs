//! SPEC §10, OCSP: the gateway's OCSP client and answer cache against a real responder
//! (`openssl ocsp -port`, started per test): good, revoked and unknown answers; a responder
//! that is down or too slow; one fetch for many calls, and for concurrent first calls. Then
//! a certgate process deciding with it: `leaf` soft-fails, `leaf_strict` refuses, `off`
//! asks nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use certgate::certs::ocsp::OcspStatus;
use certgate::ocsp::OcspCache;
use certgate::pki::{Issued, Spec};

use crate::support::gateway::{free_port, metric_value};
use crate::support::ocsp::Responder;
use crate::support::TestBed;

const TIMEOUT: Duration = Duration::from_millis(500);
const CACHE: Duration = Duration::from_secs(300);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn leaf(ca: &Issued, name: &str, url: &str) -> Issued {
    Spec::client(name).ocsp(url).issue(Some(ca))
}

fn status(rt: &tokio::runtime::Runtime, cache: &OcspCache, ca: &Issued, l: &Issued) -> Result<OcspStatus, String> {
    rt.block_on(cache.status(l.id(), &l.cert, &ca.cert, TIMEOUT, CACHE))
        .map(|a| a.status)
}

#[test]
fn the_responder_answers_good_revoked_and_unknown() {
    let ca = Spec::ca("ocsp e2e CA").issue(None);
    // The leaves name the responder's URL, so the port is chosen first.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let (good, revoked, stranger) = (
        leaf(&ca, "good", &url),
        leaf(&ca, "revoked", &url),
        leaf(&ca, "stranger", &url),
    );
    let _r = Responder::start_on(port, &ca, &[&good], &[&revoked], None);
    let (rt, cache) = (runtime(), OcspCache::default());
    assert_eq!(status(&rt, &cache, &ca, &good), Ok(OcspStatus::Good));
    assert_eq!(status(&rt, &cache, &ca, &revoked), Ok(OcspStatus::Revoked));
    assert_eq!(status(&rt, &cache, &ca, &stranger), Ok(OcspStatus::Unknown));
    assert_eq!(cache.fetches(), 3);
}

#[test]
fn an_answer_is_fetched_once_for_many_calls_and_for_concurrent_first_calls() {
    let ca = Spec::ca("ocsp cache CA").issue(None);
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let (a, b) = (leaf(&ca, "a", &url), leaf(&ca, "b", &url));
    // The responder answers two requests, then exits: any third fetch would fail.
    let mut r = Responder::start_on(port, &ca, &[&a, &b], &[], Some(2));
    let (rt, cache) = (runtime(), Arc::new(OcspCache::default()));
    for _ in 0..20 {
        assert_eq!(status(&rt, &cache, &ca, &a), Ok(OcspStatus::Good));
    }
    assert_eq!(cache.fetches(), 1, "twenty calls, one fetch");
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let (cache, b, ca) = (cache.clone(), b.clone(), ca.clone());
            rt.spawn(async move { cache.status(b.id(), &b.cert, &ca.cert, TIMEOUT, CACHE).await })
        })
        .collect();
    for c in calls {
        assert_eq!(rt.block_on(c).unwrap().map(|a| a.status), Ok(OcspStatus::Good));
    }
    assert_eq!(cache.fetches(), 2, "sixteen concurrent first calls, one fetch");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !r.exited() {
        assert!(Instant::now() < deadline, "the responder answered exactly two requests");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_responder_that_is_down_or_slow_gives_no_answer_within_the_timeout() {
    let ca = Spec::ca("ocsp down CA").issue(None);
    let (rt, cache) = (runtime(), OcspCache::default());
    let down = leaf(&ca, "down", &format!("http://127.0.0.1:{}/", free_port()));
    let e = status(&rt, &cache, &ca, &down).unwrap_err();
    assert!(e.contains("cannot connect"), "{e}");

    // Accepts the connection, never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let slow = leaf(&ca, "slow", &format!("http://{}/", silent.local_addr().unwrap()));
    let started = Instant::now();
    let e = status(&rt, &cache, &ca, &slow).unwrap_err();
    assert!(e.contains("within 500 ms"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // The failure stands for a while: the next call does not wait again.
    let started = Instant::now();
    assert!(status(&rt, &cache, &ca, &slow).is_err());
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(cache.fetches(), 2);

    let none = Spec::client("no aia").issue(Some(&ca));
    let e = status(&rt, &cache, &ca, &none).unwrap_err();
    assert!(e.contains("names no http:// OCSP responder"), "{e}");
}

#[test]
fn a_response_from_a_responder_the_ca_did_not_authorise_is_not_an_answer() {
    let ca = Spec::ca("ocsp trust CA").issue(None);
    let impostor = Spec::ca("ocsp trust CA").issue(None);
    let port = free_port();
    let l = leaf(&ca, "leaf", &format!("http://127.0.0.1:{port}/"));
    // The responder signs with another CA's key under the same name.
    let _r = Responder::start_on(port, &impostor, &[&l], &[], None);
    let (rt, cache) = (runtime(), OcspCache::default());
    let e = status(&rt, &cache, &ca, &l).unwrap_err();
    assert!(e.contains("not trusted"), "{e}");
}

fn gateway_yaml(up: &str) -> String {
    format!(
        "{head}security:\n  revocation:\n    ocsp: leaf\n    ocsp_timeout_ms: 500\napis:\n  - name: soft\n    listen_path: /soft/\n    auth: {{mutual_tls: true, client_certificates: [root.crt]}}\n    upstream: {{url: \"http://{up}\"}}\n  - name: strict\n    listen_path: /strict/\n    auth: {{mutual_tls: true, client_certificates: [root.crt], revocation: {{ocsp: leaf_strict}}}}\n    upstream: {{url: \"http://{up}\"}}\n  - name: off\n    listen_path: /off/\n    auth: {{mutual_tls: true, client_certificates: [root.crt], revocation: {{ocsp: off}}}}\n    upstream: {{url: \"http://{up}\"}}\n",
        head = TestBed::head("")
    )
}

#[test]
fn the_gateway_soft_fails_under_leaf_refuses_under_leaf_strict_and_asks_nothing_when_off() {
    let bed = TestBed::new("ocsp gateway server CA");
    let root = Spec::ca("ocsp clients").issue(None);
    bed.write("root.crt", root.cert_pem());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let good = leaf(&root, "good", &url);
    let revoked = leaf(&root, "revoked", &url);
    let unknown = leaf(&root, "unknown", &url);
    let late = leaf(&root, "asked only once the responder is down", &url);
    let mut responder = Some(Responder::start_on(port, &root, &[&good, &late], &[&revoked], None));
    let up = certgate::echo::start_plain("up").unwrap();
    let g = bed.start(&gateway_yaml(&up.addr.to_string()));
    let call = |who: &Issued, path: &str| bed.client().with_cert(who).get(g.https, path, &[]).verdict();
    let revoked_answer = (403, "cert_revoked".to_string());
    let unknown_answer = (403, "revocation_unknown".to_string());

    assert_eq!(call(&good, "/soft/x").0, 200);
    assert_eq!(call(&good, "/strict/x").0, 200);
    assert_eq!(
        call(&revoked, "/soft/x"),
        revoked_answer,
        "revoked is refused under leaf"
    );
    assert_eq!(call(&revoked, "/strict/x"), revoked_answer);
    assert_eq!(call(&revoked, "/off/x").0, 200, "ocsp: off asks nothing");
    assert_eq!(call(&unknown, "/soft/x").0, 200, "unknown soft-fails under leaf");
    assert_eq!(call(&unknown, "/strict/x"), unknown_answer);
    let r = bed.client().with_cert(&unknown).get(g.https, "/strict/x", &[]);
    assert_eq!(r.json()["error"], "Certificate revocation status unknown");

    // The responder goes away: kept answers still count, a new leaf gets none.
    responder.take();
    assert_eq!(call(&good, "/strict/x").0, 200, "the kept answer");
    assert_eq!(call(&revoked, "/soft/x"), revoked_answer, "the kept answer");
    assert_eq!(call(&late, "/soft/x").0, 200, "no answer soft-fails under leaf");
    assert_eq!(
        call(&late, "/strict/x"),
        unknown_answer,
        "no answer refuses under leaf_strict"
    );
    assert!(g.log().contains("event=ocsp_error"), "{}", g.log());
    // A responder that accepts and never answers: the request waits ocsp_timeout_ms, no more.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let slow = leaf(&root, "slow", &format!("http://{}/", silent.local_addr().unwrap()));
    let started = Instant::now();
    assert_eq!(
        call(&slow, "/strict/x"),
        unknown_answer,
        "a slow responder under leaf_strict"
    );
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(call(&slow, "/soft/x").0, 200, "a slow responder under leaf");

    let m = g.metrics_text();
    let count = |result: &str| {
        metric_value(
            &m,
            &format!("certgate_revocation_checks_total{{result=\"{result}\",source=\"ocsp\"}}"),
        )
    };
    assert!(count("good") >= 3.0, "{m}");
    assert!(count("revoked") >= 3.0, "{m}");
    assert!(count("unknown") >= 3.0, "{m}");
    assert!(count("error") >= 4.0, "{m}");
}

#[test]
fn the_issuer_comes_from_a_known_ca_or_the_verified_path_never_from_what_the_client_sent() {
    let bed = TestBed::new("ocsp issuer server CA");
    let root = Spec::ca("ocsp issuer root").issue(None);
    let int = Spec::ca("ocsp issuer intermediate").issue(Some(&root));
    bed.write("root.crt", root.cert_pem());
    // A leaf under an intermediate certgate does not know: the client sends it, and the
    // verified path makes it the issuer.
    let port = free_port();
    let under_int = leaf(&int, "under the intermediate", &format!("http://127.0.0.1:{port}/"));
    let _r = Responder::start_on(port, &int, &[&under_int], &[], None);
    // A leaf listed by ID, signed by a CA its holder made up and sends along, naming a
    // "responder" that must never be called.
    let made_up = Spec::ca("made up").issue(None);
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let listed = leaf(&made_up, "listed", &format!("http://{}/", trap.local_addr().unwrap()));
    bed.write("listed.crt", listed.cert_pem());
    let up = certgate::echo::start_plain("up").unwrap();
    let yaml = format!(
        "{head}security:\n  revocation:\n    ocsp: leaf_strict\n    ocsp_timeout_ms: 500\napis:\n  - name: ca\n    listen_path: /ca/\n    auth: {{mutual_tls: true, client_certificates: [root.crt]}}\n    upstream: {{url: \"http://{up}\"}}\n  - name: listed\n    listen_path: /listed/\n    auth: {{mutual_tls: true, client_certificates: [listed.crt]}}\n    upstream: {{url: \"http://{up}\"}}\n",
        head = TestBed::head(""),
        up = up.addr
    );
    let g = bed.start(&yaml);
    let with_chain = |who: &Issued, chain: Vec<openssl::x509::X509>, path: &str| {
        bed.client()
            .with_cert(who)
            .with_chain(chain)
            .get(g.https, path, &[])
            .verdict()
    };
    assert_eq!(with_chain(&under_int, vec![int.cert.clone()], "/ca/x").0, 200);
    assert_eq!(
        with_chain(&listed, vec![made_up.cert.clone()], "/listed/x"),
        (403, "revocation_unknown".to_string()),
        "no known issuer: no request can be built, strict refuses"
    );
    assert!(
        trap.accept().is_err(),
        "certgate called a responder named by a made-up chain"
    );
}
