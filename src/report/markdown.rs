//! `summary.md`: per workload, a table of styles × load levels with throughput, p95,
//! p99, peak RSS and errors, and each style's throughput relative to the best at that
//! level (hyperfine-style: `1.00` is the best, `3.20 ± 0.10` is 3.2× less).

use std::fmt::Write as _;

use super::aggregate::{Group, Stat};
use super::{Exporter, ReportFile, RunData};
use crate::display::percent;

/// The markdown summary exporter.
pub struct Summary;

impl Exporter for Summary {
    fn name(&self) -> &'static str {
        "markdown summary"
    }

    fn export(&self, run: &RunData) -> anyhow::Result<Vec<ReportFile>> {
        Ok(vec![ReportFile::text("summary.md", render(run))])
    }
}

/// How many times less throughput than `best`, with the propagated spread.
pub fn relative(group: &Group, best: &Group) -> String {
    let (a, b) = (best.achieved, group.achieved);
    if b.median <= 0.0 {
        return "—".into();
    }
    let ratio = a.median / b.median;
    if std::ptr::eq(group, best) {
        return "1.00".into();
    }
    let spread = ratio * (a.relative_spread().powi(2) + b.relative_spread().powi(2)).sqrt();
    if spread > 0.0 {
        format!("{ratio:.2} ± {spread:.2}")
    } else {
        format!("{ratio:.2}")
    }
}

/// How to read the tables: what each column means.
pub const READING: &str = "Throughput is successful requests per second; p95 and p99 are the latency of the successful requests, corrected (from the intended send time), \
     and `failed` beside them is the share of scheduled requests that failed or never finished (unsent, or unanswered at the end): read the latency with it. `—` means not measured (no success), never 0; \
     `vs best` is how many times less throughput than the best style at the same level. \
     `server wait` is the median wait the server reports it achieved for its I/O (timers differ: tokio's rounds up to whole milliseconds). \
     `unserved conns` counts connections that got no answer at all in the measured window (a fixed pool tied up by other keep-alive connections). \
     With repetitions, cells show the median [min–max].";

/// The title line.
pub fn title(run: &RunData) -> String {
    let m = &run.manifest;
    format!("# {} — run `{}`\n\n", m.scenario_name, m.run_id)
}

/// What the run measured and where: the scenario's description, machine, status.
pub fn header(run: &RunData) -> String {
    let m = &run.manifest;
    let mut out = String::new();
    let description = run.scenario().map_or("", |s| s.description.as_str());
    if !description.is_empty() {
        let _ = writeln!(out, "{description}\n");
    }
    let _ = writeln!(
        out,
        "{} cores ({}), Linux {}, {}, revision `{}`. Started {}, {} ({} of {} cells).\n",
        m.cores,
        m.cpu_model,
        m.kernel,
        m.rustc,
        m.git_revision,
        m.started,
        m.status,
        m.cells_done,
        m.cells_planned
    );
    out
}

/// The summary's text (what `summary.md` holds), from the run's data alone.
pub fn render(run: &RunData) -> String {
    let mut out = title(run);
    out.push_str(&super::findings::markdown(run));
    out.push_str("## The run\n\n");
    out.push_str(&header(run));
    out.push_str(READING);
    out.push_str("\n\n");
    for workload in run.workloads() {
        let _ = writeln!(out, "## Workload `{workload}`\n");
        out.push_str(&table(run, &workload));
        out.push('\n');
        out.push_str(&super::why::section(&run.levels(&workload)));
        out.push_str(&super::recommend::section(run, &workload));
    }
    out.push_str(&super::slowloris::section(run));
    out.push_str(&super::staged::section(run));
    out.push_str(&super::protocols::section(run));
    out.push_str(&unequal_waits_section(run));
    out.push_str(&littles_law_section(run));
    out.push_str(&pairs_section(run));
    out.push_str(&super::scale::section(&run.cells));
    out.push_str(&super::database::section(
        run.manifest.database.as_ref(),
        &run.cells,
    ));
    out.push_str(&super::targets::section(&run.manifest.targets, &run.cells));
    if !run.pipeline.is_empty() {
        out.push_str("## Batch pipeline\n\n");
        let options = run
            .scenario()
            .and_then(|s| s.pipeline.clone())
            .unwrap_or_default();
        out.push_str(&super::pipeline::render(&options, &run.pipeline));
        out.push('\n');
    }
    let capacity = capacity_table(run);
    if !capacity.is_empty() {
        out.push_str(&capacity);
    }
    out.push_str(&thresholds_section(run));
    out.push_str(&failed_cells(run));
    // Failed cells are listed above; the other cells that are not valid, here.
    let invalid: Vec<(&Group, Vec<&str>)> = run
        .groups
        .iter()
        .filter(|g| !g.valid)
        .map(|g| {
            let reasons = g
                .rows(&run.cells)
                .filter(|c| !c.valid && !c.failed())
                .map(|c| c.invalid_reason.as_str())
                .collect::<Vec<_>>();
            (g, reasons)
        })
        .filter(|(_, reasons)| !reasons.is_empty())
        .collect();
    if !invalid.is_empty() {
        out.push_str("## Invalid cells\n\nThese do not describe the server at the load asked for (the generator was the limit, or the target stopped answering):\n\n");
        for (g, reasons) in invalid {
            let _ = writeln!(
                out,
                "- {} {} {}: {}",
                g.workload,
                g.variant,
                g.level,
                reasons.join(" / ")
            );
        }
        out.push('\n');
    }
    out.push_str(&measurement_notes(run));
    out
}

/// The cells where something was not measured, or not as asked (a pin that did not
/// hold, a server never sampled); empty when there are none.
fn measurement_notes(run: &RunData) -> String {
    let noted: Vec<&crate::results::CellRecord> = run
        .cells
        .iter()
        .filter(|c| !c.measurement_notes.is_empty())
        .collect();
    if noted.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "## Measurement notes\n\nIn these cells something was not measured, or not as asked; their empty figures are not zeros:\n\n",
    );
    for cell in noted {
        let _ = writeln!(out, "- {}: {}", cell.cell, cell.measurement_notes);
    }
    out.push('\n');
    out
}

/// The scenario's thresholds and the cells that failed them; empty when it has none.
fn thresholds_section(run: &RunData) -> String {
    let checks: Vec<String> = run
        .scenario()
        .map(|s| s.thresholds.clone())
        .unwrap_or_default();
    if checks.is_empty() {
        return String::new();
    }
    let failed: Vec<_> = run
        .cells
        .iter()
        .filter(|c| !c.thresholds_failed.is_empty())
        .collect();
    let mut out = format!(
        "## Thresholds

Every measured cell is checked against `{}` (the run exits 4 when one fails). ",
        checks.join("`, `")
    );
    if failed.is_empty() {
        out.push_str("Every measured cell passed.\n\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{} of {} cells failed:\n\n| cell | failed |\n|---|---|",
        failed.len(),
        run.cells.len()
    );
    for cell in failed {
        let _ = writeln!(
            out,
            "| {} | {} |",
            cell.cell,
            cell.thresholds_failed.replace('|', "\\|")
        );
    }
    out.push('\n');
    out
}

/// The cells whose server crashed or that measured nothing, each with how the server
/// ended and what went wrong; empty when none failed.
fn failed_cells(run: &RunData) -> String {
    let failed: Vec<_> = run.cells.iter().filter(|c| c.failed()).collect();
    if failed.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "## Failed cells\n\n{} of {} cells failed; the run went on without them, and no verdict uses them:\n\n| cell | crashed | server exit | error |\n|---|---|---|---|\n",
        failed.len(),
        run.cells.len()
    );
    for cell in failed {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell.cell,
            if cell.crashed { "yes" } else { "no" },
            or_dash_text(&cell.server_exit),
            cell.error.replace('|', "\\|").replace('\n', " ")
        );
    }
    out.push('\n');
    out
}

fn or_dash_text(text: &str) -> &str {
    if text.is_empty() {
        "—"
    } else {
        text
    }
}

/// The best (highest median throughput) group of a level.
pub fn best<'a>(groups: &[&'a Group]) -> Option<&'a Group> {
    groups
        .iter()
        .copied()
        .max_by(|a, b| a.achieved.median.total_cmp(&b.achieved.median))
}

fn table(run: &RunData, workload: &str) -> String {
    let levels = run.levels(workload);
    let all = levels.iter().flat_map(|(_, g)| g.iter());
    let (has_probe, has_lag) = all.fold((false, false), |(p, l), g| {
        (p || g.probe_p95.is_some(), l || g.lag_max.is_some())
    });
    let mut header = String::from("| level | style | req/s | vs best | p95 ms | p99 ms | failed |");
    let mut rule = String::from("|---|---|---:|---:|---:|---:|---:|");
    for (present, title) in [(has_probe, " probe p95 ms |"), (has_lag, " lag max ms |")] {
        if present {
            header.push_str(title);
            rule.push_str("---:|");
        }
    }
    header.push_str(
        " server wait ms | peak RSS MiB | threads (+kernel stacks MiB) | errors + unfinished | unserved conns |",
    );
    rule.push_str("---:|---:|---:|---:|---:|");
    let mut out = format!("{header}\n{rule}\n");
    for (level, groups) in &levels {
        let Some(best) = best(groups) else { continue };
        for group in groups {
            let invalid = match (group.failed, group.valid) {
                (0, true) => String::new(),
                (0, false) => " ⚠ invalid".to_string(),
                (failed, _) => format!(" ⚠ {failed} of {} failed", group.n),
            };
            let mut row = format!(
                "| {level} | {}{invalid} | {} | {} | {} | {} | {} |",
                group.variant,
                group.achieved.display(0),
                relative(group, best),
                Stat::display_or_dash(group.p95, 2),
                Stat::display_or_dash(group.p99, 2),
                percent(group.failure_share()),
            );
            if has_probe {
                let sign = if group.probe_lower_bound && group.probe_p95.is_some() {
                    "≥ "
                } else {
                    ""
                };
                let _ = write!(
                    row,
                    " {sign}{} |",
                    Stat::display_or_dash(group.probe_p95, 2)
                );
            }
            if has_lag {
                let _ = write!(row, " {} |", Stat::display_or_dash(group.lag_max, 2));
            }
            let _ = writeln!(
                out,
                "{row} {} | {} | {} (+{}) | {} + {} | {} |",
                group
                    .server_wait_p50
                    .map_or("—".to_string(), |w| format!("{w:.2}")),
                Stat::display_or_dash(group.rss_peak, 1),
                group.threads_max.map_or("—".to_string(), |n| n.to_string()),
                group
                    .kernel_stack_mib
                    .map_or("—".to_string(), |k| format!("{k:.1}")),
                group.errors,
                group.unfinished,
                group.unserved
            );
        }
    }
    out
}

/// Most the styles' achieved I/O waits may differ at one level before the timers, not
/// the styles, could explain a difference, ms.
pub const WAIT_SPREAD_LIMIT_MS: f64 = 0.2;

/// The levels at which the styles' achieved I/O waits (median, as the servers report
/// them) differ by more than [`WAIT_SPREAD_LIMIT_MS`]; empty when every level is fair.
fn unequal_waits_section(run: &RunData) -> String {
    let mut uneven = Vec::new();
    for workload in run.workloads() {
        for (level, groups) in run.levels(&workload) {
            let waits: Vec<(&str, f64)> = groups
                .iter()
                // A server of the user's own reports a wait that includes its own
                // queueing (a Python worker busy on CPU): not a timer to compare.
                .filter(|g| g.valid && g.style != "external")
                .filter_map(|g| g.server_wait_p50.map(|w| (g.variant.as_str(), w)))
                .collect();
            if let Some(line) = uneven_waits(&waits) {
                uneven.push(format!("- {workload} {level}: {line}"));
            }
        }
    }
    if uneven.is_empty() {
        return String::new();
    }
    format!(
        "## Unequal waits\n\nAt these levels the styles' I/O waits (the median each server reports) differ by more than {WAIT_SPREAD_LIMIT_MS} ms, so part of a difference between them may be how long they waited rather than their concurrency model: their timers (sleep mode), a stalled dependency (upstream mode), or queueing for a pooled database connection (db routes):\n\n{}\n\n",
        uneven.join("\n")
    )
}

/// "A waited 21.30 ms, B 20.19 ms (1.11 ms apart)" when the longest and shortest of
/// `waits` (style, ms) are over [`WAIT_SPREAD_LIMIT_MS`] apart.
fn uneven_waits(waits: &[(&str, f64)]) -> Option<String> {
    let low = waits.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    let high = waits.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    (high.1 - low.1 > WAIT_SPREAD_LIMIT_MS).then(|| {
        format!(
            "{} waited {:.2} ms, {} {:.2} ms ({:.2} ms apart)",
            high.0,
            high.1,
            low.0,
            low.1,
            high.1 - low.1
        )
    })
}

/// Little's law over the closed-loop cells: connections ≈ request rate × mean latency.
fn littles_law_section(run: &RunData) -> String {
    let checked: Vec<&crate::results::CellRecord> = run
        .cells
        .iter()
        .filter(|c| c.littles_law.is_some() && !c.failed())
        .collect();
    if checked.is_empty() {
        return String::new();
    }
    let off: Vec<String> = checked
        .iter()
        .filter_map(|c| {
            let ratio = c.littles_law?;
            ((ratio - 1.0).abs() > 0.2).then(|| {
                format!(
                    "{} {} {} (r{}): {ratio:.2}{}",
                    c.workload,
                    c.variant,
                    c.level(),
                    c.repetition,
                    if c.connections_unserved > 0 {
                        " — connections unserved"
                    } else {
                        ""
                    }
                )
            })
        })
        .collect();
    let mut out = String::from(
        "## Little's law\n\nClosed loop keeps every connection busy, so connections ≈ request rate × mean latency. ",
    );
    if off.is_empty() {
        let _ = writeln!(
            out,
            "All {} closed-loop cells agree within 20 %.\n",
            checked.len()
        );
    } else {
        let _ = writeln!(
            out,
            "{} of {} closed-loop cells are off by more than 20 % (rate × mean latency / connections):\n",
            off.len(),
            checked.len()
        );
        for line in off {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
    }
    out
}

/// The scenario's wrong-versus-right pairs, side by side with the cost of the mistake.
fn pairs_section(run: &RunData) -> String {
    let pairs: Vec<crate::pair::Pair> = run
        .pairs()
        .into_iter()
        .filter(|p| p.workload != "pipeline")
        .collect();
    if pairs.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "## Wrong versus right\n\nEach pattern measured both ways at the same load. `cost` is how many times worse the wrong side is on the pair's metric (the ratio of medians), or `—` with the reason when the claims check's rules allow no cost: a side failed, is invalid, mostly errors, or scored 0.\n\n\
         | claim | what | level | metric | wrong | right | cost |\n|---|---|---|---|---:|---:|---:|\n",
    );
    for pair in pairs.iter().filter(|p| !p.wrong.is_empty()) {
        let mut found = false;
        let right_workload = pair.right_workload.as_deref().unwrap_or(&pair.workload);
        for (level, _) in run.levels(&pair.workload) {
            let side = |workload: &str, label: &str| {
                super::claims::side(run, workload, label, &pair.metric, &level, pair.overload)
            };
            let (wrong, right) = (
                side(&pair.workload, &pair.wrong),
                side(right_workload, &pair.right),
            );
            if wrong.is_err() && right.is_err() {
                continue;
            }
            found = true;
            // The claims check's rules: no cost from a side that failed, is invalid,
            // mostly errors, or scored 0.
            let judged = super::claims::judge(pair, Some(&wrong), &right);
            let cost = match (judged.verdict, judged.ratio) {
                (super::claims::ClaimVerdict::CannotDecide, _) | (_, None) => {
                    format!("— ({})", judged.reason)
                }
                (_, Some(ratio)) => format!(
                    "{}{:.1}×",
                    judged.bound.map_or("", |b| b.sign()),
                    ratio.median
                ),
            };
            let value = |side: &Result<super::claims::Side, String>| {
                let side = side.as_ref().ok();
                let sign = match side {
                    Some(s) if s.lower_bound.is_some() && s.value.is_some() => "≥ ",
                    _ => "",
                };
                let median = side.and_then(|s| s.value).map(|v| v.median);
                format!("{sign}{}", crate::display::or_dash(median, 3))
            };
            let _ = writeln!(
                out,
                "| {} | {} | {level} | {} | {} | {} | {cost} |",
                pair.claim,
                pair.title,
                pair.metric,
                value(&wrong),
                value(&right)
            );
        }
        if !found {
            let _ = writeln!(
                out,
                "| {} | {} | — | {} | not measured | not measured | — |",
                pair.claim, pair.title, pair.metric
            );
        }
    }
    out.push('\n');
    out
}

/// Instances of each style needed for the search's target load at its SLO, and the
/// bench's own cap on each search (a capacity at the cap is the bench's, not the style's).
fn capacity_table(run: &RunData) -> String {
    let saturated: Vec<&Group> = run
        .groups
        .iter()
        .filter(|g| g.load_mode == "saturate")
        .collect();
    if saturated.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "## Capacity at the SLO\n\nThe highest rate each style sustained within its search's objective (corrected p95 of successes, failed share), and how many such instances the target load would need (the shape of the \"8 → 2 instances\" claim). Each probe ran on a fresh server (a target with `restart_between_probes = false` keeps one, idle between probes, and its memory includes what earlier probes left); `samples/<cell>.probes.csv` has every probe and why it failed. A capacity near the bench's cap is the bench's, not the style's.\n\n\
         | workload | style | objective | max req/s at it | p95 ms there | bench cap req/s | instances for the target |\n|---|---|---|---:|---:|---:|---:|\n",
    );
    for g in saturated {
        let search = run.search(&g.workload);
        let target = search.map_or(10_000.0, |s| s.capacity_target_rps);
        let slo = search.map_or("?".into(), |s| {
            humantime::format_duration(s.p95_slo).to_string()
        });
        let errors = search.map(|s| s.max_error_rate);
        let rate = g.target_rps.filter(|r| *r > 0.0);
        let instances = rate.map_or("—".into(), |r| format!("{:.0}", (target / r).ceil()));
        let cap = g.rate_cap_rps;
        let _ = writeln!(
            out,
            "| {} | {} | p95 ≤ {slo}, failed ≤ {} | {} | {} | {} | {instances} for {target:.0} req/s |",
            g.workload,
            g.variant,
            crate::display::percent(errors),
            crate::display::or_dash(rate, 0),
            Stat::display_or_dash(g.p95, 2),
            crate::display::or_dash(cap, 0),
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_further_apart_than_the_limit_are_named() {
        let before = [("blocking", 20.19), ("async", 21.30)];
        let line = uneven_waits(&before).unwrap();
        assert_eq!(
            line,
            "async waited 21.30 ms, blocking 20.19 ms (1.11 ms apart)"
        );
        assert_eq!(uneven_waits(&[("blocking", 20.21), ("async", 20.18)]), None);
        assert_eq!(uneven_waits(&[("blocking", 20.2)]), None);
        assert_eq!(uneven_waits(&[]), None);
    }
}
