//! `dag status`, `dag runs` and `dag logs`: reading runs back from the store.

use std::time::Duration;

use comfy_table::{Table, presets};

use super::args::{
    LogsArgs, OutputArg, PruneArgs, ReportArgs, ReportFormat, RunsAction, RunsArgs, StatusArgs,
};
use super::exit::{self, CliError};
use super::output;
use super::report;
use super::run_arg;
use super::setup::Store;
use super::text::format_ms;
use crate::engine::record::RunRecord;
use crate::engine::state::{RunState, TaskState};
use crate::engine::time::Timestamp;

/// A note for a run that says `running` but that no process drives any more. A
/// run any scheduler may take over (a distributed run kept in NATS) is not
/// interrupted: it waits for a scheduler (see [`waiting_note`]).
fn interrupted_note(store: &Store, record: &RunRecord) -> Option<String> {
    (record.drive.is_none() && !record.state.is_terminal() && !store.is_driven(&record.run_id))
        .then(|| {
            format!(
                "interrupted: the dag process that drove this run (pid {} on {}) is gone",
                record.pid, record.host
            )
        })
}

/// Whether following a run (`status --watch`, `logs --follow`) is over: it
/// ended, or no process drives it and none will (a run a scheduler may take
/// over is followed while it waits for one).
fn no_more_to_follow(store: &Store, record: &RunRecord) -> bool {
    record.state.is_terminal() || (record.drive.is_none() && !store.is_driven(&record.run_id))
}

/// A note for a run that a scheduler may take over and that no process drives
/// now (submitted with `--detach`, or its driver died).
fn waiting_note(store: &Store, record: &RunRecord) -> Option<String> {
    (record.drive.is_some() && !record.state.is_terminal() && !store.is_driven(&record.run_id))
        .then(|| {
            "no process drives this run now: a `dag scheduler` takes it over (start one if none runs)".to_string()
        })
}

/// `dag report [RUN_ID] [--format markdown] [-o FILE]`.
pub fn report(
    args: ReportArgs,
    store: &Store,
    runners: crate::engine::runner::Runners,
) -> Result<u8, CliError> {
    // Opened first: a path that cannot be written is a usage error.
    let state = match store {
        Store::File(f) => Some(f.root().to_path_buf()),
        Store::Nats(_) => None,
    };
    let file = super::junit::ReportFile::open_arg(args.out.as_deref(), state.as_deref())?;
    let id = run_arg::resolve(store.state(), args.run_id.as_deref())?;
    let record = store.state().load_run(&id)?;
    let dag = report::dag_of_run(&record, runners);
    let dag = dag.as_ref().map_err(String::as_str);
    let text = match args.format {
        ReportFormat::Markdown => super::markdown::markdown(&record, dag, store.state()),
        ReportFormat::Html => super::html::html(&record, dag, store.state()),
        ReportFormat::Junit => super::junit::report(&record, store.state()),
    };
    match file {
        Some(f) => {
            let path = f.path().display().to_string();
            f.write(&text).map_err(|e| {
                CliError::Infrastructure(format!("cannot write the report {path}: {e}"))
            })?;
        }
        None => output::print(&text)?,
    }
    Ok(exit::SUCCESS)
}

/// `dag status [RUN_ID]`.
pub fn status(args: StatusArgs, store: &Store) -> Result<u8, CliError> {
    let id = run_arg::resolve(store.state(), args.run_id.as_deref())?;
    let mut record = store.state().load_run(&id)?;
    if args.watch {
        // Follow the run: show it each time it changes, until it ends. On a
        // terminal each view replaces the one before; elsewhere (a pipe, a file)
        // views are appended, as a log wants.
        let table = args.output == OutputArg::Table;
        let live = table && output::stdout_live();
        let mut redraw = super::redraw::Redraw::default();
        let mut seen = (u64::MAX, None);
        loop {
            let over = no_more_to_follow(store, &record);
            let size = live.then(stdout_size).flatten();
            // The last view is drawn whole even when the one before was the same
            // record, cut to fit the terminal.
            if table && ((record.seq, size) != seen || (over && size.is_some())) {
                seen = (record.seq, size);
                let view = format!("{}\n{}\n", report::table(&record), report::summary(&record));
                match size {
                    Some(size) => output::print(&redraw.frame(&view, size, over))?,
                    None => output::print(&view)?,
                }
            }
            if over {
                // A run nobody drives any more says so, as plain `dag status` does.
                if table && let Some(note) = interrupted_note(store, &record) {
                    output::print(&format!("{note}\n"))?;
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
            record = store.state().load_run(&id)?;
        }
        if args.output != OutputArg::Json {
            return Ok(status_code(store, &record));
        }
    }
    match args.output {
        OutputArg::Json => output::print(&report::json(&record))?,
        OutputArg::Quiet => {}
        OutputArg::Table => {
            let mut out = format!(
                "run {} of {} ({})\n",
                record.run_id, record.dag, record.file
            );
            if let Some(parent) = &record.parent {
                out.push_str(&format!("{}\n", report::parent_text(parent)));
            }
            out.push_str(&report::table(&record));
            out.push('\n');
            out.push_str(&report::children_lines(&record, store.state()));
            out.push_str(&report::summary(&record));
            out.push('\n');
            if let Some(note) =
                interrupted_note(store, &record).or_else(|| waiting_note(store, &record))
            {
                out.push_str(&note);
                out.push('\n');
            }
            output::print(&out)?;
        }
    }
    Ok(status_code(store, &record))
}

/// The size of the terminal on stdout: columns, rows.
fn stdout_size() -> Option<(usize, usize)> {
    terminal_size::terminal_size_of(std::io::stdout())
        .map(|(w, h)| (usize::from(w.0), usize::from(h.0)))
        .filter(|&(w, h)| w > 0 && h > 0)
}

/// `dag status`'s exit code: 0 for a run that succeeded or is still going, 1 for one
/// that failed, 130 for one that was cancelled (as `dag run` exits when cancelled)
/// or interrupted (no process drives it any more; `dag retry` resumes it).
fn status_code(store: &Store, record: &RunRecord) -> u8 {
    match record.state {
        RunState::Queued | RunState::Running if interrupted_note(store, record).is_some() => {
            exit::SIGINT
        }
        RunState::Success | RunState::Queued | RunState::Running => exit::SUCCESS,
        RunState::Cancelled => exit::SIGINT,
        RunState::Failed => exit::TASK_FAILED,
    }
}

/// `dag runs prune`: deletes finished runs that ended before the cut-off, and runs
/// that never ended and that no process drives any more, created before it.
pub fn prune(args: &PruneArgs, store: &Store) -> Result<u8, CliError> {
    let cutoff = Timestamp::now()
        .0
        .saturating_sub(args.older_than.as_millis() as u64);
    let mut pruned = Vec::new();
    for id in store.state().run_ids()? {
        let r = match store.state().load_run(&id) {
            Ok(r) => r,
            Err(e) => {
                output::eprint(&format!("warning: not pruning run {id}: {e}\n"));
                continue;
            }
        };
        let when = r.ended_at.unwrap_or(r.created_at);
        let over = r.state.is_terminal() || !store.is_driven(&id);
        if over && when.0 < cutoff {
            if !args.dry_run {
                store.delete_run(&id)?;
            }
            pruned.push(id);
        }
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut out = format!(
        "{verb} {} run{}\n",
        pruned.len(),
        if pruned.len() == 1 { "" } else { "s" }
    );
    for id in &pruned {
        out.push_str(&format!("  {id}\n"));
    }
    output::print(&out)?;
    Ok(exit::SUCCESS)
}

/// `dag runs`.
pub fn runs(args: RunsArgs, store: &Store) -> Result<u8, CliError> {
    if let Some(RunsAction::Prune(p)) = &args.action {
        return prune(p, store);
    }
    let wanted = |r: &RunRecord| {
        args.dag.as_ref().is_none_or(|d| *d == r.dag)
            && args
                .status
                .is_none_or(|s| format!("{s:?}").to_lowercase() == r.state.as_str())
            && args.since.is_none_or(|s| r.created_at >= s)
    };
    let mut records = Vec::new();
    // Runs counted against `--limit`: a sub-DAG run is listed with its parent
    // and not counted, unless its parent is not listed.
    let mut counted = 0;
    // Whether each parent read so far is listed: read once, not once per child
    // run (a mapped dag task's thousand children name the same big record).
    let mut parents: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    for id in store.state().run_ids()?.iter().rev() {
        if counted >= args.limit {
            break;
        }
        // Ids sort by creation time: past `--since`, the rest are older.
        if let Some(since) = args.since
            && id_time(id).is_some_and(|t| t < since)
        {
            break;
        }
        match store.state().load_run(id) {
            Ok(r) if wanted(&r) => {
                // A child run's id sorts after its parent's: the parent comes
                // later in this newest-first walk, and is counted then.
                let listed_with_parent = r.parent.as_ref().is_some_and(|p| {
                    *parents
                        .entry(p.run.clone())
                        .or_insert_with(|| store.state().load_run(&p.run).is_ok_and(|p| wanted(&p)))
                });
                if !listed_with_parent {
                    counted += 1;
                }
                records.push(r);
            }
            Ok(_) => {}
            // One damaged run must not hide the others.
            Err(e) => output::eprint(&format!("warning: skipping run {id}: {e}\n")),
        }
    }
    let records = family_order(records);
    match args.output {
        OutputArg::Json => {
            let docs: Vec<report::RunJson<'_>> = records
                .iter()
                .map(|(_, r)| report::RunJson::new(r))
                .collect();
            let mut s = serde_json::to_string_pretty(&docs).unwrap_or_default();
            s.push('\n');
            output::print(&s)?;
        }
        OutputArg::Quiet => {}
        OutputArg::Table => {
            let mut t = Table::new();
            t.load_preset(presets::UTF8_FULL_CONDENSED);
            t.set_header(["run", "dag", "state", "started", "duration", "tasks ok"]);
            // Each id as far as it tells it from every other run's (all of it
            // works wherever a run id is taken).
            let all = store.state().run_ids()?;
            let now = crate::engine::time::Timestamp::now();
            for (depth, r) in &records {
                let ok = r
                    .tasks
                    .iter()
                    .filter(|t| t.state == TaskState::Success)
                    .count();
                let state = match interrupted_note(store, r) {
                    Some(_) => format!("{} (interrupted)", r.state),
                    None => r.state.to_string(),
                };
                // A sub-DAG run is shown whole (the start of its id is its
                // parent's), marked under its parent.
                let id = match depth {
                    0 if r.parent.is_none() => short_id(&all, &r.run_id).to_string(),
                    0 => r.run_id.clone(),
                    d => format!("{}└ {}", "  ".repeat(d - 1), r.run_id),
                };
                t.add_row([
                    id,
                    r.dag.clone(),
                    state,
                    r.started_at.map(|s| ago(s, now)).unwrap_or_default(),
                    match (r.started_at, r.ended_at) {
                        (Some(s), Some(e)) => format_ms(s.until(e).as_millis() as u64),
                        _ => String::new(),
                    },
                    format!("{ok}/{}", r.tasks.len()),
                ]);
            }
            output::print(&format!("{t}\n"))?;
        }
    }
    Ok(exit::SUCCESS)
}

/// `records` (newest first) with each sub-DAG run right under its parent, in the
/// order the parent started them, each with its depth (0 for a run shown on its
/// own: one `dag run` started, or a sub-DAG run whose parent is not listed).
fn family_order(records: Vec<RunRecord>) -> Vec<(usize, RunRecord)> {
    use std::collections::HashMap;
    let at: HashMap<&str, usize> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.run_id.as_str(), i))
        .collect();
    let parent_of = |r: &RunRecord| {
        r.parent
            .as_ref()
            .and_then(|p| at.get(p.run.as_str()).copied())
    };
    let mut under: Vec<Vec<usize>> = vec![Vec::new(); records.len()];
    for (i, r) in records.iter().enumerate() {
        if let Some(p) = parent_of(r) {
            under[p].push(i);
        }
    }
    for (p, kids) in under.iter_mut().enumerate() {
        if kids.is_empty() {
            continue;
        }
        // Looked up, not searched for each child: a parent of a thousand.
        let started: HashMap<&str, usize> = records[p]
            .children
            .iter()
            .enumerate()
            .map(|(n, c)| (c.run.as_str(), n))
            .collect();
        kids.sort_by_key(|i| {
            let n = started.get(records[*i].run_id.as_str());
            (n.is_none(), n.copied(), *i)
        });
    }
    let mut order = Vec::with_capacity(records.len());
    let mut stack: Vec<(usize, usize)> = (0..records.len())
        .rev()
        .filter(|&i| parent_of(&records[i]).is_none())
        .map(|i| (0, i))
        .collect();
    while let Some((depth, i)) = stack.pop() {
        order.push((depth, i));
        stack.extend(under[i].iter().rev().map(|&k| (depth + 1, k)));
    }
    // Runs whose parents form a loop (a damaged store) reach no run shown on
    // its own: they are shown on their own, last.
    let mut seen = vec![false; records.len()];
    for &(_, i) in &order {
        seen[i] = true;
    }
    order.extend((0..records.len()).filter(|&i| !seen[i]).map(|i| (0, i)));
    let mut slots: Vec<Option<RunRecord>> = records.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(depth, i)| slots[i].take().map(|r| (depth, r)))
        .collect()
}

/// The shortest start of `id` that no other of `ids` (sorted) shares, and at
/// least its date and time to the second (`20261130T123100`).
fn short_id<'a>(ids: &[String], id: &'a str) -> &'a str {
    let at = ids
        .binary_search_by(|x| x.as_str().cmp(id))
        .unwrap_or_else(|i| i);
    let shared = |other: Option<&String>| {
        other.map_or(0, |o| {
            o.bytes()
                .zip(id.bytes())
                .take_while(|(a, b)| a == b)
                .count()
        })
    };
    let before = at.checked_sub(1).and_then(|i| ids.get(i));
    let after = ids
        .get(at + 1)
        .filter(|x| *x != id)
        .or_else(|| ids.get(at).filter(|x| *x != id));
    let len = (shared(before).max(shared(after)) + 1)
        .max(15)
        .min(id.len());
    id.get(..len).unwrap_or(id)
}

/// When a run id says the run was created (ids start with the UTC time to the
/// millisecond), if it says.
fn id_time(id: &str) -> Option<crate::engine::time::Timestamp> {
    let t = id.get(..18)?;
    let text = format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        t.get(..4)?,
        t.get(4..6)?,
        t.get(6..8)?,
        t.get(9..11)?,
        t.get(11..13)?,
        t.get(13..15)?,
        t.get(15..18)?
    );
    humantime::parse_rfc3339(&text)
        .ok()
        .map(crate::engine::time::Timestamp::from_system)
}

/// How long before `now` `t` was: `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
pub(super) fn ago(
    t: crate::engine::time::Timestamp,
    now: crate::engine::time::Timestamp,
) -> String {
    let s = t.until(now).as_secs();
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// `dag logs RUN_ID [TASK]`.
pub fn logs(args: LogsArgs, store: &Store) -> Result<u8, CliError> {
    let id = run_arg::resolve(store.state(), Some(&args.run_id))?;
    let record = store.state().load_run(&id)?;
    if let Some(task) = &args.task
        && !record.tasks.iter().any(|t| t.id == task)
    {
        let ids: Vec<&str> = record.tasks.iter().map(|t| t.id.as_str()).collect();
        let help = crate::engine::suggest::did_you_mean(task, ids.iter().copied());
        return Err(CliError::usage(
            format!("run {} has no task `{task}`", record.run_id),
            help,
        ));
    }
    if args.follow {
        return follow(&args, store, record);
    }
    let mut shown = 0;
    for (t, a) in selected(&record, &args) {
        shown += 1;
        let several = args.task.is_none() || t.attempts.len() > 1;
        if several {
            output::print(&format!("── {} (attempt {}) ──\n", t.id, a.attempt))?;
        }
        // Copied in chunks: a log of any size streams through.
        let mut offset = 0u64;
        let mut last = b'\n';
        loop {
            let chunk =
                store
                    .state()
                    .read_log(&record.run_id, &t.id, a.attempt, offset, LOG_CHUNK)?;
            if chunk.is_empty() {
                break;
            }
            offset += chunk.len() as u64;
            last = chunk[chunk.len() - 1];
            output::print_bytes(&chunk)?;
        }
        if last != b'\n' {
            output::print("\n")?;
        }
    }
    if shown == 0 {
        // Say why there is nothing, rather than print nothing. Asking for a task or
        // an attempt that does not exist is a usage error; a task that has not run
        // (yet) simply has no output.
        let note = match (&args.task, args.attempt) {
            (Some(task), attempt) => {
                let t = record.tasks.iter().find(|t| t.id == task);
                match (t, attempt) {
                    (Some(t), Some(n)) if !t.attempts.is_empty() => {
                        return Err(CliError::usage(
                            format!(
                                "task {task} of run {} has no attempt {n} (it made {})",
                                record.run_id,
                                t.attempts.len()
                            ),
                            None,
                        ));
                    }
                    (Some(t), _) => match &t.reason {
                        Some(r) => format!("task {task} never ran ({}: {r})", t.state),
                        None => format!("task {task} has not run ({})", t.state),
                    },
                    (None, _) => {
                        return Err(CliError::usage(
                            format!("run {} has no task {task}", record.run_id),
                            None,
                        ));
                    }
                }
            }
            (None, _) => "no task of this run has run".to_string(),
        };
        output::eprint(&format!("{note}\n"));
    }
    Ok(exit::SUCCESS)
}

/// How much of a log is read at once.
const LOG_CHUNK: usize = 1024 * 1024;

/// The attempts that `dag logs` shows: of the chosen task (or all), of the chosen
/// attempt (or all), in run order.
fn selected<'r>(
    record: &'r RunRecord,
    args: &'r LogsArgs,
) -> impl Iterator<
    Item = (
        &'r crate::engine::record::TaskRecord,
        &'r crate::engine::record::Attempt,
    ),
> {
    record
        .tasks
        .iter()
        .filter(|t| args.task.as_ref().is_none_or(|x| *x == t.id))
        .flat_map(|t| {
            t.attempts
                .iter()
                .filter(|a| args.attempt.is_none_or(|n| n == a.attempt))
                .map(move |a| (t, a))
        })
}

/// Prints new output of the selected tasks, each line prefixed with its task id, until
/// the run ends.
fn follow(args: &LogsArgs, store: &Store, mut record: RunRecord) -> Result<u8, CliError> {
    use std::collections::HashMap;
    let mut offsets: HashMap<(String, u32), u64> = HashMap::new();
    let mut partial: HashMap<(String, u32), String> = HashMap::new();
    loop {
        let finished = no_more_to_follow(store, &record);
        let mut out = String::new();
        for (t, a) in selected(&record, args) {
            let key = (t.id.to_string(), a.attempt);
            let offset = offsets.entry(key.clone()).or_insert(0);
            let bytes =
                store
                    .state()
                    .read_log(&record.run_id, &t.id, a.attempt, *offset, LOG_CHUNK)?;
            if bytes.is_empty() {
                continue;
            }
            *offset += bytes.len() as u64;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let buffer = partial.entry(key).or_default();
            buffer.push_str(&text);
            while let Some(nl) = buffer.find('\n') {
                let line: String = buffer.drain(..=nl).collect();
                out.push_str(&format!("{} | {}", t.id, line));
            }
        }
        output::print(&out)?;
        if finished {
            for ((task, _), rest) in partial {
                if !rest.is_empty() {
                    output::print(&format!("{task} | {rest}\n"))?;
                }
            }
            return Ok(exit::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(250));
        record = store.state().load_run(&record.run_id)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sub-DAG runs come right under their parent, in the order it started
    /// them, nested runs deeper; a sub-DAG run whose parent is not listed is
    /// shown on its own.
    #[test]
    fn sub_dag_runs_are_listed_under_their_parent() {
        use crate::engine::record::RunLink;
        let run = |id: &str, parent: Option<&str>, children: &[&str]| {
            let (mut r, _) = crate::cli::fixtures::sample();
            r.run_id = id.to_string();
            r.parent = parent.map(|p| RunLink {
                run: p.to_string(),
                task: "t".to_string(),
            });
            r.children = children
                .iter()
                .map(|c| RunLink {
                    run: c.to_string(),
                    task: "t".to_string(),
                })
                .collect();
            r
        };
        // Newest first, as `dag runs` reads them.
        let records = vec![
            run("Q", None, &[]),
            run("P-b", Some("P"), &[]),
            run("P-a-x", Some("P-a"), &[]),
            run("P-a", Some("P"), &["P-a-x"]),
            run("P", None, &["P-b", "P-a"]),
            run("O-a", Some("O"), &[]),
        ];
        let shown: Vec<(usize, String)> = family_order(records)
            .into_iter()
            .map(|(d, r)| (d, r.run_id))
            .collect();
        let want = [
            (0, "Q"),
            (0, "P"),
            (1, "P-b"),
            (1, "P-a"),
            (2, "P-a-x"),
            (0, "O-a"),
        ];
        assert_eq!(shown, want.map(|(d, id)| (d, id.to_string())).to_vec());
    }

    #[test]
    fn short_ids_tell_runs_apart_and_id_times_read() {
        let ids: Vec<String> = [
            "20261130T123100967Z-3360",
            "20261130T123100968Z-aaaa",
            "20261130T150000000Z-bbbb",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(short_id(&ids, &ids[0]), "20261130T123100967");
        assert_eq!(short_id(&ids, &ids[1]), "20261130T123100968");
        assert_eq!(short_id(&ids, &ids[2]), "20261130T150000");
        assert_eq!(
            id_time(&ids[2]).map(|t| t.rfc3339()),
            Some("2026-11-30T15:00:00.000Z".to_string())
        );
        assert_eq!(id_time("x"), None);
        let now = crate::engine::time::Timestamp(10_000_000);
        assert_eq!(
            ago(crate::engine::time::Timestamp(10_000_000 - 5_000), now),
            "5 s ago"
        );
        assert_eq!(
            ago(crate::engine::time::Timestamp(10_000_000 - 7_200_000), now),
            "2 h ago"
        );
    }
}
