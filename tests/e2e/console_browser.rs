//! The console in a real browser (SPEC §13, issue 17): Debian's chromium driven through
//! chromedriver over WebDriver (fantoccini). Sign in, add an organisation and a certificate
//! with it, a managed product with binding, an app and an access request; approve it and
//! read the token shown once; the gateway admits that certificate with the token and
//! refuses another; revoke, and the call is refused. A form without its CSRF token and a
//! cross-site form post change nothing. Every screen is saved as a PNG under
//! `target/tmp/console-screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::support::client::{http_request, row_id};
use crate::support::curl::curl;
use crate::support::{free_port, Gateway, TestBed};

const ADMIN_KEY: &str = "console-browser-key-0123456789";

/// chromedriver on a free port, killed when dropped.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Chromedriver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver; scripts/install-deps.sh installs it)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Chromedriver { child, port }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Clicks what `selector` finds and waits for the page it leads to (a click only starts a
/// navigation; the old document's marker disappears with it).
async fn click_through(c: &fantoccini::Client, selector: &str) {
    c.execute("window.__certgate_old_page = true", vec![]).await.unwrap();
    c.find(Locator::Css(selector)).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let done = c
            .execute(
                "return typeof window.__certgate_old_page === 'undefined' && document.readyState === 'complete'",
                vec![],
            )
            .await
            .map(|v| v == json!(true))
            .unwrap_or(false);
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "{selector}: no new page");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The page's source once it contains `text`.
async fn wait_text(c: &fantoccini::Client, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = c.source().await.unwrap();
        if page.contains(text) {
            return page;
        }
        assert!(Instant::now() < deadline, "{text:?} never appeared: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn organisations(g: &Gateway) -> Vec<String> {
    let r = http_request(
        g.admin,
        "GET",
        "/organisations",
        &[("Authorization", &format!("Bearer {ADMIN_KEY}"))],
        b"",
    );
    r.json()["organisations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_browser() {
    let bed = TestBed::new("browser CA");
    let ca = certgate::pki::Spec::ca("browser clients").issue(None);
    let alice = certgate::pki::Spec::client("alice").issue(Some(&ca));
    let bob = certgate::pki::Spec::client("bob").issue(Some(&ca));
    bob.write(bed.path(), "bob");
    let up = certgate::echo::start_plain("browser-up").unwrap();
    let yaml = format!(
        "listen:\n  https: \"127.0.0.1:{{https}}\"\n  admin: \"127.0.0.1:{{admin}}\"\n  metrics: \"127.0.0.1:{{metrics}}\"\n  threads: 1\ntls: {{certificate: server.crt, key: server.key}}\nadmin:\n  data_dir: data\napis:\n  - name: orders\n    listen_path: /orders/\n    auth: {{type: token, mutual_tls: true, client_certificates: [bob.crt]}}\n    upstream: {{url: \"http://{}\"}}\n",
        up.addr
    );
    let g = bed.start_with_env(&yaml, &[("CERTGATE_ADMIN_KEY", ADMIN_KEY)]);
    let driver = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())],
        }),
    );
    let c = ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromium session");
    let base = format!("http://127.0.0.1:{}", g.admin);
    let shots = screenshots();
    let shot = |name: &'static str| {
        let c = c.clone();
        let path = shots.join(format!("{name}.png"));
        async move { std::fs::write(path, c.screenshot().await.unwrap()).unwrap() }
    };
    let css = |s: &'static str| Locator::Css(s);
    let submit = || click_through(&c, "form.upload button[type=submit]");

    // Sign in.
    c.goto(&format!("{base}/ui/login")).await.unwrap();
    shot("01-sign-in").await;
    c.find(css("#key")).await.unwrap().send_keys(ADMIN_KEY).await.unwrap();
    click_through(&c, "button[type=submit]").await;
    if c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(css("form.signout"))
        .await
        .is_err()
    {
        panic!("not signed in: {}\n{}", c.source().await.unwrap(), g.log());
    }

    // An organisation, then a certificate with a name and that organisation.
    c.goto(&format!("{base}/ui/organisations")).await.unwrap();
    c.find(css("#name")).await.unwrap().send_keys("Acme").await.unwrap();
    submit().await;
    let org = row_id(&c.source().await.unwrap(), "Acme");
    shot("02-organisations").await;
    c.goto(&format!("{base}/ui/certificates")).await.unwrap();
    c.find(css("#name")).await.unwrap().send_keys("Alice").await.unwrap();
    c.find(css("#organisations"))
        .await
        .unwrap()
        .send_keys(&org)
        .await
        .unwrap();
    // The PEM as a file, the way an operator picks one (the paste box is tested over HTTP).
    let pem_file = bed.file("alice-upload.pem");
    std::fs::write(&pem_file, alice.cert_pem()).unwrap();
    c.find(css("#pem_file"))
        .await
        .unwrap()
        .send_keys(pem_file.to_str().unwrap())
        .await
        .unwrap();
    submit().await;
    let page = c.source().await.unwrap();
    assert!(page.contains("Uploaded") && page.contains("Alice"), "{page}");
    shot("03-certificates").await;
    c.goto(&format!("{base}/ui/certificates/{}", alice.id().to_hex()))
        .await
        .unwrap();
    assert!(wait_text(&c, "Alice").await.contains("Delete"));
    shot("04-certificate-details").await;

    // A managed product with binding, an app, a request.
    c.goto(&format!("{base}/ui/products")).await.unwrap();
    c.find(css("#name")).await.unwrap().send_keys("Orders").await.unwrap();
    c.find(css("#apis")).await.unwrap().send_keys("orders").await.unwrap();
    c.find(css("#auth"))
        .await
        .unwrap()
        .select_by_value("token_mtls")
        .await
        .unwrap();
    c.find(css("#certificate_mode"))
        .await
        .unwrap()
        .select_by_value("managed")
        .await
        .unwrap();
    c.find(css("input[name=bind_certificate_to_token]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    submit().await;
    let page = c.source().await.unwrap();
    assert!(page.contains("<td>Orders</td>"), "{page}");
    shot("05-products").await;
    c.goto(&format!("{base}/ui/apps")).await.unwrap();
    c.find(css("#name")).await.unwrap().send_keys("Shop").await.unwrap();
    c.find(css("#organisation"))
        .await
        .unwrap()
        .select_by_value(&org)
        .await
        .unwrap();
    submit().await;
    shot("06-apps").await;
    c.goto(&format!("{base}/ui/access-requests")).await.unwrap();
    submit().await;
    shot("07-access-requests").await;
    let request = row_id(&c.source().await.unwrap(), "Approve");
    c.goto(&format!("{base}/ui/access-requests/{request}")).await.unwrap();
    assert!(wait_text(&c, "Shop").await.contains("pending"));
    shot("08-access-request-details").await;

    // Approve: the token, once.
    click_through(&c, "form[action$='/approve'] button").await;
    let token = match c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(css("#token"))
        .await
    {
        Ok(t) => t.text().await.unwrap(),
        Err(_) => panic!("no token shown: {}", c.source().await.unwrap()),
    };
    assert!(token.len() >= 32, "{token}");
    shot("09-approved-token-once").await;
    // The gateway, called with curl as a consumer would.
    alice.write(bed.path(), "alice");
    let call = |who: &str| {
        let (cert, key, ca) = (
            bed.file(&format!("{who}.crt")),
            bed.file(&format!("{who}.key")),
            bed.file("server-ca.crt"),
        );
        let r = curl(&[
            "--cacert",
            ca.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "-H",
            &format!("Authorization: Bearer {token}"),
            &format!("https://127.0.0.1:{}/orders/x", g.https),
        ]);
        (r.status, r.code())
    };
    assert_eq!(call("alice"), (200, String::new()));
    assert_eq!(call("bob"), (401, "cert_binding_mismatch".into()));
    c.goto(&format!("{base}/ui/access-requests")).await.unwrap();
    assert!(!c.source().await.unwrap().contains(&token), "shown once");

    // Revoke: refused at once.
    c.goto(&format!("{base}/ui/grants")).await.unwrap();
    shot("10-grants").await;
    click_through(&c, "form[action$='/revoke'] button").await;
    assert!(c.source().await.unwrap().contains("revoked"));
    assert_ne!(call("alice").0, 200);

    // A form without its CSRF token changes nothing.
    c.goto(&format!("{base}/ui/organisations")).await.unwrap();
    c.execute(
        "document.querySelector('form.upload input[name=csrf]').remove()",
        vec![],
    )
    .await
    .unwrap();
    c.find(css("#name")).await.unwrap().send_keys("NoToken").await.unwrap();
    submit().await;
    assert!(c.source().await.unwrap().contains("CSRF token"));
    // Nor does a form another site posts to the console.
    let evil = format!(
        "data:text/html,<form method=post action='{base}/ui/organisations'><input name=name value=Evil><input name=csrf value=x></form><script>document.forms[0].submit()</script>"
    );
    c.goto(&evil).await.unwrap();
    let refused = wait_text(&c, "<h1>").await;
    assert!(
        refused.contains("Refused") || refused.contains("Signed out"),
        "{refused}"
    );
    let names = organisations(&g);
    assert_eq!(names, vec!["Acme".to_string()], "nothing was created: {names:?}");

    // A key, issued with its token shown once.
    c.goto(&format!("{base}/ui/keys")).await.unwrap();
    c.find(css("#apis")).await.unwrap().send_keys("orders").await.unwrap();
    c.find(css("#expires_at"))
        .await
        .unwrap()
        .send_keys("2099-01-01T00:00:00Z")
        .await
        .unwrap();
    submit().await;
    match c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(css("#token"))
        .await
    {
        Ok(_) => {}
        Err(_) => panic!("no key token shown: {}", c.source().await.unwrap()),
    }
    assert!(c.source().await.unwrap().contains("2099-01-01T00:00:00Z"));
    shot("11-keys").await;

    // The read-only screens.
    for (path, name) in [
        ("/ui/apis", "12-apis"),
        ("/ui/status", "13-status"),
        ("/ui/crls", "14-crls"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let page = wait_text(&c, "<h1>").await;
        assert!(page.contains("Sign out"), "{path}: {page}");
        shot(name).await;
    }

    // Signing out ends it.
    c.goto(&format!("{base}/ui/certificates")).await.unwrap();
    click_through(&c, "form.signout button").await;
    c.goto(&format!("{base}/ui/certificates")).await.unwrap();
    assert!(c.current_url().await.unwrap().as_str().ends_with("/ui/login"));
    c.close().await.unwrap();
}
