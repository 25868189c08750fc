//! The result of a load run: the machine-readable report (its JSON shape is published
//! in `schemas/load-report.schema.json`) and the human summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::recorder::{Counts, ErrorClass};

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
    /// Reads the percentiles of a µs histogram (all zero when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        Self {
            p50: ms(0.50),
            p90: ms(0.90),
            p95: ms(0.95),
            p99: ms(0.99),
            p999: ms(0.999),
            max: histogram.max() as f64 / 1000.0,
            mean: histogram.mean() / 1000.0,
        }
    }
}

/// Corrected and service-time latency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// From the intended send time (includes waiting for a free connection).
    pub corrected: Percentiles,
    /// From the actual send time.
    pub service: Percentiles,
}

/// One second of the measured window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the measured window began.
    pub second: u64,
    /// Target rate then (null in closed loop).
    pub target_rps: Option<f64>,
    /// Requests attempted per second.
    pub sent_rps: f64,
    /// Successful replies per second.
    pub achieved_rps: f64,
    /// Failures in this second.
    pub errors: u64,
    /// Corrected p50 latency, ms.
    pub p50_ms: f64,
    /// Corrected p99 latency, ms.
    pub p99_ms: f64,
}

/// Everything a load run measured. Serialized as the `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The URL loaded.
    pub url: String,
    /// "open" (scheduled arrivals) or "closed" (send on reply).
    pub mode: String,
    /// Mean target rate over the measured window (null in closed loop).
    pub target_rps: Option<f64>,
    /// Successful replies per second.
    pub achieved_rps: f64,
    /// Requests attempted per second.
    pub sent_rps: f64,
    /// Connections used.
    pub connections: usize,
    /// Generator threads used.
    pub threads: usize,
    /// Length of the measured window, seconds.
    pub duration_s: f64,
    /// Warm-up before it (discarded), seconds.
    pub warmup_s: f64,
    /// Requests attempted in the measured window.
    pub requests_sent: u64,
    /// Successful replies (1xx–3xx) in the measured window.
    pub requests_ok: u64,
    /// Failures by class (every class present, zero or not).
    pub errors: BTreeMap<String, u64>,
    /// Latency of every request that was answered or timed out.
    pub latency_ms: Latency,
    /// How late requests left versus the schedule, for any reason.
    pub send_delay_ms: Percentiles,
    /// How late the generator itself sent while a connection was free.
    pub generator_lag_ms: Percentiles,
    /// The wait the server reported achieving (`x-sabench-waited-us`); null if it never said.
    pub server_wait_ms: Option<Percentiles>,
    /// Connections that got no answer at all during the measured window.
    pub connections_unserved: u64,
    /// False when the generator, not the server, limited the run.
    pub valid: bool,
    /// Why the run is invalid (empty when valid).
    pub invalid_reasons: Vec<String>,
    /// CPU seconds the generator's threads used.
    pub generator_cpu_s: f64,
    /// The generator process's peak resident memory, MiB.
    pub generator_peak_rss_mib: f64,
    /// Per-second timeline of the measured window.
    pub timeline: Vec<Second>,
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

impl LoadReport {
    /// The human summary printed at the end of `sabench load`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mode = match self.target_rps {
            Some(rate) => format!("open loop at {rate:.0} req/s"),
            None => "closed loop".to_string(),
        };
        let _ = writeln!(
            out,
            "{}: {mode}, {} connections, {} thread(s), {:.1} s measured after {:.1} s warm-up",
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
        let _ = writeln!(out, "  achieved   {:.1} req/s{target}", self.achieved_rps);
        let _ = writeln!(
            out,
            "  requests   {} ok, {} failed of {} sent",
            self.requests_ok,
            self.errors.values().sum::<u64>(),
            self.requests_sent
        );
        let _ = writeln!(
            out,
            "  latency ms      p50      p90      p95      p99    p99.9      max"
        );
        let rows = [
            ("corrected", &self.latency_ms.corrected),
            ("service", &self.latency_ms.service),
            ("send delay", &self.send_delay_ms),
            ("gen. lag", &self.generator_lag_ms),
        ];
        for (name, p) in rows {
            let _ = writeln!(
                out,
                "  {name:<10} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
                p.p50, p.p90, p.p95, p.p99, p.p999, p.max
            );
        }
        let errors: Vec<String> = self
            .errors
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let errors = if errors.is_empty() {
            "none".to_string()
        } else {
            errors.join(", ")
        };
        let _ = writeln!(out, "  errors     {errors}");
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
            self.generator_cpu_s * 100_000.0 / self.requests_sent as f64
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "  generator  {:.2} CPU s ({per_100k:.2} s per 100k requests), peak RSS {:.1} MiB",
            self.generator_cpu_s, self.generator_peak_rss_mib
        );
        if self.valid {
            out.push_str("  VALID\n");
        } else {
            let _ = writeln!(out, "  INVALID: {}", self.invalid_reasons.join("; "));
        }
        out
    }
}
