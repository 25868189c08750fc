//! The `fanout` workload: F upstream calls issued in parallel (optionally at most N at
//! once) and aggregated into one body, like the articles' 40-source pipeline.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::client::{item_path, AsyncUpstream, BlockingUpstream};
use super::{Outcome, WorkloadError};

/// What one `/fanout` request fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutSpec {
    /// Upstream calls per request (F).
    pub calls: u32,
    /// At most this many calls in flight at once (none: all F at once).
    pub limit: Option<u32>,
}

impl FanoutSpec {
    /// How many calls run at once.
    pub fn concurrency(&self) -> u32 {
        self.limit.unwrap_or(self.calls).clamp(1, self.calls.max(1))
    }
}

/// The pure core: aggregates the F answers, in index order, into one body.
/// The first failure (by index) fails the whole request.
fn aggregate(
    spec: &FanoutSpec,
    results: Vec<Result<Bytes, WorkloadError>>,
    started: Instant,
) -> Result<Outcome, WorkloadError> {
    let mut hasher = Sha256::new();
    let mut bytes = 0;
    for result in results {
        let body = result?;
        bytes += body.len();
        hasher.update(&body);
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

/// The blocking face: scoped OS threads (as many as the concurrency) take calls in turn.
pub fn blocking(spec: &FanoutSpec, upstream: &BlockingUpstream) -> Result<Outcome, WorkloadError> {
    let started = Instant::now();
    let next = AtomicU32::new(0);
    let mut indexed: Vec<(u32, Result<Bytes, WorkloadError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..spec.concurrency())
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= spec.calls {
                            return done;
                        }
                        done.push((index, upstream.get(&item_path(index))));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap_or_default())
            .collect()
    });
    if indexed.len() != spec.calls as usize {
        return Err(WorkloadError::Offload("a fan-out thread panicked".into()));
    }
    indexed.sort_by_key(|(index, _)| *index);
    aggregate(spec, indexed.into_iter().map(|(_, r)| r).collect(), started)
}

/// The async face: F futures, at most `concurrency` polled at once, joined in order.
pub async fn asynchronous(
    spec: &FanoutSpec,
    upstream: &AsyncUpstream,
) -> Result<Outcome, WorkloadError> {
    let started = Instant::now();
    let results = futures_util::stream::iter(0..spec.calls)
        .map(|index| async move { upstream.get(&item_path(index)).await })
        .buffered(spec.concurrency() as usize)
        .collect()
        .await;
    aggregate(spec, results, started)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_defaults_to_all_calls_and_never_zero() {
        let all = FanoutSpec {
            calls: 40,
            limit: None,
        };
        assert_eq!(all.concurrency(), 40);
        let limited = FanoutSpec {
            calls: 40,
            limit: Some(10),
        };
        assert_eq!(limited.concurrency(), 10);
        let zero = FanoutSpec {
            calls: 0,
            limit: Some(0),
        };
        assert_eq!(zero.concurrency(), 1);
    }

    #[test]
    fn aggregate_is_order_sensitive_and_fails_on_any_error() {
        let spec = FanoutSpec {
            calls: 2,
            limit: None,
        };
        let ab = aggregate(&spec, vec![Ok("a".into()), Ok("b".into())], Instant::now()).unwrap();
        let ba = aggregate(&spec, vec![Ok("b".into()), Ok("a".into())], Instant::now()).unwrap();
        assert_ne!(ab.body, ba.body);
        let failed = aggregate(
            &spec,
            vec![Ok("a".into()), Err(WorkloadError::NoUpstream)],
            Instant::now(),
        );
        assert_eq!(failed.unwrap_err(), WorkloadError::NoUpstream);
    }
}
