//! The latency histograms every part of the suite records into (the load generator,
//! the async servers' lag probe): one set of bounds, so their numbers compare; and
//! their exact text form (HdrHistogram V2, base64) for passing between processes.

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

/// The histogram in HdrHistogram's V2 encoding, as base64 text: exact, and read back
/// by [`decode`].
pub fn encode(histogram: &Histogram<u64>) -> String {
    use base64::Engine as _;
    use hdrhistogram::serialization::Serializer as _;
    let mut bytes = Vec::new();
    hdrhistogram::serialization::V2Serializer::new()
        .serialize(histogram, &mut bytes)
        .expect("serializing into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads back a histogram written by [`encode`].
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("a histogram is not base64: {e}"))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("a histogram does not decode: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_its_text_form_exactly() {
        let mut histogram = new_histogram();
        for micros in [1, 7, 250, 1_000, 1_003, 59_999_999, 60_000_000] {
            histogram.record(micros).unwrap();
        }
        let back = decode(&encode(&histogram)).unwrap();
        assert_eq!(back, histogram);
        assert_eq!(back.len(), 7);
        assert!(decode("not base64!").is_err());
    }
}
