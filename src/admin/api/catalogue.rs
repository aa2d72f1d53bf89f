//! `/organisations`, `/products`, `/apps`: who consumes which APIs, and how.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use super::{new_id, non_empty, ok, parse_json, put, AdminResponse, ApiError};
use crate::admin::records::*;
use crate::admin::state::kind;
use crate::admin::ControlPlane;
use crate::config::{AuthType, LoadedConfig};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    name: String,
    apis: Vec<String>,
    auth: ProductAuth,
    certificate_mode: CertificateMode,
    #[serde(default)]
    bind_certificate_to_token: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApp {
    name: String,
    organisation: String,
}

impl ControlPlane {
    pub(super) fn add_organisation(&self, body: &[u8]) -> Result<AdminResponse, ApiError> {
        let b: NameBody = parse_json(body)?;
        non_empty("name", &b.name)?;
        self.change(|s| {
            let org = Organisation {
                id: new_id("org"),
                name: b.name.clone(),
            };
            let write = put(kind::ORGANISATION, &org.id, &org);
            let out = json!(org);
            s.organisations.insert(org.id.clone(), org);
            Ok((ok(201, out)?, vec![write]))
        })
    }

    /// The running config, provided it defines every API in `apis`.
    pub(super) fn config_defining(&self, apis: &[String]) -> Result<Arc<LoadedConfig>, ApiError> {
        let cfg = self
            .config()
            .ok_or_else(|| ApiError::bad("the gateway is still starting"))?;
        let unknown: Vec<&str> = apis
            .iter()
            .filter(|a| !cfg.raw.apis.iter().any(|c| &c.name == *a))
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            Ok(cfg)
        } else {
            Err(ApiError::new(
                400,
                "unknown_api",
                format!("unknown APIs: {}", unknown.join(", ")),
            ))
        }
    }

    pub(super) fn add_product(&self, body: &[u8]) -> Result<AdminResponse, ApiError> {
        let b: NewProduct = parse_json(body)?;
        non_empty("name", &b.name)?;
        if b.apis.is_empty() {
            return Err(ApiError::bad("a product needs at least one API"));
        }
        let cfg = self.config_defining(&b.apis)?;
        let want = match b.auth {
            ProductAuth::TokenMtls => AuthType::Token,
            ProductAuth::JwtMtls => AuthType::Jwt,
        };
        for name in &b.apis {
            let api = cfg.raw.apis.iter().find(|c| &c.name == name).expect("checked above");
            if api.auth.kind != want || !api.auth.mutual_tls {
                return Err(ApiError::bad(format!(
                    "API {name} must have auth.type: {} and mutual_tls: true for a {} product",
                    if want == AuthType::Token { "token" } else { "jwt" },
                    if want == AuthType::Token {
                        "token_mtls"
                    } else {
                        "jwt_mtls"
                    }
                )));
            }
        }
        if b.auth == ProductAuth::JwtMtls && b.bind_certificate_to_token {
            return Err(ApiError::bad(JWT_BINDING));
        }
        self.change(|s| {
            let p = Product {
                id: new_id("prod"),
                name: b.name.clone(),
                apis: b.apis.clone(),
                auth: b.auth,
                certificate_mode: b.certificate_mode,
                bind_certificate_to_token: b.bind_certificate_to_token,
            };
            let write = put(kind::PRODUCT, &p.id, &p);
            let out = json!(p);
            s.products.insert(p.id.clone(), p);
            Ok((ok(201, out)?, vec![write]))
        })
    }

    pub(super) fn add_app(&self, body: &[u8]) -> Result<AdminResponse, ApiError> {
        let b: NewApp = parse_json(body)?;
        non_empty("name", &b.name)?;
        self.change(|s| {
            super::certificates::check_orgs(s, std::slice::from_ref(&b.organisation))?;
            let app = App {
                id: new_id("app"),
                name: b.name.clone(),
                organisation: b.organisation.clone(),
            };
            let write = put(kind::APP, &app.id, &app);
            let out = json!(app);
            s.apps.insert(app.id.clone(), app);
            Ok((ok(201, out)?, vec![write]))
        })
    }
}

const JWT_BINDING: &str =
    "JWTs come from your identity provider: bind them with a cnf claim (require_cnf), not bind_certificate_to_token";
