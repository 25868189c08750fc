//! The invariance check's runs: a scenario measured as written, then again with one of
//! the bench's own knobs changed at a time — the window doubled, the open-loop
//! generator's connections doubled, the probe's connections doubled. None of them is a
//! property of the styles, so a figure that moves with one describes the bench. The
//! comparison itself is `report::invariance`, which reads the runs' folders alone.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::Context;

use super::RunOptions;
use crate::report::invariance::{self as compare, Variant};
use crate::results::{CellRecord, RunDir};
use crate::scenario::{self, Scenario};

/// A knob of the bench that no verdict may depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Factor {
    /// The measured window, doubled.
    Window,
    /// The open-loop and saturation cells' generator connections, doubled (closed-loop
    /// connections are the load level itself, so they stay).
    Connections,
    /// The cheap-route probe's connections, doubled.
    ProbeConnections,
}

impl Factor {
    /// Every factor, in the order they run.
    pub const ALL: [Factor; 3] = [
        Factor::Window,
        Factor::Connections,
        Factor::ProbeConnections,
    ];

    /// Its name in folders and tables.
    pub fn slug(self) -> &'static str {
        match self {
            Factor::Window => "window-x2",
            Factor::Connections => "connections-x2",
            Factor::ProbeConnections => "probe-connections-x2",
        }
    }

    /// `scenario` with this knob changed; Err when the scenario has no such knob (no
    /// probe, or no open-loop cell), saying so.
    pub fn apply(self, scenario: &Scenario) -> Result<Scenario, String> {
        let mut changed = scenario.clone();
        changed.name = format!("{}-{}", scenario.name, self.slug());
        match self {
            Factor::Window => {
                changed.duration = scenario.duration * 2;
                // A saturation search's probes are windows too.
                let searches = changed
                    .workloads
                    .iter_mut()
                    .filter_map(|w| w.saturate.as_mut())
                    .chain(changed.load.saturate.as_mut());
                for search in searches {
                    search.probe_duration *= 2;
                }
            }
            Factor::Connections => {
                let open_loop = scenario.workloads.iter().any(|w| {
                    w.rates.is_some() || w.saturate.is_some() || w.open_loop_connections.is_some()
                }) || !scenario.load.rates.is_empty()
                    || scenario.load.saturate.is_some();
                if !open_loop {
                    return Err("it has no open-loop or saturation cell (closed-loop connections are the load level, not a knob of the bench)".into());
                }
                changed.load.open_loop_connections = scenario.load.open_loop_connections * 2;
                for workload in &mut changed.workloads {
                    if let Some(n) = workload.open_loop_connections.as_mut() {
                        *n *= 2;
                    }
                }
            }
            Factor::ProbeConnections => {
                let Some(probe) = changed.load.probe.as_mut() else {
                    return Err("it runs no probe".into());
                };
                probe.connections *= 2;
            }
        }
        narrow(&mut changed);
        Ok(changed)
    }
}

/// Keeps in a changed run only what the scenario's `[invariance]` names, at its
/// repetitions: the comparison marks the rest "not measured again".
fn narrow(changed: &mut Scenario) {
    let Some(spec) = changed.invariance.clone() else {
        return;
    };
    changed
        .workloads
        .retain(|w| spec.workloads.contains(&w.name()));
    if !spec.workloads.iter().any(|w| w == "pipeline") {
        changed.pipeline = None;
    }
    if let Some(repetitions) = spec.repetitions {
        changed.repetitions = repetitions;
    }
}

/// Starts a changed run's saturation searches near what the run as written found: a
/// style whose every repetition found a capacity starts one rung of the search's ladder
/// under the highest rung at or below the lowest of them (a change that halves its
/// capacity still finds it). The ladder is the same, so the search probes the same
/// rates and bisects the same brackets, about half as many probes: this is what lets
/// the reproduction measure its capacities again in its time budget.
fn seed_searches(changed: &mut Scenario, as_written: &[CellRecord]) {
    let shared = changed.load.saturate.clone();
    for workload in &mut changed.workloads {
        let name = workload.name();
        let Some(mut search) = workload.saturate.clone().or_else(|| shared.clone()) else {
            continue;
        };
        let mut lowest: BTreeMap<&str, Option<f64>> = BTreeMap::new();
        for cell in as_written
            .iter()
            .filter(|c| c.workload == name && c.load_mode == "saturate")
        {
            let found = cell.target_rps.filter(|_| cell.valid);
            let entry = lowest.entry(cell.variant.as_str()).or_insert(found);
            *entry = match (*entry, found) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            };
        }
        for (label, lowest) in lowest {
            if let Some(capacity) = lowest {
                let start = (search.rung_at_or_under(capacity) / 2.0).max(search.start_rps);
                search.start_by_style.insert(label.to_string(), start);
            }
        }
        workload.saturate = Some(search);
    }
}

/// What an invariance check came to.
pub struct InvarianceOutcome {
    /// Its folder: the runs, `invariance.md` and `invariance.json`.
    pub root: PathBuf,
    /// Whether every figure stayed within its noise (false also when one could not be
    /// told, or a run was missing).
    pub invariant: bool,
    /// Whether Ctrl-C stopped it.
    pub interrupted: bool,
}

/// Runs `options.scenario` as written and once per factor, each into a folder of its
/// own under one new folder, and compares every variant with the first after it is
/// measured (so an interruption keeps what was compared so far).
pub fn run(options: &RunOptions, factors: &[Factor]) -> anyhow::Result<InvarianceOutcome> {
    let base = scenario::load(&options.scenario)?;
    let root = RunDir::create_folder_of_runs(
        &options.out,
        &crate::file_name::slug(&format!("{}-invariance", base.name)),
    )?;
    let inner = RunOptions {
        out: root.clone(),
        ..options.clone()
    };
    let mut variants: Vec<(String, Scenario)> = vec![("as written".into(), base.clone())];
    let mut skipped = Vec::new();
    for factor in factors {
        match factor.apply(&base) {
            Ok(changed) => variants.push((factor.slug().into(), changed)),
            Err(why) => skipped.push(format!("{}: not run, {why}", factor.slug())),
        }
    }
    let mut measured: Vec<Variant> = Vec::new();
    let mut interrupted = false;
    // Written after every run, so the last write is the whole comparison.
    let mut invariant = false;
    let total = variants.len();
    let mut as_written: Vec<CellRecord> = Vec::new();
    for (index, (label, mut scenario)) in variants.into_iter().enumerate() {
        eprintln!("invariance {}/{total}: {label} ...", index + 1);
        if index > 0 {
            seed_searches(&mut scenario, &as_written);
        }
        let outcome = super::run_loaded(scenario, &inner)
            .with_context(|| format!("the invariance check's run \"{label}\""))?;
        if index == 0 {
            as_written = outcome.dir.read_cells()?;
        }
        measured.push(Variant {
            label,
            dir: outcome.dir,
        });
        invariant = compare::write(&root, &measured, &skipped)?.invariant;
        if outcome.interrupted || options.interrupted.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
    }
    Ok(InvarianceOutcome {
        root,
        invariant: invariant && !interrupted,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        scenario::parse(text, "test.toml").expect("a valid scenario")
    }

    const OPEN: &str = "name = \"s\"\nduration = \"1s\"\n[load]\nrates = [100.0]\nopen_loop_connections = 16\nprobe = { route = \"/health\", rate = 10.0, connections = 3 }\n[[workloads]]\nroute = \"null\"\nopen_loop_connections = 8\n[[styles]]\nstyle = \"async\"\n";

    #[test]
    fn each_factor_doubles_its_own_knob_and_nothing_else() {
        let base = scenario(OPEN);
        let window = Factor::Window.apply(&base).unwrap();
        assert_eq!(window.duration, base.duration * 2);
        assert_eq!(window.load, base.load);
        assert_eq!(window.name, "s-window-x2");
        let connections = Factor::Connections.apply(&base).unwrap();
        assert_eq!(connections.load.open_loop_connections, 32);
        assert_eq!(connections.workloads[0].open_loop_connections, Some(16));
        assert_eq!(connections.duration, base.duration);
        assert_eq!(connections.load.probe, base.load.probe);
        let probe = Factor::ProbeConnections.apply(&base).unwrap();
        assert_eq!(probe.load.probe.as_ref().unwrap().connections, 6);
        assert_eq!(probe.load.open_loop_connections, 16);
    }

    #[test]
    fn the_window_doubles_a_searchs_probes_too() {
        let base = scenario("name = \"s\"\nduration = \"1s\"\n[[workloads]]\nroute = \"null\"\nsaturate = { p95_slo = \"50ms\", probe_duration = \"1s\" }\n[[styles]]\nstyle = \"async\"\n");
        let window = Factor::Window.apply(&base).unwrap();
        let search = window.workloads[0].saturate.as_ref().unwrap();
        assert_eq!(search.probe_duration, std::time::Duration::from_secs(2));
    }

    #[test]
    fn an_invariance_table_narrows_the_changed_runs_only() {
        let text = format!(
            "{OPEN}[[workloads]]\nname = \"other\"\nroute = \"io\"\n[invariance]\nworkloads = [\"null\"]\nrepetitions = 3\n"
        );
        let base = scenario(&text);
        assert_eq!(base.workloads.len(), 2);
        let window = Factor::Window.apply(&base).unwrap();
        assert_eq!(window.workloads.len(), 1);
        assert_eq!(window.workloads[0].name(), "null");
        assert_eq!(window.repetitions, 3);
        let too_few = format!("{OPEN}[invariance]\nworkloads = [\"null\"]\nrepetitions = 2\n");
        let error = scenario::parse(&too_few, "test.toml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("at least 3"), "{error}");
        let unknown = format!("{OPEN}[invariance]\nworkloads = [\"nope\"]\n");
        let error = scenario::parse(&unknown, "test.toml")
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"nope\" is not a workload"), "{error}");
    }

    #[test]
    fn a_changed_runs_search_starts_a_rung_under_the_lowest_capacity_found() {
        let base = scenario("name = \"s\"\nduration = \"1s\"\n[load]\nsaturate = { p95_slo = \"50ms\", start_rps = 200.0, max_rps = 102400.0 }\n[[workloads]]\nroute = \"io\"\n[[styles]]\nstyle = \"async\"\n[[styles]]\nstyle = \"blocking\"\nthreads = [8]\n");
        let cell = |variant: &str, rate: Option<f64>, valid: bool| CellRecord {
            workload: "io".into(),
            variant: variant.into(),
            load_mode: "saturate".into(),
            target_rps: rate,
            valid,
            ..CellRecord::default()
        };
        let found = [
            cell("async(workers=1)", Some(57600.0), true),
            cell("async(workers=1)", Some(35200.0), true),
            cell("blocking(pool=8)", Some(375.0), true),
            cell("blocking(pool=8)", None, false),
        ];
        let mut changed = Factor::Window.apply(&base).unwrap();
        seed_searches(&mut changed, &found);
        let search = changed.workloads[0].saturate.as_ref().unwrap();
        // 25,600 is the ladder's rung under 35,200; one rung lower leaves room to fall.
        assert_eq!(search.start_for("async(workers=1)"), 12800.0);
        // A repetition without a capacity gives no seed: the search starts as written.
        assert_eq!(search.start_for("blocking(pool=8)"), 200.0);
        let as_written = base.load.saturate.as_ref().unwrap();
        assert_eq!(search.probe_duration, as_written.probe_duration * 2);
        let mut low = Factor::Window.apply(&base).unwrap();
        seed_searches(&mut low, &[cell("async(workers=1)", Some(300.0), true)]);
        let search = low.workloads[0].saturate.as_ref().unwrap();
        assert_eq!(
            search.start_for("async(workers=1)"),
            200.0,
            "never under start_rps"
        );
    }

    #[test]
    fn a_knob_the_scenario_does_not_have_is_said_not_invented() {
        let closed = scenario(
            "name = \"s\"\n[load]\nconnections = [8]\n[[workloads]]\nroute = \"null\"\n[[styles]]\nstyle = \"async\"\n",
        );
        let why = Factor::Connections.apply(&closed).unwrap_err();
        assert!(why.contains("closed-loop"), "{why}");
        let why = Factor::ProbeConnections.apply(&closed).unwrap_err();
        assert!(why.contains("no probe"), "{why}");
    }
}
