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
use crate::server::windowed::WaitFigures;
use crate::server::Style;
use crate::workload::db::DbStatsSnapshot;

/// Which reports a cell's server can give.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reporter {
    /// Our style serving the cell (None: a target of the user's own, which reports
    /// nothing): the blocking one reports `/pool`, the others `/lag`.
    style: Option<Style>,
    /// A database workload: `/db-stats`.
    database: bool,
}

/// What the server said.
#[derive(Debug, Clone)]
pub(super) struct SelfReport {
    /// Its pool's occupancy over the window (blocking style).
    pub(super) pool: PoolReading,
    /// Its runtime lag over the window (async styles).
    pub(super) lag: Option<LagFigures>,
    /// Its own queue's waits over the window (the async C10 variants).
    pub(super) queue_wait: Option<WaitFigures>,
    /// Its database counters since it started.
    pub(super) db: Option<DbStatsSnapshot>,
}

impl SelfReport {
    /// Nothing said (a cell with no window of its own).
    pub(super) fn none() -> Self {
        Self {
            pool: PoolReading::NotApplicable,
            lag: None,
            queue_wait: None,
            db: None,
        }
    }
}

impl Reporter {
    /// The reports of `style` (None: a target of the user's own) on a database
    /// workload or not.
    pub(super) fn new(style: Option<Style>, database: bool) -> Self {
        Self { style, database }
    }

    /// The blocking style: its pool's occupancy.
    fn pool(&self) -> bool {
        self.style == Some(Style::Blocking)
    }

    /// The async styles: their runtime's lag.
    fn lag(&self) -> bool {
        self.style.is_some_and(|s| s != Style::Blocking)
    }

    /// Names the window that begins at `origin` and lasts `lasts` to the server's
    /// runtime-lag probe; call it before the load starts.
    pub(super) fn name_window(&self, addr: SocketAddr, origin: Instant, lasts: Duration) {
        if self.lag() {
            process::name_lag_window(addr, origin, lasts);
        }
    }

    /// Reads what the server says about the window that began at `origin` and lasted
    /// `window`.
    pub(super) fn read(&self, addr: SocketAddr, origin: Instant, window: Duration) -> SelfReport {
        let timings = match self.lag() {
            true => process::fetch_window_timings(addr),
            false => process::WindowTimings::default(),
        };
        SelfReport {
            pool: PoolReading::fetch(self.pool(), addr, origin, window),
            lag: timings.lag,
            queue_wait: timings.queue_wait,
            db: (self.style.is_some() && self.database)
                .then(|| process::fetch_db_stats(addr))
                .flatten(),
        }
    }
}
