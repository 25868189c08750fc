//! Helpers for tests that drive `sabench run`: scratch folders, scenario files, the
//! run folder, its manifest and rows, and the processes a run started.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `sabench` executable under test.
pub fn sabench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sabench"))
}

/// A fresh scratch folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sabench-run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` as `dir/scenario.toml`.
pub fn write_scenario(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The newest run folder under `out`.
pub fn run_folder(out: &Path) -> PathBuf {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    runs.sort();
    runs.pop().expect("a run folder")
}

/// A run's manifest.
pub fn manifest(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap()
}

/// Rows in a run's `cells.csv`.
pub fn data_rows(run: &Path) -> usize {
    std::fs::read_to_string(run.join("cells.csv"))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

/// A run's `cells.csv` as one map per row.
pub fn cells(run: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(run.join("cells.csv")).unwrap();
    reader.deserialize().map(|row| row.unwrap()).collect()
}

/// Processes whose environment names `run` (the runner marks its children so), with
/// their command lines.
pub fn children_of(run: &Path) -> Vec<(u32, String)> {
    let marker = format!("SABENCH_RUN_DIR={}", run.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let env = std::fs::read(e.path().join("environ")).ok()?;
            env.split(|&b| b == 0)
                .any(|v| v == marker.as_bytes())
                .then_some(pid)
        })
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let words: Vec<String> = cmdline
                .split(|&b| b == 0)
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            (pid, words.join(" "))
        })
        .collect()
}

/// Starts `sabench run SCENARIO --out OUT` quietly, without waiting for it.
pub fn spawn_run(scenario: &Path, out: &Path) -> std::process::Child {
    sabench()
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (up to 60 s, else fails with `what`) until the run folder under `out`
/// exists and `ready` holds for it; returns the folder.
pub fn wait_for_run(out: &Path, what: &str, ready: impl Fn(&Path) -> bool) -> PathBuf {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        assert!(std::time::Instant::now() < deadline, "{what}");
        let found = std::fs::read_dir(out)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path());
        if let Some(run) = found.filter(|run| ready(run)) {
            return run;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The first line a spawned child prints on its (piped) stdout, e.g. where it listens.
pub fn first_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("a line on stdout");
    line
}

/// `sabench run SCENARIO --out OUT`, to its end.
pub fn run_scenario(scenario: &Path, out: &Path) -> std::process::Output {
    sabench()
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// Fails unless every process `run` started is gone within 10 s.
pub fn assert_no_child_left(run: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !children_of(run).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        children_of(run).is_empty(),
        "left behind: {:?}",
        children_of(run)
    );
}

/// Every run folder under `out`, oldest first.
pub fn run_folders(out: &Path) -> Vec<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    runs
}
