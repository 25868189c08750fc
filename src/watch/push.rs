//! `--metrics-push URL`: the figures `/metrics` serves, pushed once a second to a
//! Prometheus remote-write receiver on loopback (remote write 1.0: a protobuf
//! `WriteRequest`, prost, block-compressed with snappy, snap), for a run nothing can
//! scrape. Each push is the exposition's text read back into series (so a pushed series
//! is a scraped one, name and labels alike) stamped with the push's time; the last push
//! comes after the run, so its final figures land.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message as _;

use super::metrics::Exposition;

/// How often the figures are pushed (they move once a second).
const EVERY: Duration = Duration::from_secs(1);
/// The bound on one push.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Remote write 1.0's request: the series of one push.
#[derive(Clone, PartialEq, prost::Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
}

/// One series: its labels (`__name__` first, sorted by name) and its samples.
#[derive(Clone, PartialEq, prost::Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

/// Why pushing could not start.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Not an `http://` URL.
    #[error("--metrics-push {0}: not an http:// URL (e.g. http://127.0.0.1:9090/api/v1/write)")]
    NotHttp(String),
    /// Not on loopback.
    #[error("--metrics-push {0}: not a loopback address: the metrics are pushed to 127.0.0.1, [::1] or localhost only")]
    NotLoopback(String),
    /// The pushing thread could not start.
    #[error("--metrics-push {url}: {source}")]
    Thread {
        /// The URL.
        url: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The series of an OpenMetrics text (`name{label="value",…} value` lines; comments
/// and `# EOF` skipped), each with its labels sorted, `__name__` first.
fn series(text: &str) -> Vec<(Vec<(String, String)>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(sample_line)
        .collect()
}

/// One sample line read, or None when it is not one.
fn sample_line(line: &str) -> Option<(Vec<(String, String)>, f64)> {
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let close = line.rfind('}')?;
            (
                &line[..open],
                labels(&line[open + 1..close])?,
                &line[close + 1..],
            )
        }
        None => {
            let (name, rest) = line.split_once(' ')?;
            (name, Vec::new(), rest)
        }
    };
    let value = number(rest.split_whitespace().next()?)?;
    let mut all = vec![("__name__".to_string(), name.to_string())];
    all.extend(labels);
    all.sort();
    Some((all, value))
}

/// `a="x",b="y\"z"` read into pairs, the escapes (`\\`, `\"`, `\n`) undone.
fn labels(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = text.trim_start_matches(',');
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (at, c) = chars.next()?;
            match c {
                '"' => break at,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        };
        out.push((name.trim().to_string(), value));
        rest = after[end + 1..].trim_start_matches(',');
    }
    Some(out)
}

/// A sample's value: a number, `+Inf`, `-Inf` or `NaN`.
fn number(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

/// The body of one push: the text's series at `timestamp_ms`, as a snappy-compressed
/// `WriteRequest`.
fn body(text: &str, timestamp_ms: i64) -> Vec<u8> {
    let request = WriteRequest {
        timeseries: series(text)
            .into_iter()
            .map(|(labels, value)| TimeSeries {
                labels: labels
                    .into_iter()
                    .map(|(name, value)| Label { name, value })
                    .collect(),
                samples: vec![Sample {
                    value,
                    timestamp: timestamp_ms,
                }],
            })
            .collect(),
    };
    let encoded = request.encode_to_vec();
    // Compressing a buffer in memory cannot fail but for a size over 4 GiB.
    snap::raw::Encoder::new()
        .compress_vec(&encoded)
        .unwrap_or_default()
}

/// The URL, when it is `http://` to a loopback host (read by the suite's one URL
/// parser, `load::target::parse_url`).
fn loopback_url(url: &str) -> Result<String, PushError> {
    let parts = crate::load::target::parse_url(url).map_err(|_| PushError::NotHttp(url.into()))?;
    if parts.tls {
        return Err(PushError::NotHttp(url.into()));
    }
    match parts.is_loopback() {
        true => Ok(url.to_string()),
        false => Err(PushError::NotLoopback(url.into())),
    }
}

/// Pushes and their failures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PushTally {
    /// Pushes the receiver took (2xx).
    pub pushed: u64,
    /// Pushes that failed (no connection, a timeout, another status).
    pub failed: u64,
}

/// Pushes the exposition once a second on a thread of its own, and once more when
/// stopped (dropped).
pub struct Pusher {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<PushTally>>,
}

impl Pusher {
    /// Starts pushing `exposition` to `url` (loopback only).
    pub fn start(url: &str, exposition: Arc<Exposition>) -> Result<Self, PushError> {
        let url = loopback_url(url)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (target, stopped) = (url.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("metrics-push".into())
            .spawn(move || push_until(&target, &exposition, &stopped))
            .map_err(|source| PushError::Thread {
                url: url.clone(),
                source,
            })?;
        Ok(Self {
            url,
            stop,
            thread: Some(thread),
        })
    }

    /// Pushes once more and stops; how the pushes went.
    pub fn finish(mut self) -> PushTally {
        self.stop()
    }

    fn stop(&mut self) -> PushTally {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }

    /// Where it pushes.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Pushes every [`EVERY`] until `stop`, then once more. The first failure is said on
/// stderr with what to check; the tally says the rest.
fn push_until(url: &str, exposition: &Arc<Exposition>, stop: &AtomicBool) -> PushTally {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let registry = exposition.registry();
    let mut tally = PushTally::default();
    loop {
        let last = stop.load(Ordering::Relaxed);
        match push_once(&agent, url, &registry) {
            Ok(()) => tally.pushed += 1,
            Err(why) => {
                if tally.failed == 0 {
                    eprintln!(
                        "metrics push to {url} failed: {why} (is a remote-write receiver there, e.g. prometheus --web.enable-remote-write-receiver?); trying again each second"
                    );
                }
                tally.failed += 1;
            }
        }
        if last {
            return tally;
        }
        let due = std::time::Instant::now() + EVERY;
        while std::time::Instant::now() < due && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn push_once(
    agent: &ureq::Agent,
    url: &str,
    registry: &prometheus_client::registry::Registry,
) -> Result<(), String> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).map_err(|e| e.to_string())?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let response = agent
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .send(&body(&text, now_ms)[..])
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    match (200..300).contains(&status) {
        true => Ok(()),
        false => Err(format!("it answered {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_read_back_into_series_with_sorted_labels() {
        let text = "# HELP x y\n# TYPE sabench_requests counter\nsabench_requests_total{url=\"http://127.0.0.1:1/a\",outcome=\"ok\",cell=\"\"} 12\nsabench_lat_bucket{le=\"+Inf\",url=\"q\\\"r\"} 3\nplain 1.5\n# EOF\n";
        let got = series(text);
        assert_eq!(got.len(), 3);
        let (labels, value) = &got[0];
        assert_eq!(*value, 12.0);
        let names: Vec<&str> = labels.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["__name__", "cell", "outcome", "url"]);
        assert_eq!(labels[0].1, "sabench_requests_total");
        assert_eq!(labels[3].1, "http://127.0.0.1:1/a");
        assert_eq!(got[1].0[1], ("le".to_string(), "+Inf".to_string()));
        assert_eq!(got[1].0[2], ("url".to_string(), "q\"r".to_string()));
        assert_eq!(got[2].0, vec![("__name__".into(), "plain".into())]);
        assert_eq!(got[2].1, 1.5);
    }

    #[test]
    fn a_push_decodes_back_to_its_series() {
        let compressed = body("a_total{k=\"v\"} 7\n", 1_700_000_000_000);
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .unwrap();
        let request = WriteRequest::decode(&raw[..]).unwrap();
        assert_eq!(request.timeseries.len(), 1);
        let series = &request.timeseries[0];
        assert_eq!(series.labels[0].name, "__name__");
        assert_eq!(series.labels[0].value, "a_total");
        assert_eq!(series.labels[1].value, "v");
        assert_eq!(series.samples[0].value, 7.0);
        assert_eq!(series.samples[0].timestamp, 1_700_000_000_000);
    }

    #[test]
    fn only_http_to_loopback_is_pushed_to() {
        assert!(loopback_url("http://127.0.0.1:9090/api/v1/write").is_ok());
        assert!(loopback_url("http://[::1]:9090/api/v1/write").is_ok());
        assert!(loopback_url("http://localhost:9090/api/v1/write").is_ok());
        assert!(matches!(
            loopback_url("http://10.0.0.5:9090/api/v1/write"),
            Err(PushError::NotLoopback(_))
        ));
        assert!(matches!(
            loopback_url("https://127.0.0.1/x"),
            Err(PushError::NotHttp(_))
        ));
        assert!(matches!(
            loopback_url("nonsense"),
            Err(PushError::NotHttp(_))
        ));
    }
}
