//! `sabench ab`'s comparison: two builds measured cell by cell, back to back in
//! alternating order (see `run::ab`), read from their two run folders alone. Each cell's
//! repetitions pair up (the same cell id in both folders); a change is the median of
//! the pairs' changes, and it is **real** where the Wilcoxon signed-rank test of the
//! paired differences gives p < 0.05, so drift between minutes, which moves both
//! sides of a pair alike, cancels. `--fail-on` gates fail on a real change beyond their
//! bound, and on missing data. Writes `ab.md` (for a pull request) and `ab.json`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::aggregate::Group;
use super::compare::{Evidence, FailOn, GateSide, SIGNIFICANCE};
use super::{stats, RunData};
use crate::results::RunDir;

/// The figures each cell is compared on: throughput, p95, the server's CPU per request
/// from schedstat (which shows a CPU regression where throughput is capped), and the
/// generator's own CPU per request (a change of the generator, which drives both sides,
/// shows here).
pub const METRICS: [(&str, &str); 4] = [
    ("achieved_rps", "req/s"),
    ("p95_ms", "p95 ms"),
    ("cpu_sched_us_per_ok", "CPU µs/req"),
    ("generator_cpu_us_per_ok", "generator CPU µs/req"),
];

/// One metric of one cell, before and after.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    /// The cells.csv column.
    pub metric: String,
    /// Median before and after over the pairs.
    pub before: Option<f64>,
    /// Median after.
    pub after: Option<f64>,
    /// Median of the pairs' relative changes (after ÷ before − 1).
    pub change: Option<f64>,
    /// Pairs with a value on both sides.
    pub pairs: usize,
    /// Two-sided signed-rank p of the paired differences (None: fewer than one
    /// non-zero difference).
    pub p: Option<f64>,
    /// p < 0.05.
    pub real: bool,
}

/// One cell (over its pairs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CellChange {
    /// Workload, style with knobs, level.
    pub workload: String,
    /// Style with knobs.
    pub style: String,
    /// Level.
    pub level: String,
    /// Each metric.
    pub changes: Vec<Change>,
}

/// The whole comparison (`ab.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AbReport {
    /// The before run's id and revision.
    pub before: (String, String),
    /// The after run's id and revision.
    pub after: (String, String),
    /// Every cell.
    pub cells: Vec<CellChange>,
    /// The gates as given.
    pub gates: Vec<String>,
    /// Each failed gate: which cell and why (empty: none failed).
    pub failures: Vec<String>,
}

/// The (before, after) values of `metric` in `group`'s pairs: the same cell id in
/// both runs, each side usable.
fn pairs_of(before: &RunData, after: &RunData, group: &Group, metric: &str) -> Vec<(f64, f64)> {
    group
        .rows(&before.cells)
        .filter_map(|b| {
            let a = after.cells.iter().find(|a| a.cell == b.cell)?;
            let usable = |c: &crate::results::CellRecord| !c.failed() && c.valid;
            if !usable(b) || !usable(a) {
                return None;
            }
            Some((b.metric(metric)?, a.metric(metric)?))
        })
        .collect()
}

fn change_of(metric: &str, pairs: &[(f64, f64)]) -> Change {
    let relative: Vec<f64> = pairs
        .iter()
        .filter(|(b, _)| *b != 0.0)
        .map(|(b, a)| a / b - 1.0)
        .collect();
    let differences: Vec<f64> = pairs.iter().map(|(b, a)| a - b).collect();
    let p = stats::signed_rank(&differences);
    let median_of = |values: Vec<f64>| (!values.is_empty()).then(|| stats::median(&values));
    Change {
        metric: metric.to_string(),
        before: median_of(pairs.iter().map(|(b, _)| *b).collect()),
        after: median_of(pairs.iter().map(|(_, a)| *a).collect()),
        change: median_of(relative),
        pairs: pairs.len(),
        p,
        real: p.is_some_and(|p| p < SIGNIFICANCE),
    }
}

/// Compares the two runs and judges the gates.
pub fn compare(before: &RunData, after: &RunData, gates: &[FailOn]) -> AbReport {
    let mut cells = Vec::new();
    let mut failures = Vec::new();
    for group in &before.groups {
        let name = format!("{} {} {}", group.workload, group.variant, group.level);
        let Some(twin) = after.groups.iter().find(|a| {
            (&a.workload, &a.variant, &a.level) == (&group.workload, &group.variant, &group.level)
        }) else {
            failures.push(format!("{name}: not measured after"));
            continue;
        };
        cells.push(CellChange {
            workload: group.workload.clone(),
            style: group.variant.clone(),
            level: group.level.clone(),
            changes: METRICS
                .iter()
                .map(|(metric, _)| change_of(metric, &pairs_of(before, after, group, metric)))
                .collect(),
        });
        for gate in gates {
            let before_side = GateSide::of(group.rows(&before.cells), gate.column());
            let after_side = GateSide::of(twin.rows(&after.cells), gate.column());
            let why = gate.missing(&before_side, &after_side).or_else(|| {
                let pairs = pairs_of(before, after, group, gate.column());
                gate.breached(Evidence::Paired(&pairs))
            });
            if let Some(why) = why {
                failures.push(format!("{name}: {why}"));
            }
        }
    }
    AbReport {
        before: (
            before.manifest.run_id.clone(),
            before.manifest.git_revision.clone(),
        ),
        after: (
            after.manifest.run_id.clone(),
            after.manifest.git_revision.clone(),
        ),
        cells,
        gates: gates.iter().map(|g| g.text().to_string()).collect(),
        failures,
    }
}

fn cell_text(change: &Change) -> String {
    let value = |v: Option<f64>| crate::display::or_dash(v, 1);
    let Some(relative) = change.change else {
        return format!("{} → {}", value(change.before), value(change.after));
    };
    let verdict = match change.p {
        Some(p) if change.real => format!("**real**, p = {p:.3}"),
        Some(p) => format!("noise, p = {p:.2}"),
        None => "no difference".into(),
    };
    format!(
        "{} → {} ({:+.1} %, {verdict})",
        value(change.before),
        value(change.after),
        100.0 * relative
    )
}

/// `ab.md`: a table fit to paste into a pull request.
pub fn render(report: &AbReport, pairs: usize) -> String {
    let mut out = format!(
        "# Before/after: `{}` → `{}`\n\nBefore: run `{}`; after: run `{}`. Each cell was measured {pairs} times a side, the two builds back to back in alternating order (ABBA…) on the same cores, one generator and upstream for both. A change is the median of the pairs' changes; it is **real** where the Wilcoxon signed-rank test of the paired differences gives p < 0.05 (6 pairs are the fewest that can). `CPU µs/req` is the server's CPU per successful request from its threads' schedstat (nanoseconds); `generator CPU µs/req` is the generator's own, from its load threads' clocks (one generator drives both sides, so a change there is the bench's, not the build's).\n\n",
        report.before.1, report.after.1, report.before.0, report.after.0
    );
    let titles: Vec<&str> = METRICS.iter().map(|(_, title)| *title).collect();
    out.push_str(&crate::display::table_head(
        &["workload", "style", "level"],
        &titles,
        "---",
    ));
    for cell in &report.cells {
        let _ = write!(
            out,
            "| {} | {} | {} |",
            cell.workload, cell.style, cell.level
        );
        for change in &cell.changes {
            let _ = write!(out, " {} |", cell_text(change));
        }
        out.push('\n');
    }
    if !report.gates.is_empty() {
        let _ = writeln!(
            out,
            "\n**Gates** (`--fail-on {}`): a gate fails on a real change beyond its bound, and on missing data.\n",
            report.gates.join("`, `")
        );
        if report.failures.is_empty() {
            out.push_str("- none failed\n");
        }
        for failure in &report.failures {
            let _ = writeln!(out, "- **failed**: {failure}");
        }
    }
    out
}

/// Reads the two lanes' folders, compares them, and writes `ab.md` and `ab.json` into
/// `root`.
pub fn write(
    root: &Path,
    before: &RunDir,
    after: &RunDir,
    gates: &[FailOn],
    pairs: usize,
) -> anyhow::Result<(AbReport, String)> {
    let before = RunData::read(before)?;
    let after = RunData::read(after)?;
    let report = compare(&before, &after, gates);
    let text = render(&report, pairs);
    let markdown = root.join("ab.md");
    std::fs::write(&markdown, &text)
        .with_context(|| format!("cannot write {}", markdown.display()))?;
    let json = root.join("ab.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    Ok((report, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_the_median_of_the_pairs_and_real_by_the_signed_rank_test() {
        let pairs: Vec<(f64, f64)> = [100.0, 108.0, 93.0, 104.0, 97.0, 106.0]
            .iter()
            .map(|b| (*b, b * 0.9))
            .collect();
        let change = change_of("achieved_rps", &pairs);
        assert!((change.change.unwrap() + 0.1).abs() < 1e-9, "{change:?}");
        assert_eq!(change.p, Some(0.03125));
        assert!(change.real);
        assert_eq!(
            cell_text(&change),
            "102.0 → 91.8 (-10.0 %, **real**, p = 0.031)"
        );
        let few = change_of("achieved_rps", &pairs[..5]);
        assert!(!few.real, "five pairs can never be real: {few:?}");
        let none = change_of("p95_ms", &[]);
        assert_eq!(cell_text(&none), "— → —");
    }
}
