//! Servers of the user's own (`[[targets]]`): a cell's command line with its
//! placeholders filled in, started under `sabench supervise` (which owns the target's
//! whole process tree), pinned like a built-in style, and polled until ready. Also what
//! the manifest records of each target: its command and the versions it reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::process::{Child, Tether};
use crate::results::manifest::TargetFacts;
use crate::scenario::plan::CellPlan;
use crate::scenario::TargetSpec;

/// What a cell's target is given: its port and the workload's settings.
#[derive(Debug, Clone, Default)]
pub struct TargetValues {
    /// Placeholder name → value (`port` → `8123`, …).
    pub values: BTreeMap<&'static str, String>,
}

impl TargetValues {
    /// The values for `cell` on `port`, with the run's upstream and database.
    pub fn of(
        cell: &CellPlan,
        workers: Option<u32>,
        port: u16,
        upstream: Option<&str>,
        database: Option<&str>,
    ) -> Self {
        let workload = &cell.workload;
        let mut values = BTreeMap::new();
        values.insert("port", port.to_string());
        values.insert("workers", workers.map_or(String::new(), |n| n.to_string()));
        values.insert("upstream", upstream.unwrap_or_default().to_string());
        values.insert("database", database.unwrap_or_default().to_string());
        values.insert("cpu_rounds", workload.cpu_rounds.to_string());
        values.insert("io_calls", workload.io_calls.to_string());
        values.insert("io_latency_us", workload.io_latency.as_micros().to_string());
        values.insert("io_mode", crate::flags::flag_value(&workload.io_mode));
        values.insert("db_lookups", workload.db_lookups.to_string());
        Self { values }
    }

    /// `text` with every `{name}` replaced by its value.
    pub fn fill(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, value) in &self.values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// The same values as environment variables: `SABENCH_PORT`, `SABENCH_WORKERS`, ….
    pub fn environment(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(name, value)| (format!("SABENCH_{}", name.to_uppercase()), value.clone()))
            .collect()
    }
}

/// The folder a target runs in: its `cwd` from the scenario file's folder.
pub fn working_folder(spec: &TargetSpec, scenario_dir: &Path) -> PathBuf {
    match &spec.cwd {
        Some(cwd) => scenario_dir.join(cwd),
        None => scenario_dir.to_path_buf(),
    }
}

/// The program to run: a relative path with a `/` is taken from `cwd` (a bare name is
/// looked up on PATH).
fn program_path(program: &str, cwd: &Path) -> String {
    let path = Path::new(program);
    if path.is_relative() && program.contains('/') {
        cwd.join(path).to_string_lossy().into_owned()
    } else {
        program.to_string()
    }
}

/// What starting one target needs besides the cell.
pub struct Launch<'a> {
    /// The `sabench` executable (the supervisor).
    pub sabench: &'a Path,
    /// The scenario file's folder.
    pub scenario_dir: &'a Path,
    /// CPUs to pin it to.
    pub cpus: &'a [usize],
    /// The run folder.
    pub run_dir: &'a Path,
    /// Its log (stderr and stdout).
    pub log: PathBuf,
}

/// Starts `spec` with `values` under the supervisor and waits until its `ready` path
/// answers 200; the error says what happened (it could not start, exited, or never
/// answered) with the end of its log.
pub fn start(
    spec: &TargetSpec,
    values: &TargetValues,
    launch: Launch<'_>,
) -> anyhow::Result<Child> {
    let port: u16 = values.values["port"].parse().context("a target's port")?;
    ensure_port_free(port, &spec.name)?;
    let cwd = working_folder(spec, launch.scenario_dir);
    if !cwd.is_dir() {
        anyhow::bail!(
            "target {:?}: its folder {} does not exist (`cwd` is taken from the scenario file's folder)",
            spec.name,
            cwd.display()
        );
    }
    let filled: Vec<String> = spec.command.iter().map(|a| values.fill(a)).collect();
    let mut command = Command::new(launch.sabench);
    command
        .current_dir(&cwd)
        .args(["supervise", "--port", &port.to_string()]);
    if let Some(setup) = &spec.setup {
        command.args(["--setup", setup]);
    }
    command.arg("--").arg(program_path(&filled[0], &cwd));
    command.args(&filled[1..]);
    command.envs(values.environment());
    command.envs(spec.env.iter().map(|(k, v)| (k, values.fill(v))));
    let label = format!("target {}", spec.name);
    let mut child = Child::spawn_command(
        command,
        &label,
        launch.cpus,
        launch.run_dir,
        launch.log,
        Tether::StdinPipe,
    )?;
    child.wait_ready(&spec.ready, spec.ready_timeout)?;
    if !wait_quiet(&child, spec.ready_timeout) {
        child.note(format!(
            "{label} was still busy {} after it answered its ready path: its start-up CPU may be in the figures",
            humantime::format_duration(spec.ready_timeout)
        ));
    }
    Ok(child)
}

/// A tree this idle over [`QUIET_SPAN`] has finished starting: its share of a core.
const QUIET_SHARE: f64 = 0.05;
/// How long a target must stay idle to count as started.
const QUIET_SPAN: Duration = Duration::from_millis(500);

/// Waits (at most `bound`) until the target's processes are idle, and says whether
/// they are: a server that answers its ready path may still be starting the rest of
/// itself (gunicorn's workers import the app one after another after the first
/// answers), and that start-up CPU must not be measured as its cost under load; a
/// server kept between probes may still be working off the last one's queue.
pub(super) fn wait_quiet(child: &Child, bound: Duration) -> bool {
    let cpu = || crate::sys::procfs::tree_detail(child.pid()).map(|t| t.cpu_user_s + t.cpu_sys_s);
    let deadline = Instant::now() + bound;
    let Some(mut before) = cpu() else {
        return false;
    };
    while Instant::now() < deadline {
        std::thread::sleep(QUIET_SPAN);
        let Some(now) = cpu() else { return false };
        if now - before < QUIET_SHARE * QUIET_SPAN.as_secs_f64() {
            return true;
        }
        before = now;
    }
    false
}

/// Fails when something already listens on `port`: the target would then fail to
/// bind, and the ready check would be answered by whatever is there instead.
fn ensure_port_free(port: u16, name: &str) -> anyhow::Result<()> {
    match std::net::TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Ok(()),
        Err(error) => anyhow::bail!(
            "target {name:?}: port {port} is in use ({error}): stop what listens there, or give the target another `port` (or none: a free one is chosen)"
        ),
    }
}

/// A free loopback port for a target (the kernel's choice, released at once).
pub fn free_port() -> anyhow::Result<u16> {
    let listener =
        crate::net::bind_ephemeral().context("cannot find a free loopback port for a target")?;
    Ok(listener.local_addr()?.port())
}

/// Runs the target's version commands (from its folder) and records what they say.
pub fn facts(spec: &TargetSpec, scenario_dir: &Path) -> TargetFacts {
    let cwd = working_folder(spec, scenario_dir);
    let versions = spec
        .version
        .iter()
        .filter(|c| !c.is_empty())
        .map(|command| {
            let shown = command.join(" ");
            let output = Command::new(program_path(&command[0], &cwd))
                .args(&command[1..])
                .current_dir(&cwd)
                .output();
            let said = match output {
                Ok(out) => {
                    let text = if out.stdout.is_empty() {
                        out.stderr
                    } else {
                        out.stdout
                    };
                    String::from_utf8_lossy(&text)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string()
                }
                Err(error) => format!("cannot run: {error}"),
            };
            (shown, said)
        })
        .collect();
    TargetFacts {
        name: spec.name.clone(),
        description: spec.description.clone(),
        command: spec.command.clone(),
        cwd: cwd.display().to_string(),
        versions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_exported() {
        let mut values = TargetValues::default();
        values.values.insert("port", "8123".into());
        values.values.insert("workers", "4".into());
        assert_eq!(
            values.fill("127.0.0.1:{port} -w {workers} {port}"),
            "127.0.0.1:8123 -w 4 8123"
        );
        assert!(values
            .environment()
            .contains(&("SABENCH_PORT".into(), "8123".into())));
    }

    #[test]
    fn a_relative_program_with_a_slash_is_taken_from_the_targets_folder() {
        let cwd = Path::new("/srv/app");
        assert_eq!(
            program_path(".venv/bin/gunicorn", cwd),
            "/srv/app/.venv/bin/gunicorn"
        );
        assert_eq!(program_path("python3", cwd), "python3");
        assert_eq!(program_path("/usr/bin/env", cwd), "/usr/bin/env");
    }

    #[test]
    fn a_port_in_use_is_refused_with_what_to_do() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let error = ensure_port_free(port, "mine").unwrap_err().to_string();
        assert!(
            error.contains("in use") && error.contains("`port`"),
            "{error}"
        );
    }
}
