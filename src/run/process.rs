//! Child processes of a run (the server under test, the mock upstream): started from
//! the `sabench` executable, pinned, in their own process group (so Ctrl-C reaches only
//! the runner, which stops them), killed if the runner dies, and never left behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Environment variable set on every child, naming the run folder (lets tests and
/// people find a run's processes).
pub const RUN_MARKER: &str = "SABENCH_RUN_DIR";

/// A child that exited when it should have been serving.
#[derive(Debug, thiserror::Error)]
#[error("{label} exited ({status}): {log_tail}")]
pub struct ChildExited {
    /// Which child (server, upstream).
    pub label: String,
    /// How it ended, e.g. `killed by signal 9 (SIGKILL)` or `exit status 1`.
    pub status: String,
    /// The end of its log.
    pub log_tail: String,
}

/// How a process ended, in words: `exit status 1`, `killed by signal 9 (SIGKILL)`.
pub fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal} ({})", signal_name(signal)),
        (None, None) => status.to_string(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGPIPE => "SIGPIPE",
        _ => "another signal",
    }
}

/// How a child is made to stop when the runner dies without stopping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tether {
    /// The kernel kills it (SIGKILL) the moment the runner dies: servers and
    /// upstreams, which leave nothing behind.
    DeathSignal,
    /// Its stdin is a pipe from the runner, which closes when the runner dies, however
    /// it dies; the child then stops itself cleanly. For the database child, which
    /// must stop PostgreSQL and remove its folder (a SIGKILL would leave both).
    StdinPipe,
}

/// A child process that is stopped and reaped when dropped.
pub struct Child {
    child: std::process::Child,
    label: String,
    addr: SocketAddr,
    url: String,
    log: PathBuf,
    /// The write end of a [`Tether::StdinPipe`], held until the child is stopped.
    _tether: Option<std::process::ChildStdin>,
    /// What did not go as asked for this child (a pin that did not hold, a start that
    /// never went quiet): recorded in the cells it serves.
    notes: Vec<String>,
}

impl Child {
    /// What did not go as asked for this child (empty: everything did).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Adds a note of something that did not go as asked.
    pub fn note(&mut self, what: String) {
        self.notes.push(what);
    }

    /// Starts `sabench ARGS` pinned to `cpus`, tied to the runner's life by `tether`,
    /// and waits for its `listening on` line.
    pub fn spawn(
        sabench: &Path,
        label: &str,
        args: &[String],
        cpus: &[usize],
        run_dir: &Path,
        log: PathBuf,
        tether: Tether,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(sabench);
        command.args(args);
        Self::spawn_command(command, label, cpus, run_dir, log, tether)
    }

    /// Starts `command` (a `sabench` subcommand, with its working folder and
    /// environment already set) as [`Child::spawn`] does.
    pub fn spawn_command(
        mut command: Command,
        label: &str,
        cpus: &[usize],
        run_dir: &Path,
        log: PathBuf,
        tether: Tether,
    ) -> anyhow::Result<Self> {
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot write {}", log.display()))?;
        let program = command.get_program().to_owned();
        command
            .env(RUN_MARKER, run_dir)
            .stdin(match tether {
                Tether::DeathSignal => Stdio::null(),
                Tether::StdinPipe => Stdio::piped(),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let cpus_asked = cpus.to_vec();
        let cpus = cpus.to_vec();
        // Its PID as an i32, as getppid() returns it (PIDs fit: pid_max is at most 2^22).
        let runner = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (setpgid, prctl, getppid, sched_setaffinity).
        unsafe {
            command.pre_exec(move || {
                libc::setpgid(0, 0);
                if tether == Tether::DeathSignal {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                }
                // The runner may have died between fork and prctl: then no signal will
                // ever come, so do not start at all.
                if libc::getppid() != runner {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                // Best effort, as before: an unknown CPU leaves the child unpinned.
                let _ = crate::sys::affinity::pin_current_thread(&cpus);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {} ({})", label, program.to_string_lossy()))?;
        let stdout = child.stdout.take().context("child has no stdout")?;
        let tether = child.stdin.take();
        let pid = child.id();
        let (lines, line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = lines.send(first);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut this = Self {
            child,
            label: label.to_string(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            url: String::new(),
            log,
            _tether: tether,
            notes: crate::sys::affinity::pin_note(pid, &cpus_asked)
                .map(|why| format!("{label}: {why}"))
                .into_iter()
                .collect(),
        };
        let first = line
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_default();
        let Some((url, authority)) = announced(&first) else {
            // It may have died at once (a port in use, too few file descriptors).
            std::thread::sleep(Duration::from_millis(50));
            if let Some(status) = this.exited() {
                return Err(this.exited_error(status).into());
            }
            bail!("{label} did not start: {}", this.log_tail());
        };
        this.addr = authority
            .parse()
            .with_context(|| format!("{label} announced an odd address {url:?}"))?;
        this.url = url.to_string();
        Ok(this)
    }

    /// The URL it announced (`http://127.0.0.1:PORT`, `postgres://...`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How it ended, if it has (reaping it); None while it runs.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(describe_exit(status)),
            _ => None,
        }
    }

    /// Whether it died: how, and the end of its log.
    pub fn crash(&mut self) -> Option<ChildExited> {
        self.exited().map(|status| self.exited_error(status))
    }

    fn exited_error(&self, status: String) -> ChildExited {
        ChildExited {
            label: self.label.clone(),
            status,
            log_tail: self.log_tail(),
        }
    }

    /// Its label (server, upstream).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it reported failing to do for its clients (accepting a connection, starting
    /// a thread for one), each kind once with its count; empty when nothing failed.
    pub fn failures(&self) -> String {
        failures_in(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// The end of its stderr log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        if tail.is_empty() {
            format!("no output (see {})", self.log.display())
        } else {
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        }
    }

    /// Polls `GET /health` until it answers 200, or fails after `timeout`.
    pub fn wait_healthy(&mut self, timeout: Duration) -> anyhow::Result<()> {
        self.wait_ready("/health", timeout)
    }

    /// Polls `GET path` until it answers 200, or fails after `timeout` saying what
    /// happened (it exited: how, and the end of its log; it never answered: the log).
    pub fn wait_ready(&mut self, path: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if matches!(get(self.addr, path), Some((200, _))) {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                return Err(anyhow::Error::new(self.exited_error(status))
                    .context(format!("{} exited before it was healthy", self.label)));
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer GET {path} with 200 within {timeout:?}: {}",
                    self.label,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, up to 5 s to drain, then SIGKILL; always reaps.
    pub fn stop(mut self) {
        self.terminate();
    }

    /// Stops it now, in place (SIGTERM, then SIGKILL after 5 s), e.g. before a fresh
    /// one takes its place.
    pub fn stop_now(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The URL a `... listening on URL` line ends with, and its `host:port`.
fn announced(line: &str) -> Option<(&str, &str)> {
    let url = line.trim().rsplit(' ').next()?;
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit('@').next()?;
    Some((url, authority))
}

/// One `GET path` on a fresh connection: the status and the body, if it answered.
pub fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Some((status, body))
}

/// The server's database counters (None if it has none to give).
pub fn fetch_db_stats(addr: SocketAddr) -> Option<crate::workload::db::DbStatsSnapshot> {
    match get(addr, crate::server::reply::DB_STATS_PATH)? {
        (200, body) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

/// Names the measured window to the server's runtime-lag probe: it begins at `origin`
/// and lasts `lasts` (async styles; the blocking style has no probe and says 404).
pub fn name_lag_window(addr: SocketAddr, origin: Instant, lasts: Duration) {
    let begins_in = origin.saturating_duration_since(Instant::now());
    let _ = get(addr, &crate::server::lag::window_target(begins_in, lasts));
}

/// What an async server measured over the window named by [`name_lag_window`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowTimings {
    /// Its runtime lag (None for blocking, which has no runtime; for a probe switched
    /// off; or with no window named).
    pub lag: Option<crate::server::lag::LagFigures>,
    /// How long admitted requests waited for a place in service, the server's own
    /// queue (None: no admission gate, or no request in the window).
    pub queue_wait: Option<crate::server::windowed::WaitFigures>,
}

/// Reads [`WindowTimings`] from the server's `/lag`.
pub fn fetch_window_timings(addr: SocketAddr) -> WindowTimings {
    let snapshot = match get(addr, crate::server::lag::PATH) {
        Some((200, body)) => serde_json::from_str::<crate::server::lag::LagSnapshot>(&body).ok(),
        _ => None,
    };
    let Some(snapshot) = snapshot else {
        return WindowTimings::default();
    };
    WindowTimings {
        lag: snapshot.window.filter(|window| window.samples > 0),
        queue_wait: snapshot.queue_wait.filter(|waits| waits.samples > 0),
    }
}

/// The lines of a server's log that say it failed a client (what the servers print on
/// `accept` or thread-spawn errors), summed by kind: `accept failed: Too many open
/// files (os error 24) ×523`.
pub fn failures_in(log: &str) -> String {
    const KINDS: [&str; 2] = ["accept failed: ", "cannot start a connection thread: "];
    let mut counts: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for line in log.lines() {
        if KINDS.iter().any(|kind| line.starts_with(kind)) {
            // The hint after the error (" (if this is …", " (raise …") is the same each time.
            let what = line.split(" (if ").next().unwrap_or(line);
            let what = what.split(" (raise ").next().unwrap_or(what);
            *counts.entry(what).or_default() += 1;
        }
    }
    counts
        .iter()
        .map(|(what, n)| format!("{what} ×{n}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_servers_failures_are_summed_by_kind_without_their_hints() {
        let log = "async listening on http://127.0.0.1:1\n\
                   accept failed: Too many open files (os error 24) (if this is 'Too many open files', raise `ulimit -n`)\n\
                   accept failed: Too many open files (os error 24) (if this is 'Too many open files', raise `ulimit -n`)\n\
                   cannot start a connection thread: Resource temporarily unavailable (os error 11) (raise `ulimit -u` or use a fixed pool with --threads)\n\
                   shut down cleanly\n";
        assert_eq!(
            failures_in(log),
            "accept failed: Too many open files (os error 24) ×2; cannot start a connection thread: Resource temporarily unavailable (os error 11) ×1"
        );
        assert_eq!(failures_in("shut down cleanly\n"), "");
    }
}
