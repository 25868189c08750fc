//! `[load]`: the load levels, the saturation search, slow clients, the probe, and
//! what a recommendation optimizes.

use std::collections::BTreeMap;

use super::*;

/// A stage as a scenario writes it: `"30s:1000"` (ramp to 1,000 req/s over 30 s).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StageText(pub crate::load::pacer::Stage);

impl TryFrom<String> for StageText {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        crate::load::pacer::Stage::parse(&text).map(StageText)
    }
}

impl From<StageText> for String {
    fn from(stage: StageText) -> String {
        stage.0.to_string()
    }
}

impl LoadSpec {
    /// The staged level's stages (None: no `stages`, or ones that cannot run, which the
    /// scenario check refuses first).
    pub fn staged(&self) -> Option<crate::load::pacer::Stages> {
        if self.stages.is_empty() {
            return None;
        }
        let list: Vec<crate::load::pacer::Stage> = self.stages.iter().map(|s| s.0).collect();
        crate::load::pacer::Stages::new(&list).ok()
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
    /// Staged open-loop rates, `"DURATION:RATE"` each (`["30s:2000", "1m:2000",
    /// "10s:0"]`): one more level whose rate ramps linearly from the previous stage's
    /// (the first from 0); the stages begin with the warm-up and must last exactly
    /// `warmup + duration`. With `thresholds`, each cell marks its knee: the rate at
    /// which a threshold first broke.
    #[serde(default)]
    pub stages: Vec<StageText>,
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
    /// HTTP/2 cells (a style's `protocols = ["http2"]`): requests in flight on one
    /// connection. A level's connections are its requests in flight, spread over
    /// connections of this many streams (c=64 with streams = 8: 8 connections of 8
    /// streams), so HTTP/1.1 and HTTP/2 cells of a level carry as many at once; each
    /// level must be a multiple of it [default: 1, a stream a connection].
    #[serde(default = "defaults::one")]
    pub streams: u32,
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
            stages: Vec::new(),
            held_rate: defaults::held_rate(),
            held_ramp: defaults::held_ramp(),
            timeout: defaults::timeout(),
            threads: defaults::one(),
            streams: defaults::one(),
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
    /// Where a style's search starts instead of `start_rps`, by its label as cells.csv
    /// writes it (`start_by_style = { "async(workers=1)" = 1600.0 }`). Each is
    /// `start_rps` times a power of two, so every search climbs the same ladder of rates
    /// and bisects the same brackets: a later start skips probes, never moves the grid.
    /// The invariance check sets it from the run as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub start_by_style: BTreeMap<String, f64>,
}

impl Saturate {
    /// The search's first rate for the style labelled `label`.
    pub fn start_for(&self, label: &str) -> f64 {
        self.start_by_style
            .get(label)
            .copied()
            .unwrap_or(self.start_rps)
    }

    /// The highest rung of the search's ladder (`start_rps` times a power of two, up to
    /// `max_rps`) at or under `rate`; `start_rps` when `rate` is below it.
    pub fn rung_at_or_under(&self, rate: f64) -> f64 {
        let mut rung = self.start_rps;
        while rung * 2.0 <= rate.min(self.max_rps) {
            rung *= 2.0;
        }
        rung
    }

    /// What the scenario check refuses, naming the key.
    pub fn problem(&self) -> Option<String> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.start_rps) || !positive(self.max_rps) || self.max_rps < self.start_rps {
            return Some(format!(
                "saturate: start_rps ({}) and max_rps ({}) must be above 0, with max_rps at least start_rps",
                self.start_rps, self.max_rps
            ));
        }
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Some("saturate: max_error_rate must be between 0 and 1".into());
        }
        if self.probe_duration.is_zero() {
            return Some("saturate: probe_duration must be above 0".into());
        }
        self.start_by_style.iter().find_map(|(label, &start)| {
            (self.rung_at_or_under(start) != start || start > self.max_rps).then(|| {
                format!(
                    "saturate: start_by_style {label:?} = {start} is not start_rps ({}) times a power of two up to max_rps ({}): the searches would probe different rates; try {}",
                    self.start_rps,
                    self.max_rps,
                    self.rung_at_or_under(start)
                )
            })
        })
    }
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
