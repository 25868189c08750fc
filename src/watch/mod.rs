//! Watching a load while it runs: the Prometheus/OpenMetrics exposition
//! (`--metrics-listen`, [`metrics`]), fed once a second from the collector's
//! aggregates, never per request.

pub mod metrics;
