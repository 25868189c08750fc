//! `sabench compare BEFORE AFTER`: the same cells of two runs side by side, with
//! ratios. A change is called real only where a two-sided Mann–Whitney test of the two
//! runs' repetitions gives p < 0.05; with fewer than 4 repetitions a side no outcome
//! can reach that, and the table says so instead of guessing. `--fail-on 'p95:+10%'`
//! gates: a change fails the comparison only when it is both beyond its bound and real.

use std::fmt::Write as _;

use super::aggregate::Group;
use super::{stats, RunData};
use crate::display::or_dash;
use crate::results::{CellRecord, RunDir};

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
/// `rps:-5%` when throughput fell by more than 5 %, `error_rate:+1pp` when the error
/// rate rose by more than one percentage point — and the change is real. A gate also
/// fails when it cannot read its metric: a side with no value, an invalid or failed
/// cell, a baseline of 0 under a relative bound that the after side left.
#[derive(Debug, Clone, PartialEq)]
pub struct FailOn {
    text: String,
    /// The cells.csv column it reads.
    column: &'static str,
    /// The change it tolerates: above 0, a rise beyond it fails; below 0, a fall.
    bound: f64,
    /// Whether the bound is in the metric's own units (`pp`: percentage points of a
    /// rate) rather than a share of the baseline (`%`).
    absolute: bool,
}

/// What a gate reads of one side's cells: the values, and what made some unusable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateSide {
    /// The metric in each usable cell.
    pub values: Vec<f64>,
    /// Why a cell could not be read: `r2: invalid (...)`, `r3: p95 not measured`.
    pub problems: Vec<String>,
}

impl GateSide {
    /// `column` of each of `cells`; a failed or invalid cell, or one without the value,
    /// is a problem, not a value.
    pub fn of<'a>(cells: impl Iterator<Item = &'a CellRecord>, column: &str) -> Self {
        let mut side = Self::default();
        for cell in cells {
            let tag = format!("r{}", cell.repetition);
            if cell.failed() {
                side.problems
                    .push(format!("{tag}: failed ({})", cell.error));
            } else if !cell.valid {
                side.problems
                    .push(format!("{tag}: invalid ({})", cell.invalid_reason));
            } else if cell.requests_ok == 0 && column != "error_rate" {
                side.problems.push(format!(
                    "{tag}: no successful request, {column} not measured"
                ));
            } else {
                match cell.metric(column) {
                    Some(value) if value.is_finite() => side.values.push(value),
                    _ => side.problems.push(format!("{tag}: {column} not measured")),
                }
            }
        }
        side
    }
}

impl std::str::FromStr for FailOn {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let hint = "write METRIC:+N% (a rise beyond N % fails), METRIC:-N% (a fall), or error_rate:+Npp (percentage points), e.g. p95:+10%, rps:-5%, cpu:+5%, error_rate:+1pp; metrics: rps p50 p95 p99 cpu (server CPU per request, schedstat) generator_cpu (the generator's own CPU per request) error_rate";
        let (name, change) = text
            .split_once(':')
            .ok_or_else(|| format!("--fail-on {text:?}: {hint}"))?;
        let column = match name.trim() {
            "rps" | "throughput" => "achieved_rps",
            "p50" => "p50_ms",
            "p95" => "p95_ms",
            "p99" => "p99_ms",
            "cpu" => "cpu_sched_us_per_ok",
            "generator_cpu" => "generator_cpu_us_per_ok",
            "error_rate" => "error_rate",
            other => {
                return Err(format!(
                    "--fail-on {text:?}: unknown metric {other:?}; {hint}"
                ))
            }
        };
        let change = change.trim();
        let signed = change.starts_with('+') || change.starts_with('-');
        let (number, absolute) = match (change.strip_suffix("pp"), change.strip_suffix('%')) {
            (Some(n), _) if column == "error_rate" => (n, true),
            (Some(_), _) => {
                return Err(format!(
                    "--fail-on {text:?}: percentage points (pp) bound a rate: error_rate only"
                ))
            }
            (None, Some(n)) => (n, false),
            (None, None) => return Err(format!("--fail-on {text:?}: {hint}")),
        };
        let value = number
            .parse::<f64>()
            .ok()
            .filter(|n| signed && n.is_finite() && *n != 0.0)
            .ok_or_else(|| format!("--fail-on {text:?}: {hint}"))?;
        Ok(Self {
            text: text.trim().to_string(),
            column,
            bound: value / 100.0,
            absolute,
        })
    }
}

/// The evidence a gate judges: two runs' repetitions, or pairs measured back to back.
pub enum Evidence<'a> {
    /// Independent repetitions of each side (`sabench compare`): Mann–Whitney.
    Unpaired(&'a GateSide, &'a GateSide),
    /// (before, after) measured back to back (`sabench ab`): signed-rank test of the
    /// differences, so drift between minutes cancels.
    Paired(&'a [(f64, f64)]),
}

impl FailOn {
    /// The cells.csv column it reads.
    pub fn column(&self) -> &'static str {
        self.column
    }

    /// As written on the command line.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The change from `before` to `after`, in the bound's terms (None: a relative
    /// change from a baseline of 0 to something else, which has no size).
    fn change(&self, before: f64, after: f64) -> Option<f64> {
        match (self.absolute, before) {
            (true, _) => Some(after - before),
            (false, 0.0) => (after == 0.0).then_some(0.0),
            (false, b) => Some(after / b - 1.0),
        }
    }

    fn beyond(&self, change: f64) -> bool {
        match self.bound > 0.0 {
            true => change > self.bound,
            false => change < self.bound,
        }
    }

    fn shown(&self, change: f64) -> String {
        match self.absolute {
            true => format!("{:+.2} pp", 100.0 * change),
            false => format!("{:+.1} %", 100.0 * change),
        }
    }

    /// Why a gate with these sides cannot pass, if a side has nothing to judge by.
    pub fn missing(&self, before: &GateSide, after: &GateSide) -> Option<String> {
        for (name, side) in [("before", before), ("after", after)] {
            if !side.problems.is_empty() {
                return Some(format!(
                    "{} cannot pass: {name}: {}",
                    self.text,
                    side.problems.join("; ")
                ));
            }
            if side.values.is_empty() {
                return Some(format!(
                    "{} cannot pass: {name}: no {} measured",
                    self.text, self.column
                ));
            }
        }
        None
    }

    /// Why the change fails this gate, if it does.
    pub fn breached(&self, evidence: Evidence<'_>) -> Option<String> {
        let (change, test) = match evidence {
            Evidence::Unpaired(before, after) => {
                if let Some(why) = self.missing(before, after) {
                    return Some(why);
                }
                let (b, a) = (stats::median(&before.values), stats::median(&after.values));
                let test = match judge(&before.values, &after.values) {
                    Verdict::Real(p) => Some(p),
                    _ => None,
                };
                (self.change(b, a), test)
            }
            Evidence::Paired(pairs) => {
                if pairs.is_empty() {
                    return Some(format!("{} cannot pass: no pair measured", self.text));
                }
                let changes: Option<Vec<f64>> =
                    pairs.iter().map(|(b, a)| self.change(*b, *a)).collect();
                let differences: Vec<f64> = pairs.iter().map(|(b, a)| a - b).collect();
                let test = stats::signed_rank(&differences).filter(|p| *p < SIGNIFICANCE);
                (changes.map(|c| stats::median(&c)), test)
            }
        };
        let Some(change) = change else {
            return Some(format!(
                "{} cannot pass: a baseline of 0 has no relative change (use an absolute bound, e.g. error_rate:+1pp)",
                self.text
            ));
        };
        match test {
            Some(p) if self.beyond(change) => Some(format!(
                "{} (real, p = {p:.3}) is beyond {}",
                self.shown(change),
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
            let side = |g: &Group, run: &RunData| GateSide::of(g.rows(&run.cells), gate.column);
            let (b_side, a_side) = (side(b, &before), side(a, &after));
            if let Some(why) = gate.breached(Evidence::Unpaired(&b_side, &a_side)) {
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

    fn side(values: &[f64]) -> GateSide {
        GateSide {
            values: values.to_vec(),
            problems: Vec::new(),
        }
    }

    fn unpaired(gate: &FailOn, before: &[f64], after: &[f64]) -> Option<String> {
        gate.breached(Evidence::Unpaired(&side(before), &side(after)))
    }

    #[test]
    fn a_gate_fails_only_on_a_real_change_beyond_its_bound() {
        let p95: FailOn = "p95:+10%".parse().unwrap();
        let rps: FailOn = "rps:-5%".parse().unwrap();
        let before = [10.0, 10.2, 9.9, 10.1, 10.0];
        let slower = [12.0, 12.1, 11.9, 12.2, 12.0];
        let a_bit = [10.5, 10.6, 10.4, 10.5, 10.6];
        assert!(unpaired(&p95, &before, &slower).is_some_and(|w| w.contains("+20.")));
        assert!(
            unpaired(&p95, &before, &a_bit).is_none(),
            "real but within 10 %"
        );
        assert!(
            unpaired(&p95, &before[..3], &slower[..3]).is_none(),
            "too few to tell"
        );
        assert!(unpaired(&rps, &slower, &before).is_some(), "a 17 % fall");
        assert!(
            unpaired(&rps, &before, &slower).is_none(),
            "a rise is no regression"
        );
        for bad in ["p95+10%", "p95:10%", "p96:+10%", "p95:+x%", "p95:+1pp"] {
            assert!(bad.parse::<FailOn>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_gate_cannot_pass_on_missing_data() {
        let p95: FailOn = "p95:+10%".parse().unwrap();
        let empty = GateSide::default();
        let why = p95
            .breached(Evidence::Unpaired(&side(&[10.0; 5]), &empty))
            .unwrap();
        assert_eq!(why, "p95:+10% cannot pass: after: no p95_ms measured");
        let invalid = GateSide {
            values: vec![10.0; 4],
            problems: vec!["r5: invalid (the generator fell behind)".into()],
        };
        let why = p95
            .breached(Evidence::Unpaired(&side(&[10.0; 5]), &invalid))
            .unwrap();
        assert!(
            why.contains("after: r5: invalid (the generator fell behind)"),
            "{why}"
        );
        // A clean baseline and every request failed: a relative bound has no size, an
        // absolute one fails it.
        let relative: FailOn = "error_rate:+1%".parse().unwrap();
        let why = unpaired(&relative, &[0.0; 5], &[1.0; 5]).unwrap();
        assert!(why.contains("a baseline of 0"), "{why}");
        assert_eq!(
            unpaired(&relative, &[0.0; 5], &[0.0; 5]),
            None,
            "0 → 0 is no change"
        );
        let absolute: FailOn = "error_rate:+1pp".parse().unwrap();
        let why = unpaired(&absolute, &[0.0; 5], &[1.0; 5]).unwrap();
        assert!(why.starts_with("+100.00 pp (real"), "{why}");
        assert_eq!(
            unpaired(&absolute, &[0.0; 5], &[0.005; 5]),
            None,
            "half a point"
        );
        // And a real cell with no successful request reads as a problem.
        let mut cell = CellRecord {
            valid: true,
            ..CellRecord::default()
        };
        cell.repetition = 2;
        let read = GateSide::of(std::iter::once(&cell), "p95_ms");
        assert_eq!(
            read.problems,
            ["r2: no successful request, p95_ms not measured"]
        );
    }

    #[test]
    fn each_gate_names_the_column_it_reads() {
        for (text, column) in [
            ("rps:-5%", "achieved_rps"),
            ("cpu:+5%", "cpu_sched_us_per_ok"),
            ("generator_cpu:+5%", "generator_cpu_us_per_ok"),
            ("error_rate:+1pp", "error_rate"),
        ] {
            let gate: FailOn = text.parse().unwrap();
            assert_eq!(gate.column, column, "{text}");
        }
        let unknown = "gen:+5%".parse::<FailOn>().unwrap_err();
        assert!(unknown.contains("generator_cpu"), "{unknown}");
    }

    #[test]
    fn a_paired_gate_sees_a_shift_that_drift_between_pairs_hides() {
        let cpu: FailOn = "cpu:+5%".parse().unwrap();
        // Drift of ±10 % between pairs, and +10 % in every pair.
        let pairs: Vec<(f64, f64)> = [100.0, 110.0, 92.0, 105.0, 97.0, 108.0, 95.0, 102.0]
            .iter()
            .map(|b| (*b, b * 1.10))
            .collect();
        let why = cpu.breached(Evidence::Paired(&pairs)).unwrap();
        assert!(why.starts_with("+10.0 % (real, p = 0.008)"), "{why}");
        let same: Vec<(f64, f64)> = pairs
            .iter()
            .enumerate()
            .map(|(i, (b, _))| (*b, b * if i % 2 == 0 { 1.01 } else { 0.99 }))
            .collect();
        assert_eq!(cpu.breached(Evidence::Paired(&same)), None);
        assert!(cpu
            .breached(Evidence::Paired(&[]))
            .is_some_and(|w| w.contains("no pair")));
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
