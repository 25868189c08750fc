//! The live view read off a real terminal: `sabench load` runs in a tmux pane (its own
//! tmux server, on its own socket), and `tmux capture-pane` reads the screen. Drawn, the
//! view moves from one second to the next and shows a rate and a percentile; `q` stops
//! the run as Ctrl-C does. With stdout piped, or under `CI`, the same command prints the
//! plain lines and writes no escape code. Skipped with a message where tmux is missing;
//! under `CI=true` that fails (`.ci/run` installs it with scripts/install-tmux.sh).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::targets::Target;

/// A tmux server of this test's own, with one session running a command; killed when
/// dropped.
struct Pane {
    socket: String,
}

impl Pane {
    /// Runs `command` (a shell line) in a 120 × 40 pane.
    fn run(name: &str, command: &str) -> Self {
        let pane = Self {
            socket: format!("sabench-test-{}-{name}", std::process::id()),
        };
        let status = pane
            .tmux()
            .args(["new-session", "-d", "-x", "120", "-y", "40", command])
            .status()
            .unwrap();
        assert!(status.success(), "tmux could not start: {command}");
        pane
    }

    fn tmux(&self) -> Command {
        let mut tmux = Command::new("tmux");
        tmux.args(["-L", &self.socket]);
        tmux
    }

    /// The pane's screen now, with the lines scrolled off it.
    fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-S", "-100"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        self.tmux().args(["send-keys", keys]).status().unwrap();
    }

    /// Waits (at most `bound`) until the screen shows `text`; the screen then.
    fn wait_for(&self, text: &str, bound: Duration) -> String {
        let deadline = Instant::now() + bound;
        loop {
            let screen = self.screen();
            if screen.contains(text) || Instant::now() > deadline {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

fn have_tmux() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    assert!(
        !common::in_ci(),
        "tmux is not installed: run scripts/install-tmux.sh (CI installs it)"
    );
    eprintln!("skipped: tmux is not installed (scripts/install-tmux.sh installs Debian's)");
    false
}

/// The shell line that runs `sabench load` on `url` with `args`, then writes its exit
/// status to `status` and keeps the pane open to be read.
fn load_line(env: &str, url: &str, args: &str, status: &Path) -> String {
    format!(
        "{env} '{}' load '{url}' --rate 200 -c 4 {args}; echo \"exit $?\" > '{}'; sleep 120",
        env!("CARGO_BIN_EXE_sabench"),
        status.display()
    )
}

/// Waits (at most 30 s) for the command's exit status.
fn exit_status(status: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(status) {
            if text.ends_with('\n') {
                return text.trim().to_string();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("sabench load did not end within 30 s");
}

fn temp(name: &str) -> PathBuf {
    common::runs::temp_dir(name)
}

#[test]
fn on_a_terminal_the_live_view_moves_shows_a_rate_and_a_percentile_and_q_stops_it() {
    if !have_tmux() {
        return;
    }
    let target = Target::delayed(Duration::from_millis(1));
    let dir = temp("live-view");
    let (status, json) = (dir.join("status"), dir.join("load.json"));
    let args = format!("-d 30s --json '{}'", json.display());
    let pane = Pane::run(
        "view",
        &load_line("env -u CI", &target.url("/"), &args, &status),
    );
    let first = pane.wait_for("rate: ok ", Duration::from_secs(15));
    assert!(first.contains("rate: ok "), "no rate on the view:\n{first}");
    // Two captures a second and a half apart: the view moved.
    let first = pane.wait_for("second 2 of the window done", Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(1500));
    let second = pane.screen();
    assert_ne!(first, second, "the view did not move:\n{second}");
    assert!(second.contains("/s"), "no rate:\n{second}");
    assert!(second.contains("p99"), "no percentile:\n{second}");
    let window = second
        .lines()
        .find(|line| line.contains("window ok"))
        .unwrap_or_else(|| panic!("no window row:\n{second}"));
    assert!(
        window.chars().any(|c| c.is_ascii_digit()),
        "the window's percentiles are not measured yet:\n{second}"
    );
    assert!(second.contains("open loop, 200 req/s"), "{second}");
    assert!(second.contains("generator lag p99"), "{second}");
    assert!(second.contains("connections open"), "{second}");
    pane.keys("q");
    assert_eq!(exit_status(&status), "exit 130", "q stops as Ctrl-C does");
    let after = pane.screen();
    assert!(
        after.contains("achieved"),
        "the report follows the view:\n{after}"
    );
    assert!(after.contains("the live view drew"), "{after}");
    assert!(after.contains("interrupted"), "{after}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["requests"]["ok"].as_u64().unwrap() > 0);
}

#[test]
fn piped_or_under_ci_the_same_command_prints_plain_lines() {
    if !have_tmux() {
        return;
    }
    let target = Target::delayed(Duration::from_millis(1));
    let dir = temp("live-view-plain");
    // stdout to a file: the report there has no escape code; stderr, still the pane's
    // terminal, has the per-second lines.
    let (status, out) = (dir.join("status-piped"), dir.join("stdout.txt"));
    let args = format!("-d 2s > '{}'", out.display());
    let pane = Pane::run(
        "piped",
        &load_line("env -u CI", &target.url("/"), &args, &status),
    );
    assert_eq!(exit_status(&status), "exit 0");
    let report = std::fs::read_to_string(&out).unwrap();
    assert!(report.contains("achieved"), "{report}");
    assert!(!report.contains('\u{1b}'), "escape codes in {report:?}");
    let screen = pane.screen();
    assert!(screen.contains("[   1 s] sent"), "{screen}");
    assert!(!screen.contains("q or Ctrl-C"), "{screen}");
    // CI set, on a terminal: the plain lines too.
    let status = dir.join("status-ci");
    let pane = Pane::run(
        "ci",
        &load_line("env CI=true", &target.url("/"), "-d 2s", &status),
    );
    assert_eq!(exit_status(&status), "exit 0");
    let screen = pane.screen();
    assert!(screen.contains("[   1 s] sent"), "{screen}");
    assert!(screen.contains("achieved"), "{screen}");
    assert!(!screen.contains("the live view drew"), "{screen}");
}

#[test]
fn a_watched_run_shows_its_cell_and_the_cells_done_and_keeps_them() {
    if !have_tmux() {
        return;
    }
    let dir = temp("live-view-run");
    let scenario = common::runs::write_scenario(
        &dir,
        r#"
name = "watched"
description = "Two cells of /io, for the live view."
duration = "2s"
warmup = "200ms"
repetitions = 1

[[styles]]
style = "async"
workers = [1]

[[workloads]]
route = "io"
io_calls = 1
io_latency = "5ms"
io_mode = "sleep"
connections = [4, 8]
"#,
    );
    let status = dir.join("status");
    let line = format!(
        "env -u CI '{}' run '{}' --out '{}'; echo \"exit $?\" > '{}'; sleep 120",
        env!("CARGO_BIN_EXE_sabench"),
        scenario.display(),
        dir.join("results").display(),
        status.display()
    );
    let pane = Pane::run("run", &line);
    let during = pane.wait_for("rate: ok ", Duration::from_secs(30));
    assert!(during.contains("sabench run"), "{during}");
    assert!(
        during.contains(" of 2: io async"),
        "no current cell:\n{during}"
    );
    let later = pane.wait_for("cell 2 of 2", Duration::from_secs(30));
    assert!(later.contains("1 done"), "no cells done:\n{later}");
    assert!(later.contains("left"), "no time left:\n{later}");
    assert!(
        later.contains("[1/2] io async"),
        "no finished cell in the log:\n{later}"
    );
    assert_eq!(exit_status(&status), "exit 0");
    let after = pane.screen();
    assert!(
        after.contains("[2/2] io async"),
        "the cells' lines follow the view:\n{after}"
    );
    assert!(after.contains("summary:"), "{after}");
}
