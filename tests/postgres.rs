//! The throwaway PostgreSQL (issue 12, first part), against the real server binaries:
//! its life cycle, the cleanup when whoever started it goes away, and the error when
//! PostgreSQL is not installed. On a machine without PostgreSQL these tests fail with
//! the install hint, unless `SABENCH_SKIP_DB=1` is set.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sync_async_bench::db::{Binaries, Cluster, ClusterSettings};

fn skip() -> bool {
    if std::env::var_os("SABENCH_SKIP_DB").is_some() {
        eprintln!("SABENCH_SKIP_DB is set: not testing against PostgreSQL");
        return true;
    }
    if let Err(e) = Binaries::find() {
        panic!("{e} (or set SABENCH_SKIP_DB=1 to skip the database tests)");
    }
    false
}

fn small() -> ClusterSettings {
    ClusterSettings {
        max_connections: 20,
        shared_buffers: "16MB".into(),
        seed_rows: 1_000,
    }
}

/// Whether a process with this id exists.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits up to 15 s for `done`.
fn eventually(done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

#[test]
fn a_cluster_starts_seeded_answers_and_leaves_nothing_behind() {
    if skip() {
        return;
    }
    let parent = common::runs::temp_dir("pg-life");
    let cluster = Cluster::start(&parent, &small()).unwrap();
    assert!(cluster.url().starts_with("postgres://sabench@127.0.0.1:"));
    assert_eq!(cluster.psql("SELECT count(*) FROM users").unwrap(), "1000");
    assert_eq!(
        cluster
            .psql("SELECT name FROM users WHERE id = 42")
            .unwrap(),
        "user 42"
    );
    assert_eq!(cluster.psql("SHOW fsync").unwrap(), "off");
    assert_eq!(cluster.psql("SHOW max_connections").unwrap(), "20");
    let (pid, folder) = (cluster.pid().unwrap(), cluster.folder().to_path_buf());
    assert!(folder.join("data").is_dir());
    cluster.stop();
    assert!(eventually(|| !alive(pid)), "the postmaster is gone");
    assert!(!folder.exists(), "its folder is removed");
    let _ = std::fs::remove_dir_all(parent);
}

#[test]
fn sabench_postgres_cleans_up_when_its_starter_goes_away() {
    if skip() {
        return;
    }
    let parent = common::runs::temp_dir("pg-eof");
    let mut child = common::runs::sabench()
        .args([
            "postgres",
            "--max-connections",
            "20",
            "--shared-buffers",
            "16MB",
        ])
        .args(["--seed-rows", "100", "--stop-on-stdin-eof", "--dir"])
        .arg(&parent)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = common::runs::first_line(&mut child);
    assert!(
        line.starts_with("postgres listening on postgres://"),
        "{line:?}"
    );
    let folders = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect()
    };
    let folder = folders().pop().expect("a cluster folder");
    let postmaster: u32 = std::fs::read_to_string(folder.join("data/postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(alive(postmaster));
    // Whoever started it dies (a SIGKILLed runner): its end of the pipe closes.
    drop(child.stdin.take());
    assert!(eventually(|| !alive(postmaster)), "the postmaster is gone");
    assert!(
        eventually(|| folders().is_empty()),
        "no cluster folder is left"
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(parent);
}

#[test]
fn without_postgresql_the_error_names_the_package_and_the_flag() {
    let out = common::runs::sabench()
        .args(["postgres"])
        .env("SABENCH_PG_BINDIR", "/nonexistent/bin")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("install the Debian package `postgresql`"),
        "{stderr}"
    );
    assert!(stderr.contains("--database-url"), "{stderr}");
}
