//! The Grafana dashboard in `conf/` only queries metrics certgate exports.

use certgate::metrics::Metrics;

#[test]
fn dashboard_queries_only_exported_metrics() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/grafana-dashboard.json");
    let dash: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).expect("valid JSON");
    let m = Metrics::new();
    m.request("a", 200, 0.01);
    m.rejection("a", "no_route");
    m.upstream_error("a", "upstream_unavailable");
    m.handshake(true);
    m.set_certificates(&[certgate::snapshot::CertGauge {
        id: certgate::certs::CertId([1; 32]),
        subject: "CN=x".into(),
        role: "server",
        not_after: 1,
    }]);
    m.set_crls([(certgate::certs::CertId([2; 32]), Some(1))]);
    let exposition = String::from_utf8(m.encode()).unwrap();
    let mut exported: Vec<String> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    for hist in exported.clone() {
        for suffix in ["_bucket", "_sum", "_count"] {
            exported.push(format!("{hist}{suffix}"));
        }
    }
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 8);
    let mut seen = 0;
    for p in panels {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            for word in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("certgate_"))
            {
                assert!(
                    exported.iter().any(|e| e == word),
                    "panel {:?} queries {word}, which certgate does not export",
                    p["title"]
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 10);
}
