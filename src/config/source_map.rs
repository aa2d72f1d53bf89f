//! YAML path → line number, so that every config error can say where it is; and the
//! structural checks serde cannot make ([`structure_errors`]): a key given twice in one
//! mapping (serde keeps the last silently, or blames line 1), and aliases that expand to
//! more nodes than any config needs (a YAML "billion laughs" bomb).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Lines of every key and sequence item in a YAML document, by path
/// (`apis[0].auth.type`, the same form serde_path_to_error prints).
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    lines: HashMap<String, usize>,
}

/// Most nodes a document may expand to, aliases included: 100x the 17 MB config of the
/// compile benchmark would still pass.
pub const MAX_EXPANDED_NODES: u64 = 50_000_000;

/// A structural problem: the YAML path, its line and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructureError {
    /// Path of the offending key or node.
    pub path: String,
    /// Its line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
        /// Keys seen in this mapping, with their lines.
        seen: HashMap<String, usize>,
        anchor: usize,
        nodes: u64,
    },
    Seq {
        path: String,
        index: usize,
        anchor: usize,
        nodes: u64,
    },
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    record_lines: bool,
    lines: HashMap<String, usize>,
    /// Expanded node count of each anchored node, by anchor ID.
    anchors: HashMap<usize, u64>,
    /// Nodes of the whole document, aliases expanded.
    nodes: u64,
    errors: Vec<StructureError>,
}

// === impl SourceMap ===

impl SourceMap {
    /// Builds the map; a document the YAML scanner rejects yields an empty map (the
    /// deserialiser reports that error with its own line).
    pub fn build(text: &str) -> SourceMap {
        let mut rec = Recorder {
            record_lines: true,
            ..Recorder::default()
        };
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut rec, false);
        SourceMap { lines: rec.lines }
    }

    /// The line of `path`, or of its nearest ancestor that has one.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// Duplicate keys (each reported at its second occurrence, naming the first), alias
/// expansion past [`MAX_EXPANDED_NODES`], and text that is not YAML at all (at the line
/// the scanner stopped, so a broken document is never reported as a schema mismatch of
/// its first half).
pub fn structure_errors(text: &str) -> Vec<StructureError> {
    let mut rec = Recorder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut rec, false) {
        rec.errors.push(StructureError {
            path: String::new(),
            line: e.marker().line(),
            message: format!("not valid YAML: {}", e.info()),
        });
    }
    rec.errors
}

// === impl Recorder ===

impl Recorder {
    /// Counts `n` expanded nodes into the enclosing collection (or the document).
    fn count(&mut self, n: u64, mark: Marker) {
        match self.stack.last_mut() {
            Some(Frame::Map { nodes, .. } | Frame::Seq { nodes, .. }) => *nodes = nodes.saturating_add(n),
            None => {}
        }
        let before = self.nodes;
        self.nodes = self.nodes.saturating_add(n);
        if before <= MAX_EXPANDED_NODES && self.nodes > MAX_EXPANDED_NODES {
            self.errors.push(StructureError {
                path: String::new(),
                line: mark.line(),
                message: format!(
                    "YAML aliases expand this document to more than {MAX_EXPANDED_NODES} nodes (an alias bomb?)"
                ),
            });
        }
    }

    /// The path of the node that the next value event starts, recording its line.
    fn enter_value(&mut self, mark: Marker) -> Option<String> {
        let path = match self.stack.last_mut()? {
            Frame::Map { path, key, .. } => {
                let k = key.take()?;
                join(path, &k)
            }
            Frame::Seq { path, index, .. } => {
                let p = format!("{path}[{index}]");
                *index += 1;
                p
            }
        };
        if self.record_lines {
            self.lines.entry(path.clone()).or_insert(mark.line());
        }
        Some(path)
    }

    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, _, anchor, _) => {
                if self.expecting_key() {
                    if let Some(Frame::Map { path, key, seen, .. }) = self.stack.last_mut() {
                        let full = join(path, &value);
                        if let Some(first) = seen.get(&value) {
                            self.errors.push(StructureError {
                                path: full.clone(),
                                line: mark.line(),
                                message: format!("duplicate key `{value}` (first at line {first})"),
                            });
                        } else {
                            seen.insert(value.clone(), mark.line());
                        }
                        if self.record_lines {
                            self.lines.entry(full).or_insert(mark.line());
                        }
                        *key = Some(value);
                    }
                } else {
                    self.enter_value(mark);
                }
                if anchor > 0 {
                    self.anchors.insert(anchor, 1);
                }
                self.count(1, mark);
            }
            Event::Alias(id) => {
                self.enter_value(mark);
                let n = self.anchors.get(&id).copied().unwrap_or(1);
                self.count(n, mark);
            }
            Event::MappingStart(anchor, _) => {
                let path = if self.stack.is_empty() {
                    Some(String::new())
                } else {
                    self.enter_value(mark)
                };
                self.stack.push(Frame::Map {
                    path: path.unwrap_or_default(),
                    key: None,
                    seen: HashMap::new(),
                    anchor,
                    nodes: 0,
                });
            }
            Event::SequenceStart(anchor, _) => {
                let path = if self.stack.is_empty() {
                    Some(String::new())
                } else {
                    self.enter_value(mark)
                };
                self.stack.push(Frame::Seq {
                    path: path.unwrap_or_default(),
                    index: 0,
                    anchor,
                    nodes: 0,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some(Frame::Map { anchor, nodes, .. } | Frame::Seq { anchor, nodes, .. }) = self.stack.pop() {
                    let total = nodes.saturating_add(1);
                    if anchor > 0 {
                        self.anchors.insert(anchor, total);
                    }
                    // The collection's own node; its children were counted as they came.
                    match self.stack.last_mut() {
                        Some(Frame::Map { nodes: n, .. } | Frame::Seq { nodes: n, .. }) => *n = n.saturating_add(nodes),
                        None => {}
                    }
                    self.count(1, mark);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_name_both_lines() {
        let text = "listen:\n  https: x\nsecurity:\n  pinned_public_keys:\n    a.example.com: [p1]\n    b.example.com: [p2]\n    a.example.com: [p3]\nlisten:\n  http: y\n";
        let errs = structure_errors(text);
        let got: Vec<_> = errs
            .iter()
            .map(|e| (e.path.as_str(), e.line, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "security.pinned_public_keys.a.example.com",
                    7,
                    "duplicate key `a.example.com` (first at line 5)"
                ),
                ("listen", 8, "duplicate key `listen` (first at line 1)"),
            ]
        );
        assert!(
            structure_errors("a: 1\nb: {a: 1}\nc: [{a: 1}, {a: 2}]\n").is_empty(),
            "same key in other mappings"
        );
    }

    #[test]
    fn alias_bombs_are_refused_without_expanding_them() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let start = std::time::Instant::now();
        let errs = structure_errors(&text);
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("alias bomb"), "{}", errs[0].message);
        assert!(
            structure_errors("base: &b [1, 2]\nuse: *b\nalso: *b\n").is_empty(),
            "ordinary aliases pass"
        );
    }

    #[test]
    fn lines_of_keys_and_items() {
        let text = "listen:\n  https: \"0.0.0.0:8443\"\napis:\n  - name: a\n    auth:\n      type: token\n  - name: b\n    hosts: [x, y]\n";
        let m = SourceMap::build(text);
        assert_eq!(m.line_of("listen"), Some(1));
        assert_eq!(m.line_of("listen.https"), Some(2));
        assert_eq!(m.line_of("apis[0]"), Some(4));
        assert_eq!(m.line_of("apis[0].auth.type"), Some(6));
        assert_eq!(m.line_of("apis[1].name"), Some(7));
        assert_eq!(m.line_of("apis[1].hosts[1]"), Some(8));
        assert_eq!(
            m.line_of("apis[1].upstream.url"),
            Some(7),
            "falls back to the nearest ancestor"
        );
    }
}
