//! SPEC §10, OCSP: the gateway's OCSP client and answer cache against a real responder
//! (`openssl ocsp -port`, started per test): good, revoked and unknown answers; a responder
//! that is down or too slow; one fetch for many calls, and for concurrent first calls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use certgate::certs::ocsp::OcspStatus;
use certgate::ocsp::OcspCache;
use certgate::pki::{Issued, Spec};

use crate::support::gateway::free_port;
use crate::support::ocsp::Responder;

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
