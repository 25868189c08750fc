//! The summary's connection-scale section (issue 13): for each style, what holding
//! 1k to 19k connections cost and did — connections established and still up, the
//! latency at the fixed rate, the server's memory and threads, the machine's kernel
//! stacks and slab — then the memory per connection as the slope of a linear fit
//! (with its R²), its extrapolation to 100,000 connections (labelled as one), and
//! where each style stopped working.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::results::CellRecord;

/// Connections the extrapolation is for (the machine cannot hold them).
pub const EXTRAPOLATE_TO: f64 = 100_000.0;

/// A least-squares line y = intercept + slope × x, and how well it fits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// y per unit of x.
    pub slope: f64,
    /// y at x = 0.
    pub intercept: f64,
    /// Coefficient of determination (1: every point on the line).
    pub r2: f64,
}

/// The least-squares fit of `points`; None with fewer than 2 distinct x.
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let syy: f64 = points.iter().map(|p| (p.1 - mean_y).powi(2)).sum();
    let residual: f64 = points
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let r2 = if syy > 0.0 { 1.0 - residual / syy } else { 1.0 };
    Some(Fit {
        slope,
        intercept,
        r2,
    })
}

/// What a held cell says of its style.
enum Verdict {
    /// It held its connections and answered.
    Works,
    /// It did not: why.
    Broken(String),
    /// The generator was the limit (its reasons are in the invalid cells' list): the
    /// cell says nothing of the style.
    NotMeasured,
}

fn verdict(cell: &CellRecord) -> Verdict {
    if cell.generator_limited && !cell.failed() {
        return Verdict::NotMeasured;
    }
    match broken(cell) {
        Some(why) => Verdict::Broken(why),
        None => Verdict::Works,
    }
}

/// Why a held cell does not describe a style holding its connections, if it does not.
fn broken(cell: &CellRecord) -> Option<String> {
    if cell.failed() {
        let why = if cell.server_exit.is_empty() {
            cell.error.clone()
        } else {
            format!("the server exited ({})", cell.server_exit)
        };
        return Some(why);
    }
    let failures = &cell.server_failures;
    match symptom(cell) {
        None if failures.is_empty() => None,
        None => Some(format!("the server failed clients: {failures}")),
        Some(symptom) if failures.is_empty() => Some(symptom),
        Some(symptom) => Some(format!("{symptom} (the server: {failures})")),
    }
}

/// What the generator saw go wrong with a held cell's connections, if anything.
fn symptom(cell: &CellRecord) -> Option<String> {
    let wanted = cell.connections;
    let up = cell.connections_stayed_up.unwrap_or(0);
    if up * 100 < wanted * 99 {
        let never = match cell.connections_established {
            Some(opened) if opened < wanted && !cell.connect_failures.is_empty() => format!(
                "; {} never opened ({})",
                wanted - opened,
                cell.connect_failures
            ),
            _ => String::new(),
        };
        return Some(format!(
            "{up} of {wanted} connections still open at the end{never}"
        ));
    }
    if cell.connections_unserved * 100 > wanted {
        return Some(format!(
            "{} of {wanted} connections got no answer",
            cell.connections_unserved
        ));
    }
    match cell.failure_share() {
        Some(share) if share > 0.01 => Some(format!(
            "{:.1} % of requests failed or did not finish",
            100.0 * share
        )),
        _ => None,
    }
}

fn mib(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.1}"))
}

/// The section, or nothing when the run held no connections.
pub fn section(cells: &[CellRecord]) -> String {
    let mut by_style: BTreeMap<&str, Vec<&CellRecord>> = BTreeMap::new();
    for cell in cells.iter().filter(|c| c.load_mode == "held") {
        by_style
            .entry(cell.variant.as_str())
            .or_default()
            .push(cell);
    }
    if by_style.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "## Connection scale\n\n\
         Each cell opened its connections first (on a ramp, so the accept queue is not what is measured), held them, and spread a fixed open-loop rate over them all. \
         `kernel stack Δ` and `slab Δ` are the growth of the whole machine's `KernelStack` and `SUnreclaim` (/proc/meminfo) from before the load to the window's peak: \
         measured, not estimated, but system-wide (the slab holds both ends of every loopback socket, the generator's included). \
         `gen RSS/conn` is the generator's own peak RSS over the connections it held.\n\n\
         | style | held | established | still up | failed | p95 ms | server RSS MiB | threads | kernel stack Δ MiB | slab Δ MiB | gen RSS/conn KiB | works? |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut fits = String::new();
    for (style, mut rows) in by_style {
        rows.sort_by_key(|c| (c.connections, c.repetition));
        let mut memory = Vec::new();
        let mut with_kernel = Vec::new();
        let mut breaks_at = None;
        for cell in &rows {
            let verdict = verdict(cell);
            let per_conn = cell
                .generator_peak_rss_mib
                .filter(|_| cell.connections > 0)
                .map(|rss| rss * 1024.0 / cell.connections as f64);
            let _ = writeln!(
                out,
                "| {style} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell.connections,
                cell.connections_established
                    .map_or("—".into(), |n| n.to_string()),
                cell.connections_stayed_up
                    .map_or("—".into(), |n| n.to_string()),
                cell.failure_share()
                    .map_or("—".into(), |s| format!("{:.1} %", 100.0 * s)),
                cell.p95_ms.map_or("—".into(), |p| format!("{p:.2}")),
                mib(cell.rss_peak_mib),
                cell.threads_max.map_or("—".into(), |n| n.to_string()),
                mib(cell.kernel_stack_delta_mib),
                mib(cell.kernel_slab_delta_mib),
                per_conn.map_or("—".into(), |k| format!("{k:.1}")),
                match &verdict {
                    Verdict::Works => "yes".to_string(),
                    Verdict::Broken(why) => format!("**no**: {why}"),
                    Verdict::NotMeasured => "not measured: the generator was the limit".into(),
                },
            );
            match verdict {
                Verdict::Broken(why) if breaks_at.is_none() => {
                    breaks_at = Some((cell.connections, why))
                }
                Verdict::Broken(_) | Verdict::NotMeasured => {}
                Verdict::Works => {
                    let held = cell.connections_established.unwrap_or(cell.connections) as f64;
                    let Some(rss_kib) = cell.rss_peak_mib.map(|mib| mib * 1024.0) else {
                        continue;
                    };
                    memory.push((held, rss_kib));
                    if let Some(stack) = cell.kernel_stack_delta_mib {
                        with_kernel.push((held, rss_kib + stack * 1024.0));
                    }
                }
            }
        }
        fits.push_str(&fit_line(style, &memory, &with_kernel, breaks_at));
    }
    out.push_str("\nMemory per connection: the slope of a least-squares line through each style's working cells (server peak RSS, and RSS plus the kernel stacks' growth, against connections established), with its R². ");
    let _ = writeln!(
        out,
        "The column at {EXTRAPOLATE_TO:.0} connections is an **extrapolation** of that line: this machine cannot hold them (20,000 descriptors per process).\n"
    );
    out.push_str("| style | RSS per connection | R² | RSS + kernel stacks per connection | R² | extrapolated RSS at 100k | stops working at |\n|---|---:|---:|---:|---:|---:|---|\n");
    out.push_str(&fits);
    out.push('\n');
    out
}

fn fit_line(
    style: &str,
    memory: &[(f64, f64)],
    with_kernel: &[(f64, f64)],
    breaks_at: Option<(u64, String)>,
) -> String {
    let show = |f: Option<Fit>| match f {
        Some(f) => (format!("{:.1} KiB", f.slope), format!("{:.3}", f.r2)),
        None => ("—".into(), "—".into()),
    };
    let (rss, rss_r2) = show(fit(memory));
    let (kernel, kernel_r2) = show(fit(with_kernel));
    let extrapolated = fit(memory).map_or("—".into(), |f| {
        format!(
            "{:.0} MiB (extrapolated)",
            (f.intercept + f.slope * EXTRAPOLATE_TO) / 1024.0
        )
    });
    let stops = breaks_at.map_or("held every count".to_string(), |(n, why)| {
        format!("{n} connections: {why}")
    });
    format!("| {style} | {rss} | {rss_r2} | {kernel} | {kernel_r2} | {extrapolated} | {stops} |\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_fits_exactly_and_noise_lowers_r2() {
        let exact = fit(&[(1000.0, 10_000.0), (2000.0, 20_000.0), (4000.0, 40_000.0)]).unwrap();
        assert!((exact.slope - 10.0).abs() < 1e-9 && exact.intercept.abs() < 1e-6);
        assert!((exact.r2 - 1.0).abs() < 1e-12);
        let noisy = fit(&[(1.0, 1.0), (2.0, 3.0), (3.0, 2.0)]).unwrap();
        assert!(noisy.r2 < 0.5, "{noisy:?}");
        assert_eq!(fit(&[(1.0, 1.0)]), None);
        assert_eq!(fit(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }

    fn held(variant: &str, connections: u64, rss: f64, up: u64) -> CellRecord {
        CellRecord {
            variant: variant.into(),
            load_mode: "held".into(),
            connections,
            connections_established: Some(connections),
            connections_stayed_up: Some(up),
            rss_peak_mib: Some(rss),
            requests_scheduled: 100,
            requests_sent: 100,
            requests_ok: 100,
            generator_peak_rss_mib: Some(connections as f64 * 8.0 / 1024.0),
            ..CellRecord::default()
        }
    }

    #[test]
    fn what_the_server_said_it_failed_names_why_a_style_broke() {
        let mut cell = held("blocking(thread-per-conn)", 1000, 30.0, 1000);
        cell.server_failures = "accept failed: Too many open files (os error 24) ×12".into();
        let Verdict::Broken(why) = verdict(&cell) else {
            panic!("a server that refused clients does not work");
        };
        assert!(why.contains("Too many open files"), "{why}");
        cell.connections_stayed_up = Some(500);
        let Verdict::Broken(why) = verdict(&cell) else {
            panic!("broken");
        };
        assert!(
            why.starts_with("500 of 1000 connections") && why.contains("(the server: accept"),
            "{why}"
        );
    }

    #[test]
    fn reports_the_slope_the_extrapolation_and_where_a_style_breaks() {
        let cells = vec![
            held("async", 1000, 20.0, 1000),
            held("async", 2000, 30.0, 2000),
            held("async", 4000, 50.0, 4000),
            held("blocking(pool=64)", 1000, 10.0, 1000),
            held("blocking(pool=64)", 2000, 10.0, 1500),
        ];
        let text = section(&cells);
        assert!(text.contains("| async | 10.2 KiB | 1.000 |"), "{text}");
        assert!(text.contains("1010 MiB (extrapolated)"), "{text}");
        assert!(
            text.contains("2000 connections: 1500 of 2000 connections still open at the end"),
            "{text}"
        );
        assert!(text.contains("| async | 4000 | 4000 | 4000 |"), "{text}");
        assert_eq!(section(&[]), "");
    }
}
