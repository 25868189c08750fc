//! The database as the I/O (issue 12, first part): a throwaway PostgreSQL cluster that
//! `sabench` manages. `sabench postgres` runs one until Ctrl-C, SIGTERM, or (with
//! `--stop-on-stdin-eof`) until whoever started it closes its stdin, which is how a
//! runner that dies, even by SIGKILL, still gets its cluster stopped and removed.

pub mod cluster;

pub use cluster::{Binaries, Cluster, ClusterError, ClusterSettings, USER};

use std::io::Read;
use std::time::Duration;

use crate::sys::shutdown::Shutdown;

/// Runs a throwaway cluster until `shutdown` triggers (and, with `stop_on_stdin_eof`,
/// until stdin closes), printing `postgres listening on <url>` once it is seeded.
pub fn run_until_stopped(
    settings: &ClusterSettings,
    parent: &std::path::Path,
    shutdown: &Shutdown,
    stop_on_stdin_eof: bool,
) -> Result<(), ClusterError> {
    let mut cluster = Cluster::start(parent, settings)?;
    println!("postgres listening on {}", cluster.url());
    eprintln!(
        "cluster in {} (fsync=off, max_connections={}, shared_buffers={}, {} users)",
        cluster.folder().display(),
        settings.max_connections,
        settings.shared_buffers,
        settings.seed_rows
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    if stop_on_stdin_eof {
        let on_eof = shutdown.clone();
        std::thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            on_eof.trigger();
        });
    }
    while !shutdown.wait_timeout(Duration::from_millis(200)) {
        if let Some(how) = cluster.exited() {
            cluster.stop();
            return Err(ClusterError::Step {
                step: "running postgres".into(),
                detail: format!("it exited on its own ({how})"),
            });
        }
    }
    cluster.stop();
    Ok(())
}
