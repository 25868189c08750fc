//! Staged levels (`[load] stages`): per style, where its rising rate first broke one of
//! the scenario's thresholds (the knee), read from each repetition's per-second
//! timeline; and the chart of p95 against the rate scheduled, second by second.

use std::fmt::Write as _;

use super::aggregate::{Group, Stat};
use super::RunData;
use crate::display::figure;
use crate::load::report::Knee;
use crate::load::report::Second;
use crate::load::threshold::knee;

/// The staged groups of a run.
fn staged(run: &RunData) -> Vec<&Group> {
    run.groups
        .iter()
        .filter(|g| g.load_mode == "staged")
        .collect()
}

/// One repetition's per-second timeline (empty when it was not written).
pub fn timeline(run: &RunData, cell: &str) -> Vec<Second> {
    crate::results::layout::read_csv(&run.dir.timeline_path(cell)).unwrap_or_default()
}

/// The knee of each repetition of `group` at the scenario's thresholds.
fn knees(run: &RunData, group: &Group) -> Vec<Knee> {
    let checks = run.scenario().map(|s| s.checks()).unwrap_or_default();
    group
        .cells
        .iter()
        .filter_map(|cell| knee(&checks, &timeline(run, cell)))
        .collect()
}

/// The markdown section (empty when the run has no staged level).
pub fn section(run: &RunData) -> String {
    let groups = staged(run);
    if groups.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Knees under staged rates\n\n");
    let checks = run
        .scenario()
        .map(|s| s.thresholds.clone())
        .unwrap_or_default();
    if checks.is_empty() {
        out.push_str("The scenario has no `thresholds`, so no knee is marked: give it e.g. `thresholds = [\"p95<50ms\", \"error_rate<1%\"]`.\n\n");
        return out;
    }
    let _ = writeln!(
        out,
        "The rate ramps through the stages; a style's knee is the rate scheduled in the first second one of `{}` broke (p95 of that second's successes, or its failed share): the later the knee, the more load the style takes before it gives. Median over repetitions [least–most]; `held` counts repetitions in which every threshold held to the end.\n",
        checks.join("`, `")
    );
    out.push_str(
        "| workload | style | knee req/s | first broke | held |\n|---|---|---:|---|---:|\n",
    );
    for group in groups {
        let knees = knees(run, group);
        let broke: Vec<&Knee> = knees.iter().filter(|k| k.second.is_some()).collect();
        let rates = Stat::of(broke.iter().filter_map(|k| k.target_rps));
        let knee_text = rates.map_or("— (none broke)".to_string(), |s| {
            if s.max > s.min {
                format!("{} [{}–{}]", figure(s.median), figure(s.min), figure(s.max))
            } else {
                figure(s.median)
            }
        });
        let what = broke
            .first()
            .map_or("—".to_string(), |k| format!("`{}`", k.threshold));
        let _ = writeln!(
            out,
            "| {} | {} | {knee_text} | {what} | {} of {} |",
            group.workload,
            group.variant,
            knees.len() - broke.len(),
            group.cells.len()
        );
    }
    out.push('\n');
    out
}

/// One line for the findings of a workload measured only under stages: each style's
/// knee, the latest first (None: the workload has no staged level).
pub fn knee_summary(run: &RunData, workload: &str) -> Option<String> {
    let mut styles: Vec<(f64, String)> = staged(run)
        .into_iter()
        .filter(|g| g.workload == workload)
        .map(|group| {
            let knees = knees(run, group);
            let broke = Stat::of(
                knees
                    .iter()
                    .filter(|k| k.second.is_some())
                    .filter_map(|k| k.target_rps),
            );
            match broke {
                Some(rates) if knees.iter().all(|k| k.second.is_some()) => (
                    rates.median,
                    format!("{} broke at {} req/s", group.variant, figure(rates.median)),
                ),
                _ => {
                    let peak = group.target_rps.unwrap_or(0.0);
                    (
                        f64::INFINITY,
                        format!("{} held up to {} req/s", group.variant, figure(peak)),
                    )
                }
            }
        })
        .collect();
    if styles.is_empty() {
        return None;
    }
    styles.sort_by(|a, b| b.0.total_cmp(&a.0));
    Some(
        styles
            .into_iter()
            .map(|(_, text)| text)
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// The knee chart's series: per style (its first repetition), p95 of each second's
/// successes against the rate scheduled in that second.
pub fn p95_by_rate(run: &RunData, workload: &str) -> Vec<(String, Vec<(f64, f64)>)> {
    staged(run)
        .into_iter()
        .filter(|g| g.workload == workload)
        .filter_map(|group| {
            let rows = timeline(run, group.cells.first()?);
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|row| Some((row.target_rps?, row.p95_ms?)))
                .collect();
            (!points.is_empty()).then(|| (group.variant.clone(), points))
        })
        .collect()
}
