//! Per-worker recording: every request's fate goes into counters and HdrHistograms, so
//! that each scheduled request is accounted for exactly once:
//!
//! - `scheduled = sent + unsent` and `sent = answered + in_flight_at_end`, where every
//!   answered request is in exactly one class (ok, or one [`ErrorClass`]);
//! - two latency views: of successful requests (`ok_*`), and of every request
//!   (`all_*`: errors of every class, and unfinished requests with the lower bound
//!   `end − intended`);
//! - the generator's own lag and send delay, and the wait servers report.
//!
//! Each second the interval is handed to the collector, so memory stays constant
//! however long the run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

pub use crate::histogram::{new_histogram, record_duration, HIGHEST_US, LOWEST_US, SIGFIGS};

/// Why a request did not succeed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
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
    /// HTTPS failed: the handshake (a bad certificate, a peer that does not speak TLS,
    /// a close mid-handshake) or a TLS error on an open connection.
    Tls,
    /// A response whose head or body passed the generator's read limits
    /// (`--max-response-head-bytes`, `--max-response-body-bytes`); the connection was
    /// dropped.
    TooLarge,
    /// HTTP/2: the server reset the request's stream (RST_STREAM, e.g. REFUSED_STREAM).
    StreamReset,
    /// HTTP/2: the server's GOAWAY refused the request (its stream was above the
    /// GOAWAY's last stream id: never processed). A request the server had taken and
    /// whose connection then closed is a `reset`.
    GoAway,
    /// Anything else (garbled response, other socket errors).
    Other,
}

impl ErrorClass {
    /// Every class, in report order.
    pub const ALL: [ErrorClass; 11] = [
        ErrorClass::ConnectRefused,
        ErrorClass::ConnectTimeout,
        ErrorClass::Reset,
        ErrorClass::Timeout,
        ErrorClass::Status4xx,
        ErrorClass::Status5xx,
        ErrorClass::Tls,
        ErrorClass::TooLarge,
        ErrorClass::StreamReset,
        ErrorClass::GoAway,
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
            ErrorClass::Tls => "tls",
            ErrorClass::TooLarge => "too_large",
            ErrorClass::StreamReset => "stream_reset",
            ErrorClass::GoAway => "goaway",
            ErrorClass::Other => "other",
        }
    }

    /// Whether the target did something (answered, reset, refused) rather than the
    /// generator giving up waiting on it.
    pub fn is_from_target(self) -> bool {
        !matches!(self, ErrorClass::Timeout | ErrorClass::ConnectTimeout)
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

    /// Whether the target itself ended the request (see [`ErrorClass::is_from_target`]).
    pub fn is_from_target(&self) -> bool {
        match self {
            RequestOutcome::Ok(_) => true,
            RequestOutcome::Failed(class) => class.is_from_target(),
        }
    }
}

/// A finished exchange: its outcome, the HTTP status if one arrived, and the bytes read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// How it ended.
    pub outcome: RequestOutcome,
    /// The response's status code, when a response head arrived.
    pub status: Option<u16>,
    /// Bytes received during the exchange.
    pub bytes: u64,
    /// How long opening a new connection for it took (None: it reused one).
    pub connect: Option<Duration>,
}

impl Finished {
    /// A failure with no response.
    pub fn failed(class: ErrorClass) -> Self {
        Self {
            outcome: RequestOutcome::Failed(class),
            status: None,
            bytes: 0,
            connect: None,
        }
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

/// Warm-up requests (intended, or in closed loop sent, before the window opened) whose
/// outcome came inside the window or never came: reported on their own, never as
/// scheduled, sent or achieved in the window, so that `scheduled` is rate × window
/// whatever the warm-up and the latency. `requests = ok + failed + unfinished`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CarriedOver {
    /// Warm-up requests still without an outcome when the window opened.
    pub requests: u64,
    /// Of those, answered successfully inside the window (or its drain).
    pub ok: u64,
    /// Answered with an error inside the window (these enter the all-requests view).
    pub failed: u64,
    /// Never answered by the end (sent or not; these enter the all-requests view at
    /// their lower bound `end − intended`).
    pub unfinished: u64,
}

impl CarriedOver {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &CarriedOver) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.failed += other.failed;
        self.unfinished += other.unfinished;
    }

    /// How many of them the all-requests latency view holds (failures and unfinished).
    pub fn in_all_view(&self) -> u64 {
        self.failed + self.unfinished
    }
}

/// Counters for a span of time. Over a whole run they obey
/// `scheduled = sent + unsent` and `sent = ok + errors + in_flight_at_end`; the
/// warm-up's requests carried into the window are apart, in [`CarriedOver`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Requests the schedule called for in the measured window (closed loop: sent by a
    /// free connection inside it).
    pub scheduled: u64,
    /// Of those, requests written to (or attempted on) a connection.
    pub sent: u64,
    /// Scheduled but never sent: every connection was busy until the run ended.
    pub unsent: u64,
    /// Sent but neither answered nor failed when the run (and its short drain) ended.
    pub in_flight_at_end: u64,
    /// Warm-up requests that were unanswered when the window began, on their own.
    #[serde(default)]
    pub carried_over: CarriedOver,
    /// Successful replies.
    pub ok: u64,
    /// Failures by class.
    pub errors: BTreeMap<ErrorClass, u64>,
    /// Replies by HTTP status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Bytes received (heads and bodies).
    pub bytes_received: u64,
}

impl Counts {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Counts) {
        self.scheduled += other.scheduled;
        self.sent += other.sent;
        self.unsent += other.unsent;
        self.in_flight_at_end += other.in_flight_at_end;
        self.carried_over.merge(&other.carried_over);
        self.ok += other.ok;
        self.bytes_received += other.bytes_received;
        for (class, n) in &other.errors {
            *self.errors.entry(*class).or_default() += n;
        }
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
    }

    /// All failures among the answered requests.
    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Requests that ended with an outcome (ok or one error class).
    pub fn answered(&self) -> u64 {
        self.ok + self.error_total()
    }

    /// Requests sent and not answered yet (while a run goes: those in flight).
    pub fn unanswered(&self) -> u64 {
        self.sent.saturating_sub(self.answered())
    }

    /// Requests with no outcome at the end: unsent plus in flight.
    pub fn unfinished(&self) -> u64 {
        self.unsent + self.in_flight_at_end
    }
}

/// Histograms and counters for a span of time.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Successful requests: latency from the intended send time (coordinated-omission corrected).
    pub ok_corrected: Histogram<u64>,
    /// Successful requests: latency from the actual send time.
    pub ok_service: Histogram<u64>,
    /// Every request: from the intended time to its outcome; unfinished ones at `end − intended`.
    pub all_corrected: Histogram<u64>,
    /// Every sent request: from the actual send to its outcome; in-flight ones at `end − sent`.
    pub all_service: Histogram<u64>,
    /// How late the generator itself sent, when a connection was free in time.
    pub generator_lag: Histogram<u64>,
    /// How late sends left for any reason (including every connection being busy).
    pub send_delay: Histogram<u64>,
    /// The wait servers reported achieving (`x-sabench-waited-us`), for successes that carry it.
    pub server_wait: Histogram<u64>,
    /// Time to open a new connection, for every request that needed one (each request
    /// with `--no-keepalive`; otherwise only after a connection was lost).
    pub connect: Histogram<u64>,
    /// Counters.
    pub counts: Counts,
}

impl Default for Recording {
    fn default() -> Self {
        Self {
            ok_corrected: new_histogram(),
            ok_service: new_histogram(),
            all_corrected: new_histogram(),
            all_service: new_histogram(),
            generator_lag: new_histogram(),
            send_delay: new_histogram(),
            server_wait: new_histogram(),
            connect: new_histogram(),
            counts: Counts::default(),
        }
    }
}

impl Recording {
    /// A request of the measured window was sent: it was due (scheduled) and left.
    /// A request is counted as scheduled only here or as unsent, never when a
    /// connection merely takes it ahead of its time: a run stopped before that time
    /// never called for it.
    pub fn note_sent(&mut self) {
        self.counts.scheduled += 1;
        self.counts.sent += 1;
    }

    /// A warm-up request that ended inside the window: counted on its own, and in the
    /// all-requests view only when it failed (its success belongs to no window).
    pub fn record_carried_over(&mut self, timing: &Timing, finished: &Finished) {
        let carried = &mut self.counts.carried_over;
        carried.requests += 1;
        match finished.outcome {
            RequestOutcome::Ok(_) => carried.ok += 1,
            RequestOutcome::Failed(_) => {
                carried.failed += 1;
                record_duration(
                    &mut self.all_corrected,
                    timing.done.saturating_duration_since(timing.intended),
                );
                record_duration(
                    &mut self.all_service,
                    timing.done.saturating_duration_since(timing.sent),
                );
            }
        }
    }

    /// A warm-up request never answered by `end` (`sent`: None when it was never sent):
    /// counted on its own, in the all-requests view at its lower bound.
    pub fn record_carried_over_unfinished(
        &mut self,
        intended: Instant,
        sent: Option<Instant>,
        end: Instant,
    ) {
        let carried = &mut self.counts.carried_over;
        carried.requests += 1;
        carried.unfinished += 1;
        record_duration(
            &mut self.all_corrected,
            end.saturating_duration_since(intended),
        );
        if let Some(sent) = sent {
            record_duration(&mut self.all_service, end.saturating_duration_since(sent));
        }
    }

    /// Adds one finished request (already counted as scheduled and sent).
    pub fn record(&mut self, timing: &Timing, finished: &Finished) {
        if let Some(took) = finished.connect {
            record_duration(&mut self.connect, took);
        }
        let counts = &mut self.counts;
        counts.bytes_received += finished.bytes;
        if let Some(status) = finished.status {
            *counts.statuses.entry(status).or_default() += 1;
        }
        let corrected = timing.done.saturating_duration_since(timing.intended);
        let service = timing.done.saturating_duration_since(timing.sent);
        match finished.outcome {
            RequestOutcome::Ok(server_wait) => {
                counts.ok += 1;
                if let Some(wait) = server_wait {
                    record_duration(&mut self.server_wait, wait);
                }
                record_duration(&mut self.ok_corrected, corrected);
                record_duration(&mut self.ok_service, service);
            }
            RequestOutcome::Failed(class) => {
                *counts.errors.entry(class).or_default() += 1;
            }
        }
        record_duration(&mut self.all_corrected, corrected);
        record_duration(&mut self.all_service, service);
        let lag_from = timing.intended.max(timing.ready);
        record_duration(
            &mut self.generator_lag,
            timing.sent.saturating_duration_since(lag_from),
        );
        record_duration(
            &mut self.send_delay,
            timing.sent.saturating_duration_since(timing.intended),
        );
    }

    /// A request the schedule called for before `end` that no connection ever sent:
    /// scheduled, unsent, with the lower bound `end − intended` as its latency.
    pub fn record_unsent(&mut self, intended: Instant, end: Instant) {
        self.counts.scheduled += 1;
        self.counts.unsent += 1;
        record_duration(
            &mut self.all_corrected,
            end.saturating_duration_since(intended),
        );
    }

    /// A sent request still unanswered at `end` (after the drain): in flight, with the
    /// lower bounds `end − intended` and `end − sent` as its latencies.
    pub fn record_in_flight(&mut self, intended: Instant, sent: Instant, end: Instant) {
        self.counts.in_flight_at_end += 1;
        record_duration(
            &mut self.all_corrected,
            end.saturating_duration_since(intended),
        );
        record_duration(&mut self.all_service, end.saturating_duration_since(sent));
    }

    /// Adds `other` into `self`, exactly. A histogram whose values lie beyond this
    /// one's bounds (a shard written with other bounds) is refused whole, before
    /// anything is added, so counts and histograms never part.
    pub fn merge(&mut self, other: &Recording) -> Result<(), String> {
        for (mine, theirs) in self.histograms().into_iter().zip(other.histograms()) {
            // The top of the highest bucket: a value clamped to the bound (a request
            // of over 60 s) reads as its bucket's top, a little above the bound.
            let top = mine.highest_equivalent(mine.high());
            if !theirs.is_empty() && theirs.max() > top {
                return Err(format!(
                    "a histogram holds values up to {} µs, beyond the {top} µs this one can hold: written with other bounds (another version?)",
                    theirs.max(),
                ));
            }
        }
        for (mine, theirs) in self.histograms_mut().into_iter().zip(other.histograms()) {
            mine.add(theirs)
                .map_err(|e| format!("a histogram could not be added: {e:?}"))?;
        }
        self.counts.merge(&other.counts);
        Ok(())
    }

    /// Its histograms, in a fixed order (the order [`Recording::histograms_mut`] uses).
    pub fn histograms(&self) -> [&Histogram<u64>; 8] {
        [
            &self.ok_corrected,
            &self.ok_service,
            &self.all_corrected,
            &self.all_service,
            &self.generator_lag,
            &self.send_delay,
            &self.server_wait,
            &self.connect,
        ]
    }

    /// Its histograms, mutable, in the order of [`Recording::histograms`].
    pub fn histograms_mut(&mut self) -> [&mut Histogram<u64>; 8] {
        [
            &mut self.ok_corrected,
            &mut self.ok_service,
            &mut self.all_corrected,
            &mut self.all_service,
            &mut self.generator_lag,
            &mut self.send_delay,
            &mut self.server_wait,
            &mut self.connect,
        ]
    }
}

/// A [`Recording`] in text form, exact (histograms as HdrHistogram V2, base64): how it
/// crosses from a generator process to its parent, and into a shard's report.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RecordingText {
    /// Its counters.
    pub counts: Counts,
    /// Its histograms, in [`Recording::histograms`]' order.
    pub histograms: Vec<String>,
}

impl From<&Recording> for RecordingText {
    fn from(recording: &Recording) -> Self {
        Self {
            counts: recording.counts.clone(),
            histograms: recording
                .histograms()
                .map(crate::histogram::encode)
                .to_vec(),
        }
    }
}

impl RecordingText {
    /// The recording again; an error names what does not decode.
    pub fn decode(&self) -> Result<Recording, String> {
        let mut recording = Recording::default();
        if self.histograms.len() != recording.histograms().len() {
            return Err(format!(
                "{} histograms where {} were expected: written by another version?",
                self.histograms.len(),
                recording.histograms().len()
            ));
        }
        for (slot, text) in recording.histograms_mut().into_iter().zip(&self.histograms) {
            *slot = crate::histogram::decode(text)?;
        }
        recording.counts = self.counts.clone();
        Ok(recording)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::report::RequestCounts;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn a_request_longer_than_the_histograms_bound_merges_at_the_bound() {
        // A request of two minutes (a --timeout above 60 s) is clamped to 60 s, which
        // reads back as its bucket's top, a little above the bound: it still merges.
        let mut long = Recording::default();
        record_duration(&mut long.ok_corrected, Duration::from_secs(120));
        long.counts.ok = 1;
        let mut totals = Recording::default();
        totals.merge(&long).unwrap();
        totals.merge(&long).unwrap();
        assert_eq!((totals.counts.ok, totals.ok_corrected.len()), (2, 2));
        let max_s = totals.ok_corrected.max() as f64 / 1e6;
        assert!((60.0..60.1).contains(&max_s), "{max_s} s");
    }

    #[test]
    fn a_recording_with_other_bounds_is_refused_whole() {
        let mut theirs = Recording {
            ok_corrected: hdrhistogram::Histogram::new_with_bounds(1, HIGHEST_US * 10, 3).unwrap(),
            ..Recording::default()
        };
        theirs.ok_corrected.record(HIGHEST_US * 5).unwrap();
        theirs.counts.ok = 1;
        let mut mine = Recording::default();
        let why = mine.merge(&theirs).unwrap_err();
        assert!(why.contains("beyond"), "{why}");
        assert_eq!(
            mine.counts.ok, 0,
            "the counts did not add without their histograms"
        );
        assert!(mine.ok_corrected.is_empty());
        let mut same = Recording::default();
        same.ok_corrected.record(1_000).unwrap();
        same.counts.ok = 1;
        mine.merge(&same).unwrap();
        assert_eq!((mine.counts.ok, mine.ok_corrected.len()), (1, 1));
    }

    #[test]
    fn corrected_latency_starts_at_the_intended_time_and_every_failure_has_one() {
        let start = Instant::now();
        let timing = Timing {
            intended: start,
            ready: at(start, 500),
            sent: at(start, 500),
            done: at(start, 510),
        };
        let mut recording = Recording::default();
        let ok = Finished {
            outcome: RequestOutcome::Ok(Some(Duration::from_millis(9))),
            status: Some(200),
            bytes: 40,
            connect: None,
        };
        let busy = Finished {
            outcome: RequestOutcome::Failed(ErrorClass::Status5xx),
            status: Some(503),
            bytes: 30,
            connect: None,
        };
        for finished in [ok, busy, Finished::failed(ErrorClass::Reset)] {
            recording.note_sent();
            recording.record(&timing, &finished);
        }
        let counts = &recording.counts;
        assert_eq!(
            (counts.ok, counts.error_total(), counts.answered()),
            (1, 2, 3)
        );
        assert!(RequestCounts::of(counts).conserved());
        assert_eq!(counts.statuses, BTreeMap::from([(200, 1), (503, 1)]));
        assert_eq!(counts.bytes_received, 70);
        assert_eq!(recording.ok_corrected.len(), 1, "only the success");
        assert_eq!(
            recording.all_corrected.len(),
            3,
            "a reset has a latency too"
        );
        assert!(recording.ok_corrected.value_at_quantile(0.5) >= 509_000);
        assert!(recording.ok_service.value_at_quantile(0.5) <= 10_100);
        // The connection was busy until 500 ms: that wait is not the generator's lag.
        assert!(recording.generator_lag.max() < 100);
        assert!(recording.send_delay.max() >= 499_000);
        assert_eq!(recording.server_wait.len(), 1);
    }

    #[test]
    fn unfinished_requests_are_counted_with_their_lower_bound() {
        let start = Instant::now();
        let end = at(start, 6_000);
        let mut recording = Recording::default();
        // Sent at 4 s, never answered.
        recording.note_sent();
        recording.record_in_flight(at(start, 4_000), at(start, 4_000), end);
        // Due at 5 s, never sent.
        recording.record_unsent(at(start, 5_000), end);
        let counts = &recording.counts;
        assert_eq!((counts.scheduled, counts.sent, counts.unsent), (2, 1, 1));
        assert_eq!((counts.in_flight_at_end, counts.unfinished()), (1, 2));
        assert!(RequestCounts::of(counts).conserved());
        assert!(recording.ok_corrected.is_empty());
        assert_eq!(recording.all_corrected.len(), 2);
        assert!(recording.all_corrected.max() >= 1_999_000);
        assert!(recording.all_corrected.min() >= 999_000);
        assert_eq!(
            recording.all_service.len(),
            1,
            "an unsent request has no service time"
        );
    }
}
