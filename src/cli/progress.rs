//! Live progress on stderr, as an [`Observer`] of run events: indicatif bars on a
//! terminal (an overall bar and a line per running task), otherwise one plain,
//! timestamped line per state change.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use super::eta::{Eta, History};
use super::text::{StateCounts, format_ms};
use crate::engine::text::printable;

use crate::engine::events::Event;
use crate::engine::executor::Observer;
use crate::engine::record::RunRecord;
use crate::engine::state::TaskState;
use crate::engine::time::Timestamp;

/// Progress display for one run.
pub enum Progress {
    /// Nothing (`--output quiet`).
    Silent,
    /// Plain lines on stderr.
    Plain(Mutex<Groups>),
    /// Terminal bars.
    Bars(Box<Bars>),
}

/// The bar state of a terminal display.
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    tasks: Mutex<BarState>,
    /// The estimate of the time left, which the overall bar redraws each tick.
    eta: Arc<Mutex<Eta>>,
    /// Whether bars are drawn (see [`BarTerm`]); off once they are being removed.
    drawn: Arc<AtomicBool>,
    /// How many tasks the bars show running, read without taking a lock.
    running: AtomicUsize,
}

/// The terminal the bars are drawn on: standard error, each draw written at once.
///
/// After a draw the cursor is put back at the start of the bars' last line
/// (`\r`), not left past its end, where the terminal holds it until it wraps
/// (indicatif fills each line to the terminal's width). There, the `^C` that
/// the terminal echoes when Ctrl-C is pressed would wrap onto a new line: the
/// cursor would be one line below where the bars believe they end, every later
/// redraw would start a line too low, and the top bar would stay on screen after
/// the bars are cleared. At the start of the line the echo lands on the bars' last
/// line, which the next draw clears.
///
/// Only while bars are drawn: from the overall bar's first draw (in
/// [`Progress::new`], before anything can be printed above it) until
/// [`Progress::finish`], every draw ends with a bar (lines printed above the bars
/// come first). After a draw of lines of text alone, `\r` would let the next
/// output overwrite the last of them.
#[derive(Debug)]
struct BarTerm {
    buffer: Mutex<Vec<u8>>,
    drawn: Arc<AtomicBool>,
}

impl BarTerm {
    fn put(&self, text: &str) -> std::io::Result<()> {
        if let Ok(mut b) = self.buffer.lock() {
            b.extend_from_slice(text.as_bytes());
        }
        Ok(())
    }

    /// Standard error's size: columns, rows.
    fn size() -> (u16, u16) {
        terminal_size::terminal_size_of(std::io::stderr())
            .map_or((80, 24), |(w, h)| (w.0.max(1), h.0.max(1)))
    }

    fn moved(&self, n: usize, code: char) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}{code}"))
    }
}

impl TermLike for BarTerm {
    fn width(&self) -> u16 {
        BarTerm::size().0
    }

    fn height(&self) -> u16 {
        BarTerm::size().1
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.moved(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.moved(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.moved(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.moved(n, 'D')
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(s)?;
        self.put("\n")
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        let mut bytes = match self.buffer.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => return Ok(()),
        };
        if bytes.is_empty() {
            return Ok(());
        }
        if self.drawn.load(Ordering::SeqCst) {
            bytes.push(b'\r');
        }
        let mut err = std::io::stderr().lock();
        err.write_all(&bytes)?;
        err.flush()
    }
}

/// Bars of running tasks and running totals, so that an event costs O(1).
#[derive(Default)]
pub struct BarState {
    bars: HashMap<usize, ProgressBar>,
    done: u64,
    /// The tasks that ended other than in success, by state (the bar says them
    /// as the summary does: `1 failed, 1 upstream_failed`).
    not_ok: super::text::StateCounts,
    groups: Groups,
}

/// Mapped tasks with more instances than this show as one line (or bar) that
/// counts them, not a line per instance.
pub const GROUP_ABOVE: usize = 20;

/// The large mapped tasks of a run, whose instances progress shows together.
#[derive(Default)]
pub struct Groups {
    /// Tasks in the run (instances of mapped tasks read at run time join later).
    pub total: usize,
    /// Group of each instance shown together, by task index.
    of: HashMap<usize, usize>,
    groups: Vec<Group>,
    /// Instances of every mapped task (shown together or not), by its id: a list
    /// read at run time adds to them.
    sizes: HashMap<String, usize>,
}

/// Where the instances of one mapped task stand.
struct Group {
    name: String,
    total: usize,
    ended: usize,
    /// Ended instances by final state.
    by_state: StateCounts,
    running: usize,
    /// When its last plain line was printed.
    said: Option<std::time::Instant>,
    bar: Option<ProgressBar>,
}

impl Group {
    fn count_end(&mut self, state: TaskState) {
        self.ended += 1;
        self.by_state.add(state);
    }
}

/// How often a plain line about a group may be printed while its instances run.
const GROUP_LINE_EVERY: Duration = Duration::from_secs(2);

impl Groups {
    /// The tasks of `dag`, its mapped tasks of more than [`GROUP_ABOVE`] instances
    /// shown together.
    pub fn of(dag: &crate::engine::graph::Dag) -> Groups {
        let mut g = Groups {
            total: dag.len(),
            ..Groups::default()
        };
        let mut named: Vec<(&String, &Vec<usize>)> = dag.groups.iter().collect();
        named.sort_unstable();
        for (name, members) in named {
            g.sizes.insert(name.clone(), members.len());
            g.add(name, members.iter().copied());
        }
        g
    }

    /// The instances of the mapped task `task` after it expanded into `instances`:
    /// those it adds are the last tasks of the record; when its group grows past
    /// [`GROUP_ABOVE`], its earlier instances are looked up once.
    fn expanded(&mut self, record: &RunRecord, task: usize, instances: usize) {
        self.total = record.tasks.len();
        let name = record.tasks[task].id.to_string();
        let had = self.sizes.insert(name.clone(), instances).unwrap_or(0);
        if instances <= GROUP_ABOVE {
            return;
        }
        let added = instances.saturating_sub(had);
        let new = record.tasks.len().saturating_sub(added)..record.tasks.len();
        let grouped = self.groups.iter().any(|g| g.name == name);
        if grouped || had == 0 {
            self.add_all(&name, new);
            return;
        }
        let earlier: Vec<usize> = (0..new.start)
            .filter(|&i| crate::engine::fanout::instance_group(&record.tasks[i].id) == Some(&name))
            .collect();
        self.add_all(&name, earlier.into_iter().chain(new));
    }

    /// Counts what has ended already (a retried run's instances that succeeded
    /// before): the record as the run starts.
    fn count_ended(&mut self, record: &RunRecord) {
        for g in &mut self.groups {
            (g.ended, g.running) = (0, 0);
            g.by_state = StateCounts::default();
        }
        for (&task, &at) in &self.of {
            let state = record.tasks.get(task).map(|t| t.state);
            if let Some(state) = state.filter(|s| s.is_terminal()) {
                self.groups[at].count_end(state);
            }
        }
    }

    fn add(&mut self, name: &str, members: impl ExactSizeIterator<Item = usize>) {
        if members.len() <= GROUP_ABOVE {
            return;
        }
        self.add_all(name, members);
    }

    fn add_all(&mut self, name: &str, members: impl Iterator<Item = usize>) {
        let at = match self.groups.iter().position(|g| g.name == name) {
            Some(at) => at,
            None => {
                self.groups.push(Group {
                    name: name.to_string(),
                    total: 0,
                    ended: 0,
                    by_state: StateCounts::default(),
                    running: 0,
                    said: None,
                    bar: None,
                });
                self.groups.len() - 1
            }
        };
        for m in members {
            if self.of.insert(m, at).is_none() {
                self.groups[at].total += 1;
            }
        }
    }

    /// Follows `event`; says whether it concerns an instance shown with its
    /// group (and so needs no line of its own unless it failed).
    fn follow(&mut self, record: &RunRecord, event: &Event) -> Option<usize> {
        match event {
            Event::TaskMapped {
                task, instances, ..
            } => {
                self.expanded(record, *task, *instances);
                return None;
            }
            Event::RunStarted { .. } => {
                self.count_ended(record);
                return None;
            }
            _ => {}
        }
        let (task, ended) = match event {
            Event::AttemptStarted { task, .. } => (*task, None),
            Event::AttemptFinished { task, state, .. } => (*task, Some(*state)),
            Event::TaskState { task, state, .. } => (*task, Some(*state)),
            _ => return None,
        };
        let at = *self.of.get(&task)?;
        let g = &mut self.groups[at];
        match event {
            Event::AttemptStarted { .. } => g.running += 1,
            Event::AttemptFinished { .. } => g.running = g.running.saturating_sub(1),
            _ => {}
        }
        if let Some(state) = ended.filter(|s| s.is_terminal()) {
            g.count_end(state);
        }
        Some(at)
    }

    /// `convert: 1200 of 10000 ended (1190 success, 10 failed), 8 running`.
    fn line(&self, at: usize) -> String {
        let g = &self.groups[at];
        let mut line = format!("{}: {} of {} ended", g.name, g.ended, g.total);
        if !g.by_state.is_empty() {
            line.push_str(&format!(" ({})", g.by_state));
        }
        if g.running > 0 {
            line.push_str(&format!(", {} running", g.running));
        }
        line
    }

    /// The plain line about group `at` after one of its instances changed, at
    /// most every [`GROUP_LINE_EVERY`] until all of them ended.
    fn due_line(&mut self, at: usize, now: std::time::Instant) -> Option<String> {
        let g = &self.groups[at];
        let done = g.ended >= g.total;
        let due = g
            .said
            .is_none_or(|t| now.duration_since(t) >= GROUP_LINE_EVERY);
        if !(done || due) {
            return None;
        }
        self.groups[at].said = Some(now);
        Some(self.line(at))
    }
}

/// Whether an event about an instance shown with its group still gets a line of
/// its own: failures do.
fn stands_out(event: &Event) -> bool {
    matches!(
        event,
        Event::AttemptFinished {
            state: TaskState::Failed | TaskState::UpForRetry,
            ..
        }
    )
}

impl Progress {
    /// Bars on a terminal, plain lines otherwise.
    pub fn new(bars: bool, groups: Groups) -> Progress {
        let total = groups.total;
        if !bars {
            return Progress::Plain(Mutex::new(groups));
        }
        let drawn = Arc::new(AtomicBool::new(true));
        let term = BarTerm {
            buffer: Mutex::new(Vec::new()),
            drawn: drawn.clone(),
        };
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::term_like_with_hz(
            Box::new(term),
            10,
        ));
        let overall = multi.add(ProgressBar::new(total as u64));
        let eta = Arc::new(Mutex::new(Eta::default()));
        let estimate = eta.clone();
        overall.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise:.dim} [{bar:30.cyan/blue}] {pos}/{len} {msg}{left}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key(
                "left",
                move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let left = estimate.lock().ok().and_then(|e| e.left(state.elapsed()));
                    if let Some(left) = left {
                        let _ = write!(w, ", about {} left", format_ms(left.as_millis() as u64));
                    }
                },
            )
            .progress_chars("=> "),
        );
        overall.enable_steady_tick(Duration::from_millis(200));
        // Drawn now, not on the ticker's first tick: from here on every draw
        // ends with a bar (see `BarTerm`).
        overall.tick();
        Progress::Bars(Box::new(Bars {
            multi,
            overall,
            tasks: Mutex::new(BarState {
                groups,
                ..BarState::default()
            }),
            eta,
            drawn,
            running: AtomicUsize::new(0),
        }))
    }

    /// Looks up, off the run's thread, how long the same DAG's earlier runs took,
    /// for the bar's estimate (bars only: plain lines give none). `dag` names the
    /// DAG, or is `None` to read it from the record of `run` (a retry).
    pub fn learn_from(
        &self,
        store: Arc<dyn crate::engine::store::StateStore>,
        dag: Option<String>,
        run: Option<String>,
    ) {
        let Progress::Bars(b) = self else {
            return;
        };
        let eta = b.eta.clone();
        let _ = std::thread::Builder::new()
            .name("dag-eta".into())
            .spawn(move || {
                let dag = dag.or_else(|| Some(store.load_run(&run?).ok()?.dag));
                if let Some(history) = dag.and_then(|d| History::of(store.as_ref(), &d))
                    && let Ok(mut e) = eta.lock()
                {
                    e.learn(history);
                }
            });
    }

    /// Prints a line of task output (`-v`) above the bars.
    pub fn output_line(&self, task: &str, line: &str) {
        let text = format!("{task} | {}", printable(line));
        match self {
            // `-v` asks for the output even when progress is silenced.
            Progress::Silent => {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
            Progress::Plain(lock) => {
                let _guard = lock.lock();
                let _ = writeln!(std::io::stderr(), "{text}");
            }
            Progress::Bars(b) => {
                let _ = b.multi.println(text);
            }
        }
    }

    /// Shows a warning above the bars (wrapped to the terminal's width), or as a
    /// plain line, even when progress is silenced.
    pub fn warn(&self, text: &str) {
        let text = format!("warning: {text}");
        match self {
            Progress::Bars(b) => {
                let _ = b
                    .multi
                    .println(super::text::wrap(&text, BarTerm::size().0.into()));
            }
            _ => super::output::eprint(&format!("{text}\n")),
        }
    }

    /// Says what `dag` does about a signal: above the bars (which are then
    /// cleared at the end as always, not torn by a line written through them),
    /// wrapped to the terminal's width, else as a line.
    pub fn say(&self, text: &str) {
        match self {
            Progress::Bars(b) => {
                let _ = b
                    .multi
                    .println(super::text::wrap(text, BarTerm::size().0.into()));
            }
            _ => super::output::eprint(&format!("{text}\n")),
        }
    }

    /// How many tasks the bars show running, when bars are shown. Never waits
    /// (a signal handler asks, before it stops them).
    pub fn running(&self) -> Option<usize> {
        match self {
            Progress::Bars(b) => Some(b.running.load(Ordering::SeqCst)),
            _ => None,
        }
    }

    /// Removes the bars before the result table is printed.
    pub fn finish(&self) {
        if let Progress::Bars(b) = self {
            // From here on a draw may end with a line of text (see `BarTerm`).
            b.drawn.store(false, Ordering::SeqCst);
            let bars: Vec<ProgressBar> = b
                .tasks
                .lock()
                .map(|mut t| {
                    let mut bars: Vec<ProgressBar> =
                        std::mem::take(&mut t.bars).into_values().collect();
                    bars.extend(t.groups.groups.iter_mut().filter_map(|g| g.bar.take()));
                    bars
                })
                .unwrap_or_default();
            for bar in bars {
                bar.finish_and_clear();
            }
            b.overall.finish_and_clear();
            let _ = b.multi.clear();
        }
    }
}

fn clock(at: Timestamp) -> String {
    // HH:MM:SS.mmm of the RFC 3339 form.
    let s = at.rfc3339();
    s.get(11..23).unwrap_or(&s).to_string()
}

/// The plain line for an event, if it is one users see.
pub fn plain_line(record: &RunRecord, event: &Event) -> Option<String> {
    let id = |t: usize| record.tasks[t].id.as_str();
    Some(match event {
        Event::RunStarted { at, .. } => format!(
            "{} run {} of {} started: {} tasks",
            clock(*at),
            record.run_id,
            record.dag,
            record.tasks.len()
        ),
        Event::TaskState {
            task,
            state,
            at,
            reason,
        } => match state {
            TaskState::Queued | TaskState::Pending => return None,
            _ => match reason {
                Some(r) => format!("{} {} {state}: {}", clock(*at), id(*task), printable(r)),
                None => format!("{} {} {state}", clock(*at), id(*task)),
            },
        },
        Event::TaskWaiting { task, at, reason } => {
            if reason.is_empty() {
                return None;
            }
            format!("{} {} {}", clock(*at), id(*task), printable(reason))
        }
        Event::ChildRun { task, run, at } => {
            format!("{} {} runs sub-DAG run {run}", clock(*at), id(*task))
        }
        Event::AttemptStarted {
            task, attempt, at, ..
        } => {
            if *attempt == 1 {
                format!("{} {} running", clock(*at), id(*task))
            } else {
                format!("{} {} running (attempt {attempt})", clock(*at), id(*task))
            }
        }
        Event::AttemptFinished {
            task,
            attempt,
            at,
            state,
            error,
            retry_in_ms,
            cached,
            ..
        } => {
            // The time the attempt ran, and apart the time it waited for a worker.
            let (started, queued) = record.tasks[*task]
                .attempts
                .iter()
                .find(|a| a.attempt == *attempt)
                .map(|a| (a.started_at, a.queued_ms()))
                .unwrap_or((*at, 0));
            let ran = (started.until(*at).as_millis() as u64).saturating_sub(queued);
            let how = if *cached { " (cached)" } else { "" };
            let mut line = format!(
                "{} {} {state}{how} in {}",
                clock(*at),
                id(*task),
                format_ms(ran)
            );
            if queued > 0 {
                line.push_str(&format!(" (queued {})", format_ms(queued)));
            }
            if let Some(e) = error {
                line.push_str(&format!(": {}", printable(e)));
            }
            if let Some(ms) = retry_in_ms {
                line.push_str(&format!(" (retry in {})", format_ms(*ms)));
            }
            line
        }
        Event::AttemptPlaced {
            task,
            host,
            worker,
            delivery,
            at,
            ..
        } => {
            if *delivery > 1 {
                format!(
                    "{} {} picked up again by {worker} on {host} (delivery {delivery}: the previous worker was lost)",
                    clock(*at),
                    id(*task)
                )
            } else {
                format!(
                    "{} {} picked up by {worker} on {host}",
                    clock(*at),
                    id(*task)
                )
            }
        }
        Event::TaskMapped {
            task,
            instances,
            at,
        } => format!(
            "{} {} expanded into {instances} instance{}",
            clock(*at),
            id(*task),
            if *instances == 1 { "" } else { "s" }
        ),
        Event::DuplicateResult {
            task,
            attempt,
            at,
            worker,
            delivery,
        } => format!(
            "{} {} attempt {attempt}: fenced a duplicate result from worker {} (delivery {delivery}; the attempt's result was recorded already)",
            clock(*at),
            id(*task),
            printable(worker)
        ),
        Event::RunRetried { at, tasks } => format!(
            "{} run {} retried: {} task{} start over",
            clock(*at),
            record.run_id,
            tasks.len(),
            if tasks.len() == 1 { "" } else { "s" }
        ),
        Event::RunFinished { state, at, reason } => format!(
            "{} run {} {state}{}",
            clock(*at),
            record.run_id,
            reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    })
}

impl Observer for Progress {
    fn on_event(&self, record: &RunRecord, event: &Event) {
        match self {
            Progress::Silent => {}
            Progress::Plain(groups) => {
                let Ok(mut groups) = groups.lock() else {
                    return;
                };
                let grouped = groups.follow(record, event);
                let mut err = std::io::stderr().lock();
                if (grouped.is_none() || stands_out(event))
                    && let Some(line) = plain_line(record, event)
                {
                    let _ = writeln!(err, "{line}");
                }
                // Queued is not news: starts and ends are.
                let news = !matches!(event, Event::TaskState { state, .. } if !state.is_terminal());
                if let Some(at) = grouped.filter(|_| news)
                    && let Some(line) = groups.due_line(at, std::time::Instant::now())
                {
                    let at = match event {
                        Event::AttemptFinished { at, .. } | Event::TaskState { at, .. } => *at,
                        _ => Timestamp::now(),
                    };
                    let _ = writeln!(err, "{} {line}", clock(at));
                }
            }
            Progress::Bars(b) => b.on_event(record, event),
        }
    }
}

impl Bars {
    fn on_event(&self, record: &RunRecord, event: &Event) {
        let Ok(mut st) = self.tasks.lock() else {
            return;
        };
        let terminal = match event {
            Event::TaskState { state, .. } | Event::AttemptFinished { state, .. } => {
                Some(*state).filter(|s| s.is_terminal())
            }
            _ => None,
        };
        if let Some(state) = terminal {
            st.done += 1;
            if state != TaskState::Success {
                st.not_ok.add(state);
            }
        }
        if let Some(at) = st.groups.follow(record, event) {
            self.group_bar(&mut st, at);
            if stands_out(event)
                && let Some(line) = plain_line(record, event)
            {
                let _ = self.multi.println(line);
            }
        } else {
            self.task_bar(&mut st, record, event);
        }
        if let Event::TaskMapped { .. } = event {
            // The instances of a list read at run time join the total.
            self.overall.set_length(record.tasks.len() as u64);
        }
        self.overall.set_position(st.done);
        let running = st.bars.len() + st.groups.groups.iter().map(|g| g.running).sum::<usize>();
        self.running.store(running, Ordering::SeqCst);
        let mut msg = format!("{running} running");
        if !st.not_ok.is_empty() {
            msg.push_str(&format!(", {}", st.not_ok));
        }
        if let Ok(mut eta) = self.eta.lock() {
            let ended = match event {
                Event::TaskState { task, .. } | Event::AttemptFinished { task, .. }
                    if terminal.is_some() =>
                {
                    Some(*task)
                }
                _ => None,
            };
            let at = (
                self.overall.elapsed(),
                st.done,
                self.overall.length().unwrap_or(0),
            );
            eta.follow(record, ended, matches!(event, Event::TaskMapped { .. }), at);
        }
        // The estimate of the time left follows (the `left` key of the style).
        self.overall.set_message(msg);
    }

    /// The one bar of a group of instances: created by its first start, gone
    /// once every instance ended.
    fn group_bar(&self, st: &mut BarState, at: usize) {
        let line = st.groups.line(at);
        let g = &mut st.groups.groups[at];
        if g.ended >= g.total {
            if let Some(bar) = g.bar.take() {
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
            return;
        }
        let bar = g.bar.get_or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {spinner:.green} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        bar.set_message(line);
    }

    /// The bar of one running task.
    fn task_bar(&self, st: &mut BarState, record: &RunRecord, event: &Event) {
        match event {
            Event::AttemptStarted { task, attempt, .. } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "  {spinner:.green} {prefix} {elapsed:.dim} {msg:.dim}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(record.tasks[*task].id.clone());
                if *attempt > 1 {
                    bar.set_message(format!("attempt {attempt}"));
                }
                bar.enable_steady_tick(Duration::from_millis(120));
                st.bars.insert(*task, bar);
            }
            Event::AttemptFinished { task, state, .. } => {
                if let Some(bar) = st.bars.remove(task) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                if *state == TaskState::Failed
                    && let Some(line) = plain_line(record, event)
                {
                    let _ = self.multi.println(line);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::fixtures::{sample, sample_dag};

    #[test]
    fn plain_progress_lines() {
        let (done, events) = sample();
        let mut r = RunRecord::new(done.run_id.clone(), &sample_dag(), "s.yaml".into());
        let mut lines = Vec::new();
        for e in &events {
            r.apply(e).unwrap();
            if let Some(l) = plain_line(&r, e) {
                lines.push(l);
            }
        }
        insta::assert_snapshot!(lines.join("\n"));
    }

    /// An attempt that waited for a worker ends "in" the time it ran, the wait
    /// apart.
    #[test]
    fn an_attempt_s_line_keeps_the_wait_for_a_worker_apart() {
        let (done, events) = sample();
        let mut r = RunRecord::new(done.run_id.clone(), &sample_dag(), "s.yaml".into());
        let mut lines = Vec::new();
        for e in &events {
            r.apply(e).unwrap();
            if let Event::AttemptStarted {
                task: 0,
                attempt,
                at,
                ..
            } = e
            {
                // `a` (1.5s) waits 1.2s for worker w1.
                let placed = Event::AttemptPlaced {
                    task: 0,
                    attempt: *attempt,
                    at: Timestamp(at.0 + 1200),
                    host: "h1".into(),
                    worker: "w1".into(),
                    delivery: 1,
                };
                r.apply(&placed).unwrap();
            }
            if let Some(l) = plain_line(&r, e) {
                lines.push(l);
            }
        }
        let all = lines.join("\n");
        assert!(all.contains(" a success in 300ms (queued 1.2s)"), "{all}");
        assert!(!all.contains(" b failed in 50ms (queued"), "{all}");
    }
}
