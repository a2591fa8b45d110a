//! A YAML document as a tree of nodes that remember where they came from.
//!
//! The DAG file is validated against this tree rather than through serde so that every
//! problem can point at the exact key or value that causes it. Anchors and aliases are
//! expanded here, under a budget, so that an "alias bomb" is an error instead of an
//! out-of-memory kill; `<<` merge keys are applied here too.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};

/// A position in the source, as the YAML scanner counts it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// Offset in characters (not bytes) from the start of the source.
    pub index: u32,
    /// Line, counted from 1.
    pub line: u32,
    /// Column in characters, counted from 0.
    pub col: u32,
}

impl Pos {
    /// A position from the scanner's counts (files are limited far below 4 GiB).
    pub fn new(index: usize, line: usize, col: usize) -> Pos {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Pos {
            index: n(index),
            line: n(line),
            col: n(col),
        }
    }
}

/// A range of the source: `start` inclusive, `end` exclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// First character of the range.
    pub start: Pos,
    /// One past the last character of the range.
    pub end: Pos,
}

impl Span {
    fn from_yaml(span: YamlSpan) -> Span {
        let pos = |m: saphyr_parser::Marker| Pos::new(m.index(), m.line(), m.col());
        Span {
            start: pos(span.start),
            end: pos(span.end),
        }
    }

    /// An empty range at `pos`.
    pub fn at(pos: Pos) -> Span {
        Span {
            start: pos,
            end: pos,
        }
    }
}

/// One node of the document.
#[derive(Clone, Debug)]
pub struct Node {
    /// What the node holds.
    pub kind: NodeKind,
    /// Where it stands in the source.
    pub span: Span,
}

/// The three YAML node kinds, with plain `null`/`~`/empty scalars told apart.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// A plain `null`, `~`, `Null`, `NULL` or an empty value.
    Null,
    /// Any other scalar; `quoted` is true for quoted and block scalars, which are
    /// always strings.
    Scalar { value: String, quoted: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A short name of the node's type, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "null",
            NodeKind::Scalar { value, quoted } => {
                if *quoted {
                    "a string"
                } else if value == "true" || value == "false" {
                    "a boolean"
                } else if value.parse::<f64>().is_ok() {
                    "a number"
                } else {
                    "a string"
                }
            }
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }

    /// The scalar's text, if the node is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// What a copy of the node costs: its nodes and the bytes of its scalars.
    fn cost(&self) -> Cost {
        match &self.kind {
            NodeKind::Null => Cost { nodes: 1, bytes: 0 },
            NodeKind::Scalar { value, .. } => Cost {
                nodes: 1,
                bytes: value.len(),
            },
            NodeKind::Seq(items) => items
                .iter()
                .fold(Cost { nodes: 1, bytes: 0 }, |c, i| c.plus(i.cost())),
            NodeKind::Map(entries) => entries
                .iter()
                .fold(Cost { nodes: 1, bytes: 0 }, |c, (k, v)| {
                    c.plus(k.cost()).plus(v.cost())
                }),
        }
    }
}

/// Nodes and scalar bytes, added up over alias expansions.
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    nodes: usize,
    bytes: usize,
}

impl Cost {
    fn plus(self, other: Cost) -> Cost {
        Cost {
            nodes: self.nodes.saturating_add(other.nodes),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }
}

/// A document that is not well-formed YAML, or that cannot be loaded safely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// What is wrong, as a lowercase fragment.
    pub message: String,
    /// Where the scanner stopped.
    pub pos: Pos,
}

/// The most nodes a document may have, those written and those alias expansion
/// creates together: far above any real DAG file (100,000 tasks take under a
/// million), far below what would exhaust memory (a node costs about 90 bytes, so a
/// 256 MiB file of `[a,a,a,…]` would otherwise take 12 GB).
pub const NODE_BUDGET: usize = 2_000_000;

/// The most scalar bytes that alias expansion may copy: a node budget alone lets one
/// large anchored string, aliased a few thousand times, exhaust memory.
const ALIAS_BYTE_BUDGET: usize = 64 * 1024 * 1024;

/// Nesting deeper than this is refused; no DAG file needs more than a handful of levels.
const MAX_DEPTH: usize = 256;

enum Frame {
    Seq(Vec<Node>, Span, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Span, usize),
}

/// Parses `src` into one node tree. An empty document (or one holding only comments)
/// gives `Ok(None)`.
pub fn parse(src: &str) -> Result<Option<Node>, YamlError> {
    let mut parser = Parser::new_from_str(src);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0usize;
    let mut expanded = Cost::default();
    // Nodes written in the document (aliases' copies are in `expanded`).
    let mut written = 0usize;

    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| YamlError {
            message: e.info().to_string(),
            pos: Pos::new(e.marker().index(), e.marker().line(), e.marker().col()),
        })?;
        let span = Span::from_yaml(span);
        if matches!(
            event,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..)
        ) {
            written += 1;
            if written.saturating_add(expanded.nodes) > NODE_BUDGET {
                return Err(YamlError {
                    message: format!(
                        "the document has more than {NODE_BUDGET} nodes (keys, values and list items); no DAG file needs that many"
                    ),
                    pos: span.start,
                });
            }
        }
        let finished: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        message: "a DAG file holds one YAML document, found a second `---`".into(),
                        pos: span.start,
                    });
                }
                None
            }
            Event::Alias(id) => {
                let Some(node) = anchors.get(&id) else {
                    return Err(YamlError {
                        message: "alias refers to an unknown anchor".into(),
                        pos: span.start,
                    });
                };
                expanded = expanded.plus(node.cost());
                if expanded.nodes > NODE_BUDGET || expanded.bytes > ALIAS_BYTE_BUDGET {
                    return Err(alias_bomb(span));
                }
                Some((node.clone(), 0))
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                let kind = if !quoted && is_null(&value) {
                    NodeKind::Null
                } else {
                    // A copy of exactly the scalar's length: the scanner's buffer
                    // has room to spare, which over 100,000 tasks adds up.
                    NodeKind::Scalar {
                        value: value.as_ref().to_owned(),
                        quoted,
                    }
                };
                Some((Node { kind, span }, anchor))
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(span));
                }
                stack.push(Frame::Seq(Vec::new(), span, anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep(span));
                }
                stack.push(Frame::Map(Vec::new(), None, span, anchor));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(mut items, start, anchor)) => Some((
                    Node {
                        kind: NodeKind::Seq({
                            items.shrink_to_fit();
                            items
                        }),
                        span: Span {
                            start: start.start,
                            end: span.end,
                        },
                    },
                    anchor,
                )),
                _ => unreachable_event(span)?,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(entries, _, start, anchor)) => Some((
                    Node {
                        kind: NodeKind::Map({
                            let mut entries = apply_merge_keys(entries);
                            entries.shrink_to_fit();
                            entries
                        }),
                        span: Span {
                            start: start.start,
                            end: span.end,
                        },
                    },
                    anchor,
                )),
                _ => unreachable_event(span)?,
            },
        };
        if let Some((node, anchor)) = finished {
            if anchor != 0 {
                // The anchor's copy counts too: anchors nested 256 deep around one
                // large string would otherwise copy it 256 times unbudgeted.
                expanded = expanded.plus(node.cost());
                if expanded.nodes > NODE_BUDGET || expanded.bytes > ALIAS_BYTE_BUDGET {
                    return Err(alias_bomb(span));
                }
                anchors.insert(anchor, node.clone());
            }
            match stack.last_mut() {
                None => root = Some(node),
                Some(Frame::Seq(items, ..)) => items.push(node),
                Some(Frame::Map(entries, pending_key, ..)) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => entries.push((key, node)),
                },
            }
        }
    }
    // A document with nothing but comments, or an explicit empty one, is "empty".
    Ok(root.filter(|n| !matches!(n.kind, NodeKind::Null)))
}

fn alias_bomb(span: Span) -> YamlError {
    YamlError {
        message: format!(
            "aliases expand to more than {NODE_BUDGET} nodes or {} MiB of text; refusing to expand further",
            ALIAS_BYTE_BUDGET / (1024 * 1024)
        ),
        pos: span.start,
    }
}

fn too_deep(span: Span) -> YamlError {
    YamlError {
        message: format!("nesting deeper than {MAX_DEPTH} levels"),
        pos: span.start,
    }
}

fn unreachable_event(span: Span) -> Result<Option<(Node, usize)>, YamlError> {
    // The parser guarantees balanced start/end events; report rather than panic if a
    // future version ever breaks that.
    Err(YamlError {
        message: "unbalanced YAML structure".into(),
        pos: span.start,
    })
}

fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

/// Applies YAML merge keys (`<<: *base` or `<<: [*a, *b]`): entries of the merged maps
/// are added unless the map itself already has that key.
fn apply_merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let is_merge =
        |k: &Node| matches!(&k.kind, NodeKind::Scalar { value, quoted: false } if value == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return entries;
    }
    let mut own: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (key, value) in entries {
        if !is_merge(&key) {
            own.push((key, value));
            continue;
        }
        let sources = match value.kind {
            NodeKind::Seq(items) => items,
            _ => vec![value],
        };
        for source in sources {
            match source.kind {
                NodeKind::Map(inner) => merged.extend(inner),
                // A merge of a non-map is kept as an ordinary `<<` key so that
                // validation reports it as an unknown key at its own place.
                _ => own.push((key.clone(), source)),
            }
        }
    }
    for (key, value) in merged {
        let present = own
            .iter()
            .any(|(k, _)| k.as_scalar().is_some() && k.as_scalar() == key.as_scalar());
        if !present {
            own.push((key, value));
        }
    }
    own
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_keys(node: &Node) -> Vec<String> {
        match &node.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .map(|(k, _)| k.as_scalar().unwrap_or("?").to_string())
                .collect(),
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn empty_and_comment_only_documents_are_none() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("# nothing\n").unwrap().is_none());
    }

    #[test]
    fn spans_point_at_values() {
        let root = parse("name: x\ntasks:\n  a: {command: true}\n")
            .unwrap()
            .unwrap();
        let NodeKind::Map(entries) = &root.kind else {
            panic!()
        };
        let (k, v) = &entries[1];
        assert_eq!(k.as_scalar(), Some("tasks"));
        assert_eq!(k.span.start.line, 2);
        assert_eq!(v.span.start.line, 3);
    }

    #[test]
    fn merge_keys_fill_missing_entries_only() {
        let src = "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n";
        let root = parse(src).unwrap().unwrap();
        let NodeKind::Map(entries) = &root.kind else {
            panic!()
        };
        assert_eq!(map_keys(&entries[1].1), vec!["y", "x"]);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let err = parse(&src).unwrap_err();
        assert!(err.message.contains("aliases expand"), "{err:?}");
    }

    #[test]
    fn string_alias_bombs_are_refused_by_their_bytes() {
        // Few nodes, many bytes: one 1 MB string aliased 100 times.
        let mut src = format!("s: &s {}\nl: [", "x".repeat(1024 * 1024));
        src.push_str(&vec!["*s"; 100].join(", "));
        src.push_str("]\n");
        let err = parse(&src).unwrap_err();
        assert!(err.message.contains("aliases expand"), "{err:?}");
        assert!(err.message.contains("MiB of text"), "{err:?}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let src = "[".repeat(100_000);
        assert!(parse(&src).is_err());
    }

    #[test]
    fn second_document_is_an_error() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.message.contains("one YAML document"));
    }
}
