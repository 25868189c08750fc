//! Why a style got the result it got: sentences written by rules over the measured
//! mechanism metrics, never by hand. Each rule ([`RULES`]) reads named columns of one
//! style at one level of a workload (and, for the comparative rules, of the other styles
//! at that level) and either says nothing or writes one sentence that cites the numbers
//! it read: the medians over repetitions shown in the workload's mechanism table.

use std::fmt::Write as _;

use super::aggregate::Group;
use crate::display::{figure, percent};

/// One style at one level of a workload, and every style at that level (itself too).
pub struct Case<'a> {
    /// The style the sentence is about.
    pub group: &'a Group,
    /// Every style measured at the same workload and level.
    pub peers: &'a [&'a Group],
}

/// A rule: its name, the cells.csv columns it reads, and the sentence it writes.
pub struct Rule {
    /// Short name, shown after the sentence.
    pub name: &'static str,
    /// The columns it reads.
    pub reads: &'static str,
    /// The sentence, when the rule applies.
    pub explain: fn(&Case<'_>) -> Option<String>,
}

/// The rules, in the order their sentences are listed.
pub const RULES: [Rule; 8] = [
    Rule {
        name: "pool-held",
        reads: "knobs (threads), connections, connections_unserved, pool_held_mean, pool_working_mean, p50_ms, achieved_rps",
        explain: pool_held,
    },
    Rule {
        name: "runtime-held",
        reads: "lag_max_ms, cpu_user_us_per_ok, cpu_sys_us_per_ok, achieved_rps, runnable_mean, server_cores, knobs (workers), failed share",
        explain: runtime_held,
    },
    Rule {
        name: "cpu-contention",
        reads: "runnable_mean, server_cores, threads_mean, running_share, waiting_share",
        explain: cpu_contention,
    },
    Rule {
        name: "cpu-bound",
        reads: "cpu_user_us_per_ok, cpu_sys_us_per_ok, achieved_rps, server_cores, failed share",
        explain: cpu_bound,
    },
    Rule {
        name: "limit-elsewhere",
        reads: "load_mode, cpu_user_us_per_ok, cpu_sys_us_per_ok, achieved_rps, server_cores, rate_cap_rps, lag_max_ms, knobs (threads), pool_working_mean, failed share",
        explain: limit_elsewhere,
    },
    Rule {
        name: "wait-bound",
        reads: "load_mode, blocked_share, cpu_user_us_per_ok, cpu_sys_us_per_ok, achieved_rps, server_cores, connections, p50_ms, lag_max_ms",
        explain: wait_bound,
    },
    Rule {
        name: "kernel-heavy",
        reads: "cpu_sys_us_per_ok, cpu_user_us_per_ok, cpu_tick_us_per_ok, failed share, of this style and the others at the level",
        explain: kernel_heavy,
    },
    Rule {
        name: "switches",
        reads: "ctx_voluntary_per_ok, threads_mean, failed share, of this style and the others at the level",
        explain: switches,
    },
];

/// Every sentence the rules write about `case`, with the rule's name.
pub fn explain(case: &Case<'_>) -> Vec<(&'static str, String)> {
    RULES
        .iter()
        .filter_map(|rule| (rule.explain)(case).map(|sentence| (rule.name, sentence)))
        .collect()
}

/// The "Why" list of one workload: for each level, what the rules say of each style
/// (empty when no rule applies anywhere).
pub fn list(levels: &[(String, Vec<&Group>)]) -> String {
    let mut out = String::new();
    for (level, groups) in levels {
        for group in groups {
            let case = Case {
                group,
                peers: groups,
            };
            for (rule, sentence) in explain(&case) {
                let _ = writeln!(out, "- {level}: {sentence} ({rule})");
            }
        }
    }
    out
}

/// The "Why" of one workload in markdown: the rules' sentences level by level, then
/// the mechanism table whose medians they cite.
pub fn section(levels: &[(String, Vec<&Group>)]) -> String {
    let mut out = String::from("### Why\n\n");
    out.push_str(&sentences(levels));
    out.push_str(&table(levels));
    out
}

/// The rules' sentences of one workload, or a line saying none applied.
pub fn sentences(levels: &[(String, Vec<&Group>)]) -> String {
    let list = list(levels);
    let failing: Vec<String> = levels
        .iter()
        .flat_map(|(level, groups)| groups.iter().map(move |g| (level, g)))
        .filter(|(_, g)| !mostly_succeeded(g))
        .map(|(level, g)| {
            format!(
                "{} at {level} ({} failed or unfinished)",
                g.variant,
                percent(g.failure_share())
            )
        })
        .collect();
    let mut out = if list.is_empty() {
        "No rule applied at these levels.\n\n".to_string()
    } else {
        format!("{list}\n")
    };
    if !failing.is_empty() {
        let _ = writeln!(
            out,
            "Rules that read figures per request skipped these, as more than 1 % of their requests failed (their successes carry the failures' cost): {}.\n",
            failing.join(", ")
        );
    }
    out
}

/// The mechanism metrics of each style and level: medians over repetitions, as the
/// sentences cite them.
fn table(levels: &[(String, Vec<&Group>)]) -> String {
    let mut out = String::from(
        "Mechanism (medians over repetitions; per request = per success; `—` not measured): \
         CPU is the server's per request (user + kernel), net of what the suite's own helpers cost it (its idle CPU before the load: the lag probe, pool sampler, alarm clock), the gross as the kernel counted it beside; switches are voluntary / involuntary per request over all its threads, \
         run queue is the mean of threads on a CPU or waiting for one (beside the cores it had), the shares are of its threads' time, \
         and a blocking pool's threads are those holding a connection / working on a request. \
         The kernel counts user and kernel CPU in clock ticks: each is ± one tick per request (`cpu_tick_us_per_ok`).\n\n\
         | level | style | CPU µs/req net (user + kernel) | gross (helpers) | switches/req (vol / invol) | threads | run queue (cores) | running / waiting / blocked | pool held / working | lag max ms |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let or_dash = |v: Option<f64>| v.map_or_else(|| "—".to_string(), figure);
    for (level, groups) in levels {
        for g in groups {
            let m = &g.mechanism;
            let cpu = match (m.cpu_user_us, m.cpu_sys_us) {
                (Some(user), Some(sys)) => format!(
                    "{} ({} + {})",
                    figure(user + sys),
                    figure(user),
                    figure(sys)
                ),
                _ => "—".into(),
            };
            let gross = match (m.cpu_gross_us, m.cpu_instrument_us) {
                (Some(gross), Some(helpers)) => {
                    format!("{} ({})", figure(gross), figure(helpers))
                }
                (Some(gross), None) => format!("{} (—)", figure(gross)),
                _ => "—".into(),
            };
            let shares = match (m.running, m.waiting, m.blocked) {
                (Some(r), Some(w), Some(b)) => format!(
                    "{} / {} / {}",
                    percent(Some(r)),
                    percent(Some(w)),
                    percent(Some(b))
                ),
                _ => "—".into(),
            };
            let pool = match (m.pool_held, m.pool_working) {
                (Some(h), Some(w)) => format!("{} / {}", figure(h), figure(w)),
                _ => "—".into(),
            };
            let cores = g.server_cores.map_or(String::new(), |n| format!(" ({n})"));
            let _ = writeln!(
                out,
                "| {level} | {} | {cpu} | {gross} | {} / {} | {} | {}{cores} | {shares} | {pool} | {} |",
                g.variant,
                or_dash(m.ctx_voluntary),
                or_dash(m.ctx_involuntary),
                or_dash(m.threads),
                or_dash(m.runnable),
                or_dash(g.lag_max.map(|l| l.median)),
            );
        }
    }
    let missing: Vec<String> = levels
        .iter()
        .flat_map(|(level, groups)| groups.iter().map(move |g| (level, g)))
        .filter(|(_, g)| !g.mechanism.missing.is_empty())
        .map(|(level, g)| format!("- {level} {}: {}", g.variant, g.mechanism.missing))
        .collect();
    if !missing.is_empty() {
        out.push_str("\nNot measured, and why:\n\n");
        out.push_str(&missing.join("\n"));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// The value of `name=` among a cell's knobs (`threads=16 header-read=10s …`).
pub fn knob(knobs: &str, name: &str) -> Option<u64> {
    knobs
        .split_whitespace()
        .find_map(|k| k.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

fn cores(n: u64) -> String {
    if n == 1 {
        "1 core".into()
    } else {
        format!("{n} cores")
    }
}

/// A CPU time per request: `850 µs`, `10.2 ms`.
fn cpu_time(us: f64) -> String {
    if us >= 1000.0 {
        format!("{} ms", figure(us / 1000.0))
    } else {
        format!("{} µs", figure(us))
    }
}

/// A blocking pool whose threads are all held by connections, with connections left
/// over: the keep-alive starvation of a fixed pool.
fn pool_held(case: &Case<'_>) -> Option<String> {
    let g = case.group;
    if g.style != "blocking" {
        return None;
    }
    let threads = knob(&g.knobs, "threads")?;
    let (held, working) = (g.mechanism.pool_held?, g.mechanism.pool_working?);
    let c = g.connections;
    if c <= threads && working >= 0.9 * threads as f64 {
        // As many connections as threads, every thread working: the pool is the limit.
        let p50 = g.mechanism.p50_ms?;
        return Some(format!(
            "{}: its {threads} threads were all working ({} on average): at {} ms a request, {threads} threads serve at most about {} req/s (Little's law), and it served {}",
            g.variant,
            figure(working),
            figure(p50),
            figure(threads as f64 * 1000.0 / p50.max(1e-9)),
            figure(g.achieved.median)
        ));
    }
    if c <= threads || held < 0.9 * threads as f64 {
        return None;
    }
    let figures = format!(
        "{} held, {} working on average",
        figure(held),
        figure(working)
    );
    let law = format!("with a thread per keep-alive connection, {c} connections need {c} threads");
    Some(if g.unserved > 0 {
        format!(
            "{} served {} of {c} connections: each of its {threads} threads was held by a keep-alive connection ({figures}), so {} connections never got a thread ({law})",
            g.variant,
            c - g.unserved.min(c),
            g.unserved
        )
    } else if working < 0.5 * held {
        format!(
            "{} had {c} connections for {threads} threads, and its threads were held by mostly idle keep-alive connections ({figures}): requests on the other connections waited for a thread ({law})",
            g.variant
        )
    } else {
        format!(
            "{} had {c} connections for {threads} threads, all of them busy ({figures}): requests waited for a thread ({law})",
            g.variant
        )
    })
}

/// An async runtime whose workers were held by CPU work: the lag probe woke late.
fn runtime_held(case: &Case<'_>) -> Option<String> {
    let g = case.group;
    if (g.style != "async" && g.style != "hybrid") || !mostly_succeeded(g) {
        return None;
    }
    let lag = g.lag_max?.median;
    if lag < 20.0 {
        return None;
    }
    let cpu = g.mechanism.cpu_us()?;
    let runnable = g.mechanism.runnable?;
    let n = g.server_cores?;
    let workers = knob(&g.knobs, "workers");
    let held = match workers {
        Some(1) => "the only worker".to_string(),
        Some(w) => format!("its {w} workers"),
        None => "its workers".to_string(),
    };
    // A worker held but not running: it slept inside a handler (a blocking call).
    let busy = g.mechanism.cores_busy(g.achieved.median)?;
    let workers = workers.unwrap_or(n) as f64;
    if runnable < 0.5 * workers.min(n as f64) && busy < 0.5 * n as f64 {
        return Some(format!(
            "{}: runtime lag max {} ms with a run queue of only {} on {} and {} of CPU a request — a blocking call, not CPU work, held {held} (it slept inside a handler)",
            g.variant,
            figure(lag),
            figure(runnable),
            cores(n),
            cpu_time(cpu)
        ));
    }
    let own = workers.min(n as f64);
    if cpu < 1000.0 && busy < 0.5 * own {
        // Runnable, yet its own work kept the core idle: something else had the CPU.
        return Some(format!(
            "{}: runtime lag max {} ms with a run queue of {} on {} while its own work kept only {} of it busy — {held} waited for a CPU that another process held",
            g.variant,
            figure(lag),
            figure(runnable),
            cores(n),
            figure(busy)
        ));
    }
    if cpu < 1000.0 {
        // Many short requests, not one long one: the worker was kept busy.
        return Some(format!(
            "{}: runtime lag max {} ms at {} of {} busy ({} of CPU a request × {} req/s) — {held} was kept busy by many short requests, not held by a long one",
            g.variant,
            figure(lag),
            figure(busy),
            cores(n),
            cpu_time(cpu),
            figure(g.achieved.median)
        ));
    }
    let what = if g.style == "async" {
        format!("CPU work held {held}")
    } else {
        format!("CPU work handed off still competed with {held} for the CPU")
    };
    Some(format!(
        "{} at {} of CPU a request: runtime lag max {} ms, run queue {} on {} — {what}",
        g.variant,
        cpu_time(cpu),
        figure(lag),
        figure(runnable),
        cores(n)
    ))
}

/// More threads runnable than cores: they queued for a CPU.
fn cpu_contention(case: &Case<'_>) -> Option<String> {
    let g = case.group;
    let m = &g.mechanism;
    let (runnable, n) = (m.runnable?, g.server_cores?);
    if runnable <= 1.5 * n as f64 {
        return None;
    }
    let (running, waiting) = (m.running?, m.waiting?);
    let queued = waiting / (running + waiting).max(f64::MIN_POSITIVE);
    Some(format!(
        "{}: run queue {} on {} ({} threads) — a thread that could run waited for a CPU {} of that time",
        g.variant,
        figure(runnable),
        cores(n),
        figure(m.threads?),
        percent(Some(queued))
    ))
}

/// Every core the server had was busy: the CPU sets the throughput.
fn cpu_bound(case: &Case<'_>) -> Option<String> {
    let g = case.group;
    if !mostly_succeeded(g) {
        return None;
    }
    let n = g.server_cores?;
    let rps = g.achieved.median;
    let busy = g.mechanism.cores_busy(rps)?;
    if busy < 0.85 * n as f64 {
        return None;
    }
    Some(format!(
        "{}: CPU-bound — {} of {} busy ({} of CPU a request × {} req/s), so more concurrency cannot add throughput",
        g.variant,
        figure(busy),
        cores(n),
        cpu_time(g.mechanism.cpu_us()?),
        figure(rps)
    ))
}

/// A capacity (saturation search) that neither the CPU, a held pool or runtime, nor
/// the bench set: at the highest rate that met the objective the server used well
/// under its cores. Little's law then says how many requests it held at once: about
/// one (something serializes them), about one per worker of a server of the user's
/// own (sync workers), or more, when the limit is one these metrics do not show.
/// Saying so beats saying nothing, or letting a reader assume the CPU.
fn limit_elsewhere(case: &Case<'_>) -> Option<String> {
    let g = case.group;
    if g.load_mode != "saturate" || !mostly_succeeded(g) {
        return None;
    }
    let rps = g.achieved.median;
    // Near the bench's cap the capacity is the bench's (or only "at least").
    if g.rate_cap_rps.is_some_and(|cap| rps >= 0.8 * cap) {
        return None;
    }
    let n = g.server_cores?;
    let cpu_us = g.mechanism.cpu_us()?;
    let busy = g.mechanism.cores_busy(rps)?;
    if busy >= 0.6 * n as f64 {
        return None;
    }
    // A held runtime or an all-working pool is the limit, and their rules say so.
    if g.lag_max.is_some_and(|lag| lag.median >= 20.0) {
        return None;
    }
    let all_working = knob(&g.knobs, "threads")
        .zip(g.mechanism.pool_working)
        .is_some_and(|(threads, working)| working >= 0.9 * threads as f64);
    if all_working {
        return None;
    }
    let p50 = g.mechanism.p50_ms?;
    let in_flight = rps * p50 / 1000.0;
    let law = format!(
        "{} requests in flight on average ({} req/s × {} ms p50, Little's law) with {} of {} busy",
        figure(in_flight),
        figure(rps),
        figure(p50),
        figure(busy),
        cores(n)
    );
    let external = g.style == "external";
    let workers = knob(&g.knobs, "workers").filter(|_| external);
    let conclusion = if in_flight < 1.5 {
        "it served about one request at a time: something serializes them (a blocking call inside an event loop, a single worker, a global lock)".to_string()
    } else if let Some(w) =
        workers.filter(|&w| w >= 2 && (0.8 * w as f64..=1.2 * w as f64).contains(&in_flight))
    {
        format!("about one per worker of its {w}: workers that serve one request at a time (sync workers) were the limit")
    } else {
        let unseen = if external {
            "nothing measured here shows its limit"
        } else {
            "no pool or runtime worker was held"
        };
        format!(
            "{unseen}, and {} of CPU a request would allow about {} req/s: the limit is one these metrics do not show (a lock, a connection pool, a client library); the search's failing probes are in samples/<cell>.probes.csv",
            cpu_time(cpu_us),
            figure(n as f64 * 1e6 / cpu_us.max(f64::MIN_POSITIVE))
        )
    };
    Some(format!(
        "{}: not CPU-bound at its capacity — {law}; {conclusion}",
        g.variant
    ))
}

/// A closed loop whose server mostly waited: throughput is what the connections allow
/// at the latency (Little's law), not what the server could do.
fn wait_bound(case: &Case<'_>) -> Option<String> {
    let g = case.group;
    if g.load_mode != "closed" {
        return None;
    }
    let m = &g.mechanism;
    let (blocked, n, p50) = (m.blocked?, g.server_cores?, m.p50_ms?);
    let rps = g.achieved.median;
    let busy = m.cores_busy(rps)?;
    let allowed = g.connections as f64 * 1000.0 / p50.max(1e-9);
    if blocked < 0.9 || busy > 0.5 * n as f64 || rps < 0.8 * allowed {
        return None;
    }
    // A runtime whose workers were held is explained by `runtime-held`, not by its wait.
    if g.lag_max.is_some_and(|lag| lag.median >= 20.0) {
        return None;
    }
    Some(format!(
        "{}: its threads were blocked {} of the time and {} of {} busy — waiting, not the CPU, set the pace: {} connections at {} ms p50 allow about {} req/s (Little's law), and it served {}",
        g.variant,
        percent(Some(blocked)),
        figure(busy),
        cores(n),
        g.connections,
        figure(p50),
        figure(allowed),
        figure(rps)
    ))
}

/// Whether a group's per-success figures describe its work: at most 1 % of its
/// requests failed or never finished (a failing cell's successes carry the failures'
/// cost, so comparing them says little).
fn mostly_succeeded(group: &Group) -> bool {
    group.failure_share().is_some_and(|share| share <= 0.01)
}

/// Far more kernel CPU a request than the leanest style at the level (styles that
/// mostly succeeded only); a connection per call (`+no-pool`) against its own pooled
/// twin where the level has it, so the connection's cost is not another style's.
fn kernel_heavy(case: &Case<'_>) -> Option<String> {
    let g = case.group;
    if !mostly_succeeded(g) {
        return None;
    }
    let sys = g.mechanism.cpu_sys_us?;
    let total = g.mechanism.cpu_us()?;
    // User and kernel CPU are counted in clock ticks: a figure under three ticks per
    // request's worth is too coarse to compare.
    let resolved = |group: &Group, us: f64| {
        group
            .mechanism
            .cpu_tick_us
            .is_some_and(|tick| us >= 3.0 * tick)
    };
    let leanest = case
        .peers
        .iter()
        .filter(|p| mostly_succeeded(p))
        .filter_map(|p| Some((p, p.mechanism.cpu_sys_us?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let pooled_twin = g.variant.replace("+no-pool", "");
    let twin = case
        .peers
        .iter()
        .filter(|p| {
            g.variant.contains("+no-pool")
                && (p.variant == pooled_twin
                    || p.variant.starts_with(&format!("{pooled_twin}+db-pool=")))
        })
        .filter(|p| mostly_succeeded(p))
        .find_map(|p| Some((p, p.mechanism.cpu_sys_us?)));
    // Against its own twin a third more is the connection's; against another style,
    // twice.
    let (leanest, factor) = match twin {
        Some(twin) => (twin, 1.3),
        None => (leanest, 2.0),
    };
    if sys < 20.0 || sys < factor * leanest.1 || sys < 0.4 * total {
        return None;
    }
    if !resolved(g, sys) || !resolved(leanest.0, leanest.1) {
        return None;
    }
    let per_call = if g.variant.contains("+no-pool") {
        " — a connection set up per call"
    } else {
        ""
    };
    Some(format!(
        "{}: {} of kernel CPU a request, {}× {}'s {} ({} of its CPU in the kernel){per_call}",
        g.variant,
        cpu_time(sys),
        figure(sys / leanest.1.max(f64::MIN_POSITIVE)),
        leanest.0.variant,
        cpu_time(leanest.1),
        percent(Some(sys / total))
    ))
}

/// The style that switched threads most per request, against the one that switched
/// least, when they differ at least twofold (styles that mostly succeeded only).
fn switches(case: &Case<'_>) -> Option<String> {
    let g = case.group;
    if !mostly_succeeded(g) {
        return None;
    }
    let own = g.mechanism.ctx_voluntary?;
    let measured: Vec<(&&Group, f64)> = case
        .peers
        .iter()
        .filter(|p| mostly_succeeded(p))
        .filter_map(|p| Some((p, p.mechanism.ctx_voluntary?)))
        .collect();
    let most = measured.iter().map(|(_, v)| *v).fold(f64::MIN, f64::max);
    let (least_group, least) = *measured.iter().min_by(|a, b| a.1.total_cmp(&b.1))?;
    if own < most || own < 1.0 || own < 2.0 * least {
        return None;
    }
    let threads = |group: &Group| {
        group
            .mechanism
            .threads
            .map_or(String::new(), |t| format!(" ({} threads)", figure(t)))
    };
    Some(format!(
        "{} made {} voluntary context switches a request{}, {}× {}'s {}{}: each is a thread that stopped to wait and had to be woken",
        g.variant,
        figure(own),
        threads(g),
        figure(own / least.max(f64::MIN_POSITIVE)),
        least_group.variant,
        figure(least),
        threads(least_group)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::aggregate::{Mechanism, Stat};

    /// A synthetic group: `style`, `variant`, `knobs`, at `connections`, closed loop.
    fn group(style: &str, variant: &str, knobs: &str, connections: u64) -> Group {
        Group {
            workload: "io".into(),
            style: style.into(),
            variant: variant.into(),
            load_mode: "closed".into(),
            level: format!("c={connections}"),
            connections,
            target_rps: None,
            n: 1,
            achieved: Stat::of([1000.0]).unwrap(),
            p95: None,
            p99: None,
            rss_peak: None,
            threads_max: None,
            kernel_stack_mib: None,
            errors: 0,
            unfinished: 0,
            unserved: 0,
            server_wait_p50: None,
            probe_p95: None,
            probe_lower_bound: false,
            lag_max: None,
            requests: 1000,
            valid: true,
            failed: 0,
            cells: vec![],
            knobs: knobs.into(),
            server_cores: Some(1),
            rate_cap_rps: None,
            mechanism: Mechanism::default(),
        }
    }

    fn said(group: &Group, peers: &[&Group], rule: &str) -> Option<String> {
        only(&Case { group, peers }, rule)
    }

    fn only(case: &Case<'_>, rule: &str) -> Option<String> {
        explain(case)
            .into_iter()
            .find(|(name, _)| *name == rule)
            .map(|(_, s)| s)
    }

    /// FastAPI with httpx in python-c2: 566 req/s at 1.01 ms of CPU a request on one
    /// core, half of it idle, and the next probe failed.
    #[test]
    fn a_capacity_the_cpu_did_not_set_is_said_to_lie_elsewhere() {
        let mut httpx = group("external", "fastapi-uvicorn(workers=1)", "", 512);
        httpx.load_mode = "saturate".into();
        httpx.level = "max@SLO".into();
        httpx.achieved = Stat::of([566.0]).unwrap();
        httpx.rate_cap_rps = Some(25_600.0);
        httpx.knobs = "workers=1".into();
        httpx.mechanism.cpu_user_us = Some(892.0);
        httpx.mechanism.cpu_sys_us = Some(115.0);
        httpx.mechanism.p50_ms = Some(22.3);
        assert_eq!(
            said(&httpx, &[&httpx], "limit-elsewhere").as_deref(),
            Some("fastapi-uvicorn(workers=1): not CPU-bound at its capacity — 12.6 requests in flight on average (566 req/s × 22.3 ms p50, Little's law) with 0.57 of 1 core busy; nothing measured here shows its limit, and 1.01 ms of CPU a request would allow about 993 req/s: the limit is one these metrics do not show (a lock, a connection pool, a client library); the search's failing probes are in samples/<cell>.probes.csv")
        );
        // Flask with 4 sync workers: 3.6 in flight for 4 workers.
        let mut flask = httpx.clone();
        flask.variant = "flask(workers=4)".into();
        flask.knobs = "workers=4".into();
        flask.achieved = Stat::of([162.0]).unwrap();
        assert_eq!(
            said(&flask, &[&flask], "limit-elsewhere").as_deref(),
            Some("flask(workers=4): not CPU-bound at its capacity — 3.61 requests in flight on average (162 req/s × 22.3 ms p50, Little's law) with 0.16 of 1 core busy; about one per worker of its 4: workers that serve one request at a time (sync workers) were the limit")
        );
        // requests inside async def: one at a time.
        let mut serial = httpx.clone();
        serial.achieved = Stat::of([40.0]).unwrap();
        assert!(said(&serial, &[&serial], "limit-elsewhere")
            .is_some_and(|s| s.contains("0.89 requests in flight")
                && s.contains("about one request at a time")),);
        // The CPU's limit (aiohttp: 0.87 of 1 core) is cpu-bound's to say.
        let mut aiohttp = httpx.clone();
        aiohttp.achieved = Stat::of([2588.0]).unwrap();
        aiohttp.mechanism.cpu_user_us = Some(278.0);
        aiohttp.mechanism.cpu_sys_us = Some(60.0);
        assert_eq!(said(&aiohttp, &[&aiohttp], "limit-elsewhere"), None);
        // Near the bench's cap, the capacity is the bench's.
        let mut capped = httpx.clone();
        capped.rate_cap_rps = Some(600.0);
        assert_eq!(said(&capped, &[&capped], "limit-elsewhere"), None);
        // A runtime held 300 ms is runtime-held's; a fixed level is no capacity.
        let mut held = httpx.clone();
        held.lag_max = Stat::of([300.0]);
        assert_eq!(said(&held, &[&held], "limit-elsewhere"), None);
        let mut closed = httpx.clone();
        closed.load_mode = "closed".into();
        assert_eq!(said(&closed, &[&closed], "limit-elsewhere"), None);
        // A blocking pool whose every thread worked is pool-held's.
        let mut pool = group("blocking", "blocking(pool=8)", "threads=8", 512);
        pool.load_mode = "saturate".into();
        pool.achieved = Stat::of([383.0]).unwrap();
        pool.mechanism.cpu_user_us = Some(20.0);
        pool.mechanism.cpu_sys_us = Some(30.0);
        pool.mechanism.pool_working = Some(7.6);
        assert_eq!(said(&pool, &[&pool], "limit-elsewhere"), None);
        pool.mechanism.pool_working = Some(2.0);
        pool.mechanism.p50_ms = Some(20.0);
        assert!(said(&pool, &[&pool], "limit-elsewhere")
            .is_some_and(|s| s.contains("no pool or runtime worker was held")));
    }

    #[test]
    fn a_pool_held_by_keep_alive_connections_is_named_with_its_numbers() {
        let mut g = group(
            "blocking",
            "blocking(pool=16)",
            "threads=16 header-read=10s",
            64,
        );
        g.unserved = 48;
        g.mechanism.pool_held = Some(16.0);
        g.mechanism.pool_working = Some(15.9);
        let peers = [&g];
        assert_eq!(
            said(&g, &peers, "pool-held").unwrap(),
            "blocking(pool=16) served 16 of 64 connections: each of its 16 threads was held by a keep-alive connection (16.0 held, 15.9 working on average), so 48 connections never got a thread (with a thread per keep-alive connection, 64 connections need 64 threads)"
        );
        // Idle keep-alive connections holding every thread of an open-loop pool.
        let mut idle = group("blocking", "blocking(pool=8)", "threads=8", 256);
        idle.load_mode = "open".into();
        idle.mechanism.pool_held = Some(8.0);
        idle.mechanism.pool_working = Some(0.4);
        let peers = [&idle];
        assert_eq!(
            said(&idle, &peers, "pool-held").unwrap(),
            "blocking(pool=8) had 256 connections for 8 threads, and its threads were held by mostly idle keep-alive connections (8.00 held, 0.40 working on average): requests on the other connections waited for a thread (with a thread per keep-alive connection, 256 connections need 256 threads)"
        );
        // A pool larger than the connections is never starved.
        let roomy = group("blocking", "blocking(pool=128)", "threads=128", 64);
        let peers = [&roomy];
        assert_eq!(said(&roomy, &peers, "pool-held"), None);
        // As many connections as threads, all working: the pool is the limit.
        let mut busy = group("blocking", "blocking(pool=8)", "threads=8", 8);
        busy.load_mode = "saturate".into();
        busy.achieved = Stat::of([390.0]).unwrap();
        busy.mechanism.pool_held = Some(8.0);
        busy.mechanism.pool_working = Some(7.9);
        busy.mechanism.p50_ms = Some(20.1);
        assert_eq!(
            said(&busy, &[&busy], "pool-held").unwrap(),
            "blocking(pool=8): its 8 threads were all working (7.90 on average): at 20.1 ms a request, 8 threads serve at most about 398 req/s (Little's law), and it served 390"
        );
    }

    #[test]
    fn cpu_work_holding_the_only_worker_is_named() {
        let mut g = group("async", "async(workers=1)", "workers=1", 8);
        g.lag_max = Stat::of([320.0]);
        g.mechanism.cpu_user_us = Some(9800.0);
        g.mechanism.cpu_sys_us = Some(200.0);
        g.mechanism.runnable = Some(1.9);
        let peers = [&g];
        assert_eq!(
            said(&g, &peers, "runtime-held").unwrap(),
            "async(workers=1) at 10.0 ms of CPU a request: runtime lag max 320 ms, run queue 1.90 on 1 core — CPU work held the only worker"
        );
        // The same lag with the worker asleep, not running: a blocking call inline.
        let mut asleep = g.clone();
        asleep.variant = "async(workers=1)+blocking-in-async".into();
        asleep.achieved = Stat::of([95.0]).unwrap();
        asleep.mechanism.cpu_user_us = Some(30.0);
        asleep.mechanism.cpu_sys_us = Some(20.0);
        asleep.mechanism.runnable = Some(0.02);
        assert_eq!(
            said(&asleep, &[&asleep], "runtime-held").unwrap(),
            "async(workers=1)+blocking-in-async: runtime lag max 320 ms with a run queue of only 0.020 on 1 core and 50.0 µs of CPU a request — a blocking call, not CPU work, held the only worker (it slept inside a handler)"
        );
        // Lag from many short requests at capacity, not from one long handler.
        let mut busy = g.clone();
        busy.achieved = Stat::of([48_000.0]).unwrap();
        busy.mechanism.cpu_user_us = Some(10.0);
        busy.mechanism.cpu_sys_us = Some(5.6);
        busy.mechanism.runnable = Some(1.07);
        busy.lag_max = Stat::of([27.5]);
        assert_eq!(
            said(&busy, &[&busy], "runtime-held").unwrap(),
            "async(workers=1): runtime lag max 27.5 ms at 0.75 of 1 core busy (15.6 µs of CPU a request × 48,000 req/s) — the only worker was kept busy by many short requests, not held by a long one"
        );
        // Runnable but its own work idle: another process had the core.
        let mut crowded = busy.clone();
        crowded.achieved = Stat::of([600.0]).unwrap();
        crowded.mechanism.runnable = Some(0.86);
        assert_eq!(
            said(&crowded, &[&crowded], "runtime-held").unwrap(),
            "async(workers=1): runtime lag max 27.5 ms with a run queue of 0.86 on 1 core while its own work kept only 0.0094 of it busy — the only worker waited for a CPU that another process held"
        );
        g.lag_max = Stat::of([3.0]);
        assert_eq!(said(&g, &[&g], "runtime-held"), None);
    }

    #[test]
    fn a_run_queue_deeper_than_the_cores_is_contention() {
        let mut g = group("blocking", "blocking(pool=16)", "threads=16", 64);
        g.mechanism.runnable = Some(15.1);
        g.mechanism.threads = Some(19.0);
        g.mechanism.running = Some(0.05);
        g.mechanism.waiting = Some(0.75);
        let peers = [&g];
        assert_eq!(
            said(&g, &peers, "cpu-contention").unwrap(),
            "blocking(pool=16): run queue 15.1 on 1 core (19.0 threads) — a thread that could run waited for a CPU 93.8 % of that time"
        );
        g.mechanism.runnable = Some(1.2);
        assert_eq!(said(&g, &[&g], "cpu-contention"), None);
    }

    #[test]
    fn a_busy_core_is_cpu_bound_and_an_idle_one_is_wait_bound() {
        let mut cpu = group("async", "async(workers=1)", "workers=1", 8);
        cpu.achieved = Stat::of([9000.0]).unwrap();
        cpu.mechanism.cpu_user_us = Some(95.0);
        cpu.mechanism.cpu_sys_us = Some(5.0);
        let peers = [&cpu];
        assert_eq!(
            said(&cpu, &peers, "cpu-bound").unwrap(),
            "async(workers=1): CPU-bound — 0.90 of 1 core busy (100 µs of CPU a request × 9,000 req/s), so more concurrency cannot add throughput"
        );
        let mut io = group("async", "async(workers=1)", "workers=1", 64);
        io.achieved = Stat::of([6300.0]).unwrap();
        io.mechanism.cpu_user_us = Some(4.0);
        io.mechanism.cpu_sys_us = Some(13.0);
        io.mechanism.blocked = Some(0.97);
        io.mechanism.p50_ms = Some(10.1);
        let peers = [&io];
        assert_eq!(
            said(&io, &peers, "wait-bound").unwrap(),
            "async(workers=1): its threads were blocked 97.0 % of the time and 0.11 of 1 core busy — waiting, not the CPU, set the pace: 64 connections at 10.1 ms p50 allow about 6,337 req/s (Little's law), and it served 6,300"
        );
        assert_eq!(said(&io, &peers, "cpu-bound"), None);
        assert_eq!(said(&cpu, &[&cpu], "wait-bound"), None);
    }

    #[test]
    fn kernel_cpu_and_switches_are_compared_with_the_leanest_style() {
        let mut no_pool = group("async", "async(workers=1)+no-pool", "workers=1", 32);
        no_pool.mechanism.cpu_user_us = Some(400.0);
        no_pool.mechanism.cpu_sys_us = Some(2800.0);
        no_pool.mechanism.ctx_voluntary = Some(0.5);
        no_pool.mechanism.cpu_tick_us = Some(5.0);
        let mut pooled = group("async", "async(workers=1)", "workers=1", 32);
        pooled.mechanism.cpu_user_us = Some(60.0);
        pooled.mechanism.cpu_sys_us = Some(40.0);
        pooled.mechanism.ctx_voluntary = Some(0.4);
        pooled.mechanism.cpu_tick_us = Some(1.0);
        let peers = [&no_pool, &pooled];
        assert_eq!(
            said(&no_pool, &peers, "kernel-heavy").unwrap(),
            "async(workers=1)+no-pool: 2.80 ms of kernel CPU a request, 70.0× async(workers=1)'s 40.0 µs (87.5 % of its CPU in the kernel) — a connection set up per call"
        );
        assert_eq!(said(&pooled, &peers, "kernel-heavy"), None);
        // A style whose requests mostly failed is not compared: its successes carry the
        // failures' cost.
        let mut failing = no_pool.clone();
        failing.errors = 200;
        assert_eq!(said(&failing, &[&failing, &pooled], "kernel-heavy"), None);
        assert_eq!(said(&failing, &[&failing, &pooled], "switches"), None);
        // A leanest figure of under three clock ticks' worth is too coarse to compare.
        let mut coarse = pooled.clone();
        coarse.mechanism.cpu_tick_us = Some(20.0);
        assert_eq!(said(&no_pool, &[&no_pool, &coarse], "kernel-heavy"), None);
        // A connection per call is set against its own pooled twin where there is one.
        let mut blocking_no_pool = group("blocking", "blocking(pool=64)+no-pool", "threads=64", 32);
        blocking_no_pool.mechanism.cpu_user_us = Some(40.0);
        blocking_no_pool.mechanism.cpu_sys_us = Some(120.0);
        blocking_no_pool.mechanism.cpu_tick_us = Some(1.0);
        let mut blocking_pooled = group("blocking", "blocking(pool=64)", "threads=64", 32);
        blocking_pooled.mechanism.cpu_user_us = Some(40.0);
        blocking_pooled.mechanism.cpu_sys_us = Some(84.0);
        blocking_pooled.mechanism.cpu_tick_us = Some(1.0);
        let four = [&blocking_no_pool, &blocking_pooled, &pooled];
        assert_eq!(
            said(&blocking_no_pool, &four, "kernel-heavy").unwrap(),
            "blocking(pool=64)+no-pool: 120 µs of kernel CPU a request, 1.43× blocking(pool=64)'s 84.0 µs (75.0 % of its CPU in the kernel) — a connection set up per call"
        );
        // Switches: 0.5 vs 0.4 is not twofold.
        assert_eq!(said(&no_pool, &peers, "switches"), None);
        let mut threads = group("blocking", "blocking(pool=128)", "threads=128", 64);
        threads.mechanism.ctx_voluntary = Some(1.91);
        threads.mechanism.threads = Some(131.0);
        let mut runtime = group("async", "async(workers=1)", "workers=1", 64);
        runtime.mechanism.ctx_voluntary = Some(0.63);
        runtime.mechanism.threads = Some(4.0);
        let peers = [&threads, &runtime];
        assert_eq!(
            said(&threads, &peers, "switches").unwrap(),
            "blocking(pool=128) made 1.91 voluntary context switches a request (131 threads), 3.03× async(workers=1)'s 0.63 (4.00 threads): each is a thread that stopped to wait and had to be woken"
        );
        assert_eq!(said(&runtime, &peers, "switches"), None);
    }

    #[test]
    fn knobs_are_read_by_name() {
        assert_eq!(knob("threads=16 header-read=10s", "threads"), Some(16));
        assert_eq!(knob("workers=2 offload=SpawnBlocking", "workers"), Some(2));
        assert_eq!(knob("thread-per-connection", "threads"), None);
    }
}
