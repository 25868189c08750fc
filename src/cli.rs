//! The command line: clap definitions and what each subcommand does.
//! `main` only parses, calls [`run`], and prints the error once.

use std::io::{IsTerminal as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::load::{LoadConfig, Schedule};
use crate::server::{self, Offload, ServerConfig, Style, StyleConfig, Variant};
use crate::shutdown::Shutdown;
use crate::upstream::{self, Distribution, UpstreamConfig};
use crate::verify::{self, VerifyOptions};
use crate::workload::{CpuSpec, DbSpec, FanoutPolicy, FanoutSpec, IoMode, IoSpec, WorkloadConfig};

/// Blocking threads vs async vs hybrid: identical HTTP workloads, measured fairly.
#[derive(Debug, Parser)]
#[command(name = "sabench", version = crate::results::manifest::VERSION, about, long_about = None)]
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
    /// Load an HTTP/1.1 server on loopback (open loop with --rate, closed loop with --connections).
    Load(LoadArgs),
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
    /// Run a scenario: every style × workload × load level, into results/<run-id>/.
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
    #[arg(long, default_value_t = 0.1, value_parser = parse_fraction)]
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

/// `sabench load`.
#[derive(Debug, Args)]
#[command(
    after_help = "Output: every scheduled request is accounted for (scheduled = sent + unsent; sent = answered + in flight at the end). \
    The headline latency is that of the successful requests, corrected (from the intended send time), shown with the share it describes and the error share; \
    `all, corrected` covers every request, errors included and unfinished ones at end − intended (a lower bound). A latency with no request behind it prints as —.\n\n\
    Examples:\n  \
    sabench load http://127.0.0.1:8080/null --connections 50 --duration 10s        # closed loop: max throughput\n  \
    sabench load http://127.0.0.1:8080/io --rate 2000 --duration 30s --warmup 5s   # open loop, corrected latency\n  \
    sabench load http://127.0.0.1:8080/io --rate 500 --rate-step 500 --step-every 10s --max-rate 5000 --duration 100s\n  \
    sabench load http://127.0.0.1:8080/null -c 10000 --ramp 2000 --rate 1000 --duration 10s   # hold 10k connections\n  \
    sabench load http://127.0.0.1:8080/io --rate 1000 -d 30s --threshold 'p95<50ms' --threshold 'error_rate<0.1%'   # a CI gate (exit 3)"
)]
pub struct LoadArgs {
    /// Target, e.g. http://127.0.0.1:8080/null (loopback unless --allow-remote).
    #[arg(required_unless_present = "url_file")]
    pub url: Option<String>,
    /// A weighted mix of URLs on one host instead of URL: `WEIGHT URL` (or `URL`) a line;
    /// each request picks one by weight, deterministically from --seed.
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    pub url_file: Option<std::path::PathBuf>,
    /// The request method.
    #[arg(long, short = 'm', default_value = "GET")]
    pub method: String,
    /// A request header, `Name: value`, repeatable (`Host: …` replaces the URL's host).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// The request body.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// The request body, read from a file.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<std::path::PathBuf>,
    /// A new connection per request (`Connection: close`); the connect time is reported
    /// on its own line.
    #[arg(long)]
    pub no_keepalive: bool,
    /// Open loop: how arrivals are spaced (poisson: seeded exponential gaps, as real
    /// traffic; latency is still corrected from each intended time).
    #[arg(long, value_enum, default_value_t = crate::load::pacer::Arrival::Uniform)]
    pub arrival: crate::load::pacer::Arrival,
    /// Seeds the Poisson gaps and the URL mix's picks: the same seed, the same requests at
    /// the same intended times.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write every intended send time (seconds from the start, one a line) to FILE.
    #[arg(long, value_name = "FILE")]
    pub send_log: Option<std::path::PathBuf>,
    /// Load from many machines: run shard I of N of this run (--rate and --connections
    /// are the whole run's), from the common --start-at; merge the shards' --json with
    /// `sabench merge`.
    #[arg(long, value_name = "I/N", requires = "start_at", value_parser = crate::load::shard::parse_shard, conflicts_with = "processes")]
    pub shard: Option<(usize, usize)>,
    /// The common start of a sharded run: an RFC 3339 time or Unix seconds (give every
    /// shard the same, a few seconds ahead).
    #[arg(long, value_name = "TIME", requires = "shard", value_parser = crate::load::shard::parse_start_at)]
    pub start_at: Option<u64>,
    /// Open loop: requests per second, sent on schedule whatever the server does.
    #[arg(long, value_parser = crate::load::input_bounds::parse_rate)]
    pub rate: Option<f64>,
    /// Open loop: add this many req/s every --step-every (a stepped rate).
    #[arg(long, requires_all = ["rate", "step_every"], value_parser = crate::load::input_bounds::parse_rate)]
    pub rate_step: Option<f64>,
    /// Open loop: time between rate steps.
    #[arg(long, requires = "rate_step", value_parser = crate::load::input_bounds::parse_span)]
    pub step_every: Option<Duration>,
    /// Open loop: the stepped rate stops growing here.
    #[arg(long, requires = "rate_step", value_parser = crate::load::input_bounds::parse_rate)]
    pub max_rate: Option<f64>,
    /// Connections; closed loop when given without --rate [open-loop default: 32].
    #[arg(long, short = 'c', value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections: Option<u32>,
    /// Length of the measured window [default: 10s, or unbounded in time with --requests].
    #[arg(long, short = 'd', value_parser = crate::load::input_bounds::parse_span)]
    pub duration: Option<Duration>,
    /// Stop after this many measured requests.
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Load before the measured window, discarded.
    #[arg(long, default_value = "0s", value_parser = crate::load::input_bounds::parse_span)]
    pub warmup: Duration,
    /// Generator threads, each with its share of the connections (1 per core you give it).
    #[arg(long, short = 't', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,
    /// A reply slower than this counts as a timeout error; requests in flight when the window ends get min(this, 2s) to finish.
    #[arg(long, default_value = "10s", value_parser = crate::load::input_bounds::parse_span)]
    pub timeout: Duration,
    /// A connect slower than this counts as a connect_timeout error.
    #[arg(long, default_value = "2s", value_parser = crate::load::input_bounds::parse_span)]
    pub connect_timeout: Duration,
    /// Largest response head the generator reads (it is kept whole to parse); a longer
    /// one fails the request as too_large and drops the connection.
    #[arg(long, default_value_t = crate::load::client::DEFAULT_MAX_HEAD_BYTES as u64, value_parser = clap::value_parser!(u64).range(1024..=(1 << 30)))]
    pub max_response_head_bytes: u64,
    /// Largest response body the generator reads (it is dropped as it streams, so this
    /// bounds time, not memory); a longer one fails the request as too_large.
    #[arg(long, default_value_t = crate::load::client::DEFAULT_MAX_BODY_BYTES, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_response_body_bytes: u64,
    /// Connection scale: open every connection first, this many per second, hold them
    /// all while --rate is spread over them, and report how many opened and stayed up
    /// (e.g. `-c 10000 --ramp 2000 --rate 1000`).
    #[arg(long, requires = "rate", value_parser = crate::load::input_bounds::parse_rate, value_name = "CONNS_PER_S")]
    pub ramp: Option<f64>,
    /// Generator processes, each with its share of the connections and the rate, their
    /// histograms merged exactly [default: as many as the open-file limit requires, usually 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=crate::load::shard::MAX_PROCESSES as i64))]
    pub processes: Option<u32>,
    /// Write the report as JSON (schema: schemas/load-report.schema.json).
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
    /// Write per-second HdrHistograms as a standard interval log (tags corrected and service: successes; all-corrected: every request).
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<std::path::PathBuf>,
    /// Exit 2 when the run is INVALID (the target stopped answering, or the generator could not keep the load).
    #[arg(long)]
    pub strict: bool,
    /// Print the latency distribution: the percentile spectrum and a histogram (as
    /// `wrk --latency`); it is in the JSON either way.
    #[arg(long)]
    pub latency: bool,
    /// A pass/fail check for CI, repeatable: `p95<100ms`, `all_p99<=1s`, `error_rate<0.1%`,
    /// `rps>=5000` (latencies are the successful requests' unless `all_`); exit 3 when
    /// one fails.
    #[arg(long = "threshold", value_name = "CHECK")]
    pub thresholds: Vec<crate::load::threshold::Threshold>,
    /// Permit a target that is not on loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// HTTPS: accept any certificate (a self-signed test server); the server is then not
    /// authenticated.
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// HTTPS: trust the certificates in this PEM file (a private CA, a self-signed server).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<std::path::PathBuf>,
    /// No per-second progress lines.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `sabench merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' JSON reports (`load --shard I/N --json FILE`), every shard once.
    #[arg(required = true)]
    pub shards: Vec<std::path::PathBuf>,
    /// Write the merged report here as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// A shard's HdrHistogram interval log (`load --hlog`), repeatable: merged into
    /// --hlog-out second by second.
    #[arg(long = "hlog", value_name = "FILE", requires = "hlog_out")]
    pub hlogs: Vec<std::path::PathBuf>,
    /// Write the merged interval log here.
    #[arg(long, value_name = "FILE", requires = "hlogs")]
    pub hlog_out: Option<std::path::PathBuf>,
}

/// `sabench supervise`.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The port the target was given (announced to the runner).
    #[arg(long)]
    pub port: u16,
    /// What to do when the program cannot be started (printed with the error).
    #[arg(long)]
    pub setup: Option<String>,
    /// The program and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `sabench serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Concurrency style of the server.
    #[arg(long, value_enum)]
    pub style: Style,
    /// TCP port (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Loopback address to bind (127.0.0.1 or ::1).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// blocking: threads in the fixed pool [default: 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub threads: Option<u32>,
    /// blocking: one thread per connection instead of a fixed pool.
    #[arg(long, conflicts_with = "threads")]
    pub thread_per_connection: bool,
    /// async, hybrid: tokio worker threads [default: number of cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: Option<u32>,
    /// hybrid: where CPU work goes [default: spawn-blocking].
    #[arg(long, value_enum)]
    pub offload: Option<Offload>,
    /// hybrid with --offload rayon: rayon threads [default: number of cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub rayon_threads: Option<u32>,
    /// A pattern or anti-pattern from the claims (C4, C6, C8, C10) to serve instead of the standard handler.
    #[arg(long, value_enum, default_value_t = Variant::Standard)]
    pub variant: Variant,
    /// async, hybrid with --variant limited or bounded-queue: requests served at once
    /// (bounded-queue: and the most that may wait) [default: 16].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub in_service: Option<u32>,
    /// Testing only: spin a thread beside the server, so a one-core server runs about
    /// 2× slower (the broken twin that shows a gated claim can fail).
    #[arg(long)]
    pub cpu_hog: bool,
    /// async, hybrid: do not run the runtime-lag probe (only to measure what it costs).
    #[arg(long)]
    pub no_lag_probe: bool,
    /// /db*: connections the database pool may hold, a number or `unbounded`
    /// [default: 16, every style].
    #[arg(long, value_parser = parse_pool_size)]
    pub db_pool: Option<usize>,
    /// blocking: each serving thread's stack in KiB [default: Rust's, 2048]; a thread
    /// per connection at 64 KiB is the smallest sane setting for these routes.
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..=1_048_576))]
    pub stack_kib: Option<u32>,
    /// The open-file limit to run with, e.g. the common default 1024, to see where the
    /// style stops working for lack of descriptors [default: the hard limit].
    #[arg(long, value_parser = clap::value_parser!(u64).range(16..))]
    pub open_files: Option<u64>,
    /// The work behind each route.
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// How long shutdown (SIGINT/SIGTERM) waits for in-flight requests.
    #[arg(long, default_value = "10s", value_parser = crate::load::input_bounds::parse_span)]
    pub grace: Duration,
    /// What one client may cost the server.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The limits every style enforces, the same flags for each (defaults that real
/// servers use and that never fire in a benchmark).
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits (every style)")]
pub struct LimitArgs {
    /// From a request's first byte to its whole head; then 408 (blocking) or close (hyper).
    #[arg(long, default_value = "10s", value_parser = crate::load::input_bounds::parse_span)]
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit with no request before it is closed.
    #[arg(long, default_value = "60s", value_parser = crate::load::input_bounds::parse_span)]
    pub idle_timeout: Duration,
    /// How long a response may wait on a client that does not read it.
    #[arg(long, default_value = "10s", value_parser = crate::load::input_bounds::parse_span)]
    pub write_timeout: Duration,
    /// Largest request head in bytes (then 431); at least 8192.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(8192..=(1 << 30)))]
    pub max_header_bytes: u64,
    /// Largest request body in bytes (then 413 and close, without reading it).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body_bytes: u64,
    /// Most connections open at once; one more is answered 503 and closed.
    #[arg(long, default_value_t = 25_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
}

impl LimitArgs {
    /// The limits these flags set.
    pub fn limits(&self) -> anyhow::Result<server::Limits> {
        let limits = server::Limits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            write_timeout: self.write_timeout,
            max_header_bytes: usize::try_from(self.max_header_bytes)?,
            max_body_bytes: usize::try_from(self.max_body_bytes)?,
            max_connections: usize::try_from(self.max_connections)?,
        };
        limits
            .check()
            .map_err(|why| anyhow::anyhow!("bad limit: {why}"))?;
        Ok(limits)
    }
}

/// The work behind each route (the same for every request on a route).
#[derive(Debug, Args)]
pub struct WorkloadArgs {
    /// /cpu, /mixed: SHA-256 rounds per request.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub cpu_rounds: u32,
    /// /io, /mixed: sequential waits per request (K).
    #[arg(long, default_value_t = 1)]
    pub io_calls: u32,
    /// /io, /mixed: latency of each wait in sleep mode (L).
    #[arg(long, default_value = "20ms", value_parser = crate::load::input_bounds::parse_span)]
    pub io_latency: Duration,
    /// /io, /mixed: an in-process timer, or a GET to --upstream.
    #[arg(long, value_enum, default_value_t = IoMode::Sleep)]
    pub io_mode: IoMode,
    /// /fanout: upstream calls per request (F).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub fanout_calls: u32,
    /// /fanout: at most this many calls at once [default: all of them].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub fanout_limit: Option<u32>,
    /// /fanout: what a failed call does to the request.
    #[arg(long, value_enum, default_value_t = FanoutPolicy::WaitAll)]
    pub fanout_policy: FanoutPolicy,
    /// Base URL of the mock upstream, e.g. http://127.0.0.1:9000 (loopback only).
    #[arg(long, value_parser = parse_upstream_url)]
    pub upstream: Option<String>,
    /// Bound on each upstream call; a slower one is answered with 502.
    #[arg(long, default_value = "5s", value_parser = crate::load::input_bounds::parse_span)]
    pub upstream_timeout: Duration,
    /// /db, /db-slow, /db-fanout: the PostgreSQL to query, e.g.
    /// postgres://sabench@127.0.0.1:5432/sabench (start one with `sabench postgres`).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// /db: point lookups per request, one after another (K).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub db_lookups: u32,
    /// /db-slow: how long each query holds its connection (L, pg_sleep).
    #[arg(long, default_value = "20ms", value_parser = crate::load::input_bounds::parse_span)]
    pub db_hold: Duration,
    /// /db-fanout: lookups per request, all at once, each on its own connection (N).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub db_fanout: u32,
    /// Bound on connecting to the database, on waiting for a pooled connection, and on
    /// each query; past it the request is answered 503 or 502.
    #[arg(long, default_value = "5s", value_parser = crate::load::input_bounds::parse_span)]
    pub db_timeout: Duration,
}

/// `sabench upstream`.
#[derive(Debug, Args)]
pub struct UpstreamArgs {
    /// TCP port (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 9000)]
    pub port: u16,
    /// Loopback address to bind (127.0.0.1 or ::1).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Latency of each call (the mean for --distribution exponential).
    #[arg(long, default_value = "20ms", value_parser = crate::load::input_bounds::parse_span)]
    pub latency: Duration,
    /// With --distribution uniform: latency ± jitter.
    #[arg(long, default_value = "0ms", value_parser = crate::load::input_bounds::parse_span)]
    pub jitter: Duration,
    /// How each call's latency is drawn.
    #[arg(long, value_enum, default_value_t = Distribution::Fixed)]
    pub distribution: Distribution,
    /// Fraction of calls (0 to 1) answered with HTTP 500, spread evenly.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    pub error_rate: f64,
    /// Seed for the latency samples (same seed, same latencies).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// tokio worker threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: u32,
    /// A fault phase timed from start, e.g. `from=5s,for=5s,mode=stall` (stall, error or down); repeatable.
    #[arg(long = "fault", value_name = "PHASE")]
    pub faults: Vec<crate::upstream::FaultPhase>,
    /// At most this many calls in progress; more are refused with 503 (a connection limit).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_inflight: Option<u32>,
    /// What one client may cost the upstream.
    #[command(flatten)]
    pub limits: LimitArgs,
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

/// Runs the parsed command; the exit code says whether it succeeded.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Upstream(args) => upstream(args),
        Command::Verify(args) => verify(args),
        Command::Load(args) => load(args),
        Command::Merge(args) => merge(args),
        Command::Supervise(args) => {
            crate::run::supervisor::supervise(args.port, &args.command, args.setup.as_deref())
        }
        Command::LoadShard => {
            crate::load::shard::run_child(std::io::stdin().lock(), std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Postgres(args) => postgres(args),
        Command::Run(args) => run_scenario(args),
        Command::Report(args) => report(args),
        Command::Compare(args) => compare(args),
        Command::Pipeline(args) => pipeline(args),
        Command::Check(args) => check(args),
        Command::Invariance(args) => invariance(args),
        Command::Ab(args) => ab(args),
    }
}

fn parse_upstream_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .ok_or_else(|| format!("{text:?} must start with http:// (e.g. http://127.0.0.1:9000)"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let loopback = match authority.parse::<SocketAddr>() {
        Ok(addr) => addr.ip().is_loopback(),
        Err(_) => authority
            .strip_prefix("localhost:")
            .is_some_and(|p| p.parse::<u16>().is_ok()),
    };
    if !loopback {
        return Err(format!(
            "{text:?} is not a loopback address with a port: the upstream must be http://127.0.0.1:PORT"
        ));
    }
    Ok(format!("http://{authority}"))
}

/// A database pool size: a number of connections, or `unbounded`.
fn parse_pool_size(text: &str) -> Result<usize, String> {
    use crate::workload::db::UNBOUNDED_POOL;
    match text {
        "unbounded" => Ok(UNBOUNDED_POOL),
        _ => match text.parse::<usize>() {
            Ok(n) if (1..=UNBOUNDED_POOL).contains(&n) => Ok(n),
            _ => Err(format!(
                "{text:?} is not a pool size: give a number of connections (1 to {UNBOUNDED_POOL}) or `unbounded`"
            )),
        },
    }
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!(
            "{text:?} is not a fraction between 0 and 1 (e.g. 0.1 for 10 %)"
        )),
    }
}

/// Builds the style's knobs, refusing knobs that belong to another style.
fn style_config(args: &ServeArgs) -> anyhow::Result<StyleConfig> {
    let mut config = StyleConfig::new(args.style);
    let misplaced = |flag: &str, styles: &str| {
        anyhow::anyhow!(
            "{flag} applies to --style {styles}, not --style {}",
            crate::run::flag_value(&args.style)
        )
    };
    let is_blocking = args.style == Style::Blocking;
    if let Some(threads) = args.threads {
        if !is_blocking {
            return Err(misplaced("--threads", "blocking"));
        }
        config.threads = threads as usize;
    }
    if args.thread_per_connection && !is_blocking {
        return Err(misplaced("--thread-per-connection", "blocking"));
    }
    config.thread_per_connection = args.thread_per_connection;
    if let Some(workers) = args.workers {
        if is_blocking {
            return Err(misplaced("--workers", "async or hybrid"));
        }
        config.workers = workers as usize;
    }
    if let Some(offload) = args.offload {
        if args.style != Style::Hybrid {
            return Err(misplaced("--offload", "hybrid"));
        }
        config.offload = offload;
    }
    if !args.variant.fits(args.style, config.thread_per_connection) {
        bail!(
            "--variant {} does not apply to --style {}{}",
            args.variant.name(),
            crate::run::flag_value(&args.style),
            if config.thread_per_connection {
                " --thread-per-connection"
            } else {
                ""
            }
        );
    }
    config.variant = args.variant;
    if let Some(in_service) = args.in_service {
        if !config.admits() {
            return Err(misplaced(
                "--in-service",
                "async or hybrid with --variant limited or bounded-queue",
            ));
        }
        config.in_service = in_service as usize;
    }
    config.cpu_hog = args.cpu_hog;
    config.db_pool = args.db_pool;
    config.open_files = args.open_files;
    if let Some(kib) = args.stack_kib {
        if !is_blocking {
            return Err(misplaced("--stack-kib", "blocking"));
        }
        config.stack_kib = Some(kib as usize);
    }
    if args.no_lag_probe && is_blocking {
        return Err(misplaced("--no-lag-probe", "async or hybrid"));
    }
    config.lag_probe = !args.no_lag_probe;
    if let Some(threads) = args.rayon_threads {
        if config.offload != Offload::Rayon {
            return Err(misplaced("--rayon-threads", "hybrid --offload rayon"));
        }
        config.rayon_threads = threads as usize;
    }
    Ok(config)
}

fn workload_config(args: &WorkloadArgs) -> anyhow::Result<WorkloadConfig> {
    if args.io_mode == IoMode::Upstream && args.upstream.is_none() {
        bail!("--io-mode upstream needs --upstream http://127.0.0.1:PORT (start one with `sabench upstream --port 9000`)");
    }
    Ok(WorkloadConfig {
        cpu: CpuSpec {
            rounds: args.cpu_rounds,
        },
        io: IoSpec {
            calls: args.io_calls,
            latency: args.io_latency,
            mode: args.io_mode,
        },
        fanout: FanoutSpec {
            calls: args.fanout_calls,
            limit: args.fanout_limit,
            policy: args.fanout_policy,
        },
        upstream: args.upstream.clone(),
        upstream_timeout: args.upstream_timeout,
        db: DbSpec {
            url: args.database_url.clone(),
            lookups: args.db_lookups,
            hold: args.db_hold,
            fanout: args.db_fanout,
            timeout: args.db_timeout,
            ..DbSpec::default()
        },
        ..WorkloadConfig::default()
    })
}

/// `sabench postgres`.
#[derive(Debug, Args)]
pub struct PostgresArgs {
    /// PostgreSQL's `max_connections`.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_connections: u32,
    /// PostgreSQL's `shared_buffers` (e.g. 128MB).
    #[arg(long, default_value = "128MB")]
    pub shared_buffers: String,
    /// Rows seeded into `users` (ids 1..=N).
    #[arg(long, default_value_t = 100_000)]
    pub seed_rows: u32,
    /// Where the cluster's temporary folder goes [default: the system temporary folder].
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Also stop when stdin closes (how a runner that dies, even by SIGKILL, still gets
    /// its cluster stopped and removed).
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
}

fn postgres(args: PostgresArgs) -> anyhow::Result<ExitCode> {
    let settings = crate::db::ClusterSettings {
        max_connections: args.max_connections,
        shared_buffers: args.shared_buffers,
        seed_rows: args.seed_rows,
    };
    let shutdown = Shutdown::new();
    shutdown
        .trigger_on_signals()
        .context("cannot install the SIGINT/SIGTERM handler")?;
    let parent = args.dir.unwrap_or_else(std::env::temp_dir);
    crate::db::run_until_stopped(&settings, &parent, &shutdown, args.stop_on_stdin_eof)?;
    eprintln!("postgres stopped, its folder removed");
    Ok(ExitCode::SUCCESS)
}

/// Binds `addr`, prints the line orchestrators wait for (`WHAT listening on URL`),
/// and runs `serve` until SIGINT/SIGTERM has drained it.
fn serve_until_signal(
    what: &str,
    addr: SocketAddr,
    serve: impl FnOnce(std::net::TcpListener, Shutdown) -> std::io::Result<()>,
) -> anyhow::Result<ExitCode> {
    let listener = crate::net::bind_loopback(addr)?;
    let shutdown = Shutdown::new();
    shutdown
        .trigger_on_signals()
        .context("cannot install the SIGINT/SIGTERM handler")?;
    println!("{what} listening on http://{}", listener.local_addr()?);
    let _ = std::io::stdout().flush();
    serve(listener, shutdown).with_context(|| format!("{what} stopped with an error"))?;
    eprintln!("shut down cleanly");
    Ok(ExitCode::SUCCESS)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = ServerConfig {
        style: style_config(&args)?,
        workload: workload_config(&args.workload)?,
        grace: args.grace,
        limits: args.limits.limits()?,
    };
    let label = config.style.label();
    match config.style.open_files {
        Some(files) => crate::load::set_open_file_limit(files)
            .with_context(|| format!("cannot set the open-file limit to {files}"))?,
        // Every connection is a descriptor: take the hard limit, as the generator does.
        None => {
            crate::load::raise_open_file_limit();
        }
    }
    serve_until_signal(
        &label,
        SocketAddr::new(args.bind, args.port),
        |listener, shutdown| server::serve(listener, config, shutdown),
    )
}

fn upstream(args: UpstreamArgs) -> anyhow::Result<ExitCode> {
    let config = UpstreamConfig {
        latency: args.latency,
        jitter: args.jitter,
        distribution: args.distribution,
        error_rate: args.error_rate,
        seed: args.seed,
        faults: args.faults.clone(),
        max_inflight: args.max_inflight,
        limits: args.limits.limits()?,
        ..UpstreamConfig::default()
    };
    crate::load::raise_open_file_limit();
    serve_until_signal(
        "upstream",
        SocketAddr::new(args.bind, args.port),
        |listener, shutdown| upstream::serve(listener, config, args.workers as usize, shutdown),
    )
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    // Registered before the cluster starts, so a Ctrl-C during its start waits for it
    // and then removes it, rather than killing this process with the folder left.
    let stop = match args.postgres {
        true => {
            Some(crate::shutdown::flag_on_signals().context("cannot install the Ctrl-C handler")?)
        }
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

/// `Name: value` as a header.
fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not a header: write `Name: value`"))?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid || value.contains(['\r', '\n']) {
        return Err(format!("{text:?} is not a valid header"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// The request part of the flags: method, headers, body, keep-alive.
fn request_spec(args: &LoadArgs) -> anyhow::Result<crate::load::target::RequestSpec> {
    let method = args.method.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        bail!(
            "--method {:?} is not an HTTP method (e.g. GET, POST)",
            args.method
        );
    }
    let body = match (&args.body, &args.body_file) {
        (Some(body), _) => body.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path)
            .with_context(|| format!("cannot read --body-file {}", path.display()))?,
        (None, None) => Vec::new(),
    };
    Ok(crate::load::target::RequestSpec {
        method,
        headers: args.headers.clone(),
        body,
        keep_alive: !args.no_keepalive,
    })
}

/// Builds the run from the flags.
pub fn load_config(args: &LoadArgs) -> anyhow::Result<LoadConfig> {
    let mix = match &args.url_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --url-file {}", path.display()))?;
            crate::load::target::parse_url_file(&text, &path.display().to_string())
                .map_err(anyhow::Error::msg)?
        }
        None => Vec::new(),
    };
    let url = match (&args.url, mix.first()) {
        (Some(url), _) => url.clone(),
        (None, Some((_, first))) => first.clone(),
        (None, None) => bail!("give a URL or --url-file"),
    };
    let schedule = match (args.rate, args.rate_step, args.step_every) {
        (None, _, _) => Schedule::Closed,
        (Some(rate), Some(step), Some(every)) => Schedule::Stepped {
            start: rate,
            step,
            every,
            max: args.max_rate,
        },
        (Some(rate), _, _) => Schedule::Constant { rate },
    };
    let connections = match (args.connections, schedule) {
        (Some(c), _) => c as usize,
        (None, Schedule::Closed) => bail!(
            "say how to load: --rate R (open loop, latency corrected for coordinated omission) or --connections C (closed loop, maximum throughput)"
        ),
        (None, _) => 32,
    };
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(Duration::from_secs(10)),
        (duration, _) => duration,
    };
    Ok(LoadConfig {
        url: url.clone(),
        schedule,
        connections,
        threads: args.threads as usize,
        duration,
        requests: args.requests,
        warmup: args.warmup,
        timeout: args.timeout,
        connect_timeout: args.connect_timeout,
        inject_panic_at_request: std::env::var("SABENCH_INJECT_GENERATOR_PANIC")
            .ok()
            .and_then(|n| n.trim().parse().ok()),
        read_limits: crate::load::client::ReadLimits {
            max_head_bytes: usize::try_from(args.max_response_head_bytes)?,
            max_body_bytes: args.max_response_body_bytes,
        },
        allow_remote: args.allow_remote,
        hlog: args.hlog.clone(),
        progress: !args.quiet && std::io::stderr().is_terminal(),
        ramp: args.ramp,
        processes: args.processes.map(|n| n as usize),
        request: request_spec(args)?,
        mix,
        arrival: args.arrival,
        seed: args.seed,
        send_log: args.send_log.clone(),
        tls: crate::load::tls::TlsOptions {
            insecure: args.insecure,
            cacert: args.cacert.clone(),
        },
        shard: args
            .shard
            .zip(args.start_at)
            .map(
                |((index, count), start_unix_ns)| crate::load::shard::ShardOf {
                    index,
                    count,
                    start_unix_ns,
                },
            ),
        ..LoadConfig::closed(&url, connections, Duration::from_secs(10))
    })
}

fn load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    crate::load::raise_open_file_limit();
    let stopped =
        crate::shutdown::flag_on_signals().context("cannot install the Ctrl-C handler")?;
    let config = LoadConfig {
        stop: Some(stopped.clone()),
        ..load_config(&args)?
    };
    let mut report = crate::load::run(&config)?;
    report.thresholds = crate::load::threshold::check_all(&args.thresholds, &report);
    let panicked = !report.generator_panics.is_empty();
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    print!("{}", report.render());
    if let (true, Some(distribution)) = (args.latency, &report.latency_distribution) {
        print!("{}", distribution.render());
    }
    if !report.thresholds.is_empty() {
        print!(
            "thresholds\n{}",
            crate::load::threshold::render(&report.thresholds)
        );
    }
    if stopped.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("interrupted: the report covers the load up to Ctrl-C");
        return Ok(ExitCode::from(130));
    }
    let failed = report.thresholds.iter().filter(|t| !t.passed).count();
    Ok(if panicked {
        eprintln!(
            "error: the generator panicked (a bug in sabench: please report it with the command line): {}",
            report.generator_panics.join("; ")
        );
        ExitCode::FAILURE
    } else if args.strict && !report.valid {
        eprintln!("--strict: the run is INVALID, exiting with status 2");
        ExitCode::from(2)
    } else if failed > 0 {
        eprintln!(
            "{failed} of {} thresholds failed, exiting with status 3",
            report.thresholds.len()
        );
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes `value` to `path` as pretty JSON.
fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    serde_json::to_writer_pretty(std::io::BufWriter::new(file), value)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::new();
    let mut names = Vec::new();
    for path in &args.shards {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        let report: crate::load::LoadReport = serde_json::from_slice(&bytes)
            .with_context(|| format!("{name} is not a load report (sabench load --json)"))?;
        reports.push(report);
        names.push(name);
    }
    let merged = crate::load::merge::merge(&reports, &names)?;
    if let Some(path) = &args.out {
        write_json(path, &merged)?;
    }
    if let Some(path) = &args.hlog_out {
        crate::load::merge::merge_logs(&args.hlogs, path)?;
    }
    print!("{}", merged.render());
    Ok(ExitCode::SUCCESS)
}

/// How a scenario runs from the command line: Ctrl-C handled, the file limit raised,
/// servers started from this executable.
fn run_options(
    scenario: std::path::PathBuf,
    out: std::path::PathBuf,
    database_url: Option<String>,
) -> anyhow::Result<crate::run::RunOptions> {
    let interrupted =
        crate::shutdown::flag_on_signals().context("cannot install the Ctrl-C handler")?;
    crate::load::raise_open_file_limit();
    Ok(crate::run::RunOptions {
        scenario,
        out,
        sabench: std::env::current_exe().context("cannot find the sabench executable")?,
        interrupted,
        database_url,
    })
}

fn run_scenario(args: RunArgs) -> anyhow::Result<ExitCode> {
    let options = run_options(args.scenario, args.out, args.database_url)?;
    let outcome = crate::run::run(&options)?;
    let root = outcome.dir.root().display();
    if outcome.interrupted {
        eprintln!(
            "interrupted: kept {} of {} cells in {root} (report written from them)",
            outcome.cells_done, outcome.cells_planned
        );
        return Ok(ExitCode::from(130));
    }
    let summary =
        std::fs::read_to_string(outcome.dir.root().join("summary.md")).unwrap_or_default();
    println!("{summary}");
    eprintln!("results: {root}/ (summary.md, report.html, charts/, cells.csv)");
    if outcome.cells_failed > 0 {
        eprintln!(
            "{} of {} cells failed: see \"Failed cells\" in {root}/summary.md (the server's log is in samples/<cell>.server.log)",
            outcome.cells_failed, outcome.cells_planned
        );
        return Ok(ExitCode::from(3));
    }
    if outcome.thresholds_failed > 0 {
        eprintln!(
            "{} measured cells failed the scenario's thresholds: see \"Thresholds\" in {root}/summary.md",
            outcome.thresholds_failed
        );
        return Ok(ExitCode::from(4));
    }
    Ok(ExitCode::SUCCESS)
}

fn pipeline(args: PipelineArgs) -> anyhow::Result<ExitCode> {
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

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
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

/// Exit status of an invariance check where some figure moved or could not be told.
const EXIT_NOT_INVARIANT: u8 = 5;

fn invariance(args: InvarianceArgs) -> anyhow::Result<ExitCode> {
    if let Some(folder) = args.rewrite {
        let report = crate::report::invariance::rewrite(&folder)?;
        print!("{}", crate::report::invariance::render(&report));
        eprintln!("rewritten: {}", folder.join("invariance.md").display());
        return Ok(match report.invariant {
            true => ExitCode::SUCCESS,
            false => ExitCode::from(EXIT_NOT_INVARIANT),
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
        return Ok(ExitCode::from(130));
    }
    if outcome.invariant {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("some figure moved with a knob of the bench, or could not be told: exiting with status {EXIT_NOT_INVARIANT}");
        Ok(ExitCode::from(EXIT_NOT_INVARIANT))
    }
}

fn ab(args: AbArgs) -> anyhow::Result<ExitCode> {
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
        return Ok(ExitCode::from(130));
    };
    eprintln!("written to {}", path.display());
    if outcome.interrupted {
        eprintln!("interrupted: the pairs measured so far are compared");
        return Ok(ExitCode::from(130));
    }
    if report.failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "{} gate(s) failed: exiting with status 3",
        report.failures.len()
    );
    Ok(ExitCode::from(3))
}

fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let dir = crate::results::RunDir::open(&args.dir)?;
    for path in crate::report::build(&dir)? {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
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
        "{} change(s) beyond a --fail-on bound and real: exiting with status 3",
        comparison.failures.len()
    );
    Ok(ExitCode::from(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_must_be_loopback() {
        assert_eq!(
            parse_upstream_url("http://127.0.0.1:9000/").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert!(parse_upstream_url("http://localhost:9000").is_ok());
        assert!(parse_upstream_url("http://[::1]:9000").is_ok());
        assert!(parse_upstream_url("http://10.0.0.1:9000").is_err());
        assert!(parse_upstream_url("https://127.0.0.1:9000").is_err());
        assert!(parse_upstream_url("http://example.com:80").is_err());
    }

    #[test]
    fn the_limit_flags_default_to_the_limits_defaults() {
        for kind in ["serve --style async", "upstream"] {
            let words = std::iter::once("sabench").chain(kind.split(' '));
            let limits = match Cli::try_parse_from(words).unwrap().command {
                Command::Serve(args) => args.limits.limits(),
                Command::Upstream(args) => args.limits.limits(),
                _ => unreachable!(),
            };
            assert_eq!(limits.unwrap(), server::Limits::default(), "{kind}");
        }
    }

    #[test]
    fn a_style_config_s_own_flags_parse_back_to_it() {
        use crate::server::{Offload, Variant};
        let mut configs = Vec::new();
        for style in [Style::Blocking, Style::Async, Style::Hybrid] {
            configs.push(StyleConfig::new(style));
        }
        configs.push(StyleConfig {
            threads: 7,
            variant: Variant::BoundedQueue,
            ..StyleConfig::new(Style::Blocking)
        });
        configs.push(StyleConfig {
            thread_per_connection: true,
            ..StyleConfig::new(Style::Blocking)
        });
        configs.push(StyleConfig {
            offload: Offload::Rayon,
            rayon_threads: 3,
            workers: 1,
            ..StyleConfig::new(Style::Hybrid)
        });
        for config in configs {
            let words = config.args();
            let cli = Cli::try_parse_from(
                ["sabench", "serve"]
                    .into_iter()
                    .map(String::from)
                    .chain(words.clone()),
            )
            .unwrap_or_else(|e| panic!("{words:?}: {e}"));
            let Command::Serve(args) = cli.command else {
                unreachable!()
            };
            assert_eq!(style_config(&args).unwrap(), config, "{words:?}");
        }
    }

    #[test]
    fn knobs_of_another_style_are_refused() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(["sabench", "serve"].iter().chain(args)).unwrap();
            match cli.command {
                Command::Serve(args) => style_config(&args),
                _ => unreachable!(),
            }
        };
        assert!(parse(&["--style", "async", "--threads", "4"]).is_err());
        assert!(parse(&["--style", "blocking", "--workers", "4"]).is_err());
        assert!(parse(&["--style", "blocking", "--no-lag-probe"]).is_err());
        assert!(
            !parse(&["--style", "async", "--no-lag-probe"])
                .unwrap()
                .lag_probe
        );
        assert!(parse(&["--style", "hybrid", "--rayon-threads", "4"]).is_err());
        let rayon = parse(&[
            "--style",
            "hybrid",
            "--offload",
            "rayon",
            "--rayon-threads",
            "3",
        ])
        .unwrap();
        assert_eq!(rayon.rayon_threads, 3);
        assert_eq!(
            parse(&["--style", "blocking", "--threads", "4"])
                .unwrap()
                .threads,
            4
        );
    }

    #[test]
    fn error_rate_must_be_a_fraction() {
        assert!(parse_fraction("0.1").is_ok());
        assert!(parse_fraction("1.5").is_err());
        assert!(parse_fraction("ten").is_err());
    }
}
