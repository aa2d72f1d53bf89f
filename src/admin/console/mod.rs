//! The operator console (SPEC §13) at `/ui/` on the admin listener: HTML screens over the
//! admin API. Every action is an [`AdminRequest`] to [`ControlPlane::handle`], the very
//! code the JSON API runs, so the console has no second path to the state; the API's error
//! messages are shown next to the form that caused them.
//!
//! Transport-free like the API: [`Console::handle`] takes a [`ConsoleRequest`] and returns a
//! [`ConsoleResponse`]; `http.rs` does the HTTP. Sign-in takes the admin key and gives a
//! session cookie (see [`session`]); every form that changes something carries the
//! session's CSRF token, and a POST from another site is refused before it is read.

mod form;
mod pages;
pub mod session;

use std::collections::HashMap;

use http::Method;
use maud::Markup;
use serde_json::{json, Value};

use self::form::Form;
use self::session::{cookie, same_secret, set_cookie, Sessions, COOKIE, LOGIN_COOKIE};
use super::api::{AdminRequest, AdminResponse, Query};
use super::ControlPlane;

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

/// The security headers of every console answer: scripts and styles only from the console
/// itself (never inline), nothing framed or sniffed, no referrer, nothing cached.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
];

/// One console request, transport-free.
pub struct ConsoleRequest<'a> {
    /// HTTP method.
    pub method: &'a Method,
    /// Path (starts with `/ui`).
    pub path: &'a str,
    /// Query string.
    pub query: Option<&'a str>,
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Sec-Fetch-Site` header.
    pub fetch_site: Option<&'a str>,
    /// The `Host` header (or HTTP/2 authority).
    pub host: Option<&'a str>,
    /// The `Content-Type` header (URL-encoded or multipart form).
    pub content_type: Option<&'a str>,
    /// The body (a form).
    pub body: &'a [u8],
    /// The admin listener speaks TLS (cookies get `Secure`).
    pub tls: bool,
}

/// A console answer.
pub struct ConsoleResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers besides [`SECURITY_HEADERS`] and the length.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The console: its sessions.
#[derive(Default)]
pub struct Console {
    sessions: Sessions,
}

impl ConsoleResponse {
    fn page(status: u16, markup: Markup) -> ConsoleResponse {
        ConsoleResponse {
            status,
            headers: vec![("content-type", "text/html; charset=utf-8".into())],
            body: markup.into_string().into_bytes(),
        }
    }

    fn redirect(to: &str) -> ConsoleResponse {
        ConsoleResponse {
            status: 303,
            headers: vec![("location", to.to_string())],
            body: Vec::new(),
        }
    }

    fn with_cookie(mut self, value: String) -> ConsoleResponse {
        self.headers.push(("set-cookie", value));
        self
    }
}

impl Console {
    /// Answers one console request on `cp`.
    pub fn handle(&self, cp: &ControlPlane, req: &ConsoleRequest<'_>) -> ConsoleResponse {
        let path = req.path.trim_end_matches('/');
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).skip(1).collect();
        if req.method == Method::GET && segs.as_slice() == ["static", "console.css"] {
            return ConsoleResponse {
                status: 200,
                headers: vec![("content-type", "text/css; charset=utf-8".into())],
                body: CSS.as_bytes().to_vec(),
            };
        }
        if req.method == Method::GET && segs.as_slice() == ["static", "console.js"] {
            return ConsoleResponse {
                status: 200,
                headers: vec![("content-type", "text/javascript; charset=utf-8".into())],
                body: JS.as_bytes().to_vec(),
            };
        }
        if req.method == Method::POST && cross_site(req) {
            log::warn!(
                "event=console_cross_site_refused path={} origin={:?} host={:?} sec_fetch_site={:?}",
                req.path,
                req.origin,
                req.host,
                req.fetch_site
            );
            return ConsoleResponse::page(
                403,
                pages::message("Refused", "A form from another site cannot change anything here.", None),
            );
        }
        let form = match Form::parse(req.content_type, req.body) {
            Ok(f) => f,
            Err(e) => return ConsoleResponse::page(400, pages::message("Bad form", &e, None)),
        };
        let session_id = cookie(req.cookie, COOKIE);
        let session = session_id.and_then(|id| self.sessions.get(id));
        match (req.method, segs.as_slice(), session) {
            (&Method::GET, ["login"], _) => self.login_page(req, None, 200),
            (&Method::POST, ["login"], _) => self.login(cp, req, &form),
            (&Method::GET, [], Some(_)) => ConsoleResponse::redirect("/ui/certificates"),
            (&Method::GET, _, None) => ConsoleResponse::redirect("/ui/login"),
            (_, _, None) => ConsoleResponse::page(
                401,
                pages::message("Signed out", "Sign in with the admin key first.", None),
            ),
            (&Method::POST, _, Some(s)) if !same_secret(form.value("csrf"), &s.csrf) => ConsoleResponse::page(
                403,
                pages::message(
                    "Refused",
                    "This form is not one the console gave out (CSRF token).",
                    Some(&s.csrf),
                ),
            ),
            (&Method::POST, ["logout"], Some(_)) => {
                if let Some(id) = session_id {
                    self.sessions.end(id);
                }
                ConsoleResponse::redirect("/ui/login").with_cookie(set_cookie(COOKIE, "", req.tls, Some(0)))
            }
            (&Method::GET, ["certificates"], Some(s)) => {
                let query = Query::from_bytes(req.query.unwrap_or("").as_bytes());
                self.certificates(cp, &s.csrf, &query, None, query.value("created"), 200)
            }
            (&Method::POST, ["certificates"], Some(s)) => self.upload(cp, &s.csrf, &form),
            (&Method::GET, ["certificates", id], Some(s)) => self.certificate(cp, &s.csrf, id, None),
            (&Method::POST, ["certificates", id], Some(s)) => self.edit(cp, &s.csrf, id, &form),
            (&Method::POST, ["certificates", id, "delete"], Some(s)) => {
                if form.value("confirm") != "yes" {
                    return self.certificate(cp, &s.csrf, id, Some("Tick the box to confirm the deletion."));
                }
                let a = call(cp, Method::DELETE, &format!("/certificates/{id}"), None, Vec::new());
                match a.status {
                    200..=299 => ConsoleResponse::redirect("/ui/certificates"),
                    _ => self.certificate(cp, &s.csrf, id, Some(&error_of(&a))),
                }
            }
            (&Method::GET, ["apis"], Some(s)) => self.apis(cp, &s.csrf),
            (&Method::GET, ["status"], Some(s)) => self.status(cp, &s.csrf),
            (&Method::GET, [screen], Some(s)) if CATALOGUE.iter().any(|c| c.screen == *screen) => {
                self.catalogue(cp, &s.csrf, screen, None, None, 200)
            }
            (&Method::POST, [screen], Some(s)) if CATALOGUE.iter().any(|c| c.screen == *screen) => {
                self.create(cp, &s.csrf, screen, &form)
            }
            (&Method::POST, ["access-requests", id, verb @ ("approve" | "reject")], Some(s)) => {
                let a = call(
                    cp,
                    Method::POST,
                    &format!("/access-requests/{id}/{verb}"),
                    None,
                    Vec::new(),
                );
                let notice = match (a.status, *verb) {
                    (200, "approve") => {
                        let token = a.body.as_ref().and_then(|b| b["grant"]["token"].as_str()).unwrap_or("");
                        Some(pages::token_once(token, "Approved."))
                    }
                    (200, _) => None,
                    _ => return self.catalogue(cp, &s.csrf, "access-requests", None, Some(&error_of(&a)), a.status),
                };
                self.catalogue(cp, &s.csrf, "access-requests", notice, None, 200)
            }
            (&Method::GET, ["access-requests", id], Some(s)) => self.request(cp, &s.csrf, id),
            (&Method::POST, ["keys", id, "revoke"], Some(s)) => {
                let a = call(cp, Method::DELETE, &format!("/keys/{id}"), None, Vec::new());
                match a.status {
                    204 => ConsoleResponse::redirect("/ui/keys"),
                    _ => self.catalogue(cp, &s.csrf, "keys", None, Some(&error_of(&a)), a.status),
                }
            }
            (&Method::POST, ["grants", id, "revoke"], Some(s)) => {
                let a = call(cp, Method::POST, &format!("/grants/{id}/revoke"), None, Vec::new());
                match a.status {
                    200 => ConsoleResponse::redirect("/ui/grants"),
                    _ => self.catalogue(cp, &s.csrf, "grants", None, Some(&error_of(&a)), a.status),
                }
            }
            (_, _, Some(s)) => ConsoleResponse::page(404, pages::message("Not found", "No such page.", Some(&s.csrf))),
        }
    }

    fn login_page(&self, req: &ConsoleRequest<'_>, error: Option<&str>, status: u16) -> ConsoleResponse {
        let nonce = session::random_token();
        ConsoleResponse::page(status, pages::login(&nonce, error)).with_cookie(set_cookie(
            LOGIN_COOKIE,
            &nonce,
            req.tls,
            Some(600),
        ))
    }

    fn login(&self, cp: &ControlPlane, req: &ConsoleRequest<'_>, form: &Form) -> ConsoleResponse {
        let nonce = cookie(req.cookie, LOGIN_COOKIE).unwrap_or("");
        if nonce.is_empty() || !same_secret(form.value("csrf"), nonce) {
            return self.login_page(req, Some("The sign-in form expired; try again."), 403);
        }
        if !same_secret(form.value("key"), &cp.admin_key) {
            return self.login_page(req, Some("The admin key is not valid."), 401);
        }
        let (id, _) = self.sessions.start();
        ConsoleResponse::redirect("/ui/certificates")
            .with_cookie(set_cookie(COOKIE, &id, req.tls, None))
            .with_cookie(set_cookie(LOGIN_COOKIE, "", req.tls, Some(0)))
    }

    fn certificates(
        &self,
        cp: &ControlPlane,
        csrf: &str,
        filters: &Query,
        error: Option<&str>,
        created: &str,
        status: u16,
    ) -> ConsoleResponse {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for name in ["organisation", "expiring_within_days"] {
            if !filters.value(name).is_empty() {
                q.append_pair(name, filters.value(name));
            }
        }
        let q = q.finish();
        let mut a = call(
            cp,
            Method::GET,
            "/certificates",
            (!q.is_empty()).then_some(q),
            Vec::new(),
        );
        name_organisations(cp, a.body.as_mut().and_then(|b| b["certificates"].as_array_mut()));
        let list_error = (a.status != 200).then(|| error_of(&a));
        let view = pages::CertificatesView {
            list: a.body.as_ref().unwrap_or(&Value::Null),
            organisation: filters.value("organisation"),
            expiring: filters.value("expiring_within_days"),
            error: error.or(list_error.as_deref()),
            created: (!created.is_empty()).then_some(created),
        };
        ConsoleResponse::page(status, pages::certificates(&view, csrf, crate::clock::now_unix()))
    }

    fn upload(&self, cp: &ControlPlane, csrf: &str, form: &Form) -> ConsoleResponse {
        let pem = match file_or_text(form, "pem_file", "pem") {
            Ok(p) => p,
            Err(e) => return self.certificates(cp, csrf, &Query::from_bytes(b""), Some(e), "", 400),
        };
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !form.value("name").trim().is_empty() {
            q.append_pair("name", form.value("name").trim());
        }
        for org in comma_list(form.value("organisations")) {
            q.append_pair("organisation", &org);
        }
        let a = call(cp, Method::POST, "/certificates", Some(q.finish()), pem.to_vec());
        if a.status == 201 {
            let id = a.body.as_ref().and_then(|b| b["id"].as_str()).unwrap_or("").to_string();
            return ConsoleResponse::redirect(&format!("/ui/certificates?created={id}"));
        }
        self.certificates(cp, csrf, &Query::from_bytes(b""), Some(&error_of(&a)), "", a.status)
    }

    fn certificate(&self, cp: &ControlPlane, csrf: &str, id: &str, error: Option<&str>) -> ConsoleResponse {
        let a = call(cp, Method::GET, &format!("/certificates/{id}"), None, Vec::new());
        match (a.status, &a.body) {
            (200, Some(c)) => ConsoleResponse::page(
                if error.is_some() { 400 } else { 200 },
                pages::certificate(c, csrf, error, crate::clock::now_unix()),
            ),
            _ => ConsoleResponse::page(
                a.status.max(400),
                pages::message("Not found", &error_of(&a), Some(csrf)),
            ),
        }
    }

    fn edit(&self, cp: &ControlPlane, csrf: &str, id: &str, form: &Form) -> ConsoleResponse {
        let patch = json!({
            "name": form.value("name").trim(),
            "organisations": comma_list(form.value("organisations")),
        });
        let body = serde_json::to_vec(&patch).unwrap_or_default();
        let a = call(cp, Method::PATCH, &format!("/certificates/{id}"), None, body);
        match a.status {
            200..=299 => ConsoleResponse::redirect(&format!("/ui/certificates/{id}")),
            _ => self.certificate(cp, csrf, id, Some(&error_of(&a))),
        }
    }
}

/// A screen over one admin API collection: where its list comes from and how its create
/// form maps to the API's JSON.
struct Catalogue {
    screen: &'static str,
    title: &'static str,
    /// `GET` path and the key of the list in its answer (`None`: the API has no list).
    list: Option<(&'static str, &'static str)>,
    columns: &'static [(&'static str, &'static str)],
    form_title: &'static str,
    /// Where the create form posts in the API.
    create: &'static str,
}

const CATALOGUE: &[Catalogue] = &[
    Catalogue {
        screen: "organisations",
        title: "Organisations",
        list: Some(("/organisations", "organisations")),
        columns: &[("ID", "id"), ("Name", "name")],
        form_title: "Add an organisation",
        create: "/organisations",
    },
    Catalogue {
        screen: "products",
        title: "Products",
        list: Some(("/products", "products")),
        columns: &[
            ("ID", "id"),
            ("Name", "name"),
            ("APIs", "apis"),
            ("Auth", "auth"),
            ("Certificate mode", "certificate_mode"),
            ("Bind certificate to token", "bind_certificate_to_token"),
        ],
        form_title: "Add a product",
        create: "/products",
    },
    Catalogue {
        screen: "apps",
        title: "Apps",
        list: Some(("/apps", "apps")),
        columns: &[("ID", "id"), ("Name", "name"), ("Organisation", "organisation")],
        form_title: "Add an app",
        create: "/apps",
    },
    Catalogue {
        screen: "access-requests",
        title: "Access requests",
        list: Some(("/access-requests", "access_requests")),
        columns: &[
            ("ID", "id"),
            ("Status", "status"),
            ("App", "app"),
            ("Product", "product"),
            ("Certificate", "certificate"),
        ],
        form_title: "Request access for an app",
        create: "/access-requests",
    },
    Catalogue {
        screen: "grants",
        title: "Grants",
        list: Some(("/grants", "grants")),
        columns: &[
            ("ID", "id"),
            ("App", "app"),
            ("Product", "product"),
            ("APIs", "apis"),
            ("Certificates", "certificates"),
            ("Bound to", "bound_certificates"),
        ],
        form_title: "",
        create: "",
    },
    Catalogue {
        screen: "crls",
        title: "CRLs",
        list: Some(("/crls", "crls")),
        columns: &[
            ("Issuer", "issuer"),
            ("This update", "this_update"),
            ("Next update", "next_update"),
            ("Entries", "entries"),
            ("Source", "source"),
        ],
        form_title: "Upload a CRL",
        create: "/crls",
    },
    Catalogue {
        screen: "keys",
        title: "Keys",
        list: Some(("/keys", "keys")),
        columns: &[
            ("ID", "id"),
            ("APIs", "apis"),
            ("Bound to", "bound_certificates"),
            ("Expires", "expires_at"),
            ("Expired", "expired"),
            ("Created", "created_at"),
        ],
        form_title: "Issue a key",
        create: "/keys",
    },
];

impl Console {
    /// A catalogue screen: its list, a notice (a token shown once), its create form.
    fn catalogue(
        &self,
        cp: &ControlPlane,
        csrf: &str,
        screen: &str,
        notice: Option<Markup>,
        error: Option<&str>,
        status: u16,
    ) -> ConsoleResponse {
        let Some(c) = CATALOGUE.iter().find(|c| c.screen == screen) else {
            return ConsoleResponse::page(404, pages::message("Not found", "No such page.", Some(csrf)));
        };
        let rows = |path: &str, key: &str| -> Vec<Value> {
            let a = call(cp, Method::GET, path, None, Vec::new());
            a.body.and_then(|b| b[key].as_array().cloned()).unwrap_or_default()
        };
        let mut list = c.list.map(|(path, key)| rows(path, key)).unwrap_or_default();
        // IDs that name an organisation, app or product are shown with its name.
        let mut names = HashMap::new();
        for (path, key) in [
            ("/organisations", "organisations"),
            ("/apps", "apps"),
            ("/products", "products"),
        ] {
            for (id, name) in self::names(cp, path, key) {
                let shown = format!("{name} ({id})");
                names.insert(id, shown);
            }
        }
        for row in &mut list {
            for field in ["organisation", "app", "product"] {
                if let Some(named) = row[field].as_str().and_then(|id| names.get(id)) {
                    row[field] = Value::String(named.clone());
                }
            }
        }
        let action: Option<&dyn Fn(&Value) -> Markup> = match screen {
            "access-requests" => Some(&|r: &Value| pages::request_actions(r, csrf)),
            "grants" => Some(&|g: &Value| pages::revoke_action(g, csrf)),
            "keys" => Some(&|k: &Value| pages::key_action(k, csrf)),
            _ => None,
        };
        let body = match c.list {
            Some(_) => pages::table(&list, c.columns, action),
            None => maud::html! {},
        };
        let options = |path: &str, key: &str| -> Vec<(String, String)> {
            rows(path, key)
                .iter()
                .map(|r| {
                    let id = r["id"].as_str().unwrap_or("").to_string();
                    let name = r["name"].as_str().unwrap_or(&id).to_string();
                    (id.clone(), format!("{name} ({id})"))
                })
                .collect()
        };
        use pages::Field::*;
        let fields: Vec<pages::Field<'_>> = match screen {
            "organisations" => vec![Text("name", "Name", "")],
            "products" => vec![
                Text("name", "Name", ""),
                Text("apis", "APIs (comma-separated API names from the YAML)", ""),
                Select(
                    "auth",
                    "Auth",
                    vec![
                        ("token_mtls".into(), "Auth token + mTLS".into()),
                        ("jwt_mtls".into(), "JWT + mTLS".into()),
                    ],
                ),
                Select(
                    "certificate_mode",
                    "Certificate mode",
                    vec![
                        ("managed".into(), "Managed (the organisation's certificates)".into()),
                        ("self_serve".into(), "Self-serve (sent with the request)".into()),
                    ],
                ),
                Check("bind_certificate_to_token", "Bind certificate to token"),
            ],
            "apps" => vec![
                Text("name", "Name", ""),
                Select(
                    "organisation",
                    "Organisation",
                    options("/organisations", "organisations"),
                ),
            ],
            "access-requests" => vec![
                Select("app", "App", options("/apps", "apps")),
                Select("product", "Product", options("/products", "products")),
                Text("certificate", "Certificate (PEM, self-serve products only)", ""),
            ],
            "crls" => vec![
                File("crl_file", "CRL file (DER, or PEM X509 CRL blocks)"),
                Area("pem", "or paste PEM X509 CRL blocks"),
            ],
            "keys" => vec![
                Text("apis", "APIs (comma-separated)", ""),
                Text("bound_certificates", "Bound to certificates (IDs, comma-separated)", ""),
                Text("expires_at", "Expires at (RFC 3339, optional)", "2027-01-01T00:00:00Z"),
            ],
            _ => Vec::new(),
        };
        let form = if c.create.is_empty() {
            maud::html! { p { "Grants are created by approving access requests." } }
        } else {
            pages::create_form(&format!("/ui/{screen}"), csrf, &fields, "Create", error)
        };
        let shown_error = if c.create.is_empty() { error } else { None };
        let notice = notice.or_else(|| shown_error.map(|e| maud::html! { p.error role="alert" { (e) } }));
        ConsoleResponse::page(status, pages::listing(c.title, csrf, notice, body, c.form_title, form))
    }

    /// A create form, as the API's JSON.
    fn create(&self, cp: &ControlPlane, csrf: &str, screen: &str, form: &Form) -> ConsoleResponse {
        let Some(c) = CATALOGUE.iter().find(|c| c.screen == screen && !c.create.is_empty()) else {
            return ConsoleResponse::page(404, pages::message("Not found", "No such page.", Some(csrf)));
        };
        let list = |name: &str| comma_list(form.value(name));
        let body = match screen {
            "organisations" => json!({"name": form.value("name")}),
            "products" => json!({
                "name": form.value("name"),
                "apis": list("apis"),
                "auth": form.value("auth"),
                "certificate_mode": form.value("certificate_mode"),
                "bind_certificate_to_token": form.value("bind_certificate_to_token") == "yes",
            }),
            "apps" => json!({"name": form.value("name"), "organisation": form.value("organisation")}),
            "access-requests" => {
                let mut b = json!({"app": form.value("app"), "product": form.value("product")});
                if !form.value("certificate").trim().is_empty() {
                    b["certificate"] = json!(form.value("certificate"));
                }
                b
            }
            "keys" => {
                let mut b = json!({"apis": list("apis"), "bound_certificates": list("bound_certificates")});
                if !form.value("expires_at").trim().is_empty() {
                    b["expires_at"] = json!(form.value("expires_at").trim());
                }
                b
            }
            _ => Value::Null,
        };
        let raw = match screen {
            "crls" => match file_or_text(form, "crl_file", "pem") {
                Ok(crl) => crl.to_vec(),
                Err(e) => return self.catalogue(cp, csrf, screen, None, Some(e), 400),
            },
            _ => serde_json::to_vec(&body).unwrap_or_default(),
        };
        let a = call(cp, Method::POST, c.create, None, raw);
        match a.status {
            201 if screen == "keys" => {
                let token = a.body.as_ref().and_then(|b| b["token"].as_str()).unwrap_or("");
                self.catalogue(
                    cp,
                    csrf,
                    screen,
                    Some(pages::token_once(token, "Key issued.")),
                    None,
                    201,
                )
            }
            200..=299 => ConsoleResponse::redirect(&format!("/ui/{screen}")),
            _ => self.catalogue(cp, csrf, screen, None, Some(&error_of(&a)), a.status),
        }
    }
}

impl Console {
    /// One access request: its app, product and certificate by name, and its grant.
    fn request(&self, cp: &ControlPlane, csrf: &str, id: &str) -> ConsoleResponse {
        let a = call(cp, Method::GET, &format!("/access-requests/{id}"), None, Vec::new());
        let Some(r) = a.body.filter(|_| a.status == 200) else {
            let text = format!("No access request {id}.");
            return ConsoleResponse::page(404, pages::message("Not found", &text, Some(csrf)));
        };
        let one = |path: String| {
            let a = call(cp, Method::GET, &path, None, Vec::new());
            a.body.filter(|_| a.status == 200)
        };
        let product = r["product"].as_str().and_then(|p| {
            let all = one("/products".to_string())?;
            all["products"].as_array()?.iter().find(|x| x["id"] == p).cloned()
        });
        let view = pages::RequestView {
            request: &r,
            app: names(cp, "/apps", "apps").get(r["app"].as_str().unwrap_or("")).cloned(),
            product: product.as_ref(),
            certificate: r["certificate"]
                .as_str()
                .and_then(|c| one(format!("/certificates/{c}"))),
            grant: r["grant"].as_str().and_then(|g| one(format!("/grants/{g}"))),
        };
        ConsoleResponse::page(200, pages::request(&view, csrf))
    }

    /// The APIs screen, from the snapshot being served; certificate names from the store.
    fn apis(&self, cp: &ControlPlane, csrf: &str) -> ConsoleResponse {
        let Some(snap) = cp.publisher.get().map(|p| p.store().load_full()) else {
            return ConsoleResponse::page(
                503,
                pages::message("Not ready", "The gateway has not started yet.", Some(csrf)),
            );
        };
        let names = names(cp, "/certificates", "certificates");
        let named = |id: String| (names.get(&id).cloned().unwrap_or_else(|| "(from a file)".into()), id);
        let list: Vec<pages::ApiView> = snap
            .apis
            .iter()
            .map(|a| {
                let mut leaves: Vec<String> = a.auth.allow.leaves.iter().map(|id| id.to_hex()).collect();
                leaves.sort();
                pages::ApiView {
                    name: a.name.to_string(),
                    listen_path: a.listen_path.to_string(),
                    auth: format!("{:?}", a.auth.kind).to_lowercase(),
                    mutual_tls: a.auth.mutual_tls,
                    leaves: leaves.into_iter().map(named).collect(),
                    cas: a
                        .auth
                        .allow
                        .cas
                        .as_ref()
                        .map(|s| s.ids.iter().map(|id| named(id.to_hex())).collect())
                        .unwrap_or_default(),
                    targets: a
                        .upstream
                        .targets
                        .iter()
                        .map(|t| {
                            let tls = t.tls.as_ref();
                            (
                                t.url.clone(),
                                tls.and_then(|x| x.client_cert.as_ref()).map(|c| c.0.to_hex()),
                                tls.and_then(|x| x.pins.as_ref()).map_or(0, |p| p.spki.len()),
                                tls.is_none_or(|x| x.verify),
                            )
                        })
                        .collect(),
                }
            })
            .collect();
        ConsoleResponse::page(200, pages::apis(&list, csrf))
    }

    /// The status screen: the generation served and its size, revocation, the fleet.
    fn status(&self, cp: &ControlPlane, csrf: &str) -> ConsoleResponse {
        let Some(snap) = cp.publisher.get().map(|p| p.store().load_full()) else {
            return ConsoleResponse::page(
                503,
                pages::message("Not ready", "The gateway has not started yet.", Some(csrf)),
            );
        };
        let t = snap.totals();
        let rows = [
            ("Generation served", snap.generation.to_string()),
            ("APIs", t.apis.to_string()),
            ("Tokens (YAML and issued)", t.tokens.to_string()),
            ("Certificates in the store", t.store_certificates.to_string()),
            ("Allow-list entries", t.allow_entries.to_string()),
            ("CRLs loaded", snap.revocation.crls.len().to_string()),
            ("Config warnings", snap.warnings.len().to_string()),
        ];
        let mut rows = rows.to_vec();
        if let Some(p) = cp.publisher.get() {
            let (ok, failed, last) = p.metrics().reload_summary();
            let when = crate::rfc3339::format(last as i64).unwrap_or_else(|| "-".into());
            rows.push((
                "Config loaded",
                format!("{when} ({ok} reloads applied, {failed} refused)"),
            ));
        }
        let fleet = match &cp.fleet {
            None => "single node".to_string(),
            Some(m) => {
                let synced = crate::rfc3339::format(m.metrics.last_sync.get() as i64).unwrap_or_else(|| "-".into());
                format!(
                    "member of `{}`: {}, revision {}, last in step {synced}",
                    m.store.name(),
                    if m.metrics.connected.get() == 1 {
                        "connected"
                    } else {
                        "NOT connected (serving its last state)"
                    },
                    m.metrics.revision.get()
                )
            }
        };
        rows.push(("Fleet", fleet));
        ConsoleResponse::page(200, pages::status(&rows, csrf))
    }
}

/// The names of the records the list at `path` (under `key`) holds, by ID.
fn names(cp: &ControlPlane, path: &str, key: &str) -> HashMap<String, String> {
    let a = call(cp, Method::GET, path, None, Vec::new());
    a.body
        .and_then(|b| b[key].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| Some((r["id"].as_str()?.to_string(), r["name"].as_str()?.to_string())))
        .collect()
}

/// Writes each certificate's organisations as "name (id)".
fn name_organisations(cp: &ControlPlane, certs: Option<&mut Vec<Value>>) {
    let Some(certs) = certs else { return };
    let names = names(cp, "/organisations", "organisations");
    for c in certs {
        if let Some(list) = c["organisations"].as_array_mut() {
            for o in list {
                if let Some(name) = o.as_str().and_then(|id| names.get(id).map(|n| format!("{n} ({id})"))) {
                    *o = Value::String(name);
                }
            }
        }
    }
}

/// One admin API call, as the JSON API would make it.
fn call(cp: &ControlPlane, method: Method, path: &str, query: Option<String>, body: Vec<u8>) -> AdminResponse {
    cp.handle(&AdminRequest {
        method,
        path: path.to_string(),
        query,
        body,
    })
}

/// The API's message for a refused call.
/// What a form uploads: its file `file` or its pasted `text` (one of them, not both).
fn file_or_text<'f>(form: &'f Form, file: &str, text: &str) -> Result<&'f [u8], &'static str> {
    match (form.file(file), form.value(text).trim().is_empty()) {
        (Some(_), false) => Err("Choose a file or paste the text, not both."),
        (Some(f), true) => Ok(f),
        (None, _) => Ok(form.value(text).as_bytes()),
    }
}

fn error_of(a: &AdminResponse) -> String {
    a.body
        .as_ref()
        .and_then(|b| b["error"].as_str())
        .map(String::from)
        .unwrap_or_else(|| format!("the admin API answered {}", a.status))
}

/// A comma-separated list, trimmed, empty entries dropped.
fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Whether a POST comes from another site. Browsers that send `Sec-Fetch-Site` are
/// believed (`same-origin`, or `none` for a typed URL, pass). Otherwise `Origin` must name
/// the host asked; `Origin: null` (which browsers also send for our own forms, since the
/// console's `Referrer-Policy` is `no-referrer`) only passes when `Sec-Fetch-Site` vouched.
fn cross_site(req: &ConsoleRequest<'_>) -> bool {
    if let Some(site) = req.fetch_site {
        return site != "same-origin" && site != "none";
    }
    match (req.origin, req.host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) != Some(host),
        (Some(_), None) => true,
        (None, _) => false,
    }
}
