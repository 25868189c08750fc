//! The saturation search: the highest open-loop rate at which a style still meets
//! its objective (p95 and error share), by doubling then bisection. Every probe after
//! the first runs on a fresh server, so no probe inherits an earlier one's queue, heap
//! or peak RSS (VmHWM only grows), and each is sampled on its own. A target of the
//! user's own with `restart_between_probes = false` (one that takes long to start)
//! keeps its server, which must first fall idle: its memory then includes what the
//! earlier probes left.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::bench_cap::RateCap;
use super::process::Child;
use super::sampler;
use super::self_report::{Reporter, SelfReport};
use crate::load::{LoadConfig, LoadReport, Schedule};
use crate::results::{RunDir, ServerSample};
use crate::scenario::Saturate;

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

/// One probe of the search, as written to `samples/<cell>.probes.csv`: the trail that
/// shows why the search stopped where it did.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct ProbeRow {
    /// The offered rate, req/s.
    pub(super) rate: f64,
    /// Successful replies per second.
    pub(super) achieved_rps: f64,
    /// Successes' corrected p95, ms (empty: no success).
    pub(super) ok_p95_ms: Option<f64>,
    /// Failed or unfinished share.
    pub(super) error_share: Option<f64>,
    /// Whether it met the objective.
    pub(super) met: bool,
    /// Why the load report is not valid, if it is not.
    pub(super) invalid_reason: String,
}

impl ProbeRow {
    fn of(rate: f64, report: &LoadReport, met: bool) -> Self {
        Self {
            rate,
            achieved_rps: report.achieved_rps,
            ok_p95_ms: report.latency_ms.ok.corrected.map(|p| p.p95),
            error_share: report.error_share,
            met,
            invalid_reason: report.invalid_reasons.join("; "),
        }
    }
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
    /// What the server said about itself during the chosen probe.
    pub(super) told: SelfReport,
    /// Why no capacity was found, when the start rate already missed the SLO.
    pub(super) start_failed: Option<String>,
    /// Where the search itself stopped the rate: its highest probe when none failed
    /// (the capacity is then only "at least"), or a rate the generator could not offer.
    pub(super) ceiling: Option<RateCap>,
}

/// Where the probes are sent, and how a fresh server for the next one is started.
pub(super) struct ProbeTarget<'a> {
    /// The server of the current probe (the cell's own for the first).
    pub(super) server: &'a mut Child,
    /// The route loaded, e.g. `/io`.
    pub(super) path: &'a str,
    /// Whether the server is a process tree (a target of the user's own), sampled whole.
    pub(super) tree: bool,
    /// What the server can say about itself.
    pub(super) reporter: Reporter,
    /// Keep the server from probe to probe, once it is idle (a target's
    /// `restart_between_probes = false`).
    pub(super) keep_server: bool,
    /// Starts a fresh server, its log named after the probe.
    pub(super) restart: &'a mut dyn FnMut(&str) -> anyhow::Result<Child>,
}

/// The longest wait for a kept server to fall idle before it is restarted after all.
const IDLE_BOUND: Duration = Duration::from_secs(30);

impl ProbeTarget<'_> {
    /// Readies the server for the next probe (a crash during the last probe is an
    /// error: the cell fails with how it ended): a fresh one, or the same once idle.
    fn next(&mut self, probe: &str) -> anyhow::Result<()> {
        if let Some(crash) = self.server.crash() {
            return Err(crash.into());
        }
        if self.keep_server && super::target::wait_quiet(self.server, IDLE_BOUND) {
            return Ok(());
        }
        self.server.stop_now();
        *self.server = (self.restart)(probe)?;
        Ok(())
    }
}

/// Doubling, then bisection, to the highest rate that meets the SLO. Each probe is
/// sampled on its own, so the cell's CPU and memory are those of the chosen probe.
/// When the start rate already misses the SLO there is no capacity to report: the
/// cell says so and is not valid, rather than calling the failing rate a capacity.
pub(super) fn saturate(
    base: &LoadConfig,
    search: &Saturate,
    target: &mut ProbeTarget<'_>,
    dir: &RunDir,
    id: &str,
    interrupted: &AtomicBool,
) -> anyhow::Result<Capacity> {
    let mut probes = Vec::new();
    let mut probe_once = |rate: f64, first: bool| -> anyhow::Result<Probed> {
        if !first {
            target.next(&format!("probe-{rate:.0}"))?;
        }
        let config = LoadConfig {
            url: format!("http://{}{}", target.server.addr(), target.path),
            schedule: Schedule::Constant { rate },
            duration: Some(search.probe_duration),
            ..base.clone()
        };
        let pid = target.server.pid();
        let origin = Instant::now() + base.warmup;
        let sampler = sampler::Sampler::server(
            pid,
            target.tree,
            origin,
            search.probe_duration,
            SAMPLE_EVERY,
            &base.cpus,
        );
        let addr = target.server.addr();
        target
            .reporter
            .name_window(addr, origin, search.probe_duration);
        let report = crate::load::run(&LoadConfig {
            hlog: Some(dir.hist_dir().join(format!("{id}.probe-{rate:.0}.hlog"))),
            ..config
        })?;
        let met = meets(&report, search);
        probes.push(ProbeRow::of(rate, &report, met));
        RunDir::write_csv(&dir.samples_dir().join(format!("{id}.probes.csv")), &probes)?;
        let window = Duration::from_secs_f64(report.duration_s);
        Ok(Probed {
            rate,
            met,
            samples: sampler.finish(),
            told: target.reporter.read(addr, origin, window),
            report,
        })
    };
    // A probe the generator failed (it could not send on time) says nothing about the
    // server: it is run once more, on a fresh server, before it counts.
    let mut probe = |rate: f64, first: bool| -> anyhow::Result<Probed> {
        let probed = probe_once(rate, first)?;
        if probed.met || !probed.report.generator_limited {
            return Ok(probed);
        }
        probe_once(rate, false)
    };
    let mut first = probe(search.start_rps, true)?;
    if !first.met && !interrupted.load(Ordering::SeqCst) {
        // The start rate is meant to sit far under the capacity, so one miss there is
        // as likely a hiccup of the machine (a 0.8 s stall of the first probe on a
        // fresh server, once in 25 searches here) as a start set too high: it is run
        // once more, on a fresh server, and the search gives up only if it misses again.
        first = probe(search.start_rps, false)?;
    }
    if !first.met {
        let why = format!(
            "no capacity found: the search's start rate {:.0} req/s missed the objective twice, on two fresh servers (the second: ok p95 {} ms, failed or unfinished {}): lower start_rps",
            first.rate,
            crate::display::or_dash(first.report.latency_ms.ok.corrected.map(|p| p.p95), 1),
            crate::display::percent(first.report.error_share)
        );
        return Ok(Capacity {
            report: finish_probe(dir, id, first.report, first.rate)?,
            rate: None,
            samples: first.samples,
            told: first.told,
            start_failed: Some(why),
            ceiling: None,
        });
    }
    let mut edge = Edge {
        good: first,
        ceiling: None,
    };
    let mut bad_rate = None;
    let mut rate = edge.good.rate;
    while bad_rate.is_none() && rate * 2.0 <= search.max_rps && !interrupted.load(Ordering::SeqCst)
    {
        rate *= 2.0;
        if !edge.take(probe(rate, false)?) {
            bad_rate = Some(rate);
        }
    }
    match bad_rate {
        None => {
            edge.ceiling = Some(RateCap {
                rps: edge.good.rate,
                by: format!(
                    "the search's highest probe ({:.0} req/s) never failed",
                    edge.good.rate
                ),
            })
        }
        Some(mut bad) => {
            for _ in 0..search.bisections {
                if interrupted.load(Ordering::SeqCst) {
                    break;
                }
                let mid = (edge.good.rate + bad) / 2.0;
                if !edge.take(probe(mid, false)?) {
                    bad = mid;
                }
            }
        }
    }
    let Edge { good, ceiling } = edge;
    Ok(Capacity {
        rate: Some(good.rate),
        report: finish_probe(dir, id, good.report, good.rate)?,
        samples: good.samples,
        told: good.told,
        start_failed: None,
        ceiling,
    })
}

/// What the search knows so far: its best passing probe, and any ceiling the bench set.
struct Edge {
    good: Probed,
    ceiling: Option<RateCap>,
}

impl Edge {
    /// Takes a probe's outcome; returns whether it met the objective. A failing probe
    /// the generator limited ends the search at the generator's edge, not the style's:
    /// that rate is a ceiling of the bench.
    fn take(&mut self, probed: Probed) -> bool {
        if probed.met {
            self.good = probed;
            return true;
        }
        if probed.report.generator_limited {
            let by = format!("the generator could not offer {:.0} req/s", probed.rate);
            let cap = RateCap {
                rps: probed.rate,
                by,
            };
            self.ceiling = RateCap::min(self.ceiling.take(), Some(cap));
        }
        false
    }
}

/// One probe's outcome.
struct Probed {
    rate: f64,
    met: bool,
    report: LoadReport,
    samples: Vec<ServerSample>,
    told: SelfReport,
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
