//! Reading `/proc/<pid>/status`: the load generator reads its own peak memory there,
//! the runner samples the server's.

/// The number after `key` (e.g. `VmHWM:`) in a status file's text: kB for memory
/// lines, a count for `Threads:`.
pub fn status_value(status: &str, key: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
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
