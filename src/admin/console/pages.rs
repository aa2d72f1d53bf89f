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
            }
            body {
                header {
                    strong { "certgate" }
                    @if let Some(csrf) = csrf {
                        nav {
                            a href="/ui/certificates" { "Certificates" }
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
            form method="post" action="/ui/certificates" class="upload" {
                input type="hidden" name="csrf" value=(csrf);
                label for="name" { "Name" }
                input #name type="text" name="name";
                label for="organisations" { "Organisations (comma-separated)" }
                input #organisations type="text" name="organisations";
                label for="pem" { "PEM (certificate, chain, or certificate and key)" }
                textarea #pem name="pem" rows="8" required {}
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
