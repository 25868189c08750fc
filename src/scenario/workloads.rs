//! `[[workloads]]` and `[upstream]`: the routes a scenario measures, their work, and
//! the mock upstream they call.

use super::*;

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
    /// Whether `[load] probe` runs beside this workload's cells (default true). Off
    /// where the probe would change what is measured, e.g. a memory comparison on a
    /// blocking pool whose threads the probe's connections would take (a connection
    /// holds its thread while it is open).
    #[serde(default = "defaults::yes")]
    pub probe: bool,
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
            probe: true,
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
