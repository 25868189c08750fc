//! `sabench ab` end to end on loopback: the same build against a build whose servers do
//! four times the CPU work a request (a planted regression) must fail the CPU gate, and
//! the comparison's files must be there to read.

use std::process::Command;

#[test]
fn a_planted_cpu_regression_fails_the_gate_and_the_files_are_written() {
    let sabench = env!("CARGO_BIN_EXE_sabench");
    let work = std::env::temp_dir().join(format!("sabench-ab-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let taxed = work.join("sabench-taxed");
    std::fs::write(
        &taxed,
        format!("#!/bin/sh\nSABENCH_PLANTED_CPU_TAX_PERCENT=300 exec {sabench} \"$@\"\n"),
    )
    .unwrap();
    let chmod = Command::new("chmod")
        .arg("+x")
        .arg(&taxed)
        .status()
        .unwrap();
    assert!(chmod.success());
    let scenario = work.join("ab.toml");
    std::fs::write(
        &scenario,
        "name = \"ab-test\"\nduration = \"500ms\"\nwarmup = \"100ms\"\nrepetitions = 6\n\
         [[styles]]\nstyle = \"async\"\nworkers = [1]\n\
         [[workloads]]\nroute = \"cpu\"\ncpu_rounds = 2000\n\
         [load]\nconnections = [2]\ntimeout = \"2s\"\n",
    )
    .unwrap();
    let output = Command::new(sabench)
        .arg("ab")
        .arg(&scenario)
        .arg("--before")
        .arg(sabench)
        .arg("--after")
        .arg(&taxed)
        .arg("--out")
        .arg(&work)
        .args(["--fail-on", "cpu:+50%"])
        .env("CI", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("**failed**: cpu async(workers=1) c=2: +")
            && stdout.contains("is beyond cpu:+50%"),
        "{stdout}"
    );
    let folder = std::fs::read_dir(&work)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.to_string_lossy().ends_with("-ab-test-ab"))
        .expect("the comparison's folder");
    for file in ["ab.md", "ab.json"] {
        assert!(folder.join(file).is_file(), "{file}");
    }
    // The generator's own CPU per request is measured on both sides, beside the server's.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("ab.json")).unwrap()).unwrap();
    let generator = report["cells"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["metric"] == "generator_cpu_us_per_ok")
        .expect("the generator's CPU per request");
    for side in ["before", "after"] {
        assert!(
            generator[side].as_f64().is_some_and(|us| us > 0.0),
            "{generator}"
        );
    }
    let lanes: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("cells.csv").is_file())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(lanes.len(), 2, "before/ and after/ run folders: {lanes:?}");
    let _ = std::fs::remove_dir_all(&work);
}
