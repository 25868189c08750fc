//! Load from many machines (issue 15): shards of one run (`load --shard I/N
//! --start-at T`) in separate processes, merged by `sabench merge`: the merged counts
//! are the sums, the merged p99 is the p99 of the union of the shards' histograms, and
//! a shard left out is an error. Each shard runs in its own network namespace and the
//! target (`sabench serve`) in another, joined by veth links (see `common::netns`);
//! where namespaces cannot be made (not root) the shards run as processes on loopback,
//! and the test says so.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::netns::{Namespaces, TARGET_ADDRESS};
use serde_json::Value;

fn decode(text: &str) -> hdrhistogram::Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .unwrap()
}

/// Where the target and the shards run.
enum Placement {
    /// Each in its own network namespace.
    Namespaces(Namespaces),
    /// All as processes on this namespace's loopback.
    Loopback,
}

impl Placement {
    fn choose(shards: usize) -> Self {
        match Namespaces::make(shards) {
            Ok(namespaces) => {
                eprintln!("shards and target each in a network namespace of their own");
                Placement::Namespaces(namespaces)
            }
            // CI runs as root with iproute2: a fallback there would hide a broken path.
            Err(why) if common::in_ci() => {
                panic!("network namespaces could not be made under CI=true ({why}): run CI as root with iproute2 (`ip`) installed")
            }
            Err(why) => {
                eprintln!("network namespaces could not be made ({why}): the shards run as processes on loopback");
                Placement::Loopback
            }
        }
    }

    fn target_command(&self) -> Command {
        match self {
            Placement::Namespaces(ns) => ns.command_in(&ns.target(), env!("CARGO_BIN_EXE_sabench")),
            Placement::Loopback => Command::new(env!("CARGO_BIN_EXE_sabench")),
        }
    }

    fn shard_command(&self, shard: usize) -> Command {
        match self {
            Placement::Namespaces(ns) => {
                ns.command_in(&ns.generator(shard), env!("CARGO_BIN_EXE_sabench"))
            }
            Placement::Loopback => Command::new(env!("CARGO_BIN_EXE_sabench")),
        }
    }

    fn target_address(&self) -> &'static str {
        match self {
            Placement::Namespaces(_) => TARGET_ADDRESS,
            Placement::Loopback => "127.0.0.1",
        }
    }
}

/// A `sabench serve` process, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the async style on a free port where `placement` puts the target; returns
/// it and its base URL.
fn start_target(placement: &Placement) -> (Server, String) {
    let mut child = placement
        .target_command()
        .args(["serve", "--style", "async", "--port", "0", "--bind"])
        .arg(placement.target_address())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Server(child);
    let url = line
        .split_whitespace()
        .last()
        .filter(|url| url.starts_with("http://"))
        .unwrap_or_else(|| panic!("no listening line from the target: {line:?}"))
        .to_string();
    (server, url)
}

#[test]
fn shards_in_separate_processes_merge_exactly() {
    let placement = Placement::choose(3);
    let (_server, base) = start_target(&placement);
    let url = format!("{base}/io");
    let dir = std::env::temp_dir().join(format!("sabench-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let start = SystemTime::now() + Duration::from_secs(2);
    let start_at = format!(
        "{:.3}",
        start.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
    );
    let paths: Vec<_> = (1..=3)
        .map(|i| dir.join(format!("shard-{i}.json")))
        .collect();
    let shards: Vec<_> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| {
            placement
                .shard_command(i + 1)
                .args(["load", &url, "--rate", "600", "-c", "12", "-d", "2s", "-q"])
                .args(["--shard", &format!("{}/3", i + 1), "--start-at", &start_at])
                .arg("--json")
                .arg(path)
                .arg("--hlog")
                .arg(path.with_extension("hlog"))
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut shard in shards {
        assert!(shard.wait().unwrap().success());
    }
    if let Placement::Namespaces(namespaces) = &placement {
        for shard in 1..=3 {
            assert!(
                namespaces.packets_sent_by(shard) > 0,
                "shard {shard} sent over its own link"
            );
        }
    }
    let reports: Vec<Value> = paths
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    for report in &reports {
        assert_eq!(report["target_rps"], 200.0, "each shard sends its third");
        assert_eq!(report["connections"], 4);
    }
    let merged_path = dir.join("merged.json");
    let output = Command::new(env!("CARGO_BIN_EXE_sabench"))
        .arg("merge")
        .args(&paths)
        .arg("--out")
        .arg(&merged_path)
        .args(
            paths
                .iter()
                .flat_map(|p| ["--hlog".into(), p.with_extension("hlog")]),
        )
        .arg("--hlog-out")
        .arg(dir.join("merged.hlog"))
        .output()
        .unwrap();
    common::assert_success(&output);
    let merged: Value = serde_json::from_slice(&std::fs::read(&merged_path).unwrap()).unwrap();
    let sum = |key: &str| -> u64 {
        reports
            .iter()
            .map(|r| r["requests"][key].as_u64().unwrap())
            .sum()
    };
    for key in ["scheduled", "sent", "ok", "unfinished"] {
        assert_eq!(merged["requests"][key].as_u64().unwrap(), sum(key), "{key}");
    }
    assert_eq!(
        merged["requests"]["scheduled"], 1200,
        "600 req/s for 2 s over three shards"
    );
    assert_eq!(merged["target_rps"], 600.0);
    assert_eq!(merged["connections"], 12);
    // The merged p99 is the union's, not an average of the shards'.
    let mut union = decode(
        reports[0]["shard"]["recording"]["histograms"][0]
            .as_str()
            .unwrap(),
    );
    for report in &reports[1..] {
        union
            .add(decode(
                report["shard"]["recording"]["histograms"][0]
                    .as_str()
                    .unwrap(),
            ))
            .unwrap();
    }
    let p99 = union.value_at_quantile(0.99) as f64 / 1000.0;
    assert_eq!(
        merged["latency_ms"]["ok"]["corrected"]["p99"]
            .as_f64()
            .unwrap(),
        p99
    );
    assert_eq!(merged["valid"], reports.iter().all(|r| r["valid"] == true));
    // The merged log holds every success of every shard, second by second.
    let logged = sync_async_bench::report::hlog::read_merged(&dir.join("merged.hlog"), "corrected")
        .unwrap()
        .unwrap();
    assert_eq!(logged.len(), merged["requests"]["ok"].as_u64().unwrap());
    assert_eq!(logged.value_at_quantile(0.99) as f64 / 1000.0, p99);

    let missing = Command::new(env!("CARGO_BIN_EXE_sabench"))
        .arg("merge")
        .args(&paths[..2])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("shard 3/3 is missing"));

    // A shard that stopped early (Ctrl-C, or its -n) measured a shorter window: its rates
    // are over other seconds, so the merge refuses it and says why.
    let mut short = reports[2].clone();
    short["duration_s"] = serde_json::json!(0.5);
    let short_path = dir.join("short.json");
    std::fs::write(&short_path, serde_json::to_vec(&short).unwrap()).unwrap();
    let shorter = Command::new(env!("CARGO_BIN_EXE_sabench"))
        .arg("merge")
        .args(&paths[..2])
        .arg(&short_path)
        .output()
        .unwrap();
    assert!(!shorter.status.success());
    let said = String::from_utf8_lossy(&shorter.stderr);
    assert!(said.contains("stopped early"), "{said}");

    // Times no run produces (edited or corrupt files) are refused with the file named,
    // never a panic: a negative warm-up in every shard, a huge last answer in one.
    for (field, value) in [("warmup_s", -5.0), ("duration_s", 1e300)] {
        let edited: Vec<std::path::PathBuf> = reports
            .iter()
            .enumerate()
            .map(|(i, report)| {
                let mut report = report.clone();
                report[field] = serde_json::json!(value);
                let path = dir.join(format!("edited-{field}-{i}.json"));
                std::fs::write(&path, serde_json::to_vec(&report).unwrap()).unwrap();
                path
            })
            .collect();
        let refused = Command::new(env!("CARGO_BIN_EXE_sabench"))
            .arg("merge")
            .args(&edited)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(1), "{field}: {said}");
        assert!(
            said.contains(&format!("edited-{field}-0.json: {field} is"))
                && !said.contains("panicked"),
            "{field}: {said}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
