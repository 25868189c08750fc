//! The summary's database section: which PostgreSQL the database workloads queried and
//! how, pgbench's ceiling on the same server and query, and per cell what the
//! database did (connections opened, errors by class, its memory and CPU), so that
//! "memory" can be read as the whole stack's and every style's throughput beside what
//! the database itself can serve.

use std::fmt::Write as _;

use crate::results::{CellRecord, DatabaseInfo};

/// The section, or nothing when the run queried no database.
pub fn section(database: Option<&DatabaseInfo>, cells: &[CellRecord]) -> String {
    let Some(database) = database else {
        return String::new();
    };
    let mut out = ceiling(database);
    out.push_str(&cells_table(database, cells));
    out
}

/// Which server, and pgbench's ceiling with its own pooled / per-connection ratio
/// (claims.md shows this beside the C6 database rows).
pub fn ceiling(database: &DatabaseInfo) -> String {
    let mut out = String::from("## The database\n\n");
    let _ = writeln!(
        out,
        "{} at `{}`, PostgreSQL {}; {}.\n",
        database.source, database.url, database.server_version, database.settings
    );
    if !database.pgbench.is_empty() {
        out.push_str("pgbench on the same server, running the `/db` query (`SELECT name, email FROM users WHERE id = $1` on a random id), as the ceiling: what the database serves with no HTTP and no server in between.\n\n| pgbench | clients | transactions/s |\n|---|---|---|\n");
        for run in &database.pgbench {
            let _ = writeln!(out, "| {} | {} | {:.0} |", run.mode, run.clients, run.tps);
        }
        let per_connection = database.pgbench.iter().find(|run| run.mode.contains("-C"));
        let pooled = pgbench_pooled(database);
        if let (Some(pooled), Some(per)) = (pooled, per_connection.filter(|r| r.tps > 0.0)) {
            let _ = writeln!(
                out,
                "\npgbench's own pooled vs per-connection ratio: {:.0}×. Compare the C6 database rows (a new connection per request vs a pool) with it: \
                 a style's ratio is lower as far as its own HTTP work, not the database, limits the pooled side, and as far as more clients than pgbench's \
                 overlap their connection set-ups on the per-request side.",
                pooled / per.tps
            );
        }
        out.push('\n');
    }
    out
}

/// pgbench's pooled transactions per second, if it ran.
fn pgbench_pooled(database: &DatabaseInfo) -> Option<f64> {
    database
        .pgbench
        .iter()
        .find(|run| !run.mode.contains("-C"))
        .map(|run| run.tps)
}

/// Per database cell: connections, errors by class, PostgreSQL's memory and CPU.
fn cells_table(database: &DatabaseInfo, cells: &[CellRecord]) -> String {
    let mut out = String::new();
    let pooled = pgbench_pooled(database);
    let rows: Vec<&CellRecord> = cells
        .iter()
        .filter(|c| c.db_connections_opened.is_some() || !c.db_errors.is_empty())
        .collect();
    if rows.is_empty() {
        return out;
    }
    out.push_str("Per cell: the server's connections to PostgreSQL and its database errors by class (from `/db-stats`; a saturation search reports its chosen probe's server), and PostgreSQL's processes sampled like the server (not during a saturation search, whose probes each run on a fresh server) (summed PSS, so shared buffers count once; CPU includes backends that exited). `stack peak` is the server's peak RSS plus PostgreSQL's peak PSS.\n\n\
| workload | style | level | ok req/s | of pgbench pooled | connections opened | database errors | PostgreSQL PSS mean | PostgreSQL CPU | processes | stack peak |\n\
|---|---|---|---|---|---|---|---|---|---|---|\n");
    for cell in rows {
        let level = match cell.target_rps {
            Some(rate) => format!("{rate:.0} req/s"),
            None => format!("c={}", cell.connections),
        };
        let of_ceiling = pooled.filter(|p| *p > 0.0).map_or("—".into(), |p| {
            format!("{:.0} %", 100.0 * cell.achieved_rps / p)
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            cell.workload,
            cell.variant,
            cell.load_mode,
            level,
            cell.achieved_rps,
            of_ceiling,
            cell.db_connections_opened
                .map_or("—".into(), |n| n.to_string()),
            if cell.db_errors.is_empty() {
                "—"
            } else {
                &cell.db_errors
            },
            mib(cell.db_pss_mean_mib),
            cell.db_cpu_s.map_or("—".into(), |s| format!("{s:.2} s")),
            cell.db_processes_max.map_or("—".into(), |n| n.to_string()),
            mib(cell
                .db_pss_peak_mib
                .zip(cell.rss_peak_mib)
                .map(|(db, server)| db + server)),
        );
    }
    out.push('\n');
    out
}

fn mib(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.1} MiB"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::PgbenchRun;

    #[test]
    fn shows_the_ceiling_and_each_database_cell_and_nothing_without_a_database() {
        let info = DatabaseInfo {
            source: "throwaway cluster (sabench postgres)".into(),
            url: "postgres://sabench@127.0.0.1:1/sabench".into(),
            server_version: "15.18".into(),
            settings: "fsync=off max_connections=100".into(),
            pgbench: vec![
                PgbenchRun {
                    mode: "pooled (one connection per client)".into(),
                    clients: 16,
                    duration_s: 3.0,
                    tps: 20_000.0,
                },
                PgbenchRun {
                    mode: "connect per transaction (-C)".into(),
                    clients: 16,
                    duration_s: 3.0,
                    tps: 400.0,
                },
            ],
        };
        let cell = CellRecord {
            workload: "db-fanout".into(),
            variant: "async(workers=1)+db-pool=unbounded".into(),
            load_mode: "closed".into(),
            connections: 16,
            achieved_rps: 500.0,
            rss_peak_mib: Some(20.0),
            db_connections_opened: Some(100),
            db_errors: "too_many_connections=2403".into(),
            db_pss_mean_mib: Some(140.0),
            db_pss_peak_mib: Some(150.0),
            db_cpu_s: Some(4.2),
            db_processes_max: Some(106),
            ..CellRecord::default()
        };
        let other = CellRecord {
            workload: "cpu".into(),
            ..CellRecord::default()
        };
        let text = section(Some(&info), &[cell, other]);
        assert!(
            text.contains("| connect per transaction (-C) | 16 | 400 |"),
            "{text}"
        );
        assert!(text.contains("ratio: 50×"), "{text}");
        assert!(
            text.contains("| db-fanout | async(workers=1)+db-pool=unbounded | closed c=16 | 500 | 2 % | 100 | too_many_connections=2403 | 140.0 MiB | 4.20 s | 106 | 170.0 MiB |"),
            "{text}"
        );
        assert!(!text.contains("| cpu |"), "{text}");
        assert_eq!(section(None, &[]), "");
    }
}
