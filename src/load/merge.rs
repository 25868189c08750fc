//! Load from many machines: `sabench load --shard I/N --start-at T` runs shard I of one
//! plan (its worker threads of the whole run, the same start, schedule and ramp) and
//! writes, with its report, its raw counters and histograms ([`ShardRaw`]);
//! `sabench merge` adds the shards exactly — counts add, histograms add, percentiles
//! are recomputed from the merged histograms (never averaged), rates add — and the
//! merged run is valid only when every shard was, each shard's reasons kept.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::collector::Collected;
use super::ramp::RampTally;
use super::recorder::Recording;
use super::report::{LoadReport, Second};
use super::{LoadConfig, Schedule, Target};

pub use super::report::ShardRaw;

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A report is not a shard's.
    #[error("{0} is not a shard's report (run each with --shard I/N --json FILE)")]
    NotAShard(String),
    /// The shards do not make one run.
    #[error("the shards do not make one run: {0}")]
    Mismatch(String),
    /// A histogram would not decode.
    #[error("{0}")]
    Histogram(String),
    /// A number in a shard's report is out of its range (negative, not a number, or
    /// longer than a run may take).
    #[error("{name}: {field} is {value}, which no run produces: is the file a shard's report, whole and unedited?")]
    OutOfRange {
        /// The shard's file.
        name: String,
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
}

/// A span of seconds from a shard's report, checked: at least 0, a number, and within
/// what a run may take.
fn seconds_of(name: &str, field: &'static str, value: f64) -> Result<Duration, MergeError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|span| super::input_bounds::check_span(field, *span).is_ok())
        .ok_or_else(|| MergeError::OutOfRange {
            name: name.to_string(),
            field,
            value,
        })
}

/// Merges the shards' reports (`names` name them in errors and reasons) into the
/// report of the whole run.
pub fn merge(reports: &[LoadReport], names: &[String]) -> Result<LoadReport, MergeError> {
    let raws: Vec<&ShardRaw> = reports
        .iter()
        .zip(names)
        .map(|(r, name)| {
            r.shard
                .as_ref()
                .ok_or_else(|| MergeError::NotAShard(name.clone()))
        })
        .collect::<Result<_, _>>()?;
    check_one_run(reports, &raws)?;
    for ((report, raw), name) in reports.iter().zip(&raws).zip(names) {
        seconds_of(name, "warmup_s", report.warmup_s)?;
        seconds_of(name, "duration_s", report.duration_s)?;
        if let Some(s) = raw.last_answer_s {
            // Before the window began (negative) is a real answer in the warm-up.
            seconds_of(name, "last_answer_s", s.abs())?;
        }
    }
    let mut totals = Recording::default();
    let mut ramp: Option<RampTally> = None;
    for raw in &raws {
        let shard = |why: String| MergeError::Histogram(format!("shard {}: {why}", raw.index + 1));
        totals
            .merge(&raw.recording.decode().map_err(shard)?)
            .map_err(shard)?;
        if let Some(text) = &raw.ramp {
            let tally = text.decode().map_err(shard)?;
            ramp.get_or_insert_with(RampTally::default).merge(&tally);
        }
    }
    let first = &reports[0];
    let target_rps: Option<f64> = reports.iter().map(|r| r.target_rps).sum();
    let connections: usize = reports.iter().map(|r| r.connections).sum();
    let config = LoadConfig {
        schedule: target_rps.map_or(Schedule::Closed, |rate| Schedule::Constant { rate }),
        warmup: seconds_of(&names[0], "warmup_s", first.warmup_s)?,
        ramp: first.connection_ramp.as_ref().map(|r| r.per_second),
        protocol: first.protocol,
        streams: first.streams,
        ..LoadConfig::closed(
            &first.url,
            connections,
            seconds_of(&names[0], "duration_s", first.duration_s)?,
        )
    };
    let last_answer_s = raws.iter().filter_map(|r| r.last_answer_s).reduce(f64::max);
    let origin = Instant::now();
    let collected = Collected::merged(
        totals,
        merged_timeline(reports),
        reports.iter().map(|r| r.generator_cpu_s).sum(),
        reports
            .iter()
            .map(|r| r.generator_window_cpu_s)
            .sum::<Option<f64>>(),
        raws.iter().map(|r| r.unserved).sum(),
        reports
            .iter()
            .filter_map(|r| r.generator_busy)
            .reduce(f64::max),
        origin,
        last_answer_s.map(|s| origin + Duration::from_secs_f64(s.max(0.0))),
        ramp,
    );
    let target = Target {
        url: first.url.clone(),
        ..Target::parse("http://127.0.0.1:1/", false)
            .map_err(|e| MergeError::Mismatch(e.to_string()))?
    };
    let threads = reports.iter().map(|r| r.threads).sum();
    let rss = reports.iter().map(|r| r.generator_peak_rss_mib).sum();
    let mut merged = collected.into_report(&config, &target, threads, reports.len(), rss);
    for (report, raw) in reports.iter().zip(&raws) {
        for reason in &report.invalid_reasons {
            merged
                .invalid_reasons
                .push(format!("shard {}/{}: {reason}", raw.index + 1, raw.count));
        }
        merged.generator_limited |= report.generator_limited;
    }
    merged.valid = merged.invalid_reasons.is_empty();
    Ok(merged)
}

/// The shards must be the N shards of one run: one URL, one window, each index once.
fn check_one_run(reports: &[LoadReport], raws: &[&ShardRaw]) -> Result<(), MergeError> {
    let count = raws[0].count;
    let mut seen = vec![false; count];
    for (report, raw) in reports.iter().zip(raws) {
        if raw.count != count {
            return Err(MergeError::Mismatch(format!(
                "one shard is of {} and another of {count}",
                raw.count
            )));
        }
        if raw.index >= count || std::mem::replace(&mut seen[raw.index], true) {
            return Err(MergeError::Mismatch(format!(
                "shard {}/{count} is given twice (or is out of range)",
                raw.index + 1
            )));
        }
        if report.url != reports[0].url {
            return Err(MergeError::Mismatch(format!(
                "one shard loaded {} and another {}",
                reports[0].url, report.url
            )));
        }
        if report.duration_s != reports[0].duration_s {
            return Err(MergeError::Mismatch(format!(
                "one shard measured {:.1} s and another {:.1} s: a shard stopped early \
                 (by Ctrl-C or its -n) has a shorter window; run it again with the others",
                reports[0].duration_s, report.duration_s
            )));
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        return Err(MergeError::Mismatch(format!(
            "shard {}/{count} is missing: merge every shard of the run",
            missing + 1
        )));
    }
    Ok(())
}

/// The shards' timelines, second by second: rates and errors add. Per-second
/// percentiles cannot be added; they are left out (merge the shards' HdrHistogram logs
/// for them).
fn merged_timeline(reports: &[LoadReport]) -> Vec<Second> {
    let mut seconds: BTreeMap<u64, Second> = BTreeMap::new();
    for report in reports {
        for row in &report.timeline {
            let merged = seconds.entry(row.second).or_insert(Second {
                second: row.second,
                ..Second::default()
            });
            merged.target_rps = match (merged.target_rps, row.target_rps) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
            merged.sent_rps += row.sent_rps;
            merged.achieved_rps += row.achieved_rps;
            merged.errors += row.errors;
            merged.connections_open += row.connections_open;
            merged.generator_busy =
                super::collector::max_option(merged.generator_busy, row.generator_busy);
        }
    }
    seconds.into_values().collect()
}

/// Merges the shards' HdrHistogram interval logs into one at `output`: the intervals of
/// each second and tag add up exactly (the shards share their start, so their seconds
/// line up).
pub fn merge_logs(
    inputs: &[std::path::PathBuf],
    output: &std::path::Path,
) -> Result<(), MergeError> {
    use base64::Engine as _;
    use hdrhistogram::serialization::interval_log::{
        IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
    };
    let mut intervals: BTreeMap<
        (u128, String),
        (Duration, Duration, hdrhistogram::Histogram<u64>),
    > = BTreeMap::new();
    let unreadable = |path: &std::path::Path, why: String| {
        MergeError::Histogram(format!("{}: {why}", path.display()))
    };
    for path in inputs {
        let bytes = std::fs::read(path).map_err(|e| unreadable(path, e.to_string()))?;
        for entry in IntervalLogIterator::new(&bytes) {
            let entry = entry.map_err(|e| unreadable(path, format!("{e:?}")))?;
            let LogEntry::Interval(interval) = entry else {
                continue;
            };
            let tag = interval
                .tag()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default();
            let raw = base64::engine::general_purpose::STANDARD
                .decode(interval.encoded_histogram())
                .map_err(|e| unreadable(path, e.to_string()))?;
            let histogram: hdrhistogram::Histogram<u64> =
                hdrhistogram::serialization::Deserializer::new()
                    .deserialize(&mut raw.as_slice())
                    .map_err(|e| unreadable(path, format!("{e:?}")))?;
            let start = interval.start_timestamp();
            let key = (start.as_millis(), tag);
            match intervals.get_mut(&key) {
                Some((_, length, total)) => {
                    *length = (*length).max(interval.duration());
                    total
                        .add(&histogram)
                        .map_err(|e| unreadable(path, format!("{e:?}")))?;
                }
                None => {
                    intervals.insert(key, (start, interval.duration(), histogram));
                }
            }
        }
    }
    let write_error = |e: String| MergeError::Histogram(format!("{}: {e}", output.display()));
    let mut file = std::fs::File::create(output).map_err(|e| write_error(e.to_string()))?;
    let mut serializer = hdrhistogram::serialization::V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment("merged by sabench merge from the shards' logs")
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut file, &mut serializer)
        .map_err(|e| write_error(e.to_string()))?;
    // By second, then tag: the order the shards wrote them in.
    let mut ordered: Vec<_> = intervals.into_iter().collect();
    ordered.sort_by(|((a, at), _), ((b, bt), _)| a.cmp(b).then(at.cmp(bt)));
    for ((_, tag), (start, length, histogram)) in ordered {
        writer
            .write_histogram(&histogram, start, length, Tag::new(&tag))
            .map_err(|e| write_error(format!("{e:?}")))?;
    }
    Ok(())
}
