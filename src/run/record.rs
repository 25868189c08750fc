//! The `cells.csv` row of a cell: from what was measured, for a cell that failed,
//! and for a crash during it.

use std::time::Duration;

use super::process;
use super::sampler;
use super::slowloris;
use crate::load::LoadReport;
use crate::results::{CellRecord, ServerSample};
use crate::scenario::plan::{CellPlan, Level, ServerPlan};
use crate::scenario::Scenario;
use crate::server::Style;

/// Everything measured for one cell.
pub(super) struct Measured<'a> {
    pub(super) report: &'a LoadReport,
    pub(super) target_rps: Option<f64>,
    pub(super) probe: Option<&'a LoadReport>,
    pub(super) lag: Option<crate::server::lag::LagFigures>,
    /// The server's own queue's waits (the async C10 variants).
    pub(super) queue_wait: Option<crate::server::windowed::WaitFigures>,
    pub(super) samples: &'a [ServerSample],
    pub(super) window: Duration,
    /// The blocking style's thread occupancy in the window.
    pub(super) pool: super::mechanism::PoolReading,
    /// A slowloris cell's slow clients and objective.
    pub(super) slow: Option<SlowMeasure>,
    /// The server's CPU while idle before the load, ms a second (its helpers).
    pub(super) idle_cpu_ms_per_s: Option<f64>,
}

/// What a slowloris cell adds to the probe's measurement.
pub(super) struct SlowMeasure {
    pub(super) clients: u32,
    pub(super) tally: slowloris::SlowTally,
    pub(super) slo: Duration,
}

impl SlowMeasure {
    /// The columns it fills; `valid` keeps only the generator's own reasons, since a
    /// stalled or capped probe is what a slowloris cell measures, not a fault of it.
    pub(super) fn fill(&self, record: &mut CellRecord, report: &LoadReport) {
        let slo_ms = self.slo.as_secs_f64() * 1000.0;
        record.slow_clients = Some(u64::from(self.clients));
        record.slow_cut_off = Some(self.tally.cut_off);
        record.slo_ms = Some(slo_ms);
        // A second in which no probe request ended counts as over the objective.
        record.seconds_over_slo = Some(
            report
                .timeline
                .iter()
                .filter(|s| s.all_p95_ms.is_none_or(|p95| p95 > slo_ms))
                .count() as u64,
        );
        record.valid = !report.generator_limited;
        if record.valid {
            record.invalid_reason.clear();
        }
    }
}

/// What names a cell in `cells.csv` (which scenario, workload, style, knobs, level);
/// every measured column empty.
pub(super) fn identity(scenario: &Scenario, cell: &CellPlan) -> CellRecord {
    let knobs = match &cell.server {
        ServerPlan::Style(style) => match style.style {
            Style::Blocking if style.thread_per_connection => "thread-per-connection".to_string(),
            Style::Blocking => format!("threads={}", style.threads),
            Style::Async => format!("workers={}", style.workers),
            Style::Hybrid => format!("workers={} offload={:?}", style.workers, style.offload),
        },
        ServerPlan::Target {
            workers: Some(n), ..
        } => format!("workers={n}"),
        ServerPlan::Target { workers: None, .. } => "command".to_string(),
    };
    CellRecord {
        cell: cell.id.clone(),
        scenario: scenario.name.clone(),
        workload: cell.workload.name(),
        style: cell.server.kind(),
        variant: cell.server.label(),
        knobs: format!("{knobs} {}", scenario.limits.knobs()),
        load_mode: cell.level.mode().into(),
        connections: u64::from(cell.level.connections()),
        target_rps: match &cell.level {
            Level::Slowloris { .. } => None,
            level => level.offered_rate(),
        },
        repetition: cell.repetition,
        ..CellRecord::default()
    }
}

/// The row of a cell that measured nothing: it could not start or could not be
/// measured. `error` says why (and how the server ended, if it did).
pub(super) fn failed_record(
    scenario: &Scenario,
    cell: &CellPlan,
    error: &anyhow::Error,
) -> CellRecord {
    let exited = error.downcast_ref::<process::ChildExited>();
    let error = format!("{error:#}");
    CellRecord {
        server_exit: exited.map(|e| e.status.clone()).unwrap_or_default(),
        valid: false,
        invalid_reason: format!("the cell failed: {error}"),
        error,
        ..identity(scenario, cell)
    }
}

/// Whether a probe's latencies are only lower bounds: it did not keep its schedule, and
/// not for the generator's fault (its connections or the target held it back).
fn probe_is_lower_bound(probe: &LoadReport) -> bool {
    !probe.valid && !probe.generator_limited
}

/// The probe's latency: of its successes; or, when it fell behind, of every request it
/// was scheduled to send, the unfinished at `end − intended` (a lower bound: with a
/// backlog that never drains, the successes alone may be none, or only the early ones).
fn probe_latency(probe: &LoadReport) -> Option<crate::load::report::Percentiles> {
    if probe_is_lower_bound(probe) {
        probe.latency_ms.all.corrected
    } else {
        probe.latency_ms.ok.corrected
    }
}

pub(super) fn record(scenario: &Scenario, cell: &CellPlan, measured: &Measured<'_>) -> CellRecord {
    let report = measured.report;
    let target_rps = measured.target_rps;
    let server = sampler::summarize(measured.samples, measured.window);
    let c = report.latency_ms.ok.corrected;
    let s = report.latency_ms.ok.service;
    let all = report.latency_ms.all.corrected;
    let requests = &report.requests;
    let error = |key: &str| report.errors.get(key).copied().unwrap_or(0);
    let mut row = CellRecord {
        target_rps,
        service_lost_s: target_rps
            .filter(|r| *r > 0.0)
            .map(|offered| service_lost_s(report, offered)),
        achieved_rps: report.achieved_rps,
        requests_scheduled: requests.scheduled,
        requests_sent: requests.sent,
        requests_unsent: requests.unsent,
        requests_in_flight_at_end: requests.in_flight_at_end,
        requests_ok: report.requests_ok,
        err_connect_refused: error("connect_refused"),
        err_connect_timeout: error("connect_timeout"),
        err_reset: error("reset"),
        err_timeout: error("timeout"),
        err_status_4xx: error("status_4xx"),
        err_status_5xx: error("status_5xx"),
        err_tls: error("tls"),
        err_too_large: error("too_large"),
        err_stream_reset: error("stream_reset"),
        err_goaway: error("goaway"),
        err_other: error("other"),
        protocol: crate::flags::flag_value(&report.protocol),
        streams: (!report.protocol.is_http1()).then_some(report.streams as u32),
        connections_unserved: report.connections_unserved,
        status_counts: report
            .status_counts
            .iter()
            .map(|(status, n)| format!("{status}:{n}"))
            .collect::<Vec<_>>()
            .join(" "),
        p50_ms: c.map(|p| p.p50),
        p90_ms: c.map(|p| p.p90),
        p95_ms: c.map(|p| p.p95),
        p99_ms: c.map(|p| p.p99),
        p999_ms: c.map(|p| p.p999),
        max_ms: c.map(|p| p.max),
        service_p50_ms: s.map(|p| p.p50),
        service_p90_ms: s.map(|p| p.p90),
        service_p95_ms: s.map(|p| p.p95),
        service_p99_ms: s.map(|p| p.p99),
        service_p999_ms: s.map(|p| p.p999),
        service_max_ms: s.map(|p| p.max),
        all_p50_ms: all.map(|p| p.p50),
        all_p95_ms: all.map(|p| p.p95),
        all_p99_ms: all.map(|p| p.p99),
        all_max_ms: all.map(|p| p.max),
        probe_p95_ms: measured.probe.and_then(probe_latency).map(|c| c.p95),
        probe_p99_ms: measured.probe.and_then(probe_latency).map(|c| c.p99),
        probe_ok_share: measured.probe.and_then(|p| p.latency_ms.ok.share),
        probe_lower_bound: measured.probe.is_some_and(probe_is_lower_bound),
        probe_generator_lag_p99_ms: measured
            .probe
            .and_then(|p| p.generator_lag_ms.map(|l| l.p99)),
        probe_invalid_reason: measured
            .probe
            .map(|p| p.invalid_reasons.join("; "))
            .unwrap_or_default(),
        lag_p99_ms: measured.lag.map(|l| l.p99_ms),
        lag_max_ms: measured.lag.map(|l| l.max_ms),
        server_queue_p50_ms: measured.queue_wait.map(|q| q.p50_ms),
        server_queue_p99_ms: measured.queue_wait.map(|q| q.p99_ms),
        server_wait_p50_ms: report.server_wait_ms.map(|w| w.p50),
        server_wait_p99_ms: report.server_wait_ms.map(|w| w.p99),
        littles_law: c.filter(|_| cell.level.mode() == "closed").map(|ok| {
            // Successful work only: connections held by unanswered requests count as idle.
            let rate = report.requests_ok as f64 / report.duration_s.max(1e-9);
            rate * ok.mean / 1000.0 / f64::from(cell.level.connections().max(1))
        }),
        rss_peak_mib: server.rss_peak_mib,
        tree_rss_sum_peak_mib: server.tree_rss_sum_peak_mib,
        rss_mean_mib: server.rss_mean_mib,
        threads_max: server.threads_max,
        kernel_stack_mib: server.threads_max.map(|n| n as f64 * 16.0 / 1024.0),
        measurement_notes: server.not_measured.clone().unwrap_or_default(),
        kernel_stack_delta_mib: server.kernel_stack_delta_mib,
        kernel_slab_delta_mib: server.kernel_slab_delta_mib,
        connections_established: report.connection_ramp.as_ref().map(|r| r.established),
        connections_stayed_up: report.connection_ramp.as_ref().map(|r| r.stayed_up),
        connect_p99_ms: report
            .connection_ramp
            .as_ref()
            .and_then(|r| r.connect_ms)
            .map(|c| c.p99),
        generator_peak_rss_mib: Some(report.generator_peak_rss_mib),
        connect_failures: report
            .connection_ramp
            .as_ref()
            .map(|r| {
                r.failed
                    .iter()
                    .map(|(class, n)| format!("{class} ×{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        server_cpu_user_s: server.cpu_user_s,
        server_cpu_sys_s: server.cpu_sys_s,
        generator_cpu_s: report.generator_cpu_s,
        generator_busy: report.generator_busy,
        generator_cpu_us_per_ok: report
            .generator_window_cpu_s
            .filter(|_| report.requests_ok > 0)
            .map(|cpu| cpu / report.requests_ok as f64 * 1e6),
        valid: report.valid,
        invalid_reason: report.invalid_reasons.join("; "),
        generator_limited: report.generator_limited,
        ..identity(scenario, cell)
    };
    let inputs = super::mechanism::Inputs {
        server: &server,
        requests_ok: report.requests_ok,
        window_s: measured.window.as_secs_f64(),
        cores: server_cores(scenario.server_cpus(&cell.workload)),
        pool: measured.pool,
        idle_cpu_ms_per_s: measured.idle_cpu_ms_per_s,
    };
    super::mechanism::fill(&mut row, &inputs);
    row
}

/// Cores the server may run on: its pinning, else the machine's.
fn server_cores(pinned: &[usize]) -> u64 {
    match pinned.len() {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()) as u64,
        pinned => pinned as u64,
    }
}

/// Marks a cell whose server or upstream died while it ran: crashed, not valid, and
/// how it ended. What was measured before the crash stays in the row.
pub(super) fn mark_crashed(record: &mut CellRecord, crash: &process::ChildExited) {
    let what = format!(
        "the {} died during the cell ({}): {}",
        crash.label, crash.status, crash.log_tail
    );
    record.crashed = true;
    record.valid = false;
    if record.server_exit.is_empty() {
        record.server_exit = match crash.label.as_str() {
            "server" => crash.status.clone(),
            other => format!("{other}: {}", crash.status),
        };
    }
    for text in [&mut record.invalid_reason, &mut record.error] {
        *text = if text.is_empty() {
            what.clone()
        } else {
            format!("{what}; {text}")
        };
    }
}

/// Requests of the window that did not succeed, over the `offered` rate: seconds of
/// service lost (continuous, unlike counting whole seconds of the timeline).
fn service_lost_s(report: &LoadReport, offered: f64) -> f64 {
    let lost = report.requests.scheduled.saturating_sub(report.requests_ok);
    lost as f64 / offered
}
