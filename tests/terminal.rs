//! On a real terminal (a tmux pane): what stays on screen after Ctrl-C, the
//! result table's width, and `dag status --watch` redrawing in place. Without
//! tmux these tests skip, except in CI, where a missing tmux fails them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{Env, Run, finish_within, kill, wait_for};

/// How long the screen may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(30);

/// A tmux server of its own (its socket in a temp dir) with one session, `t`,
/// whose pane runs `dag` as the harness's [`Env::cmd`] would: same directory,
/// same environment. A dead pane stays on screen until the server is killed.
struct Tmux {
    dir: tempfile::TempDir,
    /// The test's directory, where the pane's script and exit code are kept.
    work: PathBuf,
}

impl Tmux {
    /// A `cols` x `rows` pane running `dag ARGS`.
    fn start(env: &Env, cols: u16, rows: u16, args: &[&str]) -> Tmux {
        let tmux = Tmux {
            dir: tempfile::tempdir().unwrap(),
            work: env.path().to_path_buf(),
        };
        tmux.script(env, args, false);
        let (cols, rows) = (cols.to_string(), rows.to_string());
        // No user configuration; the pane's output stays once dag exits, with no
        // "Pane is dead" line.
        tmux.run(&[
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "set-option",
            "-g",
            "remain-on-exit-format",
            "",
            ";",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &cols,
            "-y",
            &rows,
            "-c",
            &env.path().display().to_string(),
            "sh pane.sh",
        ]);
        tmux
    }

    /// Writes the pane's script: `dag ARGS` with the harness's environment, its
    /// exit code written to `pane.code`. The shell catches SIGINT (so Ctrl-C
    /// reaches dag alone, with SIGINT's default disposition, and the shell lives
    /// on to write the code). `clear`: the screen and its history are cleared first.
    fn script(&self, env: &Env, args: &[&str], clear: bool) {
        let cmd = env.cmd(args);
        let mut s = String::from("trap : INT\n");
        if clear {
            s.push_str("printf '\\033[H\\033[2J\\033[3J'\n");
        }
        for (k, v) in cmd.get_envs() {
            let k = k.to_string_lossy();
            match v {
                Some(v) => s.push_str(&format!("export {k}={}\n", quote(&v.to_string_lossy()))),
                None => s.push_str(&format!("unset {k}\n")),
            }
        }
        s.push_str(&quote(&cmd.get_program().to_string_lossy()));
        for a in cmd.get_args() {
            s.push(' ');
            s.push_str(&quote(&a.to_string_lossy()));
        }
        s.push_str("\necho $? > pane.code\n");
        let _ = std::fs::remove_file(self.work.join("pane.code"));
        env.write("pane.sh", s);
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("s")
    }

    /// `tmux ARGS` on this server; its stdout.
    #[track_caller]
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(self.socket())
            .args(["-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// What the pane shows, a line per line of output as wide as it was
    /// written (a line longer than the pane, which the terminal wrapped at its
    /// edge, is joined again), trailing blanks and empty last lines dropped.
    ///
    /// tmux joins the rows it wrapped; but it also joins the lines that the
    /// progress display prints above its bars, which indicatif fills with blanks
    /// to the edge and follows without a newline. So a row of a joined line that
    /// ends in a blank ends a line.
    fn screen(&self) -> Vec<String> {
        let cols: usize = self
            .run(&["display-message", "-p", "-t", "t", "#{pane_width}"])
            .trim()
            .parse()
            .unwrap();
        let mut out = Vec::new();
        for joined in self.run(&["capture-pane", "-p", "-J", "-t", "t"]).lines() {
            let chars: Vec<char> = joined.chars().collect();
            let mut line = String::new();
            for row in chars.chunks(cols) {
                line.extend(row);
                if row.len() < cols || row.last() == Some(&' ') {
                    out.push(line.trim_end().to_string());
                    line.clear();
                }
            }
            if chars.is_empty() || !line.is_empty() {
                out.push(line.trim_end().to_string());
            }
        }
        lines(&out.join("\n"))
    }

    /// What the pane shows, row by row: as [`Tmux::screen`], but lines the
    /// terminal wrapped are not joined (each progress bar is a row of its own).
    fn rows(&self) -> Vec<String> {
        lines(&self.run(&["capture-pane", "-p", "-t", "t"]))
    }

    /// The pane's history and screen together.
    fn everything(&self) -> Vec<String> {
        lines(&self.run(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]))
    }

    /// Waits until the screen shows what `check` looks for; fails with the screen
    /// after [`PATIENCE`].
    #[track_caller]
    fn wait_screen(&self, what: &str, check: impl Fn(&[String]) -> bool) -> Vec<String> {
        self.wait_for(what, Tmux::screen, check)
    }

    /// As [`Tmux::wait_screen`], row by row.
    #[track_caller]
    fn wait_rows(&self, what: &str, check: impl Fn(&[String]) -> bool) -> Vec<String> {
        self.wait_for(what, Tmux::rows, check)
    }

    /// As [`Tmux::wait_screen`], with the history above the screen too.
    #[track_caller]
    fn wait_everything(&self, what: &str, check: impl Fn(&[String]) -> bool) -> Vec<String> {
        self.wait_for(what, Tmux::everything, check)
    }

    #[track_caller]
    fn wait_for(
        &self,
        what: &str,
        capture: fn(&Tmux) -> Vec<String>,
        check: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let mut screen = Vec::new();
        let seen = wait_for(PATIENCE, || {
            screen = capture(self);
            check(&screen)
        });
        assert!(
            seen,
            "the screen never showed {what}:\n{}",
            screen.join("\n")
        );
        screen
    }

    /// Waits for dag to exit and tmux to have read all it wrote (the pane is
    /// dead); its exit code.
    #[track_caller]
    fn wait_exit(&self) -> i32 {
        let code = self.work.join("pane.code");
        let done = wait_for(PATIENCE, || {
            code.exists()
                && self
                    .run(&["display-message", "-p", "-t", "t", "#{pane_dead}"])
                    .trim()
                    == "1"
        });
        assert!(done, "dag did not exit:\n{}", self.screen().join("\n"));
        std::fs::read_to_string(code)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Runs `dag ARGS` again in the pane, on a cleared screen.
    fn respawn(&self, env: &Env, args: &[&str]) {
        self.script(env, args, true);
        self.run(&["clear-history", "-t", "t"]);
        self.run(&["respawn-pane", "-k", "-t", "t", "sh pane.sh"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(self.socket())
            .arg("kill-server")
            .output();
    }
}

/// Whether tmux is there. Outside CI its absence skips a test, saying so; in CI
/// it fails it.
fn have_tmux() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "these tests need tmux on PATH (Debian's tmux; scripts/test.sh installs it), and CI is set"
    );
    eprintln!("skipped: no tmux on PATH, terminal tests not run");
    false
}

/// `s` in single quotes for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn lines(capture: &str) -> Vec<String> {
    let mut lines: Vec<String> = capture.lines().map(|l| l.trim_end().to_string()).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// Whether a line is one of the progress bars: the overall bar
/// (`00:00:03 [=====>    ] 1/4 3 running`) or a running task's spinner
/// (`  ⠙ slow1 3s`).
fn is_bar(line: &str) -> bool {
    let t = line.trim_start();
    let spinner = t
        .chars()
        .next()
        .is_some_and(|c| ('\u{2800}'..='\u{28ff}').contains(&c));
    let b = line.as_bytes();
    let clock = b.len() > 10
        && [0, 1, 3, 4, 6, 7].iter().all(|&i| b[i].is_ascii_digit())
        && b[2] == b':'
        && b[5] == b':'
        && &b[8..10] == b" [";
    spinner || clock
}

/// The lines wider than `cols` columns (every character here is one column wide).
fn wider_than(screen: &[String], cols: usize) -> Vec<&String> {
    screen.iter().filter(|l| l.chars().count() > cols).collect()
}

/// The screen's text on one line, runs of blanks made one space (a message that
/// was wrapped reads whole again).
fn flat(screen: &[String]) -> String {
    screen
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The result table's header rows.
fn headers(screen: &[String]) -> usize {
    screen
        .iter()
        .filter(|l| l.starts_with("│ task ") && l.contains("state"))
        .count()
}

fn show(screen: &[String]) -> String {
    screen.join("\n")
}

#[test]
fn ctrl_c_leaves_no_bars_and_says_what_it_stops() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    env.write(
        "long.yaml",
        "name: long\ntasks:\n  slow1: { command: 'sleep 120' }\n  slow2: { command: 'sleep 120' }\n  slow3: { command: 'sleep 120' }\n  after: { command: 'true', depends_on: [slow1, slow2, slow3] }\n",
    );
    let tmux = Tmux::start(&env, 120, 40, &["run", "long.yaml", "--parallel", "4"]);
    let bars = tmux.wait_rows("the bars of the three running tasks", |s| {
        ["slow1", "slow2", "slow3"]
            .iter()
            .all(|id| s.iter().any(|l| is_bar(l) && l.contains(id)))
            && s.iter().any(|l| is_bar(l) && l.contains("3 running"))
    });
    tmux.run(&["send-keys", "-t", "t", "C-c"]);
    let code = tmux.wait_exit();
    let screen = tmux.screen();
    assert_eq!(code, 130, "{}", show(&screen));
    let rows = tmux.rows();
    let left: Vec<&String> = rows.iter().filter(|l| is_bar(l)).collect();
    assert!(
        left.is_empty(),
        "progress bars left on screen: {left:?}\n--- the bars were\n{}\n--- the screen\n{}",
        show(&bars),
        show(&rows)
    );
    let text = flat(&screen);
    assert!(
        text.contains("dag: stopping: cancelling 3 running tasks")
            && text.contains("press Ctrl-C again to kill them now"),
        "{}",
        show(&screen)
    );
    assert_eq!(headers(&screen), 1, "{}", show(&screen));
    assert!(
        text.contains(" cancelled") && text.contains(": 4 cancelled"),
        "{}",
        show(&screen)
    );
    let wide = wider_than(&screen, 120);
    assert!(
        wide.is_empty(),
        "lines wider than 120 columns: {wide:#?}\n{}",
        show(&screen)
    );
}

#[test]
fn the_result_table_fits_the_terminal_as_it_is_resized() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    // Ids that alone make a table wider than either terminal.
    let ids = [
        "extract_every_customer_record_of_the_warehouse_for_the_whole_previous_quarter_and_stage_it",
        "transform_the_staged_customer_records_into_the_reporting_schema_with_currency_conversion",
        "load",
    ];
    env.write(
        "wide.yaml",
        format!(
            "name: wide\ntasks:\n  {}: {{ command: 'true' }}\n  {}: {{ command: 'true', depends_on: {} }}\n  {}: {{ command: 'true', depends_on: {} }}\n",
            ids[0], ids[1], ids[0], ids[2], ids[1]
        ),
    );
    let tmux = Tmux::start(&env, 120, 40, &["run", "wide.yaml"]);
    for cols in [120, 80] {
        if cols != 120 {
            tmux.run(&[
                "resize-window",
                "-t",
                "t",
                "-x",
                &cols.to_string(),
                "-y",
                "40",
            ]);
            assert_eq!(
                tmux.run(&["display-message", "-p", "-t", "t", "#{pane_width}"])
                    .trim(),
                cols.to_string()
            );
            tmux.respawn(&env, &["run", "wide.yaml"]);
        }
        assert_eq!(tmux.wait_exit(), 0, "{}", show(&tmux.screen()));
        let screen = tmux.screen();
        assert_eq!(headers(&screen), 1, "at {cols} columns:\n{}", show(&screen));
        assert!(
            flat(&screen).contains(" success: 3 success"),
            "at {cols} columns:\n{}",
            show(&screen)
        );
        let wide = wider_than(&screen, cols);
        assert!(
            wide.is_empty(),
            "lines wider than {cols} columns: {wide:#?}\n{}",
            show(&screen)
        );
    }
}

/// A run of `n` tasks `stepNN` that each wait for a file in `dir`: `go-N` when
/// they are a `chain` (each depending on the one before), else all `go-1`. (At
/// most a minute: a failed test leaves nothing running for long.)
fn gated_dag(env: &Env, dir: &Path, chain: bool, n: usize) {
    let mut yaml = String::from("name: gated\ntasks:\n");
    for i in 1..=n {
        let go = dir.join(format!("go-{}", if chain { i } else { 1 }));
        yaml.push_str(&format!(
            "  step{i:02}: {{ command: 'for i in $(seq 1200); do [ -e {} ] && exit 0; sleep 0.05; done; exit 1'",
            go.display()
        ));
        if chain && i > 1 {
            yaml.push_str(&format!(", depends_on: step{:02}", i - 1));
        }
        yaml.push_str(" }\n");
    }
    env.write("gated.yaml", yaml);
}

/// `dag run gated.yaml`, run off the terminal; stopped (SIGTERM) if the test
/// ends before it did.
struct Gated(Option<std::process::Child>);

impl Gated {
    #[track_caller]
    fn finish(mut self) -> Run {
        finish_within(self.0.take().unwrap(), PATIENCE, "dag run")
    }
}

impl Drop for Gated {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            kill(child.id(), "TERM");
            let _ = child.wait();
        }
    }
}

/// Starts `dag run gated.yaml` off the terminal and waits until the store has
/// the run.
fn start_gated(env: &Env, n: usize) -> Gated {
    let child = Gated(Some(env.spawn(&[
        "run",
        "gated.yaml",
        "--output",
        "quiet",
        "--parallel",
        &n.to_string(),
    ])));
    assert!(wait_for(PATIENCE, || {
        let runs = env.run(&["runs", "--output", "json"]);
        runs.code == 0 && runs.stdout.contains("\"run_id\"")
    }));
    child
}

/// Whether the screen shows task `id` in `state` in the table.
fn row(screen: &[String], id: &str, state: &str) -> bool {
    screen
        .iter()
        .any(|l| l.starts_with(&format!("│ {id} ")) && l.contains(&format!("┆ {state} ")))
}

#[test]
fn status_watch_redraws_the_table_in_place() {
    if !have_tmux() {
        return;
    }
    let env = Env::new();
    gated_dag(&env, env.path(), true, 3);
    let run = start_gated(&env, 3);
    let tmux = Tmux::start(&env, 120, 40, &["status", "--watch"]);
    // Each step in turn: the table shows it running, then it is let go.
    for i in 1..=3 {
        let id = format!("step{i:02}");
        tmux.wait_screen(&format!("{id} running"), |s| row(s, &id, "running"));
        env.write(&format!("go-{i}"), "");
    }
    assert_eq!(tmux.wait_exit(), 0, "{}", show(&tmux.screen()));
    let screen = tmux.screen();
    assert_eq!(
        headers(&tmux.everything()),
        1,
        "more than one table:\n{}",
        show(&screen)
    );
    let summaries = screen.iter().filter(|l| l.starts_with("run ")).count();
    assert_eq!(summaries, 1, "{}", show(&screen));
    assert!(
        flat(&screen).contains(" success: 3 success"),
        "{}",
        show(&screen)
    );
    run.finish().code(0);
}

#[test]
fn status_watch_on_a_short_terminal_keeps_one_table() {
    if !have_tmux() {
        return;
    }
    // 15 tasks: a table of 19 lines and a summary, in a terminal of 12 rows.
    let env = Env::new();
    gated_dag(&env, env.path(), false, 15);
    let run = start_gated(&env, 15);
    let tmux = Tmux::start(&env, 120, 12, &["status", "--watch"]);
    let shown = tmux.wait_everything("the run's first tasks running", |s| {
        row(s, "step01", "running") && row(s, "step02", "running")
    });
    let wide = wider_than(&shown, 120);
    assert!(wide.is_empty(), "{wide:#?}");
    env.write("go-1", "");
    assert_eq!(tmux.wait_exit(), 0, "{}", show(&tmux.screen()));
    let all = tmux.everything();
    assert_eq!(headers(&all), 1, "more than one table:\n{}", show(&all));
    // The last view is whole: every task, then the summary.
    for i in 1..=15 {
        assert!(
            row(&all, &format!("step{i:02}"), "success"),
            "{}",
            show(&all)
        );
    }
    let screen = tmux.screen();
    assert!(
        screen
            .last()
            .is_some_and(|l| l.contains(" success: 15 success")),
        "{}",
        show(&screen)
    );
    run.finish().code(0);
}
