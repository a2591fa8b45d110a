//! Fan-out: a task with `for_each` (a list of items) or `matrix` (the product of
//! axes, with `exclude` and `include` as GitHub Actions has them) becomes one task
//! per instance when the file is loaded, each with `${{ item }}`, `${{ item.KEY }}`
//! or `${{ matrix.AXIS }}` substituted in its strings.

use serde_json::{Map, Value};

use crate::engine::fanout::{MAX_INSTANCES, MAX_ITEM_DEPTH, item_too_large};
use crate::engine::spec::MapInstance;
use crate::engine::yaml::{Node, NodeKind};

use super::Problem;
use super::checker::{Checker, Entries, value};

/// The most combinations a matrix may have before `exclude` removes some: each is
/// looked at once, without keeping those excluded.
const MAX_COMBINATIONS: u64 = 10_000_000;

/// One instance of a mapped task, as the checker substitutes it.
#[derive(Clone, Debug, Default)]
pub(super) struct Instance {
    /// What its id adds to the task's: `0`, `1`, ... or `eu.s`.
    pub suffix: String,
    /// The `for_each` item.
    pub item: Option<Value>,
    /// The `matrix` values, in axis order.
    pub matrix: Vec<(String, String)>,
    /// The axes of the matrix (for did-you-mean on an unknown one).
    pub axes: Vec<String>,
    /// The stand-in of a mapped task without instances: it never runs, so its
    /// strings are read with every `item` and `matrix` value empty.
    pub stand_in: bool,
    /// A mapped task whose items are read at run time: its strings keep their
    /// `${{ item }}` expressions, substituted when it expands.
    pub template: bool,
}

impl Instance {
    /// What it records in its task spec.
    pub fn record(&self, group: &std::sync::Arc<str>, index: Option<usize>) -> MapInstance {
        MapInstance {
            group: std::sync::Arc::clone(group),
            index: index.map(crate::engine::fanout::position),
            item: self.item.clone(),
            matrix: self.matrix.as_slice().into(),
            from: None,
            max_items: None,
        }
    }
}

impl Checker<'_, '_> {
    /// The output a `for_each` reads its items from at run time
    /// (`${{ tasks.ID.outputs.KEY }}`, given as the expression without its braces):
    /// `Some(None)` when the task has no such `for_each`, `None` when it is wrong
    /// (reported).
    pub(super) fn dynamic_source(&mut self, entries: &Entries<'_>) -> Option<Option<String>> {
        let Some(node) = value(entries, "for_each") else {
            return Some(None);
        };
        let Some(text) = node.as_scalar().filter(|t| t.contains("${{")) else {
            return Some(None);
        };
        let inner = text
            .trim()
            .strip_prefix("${{")
            .and_then(|t| t.strip_suffix("}}"))
            .filter(|t| !t.contains("${{") && !t.contains("}}"));
        let help = "write `for_each: ${{ tasks.ID.outputs.KEY }}`, naming an upstream task's output that holds a JSON array";
        let Some(inner) = inner else {
            self.report(
                Problem::at(
                    node.span,
                    "`for_each` must be a list or one `${{ tasks.ID.outputs.KEY }}` expression",
                    "not one expression",
                )
                .help(help),
            );
            return None;
        };
        match crate::engine::expr::parse(inner) {
            Ok(crate::engine::expr::Expr::Output { task, key }) => {
                let from = self.current_task.clone().unwrap_or_default();
                self.output_refs.push(super::checker::OutputRef {
                    task: from,
                    from: task.to_string(),
                    key: key.to_string(),
                    span: node.span,
                });
                Some(Some(format!("tasks.{task}.outputs.{key}")))
            }
            Ok(_) => {
                self.report(
                    Problem::at(
                        node.span,
                        "`for_each` reads its items at run time only from a task's output",
                        "not a task output",
                    )
                    .help(help),
                );
                None
            }
            Err(message) => {
                self.report(Problem::at(node.span, message, "here").help(help));
                None
            }
        }
    }

    /// The instances of a task: `None` when it is not mapped; an empty list when its
    /// `for_each` or `matrix` gives none. Problems are reported.
    pub(super) fn instances(&mut self, entries: &Entries<'_>) -> Option<Option<Vec<Instance>>> {
        let for_each = value(entries, "for_each");
        let matrix = value(entries, "matrix");
        let instances = match (for_each, matrix) {
            (None, None) => return Some(None),
            (Some(f), Some(_)) => {
                self.report(
                    Problem::at(
                        f.span,
                        "a task has `for_each` or `matrix`, not both",
                        "here",
                    )
                    .help("put the items in one `matrix` axis instead"),
                );
                return None;
            }
            (Some(f), None) => self.for_each(f)?,
            (None, Some(m)) => self.matrix(m)?,
        };
        if instances.len() > MAX_INSTANCES {
            let node = for_each
                .or(matrix)
                .map_or_else(Default::default, |n| n.span);
            self.report(Problem::at(
                node,
                format!(
                    "{} instances, more than the {MAX_INSTANCES} a task may have",
                    instances.len()
                ),
                "too many",
            ));
            return None;
        }
        Some(Some(instances))
    }

    fn for_each(&mut self, node: &Node) -> Option<Vec<Instance>> {
        let NodeKind::Seq(items) = &node.kind else {
            let help = "write a list, `for_each: [a, b, c]`, or name a task's output that holds a JSON array: `for_each: ${{ tasks.ID.outputs.KEY }}`";
            self.report(
                Problem::at(
                    node.span,
                    format!("`for_each` must be a list, found {}", node.type_name()),
                    "expected a list",
                )
                .help(help),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let Some(v) = self.item_value(item, 0) else {
                ok = false;
                continue;
            };
            if let Some(e) = item_too_large(&v) {
                self.report(
                    Problem::at(
                        item.span,
                        format!("item {i} of `for_each` {e}"),
                        "too large",
                    )
                    .help("pass large data in files, with items naming them"),
                );
                ok = false;
                continue;
            }
            out.push(Instance {
                suffix: i.to_string(),
                item: Some(v),
                ..Instance::default()
            });
        }
        ok.then_some(out)
    }

    /// An item as JSON: a scalar as text, a map or list of them as they are.
    fn item_value(&mut self, node: &Node, depth: usize) -> Option<Value> {
        if depth > MAX_ITEM_DEPTH {
            self.report(Problem::at(
                node.span,
                format!("an item nests lists and maps deeper than {MAX_ITEM_DEPTH} levels"),
                "too deep",
            ));
            return None;
        }
        match &node.kind {
            NodeKind::Null => Some(Value::String(String::new())),
            NodeKind::Scalar { value, .. } => {
                if value.contains("${{") || value.contains('\0') {
                    self.report(
                        Problem::at(node.span, "an item may not hold `${{` or a NUL character", "here")
                            .help("dag would read `${{` as the start of an expression when the task starts, and no process can be given a NUL"),
                    );
                    return None;
                }
                Some(Value::String(value.clone()))
            }
            NodeKind::Seq(items) => items
                .iter()
                .map(|i| self.item_value(i, depth + 1))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            NodeKind::Map(pairs) => {
                let mut map = Map::new();
                for (k, v) in pairs {
                    let Some(key) = k.as_scalar() else {
                        self.report(Problem::at(k.span, "item keys must be text", "this key"));
                        return None;
                    };
                    if key.contains("${{") || key.contains('\0') {
                        self.report(Problem::at(
                            k.span,
                            "an item may not hold `${{` or a NUL character",
                            "here",
                        ));
                        return None;
                    }
                    map.insert(key.to_string(), self.item_value(v, depth + 1)?);
                }
                Some(Value::Object(map))
            }
        }
    }

    fn matrix(&mut self, node: &Node) -> Option<Vec<Instance>> {
        let entries = self.entries(node, "`matrix`")?;
        let mut axes: Vec<(String, Vec<String>)> = Vec::new();
        let (mut include, mut exclude) = (Vec::new(), Vec::new());
        let mut ok = true;
        for (key, knode, v) in &entries {
            match *key {
                "include" | "exclude" => {
                    let combos = self.combos(v, key)?;
                    if *key == "include" {
                        include = combos;
                    } else {
                        exclude = combos;
                    }
                }
                axis => {
                    let Some(values) = self.string_list(v, axis) else {
                        ok = false;
                        continue;
                    };
                    if values.is_empty() {
                        self.report(
                            Problem::at(
                                knode.span,
                                format!("matrix axis `{axis}` is empty"),
                                "no values",
                            )
                            .help("give it at least one value, or remove it"),
                        );
                        ok = false;
                        continue;
                    }
                    // A value goes into the task's strings as an item does: held
                    // to the same size.
                    let mut fits = true;
                    for (value, span) in &values {
                        if let Some(e) = item_too_large(&Value::String(value.clone())) {
                            self.report(
                                Problem::at(
                                    *span,
                                    format!("a value of matrix axis `{axis}` {e}"),
                                    "too large",
                                )
                                .help("pass large data in files, with values naming them"),
                            );
                            fits = false;
                        }
                    }
                    if !fits {
                        ok = false;
                        continue;
                    }
                    axes.push((
                        axis.to_string(),
                        values.into_iter().map(|(s, _)| s).collect(),
                    ));
                }
            }
        }
        if !ok {
            return None;
        }
        if axes.is_empty() && include.is_empty() {
            self.report(
                Problem::at(node.span, "`matrix` has no axis", "no axis")
                    .help("write `matrix: { region: [eu, us] }`"),
            );
            return None;
        }
        let names: Vec<String> = axes.iter().map(|(a, _)| a.clone()).collect();
        for (axis, values) in &axes {
            if let Some(v) = values.iter().find(|v| v.contains("${{")) {
                self.report(Problem::at(
                    node.span,
                    format!("matrix axis `{axis}` has a value holding `${{{{`: `{v}`"),
                    "here",
                ));
                return None;
            }
        }
        for pattern in &exclude {
            if pattern.is_empty() {
                self.report(
                    Problem::at(
                        node.span,
                        "an empty `exclude` entry would exclude everything",
                        "here",
                    )
                    .help("name the axis values of the combinations to leave out"),
                );
                return None;
            }
            if let Some((k, _)) = pattern.iter().find(|(k, _)| !names.contains(k)) {
                let help =
                    match crate::engine::suggest::did_you_mean(k, names.iter().map(String::as_str))
                    {
                        Some(help) => help,
                        None => format!("the axes: {}", names.join(", ")),
                    };
                self.report(
                    Problem::at(
                        node.span,
                        format!("`exclude` names `{k}`, which is no axis of the matrix"),
                        "here",
                    )
                    .help(help),
                );
                return None;
            }
        }
        // The product, in axis order (the last axis varies fastest), each
        // combination built from its position and dropped at once when excluded.
        let total = axes
            .iter()
            .try_fold(1u64, |n, (_, values)| n.checked_mul(values.len() as u64))
            .filter(|&n| n <= MAX_COMBINATIONS);
        // Each combination is compared with each `exclude` entry once.
        let total = total
            .filter(|&n| n.saturating_mul(exclude.len().max(1) as u64) <= 20 * MAX_COMBINATIONS);
        let Some(total) = total else {
            self.report(Problem::at(
                node.span,
                format!("the matrix has too many combinations before `exclude` (at most {MAX_COMBINATIONS}, fewer with many `exclude` entries)"),
                "too many",
            ));
            return None;
        };
        let total = if axes.is_empty() { 0 } else { total };
        let excluded = |combo: &[(String, String)]| {
            exclude.iter().any(|pattern| {
                pattern
                    .iter()
                    .all(|(k, v)| combo.iter().any(|(ck, cv)| ck == k && cv == v))
            })
        };
        let mut combos: Vec<Vec<(String, String)>> = Vec::new();
        for n in 0..total {
            let mut rest = n;
            let mut combo = vec![(String::new(), String::new()); axes.len()];
            for (slot, (axis, values)) in combo.iter_mut().zip(&axes).rev() {
                let len = values.len() as u64;
                *slot = (axis.clone(), values[(rest % len) as usize].clone());
                rest /= len;
            }
            if !excluded(&combo) {
                combos.push(combo);
                if combos.len() > MAX_INSTANCES {
                    break;
                }
            }
        }
        // As GitHub Actions: an include adds its other keys to the combinations whose
        // axis values it matches (without changing those), else it is a combination
        // of its own.
        let original = combos.len();
        for inc in &include {
            let on_axes: Vec<(String, String)> = inc
                .iter()
                .filter(|(k, _)| names.contains(k))
                .cloned()
                .collect();
            let extra: Vec<(String, String)> = inc
                .iter()
                .filter(|(k, _)| !names.contains(k))
                .cloned()
                .collect();
            let mut matched = false;
            for combo in combos.iter_mut().take(original) {
                if on_axes
                    .iter()
                    .all(|(k, v)| combo.iter().any(|(ck, cv)| ck == k && cv == v))
                {
                    matched = true;
                    for (k, v) in &extra {
                        match combo.iter_mut().find(|(ck, _)| ck == k) {
                            Some(slot) => slot.1.clone_from(v),
                            None => combo.push((k.clone(), v.clone())),
                        }
                    }
                }
            }
            if !matched {
                combos.push(inc.clone());
            }
        }
        let mut all_axes = names.clone();
        for combo in &combos {
            for (k, _) in combo {
                if !all_axes.contains(k) {
                    all_axes.push(k.clone());
                }
            }
        }
        // Ids from the values when each is a plain token and they are unique, else
        // from the position.
        let token = |v: &str| {
            !v.is_empty()
                && v.len() <= 40
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        };
        let by_value: Vec<String> = combos
            .iter()
            .map(|c| {
                names
                    .iter()
                    .map(|a| {
                        c.iter()
                            .find(|(k, _)| k == a)
                            .map_or("", |(_, v)| v.as_str())
                            .to_string()
                    })
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect();
        let readable = !names.is_empty()
            && combos.iter().all(|c| {
                names
                    .iter()
                    .all(|a| c.iter().any(|(k, v)| k == a && token(v)))
            })
            && {
                let mut seen = crate::engine::Set::default();
                by_value.iter().all(|s| seen.insert(s.as_str()))
            };
        Some(
            combos
                .into_iter()
                .enumerate()
                .map(|(i, matrix)| Instance {
                    suffix: if readable {
                        by_value[i].clone()
                    } else {
                        i.to_string()
                    },
                    item: None,
                    matrix,
                    axes: all_axes.clone(),
                    ..Instance::default()
                })
                .collect(),
        )
    }

    /// `include` or `exclude`: a list of maps of axis to value.
    fn combos(&mut self, node: &Node, key: &str) -> Option<Vec<Vec<(String, String)>>> {
        let NodeKind::Seq(items) = &node.kind else {
            self.type_error(node, key, "a list of maps");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let entries = self.entries(item, &format!("an entry of `matrix.{key}`"))?;
            let mut combo = Vec::with_capacity(entries.len());
            for (k, _, v) in entries {
                combo.push((k.to_string(), self.string(v, k)?));
            }
            out.push(combo);
        }
        Some(out)
    }
}
