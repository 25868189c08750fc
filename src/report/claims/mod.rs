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

mod judge;
mod render;
mod sides;

pub use judge::*;
pub use render::*;
pub use sides::*;

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

/// The scenario's checks (pairs with a threshold or a band).
pub fn checks(run: &RunData) -> Vec<Pair> {
    run.pairs()
        .into_iter()
        .filter(|p| p.threshold.is_some() || p.within.is_some())
        .collect()
}

/// A verdict stands only if no change of the bench moved its ratio beyond its noise;
/// otherwise the check cannot decide, and says how the ratio moved.
pub(super) fn judged_by_invariance(
    mut result: CheckResult,
    report: &crate::report::invariance::InvarianceReport,
) -> CheckResult {
    let decided = matches!(
        result.verdict,
        ClaimVerdict::Holds | ClaimVerdict::DoesNotHold
    );
    let name = figure_name(&result.pair, &result.level);
    if let Some(why) = crate::report::invariance::set_by_bench(report, &name).filter(|_| decided) {
        result.verdict = ClaimVerdict::CannotDecide;
        result.reason = why;
    }
    result
}

/// Evaluates every check of the run; returns claims.md and whether every gate held.
pub fn check(run: &RunData) -> CheckOutcome {
    let invariance = crate::report::invariance::of_run(run);
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
        use crate::report::invariance::{Figure, InvarianceReport, Movement, Row};
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
