//! The business logic every style serves, identical across styles.
//!
//! Each workload is a pure core (what to do, how to render the body) with a blocking
//! face and an async face that differ only in how they wait. Bodies depend only on the
//! configuration and the upstream's answers, so every style returns the same bytes.

pub mod breaker;
pub mod client;
pub mod cpu;
pub mod db;
pub mod fanout;
pub mod io;
pub mod mixed;
pub mod thread_pool;

use std::time::Duration;

pub use breaker::{BreakerSpec, CircuitBreaker};
pub use client::{AsyncUpstream, BlockingUpstream, ClientOptions};
pub use cpu::CpuSpec;
pub use db::{DbError, DbSpec};
pub use fanout::{FanoutPolicy, FanoutSpec};
pub use io::{IoMode, IoSpec};

/// The routes every style serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// No work: the HTTP stack's own cost.
    Null,
    /// K sequential waits (timer or upstream).
    Io,
    /// Iterated SHA-256.
    Cpu,
    /// I/O, then CPU.
    Mixed,
    /// F parallel upstream calls, aggregated.
    Fanout,
    /// Liveness probe.
    Health,
    /// A PostgreSQL route (`/db`, `/db-slow`, `/db-fanout`).
    Db(db::DbRoute),
}

impl Route {
    /// Every route, in a stable order.
    pub const ALL: [Route; 9] = [
        Route::Null,
        Route::Io,
        Route::Cpu,
        Route::Mixed,
        Route::Fanout,
        Route::Health,
        Route::Db(db::DbRoute::Lookups),
        Route::Db(db::DbRoute::Slow),
        Route::Db(db::DbRoute::Fanout),
    ];

    /// The request path of this route.
    pub fn path(self) -> &'static str {
        match self {
            Route::Null => "/null",
            Route::Io => "/io",
            Route::Cpu => "/cpu",
            Route::Mixed => "/mixed",
            Route::Fanout => "/fanout",
            Route::Health => "/health",
            Route::Db(route) => route.path(),
        }
    }

    /// The route for a request target; a query string is ignored.
    pub fn from_target(target: &str) -> Option<Route> {
        let path = target.split('?').next().unwrap_or(target);
        Route::ALL.into_iter().find(|route| route.path() == path)
    }
}

/// The work behind each route, fixed at server start so every request on a route does the same work.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// `/cpu` (and the CPU half of `/mixed`).
    pub cpu: CpuSpec,
    /// `/io` (and the I/O half of `/mixed`).
    pub io: IoSpec,
    /// `/fanout`.
    pub fanout: FanoutSpec,
    /// Base URL of the upstream (`http://127.0.0.1:PORT`), if any.
    pub upstream: Option<String>,
    /// Bound on each upstream call; a slower call becomes a 502.
    pub upstream_timeout: Duration,
    /// Reuse upstream connections (false: a new connection per call, claim C6).
    pub pooled: bool,
    /// Guard upstream calls with a circuit breaker (claim C8).
    pub breaker: Option<BreakerSpec>,
    /// `/db`, `/db-slow`, `/db-fanout` and the database they query.
    pub db: DbSpec,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            cpu: CpuSpec { rounds: 1_000 },
            io: IoSpec {
                calls: 1,
                latency: Duration::from_millis(20),
                mode: IoMode::Sleep,
            },
            fanout: FanoutSpec {
                calls: 10,
                limit: None,
                policy: FanoutPolicy::WaitAll,
            },
            upstream: None,
            upstream_timeout: Duration::from_secs(5),
            pooled: true,
            breaker: None,
            db: DbSpec::default(),
        }
    }
}

/// The body of `/null`: empty work, but a non-empty, fixed body.
pub const NULL_BODY: &str = "null\n";
/// The body of `/health`.
pub const HEALTH_BODY: &str = "ok\n";

/// What a workload produced: the response body and how long it actually waited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The response body (identical across styles).
    pub body: String,
    /// Time spent waiting (timers or upstream calls), as achieved, not as asked.
    pub waited: Duration,
}

/// Why a workload could not complete; the servers turn it into a 5xx with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    /// A route needs an upstream and none was configured.
    #[error("no upstream configured: start the server with --upstream http://127.0.0.1:PORT (see `sabench upstream --help`)")]
    NoUpstream,
    /// The upstream did not answer in time.
    #[error("upstream {url} did not answer within {timeout:?}")]
    UpstreamTimeout {
        /// The URL called.
        url: String,
        /// The configured bound.
        timeout: Duration,
    },
    /// The upstream could not be reached or the connection broke.
    #[error("upstream {url} unreachable: {reason}")]
    UpstreamUnreachable {
        /// The URL called.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// The upstream answered with a non-2xx status.
    #[error("upstream {url} answered HTTP {status}")]
    UpstreamStatus {
        /// The URL called.
        url: String,
        /// The status it returned.
        status: u16,
    },
    /// The circuit breaker is open: the call was not made.
    #[error("circuit open for {url}: failing fast while the upstream keeps failing")]
    CircuitOpen {
        /// The URL not called.
        url: String,
    },
    /// CPU work handed to another thread never came back.
    #[error("offloaded cpu task failed: {0}")]
    Offload(String),
    /// A database route failed.
    #[error(transparent)]
    Database(#[from] DbError),
}

impl WorkloadError {
    /// The HTTP status a server answers with: 502 for upstream trouble, 500 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            WorkloadError::Offload(_) => 500,
            WorkloadError::CircuitOpen { .. } => 503,
            WorkloadError::Database(error) => error.status(),
            _ => 502,
        }
    }

    /// The response body: one line a person can act on.
    pub fn body(&self) -> String {
        format!("error: {self}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip_and_ignore_queries() {
        for route in Route::ALL {
            assert_eq!(Route::from_target(route.path()), Some(route));
        }
        assert_eq!(Route::from_target("/cpu?x=1"), Some(Route::Cpu));
        assert_eq!(Route::from_target("/nope"), None);
    }
}
