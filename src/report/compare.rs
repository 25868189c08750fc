//! `sabench compare BEFORE AFTER`: the same cells of two runs side by side, with
//! ratios. A change is called real only where the two runs' repetition ranges do not
//! overlap; with one repetition there is no spread, so nothing is called real.

use std::fmt::Write as _;

use super::aggregate::{Group, Stat};
use super::RunData;
use crate::display::or_dash;
use crate::results::RunDir;

/// Whether a difference stands out of the noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The ranges do not overlap.
    Real,
    /// The ranges overlap.
    WithinNoise,
    /// A side has one repetition: no spread to judge by.
    Unknown,
}

/// Judges `after` against `before`.
pub fn judge(before: &Stat, before_n: usize, after: &Stat, after_n: usize) -> Verdict {
    if before_n < 2 || after_n < 2 {
        Verdict::Unknown
    } else if before.overlaps(after) {
        Verdict::WithinNoise
    } else {
        Verdict::Real
    }
}

fn describe(
    name: &str,
    before: Option<&Stat>,
    before_n: usize,
    after: Option<&Stat>,
    after_n: usize,
) -> String {
    let (Some(before), Some(after)) = (before, after) else {
        return format!("{name} not measured");
    };
    if before.median == 0.0 {
        return format!("{name} n/a");
    }
    let change = 100.0 * (after.median / before.median - 1.0);
    let tag = match judge(before, before_n, after, after_n) {
        Verdict::Real => "**real**",
        Verdict::WithinNoise => "noise",
        Verdict::Unknown => "1 rep: no spread",
    };
    format!("{name} {change:+.1}% ({tag})")
}

fn ratio(before: Option<f64>, after: Option<f64>) -> String {
    match (before, after) {
        (Some(before), Some(after)) if before > 0.0 => format!("{:.2}×", after / before),
        _ => "—".into(),
    }
}

/// The comparison as markdown.
pub fn compare(before: &RunDir, after: &RunDir) -> anyhow::Result<String> {
    let before = RunData::read(before)?;
    let after = RunData::read(after)?;
    let mut out = format!(
        "# Compare: `{}` → `{}`\n\nBefore: {} ({}, revision `{}`). After: {} ({}, revision `{}`).\n\
         A change is **real** only where the repetitions' ranges (min–max) of the two runs do not overlap.\n\n\
         | workload | style | level | req/s before | req/s after | ratio | p95 ms before | p95 ms after | ratio | verdict |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---|\n",
        before.manifest.run_id,
        after.manifest.run_id,
        before.manifest.scenario_name,
        before.manifest.started,
        before.manifest.git_revision,
        after.manifest.scenario_name,
        after.manifest.started,
        after.manifest.git_revision,
    );
    let key = |g: &Group| (g.workload.clone(), g.variant.clone(), g.level.clone());
    let mut only_after = Vec::new();
    for a in &after.groups {
        let Some(b) = before.groups.iter().find(|b| key(b) == key(a)) else {
            only_after.push(format!("{} {} {}", a.workload, a.variant, a.level));
            continue;
        };
        let verdict = format!(
            "{}; {}",
            describe("req/s", Some(&b.achieved), b.n, Some(&a.achieved), a.n),
            describe("p95", b.p95.as_ref(), b.n, a.p95.as_ref(), a.n)
        );
        let (b95, a95) = (b.p95.map(|s| s.median), a.p95.map(|s| s.median));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {verdict} |",
            a.workload,
            a.variant,
            a.level,
            b.achieved.median,
            a.achieved.median,
            ratio(Some(b.achieved.median), Some(a.achieved.median)),
            or_dash(b95, 2),
            or_dash(a95, 2),
            ratio(b95, a95),
        );
    }
    let only_before: Vec<String> = before
        .groups
        .iter()
        .filter(|b| !after.groups.iter().any(|a| key(a) == key(b)))
        .map(|b| format!("{} {} {}", b.workload, b.variant, b.level))
        .collect();
    for (title, list) in [
        ("Only in before", only_before),
        ("Only in after", only_after),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "\n{title}: {}.", list.join(", "));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_overlapping_ranges_are_real() {
        let of = |v: [f64; 2]| Stat::of(v).unwrap();
        let (a, b, c) = (of([100.0, 105.0]), of([103.0, 110.0]), of([150.0, 160.0]));
        assert_eq!(judge(&a, 2, &b, 2), Verdict::WithinNoise);
        assert_eq!(judge(&a, 2, &c, 2), Verdict::Real);
        assert_eq!(judge(&a, 1, &c, 2), Verdict::Unknown);
    }
}
