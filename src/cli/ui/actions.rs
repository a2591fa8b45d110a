//! Retry and cancel from the page: they run `dag retry` and `dag cancel`, this
//! program, with the store options `dag ui` was given, so they behave exactly as
//! typed at a shell.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use super::request::Req;
use super::{App, Refusal, printable_id};

/// How long an answer waits for `dag retry` to fail early (a run driven by
/// another process, a DAG that no longer loads); past it the retry goes on alone.
const RETRY_SETTLES: Duration = Duration::from_millis(1500);
/// How long `dag cancel` may take.
const CANCEL_TAKES: Duration = Duration::from_secs(15);
/// The most of a command's output an answer repeats.
const SAID: usize = 4000;

/// `POST /runs/RUN/retry` (field `task` for one task and what is downstream of
/// it) or `POST /runs/RUN/cancel`: what the command said.
pub async fn act(
    app: &Arc<App>,
    req: &Req,
    fields: Vec<(String, String)>,
) -> Result<String, Refusal> {
    let seg: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let (run_id, action) = match seg.as_slice() {
        ["runs", id, a @ ("retry" | "cancel")] => (*id, *a),
        _ => return Err(Refusal::not_found("no such action")),
    };
    // Checked here, so that nothing but a run id reaches the command line.
    if !crate::engine::record::valid_run_id(run_id) {
        return Err(Refusal::not_found(format!(
            "no run `{}`",
            printable_id(run_id)
        )));
    }
    let record = app.record(run_id).await?;
    let mut args: Vec<std::ffi::OsString> = app.global.clone();
    match action {
        "cancel" => {
            args.extend(["cancel".into(), run_id.into()]);
            let out = command(app, &args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| Refusal::new(500, format!("cannot start dag cancel: {e}")))?;
            let out = tokio::time::timeout(CANCEL_TAKES, out.wait_with_output())
                .await
                .map_err(|_| {
                    Refusal::new(
                        504,
                        format!("dag cancel took more than {}s", CANCEL_TAKES.as_secs()),
                    )
                })?
                .map_err(|e| Refusal::new(500, format!("dag cancel: {e}")))?;
            let said = said(&out.stdout, &out.stderr);
            if out.status.success() {
                Ok(said)
            } else {
                Err(Refusal::new(409, said))
            }
        }
        _ => {
            let task = fields
                .iter()
                .find(|(k, _)| k == "task")
                .map(|(_, v)| v.as_str())
                .filter(|t| !t.is_empty());
            if let Some(t) = task
                && !record.tasks.iter().any(|x| *x.id == *t)
            {
                return Err(Refusal::not_found(format!(
                    "run {run_id} has no task `{}`",
                    printable_id(t)
                )));
            }
            // A run whose attempts workers took is retried on the workers again.
            let distributed = record
                .tasks
                .iter()
                .any(|t| t.attempts.iter().any(|a| a.worker.is_some()));
            args.extend(["retry".into(), run_id.into()]);
            if let Some(t) = task {
                // One argument: a task id may start with `-`.
                args.push(format!("--task={t}").into());
            }
            args.extend([
                "--executor".into(),
                if distributed { "distributed" } else { "local" }.into(),
                "--quiet".into(),
            ]);
            retry(app, &args, run_id).await
        }
    }
}

fn command(app: &App, args: &[std::ffi::OsString]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(&app.exe);
    c.args(args)
        .stdin(Stdio::null())
        .env_remove("DAG_UI_TOKEN")
        .env("DAG_COLOR", "never")
        // Its own process group: Ctrl-C on `dag ui` does not stop a retry.
        .process_group(0);
    c
}

/// Starts `dag retry`; an error it says at once is the answer, else it goes on
/// alone (its output kept in a file beside the server's temporary files, removed
/// once it ends).
async fn retry(app: &App, args: &[std::ffi::OsString], run_id: &str) -> Result<String, Refusal> {
    let dir = crate::backends::process::reaper::private_temp_dir("ui")
        .map_err(|e| Refusal::new(500, format!("cannot make a temporary file: {e}")))?;
    let path = dir.join("retry.log");
    let file = std::fs::File::create(&path)
        .map_err(|e| Refusal::new(500, format!("cannot make a temporary file: {e}")))?;
    let err = file
        .try_clone()
        .map_err(|e| Refusal::new(500, format!("cannot make a temporary file: {e}")))?;
    let mut child = command(app, args)
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| Refusal::new(500, format!("cannot start dag retry: {e}")))?;
    let early = tokio::time::timeout(RETRY_SETTLES, child.wait()).await;
    let output = || std::fs::read(&path).unwrap_or_default();
    match early {
        Ok(Ok(status)) => {
            let text = said(&output(), b"");
            let _ = std::fs::remove_dir_all(&dir);
            // Exit 1: the run ran again and a task failed; the page shows which.
            if status.code().is_some_and(|c| c <= 1) {
                Ok(format!("retried run {run_id}. {text}"))
            } else {
                Err(Refusal::new(409, text))
            }
        }
        Ok(Err(e)) => Err(Refusal::new(500, format!("dag retry: {e}"))),
        Err(_) => {
            tokio::spawn(async move {
                let _ = child.wait().await;
                let _ = std::fs::remove_dir_all(&dir);
            });
            Ok(format!("retrying run {run_id}"))
        }
    }
}

/// What a command printed, in one message of at most [`SAID`] characters.
fn said(stdout: &[u8], stderr: &[u8]) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr)
    );
    crate::cli::report::shorten(text.trim(), SAID)
        .split('\n')
        .map(crate::engine::text::printable)
        .collect::<Vec<_>>()
        .join("\n")
}
