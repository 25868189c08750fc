//! `sabench load --metrics-listen` scraped by a real Prometheus (Debian's package,
//! started here on a loopback port with a 1 s scrape interval and a temporary store):
//! while the run goes, Prometheus's query API returns its request counter and its
//! latency histogram. Skipped with a message where Prometheus is missing; under
//! `CI=true` that fails (`.ci/run` installs it with scripts/install-prometheus.sh).

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::targets::Target;
use serde_json::Value;

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port (bound, read, released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on `addr`, the body (None: no connection, or no answer).
fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

/// The value of the first series `query` returns on the Prometheus at `addr`.
fn query(addr: SocketAddr, query: &str) -> Option<f64> {
    let encoded: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = get(addr, &format!("/api/v1/query?query={encoded}"))?;
    let json: Value = serde_json::from_str(&body).ok()?;
    json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn a_real_prometheus_scrapes_a_running_load() {
    if !have_prometheus() {
        return;
    }
    let target = Target::delayed(Duration::from_millis(1));
    let url = target.url("/");
    let json = std::env::temp_dir().join(format!("sabench-metrics-{}.json", std::process::id()));
    let mut load = Killed(
        Command::new(env!("CARGO_BIN_EXE_sabench"))
            .args(["load", &url, "--rate", "200", "-c", "4", "-d", "5s", "-q"])
            .args(["--metrics-listen", "127.0.0.1:0", "--metrics-linger", "3s"])
            .arg("--json")
            .arg(&json)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The endpoint's address is the first line the run prints on stderr.
    let mut stderr = BufReader::new(load.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let metrics: SocketAddr = line
        .trim()
        .strip_prefix("metrics: http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in {line:?}"))
        .parse()
        .unwrap();
    let dir = common::runs::temp_dir("prometheus");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: sabench\n    static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let (_prometheus, web) = start_prometheus(&dir, &config, &[]);
    // Bounded: the run lasts 5 s and lingers 3 s; Prometheus scrapes once a second.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = None;
    while Instant::now() < deadline {
        let ok = query(web, "sabench_requests_total{outcome=\"ok\"}");
        let latency = query(web, "sabench_ok_latency_seconds_count");
        if let (Some(ok), Some(latency)) = (ok, latency) {
            if ok > 0.0 && latency > 0.0 {
                seen = Some((ok, latency));
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let (ok, latency) = seen.expect("Prometheus never returned the run's counters");
    assert_eq!(ok, latency, "every success is in the latency histogram");
    let status = load.0.wait().unwrap();
    assert!(status.success());
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    let total = report["requests"]["ok"].as_f64().unwrap();
    assert!(
        ok <= total,
        "a scrape while it ran saw {ok} successes, the run had {total} in all"
    );
}

#[test]
fn the_grafana_dashboard_reads_only_metrics_the_endpoint_serves() {
    use sync_async_bench::load::recorder::Recording;
    use sync_async_bench::load::Watcher as _;
    use sync_async_bench::watch::metrics::{Endpoint, Exposition};
    let exposition = Exposition::new();
    let metrics = exposition.add("http://127.0.0.1:1/", "");
    let endpoint = Endpoint::start("127.0.0.1:0".parse().unwrap(), exposition.clone()).unwrap();
    exposition.serving(Some((std::process::id(), "async", "")));
    let mut totals = Recording::default();
    totals.counts.ok = 1;
    totals.counts.statuses.insert(200, 1);
    let second: sync_async_bench::load::report::Second = serde_json::from_str(
        r#"{"second": 0, "target_rps": 1.0, "sent_rps": 1.0, "achieved_rps": 1.0, "errors": 0, "p50_ms": null, "p99_ms": null}"#,
    )
    .unwrap();
    metrics.second(&sync_async_bench::load::Watched {
        row: &second,
        second: &totals,
        totals: &totals,
    });
    let served = get(endpoint.addr(), "/metrics").unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/grafana/sabench-load.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 6);
    let mut read = 0;
    for target in panels.iter().flat_map(|p| p["targets"].as_array().unwrap()) {
        let expr = target["expr"].as_str().unwrap();
        for name in expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("sabench_"))
        {
            assert!(
                served.contains(&format!("\n{name}{{")),
                "the dashboard reads {name}, which the endpoint does not serve"
            );
            read += 1;
        }
    }
    assert!(read >= 8);
}

#[test]
fn sabench_run_exposes_each_cell_and_the_server_it_measures() {
    let dir = common::runs::temp_dir("run-metrics");
    let scenario = common::runs::write_scenario(
        &dir,
        "name = \"m\"\nduration = \"3s\"\nwarmup = \"0s\"\n[[styles]]\nstyle = \"async\"\nworkers = [1]\n[[workloads]]\nroute = \"io\"\nconnections = [4]\n",
    );
    let mut run = Killed(
        Command::new(env!("CARGO_BIN_EXE_sabench"))
            .arg("run")
            .arg(&scenario)
            .arg("--out")
            .arg(dir.join("results"))
            .args(["--metrics-listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(run.0.stderr.take().unwrap());
    let mut metrics = None;
    for _ in 0..20 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(addr) = line
            .trim()
            .strip_prefix("metrics: http://")
            .and_then(|rest| rest.strip_suffix("/metrics"))
        {
            metrics = Some(addr.parse::<SocketAddr>().unwrap());
            break;
        }
    }
    let metrics = metrics.expect("sabench run printed no metrics address");
    // Bounded: the one cell measures 3 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while Instant::now() < deadline {
        seen = get(metrics, "/metrics").unwrap_or_default();
        if seen.contains("outcome=\"ok\"") && seen.contains("sabench_server_threads{") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        seen.contains("cell=\"io-async-workers-1-c4-r1\",outcome=\"ok\""),
        "{seen}"
    );
    assert!(
        seen.contains("sabench_server_threads{style=\"async\",cell=\"io-async-workers-1-c4-r1\"}"),
        "{seen}"
    );
    assert!(run.0.wait().unwrap().success());
}

/// Whether Debian's Prometheus is there; without it the caller skips, saying how to
/// install it (under CI that fails).
fn have_prometheus() -> bool {
    if Command::new("prometheus").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        !common::in_ci(),
        "prometheus is not installed: run scripts/install-prometheus.sh (CI installs it)"
    );
    eprintln!(
        "skipped: prometheus is not installed (scripts/install-prometheus.sh installs Debian's)"
    );
    false
}

/// A Prometheus on a free loopback port with `config` and a store in `dir`, and `extra`
/// flags; killed when the first is dropped.
fn start_prometheus(
    dir: &std::path::Path,
    config: &std::path::Path,
    extra: &[&str],
) -> (Killed, SocketAddr) {
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    (prometheus, web)
}

#[test]
fn a_real_prometheus_takes_a_load_pushed_by_remote_write() {
    if !have_prometheus() {
        return;
    }
    let dir = common::runs::temp_dir("prometheus-push");
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1s\n").unwrap();
    let (_prometheus, web) =
        start_prometheus(&dir, &config, &["--web.enable-remote-write-receiver"]);
    // Bounded: Prometheus is ready within seconds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(web, "/-/ready").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let target = Target::delayed(Duration::from_millis(1));
    let json = dir.join("load.json");
    let output = Command::new(env!("CARGO_BIN_EXE_sabench"))
        .args([
            "load",
            &target.url("/"),
            "--rate",
            "200",
            "-c",
            "4",
            "-d",
            "3s",
            "-q",
        ])
        .arg("--metrics-push")
        .arg(format!("http://{web}/api/v1/write"))
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("pushed to"), "{stderr}");
    assert!(!stderr.contains("failed"), "a push failed: {stderr}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let total = report["requests"]["ok"].as_f64().unwrap();
    let ok = query(web, "sabench_requests_total{outcome=\"ok\"}")
        .expect("Prometheus has no pushed request counter");
    let latency = query(web, "sabench_ok_latency_seconds_count")
        .expect("Prometheus has no pushed latency histogram");
    assert!(ok > 0.0 && ok <= total, "pushed {ok} successes of {total}");
    assert_eq!(ok, latency, "every success is in the latency histogram");
}
