//! The operator console (SPEC §13), first slice, over plain HTTP requests: sign-in and the
//! session cookie, CSRF and cross-site refusals, the security headers, and the certificate
//! screens (list with expiry at a glance, upload with name and organisations, details,
//! edit, delete) going through the admin API's own code. (Browser tests: issue 17.)

use certgate::pki::Spec;

use crate::support::client::{http_request, row_id};
use crate::support::{Gateway, Response, TestBed};

const ADMIN_KEY: &str = "console-admin-key-0123456789";

fn start() -> (TestBed, Gateway) {
    let bed = TestBed::new("console CA");
    let yaml = "listen:\n  https: \"127.0.0.1:{https}\"\n  admin: \"127.0.0.1:{admin}\"\n  metrics: \"127.0.0.1:{metrics}\"\n  threads: 1\ntls: {certificate: server.crt, key: server.key}\nadmin:\n  data_dir: data\napis:\n  - name: open\n    listen_path: /\n    upstream: {url: \"http://127.0.0.1:1\"}\n";
    let g = bed.start_with_env(yaml, &[("CERTGATE_ADMIN_KEY", ADMIN_KEY)]);
    (bed, g)
}

/// A browser's worth of state: its cookies.
#[derive(Default)]
struct Browser {
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn send(
        &mut self,
        g: &Gateway,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) -> Response {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/x-www-form-urlencoded")];
        if !cookie.is_empty() {
            headers.push(("Cookie", &cookie));
        }
        headers.extend_from_slice(extra);
        let r = http_request(g.admin, method, path, &headers, body.as_bytes());
        for (k, v) in &r.headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                let (pair, _) = v.split_once(';').unwrap_or((v, ""));
                let (name, value) = pair.split_once('=').unwrap();
                self.cookies.retain(|(n, _)| n != name);
                if !value.is_empty() {
                    self.cookies.push((name.to_string(), value.to_string()));
                }
            }
        }
        r
    }

    fn get(&mut self, g: &Gateway, path: &str) -> Response {
        self.send(g, "GET", path, &[], &[])
    }

    fn post(&mut self, g: &Gateway, path: &str, form: &[(&str, &str)]) -> Response {
        self.send(g, "POST", path, form, &[])
    }

    /// The hidden `csrf` field of the page.
    fn csrf(page: &Response) -> String {
        let text = page.text();
        let at = text.find("name=\"csrf\" value=\"").expect("a form with a CSRF token");
        text[at + 19..at + 19 + 64].to_string()
    }

    fn sign_in(&mut self, g: &Gateway) -> String {
        let login = self.get(g, "/ui/login");
        let r = self.post(g, "/ui/login", &[("csrf", &Self::csrf(&login)), ("key", ADMIN_KEY)]);
        assert_eq!(r.status, 303, "{}", r.text());
        Self::csrf(&self.get(g, "/ui/certificates"))
    }
}

#[test]
fn sign_in_sessions_and_the_security_headers() {
    let (_bed, g) = start();
    let mut b = Browser::default();
    // Without a session: to the sign-in page; a POST is 401.
    let r = b.get(&g, "/ui/certificates");
    assert_eq!((r.status, r.header("location")), (303, Some("/ui/login")));
    assert_eq!(b.post(&g, "/ui/certificates", &[("pem", "x")]).status, 401);

    let login = b.get(&g, "/ui/login");
    assert_eq!(login.status, 200);
    for (h, v) in [
        ("content-security-policy", "default-src 'none'"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert!(
            login.header(h).is_some_and(|x| x.contains(v)),
            "{h}: {:?}",
            login.headers
        );
    }
    let page = login.text();
    assert_eq!(
        page.matches("<script").count(),
        page.matches("<script src=\"/ui/static/console.js\"").count(),
        "no inline script: {page}"
    );
    // A wrong key: 401, and the key is never rendered back.
    let r = b.post(
        &g,
        "/ui/login",
        &[("csrf", &Browser::csrf(&login)), ("key", "wrong-key-guess-123")],
    );
    assert_eq!(r.status, 401);
    assert!(r.text().contains("The admin key is not valid."));
    assert!(!r.text().contains("wrong-key-guess-123"));
    // A sign-in without the form's token is refused.
    let mut other = Browser::default();
    assert_eq!(other.post(&g, "/ui/login", &[("key", ADMIN_KEY)]).status, 403);

    // The right key: a session cookie, HttpOnly and SameSite=Strict.
    let login = b.get(&g, "/ui/login");
    let r = b.post(&g, "/ui/login", &[("csrf", &Browser::csrf(&login)), ("key", ADMIN_KEY)]);
    assert_eq!((r.status, r.header("location")), (303, Some("/ui/certificates")));
    let set = r
        .headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case("set-cookie") && v.starts_with("certgate_session="));
    let set = &set.expect("a session cookie").1;
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/ui"),
        "{set}"
    );
    assert!(!set.contains(ADMIN_KEY));
    let page = b.get(&g, "/ui/certificates");
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Sign out"));
    let css = b.get(&g, "/ui/static/console.css");
    assert_eq!(
        (css.status, css.header("content-type")),
        (200, Some("text/css; charset=utf-8"))
    );

    // Sign-out ends the session, server side: the old cookie no longer works.
    let stolen = b.cookies.clone();
    let csrf = Browser::csrf(&page);
    assert_eq!(b.post(&g, "/ui/logout", &[("csrf", &csrf)]).status, 303);
    let mut replay = Browser { cookies: stolen };
    assert_eq!(replay.get(&g, "/ui/certificates").header("location"), Some("/ui/login"));
    // The JSON API still wants its bearer key; a console cookie is no credential there.
    assert_eq!(replay.get(&g, "/certificates").status, 401);
}

#[test]
fn certificates_upload_edit_and_delete_through_the_api() {
    let (bed, g) = start();
    let mut b = Browser::default();
    let csrf = b.sign_in(&g);
    let ca = Spec::ca("console CA 2").issue(None);
    let alice = Spec::client("alice").issue(Some(&ca));
    let soon = Spec::client("soon").valid(-86400, 10 * 86400).issue(Some(&ca));
    let pem = String::from_utf8(alice.cert_pem()).unwrap();
    // An organisation that does not exist: the API's message, next to the form.
    let r = b.post(
        &g,
        "/ui/certificates",
        &[
            ("csrf", &csrf),
            ("name", "Alice"),
            ("organisations", "acme"),
            ("pem", &pem),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("class=\"error\""), "{}", r.text());
    let api = http_request(
        g.admin,
        "POST",
        "/organisations",
        &[("Authorization", &format!("Bearer {ADMIN_KEY}"))],
        br#"{"name":"acme"}"#,
    );
    assert_eq!(api.status, 201, "{}", api.text());
    let org = api.json()["id"].as_str().unwrap().to_string();
    let r = b.post(
        &g,
        "/ui/certificates",
        &[
            ("csrf", &csrf),
            ("name", "Alice"),
            ("organisations", &org),
            ("pem", &pem),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let id = alice.id().to_hex();
    assert_eq!(
        r.header("location"),
        Some(format!("/ui/certificates?created={id}").as_str())
    );
    let soon_pem = String::from_utf8(soon.cert_pem()).unwrap();
    assert_eq!(
        b.post(&g, "/ui/certificates", &[("csrf", &csrf), ("pem", &soon_pem)])
            .status,
        303
    );
    // The list: names, organisations, expiry at a glance; the API sees the same.
    let list = b.get(&g, "/ui/certificates").text();
    assert!(list.contains("Alice") && list.contains(&org), "{list}");
    assert!(
        list.contains("class=\"soon\"") && list.contains("expires in &lt; 30 days"),
        "{list}"
    );
    let filtered = b.get(&g, &format!("/ui/certificates?organisation={org}")).text();
    assert!(
        filtered.contains("Alice") && !filtered.contains("CN=soon"),
        "{filtered}"
    );
    let api = http_request(
        g.admin,
        "GET",
        &format!("/certificates/{id}"),
        &[("Authorization", &format!("Bearer {ADMIN_KEY}"))],
        b"",
    );
    assert_eq!(api.json()["organisations"], serde_json::json!([org]));

    // A form post without the session's token, or from another site, changes nothing.
    let r = b.post(
        &g,
        &format!("/ui/certificates/{id}"),
        &[("name", "Mallory"), ("organisations", "")],
    );
    assert_eq!(r.status, 403);
    let r = b.send(
        &g,
        "POST",
        &format!("/ui/certificates/{id}"),
        &[("csrf", &csrf), ("name", "Mallory")],
        &[("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(r.status, 403);
    assert!(b.get(&g, &format!("/ui/certificates/{id}")).text().contains("Alice"));

    // Edit, then delete (with the confirmation box).
    let r = b.post(
        &g,
        &format!("/ui/certificates/{id}"),
        &[("csrf", &csrf), ("name", "Alice Doe"), ("organisations", "")],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let details = b.get(&g, &format!("/ui/certificates/{id}")).text();
    assert!(details.contains("Alice Doe"), "{details}");
    let r = b.post(&g, &format!("/ui/certificates/{id}/delete"), &[("csrf", &csrf)]);
    assert_eq!(r.status, 400, "no confirmation, no deletion");
    let r = b.post(
        &g,
        &format!("/ui/certificates/{id}/delete"),
        &[("csrf", &csrf), ("confirm", "yes")],
    );
    assert_eq!(r.status, 303);
    let api = http_request(
        g.admin,
        "GET",
        &format!("/certificates/{id}"),
        &[("Authorization", &format!("Bearer {ADMIN_KEY}"))],
        b"",
    );
    assert_eq!(api.status, 404);
    drop(bed);
}

/// A gateway whose `orders` API (token + mTLS) admits bob by the YAML and anyone else
/// only through the control plane; its admin listener serves the console.
fn start_with_orders(bed: &TestBed, up: &str) -> Gateway {
    let yaml = format!(
        "listen:\n  https: \"127.0.0.1:{{https}}\"\n  admin: \"127.0.0.1:{{admin}}\"\n  metrics: \"127.0.0.1:{{metrics}}\"\n  threads: 1\ntls: {{certificate: server.crt, key: server.key}}\nadmin:\n  data_dir: data\napis:\n  - name: orders\n    listen_path: /orders/\n    auth: {{type: token, mutual_tls: true, client_certificates: [bob.crt]}}\n    upstream: {{url: \"http://{up}\"}}\n"
    );
    bed.start_with_env(&yaml, &[("CERTGATE_ADMIN_KEY", ADMIN_KEY)])
}

#[test]
fn a_managed_product_approved_in_the_console_lets_exactly_its_certificate_call() {
    let bed = TestBed::new("console flow CA");
    let ca = Spec::ca("console flow clients").issue(None);
    let alice = Spec::client("alice").issue(Some(&ca));
    let bob = Spec::client("bob").issue(Some(&ca));
    bob.write(bed.path(), "bob");
    let up = certgate::echo::start_plain("console-up").unwrap();
    let g = start_with_orders(&bed, &up.addr.to_string());
    let mut b = Browser::default();
    let csrf = b.sign_in(&g);

    assert_eq!(
        b.post(&g, "/ui/organisations", &[("csrf", &csrf), ("name", "Acme")])
            .status,
        303
    );
    let org = row_id(&b.get(&g, "/ui/organisations").text(), "Acme");
    let pem = String::from_utf8(alice.cert_pem()).unwrap();
    let r = b.post(
        &g,
        "/ui/certificates",
        &[
            ("csrf", &csrf),
            ("name", "Alice"),
            ("organisations", &org),
            ("pem", &pem),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let r = b.post(
        &g,
        "/ui/products",
        &[
            ("csrf", &csrf),
            ("name", "Orders"),
            ("apis", "orders"),
            ("auth", "token_mtls"),
            ("certificate_mode", "managed"),
            ("bind_certificate_to_token", "yes"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let product = row_id(&b.get(&g, "/ui/products").text(), "Orders");
    assert_eq!(
        b.post(
            &g,
            "/ui/apps",
            &[("csrf", &csrf), ("name", "Shop"), ("organisation", &org)]
        )
        .status,
        303
    );
    let app = row_id(&b.get(&g, "/ui/apps").text(), "Shop");
    let r = b.post(
        &g,
        "/ui/access-requests",
        &[("csrf", &csrf), ("app", &app), ("product", &product)],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    let requests = b.get(&g, "/ui/access-requests").text();
    let request = row_id(&requests, "Approve");
    // A bad product is the API's message beside the form.
    let r = b.post(
        &g,
        "/ui/products",
        &[
            ("csrf", &csrf),
            ("name", "Bad"),
            ("apis", "nope"),
            ("auth", "token_mtls"),
            ("certificate_mode", "managed"),
        ],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("class=\"error\""), "{}", r.text());

    // Approve: the token is shown once.
    let approved = b.post(
        &g,
        &format!("/ui/access-requests/{request}/approve"),
        &[("csrf", &csrf)],
    );
    assert_eq!(approved.status, 200, "{}", approved.text());
    let page = approved.text();
    let at = page.find("<code id=\"token\">").expect("the token, shown once") + 17;
    let token = page[at..at + page[at..].find('<').unwrap()].to_string();
    assert!(token.len() >= 32, "{token}");
    assert!(
        !b.get(&g, "/ui/access-requests").text().contains(&token),
        "never shown again"
    );
    assert!(!b.get(&g, "/ui/grants").text().contains(&token));

    // The gateway: alice with the token 200, bob (listed, not bound) 401, no token 401.
    let call = |who: &certgate::pki::Issued, tok: Option<&str>| {
        let auth = tok.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
        bed.client()
            .with_cert(who)
            .get(g.https, "/orders/x", &headers)
            .verdict()
    };
    assert_eq!(call(&alice, Some(&token)), (200, String::new()));
    assert_eq!(call(&bob, Some(&token)), (401, "cert_binding_mismatch".into()));
    assert_eq!(call(&alice, None).0, 401);

    // Revoke in the console: refused at once.
    let grants = b.get(&g, "/ui/grants").text();
    let grant = row_id(&grants, "Revoke");
    assert_eq!(
        b.post(&g, &format!("/ui/grants/{grant}/revoke"), &[("csrf", &csrf)])
            .status,
        303
    );
    assert_ne!(call(&alice, Some(&token)).0, 200);
    assert!(b.get(&g, "/ui/grants").text().contains("revoked"));
}

#[test]
fn the_apis_status_and_crl_screens() {
    let bed = TestBed::new("console screens CA");
    let ca = Spec::ca("console screens clients").issue(None);
    let bob = Spec::client("bob").issue(Some(&ca));
    bob.write(bed.path(), "bob");
    let g = start_with_orders(&bed, "127.0.0.1:1");
    let mut b = Browser::default();
    let csrf = b.sign_in(&g);

    let apis = b.get(&g, "/ui/apis").text();
    assert!(apis.contains("<td>orders</td>") && apis.contains("token"), "{apis}");
    assert!(apis.contains(&bob.id().to_hex()), "the allow list by ID: {apis}");
    assert!(apis.contains("(from a file)"), "{apis}");
    let status = b.get(&g, "/ui/status").text();
    assert!(
        status.contains("Generation served") && status.contains("single node"),
        "{status}"
    );
    assert!(status.contains("reloads applied, 0 refused"), "{status}");

    // A CRL from a CA certgate does not know: the API's refusal beside the form.
    let now = certgate::clock::now_unix();
    let crl = certgate::pki::crl(&ca, &[&bob.cert], now - 60, now + 3600).unwrap();
    let crl_pem = String::from_utf8(crl.to_pem().unwrap()).unwrap();
    let r = b.post(&g, "/ui/crls", &[("csrf", &csrf), ("pem", &crl_pem)]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("class=\"error\""));
    // Once the CA is in the store, the CRL loads and shows; bob is then refused.
    let ca_pem = String::from_utf8(ca.cert_pem()).unwrap();
    assert_eq!(
        b.post(
            &g,
            "/ui/certificates",
            &[("csrf", &csrf), ("name", "Client CA"), ("pem", &ca_pem)]
        )
        .status,
        303
    );
    let r = b.post(&g, "/ui/crls", &[("csrf", &csrf), ("pem", &crl_pem)]);
    assert_eq!(r.status, 303, "{}", r.text());
    let crls = b.get(&g, "/ui/crls").text();
    assert!(
        crls.contains("CN=console screens clients") && crls.contains("<td>1</td>"),
        "{crls}"
    );
    let r = bed
        .client()
        .with_cert(&bob)
        .get(g.https, "/orders/x", &[("authorization", "Bearer x")]);
    assert_eq!(r.code(), "cert_revoked");
}
