//! One row of `cells.csv`: everything measured for one cell and repetition.

use serde::{Deserialize, Serialize};

/// A cell's result. Field order is the CSV column order. Columns added after the first
/// runs default when missing, so older runs stay readable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// Unique name of the cell and repetition; names its hist and sample files.
    pub cell: String,
    /// Scenario name.
    pub scenario: String,
    /// Workload name (a route: null, io, cpu, mixed, fanout).
    pub workload: String,
    /// Style: blocking, async, hybrid.
    pub style: String,
    /// Style with its knobs, e.g. `blocking(pool=64)`.
    pub variant: String,
    /// The knobs alone, then the connection limits, e.g. `threads=64 header-read=10s ...`.
    pub knobs: String,
    /// closed, open, or saturate.
    pub load_mode: String,
    /// Connections the generator used.
    pub connections: u64,
    /// Target rate (open loop and saturation; empty in closed loop).
    pub target_rps: Option<f64>,
    /// Repetition number, from 1.
    pub repetition: u32,
    /// Successful replies per second.
    pub achieved_rps: f64,
    /// Requests due in the window (see the load report's conservation identities).
    #[serde(default)]
    pub requests_scheduled: u64,
    /// Requests sent in the window.
    #[serde(default)]
    pub requests_sent: u64,
    /// Due but never sent (every connection busy until the end).
    #[serde(default)]
    pub requests_unsent: u64,
    /// Sent and still unanswered after the end and its drain.
    #[serde(default)]
    pub requests_in_flight_at_end: u64,
    /// Successful replies.
    pub requests_ok: u64,
    /// Errors: nothing accepted the connection.
    pub err_connect_refused: u64,
    /// Errors: connect timed out.
    pub err_connect_timeout: u64,
    /// Errors: connection reset or closed.
    pub err_reset: u64,
    /// Errors: no reply within the timeout.
    pub err_timeout: u64,
    /// Errors: 4xx.
    pub err_status_4xx: u64,
    /// Errors: 5xx.
    pub err_status_5xx: u64,
    /// Errors: HTTPS handshake or TLS failures.
    #[serde(default)]
    pub err_tls: u64,
    /// Errors: responses over the generator's read limits (head or body).
    #[serde(default)]
    pub err_too_large: u64,
    /// Errors: anything else.
    pub err_other: u64,
    /// Connections that got no answer at all in the measured window.
    #[serde(default)]
    pub connections_unserved: u64,
    /// Replies by status, e.g. `200:812 503:4`.
    #[serde(default)]
    pub status_counts: String,
    /// Successful requests' corrected latency (from the intended send time), p50, ms;
    /// empty when none succeeded. The `p*_ms` columns all describe successes only.
    pub p50_ms: Option<f64>,
    /// Successes' corrected p90, ms.
    pub p90_ms: Option<f64>,
    /// Successes' corrected p95, ms.
    pub p95_ms: Option<f64>,
    /// Successes' corrected p99, ms.
    pub p99_ms: Option<f64>,
    /// Successes' corrected p99.9, ms.
    pub p999_ms: Option<f64>,
    /// Successes' corrected max, ms.
    pub max_ms: Option<f64>,
    /// Successes' service time (from the actual send) p50, ms.
    pub service_p50_ms: Option<f64>,
    /// Successes' service-time p90, ms.
    pub service_p90_ms: Option<f64>,
    /// Successes' service-time p95, ms.
    pub service_p95_ms: Option<f64>,
    /// Successes' service-time p99, ms.
    pub service_p99_ms: Option<f64>,
    /// Successes' service-time p99.9, ms.
    pub service_p999_ms: Option<f64>,
    /// Successes' service-time max, ms.
    pub service_max_ms: Option<f64>,
    /// Every scheduled request's corrected latency (errors, and unfinished at the
    /// lower bound end − intended), p50, ms.
    #[serde(default)]
    pub all_p50_ms: Option<f64>,
    /// Every request's corrected p95, ms.
    #[serde(default)]
    pub all_p95_ms: Option<f64>,
    /// Every request's corrected p99, ms.
    #[serde(default)]
    pub all_p99_ms: Option<f64>,
    /// Every request's corrected max, ms.
    #[serde(default)]
    pub all_max_ms: Option<f64>,
    /// The probe's (cheap route alongside the load) corrected p95, ms: of its
    /// successes; when `probe_lower_bound`, of every request it was scheduled to send,
    /// the unfinished at `end − intended` (a lower bound).
    #[serde(default)]
    pub probe_p95_ms: Option<f64>,
    /// The probe's corrected p99, ms.
    #[serde(default)]
    pub probe_p99_ms: Option<f64>,
    /// The share of the probe's scheduled requests that succeeded (None: no probe).
    #[serde(default)]
    pub probe_ok_share: Option<f64>,
    /// The probe's latencies are lower bounds: it did not keep its schedule (its own
    /// connections capped it, or the target stalled it), so its backlog grew with the
    /// window and a longer window would read more. `probe_invalid_reason` says why.
    #[serde(default)]
    pub probe_lower_bound: bool,
    /// Why the probe's load was not valid (empty: valid, or no probe). When
    /// `probe_lower_bound` is false too, the generator was at fault and its figures
    /// describe nothing.
    #[serde(default)]
    pub probe_invalid_reason: String,
    /// How late the probe's generator sent, p99, ms (None: no probe). Its latency
    /// counts from the intended send time, so this much of it may be the generator's.
    #[serde(default)]
    pub probe_generator_lag_p99_ms: Option<f64>,
    /// Async styles: runtime lag p99 since the server started, ms.
    #[serde(default)]
    pub lag_p99_ms: Option<f64>,
    /// Async styles: largest runtime lag, ms.
    #[serde(default)]
    pub lag_max_ms: Option<f64>,
    /// The async C10 variants: median wait of an admitted request for a place in
    /// service, the server's own queue (not the client's backlog), ms.
    #[serde(default)]
    pub server_queue_p50_ms: Option<f64>,
    /// p99 of that wait, ms.
    #[serde(default)]
    pub server_queue_p99_ms: Option<f64>,
    /// Median wait the server reported achieving (I/O routes), ms.
    #[serde(default)]
    pub server_wait_p50_ms: Option<f64>,
    /// p99 of that wait, ms.
    #[serde(default)]
    pub server_wait_p99_ms: Option<f64>,
    /// Little's law check, closed loop only: (successful requests/s × their mean latency) / connections.
    /// About 1 when every connection was busy all the time; far under 1 means
    /// connections sat idle or unserved.
    #[serde(default)]
    pub littles_law: Option<f64>,
    /// Server peak resident memory (VmHWM), MiB (empty: the server was never sampled;
    /// `measurement_notes` says why).
    pub rss_peak_mib: Option<f64>,
    /// Server mean resident memory over the measured window, MiB (empty: no sample in
    /// the window).
    pub rss_mean_mib: Option<f64>,
    /// Most server threads seen (empty: never sampled).
    pub threads_max: Option<u64>,
    /// Kernel stacks the threads cost beyond RSS (threads × 16 KiB), MiB.
    pub kernel_stack_mib: Option<f64>,
    /// Server user CPU over the measured window, s (empty: fewer than two samples in
    /// the window).
    pub server_cpu_user_s: Option<f64>,
    /// Server system CPU over the measured window, s.
    pub server_cpu_sys_s: Option<f64>,
    /// Generator CPU, s.
    pub generator_cpu_s: f64,
    /// The busiest generator thread's share of a core during the window.
    #[serde(default)]
    pub generator_busy: Option<f64>,
    /// The generator's own CPU per successful request during the window, µs (its load
    /// threads' nanosecond clocks): a change of the generator shows here, not in the
    /// server's figures.
    #[serde(default)]
    pub generator_cpu_us_per_ok: Option<f64>,
    /// False when the generator, not the server, was the limit.
    pub valid: bool,
    /// Why not valid (empty when valid).
    pub invalid_reason: String,
    /// Slowloris cells: slow clients holding connections while the probe ran.
    #[serde(default)]
    pub slow_clients: Option<u64>,
    /// Slowloris cells: times the server cut a slow client off (they reconnect).
    #[serde(default)]
    pub slow_cut_off: Option<u64>,
    /// Slowloris cells: the probe's p95 objective, ms.
    #[serde(default)]
    pub slo_ms: Option<f64>,
    /// Slowloris cells: seconds of the window whose probe p95 (every request,
    /// corrected) was over the objective, or in which no probe request ended.
    #[serde(default)]
    pub seconds_over_slo: Option<u64>,
    /// Whether some reason the cell is not valid lies with the generator (it sent late,
    /// or its busiest thread was saturated) rather than with the target.
    #[serde(default)]
    pub generator_limited: bool,
    /// Whether the server (or its upstream) died during the cell.
    #[serde(default)]
    pub crashed: bool,
    /// How the server ended when it crashed or could not start, e.g.
    /// `killed by signal 9 (SIGKILL)`; empty when it ran to the end.
    #[serde(default)]
    pub server_exit: String,
    /// What went wrong when the cell failed (crashed, could not start, could not
    /// measure); empty for a cell that ran.
    #[serde(default)]
    pub error: String,
    /// The bench's own cap on this cell's rate, req/s: its connections ÷ the shortest
    /// latency the workload can have (Little's law), the rate an open-loop cell offers,
    /// or where a saturation search stopped; empty when nothing in the bench caps it.
    #[serde(default)]
    pub rate_cap_rps: Option<f64>,
    /// What sets `rate_cap_rps`, e.g. `256 connections ÷ 20ms (Little's law)`.
    #[serde(default)]
    pub rate_cap: String,
    /// Open-loop cells: the requests of the window that did not succeed (failed or
    /// never finished) over the offered rate: seconds of service lost. Through a
    /// dependency's outage it is the outage plus the time to recover from it.
    #[serde(default)]
    pub service_lost_s: Option<f64>,
    /// Database workloads: connections the server opened to PostgreSQL (a saturation
    /// search: on its chosen probe's server).
    #[serde(default)]
    pub db_connections_opened: Option<u64>,
    /// Database workloads: the server's database failures by class, e.g.
    /// `too_many_connections=12`, or `none`.
    #[serde(default)]
    pub db_errors: String,
    /// Throwaway database: PostgreSQL's processes' summed proportional memory (PSS,
    /// shared buffers counted once), mean over the window, MiB.
    #[serde(default)]
    pub db_pss_mean_mib: Option<f64>,
    /// Throwaway database: the same, its peak.
    #[serde(default)]
    pub db_pss_peak_mib: Option<f64>,
    /// Throwaway database: CPU its processes spent in the window (exited backends
    /// included), s.
    #[serde(default)]
    pub db_cpu_s: Option<f64>,
    /// Throwaway database: most PostgreSQL processes seen at once.
    #[serde(default)]
    pub db_processes_max: Option<u64>,
    /// Growth of the machine's kernel stacks from before the load to the peak of the
    /// window, MiB (measured, system-wide: the server's threads, and the generator's few).
    #[serde(default)]
    pub kernel_stack_delta_mib: Option<f64>,
    /// Growth of the machine's unreclaimable slab the same way, MiB (socket buffers and
    /// structures, of both ends of every loopback connection).
    #[serde(default)]
    pub kernel_slab_delta_mib: Option<f64>,
    /// Connection scale: connections the generator opened on the ramp.
    #[serde(default)]
    pub connections_established: Option<u64>,
    /// Connection scale: connections still open at the end.
    #[serde(default)]
    pub connections_stayed_up: Option<u64>,
    /// Connection scale: time to establish a connection, p99, ms.
    #[serde(default)]
    pub connect_p99_ms: Option<f64>,
    /// The generator's peak resident memory, MiB (it runs in the runner's process).
    #[serde(default)]
    pub generator_peak_rss_mib: Option<f64>,
    /// What the server said it failed to do for clients, by kind with counts (e.g.
    /// `accept failed: Too many open files (os error 24) ×523`); empty: nothing.
    #[serde(default)]
    pub server_failures: String,
    /// Connection scale: connections that could not be opened, by class with counts
    /// (e.g. `connect_timeout ×573`); empty: none.
    #[serde(default)]
    pub connect_failures: String,
    /// A target of the user's own: the peak of its processes' RSS added up (as `ps`
    /// shows them), MiB; `rss_peak_mib` is then its summed PSS, which counts shared
    /// pages once.
    #[serde(default)]
    pub tree_rss_sum_peak_mib: Option<f64>,
    /// The scenario's `thresholds` this cell failed, with what it measured (empty:
    /// none failed, or none were given).
    #[serde(default)]
    pub thresholds_failed: String,
    /// Cores the server could run on: its pinning, else the machine's.
    #[serde(default)]
    pub server_cores: Option<u64>,
    /// Mechanism: the server's user CPU per successful request in the window, µs.
    #[serde(default)]
    pub cpu_user_us_per_ok: Option<f64>,
    /// Mechanism: its system (kernel) CPU per successful request, µs.
    #[serde(default)]
    pub cpu_sys_us_per_ok: Option<f64>,
    /// Mechanism: the resolution of the two above: the kernel counts user and system
    /// CPU in clock ticks, so this is one tick per successful request, µs.
    #[serde(default)]
    pub cpu_tick_us_per_ok: Option<f64>,
    /// Mechanism: the server's CPU per successful request from its threads' schedstat
    /// (nanoseconds on a CPU, not clock ticks), µs, gross of the instrument's idle
    /// cost: the low-noise figure `sabench ab` gates CPU on.
    #[serde(default)]
    pub cpu_sched_us_per_ok: Option<f64>,
    /// The server's CPU while it served nothing, before the load, ms a second: the
    /// suite's own helpers (the async styles' 1 ms lag probe, the blocking style's pool
    /// sampler, the alarm clock), from schedstat (None: not read).
    #[serde(default)]
    pub idle_cpu_ms_per_s: Option<f64>,
    /// Mechanism: that idle cost over the window, per successful request, µs: the part
    /// of `cpu_user_us_per_ok + cpu_sys_us_per_ok` (gross) that is the instrument's.
    /// The reports show CPU per request net of it, the gross beside.
    #[serde(default)]
    pub cpu_instrument_us_per_ok: Option<f64>,
    /// Mechanism: voluntary context switches (a thread gave up the CPU to wait) per
    /// successful request, summed over all the server's threads.
    #[serde(default)]
    pub ctx_voluntary_per_ok: Option<f64>,
    /// Mechanism: involuntary context switches (the scheduler took the CPU away) per
    /// successful request.
    #[serde(default)]
    pub ctx_involuntary_per_ok: Option<f64>,
    /// Mechanism: mean server threads in the window.
    #[serde(default)]
    pub threads_mean: Option<f64>,
    /// Mechanism: threads on a CPU or waiting for one, on average: the server's run
    /// queue (deeper than its cores means its threads waited for a CPU).
    #[serde(default)]
    pub runnable_mean: Option<f64>,
    /// Mechanism: share of the threads' time in the window spent on a CPU.
    #[serde(default)]
    pub running_share: Option<f64>,
    /// Mechanism: share spent runnable, waiting for a CPU.
    #[serde(default)]
    pub waiting_share: Option<f64>,
    /// Mechanism: share spent blocked (waiting on I/O, a lock, a timer, or idle).
    #[serde(default)]
    pub blocked_share: Option<f64>,
    /// Mechanism, blocking style: threads holding a connection, on average (a pool
    /// thread held by an idle keep-alive connection counts: it serves no one else).
    #[serde(default)]
    pub pool_held_mean: Option<f64>,
    /// Mechanism, blocking style: threads working on a request, on average.
    #[serde(default)]
    pub pool_working_mean: Option<f64>,
    /// What was not measured, or not as asked, in this cell: the server never sampled
    /// (or not in the window), a CPU pin that did not hold, a target still busy when
    /// the window began. Empty when everything was as asked.
    #[serde(default)]
    pub measurement_notes: String,
    /// The mechanism metrics this cell could not measure, and why (empty: none missing).
    #[serde(default)]
    pub mechanism_missing: String,
    /// The protocol the generator spoke: `http1` or `http2` (empty in runs before it
    /// was recorded: HTTP/1.1). For HTTP/2, `connections` is the requests in flight:
    /// `connections ÷ streams` connections of `streams` streams each.
    #[serde(default)]
    pub protocol: String,
    /// HTTP/2: streams per connection (empty for HTTP/1.1).
    #[serde(default)]
    pub streams: Option<u32>,
    /// Errors: HTTP/2 stream resets (RST_STREAM).
    #[serde(default)]
    pub err_stream_reset: u64,
    /// Errors: HTTP/2 requests a GOAWAY refused.
    #[serde(default)]
    pub err_goaway: u64,
}

impl CellRecord {
    /// A metric by its name in scenario `pairs` (None when this cell did not measure it).
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "achieved_rps" => Some(self.achieved_rps),
            "p50_ms" => self.p50_ms,
            "p90_ms" => self.p90_ms,
            "p95_ms" => self.p95_ms,
            "p999_ms" => self.p999_ms,
            "max_ms" => self.max_ms,
            "all_p95_ms" => self.all_p95_ms,
            "all_max_ms" => self.all_max_ms,
            "p99_ms" => self.p99_ms,
            "all_p50_ms" => self.all_p50_ms,
            "all_p99_ms" => self.all_p99_ms,
            "probe_p95_ms" => self.probe_p95_ms,
            "service_lost_s" => self.service_lost_s,
            "lag_max_ms" => self.lag_max_ms,
            "cpu_sched_us_per_ok" => self.cpu_sched_us_per_ok,
            "generator_cpu_us_per_ok" => self.generator_cpu_us_per_ok,
            "server_queue_p99_ms" => self.server_queue_p99_ms,
            "rss_peak_mib" => self.rss_peak_mib,
            "db_pss_peak_mib" => self.db_pss_peak_mib,
            "db_cpu_s" => self.db_cpu_s,
            "stack_rss_peak_mib" => self
                .db_pss_peak_mib
                .zip(self.rss_peak_mib)
                .map(|(db, server)| db + server),
            "rss_kernel_peak_mib" => self
                .kernel_stack_delta_mib
                .zip(self.rss_peak_mib)
                .map(|(stack, server)| stack + server),
            "error_rate" => self.failure_share(),
            _ => None,
        }
    }

    /// Whether the cell failed outright (a crash, or no measurement at all) rather
    /// than measuring something.
    pub fn failed(&self) -> bool {
        self.crashed || !self.error.is_empty()
    }

    /// Requests that never finished (unsent or still in flight at the end).
    pub fn unfinished(&self) -> u64 {
        self.requests_unsent + self.requests_in_flight_at_end
    }

    /// Requests the cell is about: scheduled ones, or (older runs, which did not count
    /// them) the answered ones.
    pub fn requests(&self) -> u64 {
        if self.requests_scheduled > 0 {
            self.requests_scheduled
        } else {
            self.requests_ok + self.errors()
        }
    }

    /// Share of requests that failed or never finished (None: nothing scheduled).
    pub fn failure_share(&self) -> Option<f64> {
        let requests = self.requests();
        (requests > 0).then(|| (self.errors() + self.unfinished()) as f64 / requests as f64)
    }

    /// All errors among the answered requests.
    pub fn errors(&self) -> u64 {
        self.err_connect_refused
            + self.err_connect_timeout
            + self.err_reset
            + self.err_timeout
            + self.err_status_4xx
            + self.err_status_5xx
            + self.err_tls
            + self.err_too_large
            + self.err_stream_reset
            + self.err_goaway
            + self.err_other
    }

    /// The load level as shown in tables: `c=64`, `500 rps`, `max@SLO`, `64 slow`, or
    /// `10000 held`.
    pub fn level(&self) -> String {
        match self.load_mode.as_str() {
            "closed" => format!("c={}", self.connections),
            "held" => format!("{} held", self.connections),
            "saturate" => "max@SLO".to_string(),
            "staged" => format!("staged to {:.0} rps", self.target_rps.unwrap_or(0.0)),
            "slowloris" => format!("{} slow", self.slow_clients.unwrap_or(0)),
            _ => format!("{:.0} rps", self.target_rps.unwrap_or(0.0)),
        }
    }

    /// The key that identifies the same cell across repetitions and runs.
    pub fn key(&self) -> (String, String, String, String) {
        (
            self.workload.clone(),
            self.variant.clone(),
            self.load_mode.clone(),
            self.level(),
        )
    }
}

/// One sample of the server process (every 100 ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSample {
    /// Seconds since the cell's measured window began (negative: warm-up).
    pub t_s: f64,
    /// Resident memory, MiB.
    pub rss_mib: f64,
    /// Peak resident memory so far, MiB.
    pub hwm_mib: f64,
    /// Threads.
    pub threads: u64,
    /// User CPU so far, s.
    pub cpu_user_s: f64,
    /// System CPU so far, s.
    pub cpu_sys_s: f64,
    /// The machine's kernel stacks (`KernelStack` in /proc/meminfo), MiB: every
    /// process's, so a cell reads its change.
    #[serde(default)]
    pub kernel_stack_mib: Option<f64>,
    /// The machine's unreclaimable slab (`SUnreclaim`, where sockets live), MiB.
    #[serde(default)]
    pub kernel_slab_mib: Option<f64>,
    /// A process tree (a target of the user's own): its processes' RSS added up as
    /// `ps` shows them, MiB (`rss_mib` is then the tree's summed PSS).
    #[serde(default)]
    pub tree_rss_sum_mib: Option<f64>,
    /// Voluntary context switches (a thread gave up the CPU to wait) of all the server's
    /// threads since the sampler's first reading of them; empty when they were not read
    /// at this sample (a server of many threads is read less often).
    #[serde(default)]
    pub ctx_voluntary: Option<u64>,
    /// Involuntary context switches (the scheduler took the CPU away), likewise.
    #[serde(default)]
    pub ctx_involuntary: Option<u64>,
    /// Seconds the server's threads spent on a CPU since the first reading (schedstat);
    /// empty also when the kernel has no schedstat.
    #[serde(default)]
    pub sched_run_s: Option<f64>,
    /// Seconds they spent runnable but waiting for a CPU, likewise.
    #[serde(default)]
    pub sched_wait_s: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Columns added after the first runs; an older cells.csv lacks them.
    const NEWER: [&str; 76] = [
        "requests_scheduled",
        "requests_sent",
        "requests_unsent",
        "requests_in_flight_at_end",
        "status_counts",
        "all_p50_ms",
        "all_p95_ms",
        "all_p99_ms",
        "all_max_ms",
        "generator_busy",
        "generator_cpu_us_per_ok",
        "connections_unserved",
        "probe_p95_ms",
        "probe_p99_ms",
        "probe_ok_share",
        "probe_lower_bound",
        "probe_invalid_reason",
        "probe_generator_lag_p99_ms",
        "lag_p99_ms",
        "lag_max_ms",
        "server_queue_p50_ms",
        "server_queue_p99_ms",
        "server_wait_p50_ms",
        "server_wait_p99_ms",
        "littles_law",
        "generator_limited",
        "slow_clients",
        "slow_cut_off",
        "slo_ms",
        "seconds_over_slo",
        "crashed",
        "server_exit",
        "error",
        "rate_cap_rps",
        "rate_cap",
        "service_lost_s",
        "db_connections_opened",
        "db_errors",
        "db_pss_mean_mib",
        "db_pss_peak_mib",
        "db_cpu_s",
        "db_processes_max",
        "kernel_stack_delta_mib",
        "kernel_slab_delta_mib",
        "connections_established",
        "connections_stayed_up",
        "connect_p99_ms",
        "generator_peak_rss_mib",
        "server_failures",
        "connect_failures",
        "tree_rss_sum_peak_mib",
        "thresholds_failed",
        "err_tls",
        "err_too_large",
        "server_cores",
        "cpu_user_us_per_ok",
        "cpu_sys_us_per_ok",
        "cpu_tick_us_per_ok",
        "cpu_sched_us_per_ok",
        "idle_cpu_ms_per_s",
        "cpu_instrument_us_per_ok",
        "ctx_voluntary_per_ok",
        "ctx_involuntary_per_ok",
        "threads_mean",
        "runnable_mean",
        "running_share",
        "waiting_share",
        "blocked_share",
        "pool_held_mean",
        "pool_working_mean",
        "mechanism_missing",
        "measurement_notes",
        "protocol",
        "streams",
        "err_stream_reset",
        "err_goaway",
    ];

    #[test]
    fn an_older_cells_csv_without_the_newer_columns_still_reads() {
        let record = CellRecord {
            cell: "c".into(),
            scenario: "s".into(),
            workload: "io".into(),
            style: "async".into(),
            variant: "async(workers=1)".into(),
            knobs: "workers=1".into(),
            load_mode: "closed".into(),
            connections: 8,
            target_rps: None,
            repetition: 1,
            achieved_rps: 100.0,
            requests_scheduled: 101,
            requests_sent: 100,
            requests_unsent: 1,
            requests_in_flight_at_end: 0,
            requests_ok: 100,
            err_connect_refused: 0,
            err_connect_timeout: 0,
            err_reset: 0,
            err_timeout: 0,
            err_status_4xx: 0,
            err_status_5xx: 0,
            err_tls: 0,
            err_too_large: 0,
            err_other: 0,
            connections_unserved: 3,
            p50_ms: Some(1.0),
            p90_ms: Some(1.0),
            p95_ms: Some(1.0),
            p99_ms: Some(1.0),
            p999_ms: Some(1.0),
            max_ms: Some(1.0),
            service_p50_ms: Some(1.0),
            service_p90_ms: Some(1.0),
            service_p95_ms: Some(1.0),
            service_p99_ms: Some(1.0),
            service_p999_ms: Some(1.0),
            service_max_ms: Some(1.0),
            status_counts: "200:100".into(),
            all_p50_ms: Some(1.0),
            all_p95_ms: Some(1.0),
            all_p99_ms: Some(1.0),
            all_max_ms: Some(1.0),
            probe_p95_ms: Some(1.0),
            probe_p99_ms: Some(1.0),
            probe_ok_share: Some(1.0),
            probe_lower_bound: false,
            probe_invalid_reason: String::new(),
            probe_generator_lag_p99_ms: None,
            lag_p99_ms: Some(1.0),
            lag_max_ms: Some(1.0),
            server_queue_p50_ms: None,
            server_queue_p99_ms: None,
            server_wait_p50_ms: Some(1.0),
            server_wait_p99_ms: Some(1.0),
            littles_law: Some(1.0),
            rss_peak_mib: Some(5.0),
            rss_mean_mib: Some(5.0),
            threads_max: Some(3),
            kernel_stack_mib: Some(0.05),
            server_cpu_user_s: Some(0.1),
            server_cpu_sys_s: Some(0.1),
            generator_cpu_s: 0.1,
            generator_busy: Some(0.2),
            generator_cpu_us_per_ok: None,
            valid: true,
            invalid_reason: String::new(),
            generator_limited: false,
            slow_clients: None,
            slow_cut_off: None,
            slo_ms: None,
            seconds_over_slo: None,
            crashed: false,
            server_exit: String::new(),
            error: String::new(),
            rate_cap_rps: None,
            rate_cap: String::new(),
            service_lost_s: None,
            db_connections_opened: None,
            db_errors: String::new(),
            db_pss_mean_mib: None,
            db_pss_peak_mib: None,
            db_cpu_s: None,
            db_processes_max: None,
            kernel_stack_delta_mib: None,
            kernel_slab_delta_mib: None,
            connections_established: None,
            connections_stayed_up: None,
            connect_p99_ms: None,
            generator_peak_rss_mib: None,
            server_failures: String::new(),
            connect_failures: String::new(),
            tree_rss_sum_peak_mib: None,
            thresholds_failed: String::new(),
            server_cores: None,
            cpu_user_us_per_ok: None,
            cpu_sys_us_per_ok: None,
            cpu_tick_us_per_ok: None,
            cpu_sched_us_per_ok: None,
            idle_cpu_ms_per_s: None,
            cpu_instrument_us_per_ok: None,
            ctx_voluntary_per_ok: None,
            ctx_involuntary_per_ok: None,
            threads_mean: None,
            runnable_mean: None,
            running_share: None,
            waiting_share: None,
            blocked_share: None,
            pool_held_mean: None,
            pool_working_mean: None,
            mechanism_missing: String::new(),
            measurement_notes: String::new(),
            protocol: String::new(),
            streams: None,
            err_stream_reset: 0,
            err_goaway: 0,
        };
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(&record).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
        let keep: Vec<usize> = (0..rows[0].len())
            .filter(|&i| !NEWER.contains(&rows[0][i]))
            .collect();
        let older: String = rows
            .iter()
            .map(|row| keep.iter().map(|&i| row[i]).collect::<Vec<_>>().join(",") + "\n")
            .collect();
        let read: CellRecord = csv::Reader::from_reader(older.as_bytes())
            .deserialize()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(read.achieved_rps, 100.0);
        assert_eq!(read.connections_unserved, 0);
        assert_eq!(read.littles_law, None);
        assert_eq!(read.requests_scheduled, 0);
        assert_eq!(read.all_p95_ms, None);
        assert_eq!(read.requests(), 100, "older rows count answered requests");
        assert_eq!(read.p95_ms, Some(1.0));
    }

    #[test]
    fn an_empty_latency_is_an_empty_csv_cell_not_zero() {
        #[derive(Debug, Serialize, Deserialize, PartialEq)]
        struct Row {
            ok: u64,
            p95_ms: Option<f64>,
        }
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer
            .serialize(Row {
                ok: 0,
                p95_ms: None,
            })
            .unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        assert_eq!(text, "ok,p95_ms\n0,\n");
        let row: Row = csv::Reader::from_reader(text.as_bytes())
            .deserialize()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(row.p95_ms, None);
    }
}
