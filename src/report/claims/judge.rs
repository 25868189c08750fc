//! The verdict of a check: a ratio's range against its threshold, refused when a side
//! sits at a cap the bench set, when the loads differ, or when the bench moved it.

use super::*;

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
pub(super) fn ratio_bound(
    numerator: &Side,
    denominator: &Side,
) -> Result<Option<RatioBound>, String> {
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
pub(super) fn bounded_verdict(
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
pub(super) const AT_CAP: f64 = 0.95;

/// Whether the bench, not the styles, decides a throughput check (Little's law): the
/// right side's cap lies below the rate the check needs (the threshold times the wrong
/// side's median, or the threshold itself), so the effect could not show; or, for a
/// two-sided check, both sides ran at their caps, so their ratio is the bench's.
/// `values` and `caps` are in side order (wrong first, when there is one).
pub(super) fn capped_by_the_bench(
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
