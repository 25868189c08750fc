//! The mechanism metrics of a cell: what the server's threads did for each successful
//! request in the measured window — CPU in user and in kernel mode, voluntary and
//! involuntary context switches — how many threads there were and how many were
//! runnable on average, what share of their time they ran, waited for a CPU or were
//! blocked, and, for the blocking style, how many threads held a connection and how
//! many worked on a request. A number that could not be measured is left empty and the
//! cell says why in `mechanism_missing`, never 0.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::sampler::ServerSummary;
use crate::results::CellRecord;

/// What the blocking style's `/pool` said about the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum PoolReading {
    /// The server has no pool to ask (async, hybrid, a target of the user's own).
    NotApplicable,
    /// It should have answered and did not (or no bucket fell in the window).
    Missing,
    /// Mean threads holding a connection, and working on a request.
    Measured { held: f64, working: f64 },
}

impl PoolReading {
    /// Asks a blocking server at `addr` how busy its threads were in the window that
    /// began at `origin` and lasted `window`; other servers have nothing to say.
    pub(super) fn fetch(
        blocking: bool,
        addr: SocketAddr,
        origin: Instant,
        window: Duration,
    ) -> Self {
        if !blocking {
            return PoolReading::NotApplicable;
        }
        let Some((200, body)) = super::process::get(addr, crate::server::occupancy::POOL_PATH)
        else {
            return PoolReading::Missing;
        };
        let received = Instant::now();
        let Ok(snapshot) = serde_json::from_str::<crate::server::occupancy::PoolSnapshot>(&body)
        else {
            return PoolReading::Missing;
        };
        // The server's clock at `origin`: its uptime when it answered, less the time
        // since the window began.
        let start = snapshot.uptime_s - received.saturating_duration_since(origin).as_secs_f64();
        match snapshot.window_mean(start, start + window.as_secs_f64()) {
            Some((held, working)) => PoolReading::Measured { held, working },
            None => PoolReading::Missing,
        }
    }
}

/// What the mechanism metrics are computed from.
pub(super) struct Inputs<'a> {
    /// The sampler's summary of the window.
    pub(super) server: &'a ServerSummary,
    /// Successful requests in the window.
    pub(super) requests_ok: u64,
    /// The window's length, s.
    pub(super) window_s: f64,
    /// Cores the server could run on.
    pub(super) cores: u64,
    /// The blocking style's occupancy.
    pub(super) pool: PoolReading,
    /// The server's CPU while idle before the load, ms a second: the suite's own
    /// helpers (lag probe, pool sampler, alarm clock).
    pub(super) idle_cpu_ms_per_s: Option<f64>,
}

/// Fills the mechanism columns of `record`.
pub(super) fn fill(record: &mut CellRecord, inputs: &Inputs<'_>) {
    let server = inputs.server;
    let mut missing = Vec::new();
    record.server_cores = Some(inputs.cores);
    let cpu = server.cpu_user_s.zip(server.cpu_sys_s);
    let sampled = server.rss_mean_mib.is_some();
    if sampled {
        record.threads_mean = Some(server.threads_mean);
    } else {
        missing.push("everything: the server was not sampled in the window");
    }
    let ok = inputs.requests_ok as f64;
    if let Some((user, sys)) = cpu.filter(|_| ok > 0.0) {
        record.cpu_user_us_per_ok = Some(user / ok * 1e6);
        record.cpu_sys_us_per_ok = Some(sys / ok * 1e6);
        record.cpu_tick_us_per_ok = Some(1e6 / crate::sys::procfs::clock_ticks_per_second() / ok);
        record.idle_cpu_ms_per_s = inputs.idle_cpu_ms_per_s;
        record.cpu_instrument_us_per_ok = super::idle_cost::per_request_us(
            inputs.idle_cpu_ms_per_s,
            inputs.window_s,
            inputs.requests_ok,
        );
        if inputs.idle_cpu_ms_per_s.is_none() {
            missing.push("the instrument's own CPU: the server's idle cost was not read (no schedstat), so CPU per request is gross");
        }
    } else if cpu.is_none() && sampled {
        missing.push("per request: one sample of the server in the window, so no CPU");
    } else if sampled {
        missing.push("per request: no request succeeded");
    }
    match server.scheduler {
        Some(delta) => {
            let ok_per_s = ok / inputs.window_s.max(1e-9);
            if ok_per_s > 0.0 {
                record.ctx_voluntary_per_ok = Some(delta.voluntary as f64 / delta.span_s / ok_per_s);
                record.ctx_involuntary_per_ok =
                    Some(delta.involuntary as f64 / delta.span_s / ok_per_s);
            }
            if let Some(run) = delta.run_s.filter(|_| ok_per_s > 0.0) {
                record.cpu_sched_us_per_ok = Some(run / delta.span_s / ok_per_s * 1e6);
            }
            match (delta.run_s, delta.wait_s) {
                (Some(run), Some(wait)) => {
                    record.runnable_mean = Some((run + wait) / delta.span_s);
                    let thread_time = server.threads_mean * delta.span_s;
                    if thread_time > 0.0 {
                        let running = (run / thread_time).min(1.0);
                        let waiting = (wait / thread_time).min(1.0 - running);
                        record.running_share = Some(running);
                        record.waiting_share = Some(waiting);
                        record.blocked_share = Some(1.0 - running - waiting);
                    }
                }
                _ => missing.push(
                    "run queue and time shares: this kernel has no per-thread schedstat (CONFIG_SCHED_INFO)",
                ),
            }
        }
        None if sampled => missing.push(
            "context switches and run queue: the server's threads were not read twice in the window",
        ),
        None => {}
    }
    match inputs.pool {
        PoolReading::Measured { held, working } => {
            record.pool_held_mean = Some(held);
            record.pool_working_mean = Some(working);
        }
        PoolReading::Missing => missing.push("pool occupancy: the server did not answer /pool"),
        PoolReading::NotApplicable => {}
    }
    record.mechanism_missing = missing.join("; ");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::sampler::SchedulerDelta;

    fn assert_close(value: Option<f64>, expected: f64) {
        let value = value.expect("measured");
        assert!((value - expected).abs() < 1e-9, "{value} vs {expected}");
    }

    fn summary(scheduler: Option<SchedulerDelta>) -> ServerSummary {
        ServerSummary {
            rss_mean_mib: Some(10.0),
            threads_max: Some(4),
            threads_mean: 4.0,
            cpu_user_s: Some(0.6),
            cpu_sys_s: Some(0.2),
            scheduler,
            ..ServerSummary::default()
        }
    }

    #[test]
    fn per_request_figures_and_time_shares_come_from_the_window() {
        let server = summary(Some(SchedulerDelta {
            span_s: 2.0,
            voluntary: 4000,
            involuntary: 200,
            run_s: Some(0.8),
            wait_s: Some(0.4),
        }));
        let mut record = CellRecord::default();
        let inputs = Inputs {
            server: &server,
            requests_ok: 2000,
            window_s: 2.0,
            cores: 1,
            pool: PoolReading::Measured {
                held: 8.0,
                working: 0.5,
            },
            idle_cpu_ms_per_s: Some(36.0),
        };
        fill(&mut record, &inputs);
        assert_close(record.cpu_user_us_per_ok, 300.0);
        // 36 ms a second of helpers over 2 s, among 2,000 successes: 36 µs of the 400.
        assert_close(record.cpu_instrument_us_per_ok, 36.0);
        assert_eq!(record.idle_cpu_ms_per_s, Some(36.0));
        assert_close(record.cpu_sys_us_per_ok, 100.0);
        assert_close(record.ctx_voluntary_per_ok, 2.0);
        assert_close(record.ctx_involuntary_per_ok, 0.1);
        assert_close(record.runnable_mean, 0.6);
        // 4 threads × 2 s = 8 thread-seconds: 0.8 running, 0.4 waiting, the rest blocked.
        assert_close(record.running_share, 0.1);
        assert_close(record.waiting_share, 0.05);
        assert_close(record.blocked_share, 0.85);
        assert_eq!(record.pool_held_mean, Some(8.0));
        assert_eq!(record.mechanism_missing, "");
    }

    #[test]
    fn what_could_not_be_measured_is_said_not_zeroed() {
        let server = summary(Some(SchedulerDelta {
            span_s: 2.0,
            voluntary: 10,
            involuntary: 1,
            run_s: None,
            wait_s: None,
        }));
        let mut record = CellRecord::default();
        let inputs = Inputs {
            server: &server,
            requests_ok: 0,
            window_s: 2.0,
            cores: 2,
            pool: PoolReading::Missing,
            idle_cpu_ms_per_s: Some(8.0),
        };
        fill(&mut record, &inputs);
        assert_eq!(record.cpu_user_us_per_ok, None);
        assert_eq!(record.ctx_voluntary_per_ok, None);
        assert_eq!(record.runnable_mean, None);
        assert_eq!(
            record.mechanism_missing,
            "per request: no request succeeded; run queue and time shares: this kernel has no per-thread schedstat (CONFIG_SCHED_INFO); pool occupancy: the server did not answer /pool"
        );
        let mut unread = CellRecord::default();
        let unsampled = ServerSummary::default();
        fill(
            &mut unread,
            &Inputs {
                server: &unsampled,
                requests_ok: 10,
                window_s: 2.0,
                cores: 2,
                pool: PoolReading::NotApplicable,
                idle_cpu_ms_per_s: None,
            },
        );
        assert_eq!(unread.threads_mean, None);
        assert_eq!(
            unread.mechanism_missing,
            "everything: the server was not sampled in the window"
        );
    }
}
