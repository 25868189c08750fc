//! A wrong-versus-right pair: a scenario's definition of one comparison and, with a
//! threshold, a claims check. The scenario reads it (`run`), the report judges it
//! (`report`); it lives here, below both, so neither imports the other.

use serde::{Deserialize, Serialize};

/// A wrong-versus-right pair the summary shows side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    /// The claim, e.g. `C4`.
    pub claim: String,
    /// What it shows.
    pub title: String,
    /// The workload name.
    pub workload: String,
    /// The wrong side's style label, e.g. `async(workers=1)+blocking-in-async`.
    pub wrong: String,
    /// The right side's style label.
    pub right: String,
    /// The right side's workload, when the fix is in the workload (e.g. a fan-out limit);
    /// default: the same workload.
    #[serde(default)]
    pub right_workload: Option<String>,
    /// The metric compared: achieved_rps, p95_ms, p99_ms, probe_p95_ms, lag_max_ms,
    /// server_queue_p99_ms (the server's own queue, the async C10 variants),
    /// rss_peak_mib, rss_kernel_peak_mib (plus the growth of the kernel stacks),
    /// db_pss_peak_mib, db_cpu_s, stack_rss_peak_mib (server + PostgreSQL), error_rate,
    /// all_p50_ms and all_p99_ms (every request, errors and unfinished included),
    /// service_lost_s (and for `workload = "pipeline"`: wall_ms, results, results_lost).
    pub metric: String,
    /// The load level to read, e.g. `c=256` [default: the workload's last level].
    #[serde(default)]
    pub level: Option<String>,
    /// Makes the pair a claims check: the cost (wrong over right) at which it holds; with
    /// an empty `wrong`, the bound the right side's value must meet.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// A check that fails `sabench check` (exit 1) when it does not hold.
    #[serde(default)]
    pub gate: bool,
    /// For an absolute check (empty `wrong`): the value must be at most the threshold
    /// (default: at least).
    #[serde(default)]
    pub at_most: bool,
    /// The article's numbers, shown beside ours.
    #[serde(default)]
    pub article: String,
    /// A two-sided check ("gains nothing"): it holds when the ratio lies within
    /// 1 ± this (e.g. 0.1 for ±10 %); `threshold` is then ignored.
    #[serde(default)]
    pub within: Option<f64>,
    /// The largest share of failed or unfinished requests either side may have for
    /// the check to decide (default 1 %); ignored when the metric is `error_rate`.
    #[serde(default = "default_max_error_rate")]
    pub max_error_rate: f64,
    /// An overload experiment: the load is meant to exceed the target's capacity, so a
    /// cell that is invalid only because the target could not keep up (it stalled, or
    /// held every connection) is still usable; one the generator limited is not.
    #[serde(default)]
    pub overload: bool,
    /// What the pair varies besides the style, when that is its point: `connections`
    /// (the sides ran with different generator connections) or `rate` (different
    /// offered rates). A pair varies one factor: without this, sides whose loads differ
    /// in either make the check "cannot decide".
    #[serde(default)]
    pub varies: Vec<LoadFactor>,
}

/// A property of the load a pair may declare it varies (see [`Pair::varies`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadFactor {
    /// The generator's connections (closed-loop level, or open-loop connections).
    Connections,
    /// The offered open-loop rate.
    Rate,
}

fn default_max_error_rate() -> f64 {
    0.01
}

/// The metrics a pair can compare.
pub const PAIR_METRICS: [&str; 18] = [
    "wall_ms",
    "results",
    "results_lost",
    "achieved_rps",
    "p95_ms",
    "p99_ms",
    "all_p50_ms",
    "all_p99_ms",
    "probe_p95_ms",
    "service_lost_s",
    "lag_max_ms",
    "server_queue_p99_ms",
    "rss_peak_mib",
    "db_pss_peak_mib",
    "db_cpu_s",
    "stack_rss_peak_mib",
    "rss_kernel_peak_mib",
    "error_rate",
];
