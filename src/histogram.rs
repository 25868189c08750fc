//! The latency histograms every part of the suite records into (the load generator,
//! the async servers' lag probe): one set of bounds, so their numbers compare.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Lowest recordable latency, in µs.
pub const LOWEST_US: u64 = 1;
/// Highest recordable latency, in µs (60 s); longer values are clamped to it.
pub const HIGHEST_US: u64 = 60_000_000;
/// Significant decimal digits kept.
pub const SIGFIGS: u8 = 3;

/// A histogram with the suite's bounds (1 µs – 60 s, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIGS)
        .expect("constant histogram bounds are valid")
}

/// Records `duration` in µs, clamped into the histogram's range.
pub fn record_duration(histogram: &mut Histogram<u64>, duration: Duration) {
    let micros = (duration.as_micros() as u64).clamp(LOWEST_US, HIGHEST_US);
    histogram.saturating_record(micros);
}
