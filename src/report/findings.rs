//! The findings: per workload, the answer first — which style to pick, by how much, with
//! the interval of that margin, the mechanism behind it (the Why rules' sentences) and
//! what it costs in memory — and the one chart that shows it. `summary.md`,
//! `report.html` and the terminal all open with them; the tables come after.

use std::fmt::Write as _;

use super::aggregate::Group;
use super::recommend::{decision_of, Call, Candidate, Decision, EQUAL_WITHIN};
use super::RunData;
use crate::display::figure;

/// The Why rules that name what set a style's throughput, as opposed to what came with
/// it (contention, switches, kernel time).
const LIMITS: [&str; 5] = [
    "pool-held",
    "runtime-held",
    "cpu-bound",
    "limit-elsewhere",
    "wait-bound",
];

/// A style this many times slower than the winner is named in the answer.
const FAR_BEHIND: f64 = 1.25;

/// The answer for one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The workload.
    pub workload: String,
    /// Where the answer was measured (`c=64`, `max@SLO`); empty when nothing was.
    pub level: String,
    /// What the tests said: the choice, its margin and interval, the figures.
    pub answer: Answer,
    /// The other styles worth naming: those equal to the winner too, and the slowest
    /// when it is far behind.
    pub others: String,
    /// Why, from the rules (the winner's first sentence, and the slowest style's).
    pub why: Vec<String>,
    /// What the answer costs in memory and threads.
    pub memory: Option<String>,
    /// The chart that shows it (`charts/mechanism-io.svg`), when there is one.
    pub chart: Option<String>,
}

/// The findings of every workload of `run`, in the order they ran.
pub fn findings(run: &RunData) -> Vec<Finding> {
    run.workloads()
        .iter()
        .map(|workload| finding(run, workload))
        .collect()
}

/// The finding of one workload.
pub fn finding(run: &RunData, workload: &str) -> Finding {
    let chart = super::mechanism_chart::MechanismChart::of(run, workload)
        .map(|chart| format!("charts/{}.svg", chart.file));
    let decision = decision_of(run, workload);
    // Measured only under stages: the knees are the answer.
    if decision.as_ref().is_none_or(|d| d.winner.is_none()) {
        if let Some(knees) = super::staged::knee_summary(run, workload) {
            return Finding {
                workload: workload.to_string(),
                level: "staged rates".into(),
                answer: Answer {
                    lead: "Knees".into(),
                    margin: knees,
                    figures: String::new(),
                },
                others: String::new(),
                why: Vec::new(),
                memory: None,
                chart: Some(format!(
                    "charts/knee-{}.svg",
                    crate::file_name::slug(workload)
                )),
            };
        }
    }
    let Some(decision) = decision else {
        return Finding {
            workload: workload.to_string(),
            level: String::new(),
            answer: Answer {
                lead: "No objective".into(),
                margin: "the scenario sets this workload no p95 objective, so no style is chosen: give the scenario a `[recommendation]` with `p95_slo`".into(),
                figures: String::new(),
            },
            others: String::new(),
            why: Vec::new(),
            memory: None,
            chart,
        };
    };
    let answer = answer(&decision);
    let level = decision
        .winner
        .as_ref()
        .map_or(String::new(), |w| w.group.level.clone());
    let peers = peers(run, workload, &level);
    let slowest = slowest_behind(&decision, &peers);
    let mut others = String::new();
    let also = also_equal(run, workload, &decision);
    if !also.is_empty() {
        let _ = write!(
            others,
            "Also within ±{:.0} % of {}: {}.",
            100.0 * EQUAL_WITHIN,
            decision
                .winner
                .as_ref()
                .map_or("", |w| w.group.variant.as_str()),
            also.join(", ")
        );
    }
    if let (Some(slow), Some(winner)) = (slowest, &decision.winner) {
        if !others.is_empty() {
            others.push(' ');
        }
        let _ = write!(
            others,
            "{} serves {}× less ({} req/s).",
            slow.variant,
            figure(winner.rps / slow.achieved.median.max(f64::MIN_POSITIVE)),
            figure(slow.achieved.median)
        );
    }
    Finding {
        workload: workload.to_string(),
        level,
        answer,
        others,
        why: why(&decision, slowest, &peers),
        memory: memory(&decision),
        chart,
    }
}

/// The other styles and settings (beyond the two the decision names) whose throughput
/// the equivalence test finds equal to the winner's, each with its ratio's interval.
fn also_equal(run: &RunData, workload: &str, decision: &Decision<'_>) -> Vec<String> {
    let (Some(winner), Some(runner_up)) = (&decision.winner, &decision.runner_up) else {
        return Vec::new();
    };
    let groups = decision.objective.groups(run, workload);
    super::recommend::candidates(&run.cells, &groups, &decision.objective)
        .iter()
        .filter(|c| c.group.variant != winner.group.variant)
        .filter(|c| c.group.variant != runner_up.group.variant)
        .filter_map(|c| match super::recommend::call(winner, c) {
            Call::Equal { interval, .. } => Some(format!(
                "{} ({}×{})",
                c.group.variant,
                figure(winner.rps / c.rps.max(f64::MIN_POSITIVE)),
                interval_text(Some(interval))
            )),
            _ => None,
        })
        .collect()
}

/// The styles measured at `level` of `workload`.
fn peers<'a>(run: &'a RunData, workload: &str, level: &str) -> Vec<&'a Group> {
    run.levels(workload)
        .into_iter()
        .find(|(l, _)| l == level)
        .map(|(_, groups)| groups)
        .unwrap_or_default()
}

/// The slowest style at the winner's level, when it is far behind and is not the
/// runner-up already named.
fn slowest_behind<'a>(decision: &Decision<'_>, peers: &[&'a Group]) -> Option<&'a Group> {
    let winner = decision.winner.as_ref()?;
    let slowest = peers
        .iter()
        .copied()
        .filter(|g| g.achieved.median > 0.0)
        .min_by(|a, b| a.achieved.median.total_cmp(&b.achieved.median))?;
    let named = |g: &Group| {
        g.variant == winner.group.variant
            || decision
                .runner_up
                .as_ref()
                .is_some_and(|r| r.group.variant == g.variant)
    };
    (!named(slowest) && winner.rps / slowest.achieved.median >= FAR_BEHIND).then_some(slowest)
}

/// `[0.99–1.01]`-style interval text, or nothing.
fn interval_text(interval: Option<(f64, f64)>) -> String {
    interval.map_or(String::new(), |(lo, hi)| {
        format!(", 90 % interval {lo:.2}–{hi:.2}")
    })
}

/// What the tests said, in three parts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answer {
    /// A few words: `Choose async(workers=1)`, `Either … or …`, `No winner yet`.
    pub lead: String,
    /// The margin and its interval, or why none is given.
    pub margin: String,
    /// The figures behind it: throughputs, objective, repetitions, the test's p.
    pub figures: String,
}

/// The answer, by what the tests said.
fn answer(decision: &Decision<'_>) -> Answer {
    let objective = decision.objective_text();
    let answer = |lead: String, margin: String, figures: String| Answer {
        lead,
        margin,
        figures,
    };
    let (Some(w), runner_up) = (&decision.winner, &decision.runner_up) else {
        return answer(
            "No style qualifies".into(),
            format!("none met {objective} at any level measured"),
            String::new(),
        );
    };
    let Some(r) = runner_up else {
        return answer(
            format!("Choose {}", w.group.variant),
            format!("the only style that met {objective}"),
            format!("{} req/s at {}", figure(w.rps), w.group.level),
        );
    };
    let ratio = figure(decision.ratio().unwrap_or(f64::NAN));
    let repetitions = match (w.values.len(), r.values.len()) {
        (1, 1) => "1 repetition each".to_string(),
        (a, b) if a == b => format!("{a} repetitions each"),
        (a, b) => format!("{a} and {b} repetitions"),
    };
    let figures = format!(
        "{} against {} req/s within {objective}; {repetitions}",
        figure(w.rps),
        figure(r.rps),
    );
    let (wv, rv) = (&w.group.variant, &r.group.variant);
    match &decision.call {
        Call::Real { p } => answer(
            format!("Choose {wv}"),
            format!(
                "{ratio}× the throughput of {rv}{}",
                interval_text(decision.interval())
            ),
            format!("{figures}; Mann–Whitney p = {p:.3}"),
        ),
        Call::Equal { interval, .. } => answer(
            format!("Either {wv} or {rv}"),
            format!(
                "equal within ±{:.0} %: {ratio}×{}",
                100.0 * EQUAL_WITHIN,
                interval_text(Some(*interval))
            ),
            figures,
        ),
        Call::Overlap { .. } => answer(
            "No clear winner".into(),
            format!(
                "{wv} leads {rv} by {ratio}×{}, but their repetitions overlap: either will do",
                interval_text(decision.interval())
            ),
            figures,
        ),
        Call::NotShown { interval, .. } => answer(
            "No winner shown".into(),
            format!(
                "{wv} leads {rv} by {ratio}×, but the 90 % interval {:.2}–{:.2} reaches past ±{:.0} %, so neither a difference nor an equality is shown: run more repetitions",
                interval.0,
                interval.1,
                100.0 * EQUAL_WITHIN
            ),
            figures,
        ),
        Call::WithinNoise { p } => answer(
            "No winner".into(),
            format!("{wv} and {rv} are within each other's noise ({ratio}×)"),
            format!("{figures}; Mann–Whitney p = {p:.2}"),
        ),
        Call::TooFew => answer(
            "No winner yet".into(),
            format!(
                "{wv} leads {rv} by {ratio}×, but the test needs 4 repetitions a side: run the scenario with `repetitions = 4` or more"
            ),
            figures,
        ),
        Call::NoneMet | Call::Only => Answer::default(),
    }
}

/// The rules' first sentence about the winner and, when shown, the slowest style.
fn why(decision: &Decision<'_>, slowest: Option<&Group>, peers: &[&Group]) -> Vec<String> {
    let first_sentence = |group: &Group| {
        let case = super::why::Case { group, peers };
        let said = super::why::explain(&case);
        // What set the throughput first; a side effect (contention, switches) only when
        // no rule names the limit.
        let limit = said.iter().find(|(rule, _)| LIMITS.contains(rule));
        limit
            .or(said.first())
            .map(|(rule, sentence)| format!("{sentence} ({rule})"))
    };
    let mut out = Vec::new();
    if let Some(winner) = &decision.winner {
        out.extend(first_sentence(winner.group));
    }
    if let Some(slow) = slowest {
        out.extend(first_sentence(slow));
    }
    out
}

/// Peak memory and threads of the winner and the runner-up.
fn memory(decision: &Decision<'_>) -> Option<String> {
    let of = |c: &Candidate<'_>| {
        let rss = c.group.rss_peak?.median;
        let threads = c
            .group
            .threads_max
            .map_or(String::new(), |t| format!(" with {t} threads"));
        Some(format!(
            "{} peaked at {} MiB{threads}",
            c.group.variant,
            figure(rss)
        ))
    };
    let winner = of(decision.winner.as_ref()?)?;
    match decision.runner_up.as_ref().and_then(of) {
        Some(runner_up) => Some(format!("{winner}; {runner_up}.")),
        None => Some(format!("{winner}.")),
    }
}

impl Finding {
    /// ` at c=64`, or nothing when no level was judged.
    pub fn at(&self) -> String {
        if self.level.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.level)
        }
    }

    /// The margin, the figures in brackets, and the other styles worth naming.
    pub fn detail(&self) -> String {
        let mut out = self.answer.margin.clone();
        if !self.answer.figures.is_empty() {
            let _ = write!(out, " ({})", self.answer.figures);
        }
        out.push('.');
        if !self.others.is_empty() {
            let _ = write!(out, " {}", self.others);
        }
        out
    }
}

/// The findings in markdown: a section opening the summary — every workload's answer
/// in a line, then each with why, memory and its chart.
pub fn markdown(run: &RunData) -> String {
    let findings = findings(run);
    let mut out = String::from("## Findings\n\n");
    for finding in &findings {
        let _ = writeln!(
            out,
            "- **{}**{}: **{}**: {}.",
            finding.workload,
            finding.at(),
            finding.answer.lead,
            finding.answer.margin
        );
    }
    out.push('\n');
    for finding in &findings {
        let _ = writeln!(out, "### {}{}\n", finding.workload, finding.at());
        let _ = writeln!(out, "**{}**: {}\n", finding.answer.lead, finding.detail());
        for sentence in &finding.why {
            let _ = writeln!(out, "- Why: {sentence}");
        }
        if let Some(memory) = &finding.memory {
            let _ = writeln!(out, "- Memory: {memory}");
        }
        out.push('\n');
        if let Some(chart) = &finding.chart {
            let _ = writeln!(
                out,
                "![{}: outcome and mechanism]({chart})\n",
                finding.workload
            );
        }
    }
    out
}

/// The findings for a terminal: each workload's answer and margin, the styles worth
/// naming, why, and memory, wrapped to `width` columns (the figures are in the report).
pub fn terminal(run: &RunData, width: usize) -> String {
    let mut out = String::new();
    for finding in findings(run) {
        let mut head = format!(
            "{}{}: {}: {}.",
            finding.workload,
            finding.at(),
            finding.answer.lead,
            finding.answer.margin
        );
        if !finding.others.is_empty() {
            let _ = write!(head, " {}", finding.others);
        }
        out.push_str(&wrap(&head, width, ""));
        for sentence in &finding.why {
            out.push_str(&wrap(&format!("why: {sentence}"), width, "  "));
        }
        if let Some(memory) = &finding.memory {
            out.push_str(&wrap(&format!("memory: {memory}"), width, "  "));
        }
        out.push('\n');
    }
    out
}

/// `text` broken into lines of at most `width` columns at spaces, every line after the
/// first (and the first too) indented by `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    let hanging = format!("{indent}  ");
    for word in text.split(' ') {
        let fits = line.chars().count() + 1 + word.chars().count() <= width;
        if !fits && line.trim().chars().count() > 0 {
            out.push_str(line.trim_end());
            out.push('\n');
            line = hanging.clone();
        } else if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.trim().is_empty() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::aggregate::groups;
    use crate::report::recommend::{judge_candidates, Objective};
    use crate::results::CellRecord;

    /// `variant` of `style` at 64 connections, one cell per throughput in `rps`.
    fn cells(style: &str, variant: &str, rps: &[f64]) -> Vec<CellRecord> {
        rps.iter()
            .enumerate()
            .map(|(i, rps)| CellRecord {
                cell: format!("{variant}-r{i}"),
                workload: "io".into(),
                style: style.into(),
                variant: variant.into(),
                load_mode: "closed".into(),
                connections: 64,
                repetition: i as u32 + 1,
                achieved_rps: *rps,
                requests_scheduled: 1000,
                requests_ok: 1000,
                p95_ms: Some(10.0),
                rss_peak_mib: Some(9.0),
                valid: true,
                ..CellRecord::default()
            })
            .collect()
    }

    fn answered(all: &[CellRecord]) -> Answer {
        let grouped = groups(all);
        let refs: Vec<&Group> = grouped.iter().collect();
        let objective = Objective {
            p95_ms: 20.0,
            max_error_rate: 0.001,
            target_rps: None,
            cost_per_instance: None,
            capacity: false,
        };
        answer(&judge_candidates(all, &refs, objective))
    }

    #[test]
    fn the_answer_names_the_choice_its_margin_and_interval() {
        let mut all = cells(
            "async",
            "async(workers=1)",
            &[4000.0, 4100.0, 3900.0, 4050.0, 3950.0],
        );
        all.extend(cells(
            "blocking",
            "blocking(pool=16)",
            &[1000.0, 990.0, 1010.0, 1005.0, 995.0],
        ));
        let said = answered(&all);
        assert_eq!(said.lead, "Choose async(workers=1)");
        assert!(
            said.margin
                .starts_with("4.00× the throughput of blocking(pool=16), 90 % interval "),
            "{said:?}"
        );
        assert!(
            said.figures
                .starts_with("4,000 against 1,000 req/s within p95 ≤ 20.0 ms with at most 0.1 % failed; 5 repetitions each; Mann–Whitney p = "),
            "{said:?}"
        );
    }

    #[test]
    fn equal_styles_are_both_named_with_the_margin() {
        let mut all = cells(
            "async",
            "async(workers=1)",
            &[1000.0, 1010.0, 990.0, 1005.0, 998.0],
        );
        all.extend(cells(
            "hybrid",
            "hybrid(workers=1)",
            &[995.0, 1008.0, 1000.0, 992.0, 1003.0],
        ));
        let said = answered(&all);
        assert_eq!(said.lead, "Either async(workers=1) or hybrid(workers=1)");
        assert!(
            said.margin
                .starts_with("equal within ±10 %: 1.00×, 90 % interval 0.9"),
            "{said:?}"
        );
    }

    #[test]
    fn wrapping_keeps_every_word_within_the_width() {
        let text = "async(workers=1) at c=64: Either async(workers=1) or blocking(pool=128): equal within ±10 %";
        let wrapped = wrap(text, 40, "");
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 40),
            "{wrapped}"
        );
        let words: Vec<&str> = wrapped.split_whitespace().collect();
        assert_eq!(words, text.split(' ').collect::<Vec<_>>());
        assert!(wrapped.lines().skip(1).all(|l| l.starts_with("  ")));
    }
}
