//! The command lines of a run's children, built from the cell's plan and the
//! scenario, and starting the mock upstream.

use std::time::Duration;

use super::process::{Child, Tether};
use super::RunOptions;
use crate::flags::flag_value;
use crate::results::RunDir;
use crate::scenario::plan::CellPlan;
use crate::scenario::{self, Scenario};

pub(super) fn start_upstream(
    scenario: &Scenario,
    spec: &scenario::UpstreamSpec,
    dir: &RunDir,
    options: &RunOptions,
    name: &str,
) -> anyhow::Result<Child> {
    let mut args: Vec<String> = vec![
        "upstream".into(),
        "--port".into(),
        "0".into(),
        "--latency".into(),
        crate::flags::duration(spec.latency),
        "--jitter".into(),
        crate::flags::duration(spec.jitter),
        "--distribution".into(),
        flag_value(&spec.distribution),
        "--error-rate".into(),
        spec.error_rate.to_string(),
        "--workers".into(),
        spec.workers.to_string(),
    ];
    for fault in &spec.faults {
        args.extend(["--fault".into(), fault.clone()]);
    }
    if let Some(limit) = spec.max_inflight {
        args.extend(["--max-inflight".into(), limit.to_string()]);
    }
    args.extend(scenario.limits.args());
    let log = dir.samples_dir().join(format!("{name}.log"));
    let mut child = Child::spawn(
        &options.sabench,
        "upstream",
        &args,
        &scenario.pinning.upstream,
        dir.root(),
        log,
        Tether::DeathSignal,
    )?;
    child.wait_healthy(Duration::from_secs(10))?;
    Ok(child)
}

/// The `sabench serve` arguments for a cell, within `limits`.
pub fn serve_args(
    cell: &CellPlan,
    limits: &crate::net::Limits,
    upstream: Option<String>,
    database: Option<&str>,
) -> Vec<String> {
    let workload = &cell.workload;
    let mut args: Vec<String> = vec!["serve".into(), "--port".into(), cell.port.to_string()];
    if let Some(style) = cell.server.style() {
        args.extend(style.args());
    }
    args.extend([
        "--cpu-rounds".into(),
        workload.cpu_rounds.to_string(),
        "--io-calls".into(),
        workload.io_calls.to_string(),
        "--io-latency".into(),
        crate::flags::duration(workload.io_latency),
        "--io-mode".into(),
        flag_value(&workload.io_mode),
        "--fanout-calls".into(),
        workload.fanout_calls.to_string(),
        "--fanout-policy".into(),
        flag_value(&workload.fanout_policy),
        "--upstream-timeout".into(),
        crate::flags::duration(workload.upstream_timeout),
    ]);
    if let Some(limit) = workload.fanout_limit {
        args.extend(["--fanout-limit".into(), limit.to_string()]);
    }
    if let Some(url) = upstream {
        args.extend(["--upstream".into(), url]);
    }
    if let Some(url) = database {
        args.extend([
            "--database-url".into(),
            url.to_string(),
            "--db-lookups".into(),
            workload.db_lookups.to_string(),
            "--db-hold".into(),
            crate::flags::duration(workload.db_hold),
            "--db-fanout".into(),
            workload.db_fanout.to_string(),
            "--db-timeout".into(),
            crate::flags::duration(workload.db_timeout),
        ]);
    }
    args.extend(limits.args());
    args
}
