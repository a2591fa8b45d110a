//! The `fn` task runner: Rust functions registered by name. The built-ins `noop`,
//! `sleep DURATION`, `echo TEXT`, `fail [MESSAGE]` and `skip [MESSAGE]` serve tests
//! and benchmarks; programs that embed dag register their own.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::expr::DEFAULT_OUTPUT;
use crate::engine::runner::{
    BoxFuture, Outcome, Outputs, TaskContext, TaskLog, TaskRunner, check_output_size,
};
use crate::engine::spec::TaskKind;

/// What a registered function gets for one attempt.
pub struct FnContext {
    /// Everything after the function name in `command`, trimmed.
    pub args: String,
    /// The run's id.
    pub run_id: String,
    /// The task's id.
    pub task_id: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// DAG and task `env` plus the `DAG_*` variables.
    pub env: Vec<(String, String)>,
    /// The run's params (after `--param` overrides).
    pub params: BTreeMap<String, String>,
    /// Outputs of the task's direct upstream tasks, by task id.
    pub upstream: BTreeMap<String, Outputs>,
    /// The attempt's log: `log.line("...")`, or `log.file()` for a `Write`r.
    pub log: TaskLog,
    /// Fires when the attempt is cancelled or times out. The function's future is
    /// dropped at that point anyway; the token lets work handed to other threads stop.
    pub cancel: CancellationToken,
    skip: Arc<std::sync::Mutex<Option<String>>>,
}

impl FnContext {
    /// Ends the task `skipped` rather than `success` once the function returns
    /// `Ok` (its outputs are then dropped): the fn task's counterpart of
    /// `skip_exit_code`. An `Err` still fails the task.
    pub fn skip(&self, reason: impl Into<String>) {
        if let Ok(mut s) = self.skip.lock() {
            *s = Some(reason.into());
        }
    }
}

/// What a function returns: the outputs it publishes (often none), or why it failed.
pub type FnResult = Result<Outputs, String>;

/// A registered function.
pub type TaskFn = Arc<dyn Fn(FnContext) -> BoxFuture<'static, FnResult> + Send + Sync>;

/// Runs `fn` tasks.
#[derive(Clone, Default)]
pub struct FnRunner {
    /// Each function, and whether it is one of the built-ins, which never block
    /// or panic when dropped: those are polled in their attempt. Others run as
    /// tasks of their own, so that a function that blocks its thread still ends at
    /// its timeout or Ctrl-C (a task each wakes another runtime thread: for a
    /// million `noop`s that cost a fifth of the run).
    functions: BTreeMap<String, (TaskFn, bool)>,
}

impl FnRunner {
    /// A runner with no functions.
    pub fn empty() -> FnRunner {
        FnRunner::default()
    }

    /// A runner with the built-ins: `noop`; `sleep DURATION`; `echo TEXT`, which logs
    /// TEXT and publishes it as its `output`; `fail [MESSAGE]`; `skip [MESSAGE]`,
    /// which ends its task `skipped`.
    pub fn with_builtins() -> FnRunner {
        let mut r = FnRunner::empty();
        r.register("noop", |_ctx| async { Ok(Outputs::new()) });
        r.register("sleep", |ctx| async move {
            let d = crate::engine::text::parse_duration(&ctx.args)
                .map_err(|e| format!("sleep: invalid duration `{}`: {e}", ctx.args))?;
            tokio::time::sleep(d).await;
            Ok(Outputs::new())
        });
        r.register("echo", |ctx| async move {
            ctx.log.line(&ctx.args);
            Ok(Outputs::from([(DEFAULT_OUTPUT.to_string(), ctx.args)]))
        });
        r.register("skip", |ctx| async move {
            ctx.skip(if ctx.args.is_empty() {
                "skipped".to_string()
            } else {
                ctx.args.clone()
            });
            Ok(Outputs::new())
        });
        r.register("fail", |ctx| async move {
            Err(if ctx.args.is_empty() {
                "failed".to_string()
            } else {
                ctx.args
            })
        });
        for (_, polled) in r.functions.values_mut() {
            *polled = true;
        }
        r
    }

    /// Registers `f` under `name`, replacing any function of that name.
    pub fn register<F, Fut>(&mut self, name: &str, f: F)
    where
        F: Fn(FnContext) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = FnResult> + Send + 'static,
    {
        self.functions.insert(
            name.to_string(),
            (Arc::new(move |ctx| Box::pin(f(ctx))), false),
        );
    }

    /// Names of the registered functions, sorted.
    pub fn names(&self) -> Vec<String> {
        self.functions.keys().cloned().collect()
    }
}

impl TaskRunner for FnRunner {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome> {
        let TaskKind::Fn { name, args } = &ctx.task().kind else {
            return Box::pin(async { Outcome::failed(None, "not an fn task") });
        };
        let Some((f, polled)) = self.functions.get(name).cloned() else {
            let msg = format!("unknown function `{name}`");
            return Box::pin(async move { Outcome::failed(None, msg) });
        };
        let cancel = CancellationToken::new();
        let skip = Arc::new(std::sync::Mutex::new(None));
        let fctx = FnContext {
            args: args.clone(),
            run_id: ctx.run_id.clone(),
            task_id: ctx.task().id.to_string(),
            attempt: ctx.attempt,
            env: ctx.env.clone(),
            params: ctx.dag.spec.params.iter().cloned().collect(),
            upstream: ctx.upstream.clone(),
            log: ctx.log.clone(),
            cancel: cancel.clone(),
            skip: skip.clone(),
        };
        Box::pin(async move {
            // A panic is caught and reported as the failure: one in what the
            // function does before its future too.
            let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(fctx)));
            let mut handle = match made {
                Ok(future) if polled => Running::Polled(future),
                Ok(future) => Running::Spawned(tokio::spawn(future)),
                Err(payload) => {
                    let msg = panic_message(payload);
                    ctx.log.line(&msg);
                    return Outcome::failed(None, msg);
                }
            };
            let stopped = tokio::select! {
                joined = &mut handle => {
                    return match joined {
                        Ok(Ok(_)) if let Some(reason) = skip.lock().ok().and_then(|mut s| s.take()) => {
                            ctx.log.line(&format!("skipped: {reason}"));
                            Outcome::skipped(reason)
                        }
                        Ok(Ok(outputs)) => match check_output_size(&outputs, ctx.output_cap) {
                            Ok(()) => Outcome::success(None).with_outputs(outputs),
                            Err(e) => {
                                ctx.log.line(&format!("error: {e}"));
                                Outcome::failed(None, e)
                            }
                        },
                        Ok(Err(msg)) => {
                            ctx.log.line(&format!("error: {msg}"));
                            Outcome::failed(None, msg)
                        }
                        Err(msg) => {
                            ctx.log.line(&msg);
                            Outcome::failed(None, msg)
                        }
                    };
                }
                _ = tokio::time::sleep(ctx.timeout) => Err(format!("timed out after {}", humantime::format_duration(ctx.timeout))),
                _ = ctx.stop.graceful.cancelled() => Ok("cancelled"),
                _ = ctx.stop.hard.cancelled() => Ok("killed"),
            };
            cancel.cancel();
            drop(handle);
            match stopped {
                Err(timeout) => Outcome::failed(None, timeout),
                Ok(reason) => Outcome::cancelled(reason),
            }
        })
    }
}

/// A function being run: polled in its attempt (built-ins), or a task of its own,
/// aborted when this is dropped. Either way a panic ends it as `Err` saying so
/// (and it is not polled again).
enum Running {
    Polled(BoxFuture<'static, FnResult>),
    Spawned(tokio::task::JoinHandle<FnResult>),
}

impl std::future::Future for Running {
    type Output = Result<FnResult, String>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        match &mut *self {
            Running::Polled(f) => {
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.as_mut().poll(cx)))
                {
                    Ok(Poll::Pending) => Poll::Pending,
                    Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
                    Err(payload) => Poll::Ready(Err(panic_message(payload))),
                }
            }
            Running::Spawned(h) => std::pin::Pin::new(h).poll(cx).map(|joined| {
                joined.map_err(|e| match e.try_into_panic() {
                    Ok(payload) => panic_message(payload),
                    Err(_) => "function was aborted".to_string(),
                })
            }),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Spawned(h) = self {
            h.abort();
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string());
    format!("function panicked: {text}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::engine::runner::{Status, StopSignal};
    use crate::engine::validate::{LoadOptions, load_str};

    fn context(command: &str, timeout: Duration) -> TaskContext {
        let yaml = format!("name: f\ntasks:\n  t: {{ type: fn, command: '{command}' }}\n");
        let dag = Arc::new(load_str("f.yaml", &yaml, &LoadOptions::default()).unwrap());
        TaskContext {
            dag,
            index: 0,
            run_id: "r".into(),
            attempt: 1,
            env: Vec::new(),
            workdir: None,
            timeout,
            grace: Duration::from_millis(10),
            log: TaskLog::at(
                std::env::temp_dir()
                    .join(format!("dag-fn-test-{}-{command}.log", std::process::id())),
            ),
            lines: None,
            stop: StopSignal::new(),
            resolved: None,
            upstream: Default::default(),
            output_cap: crate::engine::runner::MAX_OUTPUT_BYTES,
            unrunnable: None,
            notes: None,
            secret_params: Default::default(),
            adopted: None,
            no_cache: false,
            rerun: false,
            gpus: Vec::new(),
        }
    }

    fn runner() -> FnRunner {
        let mut r = FnRunner::with_builtins();
        r.register("explode", |_ctx| async { panic!("kaboom {}", 42) });
        r.register("forever", |ctx| async move {
            ctx.cancel.cancelled().await;
            Ok(Outputs::new())
        });
        // Panics before it makes its future.
        r.register("early", |_ctx| {
            if _ctx.args.is_empty() {
                panic!("before the future");
            }
            std::future::ready(Ok(Outputs::new()))
        });
        // Blocks its thread, as a function should not, and panics when dropped.
        r.register("blocks", |_ctx| async {
            struct Loud;
            impl Drop for Loud {
                fn drop(&mut self) {
                    panic!("dropped");
                }
            }
            let loud = Loud;
            std::thread::sleep(Duration::from_secs(3));
            tokio::task::yield_now().await;
            std::mem::forget(loud);
            Ok(Outputs::new())
        });
        r
    }

    /// Attack pass on issue 14: a function that blocks its thread still ends at
    /// its timeout (it runs as a task of its own; only built-ins are polled in
    /// their attempt), and one that panics when dropped is no executor's panic.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_function_that_blocks_still_times_out() {
        let out = runner()
            .run(context("blocks", Duration::from_millis(100)))
            .await;
        assert_eq!(out.status, Status::Failed);
        assert_eq!(out.error.as_deref(), Some("timed out after 100ms"));
    }

    #[tokio::test]
    async fn a_panic_fails_the_task_with_its_message() {
        let out = runner()
            .run(context("explode", Duration::from_secs(5)))
            .await;
        assert_eq!(out.status, Status::Failed);
        assert_eq!(out.error.as_deref(), Some("function panicked: kaboom 42"));
        let out = runner().run(context("early", Duration::from_secs(5))).await;
        assert_eq!(
            out.error.as_deref(),
            Some("function panicked: before the future")
        );
    }

    #[tokio::test]
    async fn builtins() {
        let r = runner();
        assert_eq!(
            r.run(context("noop", Duration::from_secs(5))).await.status,
            Status::Success
        );
        let failed = r.run(context("fail because", Duration::from_secs(5))).await;
        assert_eq!(failed.error.as_deref(), Some("because"));
        let bad = r.run(context("sleep soon", Duration::from_secs(5))).await;
        assert!(bad.error.unwrap().contains("invalid duration"));
    }

    #[tokio::test]
    async fn timeout_and_stop_end_the_function() {
        let r = runner();
        let out = r.run(context("forever", Duration::from_millis(20))).await;
        assert_eq!(out.status, Status::Failed);
        assert_eq!(out.error.as_deref(), Some("timed out after 20ms"));
        let ctx = context("forever", Duration::from_secs(60));
        let stop = ctx.stop.clone();
        let task = tokio::spawn(r.run(ctx));
        stop.graceful.cancel();
        assert_eq!(task.await.unwrap().status, Status::Cancelled);
    }
}
