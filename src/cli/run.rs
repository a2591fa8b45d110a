//! `dag run`: load and check the file, open the store, drive the run with progress
//! on stderr, print the result, and exit with the run's code.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::args::{ExecArgs, ExecutorArg, NatsArgs, OutputArg, RetryArgs, RunArgs, StateArg};
use super::exit::{self, CliError};
use super::output::{self, Style};
use super::progress::Progress;
use super::{report, run_arg, setup};
use crate::backends::cache_dir::DirCache;
use crate::backends::nats::kv_store::KvStore;
use crate::embed::Pipeline;
use crate::engine::cache::CacheStore;
use crate::engine::executor::{ExecError, ExecOptions, ExecutorKind};
use crate::engine::runner::{LineSink, Runners, StopSignal};
use crate::engine::state::RunState;

/// Tasks in flight at once in a distributed run unless `--parallel` says otherwise:
/// the workers' slots are the real limit.
pub const DISTRIBUTED_IN_FLIGHT: usize = 1000;

/// Runs `dag run` and returns the exit code.
pub fn run(
    args: RunArgs,
    state_dir: Option<&std::path::Path>,
    state: Option<StateArg>,
    nats: &NatsArgs,
    runners: Runners,
) -> Result<u8, CliError> {
    let mut pipeline = with_state(
        Pipeline::with_runners(runners).state_dir(setup::state_dir(state_dir)?),
        state,
        &args.exec,
        nats,
    )?;
    for (k, v) in &args.params {
        pipeline = pipeline.param(k, v);
    }
    for (name, size) in setup::pools(&args.exec.pools)? {
        pipeline = pipeline.pool(name, size);
    }
    let path = setup::dag_file(args.file.as_deref())?;
    let dag = pipeline.load(&path)?;
    release_freed_memory();
    let dag = if args.only.is_empty() {
        dag
    } else {
        dag.select(&args.only).map_err(|unknown| {
            let ids: Vec<&str> = dag.spec.tasks.iter().map(|t| t.id.as_str()).collect();
            let help = unknown
                .first()
                .and_then(|u| crate::engine::suggest::did_you_mean(u, ids.iter().copied()));
            CliError::usage(
                format!(
                    "--only: no task `{}` in {}",
                    unknown.join("`, `"),
                    path.display()
                ),
                help,
            )
        })?
    };
    if args.dry_run {
        let shown = if args.exec.quiet {
            OutputArg::Quiet
        } else {
            args.exec.output
        };
        match shown {
            OutputArg::Json => {
                let mut doc = super::graph::json(&dag);
                doc["executor"] = format!("{:?}", args.exec.executor).to_lowercase().into();
                doc["parallel"] = args.exec.parallel.into();
                output::print_json(&doc)?;
            }
            OutputArg::Quiet => {}
            OutputArg::Table => output::print(&plan(&dag, &args.exec))?,
        }
        return Ok(exit::SUCCESS);
    }
    // An unusable state directory is reported before anything runs.
    pipeline.store()?;
    let file = path.display().to_string();
    if args.detach {
        return detach(&args.exec, state, nats, pipeline, dag, &file);
    }
    let groups = progress_groups(&args.exec, &dag);
    drive(
        args.exec,
        nats,
        pipeline,
        groups,
        Target::New {
            dag: Box::new(dag),
            file,
        },
    )
}

/// Hands the memory freed since startup back to the system. Loading a large file
/// builds a node tree that is dropped once the DAG is validated; without this, the
/// allocator keeps those pages, and the run's own allocations (on other threads,
/// so in other arenas) come on top: 100,000 tasks peaked at 262 MiB instead of
/// about the load's own peak.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// The store of a run: `--state`, else NATS KV for distributed runs and files
/// otherwise. Docker tasks may name no image when `--docker-image` gives one, or
/// when workers run them (each with its own `--docker-image`).
fn with_state(
    pipeline: Pipeline,
    state: Option<StateArg>,
    exec: &ExecArgs,
    nats: &NatsArgs,
) -> Result<Pipeline, CliError> {
    let distributed = exec.executor == ExecutorArg::Distributed;
    let pipeline =
        pipeline.docker_image_optional(distributed || exec.docker.default_image().is_some());
    let state = state.unwrap_or(if distributed {
        StateArg::Nats
    } else {
        StateArg::File
    });
    Ok(match state {
        StateArg::File => pipeline,
        StateArg::Nats => {
            let kv = KvStore::open(&setup::nats_options(nats), distributed)?;
            // A distributed run kept in NATS may be driven on by any scheduler
            // when this process dies.
            pipeline.with_store(Arc::new(kv)).failover(distributed)
        }
    })
}

/// `dag run --detach`: submits the run for the schedulers to drive, prints its
/// id, and exits 0.
fn detach(
    exec: &ExecArgs,
    state: Option<StateArg>,
    nats: &NatsArgs,
    pipeline: Pipeline,
    dag: crate::engine::graph::Dag,
    file: &str,
) -> Result<u8, CliError> {
    if exec.executor != ExecutorArg::Distributed {
        return Err(CliError::usage(
            "--detach needs --executor distributed",
            Some(
                "a detached run is driven by a `dag scheduler` and run by `dag worker` processes"
                    .into(),
            ),
        ));
    }
    if state == Some(StateArg::File) {
        return Err(CliError::usage(
            "--detach needs the NATS state store, not --state file",
            Some("a scheduler on another machine reads the run from NATS KV".into()),
        ));
    }
    let pipeline = pipeline.options(ExecOptions {
        parallel: exec.parallel.map_or(DISTRIBUTED_IN_FLIGHT, |p| p as usize),
        fail_fast: exec.fail_fast,
        no_cache: exec.no_cache,
        host: setup::host_name(),
        gpus: None,
        ..ExecOptions::default()
    });
    let runtime = setup::runtime(Some(1))?;
    let warn = Arc::new(|text: &str| output::eprint(&format!("dag: warning: {text}\n")));
    let remote = runtime.block_on(super::nats::distributed_runners(
        nats,
        pipeline.runners(),
        warn,
    ))?;
    let pipeline = pipeline.replace_runners(remote);
    let record = runtime.block_on(pipeline.submit(dag, file))?;
    runtime.shutdown_background();
    let shown = if exec.quiet {
        OutputArg::Quiet
    } else {
        exec.output
    };
    match shown {
        OutputArg::Table => output::print(&format!("{}\n", record.run_id))?,
        OutputArg::Json => output::print(&format!(
            "{}\n",
            serde_json::json!({"run_id": record.run_id, "state": record.state})
        ))?,
        OutputArg::Quiet => {}
    }
    if shown != OutputArg::Quiet {
        output::eprint(&format!(
            "dag: submitted run {0}; a `dag scheduler` drives it (follow it with `dag wait {0}`)\n",
            record.run_id
        ));
    }
    Ok(exit::SUCCESS)
}

/// The execution plan of `dag run --dry-run`: waves of tasks that may run together,
/// then every task in the sequential order with what it would run.
fn plan(dag: &crate::engine::graph::Dag, exec: &ExecArgs) -> String {
    let order = dag.topological_order();
    let wave = super::graph::waves(dag);
    let waves = wave.iter().max().map_or(0, |w| w + 1);
    let mut out = format!(
        "plan for {} ({} task{}, {} wave{}, executor {}{}):\n",
        dag.spec.name,
        dag.len(),
        if dag.len() == 1 { "" } else { "s" },
        waves,
        if waves == 1 { "" } else { "s" },
        format!("{:?}", exec.executor).to_lowercase(),
        exec.parallel
            .map(|p| format!(", --parallel {p}"))
            .unwrap_or_default()
    );
    for w in 0..waves {
        let ids: Vec<&str> = order
            .iter()
            .filter(|&&t| wave[t] == w)
            .map(|&t| dag.task(t).id.as_str())
            .collect();
        out.push_str(&format!("  wave {}: {}\n", w + 1, ids.join(", ")));
    }
    out.push_str("order (sequential executor; trigger rules may skip some):\n");
    let secrets = dag.spec.secrets();
    for (n, &t) in order.iter().enumerate() {
        let task = dag.task(t);
        out.push_str(&format!("  {:>3}. {} [{}]", n + 1, task.id, task.label()));
        if task.trigger_rule != Default::default() || !task.depends_on.is_empty() {
            out.push_str(&format!(" after {}", task.depends_on.join(", ")));
        }
        out.push('\n');
        for line in secrets.mask(&task.kind.summary()).lines() {
            out.push_str(&format!("       {line}\n"));
        }
    }
    out
}

/// `dag retry`: drives an earlier run again.
pub fn retry(
    args: RetryArgs,
    state_dir: Option<&std::path::Path>,
    state: Option<StateArg>,
    nats: &NatsArgs,
    runners: Runners,
) -> Result<u8, CliError> {
    let mut pipeline = with_state(
        Pipeline::with_runners(runners).state_dir(setup::state_dir(state_dir)?),
        state,
        &args.exec,
        nats,
    )?;
    for (name, size) in setup::pools(&args.exec.pools)? {
        pipeline = pipeline.pool(name, size);
    }
    let store = pipeline.store()?;
    let run_id = run_arg::resolve(store.as_ref(), Some(&args.run_id))?;
    let record = store.load_run(&run_id)?;
    // Checked here too, so that a run that cannot be retried says so before a
    // runtime or a NATS connection is set up.
    let dag = pipeline.definition_of(&record)?;
    // A task the run does not have: said here, with the nearest id.
    if let Some(task) = &args.task
        && dag.named(task).is_none_or(<[usize]>::is_empty)
    {
        let ids: Vec<&str> = dag.spec.tasks.iter().map(|t| t.id.as_str()).collect();
        return Err(CliError::usage(
            format!("--task: run {run_id} has no task `{task}`"),
            crate::engine::suggest::did_you_mean(task, ids.iter().copied()),
        ));
    }
    let groups = progress_groups(&args.exec, &dag);
    drive(
        args.exec,
        nats,
        pipeline,
        groups,
        Target::Retry {
            run_id,
            task: args.task,
        },
    )
}

/// What progress shows of `dag`'s mapped tasks (nothing when it is silenced).
fn progress_groups(args: &ExecArgs, dag: &crate::engine::graph::Dag) -> super::progress::Groups {
    if args.quiet || args.output == OutputArg::Quiet {
        return super::progress::Groups::default();
    }
    super::progress::Groups::of(dag)
}

/// What to drive: a new run, or an earlier one again.
enum Target {
    New {
        dag: Box<crate::engine::graph::Dag>,
        file: String,
    },
    Retry {
        run_id: String,
        task: Option<String>,
    },
}

/// Drives a run with progress on stderr, prints the result, and gives the exit code.
fn drive(
    mut args: ExecArgs,
    nats: &NatsArgs,
    pipeline: Pipeline,
    groups: super::progress::Groups,
    target: Target,
) -> Result<u8, CliError> {
    if args.quiet {
        args.output = OutputArg::Quiet;
    }
    let state = pipeline.file_store_dir();
    let open = |path: &Option<std::path::PathBuf>| {
        super::junit::ReportFile::open_arg(path.as_deref(), state.as_deref())
    };
    let report_file = open(&args.report)?;
    let markdown_file = open(&args.report_markdown)?;
    let html_file = open(&args.report_html)?;
    super::junit::ReportFile::distinct(&[&report_file, &markdown_file, &html_file])?;
    let style = Style::detect();
    let progress = Arc::new(match (args.output, style.progress(args.progress)) {
        (OutputArg::Quiet, _) | (_, None) => Progress::Silent,
        (_, Some(bars)) => Progress::new(bars, groups),
    });
    let lines: Option<LineSink> = args.verbose.then(|| {
        let p = progress.clone();
        Arc::new(move |task: &str, line: &str| p.output_line(task, line)) as LineSink
    });
    super::nats::check_metrics_addr(args.metrics_addr.as_deref())?;
    let distributed = args.executor == ExecutorArg::Distributed;
    // A distributed run's GPUs are its workers' (each gives out its own).
    let gpus = (!distributed).then(|| args.gpus.resolve());
    if let (Some(gpus), Target::New { dag, .. }) = (&gpus, &target)
        && let Some(why) = crate::engine::gpu::unservable(dag, gpus.devices.len())
    {
        return Err(CliError::usage(
            format!("{why} ({}): it could never start", gpus.source),
            Some("give this machine's GPUs with --gpus N (or --gpus auto), or run it with --executor distributed on workers that have them".into()),
        ));
    }
    let options = ExecOptions {
        executor: match args.executor {
            ExecutorArg::Sequential => ExecutorKind::Sequential,
            // A distributed run is scheduled by the local executor; its runner hands
            // every attempt to the workers.
            ExecutorArg::Local | ExecutorArg::Distributed => ExecutorKind::Local,
        },
        parallel: match args.parallel {
            // Tasks in flight on workers cost this process no open files but a log.
            Some(p) if distributed => p as usize,
            Some(p) => setup::within_open_files(p as usize, "--parallel"),
            None if distributed => DISTRIBUTED_IN_FLIGHT,
            None => ExecOptions::default().parallel,
        },
        fail_fast: args.fail_fast,
        no_cache: args.no_cache,
        host: setup::host_name(),
        lines,
        gpus: gpus.map(|g| Arc::new(crate::engine::gpu::Machine::new(g.devices))),
        ..ExecOptions::default()
    };
    let workers = options.parallel.clamp(1, 4);
    let pipeline = pipeline.options(options).observe(progress.clone());
    // The DAG a run ran is read back from its record for the Markdown report, with
    // the runners the file was checked with.
    let report_runners = pipeline.runners().clone();

    let runtime = setup::runtime(Some(workers))?;
    let pipeline = if distributed {
        let warn_to = progress.clone();
        let warn = Arc::new(move |text: &str| warn_to.warn(text));
        let remote = runtime.block_on(super::nats::distributed_runners(
            nats,
            pipeline.runners(),
            warn,
        ))?;
        pipeline.replace_runners(remote)
    } else {
        // Tasks with `cache:` are checked against this machine's cache (workers
        // keep theirs in the NATS object store).
        let cache = pipeline.cache_dir().ok_or_else(|| {
            CliError::Infrastructure("no data directory for the cache: set DAG_HOME".into())
        })?;
        let cache: Arc<dyn CacheStore> = Arc::new(DirCache::new(cache));
        let cached = pipeline.runners().cached(&cache);
        pipeline.replace_runners(cached)
    };
    // Bound before the run starts: an address in use stops it first (exit 3).
    let pipeline = match &args.metrics_addr {
        Some(addr) => {
            let registry = Arc::new(crate::metrics::Registry::new());
            let (listener, at) = runtime.block_on(super::nats::bind_metrics(addr))?;
            let js = if distributed {
                Some(runtime.block_on(super::nats::jetstream_of(nats, "dag run (metrics)"))?)
            } else {
                None
            };
            runtime.block_on(async {
                super::nats::serve_metrics(listener, registry.clone(), js);
            });
            super::output::eprint(&format!("dag: metrics at {at}\n"));
            let counted = crate::metrics::counted(pipeline.runners(), &registry);
            pipeline.replace_runners(counted)
        }
        None => pipeline,
    };
    let stop = StopSignal::new();
    let stop_for_signals = stop.clone();
    let signalled = Arc::new(AtomicU8::new(0));
    // The executor runs as a task on the runtime rather than on this thread, so the
    // scheduler and the attempts it starts share worker threads: a run of many short
    // tasks then costs far fewer thread wake-ups.
    let store = pipeline.store()?;
    let (dag_name, retried) = match &target {
        Target::New { dag, .. } => (Some(dag.spec.name.clone()), None),
        Target::Retry { run_id, .. } => (None, Some(run_id.clone())),
    };
    progress.learn_from(store.clone(), dag_name, retried);
    let driver = async move {
        match target {
            Target::New { dag, file } => pipeline.run(*dag, &file, stop).await,
            Target::Retry { run_id, task } => pipeline.retry(&run_id, task.as_deref(), stop).await,
        }
    };
    let result = runtime.block_on(async {
        let (graceful, hard) = (stop_for_signals.clone(), stop_for_signals);
        let (said, said_again) = (progress.clone(), progress.clone());
        super::signals::watch(
            signalled.clone(),
            move || {
                // How many run as the signal comes (once stopping began, some may
                // already have ended); a read that never waits, so nothing keeps
                // the signal from taking effect. Then stop, then say so.
                let running = said.running();
                graceful.graceful.cancel();
                let what = match running {
                    Some(1) => "1 running task".to_string(),
                    Some(n) => format!("{n} running tasks"),
                    None => "running tasks".to_string(),
                };
                said.say(&format!(
                    "dag: stopping: cancelling {what} (they get SIGTERM, then SIGKILL after the grace period; press Ctrl-C again to kill them now)"
                ));
            },
            move || {
                hard.hard.cancel();
                said_again.say("dag: killing running tasks");
            },
        );
        tokio::spawn(driver).await
    });
    progress.finish();
    let record = match result {
        Ok(r) => r?,
        Err(e) => return Err(ExecError::Panicked(panic_text(e)).into()),
    };

    // The report was checked before the run; if writing it fails now (a full disk),
    // that is said, and a failed run's own exit code still wins.
    let mut report_failed = false;
    let mut write_report = |file: Option<super::junit::ReportFile>, text: &dyn Fn() -> String| {
        if let Some(file) = file {
            let path = file.path().display().to_string();
            if let Err(e) = file.write(&text()) {
                let failed =
                    CliError::Infrastructure(format!("cannot write the report {path}: {e}"));
                output::eprint(&output::render_error(&failed, style.color));
                report_failed = true;
            }
        }
    };
    write_report(report_file, &|| {
        super::junit::report(&record, store.as_ref())
    });
    if markdown_file.is_some() || html_file.is_some() {
        let dag = report::dag_of_run(&record, report_runners.clone());
        let dag = dag.as_ref().map_err(String::as_str);
        write_report(markdown_file, &|| {
            super::markdown::markdown(&record, dag, store.as_ref())
        });
        write_report(html_file, &|| {
            super::html::html(&record, dag, store.as_ref())
        });
    }
    print_result(&record, store.as_ref(), args.output)?;
    // Shut down without waiting for anything a cancelled task left behind.
    runtime.shutdown_background();
    Ok(match signalled.load(Ordering::SeqCst) {
        0 => match record.state {
            RunState::Success if report_failed => exit::INFRASTRUCTURE,
            // Cancelled from elsewhere (`dag cancel`): interrupted, as by Ctrl-C.
            state => exit::of_run(state),
        },
        code => code,
    })
}

/// Prints the result of a run that ended, on stdout: the task table, its
/// sub-DAG runs, the summary, the log tails of failed tasks and what to do next (`table`), or the
/// record (`json`).
pub fn print_result(
    record: &crate::engine::record::RunRecord,
    store: &dyn crate::engine::store::StateStore,
    shown: OutputArg,
) -> Result<(), CliError> {
    match shown {
        OutputArg::Table => {
            let mut out = report::table(record);
            out.push('\n');
            out.push_str(&report::children_lines(record, store));
            out.push_str(&report::summary(record));
            out.push('\n');
            out.push_str(&report::failed_tails(record, store));
            out.push_str(&report::next_steps(record));
            output::print(&out)?;
        }
        OutputArg::Json => output::print(&report::json(record))?,
        OutputArg::Quiet => {}
    }
    Ok(())
}

/// The message of a panicked task.
fn panic_text(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string()),
        Err(e) => e.to_string(),
    }
}
