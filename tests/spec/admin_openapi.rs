//! The OpenAPI document and the admin router agree: every documented operation is routed,
//! and every routed operation is documented.

use certgate::admin::{AdminRequest, ControlPlane, ROUTES};
use certgate::config::parse_str;

fn doc() -> serde_yaml_ng::Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/admin-openapi.yaml");
    serde_yaml_ng::from_slice(&std::fs::read(p).unwrap()).expect("valid YAML")
}

fn documented() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc()["paths"].as_mapping().unwrap() {
        for method in ["get", "post", "patch", "delete", "put"] {
            if item.get(method).is_some() {
                out.push((method.to_uppercase(), path.as_str().unwrap().to_string()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_route_is_documented_and_every_documented_route_is_routed() {
    let mut routes: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    routes.sort();
    assert_eq!(routes, documented());

    let dir = tempfile::tempdir().unwrap();
    let cfg = parse_str(
        "listen: {http: \"127.0.0.1:1\", admin: \"127.0.0.1:2\"}\nadmin: {data_dir: data}\napis: []\n",
        &dir.path().join("c.yaml"),
    )
    .unwrap();
    let cp = ControlPlane::open(&cfg, &|n| (n == "CERTGATE_ADMIN_KEY").then(|| "k".repeat(20))).unwrap();
    for (method, path) in routes {
        let path = path.replace("{id}", "x");
        let r = cp.handle(&AdminRequest {
            method: method.parse().unwrap(),
            path: path.clone(),
            query: None,
            body: b"{}".to_vec(),
        });
        let code = r.body.as_ref().and_then(|b| b["code"].as_str()).unwrap_or("");
        let message = r.body.as_ref().and_then(|b| b["error"].as_str()).unwrap_or("");
        assert!(
            !(r.status == 404 && message.starts_with("no admin route")) && r.status != 405,
            "{method} {path} is not routed: {r:?}"
        );
        let _ = code;
    }
}
