//! The slowloris section of the summary: per style, the probe's p95 as slow clients
//! grow, and the verdict the issue asks for: how many slow clients it takes to push
//! each style's probe p95 over its objective, and for how long.

use std::fmt::Write as _;

use super::RunData;
use crate::display::{or_dash, percent};
use crate::results::CellRecord;

/// One style at one count of slow clients, over its repetitions.
struct Row<'a> {
    clients: u64,
    cells: Vec<&'a CellRecord>,
}

impl Row<'_> {
    /// Median of the probe's p95 over every request; a repetition in which nothing
    /// ended counts as infinitely late.
    fn p95(&self) -> f64 {
        median(
            self.cells
                .iter()
                .map(|c| c.all_p95_ms.unwrap_or(f64::INFINITY)),
        )
    }

    /// Seconds over the objective, at most the window (`window_s`).
    fn seconds_over(&self, window_s: f64) -> f64 {
        median(
            self.cells
                .iter()
                .map(|c| c.seconds_over_slo.unwrap_or(0) as f64),
        )
        .min(window_s)
    }

    fn valid(&self) -> bool {
        self.cells.iter().all(|c| c.valid)
    }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    super::stats::median(&values.collect::<Vec<_>>())
}

/// The section, or nothing when the run has no slowloris cells.
pub fn section(run: &RunData) -> String {
    let cells: Vec<&CellRecord> = run
        .cells
        .iter()
        .filter(|c| c.load_mode == "slowloris" && !c.failed())
        .collect();
    let Some(first) = cells.first() else {
        return String::new();
    };
    let slo_ms = first.slo_ms.unwrap_or(f64::NAN);
    let window_s = run
        .scenario()
        .map_or(f64::NAN, |s| s.duration.as_secs_f64().ceil());
    let mut out = format!(
        "## Slow clients (slowloris)\n\n\
         A light probe ({:.0} req/s on `/null`, on connections opened after the slow clients) while S slow clients hold connections whose request heads never end \
         (one more byte every so often; when the server cuts one off it reconnects at once). \
         The probe's p95 covers every request (errors, and requests unanswered at the end at their lower bound), corrected. Objective: p95 ≤ {slo_ms:.0} ms. \
         The limits in force are in each cell's `knobs` (`header-read=` is the timeout that frees a connection held by a slow client).\n\n\
         | style | slow clients | probe p95 ms | failed | seconds over objective | slow clients cut off |\n|---|---:|---:|---:|---:|---:|\n",
        first.target_rps.unwrap_or(0.0)
    );
    let mut verdicts = Vec::new();
    for variant in variants(&cells) {
        let rows = rows_of(&cells, &variant);
        for row in &rows {
            let c = row.cells[0];
            let p95 = row.p95();
            let _ = writeln!(
                out,
                "| {variant}{} | {} | {} | {} | {:.0} of {:.0} s | {} |",
                if row.valid() { "" } else { " ⚠ invalid" },
                row.clients,
                if p95.is_finite() {
                    format!("{p95:.2}")
                } else {
                    "none answered".into()
                },
                percent(c.failure_share()),
                row.seconds_over(window_s),
                window_s,
                or_dash(c.slow_cut_off.map(|n| n as f64), 0),
            );
        }
        verdicts.push(verdict(&variant, &rows, slo_ms, window_s));
    }
    out.push('\n');
    for line in verdicts {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');
    out
}

/// The style variants in the order they ran.
fn variants(cells: &[&CellRecord]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for cell in cells {
        if !names.contains(&cell.variant) {
            names.push(cell.variant.clone());
        }
    }
    names
}

/// One variant's rows, by count of slow clients.
fn rows_of<'a>(cells: &[&'a CellRecord], variant: &str) -> Vec<Row<'a>> {
    let mut rows: Vec<Row<'a>> = Vec::new();
    for cell in cells.iter().filter(|c| c.variant == variant) {
        let clients = cell.slow_clients.unwrap_or(0);
        match rows.iter_mut().find(|r| r.clients == clients) {
            Some(row) => row.cells.push(cell),
            None => rows.push(Row {
                clients,
                cells: vec![cell],
            }),
        }
    }
    rows.sort_by_key(|r| r.clients);
    rows
}

/// "blocking(pool=16): over 100 ms from 16 slow clients (for 7 of 10 s)", or "never
/// over ... up to 128", from the valid rows only.
fn verdict(variant: &str, rows: &[Row<'_>], slo_ms: f64, window_s: f64) -> String {
    let valid: Vec<&Row<'_>> = rows.iter().filter(|r| r.valid()).collect();
    let Some(most) = valid.last() else {
        return format!("{variant}: no valid cell, no verdict");
    };
    if valid.first().is_some_and(|r| r.p95() > slo_ms) {
        return format!(
            "{variant}: over {slo_ms:.0} ms already with {} slow clients: the objective is too tight for this machine, no verdict",
            valid[0].clients
        );
    }
    match valid.iter().find(|r| r.p95() > slo_ms) {
        Some(row) => format!(
            "{variant}: the probe's p95 went over {slo_ms:.0} ms from **{} slow clients** (over it for {:.0} of {:.0} s)",
            row.clients,
            row.seconds_over(window_s),
            window_s
        ),
        None => format!(
            "{variant}: never over {slo_ms:.0} ms, up to {} slow clients",
            most.clients
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(variant: &str, clients: u64, p95: Option<f64>, over: u64) -> CellRecord {
        CellRecord {
            variant: variant.into(),
            load_mode: "slowloris".into(),
            target_rps: Some(50.0),
            slow_clients: Some(clients),
            slo_ms: Some(100.0),
            all_p95_ms: p95,
            seconds_over_slo: Some(over),
            valid: true,
            ..CellRecord::default()
        }
    }

    #[test]
    fn the_verdict_names_the_first_count_over_the_objective_or_says_never() {
        let cells = [
            cell("blocking", 0, Some(1.0), 0),
            cell("blocking", 16, None, 7),
            cell("blocking", 8, Some(2.0), 0),
            cell("async", 0, Some(1.0), 0),
            cell("async", 16, Some(1.5), 0),
        ];
        let refs: Vec<&CellRecord> = cells.iter().collect();
        let blocking = verdict("blocking", &rows_of(&refs, "blocking"), 100.0, 10.0);
        assert!(
            blocking.contains("from **16 slow clients** (over it for 7 of 10 s)"),
            "{blocking}"
        );
        let asynchronous = verdict("async", &rows_of(&refs, "async"), 100.0, 10.0);
        assert_eq!(
            asynchronous,
            "async: never over 100 ms, up to 16 slow clients"
        );
    }

    #[test]
    fn a_baseline_over_the_objective_gives_no_verdict() {
        let cells = [cell("x", 0, Some(500.0), 10), cell("x", 8, Some(600.0), 10)];
        let refs: Vec<&CellRecord> = cells.iter().collect();
        assert!(verdict("x", &rows_of(&refs, "x"), 100.0, 10.0).contains("no verdict"));
    }
}
