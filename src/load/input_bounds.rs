//! The bounds every number a load run is given must keep: spans of time (a window, a
//! warm-up, a timeout), rates, and a shard's common start. Inside them the engine's
//! time arithmetic (an `Instant` plus a span, a rate's gaps turned into `Duration`s)
//! cannot overflow or panic; outside them the run is refused with a clear error before
//! anything starts. The command line's value parsers and [`super::LoadConfig`]'s own
//! check (for runs built in code, a scenario or a shard's order) use the same bounds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest span anything in a run may take: a week.
pub const MAX_SPAN: Duration = Duration::from_secs(7 * 24 * 3600);
/// The lowest rate, requests (or connections) a second: one every 1,000 s.
pub const MIN_RATE: f64 = 0.001;
/// The highest rate, requests a second: far beyond any generator.
pub const MAX_RATE: f64 = 100_000_000.0;
/// How far ahead a shard's common start may be: a day.
pub const MAX_START_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// Checks a span of time named `name` (`--duration`, `warmup`, …).
pub fn check_span(name: &str, span: Duration) -> Result<(), String> {
    if span > MAX_SPAN {
        return Err(format!(
            "{name} {} is longer than the most a run may take ({}): give a shorter one",
            humantime::format_duration(span),
            humantime::format_duration(MAX_SPAN)
        ));
    }
    Ok(())
}

/// Checks a rate named `name`, per second.
pub fn check_rate(name: &str, rate: f64) -> Result<(), String> {
    if !(rate.is_finite() && (MIN_RATE..=MAX_RATE).contains(&rate)) {
        return Err(format!(
            "{name} {rate:?} is outside {MIN_RATE} to {MAX_RATE} a second: give a rate in that range"
        ));
    }
    Ok(())
}

/// Parses a span of time (`10s`, `1m30s`, `500ms`) within [`MAX_SPAN`]: the value
/// parser of every duration flag.
pub fn parse_span(text: &str) -> Result<Duration, String> {
    let span = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?}: {e}; write e.g. 10s, 1m30s or 500ms"))?;
    check_span("the span", span)?;
    Ok(span)
}

/// Parses a rate, per second, within [`MIN_RATE`] to [`MAX_RATE`]: the value parser of
/// every rate flag.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    check_rate("the rate", rate)?;
    Ok(rate)
}

/// Checks a shard's common start, ns since the Unix epoch, against `now`: not in the
/// past, and at most [`MAX_START_AHEAD`] ahead.
pub fn check_start(start_unix_ns: u64, now: SystemTime) -> Result<(), String> {
    let start = UNIX_EPOCH + Duration::from_nanos(start_unix_ns);
    let said = |at: SystemTime| humantime::format_rfc3339_seconds(at).to_string();
    match start.duration_since(now) {
        Err(_) => Err(format!(
            "--start-at {} is in the past (it is now {}): give every shard the same time a few seconds ahead",
            said(start),
            said(now)
        )),
        Ok(ahead) if ahead > MAX_START_AHEAD => Err(format!(
            "--start-at {} is more than {} ahead (it is now {}): give every shard the same time a few seconds ahead",
            said(start),
            humantime::format_duration(MAX_START_AHEAD),
            said(now)
        )),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_rates_outside_their_bounds_are_refused_with_what_to_do() {
        assert_eq!(parse_span("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_span("7days"), Ok(MAX_SPAN));
        let long = parse_span("1000000000years").unwrap_err();
        assert!(
            long.contains("longer than the most a run may take"),
            "{long}"
        );
        assert!(parse_span("soon").unwrap_err().contains("write e.g. 10s"));
        assert_eq!(parse_rate("500"), Ok(500.0));
        for bad in ["0", "-1", "1e20", "1e-300", "inf", "NaN"] {
            let why = parse_rate(bad).unwrap_err();
            assert!(
                why.contains("a second") || why.contains("not a number"),
                "{bad}: {why}"
            );
        }
    }

    #[test]
    fn a_start_in_the_past_or_far_ahead_is_refused_with_the_time_now() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ns = |at: SystemTime| at.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
        assert!(check_start(ns(now + Duration::from_secs(5)), now).is_ok());
        let past = check_start(ns(now - Duration::from_secs(5)), now).unwrap_err();
        assert!(
            past.contains("in the past") && past.contains("2027-01-15T08:00:00Z"),
            "{past}"
        );
        let far = check_start(ns(now + Duration::from_secs(2 * 24 * 3600)), now).unwrap_err();
        assert!(far.contains("more than 1day ahead"), "{far}");
    }
}
