//! Connection scale (issue 13): every connection is opened first, at a bounded rate
//! (so the server's accept queue is not what is measured), and held while the schedule
//! spreads its requests over all of them. This file holds what that adds to the one
//! worker loop: when each connection opens, from which loopback source address (one
//! address has only about 28k ephemeral ports), and the tally of how opening went and
//! how many connections were still up at the end.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::recorder::{new_histogram, record_duration, ErrorClass};
use super::report::Percentiles;

pub use super::report::{RampReport, RampText};

/// The read buffer a held connection starts with: responses here are small, and it
/// grows on demand (a held, idle connection should cost the generator little).
pub const HELD_BUFFER: usize = 1024;

/// Ephemeral ports the kernel may use per source address, as it says (fallback: the
/// Linux default range, 32768–60999).
pub fn ports_per_source() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(|p| p.parse::<usize>().ok());
            let (low, high) = (parts.next()??, parts.next()??);
            (high >= low).then(|| high - low + 1)
        })
        .unwrap_or(28_232)
}

/// Connections per loopback source address on a ramp. Linux finds a free ephemeral
/// port for `connect` by scanning the range from a per-destination offset; as one
/// (source, destination) pair's ports fill up the scan grows, and at 19,000
/// connections from one address it took two thirds of the generator's core (measured:
/// `__inet_hash_connect` in `perf`, the ramp 2.6 s late). A few thousand per address
/// keeps each scan short.
pub const PER_SOURCE: usize = 4_000;

/// The pause between the last connection's turn to open on a ramp and the schedule.
pub const SETTLE: Duration = Duration::from_millis(500);

/// How long after a ramp's start its schedule begins: every connection's turn to open,
/// then [`SETTLE`].
pub fn lead(connections: usize, per_second: f64) -> Duration {
    Duration::from_secs_f64(connections as f64 / per_second) + SETTLE
}

/// When and from where connections open.
#[derive(Debug, Clone)]
pub(crate) struct Ramp {
    /// When the first connection opens.
    pub start: Instant,
    /// Connections opened per second.
    pub per_second: f64,
    /// Connections in all.
    pub connections: usize,
    /// Source addresses, each used for `per_source` connections in turn (empty: let
    /// the kernel choose).
    pub sources: Vec<IpAddr>,
    /// Connections per source address.
    pub per_source: usize,
}

impl Ramp {
    /// A ramp of `connections` to `target` at `per_second` from `start`; beyond
    /// [`PER_SOURCE`] (or what one source address has ports for, less a margin for
    /// everything else, when that is fewer), connections to an IPv4 loopback target
    /// come from 127.0.0.2, 127.0.0.3, … as well.
    pub fn new(start: Instant, per_second: f64, connections: usize, target: SocketAddr) -> Self {
        let per_source = ports_per_source()
            .saturating_sub(1_000)
            .clamp(1, PER_SOURCE);
        let sources = match target.ip() {
            IpAddr::V4(ip) if ip.is_loopback() && connections > per_source => {
                sources_for(connections, per_source)
            }
            _ => Vec::new(),
        };
        Self {
            start,
            per_second,
            connections,
            sources,
            per_source,
        }
    }

    /// When the schedule begins: after every connection's turn, and [`SETTLE`].
    pub fn schedule_start(&self) -> Instant {
        self.start + lead(self.connections, self.per_second)
    }

    /// When connection `index` (over every worker) opens.
    pub fn opens_at(&self, index: usize) -> Instant {
        self.start + Duration::from_secs_f64(index as f64 / self.per_second)
    }

    /// The source address of connection `index`, if the ramp chooses one.
    pub fn source(&self, index: usize) -> Option<IpAddr> {
        self.sources.get(index / self.per_source).copied()
    }
}

/// 127.0.0.1, 127.0.0.2, … enough for `connections` at `per_source` each.
fn sources_for(connections: usize, per_source: usize) -> Vec<IpAddr> {
    let count = connections.div_ceil(per_source).min(250);
    (1..=count)
        .map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n as u8)))
        .collect()
}

/// How opening and holding went, for one worker or all of them.
#[derive(Debug, Clone)]
pub(crate) struct RampTally {
    /// Connections opened.
    pub established: u64,
    /// Connections that could not be opened, by class.
    pub failed: BTreeMap<ErrorClass, u64>,
    /// Time from a connection's planned open to its established connection, µs.
    pub connect: Histogram<u64>,
    /// Connections still open at the end of the run (not closed or reset by the
    /// server, not dropped after a failed request).
    pub stayed_up: u64,
}

impl Default for RampTally {
    fn default() -> Self {
        Self {
            established: 0,
            failed: BTreeMap::new(),
            connect: new_histogram(),
            stayed_up: 0,
        }
    }
}

impl RampTally {
    /// Notes one connection opened after `took`.
    pub fn opened(&mut self, took: Duration) {
        self.established += 1;
        record_duration(&mut self.connect, took);
    }

    /// Notes one connection that could not be opened.
    pub fn failed(&mut self, class: ErrorClass) {
        *self.failed.entry(class).or_default() += 1;
    }

    /// Adds another worker's tally.
    pub fn merge(&mut self, other: &RampTally) {
        self.established += other.established;
        self.stayed_up += other.stayed_up;
        for (class, n) in &other.failed {
            *self.failed.entry(*class).or_default() += n;
        }
        let _ = self.connect.add(&other.connect);
    }

    /// What the report says of it.
    pub fn report(&self, wanted: usize, per_second: f64) -> RampReport {
        RampReport {
            wanted: wanted as u64,
            per_second,
            established: self.established,
            stayed_up: self.stayed_up,
            failed: self
                .failed
                .iter()
                .map(|(class, n)| (class.key().to_string(), *n))
                .collect(),
            connect_ms: Percentiles::of(&self.connect),
        }
    }
}

impl From<&RampTally> for RampText {
    fn from(tally: &RampTally) -> Self {
        Self {
            established: tally.established,
            stayed_up: tally.stayed_up,
            failed: tally.failed.clone(),
            connect: crate::histogram::encode(&tally.connect),
        }
    }
}

impl RampText {
    /// The tally again.
    pub(crate) fn decode(&self) -> Result<RampTally, String> {
        Ok(RampTally {
            established: self.established,
            failed: self.failed.clone(),
            connect: crate::histogram::decode(&self.connect)?,
            stayed_up: self.stayed_up,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_connections_over_source_addresses_only_past_a_few_thousand() {
        let target: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let small = Ramp::new(Instant::now(), 1000.0, 100, target);
        assert!(small.sources.is_empty());
        assert_eq!(small.source(99), None);
        let large = Ramp::new(Instant::now(), 1000.0, 19_000, target);
        assert_eq!(large.sources.len(), 19_000usize.div_ceil(PER_SOURCE));
        assert_eq!(large.source(PER_SOURCE), Some("127.0.0.2".parse().unwrap()));
        let v6 = Ramp::new(Instant::now(), 1000.0, 19_000, "[::1]:80".parse().unwrap());
        assert!(v6.sources.is_empty(), "::1 has no second loopback address");
        let ramp = Ramp {
            sources: sources_for(50_000, 20_000),
            per_source: 20_000,
            ..small
        };
        assert_eq!(ramp.sources.len(), 3);
        assert_eq!(ramp.source(0), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(ramp.source(20_000), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(ramp.source(49_999), Some("127.0.0.3".parse().unwrap()));
    }

    #[test]
    fn opens_at_the_planned_rate() {
        let start = Instant::now();
        let ramp = Ramp::new(start, 2000.0, 4000, "127.0.0.1:80".parse().unwrap());
        assert_eq!(ramp.opens_at(0), start);
        assert_eq!(ramp.opens_at(2000), start + Duration::from_secs(1));
        assert_eq!(
            ramp.schedule_start(),
            start + Duration::from_secs(2) + SETTLE
        );
    }

    #[test]
    fn tallies_merge_and_report_by_class() {
        let mut a = RampTally::default();
        a.opened(Duration::from_micros(300));
        a.failed(ErrorClass::ConnectRefused);
        let mut b = RampTally::default();
        b.opened(Duration::from_micros(500));
        b.stayed_up = 1;
        a.merge(&b);
        let report = a.report(3, 2000.0);
        assert_eq!(
            (report.wanted, report.established, report.stayed_up),
            (3, 2, 1)
        );
        assert_eq!(report.failed.get("connect_refused"), Some(&1));
        assert!(report.connect_ms.is_some());
    }
}
