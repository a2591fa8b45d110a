//! The local executor must reach the same final states as the sequential reference,
//! for any DAG and any pattern of failures.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::engine::events::Event;
use crate::engine::runner::{BoxFuture, Outcome, TaskContext, TaskRunner};
use crate::engine::state::{RunState, TaskState};
use crate::engine::store::{RunWriter, StoreError};
use crate::engine::validate::{LoadOptions, load_str};

/// Runs `bash` tasks whose command is `ok`, `fail`, `skip` or `flaky N` (fails the
/// first N attempts), with a small sleep so that local runs really overlap; a task
/// that succeeds publishes `n=1` and a list, `list=[0, 1, 3]`.
struct Scripted;

impl TaskRunner for Scripted {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome> {
        let command = match &ctx.task().kind {
            crate::engine::spec::TaskKind::Bash { command } => command.clone(),
            _ => String::new(),
        };
        let attempt = ctx.attempt;
        Box::pin(async move {
            tokio::time::sleep(Duration::from_micros(200)).await;
            let ok = match command.split_once(' ') {
                Some(("flaky", n)) => attempt > n.parse::<u32>().unwrap_or(0),
                _ => command == "ok",
            };
            if command == "skip" {
                Outcome::skipped("scripted skip")
            } else if ok {
                let mut outputs = crate::engine::runner::Outputs::new();
                outputs.insert("n".into(), "1".into());
                outputs.insert("list".into(), "[0, 1, 3]".into());
                Outcome::success(Some(0)).with_outputs(outputs)
            } else {
                Outcome::failed(Some(1), "scripted failure")
            }
        })
    }
}

/// Keeps nothing but the task logs, in a directory removed with it.
struct NullWriter(tempfile::TempDir);

impl RunWriter for NullWriter {
    fn append(&mut self, _: &Event) -> Result<(), StoreError> {
        Ok(())
    }
    fn commit(&mut self, _: &crate::engine::record::RunRecord, _: bool) -> Result<(), StoreError> {
        Ok(())
    }
    fn task_log(
        &mut self,
        task: &str,
        attempt: u32,
    ) -> Result<crate::engine::runner::TaskLog, StoreError> {
        // Logs must be regular files; these go with the writer's directory.
        Ok(crate::engine::runner::TaskLog::at(
            self.0.path().join(format!("{task}.{attempt}.log")),
        ))
    }
}

#[derive(Default)]
struct Starts(Mutex<Vec<usize>>);

impl Observer for Starts {
    fn on_event(&self, _: &RunRecord, event: &Event) {
        if let Event::AttemptStarted { task, .. } = event {
            self.0.lock().unwrap().push(*task);
        }
    }
}

fn run_yaml(
    yaml: &str,
    executor: ExecutorKind,
    parallel: usize,
    fail_fast: bool,
) -> (RunRecord, Vec<usize>) {
    let dag = Arc::new(
        load_str("t.yaml", yaml, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e:?}")),
    );
    let runners = Runners::new().with("bash", Arc::new(Scripted));
    let record = RunRecord::new("test".into(), &dag, "t.yaml".into());
    let starts = Arc::new(Starts::default());
    let options = ExecOptions {
        executor,
        parallel,
        fail_fast,
        ..ExecOptions::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let record = rt
        .block_on(execute(
            dag,
            super::Run::fresh(record, Box::new(NullWriter(tempfile::tempdir().unwrap()))),
            &runners,
            starts.clone(),
            &options,
            StopSignal::new(),
        ))
        .unwrap();
    let starts = starts.0.lock().unwrap().clone();
    (record, starts)
}

/// Each task's id, state and attempts, in the order they are shown (instances
/// after their mapped task): instances of lists read at run time join the record
/// as their mapped tasks expand, which executors may do in different orders.
fn states(r: &RunRecord) -> Vec<(String, TaskState, usize)> {
    r.in_order()
        .into_iter()
        .map(|i| &r.tasks[i])
        .map(|t| (t.id.to_string(), t.state, t.attempts.len()))
        .collect()
}

const RULES: [&str; 6] = [
    "all_success",
    "all_done",
    "all_failed",
    "one_success",
    "one_failed",
    "none_failed",
];

fn random_dag() -> impl Strategy<Value = String> {
    (2usize..14).prop_flat_map(|n| {
        let task = (
            proptest::collection::vec(any::<bool>(), n),
            0usize..6,
            0u8..6,
            -1i64..2,
            0u8..5,
            0u8..6,
        );
        proptest::collection::vec(task, n).prop_map(move |tasks| {
            let mut y = String::from("name: random\nparams: {p: 'yes'}\ndefaults: {retry_delay: 1ms}\ntasks:\n");
            for (i, (deps, rule, behaviour, priority, cond, mapped)) in tasks.iter().enumerate() {
                let deps: Vec<String> = (0..i).filter(|&j| deps[j] && (i - j) < 4).map(|j| format!("t{j}")).collect();
                let command = match behaviour {
                    // A mapped task's instances behave by their item.
                    _ if *mapped == 0 => "flaky ${{ item }}\n    for_each: [0, 1, 3]\n    max_parallel: 1".to_string(),
                    _ if *mapped == 1 => "ok\n    for_each: []".to_string(),
                    // Lists read at run time: a JSON array, or `n`, which is none
                    // (unless its task is mapped: then the instances' `n`s are).
                    _ if *mapped == 2 && !deps.is_empty() => format!(
                        "flaky ${{{{ item }}}}\n    for_each: ${{{{ tasks.{}.outputs.list }}}}\n    max_parallel: 2",
                        deps[0]
                    ),
                    _ if *mapped == 3 && !deps.is_empty() => format!(
                        "ok\n    for_each: ${{{{ tasks.{}.outputs.n }}}}",
                        deps[0]
                    ),
                    0 => "fail".to_string(),
                    1 => "flaky 1".to_string(),
                    2 => "flaky 3".to_string(),
                    3 => "skip".to_string(),
                    _ => "ok".to_string(),
                };
                // Conditions on a param (true or false) and on an upstream output
                // (missing when that task did not succeed: the task then fails).
                let when = match (cond, deps.first()) {
                    (1, _) => "    when: params.p == 'yes'\n".to_string(),
                    (2, _) => "    when: params.p != 'yes'\n".to_string(),
                    (3, Some(d)) => format!("    when: tasks.{d}.outputs.n >= 1\n"),
                    (4, Some(d)) => format!("    when: \"!(tasks.{d}.outputs.n == 1)\"\n"),
                    _ => String::new(),
                };
                y.push_str(&format!(
                    "  t{i}:\n    command: {command}\n    depends_on: [{}]\n    trigger_rule: {}\n    retries: 1\n    priority: {priority}\n{when}",
                    deps.join(", "),
                    RULES[*rule]
                ));
            }
            y
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn local_reaches_the_same_final_states_as_sequential(yaml in random_dag(), parallel in 1usize..6) {
        let (seq, _) = run_yaml(&yaml, ExecutorKind::Sequential, 1, false);
        let (local, _) = run_yaml(&yaml, ExecutorKind::Local, parallel, false);
        prop_assert_eq!(states(&seq), states(&local), "{}", yaml);
        prop_assert_eq!(seq.state, local.state);
        prop_assert!(seq.tasks.iter().all(|t| t.state.is_terminal()));
    }
}

#[test]
fn sequential_runs_ready_tasks_by_priority_then_declaration() {
    let yaml = "name: p\ntasks:\n  a: {command: ok}\n  b: {command: ok, priority: 5}\n  c: {command: ok, depends_on: a, priority: 9}\n  d: {command: ok}\n";
    let (record, starts) = run_yaml(yaml, ExecutorKind::Sequential, 1, false);
    assert_eq!(record.state, RunState::Success);
    // b (priority 5) first; then a, which unlocks c (priority 9) ahead of d.
    assert_eq!(starts, vec![1, 0, 2, 3]);
}

#[test]
fn local_with_one_slot_starts_in_the_same_order() {
    let yaml = "name: p\ntasks:\n  a: {command: ok}\n  b: {command: ok, priority: 5}\n  c: {command: ok, depends_on: a, priority: 9}\n  d: {command: ok}\n";
    let (_, starts) = run_yaml(yaml, ExecutorKind::Local, 1, false);
    assert_eq!(starts, vec![1, 0, 2, 3]);
}

#[test]
fn failure_propagates_and_independent_branches_go_on() {
    let yaml = "name: f\ntasks:\n  a: {command: fail}\n  b: {command: ok, depends_on: a}\n  c: {command: ok}\n  d: {command: ok, depends_on: [a, c], trigger_rule: all_done}\n  e: {command: ok, depends_on: a, trigger_rule: one_failed}\n  f: {command: ok, depends_on: c, trigger_rule: one_failed}\n";
    for kind in [ExecutorKind::Sequential, ExecutorKind::Local] {
        let (r, _) = run_yaml(yaml, kind, 4, false);
        let got: Vec<TaskState> = r.tasks.iter().map(|t| t.state).collect();
        use TaskState::*;
        assert_eq!(
            got,
            vec![Failed, UpstreamFailed, Success, Success, Success, Skipped]
        );
        assert_eq!(r.state, RunState::Failed);
    }
}

#[test]
fn retries_record_every_attempt() {
    let yaml = "name: r\ntasks:\n  a: {command: flaky 2, retries: 2, retry_delay: 1ms}\n  b: {command: flaky 5, retries: 1, retry_delay: 1ms}\n";
    for kind in [ExecutorKind::Sequential, ExecutorKind::Local] {
        let (r, _) = run_yaml(yaml, kind, 2, false);
        assert_eq!(r.tasks[0].state, TaskState::Success);
        assert_eq!(r.tasks[0].attempts.len(), 3);
        assert_eq!(r.tasks[0].attempts[1].outcome, Some(TaskState::UpForRetry));
        assert_eq!(r.tasks[1].state, TaskState::Failed);
        assert_eq!(r.tasks[1].attempts.len(), 2);
    }
}

#[test]
fn fail_fast_cancels_what_has_not_started() {
    let yaml = "name: ff\ntasks:\n  a: {command: fail}\n  b: {command: ok}\n  c: {command: ok, depends_on: b}\n";
    for kind in [ExecutorKind::Sequential, ExecutorKind::Local] {
        let (r, _) = run_yaml(yaml, kind, 1, true);
        assert_eq!(r.tasks[0].state, TaskState::Failed);
        assert_eq!(r.tasks[1].state, TaskState::Cancelled);
        assert_eq!(r.tasks[2].state, TaskState::Cancelled);
        assert!(
            r.tasks[2]
                .reason
                .as_deref()
                .unwrap()
                .contains("--fail-fast")
        );
        assert_eq!(r.state, RunState::Failed);
    }
}

/// Writes a line to its log, then runs for an hour.
struct LogsThenHangs;

impl TaskRunner for LogsThenHangs {
    fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome> {
        Box::pin(async move {
            ctx.log.line("hello");
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Outcome::success(Some(0))
        })
    }
}

/// Hands out logs in a directory that does not exist: every write fails.
struct UnwritableLogs;

impl RunWriter for UnwritableLogs {
    fn append(&mut self, _: &Event) -> Result<(), StoreError> {
        Ok(())
    }
    fn commit(&mut self, _: &crate::engine::record::RunRecord, _: bool) -> Result<(), StoreError> {
        Ok(())
    }
    fn task_log(
        &mut self,
        task: &str,
        _: u32,
    ) -> Result<crate::engine::runner::TaskLog, StoreError> {
        Ok(crate::engine::runner::TaskLog::at(
            format!("/nonexistent-dag-dir/{task}.log").into(),
        ))
    }
}

/// Issue 13, item 12: a task log that cannot be written stops the run at once (a
/// store error), with either executor, while the task is still running.
#[test]
fn an_unwritable_task_log_stops_the_run_with_a_store_error() {
    for executor in [ExecutorKind::Sequential, ExecutorKind::Local] {
        let dag = Arc::new(
            load_str(
                "t.yaml",
                "name: t\ntasks:\n  a: {command: x}\n  b: {command: x, depends_on: a}\n",
                &LoadOptions::default(),
            )
            .unwrap(),
        );
        let runners = Runners::new().with("bash", Arc::new(LogsThenHangs));
        let record = RunRecord::new("test".into(), &dag, "t.yaml".into());
        let options = ExecOptions {
            executor,
            ..ExecOptions::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(30),
                execute(
                    dag,
                    super::Run::fresh(record, Box::new(UnwritableLogs)),
                    &runners,
                    Arc::new(Starts::default()),
                    &options,
                    StopSignal::new(),
                ),
            )
            .await
        });
        match result {
            Ok(Err(ExecError::Store(StoreError::Io { path, .. }))) => {
                assert_eq!(path, "/nonexistent-dag-dir/a.log", "{executor:?}");
            }
            Ok(other) => panic!("{executor:?}: {other:?}"),
            Err(_) => panic!("{executor:?}: the run went on after the log failed"),
        }
    }
}

#[test]
fn a_list_read_at_run_time_expands_alike_in_both_executors() {
    let yaml = "name: d\ntasks:\n  a: {command: ok}\n  m:\n    command: flaky ${{ item }}\n    for_each: ${{ tasks.a.outputs.list }}\n    depends_on: a\n    retries: 1\n  z: {command: ok, depends_on: m, trigger_rule: all_done}\n";
    for (executor, parallel) in [(ExecutorKind::Sequential, 1), (ExecutorKind::Local, 4)] {
        let (r, _) = run_yaml(yaml, executor, parallel, false);
        let got: Vec<(String, TaskState, usize)> = states(&r);
        let want = [
            ("a", TaskState::Success, 1),
            ("m", TaskState::Success, 1),
            ("m.0", TaskState::Success, 1),
            ("m.1", TaskState::Success, 2),
            ("m.2", TaskState::Failed, 2),
            ("z", TaskState::Success, 1),
        ];
        let want: Vec<(String, TaskState, usize)> = want
            .iter()
            .map(|(id, s, n)| (id.to_string(), *s, *n))
            .collect();
        assert_eq!(got, want, "{executor:?}");
        assert_eq!(r.tasks[1].instances, Some(3));
        assert_eq!(r.state, RunState::Failed);
    }
}

/// The fencing rules for a second result of an attempt whose result is recorded:
/// the very result delivered again is no duplicate; another execution's is, and
/// one the runner knows to be another is counted whatever the record holds; a
/// note naming no recorded attempt changes nothing.
#[test]
fn duplicate_results_are_counted_by_the_fencing_rules() {
    use crate::engine::record::Attempt;
    use crate::engine::runner::Note;
    let dag = Arc::new(
        load_str(
            "t.yaml",
            "name: t\ntasks:\n  a: {command: ok}\n  b: {command: ok}\n",
            &LoadOptions::default(),
        )
        .unwrap(),
    );
    let mut record = RunRecord::new("r".into(), &dag, "t.yaml".into());
    let mut done = Attempt::succeeded(1_000, 2_000);
    done.worker = Some("w1".into());
    done.deliveries = 2;
    record.tasks[0].state = TaskState::Success;
    record.tasks[0].attempts = vec![done].into_iter().collect();
    let mut open = Attempt::succeeded(1_000, 2_000);
    (open.ended_at, open.outcome) = (None, None);
    record.tasks[1].state = TaskState::Running;
    record.tasks[1].attempts = vec![open].into_iter().collect();
    let mut d = driver::Driver::new(
        dag,
        record,
        Box::new(NullWriter(tempfile::tempdir().unwrap())),
        Arc::new(Starts::default()),
        ExecOptions::default(),
    );
    let dup =
        |task: &str, attempt: u32, worker: &str, delivery: u64, known: bool| Note::Duplicate {
            task: task.into(),
            attempt,
            worker: worker.into(),
            delivery,
            known,
            ack: Default::default(),
        };
    let count = |d: &driver::Driver| (d.record.tasks[0].duplicates, d.record.tasks[1].duplicates);
    d.note(0, 1, dup("a", 1, "w1", 2, false)).unwrap();
    assert_eq!(count(&d), (0, 0), "the recorded result again");
    d.note(0, 1, dup("a", 1, "w0", 1, false)).unwrap();
    assert_eq!(count(&d), (1, 0), "a cut-off worker's run");
    d.note(0, 1, dup("a", 1, "w1", 2, true)).unwrap();
    assert_eq!(count(&d), (2, 0), "known to the runner as another");
    // The note names its own attempt, whichever attempt's sink carried it.
    d.note(1, 1, dup("a", 1, "w9", 1, false)).unwrap();
    assert_eq!(count(&d), (3, 0));
    for (task, attempt) in [("nope", 1), ("a", 7), ("b", 1)] {
        d.note(0, 1, dup(task, attempt, "w9", 1, false)).unwrap();
    }
    assert_eq!(count(&d), (3, 0), "no recorded attempt: nothing counted");
    assert_eq!(d.record.duplicates(), 3);
    // A note's message is acknowledged with the save that follows it, and not
    // before; one about an attempt not recorded ending, of a task still going
    // (its earlier driver handed it out and stopped before saving so), is
    // left unacknowledged, to reach that attempt once it starts here.
    let acked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for (task, worker) in [("a", "w7"), ("a", "w1"), ("b", "w7"), ("nope", "w7")] {
        let acked = acked.clone();
        let mut note = dup(task, 1, worker, if worker == "w1" { 2 } else { 1 }, false);
        if let Note::Duplicate { ack, .. } = &mut note {
            ack.0 = Some(Arc::new(crate::engine::runner::Acker::new(move || {
                acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })));
        }
        d.note(0, 1, note).unwrap();
    }
    assert_eq!(acked.load(std::sync::atomic::Ordering::SeqCst), 0);
    d.commit().unwrap();
    assert_eq!(
        acked.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the counted one and the recorded one again"
    );
    assert_eq!(count(&d), (4, 0));
}

/// A run taken over: ended tasks stay ended, the running attempt is adopted (its
/// runner is told, and no new attempt is made), queued and up-for-retry tasks
/// run, and what waited for them follows.
#[test]
fn a_taken_over_run_adopts_its_running_attempt_and_runs_the_rest() {
    use crate::engine::record::Attempt;
    struct Adopting(Mutex<Vec<(String, u32, bool)>>);
    impl TaskRunner for Adopting {
        fn run(&self, ctx: TaskContext) -> BoxFuture<'static, Outcome> {
            self.0.lock().unwrap().push((
                ctx.task().id.to_string(),
                ctx.attempt,
                ctx.adopted.is_some(),
            ));
            Box::pin(async { Outcome::success(Some(0)) })
        }
    }
    let dag = Arc::new(
        load_str(
            "t.yaml",
            "name: t\ntasks:\n  done: {command: ok}\n  running: {command: ok}\n  queued: {command: ok}\n  retrying: {command: ok, retries: 1, retry_delay: 1s}\n  after: {command: ok, depends_on: [running, queued]}\n",
            &LoadOptions::default(),
        )
        .unwrap(),
    );
    let mut record = RunRecord::new("r".into(), &dag, "t.yaml".into());
    record.state = RunState::Running;
    let ended = Attempt::succeeded(1_000, 2_000);
    record.tasks[0].state = TaskState::Success;
    record.tasks[0].attempts = vec![ended.clone()].into_iter().collect();
    let mut open = ended.clone();
    (open.ended_at, open.outcome) = (None, None);
    open.worker = Some("w1".into());
    record.tasks[1].state = TaskState::Running;
    record.tasks[1].attempts = vec![open].into_iter().collect();
    record.tasks[2].state = TaskState::Queued;
    let mut failed = ended;
    failed.outcome = Some(TaskState::UpForRetry);
    record.tasks[3].state = TaskState::UpForRetry;
    record.tasks[3].attempts = vec![failed].into_iter().collect();
    let runner = Arc::new(Adopting(Mutex::default()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = Run {
        record,
        writer: Box::new(NullWriter(tempfile::tempdir().unwrap())),
        start: Start::TakenOver,
    };
    let record = rt
        .block_on(execute(
            dag,
            run,
            &Runners::new().with("bash", runner.clone()),
            Arc::new(Starts::default()),
            &ExecOptions::default(),
            StopSignal::new(),
        ))
        .unwrap();
    assert_eq!(record.state, RunState::Success);
    let mut ran = runner.0.lock().unwrap().clone();
    ran.sort();
    assert_eq!(
        ran,
        [
            ("after".to_string(), 1, false),
            ("queued".to_string(), 1, false),
            ("retrying".to_string(), 2, false),
            ("running".to_string(), 1, true),
        ]
    );
    let attempts: Vec<usize> = record.tasks.iter().map(|t| t.attempts.len()).collect();
    assert_eq!(attempts, [1, 1, 1, 2, 1]);
}
