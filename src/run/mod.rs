//! `sabench run`: turns a scenario into cells, runs each against a fresh server
//! process (with the upstream as its own process), samples the server, drives the load
//! in-process, and writes every finished cell to `results/<run-id>/` at once. Ctrl-C
//! stops the current cell, keeps the finished ones, stops every child and writes the
//! report of what is done.

pub mod ab;
pub mod bench_cap;
mod ceiling;
mod cell;
mod children;
mod database;
mod idle_cost;
pub mod invariance;
mod mechanism;
pub mod process;
pub mod progress;
mod record;
pub mod sampler;
mod saturation;
mod self_report;
pub mod slowloris;
pub mod supervisor;
pub mod target;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;

pub use crate::flags::flag_value;
use crate::results::manifest::{now_rfc3339, MachineFacts};
use crate::results::{Manifest, RunDir, StoredScenario};
use crate::scenario::plan::CellPlan;
use crate::scenario::{self, plan, Scenario};
use cell::{run_cell, CellContext};
use children::start_upstream;
use database::Database;
use process::Child;
use progress::Progress;
use record::{failed_record, mark_crashed};

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Results go in a new folder under here.
    pub out: PathBuf,
    /// The `sabench` executable (servers are started from it).
    pub sabench: PathBuf,
    /// Set by SIGINT/SIGTERM: stop after the current cell, discarding it.
    pub interrupted: Arc<AtomicBool>,
    /// An existing PostgreSQL for the database workloads (instead of the scenario's
    /// `[database] url` or a throwaway cluster).
    pub database_url: Option<String>,
    /// `--metrics-listen`: each cell's load and server exposed for Prometheus (None: not).
    pub metrics: Option<Arc<crate::watch::metrics::Exposition>>,
    /// The live terminal view's board, fed each cell and each second (None: no view).
    pub live: Option<Arc<crate::watch::live::Board>>,
}

impl RunOptions {
    /// The scenario file's folder, absolute: a target's `cwd` is taken from it (and its
    /// program from that, so neither may depend on the folder the runner started in).
    pub fn scenario_dir(&self) -> PathBuf {
        let dir = match self.scenario.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::path::absolute(&dir).unwrap_or(dir)
    }
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
    /// Measured cells that failed one of the scenario's thresholds.
    pub thresholds_failed: usize,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
}

/// Runs a scenario to the end (or to an interruption), then writes its report.
pub fn run(options: &RunOptions) -> anyhow::Result<RunOutcome> {
    let scenario = scenario::load(&options.scenario)?;
    run_loaded(scenario, options)
}

/// Runs `scenario` (already read from `options.scenario`, perhaps changed since, as
/// the invariance check does) to the end or to an interruption, then writes its
/// report. The manifest records the scenario as run.
pub fn run_loaded(scenario: Scenario, options: &RunOptions) -> anyhow::Result<RunOutcome> {
    let cells = plan::cells(&scenario);
    // Refused now, with the numbers, rather than as a scatter of failed connects later.
    let most = cells
        .iter()
        .map(|c| c.level.connections())
        .max()
        .unwrap_or(0);
    crate::load::check_file_descriptors(most as usize)
        .with_context(|| format!("{}: its largest level", options.scenario.display()))?;
    let dir = RunDir::create_new(&options.out, &crate::file_name::slug(&scenario.name))?;
    let mut manifest = new_manifest(&scenario, options, &dir, cells.len(), None)?;
    dir.write_manifest(&manifest)?;
    measure_ceiling(&scenario, &dir, options, &mut manifest)?;
    eprintln!(
        "run {}: {} cells of {} + {} warm-up each → {}",
        dir.id(),
        cells.len(),
        humantime::format_duration(scenario.duration),
        humantime::format_duration(scenario.warmup),
        dir.root().display()
    );
    let mut lanes = [Lane {
        name: "run",
        dir: &dir,
        server_program: &options.sabench,
        manifest: &mut manifest,
    }];
    let schedule: Vec<Step> = (0..cells.len())
        .map(|cell| Step { cell, lane: 0 })
        .collect();
    let mut result = run_cells(&scenario, &cells, &schedule, &mut lanes, options);
    if let (Ok(()), Some(spec)) = (&result, &scenario.pipeline) {
        if !options.interrupted.load(Ordering::SeqCst) {
            eprintln!(
                "pipeline: {} sources of {:?} each, every way ...",
                spec.sources, spec.latency
            );
            result = run_pipeline(spec, scenario.repetitions, &dir, &options.interrupted);
        }
    }
    close(&dir, &mut manifest, &result, options)?;
    result?;
    Ok(RunOutcome {
        dir,
        cells_done: manifest.cells_done,
        cells_planned: manifest.cells_planned,
        cells_failed: manifest.cells_failed,
        thresholds_failed: manifest.thresholds_failed,
        interrupted: options.interrupted.load(Ordering::SeqCst),
    })
}

/// Ends a run's manifest (complete, interrupted or failed) and writes its report from
/// what it measured.
pub(super) fn close(
    dir: &RunDir,
    manifest: &mut Manifest,
    result: &anyhow::Result<()>,
    options: &RunOptions,
) -> anyhow::Result<()> {
    manifest.finished = Some(now_rfc3339());
    manifest.status = match result {
        Err(_) => "failed".into(),
        Ok(()) if options.interrupted.load(Ordering::SeqCst) => "interrupted".into(),
        Ok(()) => "complete".into(),
    };
    dir.write_manifest(manifest)?;
    if manifest.cells_done > 0 {
        crate::report::build(dir).context("writing the report")?;
    }
    Ok(())
}

/// A new run's manifest, "running", with the machine's facts; `revision` overrides
/// the revision of the running binary (`sabench ab`'s lanes: each build's own).
pub(super) fn new_manifest(
    scenario: &Scenario,
    options: &RunOptions,
    dir: &RunDir,
    cells_planned: usize,
    revision: Option<String>,
) -> anyhow::Result<Manifest> {
    let facts = MachineFacts::read();
    Ok(Manifest {
        run_id: dir.id(),
        scenario_name: scenario.name.clone(),
        scenario_file: options.scenario.display().to_string(),
        scenario: StoredScenario::try_from(scenario)?,
        git_revision: revision.unwrap_or(facts.git_revision),
        rustc: facts.rustc,
        cpu_model: facts.cpu_model,
        cores: facts.cores,
        kernel: facts.kernel,
        started: now_rfc3339(),
        finished: None,
        status: "running".into(),
        cells_planned,
        cells_done: 0,
        cells_failed: 0,
        thresholds_failed: 0,
        database: None,
        targets: scenario
            .targets
            .iter()
            .map(|t| target::facts(t, &options.scenario_dir()))
            .collect(),
        generator_ceiling: None,
    })
}

/// Measures the generator's ceiling before a run with gated claims, records it, prints
/// a line per gate, and refuses the run (its manifest says `refused`) when a gate's
/// load is more than the generator can offer with room to spare.
fn measure_ceiling(
    scenario: &Scenario,
    dir: &RunDir,
    options: &RunOptions,
    manifest: &mut Manifest,
) -> anyhow::Result<()> {
    let loads = ceiling::gate_loads(scenario);
    if loads.is_empty() {
        return Ok(());
    }
    eprintln!("generator ceiling: a closed loop on /null, then each gate's heaviest load ...");
    let samples = dir.samples_dir();
    let measured = ceiling::measure(
        scenario,
        loads,
        &ceiling::CeilingOptions {
            sabench: &options.sabench,
            run_dir: dir.root(),
            samples_dir: &samples,
            interrupted: options.interrupted.clone(),
        },
    )
    .context("measuring the generator's ceiling before the gated claims")?;
    let Some(measured) = measured else {
        return Ok(());
    };
    eprintln!(
        "generator ceiling: {:.0} req/s closed loop on /null with {} connections",
        measured.closed_rps, measured.closed_connections
    );
    for gate in &measured.gates {
        eprintln!("  {}", gate.describe());
    }
    let refusals = measured.refusals();
    manifest.generator_ceiling = Some(measured);
    if !refusals.is_empty() {
        manifest.status = "refused".into();
        manifest.finished = Some(now_rfc3339());
    }
    dir.write_manifest(manifest)?;
    anyhow::ensure!(
        refusals.is_empty(),
        "{}: refused before the run:\n- {}",
        options.scenario.display(),
        refusals.join("\n- ")
    );
    Ok(())
}

/// The thresholds `record` fails, with what it measured: `p95<100ms (measured 130.2 ms)`.
fn failed_thresholds(
    checks: &[crate::load::threshold::Threshold],
    record: &crate::results::CellRecord,
) -> String {
    checks
        .iter()
        .map(|check| check.judge(record.metric(&check.column())))
        .filter(|result| !result.passed)
        .map(|result| result.describe())
        .collect::<Vec<_>>()
        .join("; ")
}

/// One build's share of the cells: the folder its cells go in, the executable its
/// servers start from, and its manifest. A run has one lane; `sabench ab` two.
pub(super) struct Lane<'a> {
    /// Its name in progress lines (`before`, `after`; unused with one lane).
    pub(super) name: &'a str,
    /// Its run folder.
    pub(super) dir: &'a RunDir,
    /// The `sabench` its servers are started from.
    pub(super) server_program: &'a Path,
    /// Its manifest, rewritten after every cell.
    pub(super) manifest: &'a mut Manifest,
}

/// One cell of the plan measured for one lane, in the order of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Step {
    /// Index into the planned cells.
    pub(super) cell: usize,
    /// Index into the lanes.
    pub(super) lane: usize,
}

/// Measures the `schedule`'s steps in order with one upstream and one database for
/// all, each cell into its lane's folder the moment it is done.
pub(super) fn run_cells(
    scenario: &Scenario,
    cells: &[CellPlan],
    schedule: &[Step],
    lanes: &mut [Lane<'_>],
    options: &RunOptions,
) -> anyhow::Result<()> {
    let Some((dir, first_program)) = lanes.first().map(|l| (l.dir, l.server_program)) else {
        return Ok(());
    };
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
    let checks = scenario.checks();
    let mut database = match scenario.workloads.iter().any(|w| w.needs_database()) {
        true => Some(Database::start(scenario, dir, options)?),
        false => None,
    };
    if let Some(database) = &database {
        for lane in lanes.iter_mut() {
            lane.manifest.database = Some(database.info.clone());
            lane.dir.write_manifest(lane.manifest)?;
        }
    }
    let mut context = CellContext {
        scenario,
        dir,
        options,
        server_program: first_program,
        database: database
            .as_ref()
            .map(|d| (d.url().to_string(), d.root_pid())),
        upstream: upstream.as_ref().map(|u| format!("http://{}", u.addr())),
        progress: Progress::on(schedule.len(), options.live.as_ref()),
        bodies: RefCell::new(HashMap::new()),
    };
    let named = lanes.len() > 1;
    for (index, step) in schedule.iter().enumerate() {
        if options.interrupted.load(Ordering::SeqCst) {
            break;
        }
        let cell = &cells[step.cell];
        let lane = &mut lanes[step.lane];
        context.dir = lane.dir;
        context.server_program = lane.server_program;
        let (dir, manifest) = (lane.dir, &mut *lane.manifest);
        let label = format!(
            "{}{} {} {}",
            match named {
                true => format!("[{}] ", lane.name),
                false => String::new(),
            },
            cell.workload.name(),
            cell.server.label(),
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
        // A staged cell ramps until something gives: the thresholds mark its knee
        // (report/staged.rs) rather than fail it.
        if !record.failed() && record.load_mode != "staged" {
            record.thresholds_failed = failed_thresholds(&checks, &record);
        }
        manifest.thresholds_failed += usize::from(!record.thresholds_failed.is_empty());
        let database_died = database.as_mut().and_then(Database::crash);
        if let Some(crash) = &database_died {
            mark_crashed(&mut record, crash);
        }
        dir.append_cell(&record)?;
        manifest.cells_done += 1;
        manifest.cells_failed += usize::from(record.failed());
        dir.write_manifest(manifest)?;
        context.progress.finish_cell(index, &record);
        if let Some(crash) = database_died {
            anyhow::bail!(
                "the throwaway PostgreSQL died ({}): {} (its log: {})",
                crash.status,
                crash.log_tail,
                dir.samples_dir().join("postgres.log").display()
            );
        }
    }
    context.progress.finish();
    if let Some(upstream) = upstream {
        upstream.stop();
    }
    if let Some(mut database) = database {
        let pgbench = scenario.database.pgbench.as_ref();
        if let Some(spec) = pgbench.filter(|_| !options.interrupted.load(Ordering::SeqCst)) {
            database.run_pgbench(spec, &scenario.pinning.database, dir);
            for lane in lanes.iter_mut() {
                lane.manifest.database = Some(database.info.clone());
                lane.dir.write_manifest(lane.manifest)?;
            }
        }
        database.stop();
    }
    Ok(())
}

/// The default scenario.
pub fn default_scenario() -> &'static Path {
    Path::new("scenarios/quick.toml")
}

/// Runs the batch pipeline once per repetition, rewriting `pipeline.json` after each,
/// so its checks (C3, C9, C12) get repetitions like the cells' and an interrupted run
/// keeps the runs done.
fn run_pipeline(
    spec: &crate::pipeline::PipelineOptions,
    repetitions: u32,
    dir: &RunDir,
    interrupted: &AtomicBool,
) -> anyhow::Result<()> {
    let mut all = Vec::new();
    for repetition in 1..=repetitions {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let timings = crate::pipeline::run(spec)?;
        all.extend(
            timings
                .into_iter()
                .map(|t| crate::pipeline::Timing { repetition, ..t }),
        );
        std::fs::write(
            dir.root().join("pipeline.json"),
            serde_json::to_vec_pretty(&all)?,
        )?;
    }
    Ok(())
}
