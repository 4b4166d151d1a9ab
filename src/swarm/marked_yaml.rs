//! A YAML document as a tree whose every node knows its line, so errors about stack
//! files can name the line they are about. Anchors, aliases and merge keys (`<<: *x`),
//! common in compose files, are resolved.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar as written; `quoted` tells `"3"` from `3`.
    Scalar {
        text: String,
        quoted: bool,
    },
    Null,
    Seq(Vec<Node>),
    /// Keys in the order written.
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
}

impl Node {
    /// The scalar's text, or `None` for a null, a sequence or a mapping.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// A plain (unquoted) integer scalar.
    pub fn as_i64(&self) -> Option<i64> {
        match &self.value {
            Value::Scalar {
                text,
                quoted: false,
            } => text.parse().ok(),
            _ => None,
        }
    }

    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// What the node is, for error messages.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } => "a scalar",
            Value::Null => "nothing",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A syntax error at a 1-based line and column.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A collection being built, with its anchor id (0: none).
enum Frame {
    Seq(Node, usize),
    Map(Node, Option<Node>, usize),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: std::collections::BTreeMap<usize, Node>,
    error: Option<SyntaxError>,
}

/// Applies merge keys: entries of `<<` maps fill in keys the mapping does not set.
fn merge(map: &mut Node) {
    let Value::Map(entries) = &mut map.value else {
        return;
    };
    if !entries.iter().any(|(k, _)| k.as_str() == Some("<<")) {
        return;
    }
    let (merges, mut own): (Vec<_>, Vec<_>) = std::mem::take(entries)
        .into_iter()
        .partition(|(k, _)| k.as_str() == Some("<<"));
    let mut sources = Vec::new();
    for (_, v) in merges {
        match v.value {
            Value::Seq(items) => sources.extend(items),
            _ => sources.push(v),
        }
    }
    for src in sources {
        if let Value::Map(src_entries) = src.value {
            for (k, v) in src_entries {
                if !own.iter().any(|(o, _)| o.value == k.value) {
                    own.push((k, v));
                }
            }
        }
    }
    *entries = own;
}

fn node(value: Value, mark: Marker) -> Node {
    Node {
        value,
        line: mark.line(),
        column: mark.col() + 1,
    }
}

impl Builder {
    fn push(&mut self, n: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(n),
            Some(Frame::Seq(seq, _)) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(n);
                }
            }
            Some(Frame::Map(map, key, _)) => match key.take() {
                None => *key = Some(n),
                Some(k) => {
                    if let Value::Map(entries) = &mut map.value {
                        entries.push((k, n));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                let quoted = style != TScalarStyle::Plain;
                let value = if !quoted && matches!(text.as_str(), "" | "~" | "null" | "Null") {
                    Value::Null
                } else {
                    Value::Scalar { text, quoted }
                };
                let n = node(value, mark);
                if anchor > 0 {
                    self.anchors.insert(anchor, n.clone());
                }
                self.push(n);
            }
            Event::SequenceStart(anchor, _) => self
                .stack
                .push(Frame::Seq(node(Value::Seq(vec![]), mark), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(Frame::Map(node(Value::Map(vec![]), mark), None, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (mut n, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(n, a)) | Some(Frame::Map(n, _, a)) => (n, a),
                    None => return,
                };
                merge(&mut n);
                if anchor > 0 {
                    self.anchors.insert(anchor, n.clone());
                }
                self.push(n);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => self.push(n.clone()),
                None => {
                    self.error = Some(SyntaxError {
                        line: mark.line(),
                        column: mark.col() + 1,
                        message: "this alias names no anchor defined before it".into(),
                    })
                }
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Parses one YAML document. An empty text is a null node.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut b = Builder::default();
    Parser::new_from_str(text)
        .load(&mut b, true)
        .map_err(|e| SyntaxError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
    if let Some(e) = b.error {
        return Err(e);
    }
    match b.docs.len() {
        0 => Ok(Node {
            value: Value::Null,
            line: 1,
            column: 1,
        }),
        1 => Ok(b.docs.pop().expect("one document")),
        _ => Err(SyntaxError {
            line: b.docs[1].line,
            column: 1,
            message: "the file holds several YAML documents; one is expected".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_lines() {
        let doc = parse("version: '3.7'\nservices:\n  a:\n    image: x\n    ports:\n      - 80\n")
            .unwrap();
        let a = doc.get("services").unwrap().get("a").unwrap();
        assert_eq!(a.get("image").unwrap().as_str(), Some("x"));
        assert_eq!(a.get("image").unwrap().line, 4);
        let Value::Seq(ports) = &a.get("ports").unwrap().value else {
            panic!("ports is a list")
        };
        assert_eq!((ports[0].line, ports[0].as_i64()), (6, Some(80)));
        assert_eq!(doc.get("version").unwrap().as_i64(), None);
    }

    #[test]
    fn syntax_errors_have_lines() {
        let e = parse("services:\n  a:\n    image: [x\n").unwrap_err();
        assert!(e.line >= 3, "{e:?}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let doc =
            parse("base: &b\n  delay: 60s\n  window: 120s\na:\n  <<: *b\n  delay: 10s\nc: *b\n")
                .unwrap();
        let a = doc.get("a").unwrap();
        assert_eq!(a.get("delay").unwrap().as_str(), Some("10s"));
        assert_eq!(a.get("window").unwrap().as_str(), Some("120s"));
        assert!(a.get("<<").is_none());
        assert_eq!(
            doc.get("c").unwrap().get("delay").unwrap().as_str(),
            Some("60s")
        );
    }
}
