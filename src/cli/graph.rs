//! `dag graph`: a DAG file's tasks and dependencies as text, DOT or Mermaid.

use super::args::{GraphArgs, GraphFormat};
use super::exit::{self, CliError};
use super::output;
use crate::engine::graph::Dag;
use crate::engine::runner::Runners;

/// `dag graph FILE [--format text|dot|mermaid]`.
pub fn graph(args: GraphArgs, runners: &Runners) -> Result<u8, CliError> {
    let mut options = super::setup::load_options(runners, Vec::new());
    options.task_types = None;
    let dag = crate::engine::validate::load_file(&args.file, &options)?;
    output::print(&match args.format {
        GraphFormat::Text => text(&dag),
        GraphFormat::Dot => dot(&dag),
        GraphFormat::Mermaid => mermaid(&dag),
    })?;
    Ok(exit::SUCCESS)
}

/// Tasks in the order the sequential executor starts them (if all succeed), each
/// with its type, what it runs, and what it waits for.
pub fn text(dag: &Dag) -> String {
    let mut out = format!("{} ({} tasks)\n", dag.spec.name, dag.len());
    let secrets = dag.spec.secrets();
    for i in dag.topological_order() {
        let t = dag.task(i);
        let mut line = format!(
            "{} [{}] {}",
            t.id,
            t.label(),
            one_line(&secrets.mask(&t.kind.summary()), 60)
        );
        if !t.depends_on.is_empty() {
            line.push_str(&format!("  ← {}", t.depends_on.join(", ")));
        }
        if t.trigger_rule != Default::default() {
            line.push_str(&format!(" ({})", rule_name(t.trigger_rule)));
        }
        out.push_str(&format!("  {line}\n"));
    }
    out
}

fn rule_name(rule: crate::engine::spec::TriggerRule) -> &'static str {
    crate::engine::spec::TriggerRule::ALL
        .iter()
        .find(|(_, r)| *r == rule)
        .map_or("all_success", |(n, _)| n)
}

fn one_line(s: &str, max: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() <= max && !s.contains('\n') {
        first.to_string()
    } else {
        format!(
            "{}…",
            first
                .chars()
                .take(max.saturating_sub(1))
                .collect::<String>()
        )
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz DOT: one node per task, labelled with its id and type; edges follow
/// the order of execution (upstream → downstream); non-default trigger rules label
/// the edges into a task.
pub fn dot(dag: &Dag) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, style=rounded];\n",
        quote(&dag.spec.name)
    );
    for t in &dag.spec.tasks {
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\\n{}\"];\n",
            quote(&t.id),
            quote(&t.id),
            t.label()
        ));
    }
    for (i, ups) in dag.upstream.iter().enumerate() {
        let t = dag.task(i);
        for &u in ups {
            let label = if t.trigger_rule == Default::default() {
                String::new()
            } else {
                format!(" [label=\"{}\"]", rule_name(t.trigger_rule))
            };
            out.push_str(&format!(
                "  \"{}\" -> \"{}\"{label};\n",
                quote(&dag.task(u).id),
                quote(&t.id)
            ));
        }
    }
    out.push_str("}\n");
    out
}

/// A Mermaid flowchart; ids are numbered, since task ids may hold `.` and `-`.
pub fn mermaid(dag: &Dag) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, t) in dag.spec.tasks.iter().enumerate() {
        out.push_str(&format!(
            "  t{i}[\"{} ({})\"]\n",
            t.id.replace('"', "#quot;"),
            t.label()
        ));
    }
    for (i, ups) in dag.upstream.iter().enumerate() {
        let t = dag.task(i);
        for &u in ups {
            if t.trigger_rule == Default::default() {
                out.push_str(&format!("  t{u} --> t{i}\n"));
            } else {
                out.push_str(&format!(
                    "  t{u} -- {} --> t{i}\n",
                    rule_name(t.trigger_rule)
                ));
            }
        }
    }
    out
}
