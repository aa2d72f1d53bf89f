//! SPEC §11, upstream side: `upstream.protocol` (`http1`, `h2`, `h2c`, `auto`) against real
//! upstreams that speak both HTTP/1.1 and HTTP/2, several streams on one upstream HTTP/2
//! connection, and pooled connections that never mix protocols.

use std::sync::atomic::Ordering;

use certgate::echo::{self, EchoConfig, EchoHandle};
use certgate::pki::Spec;

use crate::support::{Gateway, TestBed};

struct World {
    bed: TestBed,
    gateway: Gateway,
    tls_up: EchoHandle,
    plain_up: EchoHandle,
}

fn start(streams: usize) -> World {
    let bed = TestBed::new("h2 edge CA");
    let up_ca = Spec::ca("h2 upstream CA").issue(None);
    bed.write("up-ca.crt", up_ca.cert_pem());
    let both = |name: &str, tls: Option<certgate::pki::Issued>| {
        echo::start(
            EchoConfig {
                name: name.into(),
                tls,
                client_ca: vec![],
                h2: true,
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap()
    };
    let tls_up = both(
        "tls",
        Some(Spec::server("localhost", &["localhost"]).issue(Some(&up_ca))),
    );
    let plain_up = both("plain", None);
    let (t, p) = (tls_up.addr.port(), plain_up.addr.port());
    let api = |name: &str, url: String, protocol: &str| {
        format!("  - name: {name}\n    listen_path: /{name}/\n    upstream: {{url: \"{url}\", ca: up-ca.crt, protocol: {protocol}, h2_max_streams: {streams}}}\n")
    };
    let apis = [
        api("h1", format!("https://localhost:{t}"), "http1"),
        api("h2", format!("https://localhost:{t}"), "h2"),
        api("auto", format!("https://localhost:{t}"), "auto"),
        api("h2c", format!("http://127.0.0.1:{p}"), "h2c"),
        api("plain", format!("http://127.0.0.1:{p}"), "http1"),
    ]
    .concat();
    let gateway = bed.start(&format!("{}apis:\n{apis}", TestBed::head("")));
    World {
        bed,
        gateway,
        tls_up,
        plain_up,
    }
}

impl World {
    /// The upstream's view of one call: (protocol it was spoken to in, path it saw).
    fn call(&self, path: &str) -> (String, String) {
        let r = self.bed.client().get(self.gateway.https, path, &[]);
        assert_eq!(r.status, 200, "{path}: {}\n{}", r.text(), self.gateway.log());
        let j = r.json();
        (
            j["version"].as_str().unwrap().into(),
            j["path"].as_str().unwrap().into(),
        )
    }
}

#[test]
fn each_api_speaks_its_protocol_and_pooled_connections_never_mix() {
    let w = start(100);
    // Alternate, so every API finds the others' idle connections in the pool.
    for _ in 0..3 {
        assert_eq!(w.call("/h1/a?x=1"), ("HTTP/1.1".into(), "/h1/a?x=1".into()));
        assert_eq!(w.call("/h2/a?x=1"), ("HTTP/2".into(), "/h2/a?x=1".into()));
        assert_eq!(
            w.call("/auto/a").0,
            "HTTP/2",
            "auto prefers h2 when the upstream offers it"
        );
        assert_eq!(w.call("/h2c/a").0, "HTTP/2", "prior knowledge in the clear");
        assert_eq!(w.call("/plain/a").0, "HTTP/1.1");
    }
}

/// Upstream connections opened for `n` concurrent 300 ms calls on the `h2` API (after one
/// call that opens the first connection).
fn opened_for_concurrent_calls(w: &World, n: usize) -> usize {
    w.call("/h2/warm");
    let before = w.tls_up.stats.connections.load(Ordering::Relaxed);
    std::thread::scope(|s| {
        for i in 0..n {
            s.spawn(move || assert_eq!(w.call(&format!("/h2/x?delay_ms=300&i={i}")).0, "HTTP/2"));
        }
    });
    w.tls_up.stats.connections.load(Ordering::Relaxed) - before
}

#[test]
fn concurrent_requests_share_one_upstream_http2_connection() {
    let w = start(100);
    let opened = opened_for_concurrent_calls(&w, 16);
    assert!(
        opened <= 2,
        "16 concurrent h2 requests opened {opened} upstream connections"
    );
    let _ = &w.plain_up;
}

#[test]
fn one_stream_per_connection_when_configured_so() {
    let w = start(1);
    let opened = opened_for_concurrent_calls(&w, 6);
    assert!(
        opened >= 5,
        "h2_max_streams: 1 keeps one request per connection: {opened} opened"
    );
}

/// With one stream per HTTP/2 connection the peers of an `http1` and an `auto` API hash
/// alike in Pingora's pool (its key holds `max_h2_streams`, not the ALPN choice): only the
/// protocol tag in the group key keeps `auto` from reusing the idle HTTP/1.1 connection the
/// `http1` API left, and speaking HTTP/1.1 to an upstream that offers HTTP/2.
#[test]
fn protocols_stay_apart_even_at_one_stream_per_connection() {
    let w = start(1);
    for round in 0..3 {
        assert_eq!(w.call("/h1/a").0, "HTTP/1.1", "round {round}");
        assert_eq!(
            w.call("/auto/a").0,
            "HTTP/2",
            "round {round}: auto reused an h1 connection"
        );
        assert_eq!(w.call("/plain/a").0, "HTTP/1.1", "round {round}");
        assert_eq!(w.call("/h2c/a").0, "HTTP/2", "round {round}");
    }
}

/// What an HTTP/2 client got for one POST: status, the echo's JSON, the response trailers.
struct H2Answer {
    status: u16,
    json: serde_json::Value,
    trailers: http::HeaderMap,
}

/// One HTTP/2 POST to certgate's TLS listener with request headers `te: trailers`,
/// `x-probe: 1` and `x-want-trailer: back` (the echo answers with the trailer
/// `x-trailer: back`), a small body and the request trailer `x-request-trailer: sent`.
fn h2_post(w: &World, path: &str) -> H2Answer {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tls = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client()).unwrap();
        tls.set_ca_file(w.bed.file("server-ca.crt")).unwrap();
        tls.set_alpn_protos(b"\x02h2").unwrap();
        let ssl = tls.build().configure().unwrap().into_ssl("localhost").unwrap();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", w.gateway.https))
            .await
            .unwrap();
        let mut stream = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
        std::pin::Pin::new(&mut stream).connect().await.unwrap();
        let (client, conn) = h2::client::handshake(stream).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut client = client.ready().await.unwrap();
        let req = http::Request::post(format!("https://localhost{path}"))
            .header("te", "trailers")
            .header("x-probe", "1")
            .header("x-want-trailer", "back")
            .body(())
            .unwrap();
        let (response, mut body) = client.send_request(req, false).unwrap();
        body.send_data(bytes::Bytes::from_static(b"abc"), false).unwrap();
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-request-trailer", "sent".parse().unwrap());
        body.send_trailers(trailers).unwrap();
        let response = response.await.unwrap();
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.unwrap().unwrap_or_default();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        H2Answer { status, json, trailers }
    })
}

/// The traps of Pingora's HTTP/2 ↔ HTTP/1.1 translation: response trailers cross HTTP/2
/// legs and `te: trailers` reaches an HTTP/2 upstream (gRPC servers need it); an HTTP/1.1
/// leg carries no trailers, and a gRPC call sent over one is logged once, not per call.
/// (Request trailers are not forwarded: Pingora reads request bodies without them. gRPC
/// never sends any; the request itself still arrives whole.)
#[test]
fn trailers_and_te_cross_http2_legs_and_grpc_over_http1_is_named_once() {
    let w = start(100);
    for api in ["h2", "h2c"] {
        let a = h2_post(&w, &format!("/{api}/t"));
        assert_eq!(a.status, 200, "{api}: {}", a.json);
        assert_eq!(a.json["version"], "HTTP/2", "{api}");
        assert_eq!(
            a.json["headers"]["te"], "trailers",
            "{api}: te reaches the upstream: {}",
            a.json
        );
        assert_eq!(a.json["headers"]["x-probe"], "1", "{api}");
        assert_eq!(a.json["body_bytes"], 3, "{api}");
        assert_eq!(
            a.trailers.get("x-trailer").and_then(|v| v.to_str().ok()),
            Some("back"),
            "{api}: the upstream's trailers came back: {:?}",
            a.trailers
        );
    }
    // HTTP/1.1 upstream: the request still arrives whole, without trailers either way.
    let a = h2_post(&w, "/h1/t");
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["version"], "HTTP/1.1");
    assert_eq!(a.json["body_bytes"], 3);
    assert!(a.trailers.is_empty(), "{:?}", a.trailers);
    assert!(!w.gateway.log().contains("grpc_over_http1"), "plain calls are not gRPC");

    // gRPC calls to the HTTP/1.1 API: forwarded, and the operator told once.
    for _ in 0..3 {
        let r = w.bed.client().get(
            w.gateway.https,
            "/h1/pkg.Service/Call",
            &[("content-type", "application/grpc")],
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let log = w.gateway.log();
    assert_eq!(log.matches("event=grpc_over_http1 api=h1").count(), 1, "{log}");
}
