//! What a server's database clients did, counted as it happens and served at
//! `GET /db-stats` as JSON, so the runner can record per cell how many connections
//! were opened and which database errors occurred (the load generator only sees 5xx).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why a database call failed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DbErrorClass {
    /// PostgreSQL refused the connection: `max_connections` reached (SQLSTATE 53300).
    TooManyConnections,
    /// No pooled connection became free within the timeout.
    PoolTimeout,
    /// Could not connect or log in for another reason.
    Connect,
    /// A query or connect did not finish within the timeout.
    Timeout,
    /// The connection broke mid-query.
    ConnectionLost,
    /// The query failed (any other SQLSTATE).
    Query,
}

impl DbErrorClass {
    /// Every class, in report order.
    pub const ALL: [DbErrorClass; 6] = [
        DbErrorClass::TooManyConnections,
        DbErrorClass::PoolTimeout,
        DbErrorClass::Connect,
        DbErrorClass::Timeout,
        DbErrorClass::ConnectionLost,
        DbErrorClass::Query,
    ];

    /// The key used in reports and in `/db-stats`.
    pub fn key(self) -> &'static str {
        match self {
            DbErrorClass::TooManyConnections => "too_many_connections",
            DbErrorClass::PoolTimeout => "pool_timeout",
            DbErrorClass::Connect => "connect",
            DbErrorClass::Timeout => "timeout",
            DbErrorClass::ConnectionLost => "connection_lost",
            DbErrorClass::Query => "query",
        }
    }

    /// Its place in [`DbErrorClass::ALL`] (declaration order).
    fn index(self) -> usize {
        self as usize
    }
}

/// Counters shared by every request of one server.
#[derive(Debug, Default)]
pub struct DbStats {
    connections_opened: AtomicU64,
    queries: AtomicU64,
    pool_wait_us: AtomicU64,
    errors: [AtomicU64; DbErrorClass::ALL.len()],
}

/// A copy of the counters, as `/db-stats` serves it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DbStatsSnapshot {
    /// Connections the server opened to the database (pooled: about the pool size).
    pub connections_opened: u64,
    /// Queries that completed.
    pub queries: u64,
    /// Time spent waiting for a pooled connection, summed over requests (µs).
    pub pool_wait_us: u64,
    /// Failures by class key; classes that never happened are left out.
    pub errors: BTreeMap<String, u64>,
}

impl DbStatsSnapshot {
    /// All failures of every class.
    pub fn total_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    /// `pool_timeout=3 too_many_connections=12` (keys in alphabetical order), or `none`.
    pub fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".into();
        }
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        parts.join(" ")
    }
}

impl DbStats {
    /// Counts a connection opened.
    pub fn opened(&self) {
        self.connections_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a query that completed.
    pub fn queried(&self) {
        self.queries.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a wait for a pooled connection.
    pub fn waited(&self, wait: Duration) {
        let us = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        self.pool_wait_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Counts a failure of `class`.
    pub fn failed(&self, class: DbErrorClass) {
        self.errors[class.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> DbStatsSnapshot {
        let errors = DbErrorClass::ALL
            .iter()
            .map(|c| {
                (
                    c.key().to_string(),
                    self.errors[c.index()].load(Ordering::Relaxed),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        DbStatsSnapshot {
            connections_opened: self.connections_opened.load(Ordering::Relaxed),
            queries: self.queries.load(Ordering::Relaxed),
            pool_wait_us: self.pool_wait_us.load(Ordering::Relaxed),
            errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_own_counter() {
        for (place, class) in DbErrorClass::ALL.iter().enumerate() {
            assert_eq!(class.index(), place, "{class:?}");
        }
    }

    #[test]
    fn counts_each_class_apart_and_round_trips_as_json() {
        let stats = DbStats::default();
        stats.opened();
        stats.failed(DbErrorClass::TooManyConnections);
        stats.failed(DbErrorClass::TooManyConnections);
        stats.failed(DbErrorClass::Query);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.connections_opened, 1);
        assert_eq!(snapshot.total_errors(), 3);
        assert_eq!(snapshot.errors_text(), "query=1 too_many_connections=2");
        let json = serde_json::to_string(&snapshot).unwrap();
        let back: DbStatsSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snapshot);
    }
}
