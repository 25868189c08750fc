//! `sabench pipeline`: the articles' batch program — fetch F sources, then transform —
//! timed the ways they compare (C3, C12), plus what one failing source does under
//! fail-fast versus collect-all (C9). Every way fetches the same sources from an
//! in-process mock upstream on loopback and reuses the `fanout` workload's faces.

use std::time::{Duration, Instant};

use crate::upstream::{self, UpstreamConfig};
use crate::workload::thread_pool::ThreadPool;
use crate::workload::{
    cpu, fanout, AsyncUpstream, BlockingUpstream, ClientOptions, CpuSpec, FanoutPolicy, FanoutSpec,
    Outcome, WorkloadError,
};

/// What the pipeline does; also a scenario's `[pipeline]` table, where every key is
/// optional (these defaults) and the transform is not a key (always the default).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineOptions {
    /// Sources fetched (F).
    pub sources: u32,
    /// Each source's latency.
    #[serde(with = "humantime_serde")]
    pub latency: Duration,
    /// Threads of the thread-pool way.
    pub threads: u32,
    /// At most this many fetches at once in the semaphore way.
    pub limit: u32,
    /// Fraction of failing sources in the C9 ways.
    pub error_rate: f64,
    /// SHA-256 rounds of the transform step.
    #[serde(skip)]
    pub transform_rounds: u32,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            sources: 40,
            latency: Duration::from_millis(50),
            threads: 8,
            limit: 10,
            error_rate: 0.1,
            transform_rounds: 10_000,
        }
    }
}

/// How one way did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timing {
    /// The way, e.g. `sequential (blocking)`.
    pub way: String,
    /// The claim it speaks to.
    pub claim: String,
    /// Wall time of fetch + transform, ms.
    pub wall_ms: f64,
    /// Sources whose results came back.
    pub results: u32,
    /// Sources asked for.
    pub sources: u32,
    /// Which run of the pipeline, from 1 (a scenario's `repetitions`).
    #[serde(default = "first")]
    pub repetition: u32,
}

fn first() -> u32 {
    1
}

impl Timing {
    /// A metric by its name in scenario pairs: `wall_ms`, `results`, or `results_lost`
    /// (sources asked for whose results did not come back).
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "wall_ms" => Some(self.wall_ms),
            "results" => Some(f64::from(self.results)),
            "results_lost" => Some(f64::from(self.sources.saturating_sub(self.results))),
            _ => None,
        }
    }
}

/// How many results an outcome carries.
fn results_of(outcome: &Result<Outcome, WorkloadError>, sources: u32) -> u32 {
    match outcome {
        Err(_) => 0,
        Ok(outcome) => outcome
            .body
            .split_whitespace()
            .find_map(|field| field.strip_prefix("ok="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(sources),
    }
}

fn timed(
    way: &str,
    claim: &str,
    sources: u32,
    run: impl FnOnce() -> Result<Outcome, WorkloadError>,
) -> Timing {
    let started = Instant::now();
    let outcome = run();
    Timing {
        way: way.to_string(),
        claim: claim.to_string(),
        wall_ms: started.elapsed().as_secs_f64() * 1000.0,
        results: results_of(&outcome, sources),
        sources,
        repetition: 1,
    }
}

/// Runs every way and returns their timings, in order.
pub fn run(options: &PipelineOptions) -> anyhow::Result<Vec<Timing>> {
    let clean = upstream::spawn(UpstreamConfig {
        latency: options.latency,
        ..UpstreamConfig::default()
    })?;
    let failing = upstream::spawn(UpstreamConfig {
        latency: options.latency,
        error_rate: options.error_rate,
        ..UpstreamConfig::default()
    })?;
    let timeout = options.latency * 20 + Duration::from_secs(5);
    let transform = CpuSpec {
        rounds: options.transform_rounds,
    };
    let spec = |limit: Option<u32>, policy: FanoutPolicy| FanoutSpec {
        calls: options.sources,
        limit,
        policy,
    };
    let blocking_client = |base: String, idle: u32| {
        BlockingUpstream::new(&ClientOptions::plain(Some(base), timeout), idle as usize)
    };
    let f = options.sources;
    let then_transform = |fetched: Result<Outcome, WorkloadError>| {
        fetched.inspect(|_| {
            let _ = cpu::run(transform);
        })
    };
    let mut timings = Vec::new();
    let client = blocking_client(clean.base_url(), options.threads);
    let one_thread = ThreadPool::new(1, "pipeline-sequential");
    timings.push(timed("sequential (blocking)", "C3", f, || {
        then_transform(fanout::blocking(
            &spec(Some(1), FanoutPolicy::WaitAll),
            &client,
            &one_thread,
        ))
    }));
    let threads = ThreadPool::new(options.threads as usize, "pipeline-pool");
    timings.push(timed(
        &format!("thread pool of {} (blocking)", options.threads),
        "C3",
        f,
        || {
            then_transform(fanout::blocking(
                &spec(Some(options.threads), FanoutPolicy::WaitAll),
                &client,
                &threads,
            ))
        },
    ));
    // The fair twin of "all at once": a pool with a thread per source, so blocking
    // fetches them all at once too (the articles compare async with sequential only).
    let per_source = ThreadPool::new(f as usize, "pipeline-per-source");
    let wide_client = blocking_client(clean.base_url(), f);
    timings.push(timed(
        &format!("thread pool of {f}, one per source (blocking)"),
        "C3",
        f,
        || {
            then_transform(fanout::blocking(
                &spec(None, FanoutPolicy::WaitAll),
                &wide_client,
                &per_source,
            ))
        },
    ));
    // Async ways: a runtime that lives for the whole program (the "async rewrite") …
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let async_client = runtime.block_on(async {
        AsyncUpstream::new(&ClientOptions::plain(Some(clean.base_url()), timeout))
    });
    timings.push(timed("async, all at once (join)", "C3", f, || {
        then_transform(runtime.block_on(fanout::asynchronous(
            &spec(None, FanoutPolicy::WaitAll),
            &async_client,
        )))
    }));
    timings.push(timed(
        &format!("async, semaphore of {}", options.limit),
        "C7",
        f,
        || {
            then_transform(runtime.block_on(fanout::asynchronous(
                &spec(Some(options.limit), FanoutPolicy::WaitAll),
                &async_client,
            )))
        },
    ));
    // … and "surgical async": a sync program that builds a runtime just for the fetch.
    let base = clean.base_url();
    timings.push(timed(
        "sync main, block_on for the fetch only",
        "C12",
        f,
        || {
            let fetched = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| WorkloadError::Offload(e.to_string()))
                .and_then(|section| {
                    section.block_on(async {
                        let client =
                            AsyncUpstream::new(&ClientOptions::plain(Some(base.clone()), timeout));
                        fanout::asynchronous(&spec(None, FanoutPolicy::WaitAll), &client).await
                    })
                });
            then_transform(fetched)
        },
    ));
    let failing_client = runtime.block_on(async {
        AsyncUpstream::new(&ClientOptions::plain(Some(failing.base_url()), timeout))
    });
    // C9 twice: under the semaphore (collect waits for every wave, fail fast stops in
    // the first), and without it (every source in one wave), which says how much of
    // fail fast's head start is the bound's waves rather than the cancelling.
    for (way, policy, limit) in [
        (
            "async, fail fast (task group)",
            FanoutPolicy::FailFast,
            Some(options.limit),
        ),
        (
            "async, collect every result (return_exceptions)",
            FanoutPolicy::CollectAll,
            Some(options.limit),
        ),
        (
            "async unbounded, fail fast (task group, every source at once)",
            FanoutPolicy::FailFast,
            None,
        ),
        (
            "async unbounded, collect every result (every source at once)",
            FanoutPolicy::CollectAll,
            None,
        ),
    ] {
        timings.push(timed(way, "C9", f, || {
            then_transform(
                runtime.block_on(fanout::asynchronous(&spec(limit, policy), &failing_client)),
            )
        }));
    }
    drop(runtime);
    clean.stop()?;
    failing.stop()?;
    Ok(timings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_fetches_and_the_parallel_ones_beat_sequential() {
        let options = PipelineOptions {
            sources: 8,
            latency: Duration::from_millis(20),
            threads: 4,
            limit: 4,
            error_rate: 0.25,
            transform_rounds: 10,
        };
        let timings = run(&options).unwrap();
        assert_eq!(timings.len(), 10);
        let by = |way: &str| timings.iter().find(|t| t.way.starts_with(way)).unwrap();
        assert_eq!(by("sequential").results, 8);
        assert!(by("sequential").wall_ms >= 8.0 * 20.0);
        // All at once needs one round of 20 ms, sequential at least eight.
        assert!(by("async, all at once").wall_ms < by("sequential").wall_ms);
        assert_eq!(by("thread pool of 8, one per source").results, 8);
        assert_eq!(by("async, fail fast").metric("results_lost"), Some(8.0));
        assert_eq!(by("async, collect").metric("results_lost"), Some(2.0));
        assert_eq!(by("sync main").results, 8);
        assert_eq!(
            by("async, fail fast").results,
            0,
            "one failure fails the whole fetch"
        );
        assert_eq!(
            by("async, collect").results,
            6,
            "two of eight sources fail at 25 %"
        );
        // Without the semaphore the same policies, on the same failing sources.
        assert_eq!(by("async unbounded, fail fast").results, 0);
        assert_eq!(by("async unbounded, collect").results, 6);
    }

    #[test]
    fn a_scenario_table_takes_what_it_gives_and_the_defaults_for_the_rest() {
        let options: PipelineOptions = toml::from_str("sources = 8\nlatency = \"20ms\"\n").unwrap();
        assert_eq!(options.sources, 8);
        assert_eq!(options.latency, Duration::from_millis(20));
        let defaults = PipelineOptions::default();
        assert_eq!(options.transform_rounds, defaults.transform_rounds);
        assert_eq!(options.limit, defaults.limit);
        assert!(toml::from_str::<PipelineOptions>("transform_rounds = 5\n").is_err());
    }
}
