//! The generator against hostile responses (issue 28): an endless chunked body of tiny
//! chunks, a head that never ends, and a 10 GB body. Its memory, read from outside
//! (`VmHWM` of the `sabench load` process), stays bounded; the requests fail in their
//! own class (`too_large`, or `timeout` when only the time bounds them); no thread's
//! busy share passes one core.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::targets::{Action, Target};
use serde_json::Value;

/// The generator's peak RSS any case may reach. An idle generator needs about 10 MiB;
/// 16 connections at the 64 KiB head cap add 1 MiB. Keeping a chunked body whole (the
/// old framing) took it past 700 MiB in 5 s.
const RSS_BOUND_MIB: f64 = 100.0;

/// Peak resident memory of a process, MiB (None once it is gone).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    sync_async_bench::sys::procfs::status_value(&status, "VmHWM:").map(|kib| kib / 1024.0)
}

/// Runs `sabench load` on `action`'s target with 16 connections and `extra` flags (the
/// run's bound: a duration or a request count); its report and its peak RSS as read
/// from outside while it ran.
fn load_against(action: Action, extra: &[&str]) -> (Value, f64) {
    let target = Target::start(move |_, _| action);
    let json = std::env::temp_dir().join(format!(
        "sabench-hostile-load-{}-{action:?}.json",
        std::process::id()
    ));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sabench"))
        .args(["load", &target.url("/"), "-c", "16", "-q"])
        .args(extra)
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut peak: f64 = 0.0;
    // The run ends by itself (its duration and a drain, or its count); the poll ends
    // with it.
    while child.try_wait().unwrap().is_none() {
        if let Some(rss) = peak_rss_mib(child.id()) {
            peak = peak.max(rss);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json);
    assert!(
        peak > 0.0,
        "{action:?}: the generator's memory was never read"
    );
    (report, peak)
}

fn assert_bounded(action: Action, report: &Value, peak: f64) {
    assert!(
        peak < RSS_BOUND_MIB,
        "{action:?}: the generator reached {peak:.0} MiB (bound {RSS_BOUND_MIB} MiB)"
    );
    let busy = report["generator_busy"].as_f64().unwrap_or(0.0);
    assert!(busy <= 1.0, "{action:?}: a thread busy {busy} of one core");
    assert_eq!(
        report["requests"]["ok"], 0,
        "{action:?}: {}",
        report["requests"]
    );
}

#[test]
fn an_endless_chunked_body_is_streamed_in_bounded_memory_until_the_timeout() {
    let (report, peak) = load_against(Action::EndlessChunks, &["-d", "2s", "--timeout", "1s"]);
    assert_bounded(Action::EndlessChunks, &report, peak);
    assert!(
        report["errors"]["timeout"].as_u64().unwrap() > 0,
        "{}",
        report["errors"]
    );
}

#[test]
fn a_body_past_the_cap_fails_as_too_large() {
    for action in [Action::EndlessChunks, Action::HugeBody] {
        // Bounded by count, not time: each request ends at the cap, however slow the
        // machine (the timeout is a hang guard).
        let (report, peak) = load_against(
            action,
            &[
                "-n",
                "32",
                "--timeout",
                "60s",
                "--max-response-body-bytes",
                "65536",
            ],
        );
        assert_bounded(action, &report, peak);
        let errors = &report["errors"];
        assert!(
            errors["too_large"].as_u64().unwrap() > 0,
            "{action:?}: {errors}"
        );
        assert_eq!(errors["timeout"], 0, "{action:?}: {errors}");
    }
}

#[test]
fn a_head_that_never_ends_fails_as_too_large_at_the_head_cap() {
    let (report, peak) = load_against(Action::EndlessHead, &["-n", "32", "--timeout", "60s"]);
    assert_bounded(Action::EndlessHead, &report, peak);
    let errors = &report["errors"];
    assert!(errors["too_large"].as_u64().unwrap() > 0, "{errors}");
    assert_eq!(errors["timeout"], 0, "{errors}");
}
