//! The result of a load run: the machine-readable report (its JSON shape is published
//! in `schemas/load-report.schema.json`) and the human summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::recorder::{Counts, ErrorClass};
use crate::display::percent;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value seen.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// Reads the percentiles of a µs histogram; None when it is empty (not measured is
    /// not zero).
    pub fn of(histogram: &Histogram<u64>) -> Option<Self> {
        if histogram.is_empty() {
            return None;
        }
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        Some(Self {
            p50: ms(0.50),
            p90: ms(0.90),
            p95: ms(0.95),
            p99: ms(0.99),
            p999: ms(0.999),
            max: histogram.max() as f64 / 1000.0,
            mean: histogram.mean() / 1000.0,
        })
    }
}

/// One latency view: which requests it describes, and their percentiles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyView {
    /// Requests in the corrected histogram.
    pub requests: u64,
    /// Their share of the scheduled requests (null when nothing was scheduled).
    pub share: Option<f64>,
    /// From the intended send time (includes waiting for a free connection); null when empty.
    pub corrected: Option<Percentiles>,
    /// From the actual send time; null when empty.
    pub service: Option<Percentiles>,
}

impl LatencyView {
    /// The view of `corrected` and `service` histograms out of `scheduled` requests.
    pub fn of(corrected: &Histogram<u64>, service: &Histogram<u64>, scheduled: u64) -> Self {
        let requests = corrected.len();
        Self {
            requests,
            share: (scheduled > 0).then(|| requests as f64 / scheduled as f64),
            corrected: Percentiles::of(corrected),
            service: Percentiles::of(service),
        }
    }
}

/// The two latency views of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Successful requests only: the headline latency, always shown beside the error share.
    pub ok: LatencyView,
    /// Every scheduled request: errors of every class at the time their failure was
    /// known, and unfinished requests at `end − intended` (a lower bound).
    pub all: LatencyView,
}

/// Where every scheduled request of the measured window went. Identities:
/// `scheduled = sent + unsent`, `sent = answered + in_flight_at_end`,
/// `answered = ok + Σ errors`, `unfinished = unsent + in_flight_at_end`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Due in the window by the schedule (closed loop: taken by a free connection in
    /// it): rate × window exactly, whatever the warm-up and the latency.
    pub scheduled: u64,
    /// Written to (or attempted on) a connection.
    pub sent: u64,
    /// Due but never sent: every connection was busy until the end.
    pub unsent: u64,
    /// Ended with an outcome: ok or one error class.
    pub answered: u64,
    /// Sent and still unanswered at the end of the window and its drain.
    pub in_flight_at_end: u64,
    /// unsent + in_flight_at_end.
    pub unfinished: u64,
    /// Warm-up requests still unanswered when the window began, with their outcomes:
    /// on their own, in none of the counts above.
    pub carried_over: crate::load::recorder::CarriedOver,
    /// Successful (1xx–3xx) replies.
    pub ok: u64,
    /// Answered with an error (every class in `errors`).
    pub failed: u64,
}

impl RequestCounts {
    /// The counts of a recording's counters.
    pub fn of(counts: &Counts) -> Self {
        Self {
            scheduled: counts.scheduled,
            sent: counts.sent,
            unsent: counts.unsent,
            answered: counts.answered(),
            in_flight_at_end: counts.in_flight_at_end,
            unfinished: counts.unfinished(),
            carried_over: counts.carried_over,
            ok: counts.ok,
            failed: counts.error_total(),
        }
    }

    /// Whether every scheduled request is accounted for exactly once: the schedule splits
    /// into sent and unsent, and what was sent into answered and in flight. These are
    /// counters kept apart from one another; `answered` (ok + failed) and `unfinished`
    /// (unsent + in flight) are sums by definition, so they are not checked here. Tests
    /// check the counts against a tally the target keeps of what it received.
    pub fn conserved(&self) -> bool {
        self.scheduled == self.sent + self.unsent
            && self.sent == self.answered + self.in_flight_at_end
    }

    /// Share of scheduled requests that did not succeed (errors and unfinished);
    /// None when nothing was scheduled.
    pub fn failure_share(&self) -> Option<f64> {
        (self.scheduled > 0).then(|| (self.failed + self.unfinished) as f64 / self.scheduled as f64)
    }
}

/// One second of the measured window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the measured window began.
    pub second: u64,
    /// Target rate then (null in closed loop).
    pub target_rps: Option<f64>,
    /// Requests sent per second.
    pub sent_rps: f64,
    /// Successful replies per second.
    pub achieved_rps: f64,
    /// Failures in this second.
    pub errors: u64,
    /// Corrected p50 latency of the successes in this second, ms (null: none).
    pub p50_ms: Option<f64>,
    /// Corrected p99 latency of the successes in this second, ms (null: none).
    pub p99_ms: Option<f64>,
    /// Corrected p95 latency of the successes in this second, ms (null: none; absent
    /// in older reports).
    #[serde(default)]
    pub p95_ms: Option<f64>,
    /// Corrected p95 latency of every request that ended in this second, ms (null: none).
    #[serde(default)]
    pub all_p95_ms: Option<f64>,
    /// Corrected p99 latency of every request that ended in this second, ms (null: none).
    #[serde(default)]
    pub all_p99_ms: Option<f64>,
    /// The generator's own lag in this second, p99, ms (null: no send measured it).
    #[serde(default)]
    pub generator_lag_p99_ms: Option<f64>,
    /// The busiest generator thread's share of a core in this second (null: not read,
    /// as for a last, partial second).
    #[serde(default)]
    pub generator_busy: Option<f64>,
    /// Connections the generator held open at the second's end.
    #[serde(default)]
    pub connections_open: u64,
}

/// Everything a load run measured. Serialized as the `--json` output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The URL loaded.
    pub url: String,
    /// "open" (scheduled arrivals) or "closed" (send on reply).
    pub mode: String,
    /// Mean target rate over the measured window (null in closed loop).
    pub target_rps: Option<f64>,
    /// Successful replies per second.
    pub achieved_rps: f64,
    /// Requests sent per second.
    pub sent_rps: f64,
    /// Connections used.
    pub connections: usize,
    /// The protocol spoken: `http1` (HTTP/1.1) or `http2` (HTTP/2: h2 over TLS, h2c
    /// in cleartext).
    #[serde(default)]
    pub protocol: crate::load::http2::Protocol,
    /// HTTP/2: requests in flight at once on one connection (1 for HTTP/1.1).
    #[serde(default = "crate::load::http2::one_stream")]
    pub streams: usize,
    /// Generator threads used.
    pub threads: usize,
    /// Length of the measured window, seconds.
    pub duration_s: f64,
    /// Warm-up before it (discarded), seconds.
    pub warmup_s: f64,
    /// The drain allowed to requests in flight when the window ended, seconds.
    pub drain_s: f64,
    /// Where every scheduled request went (the conservation identities hold).
    pub requests: RequestCounts,
    /// Requests sent in the measured window (= `requests.sent`).
    pub requests_sent: u64,
    /// Successful replies (1xx–3xx) in the measured window (= `requests.ok`).
    pub requests_ok: u64,
    /// Share of scheduled requests that failed or never finished (null: none scheduled).
    pub error_share: Option<f64>,
    /// Failures by class (every class present, zero or not).
    pub errors: BTreeMap<String, u64>,
    /// Replies by HTTP status code, e.g. {"200": 812, "503": 4}.
    pub status_counts: BTreeMap<String, u64>,
    /// Bytes received (heads and bodies).
    pub bytes_received: u64,
    /// Bytes received per second of the window.
    pub received_bytes_per_s: f64,
    /// Latency of the successful requests, and of all of them.
    pub latency_ms: Latency,
    /// How late requests left versus the schedule, for any reason (null: none sent).
    pub send_delay_ms: Option<Percentiles>,
    /// How late the generator itself sent while a connection was free (null: none sent).
    pub generator_lag_ms: Option<Percentiles>,
    /// The wait the server reported achieving (`x-sabench-waited-us`); null if it never said.
    pub server_wait_ms: Option<Percentiles>,
    /// Connections that got no answer at all during the measured window.
    pub connections_unserved: u64,
    /// When the target last ended a request itself (answer, reset or refusal), seconds
    /// since the window began (null: never).
    pub last_answer_s: Option<f64>,
    /// The busiest generator thread's CPU use during the window, in cores (null: unknown).
    pub generator_busy: Option<f64>,
    /// False when the numbers do not describe the target at the load asked for: the
    /// generator was the limit, or the target stopped answering.
    pub valid: bool,
    /// Why the run is invalid (empty when valid).
    pub invalid_reasons: Vec<String>,
    /// Whether some of those reasons lie with the generator (it sent late, or its
    /// busiest thread was saturated) rather than with the target.
    #[serde(default)]
    pub generator_limited: bool,
    /// CPU seconds the generator's threads used.
    pub generator_cpu_s: f64,
    /// CPU seconds the generator's load threads used during the measured window
    /// (nanosecond thread clocks; null: no window). Over `requests.ok` it is the
    /// generator's own CPU per request.
    #[serde(default)]
    pub generator_window_cpu_s: Option<f64>,
    /// Panics of the generator (a bug in sabench), each with its message: the run is
    /// INVALID, the requests they held are counted unfinished, and `sabench load` exits
    /// non-zero. Empty when nothing panicked.
    #[serde(default)]
    pub generator_panics: Vec<String>,
    /// The generator process's peak resident memory, MiB.
    pub generator_peak_rss_mib: f64,
    /// Generator processes the load ran in (their histograms merged exactly); the
    /// peak RSS above is their sum.
    #[serde(default = "one")]
    pub generator_processes: usize,
    /// The successful requests' corrected latency: its percentile spectrum and
    /// histogram (null: no successful request).
    #[serde(default)]
    pub latency_distribution: Option<super::distribution::Distribution>,
    /// Time to open a new connection, for the requests that needed one (null: none
    /// did; with `--no-keepalive` every request does).
    #[serde(default)]
    pub connect_ms: Option<Percentiles>,
    /// A shard of a run over many machines (`--shard I/N`): which, and its raw
    /// counters and histograms for `sabench merge` (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardRaw>,
    /// The `--threshold` checks and whether each passed (empty: none were given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdResult>,
    /// Connection scale (`--ramp`): how opening and holding every connection went
    /// (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_ramp: Option<RampReport>,
    /// With `--url-file`, each URL's figures on their own (absent with one URL, and in
    /// a merge of shards); the pooled figures above stay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_url: Vec<UrlReport>,
    /// Under a rate that changes (stages, steps): the first second a `--threshold`
    /// broke, and the rate scheduled then (absent: a constant rate or no threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knee: Option<Knee>,
    /// Per-second timeline of the measured window.
    pub timeline: Vec<Second>,
}

/// One URL of a mix: its requests, outcomes and latency, on their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlReport {
    /// Its name in the URL file (`NAME WEIGHT URL`), else its path.
    pub name: String,
    /// The URL.
    pub url: String,
    /// Its weight in the mix.
    pub weight: f64,
    /// Where each of its scheduled requests went.
    pub requests: RequestCounts,
    /// Its successful replies per second of the window.
    pub achieved_rps: f64,
    /// Its failed or unfinished share (None: none scheduled).
    pub error_share: Option<f64>,
    /// Its errors by class.
    pub errors: BTreeMap<String, u64>,
    /// Its answers by status code.
    pub status_counts: BTreeMap<String, u64>,
    /// Its latency views, as the pooled `latency_ms`.
    pub latency_ms: Latency,
}

/// Where a rising rate first broke a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    /// The threshold, as given (`p95<50ms`).
    pub threshold: String,
    /// The second of the measured window it first broke in (None: it held throughout).
    pub second: Option<u64>,
    /// The rate scheduled in that second (or, when it held, the highest scheduled).
    pub target_rps: Option<f64>,
    /// What that second measured, in the threshold's unit.
    pub value: Option<f64>,
}

/// Every error class with its count (zeros included, so the keys are stable).
pub fn error_map(counts: &Counts) -> BTreeMap<String, u64> {
    ErrorClass::ALL
        .iter()
        .map(|class| {
            let n = counts.errors.get(class).copied().unwrap_or(0);
            (class.key().to_string(), n)
        })
        .collect()
}

/// Replies by status code, keyed by the code as text.
pub fn status_map(counts: &Counts) -> BTreeMap<String, u64> {
    counts
        .statuses
        .iter()
        .map(|(status, n)| (status.to_string(), *n))
        .collect()
}

impl LoadReport {
    /// With a mix of URLs, a line each: its name, weight, requests, failures, ok
    /// throughput and corrected latency of its successes.
    fn render_per_url(&self, out: &mut String) {
        if self.per_url.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "  per URL    {:<16} {:>6} {:>9} {:>9} {:>8} {:>10} {:>10} {:>10}",
            "name",
            "weight",
            "scheduled",
            "ok req/s",
            "failed",
            "ok p50 ms",
            "ok p95 ms",
            "ok p99 ms"
        );
        for url in &self.per_url {
            let latency = url.latency_ms.ok.corrected;
            let cell = |pick: fn(&Percentiles) -> f64| {
                latency.map_or("—".to_string(), |p| format!("{:.3}", pick(&p)))
            };
            let _ = writeln!(
                out,
                "             {:<16} {:>6} {:>9} {:>9.1} {:>8} {:>10} {:>10} {:>10}",
                url.name,
                url.weight,
                url.requests.scheduled,
                url.achieved_rps,
                crate::display::percent(url.error_share),
                cell(|p| p.p50),
                cell(|p| p.p95),
                cell(|p| p.p99),
            );
        }
    }

    /// The human summary printed at the end of `sabench load`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mode = match self.target_rps {
            Some(rate) => format!("open loop at {rate:.0} req/s"),
            None => "closed loop".to_string(),
        };
        let protocol = match self.protocol {
            crate::load::http2::Protocol::Http1 => self.protocol.label().to_string(),
            crate::load::http2::Protocol::Http2 => {
                format!(
                    "{} with {} stream(s) a connection",
                    self.protocol.label(),
                    self.streams
                )
            }
        };
        let _ = writeln!(
            out,
            "{}: {protocol}, {mode}, {} connections, {} thread(s), {:.1} s measured after {:.1} s warm-up",
            self.url, self.connections, self.threads, self.duration_s, self.warmup_s
        );
        let target = match self.target_rps {
            Some(rate) if rate > 0.0 => format!(
                " (target {rate:.0}, sent {:.0} = {:.1} %)",
                self.sent_rps,
                100.0 * self.sent_rps / rate
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  achieved   {:.1} ok req/s{target}",
            self.achieved_rps
        );
        self.render_requests(&mut out);
        self.render_latency(&mut out);
        self.render_per_url(&mut out);
        if let Some(ramp) = &self.connection_ramp {
            let connect = ramp.connect_ms.map_or("—".to_string(), |c| {
                format!("{:.2} ms p50, {:.2} ms p99", c.p50, c.p99)
            });
            let failed = match ramp.failed.is_empty() {
                true => String::new(),
                false => format!(
                    ", failed: {}",
                    ramp.failed
                        .iter()
                        .map(|(k, n)| format!("{k}={n}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            };
            let _ = writeln!(
                out,
                "  held       {} of {} connections opened at {:.0}/s ({connect}){failed}; {} still open at the end",
                ramp.established, ramp.wanted, ramp.per_second, ramp.stayed_up
            );
        }
        if self.connections_unserved > 0 {
            let _ = writeln!(
                out,
                "  unserved   {} of {} connections got no answer in the measured window",
                self.connections_unserved, self.connections
            );
        }
        if let Some(wait) = &self.server_wait_ms {
            let _ = writeln!(
                out,
                "  server wait {:.3} ms p50, {:.3} ms p99 (achieved, as the server reports it)",
                wait.p50, wait.p99
            );
        }
        let per_100k = if self.requests_sent > 0 {
            format!(
                "{:.2} s per 100k requests",
                self.generator_cpu_s * 100_000.0 / self.requests_sent as f64
            )
        } else {
            "no request sent".to_string()
        };
        let busy = self.generator_busy.map_or(String::new(), |b| {
            format!(", busiest thread {:.0} % of a core", 100.0 * b)
        });
        let _ = writeln!(
            out,
            "  generator  {:.2} CPU s ({per_100k}){busy}, peak RSS {:.1} MiB{processes}",
            self.generator_cpu_s,
            self.generator_peak_rss_mib,
            processes = match self.generator_processes {
                0 | 1 => String::new(),
                n => format!(" (the sum over {n} generator processes, histograms merged exactly)"),
            }
        );
        if self.valid {
            out.push_str("  VALID\n");
        } else {
            let _ = writeln!(out, "  INVALID: {}", self.invalid_reasons.join("; "));
        }
        out
    }

    /// The accounting lines: where every scheduled request went.
    fn render_requests(&self, out: &mut String) {
        let r = &self.requests;
        let _ = writeln!(
            out,
            "  requests   {} scheduled = {} sent + {} unsent; {} sent = {} answered + {} in flight at the end",
            r.scheduled, r.sent, r.unsent, r.sent, r.answered, r.in_flight_at_end
        );
        let errors = counts_or(
            self.errors.iter().filter(|(_, n)| **n > 0),
            " ",
            "no errors",
        );
        let statuses = counts_or(self.status_counts.iter(), ": ", "no HTTP reply");
        let _ = writeln!(
            out,
            "  answered   {} ok, {} failed ({errors}); status {statuses}; {} received",
            r.ok,
            r.failed,
            human_bytes_per_s(self.received_bytes_per_s)
        );
        if r.unfinished > 0 {
            let _ = writeln!(
                out,
                "  unfinished {} ({} unsent + {} in flight after a {:.1} s drain): latency counted as end − intended, a lower bound",
                r.unfinished, r.unsent, r.in_flight_at_end, self.drain_s
            );
        }
        let carried = r.carried_over;
        if carried.requests > 0 {
            let _ = writeln!(
                out,
                "  carried    {} warm-up requests were unanswered when the window began ({} ok, {} failed, {} never answered): on their own, not in the window",
                carried.requests, carried.ok, carried.failed, carried.unfinished
            );
        }
        let _ = writeln!(
            out,
            "  error share {} of scheduled requests failed or never finished",
            percent(self.error_share)
        );
    }

    /// The latency table: each row says which requests it describes.
    fn render_latency(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "  latency ms                 share       p50       p90       p95       p99     p99.9       max"
        );
        let ok = &self.latency_ms.ok;
        let all = &self.latency_ms.all;
        let rows = [
            ("ok, corrected", ok.share, ok.corrected),
            ("ok, service", ok.share, ok.service),
            ("all, corrected", all.share, all.corrected),
            ("send delay", None, self.send_delay_ms),
            ("generator lag", None, self.generator_lag_ms),
            ("connect", None, self.connect_ms),
        ];
        for (name, share, p) in rows {
            if name == "connect" && p.is_none() {
                continue; // no request needed a new connection
            }
            let share = share.map_or(String::new(), |s| format!("{:.1} %", 100.0 * s));
            let cells = match p {
                Some(p) => [p.p50, p.p90, p.p95, p.p99, p.p999, p.max]
                    .iter()
                    .map(|v| format!("{v:>9.3}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                None => [0; 6].map(|_| format!("{:>9}", "—")).join(" "),
            };
            let _ = writeln!(out, "  {name:<16} {share:>12} {cells}");
        }
        let _ = writeln!(
            out,
            "  (ok = successful requests; all = every scheduled request, errors and unfinished included; corrected = from the intended send time)"
        );
    }
}

/// `key{separator}n` pairs joined by commas, or `none` when there are none.
fn counts_or<'a>(
    pairs: impl Iterator<Item = (&'a String, &'a u64)>,
    separator: &str,
    none: &str,
) -> String {
    let listed: Vec<String> = pairs.map(|(k, n)| format!("{k}{separator}{n}")).collect();
    if listed.is_empty() {
        none.to_string()
    } else {
        listed.join(", ")
    }
}

/// `1.2 MiB/s`, `340 KiB/s`, `12 B/s`.
fn human_bytes_per_s(rate: f64) -> String {
    if rate >= 1024.0 * 1024.0 {
        format!("{:.1} MiB/s", rate / 1024.0 / 1024.0)
    } else if rate >= 1024.0 {
        format!("{:.1} KiB/s", rate / 1024.0)
    } else {
        format!("{rate:.0} B/s")
    }
}

fn one() -> usize {
    1
}

/// Which shard of how many a run was, and what merging it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRaw {
    /// Its number, from 0.
    pub index: usize,
    /// Shards in the whole run.
    pub count: usize,
    /// Its counters and histograms.
    pub recording: super::recorder::RecordingText,
    /// Connection scale: its tally.
    pub ramp: Option<RampText>,
    /// Its connections that got no answer in the window.
    pub unserved: u64,
    /// Seconds after the window began when the target last answered (null: never).
    pub last_answer_s: Option<f64>,
}

/// A threshold checked against a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The threshold as given (spaces removed).
    pub threshold: String,
    /// What the run measured, in the threshold's unit (ms, fraction, req/s); null when
    /// it could not be measured (no successful request has no latency).
    pub actual: Option<f64>,
    /// The unit of `actual`.
    pub unit: String,
    /// Whether it held.
    pub passed: bool,
}

/// The report's account of a connection-scale run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RampReport {
    /// Connections asked for.
    pub wanted: u64,
    /// The rate they were opened at, per second.
    pub per_second: f64,
    /// Connections opened.
    pub established: u64,
    /// Connections still open at the end.
    pub stayed_up: u64,
    /// Connections that could not be opened, by class.
    pub failed: BTreeMap<String, u64>,
    /// Time to establish a connection (null: none was).
    pub connect_ms: Option<Percentiles>,
}

/// A `RampTally` in text form, exact (the connect times as HdrHistogram V2, base64).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RampText {
    /// Connections opened.
    pub established: u64,
    /// Connections still up at the end.
    pub stayed_up: u64,
    /// Connections that could not be opened, by class.
    pub failed: BTreeMap<ErrorClass, u64>,
    /// Connect times.
    pub connect: String,
}
