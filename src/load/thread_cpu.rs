//! A generator thread's own CPU: read from its clock at the window's edges, so the
//! load JSON can say what the generator spent per request and how busy it was.

use std::time::Instant;

/// The calling thread's CPU time and the instant it was read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CpuReading {
    /// When it was read.
    pub at: Instant,
    /// The thread's CPU seconds then.
    pub cpu_seconds: f64,
}

impl CpuReading {
    /// Reads the calling thread's CPU clock now.
    pub fn now() -> Self {
        Self {
            at: Instant::now(),
            cpu_seconds: thread_cpu_seconds(),
        }
    }
}

/// A thread's CPU during the measured window, s, and its share of one core there:
/// from the reading at the window's start to the one at its planned end, or to `now`
/// when the run ended before it. Both readings are the thread's own clock at known
/// instants, so the share cannot pass one core (a drain after the window used to count
/// against the window's length); it is clamped to 1 against the clocks' jitter.
pub(crate) fn window_cpu(
    start: Option<CpuReading>,
    end: Option<CpuReading>,
    now: CpuReading,
) -> (Option<f64>, Option<f64>) {
    let Some(start) = start else {
        return (None, None);
    };
    let end = end.unwrap_or(now);
    let span = end.at.saturating_duration_since(start.at).as_secs_f64();
    let cpu = (end.cpu_seconds - start.cpu_seconds).max(0.0);
    let busy = (span > 0.0).then(|| (cpu / span).min(1.0));
    (Some(cpu), busy)
}

/// CPU seconds (user + system) used by the calling thread so far.
pub(crate) fn thread_cpu_seconds() -> f64 {
    crate::sys::procfs::cpu_time(crate::sys::procfs::CpuOf::Thread).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn reading(start: Instant, at_ms: u64, cpu_ms: u64) -> CpuReading {
        CpuReading {
            at: start + Duration::from_millis(at_ms),
            cpu_seconds: cpu_ms as f64 / 1000.0,
        }
    }

    #[test]
    fn the_window_share_is_the_windows_own_cpu_and_never_passes_one_core() {
        let t = Instant::now();
        // Busy all through a 1 s window, then 2 s of drain, busy too: the drain's CPU
        // is not the window's.
        let (cpu, busy) = window_cpu(
            Some(reading(t, 0, 100)),
            Some(reading(t, 1_000, 1_100)),
            reading(t, 3_000, 3_100),
        );
        assert_eq!(cpu, Some(1.0));
        assert_eq!(busy, Some(1.0));
        // A run cut short: from the start to now.
        let (cpu, busy) = window_cpu(Some(reading(t, 0, 0)), None, reading(t, 2_000, 500));
        assert_eq!(cpu, Some(0.5));
        assert_eq!(busy, Some(0.25));
        // Clock jitter past one core is clamped; no window, nothing.
        let (_, busy) = window_cpu(
            Some(reading(t, 0, 0)),
            Some(reading(t, 1_000, 1_001)),
            reading(t, 1_000, 1_001),
        );
        assert_eq!(busy, Some(1.0));
        assert_eq!(window_cpu(None, None, reading(t, 5, 5)), (None, None));
    }
}
