//! `sabench compare BEFORE AFTER`: the same cells of two runs side by side, with
//! ratios. A change is called real only where a two-sided Mann–Whitney test of the two
//! runs' repetitions gives p < 0.05; with fewer than 4 repetitions a side no outcome
//! can reach that, and the table says so instead of guessing. `--fail-on 'p95:+10%'`
//! gates: a change fails the comparison only when it is both beyond its bound and real.

use std::fmt::Write as _;

use super::aggregate::Group;
use super::{stats, RunData};
use crate::display::or_dash;
use crate::results::RunDir;

/// The p-value under which a change is called real.
pub const SIGNIFICANCE: f64 = 0.05;

/// Whether a difference stands out of the noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// p < [`SIGNIFICANCE`].
    Real(f64),
    /// p ≥ [`SIGNIFICANCE`].
    WithinNoise(f64),
    /// Too few repetitions for any outcome to be significant.
    TooFew,
}

/// Judges `after` against `before` from their repetitions.
pub fn judge(before: &[f64], after: &[f64]) -> Verdict {
    // The smallest p two fully separated samples can give; at or over the level, no
    // outcome could be called real.
    let best_possible =
        stats::mann_whitney(&vec![1.0; before.len()], &vec![2.0; after.len()]).map_or(1.0, |t| t.p);
    if best_possible >= SIGNIFICANCE {
        return Verdict::TooFew;
    }
    match stats::mann_whitney(before, after) {
        Some(test) if test.p < SIGNIFICANCE => Verdict::Real(test.p),
        Some(test) => Verdict::WithinNoise(test.p),
        None => Verdict::TooFew,
    }
}

/// A CI gate on a change: `p95:+10%` fails when p95 grew by more than 10 %,
/// `rps:-5%` when throughput fell by more than 5 % — and the change is real.
#[derive(Debug, Clone, PartialEq)]
pub struct FailOn {
    text: String,
    /// The cells.csv column it reads.
    column: &'static str,
    /// The change it tolerates, as a fraction: above 0, a rise beyond it fails; below
    /// 0, a fall beyond it.
    bound: f64,
}

impl std::str::FromStr for FailOn {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let hint = "write METRIC:+N% (a rise beyond N % fails) or METRIC:-N% (a fall), e.g. p95:+10% or rps:-5%; metrics: rps p50 p95 p99 error_rate";
        let (name, change) = text
            .split_once(':')
            .ok_or_else(|| format!("--fail-on {text:?}: {hint}"))?;
        let column = match name.trim() {
            "rps" | "throughput" => "achieved_rps",
            "p50" => "p50_ms",
            "p95" => "p95_ms",
            "p99" => "p99_ms",
            "error_rate" => "error_rate",
            other => {
                return Err(format!(
                    "--fail-on {text:?}: unknown metric {other:?}; {hint}"
                ))
            }
        };
        let change = change.trim();
        let signed = change.starts_with('+') || change.starts_with('-');
        let percent = change
            .strip_suffix('%')
            .filter(|_| signed)
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n != 0.0)
            .ok_or_else(|| format!("--fail-on {text:?}: {hint}"))?;
        Ok(Self {
            text: text.trim().to_string(),
            column,
            bound: percent / 100.0,
        })
    }
}

impl FailOn {
    /// Why the change from `before` to `after` fails this gate, if it does.
    fn breached(&self, before: &[f64], after: &[f64]) -> Option<String> {
        if before.is_empty() || after.is_empty() {
            return None;
        }
        let (b, a) = (stats::median(before), stats::median(after));
        if b == 0.0 {
            return None;
        }
        let change = a / b - 1.0;
        let beyond = if self.bound > 0.0 {
            change > self.bound
        } else {
            change < self.bound
        };
        match judge(before, after) {
            Verdict::Real(p) if beyond => Some(format!(
                "{:+.1} % (real, p = {p:.3}) is beyond {}",
                100.0 * change,
                self.text
            )),
            _ => None,
        }
    }
}

/// A comparison: its markdown, and the gates it failed.
pub struct Comparison {
    /// The table, fit to paste into a pull request.
    pub text: String,
    /// Each failed gate: which cell and why (empty: none failed).
    pub failures: Vec<String>,
}

fn describe(name: &str, before: &[f64], after: &[f64]) -> String {
    if before.is_empty() || after.is_empty() {
        return format!("{name} not measured");
    }
    let (b, a) = (stats::median(before), stats::median(after));
    if b == 0.0 {
        return format!("{name} n/a");
    }
    let change = 100.0 * (a / b - 1.0);
    let tag = match judge(before, after) {
        Verdict::Real(p) => format!("**real**, p = {p:.3}"),
        Verdict::WithinNoise(p) => format!("noise, p = {p:.2}"),
        Verdict::TooFew => format!("{}+{} reps: too few to tell", before.len(), after.len()),
    };
    format!("{name} {change:+.1}% ({tag})")
}

fn ratio(before: Option<f64>, after: Option<f64>) -> String {
    match (before, after) {
        (Some(before), Some(after)) if before > 0.0 => format!("{:.2}×", after / before),
        _ => "—".into(),
    }
}

/// The comparison as markdown, with the `gates` it failed.
pub fn compare(before: &RunDir, after: &RunDir, gates: &[FailOn]) -> anyhow::Result<Comparison> {
    let before = RunData::read(before)?;
    let after = RunData::read(after)?;
    let mut out = format!(
        "# Compare: `{}` → `{}`\n\nBefore: {} ({}, revision `{}`). After: {} ({}, revision `{}`).\n\
         A change is **real** only where a two-sided Mann–Whitney test of the two runs' repetitions gives p < 0.05 \
         (it takes at least 4 repetitions a side; 5 or more to see anything but a large change).\n\n\
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
    let mut failures = Vec::new();
    for a in &after.groups {
        let Some(b) = before.groups.iter().find(|b| key(b) == key(a)) else {
            only_after.push(format!("{} {} {}", a.workload, a.variant, a.level));
            continue;
        };
        for gate in gates {
            let values = |g: &Group, run: &RunData| g.values(&run.cells, gate.column);
            if let Some(why) = gate.breached(&values(b, &before), &values(a, &after)) {
                failures.push(format!("{} {} {}: {why}", a.workload, a.variant, a.level));
            }
        }
        let verdict = format!(
            "{}; {}",
            describe(
                "req/s",
                &b.values(&before.cells, "achieved_rps"),
                &a.values(&after.cells, "achieved_rps")
            ),
            describe(
                "p95",
                &b.values(&before.cells, "p95_ms"),
                &a.values(&after.cells, "p95_ms")
            )
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
    if !gates.is_empty() {
        let names: Vec<&str> = gates.iter().map(|g| g.text.as_str()).collect();
        let _ = writeln!(out, "\n**Gates** (`--fail-on {}`): a change fails only when it is beyond its bound *and* real.\n", names.join("`, `"));
        if failures.is_empty() {
            out.push_str("- none failed\n");
        }
        for failure in &failures {
            let _ = writeln!(out, "- **failed**: {failure}");
        }
    }
    Ok(Comparison {
        text: out,
        failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_fails_only_on_a_real_change_beyond_its_bound() {
        let p95: FailOn = "p95:+10%".parse().unwrap();
        let rps: FailOn = "rps:-5%".parse().unwrap();
        let before = [10.0, 10.2, 9.9, 10.1, 10.0];
        let slower = [12.0, 12.1, 11.9, 12.2, 12.0];
        let a_bit = [10.5, 10.6, 10.4, 10.5, 10.6];
        assert!(p95
            .breached(&before, &slower)
            .is_some_and(|w| w.contains("+20.")));
        assert!(
            p95.breached(&before, &a_bit).is_none(),
            "real but within 10 %"
        );
        assert!(
            p95.breached(&before[..3], &slower[..3]).is_none(),
            "too few to tell"
        );
        assert!(rps.breached(&slower, &before).is_some(), "a 17 % fall");
        assert!(
            rps.breached(&before, &slower).is_none(),
            "a rise is no regression"
        );
        for bad in ["p95+10%", "p95:10%", "p96:+10%", "p95:+x%"] {
            assert!(bad.parse::<FailOn>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_change_is_real_only_when_the_test_says_so() {
        let before = [100.0, 102.0, 99.0, 101.0, 100.5];
        let faster = [150.0, 152.0, 149.0, 151.0, 150.5];
        let same = [100.2, 101.5, 99.5, 100.8, 101.0];
        assert!(matches!(judge(&before, &faster), Verdict::Real(p) if p < 0.01));
        assert!(matches!(judge(&before, &same), Verdict::WithinNoise(_)));
        // Two or three repetitions a side can never reach p < 0.05.
        assert_eq!(judge(&before[..2], &faster[..2]), Verdict::TooFew);
        assert_eq!(judge(&before[..3], &faster[..3]), Verdict::TooFew);
        assert!(matches!(
            judge(&before[..4], &faster[..4]),
            Verdict::Real(_)
        ));
    }
}
