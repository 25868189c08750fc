//! The mock upstream dependency: answers any GET after a configurable latency
//! (fixed, uniform jitter, or exponential), fails a configurable fraction of calls
//! with 500, and counts hits (`GET /stats`).
//!
//! Latency samples and failures are deterministic functions of the hit number, so a
//! run can be repeated exactly.

pub mod latency;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

pub use latency::Distribution;

use crate::service::Running;
use crate::shutdown::Shutdown;

/// How the mock upstream behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    /// Typical latency of one call (the mean for `exponential`).
    pub latency: Duration,
    /// Spread for `uniform`: latency ± jitter.
    pub jitter: Duration,
    /// How latencies are drawn.
    pub distribution: Distribution,
    /// Fraction of calls (0.0–1.0) answered with HTTP 500, spread evenly.
    pub error_rate: f64,
    /// Seed for the latency samples.
    pub seed: u64,
    /// How long a graceful shutdown waits for in-flight calls.
    pub grace: Duration,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
            distribution: Distribution::Fixed,
            error_rate: 0.0,
            seed: 1,
            grace: Duration::from_secs(5),
        }
    }
}

/// Counters behind `GET /stats`.
#[derive(Debug, Default)]
pub struct Stats {
    hits: AtomicU64,
    errors: AtomicU64,
}

/// The JSON body of `GET /stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// Calls served (every path but `/stats` and `/health`).
    pub hits: u64,
    /// Calls answered with an injected 500.
    pub errors: u64,
}

/// Whether the `hit`-th call (from 0) fails, for failures spread evenly at `rate`.
pub fn injects_error(hit: u64, rate: f64) -> bool {
    let rate = rate.clamp(0.0, 1.0);
    ((hit + 1) as f64 * rate).floor() > (hit as f64 * rate).floor()
}

/// Serves the mock upstream on `listener` until `shutdown` completes.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: UpstreamConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let grace = config.grace;
    let config = Arc::new(config);
    let stats = Arc::new(Stats::default());
    let handler = move |request: Request<Incoming>| {
        let config = config.clone();
        let stats = stats.clone();
        async move { answer(&request, &config, &stats).await }
    };
    crate::net::serve_http1(listener, handler, shutdown, grace).await
}

async fn answer(
    request: &Request<Incoming>,
    config: &UpstreamConfig,
    stats: &Stats,
) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    match path {
        "/health" => text(200, "ok\n".into()),
        "/stats" => {
            let snapshot = StatsSnapshot {
                hits: stats.hits.load(Ordering::SeqCst),
                errors: stats.errors.load(Ordering::SeqCst),
            };
            text(200, serde_json::to_string(&snapshot).unwrap_or_default())
        }
        _ => {
            let hit = stats.hits.fetch_add(1, Ordering::SeqCst);
            let delay = config
                .distribution
                .sample(config.latency, config.jitter, config.seed, hit);
            tokio::time::sleep(delay).await;
            if injects_error(hit, config.error_rate) {
                stats.errors.fetch_add(1, Ordering::SeqCst);
                text(500, format!("injected failure on call {hit}\n"))
            } else {
                text(200, format!("upstream {path}\n"))
            }
        }
    }
}

fn text(status: u16, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// Serves the mock upstream on `listener` until `shutdown` triggers, on its own
/// runtime with `workers` threads (blocks the caller).
pub fn serve(
    listener: std::net::TcpListener,
    config: UpstreamConfig,
    workers: usize,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let grace = config.grace;
    crate::net::block_on_listener(listener, workers, "upstream-worker", grace, |listener| {
        run(listener, config, async move { shutdown.wait().await })
    })
}

/// Starts the mock upstream in-process on 127.0.0.1 with an OS-chosen port.
pub fn spawn(config: UpstreamConfig) -> std::io::Result<Running> {
    Running::spawn_ephemeral("upstream", move |listener, shutdown| {
        serve(listener, config, 1, shutdown)
    })
}

/// Reads `GET /stats` from an upstream at `base_url` (a plain blocking call).
pub fn fetch_stats(base_url: &str) -> anyhow::Result<StatsSnapshot> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let body = agent
        .get(&format!("{base_url}/stats"))
        .call()?
        .body_mut()
        .read_to_string()?;
    Ok(serde_json::from_str(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_spread_evenly_at_the_rate() {
        let failed: Vec<u64> = (0..30).filter(|&hit| injects_error(hit, 0.1)).collect();
        assert_eq!(failed, vec![9, 19, 29]);
        assert!((0..100).all(|hit| !injects_error(hit, 0.0)));
        assert!((0..100).all(|hit| injects_error(hit, 1.0)));
    }
}
