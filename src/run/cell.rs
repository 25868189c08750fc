//! One cell: its own upstream if it needs one, a fresh server process, the verify
//! step, the load (closed, open, saturation search or slowloris) with the probe beside
//! it, the server's samples, and the row it comes to.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::bench_cap::{measured_cap, planned_cap, RateCap};
use super::children::{serve_args, start_upstream};
use super::process::{self, Child, Tether};
use super::progress::Progress;
use super::record::{mark_crashed, record, Measured, SlowMeasure};
use super::saturation::{saturate, ProbeTarget, SAMPLE_EVERY};
use super::self_report::{Reporter, SelfReport};
use super::{sampler, slowloris, target, RunOptions};
use crate::load::{self, LoadConfig, LoadReport, Schedule};
use crate::results::{CellRecord, RunDir};
use crate::scenario::plan::{CellPlan, Level, ServerPlan};
use crate::scenario::{self, Scenario};

/// What every cell of a run shares.
pub(super) struct CellContext<'a> {
    pub(super) scenario: &'a Scenario,
    /// The run folder the cell's files go in (its lane's).
    pub(super) dir: &'a RunDir,
    pub(super) options: &'a RunOptions,
    /// The `sabench` executable the server under test is started from (its lane's:
    /// `sabench ab` runs two builds' servers against one generator and upstream).
    pub(super) server_program: &'a std::path::Path,
    /// The shared upstream's URL, if one runs.
    pub(super) upstream: Option<String>,
    /// The database's URL, and the process whose descendants are PostgreSQL's
    /// (a throwaway cluster), if a workload queries one.
    pub(super) database: Option<(String, Option<u32>)>,
    pub(super) progress: Progress,
    /// Per workload: the first style's label and the body it answered.
    pub(super) bodies: RefCell<HashMap<String, (String, String)>>,
}

impl CellContext<'_> {
    /// The verify step, per cell: a successful body must equal the first style's on the
    /// same workload, so a style never wins by doing different work.
    fn check_body(&self, cell: &CellPlan, addr: std::net::SocketAddr) -> anyhow::Result<()> {
        if cell.workload.fanout_policy == crate::workload::FanoutPolicy::CollectAll {
            return Ok(()); // partial results differ by design
        }
        if let ServerPlan::Target { spec, .. } = &cell.server {
            if !spec.same_contract {
                return Ok(()); // it does the work its own way: nothing to compare
            }
        }
        let path = route_path(cell);
        let Some((200, body)) = process::get(addr, &path) else {
            return Ok(()); // an error answer is measured, not compared
        };
        let mut bodies = self.bodies.borrow_mut();
        match bodies.get(&cell.workload.name()) {
            Some((first, expected)) if *expected != body => anyhow::bail!(
                "verify: {} answered {:?} on {path} but {first} answered {:?}: every style must return the same bytes (see `sabench verify`)",
                cell.server.label(),
                body.trim(),
                expected.trim()
            ),
            Some(_) => {}
            None => {
                bodies.insert(cell.workload.name(), (cell.server.label(), body));
            }
        }
        Ok(())
    }
}

/// The path a cell loads: the workload's route, or the path a target serves it at.
fn route_path(cell: &CellPlan) -> String {
    let route = cell.workload.route.route().path().to_string();
    match &cell.server {
        ServerPlan::Target { spec, .. } => spec
            .routes
            .get(&cell.workload.route)
            .cloned()
            .unwrap_or(route),
        ServerPlan::Style(_) => route,
    }
}

pub(super) fn run_cell(
    context: &CellContext<'_>,
    cell: &CellPlan,
    label: &str,
) -> anyhow::Result<CellRecord> {
    let CellContext {
        scenario,
        dir,
        options,
        ..
    } = context;
    let mut own_upstream = own_upstream(context, cell)?;
    let upstream = own_upstream
        .as_ref()
        .map(|u| format!("http://{}", u.addr()))
        .or(context.upstream.clone());
    let database = context
        .database
        .as_ref()
        .filter(|_| cell.workload.needs_database());
    let server_plan = ServerStart {
        context,
        cell,
        args: serve_args(
            cell,
            &scenario.limits,
            upstream.clone().filter(|_| cell.workload.needs_upstream()),
            database.map(|(url, _)| url.as_str()),
        ),
        upstream: upstream.as_deref(),
        database: database.map(|(url, _)| url.as_str()),
    };
    let start_server = |name: &str| server_plan.start(name);
    let mut server = start_server("server")?;
    context.check_body(cell, server.addr())?;
    let _serving = options.metrics.clone().map(Serving);
    // What the server costs serving nothing, its helpers running: taken out of its CPU
    // per request.
    let idle_cpu_ms_per_s = super::idle_cost::measure(server.pid(), cell.server.style().is_none());
    let base = base_load(context, cell, server.addr(), label);
    // A held level opens its connections first: the window begins after them.
    let lead = match &cell.level {
        Level::Held {
            connections, ramp, ..
        } => load::ramp::lead(*connections as usize, *ramp),
        _ => Duration::ZERO,
    };
    let origin = Instant::now() + lead + scenario.warmup;
    // The saturation search samples each probe on its own, each on a fresh server (see
    // `saturate`), so neither this sampler nor the cheap-route probe runs beside it.
    let searching = matches!(cell.level, Level::Saturate { .. });
    // A target of the user's own has no pool, runtime-lag probe nor database counters.
    let reporter = Reporter::new(cell.server.style().map(|s| s.style), database.is_some());
    if !searching {
        reporter.name_window(server.addr(), origin, scenario.duration);
    }
    // A target may be a tree of processes: all of it is sampled, under the supervisor.
    let tree = cell.server.style().is_none();
    let sampler = (!searching).then(|| {
        sampler::Sampler::server(
            server.pid(),
            tree,
            origin,
            scenario.duration,
            SAMPLE_EVERY,
            &base.cpus,
        )
    });
    let database_sampler = database
        .and_then(|(_, root)| *root)
        .filter(|_| !searching)
        .map(|root| sampler::Sampler::tree(root, origin, SAMPLE_EVERY));
    let probe = (!searching && cell.workload.probe)
        .then(|| start_probe(scenario, server.addr(), &base))
        .flatten();
    let mut slow = None;
    let mut searched = None;
    let mut ceiling = None;
    let (report, target) = match &cell.level {
        Level::Closed(_) => (run_load(&base, dir.hlog_path(&cell.id))?, None),
        Level::Open { rate, .. } => {
            let config = LoadConfig {
                schedule: Schedule::Constant { rate: *rate },
                ..base
            };
            (run_load(&config, dir.hlog_path(&cell.id))?, Some(*rate))
        }
        Level::Held { rate, ramp, .. } => {
            let config = LoadConfig {
                schedule: Schedule::Constant { rate: *rate },
                ramp: Some(*ramp),
                ..base
            };
            (run_load(&config, dir.hlog_path(&cell.id))?, Some(*rate))
        }
        Level::Staged { stages, .. } => {
            let config = LoadConfig {
                schedule: Schedule::Staged {
                    stages: stages.clone(),
                },
                ..base
            };
            (
                run_load(&config, dir.hlog_path(&cell.id))?,
                cell.level.offered_rate(),
            )
        }
        Level::Saturate { search, .. } => {
            let mut restart = |name: &str| start_server(name);
            let mut target = ProbeTarget {
                server: &mut server,
                path: &route_path(cell),
                tree,
                reporter,
                keep_server: matches!(
                    &cell.server,
                    ServerPlan::Target { spec, .. } if !spec.restart_between_probes
                ),
                restart: &mut restart,
            };
            let found = saturate(
                &base,
                search,
                &mut target,
                dir,
                &cell.id,
                &options.interrupted,
            )?;
            let rate = found.rate;
            ceiling = found.ceiling;
            searched = Some((found.samples, found.start_failed, found.told));
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
    let database_samples = database_sampler.map(sampler::Sampler::finish);
    let window = Duration::from_secs_f64(report.duration_s);
    let (samples, start_failed, told) = match (sampler, searched) {
        (Some(sampler), _) => (
            sampler.finish(),
            None,
            reporter.read(server.addr(), origin, window),
        ),
        (None, Some(found)) => found,
        (None, None) => (Vec::new(), None, SelfReport::none()),
    };
    let crashes: Vec<process::ChildExited> = std::iter::once(server.crash())
        .chain(own_upstream.as_mut().map(Child::crash))
        .flatten()
        .collect();
    let server_failures = server.failures();
    let notes: Vec<String> = std::iter::once(&server)
        .chain(own_upstream.as_ref())
        .flat_map(|child| child.notes().iter().cloned())
        .collect();
    server.stop();
    if let Some(upstream) = own_upstream {
        upstream.stop();
    }
    let measured = Measured {
        report: &report,
        target_rps: target,
        probe: probe.as_ref(),
        lag: told.lag,
        queue_wait: told.queue_wait,
        samples: &samples,
        window,
        pool: told.pool,
        slow,
        idle_cpu_ms_per_s,
    };
    let mut record = record(scenario, cell, &measured);
    add_notes(&mut record, notes);
    let planned = RateCap::min(planned_cap(scenario, cell), measured_cap(cell, &report));
    if let Some(cap) = RateCap::min(planned, ceiling) {
        record.rate_cap_rps = Some(cap.rps);
        record.rate_cap = cap.by;
    }
    if let Some(slow) = &measured.slow {
        slow.fill(&mut record, &report);
    }
    if let Some(why) = start_failed {
        // No capacity was found: the failing start rate is not one.
        record.valid = false;
        record.invalid_reason = why;
    }
    record.server_failures = server_failures;
    for crash in &crashes {
        mark_crashed(&mut record, crash);
    }
    add_database(&mut record, told.db, database_samples, window);
    RunDir::write_csv(&dir.server_samples_path(&cell.id), &samples)?;
    RunDir::write_csv(&dir.timeline_path(&cell.id), &report.timeline)?;
    Ok(record)
}

/// Starts the cell's own upstream when it needs one (its workload's, or every cell's
/// under `per_cell`), first, so its fault phases are timed to this cell.
fn own_upstream(context: &CellContext<'_>, cell: &CellPlan) -> anyhow::Result<Option<Child>> {
    let scenario = context.scenario;
    let spec = match &cell.workload.upstream {
        Some(spec) => Some(spec),
        None if scenario.upstream.per_cell => Some(&scenario.upstream),
        None => None,
    };
    spec.filter(|_| cell.workload.needs_upstream())
        .map(|spec| {
            let name = format!("{}.upstream", cell.id);
            start_upstream(scenario, spec, context.dir, context.options, &name)
        })
        .transpose()
}

/// How a cell's server starts (and restarts, between a search's probes): a built-in
/// style from its `sabench serve` arguments, or a target of the user's own.
struct ServerStart<'a> {
    context: &'a CellContext<'a>,
    cell: &'a CellPlan,
    args: Vec<String>,
    upstream: Option<&'a str>,
    database: Option<&'a str>,
}

impl ServerStart<'_> {
    /// Starts it, its log named `name`, and waits until it answers; with
    /// `--metrics-listen`, the server exposed is this one from now on (a saturation
    /// search restarts it between probes).
    fn start(&self, name: &str) -> anyhow::Result<Child> {
        let server = self.launch(name)?;
        if let Some(metrics) = &self.context.options.metrics {
            metrics.serving(Some((
                server.pid(),
                &self.cell.server.kind(),
                &self.cell.id,
            )));
        }
        Ok(server)
    }

    fn launch(&self, name: &str) -> anyhow::Result<Child> {
        let (context, cell) = (self.context, self.cell);
        let scenario = context.scenario;
        let log = context
            .dir
            .samples_dir()
            .join(format!("{}.{name}.log", cell.id));
        let ServerPlan::Target { spec, workers } = &cell.server else {
            let mut server = Child::spawn(
                context.server_program,
                "server",
                &self.args,
                scenario.server_cpus(&cell.workload),
                context.dir.root(),
                log,
                Tether::DeathSignal,
            )?;
            server.wait_healthy(Duration::from_secs(10))?;
            return Ok(server);
        };
        let port = match cell.port {
            0 => target::free_port()?,
            fixed => fixed,
        };
        let values = target::TargetValues::of(cell, *workers, port, self.upstream, self.database);
        let launch = target::Launch {
            sabench: &context.options.sabench,
            scenario_dir: &context.options.scenario_dir(),
            cpus: scenario.server_cpus(&cell.workload),
            run_dir: context.dir.root(),
            log,
        };
        target::start(spec, &values, launch)
    }
}

/// The cell's load, before its level: the route on `server`, the scenario's threads,
/// warm-up, window, timeout and generator CPUs, stopped by Ctrl-C.
fn base_load(
    context: &CellContext<'_>,
    cell: &CellPlan,
    server: std::net::SocketAddr,
    label: &str,
) -> LoadConfig {
    let (scenario, options) = (context.scenario, context.options);
    let level = cell.level.connections() as usize;
    // HTTP/2: the level's requests in flight over connections of `streams` streams
    // (the scenario's check saw that the level is a multiple of it).
    let (protocol, streams) = match &cell.server {
        ServerPlan::Style(style) if style.protocol == load::http2::Protocol::Http2 => (
            style.protocol,
            (scenario.load.streams as usize).clamp(1, level.max(1)),
        ),
        _ => (load::http2::Protocol::Http1, 1),
    };
    let url = format!("http://{server}{}", route_path(cell));
    LoadConfig {
        watchers: options
            .metrics
            .as_ref()
            .map(|metrics| -> Arc<dyn load::Watcher> { metrics.add(&url, &cell.id) })
            .into_iter()
            .chain(context.progress.watcher())
            .collect(),
        url,
        protocol,
        streams,
        threads: scenario.load.threads as usize,
        warmup: scenario.warmup,
        timeout: scenario.load.timeout,
        cpus: scenario.pinning.generator.clone(),
        stop: Some(options.interrupted.clone()),
        on_second: context.progress.live_hook(label),
        program: Some(options.sabench.clone()),
        ..LoadConfig::closed("", level.div_ceil(streams), scenario.duration)
    }
}

/// The scenario's probe (a light load on a cheap route beside the main one), started on
/// its own thread; None without one.
fn start_probe(
    scenario: &Scenario,
    server: std::net::SocketAddr,
    base: &LoadConfig,
) -> Option<std::thread::JoinHandle<Result<LoadReport, load::LoadError>>> {
    let probe = scenario.load.probe.as_ref()?;
    let config = LoadConfig {
        url: format!("http://{server}{}", probe.route),
        schedule: Schedule::Constant { rate: probe.rate },
        connections: probe.connections as usize,
        // Poisson arrivals see the server's time averages (PASTA): evenly spaced, the
        // probe locks onto the phase of an evenly spaced main load and reads the same
        // few points of every busy period.
        arrival: load::pacer::Arrival::Poisson,
        on_second: None,
        watchers: Vec::new(),
        // The probe reads every cell alike: over HTTP/1.1, whatever the main load speaks.
        protocol: load::http2::Protocol::Http1,
        streams: 1,
        ..base.clone()
    };
    Some(std::thread::spawn(move || load::run(&config)))
}

/// Adds what did not go as asked for the cell's processes to its notes.
fn add_notes(record: &mut CellRecord, notes: Vec<String>) {
    for note in notes {
        if !record.measurement_notes.is_empty() {
            record.measurement_notes.push_str("; ");
        }
        record.measurement_notes.push_str(&note);
    }
}

/// The database's side of a cell: what the server's pool told, and PostgreSQL's memory
/// and CPU over the window.
fn add_database(
    record: &mut CellRecord,
    told: Option<crate::workload::db::stats::DbStatsSnapshot>,
    samples: Option<Vec<sampler::TreeSample>>,
    window: Duration,
) {
    if let Some(stats) = told {
        record.db_connections_opened = Some(stats.connections_opened);
        record.db_errors = stats.errors_text();
    }
    if let Some(db) = samples.and_then(|s| sampler::summarize_tree(&s, window)) {
        record.db_pss_mean_mib = Some(db.pss_mean_mib);
        record.db_pss_peak_mib = Some(db.pss_peak_mib);
        record.db_cpu_s = Some(db.cpu_s);
        record.db_processes_max = Some(db.processes_max);
    }
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

pub(super) fn run_load(config: &LoadConfig, hlog: PathBuf) -> anyhow::Result<LoadReport> {
    let config = LoadConfig {
        hlog: Some(hlog),
        ..config.clone()
    };
    Ok(load::run(&config)?)
}

/// With `--metrics-listen`, the cell's server stops being exposed when this drops (the
/// cell is over).
struct Serving(Arc<crate::watch::metrics::Exposition>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.serving(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::plan;
    use std::io::{Read, Write};
    use std::sync::atomic::AtomicBool;

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
            database_url: None,
            metrics: None,
            live: None,
        };
        let context = CellContext {
            scenario: &scenario,
            dir: &dir,
            options: &options,
            server_program: &options.sabench,
            upstream: None,
            database: None,
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
