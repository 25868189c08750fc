//! Samples the server process every 100 ms from `/proc/<pid>/status` and
//! `/proc/<pid>/stat`: resident memory (VmRSS), its peak (VmHWM), threads, and CPU
//! time. The figures are the server's alone: it is a process of its own. The same
//! loop samples a throwaway PostgreSQL's process tree (summed PSS and CPU), so that
//! "memory" can mean the whole stack's.
//!
//! Beside each server sample it reads the scheduler's counters of every server thread
//! (`/proc/<pid>/task/*/status` and `schedstat`: context switches, time on a CPU, time
//! waiting for one) and keeps them as running totals, the mechanism metrics of a cell.
//! A server of thousands of threads takes milliseconds to read, so the threads are read
//! only as often as keeps that reading within a tenth of the sampler's time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use crate::results::ServerSample;
use crate::sys::procfs::ThreadCounters;

/// A running sampler; [`Sampler::finish`] stops it and returns the samples.
pub struct Sampler<T = ServerSample> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<T>>>,
}

impl Sampler<ServerSample> {
    /// Samples the server `pid` every `every`; times are relative to `origin` (the
    /// measured window's start). With `tree`, `pid` is the root of a process tree (the
    /// supervisor of a target of the user's own; not sampled itself) sampled as one
    /// server: memory is the tree's summed PSS (shared pages divided among the processes
    /// sharing them, so a master and its forked workers are not counted twice), threads
    /// and CPU are summed; the peak is the highest sample. The sampling thread runs on
    /// `cpus` (the generator's, so reading a server's threads takes none of its CPU;
    /// empty: anywhere).
    ///
    /// The threads are read whenever the budget allows (see `ThreadTally`), and besides
    /// at the window's first sample and once more before `window` ends, so a server of
    /// 10,000 threads, half a second a reading, is still read twice in a 3 s window.
    pub fn server(
        pid: u32,
        tree: bool,
        origin: Instant,
        window: Duration,
        every: Duration,
        cpus: &[usize],
    ) -> Self {
        let mut threads = ThreadTally::new(origin, origin + window);
        Self::every(every, cpus, move |now| {
            // A tree's processes are listed once a sample (a scan of /proc), for both.
            let processes = crate::sys::procfs::server_processes(pid, tree);
            let mut sample = if tree {
                read_tree(pid, &processes, now, origin)
            } else {
                read(pid, now, origin)
            }?;
            threads.add_to(&mut sample, now, &processes);
            Some(sample)
        })
    }
}

/// Running totals of the scheduler's counters over every thread the server has had
/// since the first reading. Each reading adds, thread by thread, what changed since the
/// previous one; a thread born meanwhile adds all it has. A thread that exits between
/// two readings takes with it what it did after the first of them (at most one reading
/// interval of one thread).
///
/// Reading takes about 55 µs a thread, on the generator's CPUs. The budget keeps it
/// within a tenth of the sampler's time; two readings in the window are taken whatever
/// the budget says (a rate needs two), at a cost of two readings a window.
struct ThreadTally {
    previous: Option<HashMap<u32, ThreadCounters>>,
    voluntary: u64,
    involuntary: u64,
    run_ns: u64,
    wait_ns: u64,
    /// Whether the kernel keeps per-thread schedstat.
    sched: bool,
    /// When the threads may be read again.
    next: Instant,
    /// The measured window.
    window: (Instant, Instant),
    /// Readings taken since the window began.
    read_in_window: u32,
    /// How long the last reading took.
    took: Duration,
}

impl ThreadTally {
    fn new(begins: Instant, ends: Instant) -> Self {
        Self {
            previous: None,
            voluntary: 0,
            involuntary: 0,
            run_ns: 0,
            wait_ns: 0,
            sched: crate::sys::procfs::has_schedstat(),
            next: Instant::now(),
            window: (begins, ends),
            read_in_window: 0,
            took: Duration::ZERO,
        }
    }

    /// Whether to read the threads at `now`: when the budget allows, at the window's
    /// first sample, and, with only that one reading in the window, at the last sample
    /// that still lets a reading as long as the last one end before the window does.
    fn due(&self, now: Instant) -> bool {
        let (begins, ends) = self.window;
        if now < begins || now >= ends {
            return now >= self.next;
        }
        let last_chance = now + self.took + self.took / 2 >= ends;
        now >= self.next || self.read_in_window == 0 || (self.read_in_window == 1 && last_chance)
    }

    /// Reads the threads of `processes` (when it is time to) and puts the totals in
    /// `sample`.
    fn add_to(&mut self, sample: &mut ServerSample, now: Instant, processes: &[u32]) {
        if !self.due(now) {
            return;
        }
        let began = Instant::now();
        let current = crate::sys::procfs::thread_counters(processes, self.sched);
        // Reading took `took`: wait nine times that before the next, so it stays
        // within a tenth of the sampler's time however many threads there are.
        self.took = began.elapsed();
        self.next = began + self.took * 9;
        if now >= self.window.0 {
            self.read_in_window += 1;
        }
        if current.is_empty() {
            return;
        }
        if let Some(previous) = &self.previous {
            for (tid, counters) in &current {
                let before = previous
                    .get(tid)
                    .filter(|b| b.voluntary <= counters.voluntary)
                    .copied()
                    .unwrap_or_default();
                self.voluntary += counters.voluntary - before.voluntary;
                self.involuntary += counters.involuntary.saturating_sub(before.involuntary);
                match (counters.sched, before.sched) {
                    (Some((run, wait)), Some((run_before, wait_before))) => {
                        self.run_ns += run.saturating_sub(run_before);
                        self.wait_ns += wait.saturating_sub(wait_before);
                    }
                    (Some((run, wait)), None) => {
                        self.run_ns += run;
                        self.wait_ns += wait;
                    }
                    (None, _) => {}
                }
            }
        }
        self.previous = Some(current);
        sample.ctx_voluntary = Some(self.voluntary);
        sample.ctx_involuntary = Some(self.involuntary);
        sample.sched_run_s = self.sched.then(|| self.run_ns as f64 / 1e9);
        sample.sched_wait_s = self.sched.then(|| self.wait_ns as f64 / 1e9);
    }
}

/// One reading of a database's process tree.
#[derive(Debug, Clone, Copy)]
pub struct TreeSample {
    /// Seconds since the measured window began (negative during warm-up).
    pub t_s: f64,
    /// What the tree used then.
    pub usage: crate::sys::procfs::TreeUsage,
}

impl Sampler<TreeSample> {
    /// Samples the descendants of `root` every `every`.
    pub fn tree(root: u32, origin: Instant, every: Duration) -> Self {
        Self::every(every, &[], move |now| {
            crate::sys::procfs::tree_usage(root).map(|usage| TreeSample {
                t_s: seconds_since(origin, now),
                usage,
            })
        })
    }
}

impl<T: Send + 'static> Sampler<T> {
    /// Calls `read` every `every` on a thread of its own (on `cpus`, when given),
    /// keeping what it returns.
    fn every(
        every: Duration,
        cpus: &[usize],
        mut read: impl FnMut(Instant) -> Option<T> + Send + 'static,
    ) -> Self {
        let cpus = cpus.to_vec();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sampler".into())
            .spawn(move || {
                let _ = crate::sys::affinity::pin_current_thread(&cpus);
                let mut samples = Vec::new();
                while !flag.load(Ordering::SeqCst) {
                    let now = Instant::now();
                    samples.extend(read(now));
                    std::thread::sleep(every.saturating_sub(now.elapsed()));
                }
                samples.extend(read(Instant::now()));
                samples
            })
            .ok();
        Self { stop, thread }
    }

    /// Stops sampling (taking one last sample) and returns everything sampled.
    pub fn finish(mut self) -> Vec<T> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl<T> Drop for Sampler<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One reading of `/proc/<pid>`; None once the process is gone.
fn read(pid: u32, now: Instant, origin: Instant) -> Option<ServerSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let fields = crate::sys::procfs::stat_fields(pid)?;
    let field = |key: &str| crate::sys::procfs::status_value(&status, key);
    let ticks = crate::sys::procfs::clock_ticks_per_second();
    let (kernel_stack_mib, kernel_slab_mib) = machine_kernel_memory();
    let cpu = |index: usize| {
        fields
            .get(index)
            .and_then(|v| v.parse::<f64>().ok())
            .map(|t| t / ticks)
    };
    Some(ServerSample {
        t_s: seconds_since(origin, now),
        rss_mib: field("VmRSS:")? / 1024.0,
        hwm_mib: field("VmHWM:")? / 1024.0,
        threads: field("Threads:")? as u64,
        cpu_user_s: cpu(11)?,
        cpu_sys_s: cpu(12)?,
        kernel_stack_mib,
        kernel_slab_mib,
        tree_rss_sum_mib: None,
        ..ServerSample::default()
    })
}

/// One reading of the tree under `root` (its `processes`) as a server sample; None
/// once `root` is gone.
fn read_tree(root: u32, processes: &[u32], now: Instant, origin: Instant) -> Option<ServerSample> {
    let tree = crate::sys::procfs::tree_detail_of(root, processes)?;
    let (stack, slab) = machine_kernel_memory();
    Some(ServerSample {
        t_s: seconds_since(origin, now),
        rss_mib: tree.pss_kib / 1024.0,
        hwm_mib: tree.pss_kib / 1024.0,
        threads: tree.threads,
        cpu_user_s: tree.cpu_user_s,
        cpu_sys_s: tree.cpu_sys_s,
        kernel_stack_mib: stack,
        kernel_slab_mib: slab,
        tree_rss_sum_mib: Some(tree.rss_kib / 1024.0),
        ..ServerSample::default()
    })
}

/// The machine's kernel stacks and unreclaimable slab, MiB (/proc/meminfo).
fn machine_kernel_memory() -> (Option<f64>, Option<f64>) {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let machine =
        |key: &str| crate::sys::procfs::status_value(&meminfo, key).map(|kib| kib / 1024.0);
    (machine("KernelStack:"), machine("SUnreclaim:"))
}

/// Whether a sample taken `t_s` after the window began lies in it (allowing one late
/// sample, 0.2 s, past its end).
fn in_window(t_s: f64, window: Duration) -> bool {
    t_s >= 0.0 && t_s <= window.as_secs_f64() + 0.2
}

/// `now - origin` in seconds, negative before the origin.
fn seconds_since(origin: Instant, now: Instant) -> f64 {
    if now >= origin {
        (now - origin).as_secs_f64()
    } else {
        -(origin - now).as_secs_f64()
    }
}

/// What the database's samples say about the measured window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TreeSummary {
    /// Mean summed PSS in the window, MiB.
    pub pss_mean_mib: f64,
    /// Peak summed PSS, MiB.
    pub pss_peak_mib: f64,
    /// CPU spent in the window, s.
    pub cpu_s: f64,
    /// Most processes at once.
    pub processes_max: u64,
}

/// Summarizes a database's `samples` over the window `[0, window]`; None without any.
pub fn summarize_tree(samples: &[TreeSample], window: Duration) -> Option<TreeSummary> {
    let inside: Vec<&TreeSample> = samples
        .iter()
        .filter(|s| in_window(s.t_s, window))
        .collect();
    let (first, last) = (inside.first()?, inside.last()?);
    Some(TreeSummary {
        pss_mean_mib: inside.iter().map(|s| s.usage.pss_kib).sum::<f64>()
            / inside.len() as f64
            / 1024.0,
        pss_peak_mib: inside.iter().map(|s| s.usage.pss_kib).fold(0.0, f64::max) / 1024.0,
        // The tree's CPU only grows (an exited backend's moves to the postmaster).
        cpu_s: (last.usage.cpu_s - first.usage.cpu_s).max(0.0),
        processes_max: inside.iter().map(|s| s.usage.processes).max().unwrap_or(0),
    })
}

/// What the samples say about the measured window `[0, window]`. Not measured is
/// never 0: without samples (or without one in the window) the figures are None and
/// `not_measured` says why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerSummary {
    /// Peak resident memory (VmHWM at the last sample: the process's peak so far,
    /// warm-up included), MiB; None without any sample.
    pub rss_peak_mib: Option<f64>,
    /// Mean resident memory in the window, MiB; None without a sample in it.
    pub rss_mean_mib: Option<f64>,
    /// Most threads seen (like the peak memory, over every sample); None without any.
    pub threads_max: Option<u64>,
    /// User CPU spent in the window, s; None without two samples in it.
    pub cpu_user_s: Option<f64>,
    /// System CPU spent in the window, s; None without two samples in it.
    pub cpu_sys_s: Option<f64>,
    /// Growth of the machine's kernel stacks from the first sample (before the load) to
    /// the window's peak, MiB.
    pub kernel_stack_delta_mib: Option<f64>,
    /// The same for the unreclaimable slab, MiB.
    pub kernel_slab_delta_mib: Option<f64>,
    /// A process tree: the peak of its processes' RSS added up, MiB.
    pub tree_rss_sum_peak_mib: Option<f64>,
    /// Mean threads in the window.
    pub threads_mean: f64,
    /// What the scheduler counted for the server's threads in the window (None: they
    /// were not read twice in it).
    pub scheduler: Option<SchedulerDelta>,
    /// Why some figures are missing (None: all measured).
    pub not_measured: Option<String>,
}

/// The change of the server threads' scheduler counters between two readings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SchedulerDelta {
    /// Seconds between the two readings.
    pub span_s: f64,
    /// Voluntary context switches.
    pub voluntary: u64,
    /// Involuntary context switches.
    pub involuntary: u64,
    /// Seconds on a CPU, summed over threads (None: no schedstat).
    pub run_s: Option<f64>,
    /// Seconds runnable but waiting for a CPU, summed over threads (None: no schedstat).
    pub wait_s: Option<f64>,
}

impl SchedulerDelta {
    /// From the first to the last of `samples` that read the threads.
    fn of(samples: &[&ServerSample]) -> Option<Self> {
        let read: Vec<&&ServerSample> = samples
            .iter()
            .filter(|s| s.ctx_voluntary.is_some())
            .collect();
        let (first, last) = (read.first()?, read.last()?);
        let span_s = last.t_s - first.t_s;
        if span_s <= 0.0 {
            return None;
        }
        let delta = |f: fn(&ServerSample) -> Option<f64>| Some((f(last)? - f(first)?).max(0.0));
        Some(Self {
            span_s,
            voluntary: last.ctx_voluntary? - first.ctx_voluntary?,
            involuntary: last.ctx_involuntary? - first.ctx_involuntary?,
            run_s: delta(|s| s.sched_run_s),
            wait_s: delta(|s| s.sched_wait_s),
        })
    }
}

/// Summarizes `samples` over the measured window of length `window`.
pub fn summarize(samples: &[ServerSample], window: Duration) -> ServerSummary {
    let measured: Vec<&ServerSample> = samples
        .iter()
        .filter(|s| in_window(s.t_s, window))
        .collect();
    let rss_peak_mib = samples.iter().map(|s| s.hwm_mib).reduce(f64::max);
    let threads_max = samples.iter().map(|s| s.threads).max();
    let (Some(first), Some(last)) = (measured.first(), measured.last()) else {
        return ServerSummary {
            rss_peak_mib,
            threads_max,
            not_measured: Some(if samples.is_empty() {
                "the server was never sampled (it may have exited, or /proc could not be read): no memory, threads or CPU".into()
            } else {
                format!(
                    "no sample of the server fell in the window ({} outside it): no mean memory, threads or CPU for the window",
                    samples.len()
                )
            }),
            ..ServerSummary::default()
        };
    };
    let twice = measured.len() >= 2;
    ServerSummary {
        rss_peak_mib,
        rss_mean_mib: Some(measured.iter().map(|s| s.rss_mib).sum::<f64>() / measured.len() as f64),
        threads_max,
        cpu_user_s: twice.then_some(last.cpu_user_s - first.cpu_user_s),
        cpu_sys_s: twice.then_some(last.cpu_sys_s - first.cpu_sys_s),
        not_measured: (!twice)
            .then(|| "one sample of the server in the window: no CPU for the window".to_string()),
        kernel_stack_delta_mib: growth(samples, &measured, |s| s.kernel_stack_mib),
        kernel_slab_delta_mib: growth(samples, &measured, |s| s.kernel_slab_mib),
        tree_rss_sum_peak_mib: samples
            .iter()
            .filter_map(|s| s.tree_rss_sum_mib)
            .reduce(f64::max),
        threads_mean: measured.iter().map(|s| s.threads as f64).sum::<f64>()
            / measured.len() as f64,
        scheduler: SchedulerDelta::of(&measured),
    }
}

/// From the first sample of all (taken before the load) to the peak in the window.
fn growth(
    all: &[ServerSample],
    window: &[&ServerSample],
    value: impl Fn(&ServerSample) -> Option<f64>,
) -> Option<f64> {
    let before = value(all.first()?)?;
    let peak = window.iter().filter_map(|s| value(s)).reduce(f64::max)?;
    Some((peak - before).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_s: f64) -> ServerSample {
        ServerSample {
            t_s,
            rss_mib: 10.0,
            hwm_mib: 12.0,
            threads: 3,
            cpu_user_s: t_s.max(0.0),
            ..ServerSample::default()
        }
    }

    #[test]
    fn not_measured_is_empty_with_its_reason_never_zero() {
        let window = Duration::from_secs(2);
        let never = summarize(&[], window);
        assert_eq!(
            (never.rss_peak_mib, never.rss_mean_mib, never.cpu_user_s),
            (None, None, None)
        );
        assert!(never.not_measured.unwrap().contains("never sampled"));
        // Samples in the warm-up only: the peak is the process's, the window has nothing.
        let warm_up_only = summarize(&[sample(-1.0), sample(-0.5)], window);
        assert_eq!(warm_up_only.rss_peak_mib, Some(12.0));
        assert_eq!(warm_up_only.rss_mean_mib, None, "never the warm-up's");
        assert_eq!(warm_up_only.cpu_user_s, None);
        assert!(warm_up_only
            .not_measured
            .unwrap()
            .contains("no sample of the server fell in the window"));
        // One sample in the window: memory, but no CPU (it takes two).
        let once = summarize(&[sample(-1.0), sample(1.0)], window);
        assert_eq!(once.rss_mean_mib, Some(10.0));
        assert_eq!(once.cpu_user_s, None);
        assert!(once.not_measured.unwrap().contains("no CPU"));
        let twice = summarize(&[sample(0.5), sample(1.5)], window);
        assert_eq!(twice.cpu_user_s, Some(1.0));
        assert_eq!(twice.not_measured, None);
    }

    #[test]
    fn samples_this_process_and_summarizes_the_window() {
        let origin = Instant::now();
        let sampler = Sampler::server(
            std::process::id(),
            false,
            origin,
            Duration::from_secs(60),
            Duration::from_millis(20),
            &[],
        );
        // Burn 100 ms of this thread's CPU (however long a busy machine takes to give it).
        let cpu_at_start =
            crate::sys::procfs::cpu_time(crate::sys::procfs::CpuOf::Thread).as_secs_f64();
        let give_up = Instant::now() + Duration::from_secs(20);
        let mut x = 0u64;
        while crate::sys::procfs::cpu_time(crate::sys::procfs::CpuOf::Thread).as_secs_f64()
            - cpu_at_start
            < 0.1
            && Instant::now() < give_up
        {
            for _ in 0..10_000 {
                x = x.wrapping_mul(31).wrapping_add(7);
            }
        }
        assert_ne!(x, 1);
        let samples = sampler.finish();
        assert!(samples.len() >= 3, "{} samples", samples.len());
        let summary = summarize(&samples, origin.elapsed());
        assert!(summary.rss_peak_mib.unwrap() > 1.0 && summary.rss_mean_mib.unwrap() > 1.0);
        assert!(
            summary.threads_max.unwrap() >= 2,
            "the test thread and the sampler"
        );
        assert!(
            summary.cpu_user_s.unwrap() + summary.cpu_sys_s.unwrap() > 0.05,
            "{summary:?}"
        );
        assert_eq!(summary.not_measured, None);
        // The sampler thread sleeps between samples: voluntary switches; the burn ran.
        let scheduler = summary.scheduler.expect("the threads were read");
        assert!(scheduler.voluntary >= 2, "{scheduler:?}");
        assert!(scheduler.run_s.unwrap_or(1.0) > 0.05, "{scheduler:?}");
    }

    #[test]
    fn a_slow_reading_is_still_taken_twice_in_the_window() {
        // 10,000 threads: about 0.55 s a reading, so the budget alone would allow the
        // next one 5 s later, after a 3 s window has ended.
        let begins = Instant::now() + Duration::from_secs(1);
        let ends = begins + Duration::from_secs(3);
        let mut tally = ThreadTally::new(begins, ends);
        tally.took = Duration::from_millis(550);
        let warm_up_read = begins - Duration::from_millis(500);
        tally.next = warm_up_read + tally.took * 9;
        let at = |ms: u64| begins + Duration::from_millis(ms);
        assert!(
            !tally.due(begins - Duration::from_millis(100)),
            "the budget rules the warm-up"
        );
        assert!(tally.due(at(0)), "the window's first sample");
        tally.read_in_window = 1;
        tally.next = at(0) + tally.took * 9;
        assert!(!tally.due(at(1_000)), "between the two: the budget");
        assert!(!tally.due(at(2_100)), "still time for a later one");
        assert!(
            tally.due(at(2_200)),
            "the last that ends before the window does"
        );
        tally.read_in_window = 2;
        assert!(
            !tally.due(at(2_800)),
            "two readings are enough: the budget again"
        );
        assert!(!tally.due(at(3_100)), "after the window: the budget");
        // A fast reading (a few threads) is taken at every sample, as before.
        tally.took = Duration::from_micros(200);
        tally.next = at(1_000) + tally.took * 9;
        assert!(tally.due(at(1_100)));
    }
}
