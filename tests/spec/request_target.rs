//! SPEC §3 step 0, one meaning per request: for each request target and host, the API it is
//! routed to and the exact path and Host forwarded upstream, or the 400 it gets. Every row
//! goes through the functions the data plane calls, in its order: Pingora's request-target
//! parser (`RequestHeader::build`), `request::canonicalize`, `policy::downstream::route`,
//! then the upstream rewrite (`proxy::upstream_path`).

use certgate::config::parse_str;
use certgate::pki::Spec;
use certgate::policy::downstream::route;
use certgate::policy::Deny;
use certgate::proxy::upstream_path;
use certgate::request::{canonicalize, BadRequest};
use certgate::snapshot::{compile, Snapshot};
use http::header::HOST;
use pingora::http::RequestHeader;

const CONFIG: &str = r#"
listen:
  https: "127.0.0.1:8443"
tls:
  certificate: server.crt
  key: server.key
apis:
  - name: open
    listen_path: /open/
    upstream: {url: "http://127.0.0.1:1"}
  - name: colon
    listen_path: /colon/
    auth: {mutual_tls: true, client_certificates: [client.crt]}
    upstream: {url: "http://127.0.0.1:1"}
  - name: pay
    listen_path: /pay
    strip_listen_path: true
    upstream: {url: "http://127.0.0.1:1/base"}
  - name: hosted
    hosts: [api.example.com]
    listen_path: /h/
    upstream: {url: "http://127.0.0.1:1"}
  - name: wild
    hosts: ["*.example.org"]
    listen_path: /w/
    upstream: {url: "http://127.0.0.1:1"}
"#;

/// HTTP version of a row.
#[derive(Clone, Copy, PartialEq)]
enum V {
    H10,
    H11,
    H2,
}

/// What a row expects.
#[derive(Debug, PartialEq)]
enum Want {
    /// Routed to this API; forwarded with this path and query, and this Host.
    Forward(&'static str, &'static str, Option<&'static str>),
    /// 400 `Invalid request path`.
    BadPath,
    /// 400 `Invalid Host header`.
    BadHost,
    /// 404 `no API matches this request`.
    NoRoute,
}
use Want::*;

struct Row {
    name: &'static str,
    v: V,
    method: &'static str,
    target: &'static [u8],
    /// `Host` headers (HTTP/2: besides `:authority`, which is in the target).
    hosts: &'static [&'static str],
    want: Want,
}

const fn get(name: &'static str, target: &'static [u8], want: Want) -> Row {
    Row {
        name,
        v: V::H11,
        method: "GET",
        target,
        hosts: &["localhost"],
        want,
    }
}

const L: Option<&str> = Some("localhost");

const ROWS: &[Row] = &[
    // Plain routing.
    get("plain", b"/open/x", Forward("open", "/open/x", L)),
    get("listen path without its slash", b"/open", Forward("open", "/open", L)),
    get("not a whole segment", b"/openx", NoRoute),
    get("not a whole segment, other api", b"/colonel/x", NoRoute),
    get(
        "no trailing slash in config, bare",
        b"/pay",
        Forward("pay", "/base/", L),
    ),
    get(
        "no trailing slash in config, below",
        b"/pay/x",
        Forward("pay", "/base/x", L),
    ),
    get("no trailing slash in config, not a segment", b"/payx", NoRoute),
    // Dot segments, every encoding of `.`.
    get(
        "dot-dot into another api",
        b"/open/../colon/x",
        Forward("colon", "/colon/x", L),
    ),
    get("%2e%2e", b"/open/%2e%2e/colon/x", Forward("colon", "/colon/x", L)),
    get(
        "%2E%2E upper case",
        b"/open/%2E%2E/colon/x",
        Forward("colon", "/colon/x", L),
    ),
    get(".%2e", b"/open/.%2e/colon/x", Forward("colon", "/colon/x", L)),
    get("%2e.", b"/open/%2e./colon/x", Forward("colon", "/colon/x", L)),
    get("single dot", b"/open/./x", Forward("open", "/open/x", L)),
    get("%2e single", b"/open/%2e/x", Forward("open", "/open/x", L)),
    get("trailing dot-dot", b"/open/x/..", Forward("open", "/open/", L)),
    get("trailing dot", b"/open/x/.", Forward("open", "/open/x/", L)),
    get("dot-dot to the root", b"/open/..", NoRoute),
    get(
        "dot-dot out of a stripped api",
        b"/pay/../open/x",
        Forward("open", "/open/x", L),
    ),
    get("encoded dot-dot out of a stripped api", b"/pay/%2e%2e/x", NoRoute),
    get("above the root", b"/..", BadPath),
    get("above the root, deeper", b"/open/../../colon/x", BadPath),
    get("above the root, encoded", b"/open/%2e%2e/%2e%2e/x", BadPath),
    get(
        "three dots are a name",
        b"/open/.../x",
        Forward("open", "/open/.../x", L),
    ),
    // Slashes.
    get("repeated slash", b"/open//x", Forward("open", "/open/x", L)),
    get("leading double slash", b"//open/x", Forward("open", "/open/x", L)),
    get("many slashes", b"///colon///x//", Forward("colon", "/colon/x/", L)),
    get("encoded slash", b"/open/..%2fcolon%2fx", BadPath),
    get("encoded slash upper case", b"/open/..%2Fcolon", BadPath),
    get("encoded backslash", b"/open/..%5ccolon", BadPath),
    get("encoded backslash upper case", b"/open/..%5Ccolon", BadPath),
    get("raw backslash", b"/open/..\\colon/x", BadPath),
    // Other escapes.
    get(
        "encoded unreserved letters",
        b"/%6fpen/x",
        Forward("open", "/open/x", L),
    ),
    get("encoded tilde", b"/open/%7euser", Forward("open", "/open/~user", L)),
    get(
        "reserved escapes keep their meaning, upper-cased",
        b"/open/a%3fb",
        Forward("open", "/open/a%3Fb", L),
    ),
    get(
        "escaped percent stays one",
        b"/open/%252e%252e/x",
        Forward("open", "/open/%252e%252e/x", L),
    ),
    get(
        "UTF-8 escapes upper-cased",
        b"/open/%c3%a9",
        Forward("open", "/open/%C3%A9", L),
    ),
    get("encoded NUL", b"/open/%00", BadPath),
    get("encoded newline", b"/open/%0a", BadPath),
    get("encoded DEL", b"/open/%7f", BadPath),
    get("bad escape", b"/open/%zz", BadPath),
    get("truncated escape", b"/open/%4", BadPath),
    get("raw non-ASCII", b"/open/\xc3\xa9", BadPath),
    get("raw invalid UTF-8", b"/open/\xff", BadPath),
    // Case.
    get("upper-case listen path", b"/OPEN/x", Forward("open", "/OPEN/x", L)),
    get("mixed-case protected api", b"/CoLoN/x", Forward("colon", "/CoLoN/x", L)),
    get("upper-case stripped api", b"/PAY/x", Forward("pay", "/base/x", L)),
    // `;` path parameters: both readings must reach the same API.
    get(
        "params inside an api",
        b"/open/x;a=b",
        Forward("open", "/open/x;a=b", L),
    ),
    get("params on the listen segment", b"/open;a/x", BadPath),
    get("dot-dot-semicolon into a protected api", b"/open/..;/colon/x", BadPath),
    get(
        "dot-dot-semicolon out of a protected api",
        b"/colon/..;/open/x",
        BadPath,
    ),
    get(
        "dot-dot-semicolon within one api",
        b"/open/..;/open/x",
        Forward("open", "/open/..;/open/x", L),
    ),
    get("dot-dot-semicolon above the root", b"/..;/x", BadPath),
    get(
        "dot-dot-semicolon resolved away literally",
        b"/open/..;/../colon/x",
        BadPath,
    ),
    get("params segment resolved away literally", b"/open/;/../../x", BadPath),
    // `?` and `#`.
    get(
        "dot-dot in the query is not resolved",
        b"/open/x?next=/../colon",
        Forward("open", "/open/x?next=/../colon", L),
    ),
    get(
        "query right after the listen path",
        b"/open?/../colon/x",
        Forward("open", "/open?/../colon/x", L),
    ),
    get(
        "encoded query in the query",
        b"/open/x?%2e%2e%2f",
        Forward("open", "/open/x?%2e%2e%2f", L),
    ),
    get(
        "encoded ? is a path byte",
        b"/open/%3f/../../colon/x",
        Forward("colon", "/colon/x", L),
    ),
    get(
        "query kept when the path is rewritten",
        b"/open/./x?a=1&b=%2F",
        Forward("open", "/open/x?a=1&b=%2F", L),
    ),
    get("fragment dropped", b"/colon/x#frag", Forward("colon", "/colon/x", L)),
    get(
        "dot-dot after a fragment is dropped with it",
        b"/open#/../colon/x",
        Forward("open", "/open", L),
    ),
    // Target forms.
    get("relative path", b"open/x", BadPath),
    get("asterisk outside OPTIONS", b"*", BadPath),
    Row {
        name: "OPTIONS *",
        method: "OPTIONS",
        ..get("", b"*", NoRoute)
    },
    Row {
        name: "absolute form, host from the target",
        hosts: &[],
        ..get(
            "",
            b"http://api.example.com/h/x",
            Forward("hosted", "/h/x", Some("api.example.com")),
        )
    },
    Row {
        name: "absolute form with the same Host",
        hosts: &["api.example.com"],
        ..get(
            "",
            b"http://api.example.com/h/x",
            Forward("hosted", "/h/x", Some("api.example.com")),
        )
    },
    Row {
        name: "absolute form, https, port, case, dot segments",
        hosts: &[],
        ..get(
            "",
            b"https://API.example.com:8443/h/../h/y?q",
            Forward("hosted", "/h/y?q", Some("API.example.com:8443")),
        )
    },
    Row {
        name: "absolute form, other Host",
        hosts: &["api.example.com"],
        ..get("", b"http://other.example.com/h/x", BadHost)
    },
    Row {
        name: "absolute form, not http",
        hosts: &[],
        ..get("", b"ftp://api.example.com/h/x", BadPath)
    },
    Row {
        name: "absolute form, ambiguous",
        hosts: &[],
        ..get("", b"http:/\\api.example.com/h/x", BadPath)
    },
    Row {
        name: "absolute form, userinfo",
        hosts: &[],
        ..get("", b"http://u@api.example.com/h/x", BadHost)
    },
    Row {
        name: "absolute form, no path",
        hosts: &[],
        ..get("", b"http://api.example.com", NoRoute)
    },
    // Host.
    Row {
        name: "exact host",
        hosts: &["api.example.com"],
        ..get("", b"/h/x", Forward("hosted", "/h/x", Some("api.example.com")))
    },
    Row {
        name: "host case, port and trailing dot",
        hosts: &["API.Example.COM.:443"],
        ..get("", b"/h/x", Forward("hosted", "/h/x", Some("API.Example.COM.:443")))
    },
    Row {
        name: "host-specific api, other host",
        hosts: &["other.example.com"],
        ..get("", b"/h/x", NoRoute)
    },
    Row {
        name: "wildcard host",
        hosts: &["a.example.org"],
        ..get("", b"/w/x", Forward("wild", "/w/x", Some("a.example.org")))
    },
    Row {
        name: "wildcard is one label",
        hosts: &["a.b.example.org"],
        ..get("", b"/w/x", NoRoute)
    },
    Row {
        name: "two Host headers",
        hosts: &["api.example.com", "api.example.com"],
        ..get("", b"/h/x", BadHost)
    },
    Row {
        name: "two different Host headers",
        hosts: &["localhost", "api.example.com"],
        ..get("", b"/h/x", BadHost)
    },
    Row {
        name: "no Host on HTTP/1.1",
        hosts: &[],
        ..get("", b"/open/x", BadHost)
    },
    Row {
        name: "no Host on HTTP/1.0",
        hosts: &[],
        v: V::H10,
        ..get("", b"/open/x", Forward("open", "/open/x", None))
    },
    Row {
        name: "Host with a comma",
        hosts: &["api.example.com,evil"],
        ..get("", b"/h/x", BadHost)
    },
    Row {
        name: "Host with userinfo",
        hosts: &["u@api.example.com"],
        ..get("", b"/h/x", BadHost)
    },
    Row {
        name: "Host with a space",
        hosts: &["api example.com"],
        ..get("", b"/h/x", BadHost)
    },
    Row {
        name: "Host with a bad port",
        hosts: &["api.example.com:x"],
        ..get("", b"/h/x", BadHost)
    },
    Row {
        name: "empty Host",
        hosts: &[""],
        ..get("", b"/open/x", BadHost)
    },
    Row {
        name: "IPv6 Host",
        hosts: &["[::1]:8443"],
        ..get("", b"/open/x", Forward("open", "/open/x", Some("[::1]:8443")))
    },
    // HTTP/2: `:path` and `:authority` follow the same rules.
    Row {
        name: "h2 dot-dot",
        v: V::H2,
        hosts: &[],
        ..get(
            "",
            b"https://localhost/open/../colon/x",
            Forward("colon", "https://localhost/colon/x", None),
        )
    },
    Row {
        name: "h2 %2e%2e",
        v: V::H2,
        hosts: &[],
        ..get(
            "",
            b"https://localhost/open/%2e%2e/colon/x",
            Forward("colon", "https://localhost/colon/x", None),
        )
    },
    Row {
        name: "h2 encoded slash",
        v: V::H2,
        hosts: &[],
        ..get("", b"https://localhost/open/..%2fcolon", BadPath)
    },
    Row {
        name: "h2 above the root",
        v: V::H2,
        hosts: &[],
        ..get("", b"https://localhost/..", BadPath)
    },
    Row {
        name: "h2 :authority routes",
        v: V::H2,
        hosts: &[],
        ..get(
            "",
            b"https://api.example.com/h/x",
            Forward("hosted", "https://api.example.com/h/x", None),
        )
    },
    Row {
        name: "h2 :authority with the same Host",
        v: V::H2,
        hosts: &["api.example.com"],
        ..get(
            "",
            b"https://api.example.com/h/x",
            Forward("hosted", "https://api.example.com/h/x", Some("api.example.com")),
        )
    },
    Row {
        name: "h2 :authority with another Host",
        v: V::H2,
        hosts: &["localhost"],
        ..get("", b"https://api.example.com/h/x", BadHost)
    },
    Row {
        name: "h2 without any authority",
        v: V::H2,
        hosts: &[],
        ..get("", b"/open/x", BadHost)
    },
    Row {
        name: "h2 :authority with a comma",
        v: V::H2,
        hosts: &[],
        ..get("", b"https://a,b/open/x", BadHost)
    },
    Row {
        name: "h2 params on the listen segment",
        v: V::H2,
        hosts: &[],
        ..get("", b"https://localhost/open;x/y", BadPath)
    },
];

fn snapshot() -> (tempfile::TempDir, Snapshot) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Spec::ca("table CA").issue(None);
    Spec::server("localhost", &["localhost"])
        .issue(Some(&ca))
        .write(dir.path(), "server");
    std::fs::write(
        dir.path().join("client.crt"),
        Spec::client("c").issue(Some(&ca)).cert_pem(),
    )
    .unwrap();
    let loaded = parse_str(CONFIG, &dir.path().join("certgate.yaml")).unwrap();
    let snap = compile(&loaded, 1).unwrap_or_else(|e| panic!("{e}"));
    (dir, snap)
}

fn build(row: &Row) -> Option<RequestHeader> {
    let mut req = match row.v {
        V::H2 => {
            let uri = http::Uri::try_from(row.target).ok()?;
            let (mut parts, ()) = http::Request::builder()
                .method(row.method)
                .uri(uri)
                .version(http::Version::HTTP_2)
                .body(())
                .unwrap()
                .into_parts();
            parts.headers.clear();
            RequestHeader::from(parts)
        }
        V::H10 | V::H11 => {
            // Pingora's HTTP/1 parser refuses some targets outright: that is a 400 too.
            let mut r = RequestHeader::build(row.method, row.target, None).ok()?;
            if row.v == V::H10 {
                r.set_version(http::Version::HTTP_10);
            }
            r
        }
    };
    for h in row.hosts {
        req.append_header(HOST, *h).unwrap();
    }
    Some(req)
}

/// What the data plane does with one row.
fn outcome(snap: &Snapshot, row: &Row) -> Want {
    let Some(mut req) = build(row) else {
        return if row.want == BadHost { BadHost } else { BadPath };
    };
    let canonical = match canonicalize(&mut req) {
        Ok(c) => c,
        Err(BadRequest::Path(_)) => return BadPath,
        Err(BadRequest::Host(_)) => return BadHost,
    };
    let host = certgate::proxy::request_host(&req);
    let index = match route(snap, host, req.uri.path(), canonical.param_reading.as_deref()) {
        Ok(i) => i,
        Err(Deny::NoRoute) => return NoRoute,
        Err(Deny::BadPath) => return BadPath,
        Err(d) => panic!("{}: unexpected {d:?}", row.name),
    };
    let api = snap.api(index);
    let forwarded = match upstream_path(api, &api.upstream.targets[0], &req) {
        Some(p) => p,
        None => req.uri.to_string(),
    };
    let host = req.headers.get(HOST).map(|h| h.to_str().unwrap().to_string());
    Forward(leak(api.name.to_string()), leak(forwarded), host.map(leak))
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn request_target_table() {
    let (_dir, snap) = snapshot();
    let failures: Vec<String> = ROWS
        .iter()
        .filter_map(|row| {
            let got = outcome(&snap, row);
            (got != row.want).then(|| format!("{}: got {got:?}, want {:?}", row.name, row.want))
        })
        .collect();
    assert!(ROWS.len() >= 80, "{} rows", ROWS.len());
    assert!(
        failures.is_empty(),
        "{} of {} rows:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}

#[test]
fn reserved_headers_are_removed_in_every_spelling() {
    for name in [
        "X-Client-Cert-Sha256",
        "x-client-cert-sha256",
        "X_Client_Cert_Sha256",
        "x_client-cert_SHA256",
    ] {
        let mut req = RequestHeader::build("GET", b"/open/x", None).unwrap();
        req.insert_header(HOST, "localhost").unwrap();
        req.insert_header(name, "forged").unwrap();
        req.insert_header("x-client-cert", "kept").unwrap();
        canonicalize(&mut req).unwrap();
        let left: Vec<_> = req.headers.keys().map(|k| k.as_str().to_string()).collect();
        assert_eq!(left, ["host", "x-client-cert"], "{name}");
    }
}
