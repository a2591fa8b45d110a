//! The generic checker: reads values of every kind (strings, durations, numbers,
//! choices, lists, maps) from the YAML tree, substituting `${{ params.NAME }}`, and
//! reports each problem with its place.

use crate::engine::Map;
use std::time::Duration;

use crate::engine::expr::{self, Expr};
use crate::engine::suggest::did_you_mean;
use crate::engine::yaml::{Node, NodeKind, Span};

use super::{LoadOptions, Problem};

/// How many characters apart [`Checker::char_marks`] are.
const CHAR_MARK_STEP: usize = 256;

pub(super) type Entries<'n> = Vec<(&'n str, &'n Node, &'n Node)>;

/// The value of `key` among a map's entries.
pub(super) fn value<'n>(entries: &Entries<'n>, key: &str) -> Option<&'n Node> {
    entries.iter().find(|(k, ..)| *k == key).map(|(_, _, v)| *v)
}

pub(super) struct Checker<'s, 'o> {
    pub(super) src: &'s str,
    /// The file's name as given: sub-DAG files are found beside it.
    pub(super) file: &'s str,
    /// The sub-DAG files read so far, by `file` as written (`None`: unusable,
    /// reported).
    pub(super) sub_dags: Map<String, Option<std::sync::Arc<super::subdag::SubDagFile>>>,
    /// The texts of the sub-DAG files read (theirs too), by path as read.
    pub(super) sub_sources: crate::engine::graph::SubSources,
    /// The invalid sub-DAG files, each with its own problems.
    pub(super) also: Vec<super::InvalidDag>,
    /// Where every [`CHAR_MARK_STEP`]th character of `src` starts (`None`: `src` is
    /// ASCII, characters are bytes), computed once: finding a span's text must not
    /// scan the whole document for each of thousands of expressions.
    pub(super) char_marks: std::cell::OnceCell<Option<Vec<usize>>>,
    pub(super) options: &'o LoadOptions,
    pub(super) problems: Vec<Problem>,
    pub(super) params: Vec<(String, String)>,
    /// The task whose keys are being read, if any.
    pub(super) current_task: Option<String>,
    /// The instance of a mapped task whose keys are being read, if any.
    pub(super) instance: Option<super::map::Instance>,
    /// `${{ tasks.ID... }}` references, checked once the graph is known.
    pub(super) output_refs: Vec<OutputRef>,
    /// The top-level `secret_env`, added to every task's.
    pub(super) secret_env: Vec<String>,
    /// The pools and their sizes (the file's, then the options').
    pub(super) pools: Vec<(String, u32)>,
}

/// A task's use of another task's output.
pub(super) struct OutputRef {
    pub(super) task: String,
    pub(super) from: String,
    pub(super) key: String,
    pub(super) span: Span,
}

impl Checker<'_, '_> {
    pub(super) fn report(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// The entries of a map node, with duplicate and non-string keys reported.
    pub(super) fn entries<'n>(&mut self, node: &'n Node, what: &str) -> Option<Entries<'n>> {
        let NodeKind::Map(pairs) = &node.kind else {
            self.report(Problem::at(
                node.span,
                format!("{what} must be a map, found {}", node.type_name()),
                "expected a map",
            ));
            return None;
        };
        let mut out: Entries<'n> = Vec::with_capacity(pairs.len());
        let mut seen: Map<&str, Span> =
            Map::with_capacity_and_hasher(pairs.len(), Default::default());
        for (k, v) in pairs {
            let Some(key) = k.as_scalar() else {
                self.report(Problem::at(
                    k.span,
                    format!("keys of {what} must be strings, found {}", k.type_name()),
                    "this key",
                ));
                continue;
            };
            if let Some(first) = seen.insert(key, k.span) {
                let message = if what == "`tasks`" {
                    format!("duplicate task id `{key}`")
                } else {
                    format!("duplicate key `{key}` in {what}")
                };
                self.report(Problem {
                    message,
                    labels: vec![
                        (first, "first defined here".into()),
                        (k.span, "defined again here".into()),
                    ],
                    help: None,
                });
                continue;
            }
            out.push((key, k, v));
        }
        Some(out)
    }

    /// Reports that the value of `key` is `node`, not a map: `message`, the type
    /// found, and `help`. An empty value is shown at its key.
    pub(super) fn not_a_map(&mut self, key: &Node, node: &Node, message: &str, help: &str) {
        let span = if matches!(node.kind, NodeKind::Null) {
            key.span
        } else {
            node.span
        };
        self.report(
            Problem::at(
                span,
                format!("{message}, found {}", node.type_name()),
                "expected a map",
            )
            .help(help),
        );
    }

    /// Reports keys not in `allowed`, suggesting the nearest valid one.
    pub(super) fn unknown_keys(&mut self, entries: &Entries<'_>, allowed: &[&str], what: &str) {
        for (key, k, _) in entries {
            if !allowed.contains(key) {
                let help = match did_you_mean(key, allowed.iter().copied()) {
                    Some(help) => help,
                    None => format!("valid keys in {what}: {}", allowed.join(", ")),
                };
                self.report(
                    Problem::at(
                        k.span,
                        format!("unknown key `{key}` in {what}"),
                        "unknown key",
                    )
                    .help(help),
                );
            }
        }
    }

    pub(super) fn type_error(&mut self, node: &Node, key: &str, expected: &str) {
        self.report(Problem::at(
            node.span,
            format!("`{key}` must be {expected}, found {}", node.type_name()),
            format!("expected {expected}"),
        ));
    }

    /// A scalar value as a string, without substitution.
    pub(super) fn raw_string(&mut self, node: &Node, key: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { value, .. } if value.contains('\0') => {
                self.report(nul_problem(node.span, key));
                None
            }
            NodeKind::Scalar { value, .. } => Some(value.clone()),
            _ => {
                self.type_error(node, key, "a string");
                None
            }
        }
    }

    /// A scalar value as a string, with `${{ params.NAME }}` substituted.
    pub(super) fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        let raw = self.raw_string(node, key)?;
        let value = self.substitute(node, &raw)?;
        // Keys read when the file is loaded cannot wait for a run-time item.
        if self.instance.as_ref().is_some_and(|i| i.template)
            && ["description", "method", "queue", "file"].contains(&key)
            && expr::substitute(&value, |e| match e {
                Expr::Item(_) => Err((String::new(), None)),
                _ => Ok(None),
            })
            .is_err()
        {
            let span = self.narrow(node, "item");
            self.report(
                Problem::at(
                    span,
                    format!("`{key}` cannot use `item` when `for_each` is read from a task's output"),
                    "read when the file is loaded",
                )
                .help("use the item in the command, env, URL, body, headers, image, volumes or workdir"),
            );
            return None;
        }
        Some(value)
    }

    pub(super) fn optional_string(&mut self, node: &Node, key: &str) -> Option<Option<String>> {
        if matches!(node.kind, NodeKind::Null) {
            return Some(None);
        }
        self.string(node, key).map(Some)
    }

    pub(super) fn substitute(&mut self, node: &Node, raw: &str) -> Option<String> {
        let params = &self.params;
        let task = self.current_task.clone();
        let instance = self.instance.as_ref();
        let mut refs = Vec::new();
        let mut reported_apart = false;
        let template = instance.is_some_and(|i| i.template);
        let mut kept_items = 0;
        let result = expr::substitute(raw, |e| match e {
            // Substituted when the mapped task expands (`engine::fanout`).
            Expr::Item(_) if template => {
                kept_items += 1;
                Ok(None)
            }
            Expr::Item(key) => instance_item(instance, *key).map(Some),
            Expr::Matrix(axis) => instance_matrix(instance, axis).map(Some),
            Expr::Param(name) => match params.iter().find(|(k, _)| k == name) {
                Some((_, v)) => {
                    // Reported once, for the param itself (`check_param_values`).
                    reported_apart |= v.contains("${{");
                    Ok(Some(v.clone()))
                }
                None => {
                    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
                    let help = match did_you_mean(name, names.iter().copied()) {
                        Some(help) => help,
                        None if names.is_empty() => {
                            "declare it under `params:` at the top of the file".into()
                        }
                        None => format!("declared params: {}", names.join(", ")),
                    };
                    Err((format!("unknown param `{name}`"), Some(help)))
                }
            },
            Expr::Output { task: from, key } => match &task {
                Some(_) => {
                    refs.push((from.to_string(), key.to_string()));
                    Ok(None)
                }
                None => Err((
                    "task outputs can only be used in a task's own keys".to_string(),
                    Some("move this value into the task that needs it".to_string()),
                )),
            },
        });
        // Values put side by side must not make an expression of their own
        // (`$` from one and `{{ tasks.x.output }}` from the next): it would be read
        // when the task starts, unchecked.
        let kept = refs.len() + kept_items;
        let result = result.and_then(|value| {
            if value.matches("${{").count() > kept && !reported_apart {
                Err(vec![expr::ExprError {
                    text: raw.to_string(),
                    message: "the values substituted here put together `${{`, which dag would read as an expression".into(),
                    help: Some("change the param, item or matrix values so that no `${{` appears".into()),
                }])
            } else {
                Ok(value)
            }
        });
        match result {
            Ok(value) => {
                if let Some(task) = task {
                    for (from, key) in refs {
                        let span = self.narrow(node, &format!("tasks.{from}."));
                        self.output_refs.push(OutputRef {
                            task: task.clone(),
                            from,
                            key,
                            span,
                        });
                    }
                }
                Some(value)
            }
            Err(errors) => {
                for e in errors {
                    let span = self.narrow(node, &e.text);
                    let (message, help) = (e.message, e.help);
                    let label = if message.starts_with("unknown param") {
                        "not declared in `params`"
                    } else {
                        "invalid expression"
                    };
                    let help = help.unwrap_or_else(|| {
                        "expressions are `${{ params.NAME }}`, `${{ tasks.ID.outputs.KEY }}`, `${{ tasks.ID.output }}`, and in mapped tasks `${{ item }}`, `${{ item.KEY }}` and `${{ matrix.AXIS }}`".into()
                    });
                    self.report(Problem::at(span, message, label).help(help));
                }
                None
            }
        }
    }

    /// The span of `needle` inside `node`'s source text, or the node's span when it
    /// cannot be found verbatim (escapes, folded block scalars).
    pub(super) fn narrow(&self, node: &Node, needle: &str) -> Span {
        let text = self.node_text(node);
        let Some((text, base)) = text else {
            return node.span;
        };
        match text.find(needle) {
            Some(byte) => {
                let before = text[..byte].chars().count();
                let len = needle.chars().count();
                let mut span = node.span;
                span.start.index = (base + before) as u32;
                span.start.col += before as u32;
                span.end = span.start;
                span.end.index += len as u32;
                span.end.col += len as u32;
                span
            }
            None => node.span,
        }
    }

    pub(super) fn node_text(&self, node: &Node) -> Option<(&str, usize)> {
        let (start, end) = (node.span.start.index as usize, node.span.end.index as usize);
        let marks = self.char_marks.get_or_init(|| {
            (!self.src.is_ascii()).then(|| {
                self.src
                    .char_indices()
                    .step_by(CHAR_MARK_STEP)
                    .map(|(b, _)| b)
                    .collect()
            })
        });
        let Some(marks) = marks else {
            return self.src.get(start..end).map(|t| (t, start));
        };
        // The byte where character `c` starts: from the nearest mark, at most
        // CHAR_MARK_STEP characters on.
        let byte = |c: usize| -> Option<usize> {
            let from = *marks.get(c / CHAR_MARK_STEP)?;
            let skip = c % CHAR_MARK_STEP;
            self.src[from..]
                .char_indices()
                .map(|(b, _)| from + b)
                .chain([self.src.len()])
                .nth(skip)
        };
        let b_start = byte(start)
            .or_else(|| (start == self.src.chars().count()).then_some(self.src.len()))?;
        let b_end =
            byte(end).or_else(|| (end == self.src.chars().count()).then_some(self.src.len()))?;
        self.src.get(b_start..b_end).map(|t| (t, start))
    }

    pub(super) fn duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        let raw = self.string(node, key)?;
        match crate::engine::text::parse_duration(&raw) {
            Ok(d) => Some(d),
            Err(e) => {
                self.report(
                    Problem::at(
                        node.span,
                        format!("`{key}`: invalid duration `{raw}`: {e}"),
                        "invalid duration",
                    )
                    .help("write a duration such as 500ms, 30s, 10m or 1h30m"),
                );
                None
            }
        }
    }

    pub(super) fn uint(&mut self, node: &Node, key: &str, max: u64) -> Option<u64> {
        let parsed = match &node.kind {
            NodeKind::Scalar {
                value,
                quoted: false,
            } => value.parse::<u64>().ok(),
            _ => None,
        };
        match parsed {
            Some(n) if n <= max => Some(n),
            Some(_) => {
                self.report(Problem::at(
                    node.span,
                    format!("`{key}` must be at most {max}"),
                    "too large",
                ));
                None
            }
            None => {
                self.type_error(node, key, "a whole number ≥ 0");
                None
            }
        }
    }

    pub(super) fn int(&mut self, node: &Node, key: &str) -> Option<i64> {
        let parsed = match &node.kind {
            NodeKind::Scalar {
                value,
                quoted: false,
            } => value.parse::<i64>().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.type_error(node, key, "a whole number");
        }
        parsed
    }

    pub(super) fn choice<T: Copy>(
        &mut self,
        node: &Node,
        key: &str,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let raw = self.string(node, key)?;
        if let Some((_, v)) = choices.iter().find(|(n, _)| *n == raw) {
            return Some(*v);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        let help = match did_you_mean(&raw, names.iter().copied()) {
            Some(help) => help,
            None => format!("one of: {}", names.join(", ")),
        };
        self.report(
            Problem::at(
                node.span,
                format!("unknown {key} `{raw}`"),
                format!("not a valid {key}"),
            )
            .help(help),
        );
        None
    }

    /// A list of strings; a single string counts as a list of one.
    pub(super) fn string_list(&mut self, node: &Node, key: &str) -> Option<Vec<(String, Span)>> {
        match &node.kind {
            NodeKind::Scalar { .. } => self.string(node, key).map(|s| vec![(s, node.span)]),
            NodeKind::Null => Some(Vec::new()),
            NodeKind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match self.string(item, key) {
                        Some(s) => out.push((s, item.span)),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            NodeKind::Map(_) => {
                self.type_error(node, key, "a list of strings");
                None
            }
        }
    }

    /// A map of strings to scalars (numbers and booleans become their text; an empty
    /// value is the empty string).
    pub(super) fn string_map(
        &mut self,
        node: &Node,
        key: &str,
        substitute: bool,
    ) -> Option<Vec<(String, String)>> {
        if matches!(node.kind, NodeKind::Null) {
            return Some(Vec::new());
        }
        let entries = self.entries(node, &format!("`{key}`"))?;
        let mut out = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (k, knode, v) in entries {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                self.report(Problem::at(
                    knode.span,
                    format!("invalid name `{k}` in `{key}`"),
                    "names must be non-empty, without `=`",
                ));
                ok = false;
                continue;
            }
            let value = match &v.kind {
                NodeKind::Null => Some(String::new()),
                _ if substitute => self.string(v, k),
                _ => self.raw_string(v, k),
            };
            match value {
                Some(value) => out.push((k.to_string(), value)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

/// The strings of a scalar or a list of scalars, without checks.
pub(super) fn collect_strings(node: &Node) -> Vec<String> {
    match &node.kind {
        NodeKind::Scalar { value, .. } => vec![value.clone()],
        NodeKind::Seq(items) => items
            .iter()
            .filter_map(|i| i.as_scalar().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// A string holding a NUL character: no process can be given it (in its command
/// line, environment or working directory), so it is refused where it is written.
pub(super) fn nul_problem(span: Span, key: &str) -> Problem {
    Problem::at(
        span,
        format!("`{key}` contains a NUL character (`\\0`)"),
        "NUL character",
    )
    .help("a NUL byte cannot be passed to a task; remove it")
}

/// `${{ item }}` / `${{ item.KEY }}` of the instance being read.
pub(super) fn instance_item(
    instance: Option<&super::map::Instance>,
    key: Option<&str>,
) -> Result<String, expr::Refusal> {
    // A stand-in never runs; a mapped task whose items are read at run time gets
    // them then (a missing key fails it with the item's position).
    if instance.is_some_and(|i| i.stand_in || i.template) {
        return Ok(String::new());
    }
    let Some(item) = instance.and_then(|i| i.item.as_ref()) else {
        return Err((
            "`item` is only defined in a task with `for_each`".into(),
            Some("add `for_each: [...]` to the task, or remove the expression".into()),
        ));
    };
    crate::engine::fanout::item_field(item, key)
}

/// `${{ matrix.AXIS }}` of the instance being read.
pub(super) fn instance_matrix(
    instance: Option<&super::map::Instance>,
    axis: &str,
) -> Result<String, expr::Refusal> {
    if instance.is_some_and(|i| i.stand_in) {
        return Ok(String::new());
    }
    let Some(instance) = instance.filter(|i| !i.axes.is_empty()) else {
        return Err((
            "`matrix` is only defined in a task with `matrix`".into(),
            Some("add `matrix: {...}` to the task, or remove the expression".into()),
        ));
    };
    if let Some((_, v)) = instance.matrix.iter().find(|(k, _)| k == axis) {
        return Ok(v.clone());
    }
    if instance.axes.iter().any(|a| a == axis) {
        // An axis only some `include` entries give.
        return Ok(String::new());
    }
    let help = match did_you_mean(axis, instance.axes.iter().map(String::as_str)) {
        Some(help) => help,
        None => format!("its axes: {}", instance.axes.join(", ")),
    };
    Err((format!("the matrix has no axis `{axis}`"), Some(help)))
}
