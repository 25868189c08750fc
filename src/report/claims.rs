//! `sabench check RUN_DIR`: the claims check. Every scenario pair that carries a
//! `threshold` is a check: the cost of the wrong side over the right one (or, with no
//! wrong side, the right side's value itself) against the threshold. With repetitions
//! the ratio is a range; a range that straddles the threshold is inconclusive. Checks
//! marked `gate` fail the command when they do not hold. A claim that does not hold
//! here is a result, reported as such.

use std::fmt::Write as _;

use super::aggregate::{higher_is_better, Stat};
use super::markdown::levels_of;
use super::RunData;
use crate::pipeline::Timing;
use crate::run::scenario::Pair;

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimVerdict {
    /// The whole range is at or past the threshold.
    Holds,
    /// The whole range falls short of it.
    DoesNotHold,
    /// The repetitions' range straddles it.
    Inconclusive,
    /// The run has no data for it.
    NotMeasured,
}

impl ClaimVerdict {
    /// As printed.
    pub fn text(self) -> &'static str {
        match self {
            ClaimVerdict::Holds => "holds",
            ClaimVerdict::DoesNotHold => "does not hold",
            ClaimVerdict::Inconclusive => "inconclusive",
            ClaimVerdict::NotMeasured => "not measured",
        }
    }
}

/// One evaluated check.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The scenario's pair.
    pub pair: Pair,
    /// The level it was read at.
    pub level: String,
    /// The wrong side (None for an absolute check).
    pub wrong: Option<Stat>,
    /// The right side.
    pub right: Option<Stat>,
    /// The ratio (or the value, for an absolute check): median, low, high.
    pub ratio: Option<Stat>,
    /// The verdict.
    pub verdict: ClaimVerdict,
}

/// The value of `metric` for `label` in `workload` at `level` (the pipeline's ways too).
fn value(run: &RunData, workload: &str, label: &str, metric: &str, level: &str) -> Option<Stat> {
    if workload == "pipeline" {
        let timing: &Timing = run.pipeline.iter().find(|t| t.way.starts_with(label))?;
        let v = match metric {
            "results" => f64::from(timing.results),
            _ => timing.wall_ms,
        };
        return Some(Stat {
            median: v,
            min: v,
            max: v,
        });
    }
    let levels = levels_of(run, workload);
    let (_, groups) = levels.iter().find(|(l, _)| l == level)?;
    groups.iter().find(|g| g.variant == label)?.metric(metric)
}

/// The level a check reads: its own, or the workload's last (heaviest) one.
fn level_of(run: &RunData, pair: &Pair) -> String {
    if let Some(level) = &pair.level {
        return level.clone();
    }
    if pair.workload == "pipeline" {
        return "batch".into();
    }
    levels_of(run, &pair.workload)
        .last()
        .map(|(l, _)| l.clone())
        .unwrap_or_default()
}

fn higher_better(metric: &str) -> bool {
    higher_is_better(metric) || metric == "results"
}

/// Evaluates one check.
pub fn evaluate(run: &RunData, pair: &Pair) -> CheckResult {
    let level = level_of(run, pair);
    let right_workload = pair.right_workload.as_deref().unwrap_or(&pair.workload);
    let right = value(run, right_workload, &pair.right, &pair.metric, &level);
    let wrong = (!pair.wrong.is_empty())
        .then(|| value(run, &pair.workload, &pair.wrong, &pair.metric, &level))
        .flatten();
    let higher = higher_better(&pair.metric);
    let ratio = match (&wrong, &right, pair.wrong.is_empty()) {
        (_, Some(r), true) => Some(*r),
        (Some(w), Some(r), false) => {
            // How many times worse the wrong side is, as a range over repetitions.
            let (num, den) = if higher { (r, w) } else { (w, r) };
            let safe = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
            Some(Stat {
                median: safe(num.median, den.median),
                min: safe(num.min, den.max),
                max: safe(num.max, den.min),
            })
        }
        _ => None,
    };
    let threshold = pair.threshold.unwrap_or(1.0);
    let at_most = pair.wrong.is_empty() && pair.at_most;
    let verdict = ratio.map_or(ClaimVerdict::NotMeasured, |r| {
        verdict(&r, threshold, at_most)
    });
    CheckResult {
        pair: pair.clone(),
        level,
        wrong,
        right,
        ratio,
        verdict,
    }
}

/// Judges a ratio (or value) range against a threshold: it must be at least the
/// threshold, or at most it when `at_most`. A range on both sides is inconclusive.
pub fn verdict(range: &Stat, threshold: f64, at_most: bool) -> ClaimVerdict {
    let passes = |v: f64| {
        if at_most {
            v <= threshold
        } else {
            v >= threshold
        }
    };
    match (passes(range.min), passes(range.max)) {
        (true, true) => ClaimVerdict::Holds,
        (false, false) => ClaimVerdict::DoesNotHold,
        _ => ClaimVerdict::Inconclusive,
    }
}

/// The scenario's checks (pairs with a threshold).
pub fn checks(run: &RunData) -> Vec<Pair> {
    run.pairs()
        .into_iter()
        .filter(|p| p.threshold.is_some())
        .collect()
}

/// `claims.md`.
pub fn render(run: &RunData, results: &[CheckResult]) -> String {
    let m = &run.manifest;
    let mut out = format!(
        "# Claims check — run `{}`\n\n{} cores ({}), Linux {}, revision `{}`, {}.\n\n\
         Each check compares the wrong side with the right side of the same load (or reads one value). \
         `ratio` is how many times worse the wrong side is (for an absolute check, the value itself); \
         with repetitions it is a range, and a range across the threshold is inconclusive. \
         A claim that does not hold here is a result, not a failure to hide; only `gate` checks fail the command.\n\n\
         | claim | statement | the article's numbers | metric | wrong | right | level | ratio | threshold | verdict | gate |\n\
         |---|---|---|---|---|---|---|---:|---:|---|---|\n",
        m.run_id, m.cores, m.cpu_model, m.kernel, m.git_revision, m.started
    );
    for r in results {
        let p = &r.pair;
        let wrong = if p.wrong.is_empty() {
            "—".to_string()
        } else {
            format!("{}: {}", p.wrong, Stat::display_or_dash(r.wrong, 3))
        };
        let right_workload = p
            .right_workload
            .as_deref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        let threshold = p.threshold.unwrap_or(1.0);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {}{right_workload}: {} | {} | {} | {}{threshold} | **{}** | {} |",
            p.claim,
            p.title,
            if p.article.is_empty() { "—" } else { &p.article },
            p.metric,
            wrong,
            p.right,
            Stat::display_or_dash(r.right, 3),
            r.level,
            Stat::display_or_dash(r.ratio, 3),
            if p.wrong.is_empty() && p.at_most { "≤ " } else { "≥ " },
            r.verdict.text(),
            if p.gate { "yes" } else { "no" }
        );
    }
    out
}

/// Evaluates every check of the run; returns claims.md and whether every gate held.
pub fn check(run: &RunData) -> (String, bool) {
    let results: Vec<CheckResult> = checks(run).iter().map(|p| evaluate(run, p)).collect();
    let gates_hold = results
        .iter()
        .filter(|r| r.pair.gate)
        .all(|r| r.verdict == ClaimVerdict::Holds);
    (render(run, &results), gates_hold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_across_the_threshold_is_inconclusive() {
        let range = |min, max| Stat {
            median: (min + max) / 2.0,
            min,
            max,
        };
        assert_eq!(verdict(&range(6.0, 9.0), 5.0, false), ClaimVerdict::Holds);
        assert_eq!(
            verdict(&range(2.0, 4.0), 5.0, false),
            ClaimVerdict::DoesNotHold
        );
        assert_eq!(
            verdict(&range(4.0, 6.0), 5.0, false),
            ClaimVerdict::Inconclusive
        );
        assert_eq!(
            verdict(&range(50.0, 90.0), 100.0, true),
            ClaimVerdict::Holds
        );
        assert_eq!(
            verdict(&range(f64::INFINITY, f64::INFINITY), 2.0, false),
            ClaimVerdict::Holds
        );
    }
}
