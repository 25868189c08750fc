//! Scenario files (`scenarios/*.toml`): the matrix of styles × workloads × load levels,
//! with durations, repetitions, pinning and upstream settings. Unknown keys and bad
//! values are errors that name the file, the line and the key.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::pair::{Pair, PAIR_METRICS};
pub use crate::pipeline::PipelineOptions;

pub mod plan;

mod check;
mod database;
mod defaults;
mod load;
mod styles;
mod targets;
mod workloads;

pub use database::*;
pub use load::*;
pub use styles::*;
pub use targets::*;
pub use workloads::*;

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
    check::check(&scenario, file)?;
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
    fn a_search_starts_on_its_own_ladder_or_is_refused() {
        let search = |extra: &str| {
            MINIMAL
                .replace("style = \"async\"", "style = \"async\"\nworkers = [1]")
                .replace(
                    "connections = [4]",
                    &format!("saturate = {{ p95_slo = \"50ms\", start_rps = 100.0, max_rps = 6400.0{extra} }}"),
                )
        };
        let seeded = parse(
            &search(", start_by_style = { \"async(workers=1)\" = 800.0 }"),
            "s.toml",
        )
        .unwrap();
        let cells = plan::cells(&seeded);
        let plan::Level::Saturate { search: used, .. } = &cells[0].level else {
            panic!("a saturation cell");
        };
        assert_eq!(used.start_rps, 800.0, "the style's own start");
        assert_eq!(
            seeded
                .load
                .saturate
                .as_ref()
                .unwrap()
                .rung_at_or_under(1000.0),
            800.0
        );
        let off_ladder = error(&search(
            ", start_by_style = { \"async(workers=1)\" = 300.0 }",
        ))
        .to_string();
        assert!(
            off_ladder.contains("start_by_style \"async(workers=1)\" = 300")
                && off_ladder.contains("try 200"),
            "{off_ladder}"
        );
        let unknown = error(&search(
            ", start_by_style = { \"async(workers=9)\" = 400.0 }",
        ))
        .to_string();
        assert!(unknown.contains("which no cell runs"), "{unknown}");
        let upside_down = error(&search("").replace("max_rps = 6400.0", "max_rps = 50.0"));
        assert!(upside_down
            .to_string()
            .contains("max_rps at least start_rps"));
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
            .contains("`threads` applies to style blocking, not \"async\""));
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
        let small_stack =
            MINIMAL.replace("style = \"async\"", "style = \"blocking\"\nstack_kib = 8");
        assert!(error(&small_stack)
            .to_string()
            .contains("stack_kib is 8: give 16"));
        let few_files = MINIMAL.replace("style = \"async\"", "style = \"async\"\nopen_files = 8");
        assert!(error(&few_files)
            .to_string()
            .contains("open_files is 8: give at least 16"));
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
