//! What a server costs while it serves nothing: its CPU over a short idle spell after
//! it is ready and before any load, with every helper of the suite running (the async
//! styles' 1 ms runtime-lag probe, the blocking style's pool sampler, the alarm clock;
//! for a target of the user's own, whatever it does idle). Read from each thread's
//! `schedstat` (nanoseconds), not from clock ticks, so a few milliseconds show. The
//! cell takes it out of its CPU per request (`cpu_instrument_us_per_ok`), the gross
//! beside.

use std::time::{Duration, Instant};

use crate::sys::procfs;

/// How long the idle spell lasts: long enough for a 1 ms probe's cost (about 36 ms a
/// second here) and a 100 Hz sampler's (about 8) to show in nanoseconds, short enough
/// to add little to a cell.
pub const IDLE_SPELL: Duration = Duration::from_millis(300);

/// The server's CPU while idle, ms a second: its threads' time on a CPU over
/// [`IDLE_SPELL`] (None: the kernel keeps no schedstat, or no thread could be read).
pub fn measure(root: u32, tree: bool) -> Option<f64> {
    if !procfs::has_schedstat() {
        return None;
    }
    let before = cpu_ns(root, tree)?;
    let started = Instant::now();
    std::thread::sleep(IDLE_SPELL);
    let after = cpu_ns(root, tree)?;
    let spell = started.elapsed().as_secs_f64();
    Some(after.saturating_sub(before) as f64 / 1e6 / spell)
}

/// The CPU time of every thread of the server's processes, ns.
fn cpu_ns(root: u32, tree: bool) -> Option<u64> {
    let pids = procfs::server_processes(root, tree);
    let threads = procfs::thread_counters(&pids, true);
    if threads.is_empty() {
        return None;
    }
    Some(
        threads
            .values()
            .filter_map(|t| t.sched)
            .map(|(run, _)| run)
            .sum(),
    )
}

/// The instrument's share of a cell's CPU per successful request, µs: what it costs a
/// second idle, over the window, divided among the window's successes (None: not
/// measured, or no success).
pub fn per_request_us(idle_ms_per_s: Option<f64>, window_s: f64, ok: u64) -> Option<f64> {
    let idle = idle_ms_per_s?;
    (ok > 0).then(|| idle * window_s * 1e3 / ok as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_of_36_ms_a_second_is_53_us_a_request_at_680_a_second() {
        // The numbers: /io at about 680 req/s for 3 s.
        let us = per_request_us(Some(36.0), 3.0, 2_040).unwrap();
        assert!((us - 52.94).abs() < 0.01, "{us}");
        assert_eq!(per_request_us(None, 3.0, 2_040), None);
        assert_eq!(
            per_request_us(Some(36.0), 3.0, 0),
            None,
            "no success: no share"
        );
    }

    #[test]
    fn a_thread_that_spins_through_the_spell_is_read_in_nanoseconds() {
        if !procfs::has_schedstat() {
            return;
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinning = stop.clone();
        let spinner = std::thread::spawn(move || {
            let mut n = 0u64;
            while !spinning.load(std::sync::atomic::Ordering::Relaxed) {
                n = n.wrapping_add(1);
            }
            n
        });
        let busy = measure(std::process::id(), false).expect("measured");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spinner.join().unwrap();
        // One thread spinning on a 2-core machine: about 1,000 ms a second; a tenth
        // of that even on a machine busy with other work.
        assert!(busy > 100.0, "{busy} ms a second");
    }
}
