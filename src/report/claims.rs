//! `sabench check RUN_DIR`: the claims check. Every scenario pair that carries a
//! `threshold` is a check: the cost of the wrong side over the right one (or, with no
//! wrong side, the right side's value itself) against the threshold. With repetitions
//! the ratio is a range; a range that straddles the threshold is inconclusive. Checks
//! marked `gate` fail the command when they do not hold. A claim that does not hold
//! here is a result, reported as such.

use std::fmt::Write as _;

use super::aggregate::{higher_is_better, Stat};
use super::{stats, RunData};
use crate::pair::Pair;

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimVerdict {
    /// The whole range is at or past the threshold (or within the band).
    Holds,
    /// The whole range falls short of it (or outside the band).
    DoesNotHold,
    /// The repetitions' range straddles it.
    Inconclusive,
    /// The run cannot say: a side is missing, invalid, failed, mostly errors, has no
    /// value, or its value is 0 (no ratio). The result says which.
    CannotDecide,
}

impl ClaimVerdict {
    /// As printed.
    pub fn text(self) -> &'static str {
        match self {
            ClaimVerdict::Holds => "holds",
            ClaimVerdict::DoesNotHold => "does not hold",
            ClaimVerdict::Inconclusive => "inconclusive",
            ClaimVerdict::CannotDecide => "cannot decide",
        }
    }
}

/// One side of a check as the run measured it.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Its style label (or the pipeline's way).
    pub label: String,
    /// The metric, over repetitions (None: not measured, e.g. no successful request).
    pub value: Option<Stat>,
    /// Why its cells cannot be used (invalid, failed), if so.
    pub unusable: Option<String>,
    /// Share of its requests that failed or never finished (None: not known).
    pub error_share: Option<f64>,
    /// The metric in each repetition (empty when only the summary is known).
    pub values: Vec<f64>,
    /// The lowest cap the bench put on its rate over its repetitions, req/s, and what
    /// set it (Little's law, the offered rate, where a search stopped).
    pub rate_cap: Option<(f64, String)>,
    /// Why its values are only lower bounds (None: they are measurements): a probe that
    /// never caught up with its schedule reads more the longer the window.
    pub lower_bound: Option<String>,
    /// The load its cells ran under (None: not cells, e.g. the pipeline's ways).
    pub load: Option<LoadShape>,
}

/// The load a side's cells ran under: what must be equal on both sides of a pair
/// unless the pair says it varies it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadShape {
    /// The generator's connections (the most over its repetitions).
    pub connections: u64,
    /// The offered rate of an open-loop or held cell, req/s (None: closed loop, or a
    /// saturation search, whose rate is the result).
    pub offered_rps: Option<f64>,
}

impl LoadShape {
    /// Why `self` and `other` are not the same load, where `pair` does not declare the
    /// difference (None: the same, or declared).
    fn differs(&self, other: &LoadShape, labels: (&str, &str), pair: &Pair) -> Option<String> {
        use crate::pair::LoadFactor;
        if self.connections != other.connections && !pair.varies.contains(&LoadFactor::Connections)
        {
            return Some(format!(
                "the sides ran with {} and {} generator connections ({} and {}): a pair varies one factor, the style; give both the same load, or declare varies = [\"connections\"] if that is its point",
                self.connections, other.connections, labels.0, labels.1
            ));
        }
        let rates_differ = match (self.offered_rps, other.offered_rps) {
            (Some(a), Some(b)) => (a - b).abs() > 1e-9 * a.abs().max(1.0),
            (a, b) => a.is_some() != b.is_some(),
        };
        if rates_differ && !pair.varies.contains(&LoadFactor::Rate) {
            let rate =
                |r: Option<f64>| r.map_or("no fixed rate".to_string(), |r| format!("{r} req/s"));
            return Some(format!(
                "the sides were offered {} and {} ({} and {}): a pair varies one factor, the style; declare varies = [\"rate\"] if that is its point",
                rate(self.offered_rps),
                rate(other.offered_rps),
                labels.0,
                labels.1
            ));
        }
        None
    }
}

/// Whether a probe figure is mostly the generator's lateness: its p99 lag is over
/// half of the figure (or either is unknown). A probe sent 16 ms late at p99 still
/// measures a 200 ms stall; it does not measure a 0.3 ms answer.
pub fn generator_lag_dominates(lag_p99_ms: Option<f64>, figure_ms: Option<f64>) -> bool {
    match (lag_p99_ms, figure_ms) {
        (Some(lag), Some(figure)) => lag > 0.5 * figure,
        _ => true,
    }
}

/// What a ratio is when a side's value is only a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatioBound {
    /// The true ratio is at least this (the numerator is a lower bound).
    AtLeast,
    /// The true ratio is at most this (the denominator is a lower bound).
    AtMost,
}

impl RatioBound {
    /// `≥ ` or `≤ `, put before the ratio.
    pub fn sign(self) -> &'static str {
        match self {
            RatioBound::AtLeast => "≥ ",
            RatioBound::AtMost => "≤ ",
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
    /// Why the check cannot decide (empty otherwise).
    pub reason: String,
    /// The Mann–Whitney p-value of the two sides' repetitions, when both have some.
    pub p: Option<f64>,
    /// Whether the ratio is only a bound (a side's value was a lower bound).
    pub bound: Option<RatioBound>,
}

/// A side of `workload` at `level` (the pipeline's ways too); Err says why there is none.
pub fn side(
    run: &RunData,
    workload: &str,
    label: &str,
    metric: &str,
    level: &str,
    overload: bool,
) -> Result<Side, String> {
    if workload == "pipeline" {
        let values: Vec<f64> = run
            .pipeline
            .iter()
            .filter(|t| t.way.starts_with(label))
            .filter_map(|t| t.metric(metric))
            .collect();
        if values.is_empty() {
            return Err(format!("the run has no pipeline way {label:?}"));
        }
        return Ok(Side {
            label: label.to_string(),
            value: Stat::of(values.iter().copied()),
            unusable: None,
            error_share: None,
            values,
            rate_cap: None,
            lower_bound: None,
            load: None,
        });
    }
    let levels = run.levels(workload);
    let group = levels
        .iter()
        .find(|(l, _)| l == level)
        .and_then(|(_, groups)| groups.iter().find(|g| g.variant == label))
        .ok_or_else(|| format!("the run has no cell {label} on {workload} at {level}"))?;
    let invalid = group
        .rows(&run.cells)
        .filter(|c| !c.valid)
        // In an overload experiment the target not keeping up is the effect.
        .find(|c| !overload || c.generator_limited);
    let probe_metric = metric.starts_with("probe_");
    // A probe the generator sent late for describes the generator where its lateness
    // is a large part of the figure (its latency counts from the intended send time);
    // one the target (or its own connections) held back reads a lower bound.
    let probe_invalid = group
        .rows(&run.cells)
        .filter(|_| probe_metric)
        .filter(|c| !c.probe_invalid_reason.is_empty() && !c.probe_lower_bound)
        .find(|c| generator_lag_dominates(c.probe_generator_lag_p99_ms, c.metric(metric)));
    let unusable = if group.failed > 0 {
        Some(format!("{} of its {} runs failed", group.failed, group.n))
    } else if let Some(c) = invalid {
        Some(format!("its cell is invalid ({})", c.invalid_reason))
    } else {
        probe_invalid.map(|c| format!("its probe is invalid ({})", c.probe_invalid_reason))
    };
    let lower_bound = group
        .rows(&run.cells)
        .filter(|_| probe_metric)
        .find(|c| c.probe_lower_bound)
        .map(|c| {
            format!(
                "its probe did not keep its schedule ({}), so its latency grows with the window: a lower bound",
                c.probe_invalid_reason
            )
        });
    let values = group.values(&run.cells, metric);
    let load = LoadShape {
        connections: group
            .rows(&run.cells)
            .map(|c| c.connections)
            .max()
            .unwrap_or(0),
        offered_rps: match group.load_mode.as_str() {
            "open" | "held" => group.target_rps,
            _ => None,
        },
    };
    Ok(Side {
        label: label.to_string(),
        value: Stat::of(values.iter().copied()),
        unusable,
        error_share: group.failure_share(),
        values,
        rate_cap: group.rate_cap(&run.cells),
        lower_bound,
        load: Some(load),
    })
}

/// The level a check reads: its own, or the workload's last (heaviest) one.
fn level_of(run: &RunData, pair: &Pair) -> String {
    if let Some(level) = &pair.level {
        return level.clone();
    }
    if pair.workload == "pipeline" {
        return "batch".into();
    }
    run.levels(&pair.workload)
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
    let right = side(
        run,
        right_workload,
        &pair.right,
        &pair.metric,
        &level,
        pair.overload,
    );
    let wrong = (!pair.wrong.is_empty()).then(|| {
        side(
            run,
            &pair.workload,
            &pair.wrong,
            &pair.metric,
            &level,
            pair.overload,
        )
    });
    let judgement = judge(pair, wrong.as_ref(), &right);
    CheckResult {
        pair: pair.clone(),
        level,
        wrong: wrong.and_then(|w| w.ok()).and_then(|w| w.value),
        right: right.ok().and_then(|r| r.value),
        ratio: judgement.ratio,
        verdict: judgement.verdict,
        reason: judgement.reason,
        p: judgement.p,
        bound: judgement.bound,
    }
}

/// What the sides of a check come to.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The ratio (wrong side's cost over the right side's), or the value of an
    /// absolute check; None when it cannot be formed.
    pub ratio: Option<Stat>,
    /// The verdict.
    pub verdict: ClaimVerdict,
    /// Why it cannot decide (empty otherwise).
    pub reason: String,
    /// The Mann–Whitney p-value of the two sides' repetitions (None: a single value
    /// on some side, or an absolute check).
    pub p: Option<f64>,
    /// Whether the ratio is only a bound.
    pub bound: Option<RatioBound>,
}

impl Judgement {
    fn cannot(reason: String) -> Self {
        Self {
            ratio: None,
            verdict: ClaimVerdict::CannotDecide,
            reason,
            p: None,
            bound: None,
        }
    }
}

/// What a ratio of `numerator` over `denominator` is when either side's value is only
/// a lower bound: Ok(None) a plain ratio, Ok(Some) a bound, Err why there is none.
fn ratio_bound(numerator: &Side, denominator: &Side) -> Result<Option<RatioBound>, String> {
    match (&numerator.lower_bound, &denominator.lower_bound) {
        (None, None) => Ok(None),
        (Some(_), None) => Ok(Some(RatioBound::AtLeast)),
        (None, Some(_)) => Ok(Some(RatioBound::AtMost)),
        (Some(why), Some(_)) => Err(format!(
            "both sides are lower bounds ({}: {why}), so their ratio is no bound at all",
            numerator.label
        )),
    }
}

/// A verdict on a ratio that is only a bound: a lower bound can show that a "≥"
/// threshold holds, never that it does not; an upper bound only the reverse. What a
/// bound cannot show is "cannot decide", with the reason.
fn bounded_verdict(
    verdict: ClaimVerdict,
    bound: RatioBound,
    at_most: bool,
    why: &str,
) -> (ClaimVerdict, String) {
    let shows = match (bound, at_most) {
        (RatioBound::AtLeast, false) | (RatioBound::AtMost, true) => ClaimVerdict::Holds,
        (RatioBound::AtLeast, true) | (RatioBound::AtMost, false) => ClaimVerdict::DoesNotHold,
    };
    if verdict == shows {
        (verdict, format!("the ratio is a bound: {why}"))
    } else {
        (
            ClaimVerdict::CannotDecide,
            format!(
                "the ratio is only a bound ({}the value) and does not reach the threshold: {why}",
                bound.sign()
            ),
        )
    }
}

/// Repetitions a gated check needs on each side: with fewer, no test can tell an
/// effect from noise at the 5 % level.
pub const GATE_REPETITIONS: usize = 5;

/// The verdict rules: a side that is missing, failed, invalid, mostly errors (over the
/// pair's `max_error_rate`, unless the metric is the error rate) or without a value
/// makes the check `cannot decide`, with the reason; so does a 0 where a ratio needs a
/// denominator. Only then is the ratio (or value) judged against the threshold.
pub fn judge(
    pair: &Pair,
    wrong: Option<&Result<Side, String>>,
    right: &Result<Side, String>,
) -> Judgement {
    let sides: Vec<&Result<Side, String>> = wrong.into_iter().chain([right]).collect();
    let mut values = Vec::new();
    let mut repetitions = Vec::new();
    let mut caps = Vec::new();
    let mut used: Vec<&Side> = Vec::new();
    for side in sides {
        let side = match side {
            Ok(side) => side,
            Err(why) => return Judgement::cannot(why.clone()),
        };
        used.push(side);
        if let Some(why) = &side.unusable {
            return Judgement::cannot(format!("{}: {why}", side.label));
        }
        if pair.metric != "error_rate" {
            if let Some(share) = side.error_share.filter(|s| *s > pair.max_error_rate) {
                return Judgement::cannot(format!(
                    "{}: {:.1} % of its requests failed or never finished (the check allows {:.1} %)",
                    side.label,
                    100.0 * share,
                    100.0 * pair.max_error_rate
                ));
            }
        }
        if pair.gate && side.values.len() < GATE_REPETITIONS {
            return Judgement::cannot(format!(
                "{}: {} repetitions; a gated check needs at least {GATE_REPETITIONS}",
                side.label,
                side.values.len()
            ));
        }
        repetitions.push(side.values.as_slice());
        caps.push((side.label.as_str(), side.rate_cap.as_ref()));
        match side.value {
            Some(value) if value.min.is_finite() && value.max.is_finite() => values.push(value),
            _ => {
                return Judgement::cannot(format!(
                    "{} has no {} (no successful request measured it)",
                    side.label, pair.metric
                ))
            }
        }
    }
    if let [wrong, right] = used.as_slice() {
        if let (Some(a), Some(b)) = (&wrong.load, &right.load) {
            if let Some(why) = a.differs(b, (&wrong.label, &right.label), pair) {
                return Judgement::cannot(why);
            }
        }
    }
    let mut p = None;
    let ratio = match (values.as_slice(), repetitions.as_slice()) {
        ([value], _) => *value,
        ([w, r], [w_reps, r_reps]) => {
            // How many times worse the wrong side is: with repetitions on both sides, the
            // ratio of medians with its 95 % bootstrap interval; else the extremes.
            let higher = higher_better(&pair.metric);
            let (num, den, den_label) = if higher {
                (r, w, &pair.wrong)
            } else {
                (w, r, &pair.right)
            };
            // A side whose median is 0 has no ratio (and a server that served nothing
            // may be broken, not slow); a repetition of 0 among others only opens the
            // interval's top, so the verdict rests on its bottom.
            if den.median <= 0.0 {
                return Judgement::cannot(format!(
                    "{den_label}'s {} is 0: there is no ratio",
                    pair.metric
                ));
            }
            let (num_reps, den_reps) = if higher {
                (*r_reps, *w_reps)
            } else {
                (*w_reps, *r_reps)
            };
            if w_reps.len() >= 2 && r_reps.len() >= 2 {
                p = stats::mann_whitney(w_reps, r_reps).map(|test| test.p);
            }
            let interval = (num_reps.len() >= 2 && den_reps.len() >= 2)
                .then(|| stats::ratio_interval(num_reps, den_reps))
                .flatten();
            match interval {
                Some((low, high)) => Stat {
                    median: stats::median(num_reps) / stats::median(den_reps),
                    min: low,
                    max: high,
                },
                None => Stat {
                    median: num.median / den.median,
                    min: num.min / den.max,
                    max: num.max / den.min,
                },
            }
        }
        _ => return Judgement::cannot("no side to judge".into()),
    };
    if let Some(why) = capped_by_the_bench(pair, &values, &caps) {
        // The ratio is still shown: it is what the bench let the sides reach.
        return Judgement {
            ratio: Some(ratio),
            p,
            ..Judgement::cannot(why)
        };
    }
    let bound = match used.as_slice() {
        [only] => Ok(only.lower_bound.as_ref().map(|_| RatioBound::AtLeast)),
        [w, r] if higher_better(&pair.metric) => ratio_bound(r, w),
        [w, r] => ratio_bound(w, r),
        _ => Ok(None),
    };
    let bound = match bound {
        Ok(bound) => bound,
        Err(why) => {
            return Judgement {
                ratio: Some(ratio),
                p,
                ..Judgement::cannot(why)
            }
        }
    };
    let at_most = pair.wrong.is_empty() && pair.at_most;
    let verdict = match pair.within {
        Some(band) => within(&ratio, band),
        None => verdict(&ratio, pair.threshold.unwrap_or(1.0), at_most),
    };
    let (verdict, reason) = match bound {
        None => (verdict, String::new()),
        Some(_) if pair.within.is_some() => (
            ClaimVerdict::CannotDecide,
            "a side is only a lower bound, and an equivalence needs measurements".into(),
        ),
        Some(bound) => {
            let why = used
                .iter()
                .find_map(|side| {
                    side.lower_bound
                        .as_ref()
                        .map(|why| format!("{}: {why}", side.label))
                })
                .unwrap_or_default();
            bounded_verdict(verdict, bound, at_most, &why)
        }
    };
    Judgement {
        ratio: Some(ratio),
        verdict,
        bound,
        reason,
        p,
    }
}

/// Share of its cap at which a side counts as running at the bench's limit.
const AT_CAP: f64 = 0.95;

/// Whether the bench, not the styles, decides a throughput check (Little's law): the
/// right side's cap lies below the rate the check needs (the threshold times the wrong
/// side's median, or the threshold itself), so the effect could not show; or, for a
/// two-sided check, both sides ran at their caps, so their ratio is the bench's.
/// `values` and `caps` are in side order (wrong first, when there is one).
fn capped_by_the_bench(
    pair: &Pair,
    values: &[Stat],
    caps: &[(&str, Option<&(f64, String)>)],
) -> Option<String> {
    if pair.metric != "achieved_rps" {
        return None;
    }
    if pair.within.is_some() {
        let at_cap = values
            .iter()
            .zip(caps)
            .all(|(v, (_, cap))| cap.is_some_and(|(rps, _)| v.median >= AT_CAP * rps));
        return at_cap.then(|| {
            "both sides ran at the bench's cap on their rate, so their ratio is the bench's, not the styles'".into()
        });
    }
    if let ([wrong, right], [(wrong_label, Some(wrong_cap)), (right_label, Some(right_cap))]) =
        (values, caps)
    {
        let at_cap = |v: &Stat, cap: f64| v.median >= AT_CAP * cap;
        let same =
            (wrong_cap.0 - right_cap.0).abs() <= (1.0 - AT_CAP) * wrong_cap.0.max(right_cap.0);
        if same && at_cap(wrong, wrong_cap.0) && at_cap(right, right_cap.0) {
            return Some(format!(
                "both sides ran at the same cap of the bench ({wrong_label}: {:.0} req/s, {}; {right_label}: {:.0} req/s, {}), so their ratio is the bench's, not the styles'",
                wrong_cap.0, wrong_cap.1, right_cap.0, right_cap.1
            ));
        }
    }
    let (right_label, right_cap) = caps.last()?;
    let (cap, by) = (*right_cap)?;
    let needed = match values {
        [wrong, _] => pair.threshold.unwrap_or(1.0) * wrong.median,
        _ if pair.at_most => return None,
        _ => pair.threshold.unwrap_or(1.0),
    };
    (*cap < needed).then(|| {
        format!(
            "the bench caps {right_label} at {cap:.0} req/s ({by}), below the {needed:.0} req/s the check needs: the effect could not show"
        )
    })
}

/// Judges a ratio range against a threshold: it must be at least the threshold, or at
/// most it when `at_most`. A range on both sides is inconclusive.
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

/// A two-sided check: the whole range within 1 ± `band` holds, the whole range
/// outside it (on one side) does not, anything else is inconclusive.
pub fn within(range: &Stat, band: f64) -> ClaimVerdict {
    let inside = |v: f64| (1.0 - band..=1.0 + band).contains(&v);
    match (inside(range.min), inside(range.max)) {
        (true, true) => ClaimVerdict::Holds,
        (false, false) if range.max < 1.0 - band || range.min > 1.0 + band => {
            ClaimVerdict::DoesNotHold
        }
        _ => ClaimVerdict::Inconclusive,
    }
}

/// The scenario's checks (pairs with a threshold or a band).
pub fn checks(run: &RunData) -> Vec<Pair> {
    run.pairs()
        .into_iter()
        .filter(|p| p.threshold.is_some() || p.within.is_some())
        .collect()
}

/// The bound as printed: `≥ 5`, `≤ 100`, `within 1 ± 0.1`.
fn bound(pair: &Pair) -> String {
    match (pair.within, pair.threshold.unwrap_or(1.0)) {
        (Some(band), _) => format!("within 1 ± {band}"),
        (None, t) if pair.wrong.is_empty() && pair.at_most => format!("≤ {t}"),
        (None, t) => format!("≥ {t}"),
    }
}

/// A check's name among figures (the invariance check's rows): `C1 blocking(pool=8) vs
/// async(workers=1) (achieved_rps, max@SLO)`.
pub fn figure_name(pair: &Pair, level: &str) -> String {
    let sides = if pair.wrong.is_empty() {
        pair.right.clone()
    } else {
        format!("{} vs {}", pair.wrong, pair.right)
    };
    format!("{} {sides} ({}, {level})", pair.claim, pair.metric)
}

/// A check's ratio as printed: `12.3 [10.1–14.0]`, `≥ 26,580` when it is only a
/// bound, `—` when there is none.
fn ratio_text(result: &CheckResult) -> String {
    let value = Stat::display_or_dash(result.ratio, 3);
    match (result.bound, result.ratio) {
        (Some(bound), Some(_)) => format!("{}{value}", bound.sign()),
        _ => value,
    }
}

/// `claims.md`.
pub fn render(run: &RunData, results: &[CheckResult]) -> String {
    let m = &run.manifest;
    // When this run was an invariance check's "as written" run, each verdict shows
    // what the bench's changes did to its ratio.
    let invariance = super::invariance::of_run(run);
    let mut out = format!(
        "# Claims check — run `{}`\n\n{} cores ({}), Linux {}, revision `{}`, {}.\n\n\
         Each check compares the wrong side with the right side of the same load (or reads one value). \
         `ratio` is how many times worse the wrong side is (for an absolute check, the value itself): with repetitions on both sides, \
         the ratio of their medians and its 95 % bootstrap interval, and `p` the Mann–Whitney test of the two sides' repetitions; \
         an interval across the threshold is inconclusive. A gated check needs at least 5 repetitions a side. \
         A claim that does not hold here is a result, not a failure to hide; only `gate` checks fail the command. \
         A check **cannot decide** when a side is missing, failed, invalid, has more failed or unfinished requests than the check allows (1 % unless it says), \
         has no value, is only a bound that cannot show the verdict (a probe that never caught up with its schedule reads a lower bound: `≥` before the ratio), has a median of 0 where the ratio divides by it (a repetition of 0 among others leaves the interval open above, `∞`, and the verdict rests on its bottom), is capped by the bench below what the check needs (Little's law, with the latency the cell measured: `rate_cap_rps` in cells.csv), has both sides at the same cap of the bench, \
         or ran under another load than the other side (generator connections, offered rate) where the pair does not declare it varies it (`varies`); `why` says which. \
         An overload pair (`overload = true`: the load is meant to exceed the target) still uses a side that is invalid only because the target could not keep up (it stalled, or held every connection); never one the generator limited. A gate that cannot decide fails.\n\n\
         | claim | statement | the article's numbers | metric | wrong | right | level | ratio | threshold | verdict | why | gate |{}\n\
         |---|---|---|---|---|---|---|---:|---:|---|---|---|{}\n",
        m.run_id, m.cores, m.cpu_model, m.kernel, m.git_revision, m.started,
        if invariance.is_some() { " bench changed |" } else { "" },
        if invariance.is_some() { "---|" } else { "" },
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
        let _ =
            writeln!(
            out,
            "| {} | {} | {} | {} | {} | {}{right_workload}: {} | {} | {} | {} | **{}** | {} | {} |{}",
            p.claim,
            p.title,
            if p.article.is_empty() { "—" } else { &p.article },
            p.metric,
            wrong,
            p.right,
            Stat::display_or_dash(r.right, 3),
            r.level,
            match r.p {
                Some(value) => format!("{}, p = {value:.3}", ratio_text(r)),
                None => ratio_text(r),
            },
            bound(p),
            r.verdict.text(),
            if r.reason.is_empty() { "—" } else { &r.reason },
            if p.gate { "yes" } else { "no" },
            invariance.as_ref().map_or(String::new(), |report| format!(
                " {} |",
                super::invariance::verdict_of(report, &figure_name(p, &r.level))
            )),
        );
    }
    if let Some(database) = &run.manifest.database {
        out.push('\n');
        out.push_str(&super::database::ceiling(database));
    }
    out.push_str(&why_section(run));
    out
}

/// Why each workload's styles got their results, and what to choose: the rules'
/// sentences (see summary.md for the mechanism tables they cite) and the recommendation.
fn why_section(run: &RunData) -> String {
    let mut out = String::from(
        "\n## Why, and what to choose\n\nWritten by rules over each cell's mechanism metrics (cells.csv; the tables are in summary.md), never by hand.\n\n",
    );
    for workload in run.workloads() {
        let levels = run.levels(&workload);
        let _ = writeln!(out, "### `{workload}`\n");
        out.push_str(&super::why::sentences(&levels));
        let _ = writeln!(
            out,
            "Recommendation: {}\n",
            super::recommend::decision(run, &workload)
        );
    }
    out
}

/// A verdict stands only if no change of the bench moved its ratio beyond its noise;
/// otherwise the check cannot decide, and says how the ratio moved.
fn judged_by_invariance(
    mut result: CheckResult,
    report: &super::invariance::InvarianceReport,
) -> CheckResult {
    let decided = matches!(
        result.verdict,
        ClaimVerdict::Holds | ClaimVerdict::DoesNotHold
    );
    let name = figure_name(&result.pair, &result.level);
    if let Some(why) = super::invariance::set_by_bench(report, &name).filter(|_| decided) {
        result.verdict = ClaimVerdict::CannotDecide;
        result.reason = why;
    }
    result
}

/// Evaluates every check of the run; returns claims.md and whether every gate held.
pub fn check(run: &RunData) -> CheckOutcome {
    let invariance = super::invariance::of_run(run);
    let results: Vec<CheckResult> = checks(run)
        .iter()
        .map(|p| {
            let result = evaluate(run, p);
            match &invariance {
                Some(report) => judged_by_invariance(result, report),
                None => result,
            }
        })
        .collect();
    let gates: Vec<&CheckResult> = results.iter().filter(|r| r.pair.gate).collect();
    CheckOutcome {
        gates_hold: gates.iter().all(|r| r.verdict == ClaimVerdict::Holds),
        gate_lines: gates.iter().map(|r| gate_line(r)).collect(),
        text: render(run, &results),
    }
}

/// What `sabench check` comes to.
pub struct CheckOutcome {
    /// `claims.md`.
    pub text: String,
    /// Whether every gated check holds.
    pub gates_hold: bool,
    /// One line per gate: its value, threshold and margin (see [`gate_line`]).
    pub gate_lines: Vec<String>,
}

/// One gate in a line, so a failure says at once how far it was from passing:
/// `gate C1 holds: 42.4 [38.0–45.3] ≥ 10, margin 3.80× (the interval's bottom over the
/// threshold; under 1 fails)`. A check that cannot decide says why instead.
pub fn gate_line(result: &CheckResult) -> String {
    let pair = &result.pair;
    let head = format!("gate {} {}", pair.claim, result.verdict.text());
    let Some(ratio) = result.ratio else {
        return format!("{head}: {}", result.reason);
    };
    let value = ratio_text(result);
    let margin = match pair.within {
        // An equivalence: the room left inside the band at the interval's worse end.
        Some(band) => {
            let off = (ratio.max - 1.0).max(1.0 - ratio.min);
            format!("{:.3} of the ± {band} band used", off / band)
        }
        None => {
            let threshold = pair.threshold.unwrap_or(1.0);
            let margin = if pair.wrong.is_empty() && pair.at_most {
                threshold / ratio.max
            } else {
                ratio.min / threshold
            };
            format!("margin {margin:.2}× (the interval's worse end against the threshold; under 1 fails)")
        }
    };
    let why = if result.reason.is_empty() {
        String::new()
    } else {
        format!(" — {}", result.reason)
    };
    format!(
        "{head}: {value} {} ({}), {margin}{why}",
        bound(pair),
        pair.metric
    )
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

    /// A throughput pair "good serves ≥ 2× bad", changed by `change`.
    fn pair(change: impl FnOnce(&mut Pair)) -> Pair {
        let text = "claim = \"C\"\ntitle = \"t\"\nworkload = \"w\"\nwrong = \"bad\"\nright = \"good\"\nmetric = \"achieved_rps\"\nthreshold = 2.0\n";
        let mut pair: Pair = toml::from_str(text).unwrap();
        change(&mut pair);
        pair
    }

    fn gate_result(ratio: Option<Stat>, verdict: ClaimVerdict, reason: &str) -> CheckResult {
        CheckResult {
            pair: pair(|p| {
                p.claim = "C1".into();
                p.threshold = Some(10.0);
                p.gate = true;
            }),
            level: "max@SLO".into(),
            wrong: None,
            right: None,
            ratio,
            verdict,
            bound: None,
            reason: reason.into(),
            p: None,
        }
    }

    #[test]
    fn a_verdict_whose_ratio_moved_with_the_bench_cannot_decide_and_says_how() {
        use super::super::invariance::{Figure, InvarianceReport, Movement, Row};
        let ratio = Stat {
            median: 42.0,
            min: 38.0,
            max: 45.0,
        };
        let holds = gate_result(Some(ratio), ClaimVerdict::Holds, "");
        let name = figure_name(&holds.pair, &holds.level);
        let figure = |median: f64| Figure {
            value: Stat {
                median,
                min: median - 1.0,
                max: median + 1.0,
            },
            repetitions: 5,
            bound: None,
        };
        let report = |movement: Movement| InvarianceReport {
            invariant: false,
            runs: vec![
                ("as written".into(), "a".into()),
                ("window-x2".into(), "b".into()),
            ],
            skipped: Vec::new(),
            rows: vec![Row {
                figure: name.clone(),
                base: Some(figure(42.0)),
                variants: vec![("window-x2".into(), Some(figure(21.0)), movement)],
            }],
        };
        let moved = judged_by_invariance(holds.clone(), &report(Movement::Moved));
        assert_eq!(moved.verdict, ClaimVerdict::CannotDecide);
        assert_eq!(
            moved.reason,
            "set by the bench: moved from 42.000 [41.000–43.000] to 21.000 [20.000–22.000] when window-x2"
        );
        let within = judged_by_invariance(holds.clone(), &report(Movement::Within));
        assert_eq!(within.verdict, ClaimVerdict::Holds);
        let not_again = judged_by_invariance(holds, &report(Movement::NotMeasuredAgain));
        assert_eq!(not_again.verdict, ClaimVerdict::Holds);
    }

    #[test]
    fn a_gate_line_gives_the_value_the_threshold_and_the_margin_at_the_worse_end() {
        let ratio = Stat {
            median: 42.0,
            min: 38.0,
            max: 45.0,
        };
        let line = gate_line(&gate_result(Some(ratio), ClaimVerdict::Holds, ""));
        assert!(
            line.starts_with("gate C1 holds: 42.000 [38.000–45.000] ≥ 10"),
            "{line}"
        );
        assert!(line.contains("margin 3.80×"), "{line}");
        let short = Stat {
            median: 2.2,
            min: 2.1,
            max: 2.3,
        };
        let line = gate_line(&gate_result(Some(short), ClaimVerdict::DoesNotHold, ""));
        assert!(
            line.contains("does not hold") && line.contains("margin 0.21×"),
            "{line}"
        );
        let line = gate_line(&gate_result(None, ClaimVerdict::CannotDecide, "no side"));
        assert_eq!(line, "gate C1 cannot decide: no side");
    }

    fn side(label: &str, value: Option<f64>) -> Result<Side, String> {
        repeated(label, &value.into_iter().collect::<Vec<_>>())
    }

    fn judged(pair: &Pair, wrong: Result<Side, String>, right: Result<Side, String>) -> Judgement {
        judge(pair, Some(&wrong), &right)
    }

    #[test]
    fn a_side_that_scored_zero_never_wins() {
        // Throughput: the wrong side served nothing. No ratio, no "inf× holds".
        let j = judged(
            &pair(|_| {}),
            side("bad", Some(0.0)),
            side("good", Some(100.0)),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(j.reason.contains("is 0"), "{}", j.reason);
        // Latency: the right side has no value (its probe was never answered).
        let latency = pair(|p| p.metric = "probe_p95_ms".into());
        let j = judged(&latency, side("bad", Some(50.0)), side("good", None));
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(
            j.reason.contains("good has no probe_p95_ms"),
            "{}",
            j.reason
        );
        let j = judged(&latency, side("bad", Some(50.0)), side("good", Some(0.0)));
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        // Most repetitions of the wrong side served 0: its median is 0, still no ratio.
        let j = judged(
            &pair(|_| {}),
            repeated("bad", &[0.0, 0.0, 0.0, 4.0, 5.0]),
            repeated("good", &[20.0, 21.0, 22.0, 21.0, 20.0]),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(j.reason.contains("is 0"), "{}", j.reason);
    }

    #[test]
    fn a_repetition_of_zero_among_others_opens_the_top_of_the_interval() {
        // The unbounded fan-out: some repetitions served nothing, the others a few req/s.
        // The ratio of medians exists; the interval's top is ∞; its bottom decides.
        let wrong = [0.0, 2.3, 6.7, 0.0, 2.0];
        let right = [21.3, 21.0, 22.0, 21.7, 20.7];
        let j = judged(
            &pair(|_| {}),
            repeated("bad", &wrong),
            repeated("good", &right),
        );
        let ratio = j.ratio.expect("a ratio of medians");
        assert!((ratio.median - 21.3 / 2.0).abs() < 1e-9, "{ratio:?}");
        assert!(ratio.max.is_infinite(), "{ratio:?}");
        assert!(ratio.min >= 3.0, "{ratio:?}");
        assert_eq!(j.verdict, ClaimVerdict::Holds, "{}", j.reason);
        assert!(Stat::display_or_dash(j.ratio, 3).ends_with("–∞]"));
        // ... and a bottom under the threshold leaves it inconclusive, never "holds".
        let strict = pair(|p| p.threshold = Some(5.0));
        let j = judged(&strict, repeated("bad", &wrong), repeated("good", &right));
        assert_eq!(j.verdict, ClaimVerdict::Inconclusive, "{}", j.reason);
    }

    #[test]
    fn error_dominated_invalid_failed_or_missing_cells_cannot_decide() {
        let mut errors = side("bad", Some(10.0)).unwrap();
        errors.error_share = Some(0.94);
        let j = judged(&pair(|_| {}), Ok(errors.clone()), side("good", Some(100.0)));
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(j.reason.contains("94.0 %"), "{}", j.reason);
        // ... unless the check is about errors.
        let about_errors = pair(|p| {
            p.metric = "error_rate".into();
            p.wrong.clear();
            p.at_most = true;
            p.threshold = Some(0.99);
        });
        let j = judge(&about_errors, None, &Ok(errors.clone()));
        assert_ne!(j.verdict, ClaimVerdict::CannotDecide, "{}", j.reason);
        // A looser bound, when the pair says so.
        let loose = pair(|p| p.max_error_rate = 0.95);
        assert_eq!(
            judged(&loose, Ok(errors), side("good", Some(100.0))).verdict,
            ClaimVerdict::Holds
        );
        let mut invalid = side("bad", Some(10.0)).unwrap();
        invalid.unusable = Some("its cell is invalid (the generator was the limit)".into());
        let j = judged(&pair(|_| {}), Ok(invalid), side("good", Some(100.0)));
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(
            j.reason.starts_with("bad: its cell is invalid"),
            "{}",
            j.reason
        );
        let j = judged(
            &pair(|_| {}),
            Err("the run has no cell bad".into()),
            side("good", Some(1.0)),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
    }

    #[test]
    fn a_two_sided_check_holds_inside_its_band_only() {
        let nothing_gained = pair(|p| p.within = Some(0.1));
        let ratio =
            |w: f64, r: f64| judged(&nothing_gained, side("bad", Some(w)), side("good", Some(r)));
        // Throughput: ratio = right / wrong.
        assert_eq!(ratio(100.0, 97.0).verdict, ClaimVerdict::Holds);
        assert_eq!(ratio(100.0, 150.0).verdict, ClaimVerdict::DoesNotHold);
        assert_eq!(ratio(100.0, 60.0).verdict, ClaimVerdict::DoesNotHold);
        let straddles = Stat {
            median: 1.1,
            min: 1.0,
            max: 1.2,
        };
        assert_eq!(within(&straddles, 0.1), ClaimVerdict::Inconclusive);
    }

    #[test]
    fn a_clear_win_holds_and_a_clear_loss_does_not() {
        let j = judged(
            &pair(|_| {}),
            side("bad", Some(10.0)),
            side("good", Some(100.0)),
        );
        assert_eq!(
            (j.verdict, j.ratio.map(|r| r.median)),
            (ClaimVerdict::Holds, Some(10.0))
        );
        let j = judged(
            &pair(|_| {}),
            side("bad", Some(100.0)),
            side("good", Some(150.0)),
        );
        assert_eq!(j.verdict, ClaimVerdict::DoesNotHold);
    }

    fn repeated(label: &str, values: &[f64]) -> Result<Side, String> {
        Ok(Side {
            label: label.into(),
            value: Stat::of(values.iter().copied()),
            unusable: None,
            error_share: Some(0.0),
            values: values.to_vec(),
            rate_cap: None,
            lower_bound: None,
            load: None,
        })
    }

    #[test]
    fn repetitions_give_an_interval_and_a_p_value_and_gates_need_five() {
        let gated = pair(|p| p.gate = true);
        let bad = [10.0, 11.0, 9.0, 10.5, 9.5];
        let good = [100.0, 98.0, 103.0, 101.0, 99.0];
        let j = judged(&gated, repeated("bad", &bad), repeated("good", &good));
        assert_eq!(j.verdict, ClaimVerdict::Holds);
        let ratio = j.ratio.unwrap();
        assert!(
            ratio.min < ratio.median && ratio.median < ratio.max,
            "{ratio:?}"
        );
        assert!(j.p.is_some_and(|p| p < 0.01), "{:?}", j.p);
        // Two repetitions cannot carry a gate.
        let j = judged(
            &gated,
            repeated("bad", &bad[..2]),
            repeated("good", &good[..2]),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(j.reason.contains("at least 5"), "{}", j.reason);
        // Ungated, they still give a verdict.
        let j = judged(
            &pair(|_| {}),
            repeated("bad", &bad[..2]),
            repeated("good", &good[..2]),
        );
        assert_eq!(j.verdict, ClaimVerdict::Holds);
    }

    #[test]
    fn a_probe_sent_late_still_measures_what_its_lateness_cannot_explain() {
        assert!(
            !generator_lag_dominates(Some(16.4), Some(201.0)),
            "a 200 ms stall"
        );
        assert!(
            generator_lag_dominates(Some(16.4), Some(0.3)),
            "a 0.3 ms answer"
        );
        assert!(generator_lag_dominates(None, Some(200.0)), "unknown lag");
        assert!(generator_lag_dominates(Some(1.0), None), "no figure");
    }

    fn bounded(side: Result<Side, String>) -> Result<Side, String> {
        side.map(|s| Side {
            lower_bound: Some("its probe did not keep its schedule".into()),
            ..s
        })
    }

    #[test]
    fn a_ratio_on_a_lower_bound_is_a_bound_and_decides_only_what_a_bound_can_show() {
        // Probe p95 (lower is better): wrong ÷ right. A backlogged wrong side makes the
        // ratio "at least": it can show that "≥ 10" holds, never that it does not.
        let probe = pair(|p| {
            p.metric = "probe_p95_ms".into();
            p.threshold = Some(10.0);
        });
        let j = judged(
            &probe,
            bounded(side("bad", Some(3_000.0))),
            side("good", Some(1.0)),
        );
        assert_eq!(j.verdict, ClaimVerdict::Holds);
        assert_eq!(j.bound, Some(RatioBound::AtLeast));
        assert!(j.reason.contains("a bound"), "{}", j.reason);
        let j = judged(
            &probe,
            bounded(side("bad", Some(5.0))),
            side("good", Some(1.0)),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide, "5 is only ≥ 5");
        // A backlogged right side makes it "at most": it can show "does not hold".
        let j = judged(
            &probe,
            side("bad", Some(5.0)),
            bounded(side("good", Some(1.0))),
        );
        assert_eq!(
            (j.verdict, j.bound),
            (ClaimVerdict::DoesNotHold, Some(RatioBound::AtMost))
        );
        let j = judged(
            &probe,
            side("bad", Some(50.0)),
            bounded(side("good", Some(1.0))),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        // Both bounds: no ratio can be judged.
        let j = judged(
            &probe,
            bounded(side("bad", Some(50.0))),
            bounded(side("good", Some(1.0))),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(j.reason.contains("both sides"), "{}", j.reason);
        // Printed with its sign.
        let result = CheckResult {
            bound: Some(RatioBound::AtLeast),
            ..gate_result(Some(Stat::of([26_580.0]).unwrap()), ClaimVerdict::Holds, "")
        };
        assert!(
            gate_line(&result).contains(": ≥ 26580"),
            "{}",
            gate_line(&result)
        );
    }

    fn loaded(
        side: Result<Side, String>,
        connections: u64,
        rate: Option<f64>,
    ) -> Result<Side, String> {
        side.map(|s| Side {
            load: Some(LoadShape {
                connections,
                offered_rps: rate,
            }),
            ..s
        })
    }

    #[test]
    fn sides_under_unequal_loads_cannot_decide_unless_the_pair_declares_it() {
        // C2 memory's old shape: blocking on 64 connections, async on 1,024.
        let memory = pair(|p| {
            p.metric = "rss_peak_mib".into();
            p.threshold = Some(2.1);
        });
        let j = judged(
            &memory,
            loaded(side("blocking(pool=64)", Some(20.0)), 64, Some(1000.0)),
            loaded(side("async(workers=1)", Some(9.0)), 1024, Some(1000.0)),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(
            j.reason.starts_with("the sides ran with 64 and 1024 generator connections (blocking(pool=64) and async(workers=1))"),
            "{}",
            j.reason
        );
        let j = judged(
            &memory,
            loaded(side("bad", Some(20.0)), 64, Some(1000.0)),
            loaded(side("good", Some(9.0)), 64, Some(500.0)),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(
            j.reason.contains("offered 1000 req/s and 500 req/s"),
            "{}",
            j.reason
        );
        // Declared, it is the point of the pair.
        let declared = pair(|p| {
            p.metric = "rss_peak_mib".into();
            p.threshold = Some(2.0);
            p.varies = vec![crate::pair::LoadFactor::Connections];
        });
        let j = judged(
            &declared,
            loaded(side("bad", Some(20.0)), 64, Some(1000.0)),
            loaded(side("good", Some(9.0)), 1024, Some(1000.0)),
        );
        assert_eq!(j.verdict, ClaimVerdict::Holds);
        // Equal loads decide as before.
        let j = judged(
            &memory,
            loaded(side("bad", Some(20.0)), 64, Some(1000.0)),
            loaded(side("good", Some(9.0)), 64, Some(1000.0)),
        );
        assert_eq!(j.verdict, ClaimVerdict::Holds, "20 ÷ 9 = 2.22 ≥ 2.1");
    }

    #[test]
    fn both_sides_at_the_same_cap_of_the_bench_cannot_decide() {
        // C6 on the mock's old shape: 64 threads at about 21.4 ms cap both sides at
        // about 2,990 req/s; each served 2,859.
        let c6 = pair(|p| p.threshold = Some(1.5));
        let cap = (
            2_990.0,
            "64 connections ÷ 21.4 ms measured (Little's law)".to_string(),
        );
        let at = |label: &str| {
            side(label, Some(2_859.0)).map(|s| Side {
                rate_cap: Some(cap.clone()),
                ..s
            })
        };
        let j = judged(
            &c6,
            at("blocking(pool=64)+no-pool"),
            at("blocking(pool=64)"),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(
            j.reason
                .starts_with("both sides ran at the same cap of the bench"),
            "{}",
            j.reason
        );
        assert!(j.ratio.is_some(), "the ratio is still shown");
        // One side well under the common cap: the styles, not the bench, differ.
        let under = side("bad", Some(1_000.0)).map(|s| Side {
            rate_cap: Some(cap.clone()),
            ..s
        });
        let j = judged(&c6, under, at("good"));
        assert_eq!(j.verdict, ClaimVerdict::Holds, "{}", j.reason);
    }

    fn capped(side: Result<Side, String>, cap: f64) -> Result<Side, String> {
        side.map(|s| Side {
            rate_cap: Some((cap, "256 connections ÷ 20ms (Little's law)".into())),
            ..s
        })
    }

    #[test]
    fn a_side_the_bench_caps_below_what_the_check_needs_cannot_decide() {
        // C11's old shape: 256 connections × 20 ms cap async at 12,800 req/s, under 15k.
        let absolute = pair(|p| {
            p.wrong = String::new();
            p.threshold = Some(15_000.0);
        });
        let j = judge(
            &absolute,
            None,
            &capped(side("good", Some(12_000.0)), 12_800.0),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(
            j.reason.contains("caps good at 12800 req/s"),
            "{}",
            j.reason
        );
        // With room for the effect, the same value is a plain "does not hold".
        let j = judge(
            &absolute,
            None,
            &capped(side("good", Some(12_000.0)), 51_200.0),
        );
        assert_eq!(j.verdict, ClaimVerdict::DoesNotHold);
        // A ratio needs threshold × the wrong side: 2 × 7,000 > the right side's cap.
        let j = judged(
            &pair(|_| {}),
            side("bad", Some(7_000.0)),
            capped(side("good", Some(12_700.0)), 12_800.0),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        // Two-sided: both at their caps measure the bench.
        let band = pair(|p| p.within = Some(0.1));
        let j = judged(
            &band,
            capped(side("bad", Some(12_700.0)), 12_800.0),
            capped(side("good", Some(12_750.0)), 12_800.0),
        );
        assert_eq!(j.verdict, ClaimVerdict::CannotDecide);
        assert!(j.reason.contains("both sides ran at the bench's cap"));
        let j = judged(
            &band,
            capped(side("bad", Some(5_000.0)), 12_800.0),
            capped(side("good", Some(5_100.0)), 12_800.0),
        );
        assert_eq!(j.verdict, ClaimVerdict::Holds);
    }
}
