//! `apis[]`: names, listen paths and hosts into the route table; each API's auth and
//! upstream come from [`super::auth`] and [`super::upstream`].

use std::collections::HashMap;
use std::sync::Arc;

use openssl::x509::X509;

use super::upstream::{CaLists, GatewayUpstream};
use super::Compiler;
use crate::certs::CertId;
use crate::config::ConfigErrorKind as Kind;
use crate::snapshot::client_allow::CaSet;
use crate::snapshot::host::HostPattern;
use crate::snapshot::routes::RouteTableBuilder;
use crate::snapshot::Api;

impl Compiler<'_> {
    pub(super) fn apis(
        &mut self,
        gateway_cas: &[(CertId, X509)],
        ca_sets: &mut HashMap<Vec<CertId>, Arc<CaSet>>,
        gateway_upstream: &GatewayUpstream,
    ) -> (Vec<Api>, crate::snapshot::RouteTable) {
        let mut ca_lists = CaLists::default();
        let mut apis: Vec<Api> = Vec::new();
        let mut routes = RouteTableBuilder::default();
        let mut names: HashMap<String, usize> = HashMap::new();
        for (i, conf) in self.cfg.raw.apis.iter().enumerate() {
            let base = format!("apis[{i}]");
            let mark = self.mark();
            if conf.name.trim().is_empty() {
                self.error(Kind::Invalid, &format!("{base}.name"), "must not be empty");
            } else if let Some(j) = names.insert(conf.name.clone(), i) {
                self.error(
                    Kind::Duplicate,
                    &format!("{base}.name"),
                    format!("duplicate API name `{}` (also apis[{j}])", conf.name),
                );
            }
            if let Err(e) = check_listen_path(&conf.listen_path) {
                self.error(Kind::Invalid, &format!("{base}.listen_path"), e);
            }
            let mut hosts = Vec::new();
            for (j, h) in conf.hosts.iter().enumerate() {
                match HostPattern::parse(h) {
                    Ok(p) => hosts.push(p),
                    Err(e) => self.error(Kind::Invalid, &format!("{base}.hosts[{j}]"), e),
                }
            }
            let auth = self.api_auth(conf, &base, gateway_cas, ca_sets);
            let upstream = self.api_upstream(
                &conf.name,
                &conf.upstream,
                &format!("{base}.upstream"),
                gateway_upstream,
                &mut ca_lists,
            );
            let (Some(auth), Some(upstream)) = (auth, upstream) else {
                continue;
            };
            if self.failed_since(mark) {
                continue;
            }
            let index = apis.len() as u32;
            if let Err(other) = routes.add(&hosts, &conf.listen_path, index) {
                let other = apis[other as usize].name.clone();
                self.error(
                    Kind::Duplicate,
                    &format!("{base}.listen_path"),
                    format!("API `{other}` already serves this host and listen_path"),
                );
                continue;
            }
            apis.push(Api {
                index,
                name: conf.name.as_str().into(),
                listen_path: conf.listen_path.as_str().into(),
                strip_listen_path: conf.strip_listen_path,
                auth,
                upstream,
                forward: forward_fields(conf.forward_client_cert.as_deref()),
            });
        }
        (apis, routes.build())
    }
}

/// A listen path must start with `/` and already be in the form requests are normalised to
/// (SPEC §3 step 0), or it could never match.
fn check_listen_path(lp: &str) -> Result<(), String> {
    if !lp.starts_with('/') {
        return Err("must start with `/`".into());
    }
    if lp.contains(['?', ';']) {
        return Err("must not contain `?` or `;`".into());
    }
    match crate::request::path::normalize(lp) {
        Err(e) => Err(format!("not a valid path: {e}")),
        Ok(n) if n != lp => Err(format!("requests are normalised before routing: write `{n}`")),
        Ok(_) => Ok(()),
    }
}

/// `forward_client_cert` as flags; absent means `[sha256]`, an empty list nothing.
fn forward_fields(list: Option<&[crate::config::ForwardField]>) -> crate::snapshot::ingress::ForwardCert {
    use crate::config::ForwardField;
    let Some(list) = list else { return Default::default() };
    crate::snapshot::ingress::ForwardCert {
        sha256: list.contains(&ForwardField::Sha256),
        cert: list.contains(&ForwardField::Cert),
        chain: list.contains(&ForwardField::Chain),
    }
}
