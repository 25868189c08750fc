//! What a server of ours says about itself over a cell's measured window: how busy
//! the blocking style's pool was (`/pool`), how late the async styles' runtime woke
//! (`/lag`, over the window the runner named before the load) and its database
//! counters (`/db-stats`). A saturation search reads them per probe and keeps the
//! chosen probe's, so a cell's figures are never another probe's server's.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::mechanism::PoolReading;
use super::process;
use crate::server::lag::LagFigures;
use crate::workload::db::DbStatsSnapshot;

/// Which reports a cell's server can give.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reporter {
    /// The blocking style: `/pool`.
    pub(super) blocking: bool,
    /// One of our styles (a target of the user's own reports nothing).
    pub(super) own: bool,
    /// A database workload: `/db-stats`.
    pub(super) database: bool,
}

/// What the server said.
#[derive(Debug, Clone)]
pub(super) struct SelfReport {
    /// Its pool's occupancy over the window (blocking style).
    pub(super) pool: PoolReading,
    /// Its runtime lag over the window (async styles).
    pub(super) lag: Option<LagFigures>,
    /// Its database counters since it started.
    pub(super) db: Option<DbStatsSnapshot>,
}

impl SelfReport {
    /// Nothing said (a cell with no window of its own).
    pub(super) fn none() -> Self {
        Self {
            pool: PoolReading::NotApplicable,
            lag: None,
            db: None,
        }
    }
}

impl Reporter {
    /// Names the window that begins at `origin` and lasts `lasts` to the server's
    /// runtime-lag probe; call it before the load starts.
    pub(super) fn name_window(&self, addr: SocketAddr, origin: Instant, lasts: Duration) {
        if self.own && !self.blocking {
            process::name_lag_window(addr, origin, lasts);
        }
    }

    /// Reads what the server says about the window that began at `origin` and lasted
    /// `window`.
    pub(super) fn read(&self, addr: SocketAddr, origin: Instant, window: Duration) -> SelfReport {
        SelfReport {
            pool: PoolReading::fetch(self.blocking && self.own, addr, origin, window),
            lag: (self.own && !self.blocking)
                .then(|| process::fetch_lag(addr))
                .flatten(),
            db: (self.own && self.database)
                .then(|| process::fetch_db_stats(addr))
                .flatten(),
        }
    }
}
