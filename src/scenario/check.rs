//! The check of a parsed scenario: everything serde cannot see (a level without
//! load, a knob on the wrong style, a CPU this machine lacks), each error naming the key.

use super::*;

pub(super) fn check(scenario: &Scenario, file: &str) -> Result<(), ScenarioError> {
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
    if let Some(one) = scenario.checks().iter().find(|t| t.url().is_some()) {
        return unusable(format!(
            "`thresholds`: {one} selects one URL of a mix, which only `sabench load --url-file` has: drop the {{url=…}}"
        ));
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
    if !load.stages.is_empty() {
        let list: Vec<crate::load::pacer::Stage> = load.stages.iter().map(|s| s.0).collect();
        let stages = match crate::load::pacer::Stages::new(&list) {
            Ok(stages) => stages,
            Err(why) => return unusable(format!("[load] stages: {why}")),
        };
        let run = scenario.warmup + scenario.duration;
        if stages.total() != run {
            return unusable(format!(
                "[load] stages last {} but the warm-up and the measured window {} ({} + {}): the stages begin with the warm-up, so make them add up to it (or set `duration` to {})",
                humantime::format_duration(stages.total()),
                humantime::format_duration(run),
                humantime::format_duration(scenario.warmup),
                humantime::format_duration(scenario.duration),
                humantime::format_duration(stages.total().saturating_sub(scenario.warmup)),
            ));
        }
    }
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
    let searches = scenario
        .workloads
        .iter()
        .filter_map(|w| w.saturate.as_ref())
        .chain(load.saturate.as_ref());
    if let Some(problem) = searches.clone().find_map(Saturate::problem) {
        return unusable(problem);
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
    let cells = plan::cells(scenario);
    let labels: Vec<String> = cells.iter().map(|c| c.server.label()).collect();
    if let Some(unknown) = searches
        .flat_map(|s| s.start_by_style.keys())
        .find(|label| !labels.contains(label))
    {
        return unusable(format!(
            "saturate: start_by_style names {unknown:?}, which no cell runs (labels are as cells.csv writes them, e.g. \"async(workers=1)\")"
        ));
    }
    let mut ids: Vec<String> = cells.into_iter().map(|c| c.id).collect();
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
    let cores = crate::sys::affinity::available_cpus();
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
        let given = crate::server::GivenKnobs {
            threads: !style.threads.is_empty(),
            thread_per_connection: style.thread_per_connection,
            workers: !style.workers.is_empty(),
            offload: style.offload.is_some(),
            rayon_threads: style.rayon_threads.is_some(),
            in_service: style.in_service.is_some(),
            stack_kib: style.stack_kib.is_some(),
            no_lag_probe: false,
        };
        // The server's own rule for which style a knob belongs to, on every variant.
        if let Some(wrong) = style.variants().iter().find_map(|c| c.misplaced(&given)) {
            let style_name = crate::flags::flag_value(&style.style);
            if wrong.knob == "variant" {
                return unusable(format!(
                    "styles: variant \"{}\" does not apply to style \"{style_name}\": it applies to {}",
                    style.variant.name(),
                    wrong.applies_to
                ));
            }
            return unusable(format!(
                "styles: `{}` applies to style {}, not \"{style_name}\"",
                wrong.knob, wrong.applies_to
            ));
        }
        if let Some(bad) = style.db_pool.iter().find(|p| p.size().is_none()) {
            return unusable(format!(
                "styles: `db_pool` value {bad:?} is not a pool size: give a number of connections (at least 1) or \"unbounded\""
            ));
        }
        // The server's own rule for each knob's value, on every variant it expands to.
        for config in style.variants() {
            if let Err(why) = config.check() {
                return unusable(format!("styles: {why} ({})", config.label()));
            }
        }
    }
    check_http2(scenario).map_or(Ok(()), unusable)
}

/// With an HTTP/2 style: `[load] streams` within bounds, no held level (the generator
/// holds HTTP/1.1 connections only), and every level's connections a multiple of it
/// (its requests in flight spread evenly over connections).
fn check_http2(scenario: &Scenario) -> Option<String> {
    let http2 = crate::load::http2::Protocol::Http2;
    if !scenario.styles.iter().any(|s| s.protocols.contains(&http2)) {
        return None;
    }
    let load = &scenario.load;
    let streams = load.streams;
    if !(1..=crate::load::http2::MAX_STREAMS as u32).contains(&streams) {
        return Some(format!(
            "[load] streams is {streams}: give 1 to {}",
            crate::load::http2::MAX_STREAMS
        ));
    }
    // The levels the cells run (the plan's own reading of each workload's lists).
    let levels: Vec<super::plan::Level> = scenario
        .workloads
        .iter()
        .flat_map(|w| super::plan::levels(scenario, w))
        .collect();
    if levels
        .iter()
        .any(|l| matches!(l, super::plan::Level::Held { .. }))
    {
        return Some("`held` levels hold HTTP/1.1 connections only: leave \"http2\" out of `protocols`, or the held levels out".to_string());
    }
    let level = levels
        .iter()
        .map(super::plan::Level::connections)
        .find(|c| c % streams != 0)?;
    Some(format!(
        "[load] streams = {streams}: the level of {level} connections is not a multiple of it. An HTTP/2 cell spreads a level's requests in flight over connections of `streams` streams each: give levels that are multiples of {streams}, or a `streams` that divides them"
    ))
}
