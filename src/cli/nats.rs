//! The commands around distributed execution: `dag worker`, `dag workers`,
//! `dag cancel`, and the runners of `dag run --executor distributed`.

use std::sync::Arc;
use std::sync::atomic::AtomicU8;

use async_nats::jetstream;
use comfy_table::{Table, presets};
use tokio_util::sync::CancellationToken;

use super::args::{CancelArgs, NatsArgs, OutputArg, WorkerArgs, WorkersArgs};
use super::exit::{self, CliError};
use super::output;
use super::report;
use super::run_arg;
use super::setup;
use super::text::format_ms;
use crate::backends::docker::DockerRunner;
use crate::backends::nats::scheduler::{NatsRunner, Warn, all_workers, heartbeat_age, suspicion};
use crate::backends::nats::wire::{self, ControlAction, ControlMsg, PROTOCOL};
use crate::backends::nats::worker::{self, WorkerConfig};
use crate::backends::nats::{NatsError, NatsOptions, Timing, connect, ensure_layout};
use crate::engine::runner::{Runners, TaskRunner};

impl From<NatsError> for CliError {
    fn from(e: NatsError) -> CliError {
        match e {
            NatsError::Url { .. } | NatsError::Setting(_) => CliError::usage(e.to_string(), None),
            NatsError::InUse(message) => CliError::usage(message, None),
            e => CliError::Infrastructure(e.to_string()),
        }
    }
}

fn options(args: &NatsArgs) -> NatsOptions {
    setup::nats_options(args)
}

/// Runners that hand every task type to the workers. Function names stay those of
/// `local`, for validation.
pub async fn distributed_runners(
    args: &NatsArgs,
    local: &Runners,
    warn: Warn,
) -> Result<Runners, CliError> {
    let client =
        crate::backends::nats::connect_watched(&options(args), "dag run", Some(warn.clone()))
            .await?;
    let replicas = options(args).replicas;
    ensure_layout(&jetstream::new(client.clone()), replicas).await?;
    let remote: Arc<dyn TaskRunner> = Arc::new(NatsRunner::new(
        client,
        Timing::from_env(),
        replicas,
        Some(warn),
    ));
    let mut runners = Runners::new();
    for t in crate::engine::format::RUNS {
        runners = runners.with(t, remote.clone());
    }
    Ok(runners.with_functions(local.functions().to_vec()))
}

/// Binds a `--metrics-addr` (an address in use is exit 3): the listener and the
/// URL it serves (with port 0, the port the system chose).
pub async fn bind_metrics(addr: &str) -> Result<(tokio::net::TcpListener, String), CliError> {
    let listener = crate::metrics::bind(addr)
        .await
        .map_err(|e| CliError::Infrastructure(format!("cannot serve metrics on {addr}: {e}")))?;
    let at = match listener.local_addr() {
        Ok(a) => format!("http://{a}/metrics"),
        Err(_) => format!("http://{addr}/metrics"),
    };
    Ok((listener, at))
}

/// Serves `registry` on `listener`; with `js`, each scrape first reads the
/// deployment's queues and this process's NATS reconnects.
pub fn serve_metrics(
    listener: tokio::net::TcpListener,
    registry: Arc<crate::metrics::Registry>,
    js: Option<jetstream::Context>,
) {
    let refresh: crate::metrics::Refresh = match js {
        Some(js) => {
            let (timing, metrics) = (Timing::from_env(), registry.clone());
            Arc::new(move || {
                let (js, metrics) = (js.clone(), metrics.clone());
                Box::pin(async move {
                    // A scrape answers within its timeout even with the server away.
                    let figures = tokio::time::timeout(
                        std::time::Duration::from_secs(2),
                        crate::backends::nats::queue_figures(&js, &timing),
                    )
                    .await;
                    if let Ok(Ok(figures)) = figures {
                        crate::backends::nats::queue_metrics(&metrics, &figures);
                    }
                    metrics.count_to(
                        "dag_nats_reconnects_total",
                        "Times this process's connections to NATS came back after being lost.",
                        &[],
                        crate::backends::nats::reconnects() as f64,
                    );
                })
            })
        }
        None => Arc::new(|| Box::pin(async {})),
    };
    tokio::spawn(crate::metrics::serve(listener, registry, refresh));
}

/// A JetStream context on a connection of its own, named `name`.
pub async fn jetstream_of(nats: &NatsArgs, name: &str) -> Result<jetstream::Context, CliError> {
    Ok(jetstream::new(connect(&options(nats), name).await?))
}

/// Checks a `--metrics-addr` before anything starts (exit 2 when it is no
/// `HOST:PORT`).
pub fn check_metrics_addr(addr: Option<&str>) -> Result<(), CliError> {
    match addr {
        Some(addr) => crate::metrics::check_addr(addr)
            .map_err(|why| CliError::usage(format!("--metrics-addr `{addr}`: {why}"), None)),
        None => Ok(()),
    }
}

/// `dag worker`.
pub fn worker(args: WorkerArgs, nats: &NatsArgs, local: Runners) -> Result<u8, CliError> {
    let runtime = setup::runtime(None)?;
    let queues = if args.queues.is_empty() {
        vec!["default".to_string()]
    } else {
        args.queues.clone()
    };
    if queues.len() > wire::MAX_QUEUES {
        return Err(CliError::usage(
            format!("{} queues given", queues.len()),
            Some(format!("a worker serves at most {}", wire::MAX_QUEUES)),
        ));
    }
    for q in &queues {
        if !wire::valid_queue(q) {
            return Err(CliError::usage(
                format!("invalid queue name `{q}`"),
                Some(format!("queue names use only {}", wire::QUEUE_RULE)),
            ));
        }
    }
    if let Some(name) = &args.name
        && !wire::valid_worker(name)
    {
        return Err(CliError::usage(
            format!("invalid worker name `{}`", wire::excerpt(name)),
            Some(format!("worker names use only {}", wire::WORKER_RULE)),
        ));
    }
    let gpus = args.gpus.resolve();
    let config = WorkerConfig {
        gpus: gpus.devices.clone(),
        name: args.name.clone(),
        host: setup::host_name(),
        slots: setup::within_open_files(args.workers as usize, "--workers"),
        default_timeout: args.timeout,
        docker: args.docker,
        queues: queues.clone(),
        shutdown_timeout: args.shutdown_timeout,
        exit_when_idle: args.exit_when_idle.filter(|d| !d.is_zero()),
        grace: crate::engine::executor::ExecOptions::default().grace,
        replicas: options(nats).replicas,
        allow_types: if args.allow_types.is_empty() {
            // Every type a worker runs; docker only with `--docker`.
            crate::engine::format::RUNS
                .iter()
                .filter(|t| args.docker || **t != "docker")
                .map(|t| t.to_string())
                .collect()
        } else {
            args.allow_types.clone()
        },
        allow_volumes: crate::backends::docker::DockerPolicy::resolve_prefixes(&args.allow_volumes)
            .map_err(|e| {
                CliError::usage(
                    e,
                    Some("each --allow-volume must be an existing directory".into()),
                )
            })?,
        allow_networks: if args.allow_networks.is_empty() {
            crate::backends::docker::DEFAULT_NETWORKS
                .iter()
                .map(|n| n.to_string())
                .chain(args.docker_defaults.docker_network.clone())
                .collect()
        } else {
            args.allow_networks.clone()
        },
    };
    for t in &config.allow_types {
        if !crate::engine::format::type_names().any(|n| n == t.as_str()) {
            return Err(CliError::usage(
                format!("--allow-types: unknown task type `{t}`"),
                Some(format!(
                    "task types: {}",
                    crate::engine::format::type_names()
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            ));
        }
    }
    if config
        .allow_types
        .iter()
        .any(|t| t == crate::backends::subdag::TYPE)
    {
        return Err(CliError::usage(
            "--allow-types: dag tasks never run on workers",
            Some(
                "a dag task runs its sub-DAG in the process driving its run; the sub-DAG's tasks come to workers like any".into(),
            ),
        ));
    }
    check_metrics_addr(args.metrics_addr.as_deref())?;
    if config.allow_types.iter().any(|t| t == "docker") && !args.docker {
        return Err(CliError::usage("--allow-types docker needs --docker", None));
    }
    let signalled = Arc::new(AtomicU8::new(0));
    let result: Result<(), CliError> = runtime.block_on(async {
        let mut runners = Runners::new();
        for t in ["bash", "http", "fn"] {
            if let Some(r) = local.get(t) {
                runners = runners.with(t, r.clone());
            }
        }
        if args.docker {
            // The `--docker-*` defaults, and the allow-lists enforced again when the
            // container is created.
            let docker: Arc<dyn TaskRunner> = Arc::new(
                DockerRunner::new()
                    .with_defaults(setup::docker_defaults(&args.docker_defaults)?)
                    .with_policy(config.docker_policy()),
            );
            docker
                .check()
                .await
                .map_err(|e| CliError::Infrastructure(format!("--docker: {e}")))?;
            runners = runners.with("docker", docker);
        }
        let metrics = Arc::new(crate::metrics::Registry::new());
        // Bound first: an address in use stops the worker before it takes a task.
        let listener = match &args.metrics_addr {
            Some(addr) => Some(bind_metrics(addr).await?),
            None => None,
        };
        // Where it serves (with port 0, the port the system chose).
        let serving = match &listener {
            Some((_, at)) => format!("; metrics at {at}"),
            None => String::new(),
        };
        let client = connect(&options(nats), "dag worker").await?;
        // Modules come with their tasks or from the modules bucket; `dirs` are
        // held to the `--allow-volume` prefixes.
        runners = runners.with(
            crate::backends::wasm::TYPE,
            Arc::new(
                crate::backends::wasm::WasmRunner::new().for_worker(
                    config.allow_volumes.clone(),
                    Some(crate::backends::nats::modules::fetcher(jetstream::new(
                        client.clone(),
                    ))),
                ),
            ),
        );
        if let Some((listener, _)) = listener {
            serve_metrics(listener, metrics.clone(), Some(jetstream::new(client.clone())));
        }
        let shutdown = CancellationToken::new();
        let stopping = shutdown.clone();
        super::signals::watch(
            signalled.clone(),
            move || {
                stopping.cancel();
                output::eprint("dag worker: shutting down: finishing running tasks (signal again to stop at once)\n");
            },
            || {
                output::eprint("dag worker: stopping at once\n");
                std::process::exit(i32::from(exit::SIGTERM));
            },
        );
        output::eprint(&format!(
            "dag worker serving {} with {} slot{}{}, {} GPU{} ({}) on {}{serving}\n",
            queues.join(", "),
            config.slots,
            if config.slots == 1 { "" } else { "s" },
            if config.docker {
                " (docker tasks too)"
            } else {
                ""
            },
            gpus.devices.len(),
            if gpus.devices.len() == 1 { "" } else { "s" },
            gpus.source,
            crate::backends::nats::redact(&nats.url)
        ));
        worker::run(client, config, runners, Timing::from_env(), shutdown, metrics).await?;
        Ok(())
    });
    result?;
    runtime.shutdown_background();
    Ok(exit::SUCCESS)
}

/// `dag queues`: each queue's figures (see
/// [`crate::backends::nats::QueueFigures`]), as the `dag_queue_*` metrics give
/// them.
pub fn queues(args: WorkersArgs, nats: &NatsArgs) -> Result<u8, CliError> {
    let runtime = setup::runtime(None)?;
    let figures = runtime.block_on(async {
        let client = connect(&options(nats), "dag queues").await?;
        let js = jetstream::new(client);
        ensure_layout(&js, options(nats).replicas).await?;
        Ok::<_, CliError>(crate::backends::nats::queue_figures(&js, &Timing::from_env()).await?)
    })?;
    match args.output {
        OutputArg::Quiet => {}
        OutputArg::Json => {
            let doc = serde_json::json!({
                "queues": figures.iter().map(|f| serde_json::json!({
                    "queue": f.depth.queue,
                    "docker": f.depth.docker,
                    "gpus": f.depth.gpus,
                    "waiting": f.depth.waiting,
                    "running": f.depth.running,
                    "workers": f.workers,
                    "slots": f.slots,
                    "unserved": f.unserved(),
                })).collect::<Vec<_>>(),
            });
            output::print_json(&doc)?;
        }
        OutputArg::Table => {
            let mut t = Table::new();
            t.load_preset(presets::UTF8_FULL_CONDENSED);
            t.set_header([
                "queue", "waiting", "running", "workers", "slots", "unserved",
            ]);
            for f in &figures {
                t.add_row([
                    f.depth.shown(),
                    f.depth.waiting.to_string(),
                    f.depth.running.to_string(),
                    f.workers.to_string(),
                    f.slots.to_string(),
                    f.unserved().to_string(),
                ]);
            }
            let none = if figures.is_empty() {
                "no queues yet\n"
            } else {
                ""
            };
            output::print(&format!("{t}\n{none}"))?;
        }
    }
    runtime.shutdown_background();
    Ok(exit::SUCCESS)
}

/// `dag workers`.
pub fn workers(args: WorkersArgs, nats: &NatsArgs) -> Result<u8, CliError> {
    let runtime = setup::runtime(None)?;
    let timing = Timing::from_env();
    let (workers, queues) = runtime.block_on(async {
        let client = connect(&options(nats), "dag workers").await?;
        let js = jetstream::new(client);
        ensure_layout(&js, options(nats).replicas).await?;
        // A worker silent for twice the dead-after time is gone.
        let workers: Vec<_> = all_workers(&js)
            .await?
            .into_iter()
            .filter(|w| heartbeat_age(w) < timing.dead_after() * 2)
            .collect();
        let queues = crate::backends::nats::queue_depths(&js).await?;
        Ok::<_, CliError>((workers, queues))
    })?;
    match args.output {
        OutputArg::Quiet => {}
        OutputArg::Json => {
            let doc = serde_json::json!({
                "workers": workers.iter().map(|w| serde_json::json!({
                    "id": w.id,
                    "host": w.hostname,
                    "queues": w.queues,
                    "docker": w.docker,
                    "gpus": w.gpus,
                    "slots": w.slots,
                    "active": w.active,
                    "version": w.version,
                    "started_at": w.started_at,
                    "last_heartbeat": w.updated_at,
                    "alive": suspicion(w, &timing).is_none() && heartbeat_age(w) < timing.dead_after(),
                    "suspect": suspicion(w, &timing),
                })).collect::<Vec<_>>(),
                "queues": queues.iter().map(|q| serde_json::json!({
                    "queue": q.shown(), "waiting": q.waiting, "running": q.running,
                })).collect::<Vec<_>>(),
            });
            output::print_json(&doc)?;
        }
        OutputArg::Table => {
            let mut t = Table::new();
            t.load_preset(presets::UTF8_FULL_CONDENSED);
            t.set_header([
                "worker",
                "host",
                "queues",
                "active/slots",
                "last heartbeat",
                "state",
            ]);
            for w in &workers {
                let age = heartbeat_age(w);
                let suspect = suspicion(w, &timing);
                t.add_row([
                    w.id.clone(),
                    w.hostname.clone(),
                    format!(
                        "{}{}{}",
                        w.queues.join(","),
                        if w.docker { " +docker" } else { "" },
                        if w.gpus > 0 {
                            format!(" +{} GPU{}", w.gpus, if w.gpus == 1 { "" } else { "s" })
                        } else {
                            String::new()
                        }
                    ),
                    format!("{}/{}", w.active, w.slots),
                    format!("{} ago", format_ms(age.as_millis() as u64)),
                    match suspect {
                        Some(why) => format!("suspect: {why}"),
                        None if age < timing.dead_after() => "alive".to_string(),
                        None => "dead".to_string(),
                    },
                ]);
            }
            let mut q = Table::new();
            q.load_preset(presets::UTF8_FULL_CONDENSED);
            q.set_header(["queue", "waiting", "running"]);
            for d in &queues {
                q.add_row([d.shown(), d.waiting.to_string(), d.running.to_string()]);
            }
            let none = if workers.is_empty() {
                "no workers\n"
            } else {
                ""
            };
            output::print(&format!("{t}\n{none}{q}\n"))?;
        }
    }
    Ok(exit::SUCCESS)
}

/// `dag cancel RUN_ID`: a run driven on this machine gets SIGINT, as Ctrl-C; the
/// workers and a `dag run` elsewhere get a control message over NATS. The run
/// of a sub-DAG is cancelled by cancelling the run at the top of its parents
/// (whose process drives it), which is said.
///
/// A run that the state store does not hold may still be driven elsewhere (a
/// distributed run kept in another machine's file store): then the cancel is a
/// request that the driving `dag run` answers. When nobody answers, or NATS cannot
/// be reached, the run is unknown: a usage error (exit 2), never a NATS error.
pub fn cancel(
    mut args: CancelArgs,
    store: Result<setup::Store, CliError>,
    nats: &NatsArgs,
) -> Result<u8, CliError> {
    use crate::engine::store::StoreError;
    // `latest`, or the start of one run's id in the store; an id the store does
    // not hold may name a run driven elsewhere, and is asked over NATS as it is.
    if let Ok(store) = &store {
        match run_arg::resolve(store.state(), Some(&args.run_id)) {
            Ok(id) => args.run_id = id,
            Err(CliError::Store(StoreError::NotFound(_) | StoreError::Empty)) => {}
            Err(e) => return Err(e),
        }
    }
    // The run id becomes a subject (`dag.control.<run>`).
    if !wire::valid_run_id(&args.run_id) {
        return Err(CliError::usage(
            format!("invalid run id `{}`", wire::excerpt(&args.run_id)),
            Some(format!("run ids use only {}", wire::RUN_ID_RULE)),
        ));
    }
    let store = match store {
        Ok(store) => Some(store),
        // No file store yet means no runs in it.
        Err(e) if e.exit_code() == exit::USAGE => None,
        Err(e) => return Err(e),
    };
    let mut store = store;
    let mut record = match &store {
        Some(store) => match store.state().load_run(&args.run_id) {
            Ok(record) => Some(record),
            Err(StoreError::NotFound(_) | StoreError::Empty) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    // Not in the store asked (the file store by default): a distributed run is
    // kept in NATS KV, where a run waiting for a scheduler can be cancelled.
    if record.is_none()
        && !matches!(store, Some(setup::Store::Nats(_)))
        && let Ok(kv) = crate::backends::nats::kv_store::KvStore::open(&options(nats), true)
        && let Ok(id) = run_arg::resolve(&kv, Some(&args.run_id))
        && let Ok(r) = crate::engine::store::StateStore::load_run(&kv, &id)
    {
        args.run_id = id;
        record = Some(r);
        store = Some(setup::Store::Nats(kv));
    }
    // The cancel message for run `run`, and its subject.
    let control = |run: &str| {
        let msg = wire::encode(&ControlMsg {
            v: PROTOCOL,
            run_id: run.to_string(),
            action: ControlAction::Cancel,
        });
        (msg, format!("dag.control.{run}"))
    };
    let runtime = setup::runtime(None)?;
    let Some(record) = record else {
        let unknown = |why: String| {
            CliError::usage(
                format!("no run `{}` in the state store", args.run_id),
                Some(why),
            )
        };
        let (msg, subject) = control(&args.run_id);
        let answer = runtime.block_on(async {
            let client = connect(&options(nats), "dag cancel").await?;
            let request = async_nats::Request::new()
                .payload(msg)
                .timeout(Some(CANCEL_ANSWER));
            Ok::<_, NatsError>(client.send_request(subject, request).await)
        });
        return match answer {
            Ok(Ok(_)) => {
                output::print(&format!(
                    "cancelling run {}: told the dag process driving it over NATS\n",
                    args.run_id
                ))?;
                Ok(exit::SUCCESS)
            }
            Ok(Err(_)) => Err(unknown(format!(
                "no dag process driving it answered over NATS at {} within {}s",
                crate::backends::nats::redact(&nats.url),
                CANCEL_ANSWER.as_secs()
            ))),
            Err(e @ (NatsError::Url { .. } | NatsError::Setting(_))) => Err(e.into()),
            Err(e) => Err(unknown(format!(
                "a distributed run driven elsewhere is asked over NATS, which cannot be reached: {e}"
            ))),
        };
    };
    if record.state.is_terminal() {
        output::print(&format!(
            "run {} is already {}\n",
            record.run_id, record.state
        ))?;
        return Ok(exit::SUCCESS);
    }
    // The run of a sub-DAG is driven by the process driving its parent, as one
    // of its parent's tasks: the topmost run is the one cancelled. A parent
    // whose record cannot be read (pruned, damaged) stops the walk there: the
    // run below it names the same driving process, and is cancelled instead.
    let mut record = record;
    if let (Some(parent), Some(store)) = (record.parent.clone(), &store) {
        let mut top = record.clone();
        let mut unread = None;
        // Sub-DAGs nest a few levels at most; a child's id is longer than its
        // parent's, so the walk ends anyway.
        for _ in 0..=crate::engine::validate::MAX_DEPTH {
            let Some(p) = top.parent.clone() else { break };
            match store.state().load_run(&p.run) {
                Ok(r) => top = r,
                Err(e) => {
                    unread = Some((p.run, e));
                    break;
                }
            }
        }
        let mut said = format!("run {} is {}", record.run_id, report::parent_text(&parent));
        if top.run_id != record.run_id && top.run_id != parent.run {
            said.push_str(&format!(", itself part of run {}", top.run_id));
        }
        if let Some((run, e)) = &unread {
            said.push_str(&format!(
                "; run {run} cannot be read ({e}), so run {} is cancelled",
                top.run_id
            ));
        }
        output::print(&format!("{said}: cancelling {}\n", top.run_id))?;
        if top.state.is_terminal() {
            output::print(&format!("run {} is already {}\n", top.run_id, top.state))?;
            return Ok(exit::SUCCESS);
        }
        args.run_id = top.run_id.clone();
        record = top;
    }
    let (msg, subject) = control(&args.run_id);
    let mut done = Vec::new();
    // A run any scheduler may take over and that none drives now: cancelled in
    // its record, so that none takes it after (a driver that appeared meanwhile
    // is told below, as any), and its task messages taken out of the queue.
    let mut withdraw = false;
    if let Some(store @ setup::Store::Nats(_)) = &store
        && record.drive.is_some()
        && !store.is_driven(&record.run_id)
    {
        match crate::embed::Pipeline::cancel_undriven(
            store.state(),
            &record.run_id,
            "cancelled with `dag cancel` while no process drove the run",
        ) {
            Ok(_) => {
                done.push("no process drove it: cancelled it in its record".to_string());
                withdraw = true;
            }
            Err(crate::embed::Error::Store(StoreError::Locked(_))) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // A run driven by a `dag run` on this machine gets SIGINT; one a scheduler
    // drives (along with others) is told over NATS only.
    if let Some(store) = &store
        && record.drive.is_none()
        && *record.host == setup::host_name()
        && store.is_driven(&record.run_id)
        && record.pid > 0
    {
        let pid = nix::unistd::Pid::from_raw(record.pid as i32);
        if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).is_ok() {
            done.push(format!(
                "sent SIGINT to the dag run process (pid {})",
                record.pid
            ));
        }
    }
    let nats = runtime.block_on(async {
        let client = connect(&options(nats), "dag cancel").await?;
        client
            .publish(subject, msg)
            .await
            .map_err(|e| NatsError::Op(e.to_string()))?;
        client
            .flush()
            .await
            .map_err(|e| NatsError::Op(e.to_string()))?;
        let withdrawn = if withdraw {
            let js = async_nats::jetstream::new(client);
            Some(crate::backends::nats::withdraw_run_tasks(&js, &args.run_id, WITHDRAW_LIMIT).await)
        } else {
            None
        };
        Ok::<_, NatsError>(withdrawn)
    });
    match nats {
        Ok(withdrawn) => {
            done.push("told the workers over NATS".to_string());
            match withdrawn {
                Some(Ok(0)) | None => {}
                Some(Ok(n)) => done.push(format!(
                    "took its {n} task message{} out of the queue",
                    if n == 1 { "" } else { "s" }
                )),
                // The run is cancelled all the same: a worker that takes one of
                // them runs it, and its result is ignored.
                Some(Err(e)) => done.push(format!(
                    "could not take its task messages out of the queue ({e}): a worker may still run them"
                )),
            }
        }
        Err(e) if done.is_empty() => return Err(e.into()),
        Err(_) => {}
    }
    output::print(&format!(
        "cancelling run {}: {}\n",
        args.run_id,
        done.join("; ")
    ))?;
    Ok(exit::SUCCESS)
}

/// How long `dag cancel` reads the task queue for an undriven run's messages.
const WITHDRAW_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long `dag cancel` waits for the driver of a run it found in no store.
const CANCEL_ANSWER: std::time::Duration = std::time::Duration::from_secs(3);
