//! The module graph is a DAG in the order of the flow (issue 12): every top-level module
//! of `src/` uses (`crate::<module>`) only modules declared above it in `src/lib.rs`.
//! Comments and `#[cfg(test)]` modules do not count.

use std::collections::BTreeMap;
use std::path::Path;

fn declared_order(src: &Path) -> Vec<String> {
    std::fs::read_to_string(src.join("lib.rs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect()
}

/// `crate::<name>` uses of each top-level module, outside comments and test modules.
fn uses(src: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().to_string_lossy().to_string();
            let module = rel.split('/').next().unwrap().trim_end_matches(".rs").to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for part in line.split("crate::").skip(1) {
                    let used: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !used.is_empty() && used != module {
                        out.entry(module.clone()).or_default().push((used, rel.clone()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn modules_use_only_modules_declared_before_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let order = declared_order(&src);
    let rank = |m: &str| order.iter().position(|o| o == m);
    let mut failures = Vec::new();
    for (module, used) in uses(&src) {
        let Some(mine) = rank(&module) else {
            failures.push(format!("{module} is not declared in lib.rs"));
            continue;
        };
        for (dep, file) in used {
            match rank(&dep) {
                Some(r) if r < mine => {}
                Some(_) => failures.push(format!("{module} uses {dep}, declared after it ({file})")),
                None => failures.push(format!("{module} uses unknown module {dep} ({file})")),
            }
        }
    }
    failures.sort();
    failures.dedup();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
