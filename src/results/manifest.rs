//! `manifest.json`: what ran, where, from which revision, and whether it finished.

use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

/// Describes a run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The run's directory name.
    pub run_id: String,
    /// Scenario name.
    pub scenario_name: String,
    /// The scenario file it came from.
    pub scenario_file: String,
    /// The scenario as parsed (every default filled in).
    pub scenario: StoredScenario,
    /// `git describe --always --dirty` of the source tree, if known.
    pub git_revision: String,
    /// `rustc --version`.
    pub rustc: String,
    /// CPU model name.
    pub cpu_model: String,
    /// CPUs available.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// Start time (RFC 3339, UTC).
    pub started: String,
    /// End time, once finished or interrupted.
    pub finished: Option<String>,
    /// running, complete, or interrupted.
    pub status: String,
    /// Cells the scenario plans (with repetitions).
    pub cells_planned: usize,
    /// Cells finished and written.
    pub cells_done: usize,
    /// Of those, cells that failed (a crash, or nothing measured).
    #[serde(default)]
    pub cells_failed: usize,
    /// Measured cells that failed one of the scenario's thresholds.
    #[serde(default)]
    pub thresholds_failed: usize,
    /// The PostgreSQL the database workloads queried, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseInfo>,
    /// The servers of the user's own the run measured (`[[targets]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetFacts>,
    /// What the generator could offer on this machine, measured before a run with gated
    /// claims (None: no gate, or an older run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_ceiling: Option<super::ceiling::GeneratorCeiling>,
}

/// The scenario a run measured, as its manifest records it: the JSON as written, and
/// the same read as this build's typed [`Scenario`] (every run this build writes reads
/// back; an older run whose shape no longer does keeps its JSON, and a report shows
/// what it can of it). Written back exactly as it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredScenario {
    recorded: serde_json::Value,
    typed: Option<Box<Scenario>>,
}

impl StoredScenario {
    /// The scenario, typed; None for an older run whose scenario no longer reads.
    pub fn typed(&self) -> Option<&Scenario> {
        self.typed.as_deref()
    }

    /// The scenario as the manifest recorded it.
    pub fn recorded(&self) -> &serde_json::Value {
        &self.recorded
    }

    /// Reads a manifest's scenario.
    pub fn from_recorded(recorded: serde_json::Value) -> Self {
        let typed = serde_json::from_value(recorded.clone()).ok().map(Box::new);
        Self { recorded, typed }
    }
}

impl TryFrom<&Scenario> for StoredScenario {
    type Error = serde_json::Error;

    fn try_from(scenario: &Scenario) -> Result<Self, Self::Error> {
        Ok(Self {
            recorded: serde_json::to_value(scenario)?,
            typed: Some(Box::new(scenario.clone())),
        })
    }
}

impl Serialize for StoredScenario {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.recorded.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StoredScenario {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(deserializer).map(Self::from_recorded)
    }
}

/// What a run records of a server of the user's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetFacts {
    /// Its name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// Its command as the scenario gives it (placeholders unfilled).
    pub command: Vec<String>,
    /// Its working folder.
    pub cwd: String,
    /// Each version command and the first line it printed (or why it could not run).
    pub versions: Vec<(String, String)>,
}

/// The database of a run, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseInfo {
    /// A throwaway cluster, or an existing server.
    pub source: String,
    /// Its URL, any password masked.
    pub url: String,
    /// `SHOW server_version`.
    pub server_version: String,
    /// The settings the throwaway cluster ran with.
    pub settings: String,
    /// pgbench's reference runs on it (the same query), if the scenario asked.
    #[serde(default)]
    pub pgbench: Vec<PgbenchRun>,
}

/// One pgbench run: the ceiling the database itself serves on the `/db` query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PgbenchRun {
    /// Pooled (one connection per client) or connecting per transaction (`-C`).
    pub mode: String,
    /// Client connections (`-c`).
    pub clients: u32,
    /// Seconds it ran.
    pub duration_s: f64,
    /// Transactions (queries) per second.
    pub tps: f64,
}

/// Facts about this machine and build, for the manifest.
pub struct MachineFacts {
    /// `git describe --always --dirty`.
    pub git_revision: String,
    /// `rustc --version`.
    pub rustc: String,
    /// CPU model.
    pub cpu_model: String,
    /// CPUs available.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
}

/// The revision this binary was built from (embedded by build.rs).
pub const BUILD_REVISION: &str = env!("SABENCH_BUILD_REVISION");

/// `sabench --version`: the package version and the revision it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("SABENCH_BUILD_REVISION"),
    ")"
);

/// The revision results are credited to: `SABENCH_REVISION` when set (a CI job that
/// knows better), else the one the binary was built from, else the checkout's.
pub fn revision() -> String {
    std::env::var("SABENCH_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| (BUILD_REVISION != "unknown").then(|| BUILD_REVISION.to_string()))
        .or_else(|| command_output("git", &["describe", "--always", "--dirty"]))
        .unwrap_or_else(|| "unknown".into())
}

/// The revision a `sabench` executable says it was built from (`--version`), None
/// when it does not say.
pub fn revision_of(program: &std::path::Path) -> Option<String> {
    let text = command_output(program.to_str()?, &["--version"])?;
    let inside = text.split_once("(revision ")?.1;
    Some(inside.trim_end_matches(')').trim().to_string())
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

impl MachineFacts {
    /// Reads them now.
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Self {
            git_revision: revision(),
            rustc: command_output("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
            cpu_model,
            cores: crate::sys::affinity::available_cpus(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
        }
    }
}

/// The current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_reads_typed_and_an_older_shape_keeps_its_json() {
        let scenario = crate::scenario::parse(
            "name = \"t\"\n[[styles]]\nstyle = \"async\"\n[[workloads]]\nroute = \"null\"\n[load]\nconnections = [4]\n",
            "t.toml",
        )
        .unwrap();
        let stored = StoredScenario::try_from(&scenario).unwrap();
        let read: StoredScenario =
            serde_json::from_value(serde_json::to_value(&stored).unwrap()).unwrap();
        assert_eq!(read.typed(), Some(&scenario));
        let mut older = stored.recorded().clone();
        older["a_key_since_removed"] = serde_json::json!(1);
        let read: StoredScenario = serde_json::from_value(older.clone()).unwrap();
        assert!(read.typed().is_none());
        assert_eq!(
            serde_json::to_value(&read).unwrap(),
            older,
            "kept as recorded"
        );
    }
}
