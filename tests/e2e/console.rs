//! The operator console (SPEC §13) over plain HTTP requests, as a browser without
//! JavaScript sends them: sign-in and the session cookie, CSRF and cross-site refusals, the
//! security headers, the certificate screens (list with expiry at a glance, upload pasted
//! or as a file, details, edit, delete), the product → app → request → approval → grant
//! flow against the gateway, keys, CRLs (pasted or a DER file), APIs and status — every
//! action through the admin API's own code. The browser test is `console_browser.rs`; the
//! status screen's fleet line is tested in `fleet.rs`.

use certgate::pki::Spec;

use crate::support::client::{http_request, row_id};
use crate::support::console::Browser;
use crate::support::curl::curl;
use crate::support::{Gateway, TestBed};

const ADMIN_KEY: &str = "console-admin-key-0123456789";

fn start() -> (TestBed, Gateway) {
    let bed = TestBed::new("console CA");
    let yaml = "listen:\n  https: \"127.0.0.1:{https}\"\n  admin: \"127.0.0.1:{admin}\"\n  metrics: \"127.0.0.1:{metrics}\"\n  threads: 1\ntls: {certificate: server.crt, key: server.key}\nadmin:\n  data_dir: data\napis:\n  - name: open\n    listen_path: /\n    upstream: {url: \"http://127.0.0.1:1\"}\n";
    let g = bed.start_with_env(yaml, &[("CERTGATE_ADMIN_KEY", ADMIN_KEY)]);
    (bed, g)
}

#[test]
fn sign_in_sessions_and_the_security_headers() {
    let (_bed, g) = start();
    let mut b = Browser::new(ADMIN_KEY);
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
    let mut other = Browser::new(ADMIN_KEY);
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
    let mut replay = b.clone();
    let csrf = Browser::csrf(&page);
    assert_eq!(b.post(&g, "/ui/logout", &[("csrf", &csrf)]).status, 303);
    assert_eq!(replay.get(&g, "/ui/certificates").header("location"), Some("/ui/login"));
    // The JSON API still wants its bearer key; a console cookie is no credential there.
    assert_eq!(replay.get(&g, "/certificates").status, 401);
}

#[test]
fn certificates_upload_edit_and_delete_through_the_api() {
    let (bed, g) = start();
    let mut b = Browser::new(ADMIN_KEY);
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
    let created = http_request(
        g.admin,
        "POST",
        "/organisations",
        &[("Authorization", &format!("Bearer {ADMIN_KEY}"))],
        br#"{"name":"acme"}"#,
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let org = created.json()["id"].as_str().unwrap().to_string();
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
    let listed = api(&g, "GET", &format!("/certificates/{id}"));
    assert_eq!(listed.json()["organisations"], serde_json::json!([org]));

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
    assert_eq!(api(&g, "GET", &format!("/certificates/{id}")).status, 404);
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
    let mut b = Browser::new(ADMIN_KEY);
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
    // Its details: who asked for what, by name, and the way to decide.
    let details = b.get(&g, &format!("/ui/access-requests/{request}")).text();
    for shown in ["Shop", "Orders", "pending", "/approve", "(managed)", "token bound"] {
        assert!(details.contains(shown), "{shown}: {details}");
    }
    assert_eq!(b.get(&g, "/ui/access-requests/req_nope").status, 404);
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
    let token = shown_token(&approved.text());
    // The request now names its grant, bound to alice; the token is not on it.
    let details = b.get(&g, &format!("/ui/access-requests/{request}")).text();
    assert!(details.contains("approved") && details.contains("grant_"), "{details}");
    assert!(
        details.contains(&alice.id().to_hex()) && !details.contains(&token),
        "{details}"
    );
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
    let mut b = Browser::new(ADMIN_KEY);
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

/// The token a page shows once (`<code id="token">`).
fn shown_token(page: &str) -> String {
    let at = page.find("<code id=\"token\">").expect("the token, shown once") + 17;
    let token = page[at..at + page[at..].find('<').unwrap()].to_string();
    assert!(token.len() >= 32, "{token}");
    token
}

fn api(g: &Gateway, method: &str, path: &str) -> crate::support::Response {
    http_request(
        g.admin,
        method,
        path,
        &[("Authorization", &format!("Bearer {ADMIN_KEY}"))],
        b"",
    )
}

#[test]
fn pem_and_crl_files_upload_as_multipart_forms() {
    let bed = TestBed::new("console files CA");
    let ca = Spec::ca("console files clients").issue(None);
    let bob = Spec::client("bob").issue(Some(&ca));
    bob.write(bed.path(), "bob");
    let g = start_with_orders(&bed, "127.0.0.1:1");
    let mut b = Browser::new(ADMIN_KEY);
    let csrf = b.sign_in(&g);
    let ca_pem = ca.cert_pem();
    let ca_id = ca.id().to_hex();

    // A multipart form without the session's token changes nothing either.
    let r = b.post_multipart(
        &g,
        "/ui/certificates",
        &[("name", "CA")],
        &[("pem_file", "ca.pem", &ca_pem)],
    );
    assert_eq!(r.status, 403, "{}", r.text());
    // A file and a pasted PEM at once could mean two things: refused.
    let r = b.post_multipart(
        &g,
        "/ui/certificates",
        &[("csrf", &csrf), ("pem", "-----BEGIN CERTIFICATE-----")],
        &[("pem_file", "ca.pem", &ca_pem)],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("not both"), "{}", r.text());
    assert_eq!(api(&g, "GET", &format!("/certificates/{ca_id}")).status, 404);
    // A file that holds no certificate: the API's message beside the form.
    let r = b.post_multipart(
        &g,
        "/ui/certificates",
        &[("csrf", &csrf), ("name", "Junk")],
        &[("pem_file", "junk.pem", b"not a certificate\n")],
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("class=\"error\""), "{}", r.text());
    // The file, with a name (and the empty text area a browser also sends).
    let r = b.post_multipart(
        &g,
        "/ui/certificates",
        &[
            ("csrf", &csrf),
            ("name", "Client CA"),
            ("organisations", ""),
            ("pem", ""),
        ],
        &[("pem_file", "ca.pem", &ca_pem)],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(
        api(&g, "GET", &format!("/certificates/{ca_id}")).json()["name"],
        "Client CA"
    );

    // The CRL as a DER file (binary): loaded, and bob is refused at once.
    let now = certgate::clock::now_unix();
    let der = certgate::pki::crl(&ca, &[&bob.cert], now - 60, now + 3600)
        .unwrap()
        .to_der()
        .unwrap();
    let r = b.post_multipart(
        &g,
        "/ui/crls",
        &[("csrf", &csrf), ("pem", "")],
        &[("crl_file", "ca.crl", &der)],
    );
    assert_eq!(r.status, 303, "{}", r.text());
    assert!(b.get(&g, "/ui/crls").text().contains("CN=console files clients"));
    let r = bed
        .client()
        .with_cert(&bob)
        .get(g.https, "/orders/x", &[("authorization", "Bearer x")]);
    assert_eq!(r.code(), "cert_revoked");

    // A multipart body cut short: a clear 400, nothing changed.
    let cut = b"--zz\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc";
    let r = b.send_body(
        &g,
        "POST",
        "/ui/organisations",
        "multipart/form-data; boundary=zz",
        cut,
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("could not be read"), "{}", r.text());
    assert_eq!(
        api(&g, "GET", "/organisations").json()["organisations"],
        serde_json::json!([])
    );
}

#[test]
fn keys_are_issued_listed_and_revoked_in_the_console() {
    let bed = TestBed::new("console keys CA");
    let ca = Spec::ca("console keys clients").issue(None);
    let bob = Spec::client("bob").issue(Some(&ca));
    bob.write(bed.path(), "bob");
    let up = certgate::echo::start_plain("console-keys-up").unwrap();
    let g = start_with_orders(&bed, &up.addr.to_string());
    let mut b = Browser::new(ADMIN_KEY);
    let csrf = b.sign_in(&g);
    assert!(b.get(&g, "/ui/keys").text().contains("None yet."));

    // An unknown API: the API's message beside the form.
    let r = b.post(&g, "/ui/keys", &[("csrf", &csrf), ("apis", "nope")]);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("class=\"error\""), "{}", r.text());
    let r = b.post(
        &g,
        "/ui/keys",
        &[
            ("csrf", &csrf),
            ("apis", "orders"),
            ("bound_certificates", ""),
            ("expires_at", ""),
        ],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let token = shown_token(&r.text());
    let call = || {
        bed.client()
            .with_cert(&bob)
            .get(g.https, "/orders/x", &[("authorization", &format!("Bearer {token}"))])
            .verdict()
    };
    assert_eq!(call(), (200, String::new()));

    // Listed by the API and the console, never with the token or its hash.
    let keys = api(&g, "GET", "/keys");
    assert_eq!(keys.status, 200);
    let listed = keys.json()["keys"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let id = listed[0]["id"].as_str().unwrap().to_string();
    assert_eq!(listed[0]["apis"], serde_json::json!(["orders"]));
    assert_eq!(listed[0]["expired"], false);
    assert!(listed[0].get("token").is_none() && listed[0].get("token_sha256").is_none());
    assert!(!keys.text().contains(&token));
    let page = b.get(&g, "/ui/keys").text();
    assert!(page.contains(&id) && !page.contains(&token), "{page}");

    // Revoking needs the session's token; then the key stops working at once.
    assert_eq!(b.post(&g, &format!("/ui/keys/{id}/revoke"), &[]).status, 403);
    assert_eq!(call().0, 200);
    let r = b.post(&g, &format!("/ui/keys/{id}/revoke"), &[("csrf", &csrf)]);
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(call(), (403, "token_invalid".into()));
    assert_eq!(api(&g, "GET", "/keys").json()["keys"], serde_json::json!([]));
    assert_eq!(api(&g, "DELETE", &format!("/keys/{id}")).status, 404);
    let r = b.post(&g, &format!("/ui/keys/{id}/revoke"), &[("csrf", &csrf)]);
    assert_eq!(r.status, 404);
    assert!(r.text().contains("no key"), "{}", r.text());
}

#[test]
fn over_a_tls_admin_listener_the_cookie_is_secure_and_the_admin_allow_list_applies() {
    let bed = TestBed::new("console TLS CA");
    let ca = Spec::ca("console TLS clients").issue(None);
    let (bob_crt, bob_key) = Spec::client("bob").issue(Some(&ca)).write(bed.path(), "bob");
    let (eve_crt, eve_key) = Spec::client("eve").issue(Some(&ca)).write(bed.path(), "eve");
    let yaml = "listen:\n  https: \"127.0.0.1:{https}\"\n  admin: \"127.0.0.1:{admin}\"\n  metrics: \"127.0.0.1:{metrics}\"\n  threads: 1\ntls: {certificate: server.crt, key: server.key}\nadmin:\n  data_dir: data\n  client_certificates: [bob.crt]\napis:\n  - name: open\n    listen_path: /\n    upstream: {url: \"http://127.0.0.1:1\"}\n";
    let g = bed.start_with_env(yaml, &[("CERTGATE_ADMIN_KEY", ADMIN_KEY)]);
    let ca_file = bed.file("server-ca.crt");
    let jar = bed.file("cookies.txt");
    let url = |path: &str| format!("https://127.0.0.1:{}{path}", g.admin);
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let as_who = |crt: Option<&std::path::Path>, key: Option<&std::path::Path>, extra: &[&str], path: &str| {
        let mut args = vec![
            "--cacert".to_string(),
            s(&ca_file),
            "-b".into(),
            s(&jar),
            "-c".into(),
            s(&jar),
        ];
        if let (Some(c), Some(k)) = (crt, key) {
            args.extend(["--cert".into(), s(c), "--key".into(), s(k)]);
        }
        args.extend(extra.iter().map(|x| x.to_string()));
        args.push(url(path));
        curl(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let bob = |extra: &[&str], path: &str| as_who(Some(&bob_crt), Some(&bob_key), extra, path);

    // No certificate, or one not on the admin allow list: the console is refused like the API.
    assert_eq!(as_who(None, None, &[], "/ui/login").status, 403);
    let eve = as_who(Some(&eve_crt), Some(&eve_key), &[], "/ui/login");
    assert_eq!(eve.status, 403, "{}", eve.body);
    assert!(eve.set_cookies().is_empty());

    // bob: the sign-in form, then a session cookie marked Secure (the listener is TLS).
    let login = bob(&[], "/ui/login");
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(
        login.set_cookies().iter().all(|c| c.contains("Secure")),
        "{}",
        login.head
    );
    let at = login.body.find("name=\"csrf\" value=\"").unwrap() + 19;
    let nonce = &login.body[at..at + 64];
    let signed_in = bob(
        &[
            "--data-urlencode",
            &format!("csrf={nonce}"),
            "--data-urlencode",
            &format!("key={ADMIN_KEY}"),
        ],
        "/ui/login",
    );
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let session = signed_in
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("certgate_session="))
        .expect("a session cookie")
        .to_string();
    for flag in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(session.contains(flag), "{flag}: {session}");
    }
    assert!(bob(&[], "/ui/certificates").body.contains("Sign out"));
    // The session cookie alone does not let eve in: the certificate is checked first.
    let eve = as_who(Some(&eve_crt), Some(&eve_key), &[], "/ui/certificates");
    assert_eq!(eve.status, 403);
}

#[test]
fn the_apis_screen_warns_about_an_upstream_not_verified() {
    let bed = TestBed::new("console warn CA");
    let yaml = "listen:\n  https: \"127.0.0.1:{https}\"\n  admin: \"127.0.0.1:{admin}\"\n  metrics: \"127.0.0.1:{metrics}\"\n  threads: 1\ntls: {certificate: server.crt, key: server.key}\nadmin:\n  data_dir: data\napis:\n  - name: careful\n    listen_path: /careful/\n    upstream: {url: \"https://127.0.0.1:1\"}\n  - name: reckless\n    listen_path: /reckless/\n    upstream: {url: \"https://127.0.0.1:2\", insecure_skip_verify: true}\n";
    let g = bed.start_with_env(yaml, &[("CERTGATE_ADMIN_KEY", ADMIN_KEY)]);
    let mut b = Browser::new(ADMIN_KEY);
    b.sign_in(&g);
    let page = b.get(&g, "/ui/apis").text();
    assert_eq!(page.matches("verification OFF").count(), 1, "{page}");
    let reckless = &page[page.find("<td>reckless</td>").expect("the API")..];
    assert!(
        reckless[..reckless.find("</tr>").unwrap()].contains("verification OFF"),
        "{page}"
    );
}
