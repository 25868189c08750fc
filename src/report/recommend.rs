//! The recommendation per workload: the style and knobs with the most throughput
//! within the workload's objective (its saturation search's p95 and failed share, or
//! the scenario's `[recommendation]`), its margin over the best of the other styles,
//! whether that margin is real by the Mann–Whitney test `compare` uses, what it costs
//! per 1,000 req/s in memory and CPU, and the instances (and their monthly cost) for a
//! target load. When no style meets the objective, the margin is within the noise, the
//! two styles' repetitions overlap, or there are too few repetitions to tell, it says
//! so instead of naming a winner.

use std::fmt::Write as _;

use super::aggregate::{Group, Stat};
use super::compare::{judge, Verdict};
use super::RunData;
use crate::display::{figure, percent};
use crate::results::CellRecord;

/// Two styles are called equal when the 90 % interval of their throughput ratio lies
/// within this margin either way: an equivalence test, two one-sided tests at 5 %.
pub const EQUAL_WITHIN: f64 = 0.10;

/// What a style must meet to count.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// Corrected p95 of successes at or under this, ms.
    pub p95_ms: f64,
    /// Failed or unfinished share at or under this.
    pub max_error_rate: f64,
    /// The load to size instances for.
    pub target_rps: Option<f64>,
    /// What an instance costs a month.
    pub cost_per_instance: Option<f64>,
    /// Whether throughput is a saturation search's capacity (else a measured level's).
    pub capacity: bool,
}

impl Objective {
    /// The workload's objective: its saturation search's, else the scenario's
    /// `[recommendation]` (None: neither).
    pub fn of(run: &RunData, workload: &str) -> Option<Self> {
        let saturated = run
            .groups
            .iter()
            .any(|g| g.workload == workload && g.load_mode == "saturate");
        let search = run.search(workload);
        if let Some(search) = search.filter(|_| saturated) {
            return Some(Self {
                p95_ms: search.p95_slo.as_secs_f64() * 1000.0,
                max_error_rate: search.max_error_rate,
                target_rps: Some(search.capacity_target_rps),
                cost_per_instance: search.capacity_cost_per_instance,
                capacity: true,
            });
        }
        let spec = run.scenario()?.recommendation.as_ref()?;
        Some(Self {
            p95_ms: spec.p95_slo.as_secs_f64() * 1000.0,
            max_error_rate: spec.max_error_rate,
            target_rps: spec.target_rps,
            cost_per_instance: spec.capacity_cost_per_instance,
            capacity: false,
        })
    }

    /// Whether `group` met it (valid, nothing failed outright, p95 and failed share within).
    fn met_by(&self, group: &Group) -> bool {
        group.valid
            && group.failed == 0
            && group.p95.is_some_and(|p| p.median <= self.p95_ms)
            && group.failure_share().unwrap_or(1.0) <= self.max_error_rate
    }

    /// The groups of `workload` it judges: the saturation cells when it is a search's,
    /// else every measured level.
    pub fn groups<'a>(&self, run: &'a RunData, workload: &str) -> Vec<&'a Group> {
        run.groups
            .iter()
            // A staged level's throughput is a mean over a ramp: it says where a style
            // broke (see the knees), not what it sustains.
            .filter(|g| {
                g.workload == workload && !matches!(g.load_mode.as_str(), "slowloris" | "staged")
            })
            .filter(|g| !self.capacity || g.load_mode == "saturate")
            .collect()
    }

    /// What a style's throughput under it is.
    pub fn measure(&self) -> &'static str {
        if self.capacity {
            "capacity at the objective"
        } else {
            "throughput at the best level within the objective"
        }
    }

    fn text(&self) -> String {
        format!(
            "p95 ≤ {} ms with at most {} failed",
            figure(self.p95_ms),
            percent(Some(self.max_error_rate))
        )
    }
}

/// A style's best within the objective: the group, its throughput (median), and its
/// repetitions' throughputs.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The cell group (style, knobs, level).
    pub group: &'a Group,
    /// Throughput within the objective: a capacity, or a level's successes per second.
    pub rps: f64,
    /// The same, repetition by repetition.
    pub values: Vec<f64>,
}

/// Each style and knob setting's best within `objective` among `groups` (one
/// workload's), best first.
pub fn candidates<'a>(
    cells: &[CellRecord],
    groups: &[&'a Group],
    objective: &Objective,
) -> Vec<Candidate<'a>> {
    let mut best: Vec<Candidate<'a>> = Vec::new();
    for group in groups.iter().filter(|g| objective.met_by(g)) {
        // A capacity is what was achieved at the rate the search found (its successes
        // over the window), as the claims check reads it: never the rate it offered.
        let (rps, values) = (group.achieved.median, group.values(cells, "achieved_rps"));
        let candidate = Candidate { group, rps, values };
        match best.iter_mut().find(|b| b.group.variant == group.variant) {
            Some(known) if known.rps < rps => *known = candidate,
            Some(_) => {}
            None => best.push(candidate),
        }
    }
    best.sort_by(|a, b| b.rps.total_cmp(&a.rps));
    best
}

/// The recommendation paragraph of one workload (markdown).
pub fn section(run: &RunData, workload: &str) -> String {
    format!("### Recommendation\n\n{}\n\n", decision(run, workload))
}

/// What the tests said of the best style against the best of the others.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// No style met the objective.
    NoneMet,
    /// Only one style met it.
    Only,
    /// The margin is real (Mann–Whitney p) and the repetitions do not overlap.
    Real {
        /// The test's p.
        p: f64,
    },
    /// Real by the test, but the two styles' repetitions overlap.
    Overlap {
        /// The winner's repetitions.
        winner: Stat,
        /// The runner-up's.
        runner_up: Stat,
    },
    /// Within the noise, and the ratio's 90 % interval inside ±[`EQUAL_WITHIN`].
    Equal {
        /// The difference test's p.
        p: f64,
        /// The 90 % interval of the throughput ratio.
        interval: (f64, f64),
    },
    /// Within the noise, but the interval reaches past the margin.
    NotShown {
        /// The difference test's p.
        p: f64,
        /// The 90 % interval of the throughput ratio.
        interval: (f64, f64),
    },
    /// Within the noise, with no interval to tell an equality.
    WithinNoise {
        /// The difference test's p.
        p: f64,
    },
    /// Too few repetitions for the test.
    TooFew,
}

/// The recommendation of one workload, typed: the objective, the best style within it,
/// the best of the other styles, and what the tests said.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// What a style had to meet.
    pub objective: Objective,
    /// The style with the most throughput within it (None: no style met it).
    pub winner: Option<Candidate<'a>>,
    /// The best of the other styles (None: only one met it).
    pub runner_up: Option<Candidate<'a>>,
    /// The verdict.
    pub call: Call,
}

impl Decision<'_> {
    /// The winner's throughput over the runner-up's.
    pub fn ratio(&self) -> Option<f64> {
        let (w, r) = (self.winner.as_ref()?, self.runner_up.as_ref()?);
        Some(w.rps / r.rps.max(f64::MIN_POSITIVE))
    }

    /// The 90 % bootstrap interval of [`Decision::ratio`] over the repetitions.
    pub fn interval(&self) -> Option<(f64, f64)> {
        let (w, r) = (self.winner.as_ref()?, self.runner_up.as_ref()?);
        super::stats::ratio_interval_at(&w.values, &r.values, 0.90)
    }

    /// The objective, as a phrase: `p95 ≤ 20.0 ms with at most 0.1 % failed`.
    pub fn objective_text(&self) -> String {
        self.objective.text()
    }

    /// The recommendation paragraph.
    pub fn text(&self) -> String {
        let objective = &self.objective;
        let measure = objective.measure();
        let Some(winner) = &self.winner else {
            return format!(
                "No recommendation: no style met {} at any level measured.",
                objective.text()
            );
        };
        let Some(runner_up) = &self.runner_up else {
            return format!(
                "Choose {}: the only style that met {} ({} req/s {measure}, {}).{}",
                winner.group.variant,
                objective.text(),
                figure(winner.rps),
                winner.group.level,
                costs(winner, None, objective)
            );
        };
        let (w, r) = (winner.group, runner_up.group);
        let ratio = figure(self.ratio().unwrap_or(f64::NAN));
        let margin = format!(
            "{} req/s against {}'s {} ({ratio}×)",
            figure(winner.rps),
            r.variant,
            figure(runner_up.rps),
        );
        let reps = (runner_up.values.len(), winner.values.len());
        match &self.call {
            Call::NoneMet | Call::Only => String::new(),
            Call::Overlap { winner: wr, runner_up: rr } => format!(
                "No winner at {}: {} leads with {margin}, but their repetitions overlap ({} to {} against {} to {} req/s): either will do.",
                objective.text(),
                w.variant,
                figure(wr.min),
                figure(wr.max),
                figure(rr.min),
                figure(rr.max)
            ),
            Call::Real { p } => format!(
                "Choose {} ({}) for {}: {margin}, {measure}; the margin is real (Mann–Whitney p = {p:.3}, {} and {} repetitions).{}",
                w.variant,
                w.level,
                objective.text(),
                reps.0,
                reps.1,
                costs(winner, Some(runner_up), objective)
            ),
            Call::Equal { p, interval: (lo, hi) } => format!(
                "Equal within ±{:.0} % at {}: {} and {} ({ratio}× [{lo:.2}–{hi:.2}], whose 90 % interval lies inside {:.2}–{:.2}: two one-sided tests at 5 %; Mann–Whitney p = {p:.2}, {} and {} repetitions): either will do.{}",
                100.0 * EQUAL_WITHIN,
                objective.text(),
                w.variant,
                r.variant,
                equal_low(),
                1.0 + EQUAL_WITHIN,
                reps.0,
                reps.1,
                costs(winner, Some(runner_up), objective)
            ),
            Call::NotShown { p, interval: (lo, hi) } => format!(
                "No winner shown at {}: {} leads with {margin}, within the noise (Mann–Whitney p = {p:.2}), but its 90 % interval {lo:.2}–{hi:.2} reaches past ±{:.0} %, so neither a difference nor an equality is shown: run more repetitions.",
                objective.text(),
                w.variant,
                100.0 * EQUAL_WITHIN
            ),
            Call::WithinNoise { p } => format!(
                "No winner at {}: {} leads with {margin}, but the difference is within the noise (Mann–Whitney p = {p:.2}): either will do.",
                objective.text(),
                w.variant
            ),
            Call::TooFew => format!(
                "No winner yet at {}: {} leads with {margin}, but with {} and {} repetitions no difference can be shown real (the test needs 4 a side): run the scenario with `repetitions = 4` or more.",
                objective.text(),
                w.variant,
                reps.0,
                reps.1
            ),
        }
    }
}

/// The lower end of the equivalence margin: 1 / (1 + [`EQUAL_WITHIN`]).
fn equal_low() -> f64 {
    1.0 / (1.0 + EQUAL_WITHIN)
}

/// The decision of `workload` (None: the scenario sets it no objective).
pub fn decision_of<'a>(run: &'a RunData, workload: &str) -> Option<Decision<'a>> {
    let objective = Objective::of(run, workload)?;
    let groups = objective.groups(run, workload);
    Some(judge_candidates(&run.cells, &groups, objective))
}

/// What to choose for `workload`, or why nothing is chosen.
pub fn decision(run: &RunData, workload: &str) -> String {
    match decision_of(run, workload) {
        Some(decision) => decision.text(),
        None => "None: the scenario sets no objective for this workload (give it a `saturate` search, or the scenario a `[recommendation]` with `p95_slo`).".into(),
    }
}

/// What to choose among `groups` (of `cells`) at `objective`, or why nothing is chosen.
pub fn decide(cells: &[CellRecord], groups: &[&Group], objective: &Objective) -> String {
    judge_candidates(cells, groups, objective.clone()).text()
}

/// The best style among `groups` at `objective` against the best of the others, judged.
pub fn judge_candidates<'a>(
    cells: &[CellRecord],
    groups: &[&'a Group],
    objective: Objective,
) -> Decision<'a> {
    let found = candidates(cells, groups, &objective);
    let winner = found.first().cloned();
    let runner_up = winner.as_ref().and_then(|winner| {
        found
            .iter()
            .skip(1)
            .find(|c| c.group.style != winner.group.style)
            .or_else(|| found.get(1))
            .cloned()
    });
    let call = match (&winner, &runner_up) {
        (None, _) => Call::NoneMet,
        (Some(_), None) => Call::Only,
        (Some(winner), Some(runner_up)) => call(winner, runner_up),
    };
    Decision {
        objective,
        winner,
        runner_up,
        call,
    }
}

/// What the tests say of `winner` against `runner_up`.
pub fn call(winner: &Candidate<'_>, runner_up: &Candidate<'_>) -> Call {
    let range = |values: &[f64]| Stat::of(values.iter().copied());
    let overlap = match (range(&winner.values), range(&runner_up.values)) {
        (Some(w), Some(r)) if w.overlaps(&r) && (w.max > w.min || r.max > r.min) => Some((w, r)),
        _ => None,
    };
    match (judge(&runner_up.values, &winner.values), overlap) {
        (Verdict::Real(_), Some((winner, runner_up))) => Call::Overlap { winner, runner_up },
        (Verdict::Real(p), None) => Call::Real { p },
        (Verdict::WithinNoise(p), _) => {
            match super::stats::ratio_interval_at(&winner.values, &runner_up.values, 0.90) {
                Some((lo, hi)) if lo >= equal_low() && hi <= 1.0 + EQUAL_WITHIN => Call::Equal {
                    p,
                    interval: (lo, hi),
                },
                Some(interval) => Call::NotShown { p, interval },
                None => Call::WithinNoise { p },
            }
        }
        (Verdict::TooFew, _) => Call::TooFew,
    }
}

/// The winner's memory and CPU per 1,000 req/s, and the instances (and their cost) for
/// the target load, beside the runner-up's.
fn costs(
    winner: &Candidate<'_>,
    runner_up: Option<&Candidate<'_>>,
    objective: &Objective,
) -> String {
    let mut out = String::new();
    let per_thousand = |c: &Candidate<'_>| {
        let thousands = c.rps / 1000.0;
        let memory = c
            .group
            .rss_peak
            .map_or("memory not measured".to_string(), |rss| {
                format!("{} MiB", figure(rss.median / thousands))
            });
        let cpu = c.group.mechanism.cpu_us().map(|us| us * 1000.0 / 1e6);
        match cpu {
            Some(cores) => format!("{memory} and {} cores", figure(cores)),
            None => format!("{memory} (CPU not measured)"),
        }
    };
    let _ = write!(
        out,
        " Per 1,000 req/s it takes {} at this load",
        per_thousand(winner)
    );
    if let Some(r) = runner_up {
        let _ = write!(out, " ({}: {})", r.group.variant, per_thousand(r));
    }
    out.push('.');
    if let Some(target) = objective.target_rps.filter(|t| *t > 0.0) {
        let instances = |c: &Candidate<'_>| (target / c.rps.max(f64::MIN_POSITIVE)).ceil();
        let n = instances(winner);
        let _ = write!(
            out,
            " For {} req/s: {} instance{}",
            figure(target),
            n,
            plural(n)
        );
        if let Some(r) = runner_up {
            let _ = write!(out, " against {} of {}", instances(r), r.group.variant);
        }
        if let Some(cost) = objective.cost_per_instance {
            let _ = write!(out, ", {} a month", figure(n * cost));
            if let Some(r) = runner_up {
                let _ = write!(out, " against {}", figure(instances(r) * cost));
            }
            let _ = write!(out, " at {} an instance", figure(cost));
        }
        out.push('.');
    }
    out
}

fn plural(n: f64) -> &'static str {
    if n == 1.0 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::aggregate::groups;

    /// A saturation cell: `variant` of `style`, repetition `rep`, capacity `rps`.
    fn capacity(style: &str, variant: &str, rep: u32, rps: f64) -> CellRecord {
        CellRecord {
            cell: format!("{variant}-r{rep}"),
            workload: "io-heavy".into(),
            style: style.into(),
            variant: variant.into(),
            load_mode: "saturate".into(),
            connections: 2048,
            target_rps: Some(rps),
            repetition: rep,
            achieved_rps: rps,
            requests_scheduled: 1000,
            requests_ok: 1000,
            p95_ms: Some(30.0),
            rss_peak_mib: Some(20.0),
            cpu_user_us_per_ok: Some(10.0),
            cpu_sys_us_per_ok: Some(10.0),
            valid: true,
            ..CellRecord::default()
        }
    }

    /// async(workers=1) against blocking `variant`, repetition by repetition: (async's
    /// capacity, blocking's).
    fn async_against(variant: &str, capacities: &[(f64, f64)]) -> Vec<CellRecord> {
        let mut cells = Vec::new();
        for (rep, (fast, slow)) in capacities.iter().enumerate() {
            cells.push(capacity("async", "async(workers=1)", rep as u32 + 1, *fast));
            cells.push(capacity("blocking", variant, rep as u32 + 1, *slow));
        }
        cells
    }

    fn objective(target: Option<f64>, cost: Option<f64>) -> Objective {
        Objective {
            p95_ms: 50.0,
            max_error_rate: 0.001,
            target_rps: target,
            cost_per_instance: cost,
            capacity: true,
        }
    }

    fn decided(cells: &[CellRecord], objective: &Objective) -> String {
        let all = groups(cells);
        let refs: Vec<&Group> = all.iter().collect();
        decide(cells, &refs, objective)
    }

    #[test]
    fn a_real_margin_names_the_winner_with_its_costs_and_instances() {
        let cells = async_against(
            "blocking(pool=8)",
            &[
                (4000.0, 1000.0),
                (4100.0, 990.0),
                (3900.0, 1010.0),
                (4050.0, 1005.0),
                (3950.0, 995.0),
            ],
        );
        assert_eq!(
            decided(&cells, &objective(Some(8000.0), Some(300.0))),
            "Choose async(workers=1) (max@SLO) for p95 ≤ 50.0 ms with at most 0.1 % failed: 4,000 req/s against blocking(pool=8)'s 1,000 (4.00×), capacity at the objective; the margin is real (Mann–Whitney p = 0.008, 5 and 5 repetitions). \
             Per 1,000 req/s it takes 5.00 MiB and 0.020 cores at this load (blocking(pool=8): 20.0 MiB and 0.020 cores). \
             For 8,000 req/s: 2 instances against 8 of blocking(pool=8), 600 a month against 2,400 at 300 an instance."
        );
    }

    #[test]
    fn overlapping_or_too_few_repetitions_name_no_winner() {
        let cells = async_against(
            "blocking(pool=64)",
            &[
                (1000.0, 990.0),
                (1010.0, 1020.0),
                (990.0, 1000.0),
                (1005.0, 995.0),
            ],
        );
        // Within the noise and within ±10 % either way: an equality, shown.
        let text = decided(&cells, &objective(None, None));
        assert!(
            text.starts_with("Equal within ±10 % at p95 ≤ 50.0 ms with at most 0.1 % failed: async(workers=1) and blocking(pool=64) (1.01× [0.99–1.02]"),
            "{text}"
        );
        assert!(
            text.contains("whose 90 % interval lies inside 0.91–1.10"),
            "{text}"
        );
        // Within the noise, but too noisy to show an equality either.
        let noisy = async_against(
            "blocking(pool=64)",
            &[
                (1000.0, 700.0),
                (700.0, 1000.0),
                (1300.0, 900.0),
                (900.0, 1250.0),
            ],
        );
        let text = decided(&noisy, &objective(None, None));
        assert!(
            text.starts_with("No winner shown at p95 ≤ 50.0 ms"),
            "{text}"
        );
        assert!(text.contains("reaches past ±10 %"), "{text}");
        // A difference the test calls real (p = 0.016) whose runs still overlap.
        let close = async_against(
            "blocking(pool=64)",
            &[
                (1100.0, 1000.0),
                (1110.0, 1010.0),
                (1005.0, 1020.0),
                (1120.0, 990.0),
                (1130.0, 995.0),
            ],
        );
        let text = decided(&close, &objective(None, None));
        assert!(
            text.contains("their repetitions overlap (1,005 to 1,130 against 990 to 1,020 req/s)"),
            "{text}"
        );
        let once = [
            capacity("async", "async(workers=1)", 1, 4000.0),
            capacity("blocking", "blocking(pool=8)", 1, 1000.0),
        ];
        let text = decided(&once, &objective(None, None));
        assert!(text.starts_with("No winner yet"), "{text}");
        assert!(text.contains("`repetitions = 4`"), "{text}");
    }

    #[test]
    fn no_style_within_the_objective_means_no_recommendation() {
        let mut slow = capacity("async", "async(workers=1)", 1, 4000.0);
        slow.p95_ms = Some(80.0);
        let mut failing = capacity("blocking", "blocking(pool=8)", 1, 1000.0);
        failing.err_timeout = 10;
        assert_eq!(
            decided(&[slow.clone(), failing.clone()], &objective(None, None)),
            "No recommendation: no style met p95 ≤ 50.0 ms with at most 0.1 % failed at any level measured."
        );
        let fine = capacity("hybrid", "hybrid(workers=1)", 1, 2000.0);
        let text = decided(&[slow, failing, fine], &objective(Some(1000.0), None));
        assert_eq!(
            text,
            "Choose hybrid(workers=1): the only style that met p95 ≤ 50.0 ms with at most 0.1 % failed (2,000 req/s capacity at the objective, max@SLO). Per 1,000 req/s it takes 10.0 MiB and 0.020 cores at this load. For 1,000 req/s: 1 instance."
        );
    }
}
