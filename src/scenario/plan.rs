//! Expands a scenario into its cells: every style variant × workload × load level ×
//! repetition, ordered so the styles of one level run back to back (their ratios are
//! then measured close together in time), in reverse every other repetition (ABBA), so
//! drift cancels.

use crate::file_name::slug;
use crate::server::StyleConfig;

use super::{Saturate, Scenario, SlowlorisSpec, StyleSpec, TargetSpec, WorkloadSpec};

/// The server a cell measures: a built-in style, or a server of the user's own.
#[derive(Debug, Clone)]
pub enum ServerPlan {
    /// `sabench serve` in a style, with its knobs.
    Style(StyleConfig),
    /// A `[[targets]]` command, with its worker count when that is swept.
    Target {
        /// The target as the scenario gives it.
        spec: std::sync::Arc<TargetSpec>,
        /// The value of `{workers}` (None: not swept).
        workers: Option<u32>,
    },
}

impl ServerPlan {
    /// Its name in tables: `async(workers=1)`, `flask-gunicorn(workers=4)`.
    pub fn label(&self) -> String {
        match self {
            ServerPlan::Style(style) => style.label(),
            ServerPlan::Target { spec, workers } => match workers {
                Some(n) => format!("{}(workers={n})", spec.name),
                None => spec.name.clone(),
            },
        }
    }

    /// `blocking`, `async`, `hybrid`, or `external`.
    pub fn kind(&self) -> String {
        match self {
            ServerPlan::Style(style) => crate::flags::flag_value(&style.style),
            ServerPlan::Target { .. } => "external".into(),
        }
    }

    /// The built-in style, if it is one.
    pub fn style(&self) -> Option<&StyleConfig> {
        match self {
            ServerPlan::Style(style) => Some(style),
            ServerPlan::Target { .. } => None,
        }
    }
}

/// How a cell loads the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Level {
    /// Closed loop with this many connections.
    Closed(u32),
    /// Open loop at this rate over this many connections.
    Open {
        /// Requests per second.
        rate: f64,
        /// In-flight bound.
        connections: u32,
    },
    /// Open loop in stages (rates that ramp) over this many connections.
    Staged {
        /// The stages, beginning with the warm-up.
        stages: crate::load::pacer::Stages,
        /// In-flight bound.
        connections: u32,
    },
    /// Highest rate meeting the SLO.
    Saturate {
        /// The search's settings.
        search: Saturate,
        /// In-flight bound.
        connections: u32,
    },
    /// Connection scale: this many connections opened first (on a ramp) and held while
    /// a fixed open-loop rate is spread over them all.
    Held {
        /// Connections held.
        connections: u32,
        /// Requests per second over all of them.
        rate: f64,
        /// Connections opened per second.
        ramp: f64,
    },
    /// This many slow clients while a probe loads the server.
    Slowloris {
        /// Slow clients.
        clients: u32,
        /// The slowloris settings (probe, SLO, trickle).
        spec: SlowlorisSpec,
    },
}

impl Level {
    /// `closed`, `open` or `saturate`.
    pub fn mode(&self) -> &'static str {
        match self {
            Level::Closed(_) => "closed",
            Level::Open { .. } => "open",
            Level::Staged { .. } => "staged",
            Level::Saturate { .. } => "saturate",
            Level::Held { .. } => "held",
            Level::Slowloris { .. } => "slowloris",
        }
    }

    /// Connections used.
    pub fn connections(&self) -> u32 {
        match self {
            Level::Closed(c) => *c,
            Level::Open { connections, .. }
            | Level::Staged { connections, .. }
            | Level::Saturate { connections, .. }
            | Level::Held { connections, .. } => *connections,
            Level::Slowloris { spec, .. } => spec.probe_connections,
        }
    }

    /// This level as `style` gets it: an open-loop or saturation level gives a blocking
    /// pool at most one connection per thread. A keep-alive connection holds its thread
    /// until it closes, and the generator spreads requests over every connection, so a
    /// connection beyond the pool would wait unserved for the whole cell (no real
    /// client keeps more connections to such a server than it has threads). The
    /// generator still queues what it cannot send, and that wait counts (open loop).
    /// A search starts where its `start_by_style` says for this server, if it does.
    pub fn for_server(&self, server: &ServerPlan) -> Level {
        let mut level = self.clone();
        if let Level::Saturate { search, .. } = &mut level {
            search.start_rps = search.start_for(&server.label());
            search.start_by_style.clear();
        }
        let Some(style) = server.style() else {
            return level; // a target of the user's own gets the load as it is asked
        };
        let pool = style.style == crate::server::Style::Blocking && !style.thread_per_connection;
        if let (
            true,
            Level::Open { connections, .. }
            | Level::Staged { connections, .. }
            | Level::Saturate { connections, .. },
        ) = (pool, &mut level)
        {
            let threads = u32::try_from(style.threads).unwrap_or(u32::MAX);
            *connections = (*connections).min(threads);
        }
        level
    }

    /// The rate it offers: an open or held level's, a staged level's highest (None:
    /// closed loop, or a search).
    pub fn offered_rate(&self) -> Option<f64> {
        match self {
            Level::Open { rate, .. } | Level::Held { rate, .. } => Some(*rate),
            Level::Staged { stages, .. } => {
                stages.as_slice().iter().map(|s| s.rate).reduce(f64::max)
            }
            Level::Slowloris { spec, .. } => Some(spec.probe_rate),
            Level::Closed(_) | Level::Saturate { .. } => None,
        }
    }

    /// Short, file-name-safe description: `c64`, `r500`, `sat`.
    pub fn slug(&self) -> String {
        match self {
            Level::Closed(c) => format!("c{c}"),
            Level::Open { rate, .. } => format!("r{rate:.0}"),
            Level::Staged { .. } => "staged".into(),
            Level::Saturate { .. } => "sat".into(),
            Level::Held { connections, .. } => format!("h{connections}"),
            Level::Slowloris { clients, .. } => format!("s{clients}"),
        }
    }
}

/// One cell of the matrix.
#[derive(Debug, Clone)]
pub struct CellPlan {
    /// Unique, file-name-safe id.
    pub id: String,
    /// The workload.
    pub workload: WorkloadSpec,
    /// The server: a style and its knobs, or a target.
    pub server: ServerPlan,
    /// The load.
    pub level: Level,
    /// Repetition, from 1.
    pub repetition: u32,
    /// The server's port (0: any free one).
    pub port: u16,
}

/// The load levels of one workload: its own lists, or the scenario's.
pub(crate) fn levels(scenario: &Scenario, workload: &WorkloadSpec) -> Vec<Level> {
    let load = &scenario.load;
    let connections = workload.connections.as_ref().unwrap_or(&load.connections);
    let rates = workload.rates.as_ref().unwrap_or(&load.rates);
    let open_loop = workload
        .open_loop_connections
        .unwrap_or(load.open_loop_connections);
    let mut levels: Vec<Level> = connections.iter().map(|&c| Level::Closed(c)).collect();
    levels.extend(rates.iter().map(|&rate| Level::Open {
        rate,
        connections: open_loop,
    }));
    let held = workload.held.as_ref().unwrap_or(&load.held);
    levels.extend(held.iter().map(|&connections| Level::Held {
        connections,
        rate: load.held_rate,
        ramp: load.held_ramp,
    }));
    if let Some(stages) = load.staged() {
        levels.push(Level::Staged {
            stages,
            connections: open_loop,
        });
    }
    if let Some(search) = workload.saturate.as_ref().or(load.saturate.as_ref()) {
        levels.push(Level::Saturate {
            search: search.clone(),
            connections: open_loop,
        });
    }
    levels
}

/// Every cell of `scenario`, in run order: the workloads' cells, then the slowloris
/// cells, repetition by repetition.
pub fn cells(scenario: &Scenario) -> Vec<CellPlan> {
    let mut cells = Vec::new();
    for repetition in 1..=scenario.repetitions {
        for workload in &scenario.workloads {
            let name = workload.name();
            let mut servers = styles(scenario, |s| s.only.is_empty() || s.only.contains(&name));
            servers.extend(targets(scenario, |t| t.serves(workload)));
            // Every other repetition runs the styles of a level in reverse (A B, B A, A
            // B, …), so a drift of the machine during a run weighs on each style alike.
            if repetition % 2 == 0 {
                servers.reverse();
            }
            for level in &levels(scenario, workload) {
                for (server, port) in &servers {
                    cells.push(cell(workload, server, *port, level, repetition));
                }
            }
        }
        if let Some(spec) = &scenario.slowloris {
            let workload = WorkloadSpec::slowloris_probe();
            let mut styles = styles(scenario, |_| true);
            styles.extend(targets(scenario, |t| t.serves(&workload)));
            for &clients in &spec.clients {
                let level = Level::Slowloris {
                    clients,
                    spec: spec.clone(),
                };
                for (style, port) in &styles {
                    cells.push(cell(&workload, style, *port, &level, repetition));
                }
            }
        }
    }
    cells
}

/// Most cells a scenario may plan (a run of that many would take days already).
pub const MAX_CELLS: u128 = 100_000;

/// How many cells `scenario` plans, without planning them (a scenario with a billion
/// repetitions is refused, not expanded).
pub fn count(scenario: &Scenario) -> u128 {
    let variants = |keep: &dyn Fn(&StyleSpec) -> bool| -> u128 {
        scenario
            .styles
            .iter()
            .filter(|s| keep(s))
            .map(|s| s.variants().len() as u128)
            .sum()
    };
    let per_repetition: u128 = scenario
        .workloads
        .iter()
        .map(|workload| {
            let name = workload.name();
            let targets = targets(scenario, |t| t.serves(workload)).len() as u128;
            levels(scenario, workload).len() as u128
                * (variants(&|s| s.only.is_empty() || s.only.contains(&name)) + targets)
        })
        .sum::<u128>()
        + scenario.slowloris.as_ref().map_or(0, |slow| {
            let probe = WorkloadSpec::slowloris_probe();
            let targets = targets(scenario, |t| t.serves(&probe)).len() as u128;
            slow.clients.len() as u128 * (variants(&|_| true) + targets)
        });
    per_repetition * u128::from(scenario.repetitions)
}

/// The style variants (each with its port) of the styles `keep` admits.
fn styles(scenario: &Scenario, keep: impl Fn(&StyleSpec) -> bool) -> Vec<(ServerPlan, u16)> {
    scenario
        .styles
        .iter()
        .filter(|s| keep(s))
        .flat_map(|s| {
            let port = s.port.unwrap_or(0);
            s.variants()
                .into_iter()
                .map(move |v| (ServerPlan::Style(v), port))
        })
        .collect()
}

/// The variants (one per worker count, each with its port) of the targets `keep` admits.
fn targets(scenario: &Scenario, keep: impl Fn(&TargetSpec) -> bool) -> Vec<(ServerPlan, u16)> {
    scenario
        .targets
        .iter()
        .filter(|t| keep(t))
        .flat_map(|t| {
            let spec = std::sync::Arc::new(t.clone());
            let port = t.port.unwrap_or(0);
            t.worker_counts().into_iter().map(move |workers| {
                let server = ServerPlan::Target {
                    spec: spec.clone(),
                    workers,
                };
                (server, port)
            })
        })
        .collect()
}

fn cell(
    workload: &WorkloadSpec,
    server: &ServerPlan,
    port: u16,
    level: &Level,
    repetition: u32,
) -> CellPlan {
    CellPlan {
        id: format!(
            "{}-{}-{}-r{repetition}",
            slug(&workload.name()),
            slug(&server.label()),
            level.slug()
        ),
        workload: workload.clone(),
        server: server.clone(),
        level: level.for_server(server),
        repetition,
        port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_other_repetition_runs_the_styles_in_reverse() {
        let text = "name = \"t\"\nrepetitions = 3\n[[styles]]\nstyle = \"blocking\"\nthreads = [8]\n[[styles]]\nstyle = \"async\"\nworkers = [1]\n[[workloads]]\nroute = \"io\"\n[load]\nconnections = [4]\n";
        let scenario = crate::scenario::parse(text, "t.toml").unwrap();
        let order: Vec<String> = cells(&scenario).iter().map(|c| c.server.label()).collect();
        assert_eq!(
            order,
            [
                "blocking(pool=8)",
                "async(workers=1)",
                "async(workers=1)",
                "blocking(pool=8)",
                "blocking(pool=8)",
                "async(workers=1)"
            ]
        );
    }

    #[test]
    fn the_matrix_has_every_combination_with_unique_ids() {
        let text = r#"
name = "t"
repetitions = 2
[[styles]]
style = "blocking"
threads = [8, 64]
[[styles]]
style = "async"
[[workloads]]
route = "io"
[[workloads]]
route = "cpu"
[load]
connections = [1, 16]
rates = [100.0]
"#;
        let scenario = crate::scenario::parse(text, "t.toml").unwrap();
        let cells = cells(&scenario);
        assert_eq!(cells.len(), 2 * 2 * 3 * 3);
        assert_eq!(count(&scenario), cells.len() as u128);
        let ids: std::collections::HashSet<_> = cells.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids.len(), cells.len());
        assert_eq!(cells[0].id, "io-blocking-pool-8-c1-r1");
        assert_eq!(cells[1].id, "io-blocking-pool-64-c1-r1");
    }

    #[test]
    fn a_slowloris_only_scenario_has_a_cell_per_style_and_count() {
        let text = "name = \"s\"\n[[styles]]\nstyle = \"blocking\"\n[[styles]]\nstyle = \"async\"\n[slowloris]\nclients = [0, 16]\n";
        let scenario = crate::scenario::parse(text, "s.toml").unwrap();
        let cells = cells(&scenario);
        assert_eq!(cells.len(), 4);
        assert!(cells.iter().all(|c| c.level.mode() == "slowloris"));
        assert_eq!(count(&scenario), 4);
        let expected = format!(
            "slowloris-async-workers-{}-s16-r1",
            cells[3].server.style().unwrap().workers
        );
        assert_eq!(cells[3].id, expected);
        let empty = "name = \"s\"\n[[styles]]\nstyle = \"async\"\n[slowloris]\nclients = []\n";
        let error = crate::scenario::parse(empty, "s.toml").unwrap_err();
        assert!(
            error.to_string().contains("[slowloris] clients is empty"),
            "{error}"
        );
    }

    #[test]
    fn a_blocking_pool_gets_at_most_a_connection_per_thread_in_open_loop() {
        let text = r#"
name = "t"
[[styles]]
style = "blocking"
threads = [8]
[[styles]]
style = "async"
[[workloads]]
route = "io"
rates = [500.0]
open_loop_connections = 256
connections = [64]
"#;
        let scenario = crate::scenario::parse(text, "t.toml").unwrap();
        let cells = cells(&scenario);
        let connections = |style: &str, mode: &str| {
            cells
                .iter()
                .find(|c| c.server.label().starts_with(style) && c.level.mode() == mode)
                .map(|c| c.level.connections())
        };
        assert_eq!(connections("blocking", "open"), Some(8));
        assert_eq!(connections("async", "open"), Some(256));
        // Closed loop is the scenario's to choose: it is left alone.
        assert_eq!(connections("blocking", "closed"), Some(64));
    }
}
