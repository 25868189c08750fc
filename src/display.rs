//! How numbers that may be missing are shown: a value that was not measured is "—",
//! never 0 (an empty histogram has no p95).

/// `12.35` with `decimals`, or `—` when there is no value.
pub fn or_dash(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".to_string(), |v| format!("{v:.decimals$}"))
}

/// `12.3 %` of a share between 0 and 1, or `—` when there is no share.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "—".to_string(), |s| format!("{:.1} %", 100.0 * s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_are_dashes_not_zeros() {
        assert_eq!(or_dash(None, 2), "—");
        assert_eq!(or_dash(Some(1.234), 2), "1.23");
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(0.125)), "12.5 %");
    }
}
