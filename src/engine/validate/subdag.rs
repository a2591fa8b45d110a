//! `dag` tasks: the sub-DAG file each names is read and validated with the file
//! that calls it (its problems reported in its own file), the params passed are
//! checked against those it declares, and a file calling itself through others is
//! refused naming the chain. The top-level `outputs:` of a file are checked here too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::expr::{self, Expr};
use crate::engine::spec::{SubDagSpec, TaskKind};
use crate::engine::suggest::did_you_mean;
use crate::engine::yaml::{Node, Span};

use super::checker::{Checker, Entries, value};
use super::{LoadError, LoadOptions, Problem};

/// How deep sub-DAGs may nest (a file calling a file calling a file ...): each
/// level's run id is its parent's with a suffix, and run ids are at most 100
/// characters.
pub const MAX_DEPTH: usize = 8;

/// The most instances a mapped `dag` task may have: each is a run of its own,
/// linked from the parent's record.
pub const MAX_CHILD_RUNS: usize = 1_000;

/// A sub-DAG file read and validated once for the file that calls it (a mapped
/// `dag` task's instances share it).
pub(super) struct SubDagFile {
    /// Where it was read from.
    path: String,
    /// Its text.
    source: Arc<str>,
    /// The params it declares.
    params: Vec<String>,
    /// How many levels of sub-DAGs it calls below it.
    nests: usize,
}

/// A file on the chain of files calling each other: its canonical path (to
/// recognise it) and its path as shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The canonical path.
    pub canonical: PathBuf,
    /// The path as given.
    pub shown: String,
}

/// `path` with its `.` parts dropped and each `..` taking the part before it
/// away, without asking the disk.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Where the sub-DAG file `file` (as written in the file at `caller`) is: in the
/// calling file's directory.
pub fn resolve(caller: &str, file: &str) -> PathBuf {
    match Path::new(caller).parent() {
        Some(dir) => dir.join(file),
        None => PathBuf::from(file),
    }
}

impl Checker<'_, '_> {
    pub(super) fn dag_kind(
        &mut self,
        key: &Node,
        entries: &Entries<'_>,
        what: &str,
    ) -> Option<TaskKind> {
        let (file, node) = self.file_named(
            key,
            entries,
            "file",
            &format!("dag {what}"),
            "the sub-DAG file",
        )?;
        let params = match value(entries, "params") {
            Some(v) => self.string_map(v, "params", true)?,
            None => Vec::new(),
        };
        let loaded = self.sub_dag(&file, node.span)?;
        let mut ok = true;
        if let Some(v) = value(entries, "params")
            && let Some(given) = self.entries(v, "`params`")
        {
            for (name, knode, _) in given {
                if loaded.params.iter().any(|p| p == name) {
                    continue;
                }
                let help = match did_you_mean(name, loaded.params.iter().map(String::as_str)) {
                    Some(help) => help,
                    None if loaded.params.is_empty() => {
                        format!("{} declares no params", loaded.path)
                    }
                    None => format!(
                        "{} declares the params: {}",
                        loaded.path,
                        loaded.params.join(", ")
                    ),
                };
                self.report(
                    Problem::at(
                        knode.span,
                        format!("`{name}` is not a param of the sub-DAG {}", loaded.path),
                        "not declared there",
                    )
                    .help(help),
                );
                ok = false;
            }
        }
        ok.then(|| {
            TaskKind::Dag(Box::new(SubDagSpec {
                file,
                path: loaded.path.clone(),
                source: loaded.source.clone(),
                params,
                nests: loaded.nests,
            }))
        })
    }

    /// The sub-DAG file `file`, read and validated (once per file for the file
    /// being checked); `None` when it cannot be used (reported at `span`).
    fn sub_dag(&mut self, file: &str, span: Span) -> Option<Arc<SubDagFile>> {
        if let Some(known) = self.sub_dags.get(file) {
            return known.clone();
        }
        let loaded = self.load_sub_dag(file, span).map(Arc::new);
        self.sub_dags.insert(file.to_string(), loaded.clone());
        loaded
    }

    fn load_sub_dag(&mut self, file: &str, span: Span) -> Option<SubDagFile> {
        let path = resolve(self.file, file);
        let shown = path.display().to_string();
        let kept = self.options.sub_sources.clone();
        // Files are told apart by their real path on disk; in the texts a run
        // kept, by their path as read.
        let canonical = match &kept {
            Some(_) => Ok(lexical(&path)),
            None => std::fs::canonicalize(&path),
        };
        let canonical = match canonical {
            Ok(c) => c,
            Err(e) => {
                self.report(
                    Problem::at(
                        span,
                        format!("cannot read the sub-DAG file {shown}: {e}"),
                        "here",
                    )
                    .help("`file` is relative to the directory of the file that names it"),
                );
                return None;
            }
        };
        let mut chain = self.options.calls.clone();
        let me = match &kept {
            Some(_) => Ok(lexical(Path::new(self.file))),
            None => std::fs::canonicalize(self.file),
        };
        if let Ok(me) = me {
            chain.push(Caller {
                canonical: me,
                shown: self.file.to_string(),
            });
        }
        if let Some(first) = chain.iter().position(|c| c.canonical == canonical) {
            let mut names: Vec<&str> = chain[first..].iter().map(|c| c.shown.as_str()).collect();
            names.push(&shown);
            self.report(
                Problem::at(
                    span,
                    format!("sub-DAG files call each other: {}", names.join(" → ")),
                    "calls a file that calls this one",
                )
                .help("a sub-DAG cannot run itself, directly or through others"),
            );
            return None;
        }
        if chain.len() >= MAX_DEPTH {
            self.report(
                Problem::at(
                    span,
                    format!("sub-DAGs nest more than {MAX_DEPTH} files deep"),
                    "one too many",
                )
                .help("call fewer files from each other"),
            );
            return None;
        }
        let options = LoadOptions {
            params: Vec::new(),
            calls: chain,
            ..self.options.clone()
        };
        let loaded = match &kept {
            Some(texts) => match texts.get(&shown) {
                Some(text) => super::load_str(&shown, text, &options),
                None => {
                    self.report(Problem::at(
                        span,
                        format!("the run keeps no copy of the sub-DAG file {shown}"),
                        "not kept",
                    ));
                    return None;
                }
            },
            None => super::load_file(&path, &options),
        };
        match loaded {
            Ok(dag) => {
                let source = dag.source.clone().unwrap_or_default();
                self.sub_sources.insert(shown.clone(), source.clone());
                for (path, text) in dag.sub_sources.iter() {
                    self.sub_sources.insert(path.clone(), text.clone());
                }
                let nests = dag
                    .spec
                    .tasks
                    .iter()
                    .filter_map(|t| match &t.kind {
                        TaskKind::Dag(d) => Some(d.nests + 1),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(0);
                Some(SubDagFile {
                    path: shown,
                    source,
                    params: dag.spec.params.iter().map(|(k, _)| k.clone()).collect(),
                    nests,
                })
            }
            Err(LoadError::Invalid(invalid)) => {
                let n = invalid.count();
                self.report(Problem::at(
                    span,
                    format!(
                        "the sub-DAG file {shown} is invalid ({n} problem{}, shown with it)",
                        if n == 1 { "" } else { "s" }
                    ),
                    "invalid sub-DAG",
                ));
                self.also.push(*invalid);
                None
            }
            Err(e) => {
                // The OS's reason too (a directory, a FIFO that gave nothing).
                let why = match &e {
                    LoadError::Read { source, .. } => format!("{shown}: {source}"),
                    other => other.to_string(),
                };
                self.report(
                    Problem::at(span, format!("cannot read the sub-DAG file {why}"), "here")
                        .help("`file` is relative to the directory of the file that names it"),
                );
                None
            }
        }
    }

    /// The top-level `outputs:`: a map of key to value, whose expressions name
    /// params (substituted now) and tasks of this file (read when the run ends).
    pub(super) fn dag_outputs(&mut self, node: &Node, ids: &[&str]) -> Vec<(String, String)> {
        // Read as a task's keys are (outputs allowed), then checked against
        // every task of the file rather than upstream ones.
        let refs = self.output_refs.len();
        let task = self.current_task.replace(String::new());
        let outputs = self.string_map(node, "outputs", true);
        self.current_task = task;
        self.output_refs.truncate(refs);
        let Some(outputs) = outputs else {
            return Vec::new();
        };
        let Some(entries) = self.entries(node, "`outputs`") else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(outputs.len());
        for ((key, value), (_, _, vnode)) in outputs.into_iter().zip(entries) {
            let mut unknown = Vec::new();
            let checked = expr::substitute(&value, |e| {
                match e {
                    Expr::Output { task, .. } if !ids.contains(task) => {
                        unknown.push(task.to_string())
                    }
                    _ => {}
                }
                Ok(None)
            });
            if checked.is_err() {
                continue;
            }
            for task in unknown {
                let span = self.narrow(vnode, &format!("tasks.{task}."));
                let help = did_you_mean(&task, ids.iter().copied());
                self.report(
                    Problem::at(
                        span,
                        format!("output `{key}` uses outputs of unknown task `{task}`"),
                        "no such task",
                    )
                    .help_opt(help),
                );
            }
            out.push((key, value));
        }
        out
    }
}
