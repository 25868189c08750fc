//! Reads the HdrHistogram interval logs the load generator wrote, merging the
//! intervals of one tag exactly.

use std::path::Path;

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

/// Merges every interval tagged `tag` in the log at `path`: None when the file is
/// missing or holds no such interval; an error naming the file and the interval when
/// an interval is corrupt or will not add (nothing is skipped quietly).
pub fn read_merged(path: &Path, tag: &str) -> Result<Option<Histogram<u64>>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let corrupt =
        |n: usize, why: String| format!("{}: entry {n} is corrupt: {why}", path.display());
    let mut deserializer = Deserializer::new();
    let mut merged: Option<Histogram<u64>> = None;
    for (n, entry) in IntervalLogIterator::new(&bytes).enumerate() {
        let interval = match entry.map_err(|e| corrupt(n + 1, format!("{e:?}")))? {
            LogEntry::Interval(interval) => interval,
            _ => continue,
        };
        if interval.tag().map(|t| t.as_str()) != Some(tag) {
            continue;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|e| corrupt(n + 1, e.to_string()))?;
        let histogram = deserializer
            .deserialize::<u64, _>(&mut raw.as_slice())
            .map_err(|e| corrupt(n + 1, format!("{e:?}")))?;
        match merged.as_mut() {
            Some(total) => total
                .add(&histogram)
                .map_err(|e| corrupt(n + 1, format!("it will not add: {e:?}")))?,
            None => merged = Some(histogram),
        }
    }
    Ok(merged.filter(|h| !h.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_interval_is_an_error_naming_the_file_and_a_missing_file_is_none() {
        let dir = std::env::temp_dir().join(format!("sabench-hlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(
            read_merged(&dir.join("missing.hlog"), "corrected"),
            Ok(None)
        );
        let corrupt = dir.join("corrupt.hlog");
        std::fs::write(
            &corrupt,
            "#[StartTime: 0.000 (seconds since epoch)]\nTag=corrected,0.000,1.000,1.000,HISTFAAAAnotbase64!!\n",
        )
        .unwrap();
        let why = read_merged(&corrupt, "corrected").unwrap_err();
        assert!(
            why.contains("corrupt.hlog") && why.contains("is corrupt"),
            "{why}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
