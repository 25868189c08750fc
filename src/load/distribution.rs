//! The printed latency distribution (`sabench load --latency`, as `wrk --latency` and
//! oha's histogram): the percentile spectrum of the successful requests' corrected
//! latency, and a histogram of it in power-of-two buckets, both read from the run's
//! merged HdrHistogram.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The percentiles of the spectrum.
const SPECTRUM: [f64; 9] = [50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 99.999, 100.0];

/// The distribution of one latency histogram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// (percentile, latency ms), from the 50th to the largest.
    pub percentiles: Vec<(f64, f64)>,
    /// Buckets of the histogram: requests with latency at most `up_to_ms` (and above the
    /// previous bucket's bound).
    pub buckets: Vec<Bucket>,
}

/// One bucket of the histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Its upper bound, ms.
    pub up_to_ms: f64,
    /// Requests in it.
    pub count: u64,
}

impl Distribution {
    /// The distribution of a µs histogram (None: it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Option<Self> {
        if histogram.is_empty() {
            return None;
        }
        let percentiles = SPECTRUM
            .iter()
            .map(|&p| (p, histogram.value_at_percentile(p) as f64 / 1000.0))
            .collect();
        // Power-of-two bounds in µs, from the one above the smallest value to the one
        // at or above the largest.
        let mut bound = histogram.min().max(1).next_power_of_two();
        let mut below = 0;
        let mut buckets = Vec::new();
        loop {
            let upto = histogram.count_between(0, bound);
            buckets.push(Bucket {
                up_to_ms: bound as f64 / 1000.0,
                count: upto - below,
            });
            below = upto;
            if bound >= histogram.max() {
                break;
            }
            bound *= 2;
        }
        Some(Self {
            percentiles,
            buckets,
        })
    }

    /// The text form: the spectrum, then the histogram with bars.
    pub fn render(&self) -> String {
        let mut out = String::from("  latency distribution (ok, corrected)\n");
        for (p, ms) in &self.percentiles {
            let _ = writeln!(out, "  {p:>9.3}%  {ms:>10.3} ms");
        }
        let widest = self
            .buckets
            .iter()
            .map(|b| b.count)
            .max()
            .unwrap_or(1)
            .max(1);
        out.push_str("  histogram (ok, corrected)\n");
        for bucket in &self.buckets {
            let bar = "█".repeat(((bucket.count * 40).div_ceil(widest)) as usize);
            let _ = writeln!(
                out,
                "  ≤ {:>10.3} ms {:>10}  {bar}",
                bucket.up_to_ms, bucket.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spectrum_and_buckets_cover_every_request() {
        let mut histogram = crate::histogram::new_histogram();
        for micros in [100, 120, 130, 900, 1_000, 5_000] {
            histogram.record(micros).unwrap();
        }
        let distribution = Distribution::of(&histogram).unwrap();
        assert_eq!(distribution.percentiles.len(), SPECTRUM.len());
        assert!((distribution.percentiles.last().unwrap().1 - 5.0).abs() < 0.01);
        let total: u64 = distribution.buckets.iter().map(|b| b.count).sum();
        assert_eq!(total, 6);
        assert_eq!(distribution.buckets[0].up_to_ms, 0.128);
        assert_eq!(distribution.buckets[0].count, 2, "100 and 120 µs");
        let text = distribution.render();
        assert!(text.contains("100.000%") && text.contains("█"), "{text}");
        assert!(Distribution::of(&crate::histogram::new_histogram()).is_none());
    }
}
