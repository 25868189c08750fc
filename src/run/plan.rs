//! Expands a scenario into its cells: every style variant × workload × load level ×
//! repetition, ordered so the styles of one level run back to back (their ratios are
//! then measured close together in time).

use crate::server::StyleConfig;

use super::scenario::{Saturate, Scenario, WorkloadSpec};

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
    /// Highest rate meeting the SLO.
    Saturate {
        /// The search's settings.
        search: Saturate,
        /// In-flight bound.
        connections: u32,
    },
}

impl Level {
    /// `closed`, `open` or `saturate`.
    pub fn mode(&self) -> &'static str {
        match self {
            Level::Closed(_) => "closed",
            Level::Open { .. } => "open",
            Level::Saturate { .. } => "saturate",
        }
    }

    /// Connections used.
    pub fn connections(&self) -> u32 {
        match self {
            Level::Closed(c) => *c,
            Level::Open { connections, .. } | Level::Saturate { connections, .. } => *connections,
        }
    }

    /// Short, file-name-safe description: `c64`, `r500`, `sat`.
    pub fn slug(&self) -> String {
        match self {
            Level::Closed(c) => format!("c{c}"),
            Level::Open { rate, .. } => format!("r{rate:.0}"),
            Level::Saturate { .. } => "sat".into(),
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
    /// The style and knobs.
    pub style: StyleConfig,
    /// The load.
    pub level: Level,
    /// Repetition, from 1.
    pub repetition: u32,
    /// The server's port (0: any free one).
    pub port: u16,
}

/// Keeps letters, digits, `-` and `_`; anything else becomes `-`.
pub fn slug(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}

/// The load levels of one workload: its own lists, or the scenario's.
fn levels(scenario: &Scenario, workload: &WorkloadSpec) -> Vec<Level> {
    let load = &scenario.load;
    let connections = workload.connections.as_ref().unwrap_or(&load.connections);
    let rates = workload.rates.as_ref().unwrap_or(&load.rates);
    let mut levels: Vec<Level> = connections.iter().map(|&c| Level::Closed(c)).collect();
    levels.extend(rates.iter().map(|&rate| Level::Open {
        rate,
        connections: load.open_loop_connections,
    }));
    if let Some(search) = &load.saturate {
        levels.push(Level::Saturate {
            search: search.clone(),
            connections: load.open_loop_connections,
        });
    }
    levels
}

/// Every cell of `scenario`, in run order.
pub fn cells(scenario: &Scenario) -> Vec<CellPlan> {
    let mut cells = Vec::new();
    for repetition in 1..=scenario.repetitions {
        for workload in &scenario.workloads {
            let name = workload.name();
            let variants: Vec<(StyleConfig, u16)> = scenario
                .styles
                .iter()
                .filter(|s| s.only.is_empty() || s.only.contains(&name))
                .flat_map(|s| {
                    let port = s.port.unwrap_or(0);
                    s.variants().into_iter().map(move |v| (v, port))
                })
                .collect();
            for level in &levels(scenario, workload) {
                for (style, port) in &variants {
                    let id = format!(
                        "{}-{}-{}-r{repetition}",
                        slug(&workload.name()),
                        slug(&style.label()),
                        level.slug()
                    );
                    cells.push(CellPlan {
                        id,
                        workload: workload.clone(),
                        style: style.clone(),
                        level: level.clone(),
                        repetition,
                        port: *port,
                    });
                }
            }
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let scenario = super::super::scenario::parse(text, "t.toml").unwrap();
        let cells = cells(&scenario);
        assert_eq!(cells.len(), 2 * 2 * 3 * 3);
        let ids: std::collections::HashSet<_> = cells.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids.len(), cells.len());
        assert_eq!(cells[0].id, "io-blocking-pool-8-c1-r1");
        assert_eq!(cells[1].id, "io-blocking-pool-64-c1-r1");
    }
}
