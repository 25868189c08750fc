//! The run's PostgreSQL, for scenarios with `db`, `db-slow` or `db-fanout` workloads:
//! an existing server (`--database-url`, `DATABASE_URL`, or `[database] url`) or a
//! throwaway cluster in a `sabench postgres` child, tethered by its stdin so that it
//! stops and removes its folder however the runner ends (Ctrl-C, a panic, SIGKILL).
//! Before any cell, the database is checked: it answers, and `users` is seeded.
//! With `[database.pgbench]`, pgbench runs the same query on it as the ceiling.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use super::process::{Child, ChildExited, Tether};
use super::RunOptions;
use crate::results::{DatabaseInfo, RunDir};
use crate::scenario::{PgbenchSpec, Scenario};
use crate::workload::db::blocking::{Connection, Target};
use crate::workload::db::LOOKUP_SPAN;

/// The database of a run.
pub(super) struct Database {
    url: String,
    /// The `sabench postgres` child of a throwaway cluster (none: an existing server).
    child: Option<Child>,
    /// What the manifest records.
    pub(super) info: DatabaseInfo,
}

impl Database {
    /// Uses the existing server the options or the scenario name, or starts a throwaway
    /// one; then checks that it answers and holds the seeded table.
    pub(super) fn start(
        scenario: &Scenario,
        dir: &RunDir,
        options: &RunOptions,
    ) -> anyhow::Result<Self> {
        let spec = &scenario.database;
        let existing = options.database_url.clone().or_else(|| spec.url.clone());
        let (url, child) = match existing {
            Some(url) => (url, None),
            None => {
                let child = start_cluster(scenario, dir, options)?;
                (child.url().to_string(), Some(child))
            }
        };
        let (server_version, settings) = check_seeded(&url)?;
        let info = DatabaseInfo {
            source: match child {
                Some(_) => "throwaway cluster (sabench postgres)".into(),
                None => "existing server".into(),
            },
            url: without_password(&url),
            server_version,
            settings: match child {
                Some(_) => format!("{settings} seed_rows={}", spec.seed_rows),
                None => settings,
            },
            pgbench: Vec::new(),
        };
        Ok(Self { url, child, info })
    }

    /// Its URL (with any password), for the servers.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// The process whose descendants are the PostgreSQL processes (throwaway only).
    pub(super) fn root_pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::pid)
    }

    /// Whether the throwaway cluster's child died.
    pub(super) fn crash(&mut self) -> Option<ChildExited> {
        self.child.as_mut().and_then(Child::crash)
    }

    /// Runs pgbench's reference ceiling (pooled, then connecting per transaction) and
    /// records it; a failure is reported and recorded, not fatal.
    pub(super) fn run_pgbench(&mut self, spec: &PgbenchSpec, cpus: &[usize], dir: &RunDir) {
        let (program, script) = match prepare_pgbench(dir.root()) {
            Ok(prepared) => prepared,
            Err(error) => {
                eprintln!("pgbench: not measured: {error:#}");
                return;
            }
        };
        for per_transaction in [false, true] {
            let outcome = pgbench(&program, &script, &self.url, spec, per_transaction, cpus);
            let mode = if per_transaction {
                "connect per transaction (-C)"
            } else {
                "pooled (one connection per client)"
            };
            match outcome {
                Ok(tps) => {
                    eprintln!("pgbench, {mode}: {tps:.0} transactions/s");
                    self.info.pgbench.push(crate::results::PgbenchRun {
                        mode: mode.into(),
                        clients: spec.clients,
                        duration_s: spec.duration.as_secs_f64(),
                        tps,
                    });
                }
                Err(error) => eprintln!("pgbench, {mode}: not measured: {error:#}"),
            }
        }
    }

    /// Stops the throwaway cluster (its child removes the folder).
    pub(super) fn stop(self) {
        if let Some(child) = self.child {
            child.stop();
        }
    }
}

fn start_cluster(scenario: &Scenario, dir: &RunDir, options: &RunOptions) -> anyhow::Result<Child> {
    let spec = &scenario.database;
    let args: Vec<String> = vec![
        "postgres".into(),
        "--max-connections".into(),
        spec.max_connections.to_string(),
        "--shared-buffers".into(),
        spec.shared_buffers.clone(),
        "--seed-rows".into(),
        spec.seed_rows.to_string(),
        "--stop-on-stdin-eof".into(),
    ];
    eprintln!(
        "starting a throwaway PostgreSQL (max_connections={}, {} users) ...",
        spec.max_connections, spec.seed_rows
    );
    Child::spawn(
        &options.sabench,
        "postgres",
        &args,
        &scenario.pinning.database,
        dir.root(),
        dir.samples_dir().join("postgres.log"),
        Tether::StdinPipe,
    )
    .context("starting the throwaway PostgreSQL (see `sabench postgres --help`; or give --database-url for a server of your own)")
}

/// The settings a benchmark result depends on, as the server reports them.
const RECORDED_SETTINGS: [&str; 5] = [
    "SHOW max_connections",
    "SHOW shared_buffers",
    "SHOW fsync",
    "SHOW synchronous_commit",
    "SHOW full_page_writes",
];

/// Connects as the servers will, and checks that `users` holds the rows the lookups
/// ask for; returns the server's version and its settings that matter here (as it
/// reports them, for a throwaway cluster and a server of one's own alike).
fn check_seeded(url: &str) -> anyhow::Result<(String, String)> {
    let shown = without_password(url);
    let target = Target::parse(url).with_context(|| format!("database url {shown}"))?;
    let mut connection = Connection::connect(&target, Duration::from_secs(10))
        .with_context(|| {
            format!(
                "cannot reach the database at {shown}: is it running, and does it accept this user? \
                 (without --database-url, DATABASE_URL or [database] url, sabench starts a throwaway PostgreSQL)"
            )
        })?;
    let version = connection
        .query("SHOW server_version", &[])
        .with_context(|| format!("asking {shown} for its version"))?;
    let rows = connection
        .query("SELECT count(*)::text FROM users WHERE id BETWEEN 1 AND 10000", &[])
        .map_err(|e| {
            anyhow::anyhow!(
                "the database at {shown} has no usable `users` table ({e}): create it as `sabench postgres` does, \
                 users(id integer primary key, name text, email text) with ids 1..={LOOKUP_SPAN}"
            )
        })?;
    let found: u32 = first_value(&rows).parse().unwrap_or(0);
    if found < LOOKUP_SPAN {
        bail!(
            "the database at {shown} has {found} of the {LOOKUP_SPAN} `users` rows the lookups ask for (ids 1..={LOOKUP_SPAN}); seed them first"
        );
    }
    let mut settings = Vec::new();
    for show in RECORDED_SETTINGS {
        let value = connection
            .query(show, &[])
            .with_context(|| format!("asking {shown}: {show}"))?;
        let name = show.trim_start_matches("SHOW ");
        settings.push(format!("{name}={}", first_value(&value)));
    }
    Ok((first_value(&version), settings.join(" ")))
}

fn first_value(rows: &[Vec<Option<String>>]) -> String {
    rows.first()
        .and_then(|row| row.first().cloned().flatten())
        .unwrap_or_default()
}

/// `url` with any password replaced by `***` (for the manifest and messages).
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// The pgbench script: the `/db` route's query, on a random id of the same span.
fn pgbench_script() -> String {
    format!(
        "\\set id random(1, {LOOKUP_SPAN})\n{};\n",
        crate::workload::db::LOOKUP_SQL.replace("$1", ":id")
    )
}

/// pgbench's path, and the script file it runs (written into the run folder).
fn prepare_pgbench(run_dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let binaries = crate::db::Binaries::find()?;
    let script = run_dir.join("pgbench-lookup.sql");
    std::fs::write(&script, pgbench_script())
        .with_context(|| format!("cannot write {}", script.display()))?;
    Ok((binaries.bindir.join("pgbench"), script))
}

/// One pgbench run; its transactions per second.
fn pgbench(
    program: &Path,
    script: &Path,
    url: &str,
    spec: &PgbenchSpec,
    per_transaction: bool,
    cpus: &[usize],
) -> anyhow::Result<f64> {
    let seconds = spec.duration.as_secs().max(1);
    let mut command = std::process::Command::new(program);
    command.args(["-n", "-f"]).arg(script).args([
        "-c",
        &spec.clients.to_string(),
        "-j",
        "1",
        "-T",
        &seconds.to_string(),
    ]);
    if per_transaction {
        command.arg("-C");
    } else {
        command.args(["-M", "prepared"]);
    }
    command.arg(url);
    let cpus = cpus.to_vec();
    use std::os::unix::process::CommandExt;
    // SAFETY: pinning calls only sched_setaffinity, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || crate::sys::affinity::pin_current_thread(&cpus));
    }
    let output = command
        .output()
        .context("cannot run pgbench (it comes with the postgresql package)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse_tps(&text).with_context(|| format!("no `tps = ` line in pgbench's output: {text}"))
}

/// The `tps = N (without initial connection time)` figure of pgbench's report.
fn parse_tps(report: &str) -> Option<f64> {
    report
        .lines()
        .find_map(|line| line.trim().strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_manifest() {
        assert_eq!(
            without_password("postgres://me:secret@127.0.0.1:5432/db"),
            "postgres://me:***@127.0.0.1:5432/db"
        );
        assert_eq!(
            without_password("postgres://me@127.0.0.1:5432/db"),
            "postgres://me@127.0.0.1:5432/db"
        );
    }

    #[test]
    fn reads_pgbench_tps_and_writes_the_routes_query() {
        let report = "number of failed transactions: 0 (0.000%)\nlatency average = 0.6 ms\ntps = 25812.345678 (without initial connection time)\n";
        assert_eq!(parse_tps(report), Some(25812.345678));
        assert_eq!(parse_tps("nothing"), None);
        let script = pgbench_script();
        assert!(script.contains("WHERE id = :id;"), "{script}");
        assert!(script.starts_with("\\set id random(1, 10000)"), "{script}");
    }
}
