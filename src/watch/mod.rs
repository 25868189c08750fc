//! Watching a load while it runs, fed once a second from the collector's aggregates,
//! never per request: the Prometheus/OpenMetrics exposition (`--metrics-listen`,
//! [`metrics`]; `--metrics-push`, [`push`]), and the live terminal view ([`live`]'s figures, drawn by
//! [`terminal`]).

pub mod live;
pub mod metrics;
pub mod push;
pub mod terminal;
