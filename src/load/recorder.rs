//! Per-worker recording: every request's outcome goes into HdrHistograms (corrected
//! latency from the intended send time, service time from the actual send, and the
//! generator's own lag) and error counters. Each second the interval histograms are
//! handed to the collector, so memory stays constant however long the run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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

/// Why a request did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorClass {
    /// Nothing accepted the connection.
    ConnectRefused,
    /// The connection was not accepted within the timeout.
    ConnectTimeout,
    /// The server reset or closed the connection mid-exchange.
    Reset,
    /// No complete reply within the request timeout.
    Timeout,
    /// A 4xx answer.
    Status4xx,
    /// A 5xx answer (never a success).
    Status5xx,
    /// Anything else (garbled response, other socket errors).
    Other,
}

impl ErrorClass {
    /// Every class, in report order.
    pub const ALL: [ErrorClass; 7] = [
        ErrorClass::ConnectRefused,
        ErrorClass::ConnectTimeout,
        ErrorClass::Reset,
        ErrorClass::Timeout,
        ErrorClass::Status4xx,
        ErrorClass::Status5xx,
        ErrorClass::Other,
    ];

    /// The key used in reports.
    pub fn key(self) -> &'static str {
        match self {
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::Reset => "reset",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Status4xx => "status_4xx",
            ErrorClass::Status5xx => "status_5xx",
            ErrorClass::Other => "other",
        }
    }

    /// Whether a request of this class got as far as an answer or a timeout, so its
    /// latency is recorded (connection failures have no meaningful latency).
    fn has_latency(self) -> bool {
        matches!(
            self,
            ErrorClass::Timeout | ErrorClass::Status4xx | ErrorClass::Status5xx
        )
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A 1xx–3xx answer, with the wait the server reported achieving (if it did).
    Ok(Option<Duration>),
    /// Any failure.
    Failed(ErrorClass),
}

impl RequestOutcome {
    /// Whether the server answered (any status), as opposed to a connection failure or timeout.
    pub fn answered(&self) -> bool {
        matches!(
            self,
            RequestOutcome::Ok(_)
                | RequestOutcome::Failed(ErrorClass::Status4xx | ErrorClass::Status5xx)
        )
    }
}

/// One request's times.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// When the schedule wanted it sent (closed loop: when it was sent).
    pub intended: Instant,
    /// When the connection was free to take it.
    pub ready: Instant,
    /// When it was written.
    pub sent: Instant,
    /// When the reply (or the failure) arrived.
    pub done: Instant,
}

/// Counters for a span of time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests taken from the schedule and attempted.
    pub sent: u64,
    /// Successful replies.
    pub ok: u64,
    /// Failures by class.
    pub errors: BTreeMap<ErrorClass, u64>,
}

impl Counts {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counts) {
        self.sent += other.sent;
        self.ok += other.ok;
        for (class, n) in &other.errors {
            *self.errors.entry(*class).or_default() += n;
        }
    }

    /// All failures.
    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Histograms and counters for a span of time.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Latency from the intended send time (coordinated-omission corrected).
    pub corrected: Histogram<u64>,
    /// Latency from the actual send time.
    pub service: Histogram<u64>,
    /// How late the generator itself sent, when a connection was free in time.
    pub generator_lag: Histogram<u64>,
    /// How late sends left for any reason (including every connection being busy).
    pub send_delay: Histogram<u64>,
    /// The wait servers reported achieving (`x-sabench-waited-us`), for successes that carry it.
    pub server_wait: Histogram<u64>,
    /// Counters.
    pub counts: Counts,
}

impl Default for Recording {
    fn default() -> Self {
        Self {
            corrected: new_histogram(),
            service: new_histogram(),
            generator_lag: new_histogram(),
            send_delay: new_histogram(),
            server_wait: new_histogram(),
            counts: Counts::default(),
        }
    }
}

impl Recording {
    /// Adds one request.
    pub fn record(&mut self, timing: &Timing, outcome: RequestOutcome) {
        self.counts.sent += 1;
        let answered = match outcome {
            RequestOutcome::Ok(server_wait) => {
                self.counts.ok += 1;
                if let Some(wait) = server_wait {
                    record_duration(&mut self.server_wait, wait);
                }
                true
            }
            RequestOutcome::Failed(class) => {
                *self.counts.errors.entry(class).or_default() += 1;
                class.has_latency()
            }
        };
        let lag_from = timing.intended.max(timing.ready);
        record_duration(
            &mut self.generator_lag,
            timing.sent.saturating_duration_since(lag_from),
        );
        record_duration(
            &mut self.send_delay,
            timing.sent.saturating_duration_since(timing.intended),
        );
        if answered {
            record_duration(
                &mut self.corrected,
                timing.done.saturating_duration_since(timing.intended),
            );
            record_duration(
                &mut self.service,
                timing.done.saturating_duration_since(timing.sent),
            );
        }
    }

    /// Adds `other` into `self` (exact: same histogram configuration).
    pub fn merge(&mut self, other: &Recording) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.corrected.add(&other.corrected);
        let _ = self.service.add(&other.service);
        let _ = self.generator_lag.add(&other.generator_lag);
        let _ = self.send_delay.add(&other.send_delay);
        let _ = self.server_wait.add(&other.server_wait);
        self.counts.merge(&other.counts);
    }

    /// Empties the recording, keeping its allocations.
    pub fn reset(&mut self) {
        self.corrected.reset();
        self.service.reset();
        self.generator_lag.reset();
        self.send_delay.reset();
        self.server_wait.reset();
        self.counts = Counts::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrected_latency_starts_at_the_intended_time_and_errors_are_classed() {
        let start = Instant::now();
        let timing = Timing {
            intended: start,
            ready: start + Duration::from_millis(500),
            sent: start + Duration::from_millis(500),
            done: start + Duration::from_millis(510),
        };
        let mut recording = Recording::default();
        recording.record(&timing, RequestOutcome::Ok(Some(Duration::from_millis(9))));
        recording.record(&timing, RequestOutcome::Failed(ErrorClass::Status5xx));
        recording.record(&timing, RequestOutcome::Failed(ErrorClass::ConnectRefused));
        assert_eq!(recording.counts.ok, 1);
        assert_eq!(recording.counts.sent, 3);
        assert_eq!(recording.counts.error_total(), 2);
        assert_eq!(
            recording.corrected.len(),
            2,
            "5xx has a latency, a refused connect has none"
        );
        assert!(recording.corrected.value_at_quantile(0.5) >= 509_000);
        assert!(recording.service.value_at_quantile(0.5) <= 10_100);
        // The connection was busy until 500 ms: that wait is not the generator's lag.
        assert!(recording.generator_lag.max() < 100);
        assert!(recording.send_delay.max() >= 499_000);
        assert_eq!(recording.server_wait.len(), 1);
    }
}
