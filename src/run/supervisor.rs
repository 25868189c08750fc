//! `sabench supervise`: the process between the runner and a server of the user's own
//! (a `[[targets]]` command). A target may be a tree (a gunicorn master and its
//! workers), and the runner must be able to stop all of it, and never leave any of it
//! behind, however the runner ends. The supervisor starts the command in a process
//! group of its own and stops that whole group (SIGTERM, then SIGKILL after a grace
//! period) when the runner asks (SIGTERM) or dies (its stdin, a pipe from the runner,
//! closes). When the command exits by itself, the supervisor removes what is left of
//! its group and exits the same way, so the runner can say how the target ended.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

/// How long the target's group has to stop after SIGTERM before it is killed (less
/// than the runner gives the supervisor itself, so the supervisor always finishes).
pub const GRACE: Duration = Duration::from_secs(4);
/// The exit code when the command could not be started (as a shell says 127).
pub const CANNOT_START: u8 = 127;

/// Runs `command` until it exits or the runner stops it; announces
/// `target (process group G) starting on http://127.0.0.1:PORT` first (the runner then polls it until
/// it is ready). `setup` is the hint printed when the program cannot be started.
pub fn supervise(port: u16, command: &[String], setup: Option<&str>) -> anyhow::Result<ExitCode> {
    let stop =
        crate::sys::shutdown::flag_on_signals().context("cannot install the stop handler")?;
    watch_runner(stop.clone());
    let (program, args) = command
        .split_first()
        .context("supervise: no command given")?;
    // The target's output goes to the log (our stderr); our stdout is the runner's.
    let log = std::io::stderr().as_fd().try_clone_to_owned()?;
    let mut child = Command::new(program);
    child
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .process_group(0);
    let mut child = match child.spawn() {
        Ok(child) => child,
        Err(error) => {
            let hint = setup.map_or(String::new(), |s| format!(": {s}"));
            eprintln!("cannot start `{program}`: {error}{hint}");
            return Ok(ExitCode::from(CANNOT_START));
        }
    };
    let group = child.id() as libc::pid_t;
    println!("target (process group {group}) starting on http://127.0.0.1:{port}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    loop {
        if let Some(status) = child.try_wait()? {
            // Workers it left behind go with it.
            signal_group(group, libc::SIGKILL);
            return Ok(exit_like(status));
        }
        if stop.load(Ordering::Relaxed) {
            stop_group(group, &mut child);
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sets `stop` when stdin (a pipe from the runner) closes: the runner is gone.
fn watch_runner(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        stop.store(true, Ordering::Relaxed);
    });
}

/// SIGTERM to the whole group, [`GRACE`] for it to empty, then SIGKILL; reaps the
/// command.
fn stop_group(group: libc::pid_t, child: &mut std::process::Child) {
    signal_group(group, libc::SIGTERM);
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        let _ = child.try_wait();
        if !group_alive(group) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_group(group, libc::SIGKILL);
    let _ = child.wait();
}

fn signal_group(group: libc::pid_t, signal: libc::c_int) {
    // SAFETY: a signal to the process group we created for the command.
    unsafe {
        libc::kill(-group, signal);
    }
}

/// Whether any process of the group still runs (a zombie of ours counts until reaped).
fn group_alive(group: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::kill(-group, 0) == 0 }
}

/// Our exit code for the command's status: its code, or 128 + the signal that killed
/// it (said on stderr too, as a shell would).
fn exit_like(status: std::process::ExitStatus) -> ExitCode {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code.clamp(0, 255) as u8),
        (None, Some(signal)) => {
            eprintln!("the target was killed by signal {signal}");
            ExitCode::from((128 + signal).clamp(0, 255) as u8)
        }
        (None, None) => ExitCode::FAILURE,
    }
}
