//! The mock upstream dependency: answers any GET after a configurable latency
//! (fixed, uniform jitter, or exponential), fails a configurable fraction of calls
//! with 500, and counts hits (`GET /stats`).
//!
//! Latency samples and failures are deterministic functions of the hit number, so a
//! run can be repeated exactly.

pub mod fault;
pub mod latency;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

pub use fault::{FaultMode, FaultPhase};
pub use latency::Distribution;

use crate::service::Running;
use crate::sys::shutdown::Shutdown;

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
    /// Fault phases, timed from the upstream's start.
    pub faults: Vec<FaultPhase>,
    /// At most this many calls in progress; more are refused with 503 at once
    /// (a database's connection limit). None: no limit.
    pub max_inflight: Option<u32>,
    /// What one client may cost it (the same limits as the servers under test).
    pub limits: crate::net::Limits,
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
            faults: Vec::new(),
            max_inflight: None,
            limits: crate::net::Limits::default(),
        }
    }
}

/// Counters behind `GET /stats`, and the state the fault phases and limit need.
#[derive(Debug)]
pub struct Stats {
    hits: AtomicU64,
    errors: AtomicU64,
    rejected: AtomicU64,
    inflight: AtomicU64,
    started: tokio::time::Instant,
}

impl Stats {
    fn new() -> Self {
        Self {
            hits: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            inflight: AtomicU64::new(0),
            started: tokio::time::Instant::now(),
        }
    }
}

/// Decrements the in-flight count when a call ends, however it ends.
struct InflightGuard<'a>(&'a AtomicU64);

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The JSON body of `GET /stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatsSnapshot {
    /// Calls served (every path but `/stats` and `/health`).
    pub hits: u64,
    /// Calls answered with an injected 500 (error rate or an `error` fault).
    pub errors: u64,
    /// Calls refused with 503 over `max_inflight`.
    #[serde(default)]
    pub rejected: u64,
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
    let (grace, limits) = (config.grace, config.limits);
    let config = Arc::new(config);
    let stats = Arc::new(Stats::new());
    let handler = move |request: Request<Incoming>| {
        let config = config.clone();
        let stats = stats.clone();
        async move { answer(&request, &config, &stats).await }
    };
    crate::net::serve_http(
        listener,
        handler,
        limits,
        crate::net::Protocols::Http1,
        shutdown,
        grace,
    )
    .await
}

async fn answer(
    request: &Request<Incoming>,
    config: &UpstreamConfig,
    stats: &Stats,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let path = request.uri().path();
    match path {
        "/health" => return Ok(text(200, "ok\n".into())),
        "/stats" => {
            let snapshot = StatsSnapshot {
                hits: stats.hits.load(Ordering::SeqCst),
                errors: stats.errors.load(Ordering::SeqCst),
                rejected: stats.rejected.load(Ordering::SeqCst),
            };
            return Ok(text(
                200,
                serde_json::to_string(&snapshot).unwrap_or_default(),
            ));
        }
        _ => {}
    }
    let hit = stats.hits.fetch_add(1, Ordering::SeqCst);
    let inflight = stats.inflight.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = InflightGuard(&stats.inflight);
    if config
        .max_inflight
        .is_some_and(|limit| inflight > u64::from(limit))
    {
        stats.rejected.fetch_add(1, Ordering::SeqCst);
        return Ok(text(
            503,
            format!("too many calls in progress (limit {})\n", inflight - 1),
        ));
    }
    match fault::active(&config.faults, stats.started.elapsed()) {
        Some(phase) if phase.mode == FaultMode::Down => {
            return Err(std::io::Error::other("upstream is down (fault phase)"));
        }
        Some(phase) if phase.mode == FaultMode::Error => {
            stats.errors.fetch_add(1, Ordering::SeqCst);
            return Ok(text(500, format!("fault phase: error on call {hit}\n")));
        }
        Some(phase) => tokio::time::sleep_until(stats.started + phase.until()).await,
        None => {}
    }
    let delay = config
        .distribution
        .sample(config.latency, config.jitter, config.seed, hit);
    if !delay.is_zero() {
        // Even a zero sleep would wait for the timer's next 1 ms tick.
        tokio::time::sleep(delay).await;
    }
    if injects_error(hit, config.error_rate) {
        stats.errors.fetch_add(1, Ordering::SeqCst);
        Ok(text(500, format!("injected failure on call {hit}\n")))
    } else {
        Ok(text(200, format!("upstream {path}\n")))
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One GET on a fresh connection; the status code, or None if the upstream hung up.
    async fn status_of(addr: std::net::SocketAddr) -> Option<u16> {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(b"GET /item/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply).await;
        let text = String::from_utf8_lossy(&reply);
        text.split(' ').nth(1)?.parse().ok()
    }

    #[tokio::test(start_paused = true)]
    async fn fault_phases_switch_on_and_off_at_the_stated_times() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = UpstreamConfig {
            latency: Duration::ZERO,
            faults: vec![
                "from=1s,for=1s,mode=error".parse().unwrap(),
                "from=3s,for=1s,mode=down".parse().unwrap(),
            ],
            ..UpstreamConfig::default()
        };
        tokio::spawn(run(listener, config, std::future::pending()));
        tokio::task::yield_now().await;
        assert_eq!(status_of(addr).await, Some(200), "before the first phase");
        tokio::time::advance(Duration::from_millis(1_100)).await;
        assert_eq!(status_of(addr).await, Some(500), "during the error phase");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(status_of(addr).await, Some(200), "between phases");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(status_of(addr).await, None, "down: no answer at all");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(status_of(addr).await, Some(200), "after the last phase");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_holds_calls_until_the_phase_ends() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = UpstreamConfig {
            latency: Duration::ZERO,
            faults: vec!["from=0s,for=5s,mode=stall".parse().unwrap()],
            ..UpstreamConfig::default()
        };
        tokio::spawn(run(listener, config, std::future::pending()));
        let started = tokio::time::Instant::now();
        assert_eq!(status_of(addr).await, Some(200));
        assert!(
            started.elapsed() >= Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn errors_are_spread_evenly_at_the_rate() {
        let failed: Vec<u64> = (0..30).filter(|&hit| injects_error(hit, 0.1)).collect();
        assert_eq!(failed, vec![9, 19, 29]);
        assert!((0..100).all(|hit| !injects_error(hit, 0.0)));
        assert!((0..100).all(|hit| injects_error(hit, 1.0)));
    }
}
