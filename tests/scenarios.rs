//! The scenarios the project ships: each one loads, and each of its pairs names
//! workloads and style labels its plan really has (a typo would make a claim "cannot
//! decide" only after a 20-minute run). The broken twin shares ci-claims.toml's gate.

use std::path::{Path, PathBuf};

use sync_async_bench::scenario::{self, plan};

fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_scenario_loads_and_its_pairs_name_real_cells() {
    let files = shipped();
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let scenario = scenario::load(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let cells = plan::cells(&scenario);
        let has = |workload: &str, label: &str| {
            cells
                .iter()
                .any(|c| c.workload.name() == workload && c.server.label() == label)
        };
        for pair in &scenario.pairs {
            if pair.workload == "pipeline" {
                assert!(
                    scenario.pipeline.is_some(),
                    "{}: {}",
                    file.display(),
                    pair.title
                );
                continue;
            }
            let right_workload = pair.right_workload.as_deref().unwrap_or(&pair.workload);
            assert!(
                has(right_workload, &pair.right),
                "{}: pair {:?} names {} on {right_workload}, which the plan does not have",
                file.display(),
                pair.title,
                pair.right
            );
            assert!(
                pair.wrong.is_empty() || has(&pair.workload, &pair.wrong),
                "{}: pair {:?} names {} on {}, which the plan does not have",
                file.display(),
                pair.title,
                pair.wrong,
                pair.workload
            );
        }
    }
}

#[test]
fn the_broken_twin_is_held_to_the_same_gate_as_ci() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let gate = |file: &str| {
        let scenario = scenario::load(&dir.join(file)).unwrap();
        let pair = scenario
            .pairs
            .iter()
            .find(|p| p.claim == "C1" && p.gate)
            .cloned()
            .unwrap();
        (
            pair.threshold,
            pair.metric,
            pair.wrong,
            scenario.workloads,
            scenario.repetitions,
        )
    };
    let (ci, twin) = (gate("ci-claims.toml"), gate("ci-broken-twin.toml"));
    assert_eq!(ci.0, twin.0, "the same threshold");
    assert_eq!(
        (ci.1, ci.2),
        (twin.1, twin.2),
        "the same metric and wrong side"
    );
    let io = |w: &Vec<scenario::WorkloadSpec>| w.iter().find(|w| w.name() == "io-heavy").cloned();
    assert_eq!(io(&ci.3), io(&twin.3), "the same workload and search");
    assert_eq!(ci.4, twin.4, "the same repetitions");
}

/// Every manifest under `results/`, however deep.
fn committed_manifests(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            committed_manifests(&path, out);
        } else if path.file_name().is_some_and(|n| n == "manifest.json") {
            out.push(path);
        }
    }
}

#[test]
fn every_committed_run_reads_its_scenario_typed() {
    let mut manifests = Vec::new();
    committed_manifests(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("results"),
        &mut manifests,
    );
    assert!(!manifests.is_empty());
    for path in manifests {
        let text = std::fs::read_to_string(&path).unwrap();
        let manifest: sync_async_bench::results::Manifest =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let scenario = manifest.scenario.typed();
        assert!(
            scenario.is_some_and(|s| s.name == manifest.scenario_name),
            "{}: its scenario does not read as this build's",
            path.display()
        );
        // Written back exactly as it was read: a report never rewrites what ran.
        let again = serde_json::to_value(&manifest.scenario).unwrap();
        assert_eq!(&again, manifest.scenario.recorded(), "{}", path.display());
    }
}

/// The knobs `sabench serve` has for a style and a scenario's `[[styles]]` does not,
/// each with why (everything else must be spelled the same in both).
const SERVE_ONLY: [&str; 1] = [
    "no_lag_probe", // only to measure what the probe costs, by hand
];
/// `[[styles]]` keys that are not a server's knobs.
/// `protocols` is the generator's: `sabench serve` (async, hybrid) answers HTTP/1.1
/// and h2c on one port whatever a scenario asks.
const SCENARIO_ONLY: [&str; 3] = ["only", "port", "protocols"];

#[test]
fn a_scenario_and_serve_spell_every_style_knob_the_same() {
    use clap::CommandFactory;
    let cli = sync_async_bench::cli::Cli::command();
    let serve = cli.find_subcommand("serve").expect("a serve command");
    let flags: Vec<String> = serve
        .get_arguments()
        .filter_map(|a| a.get_long())
        .map(|long| long.replace('-', "_"))
        .collect();
    let text = "name = \"t\"\n[[styles]]\nstyle = \"async\"\n[[workloads]]\nroute = \"null\"\n[load]\nconnections = [4]\n";
    let scenario = scenario::parse(text, "t.toml").unwrap();
    let keys: Vec<String> = serde_json::to_value(&scenario.styles[0])
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for key in keys.iter().filter(|k| !SCENARIO_ONLY.contains(&k.as_str())) {
        assert!(
            flags.contains(key),
            "[[styles]] {key} has no `serve --{}`",
            key.replace('_', "-")
        );
    }
    // serve's style knobs are the ones its help lists before the workload's and limits'.
    let style_flags = [
        "threads",
        "thread_per_connection",
        "workers",
        "offload",
        "rayon_threads",
        "variant",
        "in_service",
        "cpu_hog",
        "db_pool",
        "stack_kib",
        "open_files",
        "no_lag_probe",
    ];
    for flag in style_flags.iter().filter(|f| !SERVE_ONLY.contains(f)) {
        assert!(flags.contains(&flag.to_string()), "serve has no --{flag}");
        assert!(
            keys.contains(&flag.to_string()),
            "serve --{} has no [[styles]] key",
            flag.replace('_', "-")
        );
    }
}

#[test]
fn staged_rates_must_add_up_to_the_run_and_read_as_duration_and_rate() {
    let scenario = |stages: &str| {
        format!(
            "name = \"s\"\nduration = \"3s\"\nwarmup = \"1s\"\n[[styles]]\nstyle = \"async\"\nworkers = [1]\n[[workloads]]\nroute = \"cpu\"\n[load]\nstages = {stages}\n"
        )
    };
    let parsed = sync_async_bench::scenario::parse(&scenario(r#"["2s:100", "2s:100"]"#), "s.toml")
        .expect("4 s of stages for 1 s of warm-up and 3 s measured");
    let stages = parsed.load.staged().expect("a staged level");
    assert_eq!(stages.total(), std::time::Duration::from_secs(4));
    let short = sync_async_bench::scenario::parse(&scenario(r#"["2s:100"]"#), "s.toml")
        .unwrap_err()
        .to_string();
    assert!(
        short.contains("s.toml")
            && short.contains("[load] stages last 2s")
            && short.contains("set `duration` to 1s"),
        "{short}"
    );
    let misspelt = sync_async_bench::scenario::parse(&scenario(r#"["2s", "2s:100"]"#), "s.toml")
        .unwrap_err()
        .to_string();
    assert!(
        misspelt.contains("s.toml:10") && misspelt.contains("DURATION:RATE"),
        "{misspelt}"
    );
}

#[test]
fn http2_is_a_variant_of_async_and_hybrid_only_and_levels_fit_the_streams() {
    let scenario = |style: &str, connections: &str, streams: u32| {
        format!(
            "name = \"h\"\n[[styles]]\nstyle = \"{style}\"\nprotocols = [\"http1\", \"http2\"]\n[[workloads]]\nroute = \"null\"\nconnections = {connections}\n[load]\nstreams = {streams}\n"
        )
    };
    let parsed = scenario::parse(&scenario("hybrid", "[16, 64]", 8), "h.toml").unwrap();
    let labels: Vec<String> = parsed.styles[0]
        .variants()
        .iter()
        .map(|v| v.label())
        .collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert!(labels[1].ends_with("+http2"), "{labels:?}");
    let blocking = scenario::parse(&scenario("blocking", "[16]", 8), "h.toml")
        .unwrap_err()
        .to_string();
    assert!(
        blocking.contains("h.toml") && blocking.contains("no HTTP/2 server"),
        "{blocking}"
    );
    let uneven = scenario::parse(&scenario("async", "[16, 20]", 8), "h.toml")
        .unwrap_err()
        .to_string();
    assert!(
        uneven.contains("streams = 8") && uneven.contains("20 connections is not a multiple"),
        "{uneven}"
    );
}
