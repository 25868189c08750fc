//! The bench's own cap on a cell's rate, so a verdict can tell a style's limit from
//! the test bench's: by Little's law a cell's connections ÷ the shortest latency the
//! workload can have bound the rate whatever the style does; an open-loop cell never
//! exceeds what it offers; a saturation search never exceeds its highest probe.

use std::time::Duration;

use crate::scenario::plan::{CellPlan, Level};
use crate::scenario::{Scenario, UpstreamSpec, WorkloadRoute, WorkloadSpec};
use crate::upstream::Distribution;
use crate::workload::IoMode;

/// A bound on a cell's rate and what sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct RateCap {
    /// The bound, req/s.
    pub rps: f64,
    /// What sets it, e.g. `256 connections ÷ 20ms (Little's law)`.
    pub by: String,
}

impl RateCap {
    /// The lower of two caps (either may be absent).
    pub fn min(a: Option<RateCap>, b: Option<RateCap>) -> Option<RateCap> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if b.rps < a.rps { b } else { a }),
            (a, b) => a.or(b),
        }
    }
}

/// The shortest a call to `upstream` can take, or None when it has no floor (an
/// exponential distribution reaches 0).
fn upstream_floor(upstream: &UpstreamSpec) -> Option<Duration> {
    match upstream.distribution {
        Distribution::Fixed => Some(upstream.latency),
        Distribution::Uniform => Some(upstream.latency.saturating_sub(upstream.jitter)),
        Distribution::Exponential => None,
    }
    .filter(|floor| !floor.is_zero())
}

/// The shortest time one request of `workload` can take because of the waits the bench
/// puts in it (its own sleeps or its upstream's latency); None when nothing in the bench
/// sets one (CPU work is the style's, not the bench's).
pub fn floor_latency(
    workload: &WorkloadSpec,
    scenario_upstream: &UpstreamSpec,
) -> Option<Duration> {
    let upstream = workload.upstream.as_ref().unwrap_or(scenario_upstream);
    let wait = match workload.io_mode {
        IoMode::Sleep => Some(workload.io_latency).filter(|l| !l.is_zero()),
        IoMode::Upstream => upstream_floor(upstream),
    };
    match workload.route {
        WorkloadRoute::Io | WorkloadRoute::Mixed => wait.map(|w| w * workload.io_calls),
        WorkloadRoute::Fanout => {
            let calls = workload.fanout_calls;
            let rounds = calls.div_ceil(workload.fanout_limit.unwrap_or(calls).max(1));
            upstream_floor(upstream).map(|w| w * rounds)
        }
        // pg_sleep holds each query at least this long.
        WorkloadRoute::DbSlow => Some(workload.db_hold).filter(|l| !l.is_zero()),
        WorkloadRoute::Null | WorkloadRoute::Cpu | WorkloadRoute::Db | WorkloadRoute::DbFanout => {
            None
        }
    }
}

/// What the cell's own plan caps its rate at: Little's law over its connections, and
/// for an open-loop cell the rate it offers. (A saturation search adds its own bound
/// when it ends: its highest probe, or a rate the generator could not offer.)
pub fn planned_cap(scenario: &Scenario, cell: &CellPlan) -> Option<RateCap> {
    let connections = cell.level.connections();
    let little = floor_latency(&cell.workload, &scenario.upstream).map(|floor| RateCap {
        rps: f64::from(connections) / floor.as_secs_f64(),
        by: format!(
            "{connections} connections ÷ {} (Little's law)",
            humantime::format_duration(floor)
        ),
    });
    let offered = cell.level.offered_rate().map(|rate| RateCap {
        rps: rate,
        by: format!("the offered {rate:.0} req/s"),
    });
    RateCap::min(little, offered)
}

/// Little's law with the latency the cell measured: an open-loop or saturation cell's
/// connections ÷ its successes' mean service time (send to reply) bound its rate, so
/// a nominal wait that the server stretched (64 threads at 21.4 ms, not 20) cannot
/// hide a cell at its cap. Closed-loop cells run at this bound by definition (their
/// connections are the level, not a cap), so they have none here.
pub fn measured_cap(cell: &CellPlan, report: &crate::load::LoadReport) -> Option<RateCap> {
    if !matches!(cell.level, Level::Open { .. } | Level::Saturate { .. }) {
        return None;
    }
    let service = report.latency_ms.ok.service?;
    if service.mean <= 0.0 {
        return None;
    }
    let connections = report.connections as f64;
    Some(RateCap {
        rps: connections * 1000.0 / service.mean,
        by: format!(
            "{} connections ÷ {:.1} ms measured (Little's law)",
            report.connections, service.mean
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{self, plan};

    fn caps(text: &str) -> Vec<Option<RateCap>> {
        let scenario = scenario::parse(text, "cap.toml").unwrap();
        plan::cells(&scenario)
            .iter()
            .map(|cell| planned_cap(&scenario, cell))
            .collect()
    }

    #[test]
    fn connections_over_the_shortest_wait_cap_the_rate() {
        let text = "name = \"c\"\n[[styles]]\nstyle = \"async\"\n[[workloads]]\nroute = \"io\"\nio_latency = \"20ms\"\nconnections = [256]\n";
        let cap = caps(text)[0].clone().unwrap();
        assert!((cap.rps - 12_800.0).abs() < 1e-6, "{cap:?}");
        assert!(cap.by.contains("256 connections ÷ 20ms"), "{}", cap.by);
    }

    #[test]
    fn an_open_loop_cell_is_capped_by_what_it_offers_and_cpu_work_by_nothing() {
        let text = "name = \"c\"\n[[styles]]\nstyle = \"async\"\n[[workloads]]\nroute = \"io\"\nio_latency = \"10ms\"\nrates = [3000.0]\n[[workloads]]\nroute = \"cpu\"\nconnections = [8]\n";
        let caps = caps(text);
        assert_eq!(caps[0].as_ref().unwrap().rps, 3000.0);
        assert_eq!(caps[1], None, "CPU work sets no bench floor");
    }

    #[test]
    fn a_fanout_waits_one_round_per_limit_and_an_exponential_upstream_has_no_floor() {
        let text = "name = \"c\"\n[[styles]]\nstyle = \"async\"\n[[workloads]]\nname = \"limited\"\nroute = \"fanout\"\nfanout_calls = 200\nfanout_limit = 10\nconnections = [8]\n[[workloads]]\nname = \"exp\"\nroute = \"io\"\nio_mode = \"upstream\"\nconnections = [8]\nupstream = { latency = \"20ms\", distribution = \"exponential\" }\n";
        let caps = caps(text);
        // 20 rounds of 20 ms: 8 connections ÷ 400 ms.
        assert!((caps[0].as_ref().unwrap().rps - 20.0).abs() < 1e-9);
        assert_eq!(caps[1], None);
    }
}
