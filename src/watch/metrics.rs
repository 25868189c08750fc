//! `--metrics-listen ADDR`: the generator's figures as OpenMetrics text on
//! `http://ADDR/metrics` while a run goes, for Prometheus to scrape. The collector hands
//! a load's [`Figures`] (a [`Watcher`]) each finished second and the window's running
//! totals; a scrape encodes the latest figures of every load of the process (the
//! [`Exposition`], with prometheus-client's text encoder), so a scrape costs the
//! generator nothing and the figures move once a second.
//!
//! Exposed, each labelled by `url` and `cell` (empty outside `sabench run`), one series
//! a load (a cell's stay at their last values):
//! requests by outcome (`ok` or an error class) and by status, requests sent, bytes
//! received, requests in flight, the scheduled and achieved rate of the last second,
//! the generator's lag (p99 of the window), and the corrected latency of the successes
//! and of every request as histograms (cumulative over the window, bucketed from the
//! HdrHistograms at fixed bounds). Under `sabench run`, also the server of the cell
//! running now, labelled by `style` and `cell`: resident memory, CPU time, threads and
//! threads runnable, read from /proc at the scrape.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::load::recorder::{Counts, ErrorClass};
use crate::load::report::{Percentiles, Second};
use crate::load::{Watched, Watcher};

/// The latency histograms' bucket bounds, seconds.
const BOUNDS_S: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// What a scrape reads: the window's totals so far and the last second.
#[derive(Debug)]
struct Latest {
    counts: Counts,
    ok: Histogram<u64>,
    all: Histogram<u64>,
    lag_p99_s: f64,
    second: Second,
}

/// One load's figures (a run's, or a cell's), labelled by its URL and cell: fed by the
/// collector as a [`Watcher`], read by the [`Exposition`] it belongs to.
#[derive(Debug)]
pub struct Figures {
    labels: Vec<(String, String)>,
    latest: Mutex<Option<Latest>>,
}

/// The server a `sabench run` cell is measuring, read at each scrape from /proc.
#[derive(Debug, Clone)]
struct Server {
    pid: u32,
    labels: Vec<(String, String)>,
}

/// Every load of a process (one for `sabench load`, one a cell for `sabench run`) and
/// the server of the cell running now, as one set of metric families.
#[derive(Debug, Default)]
pub struct Exposition {
    sources: Mutex<Vec<Arc<Figures>>>,
    server: Mutex<Option<Server>>,
}

impl Exposition {
    /// An exposition with no load yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The figures of a load against `url` in `cell` (empty outside `sabench run`),
    /// exposed from now on (a finished cell's stay, at their last values).
    pub fn add(&self, url: &str, cell: &str) -> Arc<Figures> {
        let figures = Arc::new(Figures {
            labels: vec![("url".into(), url.into()), ("cell".into(), cell.into())],
            latest: Mutex::new(None),
        });
        if let Ok(mut sources) = self.sources.lock() {
            sources.push(figures.clone());
        }
        figures
    }

    /// A registry of these figures, for the text encoder (a scrape, a push).
    pub fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.clone()));
        registry
    }

    /// The server process `pid` of the cell now running, labelled by `style` and
    /// `cell` (None: between cells).
    pub fn serving(&self, server: Option<(u32, &str, &str)>) {
        if let Ok(mut slot) = self.server.lock() {
            *slot = server.map(|(pid, style, cell)| Server {
                pid,
                labels: vec![("style".into(), style.into()), ("cell".into(), cell.into())],
            });
        }
    }
}

/// A µs HdrHistogram as Prometheus's histogram: the sum (s), the count, and each
/// bound's count of values at or under it (the bounds' own: not cumulative).
fn buckets(histogram: &Histogram<u64>) -> (f64, u64, Vec<(f64, u64)>) {
    let count = histogram.len();
    let sum = histogram.mean() * count as f64 / 1e6;
    let mut below = 0;
    let mut out = Vec::with_capacity(BOUNDS_S.len() + 1);
    for bound in BOUNDS_S {
        let upto = histogram.count_between(0, (bound * 1e6) as u64);
        out.push((bound, upto - below));
        below = upto;
    }
    out.push((f64::INFINITY, count - below));
    (sum, count, out)
}

impl Watcher for Figures {
    /// Keeps what a scrape reads of the finished second and the window's totals (the
    /// counters and two histograms, not the whole recording).
    fn second(&self, watched: &Watched<'_>) {
        let (second, totals) = (watched.row, watched.totals);
        let latest = Latest {
            counts: totals.counts.clone(),
            ok: totals.ok_corrected.clone(),
            all: totals.all_corrected.clone(),
            lag_p99_s: Percentiles::of(&totals.generator_lag).map_or(0.0, |p| p.p99 / 1000.0),
            second: second.clone(),
        };
        if let Ok(mut slot) = self.latest.lock() {
            *slot = Some(latest);
        }
    }
}

/// One series of a family: its labels and its value.
type Row<T> = (Vec<(String, String)>, T);

/// `base` with `extra` after it.
fn with(base: &[(String, String)], extra: &[(&str, String)]) -> Vec<(String, String)> {
    let mut labels = base.to_vec();
    labels.extend(extra.iter().map(|(k, v)| ((*k).to_string(), v.clone())));
    labels
}

/// A family of constant values, one series a row (nothing when there is no row).
fn constants<T: Copy, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: &[Row<T>],
    metric: impl Fn(T) -> M,
) -> Result<(), std::fmt::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in rows {
        metric(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn counters(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[Row<u64>],
) -> Result<(), std::fmt::Error> {
    constants(
        encoder,
        name,
        help,
        MetricType::Counter,
        rows,
        ConstCounter::new,
    )
}

fn gauges(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[Row<f64>],
) -> Result<(), std::fmt::Error> {
    constants(
        encoder,
        name,
        help,
        MetricType::Gauge,
        rows,
        ConstGauge::new,
    )
}

fn histograms(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[Row<&Histogram<u64>>],
) -> Result<(), std::fmt::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, histogram) in rows {
        let (sum, count, buckets) = buckets(histogram);
        family
            .encode_family(labels)?
            .encode_histogram::<Vec<(String, String)>>(sum, count, &buckets, None)?;
    }
    Ok(())
}

/// The load families, a series for each source that has measured a second.
fn encode_loads(
    encoder: &mut DescriptorEncoder,
    loads: &[(&[(String, String)], &Latest)],
) -> Result<(), std::fmt::Error> {
    let each = |row: &dyn Fn(&Latest) -> Option<f64>| -> Vec<Row<f64>> {
        loads
            .iter()
            .filter_map(|(labels, latest)| Some((labels.to_vec(), row(latest)?)))
            .collect()
    };
    let mut outcomes = Vec::new();
    let mut statuses = Vec::new();
    for (labels, latest) in loads {
        let counts = &latest.counts;
        outcomes.push((with(labels, &[("outcome", "ok".into())]), counts.ok));
        for class in ErrorClass::ALL {
            let n = counts.errors.get(&class).copied().unwrap_or(0);
            outcomes.push((with(labels, &[("outcome", class.key().into())]), n));
        }
        for (status, n) in &counts.statuses {
            statuses.push((with(labels, &[("status", status.to_string())]), *n));
        }
    }
    counters(
        encoder,
        "sabench_requests",
        "Answered requests of the measured window, by outcome: ok, or the error class.",
        &outcomes,
    )?;
    counters(
        encoder,
        "sabench_responses",
        "Responses of the measured window, by HTTP status.",
        &statuses,
    )?;
    let count_of = |value: fn(&Counts) -> u64| -> Vec<Row<u64>> {
        loads
            .iter()
            .map(|(labels, latest)| (labels.to_vec(), value(&latest.counts)))
            .collect()
    };
    counters(
        encoder,
        "sabench_requests_sent",
        "Requests sent in the measured window.",
        &count_of(|c| c.sent),
    )?;
    counters(
        encoder,
        "sabench_received_bytes",
        "Bytes received in the measured window.",
        &count_of(|c| c.bytes_received),
    )?;
    gauges(
        encoder,
        "sabench_in_flight_requests",
        "Requests sent and not yet answered.",
        &each(&|l| Some(l.counts.unanswered() as f64)),
    )?;
    gauges(
        encoder,
        "sabench_target_rate",
        "Requests per second the schedule called for in the last second.",
        &each(&|l| l.second.target_rps),
    )?;
    gauges(
        encoder,
        "sabench_achieved_rate",
        "Successful requests per second in the last second.",
        &each(&|l| Some(l.second.achieved_rps)),
    )?;
    gauges(
        encoder,
        "sabench_generator_lag_p99_seconds",
        "How late the generator sent its requests, p99 over the window so far.",
        &each(&|l| Some(l.lag_p99_s)),
    )?;
    let views = |view: fn(&Latest) -> &Histogram<u64>| -> Vec<Row<&Histogram<u64>>> {
        loads
            .iter()
            .map(|(labels, latest)| (labels.to_vec(), view(latest)))
            .collect()
    };
    histograms(
        encoder,
        "sabench_ok_latency_seconds",
        "Latency of the successful requests, corrected (from the intended send time).",
        &views(|l| &l.ok),
    )?;
    histograms(
        encoder,
        "sabench_all_latency_seconds",
        "Latency of every request, corrected: errors, and unfinished ones at their lower bound.",
        &views(|l| &l.all),
    )
}

/// The server families: its resident memory, CPU time, threads and threads runnable
/// (the run queue), read from /proc at the scrape.
fn encode_server(encoder: &mut DescriptorEncoder, server: &Server) -> Result<(), std::fmt::Error> {
    // The process alone (its own pid as the one "descendant"): RSS, threads, CPU.
    let detail = crate::sys::procfs::tree_detail_of(server.pid, &[server.pid]);
    let rows = |value: Option<f64>| -> Vec<Row<f64>> {
        value
            .map(|v| (server.labels.clone(), v))
            .into_iter()
            .collect()
    };
    gauges(
        encoder,
        "sabench_server_resident_bytes",
        "The server's resident memory (RSS).",
        &rows(detail.map(|d| d.rss_kib * 1024.0)),
    )?;
    gauges(
        encoder,
        "sabench_server_threads",
        "The server's threads.",
        &rows(detail.map(|d| d.threads as f64)),
    )?;
    gauges(
        encoder,
        "sabench_server_cpu_seconds",
        "The server's CPU time, user + system, since it started.",
        &rows(detail.map(|d| d.cpu_user_s + d.cpu_sys_s)),
    )?;
    gauges(
        encoder,
        "sabench_server_runnable_threads",
        "The server's threads running or waiting for a CPU now (its run queue).",
        &rows(runnable_threads(server.pid)),
    )
}

/// Threads of `pid` in state R (running or runnable) now.
fn runnable_threads(pid: u32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let runnable = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .filter(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('R'))
        })
        .count();
    Some(runnable as f64)
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sources: Vec<Arc<Figures>> = match self.sources.lock() {
            Ok(sources) => sources.clone(),
            Err(_) => return Ok(()),
        };
        let guards: Vec<_> = sources
            .iter()
            .filter_map(|s| s.latest.lock().ok())
            .collect();
        let loads: Vec<(&[(String, String)], &Latest)> = sources
            .iter()
            .zip(&guards)
            .filter_map(|(source, latest)| Some((source.labels.as_slice(), latest.as_ref()?)))
            .collect();
        encode_loads(&mut encoder, &loads)?;
        let server = self.server.lock().ok().and_then(|s| s.clone());
        match server {
            Some(server) => encode_server(&mut encoder, &server),
            None => Ok(()),
        }
    }
}

/// The `/metrics` endpoint: serves the registry's text on a thread of its own until
/// dropped.
pub struct Endpoint {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The port is taken.
    #[error("--metrics-listen {0}: the port is in use: give another (port 0 picks a free one, and the address is printed)")]
    InUse(SocketAddr),
    /// Not a loopback address.
    #[error("--metrics-listen {0}: not a loopback address: the metrics are served on 127.0.0.1 or [::1] only")]
    NotLoopback(SocketAddr),
    /// The listener could not be set up.
    #[error("--metrics-listen {addr}: {source}")]
    Io {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A run's figures exposed as asked: served for scrapes (`--metrics-listen`), pushed
/// (`--metrics-push`), or both.
pub struct Exposed {
    /// The figures to feed (a load's, with [`Exposition::add`]).
    pub exposition: Arc<Exposition>,
    endpoint: Option<Endpoint>,
    pusher: Option<super::push::Pusher>,
}

/// Starts the endpoint when `listen` is given and the pusher when `push` is, saying on
/// stderr where (None: neither asked for).
pub fn expose(
    listen: Option<SocketAddr>,
    push: Option<&str>,
) -> Result<Option<Exposed>, crate::load::LoadError> {
    if listen.is_none() && push.is_none() {
        return Ok(None);
    }
    let settings = |e: &dyn std::fmt::Display| crate::load::LoadError::Settings(e.to_string());
    let exposition = Exposition::new();
    let endpoint = match listen {
        Some(addr) => {
            let endpoint = Endpoint::start(addr, exposition.clone()).map_err(|e| settings(&e))?;
            eprintln!("metrics: http://{}/metrics", endpoint.addr());
            Some(endpoint)
        }
        None => None,
    };
    let pusher = match push {
        Some(url) => {
            let pusher =
                super::push::Pusher::start(url, exposition.clone()).map_err(|e| settings(&e))?;
            eprintln!("metrics: pushed to {} each second", pusher.url());
            Some(pusher)
        }
        None => None,
    };
    Ok(Some(Exposed {
        exposition,
        endpoint,
        pusher,
    }))
}

impl Exposed {
    /// Whether the figures are served for scrapes.
    pub fn serving(&self) -> bool {
        self.endpoint.is_some()
    }

    /// Pushes the last figures, stops serving, and says if pushes failed.
    pub fn finish(self) {
        if let Some(pusher) = self.pusher {
            let url = pusher.url().to_string();
            let tally = pusher.finish();
            if tally.failed > 0 {
                eprintln!(
                    "metrics push to {url}: {} of {} pushes failed",
                    tally.failed,
                    tally.failed + tally.pushed
                );
            }
        }
    }
}

/// How long a scrape may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the serving thread looks for the stop.
const POLL: Duration = Duration::from_millis(50);

impl Endpoint {
    /// Serves `exposition` on `addr` (loopback only; port 0 picks a free one).
    pub fn start(addr: SocketAddr, exposition: Arc<Exposition>) -> Result<Self, EndpointError> {
        let io = |source| EndpointError::Io { addr, source };
        let listener = crate::net::bind_loopback(addr).map_err(|error| match error {
            crate::net::BindError::InUse(_) => EndpointError::InUse(addr),
            crate::net::BindError::NotLoopback(_) => EndpointError::NotLoopback(addr),
            crate::net::BindError::Other { source, .. } => io(source),
        })?;
        listener.set_nonblocking(true).map_err(io)?;
        let bound = listener.local_addr().map_err(io)?;
        let registry = exposition.registry();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(&listener, &registry, &stopped))
            .map_err(io)?;
        Ok(Self {
            addr: bound,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, registry: &Registry, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = answer(stream, registry);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(POLL);
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Reads one request's head and answers it: the metrics on `GET /metrics`, 404 on
/// anything else; then closes.
fn answer(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let wanted = line.starts_with("GET /metrics ") || line.starts_with("GET /metrics?");
    let (status, kind, body) = if wanted {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry)
            .map_err(std::io::Error::other)?;
        (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            text,
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "the metrics are at /metrics\n".to_string(),
        )
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::recorder::{new_histogram, Recording};

    #[test]
    fn the_buckets_hold_each_value_once_and_the_sum_is_in_seconds() {
        let mut histogram = new_histogram();
        for us in [300, 800, 800, 20_000, 40_000_000] {
            histogram.record(us).unwrap();
        }
        let (sum, count, buckets) = buckets(&histogram);
        assert_eq!(count, 5);
        assert_eq!(buckets.iter().map(|(_, n)| n).sum::<u64>(), 5);
        assert_eq!(buckets[0], (0.0005, 1));
        assert_eq!(buckets[1], (0.001, 2));
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, 1)));
        assert!((sum - 40.0219).abs() < 0.05, "{sum}");
    }

    #[test]
    fn a_scrape_reads_the_last_second_and_the_window_so_far() {
        let exposition = Exposition::new();
        let endpoint = Endpoint::start("127.0.0.1:0".parse().unwrap(), exposition.clone()).unwrap();
        let fetch = |path: &str| {
            let mut stream = TcpStream::connect(endpoint.addr()).unwrap();
            write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut text = String::new();
            stream.read_to_string(&mut text).unwrap();
            text
        };
        // Nothing measured yet: no series.
        assert!(!fetch("/metrics").contains("sabench_requests_total"));
        let mut totals = Recording::default();
        totals.counts.sent = 12;
        totals.counts.ok = 10;
        totals.counts.errors.insert(ErrorClass::Timeout, 1);
        totals.counts.statuses.insert(200, 10);
        totals.ok_corrected.record(1_500).unwrap();
        let second = Second {
            target_rps: Some(12.0),
            sent_rps: 12.0,
            achieved_rps: 10.0,
            errors: 1,
            ..Second::default()
        };
        exposition
            .add("http://127.0.0.1:1/io", "io-async")
            .second(&Watched {
                row: &second,
                second: &totals,
                totals: &totals,
            });
        // A second cell's figures are series of the same families.
        exposition
            .add("http://127.0.0.1:1/io", "io-hybrid")
            .second(&Watched {
                row: &second,
                second: &totals,
                totals: &totals,
            });
        exposition.serving(Some((std::process::id(), "async", "io-async")));
        let text = fetch("/metrics");
        assert_eq!(text.matches("# TYPE sabench_requests counter").count(), 1);
        assert!(text.contains("cell=\"io-hybrid\",outcome=\"ok\"} 10"));
        assert!(text.contains("sabench_server_threads{style=\"async\",cell=\"io-async\"}"));
        assert!(text.contains("sabench_server_resident_bytes{style=\"async\""));
        let labels = "url=\"http://127.0.0.1:1/io\",cell=\"io-async\"";
        for line in [
            format!("sabench_requests_total{{{labels},outcome=\"ok\"}} 10"),
            format!("sabench_requests_total{{{labels},outcome=\"timeout\"}} 1"),
            format!("sabench_responses_total{{{labels},status=\"200\"}} 10"),
            format!("sabench_in_flight_requests{{{labels}}} 1.0"),
            format!("sabench_target_rate{{{labels}}} 12.0"),
            format!("sabench_ok_latency_seconds_count{{{labels}}} 1"),
        ] {
            assert!(text.contains(&line), "{line} is not in\n{text}");
        }
        assert!(text.contains("application/openmetrics-text"));
        assert!(fetch("/").starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn an_address_off_loopback_is_refused_with_why() {
        let error = Endpoint::start("8.8.8.8:9464".parse().unwrap(), Exposition::new())
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("not a loopback address"), "{error}");
    }
}
