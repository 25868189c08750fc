//! What the kernel says about a process: `/proc/<pid>/status` (the load generator reads
//! its own peak memory there, the runner samples the server's), the CPU time this
//! thread or process has used, and the summed memory and CPU of a process tree (the
//! runner samples PostgreSQL's postmaster and backends that way).

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
    fn a_tree_counts_its_descendants_and_not_its_root() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let usage = tree_usage(std::process::id()).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(usage.processes >= 1, "{usage:?}");
        assert!(usage.pss_kib > 0.0, "{usage:?}");
        assert_eq!(tree_usage(u32::MAX), None);
    }

    #[test]
    fn reads_memory_and_counts() {
        let status = "Name:\tsabench\nVmHWM:\t  10240 kB\nVmRSS:\t 2048 kB\nThreads:\t7\n";
        assert_eq!(status_value(status, "VmHWM:"), Some(10240.0));
        assert_eq!(status_value(status, "Threads:"), Some(7.0));
        assert_eq!(status_value(status, "VmSwap:"), None);
    }
}

/// What a process tree uses at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TreeUsage {
    /// Processes in it.
    pub processes: u64,
    /// Summed proportional set size (shared pages divided among their users), KiB.
    pub pss_kib: f64,
    /// CPU used so far (user + system), including by children that have exited and
    /// been reaped by a process of the tree, s.
    pub cpu_s: f64,
}

/// The usage of every descendant of `root` (not `root` itself); None when `root` is gone.
pub fn tree_usage(root: u32) -> Option<TreeUsage> {
    tree_detail(root).map(|tree| TreeUsage {
        processes: tree.processes,
        pss_kib: tree.pss_kib,
        cpu_s: tree.cpu_user_s + tree.cpu_sys_s,
    })
}

/// A process tree's memory, threads and CPU, summed over its processes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TreeDetail {
    /// Processes in it.
    pub processes: u64,
    /// Summed proportional set size, KiB.
    pub pss_kib: f64,
    /// Summed resident set size, KiB: what `ps` shows per process, added up (pages
    /// shared between the processes are counted once for each).
    pub rss_kib: f64,
    /// Summed threads.
    pub threads: u64,
    /// User CPU so far (with that of children they reaped), s.
    pub cpu_user_s: f64,
    /// System CPU so far (likewise), s.
    pub cpu_sys_s: f64,
}

/// [`TreeDetail`] of every descendant of `root` (not `root` itself); None when `root`
/// is gone.
pub fn tree_detail(root: u32) -> Option<TreeDetail> {
    tree_detail_of(root, &descendants(root))
}

/// [`tree_detail`] when the descendants of `root` are already listed (`processes`).
pub fn tree_detail_of(root: u32, processes: &[u32]) -> Option<TreeDetail> {
    std::fs::metadata(format!("/proc/{root}")).ok()?;
    let ticks = clock_ticks_per_second();
    let mut detail = TreeDetail::default();
    for &pid in processes {
        let Some(fields) = stat_fields(pid) else {
            continue; // it exited meanwhile
        };
        let tick = |index: usize| {
            fields
                .get(index)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / ticks
        };
        detail.processes += 1;
        detail.cpu_user_s += tick(11) + tick(13);
        detail.cpu_sys_s += tick(12) + tick(14);
        // Fields 17 and 21 (from the state at 0) are num_threads and rss (in pages).
        detail.threads += fields.get(17).and_then(|v| v.parse().ok()).unwrap_or(1);
        let pages: f64 = fields.get(21).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        detail.rss_kib += pages * page_kib();
        let rollup =
            std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        detail.pss_kib += status_value(&rollup, "Pss:").unwrap_or(0.0);
    }
    Some(detail)
}

/// The size of a memory page, KiB.
fn page_kib() -> f64 {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        size if size > 0 => size as f64 / 1024.0,
        _ => 4.0,
    }
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces):
/// index 0 is the state, 1 the parent's pid, 11–14 utime, stime, cutime, cstime (in
/// clock ticks: see [`clock_ticks_per_second`]).
pub fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    Some(after_name.split_whitespace().map(str::to_string).collect())
}

/// Every process whose chain of parents reaches `root`.
fn descendants(root: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let parents: Vec<(u32, u32)> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let parent = stat_fields(pid)?.get(1)?.parse().ok()?;
            Some((pid, parent))
        })
        .collect();
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(pid, _)| *pid),
        );
        next += 1;
    }
    found.remove(0);
    found
}

/// The clock ticks per second `/proc/<pid>/stat` counts CPU time in.
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        t if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// What the scheduler counted for one thread so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadCounters {
    /// Times it gave up the CPU to wait (I/O, a lock, a sleep): `voluntary_ctxt_switches`.
    pub voluntary: u64,
    /// Times the scheduler took the CPU from it: `nonvoluntary_ctxt_switches`.
    pub involuntary: u64,
    /// Time on a CPU and time runnable but waiting for one, ns (`schedstat`'s first two
    /// fields); None when the kernel has no schedstat (built without CONFIG_SCHED_INFO).
    pub sched: Option<(u64, u64)>,
}

/// Whether this kernel keeps per-thread scheduler statistics (`schedstat`, built with
/// CONFIG_SCHED_INFO).
pub fn has_schedstat() -> bool {
    std::path::Path::new("/proc/self/schedstat").exists()
}

/// The counters of every thread of `pids`, by thread id (threads that exit meanwhile
/// are skipped). With `schedstat` (see [`has_schedstat`]) a thread whose schedstat
/// cannot be read has exited, and is skipped too.
pub fn thread_counters(
    pids: &[u32],
    schedstat: bool,
) -> std::collections::HashMap<u32, ThreadCounters> {
    let mut counters = std::collections::HashMap::new();
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for tid in tasks
            .flatten()
            .filter_map(|t| t.file_name().to_str()?.parse().ok())
        {
            if let Some(read) = read_thread(*pid, tid).filter(|r| r.sched.is_some() || !schedstat) {
                counters.insert(tid, read);
            }
        }
    }
    counters
}

fn read_thread(pid: u32, tid: u32) -> Option<ThreadCounters> {
    let dir = format!("/proc/{pid}/task/{tid}");
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let count = |key: &str| status_value(&status, key).map(|v| v as u64);
    let sched = std::fs::read_to_string(format!("{dir}/schedstat"))
        .ok()
        .and_then(|text| {
            let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
            Some((fields.next()??, fields.next()??))
        });
    Some(ThreadCounters {
        voluntary: count("voluntary_ctxt_switches:")?,
        involuntary: count("nonvoluntary_ctxt_switches:")?,
        sched,
    })
}

/// `root` and, for a tree, every process under it: the processes whose threads are
/// the server's.
pub fn server_processes(root: u32, tree: bool) -> Vec<u32> {
    if tree {
        descendants(root)
    } else {
        vec![root]
    }
}
