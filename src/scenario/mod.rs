//! Scenario files (`scenarios/*.toml`): the matrix of styles × workloads × load levels,
//! with durations, repetitions, pinning and upstream settings. Unknown keys and bad
//! values are errors that name the file, the line and the key.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::pair::{Pair, PAIR_METRICS};
pub use crate::pipeline::PipelineOptions;

pub mod plan;

use crate::server::{Offload, Style, StyleConfig};
use crate::workload::{CpuSpec, FanoutSpec, IoMode, IoSpec, Route, WorkloadConfig};

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name; names the run folder.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Measured window of each cell.
    #[serde(default = "defaults::duration", with = "humantime_serde")]
    pub duration: Duration,
    /// Discarded load before it.
    #[serde(default = "defaults::warmup", with = "humantime_serde")]
    pub warmup: Duration,
    /// Times each cell runs.
    #[serde(default = "defaults::one")]
    pub repetitions: u32,
    /// CPUs for each process (empty: not pinned).
    #[serde(default)]
    pub pinning: Pinning,
    /// The mock dependency.
    #[serde(default)]
    pub upstream: UpstreamSpec,
    /// What one client may cost a server (`[limits]`: header_read_timeout,
    /// idle_timeout, write_timeout, max_header_bytes, max_body_bytes, max_connections),
    /// the same for every style and the upstream.
    #[serde(default)]
    pub limits: crate::net::Limits,
    /// The built-in styles and their knobs.
    #[serde(default)]
    pub styles: Vec<StyleSpec>,
    /// Servers of the user's own (`[[targets]]`), measured beside the styles.
    #[serde(default)]
    pub targets: Vec<TargetSpec>,
    /// The workloads (may be empty when the scenario has `[slowloris]`).
    #[serde(default)]
    pub workloads: Vec<WorkloadSpec>,
    /// The load levels (may have none when the scenario has `[slowloris]`).
    #[serde(default)]
    pub load: LoadSpec,
    /// Slow clients as a measured property of each style: per style and per count
    /// of slow clients, a cell measuring a light probe load while they hold connections.
    #[serde(default)]
    pub slowloris: Option<SlowlorisSpec>,
    /// Wrong-versus-right pairs to show side by side (with a threshold: claims checks).
    #[serde(default)]
    pub pairs: Vec<Pair>,
    /// Also time the batch pipeline (`sabench pipeline`) after the cells.
    #[serde(default)]
    pub pipeline: Option<PipelineOptions>,
    /// The PostgreSQL of the `db`, `db-slow` and `db-fanout` workloads.
    #[serde(default)]
    pub database: DatabaseSpec,
    /// Pass/fail checks every measured cell must meet, as `sabench load --threshold`
    /// takes them (`p95<100ms`, `error_rate<0.1%`, `rps>=5000`): a failed one is
    /// listed in its cell and the summary, and the run exits 4.
    #[serde(default)]
    pub thresholds: Vec<String>,
    /// The objective for the report's recommendation where a workload has no
    /// saturation search of its own.
    #[serde(default)]
    pub recommendation: Option<RecommendationSpec>,
    /// What `sabench invariance` measures again with each knob of the bench changed
    /// (`[invariance]`; default: everything, at the scenario's repetitions).
    #[serde(default)]
    pub invariance: Option<InvarianceSpec>,
}

/// The part of a scenario the invariance check's changed runs measure again: the
/// headline workloads, at fewer repetitions, so the check fits beside a long run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvarianceSpec {
    /// The workloads measured again (by name; "pipeline" for the batch pipeline). The
    /// others' figures are marked "not measured again" rather than judged.
    pub workloads: Vec<String>,
    /// Repetitions of each changed run (default: the scenario's; at least 3, since a
    /// figure's noise is its spread).
    #[serde(default)]
    pub repetitions: Option<u32>,
}

impl Scenario {
    /// Its thresholds, parsed (checked when the scenario was read).
    pub fn checks(&self) -> Vec<crate::load::threshold::Threshold> {
        self.thresholds
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect()
    }

    /// CPUs of the server for a workload's cells: the workload's own `server_cpus`,
    /// else `[pinning] server` (empty: not pinned).
    pub fn server_cpus<'a>(&'a self, workload: &'a WorkloadSpec) -> &'a [usize] {
        workload
            .server_cpus
            .as_deref()
            .unwrap_or(&self.pinning.server)
    }
}

/// CPUs for each process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pinning {
    /// CPUs of the server under test.
    #[serde(default)]
    pub server: Vec<usize>,
    /// CPUs of the load generator.
    #[serde(default)]
    pub generator: Vec<usize>,
    /// CPUs of the upstream.
    #[serde(default)]
    pub upstream: Vec<usize>,
    /// CPUs of the throwaway PostgreSQL (and of pgbench's reference run).
    #[serde(default)]
    pub database: Vec<usize>,
}

/// The PostgreSQL the database workloads query (`[database]`): a throwaway cluster
/// `sabench` starts and removes (the default), or an existing server (`url`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    /// An existing server (`postgres://user:password@127.0.0.1:5432/db`) with the
    /// seeded `users` table, instead of a throwaway one; `--database-url` and
    /// `DATABASE_URL` override it.
    #[serde(default)]
    pub url: Option<String>,
    /// The throwaway cluster's `max_connections`.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// The throwaway cluster's `shared_buffers`.
    #[serde(default = "defaults::shared_buffers")]
    pub shared_buffers: String,
    /// Rows seeded into `users`.
    #[serde(default = "defaults::seed_rows")]
    pub seed_rows: u32,
    /// Run pgbench with the same query on the same server, pooled and connecting per
    /// transaction, as the ceiling the styles are compared with.
    #[serde(default)]
    pub pgbench: Option<PgbenchSpec>,
}

impl Default for DatabaseSpec {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: defaults::max_connections(),
            shared_buffers: defaults::shared_buffers(),
            seed_rows: defaults::seed_rows(),
            pgbench: None,
        }
    }
}

/// pgbench's reference run (`[database.pgbench]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgbenchSpec {
    /// Client connections (`-c`).
    #[serde(default = "defaults::pgbench_clients")]
    pub clients: u32,
    /// How long each of its runs lasts (`-T`, whole seconds).
    #[serde(default = "defaults::duration", with = "humantime_serde")]
    pub duration: Duration,
}

/// A database pool size in a scenario: a number of connections or `"unbounded"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PoolSize {
    /// At most this many connections.
    Connections(u32),
    /// `"unbounded"` (any other word is refused when the scenario is checked).
    Word(String),
}

impl PoolSize {
    /// The size the server is given, or None for a word other than `unbounded`.
    pub fn size(&self) -> Option<usize> {
        match self {
            PoolSize::Connections(n) if *n >= 1 => Some(*n as usize),
            PoolSize::Connections(_) => None,
            PoolSize::Word(word) if word == "unbounded" => {
                Some(crate::workload::db::UNBOUNDED_POOL)
            }
            PoolSize::Word(_) => None,
        }
    }
}

/// The mock upstream's behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Latency of each call.
    #[serde(default = "defaults::latency", with = "humantime_serde")]
    pub latency: Duration,
    /// Spread for the uniform distribution.
    #[serde(default, with = "humantime_serde")]
    pub jitter: Duration,
    /// fixed, uniform, or exponential.
    #[serde(default = "defaults::distribution")]
    pub distribution: crate::upstream::Distribution,
    /// Fraction of calls answered 500.
    #[serde(default)]
    pub error_rate: f64,
    /// Its tokio workers.
    #[serde(default = "defaults::one")]
    pub workers: u32,
    /// Fault phases, e.g. `["from=3s,for=2s,mode=stall"]`, timed from the upstream's start.
    #[serde(default)]
    pub faults: Vec<String>,
    /// At most this many calls in progress; more get 503 (a connection limit).
    #[serde(default)]
    pub max_inflight: Option<u32>,
    /// A fresh upstream for every cell (needed when faults are timed to a cell).
    #[serde(default)]
    pub per_cell: bool,
}

impl Default for UpstreamSpec {
    fn default() -> Self {
        Self {
            latency: defaults::latency(),
            jitter: Duration::ZERO,
            distribution: defaults::distribution(),
            error_rate: 0.0,
            workers: 1,
            faults: Vec::new(),
            max_inflight: None,
            per_cell: false,
        }
    }
}

/// One style with the knob values to sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StyleSpec {
    /// blocking, async, or hybrid.
    pub style: Style,
    /// blocking: pool sizes to sweep [default: 64].
    #[serde(default)]
    pub threads: Vec<u32>,
    /// blocking: one thread per connection instead of a pool.
    #[serde(default)]
    pub thread_per_connection: bool,
    /// async, hybrid: worker counts to sweep [default: one per core].
    #[serde(default)]
    pub workers: Vec<u32>,
    /// hybrid: spawn-blocking or rayon.
    #[serde(default)]
    pub offload: Option<Offload>,
    /// hybrid with rayon: pool size.
    #[serde(default)]
    pub rayon_threads: Option<u32>,
    /// A pattern or anti-pattern (blocking-in-async, no-pool, no-timeout, circuit-breaker, …).
    #[serde(default)]
    pub variant: crate::server::Variant,
    /// async, hybrid with variant `limited` or `bounded-queue`: requests served at once
    /// (and, for `bounded-queue`, the most that may wait) [default: 16].
    #[serde(default)]
    pub in_service: Option<u32>,
    /// Testing only: a thread spins beside the server (the broken twin CI uses to show
    /// that a gated claim fails when a style gets about 2× slower).
    #[serde(default)]
    pub cpu_hog: bool,
    /// Run only on these workloads (by name); empty: on every workload.
    #[serde(default)]
    pub only: Vec<String>,
    /// A fixed loopback port for this style's servers (e.g. to attach a profiler);
    /// default: any free port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Database pool sizes to sweep, numbers or `"unbounded"` [default: 16].
    #[serde(default)]
    pub db_pool: Vec<PoolSize>,
    /// blocking: each serving thread's stack in KiB [default: Rust's, 2 MiB].
    #[serde(default)]
    pub stack_kib: Option<u32>,
    /// The open-file limit the server runs with, e.g. 1024 [default: the hard limit].
    #[serde(default)]
    pub open_files: Option<u64>,
}

/// The routes a workload may load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadRoute {
    /// `/null`.
    Null,
    /// `/io`.
    Io,
    /// `/cpu`.
    Cpu,
    /// `/mixed`.
    Mixed,
    /// `/fanout`.
    Fanout,
    /// `/db`.
    Db,
    /// `/db-slow`.
    DbSlow,
    /// `/db-fanout`.
    DbFanout,
}

impl WorkloadRoute {
    /// The server route.
    pub fn route(self) -> Route {
        use crate::workload::db::DbRoute;
        match self {
            WorkloadRoute::Null => Route::Null,
            WorkloadRoute::Io => Route::Io,
            WorkloadRoute::Cpu => Route::Cpu,
            WorkloadRoute::Mixed => Route::Mixed,
            WorkloadRoute::Fanout => Route::Fanout,
            WorkloadRoute::Db => Route::Db(DbRoute::Lookups),
            WorkloadRoute::DbSlow => Route::Db(DbRoute::Slow),
            WorkloadRoute::DbFanout => Route::Db(DbRoute::Fanout),
        }
    }
}

/// A server of the user's own, started by the runner like a built-in style:
///
/// ```toml
/// [[targets]]
/// name = "flask-gunicorn-sync"
/// command = [".venv/bin/gunicorn", "-w", "{workers}", "-b", "127.0.0.1:{port}", "app_flask:app"]
/// cwd = "../examples/python"
/// ready = "/health"
/// routes = { io = "/io", cpu = "/cpu" }
/// workers = [4, 16]
/// ```
///
/// `{port}`, `{workers}`, `{upstream}`, `{database}`, `{cpu_rounds}`, `{io_calls}`,
/// `{io_latency_us}`, `{io_mode}` and `{db_lookups}` in `command` and `env` are replaced per cell; the
/// same values are in its environment as `SABENCH_PORT`, `SABENCH_WORKERS`, … .
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Its name in tables (its label, with `(workers=N)` when `workers` is swept).
    pub name: String,
    /// What it is, for the report (e.g. "Flask 3 under gunicorn, sync workers").
    #[serde(default)]
    pub description: String,
    /// The program and its arguments; a relative program path with a `/` is taken
    /// from `cwd`.
    pub command: Vec<String>,
    /// Its working folder, relative to the scenario file's folder [default: that folder].
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The path polled until it answers 200: the target is then ready.
    #[serde(default = "defaults::ready")]
    pub ready: String,
    /// How long it may take to become ready.
    #[serde(default = "defaults::ready_timeout", with = "humantime_serde")]
    pub ready_timeout: Duration,
    /// Which workload routes it serves, and at which path.
    pub routes: std::collections::BTreeMap<WorkloadRoute, String>,
    /// Worker counts to sweep, substituted for `{workers}` (empty: one variant).
    #[serde(default)]
    pub workers: Vec<u32>,
    /// Commands whose output names its version (e.g. `[["python", "--version"]]`),
    /// recorded in the manifest; run from `cwd`.
    #[serde(default)]
    pub version: Vec<Vec<String>>,
    /// Whether it answers the suite's routes byte for byte (then verify compares its
    /// bodies with the built-in styles').
    #[serde(default = "defaults::yes")]
    pub same_contract: bool,
    /// What to do when its program is missing (e.g. "run scripts/python-env.sh").
    #[serde(default)]
    pub setup: Option<String>,
    /// A fixed port [default: a free one for each cell].
    #[serde(default)]
    pub port: Option<u16>,
    /// Whether a saturation search starts it afresh for every probe (the default: no
    /// probe inherits another's queue or memory). False keeps one server for the
    /// search, each probe waiting until it is idle: for a server that takes long to
    /// start (gunicorn with many workers), at the price of memory figures that
    /// include what earlier probes left.
    #[serde(default = "defaults::yes")]
    pub restart_between_probes: bool,
}

/// The placeholders a target's command and environment may use.
pub const TARGET_PLACEHOLDERS: [&str; 9] = [
    "db_lookups",
    "port",
    "workers",
    "upstream",
    "database",
    "cpu_rounds",
    "io_calls",
    "io_latency_us",
    "io_mode",
];

impl TargetSpec {
    /// Its variants: one per worker count (or one).
    pub fn worker_counts(&self) -> Vec<Option<u32>> {
        if self.workers.is_empty() {
            vec![None]
        } else {
            self.workers.iter().copied().map(Some).collect()
        }
    }

    /// Whether it serves `workload`.
    pub fn serves(&self, workload: &WorkloadSpec) -> bool {
        self.routes.contains_key(&workload.route)
    }

    /// What is wrong with it, if anything.
    fn problem(&self) -> Option<String> {
        let name = &self.name;
        if name.trim().is_empty() {
            return Some("targets: `name` is empty".into());
        }
        if self.command.first().is_none_or(|p| p.trim().is_empty()) {
            return Some(format!(
                "target {name:?}: `command` is empty: give the program and its arguments, e.g. [\"python3\", \"app.py\", \"--port\", \"{{port}}\"]"
            ));
        }
        if !self.command.iter().any(|a| a.contains("{port}"))
            && !self.env.values().any(|v| v.contains("{port}"))
            && self.port.is_none()
        {
            return Some(format!(
                "target {name:?}: nothing tells it its port: put {{port}} in `command` or `env` (it is also in SABENCH_PORT), or give a fixed `port`"
            ));
        }
        if !self.ready.starts_with('/') {
            return Some(format!(
                "target {name:?}: `ready` must be a path starting with /, not {:?}",
                self.ready
            ));
        }
        if let Some((route, path)) = self.routes.iter().find(|(_, p)| !p.starts_with('/')) {
            return Some(format!(
                "target {name:?}: route {} maps to {path:?}: a path starts with /",
                route.route().path()
            ));
        }
        if self.routes.is_empty() {
            return Some(format!(
                "target {name:?}: `routes` is empty: say which workload routes it serves, e.g. {{ io = \"/io\" }}"
            ));
        }
        if self.workers.contains(&0) {
            return Some(format!("target {name:?}: `workers` must be at least 1"));
        }
        if !self.workers.is_empty()
            && !self.command.iter().any(|a| a.contains("{workers}"))
            && !self.env.values().any(|v| v.contains("{workers}"))
        {
            return Some(format!(
                "target {name:?}: `workers` is swept but neither `command` nor `env` uses {{workers}}"
            ));
        }
        let texts = self.command.iter().chain(self.env.values());
        for text in texts {
            if let Some(unknown) = unknown_placeholder(text) {
                return Some(format!(
                    "target {name:?}: unknown placeholder {{{unknown}}} in {text:?}; known: {}",
                    TARGET_PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
                ));
            }
        }
        None
    }
}

/// The first `{name}` in `text` that is not a target placeholder.
fn unknown_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        if !TARGET_PLACEHOLDERS.contains(&name) {
            return Some(name.to_string());
        }
        rest = &after[close + 1..];
    }
    None
}

/// One workload and its knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Which route.
    pub route: WorkloadRoute,
    /// Name in tables [default: the route].
    #[serde(default)]
    pub name: Option<String>,
    /// SHA-256 rounds (cpu, mixed).
    #[serde(default = "defaults::cpu_rounds")]
    pub cpu_rounds: u32,
    /// Sequential waits (io, mixed).
    #[serde(default = "defaults::one")]
    pub io_calls: u32,
    /// Latency of each wait in sleep mode (io, mixed).
    #[serde(default = "defaults::latency", with = "humantime_serde")]
    pub io_latency: Duration,
    /// sleep or upstream (io, mixed).
    #[serde(default = "defaults::io_mode")]
    pub io_mode: IoMode,
    /// Parallel upstream calls (fanout).
    #[serde(default = "defaults::fanout_calls")]
    pub fanout_calls: u32,
    /// At most this many at once (fanout).
    #[serde(default)]
    pub fanout_limit: Option<u32>,
    /// What a failed call does (fanout): wait-all, fail-fast, collect-all.
    #[serde(default)]
    pub fanout_policy: crate::workload::FanoutPolicy,
    /// Bound on each upstream call.
    #[serde(default = "defaults::timeout", with = "humantime_serde")]
    pub upstream_timeout: std::time::Duration,
    /// An upstream of its own, started fresh for each of its cells (instead of the
    /// scenario's `[upstream]`), e.g. with fault phases only this workload should see.
    #[serde(default)]
    pub upstream: Option<UpstreamSpec>,
    /// Closed-loop levels for this workload (instead of `[load] connections`).
    #[serde(default)]
    pub connections: Option<Vec<u32>>,
    /// Open-loop rates for this workload (instead of `[load] rates`).
    #[serde(default)]
    pub rates: Option<Vec<f64>>,
    /// A saturation search of this workload's own (instead of `[load] saturate`), e.g.
    /// for a throughput claim while the other workloads keep fixed levels.
    #[serde(default)]
    pub saturate: Option<Saturate>,
    /// Connection-scale levels for this workload (instead of `[load] held`).
    #[serde(default)]
    pub held: Option<Vec<u32>>,
    /// Connections of this workload's open-loop and saturation cells (instead of
    /// `[load] open_loop_connections`): by Little's law they cap the rate at
    /// connections ÷ the shortest latency, so a search for 15k req/s at 20 ms needs
    /// more than 300.
    #[serde(default)]
    pub open_loop_connections: Option<u32>,
    /// Point lookups per request, one after another (db).
    #[serde(default = "defaults::one")]
    pub db_lookups: u32,
    /// How long each query holds its connection (db-slow).
    #[serde(default = "defaults::latency", with = "humantime_serde")]
    pub db_hold: Duration,
    /// Lookups per request, all at once (db-fanout).
    #[serde(default = "defaults::fanout_calls")]
    pub db_fanout: u32,
    /// Bound on connecting, waiting for a pooled connection, and each query (db*).
    #[serde(default = "defaults::timeout", with = "humantime_serde")]
    pub db_timeout: Duration,
    /// CPUs of the server for this workload's cells (instead of `[pinning] server`),
    /// e.g. a CPU-bound claim that is about using more than one core.
    #[serde(default)]
    pub server_cpus: Option<Vec<usize>>,
}

impl WorkloadSpec {
    /// The workload of slowloris cells: `/null` (the cheapest route), named `slowloris`.
    pub fn slowloris_probe() -> Self {
        Self {
            route: WorkloadRoute::Null,
            name: Some("slowloris".into()),
            cpu_rounds: defaults::cpu_rounds(),
            io_calls: defaults::one(),
            io_latency: defaults::latency(),
            io_mode: defaults::io_mode(),
            fanout_calls: defaults::fanout_calls(),
            fanout_limit: None,
            fanout_policy: crate::workload::FanoutPolicy::default(),
            upstream_timeout: defaults::timeout(),
            upstream: None,
            connections: None,
            rates: None,
            saturate: None,
            held: None,
            open_loop_connections: None,
            db_lookups: defaults::one(),
            db_hold: defaults::latency(),
            db_fanout: defaults::fanout_calls(),
            db_timeout: defaults::timeout(),
            server_cpus: None,
        }
    }

    /// The name used in tables and file names.
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.route
                .route()
                .path()
                .trim_start_matches('/')
                .to_string()
        })
    }

    /// Whether serving it needs the upstream.
    pub fn needs_upstream(&self) -> bool {
        match self.route {
            WorkloadRoute::Fanout => true,
            WorkloadRoute::Io | WorkloadRoute::Mixed => self.io_mode == IoMode::Upstream,
            _ => false,
        }
    }

    /// Whether serving it needs the database.
    pub fn needs_database(&self) -> bool {
        matches!(self.route.route(), Route::Db(_))
    }

    /// The server-side workload configuration.
    pub fn config(&self, upstream: Option<String>) -> WorkloadConfig {
        WorkloadConfig {
            cpu: CpuSpec {
                rounds: self.cpu_rounds,
            },
            io: IoSpec {
                calls: self.io_calls,
                latency: self.io_latency,
                mode: self.io_mode,
            },
            fanout: FanoutSpec {
                calls: self.fanout_calls,
                limit: self.fanout_limit,
                policy: self.fanout_policy,
            },
            upstream,
            upstream_timeout: self.upstream_timeout,
            db: crate::workload::DbSpec {
                lookups: self.db_lookups,
                hold: self.db_hold,
                fanout: self.db_fanout,
                timeout: self.db_timeout,
                ..Default::default()
            },
            ..WorkloadConfig::default()
        }
    }
}

/// Load levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// Closed-loop connection counts.
    #[serde(default)]
    pub connections: Vec<u32>,
    /// Open-loop rates (req/s).
    #[serde(default)]
    pub rates: Vec<f64>,
    /// Connections for open-loop cells (the in-flight bound); a blocking pool gets at
    /// most one per thread (see `Level::for_style`).
    #[serde(default = "defaults::open_loop_connections")]
    pub open_loop_connections: u32,
    /// Search for the highest rate that meets an SLO.
    #[serde(default)]
    pub saturate: Option<Saturate>,
    /// Connection scale: numbers of connections to open first and hold while
    /// `held_rate` is spread over them all (e.g. [1000, 10000]).
    #[serde(default)]
    pub held: Vec<u32>,
    /// Requests per second over all held connections.
    #[serde(default = "defaults::held_rate")]
    pub held_rate: f64,
    /// Held connections opened per second (so the accept queue is not what is measured).
    #[serde(default = "defaults::held_ramp")]
    pub held_ramp: f64,
    /// Per-request timeout.
    #[serde(default = "defaults::timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Generator threads.
    #[serde(default = "defaults::one")]
    pub threads: u32,
    /// A second, light load on a cheap route during every cell (claims C4, C5): how
    /// long cheap requests wait while the main load runs.
    #[serde(default)]
    pub probe: Option<Probe>,
}

impl Default for LoadSpec {
    fn default() -> Self {
        Self {
            connections: Vec::new(),
            rates: Vec::new(),
            open_loop_connections: defaults::open_loop_connections(),
            saturate: None,
            held: Vec::new(),
            held_rate: defaults::held_rate(),
            held_ramp: defaults::held_ramp(),
            timeout: defaults::timeout(),
            threads: defaults::one(),
            probe: None,
        }
    }
}

/// Slowloris cells (`[slowloris]`): S slow clients each send part of a request head
/// and then one byte every `trickle` (reconnecting when the server cuts them off),
/// while a probe loads `/null` at `probe_rate` on fresh connections opened after
/// them. Shows how many slow clients it takes to push each style's probe p95 over
/// `slo`, and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowlorisSpec {
    /// Counts of slow clients, one cell per style each (0 is the baseline).
    pub clients: Vec<u32>,
    /// The probe's rate, req/s.
    #[serde(default = "defaults::slow_probe_rate")]
    pub probe_rate: f64,
    /// The probe's connections.
    #[serde(default = "defaults::probe_connections")]
    pub probe_connections: u32,
    /// The probe's p95 objective.
    #[serde(default = "defaults::slow_slo", with = "humantime_serde")]
    pub slo: Duration,
    /// How often each slow client sends one more byte.
    #[serde(default = "defaults::trickle", with = "humantime_serde")]
    pub trickle: Duration,
    /// How long the slow clients connect before the probe starts.
    #[serde(default = "defaults::head_start", with = "humantime_serde")]
    pub head_start: Duration,
}

/// A fixed-rate probe of a cheap route alongside the main load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// The route, e.g. `/health` or `/null`.
    pub route: String,
    /// Its rate, req/s.
    pub rate: f64,
    /// Its connections.
    #[serde(default = "defaults::probe_connections")]
    pub connections: u32,
}

/// A saturation search: doubling, then bisection, to the highest rate meeting the SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saturate {
    /// Corrected p95 must stay at or under this.
    #[serde(with = "humantime_serde")]
    pub p95_slo: Duration,
    /// Errors over requests must stay at or under this.
    #[serde(default = "defaults::max_error_rate")]
    pub max_error_rate: f64,
    /// First rate tried.
    #[serde(default = "defaults::start_rps")]
    pub start_rps: f64,
    /// Never try above this.
    #[serde(default = "defaults::max_rps")]
    pub max_rps: f64,
    /// Length of each probe.
    #[serde(default = "defaults::probe", with = "humantime_serde")]
    pub probe_duration: Duration,
    /// Bisection steps after the first failure.
    #[serde(default = "defaults::bisections")]
    pub bisections: u32,
    /// The load the capacity table sizes instances for.
    #[serde(default = "defaults::capacity_target")]
    pub capacity_target_rps: f64,
    /// What one instance costs a month (any currency): the recommendation then prices
    /// the instances each style needs for `capacity_target_rps`.
    #[serde(default)]
    pub capacity_cost_per_instance: Option<f64>,
}

/// `[recommendation]`: the objective a workload without a saturation search is judged
/// by (a workload with `saturate` uses the search's own), for the report's
/// recommendation: the style and knobs with the most throughput within it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendationSpec {
    /// The p95 of successes a level must stay at or under to count.
    #[serde(with = "humantime_serde")]
    pub p95_slo: Duration,
    /// The share of requests that may fail or not finish.
    #[serde(default = "defaults::max_error_rate")]
    pub max_error_rate: f64,
    /// The load to size instances for (none: no instance count).
    #[serde(default)]
    pub target_rps: Option<f64>,
    /// What one instance costs a month (none: no cost).
    #[serde(default)]
    pub capacity_cost_per_instance: Option<f64>,
}

mod defaults {
    use std::time::Duration;

    pub fn duration() -> Duration {
        Duration::from_secs(5)
    }
    pub fn warmup() -> Duration {
        Duration::from_secs(1)
    }
    pub fn latency() -> Duration {
        Duration::from_millis(20)
    }
    pub fn timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn probe() -> Duration {
        Duration::from_secs(2)
    }
    pub fn slow_probe_rate() -> f64 {
        50.0
    }
    pub fn slow_slo() -> Duration {
        Duration::from_millis(100)
    }
    pub fn trickle() -> Duration {
        Duration::from_secs(1)
    }
    pub fn head_start() -> Duration {
        Duration::from_millis(500)
    }
    pub fn probe_connections() -> u32 {
        4
    }
    pub fn one() -> u32 {
        1
    }
    pub fn cpu_rounds() -> u32 {
        1_000
    }
    pub fn fanout_calls() -> u32 {
        10
    }
    pub fn open_loop_connections() -> u32 {
        64
    }
    pub fn bisections() -> u32 {
        4
    }
    pub fn max_error_rate() -> f64 {
        0.001
    }
    pub fn start_rps() -> f64 {
        100.0
    }
    pub fn max_rps() -> f64 {
        1_000_000.0
    }
    pub fn held_rate() -> f64 {
        1_000.0
    }
    pub fn held_ramp() -> f64 {
        2_000.0
    }
    pub fn max_connections() -> u32 {
        100
    }
    pub fn shared_buffers() -> String {
        "128MB".into()
    }
    pub fn seed_rows() -> u32 {
        100_000
    }
    pub fn pgbench_clients() -> u32 {
        16
    }
    pub fn capacity_target() -> f64 {
        10_000.0
    }
    pub fn distribution() -> crate::upstream::Distribution {
        crate::upstream::Distribution::Fixed
    }
    pub fn io_mode() -> crate::workload::IoMode {
        crate::workload::IoMode::Sleep
    }
    pub fn ready() -> String {
        "/health".into()
    }
    pub fn ready_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn yes() -> bool {
        true
    }
}

/// A scenario file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {file}")]
    Read {
        /// The file.
        file: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A syntax error, an unknown key, or a bad value.
    #[error("{file}:{line}:{column}: {message}{}", key.as_ref().map(|k| format!(" (key `{k}`)")).unwrap_or_default())]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The key at fault, when one can be named.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// Well-formed, but it cannot run.
    #[error("{file}: {message}")]
    Unusable {
        /// The file.
        file: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&text, &file)
}

/// Parses scenario text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let scenario: Scenario = toml::from_str(text).map_err(|error| {
        let offset = error.span().map_or(0, |span| span.start);
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        let line_text = text.lines().nth(line - 1).unwrap_or("");
        let key = key_of(error.message(), line_text);
        ScenarioError::Invalid {
            file: file.to_string(),
            line,
            column,
            key,
            message: error.message().trim().to_string(),
        }
    })?;
    check(&scenario, file)?;
    Ok(scenario)
}

/// The key an error is about: quoted in "unknown field `x`", else the key on the line.
fn key_of(message: &str, line_text: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        return rest.split('`').next().map(str::to_string);
    }
    let (key, _) = line_text.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_string())
}

fn check(scenario: &Scenario, file: &str) -> Result<(), ScenarioError> {
    let positive = |x: f64| x.is_finite() && x > 0.0;
    let unusable = |message: String| {
        Err(ScenarioError::Unusable {
            file: file.to_string(),
            message,
        })
    };
    if scenario.styles.is_empty() && scenario.targets.is_empty() {
        return unusable(
            "`styles` is empty: add at least one [[styles]] table (or a [[targets]] table: a server of your own)"
                .into(),
        );
    }
    if let Some(error) = scenario
        .thresholds
        .iter()
        .find_map(|t| t.parse::<crate::load::threshold::Threshold>().err())
    {
        return unusable(format!("`thresholds`: {error}"));
    }
    if let Some(problem) = scenario.targets.iter().find_map(TargetSpec::problem) {
        return unusable(problem);
    }
    let mut target_names: Vec<&str> = scenario.targets.iter().map(|t| t.name.as_str()).collect();
    target_names.sort_unstable();
    if let Some(twice) = target_names.windows(2).find(|w| w[0] == w[1]) {
        return unusable(format!(
            "targets: two are named {:?}: names must differ",
            twice[0]
        ));
    }
    for target in &scenario.targets {
        if !scenario.workloads.is_empty() && !scenario.workloads.iter().any(|w| target.serves(w)) {
            return unusable(format!(
                "target {:?} serves none of the workloads' routes ({}): add them to its `routes`",
                target.name,
                scenario
                    .workloads
                    .iter()
                    .map(|w| w.route.route().path())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }
    if scenario.workloads.is_empty() && scenario.slowloris.is_none() {
        return unusable(
            "`workloads` is empty: add at least one [[workloads]] table (or a [slowloris] table)"
                .into(),
        );
    }
    if let Some(slow) = &scenario.slowloris {
        if slow.clients.is_empty() {
            return unusable("[slowloris] clients is empty: give counts, e.g. [0, 16, 64]".into());
        }
        if !positive(slow.probe_rate) || slow.probe_connections == 0 {
            return unusable("[slowloris] probe_rate and probe_connections must be above 0".into());
        }
        if slow.trickle.is_zero() {
            return unusable("[slowloris] trickle must be above 0".into());
        }
    }
    if let Err(why) = scenario.limits.check() {
        return unusable(format!("[limits]: {why}"));
    }
    let load = &scenario.load;
    let names: Vec<String> = scenario.workloads.iter().map(WorkloadSpec::name).collect();
    for style in &scenario.styles {
        if let Some(unknown) = style.only.iter().find(|n| !names.contains(n)) {
            return unusable(format!(
                "styles: `only` names workload {unknown:?}, but the workloads are {}",
                names.join(", ")
            ));
        }
    }
    if let Some(workload) = scenario
        .workloads
        .iter()
        .find(|w| plan::levels(scenario, w).is_empty())
    {
        return unusable(format!(
            "workload {} has no load levels: give `connections`, `rates`, `held` or `saturate` in [load] or in the workload",
            workload.name()
        ));
    }
    if load.connections.contains(&0)
        || load.open_loop_connections == 0
        || scenario
            .workloads
            .iter()
            .any(|w| w.open_loop_connections == Some(0))
    {
        return unusable("[load] connection counts must be at least 1".into());
    }
    if load.held.contains(&0)
        || scenario
            .workloads
            .iter()
            .any(|w| w.held.as_ref().is_some_and(|h| h.contains(&0)))
    {
        return unusable("held connection counts must be at least 1".into());
    }
    if !(positive(load.held_rate) && positive(load.held_ramp)) {
        return unusable("[load] held_rate and held_ramp must be above 0".into());
    }
    if !load.rates.iter().all(|r| positive(*r)) {
        return unusable("[load] rates must be above 0".into());
    }
    if scenario.repetitions == 0 {
        return unusable("`repetitions` must be at least 1".into());
    }
    let planned = plan::count(scenario);
    if planned > plan::MAX_CELLS {
        return unusable(format!(
            "it plans {planned} cells, more than {}: fewer repetitions, levels or style sweeps",
            plan::MAX_CELLS
        ));
    }
    let mut ids: Vec<String> = plan::cells(scenario).into_iter().map(|c| c.id).collect();
    ids.sort_unstable();
    if let Some(pair) = ids.windows(2).find(|w| w[0] == w[1]) {
        return unusable(format!(
            "two cells would both be {:?}: a style, workload or load level is listed twice",
            pair[0]
        ));
    }
    if scenario.duration.is_zero() {
        return unusable("`duration` must be above 0".into());
    }
    if !(0.0..=1.0).contains(&scenario.upstream.error_rate) {
        return unusable("[upstream] error_rate must be between 0 and 1".into());
    }
    let upstreams = std::iter::once(&scenario.upstream).chain(
        scenario
            .workloads
            .iter()
            .filter_map(|w| w.upstream.as_ref()),
    );
    for spec in upstreams {
        for fault in &spec.faults {
            if let Err(reason) = fault.parse::<crate::upstream::FaultPhase>() {
                return unusable(format!("upstream faults: {fault:?}: {reason}"));
            }
        }
        if !(0.0..=1.0).contains(&spec.error_rate) {
            return unusable("upstream error_rate must be between 0 and 1".into());
        }
    }
    for pair in &scenario.pairs {
        if !PAIR_METRICS.contains(&pair.metric.as_str()) {
            return unusable(format!(
                "pairs: metric {:?} is not one of {}",
                pair.metric,
                PAIR_METRICS.join(", ")
            ));
        }
    }
    if let Some(spec) = &scenario.invariance {
        for name in &spec.workloads {
            let known = match name.as_str() {
                "pipeline" => scenario.pipeline.is_some(),
                _ => scenario.workloads.iter().any(|w| &w.name() == name),
            };
            if !known {
                return unusable(format!(
                    "[invariance] workloads: {name:?} is not a workload of this scenario"
                ));
            }
        }
        if spec.repetitions.is_some_and(|n| n < 3) {
            return unusable(
                "[invariance] repetitions: at least 3 (a figure's noise is its spread)".into(),
            );
        }
    }
    for workload in &scenario.workloads {
        if workload.cpu_rounds == 0 || workload.fanout_calls == 0 {
            return unusable(format!(
                "workload {}: cpu_rounds and fanout_calls must be at least 1",
                workload.name()
            ));
        }
    }
    let cores = crate::affinity::available_cpus();
    let pins = &scenario.pinning;
    let workload_pins = scenario
        .workloads
        .iter()
        .filter_map(|w| w.server_cpus.as_ref())
        .flatten();
    for cpu in pins
        .server
        .iter()
        .chain(&pins.generator)
        .chain(&pins.upstream)
        .chain(workload_pins)
    {
        if *cpu >= cores {
            return unusable(format!(
                "[pinning] CPU {cpu} does not exist here: this machine has CPUs 0–{}",
                cores - 1
            ));
        }
    }
    for style in &scenario.styles {
        let blocking = style.style == Style::Blocking;
        if !blocking && (!style.threads.is_empty() || style.thread_per_connection) {
            return unusable(format!("styles: `threads` and `thread_per_connection` apply to style \"blocking\", not {:?}", style.style));
        }
        if blocking && !style.workers.is_empty() {
            return unusable("styles: `workers` applies to async and hybrid, not blocking".into());
        }
        if !style.variant.fits(style.style, style.thread_per_connection) {
            return unusable(format!(
                "styles: variant \"{}\" does not apply to style {:?}",
                style.variant.name(),
                style.style
            ));
        }
        let admits = StyleConfig {
            variant: style.variant,
            ..StyleConfig::new(style.style)
        }
        .admits();
        if style.in_service.is_some() && !admits {
            return unusable(format!(
                "styles: `in_service` applies to async or hybrid with variant limited or bounded-queue, not {} {}",
                crate::flags::flag_value(&style.style),
                style.variant.name()
            ));
        }
        if style.in_service == Some(0) {
            return unusable("styles: `in_service` must be at least 1".into());
        }
        if style.stack_kib.is_some() && style.style != Style::Blocking {
            return unusable("styles: `stack_kib` applies to style \"blocking\"".into());
        }
        if style.stack_kib.is_some_and(|kib| kib < 16) {
            return unusable("styles: `stack_kib` must be at least 16".into());
        }
        if style.open_files.is_some_and(|files| files < 16) {
            return unusable("styles: `open_files` must be at least 16".into());
        }
        if let Some(bad) = style.db_pool.iter().find(|p| p.size().is_none()) {
            return unusable(format!(
                "styles: `db_pool` value {bad:?} is not a pool size: give a number of connections (at least 1) or \"unbounded\""
            ));
        }
        if style.style != Style::Hybrid
            && (style.offload.is_some() || style.rayon_threads.is_some())
        {
            return unusable(
                "styles: `offload` and `rayon_threads` apply to style \"hybrid\"".into(),
            );
        }
        // The server's own rule for each knob's value, on every variant it expands to.
        for config in style.variants() {
            if let Err(why) = config.check() {
                return unusable(format!("styles: {why} ({})", config.label()));
            }
        }
    }
    Ok(())
}

impl StyleSpec {
    /// Every knob combination this entry sweeps: its thread or worker counts, each
    /// with every database pool size.
    pub fn variants(&self) -> Vec<StyleConfig> {
        let pools: Vec<Option<usize>> = match self.db_pool.is_empty() {
            true => vec![None],
            false => self.db_pool.iter().map(PoolSize::size).collect(),
        };
        let mut out = Vec::new();
        for config in self.thread_variants() {
            for &db_pool in &pools {
                out.push(StyleConfig {
                    db_pool,
                    ..config.clone()
                });
            }
        }
        out
    }

    /// Its thread or worker counts (the knobs of the style itself).
    fn thread_variants(&self) -> Vec<StyleConfig> {
        let defaults = StyleConfig::new(self.style);
        let base = StyleConfig {
            variant: self.variant,
            in_service: self.in_service.map_or(defaults.in_service, |n| n as usize),
            cpu_hog: self.cpu_hog,
            stack_kib: self.stack_kib.map(|kib| kib as usize),
            open_files: self.open_files,
            ..defaults
        };
        match self.style {
            Style::Blocking if self.thread_per_connection => vec![StyleConfig {
                thread_per_connection: true,
                ..base
            }],
            Style::Blocking => {
                let threads = if self.threads.is_empty() {
                    vec![base.threads as u32]
                } else {
                    self.threads.clone()
                };
                threads
                    .into_iter()
                    .map(|t| StyleConfig {
                        threads: t as usize,
                        ..base.clone()
                    })
                    .collect()
            }
            Style::Async | Style::Hybrid => {
                let workers = if self.workers.is_empty() {
                    vec![base.workers as u32]
                } else {
                    self.workers.clone()
                };
                workers
                    .into_iter()
                    .map(|w| StyleConfig {
                        workers: w as usize,
                        offload: self.offload.unwrap_or(base.offload),
                        rayon_threads: self
                            .rayon_threads
                            .map_or(base.rayon_threads, |r| r as usize),
                        ..base.clone()
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
[[styles]]
style = "async"
[[workloads]]
route = "cpu"
[load]
connections = [4]
"#;

    fn error(text: &str) -> ScenarioError {
        parse(text, "s.toml").unwrap_err()
    }

    #[test]
    fn a_minimal_scenario_gets_defaults() {
        let scenario = parse(MINIMAL, "s.toml").unwrap();
        assert_eq!(scenario.duration, Duration::from_secs(5));
        assert_eq!(scenario.workloads[0].cpu_rounds, 1_000);
        assert_eq!(scenario.styles[0].variants().len(), 1);
    }

    #[test]
    fn an_unknown_key_names_file_line_and_key() {
        let text = MINIMAL.replace("route = \"cpu\"", "route = \"cpu\"\ncpu_roundz = 5");
        let message = error(&text).to_string();
        assert!(message.starts_with("s.toml:7:1:"), "{message}");
        assert!(message.contains("cpu_roundz"), "{message}");
    }

    #[test]
    fn a_bad_value_names_file_line_and_key() {
        let text = MINIMAL.replace("connections = [4]", "connections = [4]\ntimeout = \"soon\"");
        let message = error(&text).to_string();
        assert!(message.starts_with("s.toml:9:"), "{message}");
        assert!(message.contains("key `timeout`"), "{message}");
        let text = MINIMAL.replace("style = \"async\"", "style = \"fibers\"");
        let message = error(&text).to_string();
        assert!(
            message.starts_with("s.toml:4:") && message.contains("key `style`"),
            "{message}"
        );
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let message = error("name = \"t\"\n[[styles]\n").to_string();
        assert!(message.starts_with("s.toml:2:"), "{message}");
    }

    #[test]
    fn unusable_scenarios_say_what_to_fix() {
        let no_levels = MINIMAL.replace("connections = [4]", "");
        assert!(error(&no_levels).to_string().contains("has no load levels"));
        let misplaced = MINIMAL.replace("style = \"async\"", "style = \"async\"\nthreads = [8]");
        assert!(error(&misplaced)
            .to_string()
            .contains("apply to style \"blocking\""));
        let missing = MINIMAL.replace("name = \"t\"", "");
        assert!(
            error(&missing).to_string().contains("name"),
            "a missing key is named"
        );
        let bad_cpu = format!("{MINIMAL}\n[pinning]\nserver = [99]\n");
        assert!(error(&bad_cpu).to_string().contains("CPU 99"));
        // The server's own rule for a knob's value, as `sabench serve --threads 0` has it.
        let no_threads = MINIMAL.replace(
            "style = \"async\"",
            "style = \"blocking\"\nthreads = [8, 0]",
        );
        let said = error(&no_threads).to_string();
        assert!(said.contains("threads is 0: give 1 to 100000"), "{said}");
        let no_workers = MINIMAL.replace("style = \"async\"", "style = \"async\"\nworkers = [0]");
        assert!(error(&no_workers).to_string().contains("workers is 0"));
    }

    #[test]
    fn blocking_sweeps_its_pool_sizes() {
        let text = MINIMAL.replace(
            "style = \"async\"",
            "style = \"blocking\"\nthreads = [8, 64]",
        );
        let scenario = parse(&text, "s.toml").unwrap();
        let threads: Vec<usize> = scenario.styles[0]
            .variants()
            .iter()
            .map(|v| v.threads)
            .collect();
        assert_eq!(threads, vec![8, 64]);
    }
}
