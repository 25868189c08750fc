//! The generator's own ceiling, measured before a run whose claims gate anything: a
//! short closed loop on `/null` (the most the generator can send from its cores, at
//! the gates' largest connection count), then each gate's heaviest load offered open
//! loop to a cheap async server that waits as the gate's workload does (so as many
//! requests are in flight as in the real cells). Both go in the manifest
//! (`generator_ceiling`). A gate whose load is over half the closed-loop ceiling, or
//! that the generator could not offer on time, is refused before the run, with the
//! numbers: its verdict would describe the generator, not the styles, and it would
//! fail on a machine whose generator core is slower (issue 24).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::bench_cap::floor_latency;
use super::process::{Child, Tether};
use crate::load::{LoadConfig, LoadReport, Schedule};
use crate::results::ceiling::{GateLoad, GateLoadCheck, GeneratorCeiling, MAX_SHARE};
use crate::scenario::plan::{self, Level};
use crate::scenario::Scenario;

/// Each check's measured window, and its warm-up.
const WINDOW: Duration = Duration::from_secs(1);
const WARMUP: Duration = Duration::from_millis(500);
/// The fewest connections the closed-loop check uses.
const MIN_CLOSED_CONNECTIONS: u32 = 64;

/// Each gated claim's heaviest load (claims on the batch pipeline, or on closed-loop
/// cells only, put no open-loop load on the generator and are left out).
pub fn gate_loads(scenario: &Scenario) -> Vec<GateLoad> {
    let mut loads = Vec::new();
    for pair in scenario.pairs.iter().filter(|p| p.gate) {
        let mut names = vec![pair.workload.as_str()];
        names.extend(pair.right_workload.as_deref());
        let mut heaviest: Option<GateLoad> = None;
        for workload in scenario
            .workloads
            .iter()
            .filter(|w| names.contains(&w.name().as_str()))
        {
            let wait = floor_latency(workload, &scenario.upstream).unwrap_or_default();
            for level in plan::levels(scenario, workload) {
                let (rate, connections) = match level {
                    Level::Open { rate, connections } => (rate, connections),
                    Level::Saturate {
                        search,
                        connections,
                    } => (search.max_rps, connections),
                    Level::Held {
                        rate, connections, ..
                    } => (rate, connections),
                    Level::Staged {
                        ref stages,
                        connections,
                    } => (
                        stages.as_slice().iter().map(|s| s.rate).fold(0.0, f64::max),
                        connections,
                    ),
                    Level::Closed(_) | Level::Slowloris { .. } => continue,
                };
                if heaviest.as_ref().is_none_or(|h| rate > h.rate) {
                    heaviest = Some(GateLoad {
                        claim: pair.claim.clone(),
                        workload: workload.name(),
                        rate,
                        connections,
                        wait_ms: wait.as_secs_f64() * 1000.0,
                    });
                }
            }
        }
        loads.extend(heaviest);
    }
    loads
}

/// The lowest rate a gate's load is checked at: a window of 1 s at 2.5 req/s holds two
/// or three requests, and the rate it "achieved" says nothing of the generator. A
/// generator that offers this rate on time on the gate's connections offers less too.
const MIN_CHECKED_RPS: f64 = 200.0;

/// The rate and connections a gate's load is checked at: its own, or, when its rate is
/// under [`MIN_CHECKED_RPS`], that rate on enough connections to hold it (twice the
/// requests in flight at the workload's wait): 16 connections that each wait 200 ms
/// carry 80 req/s, and a check at 200 req/s on them would measure the connections.
fn checked_load(load: &GateLoad) -> (f64, u32) {
    if load.rate >= MIN_CHECKED_RPS {
        return (load.rate, load.connections);
    }
    let in_flight = MIN_CHECKED_RPS * load.wait_ms / 1000.0;
    let needed = (2.0 * in_flight).ceil() as u32;
    (MIN_CHECKED_RPS, load.connections.max(needed))
}

/// How many times a gate's load is checked before the generator is held unable to
/// offer it.
const CHECK_TRIES: u32 = 3;

/// Where and how the checks run.
pub struct CeilingOptions<'a> {
    /// The `sabench` executable (the cheap server is started from it).
    pub sabench: &'a Path,
    /// The run's folder (the server's log goes in its `samples/`).
    pub run_dir: &'a Path,
    /// Where the logs go.
    pub samples_dir: &'a Path,
    /// Set by Ctrl-C.
    pub interrupted: Arc<AtomicBool>,
}

/// Measures the ceiling for `loads` (None when there is no gate to measure it for, or
/// the run was interrupted).
pub fn measure(
    scenario: &Scenario,
    loads: Vec<GateLoad>,
    options: &CeilingOptions<'_>,
) -> anyhow::Result<Option<GeneratorCeiling>> {
    if loads.is_empty() {
        return Ok(None);
    }
    let closed_connections = loads
        .iter()
        .map(|l| l.connections)
        .max()
        .unwrap_or(0)
        .max(MIN_CLOSED_CONNECTIONS);
    let base = LoadConfig {
        threads: scenario.load.threads as usize,
        warmup: WARMUP,
        timeout: scenario.load.timeout,
        cpus: scenario.pinning.generator.clone(),
        stop: Some(options.interrupted.clone()),
        ..LoadConfig::closed("", closed_connections as usize, WINDOW)
    };
    let server = start_server(scenario, Duration::ZERO, options, "ceiling-null")?;
    let closed = crate::load::run(&LoadConfig {
        url: format!("http://{}/null", server.addr()),
        ..base.clone()
    })?;
    server.stop();
    let mut gates = Vec::new();
    for load in loads {
        if options.interrupted.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let wait = Duration::from_secs_f64(load.wait_ms / 1000.0);
        let route = if wait.is_zero() { "null" } else { "io" };
        let (rate, connections) = checked_load(&load);
        // A one-second check can meet a passing neighbour (another process busy on the
        // generator's core for a moment): only a load the generator fails to offer on
        // time CHECK_TRIES times in a row refuses the run.
        let mut check = None;
        for attempt in 1..=CHECK_TRIES {
            let name = format!("ceiling-{}", load.claim);
            let server = start_server(scenario, wait, options, &name)?;
            let report = crate::load::run(&LoadConfig {
                url: format!("http://{}/{route}", server.addr()),
                schedule: Schedule::Constant { rate },
                connections: connections as usize,
                ..base.clone()
            })?;
            server.stop();
            let this = GateLoadCheck {
                tries: attempt,
                ..check_of(load.clone(), &report, closed.achieved_rps)
            };
            let on_time = this.on_time;
            check = Some(this);
            if on_time || options.interrupted.load(Ordering::SeqCst) {
                break;
            }
        }
        gates.extend(check);
    }
    Ok(Some(GeneratorCeiling {
        closed_rps: closed.achieved_rps,
        closed_connections,
        closed_busy: closed.generator_busy,
        gates,
        max_share: MAX_SHARE,
    }))
}

/// What one gate's open-loop check came to.
fn check_of(load: GateLoad, report: &LoadReport, closed_rps: f64) -> GateLoadCheck {
    let on_time = report.valid && !report.generator_limited;
    let (checked_rps, checked_connections) = checked_load(&load);
    GateLoadCheck {
        share_of_ceiling: if closed_rps > 0.0 {
            load.rate / closed_rps
        } else {
            f64::INFINITY
        },
        checked_rps,
        checked_connections,
        tries: 1,
        achieved_rps: report.achieved_rps,
        lag_p99_ms: report.generator_lag_ms.as_ref().map(|p| p.p99),
        on_time,
        why_not: if on_time {
            String::new()
        } else {
            report.invalid_reasons.join("; ")
        },
        load,
    }
}

/// A one-worker async server on the server's cores, waiting `wait` on `/io`, without
/// the lag probe (nothing of the instrument but the generator is measured here).
fn start_server(
    scenario: &Scenario,
    wait: Duration,
    options: &CeilingOptions<'_>,
    name: &str,
) -> anyhow::Result<Child> {
    let args: Vec<String> = [
        "serve",
        "--style",
        "async",
        "--workers",
        "1",
        "--port",
        "0",
        "--no-lag-probe",
        "--io-mode",
        "sleep",
        "--io-latency",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([crate::flags::duration(wait)])
    .collect();
    let mut server = Child::spawn(
        options.sabench,
        name,
        &args,
        &scenario.pinning.server,
        options.run_dir,
        options.samples_dir.join(format!("{name}.log")),
        Tether::DeathSignal,
    )?;
    server.wait_healthy(Duration::from_secs(10))?;
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ci_claims() -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ci-claims.toml");
        crate::scenario::load(&path).unwrap()
    }

    #[test]
    fn each_gate_names_its_heaviest_open_loop_load() {
        let loads = gate_loads(&ci_claims());
        let c1 = loads.iter().find(|l| l.claim == "C1").unwrap();
        assert_eq!((c1.rate, c1.connections, c1.wait_ms), (3200.0, 512, 100.0));
        let c4 = loads.iter().find(|l| l.claim == "C4").unwrap();
        assert_eq!((c4.rate, c4.connections, c4.wait_ms), (2.5, 16, 200.0));
        let c5 = loads.iter().find(|l| l.claim == "C5").unwrap();
        assert_eq!(c5.wait_ms, 0.0, "CPU work sets no wait of the bench's");
        assert!(
            loads.iter().all(|l| l.claim != "C3"),
            "the pipeline puts no load on the generator"
        );
    }

    #[test]
    fn a_low_rate_is_checked_at_200_on_enough_connections_to_hold_it() {
        let loads = gate_loads(&ci_claims());
        let c4 = loads.iter().find(|l| l.claim == "C4").unwrap();
        // 200 req/s × 200 ms = 40 in flight: 16 connections would cap it at 80 req/s.
        assert_eq!(checked_load(c4), (200.0, 80));
        let c5 = loads.iter().find(|l| l.claim == "C5").unwrap();
        assert_eq!(
            checked_load(c5),
            (200.0, 16),
            "no wait: its own connections"
        );
        let c1 = loads.iter().find(|l| l.claim == "C1").unwrap();
        assert_eq!(checked_load(c1), (3200.0, 512), "a high rate is its own");
    }
}
