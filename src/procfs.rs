//! What the kernel says about a process: `/proc/<pid>/status` (the load generator reads
//! its own peak memory there, the runner samples the server's) and the CPU time this
//! thread or process has used.

/// The number after `key` (e.g. `VmHWM:`) in a status file's text: kB for memory
/// lines, a count for `Threads:`.
pub fn status_value(status: &str, key: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

/// Whose CPU time [`cpu_time`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuOf {
    /// The calling thread.
    Thread,
    /// The whole process.
    Process,
}

/// The CPU time (user + system) `whose` has used so far; zero if the clock cannot be read.
pub fn cpu_time(whose: CpuOf) -> std::time::Duration {
    let clock = match whose {
        CpuOf::Thread => libc::CLOCK_THREAD_CPUTIME_ID,
        CpuOf::Process => libc::CLOCK_PROCESS_CPUTIME_ID,
    };
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes into `ts`.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_memory_and_counts() {
        let status = "Name:\tsabench\nVmHWM:\t  10240 kB\nVmRSS:\t 2048 kB\nThreads:\t7\n";
        assert_eq!(status_value(status, "VmHWM:"), Some(10240.0));
        assert_eq!(status_value(status, "Threads:"), Some(7.0));
        assert_eq!(status_value(status, "VmSwap:"), None);
    }
}
