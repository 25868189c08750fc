//! The collector: receives each worker's per-second intervals, merges them exactly
//! (same histogram configuration everywhere), writes each finished second to the
//! HdrHistogram interval log at once, keeps a small per-second timeline, and sums
//! the totals. Only unfinished seconds are held, so memory does not grow with the run.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriter, IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use super::engine::{thread_cpu_seconds, IntervalReport, WorkerMessage};
use super::recorder::Recording;
use super::report::{error_map, Latency, LoadReport, Percentiles, Second};
use super::{peak_rss_mib, LoadConfig, LoadError, Schedule, Target};

/// An open HdrHistogram interval log file.
pub struct HlogWriter {
    path: PathBuf,
    file: File,
    serializer: V2DeflateSerializer,
}

impl HlogWriter {
    /// Creates (truncates) the log at `path`.
    pub fn create(path: &Path) -> Result<Self, LoadError> {
        let file = File::create(path).map_err(|source| LoadError::Output {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            serializer: V2DeflateSerializer::new(),
        })
    }
}

/// What the collector gathered.
pub(crate) struct Collected {
    totals: Recording,
    timeline: Vec<Second>,
    cpu_seconds: f64,
    elapsed: Duration,
    unserved: u64,
}

/// A second some workers have reported and others not yet.
#[derive(Default)]
struct Pending {
    reports: usize,
    length: Duration,
    recording: Recording,
}

/// Receives until every worker is done. Each second is emitted (timeline, log,
/// totals) as soon as all workers have reported it.
pub(crate) fn collect(
    receiver: Receiver<WorkerMessage>,
    workers: usize,
    hlog: Option<HlogWriter>,
    config: &LoadConfig,
    measure_start: Instant,
) -> Result<Collected, LoadError> {
    let cpu_before = thread_cpu_seconds();
    let mut hlog = hlog;
    let mut log = match hlog.as_mut() {
        Some(HlogWriter { path, file, serializer }) => Some((
            path.clone(),
            IntervalLogWriterBuilder::new()
                .add_comment(&format!("sabench load {}", config.url))
                .add_comment("tags: corrected = from intended send time, service = from actual send; values in µs")
                .with_start_time(SystemTime::now() + config.warmup)
                .with_max_value_divisor(1000.0)
                .begin_log_with(file, serializer)
                .map_err(|source| LoadError::Output {
                    path: path.clone(),
                    source,
                })?,
        )),
        None => None,
    };
    let mut emitter = Emitter {
        totals: Recording::default(),
        timeline: Vec::new(),
        config,
    };
    let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
    let mut done = 0;
    let mut worker_cpu = 0.0;
    let mut unserved = 0;
    while done < workers {
        let Ok(message) = receiver.recv() else { break };
        match message {
            WorkerMessage::Interval(report) => {
                let IntervalReport {
                    index,
                    length,
                    recording,
                } = *report;
                let entry = pending.entry(index).or_default();
                entry.reports += 1;
                entry.length = entry.length.max(length);
                entry.recording.merge(&recording);
                while let Some(first) = pending.first_entry() {
                    if first.get().reports < workers {
                        break;
                    }
                    let (index, second) = first.remove_entry();
                    emitter.emit(index, second, &mut log)?;
                }
            }
            WorkerMessage::Done {
                cpu_seconds,
                unserved: never,
            } => {
                done += 1;
                worker_cpu += cpu_seconds;
                unserved += never;
            }
        }
    }
    let elapsed = Instant::now().saturating_duration_since(measure_start);
    for (index, second) in std::mem::take(&mut pending) {
        emitter.emit(index, second, &mut log)?;
    }
    Ok(Collected {
        totals: emitter.totals,
        timeline: emitter.timeline,
        cpu_seconds: worker_cpu + (thread_cpu_seconds() - cpu_before),
        elapsed,
        unserved,
    })
}

type Log<'a> = Option<(
    PathBuf,
    IntervalLogWriter<'a, 'a, File, V2DeflateSerializer>,
)>;

/// Turns finished seconds into timeline rows, log entries and totals.
struct Emitter<'c> {
    totals: Recording,
    timeline: Vec<Second>,
    config: &'c LoadConfig,
}

impl Emitter<'_> {
    fn emit(&mut self, index: u64, second: Pending, log: &mut Log<'_>) -> Result<(), LoadError> {
        let Pending {
            length, recording, ..
        } = second;
        if let Some((path, writer)) = log.as_mut() {
            let start = Duration::from_secs(index);
            for (tag, histogram) in [
                ("corrected", &recording.corrected),
                ("service", &recording.service),
            ] {
                writer
                    .write_histogram(histogram, start, length, Tag::new(tag))
                    .map_err(|e| LoadError::Output {
                        path: path.clone(),
                        source: std::io::Error::other(format!("{e:?}")),
                    })?;
            }
        }
        let secs = length.as_secs_f64().max(1e-3);
        let counts = &recording.counts;
        let corrected = Percentiles::of(&recording.corrected);
        let row = Second {
            second: index,
            target_rps: self
                .config
                .schedule
                .rate_at(self.config.warmup + Duration::from_secs(index)),
            sent_rps: counts.sent as f64 / secs,
            achieved_rps: counts.ok as f64 / secs,
            errors: counts.error_total(),
            p50_ms: corrected.p50,
            p99_ms: corrected.p99,
        };
        if self.config.progress {
            eprintln!(
                "[{:>4} s] sent {:>9.0}/s  ok {:>9.0}/s  p50 {:>8.3} ms  p99 {:>8.3} ms  errors {}",
                index + 1,
                row.sent_rps,
                row.achieved_rps,
                row.p50_ms,
                row.p99_ms,
                row.errors
            );
        }
        self.totals.merge(&recording);
        // The tail after a timed window holds only replies still in flight at its end:
        // counted in the totals, but not a second of the timeline.
        let in_window = self
            .config
            .duration
            .is_none_or(|d| (index as f64) < d.as_secs_f64().ceil());
        if !in_window {
            return Ok(());
        }
        if let Some(hook) = &self.config.on_second {
            (hook.0)(&row);
        }
        self.timeline.push(row);
        Ok(())
    }
}

/// The mean of the schedule's rate over `[from, from + length)` (None in closed loop).
fn mean_rate(schedule: &Schedule, from: Duration, length: Duration) -> Option<f64> {
    schedule.initial_rate()?;
    let steps = 1_000u32;
    let step = length / steps;
    let sum: f64 = (0..steps)
        .filter_map(|i| schedule.rate_at(from + step * i + step / 2))
        .sum();
    Some(sum / f64::from(steps))
}

impl Collected {
    /// The final report.
    pub(crate) fn into_report(
        self,
        config: &LoadConfig,
        target: &Target,
        threads: usize,
    ) -> LoadReport {
        let window = config
            .duration
            .unwrap_or(self.elapsed)
            .max(Duration::from_millis(1));
        let secs = window.as_secs_f64();
        let counts = &self.totals.counts;
        let target_rps = mean_rate(&config.schedule, config.warmup, window);
        let sent_rps = counts.sent as f64 / secs;
        let generator_lag = Percentiles::of(&self.totals.generator_lag);
        let mut invalid_reasons = Vec::new();
        if let Some(rate) = target_rps {
            if sent_rps < 0.95 * rate {
                invalid_reasons.push(format!(
                    "sent {sent_rps:.0} req/s, {:.0} % of the target {rate:.0}: in-flight requests were capped by --connections {} (add connections, or the server is saturated at this rate)",
                    100.0 * sent_rps / rate,
                    config.connections
                ));
            }
            let limit_ms = config.max_generator_lag.as_secs_f64() * 1000.0;
            if generator_lag.p99 > limit_ms {
                invalid_reasons.push(format!(
                    "the generator itself sent late (p99 lag {:.1} ms > {limit_ms:.1} ms): give it its own core (taskset) or more --threads",
                    generator_lag.p99
                ));
            }
        }
        LoadReport {
            url: target.url.clone(),
            mode: if target_rps.is_some() {
                "open"
            } else {
                "closed"
            }
            .to_string(),
            target_rps,
            achieved_rps: counts.ok as f64 / secs,
            sent_rps,
            connections: config.connections,
            threads,
            duration_s: secs,
            warmup_s: config.warmup.as_secs_f64(),
            requests_sent: counts.sent,
            requests_ok: counts.ok,
            errors: error_map(counts),
            latency_ms: Latency {
                corrected: Percentiles::of(&self.totals.corrected),
                service: Percentiles::of(&self.totals.service),
            },
            send_delay_ms: Percentiles::of(&self.totals.send_delay),
            server_wait_ms: (!self.totals.server_wait.is_empty())
                .then(|| Percentiles::of(&self.totals.server_wait)),
            connections_unserved: self.unserved,
            generator_lag_ms: generator_lag,
            valid: invalid_reasons.is_empty(),
            invalid_reasons,
            generator_cpu_s: self.cpu_seconds,
            generator_peak_rss_mib: peak_rss_mib(),
            timeline: self.timeline,
        }
    }
}
