//! `[[targets]]`: servers of the user's own, started from a command with placeholders.

use super::*;

/// A server of the user's own, started by the runner like a built-in style:
///
/// ```toml
/// [[targets]]
/// name = "flask-gunicorn-sync"
/// command = [".venv/bin/gunicorn", "-w", "{workers}", "-b", "127.0.0.1:{port}", "app_flask:app"]
/// cwd = "../examples/python"
/// ready = "/health"
/// routes = { io = "/io", cpu = "/cpu" }
/// workers = [4, 16]
/// ```
///
/// `{port}`, `{workers}`, `{upstream}`, `{database}`, `{cpu_rounds}`, `{io_calls}`,
/// `{io_latency_us}`, `{io_mode}` and `{db_lookups}` in `command` and `env` are replaced per cell; the
/// same values are in its environment as `SABENCH_PORT`, `SABENCH_WORKERS`, … .
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Its name in tables (its label, with `(workers=N)` when `workers` is swept).
    pub name: String,
    /// What it is, for the report (e.g. "Flask 3 under gunicorn, sync workers").
    #[serde(default)]
    pub description: String,
    /// The program and its arguments; a relative program path with a `/` is taken
    /// from `cwd`.
    pub command: Vec<String>,
    /// Its working folder, relative to the scenario file's folder [default: that folder].
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The path polled until it answers 200: the target is then ready.
    #[serde(default = "defaults::ready")]
    pub ready: String,
    /// How long it may take to become ready.
    #[serde(default = "defaults::ready_timeout", with = "humantime_serde")]
    pub ready_timeout: Duration,
    /// Which workload routes it serves, and at which path.
    pub routes: std::collections::BTreeMap<WorkloadRoute, String>,
    /// Worker counts to sweep, substituted for `{workers}` (empty: one variant).
    #[serde(default)]
    pub workers: Vec<u32>,
    /// Commands whose output names its version (e.g. `[["python", "--version"]]`),
    /// recorded in the manifest; run from `cwd`.
    #[serde(default)]
    pub version: Vec<Vec<String>>,
    /// Whether it answers the suite's routes byte for byte (then verify compares its
    /// bodies with the built-in styles').
    #[serde(default = "defaults::yes")]
    pub same_contract: bool,
    /// What to do when its program is missing (e.g. "run scripts/python-env.sh").
    #[serde(default)]
    pub setup: Option<String>,
    /// A fixed port [default: a free one for each cell].
    #[serde(default)]
    pub port: Option<u16>,
    /// Whether a saturation search starts it afresh for every probe (the default: no
    /// probe inherits another's queue or memory). False keeps one server for the
    /// search, each probe waiting until it is idle: for a server that takes long to
    /// start (gunicorn with many workers), at the price of memory figures that
    /// include what earlier probes left.
    #[serde(default = "defaults::yes")]
    pub restart_between_probes: bool,
}

/// The placeholders a target's command and environment may use.
pub const TARGET_PLACEHOLDERS: [&str; 9] = [
    "db_lookups",
    "port",
    "workers",
    "upstream",
    "database",
    "cpu_rounds",
    "io_calls",
    "io_latency_us",
    "io_mode",
];

impl TargetSpec {
    /// Its variants: one per worker count (or one).
    pub fn worker_counts(&self) -> Vec<Option<u32>> {
        if self.workers.is_empty() {
            vec![None]
        } else {
            self.workers.iter().copied().map(Some).collect()
        }
    }

    /// Whether it serves `workload`.
    pub fn serves(&self, workload: &WorkloadSpec) -> bool {
        self.routes.contains_key(&workload.route)
    }

    /// What is wrong with it, if anything.
    pub(super) fn problem(&self) -> Option<String> {
        let name = &self.name;
        if name.trim().is_empty() {
            return Some("targets: `name` is empty".into());
        }
        if self.command.first().is_none_or(|p| p.trim().is_empty()) {
            return Some(format!(
                "target {name:?}: `command` is empty: give the program and its arguments, e.g. [\"python3\", \"app.py\", \"--port\", \"{{port}}\"]"
            ));
        }
        if !self.command.iter().any(|a| a.contains("{port}"))
            && !self.env.values().any(|v| v.contains("{port}"))
            && self.port.is_none()
        {
            return Some(format!(
                "target {name:?}: nothing tells it its port: put {{port}} in `command` or `env` (it is also in SABENCH_PORT), or give a fixed `port`"
            ));
        }
        if !self.ready.starts_with('/') {
            return Some(format!(
                "target {name:?}: `ready` must be a path starting with /, not {:?}",
                self.ready
            ));
        }
        if let Some((route, path)) = self.routes.iter().find(|(_, p)| !p.starts_with('/')) {
            return Some(format!(
                "target {name:?}: route {} maps to {path:?}: a path starts with /",
                route.route().path()
            ));
        }
        if self.routes.is_empty() {
            return Some(format!(
                "target {name:?}: `routes` is empty: say which workload routes it serves, e.g. {{ io = \"/io\" }}"
            ));
        }
        if self.workers.contains(&0) {
            return Some(format!("target {name:?}: `workers` must be at least 1"));
        }
        if !self.workers.is_empty()
            && !self.command.iter().any(|a| a.contains("{workers}"))
            && !self.env.values().any(|v| v.contains("{workers}"))
        {
            return Some(format!(
                "target {name:?}: `workers` is swept but neither `command` nor `env` uses {{workers}}"
            ));
        }
        let texts = self.command.iter().chain(self.env.values());
        for text in texts {
            if let Some(unknown) = unknown_placeholder(text) {
                return Some(format!(
                    "target {name:?}: unknown placeholder {{{unknown}}} in {text:?}; known: {}",
                    TARGET_PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(" ")
                ));
            }
        }
        None
    }
}

/// The first `{name}` in `text` that is not a target placeholder.
fn unknown_placeholder(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        if !TARGET_PLACEHOLDERS.contains(&name) {
            return Some(name.to_string());
        }
        rest = &after[close + 1..];
    }
    None
}
