//! Groups repetitions of the same cell and summarizes them: median, min and max.

use crate::display::fixed;
use crate::results::CellRecord;

/// Median and range of one metric over repetitions.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Stat {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
}

impl Stat {
    /// Summarizes `values`; None when there is no finite value (not measured is not zero).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Self> {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len().is_multiple_of(2) {
            (v[mid - 1] + v[mid]) / 2.0
        } else {
            v[mid]
        };
        Some(Self {
            median,
            min: v[0],
            max: v[v.len() - 1],
        })
    }

    /// Summarizes a metric every repetition must have: None when any lacks it (a
    /// repetition with no success has no p95, and must not vanish from the range).
    pub fn of_every(values: impl IntoIterator<Item = Option<f64>>) -> Option<Self> {
        let values: Option<Vec<f64>> = values.into_iter().collect();
        Self::of(values?)
    }

    /// Half the range, relative to the median (0 with one value).
    pub fn relative_spread(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / 2.0 / self.median.abs()
        }
    }

    /// `median` with `decimals`, and `[min–max]` after it when the range is not a point.
    pub fn display(&self, decimals: usize) -> String {
        if self.max > self.min {
            format!(
                "{} [{}–{}]",
                fixed(self.median, decimals),
                fixed(self.min, decimals),
                fixed(self.max, decimals)
            )
        } else {
            fixed(self.median, decimals)
        }
    }

    /// [`Stat::display`], or `—` when there is no value.
    pub fn display_or_dash(stat: Option<Stat>, decimals: usize) -> String {
        stat.map_or_else(|| "—".to_string(), |s| s.display(decimals))
    }

    /// Whether the two ranges overlap (a difference within the spread).
    pub fn overlaps(&self, other: &Stat) -> bool {
        self.min <= other.max && other.min <= self.max
    }
}

/// One cell summarized over its repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Workload name.
    pub workload: String,
    /// Style name.
    pub style: String,
    /// Style with knobs.
    pub variant: String,
    /// closed, open, saturate.
    pub load_mode: String,
    /// `c=64`, `500 rps`, `max@SLO`.
    pub level: String,
    /// Connections.
    pub connections: u64,
    /// Target rate (open, saturate: the median found rate).
    pub target_rps: Option<f64>,
    /// Repetitions.
    pub n: usize,
    /// Successful req/s.
    pub achieved: Stat,
    /// Successes' corrected p95, ms (None: some repetition had no success).
    pub p95: Option<Stat>,
    /// Successes' corrected p99, ms (None: some repetition had no success).
    pub p99: Option<Stat>,
    /// Peak RSS, MiB (None: no repetition's server was sampled).
    pub rss_peak: Option<Stat>,
    /// Most threads (None: never sampled).
    pub threads_max: Option<u64>,
    /// Kernel stacks beyond RSS, MiB (None: never sampled).
    pub kernel_stack_mib: Option<f64>,
    /// Errors over all repetitions.
    pub errors: u64,
    /// Requests that never finished (unsent or in flight at the end), all repetitions.
    pub unfinished: u64,
    /// Most connections left unserved in a repetition.
    pub unserved: u64,
    /// Median achieved server wait (I/O routes), ms.
    pub server_wait_p50: Option<f64>,
    /// The cheap-route probe's p95, ms (when the scenario runs one).
    pub probe_p95: Option<Stat>,
    /// Whether the probe's p95 is only a lower bound in some repetition (it never
    /// caught up with its schedule, so a longer window reads more).
    pub probe_lower_bound: bool,
    /// Largest runtime lag, ms (async styles).
    pub lag_max: Option<Stat>,
    /// Requests scheduled over all repetitions (older runs: answered ones).
    pub requests: u64,
    /// Whether every repetition was valid.
    pub valid: bool,
    /// Repetitions that failed outright (a crash, or nothing measured).
    pub failed: usize,
    /// The cell ids, first repetition first.
    pub cells: Vec<String>,
    /// The knobs, as in cells.csv (`threads=16 header-read=…`).
    pub knobs: String,
    /// Cores the server could run on (None: an older run).
    pub server_cores: Option<u64>,
    /// The lowest cap the bench put on its rate over the repetitions, req/s (None:
    /// nothing capped it); see [`Group::rate_cap`] for what set it.
    pub rate_cap_rps: Option<f64>,
    /// What its threads did: medians over the repetitions.
    pub mechanism: Mechanism,
}

/// The mechanism metrics of a cell, medians over its repetitions (None: none measured
/// it). See cells.csv's columns of the same names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mechanism {
    /// User CPU per success, µs.
    pub cpu_user_us: Option<f64>,
    /// System CPU per success, µs.
    pub cpu_sys_us: Option<f64>,
    /// CPU per success as the kernel counted it, µs: the two above are this less the
    /// instrument's share (`cpu_instrument_us`), taken from user and system in
    /// proportion.
    pub cpu_gross_us: Option<f64>,
    /// The suite's own helpers' CPU (the server's idle cost over the window) per
    /// success, µs (None: not measured; older runs).
    pub cpu_instrument_us: Option<f64>,
    /// Voluntary context switches per success.
    pub ctx_voluntary: Option<f64>,
    /// Involuntary context switches per success.
    pub ctx_involuntary: Option<f64>,
    /// Mean threads.
    pub threads: Option<f64>,
    /// Mean runnable threads (the run queue).
    pub runnable: Option<f64>,
    /// Share of thread time on a CPU.
    pub running: Option<f64>,
    /// Share waiting for a CPU.
    pub waiting: Option<f64>,
    /// Share blocked.
    pub blocked: Option<f64>,
    /// Blocking style: threads holding a connection, mean.
    pub pool_held: Option<f64>,
    /// Blocking style: threads working on a request, mean.
    pub pool_working: Option<f64>,
    /// Successes' corrected p50, ms.
    pub p50_ms: Option<f64>,
    /// One clock tick of CPU per success, µs: the resolution of the user/kernel split.
    pub cpu_tick_us: Option<f64>,
    /// What could not be measured and why (the first repetition that says).
    pub missing: String,
}

impl Mechanism {
    /// Medians of `members`' mechanism columns (CPU: the median repetition's).
    fn of(members: &[&CellRecord]) -> Self {
        let median = |value: fn(&CellRecord) -> Option<f64>| {
            Stat::of(members.iter().filter_map(|c| value(c))).map(|s| s.median)
        };
        // The CPU figures all come from one repetition, the one whose gross CPU is the
        // median (the lower of two middles), so net, its user/kernel split, the gross and
        // the helpers' share add up; medians taken figure by figure need not.
        let gross = |c: &CellRecord| Some(c.cpu_user_us_per_ok? + c.cpu_sys_us_per_ok?);
        let mut measured: Vec<&CellRecord> = members
            .iter()
            .copied()
            .filter(|c| gross(c).is_some())
            .collect();
        measured.sort_by(|a, b| gross(a).unwrap_or(0.0).total_cmp(&gross(b).unwrap_or(0.0)));
        let middle = measured.get(measured.len().saturating_sub(1) / 2).copied();
        let (user, sys) = middle
            .and_then(|c| {
                let (user, sys) = (c.cpu_user_us_per_ok?, c.cpu_sys_us_per_ok?);
                let total = user + sys;
                let keep = match c.cpu_instrument_us_per_ok {
                    Some(helpers) if total > 0.0 => (1.0 - helpers / total).max(0.0),
                    _ => 1.0,
                };
                Some((Some(user * keep), Some(sys * keep)))
            })
            .unwrap_or((None, None));
        Self {
            cpu_user_us: user,
            cpu_sys_us: sys,
            cpu_gross_us: middle.and_then(gross),
            cpu_instrument_us: middle.and_then(|c| c.cpu_instrument_us_per_ok),
            ctx_voluntary: median(|c| c.ctx_voluntary_per_ok),
            ctx_involuntary: median(|c| c.ctx_involuntary_per_ok),
            threads: median(|c| c.threads_mean),
            runnable: median(|c| c.runnable_mean),
            running: median(|c| c.running_share),
            waiting: median(|c| c.waiting_share),
            blocked: median(|c| c.blocked_share),
            pool_held: median(|c| c.pool_held_mean),
            pool_working: median(|c| c.pool_working_mean),
            p50_ms: median(|c| c.p50_ms),
            cpu_tick_us: median(|c| c.cpu_tick_us_per_ok),
            missing: members
                .iter()
                .map(|c| c.mechanism_missing.as_str())
                .find(|m| !m.is_empty())
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// CPU per success, user and system, net of the instrument's own, µs.
    pub fn cpu_us(&self) -> Option<f64> {
        Some(self.cpu_user_us? + self.cpu_sys_us?)
    }

    /// Cores kept busy at `rps` successes a second.
    pub fn cores_busy(&self, rps: f64) -> Option<f64> {
        Some(self.cpu_us()? * rps / 1e6)
    }
}

impl Group {
    /// Its repetitions' rows among `cells`.
    pub fn rows<'a>(&'a self, cells: &'a [CellRecord]) -> impl Iterator<Item = &'a CellRecord> {
        cells.iter().filter(|c| self.cells.contains(&c.cell))
    }

    /// The lowest cap the bench put on its rate over its repetitions among `cells`,
    /// req/s, and what set it (None: nothing in the bench capped it).
    pub fn rate_cap(&self, cells: &[CellRecord]) -> Option<(f64, String)> {
        self.rows(cells)
            .filter_map(|c| c.rate_cap_rps.map(|rps| (rps, c.rate_cap.clone())))
            .min_by(|a, b| a.0.total_cmp(&b.0))
    }

    /// `metric` in each of its repetitions among `cells` (those that measured it).
    pub fn values(&self, cells: &[CellRecord], metric: &str) -> Vec<f64> {
        self.rows(cells).filter_map(|c| c.metric(metric)).collect()
    }

    /// Share of requests that failed or never finished, all repetitions (None: none).
    pub fn failure_share(&self) -> Option<f64> {
        (self.requests > 0).then(|| (self.errors + self.unfinished) as f64 / self.requests as f64)
    }
}

/// Whether more of a metric is better.
pub fn higher_is_better(metric: &str) -> bool {
    metric == "achieved_rps"
}

/// Groups `cells` by workload, variant and level, in the order they first appear.
pub fn groups(cells: &[CellRecord]) -> Vec<Group> {
    let mut keys = Vec::new();
    for cell in cells {
        let key = cell.key();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|key| {
            let members: Vec<&CellRecord> = cells.iter().filter(|c| c.key() == key).collect();
            let first = members[0];
            Group {
                workload: first.workload.clone(),
                style: first.style.clone(),
                variant: first.variant.clone(),
                load_mode: first.load_mode.clone(),
                level: first.level(),
                connections: first.connections,
                target_rps: first
                    .target_rps
                    .and_then(|_| Stat::of(members.iter().filter_map(|c| c.target_rps)))
                    .map(|s| s.median),
                n: members.len(),
                achieved: Stat::of(members.iter().map(|c| c.achieved_rps)).unwrap_or_default(),
                p95: Stat::of_every(members.iter().map(|c| c.p95_ms)),
                p99: Stat::of_every(members.iter().map(|c| c.p99_ms)),
                rss_peak: Stat::of(members.iter().filter_map(|c| c.rss_peak_mib)),
                threads_max: members.iter().filter_map(|c| c.threads_max).max(),
                kernel_stack_mib: members
                    .iter()
                    .filter_map(|c| c.kernel_stack_mib)
                    .reduce(f64::max),
                errors: members.iter().map(|c| c.errors()).sum(),
                unfinished: members.iter().map(|c| c.unfinished()).sum(),
                unserved: members
                    .iter()
                    .map(|c| c.connections_unserved)
                    .max()
                    .unwrap_or(0),
                probe_p95: first
                    .probe_p95_ms
                    .and_then(|_| Stat::of_every(members.iter().map(|c| c.probe_p95_ms))),
                probe_lower_bound: members.iter().any(|c| c.probe_lower_bound),
                lag_max: first
                    .lag_max_ms
                    .and_then(|_| Stat::of(members.iter().filter_map(|c| c.lag_max_ms))),
                server_wait_p50: first
                    .server_wait_p50_ms
                    .and_then(|_| Stat::of(members.iter().filter_map(|c| c.server_wait_p50_ms)))
                    .map(|s| s.median),
                requests: members.iter().map(|c| c.requests()).sum(),
                valid: members.iter().all(|c| c.valid),
                failed: members.iter().filter(|c| c.failed()).count(),
                cells: members.iter().map(|c| c.cell.clone()).collect(),
                knobs: first.knobs.clone(),
                server_cores: first.server_cores,
                rate_cap_rps: members
                    .iter()
                    .filter_map(|c| c.rate_cap_rps)
                    .reduce(f64::min),
                mechanism: Mechanism::of(&members),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_cpu_gross_and_the_helpers_share_come_from_one_repetition_and_add_up() {
        let rep = |user: f64, sys: f64, helpers: f64| CellRecord {
            cpu_user_us_per_ok: Some(user),
            cpu_sys_us_per_ok: Some(sys),
            cpu_instrument_us_per_ok: Some(helpers),
            ..CellRecord::default()
        };
        // Figure by figure the medians would be user 66, sys 86, gross 137: a net of
        // 152 over a gross of 137.
        let reps = [
            rep(66.0, 71.0, 10.0),
            rep(40.0, 86.0, 3.0),
            rep(90.0, 95.0, 12.0),
        ];
        let m = Mechanism::of(&reps.iter().collect::<Vec<_>>());
        assert_eq!(
            m.cpu_gross_us,
            Some(137.0),
            "the median repetition by gross"
        );
        assert_eq!(m.cpu_instrument_us, Some(10.0));
        let net = m.cpu_us().unwrap();
        assert!((net - 127.0).abs() < 1e-9, "{net}");
        let (user, sys) = (m.cpu_user_us.unwrap(), m.cpu_sys_us.unwrap());
        assert!(
            (user / sys - 66.0 / 71.0).abs() < 1e-9,
            "split kept in proportion"
        );
    }

    #[test]
    fn median_and_range() {
        let of = |v: &[f64]| Stat::of(v.iter().copied()).unwrap();
        let s = of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(of(&[1.0, 3.0]).median, 2.0);
        assert!((s.relative_spread() - 0.5).abs() < 1e-9);
        assert!(s.overlaps(&of(&[2.5, 9.0])));
        assert!(!s.overlaps(&of(&[3.5, 9.0])));
    }

    #[test]
    fn not_measured_is_not_zero() {
        assert_eq!(Stat::of([]), None);
        assert_eq!(Stat::of([f64::NAN]), None);
        assert_eq!(Stat::of_every([Some(1.0), None, Some(3.0)]), None);
        assert_eq!(
            Stat::of_every([Some(1.0), Some(3.0)]).map(|s| s.median),
            Some(2.0)
        );
    }
}
