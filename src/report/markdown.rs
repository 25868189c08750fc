//! `summary.md`: per workload, a table of styles × load levels with throughput, p95,
//! p99, peak RSS and errors, and each style's throughput relative to the best at that
//! level (hyperfine-style: `1.00` is the best, `3.20 ± 0.10` is 3.2× less).

use std::fmt::Write as _;
use std::path::PathBuf;

use super::aggregate::{Group, Stat};
use super::{Exporter, RunData};

/// The markdown summary exporter.
pub struct Summary;

impl Exporter for Summary {
    fn name(&self) -> &'static str {
        "markdown summary"
    }

    fn export(&self, run: &RunData) -> anyhow::Result<Vec<PathBuf>> {
        Ok(vec![run.dir.write_text("summary.md", &render(run))?])
    }
}

fn fmt_stat(stat: &Stat, n: usize, decimals: usize) -> String {
    if n > 1 && stat.max > stat.min {
        format!(
            "{:.*} [{:.*}–{:.*}]",
            decimals, stat.median, decimals, stat.min, decimals, stat.max
        )
    } else {
        format!("{:.*}", decimals, stat.median)
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

/// The header lines: scenario, machine, status.
pub fn header(run: &RunData) -> String {
    let m = &run.manifest;
    let mut out = String::new();
    let _ = writeln!(out, "# {} — run `{}`\n", m.scenario_name, m.run_id);
    let description = m
        .scenario
        .get("description")
        .and_then(|d| d.as_str())
        .unwrap_or("");
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

fn render(run: &RunData) -> String {
    let mut out = header(run);
    out.push_str(
        "Throughput is successful requests per second; latency is corrected (from the intended send time); \
         `vs best` is how many times less throughput than the best style at the same level. \
         `server wait` is the median wait the server reports it achieved for its I/O (timers differ: tokio's rounds up to whole milliseconds). \
         `unserved conns` counts connections that got no answer at all in the measured window (a fixed pool tied up by other keep-alive connections). \
         With repetitions, cells show the median [min–max].\n\n",
    );
    for workload in run.workloads() {
        let _ = writeln!(out, "## Workload `{workload}`\n");
        out.push_str(&table(run, &workload));
        out.push('\n');
    }
    let capacity = capacity_table(run);
    if !capacity.is_empty() {
        out.push_str(&capacity);
    }
    let invalid: Vec<&Group> = run.groups.iter().filter(|g| !g.valid).collect();
    if !invalid.is_empty() {
        out.push_str("## Invalid cells\n\nIn these the generator, not the server, was the limit (see `invalid_reason` in cells.csv):\n\n");
        for g in invalid {
            let _ = writeln!(out, "- {} {} {}", g.workload, g.variant, g.level);
        }
        out.push('\n');
    }
    out
}

/// The groups of one workload at one level, with the best throughput first found.
pub fn levels_of<'a>(run: &'a RunData, workload: &str) -> Vec<(String, Vec<&'a Group>)> {
    let mut levels: Vec<(String, Vec<&Group>)> = Vec::new();
    for group in run.groups.iter().filter(|g| g.workload == workload) {
        match levels.iter_mut().find(|(level, _)| *level == group.level) {
            Some((_, groups)) => groups.push(group),
            None => levels.push((group.level.clone(), vec![group])),
        }
    }
    levels
}

/// The best (highest median throughput) group of a level.
pub fn best<'a>(groups: &[&'a Group]) -> Option<&'a Group> {
    groups
        .iter()
        .copied()
        .max_by(|a, b| a.achieved.median.total_cmp(&b.achieved.median))
}

fn table(run: &RunData, workload: &str) -> String {
    let mut out = String::from(
        "| level | style | req/s | vs best | p95 ms | p99 ms | server wait ms | peak RSS MiB | threads (+kernel stacks MiB) | errors | unserved conns |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (level, groups) in levels_of(run, workload) {
        let Some(best) = best(&groups) else { continue };
        for group in groups {
            let invalid = if group.valid { "" } else { " ⚠ invalid" };
            let _ =
                writeln!(
                out,
                "| {level} | {}{invalid} | {} | {} | {} | {} | {} | {} | {} (+{:.1}) | {} | {} |",
                group.variant,
                fmt_stat(&group.achieved, group.n, 0),
                relative(group, best),
                fmt_stat(&group.p95, group.n, 2),
                fmt_stat(&group.p99, group.n, 2),
                group.server_wait_p50.map_or("—".to_string(), |w| format!("{w:.2}")),
                fmt_stat(&group.rss_peak, group.n, 1),
                group.threads_max,
                group.kernel_stack_mib,
                group.errors,
                group.unserved
            );
        }
    }
    out
}

/// Instances of each style needed for the scenario's target load at the SLO.
fn capacity_table(run: &RunData) -> String {
    let saturated: Vec<&Group> = run
        .groups
        .iter()
        .filter(|g| g.load_mode == "saturate")
        .collect();
    if saturated.is_empty() {
        return String::new();
    }
    let saturate = run.manifest.scenario.pointer("/load/saturate");
    let target = saturate
        .and_then(|s| s.get("capacity_target_rps"))
        .and_then(|v| v.as_f64())
        .unwrap_or(10_000.0);
    let slo = saturate
        .and_then(|s| s.get("p95_slo"))
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    let mut out = format!(
        "## Capacity at the SLO (p95 ≤ {slo})\n\nThe highest rate each style sustained within the SLO, and how many such instances {target:.0} req/s would need (the shape of the \"8 → 2 instances\" claim).\n\n\
         | workload | style | max req/s at SLO | p95 ms there | instances for {target:.0} req/s |\n|---|---|---:|---:|---:|\n"
    );
    for g in saturated {
        let rate = g.target_rps.unwrap_or(0.0);
        let instances = if rate > 0.0 {
            format!("{:.0}", (target / rate).ceil())
        } else {
            "—".into()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {rate:.0} | {:.2} | {instances} |",
            g.workload, g.variant, g.p95.median
        );
    }
    out.push('\n');
    out
}
