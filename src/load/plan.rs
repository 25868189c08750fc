//! The plan every worker of a run shares: where to connect, what to send, the
//! schedule, and when the warm-up, the window and the drain begin and end; built once
//! from a [`LoadConfig`] (by the local run and by each shard of a split one).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::Connection;
use super::pacer::Schedule;
use super::ramp::{self, Ramp, HELD_BUFFER};
use super::{target, tls, LoadConfig, LoadError, Target};

/// What every worker of a run shares.
pub(crate) struct Plan {
    /// Where to connect.
    pub addr: SocketAddr,
    /// A Unix-domain socket to connect to instead of `addr` (`--unix-socket`).
    pub unix_socket: Option<std::path::PathBuf>,
    /// The requests (one per URL of the mix), picked per request.
    pub requests: super::target::Requests,
    /// Connections over every worker (of every generator process).
    pub connections: usize,
    /// The arrival process.
    pub schedule: Schedule,
    /// Time zero of the schedule (the warm-up begins here).
    pub start: Instant,
    /// End of warm-up: requests intended from here on are measured.
    pub measure_start: Instant,
    /// No request is intended at or after this instant.
    pub end: Option<Instant>,
    /// Requests in flight at `end` may finish until here; then they count as unfinished.
    pub drain_until: Option<Instant>,
    /// At most this many measured requests.
    pub max_requests: Option<u64>,
    /// Measured requests issued so far (all workers).
    pub issued: AtomicU64,
    /// Bound on one exchange.
    pub timeout: Duration,
    /// Bound on one connect.
    pub connect_timeout: Duration,
    /// Set from outside to end the run early.
    pub stop: Option<Arc<AtomicBool>>,
    /// CPUs the worker threads are pinned to.
    pub cpus: Vec<usize>,
    /// Connection scale: every connection opens first, on this ramp, and is held (None:
    /// each opens at its first request).
    pub ramp: Option<Ramp>,
    /// How arrivals are spaced.
    pub arrival: super::pacer::Arrival,
    /// The run's seed (Poisson gaps).
    pub seed: u64,
    /// Keep every intended send time (for `--send-log`).
    pub log_sends: bool,
    /// HTTPS: what every connection's TLS session shares (None: plain HTTP).
    pub tls: Option<super::tls::TlsClient>,
    /// How much of a response is read before the request fails as `too_large`.
    pub read_limits: super::client::ReadLimits,
    /// HTTP/2: the streams per connection, the TLS connector and the requests (None:
    /// HTTP/1.1).
    pub http2: Option<super::http2::Http2Plan>,
    /// Testing only: the connection that takes this request number panics once it is
    /// sent (see [`super::LoadConfig::inject_panic_at_request`]).
    pub panic_at_request: Option<u64>,
}

impl Plan {
    /// Request slots a connection carries: HTTP/2's streams, or 1.
    pub(crate) fn streams(&self) -> usize {
        self.http2.as_ref().map_or(1, |h2| h2.streams)
    }

    /// Whether the run's stop flag is set (Ctrl-C).
    pub(crate) fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|stop| stop.load(Ordering::Relaxed))
    }

    /// Opens connection `index` (over every worker): from the ramp's source address and
    /// with a small buffer when connections are held, as usual otherwise.
    pub(crate) async fn open(&self, index: usize) -> std::io::Result<Connection> {
        let tls = self.tls.as_ref();
        if let Some(path) = &self.unix_socket {
            let buffer = if self.ramp.is_some() {
                HELD_BUFFER
            } else {
                super::client::BUFFER
            };
            let connection = Connection::connect_unix(path, buffer, tls).await?;
            return Ok(connection.with_limits(self.read_limits));
        }
        let connection = match &self.ramp {
            Some(ramp) => {
                Connection::connect_with(self.addr, ramp.source(index), HELD_BUFFER, tls).await
            }
            None => Connection::connect_over(self.addr, tls).await,
        }?;
        Ok(connection.with_limits(self.read_limits))
    }
}

impl Plan {
    /// The plan of a run of `config` against `target` whose connections start opening
    /// (or, with no ramp, whose schedule starts) at `start`, over `tls` when it is HTTPS.
    pub(crate) fn new(
        config: &LoadConfig,
        target: &Target,
        start: Instant,
        tls: Option<tls::TlsClient>,
    ) -> Result<Self, LoadError> {
        let (ramp, start, measure_start) = timing(config, target.addr, start);
        let end = config.duration.map(|d| measure_start + d);
        let (requests, targets) = requests_of(config, target)?;
        let http2 = match config.protocol {
            super::http2::Protocol::Http1 => None,
            super::http2::Protocol::Http2 => Some(super::http2::Http2Plan::new(
                &targets,
                &config.request,
                config.streams,
                tls.as_ref(),
            )?),
        };
        Ok(Plan {
            addr: target.addr,
            unix_socket: config.unix_socket.clone(),
            requests,
            connections: config.connections,
            schedule: config.schedule.clone(),
            start,
            measure_start,
            end,
            drain_until: end.map(|end| end + config.drain()),
            max_requests: config.requests,
            issued: AtomicU64::new(0),
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            stop: config.stop.clone(),
            cpus: config.cpus.clone(),
            ramp,
            arrival: config.arrival,
            seed: config.seed,
            log_sends: config.send_log.is_some(),
            tls,
            read_limits: config.read_limits,
            http2,
            panic_at_request: config.inject_panic_at_request,
        })
    }
}

/// When a run of `config` against `addr` begins, if its connections start opening (or,
/// with no ramp, its schedule starts) at `start`: its ramp, the schedule's start and the
/// measured window's. With a ramp the schedule starts once every connection has had its
/// turn to open, and a moment to settle.
pub(crate) fn timing(
    config: &LoadConfig,
    addr: std::net::SocketAddr,
    start: Instant,
) -> (Option<ramp::Ramp>, Instant, Instant) {
    let ramp = config
        .ramp
        .map(|per_second| ramp::Ramp::new(start, per_second, config.connections, addr));
    let start = ramp.as_ref().map_or(start, ramp::Ramp::schedule_start);
    (ramp, start, start + config.warmup)
}

/// The requests of `config`: its URL's, or one per URL of its mix (all on the
/// target's address), each with the method, headers and body asked for; and the
/// URLs' targets.
fn requests_of(
    config: &LoadConfig,
    target: &Target,
) -> Result<(target::Requests, Vec<Target>), LoadError> {
    let urls: Vec<(f64, String)> = if config.mix.is_empty() {
        vec![(1.0, config.url.clone())]
    } else {
        config.mix.clone()
    };
    let mut targets = Vec::new();
    for (_, url) in &urls {
        let each = Target::with_request(url, config.allow_remote, &config.request)?;
        if each.addr != target.addr {
            return Err(LoadError::BadUrl {
                url: url.clone(),
                reason: format!(
                    "every URL of a mix must be on one address ({}), as they share the connections",
                    target.addr
                ),
            });
        }
        targets.push(each);
    }
    let weights: Vec<f64> = urls.iter().map(|(w, _)| *w).collect();
    let requests = target::Requests::new(&targets, &weights, &config.request, config.seed);
    Ok((requests, targets))
}
