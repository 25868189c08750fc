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

use super::engine::{IntervalReport, WorkerMessage, WorkerSummary};
use super::ramp::RampTally;
use super::recorder::Recording;
use super::report::{
    error_map, status_map, Latency, LatencyView, LoadReport, Percentiles, RequestCounts, Second,
    UrlReport,
};
use super::thread_cpu::thread_cpu_seconds;
use super::validity::Reasons;
use super::{LoadConfig, LoadError, Schedule, Target};
use crate::display::or_dash;

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
    /// The workers' CPU during the measured window, s (None: a worker had no window).
    window_cpu_seconds: Option<f64>,
    elapsed: Duration,
    /// The earliest instant a worker found the run stopped or its count spent.
    ended_early: Option<Instant>,
    unserved: u64,
    busy: Option<f64>,
    last_answer: Option<Instant>,
    measure_start: Instant,
    /// Connection scale: every worker's tally, merged.
    ramp: Option<RampTally>,
    /// Every worker's intended send times (only with `--send-log`), unsorted.
    pub(crate) sends: Vec<f64>,
    /// Panics of the generator's threads and connection tasks, each its message.
    panics: Vec<String>,
    /// Workers that ended without their summary (a thread that panicked).
    unreported: usize,
    /// With a mix of URLs, each URL's window, every worker's merged (empty otherwise).
    per_url: Vec<Recording>,
}

/// A second some workers have reported and others not yet.
#[derive(Default)]
struct Pending {
    reports: usize,
    length: Duration,
    recording: Recording,
    /// The busiest worker's share of a core (None until one reported its CPU).
    busy: Option<f64>,
    /// Connections open at its end, every worker's.
    connections_open: u64,
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
    let mut window_cpu = Some(0.0);
    let mut unserved = 0;
    let mut busy: Option<f64> = None;
    let mut last_answer: Option<Instant> = None;
    let mut ramp: Option<RampTally> = None;
    let mut sends = Vec::new();
    let mut ended_early: Option<Instant> = None;
    let mut panics = Vec::new();
    let mut per_url: Vec<Recording> = Vec::new();
    while done < workers {
        let Ok(message) = receiver.recv() else { break };
        match message {
            WorkerMessage::Interval(report) => {
                let IntervalReport {
                    index,
                    length,
                    recording,
                    cpu_seconds,
                    connections_open,
                } = *report;
                let entry = pending.entry(index).or_default();
                entry.reports += 1;
                entry.length = entry.length.max(length);
                let share = cpu_seconds
                    .filter(|_| !length.is_zero())
                    .map(|cpu| (cpu / length.as_secs_f64()).min(1.0));
                entry.busy = max_option(entry.busy, share);
                entry.connections_open += connections_open;
                entry.recording.merge(&recording).map_err(LoadError::Lost)?;
                while let Some(first) = pending.first_entry() {
                    if first.get().reports < workers {
                        break;
                    }
                    let (index, second) = first.remove_entry();
                    emitter.emit(index, second, &mut log)?;
                }
            }
            WorkerMessage::Done(summary) => {
                let WorkerSummary {
                    cpu_seconds,
                    busy: worker_busy,
                    window_cpu_seconds,
                    panics: worker_panics,
                    unserved: never,
                    last_answer: worker_last,
                    ramp: worker_ramp,
                    sends: worker_sends,
                    ended_early: worker_ended,
                    per_url: worker_urls,
                } = *summary;
                if per_url.len() < worker_urls.len() {
                    per_url.resize_with(worker_urls.len(), Recording::default);
                }
                for (total, url) in per_url.iter_mut().zip(&worker_urls) {
                    total.merge(url).map_err(LoadError::Lost)?;
                }
                ended_early = match (ended_early, worker_ended) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                sends.extend(worker_sends);
                if let Some(tally) = worker_ramp {
                    ramp.get_or_insert_with(RampTally::default).merge(&tally);
                }
                done += 1;
                worker_cpu += cpu_seconds;
                panics.extend(worker_panics);
                window_cpu = window_cpu.zip(window_cpu_seconds).map(|(a, b)| a + b);
                unserved += never;
                busy = max_option(busy, worker_busy);
                last_answer = max_option(last_answer, worker_last);
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
        window_cpu_seconds: window_cpu.filter(|_| done > 0),
        panics,
        unreported: workers - done,
        elapsed,
        ended_early,
        unserved,
        busy,
        last_answer,
        measure_start,
        ramp,
        sends,
        per_url,
    })
}

/// The larger of two readings (None when neither was read).
pub(super) fn max_option<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b > a { b } else { a }),
        (a, b) => a.or(b),
    }
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
            length,
            recording,
            busy,
            connections_open,
            ..
        } = second;
        if let Some((path, writer)) = log.as_mut() {
            let start = Duration::from_secs(index);
            for (tag, histogram) in [
                ("corrected", &recording.ok_corrected),
                ("service", &recording.ok_service),
                ("all-corrected", &recording.all_corrected),
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
        let ok = Percentiles::of(&recording.ok_corrected);
        let all = Percentiles::of(&recording.all_corrected);
        let row = Second {
            second: index,
            target_rps: mean_rate(
                &self.config.schedule,
                self.config.warmup + Duration::from_secs(index),
                Duration::from_secs(1),
            ),
            sent_rps: counts.sent as f64 / secs,
            achieved_rps: counts.ok as f64 / secs,
            errors: counts.error_total(),
            p50_ms: ok.map(|p| p.p50),
            p99_ms: ok.map(|p| p.p99),
            p95_ms: ok.map(|p| p.p95),
            all_p95_ms: all.map(|p| p.p95),
            all_p99_ms: all.map(|p| p.p99),
            generator_lag_p99_ms: Percentiles::of(&recording.generator_lag).map(|p| p.p99),
            generator_busy: busy,
            connections_open,
        };
        if self.config.progress {
            eprintln!(
                "[{:>4} s] sent {:>9.0}/s  ok {:>9.0}/s  ok p50 {:>8} ms  ok p99 {:>8} ms  errors {}",
                index + 1,
                row.sent_rps,
                row.achieved_rps,
                or_dash(row.p50_ms, 3),
                or_dash(row.p99_ms, 3),
                row.errors
            );
        }
        self.totals.merge(&recording).map_err(LoadError::Lost)?;
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
        let watched = super::Watched {
            row: &row,
            second: &recording,
            totals: &self.totals,
        };
        for watcher in &self.config.watchers {
            watcher.second(&watched);
        }
        self.timeline.push(row);
        Ok(())
    }
}

/// A URL's path and query, its per-URL name when the URL file gives none.
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or("/".to_string(), |at| after_scheme[at..].to_string())
}

/// The mean of the schedule's rate over `[from, from + length)`: the requests due in it
/// over its length (None in closed loop).
fn mean_rate(schedule: &Schedule, from: Duration, length: Duration) -> Option<f64> {
    if !schedule.is_open() || length.is_zero() {
        return schedule.rate_at(from);
    }
    let due = schedule.due_by(from + length) - schedule.due_by(from);
    Some(due / length.as_secs_f64())
}

impl Collected {
    /// Each URL's figures of a mix (empty with one URL): what a request to it cost,
    /// alone.
    fn per_url(&self, config: &LoadConfig, secs: f64) -> Vec<UrlReport> {
        self.per_url
            .iter()
            .enumerate()
            .map(|(i, recording)| {
                let (weight, url) = config
                    .mix
                    .get(i)
                    .cloned()
                    .unwrap_or((1.0, config.url.clone()));
                let name = config
                    .mix_names
                    .get(i)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| url_path(&url));
                let counts = &recording.counts;
                let requests = RequestCounts::of(counts);
                UrlReport {
                    name,
                    url,
                    weight,
                    requests,
                    achieved_rps: counts.ok as f64 / secs,
                    error_share: requests.failure_share(),
                    errors: error_map(counts),
                    status_counts: status_map(counts),
                    latency_ms: Latency {
                        ok: LatencyView::of(
                            &recording.ok_corrected,
                            &recording.ok_service,
                            requests.scheduled,
                        ),
                        all: LatencyView::of(
                            &recording.all_corrected,
                            &recording.all_service,
                            requests.scheduled,
                        ),
                    },
                }
            })
            .collect()
    }

    /// What a merge of shards gathered, as if one collector had.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn merged(
        totals: Recording,
        timeline: Vec<Second>,
        cpu_seconds: f64,
        window_cpu_seconds: Option<f64>,
        unserved: u64,
        busy: Option<f64>,
        measure_start: Instant,
        last_answer: Option<Instant>,
        ramp: Option<RampTally>,
    ) -> Self {
        Self {
            totals,
            timeline,
            cpu_seconds,
            window_cpu_seconds,
            panics: Vec::new(),
            unreported: 0,
            elapsed: Duration::ZERO,
            ended_early: None,
            unserved,
            busy,
            last_answer,
            measure_start,
            ramp,
            sends: Vec::new(),
            per_url: Vec::new(),
        }
    }

    /// This run's raw counters and histograms as shard `index` of `count`.
    pub(crate) fn raw(&self, index: usize, count: usize) -> super::report::ShardRaw {
        super::report::ShardRaw {
            index,
            count,
            recording: (&self.totals).into(),
            ramp: self.ramp.as_ref().map(Into::into),
            unserved: self.unserved,
            last_answer_s: self.last_answer.map(|at| {
                at.saturating_duration_since(self.measure_start)
                    .as_secs_f64()
            }),
        }
    }

    /// The measured window: the planned duration, cut at the instant the run was
    /// stopped (Ctrl-C) or its count spent; a run with no duration lasts as long as it
    /// ran. Rates divide by this, so a run stopped at 3 s of 60 reports its rate over
    /// 3 s, not 3/60 of it.
    fn window(&self, planned: Option<Duration>) -> Duration {
        let until_cut = self
            .ended_early
            .map(|at| at.saturating_duration_since(self.measure_start));
        let window = match (planned, until_cut) {
            (Some(planned), Some(cut)) => planned.min(cut),
            (Some(planned), None) => planned,
            (None, _) => self.elapsed,
        };
        window.max(Duration::from_millis(1))
    }

    /// Adds the panics of worker threads (their joins' messages).
    pub(crate) fn thread_panics(&mut self, panics: Vec<String>) {
        self.panics.extend(panics);
    }

    /// After a panic, the requests sent and never ended (a panicked task's, a panicked
    /// thread's whole share) are counted unfinished, so the counts still add up; and
    /// why the run is invalid. Nothing when nothing panicked.
    fn account_for_panics(&mut self) -> Vec<String> {
        let mut reasons: Vec<String> = self
            .panics
            .iter()
            .map(|message| {
                format!("the generator panicked (a bug in sabench; please report it): {message}")
            })
            .collect();
        if self.unreported > 0 && self.panics.is_empty() {
            reasons.push(format!(
                "{} generator thread(s) ended without reporting (a bug in sabench; please report it)",
                self.unreported
            ));
        }
        if !reasons.is_empty() {
            let counts = &mut self.totals.counts;
            let lost = counts
                .sent
                .saturating_sub(counts.answered() + counts.in_flight_at_end);
            counts.in_flight_at_end += lost;
        }
        reasons
    }

    /// The final report.
    pub(crate) fn into_report(
        mut self,
        config: &LoadConfig,
        target: &Target,
        threads: usize,
        processes: usize,
        generator_rss_mib: f64,
    ) -> LoadReport {
        let panicked = self.account_for_panics();
        self.report(
            config,
            target,
            threads,
            processes,
            generator_rss_mib,
            panicked,
        )
    }

    /// The final report, with `panicked` first among the reasons it is invalid.
    #[allow(clippy::too_many_arguments)]
    fn report(
        self,
        config: &LoadConfig,
        target: &Target,
        threads: usize,
        processes: usize,
        generator_rss_mib: f64,
        panicked: Vec<String>,
    ) -> LoadReport {
        let window = self.window(config.duration);
        let secs = window.as_secs_f64();
        let counts = &self.totals.counts;
        let requests = RequestCounts::of(counts);
        let target_rps = mean_rate(&config.schedule, config.warmup, window);
        let sent_rps = counts.sent as f64 / secs;
        let generator_lag = Percentiles::of(&self.totals.generator_lag);
        let latency = Latency {
            ok: LatencyView::of(
                &self.totals.ok_corrected,
                &self.totals.ok_service,
                requests.scheduled,
            ),
            // The all view holds the window's requests and the warm-up's failed or
            // unfinished ones carried into it.
            all: LatencyView::of(
                &self.totals.all_corrected,
                &self.totals.all_service,
                requests.scheduled + requests.carried_over.in_all_view(),
            ),
        };
        let last_answer_s = self.last_answer.map(|at| {
            at.saturating_duration_since(self.measure_start)
                .as_secs_f64()
        });
        let reasons = Reasons {
            config,
            requests: &requests,
            window,
            last_answer_s,
            target_rps,
            sent_rps,
            ok_service_p50_ms: latency.ok.service.map(|p| p.p50),
            generator_lag_p99_ms: generator_lag.map(|p| p.p99),
            busy: self.busy,
        };
        let (mut invalid_reasons, generator_limited) = reasons.list();
        invalid_reasons.splice(0..0, panicked.iter().cloned());
        invalid_reasons.extend(super::validity::stage_shortfalls(
            &config.schedule,
            config.warmup,
            &self.timeline,
        ));
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
            protocol: config.protocol,
            streams: config.streams,
            threads,
            duration_s: secs,
            warmup_s: config.warmup.as_secs_f64(),
            drain_s: config.drain().as_secs_f64(),
            requests,
            requests_sent: counts.sent,
            requests_ok: counts.ok,
            error_share: requests.failure_share(),
            errors: error_map(counts),
            status_counts: status_map(counts),
            bytes_received: counts.bytes_received,
            received_bytes_per_s: counts.bytes_received as f64 / secs,
            latency_ms: latency,
            send_delay_ms: Percentiles::of(&self.totals.send_delay),
            connect_ms: Percentiles::of(&self.totals.connect),
            latency_distribution: super::distribution::Distribution::of(&self.totals.ok_corrected),
            server_wait_ms: Percentiles::of(&self.totals.server_wait),
            connections_unserved: self.unserved,
            generator_lag_ms: generator_lag,
            last_answer_s,
            generator_busy: self.busy,
            valid: invalid_reasons.is_empty(),
            invalid_reasons,
            generator_limited,
            generator_cpu_s: self.cpu_seconds,
            generator_window_cpu_s: self.window_cpu_seconds,
            generator_panics: panicked,
            generator_peak_rss_mib: generator_rss_mib,
            generator_processes: processes,
            thresholds: Vec::new(),
            knee: None,
            per_url: self.per_url(config, secs),
            shard: None,
            connection_ramp: self
                .ramp
                .as_ref()
                .zip(config.ramp)
                .map(|(tally, per_second)| tally.report(config.connections, per_second)),
            timeline: self.timeline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons<'a>(
        config: &'a LoadConfig,
        requests: &'a RequestCounts,
        last_answer_s: Option<f64>,
        sent_rps: f64,
        busy: Option<f64>,
    ) -> Vec<String> {
        Reasons {
            config,
            requests,
            window: config.duration.unwrap_or_default(),
            last_answer_s,
            target_rps: config.schedule.initial_rate(),
            sent_rps,
            ok_service_p50_ms: Some(20.0),
            generator_lag_p99_ms: Some(0.1),
            busy,
        }
        .list()
        .0
    }

    #[test]
    fn a_panicked_thread_makes_its_requests_unfinished_and_says_why() {
        // 10 sent, 4 answered, 1 in flight at the end: 5 vanished with a thread.
        let after_a_lost_thread = || {
            let mut totals = Recording::default();
            totals.counts.sent = 10;
            totals.counts.ok = 4;
            totals.counts.in_flight_at_end = 1;
            let mut collected = Collected::merged(
                totals,
                Vec::new(),
                0.0,
                None,
                0,
                None,
                Instant::now(),
                None,
                None,
            );
            collected.unreported = 1;
            collected
        };
        let mut silent = after_a_lost_thread();
        assert_eq!(
            silent.account_for_panics(),
            ["1 generator thread(s) ended without reporting (a bug in sabench; please report it)"]
        );
        let mut told = after_a_lost_thread();
        told.thread_panics(vec!["boom".into()]);
        assert_eq!(
            told.account_for_panics(),
            ["the generator panicked (a bug in sabench; please report it): boom"]
        );
        for collected in [silent, told] {
            let counts = &collected.totals.counts;
            assert_eq!(counts.in_flight_at_end, 6, "the 5 sent and never ended");
            assert_eq!(counts.sent, counts.answered() + counts.in_flight_at_end);
        }
        let mut clean = after_a_lost_thread();
        clean.unreported = 0;
        assert!(clean.account_for_panics().is_empty());
        assert_eq!(
            clean.totals.counts.in_flight_at_end, 1,
            "nothing panicked: untouched"
        );
    }

    #[test]
    fn a_run_stopped_early_is_measured_over_the_time_it_ran() {
        let start = Instant::now();
        let mut collected = Collected::merged(
            Recording::default(),
            Vec::new(),
            0.0,
            None,
            0,
            None,
            start,
            None,
            None,
        );
        collected.elapsed = Duration::from_secs(4);
        let minute = Some(Duration::from_secs(60));
        assert_eq!(collected.window(minute), Duration::from_secs(60));
        assert_eq!(collected.window(None), Duration::from_secs(4), "no plan");
        collected.ended_early = Some(start + Duration::from_secs(3));
        assert_eq!(collected.window(minute), Duration::from_secs(3), "Ctrl-C");
        collected.ended_early = start.checked_sub(Duration::from_secs(1));
        assert_eq!(
            collected.window(minute),
            Duration::from_millis(1),
            "stopped in the warm-up: an empty window, never a negative one"
        );
    }

    #[test]
    fn a_busy_closed_loop_generator_makes_the_run_invalid() {
        let config = LoadConfig::closed("http://127.0.0.1:1/", 8, Duration::from_secs(5));
        let requests = RequestCounts::default();
        let busy = reasons(&config, &requests, Some(5.0), 1e5, Some(0.97));
        assert_eq!(busy.len(), 1);
        assert!(busy[0].contains("generator was the bottleneck"), "{busy:?}");
        assert!(busy[0].contains("97 %"), "{busy:?}");
        assert!(reasons(&config, &requests, Some(5.0), 1e5, Some(0.5)).is_empty());
        assert!(reasons(&config, &requests, Some(5.0), 1e5, None).is_empty());
    }

    #[test]
    fn a_stall_and_a_connection_cap_are_told_apart() {
        let config = LoadConfig::open("http://127.0.0.1:1/", 200.0, 16, Duration::from_secs(6));
        let stalled = RequestCounts {
            scheduled: 1200,
            sent: 816,
            unsent: 384,
            answered: 800,
            in_flight_at_end: 16,
            unfinished: 400,
            ok: 800,
            ..RequestCounts::default()
        };
        let stall = reasons(&config, &stalled, Some(4.0), 136.0, None);
        assert_eq!(
            stall,
            ["the target stopped answering at 4.0 s (no replies for 2.0 s; 384 requests unsent, 16 in flight)"]
        );
        // Answers until the end: the connections, not a stall, held the rate down.
        let capped = reasons(&config, &stalled, Some(5.99), 136.0, None);
        assert_eq!(capped.len(), 1);
        assert!(capped[0].contains("--connections 16"), "{capped:?}");
        assert!(capped[0].contains("allow about 800 req/s"), "{capped:?}");
        let never = reasons(&config, &stalled, None, 136.0, None);
        assert!(never[0].contains("never answered"), "{never:?}");
    }
}
