//! The keys every task has, whatever its type.

use crate::engine::condition::{self, Operand};
use crate::engine::fanout::{MAX_INSTANCE_BYTES, approx_bytes};
use crate::engine::format::{self, Place};
use crate::engine::spec::{TaskBody, TaskKind, TaskSpec, TriggerRule};
use crate::engine::suggest::did_you_mean;
use crate::engine::yaml::{Node, NodeKind, Span};

use super::Problem;
use super::checker::{Checker, Entries, OutputRef, collect_strings, value};
use super::dag::Defaults;

impl Checker<'_, '_> {
    pub(super) fn task(
        &mut self,
        id: &str,
        key: &Node,
        node: &Node,
        defaults: &Defaults,
        out: &mut Vec<TaskSpec>,
    ) -> (bool, Vec<(String, Span)>) {
        let what = format!("task `{id}`");
        if !matches!(node.kind, NodeKind::Map(_)) {
            self.not_a_map(
                key,
                node,
                &format!("{what} must be a map of task keys"),
                &format!("write `{id}: {{ command: ... }}`"),
            );
            return (false, Vec::new());
        }
        let Some(entries) = self.entries(node, &what) else {
            return (false, Vec::new());
        };
        let deps = match entries.iter().find(|(k, ..)| *k == "depends_on") {
            Some((_, _, v)) => self.string_list(v, "depends_on").unwrap_or_default(),
            None => Vec::new(),
        };
        self.current_task = Some(id.to_string());
        let source = self.dynamic_source(&entries);
        if matches!(source, Some(None))
            && let Some(v) = value(&entries, "max_items")
        {
            self.report(
                Problem::at(
                    v.span,
                    "`max_items` applies to a `for_each` read from a task's output",
                    "here",
                )
                .help("a list written in the file is as long as it is"),
            );
        }
        let start = out.len();
        let made = match source {
            None => None,
            Some(Some(from)) => self
                .template_spec(id, key, &entries, defaults, from)
                .map(|specs| out.extend(specs)),
            Some(None) => self.instance_specs_or_task(id, key, &entries, defaults, out),
        };
        if made.is_none() {
            out.truncate(start);
        }
        self.current_task = None;
        (made.is_some(), deps)
    }

    /// A task's spec, or its instances' when it has a `for_each` or `matrix` in the
    /// file.
    fn instance_specs_or_task(
        &mut self,
        id: &str,
        key: &Node,
        entries: &Entries<'_>,
        defaults: &Defaults,
        out: &mut Vec<TaskSpec>,
    ) -> Option<()> {
        match self.instances(entries) {
            None => None,
            Some(None) => {
                if let Some(v) = value(entries, "max_parallel") {
                    self.report(
                        Problem::at(
                            v.span,
                            "`max_parallel` applies to a task with `for_each` or `matrix`",
                            "here",
                        )
                        .help("use --parallel to bound the whole run"),
                    );
                    return None;
                }
                self.task_spec(id, key, entries, defaults, &format!("task `{id}`"))
                    .map(|s| out.push(s))
            }
            Some(Some(instances)) => {
                self.instance_specs(id, key, entries, defaults, instances, out)
            }
        }
    }

    /// A mapped task whose items are read at run time: one task, which stands in for
    /// its instances until it expands into them (see `engine::fanout`).
    fn template_spec(
        &mut self,
        id: &str,
        key: &Node,
        entries: &Entries<'_>,
        defaults: &Defaults,
        from: String,
    ) -> Option<Vec<TaskSpec>> {
        if let Some(m) = value(entries, "matrix") {
            self.report(
                Problem::at(
                    m.span,
                    "a task has `for_each` or `matrix`, not both",
                    "here",
                )
                .help("read the items from one output with `for_each` only"),
            );
            return None;
        }
        let max_parallel = self.max_parallel(entries)?;
        let runs_dags = is_dag_task(entries);
        let most = if runs_dags {
            super::subdag::MAX_CHILD_RUNS
        } else {
            crate::engine::fanout::MAX_INSTANCES
        };
        let max_items = self.at_least_one(entries, "max_items", most as u32)?;
        // Each instance of a mapped dag task is a run of its own, linked from
        // this one: fewer of them.
        let max_items = match max_items {
            None if runs_dags => Some(super::subdag::MAX_CHILD_RUNS as u32),
            other => other,
        };
        self.instance = Some(super::map::Instance {
            template: true,
            ..Default::default()
        });
        let spec = self.task_spec(id, key, entries, defaults, &format!("task `{id}`"));
        self.instance = None;
        let mut spec = spec?;
        spec.map = Some(Box::new(crate::engine::spec::MapInstance {
            group: id.into(),
            index: None,
            item: None,
            matrix: Box::default(),
            from: Some(from.into()),
            max_items,
        }));
        spec.max_parallel = max_parallel;
        Some(vec![spec])
    }

    /// `max_parallel` of a mapped task, checked.
    fn max_parallel(&mut self, entries: &Entries<'_>) -> Option<Option<u32>> {
        self.at_least_one(entries, "max_parallel", u32::MAX)
    }

    /// The count `key` (from 1 to `most`), if given; `None` when it is wrong
    /// (reported).
    fn at_least_one(&mut self, entries: &Entries<'_>, key: &str, most: u32) -> Option<Option<u32>> {
        let Some(v) = value(entries, key) else {
            return Some(None);
        };
        let n = self.uint(v, key, most as u64)?;
        if n == 0 {
            self.report(Problem::at(
                v.span,
                format!("`{key}` must be at least 1"),
                "zero",
            ));
            return None;
        }
        Some(Some(n as u32))
    }

    /// The instances of a mapped task, each a task of its own (`ID.SUFFIX`); a
    /// mapped task without instances is a stand-in under its own id that ends
    /// `skipped`.
    fn instance_specs(
        &mut self,
        id: &str,
        key: &Node,
        entries: &Entries<'_>,
        defaults: &Defaults,
        instances: Vec<super::map::Instance>,
        out: &mut Vec<TaskSpec>,
    ) -> Option<()> {
        let max_parallel = self.max_parallel(entries)?;
        if is_dag_task(entries) && instances.len() > super::subdag::MAX_CHILD_RUNS {
            self.report(
                Problem::at(
                    key.span,
                    format!(
                        "`{id}` would run {} sub-DAG runs, more than the {} a mapped dag task may",
                        instances.len(),
                        super::subdag::MAX_CHILD_RUNS
                    ),
                    "too many instances",
                )
                .help("each instance of a dag task is a run of its own: map the tasks inside the sub-DAG instead"),
            );
            return None;
        }
        if instances.is_empty() {
            self.instance = Some(super::map::Instance {
                stand_in: true,
                ..Default::default()
            });
            let spec = self.task_spec(id, key, entries, defaults, &format!("task `{id}`"));
            self.instance = None;
            let mut spec = spec?;
            spec.map = Some(Box::new(
                super::map::Instance::default().record(&id.into(), None),
            ));
            out.push(spec);
            return Some(());
        }
        // Made straight into the run's list of tasks: a million instances gathered
        // apart first would be held twice.
        out.reserve(instances.len());
        let mut bytes = 0usize;
        let mut body = None;
        let group: std::sync::Arc<str> = id.into();
        for (index, instance) in instances.into_iter().enumerate() {
            let instance_id = format!("{id}.{}", instance.suffix);
            let what = format!("task `{instance_id}`");
            let record = instance.record(&group, Some(index));
            self.instance = Some(instance);
            let spec = self.task_spec(&instance_id, key, entries, defaults, &what);
            self.instance = None;
            // The first instance with a problem is enough: the rest would repeat it.
            let mut spec = spec?;
            spec.map = Some(Box::new(record));
            // What a small file may make: a few short values multiplied by many
            // instances must not take the machine's memory.
            bytes += approx_bytes(&spec);
            if bytes > MAX_INSTANCE_BYTES {
                self.report(
                    Problem::at(
                        key.span,
                        format!(
                            "the instances of `{id}` would take more than {} MiB",
                            MAX_INSTANCE_BYTES >> 20
                        ),
                        "too large",
                    )
                    .help("give the instances shorter values, or fewer of them"),
                );
                return None;
            }
            spec.max_parallel = max_parallel;
            spec.share_body(&mut body);
            out.push(spec);
        }
        Some(())
    }

    pub(super) fn task_spec(
        &mut self,
        id: &str,
        key: &Node,
        entries: &Entries<'_>,
        defaults: &Defaults,
        what: &str,
    ) -> Option<TaskSpec> {
        self.unknown_keys(entries, &format::names(Place::Task), what);
        let get = |k: &str| value(entries, k);
        let before = self.problems.len();

        let type_name = match get("type") {
            Some(v) => {
                let choices: Vec<(&str, &str)> = format::type_names().map(|t| (t, t)).collect();
                self.choice(v, "type", &choices)?
            }
            None => format::DEFAULT_TYPE,
        };
        let what = what.to_string();
        // dag tasks are run by the engine itself, whatever runners there are.
        if let (Some(allowed), Some(v)) = (&self.options.task_types, get("type"))
            && !allowed.contains(&type_name)
            && type_name != "dag"
        {
            self.report(
                Problem::at(
                    v.span,
                    format!("{type_name} tasks cannot run in this build of dag"),
                    "unsupported type",
                )
                .help(format!("supported task types: {}", allowed.join(", "))),
            );
        }
        for (key, knode, _) in entries {
            let Some(types) = format::task_key(key).map(|k| k.types) else {
                continue;
            };
            if !types.is_empty() && !types.contains(&type_name) {
                let owner = match types {
                    [one] => one.to_string(),
                    [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
                    [] => String::new(),
                };
                let help = match types {
                    [one] => format!("add `type: {one}` or remove `{key}`"),
                    _ => format!("remove `{key}`"),
                };
                self.report(
                    Problem::at(
                        knode.span,
                        format!(
                            "`{key}` applies to {owner} tasks, but {what} is a {type_name} task"
                        ),
                        format!("{owner} only"),
                    )
                    .help(help),
                );
            }
        }

        let description =
            get("description").and_then(|v| self.optional_string(v, "description").flatten());
        let depends_on: Vec<String> = match get("depends_on") {
            // Already checked by `task`; read again without reporting.
            Some(v) => collect_strings(v),
            None => Vec::new(),
        };
        let mut env = match get("env") {
            Some(v) => self.string_map(v, "env", true).unwrap_or_default(),
            None => Vec::new(),
        };
        let mut workdir = match get("workdir") {
            Some(v) => self.optional_string(v, "workdir").flatten(),
            None => defaults.workdir.clone(),
        };
        let timeout = match get("timeout") {
            Some(v) => self.positive_duration(v, "timeout"),
            None => defaults.timeout,
        };
        let mut retry = defaults.retry;
        if let Some(v) = get("retries") {
            retry.retries = self.uint(v, "retries", 1000).unwrap_or(0) as u32;
        }
        if let Some(v) = get("retry_delay") {
            retry.delay = self.duration(v, "retry_delay").unwrap_or(retry.delay);
        }
        if let Some(v) = get("max_retry_delay") {
            retry.max_delay = self
                .duration(v, "max_retry_delay")
                .unwrap_or(retry.max_delay);
        }
        if let Some(v) = get("retry_backoff") {
            retry.backoff = self.backoff(v).unwrap_or_default();
        }
        let trigger_rule = match get("trigger_rule") {
            Some(v) => self
                .choice(v, "trigger_rule", &TriggerRule::ALL)
                .unwrap_or_default(),
            None => defaults.trigger_rule,
        };
        let queue = match get("queue") {
            Some(v) => self.queue(v).unwrap_or_default(),
            None => defaults.queue.clone().unwrap_or_else(|| "default".into()),
        };
        let priority = get("priority")
            .and_then(|v| self.int(v, "priority"))
            .unwrap_or(0);
        let when = get("when").and_then(|v| self.condition(v));
        let skip_exit_codes = match get("skip_exit_code") {
            Some(v) => self.skip_exit_codes(v, type_name),
            None => Vec::new(),
        };
        let mut secret_env = self.secret_env.clone();
        if let Some(v) = get("secret_env") {
            for name in self.env_names(v, "secret_env") {
                if !secret_env.contains(&name) {
                    secret_env.push(name);
                }
            }
        }
        let cache = get("cache").and_then(|v| self.cache(v)).map(Box::new);
        let (pool, pool_slots) = self
            .task_pool(get("pool"), get("pool_slots"), defaults)
            .unwrap_or((None, 1));
        let gpus = match get("gpus") {
            Some(v) => self
                .uint(v, "gpus", crate::engine::gpu::MAX_GPUS as u64)
                .unwrap_or(0) as u32,
            None => 0,
        };
        let before_command = self.problems.len();
        let command = get("command").and_then(|v| self.optional_string(v, "command").flatten());
        let command_failed = self.problems.len() > before_command;

        let kind = match type_name {
            "bash" => match command {
                Some(c) if !c.trim().is_empty() => Some(TaskKind::Bash { command: c }),
                _ if command_failed => None,
                _ => {
                    self.missing(
                        key,
                        get("command"),
                        &format!("`command` is required for bash {what}"),
                    );
                    None
                }
            },
            "fn" if command_failed => None,
            "fn" => self.fn_kind(key, get("command"), command, &what),
            "dag" => self.dag_kind(key, entries, &what),
            "wasm" => self.wasm_kind(key, entries, defaults, &what),
            "http" | "docker" if command_failed => None,
            "http" => self.http_kind(key, entries, command, &what),
            "docker" => self.docker_kind(
                key,
                entries,
                command,
                &mut env,
                &mut workdir,
                defaults,
                &what,
            ),
            _ => None,
        };
        if self.problems.len() > before {
            return None;
        }
        Some(TaskSpec {
            id: id.into(),
            body: std::sync::Arc::new(TaskBody {
                description,
                kind: kind?,
                depends_on,
                env,
                workdir,
                timeout,
                retry,
                trigger_rule,
                queue,
                priority,
                secret_env,
                skip_exit_codes,
                when,
                max_parallel: None,
                pool,
                pool_slots,
                cache,
                gpus,
            }),
            map: None,
        })
    }

    /// `when`: parsed, with its params declared and its outputs noted for the check
    /// that they come from upstream tasks.
    fn condition(&mut self, node: &Node) -> Option<String> {
        let text = self.raw_string(node, "when")?;
        let cond = match condition::parse(&text) {
            Ok(c) => c,
            Err(e) => {
                self.report(
                    Problem::at(node.span, format!("`when`: {e}"), "invalid condition").help(
                        "conditions compare `params.NAME`, `env.NAME` and `tasks.ID.outputs.KEY` with `==`, `!=`, `<`, `<=`, `>`, `>=`, `in [..]`, joined by `&&`, `||`, `!` and parentheses",
                    ),
                );
                return None;
            }
        };
        let task = self.current_task.clone().unwrap_or_default();
        let mut ok = true;
        for operand in cond.operands() {
            match operand {
                Operand::Param(name) if !self.params.iter().any(|(k, _)| k == name) => {
                    let span = self.narrow(node, &format!("params.{name}"));
                    let names: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
                    let help = match did_you_mean(name, names.iter().copied()) {
                        Some(help) => help,
                        None => "declare it under `params:` at the top of the file".into(),
                    };
                    self.report(
                        Problem::at(
                            span,
                            format!("unknown param `{name}`"),
                            "not declared in `params`",
                        )
                        .help(help),
                    );
                    ok = false;
                }
                Operand::Item(key) => {
                    if let Err((message, help)) =
                        super::checker::instance_item(self.instance.as_ref(), key.as_deref())
                    {
                        let span = self.narrow(node, "item");
                        self.report(Problem::at(span, message, "here").help_opt(help));
                        ok = false;
                    }
                }
                Operand::Matrix(axis) => {
                    if let Err((message, help)) =
                        super::checker::instance_matrix(self.instance.as_ref(), axis)
                    {
                        let span = self.narrow(node, &format!("matrix.{axis}"));
                        self.report(Problem::at(span, message, "here").help_opt(help));
                        ok = false;
                    }
                }
                Operand::Output { task: from, key } => {
                    let span = self.narrow(node, &format!("tasks.{from}."));
                    self.output_refs.push(OutputRef {
                        task: task.clone(),
                        from: from.clone(),
                        key: key.clone(),
                        span,
                    });
                }
                _ => {}
            }
        }
        ok.then_some(text)
    }

    /// `skip_exit_code`: one code or a list, each in the range of the task's type.
    fn skip_exit_codes(&mut self, node: &Node, type_name: &str) -> Vec<i32> {
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let range = format::skip_codes(type_name);
        let mut codes = Vec::with_capacity(items.len());
        for item in items {
            let Some(code) = self.int(item, "skip_exit_code") else {
                continue;
            };
            if !range.contains(&code) {
                let what = if type_name == "http" {
                    "an http task fails only on response statuses"
                } else {
                    "a process fails only with exit codes"
                };
                self.report(Problem::at(
                    item.span,
                    format!(
                        "`skip_exit_code` {code} is out of range: {what} {}–{}",
                        range.start(),
                        range.end()
                    ),
                    "out of range",
                ));
                continue;
            }
            codes.push(code as i32);
        }
        codes
    }
}

/// Whether the task whose keys are `entries` is a `dag` task.
fn is_dag_task(entries: &Entries<'_>) -> bool {
    value(entries, "type").and_then(Node::as_scalar) == Some(crate::backends::subdag::TYPE)
}
