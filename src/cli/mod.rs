//! The `dag` command line: argument parsing, the commands, and everything printed.
//! [`main`] returns the process exit code, so tests and embedders can call it.

pub mod args;
pub mod cache;
pub mod complete;
pub mod config;
pub mod docs;
pub mod eta;
pub mod exit;
#[cfg(test)]
mod fixtures;
pub mod follow;
pub mod graph;
pub mod history;
pub mod html;
pub mod init;
pub mod junit;
pub mod markdown;
pub mod nats;
pub mod output;
pub mod pools;
pub mod progress;
pub mod redraw;
pub mod report;
pub mod run;
pub mod run_arg;
pub mod scheduler;
pub mod setup;
pub mod signals;
pub mod text;
pub mod ui;
pub mod validate;
pub mod wait;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use exit::CliError;

use crate::backends::function::FnRunner;
use crate::backends::process::reaper;
use crate::engine::runner::Runners;

/// Parses the process arguments, runs the command, prints any error, and returns the
/// exit code.
pub fn main() -> ExitCode {
    main_with(FnRunner::with_builtins())
}

/// The `dag` command line with `functions` available to fn tasks: what a program
/// that embeds dag calls from its own `main` to be a `dag` with its own functions.
///
/// ```no_run
/// use dag::backends::function::FnRunner;
/// use dag::engine::runner::Outputs;
///
/// fn main() -> std::process::ExitCode {
///     let mut functions = FnRunner::with_builtins();
///     functions.register("hello", |ctx| async move {
///         ctx.log.line(&format!("hello from {}", ctx.task_id));
///         Ok(Outputs::new())
///     });
///     dag::cli::main_with(functions)
/// }
/// ```
pub fn main_with(functions: FnRunner) -> ExitCode {
    // `dag __reap-containers TOKEN PID`: what the task reaper execs to remove the
    // containers of a dag that is gone, then (once no start request can land) the
    // dag's private temp directories again (see `backends::process::reaper`).
    let mut raw = std::env::args_os().skip(1);
    if raw.next().as_deref() == Some(std::ffi::OsStr::new(reaper::REAP_CONTAINERS)) {
        if let Some(token) = raw.next().and_then(|t| t.into_string().ok()) {
            crate::backends::docker::reap_containers(&token);
            if let Some(pid) = raw.next().and_then(|p| p.to_str()?.parse().ok()) {
                reaper::remove_private_dirs_of(pid, &token);
            }
        }
        return ExitCode::SUCCESS;
    }
    // `COMPLETE=bash dag ...`: answer the shell's completion request and exit.
    clap_complete::CompleteEnv::with_factory(<Cli as clap::CommandFactory>::command).complete();
    quiet_task_panics();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Err(err) = config::apply(&args) {
        output::eprint(&output::render_error(&err, false));
        return exit::code(err.exit_code());
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            // A bad value from the config file is told as the file's.
            if let Some(err) = config::explain(&e, &args) {
                output::eprint(&output::render_error(&err, false));
                return exit::code(err.exit_code());
            }
            let _ = e.print();
            return exit::code(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            });
        }
    };
    output::set_color(cli.color);
    exit::code(
        match setup::runners(functions).and_then(|runners| dispatch(cli, runners)) {
            Ok(code) => code,
            Err(err) => {
                output::eprint(&output::render_error(&err, output::Style::detect().color));
                err.exit_code()
            }
        },
    )
}

/// A panic inside a task (an `fn` task, a runner) is caught and recorded as that
/// task's failure, with its message; printing it as well would tear through the
/// progress display. Panics anywhere else are printed as usual.
fn quiet_task_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_task = std::thread::current()
            .name()
            .is_some_and(|n| n == setup::WORKER_THREAD);
        if !in_task {
            default(info);
        }
    }));
}

/// Commands that run tasks first fork the reaper, so their task processes die with
/// them even when they are SIGKILLed (without it tasks still run; say so), and, as
/// PID 1, start sweeping zombies.
fn guard_task_processes() {
    use crate::backends::process::orphans;
    if let Err(e) = reaper::start() {
        output::eprint(&format!(
            "dag: warning: cannot start the task reaper ({e}); tasks may outlive a killed dag\n"
        ));
    }
    orphans::start_if_init();
    // Before any task starts: tasks inherit the raised limit too.
    crate::backends::process::raise_open_file_limit();
}

/// Tasks get their `$DAG_OUTPUT` files and private directories under `TMPDIR`: one
/// that is missing or not writable is a fault of the host, told once before
/// anything runs (exit 3 naming it), not a failure of every task. A relative
/// `TMPDIR` would name a different place for each task's working directory: a
/// usage error.
fn check_temp_dir() -> Result<(), CliError> {
    if let Some(t) = std::env::var_os("TMPDIR")
        && !std::path::Path::new(&t).is_absolute()
    {
        return Err(CliError::usage(
            format!(
                "TMPDIR `{}` is not an absolute path",
                std::path::Path::new(&t).display()
            ),
            Some("set TMPDIR to an absolute path, or unset it to use /tmp".to_string()),
        ));
    }
    match reaper::private_temp_dir("check") {
        Ok(dir) => {
            let _ = std::fs::remove_dir(dir);
            Ok(())
        }
        Err(e) => Err(CliError::Infrastructure(format!(
            "cannot use the temporary directory {} (TMPDIR): {e}",
            std::env::temp_dir().display()
        ))),
    }
}

fn dispatch(cli: Cli, runners: Runners) -> Result<u8, CliError> {
    let state_dir = cli.state_dir.as_deref();
    let history = || setup::history_store(cli.state, state_dir, &cli.nats);
    if matches!(
        cli.command,
        Command::Run(_) | Command::Retry(_) | Command::Worker(_) | Command::Scheduler(_)
    ) {
        check_temp_dir()?;
        guard_task_processes();
    }
    match cli.command {
        Command::Run(a) => {
            let runners = setup::with_docker_defaults(runners, &a.exec.docker)?;
            run::run(a, state_dir, cli.state, &cli.nats, runners)
        }
        Command::Validate(a) => validate::validate(a, &runners),
        Command::Status(a) => history::status(a, &history()?),
        Command::Runs(a) => history::runs(a, &history()?),
        Command::Logs(a) => history::logs(a, &history()?),
        Command::Report(a) => history::report(a, &history()?, runners),
        Command::Retry(a) => {
            let runners = setup::with_docker_defaults(runners, &a.exec.docker)?;
            run::retry(a, state_dir, cli.state, &cli.nats, runners)
        }
        Command::Worker(a) => {
            let runners = setup::with_docker_defaults(runners, &a.docker_defaults)?;
            nats::worker(a, &cli.nats, runners)
        }
        Command::Workers(a) => nats::workers(a, &cli.nats),
        Command::Queues(a) => nats::queues(a, &cli.nats),
        Command::Scheduler(a) => scheduler::scheduler(a, &cli.nats, runners),
        Command::Wait(a) => wait::wait(a, cli.state, state_dir, &cli.nats),
        Command::Cancel(a) => nats::cancel(a, history(), &cli.nats),
        Command::Graph(a) => graph::graph(a, runners, history),
        Command::Ui(a) => ui::ui(a, cli.state, state_dir, &cli.nats, runners),
        Command::Init(a) => init::init(a),
        Command::Completions(a) => docs::completions(a.shell),
        Command::Man(a) => docs::man(&a.out),
        Command::Schema => {
            output::print(&crate::engine::format::schema_text()).map(|()| exit::SUCCESS)
        }
        Command::Cache(a) => cache::cache(a, cli.state, state_dir, &cli.nats),
        Command::Pools(a) => match cli.state {
            Some(args::StateArg::Nats) => pools::nats_pools(a, &cli.nats),
            _ => pools::pools(a, &history()?),
        },
    }
}
