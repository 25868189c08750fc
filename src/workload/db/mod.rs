//! The database workloads (issue 12): the articles' I/O is a PostgreSQL query, so these
//! routes wait on a real server instead of a timer or the mock upstream.
//!
//! - `/db`: K point lookups by primary key, one after another
//!   (`SELECT name, email FROM users WHERE id = $1`, the articles' query);
//! - `/db-slow`: one query that holds its connection for L (`pg_sleep`), so a pool
//!   smaller than the concurrency shows up as waiting;
//! - `/db-fanout`: N lookups at once, each on its own connection from the pool; an
//!   unbounded pool opens as many connections as there are queries in flight (claim
//!   C7, "DDoS your own database"), a bounded one makes them wait.
//!
//! As with the other workloads, the pure core ([`render_lookups`], [`render_slow`]) is
//! shared and each style has a face that differs only in how it waits: [`blocking`] is
//! a small PostgreSQL client on plain sockets (no async runtime anywhere), and
//! [`asynchronous`] is `tokio-postgres` behind a `deadpool-postgres` pool. Both speak
//! the same wire messages (`postgres-protocol`), prepare each statement once per
//! connection, and answer the same bytes.

pub mod asynchronous;
pub mod blocking;
pub mod pool;
pub mod stats;

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub use asynchronous::AsyncDb;
pub use blocking::BlockingDb;
pub use stats::{DbErrorClass, DbStats, DbStatsSnapshot};

use super::thread_pool::ThreadPool;
use super::{Outcome, WorkloadError};

/// The database routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbRoute {
    /// `/db`: K point lookups, one after another.
    Lookups,
    /// `/db-slow`: one query holding its connection for L.
    Slow,
    /// `/db-fanout`: N lookups at once.
    Fanout,
}

impl DbRoute {
    /// Its request path.
    pub fn path(self) -> &'static str {
        match self {
            DbRoute::Lookups => "/db",
            DbRoute::Slow => "/db-slow",
            DbRoute::Fanout => "/db-fanout",
        }
    }
}

/// The blocking face: the route's queries on the calling thread (`/db-fanout`'s on
/// `threads`).
pub fn serve_blocking(
    route: DbRoute,
    db: &BlockingDb,
    threads: &ThreadPool,
) -> Result<Outcome, WorkloadError> {
    let started = Instant::now();
    let body = match route {
        DbRoute::Lookups => render_lookups("db", &db.lookups()?),
        DbRoute::Slow => db.slow().map(|()| render_slow(db.hold()))?,
        DbRoute::Fanout => render_lookups("db-fanout", &db.fanout(threads)?),
    };
    Ok(Outcome {
        body,
        waited: started.elapsed(),
    })
}

/// The async face: the same queries, awaited.
pub async fn serve_async(route: DbRoute, db: &AsyncDb) -> Result<Outcome, WorkloadError> {
    let started = Instant::now();
    let body = match route {
        DbRoute::Lookups => render_lookups("db", &db.lookups().await?),
        DbRoute::Slow => db.slow().await.map(|()| render_slow(db.hold()))?,
        DbRoute::Fanout => render_lookups("db-fanout", &db.fanout().await?),
    };
    Ok(Outcome {
        body,
        waited: started.elapsed(),
    })
}

/// The point lookup every `/db` query runs.
pub const LOOKUP_SQL: &str = "SELECT name, email FROM users WHERE id = $1";
/// The query `/db-slow` runs: it holds its connection for `$1` seconds.
pub const SLOW_SQL: &str = "SELECT 1 FROM pg_sleep($1)";
/// Ids looked up cycle through this many rows (the seeded table has 100,000).
pub const LOOKUP_SPAN: u32 = 10_000;

/// The largest pool a scenario may ask for; "unbounded" means this.
pub const UNBOUNDED_POOL: usize = 100_000;

/// What the database routes do and how the server reaches the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbSpec {
    /// `postgres://user[:password]@host:port/db`; none: every database route fails with
    /// [`DbError::NotConfigured`].
    pub url: Option<String>,
    /// Point lookups per `/db` request (K).
    pub lookups: u32,
    /// How long each `/db-slow` query holds its connection (L).
    pub hold: Duration,
    /// Lookups in flight at once per `/db-fanout` request (N).
    pub fanout: u32,
    /// Connections the pool may hold ([`UNBOUNDED_POOL`]: as many as asked for).
    pub pool: usize,
    /// Reuse connections (false: connect for every query and close after, claim C6).
    pub pooled: bool,
    /// Bound on connecting, on waiting for a pooled connection, and on each query.
    pub timeout: Duration,
}

impl Default for DbSpec {
    fn default() -> Self {
        Self {
            url: None,
            lookups: 1,
            hold: Duration::from_millis(20),
            fanout: 10,
            pool: 16,
            pooled: true,
            timeout: Duration::from_secs(5),
        }
    }
}

/// The id the `k`-th lookup of a request asks for (the same for every request and
/// style, so bodies can be compared; spread over [`LOOKUP_SPAN`] rows).
pub fn lookup_id(k: u32) -> i32 {
    let span = u64::from(LOOKUP_SPAN);
    (1 + (u64::from(k) * 7_919) % span) as i32
}

/// One row a lookup found: name and email, or none for a missing id.
pub type Found = Option<(String, String)>;

/// The body of `/db` (`route = "db"`) or `/db-fanout` (`"db-fanout"`): how many rows
/// were asked for and found, and a digest of what they held, in lookup order.
pub fn render_lookups(route: &str, rows: &[Found]) -> String {
    let mut digest = Sha256::new();
    let mut found = 0;
    for (k, row) in rows.iter().enumerate() {
        if let Some((name, email)) = row {
            found += 1;
            digest.update(format!("{}:{name}:{email}\n", lookup_id(k as u32)));
        }
    }
    let digest = hex::encode(&digest.finalize()[..8]);
    format!(
        "{route} lookups={} found={found} digest={digest}\n",
        rows.len()
    )
}

/// The body of `/db-slow`.
pub fn render_slow(hold: Duration) -> String {
    format!("db-slow hold_us={} rows=1\n", hold.as_micros())
}

/// Why a database route failed; the servers answer it as a 5xx and count it by class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// The server was started without a database.
    #[error("no database configured: start the server with --database-url postgres://... (or let `sabench run` start a throwaway PostgreSQL)")]
    NotConfigured,
    /// The URL could not be understood.
    #[error("bad database url: {0}")]
    BadUrl(String),
    /// The database failed this way.
    #[error("database {}: {detail}", .class.key())]
    Failed {
        /// Which kind of failure (counted separately).
        class: DbErrorClass,
        /// What the database or the socket said.
        detail: String,
    },
}

impl DbError {
    /// A failure of `class`.
    pub fn failed(class: DbErrorClass, detail: impl Into<String>) -> Self {
        DbError::Failed {
            class,
            detail: detail.into(),
        }
    }

    /// Its class for counting.
    pub fn class(&self) -> DbErrorClass {
        match self {
            DbError::NotConfigured | DbError::BadUrl(_) => DbErrorClass::Connect,
            DbError::Failed { class, .. } => *class,
        }
    }

    /// The HTTP status a server answers: 503 when the database refused a connection
    /// for lack of room or the pool had none free in time, 502 otherwise.
    pub fn status(&self) -> u16 {
        match self.class() {
            DbErrorClass::TooManyConnections | DbErrorClass::PoolTimeout => 503,
            _ => 502,
        }
    }
}

/// The SQLSTATE PostgreSQL sends when `max_connections` is reached
/// ("sorry, too many clients already").
pub const TOO_MANY_CONNECTIONS: &str = "53300";

/// Classes a database error by its SQLSTATE (when the database sent one).
pub fn class_of_sqlstate(code: &str) -> DbErrorClass {
    match code {
        TOO_MANY_CONNECTIONS => DbErrorClass::TooManyConnections,
        // cannot_connect_now (starting up, shutting down), admin_shutdown, crash_shutdown
        "57P03" | "57P01" | "57P02" => DbErrorClass::Connect,
        "57014" => DbErrorClass::Timeout, // query_canceled (statement_timeout)
        _ => DbErrorClass::Query,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ids_stay_in_the_seeded_span_and_differ() {
        let ids: Vec<i32> = (0..100).map(lookup_id).collect();
        assert!(ids.iter().all(|&id| (1..=LOOKUP_SPAN as i32).contains(&id)));
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn the_body_depends_on_the_rows_and_their_order() {
        let a = Some(("a".to_string(), "a@x".to_string()));
        let b = Some(("b".to_string(), "b@x".to_string()));
        let one = render_lookups("db", &[a.clone(), b.clone()]);
        assert!(one.starts_with("db lookups=2 found=2 digest="), "{one}");
        assert_ne!(one, render_lookups("db", &[b, a.clone()]));
        let missing = render_lookups("db", &[a, None]);
        assert!(missing.contains("found=1"), "{missing}");
    }

    #[test]
    fn too_many_clients_is_its_own_class_and_a_503() {
        assert_eq!(
            class_of_sqlstate(TOO_MANY_CONNECTIONS),
            DbErrorClass::TooManyConnections
        );
        let error = DbError::failed(DbErrorClass::TooManyConnections, "sorry");
        assert_eq!(error.status(), 503);
        assert!(error.to_string().contains("too_many_connections"));
        assert_eq!(DbError::failed(DbErrorClass::Query, "x").status(), 502);
    }
}
