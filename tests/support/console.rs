//! The operator console as a browser without JavaScript sees it: cookies kept between
//! requests, URL-encoded and multipart forms, sign-in with the admin key.

use crate::support::client::http_request;
use crate::support::{Gateway, Response};

/// A browser's worth of state: its cookies.
#[derive(Clone)]
pub struct Browser {
    key: String,
    cookies: Vec<(String, String)>,
}

impl Browser {
    /// A browser whose user knows the admin key `key`.
    pub fn new(key: &str) -> Browser {
        Browser {
            key: key.to_string(),
            cookies: Vec::new(),
        }
    }

    /// Sends a URL-encoded form (empty for a GET) with the cookies, and keeps the ones set.
    pub fn send(
        &mut self,
        g: &Gateway,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
        extra: &[(&str, &str)],
    ) -> Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.send_body(
            g,
            method,
            path,
            "application/x-www-form-urlencoded",
            body.as_bytes(),
            extra,
        )
    }

    /// Sends `body` as `content_type` with the cookies, and keeps the ones set.
    pub fn send_body(
        &mut self,
        g: &Gateway,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> Response {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut headers: Vec<(&str, &str)> = vec![("Content-Type", content_type)];
        if !cookie.is_empty() {
            headers.push(("Cookie", &cookie));
        }
        headers.extend_from_slice(extra);
        let r = http_request(g.admin, method, path, &headers, body);
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

    /// A GET.
    pub fn get(&mut self, g: &Gateway, path: &str) -> Response {
        self.send(g, "GET", path, &[], &[])
    }

    /// A POST of a URL-encoded form.
    pub fn post(&mut self, g: &Gateway, path: &str, form: &[(&str, &str)]) -> Response {
        self.send(g, "POST", path, form, &[])
    }

    /// The hidden `csrf` field of the page.
    pub fn csrf(page: &Response) -> String {
        let text = page.text();
        let at = text.find("name=\"csrf\" value=\"").expect("a form with a CSRF token");
        text[at + 19..at + 19 + 64].to_string()
    }

    /// Signs in with the key; returns the session's CSRF token.
    pub fn sign_in(&mut self, g: &Gateway) -> String {
        let login = self.get(g, "/ui/login");
        let key = self.key.clone();
        let r = self.post(g, "/ui/login", &[("csrf", &Self::csrf(&login)), ("key", &key)]);
        assert_eq!(r.status, 303, "{}", r.text());
        Self::csrf(&self.get(g, "/ui/certificates"))
    }

    /// A POST of a `multipart/form-data` form: text `fields`, then `files` as
    /// (field, file name, content), the way a browser sends a file input.
    pub fn post_multipart(
        &mut self,
        g: &Gateway,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> Response {
        let boundary = "----certgateTestBoundary7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        for (name, file, content) in files {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        self.send_body(g, "POST", path, &ct, &body, &[])
    }
}
