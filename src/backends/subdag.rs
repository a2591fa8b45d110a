//! The `dag` task runner: runs the task's sub-DAG as a child run of the task's
//! run, in this process, with the same executor, runners and state store (in a
//! distributed run its tasks go to the workers like any other).
//!
//! A child run's id is its parent's followed by the task's id, so every attempt
//! of the task finds the same child run: a later attempt (a retry, `dag retry`
//! of the parent, or a scheduler that took the parent over) resumes it where it
//! stopped instead of starting it again.

use std::sync::Arc;
use std::time::Duration;

use crate::embed::Pipeline;
use crate::engine::events::Event;
use crate::engine::executor::{self, Observer, Start};
use crate::engine::expr;
use crate::engine::graph::Dag;
use crate::engine::record::{RunLink, RunRecord, valid_run_id};
use crate::engine::runner::{
    BoxFuture, LineSink, Note, Outcome, Outputs, StopSignal, TaskContext, TaskLog, TaskRunner,
};
use crate::engine::spec::SubDagSpec;
use crate::engine::state::{RunState, TaskState};
use crate::engine::store::StoreError;
use crate::engine::validate::{LoadError, LoadOptions, load_str};

/// The task type this runner serves.
pub const TYPE: &str = "dag";

/// How often a child run another process drives is read while waiting for it.
const POLL: Duration = Duration::from_millis(500);

/// Runs `dag` tasks with the settings, runners and store of `pipeline`.
pub struct SubDagRunner {
    pipeline: Pipeline,
}

impl SubDagRunner {
    /// A runner whose child runs are driven as `pipeline` drives runs.
    pub fn new(pipeline: Pipeline) -> SubDagRunner {
        SubDagRunner { pipeline }
    }

    /// `f` on each of the other runners in turn.
    fn each(
        &self,
        f: impl Fn(&dyn TaskRunner) -> BoxFuture<'static, ()> + Send + 'static,
    ) -> BoxFuture<'static, ()> {
        let runners = self.pipeline.runners().distinct();
        Box::pin(async move {
            for r in runners {
                f(r.as_ref()).await;
            }
        })
    }
}

impl TaskRunner for SubDagRunner {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome> {
        let pipeline = self.pipeline.clone();
        Box::pin(async move {
            let log = ctx.log.clone();
            let outcome = run_child(pipeline, ctx).await;
            if let Some(error) = outcome
                .error
                .as_deref()
                .filter(|_| matches!(outcome.status, crate::engine::runner::Status::Failed))
            {
                log.line(&format!("dag: {error}"));
            }
            outcome
        })
    }

    /// What the other runners hear about a run, they hear about a run of dag
    /// tasks too: a run whose tasks are all `dag` tasks is still cancelled over
    /// NATS (`dag cancel` of a run a scheduler drives), through the runner that
    /// listens for its control messages.
    /// What the other runners hear about a run, they hear about a run of dag
    /// tasks too: a run whose tasks are all `dag` tasks is still cancelled over
    /// NATS (`dag cancel` of a run a scheduler drives), through the runner that
    /// listens for its control messages.
    fn run_begins(&self, run_id: &str, stop: StopSignal) -> BoxFuture<'static, ()> {
        let run_id = run_id.to_string();
        self.each(move |r| r.run_begins(&run_id, stop.clone()))
    }

    fn run_ended(&self, run_id: &str) -> BoxFuture<'static, ()> {
        let run_id = run_id.to_string();
        self.each(move |r| r.run_ended(&run_id))
    }

    fn run_left(&self, run_id: &str) -> BoxFuture<'static, ()> {
        let run_id = run_id.to_string();
        self.each(move |r| r.run_left(&run_id))
    }
}

/// The most a child run's id adds to its parent's in its short form: `-` and
/// 8 hex digits.
const SHORT_SUFFIX: usize = 9;

/// The id of the child run `task` of run `parent` starts, when the sub-DAG
/// calls `below` levels of sub-DAGs under it: the parent's id and the task's
/// (a task id with `.` or `-` followed by a hash of it, dots becoming `_`: so
/// that `a.1` and `a_1`, or task `a-b` and task `b` of the child run of `a`,
/// never share a run id); the parent's id and a hash of the task's when that
/// would leave no room under the run id limit for the levels below.
pub fn child_run_id(parent: &str, task: &str, below: usize) -> Result<String, String> {
    let digest = ring::digest::digest(&ring::digest::SHA256, task.as_bytes());
    let hash = crate::engine::text::hex(&digest.as_ref()[..4]);
    let readable = if task.contains(['.', '-']) {
        format!("{parent}-{}-{}", task.replace('.', "_"), &hash[..4])
    } else {
        format!("{parent}-{task}")
    };
    let short = format!("{parent}-{hash}");
    let room = below.saturating_mul(SHORT_SUFFIX);
    [readable, short]
        .into_iter()
        .find(|id| {
            valid_run_id(id)
                && id.len().saturating_add(room) <= crate::engine::validate::MAX_NAME_LEN
        })
        .ok_or_else(|| {
            format!(
                "the run of this sub-DAG would need an id longer than run ids may be: sub-DAGs nest too deeply (at most {} levels)",
                crate::engine::validate::MAX_DEPTH
            )
        })
}

async fn run_child(pipeline: Pipeline, ctx: TaskContext) -> Outcome {
    let task = ctx.task().clone();
    let crate::engine::spec::TaskKind::Dag(spec) = &task.kind else {
        return Outcome::failed(None, "not a dag task");
    };
    let child_id = match child_run_id(&ctx.run_id, &task.id, spec.nests) {
        Ok(id) => id,
        Err(e) => return Outcome::failed(None, e),
    };
    let link = RunLink {
        run: ctx.run_id.clone(),
        task: task.id.to_string(),
    };
    let store = match pipeline.store() {
        Ok(s) => s,
        Err(e) => return Outcome::failed(None, format!("cannot open the state store: {e}")),
    };
    // The sub-DAG's progress goes to this task's log; its tasks' output, when
    // shown live (`-v`), is named `TASK/CHILD_TASK`.
    let observer: Arc<dyn Observer> = Arc::new(ChildLog {
        log: ctx.log.clone(),
    });
    let mut options = pipeline.exec_options().clone();
    if let Some(lines) = options.lines.take() {
        let prefix = task.id.to_string();
        options.lines =
            Some(
                Arc::new(move |t: &str, line: &str| lines(&format!("{prefix}/{t}"), line))
                    as LineSink,
            );
    }
    let pipeline = pipeline.options(options.clone()).observe(observer.clone());

    // The child run as this attempt finds it: new, left by an earlier attempt,
    // or driven by another process.
    let opened = loop {
        match store.open_run(&child_id) {
            Ok(opened) => break Some(opened),
            Err(StoreError::NotFound(_)) => break None,
            Err(StoreError::Locked(_)) => {
                // Its earlier driver's lease has not run out, or another process
                // took it over: wait for it to end, or for the lease.
                match store.load_run(&child_id) {
                    Ok(r) if r.parent.as_ref() != Some(&link) => {
                        return not_ours(&child_id, &link);
                    }
                    Ok(r) if r.state.is_terminal() => {
                        note_child(&ctx, &child_id);
                        return finished(&pipeline, &r, &ctx);
                    }
                    Ok(_) | Err(StoreError::Locked(_)) => {}
                    Err(e) => return store_failed(&child_id, &e),
                }
                tokio::select! {
                    _ = ctx.stop.graceful.cancelled() => {
                        return Outcome::cancelled("cancelled while its sub-DAG run was driven by another process");
                    }
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
            Err(e) => return store_failed(&child_id, &e),
        }
    };
    let (dag, run) = match opened {
        Some((record, writer)) => {
            if record.parent.as_ref() != Some(&link) {
                let _ = { writer }.release();
                return not_ours(&child_id, &link);
            }
            // Ended well, and not run again on purpose; or ended at all, for an
            // attempt adopted from a driver that is gone: its result stands (the
            // driver stopped before it recorded so). A failed child run is
            // resumed only by a later attempt, as `retries:` allows.
            let stands = (record.state == RunState::Success && !ctx.rerun)
                || (ctx.adopted.is_some() && record.state.is_terminal());
            if stands {
                let _ = { writer }.release();
                note_child(&ctx, &child_id);
                ctx.log.line(&format!(
                    "dag: sub-DAG run {child_id} had ended: {}",
                    record.state
                ));
                return finished(&pipeline, &record, &ctx);
            }
            let dag = match pipeline.definition_of(&record) {
                Ok(dag) => dag,
                Err(e) => {
                    let _ = { writer }.release();
                    return Outcome::failed(
                        None,
                        format!("cannot resume sub-DAG run {child_id}: {e}"),
                    );
                }
            };
            ctx.log
                .line(&format!("dag: resuming sub-DAG run {child_id}"));
            match resume(record, writer, &dag, &ctx) {
                Ok(run) => (dag, run),
                Err(outcome) => return outcome,
            }
        }
        None => {
            let dag = match load(spec, &ctx.dag.sub_sources, &pipeline) {
                Ok(dag) => dag,
                Err(e) => return Outcome::failed(None, e),
            };
            let mut record = RunRecord::new(child_id.clone(), &dag, spec.path.clone());
            record.parent = Some(link);
            record.drive = pipeline.drive_settings();
            match store.create_run(&record) {
                Ok(writer) => {
                    ctx.log
                        .line(&format!("dag: started sub-DAG run {child_id}"));
                    (dag, executor::Run::fresh(record, writer))
                }
                Err(e) => return store_failed(&child_id, &e),
            }
        }
    };
    note_child(&ctx, &child_id);
    let runners = pipeline.run_runners();
    let limit = task.timeout;
    let stop = StopSignal {
        graceful: ctx.stop.graceful.child_token(),
        hard: ctx.stop.hard.child_token(),
    };
    let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A `dag` task's own `timeout` (not the default of tasks): the sub-DAG has
    // its own `timeout`, and its tasks theirs.
    let timer = limit.map(|limit| {
        let (graceful, timed_out) = (stop.graceful.clone(), timed_out.clone());
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
            graceful.cancel();
        })
    });
    let dag = Arc::new(dag);
    let ended = executor::execute(
        dag.clone(),
        run,
        &runners,
        observer,
        pipeline.exec_options(),
        stop,
    )
    .await;
    if let Some(timer) = timer {
        timer.abort();
    }
    match ended {
        Ok(record) if timed_out.load(std::sync::atomic::Ordering::SeqCst) => Outcome::failed(
            None,
            format!(
                "timed out after {} (sub-DAG run {} {})",
                humantime::format_duration(limit.unwrap_or_default()),
                record.run_id,
                record.state
            ),
        ),
        Ok(record) => finished_with(&dag, &record, &ctx),
        Err(e) => Outcome::failed(None, format!("sub-DAG run {child_id} stopped: {e}")),
    }
}

/// The child run `record` (left by an earlier attempt) set to run again: its
/// tasks that did not succeed (every task, when the parent task runs again on
/// purpose) start over, or, for an attempt adopted from a driver that is gone,
/// its own attempts are adopted.
fn resume(
    mut record: RunRecord,
    mut writer: Box<dyn crate::engine::store::RunWriter>,
    dag: &Dag,
    ctx: &TaskContext,
) -> Result<executor::Run, Outcome> {
    if ctx.adopted.is_some() && !record.state.is_terminal() {
        return Ok(executor::Run {
            record,
            writer,
            start: Start::TakenOver,
        });
    }
    let tasks: Vec<usize> = (0..dag.len())
        .filter(|&t| ctx.rerun || record.tasks[t].state != TaskState::Success)
        .collect();
    let event = Event::RunRetried {
        at: crate::engine::time::Timestamp::now(),
        tasks,
    };
    let applied = record
        .apply(&event)
        .map_err(|e| e.to_string())
        .and_then(|()| writer.append(&event).map_err(|e| e.to_string()))
        .and_then(|()| writer.commit(&record, true).map_err(|e| e.to_string()));
    match applied {
        Ok(()) => Ok(executor::Run::fresh(record, writer)),
        Err(e) => {
            let _ = writer.release();
            Err(Outcome::failed(
                None,
                format!("cannot resume sub-DAG run {}: {e}", record.run_id),
            ))
        }
    }
}

/// The sub-DAG, validated with the params the task passes.
fn load(
    spec: &SubDagSpec,
    sub_sources: &Arc<crate::engine::graph::SubSources>,
    pipeline: &Pipeline,
) -> Result<Dag, String> {
    let options = LoadOptions {
        params: spec.params.clone(),
        sub_sources: Some(sub_sources.clone()),
        ..pipeline.load_options()
    };
    load_str(&spec.path, &spec.source, &options).map_err(|e| match e {
        LoadError::Invalid(invalid) => {
            let mut text = format!(
                "the sub-DAG file {} is invalid with these params:",
                spec.path
            );
            for one in invalid.flatten() {
                for p in &one.problems {
                    match p.labels.first() {
                        Some((span, _)) => text.push_str(&format!(
                            "\n  {}:{}:{}: {}",
                            one.path,
                            span.start.line,
                            span.start.col + 1,
                            p.message
                        )),
                        None => text.push_str(&format!("\n  {}: {}", one.path, p.message)),
                    }
                }
            }
            text
        }
        other => other.to_string(),
    })
}

/// The outcome of the task whose child run ended as `record`, its definition
/// read back from the record.
fn finished(pipeline: &Pipeline, record: &RunRecord, ctx: &TaskContext) -> Outcome {
    match pipeline.definition_of(record) {
        Ok(dag) => finished_with(&dag, record, ctx),
        Err(e) => Outcome::failed(
            None,
            format!("cannot read sub-DAG run {}: {e}", record.run_id),
        ),
    }
}

/// The outcome of the task whose child run (of `dag`) ended as `record`: success
/// with the sub-DAG's `outputs`, or failed (cancelled) naming the child run and
/// the tasks that failed.
fn finished_with(dag: &Dag, record: &RunRecord, ctx: &TaskContext) -> Outcome {
    match record.state {
        RunState::Success => match outputs(dag, record) {
            Ok(outputs) => match crate::engine::runner::check_output_size(&outputs, ctx.output_cap)
            {
                Ok(()) => Outcome::success(None).with_outputs(outputs),
                Err(e) => Outcome::failed(None, e),
            },
            Err(e) => Outcome::failed(
                None,
                format!("sub-DAG run {} succeeded, but {e}", record.run_id),
            ),
        },
        RunState::Cancelled => {
            Outcome::cancelled(format!("sub-DAG run {} was cancelled", record.run_id))
        }
        state => {
            let failed: Vec<&str> = record
                .tasks
                .iter()
                .filter(|t| t.state == TaskState::Failed)
                .map(|t| t.id.as_str())
                .take(5)
                .collect();
            let why = match (&record.reason, failed.as_slice()) {
                (Some(r), _) => format!(": {r}"),
                (None, []) => String::new(),
                (None, tasks) => format!(
                    ": task{} {} failed",
                    if tasks.len() == 1 { "" } else { "s" },
                    tasks.join(", ")
                ),
            };
            Outcome::failed(None, format!("sub-DAG run {} {state}{why}", record.run_id))
        }
    }
}

/// The sub-DAG's `outputs`, read from its ended run.
fn outputs(dag: &Dag, record: &RunRecord) -> Result<Outputs, String> {
    let mut out = Outputs::new();
    for (key, value) in &dag.spec.outputs {
        let text = expr::substitute(value, |e| match e {
            expr::Expr::Output { task, key } => {
                crate::engine::fanout::output(dag, record, task, key)
                    .map(Some)
                    .map_err(|e| (e, None))
            }
            _ => Ok(None),
        })
        .map_err(|e| format!("its output `{key}` cannot be read: {}", expr::joined(e)))?;
        out.insert(key.clone(), text);
    }
    Ok(out)
}

fn note_child(ctx: &TaskContext, run: &str) {
    if let Some(notes) = &ctx.notes {
        notes(Note::Child {
            run: run.to_string(),
        });
    }
}

/// The outcome of a task whose child run's id names a run another started.
fn not_ours(child: &str, link: &RunLink) -> Outcome {
    Outcome::failed(
        None,
        format!(
            "run {child} exists and is not the sub-DAG run of task `{}` of run {}",
            link.task, link.run
        ),
    )
}

fn store_failed(child: &str, e: &StoreError) -> Outcome {
    Outcome::failed(None, format!("sub-DAG run {child}: {e}"))
}

/// Writes a child run's progress into the log of the task that runs it.
struct ChildLog {
    log: TaskLog,
}

impl Observer for ChildLog {
    fn on_event(&self, record: &RunRecord, event: &Event) {
        if let Some(line) = crate::cli::progress::plain_line(record, event) {
            self.log.line(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::child_run_id;

    #[test]
    fn child_ids_name_the_task_and_tell_instances_apart() {
        let parent = "20261201T030000000Z-3f9a";
        assert_eq!(
            child_run_id(parent, "eu", 0).unwrap(),
            format!("{parent}-eu")
        );
        let a1 = child_run_id(parent, "a.1", 0).unwrap();
        let a_1 = child_run_id(parent, "a_1", 0).unwrap();
        assert_ne!(a1, a_1);
        assert!(a1.starts_with(&format!("{parent}-a_1-")), "{a1}");
        // Too long for the readable form: the hash alone.
        let long = "t".repeat(90);
        let id = child_run_id(parent, &long, 0).unwrap();
        assert_eq!(id.len(), parent.len() + 9, "{id}");
        // Nested too deep: no id fits.
        let deep = format!("{parent}{}", "-abcdef12".repeat(9));
        assert!(child_run_id(&deep, "x", 0).is_err());
    }

    #[test]
    fn a_task_id_with_a_dash_is_no_task_of_a_child_run() {
        // Task `a-b` of run P, and task `b` of the child run of task `a` of P.
        let parent = "20261201T030000000Z-3f9a";
        let a = child_run_id(parent, "a", 1).unwrap();
        assert_ne!(
            child_run_id(parent, "a-b", 0).unwrap(),
            child_run_id(&a, "b", 0).unwrap()
        );
    }

    #[test]
    fn child_ids_leave_room_for_the_levels_below() {
        // A long task id at the top of the deepest nesting validation allows:
        // every level below still gets an id.
        let mut id = "20261201T030000000Z-3f9a".to_string();
        let levels = crate::engine::validate::MAX_DEPTH - 1;
        for level in 0..levels {
            let task = "t".repeat(74);
            id = child_run_id(&id, &task, levels - 1 - level)
                .unwrap_or_else(|e| panic!("level {level}: {e}"));
        }
        assert!(id.len() <= crate::engine::validate::MAX_NAME_LEN, "{id}");
    }
}
