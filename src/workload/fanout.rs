//! The `fanout` workload: F upstream calls issued in parallel (optionally at most N at
//! once) and aggregated into one body, like the articles' 40-source pipeline. What a
//! failed call does to the rest is the [`FanoutPolicy`] (claim C9).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::client::{item_path, AsyncUpstream, BlockingUpstream};
use super::thread_pool::ThreadPool;
use super::{Outcome, WorkloadError};

/// What a failed call does to the request.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum FanoutPolicy {
    /// Wait for every call, then fail if any failed (asyncio.gather's default shape).
    #[default]
    WaitAll,
    /// Fail at the first error and cancel the calls still running (a task group).
    FailFast,
    /// Wait for every call and answer with whatever succeeded (return_exceptions=True).
    CollectAll,
}

/// What one `/fanout` request fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutSpec {
    /// Upstream calls per request (F).
    pub calls: u32,
    /// At most this many calls in flight at once (none: all F at once).
    pub limit: Option<u32>,
    /// What a failure does.
    pub policy: FanoutPolicy,
}

impl FanoutSpec {
    /// How many calls run at once.
    pub fn concurrency(&self) -> u32 {
        self.limit.unwrap_or(self.calls).clamp(1, self.calls.max(1))
    }
}

type Indexed = (u32, Result<Bytes, WorkloadError>);

/// The pure core: aggregates the answers, in index order, into one body. Under
/// `CollectAll` failures are counted in the body; otherwise the first (by index) fails
/// the request.
fn aggregate(
    spec: &FanoutSpec,
    mut results: Vec<Indexed>,
    started: Instant,
) -> Result<Outcome, WorkloadError> {
    results.sort_by_key(|(index, _)| *index);
    let mut hasher = Sha256::new();
    let (mut bytes, mut ok, mut failed) = (0, 0u32, Vec::new());
    for (_, result) in results {
        match result {
            Ok(body) => {
                bytes += body.len();
                ok += 1;
                hasher.update(&body);
            }
            Err(error) if spec.policy == FanoutPolicy::CollectAll => failed.push(error),
            Err(error) => return Err(error),
        }
    }
    if ok == 0 {
        if let Some(first) = failed.into_iter().next() {
            return Err(first);
        }
    } else if !failed.is_empty() {
        return Ok(Outcome {
            body: format!(
                "fanout calls={} ok={ok} failed={} upstream_bytes={bytes} sha256={}\n",
                spec.calls,
                failed.len(),
                hex::encode(hasher.finalize())
            ),
            waited: started.elapsed(),
        });
    }
    Ok(Outcome {
        body: format!(
            "fanout calls={} upstream_bytes={bytes} sha256={}\n",
            spec.calls,
            hex::encode(hasher.finalize())
        ),
        waited: started.elapsed(),
    })
}

/// The blocking face: jobs on a bounded thread pool (as many as the concurrency) take
/// calls in turn; under `FailFast` they stop taking new calls after the first failure
/// (a blocking call in progress cannot be cancelled). The caller's thread waits.
pub fn blocking(
    spec: &FanoutSpec,
    upstream: &BlockingUpstream,
    pool: &ThreadPool,
) -> Result<Outcome, WorkloadError> {
    let started = Instant::now();
    let shared = Arc::new(Fan {
        spec: *spec,
        upstream: upstream.clone(),
        next: AtomicU32::new(0),
        failed: AtomicBool::new(false),
    });
    let (done, finished) = std::sync::mpsc::channel::<Vec<Indexed>>();
    let jobs = spec.concurrency();
    for _ in 0..jobs {
        let (shared, done) = (shared.clone(), done.clone());
        pool.execute(move || {
            let _ = done.send(shared.take_calls());
        });
    }
    drop(done);
    let mut indexed = Vec::new();
    let mut reported = 0;
    // Ends when every job has reported, or when a panicking job dropped its sender.
    while let Ok(part) = finished.recv() {
        indexed.extend(part);
        reported += 1;
    }
    if reported < jobs {
        return Err(WorkloadError::Offload("a fan-out thread panicked".into()));
    }
    aggregate(spec, indexed, started)
}

/// What the jobs of one blocking fan-out share.
struct Fan {
    spec: FanoutSpec,
    upstream: BlockingUpstream,
    next: AtomicU32,
    failed: AtomicBool,
}

impl Fan {
    /// Takes calls in turn until none is left (or, failing fast, one failed).
    fn take_calls(&self) -> Vec<Indexed> {
        let fail_fast = self.spec.policy == FanoutPolicy::FailFast;
        let mut done = Vec::new();
        loop {
            if fail_fast && self.failed.load(Ordering::Relaxed) {
                return done;
            }
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.spec.calls {
                return done;
            }
            let result = self.upstream.get(&item_path(index));
            if result.is_err() {
                self.failed.store(true, Ordering::Relaxed);
            }
            done.push((index, result));
        }
    }
}

/// The async face: F futures, at most `concurrency` polled at once. Under `FailFast`
/// the first failure returns at once and drops (cancels) the calls still running.
pub async fn asynchronous(
    spec: &FanoutSpec,
    upstream: &AsyncUpstream,
) -> Result<Outcome, WorkloadError> {
    let started = Instant::now();
    let mut calls = futures_util::stream::iter(0..spec.calls)
        .map(|index| async move { (index, upstream.get(&item_path(index)).await) })
        .buffer_unordered(spec.concurrency() as usize);
    let mut results = Vec::with_capacity(spec.calls as usize);
    while let Some((index, result)) = calls.next().await {
        if spec.policy == FanoutPolicy::FailFast {
            if let Err(error) = result {
                return Err(error);
            }
        }
        results.push((index, result));
    }
    aggregate(spec, results, started)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(calls: u32, limit: Option<u32>, policy: FanoutPolicy) -> FanoutSpec {
        FanoutSpec {
            calls,
            limit,
            policy,
        }
    }

    #[test]
    fn concurrency_defaults_to_all_calls_and_never_zero() {
        assert_eq!(spec(40, None, FanoutPolicy::WaitAll).concurrency(), 40);
        assert_eq!(spec(40, Some(10), FanoutPolicy::WaitAll).concurrency(), 10);
        assert_eq!(spec(0, Some(0), FanoutPolicy::WaitAll).concurrency(), 1);
    }

    #[test]
    fn aggregate_orders_by_index_and_applies_the_policy() {
        let wait_all = spec(2, None, FanoutPolicy::WaitAll);
        let ab = aggregate(
            &wait_all,
            vec![(0, Ok("a".into())), (1, Ok("b".into()))],
            Instant::now(),
        )
        .unwrap();
        let shuffled = aggregate(
            &wait_all,
            vec![(1, Ok("b".into())), (0, Ok("a".into()))],
            Instant::now(),
        )
        .unwrap();
        assert_eq!(ab.body, shuffled.body, "arrival order does not matter");
        let ba = aggregate(
            &wait_all,
            vec![(0, Ok("b".into())), (1, Ok("a".into()))],
            Instant::now(),
        )
        .unwrap();
        assert_ne!(ab.body, ba.body, "content order does");
        let partial = vec![(0, Ok("a".into())), (1, Err(WorkloadError::NoUpstream))];
        assert_eq!(
            aggregate(&wait_all, partial.clone(), Instant::now()).unwrap_err(),
            WorkloadError::NoUpstream
        );
        let collect = spec(2, None, FanoutPolicy::CollectAll);
        let body = aggregate(&collect, partial, Instant::now()).unwrap().body;
        assert!(body.starts_with("fanout calls=2 ok=1 failed=1 "), "{body}");
        let all_failed = vec![(0, Err(WorkloadError::NoUpstream))];
        assert!(aggregate(&collect, all_failed, Instant::now()).is_err());
    }
}
