//! `dag graph`: a DAG file's tasks and dependencies as text, DOT or Mermaid.

use super::args::{GraphArgs, GraphFormat};
use super::exit::{self, CliError};
use super::output;
use super::text::StateCounts;
use crate::engine::graph::Dag;
use crate::engine::record::RunRecord;
use crate::engine::runner::Runners;
use crate::engine::spec::TaskKind;
use crate::engine::state::TaskState;
use crate::engine::validate::{LoadOptions, load_str};

/// `dag graph FILE|RUN_ID [--format text|dot|mermaid]`: a file's graph, or, when
/// no such file exists, the graph of the run of that id with each task's state.
pub fn graph(
    args: GraphArgs,
    runners: Runners,
    store: impl FnOnce() -> Result<super::setup::Store, CliError>,
) -> Result<u8, CliError> {
    if !args.file.exists()
        && let Some(id) = args
            .file
            .to_str()
            .filter(|s| *s == super::run_arg::LATEST || looks_like_run_id(s))
    {
        let store = store()?;
        let id = super::run_arg::resolve(store.state(), Some(id))?;
        return run_graph(&id, args.format, runners, &store);
    }
    let mut options = super::setup::load_options(&runners, Vec::new());
    options.task_types = None;
    let dag = crate::engine::validate::load_file(&args.file, &options)?;
    let subs = SubDags::load(&dag, &options);
    output::print(&match args.format {
        GraphFormat::Text => text(&dag, &subs),
        GraphFormat::Dot => dot(&dag, &subs),
        GraphFormat::Mermaid => mermaid(&dag, &subs),
        GraphFormat::Json => pretty(&json(&dag)),
    })?;
    Ok(exit::SUCCESS)
}

/// Whether `s` has the shape of a run id (`20261126T045533528Z-afb6`: a UTC
/// time, a dash, hex digits; then, for the run of a sub-DAG, a dash and more).
fn looks_like_run_id(s: &str) -> bool {
    let Some((time, rest)) = s.split_once('-') else {
        return false;
    };
    let rest = rest.split_once('-').map_or(rest, |(own, _)| own);
    time.len() == 19
        && time.as_bytes()[8] == b'T'
        && time.ends_with('Z')
        && time[..8]
            .bytes()
            .chain(time[9..18].bytes())
            .all(|b| b.is_ascii_digit())
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The graph of run `id`, from the DAG file it keeps, each task with its state.
fn run_graph(
    id: &str,
    format: GraphFormat,
    runners: Runners,
    store: &super::setup::Store,
) -> Result<u8, CliError> {
    let record = store.state().load_run(id)?;
    let dag = super::report::dag_of_run(&record, runners)
        .map_err(|e| CliError::usage(format!("cannot draw the graph of run {id}: {e}"), None))?;
    let Some(graph) = RunGraph::of(&record, &dag) else {
        return Err(CliError::usage(
            format!("cannot draw the graph of run {id}: its tasks do not match its DAG file"),
            None,
        ));
    };
    output::print(&match format {
        GraphFormat::Text => graph.text(&record, super::output::stdout_color()),
        GraphFormat::Dot => graph.dot(),
        GraphFormat::Mermaid => graph.mermaid(None).unwrap_or_default(),
        GraphFormat::Json => pretty(&graph.json(&record)),
    })?;
    Ok(exit::SUCCESS)
}

/// Each task's wave: one more than its deepest upstream task's (the first is 0).
pub fn waves(dag: &Dag) -> Vec<usize> {
    let mut wave = vec![0usize; dag.len()];
    for t in dag.topological_order() {
        wave[t] = dag.upstream[t]
            .iter()
            .map(|&u| wave[u] + 1)
            .max()
            .unwrap_or(0);
    }
    wave
}

/// The graph as JSON (`dag graph --format json`, `dag run --dry-run -o json`):
/// the tasks in the order the sequential executor starts them, each with its
/// type, what it runs (secrets masked), what it waits for, its trigger rule and
/// its wave (tasks of a wave may run at once).
pub fn json(dag: &Dag) -> serde_json::Value {
    let secrets = dag.spec.secrets();
    let wave = waves(dag);
    let tasks: Vec<serde_json::Value> = dag
        .topological_order()
        .into_iter()
        .map(|i| {
            let t = dag.task(i);
            serde_json::json!({
                "id": t.id.as_str(),
                "type": t.kind.type_name(),
                "label": t.label(),
                "command": secrets.mask(&t.kind.summary()),
                "depends_on": t.depends_on.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
                "trigger_rule": rule_name(t.trigger_rule),
                "wave": wave[i] + 1,
            })
        })
        .collect();
    serde_json::json!({
        "version": 1,
        "name": dag.spec.name,
        "waves": wave.iter().max().map_or(0, |w| w + 1),
        "tasks": tasks,
    })
}

/// The most tasks of sub-DAGs a graph draws inside its `dag` tasks: past
/// them, a `dag` task is drawn as a plain task.
pub const MAX_DRAWN: usize = 10_000;

/// The sub-DAGs the `dag` tasks of a DAG run, each with its own, loaded to be
/// drawn inside the graph of the DAG calling them.
#[derive(Default)]
pub struct SubDags(Vec<Option<(Dag, SubDags)>>);

impl SubDags {
    /// The sub-DAGs of `dag`'s tasks (by task index): each loaded from the text
    /// its file held when `dag` was loaded, with the params its task passes, or
    /// with its own defaults when those do not load (they hold what only a run
    /// knows: `${{ tasks.ID.outputs.KEY }}`). A sub-DAG that loads neither way
    /// is drawn as a plain task; so is one past [`MAX_DRAWN`] tasks of
    /// sub-DAGs in all (a few small files calling each other ten times a level
    /// make millions).
    pub fn load(dag: &Dag, options: &LoadOptions) -> SubDags {
        let mut left = MAX_DRAWN;
        SubDags::load_within(dag, options, &mut left)
    }

    /// [`SubDags::load`], drawing at most `left` more tasks of sub-DAGs (less
    /// those drawn).
    fn load_within(dag: &Dag, options: &LoadOptions, left: &mut usize) -> SubDags {
        let mut subs = Vec::with_capacity(dag.spec.tasks.len());
        for t in &dag.spec.tasks {
            let TaskKind::Dag(spec) = &t.kind else {
                subs.push(None);
                continue;
            };
            if *left == 0 {
                subs.push(None);
                continue;
            }
            let with = |params: Vec<(String, String)>| {
                let options = LoadOptions {
                    params,
                    ..options.clone()
                };
                load_str(&spec.path, &spec.source, &options).ok()
            };
            let sub = with(spec.params.clone())
                .or_else(|| with(Vec::new()))
                .filter(|sub| sub.len() <= *left);
            subs.push(sub.map(|sub| {
                *left -= sub.len();
                let inner = SubDags::load_within(&sub, options, left);
                (sub, inner)
            }));
        }
        SubDags(subs)
    }

    /// The sub-DAG task `i` runs, with its own.
    fn of(&self, i: usize) -> Option<&(Dag, SubDags)> {
        self.0.get(i).and_then(Option::as_ref)
    }
}

/// Tasks in the order the sequential executor starts them (if all succeed), each
/// with its type, what it runs, and what it waits for; the tasks of a sub-DAG
/// listed under the `dag` task that runs it, indented.
pub fn text(dag: &Dag, subs: &SubDags) -> String {
    let mut out = format!("{} ({} tasks)\n", dag.spec.name, dag.len());
    text_tasks(&mut out, dag, subs, "  ");
    out
}

fn text_tasks(out: &mut String, dag: &Dag, subs: &SubDags, indent: &str) {
    let secrets = dag.spec.secrets();
    for i in dag.topological_order() {
        let t = dag.task(i);
        let mut line = format!(
            "{} [{}] {}",
            t.id,
            t.label(),
            super::report::shorten(&secrets.mask(&t.kind.summary()), 60)
        );
        if !t.depends_on.is_empty() {
            line.push_str(&format!("  ← {}", t.depends_on.join(", ")));
        }
        if t.trigger_rule != Default::default() {
            line.push_str(&format!(" ({})", rule_name(t.trigger_rule)));
        }
        out.push_str(&format!("{indent}{line}\n"));
        if let Some((sub, subs)) = subs.of(i) {
            text_tasks(out, sub, subs, &format!("{indent}  "));
        }
    }
}

fn rule_name(rule: crate::engine::spec::TriggerRule) -> &'static str {
    crate::engine::spec::TriggerRule::ALL
        .iter()
        .find(|(_, r)| *r == rule)
        .map_or("all_success", |(n, _)| n)
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz DOT: one node per task, labelled with its id and type; edges follow
/// the order of execution (upstream → downstream); non-default trigger rules label
/// the edges into a task. A `dag` task is a cluster holding its sub-DAG's tasks
/// (named `TASK/SUB_TASK`), labelled with its file; edges into and out of it end
/// at the cluster's border.
pub fn dot(dag: &Dag, subs: &SubDags) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, style=rounded];\n",
        quote(&dag.spec.name)
    );
    if subs.0.iter().any(Option::is_some) {
        out.push_str("  compound=true;\n");
    }
    dot_body(&mut out, dag, subs, "", "  ");
    out.push_str("}\n");
    out
}

/// The nodes, clusters and edges of `dag`, its task names after `prefix`.
fn dot_body(out: &mut String, dag: &Dag, subs: &SubDags, prefix: &str, indent: &str) {
    for (i, t) in dag.spec.tasks.iter().enumerate() {
        let name = format!("{prefix}{}", t.id);
        match subs.of(i) {
            Some((sub, subs)) => {
                let TaskKind::Dag(spec) = &t.kind else {
                    continue;
                };
                out.push_str(&format!(
                    "{indent}subgraph \"cluster_{}\" {{\n{indent}  label=\"{}: {}\";\n{indent}  style=\"rounded,dashed\";\n",
                    quote(&name),
                    quote(&t.id),
                    quote(&spec.file)
                ));
                dot_body(out, sub, subs, &format!("{name}/"), &format!("{indent}  "));
                out.push_str(&format!("{indent}}}\n"));
            }
            None => out.push_str(&format!(
                "{indent}\"{}\" [label=\"{}\\n{}\"];\n",
                quote(&name),
                quote(&t.id),
                t.label()
            )),
        }
    }
    // An edge to or from a cluster is drawn to or from a task inside it (a
    // first or a last one), cut at the cluster's border.
    let end = |i: usize, last: bool| -> (String, Option<String>) {
        let name = format!("{prefix}{}", dag.task(i).id);
        let mut node = name.clone();
        let (mut inner, mut at) = (subs, i);
        while let Some((sub, subs)) = inner.of(at) {
            let order = sub.topological_order();
            let Some(&next) = (if last { order.last() } else { order.first() }) else {
                break;
            };
            node = format!("{node}/{}", sub.task(next).id);
            (inner, at) = (subs, next);
        }
        let cluster = subs.of(i).map(|_| format!("cluster_{name}"));
        (node, cluster)
    };
    for (i, ups) in dag.upstream.iter().enumerate() {
        let t = dag.task(i);
        for &u in ups {
            let mut attrs = Vec::new();
            if t.trigger_rule != Default::default() {
                attrs.push(format!("label=\"{}\"", rule_name(t.trigger_rule)));
            }
            let (from, tail) = end(u, true);
            let (to, head) = end(i, false);
            if let Some(c) = tail {
                attrs.push(format!("ltail=\"{}\"", quote(&c)));
            }
            if let Some(c) = head {
                attrs.push(format!("lhead=\"{}\"", quote(&c)));
            }
            let attrs = if attrs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", attrs.join(", "))
            };
            out.push_str(&format!(
                "{indent}\"{}\" -> \"{}\"{attrs};\n",
                quote(&from),
                quote(&to)
            ));
        }
    }
}

/// A Mermaid flowchart; ids are numbered, since task ids may hold `.` and `-`.
/// A `dag` task is a subgraph holding its sub-DAG's tasks, titled with its
/// file.
pub fn mermaid(dag: &Dag, subs: &SubDags) -> String {
    let mut out = String::from("flowchart LR\n");
    mermaid_body(&mut out, dag, subs, "t", "  ");
    out
}

/// The nodes, subgraphs and edges of `dag`, its node ids `{prefix}{index}`.
fn mermaid_body(out: &mut String, dag: &Dag, subs: &SubDags, prefix: &str, indent: &str) {
    for (i, t) in dag.spec.tasks.iter().enumerate() {
        let label = t.id.replace('"', "#quot;");
        match (subs.of(i), &t.kind) {
            (Some((sub, subs)), TaskKind::Dag(spec)) => {
                out.push_str(&format!(
                    "{indent}subgraph {prefix}{i}[\"{label}: {}\"]\n",
                    spec.file.replace('"', "#quot;")
                ));
                mermaid_body(
                    out,
                    sub,
                    subs,
                    &format!("{prefix}{i}_"),
                    &format!("{indent}  "),
                );
                out.push_str(&format!("{indent}end\n"));
            }
            _ => out.push_str(&format!(
                "{indent}{prefix}{i}[\"{label} ({})\"]\n",
                t.label()
            )),
        }
    }
    for (i, ups) in dag.upstream.iter().enumerate() {
        let t = dag.task(i);
        for &u in ups {
            if t.trigger_rule == Default::default() {
                out.push_str(&format!("{indent}{prefix}{u} --> {prefix}{i}\n"));
            } else {
                out.push_str(&format!(
                    "{indent}{prefix}{u} -- {} --> {prefix}{i}\n",
                    rule_name(t.trigger_rule)
                ));
            }
        }
    }
}

/// How much a state tells, for the state of a mapped task's instances together:
/// failures first, success last.
pub fn weight(s: TaskState) -> u8 {
    match s {
        TaskState::Failed => 8,
        TaskState::UpstreamFailed => 7,
        TaskState::Cancelled => 6,
        TaskState::Running => 5,
        TaskState::UpForRetry => 4,
        TaskState::Queued => 3,
        TaskState::Pending => 2,
        TaskState::Skipped => 1,
        TaskState::Success => 0,
    }
}

/// The colour of each state in graphs: fill, stroke and text (Mermaid's and
/// Graphviz's), and the ANSI colour of the text graph.
pub const STATE_STYLES: [(TaskState, &str, &str, &str, &str); 9] = [
    (TaskState::Success, "#d1f2d9", "#1a7f37", "#0b3d1a", "32"),
    (TaskState::Failed, "#ffd7d5", "#cf222e", "#5c0a10", "31"),
    (
        TaskState::UpstreamFailed,
        "#ffe8cc",
        "#bc4c00",
        "#4a1e00",
        "33",
    ),
    (TaskState::Skipped, "#eaeef2", "#6e7781", "#24292f", "2"),
    (TaskState::Cancelled, "#e6e1f7", "#8250df", "#2e1065", "35"),
    (TaskState::Running, "#ddf4ff", "#0969da", "#032563", "34"),
    (TaskState::UpForRetry, "#fff8c5", "#9a6700", "#3b2300", "33"),
    (TaskState::Queued, "#f6f8fa", "#8c959f", "#24292f", "2"),
    (TaskState::Pending, "#ffffff", "#d0d7de", "#57606a", "2"),
];

fn style_of(state: TaskState) -> (&'static str, &'static str, &'static str, &'static str) {
    STATE_STYLES
        .iter()
        .find(|s| s.0 == state)
        .map_or(("#ffffff", "#000000", "#000000", "0"), |s| {
            (s.1, s.2, s.3, s.4)
        })
}

/// How task `i` of a run is shown: under its mapped task's id for an instance
/// (`true`: one of many), else under its own; `None` for a mapped task that
/// stands in for the instances it expanded into at run time (they are shown, and
/// its edges are theirs).
pub fn shown_as(record: &RunRecord, dag: Option<&Dag>, i: usize) -> Option<(String, bool)> {
    if record.tasks[i].instances.is_some_and(|n| n > 0) {
        return None;
    }
    let group = dag
        .filter(|d| d.len() == record.tasks.len())
        .and_then(|d| d.task(i).map.as_ref())
        .filter(|m| m.index.is_some());
    Some(match group {
        Some(m) => (m.group.to_string(), true),
        None => (record.tasks[i].id.to_string(), false),
    })
}

/// What is masked in what a run's DAG says (its commands, its file): the
/// secrets of the environment now, and the params the run held secret (whose
/// secrets may not be set now).
pub fn run_secrets(record: &RunRecord, dag: &Dag) -> crate::engine::secrets::Secrets {
    crate::engine::secrets::Secrets::new(&crate::engine::secrets::attempt_secrets(
        dag.spec.secret_values(),
        &dag.spec.params,
        &record.secret_params,
    ))
}

/// A run's graph: a node per task, the instances of a mapped task in one node,
/// each with its state.
pub struct RunGraph<'a> {
    dag: &'a Dag,
    /// In the order the sequential executor would start them.
    pub nodes: Vec<RunNode>,
    /// Upstream → downstream, by position in `nodes`.
    pub edges: Vec<(usize, usize)>,
}

/// A node of a [`RunGraph`].
pub struct RunNode {
    /// The task's id, or the mapped task's.
    pub name: String,
    /// Whether it stands for a mapped task's instances.
    pub mapped: bool,
    /// A task of the node (for its type and command).
    pub task: usize,
    /// Its tasks counted by state.
    pub counts: StateCounts,
    /// Its state: the task's, or the most telling of its instances' ([`weight`]).
    pub state: TaskState,
}

impl<'a> RunGraph<'a> {
    /// The graph of `record`, run from `dag`; `None` when `dag` is not the run's
    /// (another number of tasks).
    pub fn of(record: &RunRecord, dag: &'a Dag) -> Option<RunGraph<'a>> {
        if dag.len() != record.tasks.len() {
            return None;
        }
        let shown: Vec<Option<(String, bool)>> = (0..dag.len())
            .map(|i| shown_as(record, Some(dag), i))
            .collect();
        let mut at: crate::engine::Map<&str, usize> = crate::engine::Map::default();
        let mut nodes: Vec<RunNode> = Vec::new();
        for i in dag.topological_order() {
            let Some((name, mapped)) = &shown[i] else {
                continue;
            };
            let state = record.tasks[i].state;
            let n = *at.entry(name.as_str()).or_insert_with(|| {
                nodes.push(RunNode {
                    name: name.clone(),
                    mapped: *mapped,
                    task: i,
                    counts: StateCounts::default(),
                    state,
                });
                nodes.len() - 1
            });
            let node = &mut nodes[n];
            node.counts.add(state);
            if weight(state) > weight(node.state) {
                node.state = state;
            }
        }
        let node_of = |i: usize| match &shown[i] {
            Some((name, _)) => at.get(name.as_str()).copied(),
            None => at.get(record.tasks[i].id.as_str()).copied(),
        };
        let mut edges = Vec::new();
        for (i, ups) in dag.upstream.iter().enumerate() {
            for &u in ups {
                if let (Some(from), Some(to)) = (node_of(u), node_of(i))
                    && from != to
                {
                    edges.push((from, to));
                }
            }
        }
        edges.sort_unstable();
        edges.dedup();
        Some(RunGraph { dag, nodes, edges })
    }

    /// What a node says of its state: `failed`, or `998 success, 2 failed`.
    fn state_text(node: &RunNode) -> String {
        if node.mapped {
            node.counts.to_string()
        } else {
            node.state.to_string()
        }
    }

    /// The run's graph as JSON: each node (a task, or a mapped task's instances)
    /// with its state and its tasks counted by state, and the edges between them
    /// by node name.
    pub fn json(&self, record: &RunRecord) -> serde_json::Value {
        let nodes: Vec<serde_json::Value> = self
            .nodes
            .iter()
            .map(|n| {
                let counts: serde_json::Map<String, serde_json::Value> = n
                    .counts
                    .iter()
                    .map(|(s, k)| (s.as_str().to_string(), k.into()))
                    .collect();
                serde_json::json!({
                    "name": n.name,
                    "mapped": n.mapped,
                    "type": self.dag.task(n.task).kind.type_name(),
                    "state": n.state.as_str(),
                    "counts": counts,
                })
            })
            .collect();
        let edges: Vec<[&str; 2]> = self
            .edges
            .iter()
            .map(|&(a, b)| [self.nodes[a].name.as_str(), self.nodes[b].name.as_str()])
            .collect();
        serde_json::json!({
            "version": 1,
            "run_id": record.run_id,
            "name": self.dag.spec.name,
            "state": record.state.as_str(),
            "nodes": nodes,
            "edges": edges,
        })
    }

    /// The Mermaid flowchart, each node coloured by its state; `None` past
    /// `max_nodes` nodes.
    pub fn mermaid(&self, max_nodes: Option<usize>) -> Option<String> {
        if max_nodes.is_some_and(|m| self.nodes.len() > m) {
            return None;
        }
        let mut chart = String::from("flowchart LR\n");
        for (n, node) in self.nodes.iter().enumerate() {
            chart.push_str(&format!(
                "  n{n}[\"{}<br/>{}\"]:::{}\n",
                mermaid_label(&node.name),
                mermaid_label(&Self::state_text(node)),
                node.state.as_str()
            ));
        }
        for (from, to) in &self.edges {
            chart.push_str(&format!("  n{from} --> n{to}\n"));
        }
        for (state, fill, stroke, color, _) in STATE_STYLES {
            chart.push_str(&format!(
                "  classDef {} fill:{fill},stroke:{stroke},color:{color}\n",
                state.as_str()
            ));
        }
        Some(chart)
    }

    /// Graphviz DOT, each node filled with its state's colour.
    pub fn dot(&self) -> String {
        let mut out = format!(
            "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\"];\n",
            quote(&self.dag.spec.name)
        );
        for (n, node) in self.nodes.iter().enumerate() {
            let (fill, stroke, color, _) = style_of(node.state);
            out.push_str(&format!(
                "  n{n} [label=\"{}\\n{}\", fillcolor=\"{fill}\", color=\"{stroke}\", fontcolor=\"{color}\"];\n",
                quote(&node.name),
                quote(&Self::state_text(node))
            ));
        }
        for (from, to) in &self.edges {
            out.push_str(&format!("  n{from} -> n{to};\n"));
        }
        out.push_str("}\n");
        out
    }

    /// The text graph of [`text`] with each task's state, in its colour when
    /// `color`.
    pub fn text(&self, record: &RunRecord, color: bool) -> String {
        let mut out = format!(
            "{} · run {} · {} ({} tasks)\n",
            self.dag.spec.name,
            record.run_id,
            record.state,
            record.tasks.len()
        );
        let secrets = run_secrets(record, self.dag);
        let mut ups: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for &(from, to) in &self.edges {
            ups[to].push(from);
        }
        for (n, node) in self.nodes.iter().enumerate() {
            let t = self.dag.task(node.task);
            let state = Self::state_text(node);
            let state = if color {
                format!("\x1b[{}m{state}\x1b[0m", style_of(node.state).3)
            } else {
                state
            };
            // A mapped task's instances run commands of their own: they are
            // counted, not shown.
            let what = if node.mapped {
                let n = node.counts.total();
                format!("{n} instance{}", if n == 1 { "" } else { "s" })
            } else {
                super::report::shorten(&secrets.mask(&t.kind.summary()), 60)
            };
            let mut line = format!("{} [{}] {what}", node.name, t.label());
            if !ups[n].is_empty() {
                let names: Vec<&str> = ups[n]
                    .iter()
                    .map(|&u| self.nodes[u].name.as_str())
                    .collect();
                line.push_str(&format!("  ← {}", names.join(", ")));
            }
            out.push_str(&format!("  {line}  {state}\n"));
        }
        out
    }
}

/// A Mermaid label: letters, digits and a few safe marks as they are, everything
/// else as an entity code (`#35;`), so no quote, bracket or backtick in a name
/// ends the label.
pub fn mermaid_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || " _.,:-*/".contains(c) {
            out.push(c);
        } else {
            out.push_str(&format!("#{};", c as u32));
        }
    }
    out
}

/// JSON as `dag` prints it: indented, with a final newline.
fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_told_from_file_names() {
        assert!(looks_like_run_id("20261126T045533528Z-afb6"));
        assert!(looks_like_run_id("20261126T045533528Z-afb6-eu"));
        for not in [
            "etl.yaml",
            "20261126T045533528Z",
            "20261126T045533528Z-",
            "20261126T045533528Z-xyz",
            "2026112xT045533528Z-afb6",
            "20261126-045533528Z-afb6",
        ] {
            assert!(!looks_like_run_id(not), "{not}");
        }
    }

    #[test]
    fn mermaid_labels_keep_no_quote_or_bracket() {
        assert_eq!(mermaid_label("a\"b]c`d"), "a#34;b#93;c#96;d");
    }
}
