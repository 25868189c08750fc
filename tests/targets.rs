//! Servers of the user's own (issue 14): a `[[targets]]` command goes through start,
//! ready, verify, measure, process-tree sampling and stop like a built-in style, and
//! each way it can fail (program missing, exits at once, never ready, port in use) is
//! recorded in its cell with what happened while the run goes on. The Python examples
//! (Flask under gunicorn, FastAPI under uvicorn) are run when their venv exists (CI
//! creates it).

mod common;

use std::path::Path;

use common::runs::{
    assert_no_child_left, cells, manifest, run_folder, run_scenario as run, sabench, temp_dir,
    write_scenario,
};

/// A tiny HTTP/1.1 keep-alive server: /health, /null (the suite's body, or `body`),
/// and a forked helper process that ignores SIGTERM, so stopping it needs the whole
/// group stopped and killed.
const TINY_SERVER: &str = r#"#!/usr/bin/env python3
import os, signal, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, body = int(sys.argv[1]), sys.argv[2].encode().decode("unicode_escape").encode()
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        reply = b"ok\n" if self.path == "/health" else body
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;

/// A fresh folder holding [`TINY_SERVER`] as an executable `tiny.py`.
fn folder_with_tiny_server(name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir(name);
    std::fs::write(dir.join("tiny.py"), TINY_SERVER).unwrap();
    std::fs::set_permissions(dir.join("tiny.py"), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn a_command_of_your_own_is_started_verified_measured_sampled_as_a_tree_and_stopped() {
    let dir = folder_with_tiny_server("target-tiny");
    let scenario = write_scenario(
        &dir,
        r#"
name = "tiny"
duration = "1s"
warmup = "200ms"
[[styles]]
style = "async"
workers = [1]
[[targets]]
name = "tiny"
description = "a Python http.server with a forked helper"
command = ["./tiny.py", "{port}", "null\\n"]
routes = { null = "/null" }
version = [["python3", "--version"]]
[[workloads]]
route = "null"
[load]
connections = [4]
"#,
    );
    let out = dir.join("results");
    // Run from the folder above, with the scenario's path relative: the program
    // (`./tiny.py`) is found from the scenario's folder all the same.
    let parent = dir.parent().unwrap();
    let output = sabench()
        .current_dir(parent)
        .arg("run")
        .arg(scenario.strip_prefix(parent).unwrap())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    common::assert_success(&output);
    let run = run_folder(&out);
    let rows = cells(&run);
    let tiny = rows
        .iter()
        .find(|r| r["variant"] == "tiny")
        .expect("the target's cell");
    assert_eq!(tiny["style"], "external");
    assert!(
        common::valid_but_for_the_generator(tiny["valid"] == "true", &tiny["invalid_reason"]),
        "{tiny:?}"
    );
    assert!(tiny["requests_ok"].parse::<u64>().unwrap() > 0, "{tiny:?}");
    // Two processes (the server and its helper), each with at least one thread, and
    // their memory summed.
    assert!(tiny["threads_max"].parse::<u64>().unwrap() >= 2, "{tiny:?}");
    assert!(
        tiny["rss_peak_mib"].parse::<f64>().unwrap() > 1.0,
        "{tiny:?}"
    );
    let facts = &manifest(&run)["targets"][0];
    assert_eq!(facts["name"], "tiny");
    assert!(
        facts["versions"][0][1]
            .as_str()
            .unwrap()
            .starts_with("Python 3"),
        "{facts}"
    );
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(summary.contains("## Servers of your own"), "{summary}");
    // The helper ignores SIGTERM: only stopping the whole group, then killing it,
    // leaves nothing behind.
    assert_no_child_left(&run);
}

#[test]
fn a_target_answering_other_bytes_than_the_styles_fails_verify() {
    let dir = folder_with_tiny_server("target-verify");
    let scenario = write_scenario(
        &dir,
        r#"
name = "verify"
duration = "500ms"
warmup = "100ms"
[[styles]]
style = "async"
workers = [1]
[[targets]]
name = "lazy"
command = ["python3", "tiny.py", "{port}", "nul\\n"]
routes = { null = "/null" }
[[targets]]
name = "its-own-way"
command = ["python3", "tiny.py", "{port}", "something else\\n"]
routes = { null = "/null" }
same_contract = false
[[workloads]]
route = "null"
[load]
connections = [2]
"#,
    );
    let out = dir.join("results");
    let output = run(&scenario, &out);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = run_folder(&out);
    let rows = cells(&run);
    let lazy = rows.iter().find(|r| r["variant"] == "lazy").unwrap();
    assert!(
        lazy["error"].contains("verify") && lazy["error"].contains("nul"),
        "{lazy:?}"
    );
    let own = rows.iter().find(|r| r["variant"] == "its-own-way").unwrap();
    assert_eq!(own["error"], "", "not compared: {own:?}");
    assert_no_child_left(&run);
}

#[test]
fn each_way_a_target_fails_to_start_is_recorded_and_the_run_goes_on() {
    let dir = temp_dir("target-faults");
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let scenario = write_scenario(
        &dir,
        &format!(
            r#"
name = "faults"
duration = "300ms"
warmup = "100ms"
[[styles]]
style = "async"
workers = [1]
[[targets]]
name = "missing"
command = ["./no-such-server", "{{port}}"]
routes = {{ null = "/null" }}
setup = "build it first with make"
[[targets]]
name = "exits"
command = ["python3", "-c", "import sys; print('bad config', file=sys.stderr); sys.exit(3)", "{{port}}"]
routes = {{ null = "/null" }}
[[targets]]
name = "never-ready"
command = ["python3", "-c", "import time; time.sleep(60)", "{{port}}"]
routes = {{ null = "/null" }}
ready_timeout = "1s"
[[targets]]
name = "port-taken"
command = ["python3", "-c", "pass"]
routes = {{ null = "/null" }}
port = {port}
[[workloads]]
route = "null"
[load]
connections = [2]
"#
        ),
    );
    let out = dir.join("results");
    let output = run(&scenario, &out);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = run_folder(&out);
    let rows = cells(&run);
    assert_eq!(rows.len(), 5, "every cell is recorded");
    let error = |name: &str| {
        rows.iter()
            .find(|r| r["variant"] == name)
            .map(|r| r["error"].clone())
            .unwrap()
    };
    let missing = error("missing");
    assert!(
        missing.contains("cannot start") && missing.contains("build it first with make"),
        "{missing}"
    );
    let exits = error("exits");
    assert!(
        exits.contains("exit status 3") && exits.contains("bad config"),
        "{exits}"
    );
    let never = error("never-ready");
    assert!(
        never.contains("did not answer GET /health with 200 within 1s"),
        "{never}"
    );
    let taken = error("port-taken");
    assert!(taken.contains(&format!("port {port} is in use")), "{taken}");
    let healthy = rows.iter().find(|r| r["style"] == "async").unwrap();
    assert!(
        common::valid_but_for_the_generator(healthy["valid"] == "true", &healthy["invalid_reason"]),
        "the other cells still run: {healthy:?}"
    );
    assert_no_child_left(&run);
    drop(held);
}

#[test]
fn a_scenario_target_with_a_mistake_is_refused_naming_it() {
    let dir = temp_dir("target-refused");
    for (text, expected) in [
        (
            "command = []\nroutes = { null = \"/null\" }",
            "`command` is empty",
        ),
        (
            "command = [\"x\"]\nroutes = { null = \"/null\" }",
            "nothing tells it its port",
        ),
        (
            "command = [\"x\", \"{port}\", \"{wrokers}\"]\nroutes = { null = \"/null\" }",
            "unknown placeholder {wrokers}",
        ),
        (
            "command = [\"x\", \"{port}\"]\nroutes = { io = \"/io\" }",
            "serves none of the workloads",
        ),
        (
            "command = [\"x\", \"{port}\"]\nroutes = { nul = \"/null\" }",
            "unknown variant `nul`",
        ),
    ] {
        let scenario = write_scenario(
            &dir,
            &format!("name = \"r\"\n[[targets]]\nname = \"t\"\n{text}\n[[workloads]]\nroute = \"null\"\n[load]\nconnections = [1]\n"),
        );
        let output = sabench()
            .arg("run")
            .arg(&scenario)
            .arg("--out")
            .arg(dir.join("out"))
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{text}: {stderr}");
    }
}

/// The Python examples' venv (scripts/python-env.sh creates it; CI always does).
fn python_venv() -> Option<std::path::PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/.venv");
    if venv.join("bin/python").exists() {
        return Some(venv);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI runs scripts/python-env.sh first: {} is missing",
        venv.display()
    );
    eprintln!("skipped: no {} (run scripts/python-env.sh)", venv.display());
    None
}

#[test]
fn the_flask_and_fastapi_examples_answer_the_suites_bytes_under_load() {
    if python_venv().is_none() {
        return;
    }
    let dir = temp_dir("python-examples");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python");
    let scenario = write_scenario(
        &dir,
        &format!(
            r#"
name = "python"
duration = "1s"
warmup = "300ms"
[upstream]
latency = "5ms"
[[styles]]
style = "async"
workers = [1]
[[targets]]
name = "flask"
command = [".venv/bin/gunicorn", "-w", "{{workers}}", "-b", "127.0.0.1:{{port}}", "app_flask:app"]
cwd = "{examples}"
routes = {{ io = "/io", cpu = "/cpu" }}
workers = [2]
[[targets]]
name = "fastapi"
command = [".venv/bin/uvicorn", "--workers", "{{workers}}", "--host", "127.0.0.1", "--port", "{{port}}", "--no-access-log", "app_fastapi:app"]
cwd = "{examples}"
routes = {{ io = "/io", cpu = "/cpu" }}
workers = [1]
[[targets]]
name = "fastapi-aiohttp"
command = [".venv/bin/uvicorn", "--workers", "1", "--host", "127.0.0.1", "--port", "{{port}}", "--no-access-log", "app_fastapi:app"]
cwd = "{examples}"
routes = {{ io = "/io-aiohttp" }}
[[workloads]]
route = "io"
io_mode = "upstream"
[[workloads]]
route = "cpu"
cpu_rounds = 500
[load]
connections = [4]
"#,
            examples = examples.display()
        ),
    );
    let out = dir.join("results");
    let output = run(&scenario, &out);
    common::assert_success(&output);
    let run = run_folder(&out);
    let rows = cells(&run);
    // Two workloads for the style and two targets; /io only for the aiohttp route.
    assert_eq!(rows.len(), 7);
    for row in &rows {
        assert_eq!(row["error"], "", "verify and measure passed: {row:?}");
        assert!(row["requests_ok"].parse::<u64>().unwrap() > 0, "{row:?}");
    }
    let flask = rows
        .iter()
        .find(|r| r["variant"] == "flask(workers=2)")
        .unwrap();
    assert!(
        flask["threads_max"].parse::<u64>().unwrap() >= 3,
        "a gunicorn master and two workers: {flask:?}"
    );
    assert_no_child_left(&run);
}

/// A saturation search starts a target afresh for every probe unless it says
/// `restart_between_probes = false`: then one server serves every probe.
#[test]
fn a_target_may_keep_its_server_through_a_saturation_search() {
    let dir = folder_with_tiny_server("target-kept");
    let scenario = write_scenario(
        &dir,
        r#"
name = "kept"
duration = "1s"
warmup = "100ms"
[[targets]]
name = "fresh"
command = ["sh", "-c", "echo start >> fresh.starts && exec ./tiny.py {port} 'null\\n'"]
routes = { null = "/null" }
[[targets]]
name = "kept"
command = ["sh", "-c", "echo start >> kept.starts && exec ./tiny.py {port} 'null\\n'"]
routes = { null = "/null" }
restart_between_probes = false
[[workloads]]
route = "null"
saturate = { p95_slo = "1s", start_rps = 20.0, max_rps = 80.0, probe_duration = "300ms", bisections = 0 }
"#,
    );
    let out = dir.join("results");
    let output = run(&scenario, &out);
    common::assert_success(&output);
    let run = run_folder(&out);
    let starts = |name: &str| {
        std::fs::read_to_string(dir.join(format!("{name}.starts")))
            .unwrap_or_default()
            .lines()
            .count()
    };
    // 20, 40 and 80 req/s: three probes, none failing.
    for row in cells(&run) {
        assert_eq!(row["error"], "", "{row:?}");
        assert_eq!(
            row["achieved_rps"].parse::<f64>().unwrap().round(),
            80.0,
            "{row:?}"
        );
    }
    assert_eq!(starts("fresh"), 3, "a fresh server per probe");
    assert_eq!(starts("kept"), 1, "one server for the search");
    assert_no_child_left(&run);
}
