//! `sabench run`, `report` and `compare` end to end, on tiny scenarios that take
//! seconds: every file is produced, the HTML embeds every chart, Ctrl-C keeps finished
//! cells and leaves no child process, and two runs compare.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::runs::{
    children_of, data_rows, manifest, run_folder, sabench, spawn_run, temp_dir, wait_for_run,
    write_scenario,
};

/// Runs `sabench run SCENARIO --out OUT`, asserts it succeeded, returns the run folder.
fn run_ok(scenario: &Path, out: &Path) -> PathBuf {
    let output = sabench()
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    common::assert_success(&output);
    run_folder(out)
}

const TINY: &str = r#"
name = "tiny"
description = "end-to-end test"
duration = "500ms"
warmup = "200ms"
[upstream]
latency = "2ms"
[[styles]]
style = "blocking"
threads = [4]
[[styles]]
style = "async"
workers = [1]
[[workloads]]
route = "io"
io_calls = 1
io_mode = "upstream"
[load]
connections = [1, 2]
rates = [50.0, 100.0]
open_loop_connections = 8
saturate = { p95_slo = "50ms", start_rps = 200.0, max_rps = 400.0, bisections = 1, probe_duration = "300ms", capacity_target_rps = 1000.0 }
"#;

pub const CSV_HEADER: &str = "cell,scenario,workload,style,variant,knobs,load_mode,connections,target_rps,repetition,achieved_rps,\
requests_scheduled,requests_sent,requests_unsent,requests_in_flight_at_end,requests_ok,\
err_connect_refused,err_connect_timeout,err_reset,err_timeout,err_status_4xx,err_status_5xx,err_tls,\
err_too_large,err_other,connections_unserved,status_counts,p50_ms,p90_ms,p95_ms,p99_ms,p999_ms,\
max_ms,service_p50_ms,service_p90_ms,service_p95_ms,service_p99_ms,service_p999_ms,service_max_ms,\
all_p50_ms,all_p95_ms,all_p99_ms,all_max_ms,probe_p95_ms,probe_p99_ms,probe_ok_share,\
probe_lower_bound,probe_invalid_reason,probe_generator_lag_p99_ms,lag_p99_ms,lag_max_ms,\
server_queue_p50_ms,server_queue_p99_ms,server_wait_p50_ms,server_wait_p99_ms,littles_law,\
rss_peak_mib,rss_mean_mib,threads_max,kernel_stack_mib,server_cpu_user_s,server_cpu_sys_s,\
generator_cpu_s,generator_busy,generator_cpu_us_per_ok,valid,invalid_reason,slow_clients,\
slow_cut_off,slo_ms,seconds_over_slo,generator_limited,crashed,server_exit,error,rate_cap_rps,\
rate_cap,service_lost_s,db_connections_opened,db_errors,db_pss_mean_mib,db_pss_peak_mib,db_cpu_s,\
db_processes_max,kernel_stack_delta_mib,kernel_slab_delta_mib,connections_established,\
connections_stayed_up,connect_p99_ms,generator_peak_rss_mib,server_failures,connect_failures,\
tree_rss_sum_peak_mib,thresholds_failed,server_cores,cpu_user_us_per_ok,cpu_sys_us_per_ok,\
cpu_tick_us_per_ok,cpu_sched_us_per_ok,idle_cpu_ms_per_s,cpu_instrument_us_per_ok,\
ctx_voluntary_per_ok,ctx_involuntary_per_ok,threads_mean,runnable_mean,running_share,waiting_share,\
blocked_share,pool_held_mean,pool_working_mean,measurement_notes,mechanism_missing,protocol,streams,err_stream_reset,err_goaway";

#[test]
fn a_tiny_scenario_produces_every_file() {
    let dir = temp_dir("tiny");
    let scenario = write_scenario(&dir, TINY);
    let out = dir.join("results");
    let run = run_ok(&scenario, &out);
    let manifest = manifest(&run);
    assert_eq!(manifest["status"], "complete");
    assert_eq!(manifest["cells_done"], 10);
    assert!(manifest["cpu_model"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(manifest["scenario"]["name"], "tiny");

    let csv = std::fs::read_to_string(run.join("cells.csv")).unwrap();
    assert_eq!(csv.lines().next().unwrap(), CSV_HEADER);
    assert_eq!(data_rows(&run), 10);
    for line in csv.lines().skip(1) {
        let cell = line.split(',').next().unwrap();
        assert!(
            run.join("hist").join(format!("{cell}.hlog")).is_file(),
            "{cell}"
        );
        assert!(
            run.join("samples")
                .join(format!("{cell}.server.csv"))
                .is_file(),
            "{cell}"
        );
        assert!(
            run.join("samples")
                .join(format!("{cell}.timeline.csv"))
                .is_file(),
            "{cell}"
        );
    }
    assert!(
        csv.contains(",saturate,"),
        "the saturation cell is recorded"
    );

    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(
        summary.contains("## Workload `io`") && summary.contains("blocking(pool=4)"),
        "{summary}"
    );
    assert!(summary.contains("## Capacity at the SLO"), "{summary}");
    // The answer first: the findings open the summary, before any table.
    let findings = summary.find("## Findings").expect("a findings section");
    assert!(findings < summary.find("| level |").unwrap(), "{summary}");
    assert!(summary.contains("**io** at "), "{summary}");
    // The mechanism: every cell measured it, and the report explains and recommends.
    let cells: Vec<std::collections::HashMap<String, String>> =
        csv::Reader::from_path(run.join("cells.csv"))
            .unwrap()
            .deserialize()
            .map(Result::unwrap)
            .collect();
    for cell in &cells {
        for column in [
            "threads_mean",
            "ctx_voluntary_per_ok",
            "cpu_sys_us_per_ok",
            "runnable_mean",
            "blocked_share",
        ] {
            assert!(
                !cell[column].is_empty(),
                "{column} of {}: {}",
                cell["cell"],
                cell["mechanism_missing"]
            );
        }
        let blocking = cell["style"] == "blocking";
        assert_eq!(
            !cell["pool_held_mean"].is_empty(),
            blocking,
            "{}",
            cell["cell"]
        );
    }
    assert!(
        summary.contains("### Why") && summary.contains("| run queue (cores) |"),
        "{summary}"
    );
    assert!(summary.contains("### Recommendation"), "{summary}");

    let charts: Vec<PathBuf> = std::fs::read_dir(run.join("charts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mechanism = run.join("charts").join("mechanism-io.svg");
    let text = std::fs::read_to_string(&mechanism).expect("the mechanism chart");
    assert!(
        text.contains("<rect")
            && text.contains("async(workers=1)")
            && text.contains("context switches")
    );
    let line_chart = |p: &&PathBuf| !p.to_string_lossy().contains("mechanism-");
    let svgs: Vec<&PathBuf> = charts
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .filter(line_chart)
        .collect();
    let pngs: Vec<&PathBuf> = charts
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .filter(line_chart)
        .collect();
    assert_eq!(
        svgs.len(),
        6,
        "throughput, p95, rss, capacity-memory, spectrum, timeline: {charts:?}"
    );
    assert_eq!(pngs.len(), svgs.len());
    for svg in &svgs {
        let text = std::fs::read_to_string(svg).unwrap();
        assert!(
            text.contains("<svg") && text.trim_end().ends_with("</svg>"),
            "{}",
            svg.display()
        );
        assert!(
            text.contains("<polyline") || text.contains("<path"),
            "{} has no lines",
            svg.display()
        );
        assert!(
            text.contains("async(workers=1)"),
            "{} has no legend",
            svg.display()
        );
    }
    for png in &pngs {
        let bytes = std::fs::read(png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((width, height), (960, 540));
        assert!(bytes.len() > 10_000, "{} is nearly empty", png.display());
    }

    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        svgs.len() + 1,
        "every chart, the mechanism chart too, is inlined"
    );
    // The findings first, then the tables folded away, the manifest last.
    let findings = html
        .find("<section id=\"findings\">")
        .expect("a findings section");
    let first_table = html.find("<table>").expect("tables");
    assert!(findings < first_table, "findings before the first table");
    assert!(html.contains("<summary>Why: the rules") && html.contains("Recommendation in full"));
    assert!(
        !html.contains("src=\"") && !html.contains("href=\"http") && !html.contains("url("),
        "self-contained: nothing fetched"
    );
    assert!(
        html.contains("<title>async(workers=1)"),
        "a tooltip on every point"
    );
    assert!(html.contains("Manifest"));

    // `report` rebuilds the same files from the data alone.
    std::fs::remove_file(run.join("summary.md")).unwrap();
    std::fs::remove_dir_all(run.join("charts")).unwrap();
    let rebuilt = sabench().arg("report").arg(&run).output().unwrap();
    common::assert_success(&rebuilt);
    assert_eq!(
        std::fs::read_to_string(run.join("summary.md")).unwrap(),
        summary
    );
    assert_eq!(
        std::fs::read_dir(run.join("charts")).unwrap().count(),
        charts.len()
    );
}

#[test]
fn a_second_run_never_overwrites_the_first_and_compare_reads_both() {
    let dir = temp_dir("compare");
    let scenario = write_scenario(
        &dir,
        r#"
name = "pair"
duration = "300ms"
warmup = "100ms"
repetitions = 2
[[styles]]
style = "async"
workers = [1]
[[workloads]]
route = "cpu"
cpu_rounds = 100
[load]
connections = [2]
"#,
    );
    let out = dir.join("results");
    for _ in 0..2 {
        assert!(common::runs::run_scenario(&scenario, &out).status.success());
    }
    let runs = common::runs::run_folders(&out);
    assert_eq!(runs.len(), 2, "two runs, two folders");
    let output = sabench()
        .arg("compare")
        .arg(&runs[0])
        .arg(&runs[1])
        .output()
        .unwrap();
    common::assert_success(&output);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("| cpu | async(workers=1) | c=2 |"), "{text}");
    assert!(
        text.contains("×") && (text.contains("noise") || text.contains("**real**")),
        "{text}"
    );
    let written = runs[1].join(format!(
        "compare-vs-{}.md",
        runs[0].file_name().unwrap().to_string_lossy()
    ));
    assert!(written.is_file());
}

#[test]
fn a_bad_scenario_names_file_line_and_key_and_writes_nothing() {
    let dir = temp_dir("bad");
    let scenario = write_scenario(&dir, "name = \"x\"\nduration = \"fast\"\n");
    let out = dir.join("results");
    let output = sabench()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("scenario.toml:2:") && stderr.contains("duration"),
        "{stderr}"
    );
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().count() == 0);
}

#[test]
fn ctrl_c_keeps_finished_cells_and_leaves_no_child() {
    let dir = temp_dir("sigint");
    let scenario = write_scenario(
        &dir,
        r#"
name = "long"
duration = "1s"
warmup = "100ms"
[[styles]]
style = "blocking"
threads = [4]
[[styles]]
style = "async"
workers = [1]
[[workloads]]
route = "io"
io_mode = "upstream"
[load]
connections = [2, 4, 8]
"#,
    );
    let out = dir.join("results");
    let mut child = spawn_run(&scenario, &out);
    let run = wait_for_run(&out, "no cell finished in time", |run| data_rows(run) >= 1);
    assert!(
        !children_of(&run).is_empty(),
        "the run has a server and an upstream running"
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = common::wait_for_exit(
        &mut child,
        Duration::from_secs(30),
        "the runner after SIGINT",
    );
    assert_eq!(status.code(), Some(130));
    let kept = data_rows(&run);
    assert!((1..6).contains(&kept), "{kept} cells kept");
    assert_eq!(manifest(&run)["status"], "interrupted");
    assert_eq!(manifest(&run)["cells_done"], kept);
    assert!(
        run.join("report.html").is_file(),
        "the report of what is done"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !children_of(&run).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        children_of(&run).is_empty(),
        "orphans: {:?}",
        children_of(&run)
    );
}

#[test]
fn check_judges_claims_and_gates_set_the_exit_code() {
    let dir = temp_dir("check");
    let scenario = |gate_threshold: f64| {
        format!(
            r#"
name = "gates"
duration = "300ms"
warmup = "100ms"
# A gated check needs 5 repetitions a side.
repetitions = 5
[[styles]]
style = "async"
workers = [1]
[[workloads]]
route = "null"
[load]
connections = [2]
[pipeline]
sources = 4
latency = "5ms"
threads = 2
limit = 2
error_rate = 0.25
[[pairs]]
claim = "T1"
title = "holds"
workload = "null"
wrong = ""
right = "async(workers=1)"
metric = "achieved_rps"
threshold = 1.0
gate = true
[[pairs]]
claim = "T2"
title = "an ungated claim that does not hold"
workload = "null"
wrong = ""
right = "async(workers=1)"
metric = "achieved_rps"
threshold = 1e12
[[pairs]]
claim = "T3"
title = "pipeline: a ratio over a side that scored 0 cannot decide"
workload = "pipeline"
wrong = "async, fail fast"
right = "async, collect"
metric = "results"
threshold = 1.5
[[pairs]]
claim = "T4"
title = "pipeline: a gate that cannot hold when asked for too much"
workload = "pipeline"
wrong = ""
right = "async, collect"
metric = "results"
threshold = {gate_threshold}
gate = true
"#
        )
    };
    // Deterministic: with 4 sources and 25 % failing, fail-fast returns 0 results (so
    // T3 cannot decide) and collect-all 3, whatever the machine's speed.
    for (name, gate_threshold, expected_exit) in [("pass", 3.0, 0), ("fail", 1e9, 1)] {
        let case = dir.join(name);
        std::fs::create_dir_all(&case).unwrap();
        let file = write_scenario(&case, &scenario(gate_threshold));
        let out = case.join("results");
        let run = run_ok(&file, &out);
        assert!(run.join("pipeline.json").is_file());
        let checked = sabench().arg("check").arg(&run).output().unwrap();
        assert_eq!(
            checked.status.code(),
            Some(expected_exit),
            "{}",
            String::from_utf8_lossy(&checked.stdout)
        );
        // One line per gate on stderr, with its value, threshold and margin.
        let said = String::from_utf8_lossy(&checked.stderr);
        assert!(said.contains("gate T1 holds: "), "{said}");
        let t4 = said.lines().find(|l| l.starts_with("gate T4 ")).unwrap();
        assert!(t4.contains("margin"), "{t4}");
        let t4_verdict = if expected_exit == 0 {
            "holds"
        } else {
            "does not hold"
        };
        assert!(t4.starts_with(&format!("gate T4 {t4_verdict}: ")), "{t4}");
        let claims = std::fs::read_to_string(run.join("claims.md")).unwrap();
        assert!(
            claims.contains("| T1 |") && claims.contains("**holds**"),
            "{claims}"
        );
        assert!(claims.contains("**does not hold**"), "{claims}");
        assert!(
            claims.contains("**cannot decide**") && claims.contains("is 0: there is no ratio"),
            "{claims}"
        );
    }
}

#[test]
fn a_gate_whose_load_is_over_half_the_generators_ceiling_is_refused_before_any_cell() {
    let dir = temp_dir("ceiling");
    // No 2-core machine's generator reaches 2,000,000 req/s (this one: about 230,000 on
    // /null in a release build), so the gate is refused whatever the machine.
    let file = write_scenario(
        &dir,
        r#"
name = "too-much"
duration = "300ms"
warmup = "100ms"
repetitions = 5
[[styles]]
style = "async"
workers = [1]
[[workloads]]
route = "null"
rates = [2000000.0]
open_loop_connections = 4
[[pairs]]
claim = "T1"
title = "a gate that would measure the generator"
workload = "null"
wrong = ""
right = "async(workers=1)"
metric = "achieved_rps"
threshold = 1.0
gate = true
"#,
    );
    let out = dir.join("results");
    let output = sabench()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{said}");
    assert!(said.contains("refused before the run"), "{said}");
    assert!(
        said.contains("gate T1 (null) offers up to 2000000 req/s on 4 connections"),
        "{said}"
    );
    let run = run_folder(&out);
    let manifest = manifest(&run);
    assert_eq!(manifest["status"], "refused", "{manifest}");
    assert_eq!(manifest["cells_done"], 0, "no cell ran");
    let ceiling = &manifest["generator_ceiling"];
    assert!(ceiling["closed_rps"].as_f64().unwrap() > 0.0, "{ceiling}");
    assert_eq!(ceiling["gates"][0]["rate"], 2000000.0, "{ceiling}");
    assert_eq!(data_rows(&run), 0, "no cell was written");
}

#[test]
fn slowloris_cells_measure_how_many_slow_clients_deny_each_style() {
    let dir = temp_dir("slowloris");
    let scenario = write_scenario(
        &dir,
        r#"
name = "slow"
duration = "2s"
warmup = "300ms"
[limits]
header_read_timeout = "1s"
[[styles]]
style = "blocking"
threads = [2]
[[styles]]
style = "async"
workers = [1]
[slowloris]
clients = [0, 4]
probe_rate = 20.0
probe_connections = 2
slo = "100ms"
trickle = "200ms"
head_start = "300ms"
"#,
    );
    let out = dir.join("results");
    let run = run_ok(&scenario, &out);
    let rows = common::runs::cells(&run);
    assert_eq!(rows.len(), 4, "2 styles × 2 counts of slow clients");
    assert!(rows
        .iter()
        .all(|r| r["load_mode"] == "slowloris" && r["knobs"].contains("header-read=1s")));
    let row = |style: &str, clients: &str| {
        rows.iter()
            .find(|r| r["style"] == style && r["slow_clients"] == clients)
            .unwrap_or_else(|| panic!("no {style} row with {clients} slow clients: {rows:?}"))
    };
    // Four slow clients hold both pool threads: the probe waits for the header-read
    // timeout to free one (≥ 0.7 s here), far over its 100 ms objective.
    let denied = row("blocking", "4");
    assert!(
        denied["seconds_over_slo"].parse::<u64>().unwrap() >= 1,
        "{denied:?}"
    );
    // Every style cut the slow clients off at its header-read timeout.
    for style in ["blocking", "async"] {
        assert!(
            row(style, "4")["slow_cut_off"].parse::<u64>().unwrap() >= 1,
            "{style}"
        );
        assert_eq!(row(style, "0")["slow_cut_off"], "0");
    }
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(summary.contains("## Slow clients (slowloris)"), "{summary}");
    assert!(
        summary
            .contains("blocking(pool=2): the probe's p95 went over 100 ms from **4 slow clients**"),
        "{summary}"
    );
    assert!(
        !summary.contains("## Workload `slowloris`"),
        "slowloris cells have their own section"
    );
}

#[test]
fn a_saturation_search_whose_start_rate_fails_reports_no_capacity() {
    let dir = temp_dir("no-capacity");
    // A 20 ms wait can never meet a 1 ms objective: the start rate fails.
    let scenario = write_scenario(
        &dir,
        r#"
name = "no-capacity"
duration = "300ms"
warmup = "100ms"
[[styles]]
style = "async"
workers = [1]
[[workloads]]
route = "io"
[load]
open_loop_connections = 4
saturate = { p95_slo = "1ms", start_rps = 50.0, max_rps = 400.0, bisections = 1, probe_duration = "300ms" }
"#,
    );
    let run = run_ok(&scenario, &dir.join("results"));
    let rows = common::runs::cells(&run);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["valid"], "false", "{row:?}");
    assert_eq!(
        row["target_rps"], "",
        "a failing rate is no capacity: {row:?}"
    );
    assert!(
        row["invalid_reason"].contains("no capacity found")
            && row["invalid_reason"].contains("missed the objective twice"),
        "{row:?}"
    );
    // The start rate was tried twice, on two servers, before the search gave up.
    let probes = std::fs::read_to_string(
        run.join("samples")
            .join(format!("{}.probes.csv", row["cell"])),
    )
    .unwrap();
    let rates: Vec<&str> = probes
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(rates, ["50.0", "50.0"], "{probes}");
}

#[test]
fn compare_fails_on_a_real_regression_beyond_its_gate_and_only_then() {
    let dir = temp_dir("gate");
    let out = dir.join("results");
    // The same cells twice, the second doing 50 times the work per request: a real fall.
    for rounds in [100, 5000] {
        let scenario = write_scenario(
            &dir,
            &format!(
                "name = \"gate\"\nduration = \"300ms\"\nwarmup = \"100ms\"\nrepetitions = 5\n\
                 [[styles]]\nstyle = \"async\"\nworkers = [1]\n\
                 [[workloads]]\nroute = \"cpu\"\ncpu_rounds = {rounds}\n[load]\nconnections = [2]\n"
            ),
        );
        assert!(common::runs::run_scenario(&scenario, &out).status.success());
    }
    let runs = common::runs::run_folders(&out);
    let gate = |bound: &str| {
        sabench()
            .arg("compare")
            .arg(&runs[0])
            .arg(&runs[1])
            .args(["--fail-on", bound])
            .output()
            .unwrap()
    };
    let failed = gate("rps:-5%");
    assert_eq!(
        failed.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    let text = String::from_utf8_lossy(&failed.stdout);
    assert!(
        text.contains("**failed**: cpu async(workers=1) c=2"),
        "{text}"
    );
    let tolerant = gate("rps:-99.9%");
    assert!(
        tolerant.status.success(),
        "{}",
        String::from_utf8_lossy(&tolerant.stdout)
    );
    assert!(String::from_utf8_lossy(&tolerant.stdout).contains("none failed"));
    let rise = gate("p95:+10%");
    assert_eq!(rise.status.code(), Some(3), "p95 rose a lot too");
}

#[test]
fn a_scenarios_thresholds_are_checked_per_cell_and_fail_the_run_with_exit_status_4() {
    let dir = temp_dir("thresholds");
    let text = |thresholds: &str| {
        format!(
            "name = \"gate\"\nduration = \"300ms\"\nwarmup = \"100ms\"\nthresholds = [{thresholds}]\n\
             [[styles]]\nstyle = \"async\"\nworkers = [1]\n\
             [[workloads]]\nroute = \"null\"\n[load]\nconnections = [1, 2]\n"
        )
    };
    let out = dir.join("results");
    let scenario = write_scenario(&dir, &text("\"error_rate<=100%\", \"rps>=100000000\""));
    let output = common::runs::run_scenario(&scenario, &out);
    assert_eq!(
        output.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = run_folder(&out);
    for row in common::runs::cells(&run) {
        assert!(
            row["thresholds_failed"].starts_with("rps>=100000000 (measured"),
            "{row:?}"
        );
    }
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(
        summary.contains("## Thresholds") && summary.contains("2 of 2 cells failed"),
        "{summary}"
    );
    let scenario = write_scenario(&dir, &text("\"p95<100\""));
    let refused = common::runs::run_scenario(&scenario, &out);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("`thresholds`") && stderr.contains("not a latency"),
        "{stderr}"
    );
}

/// A blocking call in the only worker (10 ms a request, 8 connections) makes a cheap
/// request wait about 80 ms, so a probe of 50 req/s on one connection (about 12 a
/// second) never catches up: its p95 is a lower bound that grows with the window.
const PROBE_ON_ONE_CONNECTION: &str = r#"
name = "probe-one"
duration = "500ms"
warmup = "200ms"
repetitions = 2
[load]
probe = { route = "/health", rate = 50.0, connections = 1 }
[[workloads]]
name = "io-sleep"
route = "io"
io_latency = "10ms"
connections = [8]
[[styles]]
style = "async"
workers = [1]
variant = "blocking-in-async"
"#;

#[test]
fn invariance_reruns_with_the_bench_changed_and_a_backlogged_probe_is_a_bound_not_a_figure() {
    let dir = temp_dir("invariance");
    let scenario = write_scenario(&dir, PROBE_ON_ONE_CONNECTION);
    let out = dir.join("out");
    let output = sabench()
        .args(["invariance"])
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .args(["--factor", "window", "--factor", "connections"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    let checks = common::runs::run_folders(&out);
    assert_eq!(checks.len(), 1, "one folder for the check: {checks:?}");
    let check = &checks[0];
    let runs: Vec<PathBuf> = common::runs::run_folders(check)
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(runs.len(), 2, "as written and window-x2: {runs:?}");
    let doubled = runs
        .iter()
        .find(|r| r.to_string_lossy().ends_with("probe-one-window-x2"))
        .unwrap_or_else(|| panic!("{runs:?}"));
    assert_eq!(manifest(doubled)["scenario"]["duration"], "1s");
    assert_eq!(manifest(&runs[0])["scenario"]["duration"], "500ms");
    let cells = common::runs::cells(&runs[0]);
    assert!(
        cells.iter().all(|c| c["probe_lower_bound"] == "true"),
        "{cells:?}"
    );
    assert!(
        cells
            .iter()
            .all(|c| c["probe_invalid_reason"].contains("--connections 1")),
        "{cells:?}"
    );
    let text = std::fs::read_to_string(check.join("invariance.md")).unwrap();
    assert!(text.contains("connections-x2: not run"), "{text}");
    let probe_row = text
        .lines()
        .find(|l| l.contains("probe_p95_ms"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(probe_row.contains("| ≥ "), "{probe_row}");
    assert!(probe_row.contains("cannot tell: a bound"), "{probe_row}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(check.join("invariance.json")).unwrap()).unwrap();
    assert_eq!(json["invariant"], false);
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(2));
}

#[test]
fn a_staged_level_ramps_each_style_and_the_summary_marks_its_knee() {
    let dir = temp_dir("staged");
    let scenario = write_scenario(
        &dir,
        r#"
name = "staged"
duration = "2s"
warmup = "0s"
thresholds = ["p95<2s"]
[[styles]]
style = "async"
workers = [1]
[[workloads]]
route = "cpu"
cpu_rounds = 10
[load]
stages = ["1s:200", "1s:200"]
open_loop_connections = 4
"#,
    );
    let out = dir.join("results");
    let output = common::runs::run_scenario(&scenario, &out);
    common::assert_success(&output);
    let run = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let csv = std::fs::read_to_string(run.join("cells.csv")).unwrap();
    assert!(csv.contains(",staged,"), "{csv}");
    let summary = std::fs::read_to_string(run.join("summary.md")).unwrap();
    assert!(summary.contains("## Knees under staged rates"), "{summary}");
    assert!(
        summary.contains("| cpu | async(workers=1) | — (none broke) | — | 1 of 1 |"),
        "{summary}"
    );
    assert!(
        summary.contains("**Knees**: async(workers=1) held up to 200 req/s"),
        "{summary}"
    );
    assert!(run.join("charts").join("knee-cpu.svg").is_file());
    // The timeline follows the ramp: 100 req/s scheduled in the first second, 200 in the second.
    let timeline = std::fs::read_dir(run.join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".timeline.csv"))
        .unwrap();
    let rows: Vec<std::collections::HashMap<String, String>> = csv::Reader::from_path(&timeline)
        .unwrap()
        .deserialize()
        .map(|r| r.unwrap())
        .collect();
    let targets: Vec<f64> = rows
        .iter()
        .map(|r| r["target_rps"].parse().unwrap())
        .collect();
    assert_eq!(targets, vec![100.0, 200.0]);
}

#[test]
fn a_style_runs_over_http1_and_http2_at_the_same_requests_in_flight() {
    let dir = temp_dir("http2");
    let scenario = write_scenario(
        &dir,
        r#"
name = "http2"
duration = "300ms"
warmup = "0s"
[[styles]]
style = "async"
workers = [1]
protocols = ["http1", "http2"]
[[workloads]]
route = "null"
connections = [4]
[load]
streams = 2
"#,
    );
    let run = run_ok(&scenario, &dir.join("results"));
    let cells = common::runs::cells(&run);
    let by_variant = |variant: &str| {
        cells
            .iter()
            .find(|c| c["variant"] == variant)
            .unwrap_or_else(|| panic!("no {variant} cell in {cells:?}"))
    };
    let http1 = by_variant("async(workers=1)");
    let http2 = by_variant("async(workers=1)+http2");
    assert_eq!(
        (http1["protocol"].as_str(), http1["streams"].as_str()),
        ("http1", "")
    );
    // A level of 4 requests in flight: 2 connections of 2 streams.
    assert_eq!(
        (http2["protocol"].as_str(), http2["streams"].as_str()),
        ("http2", "2")
    );
    assert_eq!(http2["connections"], "4");
    for cell in [http1, http2] {
        assert!(cell["requests_ok"].parse::<u64>().unwrap() > 0, "{cell:?}");
        assert_eq!(cell["err_stream_reset"], "0");
        assert_eq!(cell["err_goaway"], "0");
    }
}
