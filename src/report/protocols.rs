//! HTTP/1.1 against HTTP/2 for the same style (a style's `protocols = ["http1",
//! "http2"]`): at each level, the HTTP/2 variant's throughput over its HTTP/1.1 twin's,
//! judged by the recommendation's own test (a difference, equal within ±10 %, or
//! neither shown), and the server's CPU per request under each.

use std::fmt::Write as _;

use super::aggregate::Group;
use super::recommend::{call, Call, Candidate};
use super::RunData;
use crate::display::figure;

/// The label suffix of a style's HTTP/2 variant (see `StyleConfig::label`).
const HTTP2: &str = "+http2";

/// Each HTTP/2 group of the run with its HTTP/1.1 twin (same workload, level and
/// knobs), in the run's order.
fn pairs(run: &RunData) -> Vec<(&Group, &Group)> {
    run.groups
        .iter()
        .filter(|g| g.variant.contains(HTTP2))
        .filter_map(|http2| {
            let twin = http2.variant.replacen(HTTP2, "", 1);
            run.groups
                .iter()
                .find(|g| {
                    g.variant == twin && g.workload == http2.workload && g.level == http2.level
                })
                .map(|http1| (http2, http1))
        })
        .collect()
}

/// A group as a candidate of the recommendation's test: its successes per second,
/// repetition by repetition.
fn candidate<'a>(run: &RunData, group: &'a Group) -> Candidate<'a> {
    Candidate {
        group,
        rps: group.achieved.median,
        values: group.values(&run.cells, "achieved_rps"),
    }
}

/// What the test says of HTTP/2 against HTTP/1.1, in a few words.
fn verdict(http2: &Candidate<'_>, http1: &Candidate<'_>) -> String {
    let ratio = http2.rps / http1.rps.max(f64::MIN_POSITIVE);
    let (ahead, behind) = if ratio >= 1.0 {
        (http2, http1)
    } else {
        (http1, http2)
    };
    let more = if ratio >= 1.0 { "more" } else { "less" };
    match call(ahead, behind) {
        Call::Real { p } => format!("HTTP/2 serves {more} (p = {p:.3})"),
        Call::Overlap { .. } => {
            format!("HTTP/2 serves {more} by the test, but the repetitions overlap")
        }
        Call::Equal { .. } => "equal within ±10 %".into(),
        Call::NotShown { interval, .. } => {
            // The test's interval is of the one ahead over the other: said as HTTP/2
            // over HTTP/1.1, as the ratio beside it is.
            let (lo, hi) = if ratio >= 1.0 {
                interval
            } else {
                (1.0 / interval.1, 1.0 / interval.0)
            };
            format!(
                "neither shown (90 % interval {}–{} reaches past ±10 %)",
                figure(lo),
                figure(hi)
            )
        }
        Call::WithinNoise { .. } => "within the noise".into(),
        Call::TooFew => "too few repetitions to test (4 a side)".into(),
        Call::NoneMet | Call::Only => "nothing to compare".into(),
    }
}

/// The server's CPU per success, µs (`—`: not measured).
fn cpu(group: &Group) -> String {
    group
        .mechanism
        .cpu_us()
        .map_or("—".into(), |us| format!("{us:.1}"))
}

/// The markdown section (empty when no style ran over both protocols).
pub fn section(run: &RunData) -> String {
    let pairs = pairs(run);
    if pairs.is_empty() {
        return String::new();
    }
    let streams = run.scenario().map_or(1, |s| s.load.streams);
    let mut out = String::from("## HTTP/1.1 and HTTP/2\n\n");
    let _ = writeln!(
        out,
        "Each style that ran over both protocols, at the same requests in flight (HTTP/2: connections of {streams} stream(s)). The ratio is HTTP/2's successes per second over HTTP/1.1's (medians), judged as the recommendation judges styles; the server's CPU per success (user + system, µs) says where the difference goes.\n"
    );
    out.push_str("| workload | level | style | HTTP/2 ÷ HTTP/1.1 | verdict | CPU µs/request HTTP/1.1 → HTTP/2 | p95 ms HTTP/1.1 → HTTP/2 |\n|---|---|---|---:|---|---:|---:|\n");
    for (http2, http1) in pairs {
        let (two, one) = (candidate(run, http2), candidate(run, http1));
        let verdict = if http1.valid && http2.valid {
            verdict(&two, &one)
        } else {
            "not judged: a repetition was INVALID (see the table above)".into()
        };
        let p95 = |g: &Group| g.p95.map_or("—".into(), |s| figure(s.median));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2}× | {} | {} → {} | {} → {} |",
            http1.workload,
            http1.level,
            http1.variant,
            two.rps / one.rps.max(f64::MIN_POSITIVE),
            verdict,
            cpu(http1),
            cpu(http2),
            p95(http1),
            p95(http2),
        );
    }
    out.push('\n');
    out
}
