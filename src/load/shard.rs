//! One run over many machines (or pods): each runs **shard I of N** of the same run
//! from a common `--start-at`, its worker threads of the one plan, and writes its
//! report with the raw counters and histograms that `sabench merge` adds up exactly
//! (see [`super::merge`]). Several processes on one machine are [`super::split`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::Arc;

use super::plan::Plan;
use super::{peak_rss_mib, LoadConfig, LoadError, Target};

/// Which shard of a run over many machines this process runs, and when the run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardOf {
    /// Its number, from 0 (`--shard 1/4` is index 0).
    pub index: usize,
    /// Shards in the run.
    pub count: usize,
    /// The common start, ns since the Unix epoch.
    pub start_unix_ns: u64,
}

/// Runs shard `of` of the run `config` describes (its whole rate and connections): its
/// worker threads of the whole plan, from the common start; the report is its share's,
/// with the raw counters and histograms `sabench merge` adds up exactly.
pub(crate) fn run_as_shard(
    config: &LoadConfig,
    of: ShardOf,
    target: &Target,
    tls: Option<super::tls::TlsClient>,
    hlog: Option<super::collector::HlogWriter>,
) -> Result<super::LoadReport, LoadError> {
    let threads = config
        .threads
        .clamp(1, config.connections.div_ceil(of.count).max(1));
    let workers = threads * of.count;
    let plan = Arc::new(Plan::new(
        config,
        target,
        instant_of(of.start_unix_ns),
        tls,
    )?);
    let indices = of.index * threads..(of.index + 1) * threads;
    let total = config.connections;
    let mine: usize = indices
        .clone()
        .map(|i| total / workers + usize::from(i < total % workers))
        .sum();
    // Its share: the rate and connections it sends, judged as such.
    let share = LoadConfig {
        connections: mine,
        schedule: config.schedule.clone().scaled(1.0 / of.count as f64),
        ..config.clone()
    };
    let (mut collected, panics) = super::workers::run(&plan, indices, workers, |messages| {
        super::collector::collect(messages, threads, hlog, &share, plan.measure_start)
    })?;
    collected.thread_panics(panics);
    let raw = collected.raw(of.index, of.count);
    let mut report = collected.into_report(&share, target, threads, 1, peak_rss_mib());
    report.shard = Some(raw);
    Ok(report)
}

/// Parses `--shard I/N` (from 1).
pub fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let hint = || format!("--shard {text:?}: write I/N with 1 ≤ I ≤ N, e.g. 2/4");
    let (index, count) = text.split_once('/').ok_or_else(hint)?;
    let (index, count): (usize, usize) = (
        index.trim().parse().map_err(|_| hint())?,
        count.trim().parse().map_err(|_| hint())?,
    );
    if index == 0 || index > count {
        return Err(hint());
    }
    Ok((index - 1, count))
}

/// Parses `--start-at`: an RFC 3339 time (`2026-11-24T10:00:00Z`) or Unix seconds.
pub fn parse_start_at(text: &str) -> Result<u64, String> {
    let hint = "give an RFC 3339 time (2026-11-24T10:00:00Z) or Unix seconds, a few seconds ahead";
    let at = match text.parse::<f64>() {
        Ok(seconds) => Duration::try_from_secs_f64(seconds)
            .ok()
            .and_then(|since| UNIX_EPOCH.checked_add(since))
            .ok_or_else(|| format!("--start-at {text:?} is not a time: {hint}"))?,
        Err(_) => humantime::parse_rfc3339_weak(text)
            .map_err(|e| format!("--start-at {text:?}: {e}; {hint}"))?,
    };
    let ns = at
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| u64::try_from(since.as_nanos()).ok())
        .ok_or_else(|| format!("--start-at {text:?} is not a time: {hint}"))?;
    super::input_bounds::check_start(ns, SystemTime::now())?;
    Ok(ns)
}

/// The wall-clock instant `unix_ns` as this process's monotonic clock reads it.
pub(super) fn instant_of(unix_ns: u64) -> Instant {
    let at = UNIX_EPOCH + Duration::from_nanos(unix_ns);
    let now = Instant::now();
    // A start checked by `input_bounds::check_start` is within a day either way; an
    // order from elsewhere is clamped there rather than overflowing.
    let within = |span: Duration| span.min(super::input_bounds::MAX_START_AHEAD);
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => now + within(ahead),
        Err(behind) => now.checked_sub(within(behind.duration())).unwrap_or(now),
    }
}
