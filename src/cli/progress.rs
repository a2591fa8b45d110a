//! Live progress on stderr, as an [`Observer`] of run events: indicatif bars on a
//! terminal (an overall bar and a line per running task), otherwise one plain,
//! timestamped line per state change.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::text::format_ms;
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
    Plain(Mutex<()>),
    /// Terminal bars.
    Bars(Box<Bars>),
}

/// The bar state of a terminal display.
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    tasks: Mutex<BarState>,
}

/// Bars of running tasks and running totals, so that an event costs O(1).
#[derive(Default)]
pub struct BarState {
    bars: HashMap<usize, ProgressBar>,
    done: u64,
    failed: u64,
}

impl Progress {
    /// Bars on a terminal, plain lines otherwise.
    pub fn new(bars: bool, total: usize) -> Progress {
        if !bars {
            return Progress::Plain(Mutex::new(()));
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise:.dim} [{bar:30.cyan/blue}] {pos}/{len} {msg} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        overall.enable_steady_tick(Duration::from_millis(200));
        Progress::Bars(Box::new(Bars {
            multi,
            overall,
            tasks: Mutex::new(BarState::default()),
        }))
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

    /// Shows a warning above the bars (or as a plain line), even when progress is
    /// silenced.
    pub fn warn(&self, text: &str) {
        let text = format!("warning: {text}");
        match self {
            Progress::Bars(b) => {
                let _ = b.multi.println(text);
            }
            _ => super::output::eprint(&format!("{text}\n")),
        }
    }

    /// Removes the bars before the result table is printed.
    pub fn finish(&self) {
        if let Progress::Bars(b) = self {
            let bars = b
                .tasks
                .lock()
                .map(|mut t| std::mem::take(&mut t.bars))
                .unwrap_or_default();
            for (_, bar) in bars {
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
                Some(r) => format!("{} {} {state}: {r}", clock(*at), id(*task)),
                None => format!("{} {} {state}", clock(*at), id(*task)),
            },
        },
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
            ..
        } => {
            let started = record.tasks[*task]
                .attempts
                .iter()
                .find(|a| a.attempt == *attempt)
                .map(|a| a.started_at)
                .unwrap_or(*at);
            let took = format_ms(started.until(*at).as_millis() as u64);
            let mut line = format!("{} {} {state} in {took}", clock(*at), id(*task));
            if let Some(e) = error {
                line.push_str(&format!(": {e}"));
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
            Progress::Plain(lock) => {
                if let Some(line) = plain_line(record, event) {
                    let _guard = lock.lock();
                    let _ = writeln!(std::io::stderr(), "{line}");
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
            if matches!(state, TaskState::Failed | TaskState::UpstreamFailed) {
                st.failed += 1;
            }
        }
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
            // The instances of a list read at run time join the total.
            Event::TaskMapped { .. } => self.overall.set_length(record.tasks.len() as u64),
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
        self.overall.set_position(st.done);
        let mut msg = format!("running {}", st.bars.len());
        if st.failed > 0 {
            msg.push_str(&format!(", failed {}", st.failed));
        }
        self.overall.set_message(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::fixtures::sample;
    use crate::engine::validate::{LoadOptions, load_str};

    #[test]
    fn plain_progress_lines() {
        let (done, events) = sample();
        let dag = load_str(
            "s.yaml",
            "name: sample\nparams: {day: d1}\ntasks:\n  a: {command: x}\n  b: {command: y, retries: 1}\n  c: {command: z, depends_on: b}\n  d: {command: w}\n",
            &LoadOptions::default(),
        )
        .unwrap();
        let mut r = RunRecord::new(done.run_id.clone(), &dag, "s.yaml".into());
        let mut lines = Vec::new();
        for e in &events {
            r.apply(e).unwrap();
            if let Some(l) = plain_line(&r, e) {
                lines.push(l);
            }
        }
        insta::assert_snapshot!(lines.join("\n"));
    }
}
