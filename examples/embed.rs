//! A program that embeds dag: it registers Rust functions and runs a DAG file whose
//! `fn` tasks call them, through the same engine, state store and reporters as the
//! `dag` command line.
//!
//! ```sh
//! cargo run --example embed -- examples/dags/embedded.yaml
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use dag::backends::function::FnRunner;
use dag::cli::progress::Progress;
use dag::cli::report;
use dag::embed::Pipeline;
use dag::engine::runner::Outputs;
use dag::engine::state::RunState;

#[tokio::main]
async fn main() -> ExitCode {
    let file = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/dags/embedded.yaml".into());

    let mut functions = FnRunner::with_builtins();
    // Counts the words of its arguments and publishes the count.
    functions.register("count_words", |ctx| async move {
        let words = ctx.args.split_whitespace().count();
        ctx.log.line(&format!("{words} words in {:?}", ctx.args));
        Ok(Outputs::from([("words".to_string(), words.to_string())]))
    });
    // Reads its upstream tasks' outputs and params, and fails on bad input.
    functions.register("summarise", |ctx| async move {
        let total: u64 = ctx
            .upstream
            .values()
            .filter_map(|o| o.get("words"))
            .map(|w| {
                w.parse::<u64>()
                    .map_err(|e| format!("not a count: {w}: {e}"))
            })
            .sum::<Result<u64, String>>()?;
        let title = ctx.params.get("title").cloned().unwrap_or_default();
        let line = format!("{title}: {total} words in {} texts", ctx.upstream.len());
        ctx.log.line(&line);
        Ok(Outputs::from([("output".to_string(), line)]))
    });

    let pipeline = match Pipeline::new(functions) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
    };
    let pipeline = match std::env::var_os("DAG_HOME") {
        Some(dir) => pipeline.state_dir(dir),
        None => pipeline.state_dir(std::env::temp_dir().join("dag-embed-example")),
    };
    let progress = Arc::new(Progress::new(false, Default::default()));
    let record = match pipeline.observe(progress).run_file(&file).await {
        Ok(r) => r,
        Err(dag::embed::Error::Load(dag::engine::validate::LoadError::Invalid(invalid))) => {
            eprint!("{}", dag::cli::output::render_invalid(&invalid, false));
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
    };
    println!("{}", report::table(&record));
    println!("{}", report::summary(&record));
    if let Some(t) = record.tasks.iter().find(|t| t.id == "summary")
        && let Some(line) = t.outputs.get("output")
    {
        println!("{line}");
    }
    match record.state {
        RunState::Success => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}
