//! The invariance check's comparison: the same scenario measured as written and with
//! one of the bench's own knobs changed (window, generator connections, probe
//! connections; see `run::invariance`), read from the runs' folders alone. Every pair's
//! ratio and every cell's headline figures (throughput, p95, the probe's p95) are set
//! side by side; a figure whose range over the repetitions in a variant does not
//! overlap its range as written moved beyond its noise, and so describes the bench,
//! not the styles. Writes `invariance.md` and `invariance.json`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::aggregate::Stat;
use super::RunData;
use crate::results::RunDir;

/// One run of the check: the scenario as written, or with one knob changed.
pub struct Variant {
    /// "as written", or the factor's name (`window-x2`, ...).
    pub label: String,
    /// Its run folder.
    pub dir: RunDir,
}

/// How far apart two medians must be, besides their ranges parting, for a figure to
/// have moved: runs of the same build a minute apart drifted up to 6.9 % here
/// (DESIGN.md), more than the spread of a few repetitions within one run shows.
pub const DRIFT: f64 = 0.10;

/// Whether a figure stayed within its noise in a variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "why", rename_all = "snake_case")]
pub enum Movement {
    /// Its ranges overlap: the knob did not move it beyond its noise.
    Within,
    /// Its ranges do not overlap: the knob moved it (the bench set it).
    Moved,
    /// It cannot be told (a side not measured, one repetition, a bound).
    CannotTell(String),
    /// The changed run did not measure its workload again (the scenario's
    /// `[invariance] workloads`): not judged, and not held against the check.
    NotMeasuredAgain,
}

impl Movement {
    /// Compares a figure as written with the same figure in a variant. Each `Stat` is
    /// a median with its range (min–max over repetitions, or a ratio's interval).
    pub fn of(base: Option<&Figure>, variant: Option<&Figure>) -> Self {
        let (Some(base), Some(variant)) = (base, variant) else {
            return Movement::CannotTell("not measured on both".into());
        };
        if base.repetitions < 2 || variant.repetitions < 2 {
            return Movement::CannotTell(
                "one repetition has no spread to judge by: run at least 3".into(),
            );
        }
        let apart = (variant.value.median - base.value.median).abs()
            > DRIFT * base.value.median.abs().max(variant.value.median.abs());
        if base.value.overlaps(&variant.value) || !apart {
            Movement::Within
        } else {
            Movement::Moved
        }
    }
}

/// A figure in one run: its median and range, and how many repetitions gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Median, and its range or interval.
    pub value: Stat,
    /// Repetitions behind it.
    pub repetitions: usize,
    /// Whether it is only a bound (`≥ ` or `≤ `, a probe that never caught up).
    pub bound: Option<String>,
}

impl Figure {
    fn text(&self) -> String {
        format!(
            "{}{}",
            self.bound.as_deref().unwrap_or(""),
            self.value.display(3)
        )
    }
}

/// One figure across the variants.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// What it is: `C4 ratio (probe_p95_ms)`, `io-sleep async(workers=1) c=32 p95_ms`.
    pub figure: String,
    /// As written.
    pub base: Option<Figure>,
    /// In each variant, with its movement.
    pub variants: Vec<(String, Option<Figure>, Movement)>,
}

/// The comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvarianceReport {
    /// Every figure stayed within its noise in every variant (and there was one).
    pub invariant: bool,
    /// The variants, in order (the first is the scenario as written).
    pub runs: Vec<(String, String)>,
    /// Factors not run, and why.
    pub skipped: Vec<String>,
    /// The figures.
    pub rows: Vec<Row>,
}

/// Headline figures of every cell.
const CELL_METRICS: [&str; 3] = ["achieved_rps", "p95_ms", "probe_p95_ms"];

/// One figure of a run: its name, the workloads it rests on, and its value.
struct Named {
    name: String,
    workloads: Vec<String>,
    figure: Figure,
}

/// Whether `run` measured `workload` (its scenario names it; "pipeline": it ran the
/// batch pipeline). A changed run of the invariance check may measure only some.
fn measured_in(run: &RunData, workload: &str) -> bool {
    let Some(scenario) = run.scenario() else {
        return true;
    };
    if workload == "pipeline" {
        return scenario.pipeline.is_some();
    }
    scenario.workloads.iter().any(|w| w.name() == workload)
}

/// The figures of one run, by name.
fn figures(run: &RunData) -> Vec<Named> {
    let mut out = Vec::new();
    for mut check in super::claims::checks(run) {
        // A figure, not a gate: a changed run may have fewer repetitions than a gate
        // needs, and its ratio is still a measurement.
        check.gate = false;
        let result = super::claims::evaluate(run, &check);
        if let Some(ratio) = result.ratio {
            let mut workloads = vec![check.workload.clone()];
            workloads.extend(check.right_workload.clone());
            out.push(Named {
                name: super::claims::figure_name(&check, &result.level),
                workloads,
                figure: Figure {
                    value: ratio,
                    repetitions: repetitions_of(run, &check.workload),
                    bound: result.bound.map(|b| b.sign().to_string()),
                },
            });
        }
    }
    for group in run.groups.iter().filter(|g| g.load_mode != "slowloris") {
        for metric in CELL_METRICS {
            let values = group.values(&run.cells, metric);
            let Some(value) = Stat::of(values.iter().copied()) else {
                continue;
            };
            let bound =
                (metric == "probe_p95_ms" && group.probe_lower_bound).then(|| "≥ ".to_string());
            out.push(Named {
                name: format!(
                    "{} {} {} {metric}",
                    group.workload, group.variant, group.level
                ),
                workloads: vec![group.workload.clone()],
                figure: Figure {
                    value,
                    repetitions: values.len(),
                    bound,
                },
            });
        }
    }
    out
}

/// Repetitions of a workload's cells (the pipeline's batches for the pipeline).
fn repetitions_of(run: &RunData, workload: &str) -> usize {
    if workload == "pipeline" {
        return run.scenario().map_or(1, |s| s.repetitions as usize);
    }
    run.groups
        .iter()
        .filter(|g| g.workload == workload)
        .map(|g| g.n)
        .min()
        .unwrap_or(0)
}

/// Compares the runs (the first is the scenario as written).
pub fn compare(runs: &[(String, RunData)], skipped: &[String]) -> InvarianceReport {
    let per_run: Vec<Vec<Named>> = runs.iter().map(|(_, run)| figures(run)).collect();
    let find = |figures: &[Named], name: &str| {
        figures
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.figure.clone())
    };
    let mut rows = Vec::new();
    if let Some(base) = per_run.first() {
        for Named {
            name,
            workloads,
            figure,
        } in base
        {
            let variants = runs
                .iter()
                .zip(&per_run)
                .skip(1)
                .map(|((label, run), figures)| {
                    if !workloads.iter().all(|w| measured_in(run, w)) {
                        return (label.clone(), None, Movement::NotMeasuredAgain);
                    }
                    let other = find(figures, name);
                    let movement = match (&figure.bound, other.as_ref().and_then(|o| o.bound.as_ref())) {
                        (None, None) => Movement::of(Some(figure), other.as_ref()),
                        _ => Movement::CannotTell(
                            "a bound, not a measurement: a probe that never caught up reads more the longer the window".into(),
                        ),
                    };
                    (label.clone(), other, movement)
                })
                .collect();
            rows.push(Row {
                figure: name.clone(),
                base: Some(figure.clone()),
                variants,
            });
        }
    }
    let invariant = runs.len() > 1
        && rows.iter().all(|r| {
            r.variants
                .iter()
                .all(|(_, _, m)| matches!(m, Movement::Within | Movement::NotMeasuredAgain))
        });
    InvarianceReport {
        invariant,
        runs: runs
            .iter()
            .map(|(label, run)| (label.clone(), run.manifest.run_id.clone()))
            .collect(),
        skipped: skipped.to_vec(),
        rows,
    }
}

/// Rows that no changed run measured again.
fn not_again(report: &InvarianceReport) -> usize {
    report
        .rows
        .iter()
        .filter(|r| {
            r.variants
                .iter()
                .all(|(_, _, m)| *m == Movement::NotMeasuredAgain)
        })
        .count()
}

/// `invariance.md`.
pub fn render(report: &InvarianceReport) -> String {
    let moved: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| r.variants.iter().any(|(_, _, m)| *m == Movement::Moved))
        .collect();
    let untold = report
        .rows
        .iter()
        .filter(|r| {
            r.variants
                .iter()
                .any(|(_, _, m)| matches!(m, Movement::CannotTell(_)))
        })
        .count();
    let mut out = String::from("# Invariance check\n\n");
    let verdict = if report.runs.len() < 2 {
        "Only the scenario as written was measured: nothing to compare yet.".to_string()
    } else if report.invariant {
        let judged = report.rows.len() - not_again(report);
        let others = match not_again(report) {
            0 => String::new(),
            n => format!("; {n} more were not measured again (`[invariance] workloads`)"),
        };
        format!(
            "**Every figure stayed within its noise** ({judged} figures, {} changes of the bench{others}): the bench's own knobs did not set them.",
            report.runs.len() - 1
        )
    } else if !moved.is_empty() {
        format!(
            "**{} of {} figures moved beyond their noise** when a knob of the bench changed: they describe the bench, not the styles ({}). {untold} could not be told.",
            moved.len(),
            report.rows.len(),
            moved
                .iter()
                .map(|r| r.figure.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )
    } else {
        format!("**Not shown invariant**: {untold} figures could not be told (see the table), none moved beyond its noise.")
    };
    let _ = writeln!(out, "{verdict}\n");
    out.push_str("The scenario was measured as written, then once per change of the bench's own knobs (`window-x2`: the measured window doubled; `connections-x2`: the open-loop generator's connections doubled; `probe-connections-x2`: the probe's connections doubled). A figure **moved** when its range over the repetitions (a ratio: its 95 % interval) does not overlap its range as written and its median is more than 10 % away (runs a minute apart drift up to 7 % here). A changed run's capacity searches climb the same ladder of rates as written, starting one rung under the lowest capacity found as written.\n\n");
    for (label, id) in &report.runs {
        let _ = writeln!(out, "- {label}: run `{id}`");
    }
    for skipped in &report.skipped {
        let _ = writeln!(out, "- {skipped}");
    }
    let columns: Vec<&str> = std::iter::once("as written")
        .chain(report.runs.iter().skip(1).map(|(l, _)| l.as_str()))
        .collect();
    out.push('\n');
    out.push_str(&crate::display::table_head(&["figure"], &columns, "---:"));
    for row in &report.rows {
        let _ = write!(
            out,
            "| {} | {} |",
            row.figure,
            row.base.as_ref().map_or("—".into(), |f| f.text())
        );
        for (_, figure, movement) in &row.variants {
            let value = figure.as_ref().map_or("—".into(), |f| f.text());
            let mark = match movement {
                Movement::Within => "within".to_string(),
                Movement::Moved => "**moved**".to_string(),
                Movement::CannotTell(why) => format!("cannot tell: {why}"),
                Movement::NotMeasuredAgain => "not measured again".to_string(),
            };
            let _ = write!(out, " {value} ({mark}) |");
        }
        out.push('\n');
    }
    out
}

/// The invariance check a run was the "as written" run of, when it was one: the
/// `invariance.json` beside its folder (where `sabench invariance` writes it) or inside
/// it (a run kept on its own, as `results/reference/`) that names it first (None
/// otherwise).
pub fn of_run(run: &RunData) -> Option<InvarianceReport> {
    let root = run.dir.root();
    [
        root.parent().map(|p| p.join("invariance.json")),
        Some(root.join("invariance.json")),
    ]
    .into_iter()
    .flatten()
    .filter_map(|path| std::fs::read(path).ok())
    .filter_map(|bytes| serde_json::from_slice::<InvarianceReport>(&bytes).ok())
    .find(|report| {
        report
            .runs
            .first()
            .is_some_and(|(_, id)| *id == run.manifest.run_id)
    })
}

/// Why a figure describes the bench, when a change of the bench moved it beyond its
/// noise: `set by the bench: moved from 42.4 to 21.0 when window-x2` (None when it
/// stayed within its noise, was not checked, or could not be told).
pub fn set_by_bench(report: &InvarianceReport, figure: &str) -> Option<String> {
    let row = report.rows.iter().find(|r| r.figure == figure)?;
    let base = row.base.as_ref().map_or("—".into(), Figure::text);
    let moved: Vec<String> = row
        .variants
        .iter()
        .filter(|(_, _, m)| *m == Movement::Moved)
        .map(|(label, other, _)| {
            format!(
                "moved from {base} to {} when {label}",
                other.as_ref().map_or("—".into(), Figure::text)
            )
        })
        .collect();
    (!moved.is_empty()).then(|| format!("set by the bench: {}", moved.join("; ")))
}

/// What the bench's changes did to one figure, in a line: `within (window-x2,
/// connections-x2)`, `moved from 42.4 to 21.0 when window-x2`, `—` when not checked.
pub fn verdict_of(report: &InvarianceReport, figure: &str) -> String {
    let Some(row) = report.rows.iter().find(|r| r.figure == figure) else {
        return "—".into();
    };
    let base = row.base.as_ref().map_or("—".into(), Figure::text);
    let mut within = Vec::new();
    let mut said = Vec::new();
    for (label, other, movement) in &row.variants {
        match movement {
            Movement::Within => within.push(label.as_str()),
            Movement::Moved => said.push(format!(
                "**set by the bench**: moved from {base} to {} when {label}",
                other.as_ref().map_or("—".into(), Figure::text)
            )),
            Movement::CannotTell(why) => said.push(format!("{label}: cannot tell ({why})")),
            Movement::NotMeasuredAgain => {}
        }
    }
    if !within.is_empty() {
        said.insert(0, format!("within its noise ({})", within.join(", ")));
    }
    if said.is_empty() {
        return "— (not measured again)".into();
    }
    said.join("; ")
}

/// Compares again the runs an earlier check wrote into `root` (its `invariance.json`
/// names them), e.g. after the comparison's rules changed; rewrites both files.
pub fn rewrite(root: &Path) -> anyhow::Result<InvarianceReport> {
    let path = root.join("invariance.json");
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "{}: no invariance.json (give the folder `sabench invariance` made)",
            root.display()
        )
    })?;
    let earlier: InvarianceReport = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not an invariance check's report", path.display()))?;
    let variants = earlier
        .runs
        .iter()
        .map(|(label, id)| {
            Ok(Variant {
                label: label.clone(),
                dir: RunDir::open(&root.join(id))?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    write(root, &variants, &earlier.skipped)
}

/// Reads every variant's run folder, compares them, and writes `invariance.md` and
/// `invariance.json` into `root`.
pub fn write(
    root: &Path,
    variants: &[Variant],
    skipped: &[String],
) -> anyhow::Result<InvarianceReport> {
    let runs = variants
        .iter()
        .map(|v| Ok((v.label.clone(), RunData::read(&v.dir)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let report = compare(&runs, skipped);
    let markdown = root.join("invariance.md");
    std::fs::write(&markdown, render(&report))
        .with_context(|| format!("cannot write {}", markdown.display()))?;
    let json = root.join("invariance.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(min: f64, median: f64, max: f64, repetitions: usize) -> Figure {
        Figure {
            value: Stat { median, min, max },
            repetitions,
            bound: None,
        }
    }

    #[test]
    fn a_verdict_whose_ratio_moves_with_the_window_is_said_set_by_the_bench() {
        let report = InvarianceReport {
            invariant: false,
            runs: vec![
                ("as written".into(), "r1".into()),
                ("window-x2".into(), "r2".into()),
                ("connections-x2".into(), "r3".into()),
            ],
            skipped: Vec::new(),
            rows: vec![Row {
                figure: "C4 a vs b (probe_p95_ms, c=32)".into(),
                base: Some(figure(12_000.0, 12_635.0, 13_000.0, 5)),
                variants: vec![
                    (
                        "window-x2".into(),
                        Some(figure(25_000.0, 26_580.0, 27_000.0, 5)),
                        Movement::Moved,
                    ),
                    (
                        "connections-x2".into(),
                        Some(figure(12_100.0, 12_500.0, 12_900.0, 5)),
                        Movement::Within,
                    ),
                ],
            }],
        };
        assert_eq!(
            verdict_of(&report, "C4 a vs b (probe_p95_ms, c=32)"),
            "within its noise (connections-x2); **set by the bench**: moved from 12635.000 [12000.000–13000.000] to 26580.000 [25000.000–27000.000] when window-x2"
        );
        assert_eq!(verdict_of(&report, "C5 other"), "—", "not checked");
        assert_eq!(
            set_by_bench(&report, "C4 a vs b (probe_p95_ms, c=32)").as_deref(),
            Some("set by the bench: moved from 12635.000 [12000.000–13000.000] to 26580.000 [25000.000–27000.000] when window-x2")
        );
        assert_eq!(set_by_bench(&report, "C5 other"), None);
        let text = render(&report);
        assert!(
            text.contains("**1 of 1 figures moved beyond their noise**"),
            "{text}"
        );
    }

    #[test]
    fn a_figure_not_measured_again_is_neither_judged_nor_held_against_the_check() {
        let row = |name: &str, movement: Movement| Row {
            figure: name.into(),
            base: Some(figure(1.0, 2.0, 3.0, 5)),
            variants: vec![("window-x2".into(), None, movement)],
        };
        let report = InvarianceReport {
            invariant: true,
            runs: vec![
                ("as written".into(), "r1".into()),
                ("window-x2".into(), "r2".into()),
            ],
            skipped: Vec::new(),
            rows: vec![
                row("C1 search", Movement::NotMeasuredAgain),
                row("C4 probe", Movement::Within),
            ],
        };
        assert_eq!(verdict_of(&report, "C1 search"), "— (not measured again)");
        assert_eq!(
            verdict_of(&report, "C4 probe"),
            "within its noise (window-x2)"
        );
        let text = render(&report);
        assert!(
            text.contains("**Every figure stayed within its noise** (1 figures, 1 changes of the bench; 1 more were not measured again"),
            "{text}"
        );
        assert!(
            text.contains("| C1 search | 2.000 [1.000–3.000] | — (not measured again) |"),
            "{text}"
        );
    }

    #[test]
    fn a_figure_moves_only_when_its_ranges_part() {
        let base = figure(95.0, 100.0, 104.0, 5);
        assert_eq!(
            Movement::of(Some(&base), Some(&figure(101.0, 103.0, 110.0, 5))),
            Movement::Within
        );
        assert_eq!(
            Movement::of(Some(&base), Some(&figure(190.0, 200.0, 210.0, 5))),
            Movement::Moved
        );
        assert_eq!(
            Movement::of(Some(&base), Some(&figure(105.0, 106.0, 107.0, 5))),
            Movement::Within,
            "apart, but by less than the drift between runs"
        );
        assert!(matches!(
            Movement::of(Some(&base), Some(&figure(200.0, 200.0, 200.0, 1))),
            Movement::CannotTell(_)
        ));
        assert!(matches!(
            Movement::of(Some(&base), None),
            Movement::CannotTell(_)
        ));
    }
}
