//! `sabench run`: turns a scenario into cells, runs each against a fresh server
//! process (with the upstream as its own process), samples the server, drives the load
//! in-process, and writes every finished cell to `results/<run-id>/` at once. Ctrl-C
//! stops the current cell, keeps the finished ones, stops every child and writes the
//! report of what is done.

pub mod plan;
pub mod process;
pub mod progress;
pub mod sampler;
pub mod scenario;
pub mod slowloris;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::load::{self, LoadConfig, LoadReport, Schedule};
use crate::results::manifest::{now_rfc3339, MachineFacts};
use crate::results::{CellRecord, Manifest, RunDir, ServerSample};
use crate::server::Style;
use plan::{CellPlan, Level};
use process::Child;
use progress::Progress;
use scenario::{Saturate, Scenario};

/// How to run.
pub struct RunOptions {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Results go in a new folder under here.
    pub out: PathBuf,
    /// The `sabench` executable (servers are started from it).
    pub sabench: PathBuf,
    /// Set by SIGINT/SIGTERM: stop after the current cell, discarding it.
    pub interrupted: Arc<AtomicBool>,
}

/// How a run ended.
pub struct RunOutcome {
    /// Where its results are.
    pub dir: RunDir,
    /// Cells written.
    pub cells_done: usize,
    /// Cells planned.
    pub cells_planned: usize,
    /// Cells written that failed (their server crashed, or they measured nothing).
    pub cells_failed: usize,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
}

/// Runs a scenario to the end (or to an interruption), then writes its report.
pub fn run(options: &RunOptions) -> anyhow::Result<RunOutcome> {
    let scenario = scenario::load(&options.scenario)?;
    let cells = plan::cells(&scenario);
    let dir = RunDir::create_new(&options.out, &plan::slug(&scenario.name))?;
    let facts = MachineFacts::read();
    let mut manifest = Manifest {
        run_id: dir.id(),
        scenario_name: scenario.name.clone(),
        scenario_file: options.scenario.display().to_string(),
        scenario: serde_json::to_value(&scenario)?,
        git_revision: facts.git_revision,
        rustc: facts.rustc,
        cpu_model: facts.cpu_model,
        cores: facts.cores,
        kernel: facts.kernel,
        started: now_rfc3339(),
        finished: None,
        status: "running".into(),
        cells_planned: cells.len(),
        cells_done: 0,
        cells_failed: 0,
    };
    dir.write_manifest(&manifest)?;
    eprintln!(
        "run {}: {} cells of {:?} + {:?} warm-up each → {}",
        dir.id(),
        cells.len(),
        scenario.duration,
        scenario.warmup,
        dir.root().display()
    );
    let mut result = run_cells(&scenario, &cells, &dir, options, &mut manifest);
    if let (Ok(()), Some(spec)) = (&result, &scenario.pipeline) {
        if !options.interrupted.load(Ordering::SeqCst) {
            eprintln!(
                "pipeline: {} sources of {:?} each, every way ...",
                spec.sources, spec.latency
            );
            result = crate::pipeline::run(&spec.options()).and_then(|timings| {
                std::fs::write(
                    dir.root().join("pipeline.json"),
                    serde_json::to_vec_pretty(&timings)?,
                )?;
                Ok(())
            });
        }
    }
    manifest.finished = Some(now_rfc3339());
    manifest.status = match &result {
        Err(_) => "failed".into(),
        Ok(()) if options.interrupted.load(Ordering::SeqCst) => "interrupted".into(),
        Ok(()) => "complete".into(),
    };
    dir.write_manifest(&manifest)?;
    if manifest.cells_done > 0 {
        crate::report::build(&dir).context("writing the report")?;
    }
    result?;
    Ok(RunOutcome {
        dir,
        cells_done: manifest.cells_done,
        cells_planned: manifest.cells_planned,
        cells_failed: manifest.cells_failed,
        interrupted: options.interrupted.load(Ordering::SeqCst),
    })
}

fn run_cells(
    scenario: &Scenario,
    cells: &[CellPlan],
    dir: &RunDir,
    options: &RunOptions,
    manifest: &mut Manifest,
) -> anyhow::Result<()> {
    let needs_upstream = scenario
        .workloads
        .iter()
        .any(|w| w.needs_upstream() && w.upstream.is_none());
    let mut upstream = if needs_upstream && !scenario.upstream.per_cell {
        Some(start_upstream(
            scenario,
            &scenario.upstream,
            dir,
            options,
            "upstream",
        )?)
    } else {
        None
    };
    let mut context = CellContext {
        scenario,
        dir,
        options,
        upstream: upstream.as_ref().map(|u| format!("http://{}", u.addr())),
        progress: Progress::new(cells.len()),
        bodies: RefCell::new(HashMap::new()),
    };
    for (index, cell) in cells.iter().enumerate() {
        if options.interrupted.load(Ordering::SeqCst) {
            break;
        }
        let label = format!(
            "{} {} {}",
            cell.workload.name(),
            cell.style.label(),
            cell.level.slug()
        );
        context.progress.start_cell(index, &label);
        let result = run_cell(&context, cell, &label);
        if options.interrupted.load(Ordering::SeqCst) {
            break; // the cell was cut short: it is not a result
        }
        // A cell that fails is recorded as failed, and the run goes on.
        let mut record = result.unwrap_or_else(|error| failed_record(scenario, cell, &error));
        if let Some(crash) = upstream.as_mut().and_then(Child::crash) {
            mark_crashed(&mut record, &crash);
            eprintln!(
                "the shared upstream died ({}); starting a new one",
                crash.status
            );
            let fresh = start_upstream(scenario, &scenario.upstream, dir, options, "upstream")
                .context("restarting the shared upstream after it died")?;
            context.upstream = Some(format!("http://{}", fresh.addr()));
            upstream = Some(fresh);
        }
        dir.append_cell(&record)?;
        manifest.cells_done += 1;
        manifest.cells_failed += usize::from(record.failed());
        dir.write_manifest(manifest)?;
        context.progress.finish_cell(index, &record);
    }
    context.progress.finish();
    if let Some(upstream) = upstream {
        upstream.stop();
    }
    Ok(())
}

/// Marks a cell whose server or upstream died while it ran: crashed, not valid, and
/// how it ended. What was measured before the crash stays in the row.
fn mark_crashed(record: &mut CellRecord, crash: &process::ChildExited) {
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
    record.invalid_reason = if record.invalid_reason.is_empty() {
        what.clone()
    } else {
        format!("{what}; {}", record.invalid_reason)
    };
    record.error = if record.error.is_empty() {
        what
    } else {
        format!("{what}; {}", record.error)
    };
}

fn duration_arg(d: Duration) -> String {
    humantime::format_duration(d).to_string().replace(' ', "")
}

fn start_upstream(
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
        duration_arg(spec.latency),
        "--jitter".into(),
        duration_arg(spec.jitter),
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
    )?;
    child.wait_healthy(Duration::from_secs(10))?;
    Ok(child)
}

/// The command-line value of a clap enum (e.g. `spawn-blocking`).
pub fn flag_value<T: clap::ValueEnum>(value: &T) -> String {
    value
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The `sabench serve` arguments for a cell, within `limits`.
pub fn serve_args(
    cell: &CellPlan,
    limits: &crate::net::Limits,
    upstream: Option<String>,
) -> Vec<String> {
    let style = &cell.style;
    let workload = &cell.workload;
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--style".into(),
        flag_value(&style.style),
        "--port".into(),
        cell.port.to_string(),
        "--variant".into(),
        flag_value(&style.variant),
    ];
    match style.style {
        Style::Blocking if style.thread_per_connection => {
            args.push("--thread-per-connection".into())
        }
        Style::Blocking => args.extend(["--threads".into(), style.threads.to_string()]),
        Style::Async => args.extend(["--workers".into(), style.workers.to_string()]),
        Style::Hybrid => {
            args.extend(["--workers".into(), style.workers.to_string()]);
            args.extend(["--offload".into(), flag_value(&style.offload)]);
            if style.offload == crate::server::Offload::Rayon {
                args.extend(["--rayon-threads".into(), style.rayon_threads.to_string()]);
            }
        }
    }
    args.extend([
        "--cpu-rounds".into(),
        workload.cpu_rounds.to_string(),
        "--io-calls".into(),
        workload.io_calls.to_string(),
        "--io-latency".into(),
        duration_arg(workload.io_latency),
        "--io-mode".into(),
        flag_value(&workload.io_mode),
        "--fanout-calls".into(),
        workload.fanout_calls.to_string(),
        "--fanout-policy".into(),
        flag_value(&workload.fanout_policy),
        "--upstream-timeout".into(),
        duration_arg(workload.upstream_timeout),
    ]);
    if let Some(limit) = workload.fanout_limit {
        args.extend(["--fanout-limit".into(), limit.to_string()]);
    }
    if let Some(url) = upstream {
        args.extend(["--upstream".into(), url]);
    }
    args.extend(limits.args());
    args
}

/// What every cell of a run shares.
struct CellContext<'a> {
    scenario: &'a Scenario,
    dir: &'a RunDir,
    options: &'a RunOptions,
    /// The shared upstream's URL, if one runs.
    upstream: Option<String>,
    progress: Progress,
    /// Per workload: the first style's label and the body it answered.
    bodies: RefCell<HashMap<String, (String, String)>>,
}

impl CellContext<'_> {
    /// The verify step, per cell: a successful body must equal the first style's on the
    /// same workload, so a style never wins by doing different work.
    fn check_body(&self, cell: &CellPlan, addr: std::net::SocketAddr) -> anyhow::Result<()> {
        if cell.workload.fanout_policy == crate::workload::FanoutPolicy::CollectAll {
            return Ok(()); // partial results differ by design
        }
        let path = cell.workload.route.route().path();
        let Some((200, body)) = process::get(addr, path) else {
            return Ok(()); // an error answer is measured, not compared
        };
        let mut bodies = self.bodies.borrow_mut();
        match bodies.get(&cell.workload.name()) {
            Some((first, expected)) if *expected != body => anyhow::bail!(
                "verify: {} answered {:?} on {path} but {first} answered {:?}: every style must return the same bytes (see `sabench verify`)",
                cell.style.label(),
                body.trim(),
                expected.trim()
            ),
            Some(_) => {}
            None => {
                bodies.insert(cell.workload.name(), (cell.style.label(), body));
            }
        }
        Ok(())
    }
}

fn run_cell(context: &CellContext<'_>, cell: &CellPlan, label: &str) -> anyhow::Result<CellRecord> {
    let CellContext {
        scenario,
        dir,
        options,
        progress,
        ..
    } = context;
    let upstream = context.upstream.clone();
    // A per-cell upstream starts first, so its fault phases are timed to this cell.
    let own_spec = match &cell.workload.upstream {
        Some(spec) => Some(spec),
        None if scenario.upstream.per_cell => Some(&scenario.upstream),
        None => None,
    };
    let mut own_upstream = match own_spec.filter(|_| cell.workload.needs_upstream()) {
        Some(spec) => {
            let name = format!("{}.upstream", cell.id);
            Some(start_upstream(scenario, spec, dir, options, &name)?)
        }
        None => None,
    };
    let upstream = own_upstream
        .as_ref()
        .map(|u| format!("http://{}", u.addr()))
        .or(upstream);
    let log = dir.samples_dir().join(format!("{}.server.log", cell.id));
    let args = serve_args(
        cell,
        &scenario.limits,
        upstream.filter(|_| cell.workload.needs_upstream()),
    );
    let mut server = Child::spawn(
        &options.sabench,
        "server",
        &args,
        &scenario.pinning.server,
        dir.root(),
        log,
    )?;
    server.wait_healthy(Duration::from_secs(10))?;
    context.check_body(cell, server.addr())?;
    let url = format!(
        "http://{}{}",
        server.addr(),
        cell.workload.route.route().path()
    );
    let base = LoadConfig {
        url,
        threads: scenario.load.threads as usize,
        warmup: scenario.warmup,
        timeout: scenario.load.timeout,
        cpus: scenario.pinning.generator.clone(),
        stop: Some(options.interrupted.clone()),
        on_second: progress.live_hook(label),
        ..LoadConfig::closed("", cell.level.connections() as usize, scenario.duration)
    };
    let origin = Instant::now() + scenario.warmup;
    // The saturation search samples each probe on its own (see `saturate`).
    let sampler = (!matches!(cell.level, Level::Saturate { .. }))
        .then(|| sampler::Sampler::start(server.pid(), origin, SAMPLE_EVERY));
    let probe = scenario.load.probe.as_ref().map(|probe| {
        let config = LoadConfig {
            url: format!("http://{}{}", server.addr(), probe.route),
            schedule: Schedule::Constant { rate: probe.rate },
            connections: probe.connections as usize,
            on_second: None,
            ..base.clone()
        };
        std::thread::spawn(move || load::run(&config))
    });
    let mut slow = None;
    let mut searched = None;
    let (report, target) = match &cell.level {
        Level::Closed(_) => (run_load(&base, dir.hlog_path(&cell.id))?, None),
        Level::Open { rate, .. } => {
            let config = LoadConfig {
                schedule: Schedule::Constant { rate: *rate },
                ..base
            };
            (run_load(&config, dir.hlog_path(&cell.id))?, Some(*rate))
        }
        Level::Saturate { search, .. } => {
            let found = saturate(
                &base,
                search,
                server.pid(),
                dir,
                &cell.id,
                &options.interrupted,
            )?;
            let rate = found.rate;
            searched = Some((found.samples, found.start_failed));
            (found.report, rate)
        }
        Level::Slowloris { clients, spec } => {
            let (report, tally) =
                under_slow_clients(&base, server.addr(), *clients, spec, &cell.id, dir)?;
            slow = Some(SlowMeasure {
                clients: *clients,
                tally,
                slo: spec.slo,
            });
            (report, Some(spec.probe_rate))
        }
    };
    let probe = match probe {
        Some(handle) => Some(
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("the probe load panicked"))?
                .context("the probe load failed")?,
        ),
        None => None,
    };
    let lag = process::fetch_lag(server.addr());
    let (samples, start_failed) = match (sampler, searched) {
        (Some(sampler), _) => (sampler.finish(), None),
        (None, Some((samples, start_failed))) => (samples, start_failed),
        (None, None) => (Vec::new(), None),
    };
    let crashes: Vec<process::ChildExited> = std::iter::once(server.crash())
        .chain(own_upstream.as_mut().map(Child::crash))
        .flatten()
        .collect();
    server.stop();
    if let Some(upstream) = own_upstream {
        upstream.stop();
    }
    let measured = Measured {
        report: &report,
        target_rps: target,
        probe: probe.as_ref(),
        lag,
        samples: &samples,
        window: Duration::from_secs_f64(report.duration_s),
        slow,
    };
    let mut record = record(scenario, cell, &measured);
    if let Some(slow) = &measured.slow {
        slow.fill(&mut record, &report);
    }
    if let Some(why) = start_failed {
        // No capacity was found: the failing start rate is not one.
        record.valid = false;
        record.invalid_reason = why;
    }
    for crash in &crashes {
        mark_crashed(&mut record, crash);
    }
    RunDir::write_csv(&dir.server_samples_path(&cell.id), &samples)?;
    RunDir::write_csv(&dir.timeline_path(&cell.id), &report.timeline)?;
    Ok(record)
}

/// A slowloris cell: `clients` slow clients connect first (the spec's head start),
/// then the probe load runs on fresh connections while they trickle. What the slow
/// clients saw is written next to the cell's histogram.
fn under_slow_clients(
    base: &LoadConfig,
    addr: std::net::SocketAddr,
    clients: u32,
    spec: &scenario::SlowlorisSpec,
    id: &str,
    dir: &RunDir,
) -> anyhow::Result<(LoadReport, slowloris::SlowTally)> {
    let bound = spec.head_start
        + base.warmup
        + base.duration.unwrap_or_default() * 2
        + Duration::from_secs(30);
    let slow = slowloris::SlowClients::start(addr, clients, spec.trickle, Instant::now() + bound)
        .context("cannot start the slow clients")?;
    std::thread::sleep(spec.head_start);
    let config = LoadConfig {
        schedule: Schedule::Constant {
            rate: spec.probe_rate,
        },
        connections: spec.probe_connections as usize,
        ..base.clone()
    };
    let report = run_load(&config, dir.hlog_path(id))?;
    let tally = slow.stop();
    Ok((report, tally))
}

fn run_load(config: &LoadConfig, hlog: PathBuf) -> anyhow::Result<LoadReport> {
    let config = LoadConfig {
        hlog: Some(hlog),
        ..config.clone()
    };
    Ok(load::run(&config)?)
}

/// Whether a probe met the SLO: valid, successes' p95 within it, and errors plus
/// unfinished requests within the allowed share. A probe with no success never meets it.
fn meets(report: &LoadReport, search: &Saturate) -> bool {
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
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// What the saturation search found.
struct Capacity {
    /// The best passing probe (or, when none passed, the first, failing one).
    report: LoadReport,
    /// The highest rate that met the SLO; None when even the start rate missed it.
    rate: Option<f64>,
    /// The server's samples during the chosen probe only.
    samples: Vec<ServerSample>,
    /// Why no capacity was found, when the start rate already missed the SLO.
    start_failed: Option<String>,
}

/// Doubling, then bisection, to the highest rate that meets the SLO. Each probe is
/// sampled on its own, so the cell's CPU and memory are those of the chosen probe.
/// When the start rate already misses the SLO there is no capacity to report: the
/// cell says so and is not valid, rather than calling the failing rate a capacity.
fn saturate(
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

/// Everything measured for one cell.
struct Measured<'a> {
    report: &'a LoadReport,
    target_rps: Option<f64>,
    probe: Option<&'a LoadReport>,
    lag: Option<crate::server::lag::LagSnapshot>,
    samples: &'a [ServerSample],
    window: Duration,
    /// A slowloris cell's slow clients and objective.
    slow: Option<SlowMeasure>,
}

/// What a slowloris cell adds to the probe's measurement.
struct SlowMeasure {
    clients: u32,
    tally: slowloris::SlowTally,
    slo: Duration,
}

impl SlowMeasure {
    /// The columns it fills; `valid` keeps only the generator's own reasons, since a
    /// stalled or capped probe is what a slowloris cell measures, not a fault of it.
    fn fill(&self, record: &mut CellRecord, report: &LoadReport) {
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
fn identity(scenario: &Scenario, cell: &CellPlan) -> CellRecord {
    let style = &cell.style;
    let knobs = match style.style {
        Style::Blocking if style.thread_per_connection => "thread-per-connection".to_string(),
        Style::Blocking => format!("threads={}", style.threads),
        Style::Async => format!("workers={}", style.workers),
        Style::Hybrid => format!("workers={} offload={:?}", style.workers, style.offload),
    };
    CellRecord {
        cell: cell.id.clone(),
        scenario: scenario.name.clone(),
        workload: cell.workload.name(),
        style: flag_value(&style.style),
        variant: style.label(),
        knobs: format!("{knobs} {}", scenario.limits.knobs()),
        load_mode: cell.level.mode().into(),
        connections: u64::from(cell.level.connections()),
        target_rps: match &cell.level {
            Level::Open { rate, .. } => Some(*rate),
            _ => None,
        },
        repetition: cell.repetition,
        ..CellRecord::default()
    }
}

/// The row of a cell that measured nothing: it could not start or could not be
/// measured. `error` says why (and how the server ended, if it did).
fn failed_record(scenario: &Scenario, cell: &CellPlan, error: &anyhow::Error) -> CellRecord {
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

fn record(scenario: &Scenario, cell: &CellPlan, measured: &Measured<'_>) -> CellRecord {
    let report = measured.report;
    let target_rps = measured.target_rps;
    let server = sampler::summarize(measured.samples, measured.window);
    let c = report.latency_ms.ok.corrected;
    let s = report.latency_ms.ok.service;
    let all = report.latency_ms.all.corrected;
    let requests = &report.requests;
    let error = |key: &str| report.errors.get(key).copied().unwrap_or(0);
    CellRecord {
        target_rps,
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
        err_other: error("other"),
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
        probe_p95_ms: measured
            .probe
            .and_then(|p| p.latency_ms.ok.corrected.map(|c| c.p95)),
        probe_p99_ms: measured
            .probe
            .and_then(|p| p.latency_ms.ok.corrected.map(|c| c.p99)),
        lag_p99_ms: measured.lag.map(|l| l.p99_ms),
        lag_max_ms: measured.lag.map(|l| l.max_ms),
        server_wait_p50_ms: report.server_wait_ms.map(|w| w.p50),
        server_wait_p99_ms: report.server_wait_ms.map(|w| w.p99),
        littles_law: c.filter(|_| cell.level.mode() == "closed").map(|ok| {
            // Successful work only: connections held by unanswered requests count as idle.
            let rate = report.requests_ok as f64 / report.duration_s.max(1e-9);
            rate * ok.mean / 1000.0 / f64::from(cell.level.connections().max(1))
        }),
        rss_peak_mib: server.rss_peak_mib,
        rss_mean_mib: server.rss_mean_mib,
        threads_max: server.threads_max,
        kernel_stack_mib: server.threads_max as f64 * 16.0 / 1024.0,
        server_cpu_user_s: server.cpu_user_s,
        server_cpu_sys_s: server.cpu_sys_s,
        generator_cpu_s: report.generator_cpu_s,
        generator_busy: report.generator_busy,
        valid: report.valid,
        invalid_reason: report.invalid_reasons.join("; "),
        generator_limited: report.generator_limited,
        ..identity(scenario, cell)
    }
}

/// The default scenario.
pub fn default_scenario() -> &'static Path {
    Path::new("scenarios/quick.toml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot server answering every connection with `body`.
    fn answering(body: &'static str) -> std::net::SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        addr
    }

    #[test]
    fn the_per_cell_verify_step_refuses_a_style_with_other_bytes() {
        let text = "name = \"v\"\n[[styles]]\nstyle = \"async\"\n[[styles]]\nstyle = \"blocking\"\n[[workloads]]\nroute = \"cpu\"\n[load]\nconnections = [1]\n";
        let scenario = scenario::parse(text, "v.toml").unwrap();
        let cells = plan::cells(&scenario);
        let base = std::env::temp_dir().join(format!("sabench-verify-{}", std::process::id()));
        let dir = RunDir::create_new(&base, "v").unwrap();
        let options = RunOptions {
            scenario: PathBuf::from("v.toml"),
            out: base.clone(),
            sabench: PathBuf::from("sabench"),
            interrupted: Arc::new(AtomicBool::new(false)),
        };
        let context = CellContext {
            scenario: &scenario,
            dir: &dir,
            options: &options,
            upstream: None,
            progress: Progress::new(0),
            bodies: RefCell::new(HashMap::new()),
        };
        context.check_body(&cells[0], answering("same\n")).unwrap();
        context.check_body(&cells[1], answering("same\n")).unwrap();
        let error = context
            .check_body(&cells[1], answering("other\n"))
            .unwrap_err();
        assert!(
            error.to_string().contains("must return the same bytes"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(base);
    }
}
