//! Reads the HdrHistogram interval logs the load generator wrote, merging the
//! intervals of one tag exactly.

use std::path::Path;

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

/// Merges every interval tagged `tag` in the log at `path` (None if unreadable or empty).
pub fn read_merged(path: &Path, tag: &str) -> Option<Histogram<u64>> {
    let bytes = std::fs::read(path).ok()?;
    let mut deserializer = Deserializer::new();
    let mut merged: Option<Histogram<u64>> = None;
    for entry in IntervalLogIterator::new(&bytes) {
        let Ok(LogEntry::Interval(interval)) = entry else {
            continue;
        };
        if interval.tag().map(|t| t.as_str()) != Some(tag) {
            continue;
        }
        let Ok(raw) =
            base64::engine::general_purpose::STANDARD.decode(interval.encoded_histogram())
        else {
            continue;
        };
        let Ok(histogram) = deserializer.deserialize::<u64, _>(&mut raw.as_slice()) else {
            continue;
        };
        match merged.as_mut() {
            Some(total) => {
                let _ = total.add(&histogram);
            }
            None => merged = Some(histogram),
        }
    }
    merged.filter(|h| !h.is_empty())
}
