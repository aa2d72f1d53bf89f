//! Reading the YAML: `load(path)` is a thin wrapper over `parse_str(text, path)`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::{ConfigError, ConfigErrorKind, ConfigErrors, RawConfig, SourceMap};

/// A parsed config file with what is needed to report errors against it.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    /// The deserialised document.
    pub raw: RawConfig,
    /// The file it came from.
    pub file: PathBuf,
    /// The directory relative paths resolve from.
    pub base_dir: PathBuf,
    /// The text, for the YAML path → line map built on the first error only (a large valid
    /// config never pays for it).
    text: Arc<str>,
    source_map: OnceLock<SourceMap>,
}

// === impl LoadedConfig ===

impl LoadedConfig {
    /// Builds an error at `path` in this file.
    pub fn error(&self, kind: ConfigErrorKind, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            path: path.to_string(),
            line: self.source_map().line_of(path),
            kind,
            message: message.into(),
        }
    }

    /// YAML path → line.
    pub fn source_map(&self) -> &SourceMap {
        self.source_map.get_or_init(|| SourceMap::build(&self.text))
    }

    /// Resolves a path written in the config against the config file's directory.
    pub fn resolve_path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

/// Reads and parses a config file.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            path: String::new(),
            line: None,
            kind: ConfigErrorKind::Unreadable,
            message: format!("cannot read config file: {e}"),
        }])
    })?;
    parse_str(&text, path)
}

/// Parses config text as if it had been read from `file`.
pub fn parse_str(text: &str, file: &Path) -> Result<LoadedConfig, ConfigErrors> {
    let structural = super::source_map::structure_errors(text);
    if !structural.is_empty() {
        return Err(ConfigErrors(
            structural
                .into_iter()
                .map(|e| ConfigError {
                    file: file.to_path_buf(),
                    path: e.path,
                    line: Some(e.line),
                    kind: ConfigErrorKind::Syntax,
                    message: e.message,
                })
                .collect(),
        ));
    }
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = e.into_inner();
        let line = inner
            .location()
            .map(|l| l.line())
            .or_else(|| SourceMap::build(text).line_of(&path));
        let kind = serde_kind(&inner.to_string());
        ConfigErrors(vec![ConfigError {
            file: file.to_path_buf(),
            kind,
            message: clean_message(&inner.to_string(), &path),
            path,
            line,
        }])
    })?;
    let base_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let base_dir = if base_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base_dir
    };
    Ok(LoadedConfig {
        raw,
        file: file.to_path_buf(),
        base_dir,
        text: text.into(),
        source_map: OnceLock::new(),
    })
}

/// serde_yaml has no error kinds: serde's own schema messages are recognised by their
/// fixed openings; anything else is the YAML scanner or parser.
fn serde_kind(msg: &str) -> ConfigErrorKind {
    const SCHEMA: [&str; 7] = [
        "unknown field",
        "missing field",
        "invalid type",
        "invalid value",
        "unknown variant",
        "invalid length",
        "duplicate field",
    ];
    let msg = msg
        .split_once(": ")
        .filter(|(p, _)| !p.contains(' '))
        .map_or(msg, |(_, m)| m);
    match SCHEMA.iter().any(|s| msg.starts_with(s)) {
        true => ConfigErrorKind::Schema,
        false => ConfigErrorKind::Syntax,
    }
}

/// serde_yaml's messages repeat the path and end with the position; we print both ourselves.
fn clean_message(msg: &str, path: &str) -> String {
    let mut m = msg;
    if let Some(i) = m.rfind(" at line ") {
        m = &m[..i];
    }
    if let Some((prefix, rest)) = m.split_once(": ") {
        if !prefix.is_empty() && path.starts_with(prefix) {
            m = rest;
        }
    }
    m.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> ConfigError {
        parse_str(text, Path::new("t.yaml")).unwrap_err().0.remove(0)
    }

    #[test]
    fn unknown_key_names_path_and_line() {
        let e = err("listen:\n  https: \"127.0.0.1:1\"\napis:\n  - name: a\n    listen_path: /\n    upstrem: {}\n");
        assert_eq!(e.path, "apis[0].upstrem");
        assert!(e.message.contains("unknown field `upstrem`"), "{}", e.message);
        assert_eq!(e.line, Some(6));
    }

    #[test]
    fn bad_type_names_path_and_line() {
        let e = err("listen:\n  https: \"127.0.0.1:1\"\n  threads: many\n");
        assert_eq!(e.path, "listen.threads");
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("invalid"), "{}", e.message);
    }

    #[test]
    fn bad_enum_value() {
        let e = err("listen:\n  https: x\napis:\n  - name: a\n    listen_path: /\n    auth:\n      type: tokn\n    upstream: {url: http://x}\n");
        assert_eq!(e.path, "apis[0].auth.type");
        assert_eq!(e.line, Some(7));
        assert!(e.message.contains("unknown variant `tokn`"), "{}", e.message);
    }

    #[test]
    fn yaml_that_does_not_parse_is_a_syntax_error() {
        for text in ["listen: [\n", "listen:\n  https: \"a\n", "a: b: c\n", "- x\n y: 1\n"] {
            let e = err(text);
            assert_eq!(e.kind, ConfigErrorKind::Syntax, "{text:?}: {e}");
        }
        assert_eq!(err("a: 1\na: 2\n").kind, ConfigErrorKind::Syntax);
        assert_eq!(err("listen: {https: x}\nnope: 1\n").kind, ConfigErrorKind::Schema);
    }
}
