//! `sabench run`, `report`, `compare`, `check`, `invariance`, `ab`, `pipeline` and
//! `verify`: scenarios run into result folders, and what is read back out of them.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::exit;
use crate::verify::{self, VerifyOptions};

/// `sabench ab`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    sabench ab --before old/sabench --after target/release/sabench scenarios/ab.toml --fail-on 'cpu:+5%' --fail-on 'rps:-5%'")]
pub struct AbArgs {
    /// Scenario file: its cells are measured for both builds.
    #[arg(default_value = "scenarios/ab.toml")]
    pub scenario: std::path::PathBuf,
    /// The `sabench` executable built before the change (its servers are measured).
    #[arg(long)]
    pub before: std::path::PathBuf,
    /// The `sabench` executable built after it.
    #[arg(long)]
    pub after: std::path::PathBuf,
    /// Pairs per cell [default: the scenario's repetitions]; at least 6, the fewest
    /// whose signed-rank test can call a change real.
    #[arg(long, value_parser = clap::value_parser!(u32).range(6..=60))]
    pub pairs: Option<u32>,
    /// A gate, repeatable: `cpu:+5%` (server CPU per request, schedstat), `rps:-5%`,
    /// `p95:+10%`, `generator_cpu:+5%` (the generator's own CPU per request),
    /// `error_rate:+1pp` (percentage points). Fails on a real change beyond its bound,
    /// and on missing data.
    #[arg(long = "fail-on", value_name = "METRIC:±N%")]
    pub fail_on: Vec<crate::report::compare::FailOn>,
    /// Folder under which the comparison's own folder is created.
    #[arg(long, default_value = "results")]
    pub out: std::path::PathBuf,
    /// The database workloads query this PostgreSQL instead of a throwaway one.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

/// `sabench check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A run folder of a scenario with checks (e.g. scenarios/claims.toml).
    pub dir: std::path::PathBuf,
}

/// `sabench pipeline`.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Sources fetched.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sources: u32,
    /// Latency of each source.
    #[arg(long, default_value = "50ms", value_parser = crate::load::input_bounds::parse_span)]
    pub latency: Duration,
    /// Threads of the thread-pool way.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,
    /// Fetches at once in the semaphore way (and the C9 ways).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Fraction of failing sources in the C9 ways.
    #[arg(long, default_value_t = 0.1, value_parser = super::serve::parse_fraction)]
    pub error_rate: f64,
    /// Write the timings as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
}

/// `sabench run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file.
    #[arg(default_value = "scenarios/quick.toml")]
    pub scenario: std::path::PathBuf,
    /// Folder under which the run's own folder is created (never overwriting a run).
    #[arg(long, default_value = "results")]
    pub out: std::path::PathBuf,
    /// The database workloads query this PostgreSQL (it needs the seeded `users`
    /// table) instead of a throwaway one `sabench` starts and removes.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Serve each cell's load figures (labelled by cell) and the running server's
    /// memory, CPU, threads and run queue (labelled by style) for Prometheus at
    /// http://ADDR/metrics while the run goes. Loopback only (port 0: any free one,
    /// printed).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Push the same figures once a second to a Prometheus remote-write receiver at URL
    /// (remote write 1.0, e.g. http://127.0.0.1:9090/api/v1/write). Loopback only.
    #[arg(long, value_name = "URL")]
    pub metrics_push: Option<String>,
    /// Plain progress lines instead of the live terminal view (the view is shown only
    /// when stdin and stdout are a terminal and CI is not set).
    #[arg(long)]
    pub no_tui: bool,
}

/// `sabench invariance`.
#[derive(Debug, Args)]
pub struct InvarianceArgs {
    /// Scenario file (use at least 3 repetitions: a figure's noise is its spread).
    #[arg(required_unless_present = "rewrite")]
    pub scenario: Option<std::path::PathBuf>,
    /// Measure nothing: compare again the runs of an earlier check's folder (after the
    /// comparison's rules changed) and rewrite its invariance.md and invariance.json.
    #[arg(long, value_name = "FOLDER", conflicts_with = "factors")]
    pub rewrite: Option<std::path::PathBuf>,
    /// Folder under which the check's own folder is created (never overwriting a run).
    #[arg(long, default_value = "results")]
    pub out: std::path::PathBuf,
    /// The knobs to change, one run each (default: all three).
    #[arg(long = "factor", value_enum)]
    pub factors: Vec<crate::run::invariance::Factor>,
    /// The database workloads query this PostgreSQL instead of a throwaway one.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

/// `sabench report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run folder, e.g. results/20261122-010203-quick.
    pub dir: std::path::PathBuf,
    /// Print the whole summary (every table, the Why, the recommendation in full), not
    /// just the findings.
    #[arg(long)]
    pub full: bool,
}

/// `sabench compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The earlier run folder.
    pub before: std::path::PathBuf,
    /// The later run folder (the comparison is also written into it).
    pub after: std::path::PathBuf,
    /// A CI gate, repeatable: `p95:+10%` (a rise beyond 10 % fails), `rps:-5%` (a fall
    /// beyond 5 %), `error_rate:+1pp` (percentage points); metrics rps p50 p95 p99 cpu
    /// error_rate. Exit 3 when a change is beyond its bound and real (Mann–Whitney p <
    /// 0.05 over the repetitions), or a side has no usable value.
    #[arg(long = "fail-on", value_name = "METRIC:±N%")]
    pub fail_on: Vec<crate::report::compare::FailOn>,
}

/// `sabench verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// SHA-256 rounds for /cpu and /mixed.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub cpu_rounds: u32,
    /// Upstream calls per /io and /mixed request.
    #[arg(long, default_value_t = 3)]
    pub io_calls: u32,
    /// Upstream calls per /fanout request.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub fanout_calls: u32,
    /// Also check /db, /db-slow and /db-fanout against this PostgreSQL (it needs the
    /// seeded `users` table that `sabench postgres` creates).
    #[arg(long, env = "DATABASE_URL", conflicts_with = "postgres")]
    pub database_url: Option<String>,
    /// Also check the database routes, against a throwaway PostgreSQL started (and
    /// removed) for the purpose.
    #[arg(long)]
    pub postgres: bool,
}

pub(super) fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    // Registered before the cluster starts, so a Ctrl-C during its start waits for it
    // and then removes it, rather than killing this process with the folder left.
    let stop = match args.postgres {
        true => Some(
            crate::sys::shutdown::flag_on_signals().context("cannot install the Ctrl-C handler")?,
        ),
        false => None,
    };
    let cluster = match args.postgres {
        true => Some(crate::db::Cluster::start(
            &std::env::temp_dir(),
            &crate::db::ClusterSettings::default(),
        )?),
        false => None,
    };
    let database_url = cluster.as_ref().map(|c| c.url()).or(args.database_url);
    let cluster = std::sync::Arc::new(std::sync::Mutex::new(cluster));
    if let Some(stop) = stop {
        stop_cluster_on(stop, cluster.clone());
    }
    let options = VerifyOptions {
        cpu_rounds: args.cpu_rounds,
        io_calls: args.io_calls,
        fanout_calls: args.fanout_calls,
        database_url,
        ..VerifyOptions::default()
    };
    let report = verify::verify(&options);
    let taken = cluster.lock().ok().and_then(|mut held| held.take());
    if let Some(cluster) = taken {
        cluster.stop();
    }
    let report = report?;
    print!("{}", report.render());
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Once `stop` is set (Ctrl-C, SIGTERM): stops the throwaway PostgreSQL (its folder
/// removed) and exits 130, so an interrupted `verify --postgres` leaves nothing behind.
fn stop_cluster_on(
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cluster: std::sync::Arc<std::sync::Mutex<Option<crate::db::Cluster>>>,
) {
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let taken = cluster.lock().ok().and_then(|mut held| held.take());
        if let Some(cluster) = taken {
            cluster.stop();
            eprintln!("interrupted: the throwaway PostgreSQL is stopped and its folder removed");
        }
        std::process::exit(130);
    });
}

/// How a scenario runs from the command line: Ctrl-C handled, the file limit raised,
/// servers started from this executable.
fn run_options(
    scenario: std::path::PathBuf,
    out: std::path::PathBuf,
    database_url: Option<String>,
) -> anyhow::Result<crate::run::RunOptions> {
    let interrupted =
        crate::sys::shutdown::flag_on_signals().context("cannot install the Ctrl-C handler")?;
    crate::sys::file_limits::raise_open_file_limit();
    Ok(crate::run::RunOptions {
        scenario,
        out,
        sabench: std::env::current_exe().context("cannot find the sabench executable")?,
        interrupted,
        database_url,
        metrics: None,
        live: None,
    })
}

pub(super) fn run_scenario(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut options = run_options(args.scenario, args.out, args.database_url)?;
    let exposed = crate::watch::metrics::expose(args.metrics_listen, args.metrics_push.as_deref())?
        .inspect(|exposed| {
            options.metrics = Some(exposed.exposition.clone());
        });
    let title = format!("sabench run {}", options.scenario.display());
    let view = crate::watch::terminal::open(&title, args.no_tui, &options.interrupted)
        .context("cannot start the live view: run with --no-tui")?
        .map(|(board, view)| {
            options.live = Some(board);
            view
        });
    let outcome = crate::run::run(&options);
    if let Some(view) = view {
        view.finish();
    }
    let outcome = outcome?;
    if let Some(exposed) = exposed {
        exposed.finish();
    }
    let root = outcome.dir.root().display();
    if outcome.interrupted {
        eprintln!(
            "interrupted: kept {} of {} cells in {root} (report written from them)",
            outcome.cells_done, outcome.cells_planned
        );
        return Ok(ExitCode::from(exit::INTERRUPTED));
    }
    print_findings(&outcome.dir, false)?;
    if outcome.cells_failed > 0 {
        eprintln!(
            "{} of {} cells failed: see \"Failed cells\" in {root}/summary.md (the server's log is in samples/<cell>.server.log)",
            outcome.cells_failed, outcome.cells_planned
        );
        return Ok(ExitCode::from(exit::CELLS_FAILED));
    }
    if outcome.thresholds_failed > 0 {
        eprintln!(
            "{} measured cells failed the scenario's thresholds: see \"Thresholds\" in {root}/summary.md",
            outcome.thresholds_failed
        );
        return Ok(ExitCode::from(exit::THRESHOLD_FAILED_IN_RUN));
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn pipeline(args: PipelineArgs) -> anyhow::Result<ExitCode> {
    let options = crate::pipeline::PipelineOptions {
        sources: args.sources,
        latency: args.latency,
        threads: args.threads,
        limit: args.limit,
        error_rate: args.error_rate,
        ..Default::default()
    };
    let timings = crate::pipeline::run(&options)?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&timings)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    print!("{}", crate::report::pipeline::render(&options, &timings));
    Ok(ExitCode::SUCCESS)
}

pub(super) fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let dir = crate::results::RunDir::open(&args.dir)?;
    let run = crate::report::RunData::read(&dir)?;
    anyhow::ensure!(
        !crate::report::claims::checks(&run).is_empty(),
        "{} has no claims checks: run a scenario with checks first, e.g. `sabench run scenarios/claims.toml`",
        args.dir.display()
    );
    let outcome = crate::report::claims::check(&run);
    let path = dir.write_text("claims.md", &outcome.text)?;
    print!("{}", outcome.text);
    eprintln!("written to {}", path.display());
    for line in &outcome.gate_lines {
        eprintln!("{line}");
    }
    if outcome.gates_hold {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("a gated claim did not hold (see the `gate` column): exiting with status 1");
        Ok(ExitCode::FAILURE)
    }
}

pub(super) fn invariance(args: InvarianceArgs) -> anyhow::Result<ExitCode> {
    if let Some(folder) = args.rewrite {
        let report = crate::report::invariance::rewrite(&folder)?;
        print!("{}", crate::report::invariance::render(&report));
        eprintln!("rewritten: {}", folder.join("invariance.md").display());
        return Ok(match report.invariant {
            true => ExitCode::SUCCESS,
            false => ExitCode::from(exit::NOT_INVARIANT),
        });
    }
    let scenario = args
        .scenario
        .context("give a scenario file (or --rewrite FOLDER)")?;
    let options = run_options(scenario, args.out, args.database_url)?;
    let factors = if args.factors.is_empty() {
        crate::run::invariance::Factor::ALL.to_vec()
    } else {
        args.factors
    };
    let outcome = crate::run::invariance::run(&options, &factors)?;
    let path = outcome.root.join("invariance.md");
    print!("{}", std::fs::read_to_string(&path).unwrap_or_default());
    eprintln!("written to {}", path.display());
    if outcome.interrupted {
        eprintln!(
            "interrupted: the runs measured so far are compared in {}",
            path.display()
        );
        return Ok(ExitCode::from(exit::INTERRUPTED));
    }
    if outcome.invariant {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "some figure moved with a knob of the bench, or could not be told: exiting with status {}",
            exit::NOT_INVARIANT
        );
        Ok(ExitCode::from(exit::NOT_INVARIANT))
    }
}

pub(super) fn ab(args: AbArgs) -> anyhow::Result<ExitCode> {
    let options = run_options(args.scenario, args.out, args.database_url)?;
    let ab = crate::run::ab::AbOptions {
        before: args.before,
        after: args.after,
        pairs: args.pairs,
        gates: args.fail_on,
    };
    let outcome = crate::run::ab::run(&options, &ab)?;
    let path = outcome.root.join("ab.md");
    print!("{}", outcome.text);
    let Some(report) = outcome.report else {
        eprintln!(
            "interrupted before both builds had a cell: nothing to compare ({})",
            outcome.root.display()
        );
        return Ok(ExitCode::from(exit::INTERRUPTED));
    };
    eprintln!("written to {}", path.display());
    if outcome.interrupted {
        eprintln!("interrupted: the pairs measured so far are compared");
        return Ok(ExitCode::from(exit::INTERRUPTED));
    }
    if report.failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "{} gate(s) failed: exiting with status {}",
        report.failures.len(),
        exit::GATE_FAILED
    );
    Ok(ExitCode::from(exit::GATE_FAILED))
}

pub(super) fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let dir = crate::results::RunDir::open(&args.dir)?;
    let written = crate::report::build(&dir)?;
    eprintln!(
        "wrote {} files in {} (summary.md, report.html, charts/)",
        written.len(),
        dir.root().display()
    );
    print_findings(&dir, args.full)?;
    Ok(ExitCode::SUCCESS)
}

/// The end of a run or a report on the terminal: the findings (or, with `full`, the
/// whole summary), then where the report is and how to see more.
fn print_findings(dir: &crate::results::RunDir, full: bool) -> anyhow::Result<()> {
    let root = dir.root().display();
    if full {
        let summary = std::fs::read_to_string(dir.root().join("summary.md"))
            .with_context(|| format!("cannot read {root}/summary.md"))?;
        println!("{summary}");
        return Ok(());
    }
    let run = crate::report::RunData::read(dir)?;
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(60, 160);
    println!("Findings\n");
    print!("{}", crate::report::findings::terminal(&run, width));
    println!("report:  {root}/report.html (open it in a browser)");
    println!("summary: {root}/summary.md");
    println!("more:    sabench report {root} --full");
    Ok(())
}

pub(super) fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let before = crate::results::RunDir::open(&args.before)?;
    let after = crate::results::RunDir::open(&args.after)?;
    let comparison = crate::report::compare::compare(&before, &after, &args.fail_on)?;
    let path = after.write_text(&format!("compare-vs-{}.md", before.id()), &comparison.text)?;
    println!("{}", comparison.text);
    eprintln!("written to {}", path.display());
    if comparison.failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "{} change(s) beyond a --fail-on bound and real: exiting with status {}",
        comparison.failures.len(),
        exit::GATE_FAILED
    );
    Ok(ExitCode::from(exit::GATE_FAILED))
}
