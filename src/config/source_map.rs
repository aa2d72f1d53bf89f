//! YAML path → line number, so that every config error can say where it is.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Lines of every key and sequence item in a YAML document, by path
/// (`apis[0].auth.type`, the same form serde_path_to_error prints).
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    lines: HashMap<String, usize>,
}

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    lines: HashMap<String, usize>,
}

// === impl SourceMap ===

impl SourceMap {
    /// Builds the map; a document the YAML scanner rejects yields an empty map (the
    /// deserialiser reports that error with its own line).
    pub fn build(text: &str) -> SourceMap {
        let mut rec = Recorder::default();
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

// === impl Recorder ===

impl Recorder {
    /// The path of the node that the next value event starts, recording its line.
    fn enter_value(&mut self, mark: Marker) -> Option<String> {
        let path = match self.stack.last_mut()? {
            Frame::Map { path, key } => {
                let k = key.take()?;
                join(path, &k)
            }
            Frame::Seq { path, index } => {
                let p = format!("{path}[{index}]");
                *index += 1;
                p
            }
        };
        self.lines.entry(path.clone()).or_insert(mark.line());
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
            Event::Scalar(value, ..) => {
                if self.expecting_key() {
                    if let Some(Frame::Map { path, key }) = self.stack.last_mut() {
                        let full = join(path, &value);
                        self.lines.entry(full).or_insert(mark.line());
                        *key = Some(value);
                    }
                } else {
                    self.enter_value(mark);
                }
            }
            Event::Alias(_) => {
                self.enter_value(mark);
            }
            Event::MappingStart(..) => {
                let path = if self.stack.is_empty() {
                    Some(String::new())
                } else {
                    self.enter_value(mark)
                };
                self.stack.push(Frame::Map {
                    path: path.unwrap_or_default(),
                    key: None,
                });
            }
            Event::SequenceStart(..) => {
                let path = if self.stack.is_empty() {
                    Some(String::new())
                } else {
                    self.enter_value(mark)
                };
                self.stack.push(Frame::Seq {
                    path: path.unwrap_or_default(),
                    index: 0,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
