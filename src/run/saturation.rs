//! The saturation search: the highest open-loop rate at which a style still meets
//! its objective (p95 and error share), by doubling then bisection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::cell::run_load;
use super::sampler;
use super::scenario::Saturate;
use crate::load::{LoadConfig, LoadReport, Schedule};
use crate::results::{RunDir, ServerSample};

/// Whether a probe met the SLO: valid, successes' p95 within it, and errors plus
/// unfinished requests within the allowed share. A probe with no success never meets it.
pub(super) fn meets(report: &LoadReport, search: &Saturate) -> bool {
    let slo_ms = search.p95_slo.as_secs_f64() * 1000.0;
    report.valid
        && report
            .latency_ms
            .ok
            .corrected
            .is_some_and(|p| p.p95 <= slo_ms)
        && report
            .error_share
            .is_some_and(|share| share <= search.max_error_rate)
}

/// How often the server is sampled.
pub(super) const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// What the saturation search found.
pub(super) struct Capacity {
    /// The best passing probe (or, when none passed, the first, failing one).
    pub(super) report: LoadReport,
    /// The highest rate that met the SLO; None when even the start rate missed it.
    pub(super) rate: Option<f64>,
    /// The server's samples during the chosen probe only.
    pub(super) samples: Vec<ServerSample>,
    /// Why no capacity was found, when the start rate already missed the SLO.
    pub(super) start_failed: Option<String>,
}

/// Doubling, then bisection, to the highest rate that meets the SLO. Each probe is
/// sampled on its own, so the cell's CPU and memory are those of the chosen probe.
/// When the start rate already misses the SLO there is no capacity to report: the
/// cell says so and is not valid, rather than calling the failing rate a capacity.
pub(super) fn saturate(
    base: &LoadConfig,
    search: &Saturate,
    pid: u32,
    dir: &RunDir,
    id: &str,
    interrupted: &AtomicBool,
) -> anyhow::Result<Capacity> {
    let probe = |rate: f64, first: bool| -> anyhow::Result<(LoadReport, Vec<ServerSample>)> {
        let warmup = if first {
            base.warmup
        } else {
            Duration::from_millis(200)
        };
        let config = LoadConfig {
            schedule: Schedule::Constant { rate },
            duration: Some(search.probe_duration),
            warmup,
            ..base.clone()
        };
        let sampler = sampler::Sampler::start(pid, Instant::now() + warmup, SAMPLE_EVERY);
        let report = run_load(
            &config,
            dir.hist_dir().join(format!("{id}.probe-{rate:.0}.hlog")),
        )?;
        Ok((report, sampler.finish()))
    };
    let mut rate = search.start_rps;
    let (first, first_samples) = probe(rate, true)?;
    if !meets(&first, search) {
        let why = format!(
            "no capacity found: the search's start rate {rate:.0} req/s already missed the objective (ok p95 {} ms, failed or unfinished {}): lower start_rps",
            crate::display::or_dash(first.latency_ms.ok.corrected.map(|p| p.p95), 1),
            crate::display::percent(first.error_share)
        );
        return Ok(Capacity {
            report: finish_probe(dir, id, first, rate)?,
            rate: None,
            samples: first_samples,
            start_failed: Some(why),
        });
    }
    let (mut good, mut good_rate, mut good_samples) = (first, rate, first_samples);
    let mut bad_rate = None;
    while bad_rate.is_none() && rate * 2.0 <= search.max_rps && !interrupted.load(Ordering::SeqCst)
    {
        rate *= 2.0;
        let (report, samples) = probe(rate, false)?;
        if meets(&report, search) {
            (good, good_rate, good_samples) = (report, rate, samples);
        } else {
            bad_rate = Some(rate);
        }
    }
    if let Some(mut bad) = bad_rate {
        for _ in 0..search.bisections {
            if interrupted.load(Ordering::SeqCst) {
                break;
            }
            let mid = (good_rate + bad) / 2.0;
            let (report, samples) = probe(mid, false)?;
            if meets(&report, search) {
                (good, good_rate, good_samples) = (report, mid, samples);
            } else {
                bad = mid;
            }
        }
    }
    Ok(Capacity {
        report: finish_probe(dir, id, good, good_rate)?,
        rate: Some(good_rate),
        samples: good_samples,
        start_failed: None,
    })
}

/// Keeps the chosen probe's histogram log as the cell's.
fn finish_probe(
    dir: &RunDir,
    id: &str,
    report: LoadReport,
    rate: f64,
) -> anyhow::Result<LoadReport> {
    let chosen = dir.hist_dir().join(format!("{id}.probe-{rate:.0}.hlog"));
    std::fs::copy(&chosen, dir.hlog_path(id))
        .with_context(|| format!("cannot copy {}", chosen.display()))?;
    Ok(report)
}
