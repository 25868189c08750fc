//! The command line: clap definitions and what each subcommand does, one file per
//! family of commands. `main` only parses, calls [`run`], and prints the error once;
//! [`exit`] names every exit status a command can end with.
//!
//! - `load`: `sabench load` and `sabench merge` (the load generator);
//! - `serve`: `sabench serve`, `upstream`, `postgres`, `supervise` (the processes
//!   under test);
//! - `runs`: `sabench run`, `report`, `compare`, `check`, `invariance`, `ab`,
//!   `pipeline`, `verify` (scenarios and their results).

mod load;
mod runs;
mod serve;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

pub use load::{load_config, LoadArgs, MergeArgs};
pub use runs::{
    AbArgs, CheckArgs, CompareArgs, InvarianceArgs, PipelineArgs, ReportArgs, RunArgs, VerifyArgs,
};
pub use serve::{LimitArgs, PostgresArgs, ServeArgs, SuperviseArgs, UpstreamArgs, WorkloadArgs};

/// Every exit status a command ends with, by name (`--help` and the README list them).
pub mod exit {
    /// Bad input: a flag, a setting, a URL (clap's own status for a bad flag).
    pub const BAD_INPUT: u8 = 2;
    /// `load --strict`: the run is INVALID.
    pub const INVALID_RUN: u8 = 2;
    /// `load --threshold`: a threshold failed.
    pub const THRESHOLD_FAILED: u8 = 3;
    /// `run`: some cells failed (their server crashed, or the load could not run).
    pub const CELLS_FAILED: u8 = 3;
    /// `run`: measured cells failed the scenario's thresholds.
    pub const THRESHOLD_FAILED_IN_RUN: u8 = 4;
    /// `compare --fail-on`, `ab`: a gate failed (a real change beyond its bound, or
    /// missing data).
    pub const GATE_FAILED: u8 = 3;
    /// `invariance`: some figure moved with a knob of the bench, or could not be told.
    pub const NOT_INVARIANT: u8 = 5;
    /// Interrupted (Ctrl-C, SIGTERM): what finished is kept.
    pub const INTERRUPTED: u8 = 130;
}

/// Blocking threads vs async vs hybrid: identical HTTP workloads, measured fairly.
#[derive(Debug, Parser)]
#[command(
    name = "sabench",
    version = crate::results::manifest::VERSION,
    about,
    long_about = None,
    after_help = "Exit status: 0 success; 1 an error (printed once), a gated claim that did not hold (check); \
    2 bad input (a flag, a setting, a URL), or an INVALID run under load --strict; \
    3 a failed threshold (load), failed cells (run), or a failed gate (compare --fail-on, ab); \
    4 cells that failed the scenario's thresholds (run); 5 a figure set by the bench (invariance); \
    130 interrupted (what finished is kept)."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the routes (/null /io /cpu /mixed /fanout /health) in one style.
    Serve(ServeArgs),
    /// Run the mock upstream dependency (latency, jitter, injected errors, /stats).
    Upstream(UpstreamArgs),
    /// Check that every style answers every route correctly and byte-identically.
    Verify(VerifyArgs),
    /// Load an HTTP/1.1 or HTTP/2 server on loopback (open loop with --rate, closed loop with --connections).
    Load(Box<LoadArgs>),
    /// One generator process of a `load` run split over several (started by `load`
    /// itself: reads its order as JSON on stdin, writes its workers' messages on stdout).
    #[command(hide = true)]
    LoadShard,
    /// Run a server of the user's own (a scenario's `[[targets]]` command) in a process
    /// group of its own, and stop all of it when the runner asks or dies (started by
    /// `run`).
    #[command(hide = true)]
    Supervise(SuperviseArgs),
    /// Merge the --json reports of the shards of one run (`load --shard I/N`) exactly:
    /// counts and histograms add, percentiles are recomputed, valid only if every shard is.
    Merge(MergeArgs),
    /// Run a throwaway PostgreSQL (initdb in a temporary folder, fsync=off, a seeded
    /// `users` table) on a free loopback port until Ctrl-C; the folder is removed after.
    Postgres(PostgresArgs),
    /// Run a scenario: every style × workload × load level, into a new folder under results/.
    ///
    /// A cell whose server crashes or cannot start is recorded as failed and the run
    /// goes on. Exit status: 0 every cell ran, 3 some cells failed (see "Failed cells"
    /// in summary.md), 4 a measured cell failed the scenario's `thresholds`, 130
    /// interrupted (finished cells kept), 1 the run could not go on.
    Run(RunArgs),
    /// Rebuild a run's summary, charts and HTML from its data files.
    Report(ReportArgs),
    /// Compare two runs cell by cell (before → after), flagging changes beyond the noise.
    Compare(CompareArgs),
    /// Time the articles' batch pipeline (fetch F sources, transform) every way (C3, C9, C12).
    Pipeline(PipelineArgs),
    /// Check the articles' claims against a run: writes claims.md; gated claims set the exit code.
    Check(CheckArgs),
    /// Run a scenario as written, then again with each of the bench's own knobs changed
    /// (window doubled, generator connections doubled, probe connections doubled), and
    /// say whether each ratio and headline figure moved beyond its noise.
    ///
    /// A figure that moves with a knob of the bench describes the bench, not the
    /// styles. Writes invariance.md and invariance.json beside the runs. Exit status:
    /// 0 every figure stayed within its noise, 5 some moved or could not be told, 130
    /// interrupted (what was compared so far kept), 1 the check could not run.
    Invariance(InvarianceArgs),
    /// Compare two builds of the servers: every cell of a scenario measured for both,
    /// back to back in alternating order (ABBA…), tested pair by pair
    ///
    /// Both builds' servers are driven by this binary's generator and upstream on the
    /// same cores; drift between minutes moves both sides of a pair alike and cancels in
    /// the paired (Wilcoxon signed-rank) test. Writes before/, after/, ab.md (a table
    /// for a pull request) and ab.json. Exit status: 0 no gate failed, 3 a gate failed
    /// (a real change beyond its bound, or missing data), 130 interrupted, 1 the
    /// comparison could not run.
    Ab(AbArgs),
}

/// Runs the parsed command; the exit code says whether it succeeded.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::serve(args),
        Command::Upstream(args) => serve::upstream(args),
        Command::Verify(args) => runs::verify(args),
        Command::Load(args) => load::load(*args),
        Command::Merge(args) => load::merge(args),
        Command::Supervise(args) => {
            crate::run::supervisor::supervise(args.port, &args.command, args.setup.as_deref())
        }
        Command::LoadShard => {
            crate::load::split::run_child(std::io::stdin().lock(), std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Postgres(args) => serve::postgres(args),
        Command::Run(args) => runs::run_scenario(args),
        Command::Report(args) => runs::report(args),
        Command::Compare(args) => runs::compare(args),
        Command::Pipeline(args) => runs::pipeline(args),
        Command::Check(args) => runs::check(args),
        Command::Invariance(args) => runs::invariance(args),
        Command::Ab(args) => runs::ab(args),
    }
}

/// Writes `value` to `path` as pretty JSON.
pub(crate) fn write_json(
    path: &std::path::Path,
    value: &impl serde::Serialize,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    serde_json::to_writer_pretty(std::io::BufWriter::new(file), value)
        .with_context(|| format!("cannot write {}", path.display()))
}
