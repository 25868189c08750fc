//! `claims.md`: the table of checks, each figure named, the Why, and a gate's line.

use super::*;

/// The bound as printed: `≥ 5`, `≤ 100`, `within 1 ± 0.1`.
pub(super) fn bound(pair: &Pair) -> String {
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
pub(super) fn ratio_text(result: &CheckResult) -> String {
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
    let invariance = crate::report::invariance::of_run(run);
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
                crate::report::invariance::verdict_of(report, &figure_name(p, &r.level))
            )),
        );
    }
    if let Some(database) = &run.manifest.database {
        out.push('\n');
        out.push_str(&crate::report::database::ceiling(database));
    }
    out.push_str(&why_section(run));
    out
}

/// Why each workload's styles got their results, and what to choose: the rules'
/// sentences (see summary.md for the mechanism tables they cite) and the recommendation.
pub(super) fn why_section(run: &RunData) -> String {
    let mut out = String::from(
        "\n## Why, and what to choose\n\nWritten by rules over each cell's mechanism metrics (cells.csv; the tables are in summary.md), never by hand.\n\n",
    );
    for workload in run.workloads() {
        let levels = run.levels(&workload);
        let _ = writeln!(out, "### `{workload}`\n");
        out.push_str(&crate::report::why::sentences(&levels));
        let _ = writeln!(
            out,
            "Recommendation: {}\n",
            crate::report::recommend::decision(run, &workload)
        );
    }
    out
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
