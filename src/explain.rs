//! `certgate explain -c FILE --host H --path P [--cert PEM] [--header 'K: V']...`: the
//! answer to "why was this refused?" without reading logs. It compiles the config (with the
//! control plane's state, as `check` does), builds the request, and runs it through the
//! data plane's own functions: [`canonicalize`], [`route`] and [`authorize_traced`],
//! printing every step of SPEC §3 with its verdict.

use std::path::Path;

use anyhow::Context;
use pingora::http::RequestHeader;

use crate::policy::downstream::{authorize_traced, route, RequestView, Step};
use crate::policy::{Deny, PeerCert};
use crate::request::{canonicalize, BadRequest};

/// What `explain` was asked.
pub struct Question<'a> {
    /// The config file.
    pub config: &'a Path,
    /// The request's host.
    pub host: &'a str,
    /// The request's path (and query).
    pub path: &'a str,
    /// The method (default GET).
    pub method: &'a str,
    /// A PEM file: the client's leaf, then the intermediates it sends.
    pub cert: Option<&'a Path>,
    /// `Name: value` request headers.
    pub headers: &'a [String],
}

/// Prints the decision for `q` to stdout; `Ok(true)` when the request would be allowed.
pub fn explain(q: &Question<'_>, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<bool> {
    let snap = crate::server::check(q.config, env).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::anyhow!("the config does not load:\n{}", lines.join("\n"))
    })?;
    let mut req = RequestHeader::build(q.method, q.path.as_bytes(), None).context("the method or path")?;
    req.insert_header(http::header::HOST, q.host).context("--host")?;
    for h in q.headers {
        let (k, v) = h
            .split_once(':')
            .with_context(|| format!("--header {h:?}: not `Name: value`"))?;
        req.append_header(k.trim().to_string(), v.trim())
            .with_context(|| format!("--header {h:?}"))?;
    }
    let peer = match q.cert {
        None => None,
        Some(p) => {
            let mut certs = crate::cli::read_certificates(p)?.into_iter();
            let leaf = certs.next().expect("read_certificates returns at least one");
            Some(PeerCert::new(leaf, certs.collect())?)
        }
    };
    println!("request: {} {} (host {})", q.method, q.path, q.host);
    match &peer {
        Some(p) => println!(
            "client certificate: {} (subject {}, {} intermediate(s) sent)",
            p.id,
            subject(p),
            p.intermediates_len()
        ),
        None => println!("client certificate: none"),
    }
    let refused = |deny: Deny| {
        let a = deny.answer();
        println!("verdict: refused with {} {} \"{}\"", a.status, a.reason, a.message);
        Ok(false)
    };
    // Step 0: one meaning.
    let canonical = match canonicalize(&mut req) {
        Ok(c) => c,
        Err(e) => {
            println!("0. one meaning per request: refused ({e})");
            return refused(match e {
                BadRequest::Path(_) => Deny::BadPath,
                BadRequest::Host(_) => Deny::BadHost,
            });
        }
    };
    println!("0. one meaning per request: pass (path as decided: {})", req.uri.path());
    if canonical.stripped {
        println!("   (certgate's own certificate headers were removed: a client cannot send them)");
    }
    // Step 1: the route.
    let host = crate::proxy::request_host(&req);
    let index = match route(&snap, host, req.uri.path(), canonical.param_reading.as_deref()) {
        Ok(i) => i,
        Err(deny) => {
            println!("1. route: refused (no API matches this host and path, or the path means two things)");
            return refused(deny);
        }
    };
    let api = snap.api(index);
    println!("1. route: API `{}` (listen_path {})", api.name, api.listen_path);
    let view = RequestView {
        headers: &req.headers,
        peer: peer.as_ref(),
        now: crate::clock::now_unix(),
    };
    let mut printed = Vec::new();
    let decided = authorize_traced(&snap, api, &view, |step, outcome| {
        printed.push(step);
        match outcome {
            Ok(()) => println!("{}: pass", step.name()),
            Err(d) => println!("{}: refused ({})", step.name(), d.reason()),
        }
    });
    for step in [Step::AllowList, Step::Credential, Step::Binding] {
        if !printed.contains(&step) && decided.is_ok() {
            println!("{}: not required by this API", step.name());
        }
    }
    if let Err(deny) = decided {
        if let (Deny::CertNotAllowed(_), Some(p), Some(cas)) = (&deny, &peer, api.auth.allow.cas.as_deref()) {
            if let Some(why) = p.explain(cas) {
                println!("   the chain does not verify to the API's CAs: {why}");
            }
        }
        return refused(deny);
    }
    if api.auth.ocsp != crate::config::OcspMode::Off && peer.is_some() {
        println!("5. OCSP: asked by the gateway at request time; explain does not call responders");
    }
    let targets: Vec<&str> = api.upstream.targets.iter().map(|t| t.url.as_str()).collect();
    println!("verdict: allowed, proxied to {}", targets.join(", "));
    Ok(true)
}

/// The leaf's subject, as `certgate cert id` writes it.
fn subject(p: &PeerCert) -> String {
    p.leaf()
        .to_der()
        .ok()
        .and_then(|der| crate::certs::CertMeta::from_der(&der).ok())
        .map(|m| m.subject)
        .unwrap_or_else(|| "?".into())
}
