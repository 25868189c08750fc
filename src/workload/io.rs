//! The `io` workload: K sequential waits of latency L, the way a handler queries a
//! database. A wait is either an in-process timer (`sleep`) or a real HTTP GET to the
//! mock upstream (`upstream`). The achieved wait is measured, so a timer difference
//! between styles is never mistaken for a style difference.

use std::time::{Duration, Instant};

use super::client::{item_path, AsyncUpstream, BlockingUpstream};
use super::{Outcome, WorkloadError};

/// How one wait happens.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum IoMode {
    /// An in-process timer: `std::thread::sleep` or `tokio::time::sleep`.
    Sleep,
    /// A GET to the upstream, whose own latency setting applies.
    Upstream,
}

/// What one `/io` request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoSpec {
    /// Sequential waits per request (K).
    pub calls: u32,
    /// Latency of each wait in `sleep` mode (L); in `upstream` mode the upstream sets it.
    pub latency: Duration,
    /// Timer or upstream.
    pub mode: IoMode,
}

/// Folds the results of the K waits into the response body (the pure core).
#[derive(Debug, Default)]
struct Tally {
    bytes: usize,
}

impl Tally {
    fn add(&mut self, body: &[u8]) {
        self.bytes += body.len();
    }

    fn finish(self, spec: &IoSpec, started: Instant) -> Outcome {
        let body = match spec.mode {
            IoMode::Sleep => format!(
                "io mode=sleep calls={} latency_us={}\n",
                spec.calls,
                spec.latency.as_micros()
            ),
            IoMode::Upstream => format!(
                "io mode=upstream calls={} upstream_bytes={}\n",
                spec.calls, self.bytes
            ),
        };
        Outcome {
            body,
            waited: started.elapsed(),
        }
    }
}

/// The blocking face: waits on the calling thread.
pub fn blocking(spec: &IoSpec, upstream: &BlockingUpstream) -> Result<Outcome, WorkloadError> {
    let started = Instant::now();
    let mut tally = Tally::default();
    for call in 0..spec.calls {
        match spec.mode {
            IoMode::Sleep => std::thread::sleep(spec.latency),
            IoMode::Upstream => tally.add(&upstream.get(&item_path(call))?),
        }
    }
    Ok(tally.finish(spec, started))
}

/// The async face: awaits, leaving the worker thread free for other tasks.
pub async fn asynchronous(
    spec: &IoSpec,
    upstream: &AsyncUpstream,
) -> Result<Outcome, WorkloadError> {
    let started = Instant::now();
    let mut tally = Tally::default();
    for call in 0..spec.calls {
        match spec.mode {
            // The shared alarm clock, not tokio's timer, which rounds every wait up to a
            // whole millisecond: the same precision as the blocking style's std sleep.
            IoMode::Sleep => {
                crate::sys::alarm::shared()
                    .sleep_until(Instant::now() + spec.latency)
                    .await
            }
            IoMode::Upstream => tally.add(&upstream.get(&item_path(call)).await?),
        }
    }
    Ok(tally.finish(spec, started))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::ClientOptions;

    fn sleep_spec() -> IoSpec {
        IoSpec {
            calls: 2,
            latency: Duration::from_millis(5),
            mode: IoMode::Sleep,
        }
    }

    #[test]
    fn blocking_sleep_waits_at_least_k_times_l() {
        let client = BlockingUpstream::new(&ClientOptions::plain(None, Duration::from_secs(1)), 1);
        let outcome = blocking(&sleep_spec(), &client).unwrap();
        assert!(outcome.waited >= Duration::from_millis(10));
        assert_eq!(outcome.body, "io mode=sleep calls=2 latency_us=5000\n");
    }

    #[tokio::test]
    async fn async_sleep_renders_the_same_body() {
        let client = AsyncUpstream::new(&ClientOptions::plain(None, Duration::from_secs(1)));
        let outcome = asynchronous(&sleep_spec(), &client).await.unwrap();
        assert!(outcome.waited >= Duration::from_millis(10));
        assert_eq!(outcome.body, "io mode=sleep calls=2 latency_us=5000\n");
    }

    #[test]
    fn upstream_mode_without_upstream_says_how_to_fix_it() {
        let spec = IoSpec {
            mode: IoMode::Upstream,
            ..sleep_spec()
        };
        let client = BlockingUpstream::new(&ClientOptions::plain(None, Duration::from_secs(1)), 1);
        let err = blocking(&spec, &client).unwrap_err();
        assert_eq!(err, WorkloadError::NoUpstream);
        assert!(err.body().contains("--upstream"));
    }
}
