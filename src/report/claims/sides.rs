//! The two sides of a check: each side's cells, its figure and spread, the load it ran
//! under, and what is left out (a backlogged probe, a lagging generator).

use super::*;

/// One side of a check as the run measured it.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Its style label (or the pipeline's way).
    pub label: String,
    /// The metric, over repetitions (None: not measured, e.g. no successful request).
    pub value: Option<Stat>,
    /// Why its cells cannot be used (invalid, failed), if so.
    pub unusable: Option<String>,
    /// Share of its requests that failed or never finished (None: not known).
    pub error_share: Option<f64>,
    /// The metric in each repetition (empty when only the summary is known).
    pub values: Vec<f64>,
    /// The lowest cap the bench put on its rate over its repetitions, req/s, and what
    /// set it (Little's law, the offered rate, where a search stopped).
    pub rate_cap: Option<(f64, String)>,
    /// Why its values are only lower bounds (None: they are measurements): a probe that
    /// never caught up with its schedule reads more the longer the window.
    pub lower_bound: Option<String>,
    /// The load its cells ran under (None: not cells, e.g. the pipeline's ways).
    pub load: Option<LoadShape>,
}

/// The load a side's cells ran under: what must be equal on both sides of a pair
/// unless the pair says it varies it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadShape {
    /// The generator's connections (the most over its repetitions).
    pub connections: u64,
    /// The offered rate of an open-loop or held cell, req/s (None: closed loop, or a
    /// saturation search, whose rate is the result).
    pub offered_rps: Option<f64>,
}

impl LoadShape {
    /// Why `self` and `other` are not the same load, where `pair` does not declare the
    /// difference (None: the same, or declared).
    pub(super) fn differs(
        &self,
        other: &LoadShape,
        labels: (&str, &str),
        pair: &Pair,
    ) -> Option<String> {
        use crate::pair::LoadFactor;
        if self.connections != other.connections && !pair.varies.contains(&LoadFactor::Connections)
        {
            return Some(format!(
                "the sides ran with {} and {} generator connections ({} and {}): a pair varies one factor, the style; give both the same load, or declare varies = [\"connections\"] if that is its point",
                self.connections, other.connections, labels.0, labels.1
            ));
        }
        let rates_differ = match (self.offered_rps, other.offered_rps) {
            (Some(a), Some(b)) => (a - b).abs() > 1e-9 * a.abs().max(1.0),
            (a, b) => a.is_some() != b.is_some(),
        };
        if rates_differ && !pair.varies.contains(&LoadFactor::Rate) {
            let rate =
                |r: Option<f64>| r.map_or("no fixed rate".to_string(), |r| format!("{r} req/s"));
            return Some(format!(
                "the sides were offered {} and {} ({} and {}): a pair varies one factor, the style; declare varies = [\"rate\"] if that is its point",
                rate(self.offered_rps),
                rate(other.offered_rps),
                labels.0,
                labels.1
            ));
        }
        None
    }
}

/// Whether a probe figure is mostly the generator's lateness: its p99 lag is over
/// half of the figure (or either is unknown). A probe sent 16 ms late at p99 still
/// measures a 200 ms stall; it does not measure a 0.3 ms answer.
pub fn generator_lag_dominates(lag_p99_ms: Option<f64>, figure_ms: Option<f64>) -> bool {
    match (lag_p99_ms, figure_ms) {
        (Some(lag), Some(figure)) => lag > 0.5 * figure,
        _ => true,
    }
}

/// A side of `workload` at `level` (the pipeline's ways too); Err says why there is none.
pub fn side(
    run: &RunData,
    workload: &str,
    label: &str,
    metric: &str,
    level: &str,
    overload: bool,
) -> Result<Side, String> {
    if workload == "pipeline" {
        let values: Vec<f64> = run
            .pipeline
            .iter()
            .filter(|t| t.way.starts_with(label))
            .filter_map(|t| t.metric(metric))
            .collect();
        if values.is_empty() {
            return Err(format!("the run has no pipeline way {label:?}"));
        }
        return Ok(Side {
            label: label.to_string(),
            value: Stat::of(values.iter().copied()),
            unusable: None,
            error_share: None,
            values,
            rate_cap: None,
            lower_bound: None,
            load: None,
        });
    }
    let levels = run.levels(workload);
    let group = levels
        .iter()
        .find(|(l, _)| l == level)
        .and_then(|(_, groups)| groups.iter().find(|g| g.variant == label))
        .ok_or_else(|| format!("the run has no cell {label} on {workload} at {level}"))?;
    let invalid = group
        .rows(&run.cells)
        .filter(|c| !c.valid)
        // In an overload experiment the target not keeping up is the effect.
        .find(|c| !overload || c.generator_limited);
    let probe_metric = metric.starts_with("probe_");
    // A probe the generator sent late for describes the generator where its lateness
    // is a large part of the figure (its latency counts from the intended send time);
    // one the target (or its own connections) held back reads a lower bound.
    let probe_invalid = group
        .rows(&run.cells)
        .filter(|_| probe_metric)
        .filter(|c| !c.probe_invalid_reason.is_empty() && !c.probe_lower_bound)
        .find(|c| generator_lag_dominates(c.probe_generator_lag_p99_ms, c.metric(metric)));
    let unusable = if group.failed > 0 {
        Some(format!("{} of its {} runs failed", group.failed, group.n))
    } else if let Some(c) = invalid {
        Some(format!("its cell is invalid ({})", c.invalid_reason))
    } else {
        probe_invalid.map(|c| format!("its probe is invalid ({})", c.probe_invalid_reason))
    };
    let lower_bound = group
        .rows(&run.cells)
        .filter(|_| probe_metric)
        .find(|c| c.probe_lower_bound)
        .map(|c| {
            format!(
                "its probe did not keep its schedule ({}), so its latency grows with the window: a lower bound",
                c.probe_invalid_reason
            )
        });
    let values = group.values(&run.cells, metric);
    let load = LoadShape {
        connections: group
            .rows(&run.cells)
            .map(|c| c.connections)
            .max()
            .unwrap_or(0),
        offered_rps: match group.load_mode.as_str() {
            "open" | "held" => group.target_rps,
            _ => None,
        },
    };
    Ok(Side {
        label: label.to_string(),
        value: Stat::of(values.iter().copied()),
        unusable,
        error_share: group.failure_share(),
        values,
        rate_cap: group.rate_cap(&run.cells),
        lower_bound,
        load: Some(load),
    })
}

/// The level a check reads: its own, or the workload's last (heaviest) one.
pub(super) fn level_of(run: &RunData, pair: &Pair) -> String {
    if let Some(level) = &pair.level {
        return level.clone();
    }
    if pair.workload == "pipeline" {
        return "batch".into();
    }
    run.levels(&pair.workload)
        .last()
        .map(|(l, _)| l.clone())
        .unwrap_or_default()
}

pub(super) fn higher_better(metric: &str) -> bool {
    higher_is_better(metric) || metric == "results"
}
