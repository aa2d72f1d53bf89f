//! The console's HTML, with maud: templates checked at compile time and every value
//! escaped by construction (no string concatenation of markup). No inline script or style:
//! the CSP forbids both; the one stylesheet is served from the binary.

use maud::{html, Markup, DOCTYPE};
use serde_json::Value;

/// The page frame: title, navigation (when signed in, with the sign-out form), content.
pub fn layout(title: &str, csrf: Option<&str>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · certgate" }
                link rel="stylesheet" href="/ui/static/console.css";
                script src="/ui/static/console.js" defer {}
            }
            body {
                header {
                    strong { "certgate" }
                    @if let Some(csrf) = csrf {
                        nav {
                            a href="/ui/certificates" { "Certificates" }
                            a href="/ui/organisations" { "Organisations" }
                            a href="/ui/products" { "Products" }
                            a href="/ui/apps" { "Apps" }
                            a href="/ui/access-requests" { "Access requests" }
                            a href="/ui/grants" { "Grants" }
                            a href="/ui/keys" { "Keys" }
                            a href="/ui/crls" { "CRLs" }
                            a href="/ui/apis" { "APIs" }
                            a href="/ui/status" { "Status" }
                        }
                        form method="post" action="/ui/logout" class="signout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// The sign-in form; `error` says why the last attempt failed (the key is never echoed).
pub fn login(nonce: &str, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/ui/login" {
                input type="hidden" name="csrf" value=(nonce);
                label for="key" { "Admin key" }
                input #key type="password" name="key" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `not_after` (RFC 3339) at a glance: "expired", "expires soon" (< 30 days) or nothing.
fn expiry_class(not_after: &str, now: i64) -> (&'static str, &'static str) {
    match crate::rfc3339::parse(not_after) {
        Some(t) if t < now => ("expired", "expired"),
        Some(t) if t < now + 30 * 86_400 => ("soon", "expires in < 30 days"),
        _ => ("ok", ""),
    }
}

/// What the certificate screens were asked: the filters, and an upload's outcome.
pub struct CertificatesView<'a> {
    /// `GET /certificates`'s answer.
    pub list: &'a Value,
    /// The organisation filter.
    pub organisation: &'a str,
    /// The expiry filter, in days.
    pub expiring: &'a str,
    /// The last upload's error, from the API.
    pub error: Option<&'a str>,
    /// The ID an upload just created.
    pub created: Option<&'a str>,
}

/// Certificates: the list with filters, and the upload form.
pub fn certificates(v: &CertificatesView<'_>, csrf: &str, now: i64) -> Markup {
    let empty = Vec::new();
    let rows = v.list["certificates"].as_array().unwrap_or(&empty);
    layout(
        "Certificates",
        Some(csrf),
        html! {
            form method="get" action="/ui/certificates" class="filters" {
                label { "Organisation " input type="text" name="organisation" value=(v.organisation); }
                label { "Expiring within (days) " input type="number" min="0" name="expiring_within_days" value=(v.expiring); }
                button type="submit" { "Filter" }
            }
            @if let Some(id) = v.created { p.notice role="status" { "Uploaded " code { (id) } } }
            table {
                thead { tr { th { "Name" } th { "Subject" } th { "Issuer" } th { "Not after" } th { "Organisations" } th { "Key" } } }
                tbody {
                    @for c in rows {
                        @let id = c["id"].as_str().unwrap_or("");
                        @let not_after = c["not_after"].as_str().unwrap_or("");
                        @let (class, label) = expiry_class(not_after, now);
                        tr class=(class) {
                            td { a href={ "/ui/certificates/" (id) } { (c["name"].as_str().unwrap_or(id)) } }
                            td { (c["subject"].as_str().unwrap_or("")) }
                            td { (c["issuer"].as_str().unwrap_or("")) }
                            td { (not_after) @if !label.is_empty() { " " span.badge { (label) } } }
                            td { (join(&c["organisations"])) }
                            td { @if c["has_private_key"].as_bool() == Some(true) { "yes" } @else { "no" } }
                        }
                    }
                }
            }
            @if rows.is_empty() { p { "No certificates." } }
            h2 { "Add new certificate" }
            form method="post" action="/ui/certificates" class="upload" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(csrf);
                label for="name" { "Name" }
                input #name type="text" name="name";
                label for="organisations" { "Organisations (comma-separated)" }
                input #organisations type="text" name="organisations";
                label for="pem_file" { "PEM file (certificate, chain, or certificate and key)" }
                input #pem_file type="file" name="pem_file" accept=".pem,.crt,.cer,.key,text/plain";
                label for="pem" { "or paste the PEM" }
                textarea #pem name="pem" rows="8" {}
                @if let Some(e) = v.error { p.error role="alert" { (e) } }
                button type="submit" { "Upload" }
            }
        },
    )
}

/// One certificate: its fields, the name and organisation edit, and the way to delete it.
pub fn certificate(c: &Value, csrf: &str, error: Option<&str>, now: i64) -> Markup {
    let id = c["id"].as_str().unwrap_or("");
    let not_after = c["not_after"].as_str().unwrap_or("");
    let (_, label) = expiry_class(not_after, now);
    layout(
        c["name"].as_str().unwrap_or(id),
        Some(csrf),
        html! {
            dl {
                dt { "ID" } dd { code { (id) } }
                dt { "Subject" } dd { (c["subject"].as_str().unwrap_or("")) }
                dt { "Issuer" } dd { (c["issuer"].as_str().unwrap_or("")) }
                dt { "DNS names" } dd { (join(&c["dns_names"])) }
                dt { "Serial" } dd { code { (c["serial"].as_str().unwrap_or("")) } }
                dt { "SPKI SHA-256" } dd { code { (c["spki_sha256"].as_str().unwrap_or("")) } }
                dt { "CA" } dd { @if c["is_ca"].as_bool() == Some(true) { "yes" } @else { "no" } }
                dt { "Not before" } dd { (c["not_before"].as_str().unwrap_or("")) }
                dt { "Not after" } dd { (not_after) @if !label.is_empty() { " " span.badge { (label) } } }
                dt { "Key" } dd { @if c["has_private_key"].as_bool() == Some(true) { "stored (encrypted)" } @else { "none" } }
                dt { "Source" } dd { (c["source"].as_str().unwrap_or("")) }
            }
            h2 { "Edit" }
            form method="post" action={ "/ui/certificates/" (id) } {
                input type="hidden" name="csrf" value=(csrf);
                label for="name" { "Name" }
                input #name type="text" name="name" value=(c["name"].as_str().unwrap_or(""));
                label for="organisations" { "Organisations (comma-separated)" }
                input #organisations type="text" name="organisations" value=(join(&c["organisations"]));
                @if let Some(e) = error { p.error role="alert" { (e) } }
                button type="submit" { "Save" }
            }
            h2 { "Delete" }
            form method="post" action={ "/ui/certificates/" (id) "/delete" } {
                input type="hidden" name="csrf" value=(csrf);
                label { input type="checkbox" name="confirm" value="yes" required; " Yes, delete this certificate" }
                button type="submit" class="danger" { "Delete" }
            }
        },
    )
}

/// A plain message page (not found, refused, signed out).
pub fn message(title: &str, text: &str, csrf: Option<&str>) -> Markup {
    layout(title, csrf, html! { p { (text) } })
}

fn join(v: &Value) -> String {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// A table of `rows` (JSON objects) with `columns` as (header, key), and an "Actions"
/// column from `actions` when given.
pub fn table(rows: &[Value], columns: &[(&str, &str)], actions: Option<&dyn Fn(&Value) -> Markup>) -> Markup {
    html! {
        @if rows.is_empty() { p { "None yet." } } @else {
            table {
                thead { tr { @for (h, _) in columns { th { (h) } } @if actions.is_some() { th { "Actions" } } } }
                tbody {
                    @for r in rows {
                        tr class=(r["status"].as_str().unwrap_or("")) {
                            @for (_, k) in columns { td { (cell(&r[*k])) } }
                            @if let Some(a) = actions { td { (a(r)) } }
                        }
                    }
                }
            }
        }
    }
}

/// A JSON value as table text.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => {
            if *b {
                "yes".into()
            } else {
                "no".into()
            }
        }
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// One field of a create form.
pub enum Field<'a> {
    /// A text input: (name, label, placeholder).
    Text(&'a str, &'a str, &'a str),
    /// A choice: (name, label, options as (value, label)).
    Select(&'a str, &'a str, Vec<(String, String)>),
    /// A checkbox: (name, label).
    Check(&'a str, &'a str),
    /// A multi-line text (PEM): (name, label).
    Area(&'a str, &'a str),
    /// A file to upload (the form becomes multipart): (name, label).
    File(&'a str, &'a str),
}

/// A create form posting to `action`, with the API's `error` beside it.
pub fn create_form(action: &str, csrf: &str, fields: &[Field<'_>], button: &str, error: Option<&str>) -> Markup {
    let multipart = fields.iter().any(|f| matches!(f, Field::File(..)));
    html! {
        form method="post" action=(action) class="upload" enctype=[multipart.then_some("multipart/form-data")] {
            input type="hidden" name="csrf" value=(csrf);
            @for f in fields {
                @match f {
                    Field::Text(name, label, placeholder) => {
                        label for=(name) { (label) }
                        input id=(name) type="text" name=(name) placeholder=(placeholder);
                    }
                    Field::Select(name, label, options) => {
                        label for=(name) { (label) }
                        select id=(name) name=(name) { @for (v, l) in options { option value=(v) { (l) } } }
                    }
                    Field::Check(name, label) => {
                        label { input type="checkbox" name=(name) value="yes"; " " (label) }
                    }
                    Field::Area(name, label) => {
                        label for=(name) { (label) }
                        textarea id=(name) name=(name) rows="8" {}
                    }
                    Field::File(name, label) => {
                        label for=(name) { (label) }
                        input id=(name) type="file" name=(name);
                    }
                }
            }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            button type="submit" { (button) }
        }
    }
}

/// A screen: a table, then a create form.
pub fn listing(
    title: &str,
    csrf: &str,
    notice: Option<Markup>,
    body: Markup,
    form_title: &str,
    form: Markup,
) -> Markup {
    layout(
        title,
        Some(csrf),
        html! {
            @if let Some(n) = notice { (n) }
            (body)
            h2 { (form_title) }
            (form)
        },
    )
}

/// The one time a token is shown: after an approval or a key's creation.
pub fn token_once(token: &str, what: &str) -> Markup {
    html! {
        div.notice role="status" {
            p { (what) " Copy the token now: it is not stored and will not be shown again." }
            p { code #token { (token) } " " button type="button" data-copy="token" { "Copy" } }
        }
    }
}

/// A link to the request's details, then approve and reject buttons for a pending request,
/// or what became of it.
pub fn request_actions(r: &Value, csrf: &str) -> Markup {
    let id = r["id"].as_str().unwrap_or("");
    html! {
        a href={ "/ui/access-requests/" (id) } { "Details" } " "
        (request_decision(r, csrf))
    }
}

/// Approve and reject buttons for a pending request, or what became of it.
fn request_decision(r: &Value, csrf: &str) -> Markup {
    let id = r["id"].as_str().unwrap_or("");
    html! {
        @if r["status"] == "pending" {
            (inline_post(&format!("/ui/access-requests/{id}/approve"), "Approve", None, csrf))
            (inline_post(&format!("/ui/access-requests/{id}/reject"), "Reject", Some("danger"), csrf))
        } @else {
            (r["status"].as_str().unwrap_or(""))
            @if let Some(g) = r["grant"].as_str() { " (grant " code { (g) } ")" }
        }
    }
}

/// What the access request screen shows: the request and what its IDs name.
pub struct RequestView<'a> {
    /// `GET /access-requests/{id}`'s answer.
    pub request: &'a Value,
    /// The app, as "name (ID)".
    pub app: Option<String>,
    /// The product object.
    pub product: Option<&'a Value>,
    /// The self-serve certificate object.
    pub certificate: Option<Value>,
    /// The grant, once approved (`GET /grants/{id}`).
    pub grant: Option<Value>,
}

/// One access request: who asked for what, with which certificate, and what became of it.
pub fn request(v: &RequestView<'_>, csrf: &str) -> Markup {
    let r = v.request;
    let id = r["id"].as_str().unwrap_or("");
    let text = |x: &Value, k: &str| cell(&x[k]);
    layout(
        &format!("Access request {id}"),
        Some(csrf),
        html! {
            dl {
                dt { "Status" } dd { (text(r, "status")) }
                dt { "App" } dd { (v.app.clone().unwrap_or_else(|| text(r, "app"))) }
                dt { "Product" } dd {
                    @match v.product {
                        Some(p) => {
                            (text(p, "name")) " " code.id { (text(p, "id")) }
                            div { "APIs: " (text(p, "apis")) " · auth " (text(p, "auth")) " · " (text(p, "certificate_mode"))
                                  @if p["bind_certificate_to_token"] == true { " · token bound to the certificates" } }
                        }
                        None => { (text(r, "product")) " (no longer exists)" }
                    }
                }
                dt { "Certificate" } dd {
                    @match &v.certificate {
                        Some(c) => { a href={ "/ui/certificates/" (text(c, "id")) } { (text(c, "name")) } " · " (text(c, "subject")) }
                        None => { "the organisation's certificates (managed)" }
                    }
                }
                @if let Some(g) = &v.grant {
                    dt { "Grant" } dd {
                        code { (text(g, "id")) } " · " (text(g, "status"))
                        div { "APIs: " (text(g, "apis")) }
                        div { "Certificates: " (text(g, "certificates")) }
                        div { "Bound to: " @if g["bound_certificates"].as_array().is_some_and(|b| !b.is_empty()) { (text(g, "bound_certificates")) } @else { "(not bound)" } }
                        (revoke_action(g, csrf))
                    }
                }
            }
            div.actions { (request_decision(r, csrf)) }
        },
    )
}

/// A revoke button for a key (its token stops working at once).
pub fn key_action(k: &Value, csrf: &str) -> Markup {
    let id = k["id"].as_str().unwrap_or("");
    inline_post(&format!("/ui/keys/{id}/revoke"), "Revoke", Some("danger"), csrf)
}

/// A revoke button for an active grant.
pub fn revoke_action(g: &Value, csrf: &str) -> Markup {
    let id = g["id"].as_str().unwrap_or("");
    html! {
        @if g["status"] == "active" {
            (inline_post(&format!("/ui/grants/{id}/revoke"), "Revoke", Some("danger"), csrf))
        } @else { (g["status"].as_str().unwrap_or("")) }
    }
}

/// A one-button form posting to `action` with the session's CSRF token.
fn inline_post(action: &str, label: &str, class: Option<&str>, csrf: &str) -> Markup {
    html! {
        form method="post" action=(action) class="inline" {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" class=[class] { (label) }
        }
    }
}

/// One API as the APIs screen shows it (read-only).
pub struct ApiView {
    /// Name.
    pub name: String,
    /// `listen_path`.
    pub listen_path: String,
    /// `auth.type`.
    pub auth: String,
    /// `auth.mutual_tls`.
    pub mutual_tls: bool,
    /// Allow-listed leaves: (name, ID).
    pub leaves: Vec<(String, String)>,
    /// Allow-listed CAs: (name, ID).
    pub cas: Vec<(String, String)>,
    /// Targets: (URL, client certificate ID, pin count, verification on).
    pub targets: Vec<(String, Option<String>, usize, bool)>,
}

/// The APIs screen: what each API demands and where it sends requests.
pub fn apis(list: &[ApiView], csrf: &str) -> Markup {
    let named = |items: &[(String, String)]| -> Markup {
        html! { @for (n, id) in items { div { (n) " " code.id { (id) } } } }
    };
    layout(
        "APIs",
        Some(csrf),
        html! {
            p { "Read-only: APIs come from the YAML (reload to change them)." }
            table {
                thead { tr { th { "Name" } th { "Listen path" } th { "Auth" } th { "mTLS" } th { "Allowed leaves" } th { "Allowed CAs" } th { "Upstream targets" } } }
                tbody {
                    @for a in list {
                        tr {
                            td { (a.name) } td { code { (a.listen_path) } } td { (a.auth) }
                            td { @if a.mutual_tls { "yes" } @else { "no" } }
                            td { (named(&a.leaves)) } td { (named(&a.cas)) }
                            td {
                                @for (url, cert, pins, verify) in &a.targets {
                                    div {
                                        code { (url) }
                                        @if let Some(c) = cert { " · client certificate " code.id { (c) } }
                                        @if *pins > 0 { " · " (pins) " pinned key(s)" }
                                        @if !verify { " " span.badge.warning { "verification OFF (insecure_skip_verify)" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// The status screen: `(label, value)` rows.
pub fn status(rows: &[(&str, String)], csrf: &str) -> Markup {
    layout(
        "Status",
        Some(csrf),
        html! { dl { @for (k, v) in rows { dt { (k) } dd { (v) } } } },
    )
}
