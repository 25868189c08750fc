//! `sabench load` as a user runs it: the published JSON schema holds for its output,
//! INVALID runs fail under --strict, a dead target fails fast, and memory does not
//! grow with the length of a run.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::schema::{schema, validate};
use common::targets::Target;
use serde_json::Value;

fn sabench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sabench"))
        .args(args)
        .output()
        .unwrap()
}

fn json_run(args: &[&str]) -> Value {
    let path = std::env::temp_dir().join(format!(
        "sabench-load-{}-{}.json",
        std::process::id(),
        args.join("_").replace(['/', ':'], "")
    ));
    let mut all: Vec<&str> = vec!["load"];
    all.extend(args);
    let path_text = path.to_string_lossy().into_owned();
    all.extend(["--json", &path_text, "--quiet"]);
    let output = sabench(&all);
    common::assert_success(&output);
    let value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    value
}

#[test]
fn the_json_output_matches_the_published_schema_in_both_modes() {
    let schema = schema();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for key in [
        "target_rps",
        "achieved_rps",
        "requests",
        "requests_ok",
        "error_share",
        "errors",
        "status_counts",
        "latency_ms",
        "valid",
        "generator_cpu_s",
    ] {
        assert!(required.contains(&key), "the schema must require {key}");
    }
    let target = Target::delayed(Duration::from_millis(1));
    let url = target.url("/");
    let open = json_run(&[&url, "--rate", "200", "-c", "4", "-d", "1500ms"]);
    let closed = json_run(&[&url, "-c", "2", "-n", "300"]);
    for report in [&open, &closed] {
        let problems = validate(&schema, &schema, report, "$");
        assert!(problems.is_empty(), "{problems:#?}");
    }
    assert_eq!(open["mode"], "open");
    assert_eq!(open["target_rps"].as_f64(), Some(200.0));
    assert_eq!(closed["target_rps"], Value::Null);
    assert_eq!(closed["requests_sent"], 300);
    assert_eq!(closed["requests"]["scheduled"], 300);
    assert_eq!(closed["status_counts"]["200"], 300);
    // The nested objects are checked for drift too.
    let nested = [
        ("requests", "/properties/requests/properties"),
        ("latency_ms", "/$defs/latency_view/properties"),
    ];
    for (field, pointer) in nested {
        let known = schema.pointer(pointer).unwrap().as_object().unwrap();
        let value = if field == "latency_ms" {
            &open[field]["ok"]
        } else {
            &open[field]
        };
        for key in value.as_object().unwrap().keys() {
            assert!(
                known.contains_key(key),
                "{field}.{key} is missing from the schema"
            );
        }
    }
    // A field the schema does not know is a schema that drifted from the code.
    let known = schema["properties"].as_object().unwrap();
    for key in open.as_object().unwrap().keys() {
        assert!(known.contains_key(key), "{key} is missing from the schema");
    }
}

#[test]
fn strict_fails_a_run_the_generator_could_not_keep_on_schedule() {
    let target = Target::delayed(Duration::from_millis(20));
    let url = target.url("/");
    // One connection to a 20 ms target cannot carry 500 req/s.
    let output = sabench(&[
        "load", &url, "--rate", "500", "-c", "1", "-d", "1s", "--strict", "-q",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("INVALID") && stdout.contains("--connections"),
        "{stdout}"
    );
    let relaxed = sabench(&["load", &url, "--rate", "500", "-c", "1", "-d", "1s", "-q"]);
    assert!(
        relaxed.status.success(),
        "without --strict an INVALID run still exits 0"
    );
}

#[test]
fn a_dead_target_fails_fast_with_a_hint() {
    let dead = common::dead_address();
    // Refused by the preflight, before any load: the message is the behaviour.
    let output = sabench(&["load", &format!("http://{dead}/"), "-c", "1", "-d", "5s"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nothing is listening") && stderr.contains("sabench serve"),
        "{stderr}"
    );
    let neither = sabench(&["load", &format!("http://{dead}/")]);
    assert!(String::from_utf8_lossy(&neither.stderr).contains("--rate R"));
}

#[test]
fn a_run_ten_times_longer_uses_no_more_memory() {
    let target = Target::delayed(Duration::ZERO);
    let url = target.url("/");
    let short = json_run(&[&url, "--rate", "3000", "-c", "16", "-d", "1s"]);
    let long = json_run(&[&url, "--rate", "3000", "-c", "16", "-d", "10s"]);
    let short_rss = short["generator_peak_rss_mib"].as_f64().unwrap();
    let long_rss = long["generator_peak_rss_mib"].as_f64().unwrap();
    assert!(
        long["requests_sent"].as_u64().unwrap() >= 9 * short["requests_sent"].as_u64().unwrap()
    );
    assert!(short_rss > 0.0);
    assert!(
        long_rss <= short_rss * 1.10 + 2.0,
        "1 s: {short_rss:.1} MiB, 10 s: {long_rss:.1} MiB"
    );
}

#[test]
fn held_connections_are_reported_against_the_schema_and_cost_the_generator_little() {
    let schema = schema();
    let target = Target::delayed(Duration::ZERO);
    let url = target.url("/");
    let run = |connections: &str| {
        json_run(&[
            &url,
            "-c",
            connections,
            "--ramp",
            "5000",
            "--rate",
            "200",
            "-d",
            "1s",
        ])
    };
    let few = run("100");
    // While it runs, the target (in this process) holds every connection: most never
    // get a request (200 req/s cannot reach 1,500), and they must stay open all the same.
    let open_here = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    let before = open_here();
    let mut held = std::process::Command::new(env!("CARGO_BIN_EXE_sabench"))
        .args([
            "load", &url, "-c", "1500", "--ramp", "5000", "--rate", "200", "-d", "2s", "-q",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The most connections the target held at once while the run lasted (it ends by
    // itself after its 2 s window, however long its ramp took).
    let mut during = 0;
    while held.try_wait().unwrap().is_none() {
        during = during.max(open_here().saturating_sub(before));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        during >= 1500,
        "the target held {during} connections mid-window"
    );
    let many = run("1500");
    for report in [&few, &many] {
        let problems = validate(&schema, &schema, report, "$");
        assert!(problems.is_empty(), "{problems:#?}");
    }
    let ramp = &many["connection_ramp"];
    assert_eq!(ramp["wanted"], 1500);
    assert_eq!(ramp["established"], 1500, "{ramp}");
    assert_eq!(ramp["stayed_up"], 1500, "{ramp}");
    assert!(ramp["connect_ms"]["p50"].as_f64().is_some(), "{ramp}");
    // Only asked connections count as unserved: 200 requests cannot reach 1,500.
    assert_eq!(many["connections_unserved"], 0);
    // A generator that needed 1 MB per connection could not do this job.
    let rss = |r: &Value| r["generator_peak_rss_mib"].as_f64().unwrap() * 1024.0;
    let per_connection_kib = (rss(&many) - rss(&few)) / 1400.0;
    assert!(
        per_connection_kib <= 16.0,
        "{per_connection_kib:.1} KiB per held connection"
    );
}

#[test]
fn a_ramp_needs_a_rate() {
    let out = sabench(&[
        "load",
        "http://127.0.0.1:9/",
        "-c",
        "10",
        "--ramp",
        "100",
        "-d",
        "1s",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--rate"), "{stderr}");
}

/// `sabench load ARGS` with an open-file limit of `files` (soft and hard).
fn load_with_file_limit(files: u64, args: &[&str]) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_sabench"));
    command.arg("load").args(args);
    // SAFETY: setrlimit is async-signal-safe and only lowers this child's own limit.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: files,
                rlim_max: files,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

#[test]
fn more_connections_than_one_process_may_hold_run_in_several_merged_exactly() {
    let schema = schema();
    let target = Target::delayed(Duration::ZERO);
    let url = target.url("/");
    let json = std::env::temp_dir().join(format!("sabench-shards-{}.json", std::process::id()));
    let json_text = json.to_string_lossy().into_owned();
    // 300 descriptors hold 236 connections each (64 are kept for everything else):
    // 500 connections need 3 generator processes.
    let held = [
        &url, "-c", "500", "--ramp", "2000", "--rate", "300", "-d", "2s", "-q",
    ];
    let output = load_with_file_limit(300, &held)
        .args(["--json", &json_text])
        .output()
        .unwrap();
    common::assert_success(&output);
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    let problems = validate(&schema, &schema, &report, "$");
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(report["generator_processes"], 3);
    let ramp = &report["connection_ramp"];
    assert_eq!(ramp["established"], 500, "{ramp}");
    assert_eq!(ramp["stayed_up"], 500, "{ramp}");
    // The one schedule, split over three processes, is followed exactly: 300 req/s for
    // 2 s, each request accounted for once.
    let requests = &report["requests"];
    assert_eq!(requests["scheduled"], 600, "{requests}");
    assert_eq!(requests["ok"], 600, "{requests}");
    let per_second: u64 = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sent_rps"].as_f64().unwrap().round() as u64)
        .sum();
    assert_eq!(per_second, 600, "the merged timeline holds every request");
    assert!(
        common::report_valid_but_for_the_generator(&report),
        "{}",
        report["invalid_reasons"]
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("3 generator processes"), "{stdout}");

    // Asked for one process, the same run fails before it starts, saying what to do.
    let one = load_with_file_limit(300, &held)
        .args(["--processes", "1"])
        .output()
        .unwrap();
    assert!(!one.status.success());
    let stderr = String::from_utf8_lossy(&one.stderr);
    assert!(
        stderr.contains("the limit is 300") && stderr.contains("--processes"),
        "{stderr}"
    );
}

#[test]
fn an_interrupted_run_over_several_processes_reports_and_leaves_none_behind() {
    let target = Target::delayed(Duration::ZERO);
    let url = target.url("/");
    let mut run = Command::new(env!("CARGO_BIN_EXE_sabench"))
        .args([
            "load",
            &url,
            "--processes",
            "2",
            "--rate",
            "200",
            "-c",
            "4",
            "-d",
            "60s",
            "-q",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let children_file = format!("/proc/{0}/task/{0}/children", run.id());
    // Until both generator processes are up, or the run ended (it is bounded itself).
    let children = loop {
        let pids: Vec<u32> = std::fs::read_to_string(&children_file)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.len() == 2 || run.try_wait().unwrap().is_some() {
            break pids;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(children.len(), 2, "two generator processes");
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(run.id() as i32, libc::SIGINT);
    }
    let status = common::wait_for_exit(&mut run, Duration::from_secs(15), "the run on Ctrl-C");
    assert_eq!(status.code(), Some(130));
    let mut stdout = String::new();
    std::io::Read::read_to_string(run.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert!(
        stdout.contains("scheduled"),
        "a report, from what both processes did: {stdout}"
    );
    for pid in children {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|stat| stat.contains(") Z")),
            "generator process {pid} was left behind"
        );
    }
}

/// Ctrl-C on a run whose connections hold tickets far ahead: 1,000 connections at
/// 25 req/s each take a request up to 40 s ahead of its time. The run must end at
/// once, count none of those never-due requests, and report its rate over the time it
/// ran (not over the 120 s it was planned for).
#[test]
fn ctrl_c_on_held_connections_ends_at_once_and_counts_only_what_was_due() {
    let target = Target::delayed(Duration::ZERO);
    let url = target.url("/");
    let json = std::env::temp_dir().join(format!("sabench-held-int-{}.json", std::process::id()));
    let json_text = json.to_string_lossy().into_owned();
    let mut run = Command::new(env!("CARGO_BIN_EXE_sabench"))
        .args([
            "load", &url, "-c", "1000", "--ramp", "5000", "--rate", "25", "-d", "120s", "--json",
            &json_text, "-q",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // The ramp (0.2 s) and its settling (0.5 s), then about 2 s of the window.
    std::thread::sleep(Duration::from_millis(2700));
    // SAFETY: a signal to our own child.
    unsafe {
        libc::kill(run.id() as i32, libc::SIGINT);
    }
    // The last ticket taken is due about 40 s after the window began: waiting for it
    // would take the run past this bound.
    let status = common::wait_for_exit(&mut run, Duration::from_secs(20), "the run on Ctrl-C");
    let ran = started.elapsed().as_secs_f64();
    assert_eq!(status.code(), Some(130));
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    let requests = &report["requests"];
    let count = |key: &str| requests[key].as_u64().unwrap();
    assert_eq!(
        count("scheduled"),
        count("sent") + count("unsent"),
        "{requests}"
    );
    // At 25 req/s, a run that lasted `ran` seconds was due at most 25 × ran requests
    // (plus a second's slack); the 1,000 tickets taken ahead were never due.
    let due_at_most = (25.0 * (ran + 1.0)) as u64;
    assert!(
        (1..=due_at_most).contains(&count("scheduled")),
        "{requests} in {ran:.1} s"
    );
    let window = report["duration_s"].as_f64().unwrap();
    assert!(
        window > 0.0 && window <= ran,
        "the window is the time it ran ({ran:.1} s), not the planned 120 s: {window}"
    );
    assert_eq!(report["connection_ramp"]["established"], 1000);
}

#[test]
fn a_generator_panic_exits_non_zero_with_its_message_and_keeps_the_report() {
    let target = Target::delayed(Duration::ZERO);
    let json = std::env::temp_dir().join(format!("sabench-panic-{}.json", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_sabench"))
        .args([
            "load",
            &target.url("/"),
            "-c",
            "2",
            "-n",
            "50",
            "-q",
            "--json",
        ])
        .arg(&json)
        .env("SABENCH_INJECT_GENERATOR_PANIC", "3")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the generator panicked") && stderr.contains("at request 3"),
        "{stderr}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    assert_eq!(report["valid"], false);
    assert_eq!(report["generator_panics"].as_array().unwrap().len(), 1);
    assert!(report["requests"]["in_flight_at_end"].as_u64().unwrap() >= 1);
}

#[test]
fn absurd_numbers_are_refused_with_exit_2_and_never_panic() {
    let dead = common::dead_address();
    let url = format!("http://{dead}/");
    for (args, says) in [
        (
            vec!["--shard", "1/2", "--start-at", "1e20"],
            "is not a time",
        ),
        (
            vec!["--shard", "1/2", "--start-at", "1000"],
            "is in the past (it is now",
        ),
        (
            vec!["--shard", "1/2", "--start-at", "4102444800"],
            "ahead (it is now",
        ),
        (
            vec!["--rate", "1e-300"],
            "is outside 0.001 to 100000000 a second",
        ),
        (vec!["--rate", "NaN"], "is outside"),
        (
            vec!["-c", "1", "-d", "1000000000years"],
            "longer than the most a run may take",
        ),
        (
            vec!["-c", "1", "--timeout", "10000days"],
            "longer than the most a run may take",
        ),
        (
            vec!["--rate", "1", "--ramp", "0.001", "-c", "1000000"],
            "the ramp",
        ),
        (
            vec!["--rate", "1", "--rate-step", "1", "--step-every", "0s"],
            "shorter than 1ms",
        ),
    ] {
        let output = sabench(&[&["load", url.as_str()], args.as_slice()].concat());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_staged_run_schedules_the_integral_of_its_stages_and_marks_the_knee() {
    let schema = schema();
    let target = Target::delayed(Duration::from_millis(1));
    let url = target.url("/");
    // Up to 200 req/s over 1 s, hold 1 s, down to 100 over 1 s: 100 + 200 + 150 due.
    let report = json_run(&[
        &url,
        "--stage",
        "1s:200",
        "--stage",
        "1s:200",
        "--stage",
        "1s:100",
        "-c",
        "4",
        "--threshold",
        "p95<5s",
    ]);
    let problems = validate(&schema, &schema, &report, "$");
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(report["mode"], "open");
    assert_eq!(report["duration_s"].as_f64(), Some(3.0));
    assert_eq!(
        report["requests"]["scheduled"], 450,
        "{}",
        report["requests"]
    );
    // The timeline's target follows the stages, second by second.
    let targets: Vec<f64> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["target_rps"].as_f64().unwrap())
        .collect();
    assert_eq!(targets, vec![100.0, 200.0, 150.0], "{targets:?}");
    assert!((report["target_rps"].as_f64().unwrap() - 150.0).abs() < 1e-9);
    // A loose bound held in every second: no knee, up to the highest rate scheduled.
    assert_eq!(report["knee"]["second"], Value::Null, "{}", report["knee"]);
    assert_eq!(report["knee"]["target_rps"].as_f64(), Some(200.0));
    // The warm-up is the stages' beginning: what is left is measured.
    let warmed = json_run(&[
        &url, "--stage", "1s:100", "--stage", "1s:100", "--warmup", "1s",
    ]);
    assert_eq!(warmed["duration_s"].as_f64(), Some(1.0));
    assert_eq!(warmed["requests"]["scheduled"], 100);
}

#[test]
fn stages_that_cannot_run_are_refused_with_what_to_do() {
    let cases: [(&[&str], &str); 4] = [
        (&["--stage", "10s"], "DURATION:RATE"),
        (&["--stage", "1s:0"], "no request would be sent"),
        (
            &["--stage", "1s:100", "--rate", "10"],
            "cannot be used with",
        ),
        (&["--stage", "1s:100", "--warmup", "2s"], "longer than it"),
    ];
    for (args, said) in cases {
        let mut all = vec!["load", "http://127.0.0.1:9/"];
        all.extend(args);
        let output = sabench(&all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
}

#[test]
fn a_mix_of_urls_reports_each_url_on_its_own_and_they_add_up() {
    let schema = schema();
    let target = Target::delayed(Duration::from_millis(1));
    let dir = std::env::temp_dir().join(format!("sabench-mix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mix.txt");
    std::fs::write(
        &file,
        format!(
            "# name weight url\nfront 3 {}\n1 {}\n",
            target.url("/front"),
            target.url("/missing?x=1")
        ),
    )
    .unwrap();
    let file = file.to_string_lossy().into_owned();
    let report = json_run(&[
        "--url-file",
        &file,
        "--rate",
        "400",
        "-c",
        "4",
        "-d",
        "1s",
        "--threshold",
        "p95{url=front}<5s",
        "--threshold",
        "error_rate{url=/missing?x=1}<100%",
    ]);
    let problems = validate(&schema, &schema, &report, "$");
    assert!(problems.is_empty(), "{problems:#?}");
    let urls = report["per_url"].as_array().expect("per-URL figures");
    assert_eq!(urls.len(), 2);
    assert_eq!(urls[0]["name"], "front");
    assert_eq!(urls[1]["name"], "/missing?x=1", "unnamed: its path");
    // Every count adds up to the pooled one.
    for key in ["scheduled", "sent", "ok", "failed", "unfinished"] {
        let sum: u64 = urls
            .iter()
            .map(|u| u["requests"][key].as_u64().unwrap())
            .sum();
        assert_eq!(sum, report["requests"][key].as_u64().unwrap(), "{key}");
    }
    assert_eq!(report["requests"]["scheduled"], 400);
    // About three in four go to the URL of weight 3.
    let front = urls[0]["requests"]["scheduled"].as_f64().unwrap();
    assert!((front / 400.0 - 0.75).abs() < 0.1, "{front}");
    // Each threshold read its own URL's figures.
    let thresholds = report["thresholds"].as_array().unwrap();
    assert!(
        thresholds.iter().all(|t| t["passed"] == true),
        "{thresholds:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
