//! The load generator (`sabench load`): drives any HTTP/1.1 or HTTP/2 server on loopback in open
//! loop (scheduled arrivals, latency corrected for coordinated omission) or closed loop
//! (maximum throughput), records HdrHistograms, and reports honestly — a run where the
//! generator, not the server, was the limit is marked invalid.
//!
//! - [`pacer`]: when requests should leave; `engine`: the one worker loop, run on a
//!   process's threads by `workers` (local, split and shard runs alike);
//! - `exchange`: one request on one connection; [`client`]: a lean HTTP/1.1
//!   connection; [`http2`]: HTTP/2 streams on shared connections (the `h2` crate);
//!   [`recorder`]: histograms and error classes;
//! - [`collector`]: merges per-second intervals, writes the HdrHistogram log;
//!   `validity`: why a run does not describe the target; `thread_cpu`: the generator
//!   threads' own CPU;
//! - [`report`]: the JSON report and the human summary; [`target`]: the URL;
//! - `plan`: what every worker shares; [`ramp`]: connection scale (open, then hold);
//! - [`split`]: several generator processes on one machine as one run; [`shard`]: one
//!   run over many machines, joined by [`merge`];
//! - [`input_bounds`]: the range of every span and rate a run may be given.

pub mod client;
pub mod collector;
pub mod distribution;
pub(crate) mod engine;
mod exchange;
pub(crate) mod framing;
pub mod http2;
pub mod input_bounds;
pub mod merge;
pub mod pacer;
mod plan;
mod precise_timer;
pub mod ramp;
pub mod recorder;
pub mod report;
pub mod shard;
pub mod split;
pub mod target;
mod thread_cpu;
pub mod threshold;
pub mod tls;
pub(crate) mod validity;
mod workers;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use plan::Plan;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub use pacer::Schedule;
pub use report::LoadReport;
pub use target::Target;

/// What a load run does.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `http://127.0.0.1:PORT/path`.
    pub url: String,
    /// Open loop (a rate) or closed loop.
    pub schedule: Schedule,
    /// Connections (in open loop: the bound on requests in flight).
    pub connections: usize,
    /// Generator threads (each a current-thread runtime with its share of connections).
    pub threads: usize,
    /// Length of the measured window.
    pub duration: Option<Duration>,
    /// Stop after this many measured requests.
    pub requests: Option<u64>,
    /// Discarded load before the measured window.
    pub warmup: Duration,
    /// Bound on one request; a slower reply is counted as a timeout.
    pub timeout: Duration,
    /// Bound on one connect.
    pub connect_timeout: Duration,
    /// Permit a target that is not on loopback.
    pub allow_remote: bool,
    /// Write the HdrHistogram interval log here.
    pub hlog: Option<PathBuf>,
    /// Print a line per second to stderr.
    pub progress: bool,
    /// The generator's own p99 lag above which the run is invalid.
    pub max_generator_lag: Duration,
    /// Pin the generator's threads to these CPUs (empty: not pinned).
    pub cpus: Vec<usize>,
    /// When set, the run stops early (no new requests; in-flight ones finish).
    pub stop: Option<Arc<AtomicBool>>,
    /// Called with each finished second (live progress).
    pub on_second: Option<SecondHook>,
    /// Handed each finished second and the window's totals (the metrics endpoint, the
    /// live terminal view).
    pub watchers: Vec<Arc<dyn Watcher>>,
    /// Connection scale: open every connection first, this many per second, hold them
    /// all, and start the schedule once they are open (None: each connection opens at
    /// its first request).
    pub ramp: Option<f64>,
    /// Generator processes (None: as many as the open-file limit requires, usually 1).
    pub processes: Option<usize>,
    /// The `sabench` executable that runs the extra generator processes (None: this
    /// executable).
    pub program: Option<PathBuf>,
    /// Method, headers and body of every request.
    pub request: target::RequestSpec,
    /// A weighted mix of URLs on the same host instead of `url` alone (weight, URL).
    pub mix: Vec<(f64, String)>,
    /// The mix's names, line by line (None: named by its path); empty: none given.
    pub mix_names: Vec<Option<String>>,
    /// Connect to this Unix-domain socket instead of the URL's address (the URL still
    /// gives the Host header and the path).
    pub unix_socket: Option<PathBuf>,
    /// How an open loop's arrivals are spaced.
    pub arrival: pacer::Arrival,
    /// Seeds the Poisson gaps and the mix's picks (the same seed, the same run).
    pub seed: u64,
    /// Write every intended send time (s from the schedule's start) here, one a line.
    pub send_log: Option<PathBuf>,
    /// Run only this shard of the run (load from many machines; see [`merge`]).
    pub shard: Option<shard::ShardOf>,
    /// HTTPS: how to trust the target's certificate.
    pub tls: tls::TlsOptions,
    /// How much of a response the generator reads before the request fails as
    /// `too_large`.
    pub read_limits: client::ReadLimits,
    /// HTTP/1.1, or HTTP/2 (h2 over TLS, h2c in cleartext).
    pub protocol: http2::Protocol,
    /// HTTP/2: requests in flight at once on one connection (1 for HTTP/1.1).
    pub streams: usize,
    /// Testing only: the connection that takes this request number (0 is the first)
    /// panics once it has sent it, to show a panic is never a silent loss. `sabench
    /// load` sets it from `SABENCH_INJECT_GENERATOR_PANIC`.
    #[doc(hidden)]
    pub inject_panic_at_request: Option<u64>,
}

/// The largest mix of URLs whose URLs are measured apart (each URL's figures, and
/// `{url=…}` thresholds). Each URL costs its own set of histograms, about 1 MiB on each
/// generator thread: 500 URLs measured apart took 1.1 GB. A larger mix is measured
/// pooled only.
pub const MAX_URLS_APART: usize = 32;

/// Whether a mix of `urls` URLs is measured URL by URL (more than one, at most
/// [`MAX_URLS_APART`]).
pub fn urls_apart(urls: usize) -> bool {
    (2..=MAX_URLS_APART).contains(&urls)
}

/// Something that watches a run second by second (the `--metrics-listen` endpoint, the
/// live terminal view): handed each finished second of the window, on the collector's
/// thread, never per request.
pub trait Watcher: Send + Sync + std::fmt::Debug {
    /// A load described by `config` begins (its checks passed): the seconds that
    /// follow are its.
    fn begin(&self, _config: &LoadConfig) {}

    /// Takes a finished second.
    fn second(&self, watched: &Watched<'_>);
}

/// A finished second as a [`Watcher`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct Watched<'a> {
    /// Its row of the timeline.
    pub row: &'a report::Second,
    /// What happened in it (its histograms and counters).
    pub second: &'a recorder::Recording,
    /// The window's totals up to its end.
    pub totals: &'a recorder::Recording,
}

/// A callback for each finished second of a run.
#[derive(Clone)]
pub struct SecondHook(pub Arc<dyn Fn(&report::Second) + Send + Sync>);

impl std::fmt::Debug for SecondHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecondHook")
    }
}

impl LoadConfig {
    /// A closed-loop run of `connections` for `duration`, otherwise defaults.
    pub fn closed(url: &str, connections: usize, duration: Duration) -> Self {
        Self {
            url: url.to_string(),
            schedule: Schedule::Closed,
            connections,
            threads: 1,
            duration: Some(duration),
            requests: None,
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            allow_remote: false,
            hlog: None,
            progress: false,
            max_generator_lag: Duration::from_millis(10),
            cpus: Vec::new(),
            stop: None,
            on_second: None,
            watchers: Vec::new(),
            ramp: None,
            processes: None,
            program: None,
            request: target::RequestSpec::default(),
            mix: Vec::new(),
            mix_names: Vec::new(),
            unix_socket: None,
            arrival: pacer::Arrival::Uniform,
            seed: 1,
            send_log: None,
            shard: None,
            tls: tls::TlsOptions::default(),
            read_limits: client::ReadLimits::default(),
            protocol: http2::Protocol::Http1,
            streams: 1,
            inject_panic_at_request: None,
        }
    }

    /// How long requests in flight at the end of a timed window may still finish:
    /// min(timeout, 2 s). After it they count as unfinished.
    pub fn drain(&self) -> Duration {
        self.timeout.min(engine::MAX_DRAIN)
    }

    /// An open-loop run at `rate` req/s over `connections` for `duration`.
    pub fn open(url: &str, rate: f64, connections: usize, duration: Duration) -> Self {
        Self {
            schedule: Schedule::Constant { rate },
            ..Self::closed(url, connections, duration)
        }
    }
}

/// Why a load run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The URL is not usable.
    #[error("bad URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The target is not on this machine.
    #[error(
        "{0} is not on loopback: sabench loads only this machine unless you pass --allow-remote"
    )]
    NotLoopback(String),
    /// Nothing accepts connections at the target.
    #[error("nothing is listening on {0}: start the server first (e.g. `sabench serve --style async --port {port}`)", port = .0.port())]
    NothingListening(std::net::SocketAddr),
    /// The target did not accept a connection in time.
    #[error("connecting to {addr} timed out after {timeout:?}: is the server overloaded or stopped (SIGSTOP)?")]
    ConnectTimeout {
        /// The target.
        addr: std::net::SocketAddr,
        /// The bound.
        timeout: Duration,
    },
    /// The run's settings make no sense.
    #[error("{0}")]
    Settings(String),
    /// Not enough file descriptors for the connections.
    #[error("{connections} connections need about {needed} file descriptors (in the generator, and as many in the server) but the limit is {limit}: raise it (`ulimit -n {needed}`; its hard limit, or `fs.nr_open` as root, bounds that), use fewer connections, or (for the generator) spread them over more processes with --processes")]
    TooFewFileDescriptors {
        /// Connections asked for.
        connections: usize,
        /// Descriptors needed.
        needed: u64,
        /// The soft limit.
        limit: u64,
    },
    /// Writing an output failed.
    #[error("cannot write {path}")]
    Output {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A generator process of a run split over several failed.
    #[error("generator process {index} failed: {why}")]
    Shard {
        /// Its number (from 0).
        index: usize,
        /// What went wrong, with what it said.
        why: String,
    },
    /// HTTPS could not be set up, or the handshake failed.
    #[error("{0}")]
    Tls(String),
    /// Starting a generator thread failed.
    #[error("cannot start the generator: {0}")]
    Start(std::io::Error),
    /// Measurements that would have been lost merging the workers' histograms (a bug in
    /// sabench).
    #[error("measurements would be lost: {0} (a bug in sabench: please report it)")]
    Lost(String),
}

impl LoadError {
    /// Whether the input was at fault (a bad URL or setting, not loopback): the command
    /// exits 2, as for a bad flag.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            LoadError::BadUrl { .. } | LoadError::NotLoopback(_) | LoadError::Settings(_)
        )
    }
}

/// Runs the load described by `config` and returns what it measured: in this process,
/// or, when one process's descriptors cannot hold the connections (or
/// [`LoadConfig::processes`] asks), in several generator processes whose histograms
/// are merged exactly (see [`shard`]).
pub fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    check_settings(config)?;
    let target = Target::parse(&config.url, config.allow_remote)?;
    let processes = match config.shard {
        // A shard of a run over many machines holds its share in this one process.
        Some(of) => {
            check_file_descriptors(config.connections.div_ceil(of.count))?;
            1
        }
        None => split::processes_for(config)?,
    };
    if processes > 1 && config.send_log.is_some() {
        return Err(LoadError::Settings(
            "--send-log works in one generator process: use fewer connections or leave it out"
                .into(),
        ));
    }
    match &config.unix_socket {
        Some(path) => unix_preflight(path)?,
        None => preflight(&target, config.connect_timeout)?,
    }
    let tls = tls::TlsClient::for_target(&target, &config.tls)?
        .map(|client| http2::offer_alpn(client, config.protocol));
    match &tls {
        Some(client) => tls_preflight(&target, client, config)?,
        None => http2::h2c_preflight(&target, config)?,
    }
    let hlog = match &config.hlog {
        Some(path) => Some(collector::HlogWriter::create(path)?),
        None => None,
    };
    for watcher in &config.watchers {
        watcher.begin(config);
    }
    if let Some(of) = config.shard {
        return shard::run_as_shard(config, of, &target, tls, hlog);
    }
    let threads = config
        .threads
        .clamp(1, config.connections.div_ceil(processes));
    let workers = threads * processes;
    let (collected, generator_rss_mib) = if processes == 1 {
        let plan = Arc::new(Plan::new(config, &target, Instant::now(), tls)?);
        let measure_start = plan.measure_start;
        let (mut collected, panics) = workers::run(&plan, 0..threads, workers, |messages| {
            collector::collect(messages, workers, hlog, config, measure_start)
        })?;
        collected.thread_panics(panics);
        if let Some(path) = &config.send_log {
            write_send_log(path, &mut collected.sends)?;
        }
        (collected, peak_rss_mib())
    } else {
        let (sender, receiver) = mpsc::channel();
        let shards = split::Shards::start(config, &target, processes, threads, &sender)?;
        drop(sender);
        let measure_start = shards.measure_start();
        let collected = collector::collect(receiver, workers, hlog, config, measure_start)?;
        let rss = shards.finish()?;
        (collected, rss)
    };
    Ok(collected.into_report(config, &target, workers, processes, generator_rss_mib))
}

/// Writes the intended send times, sorted, one a line (seconds from the schedule's
/// start, to the nanosecond).
fn write_send_log(path: &std::path::Path, sends: &mut [f64]) -> Result<(), LoadError> {
    use std::io::Write as _;
    sends.sort_by(f64::total_cmp);
    let output = |source| LoadError::Output {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).map_err(output)?);
    for at in sends.iter() {
        writeln!(file, "{at:.9}").map_err(output)?;
    }
    file.flush().map_err(output)
}

fn check_settings(config: &LoadConfig) -> Result<(), LoadError> {
    if config.duration.is_none() && config.requests.is_none() {
        return Err(LoadError::Settings(
            "a run needs a bound: --duration and/or --requests".into(),
        ));
    }
    if config.connections == 0 {
        return Err(LoadError::Settings(
            "--connections must be at least 1".into(),
        ));
    }
    if let Some(ramp) = config.ramp {
        if !(ramp > 0.0 && ramp.is_finite()) {
            return Err(LoadError::Settings(format!(
                "--ramp must be above 0 connections per second, not {ramp}"
            )));
        }
        if !config.schedule.is_open() {
            return Err(LoadError::Settings(
                "--ramp holds every connection while a fixed --rate is spread over them: give --rate too".into(),
            ));
        }
    }
    http2::check_settings(config)?;
    check_numbers(config).map_err(LoadError::Settings)
}

/// Every span and rate of `config` within [`input_bounds`], so the engine's time
/// arithmetic cannot overflow.
fn check_numbers(config: &LoadConfig) -> Result<(), String> {
    use input_bounds::{check_rate, check_span};
    for (name, span) in [
        ("--duration", config.duration.unwrap_or_default()),
        ("--warmup", config.warmup),
        ("--timeout", config.timeout),
        ("--connect-timeout", config.connect_timeout),
    ] {
        check_span(name, span)?;
    }
    match config.schedule.clone() {
        Schedule::Closed => {}
        Schedule::Constant { rate } => check_rate("--rate", rate)?,
        Schedule::Stepped {
            start,
            step,
            every,
            max,
        } => {
            check_rate("--rate", start)?;
            check_rate("--rate-step", step)?;
            check_span("--step-every", every)?;
            if every < Duration::from_millis(1) {
                return Err(format!(
                    "--step-every {every:?} is shorter than 1ms: give a longer time between steps"
                ));
            }
            if let Some(max) = max {
                check_rate("--max-rate", max)?;
            }
        }
        Schedule::Staged { stages } => {
            for stage in stages.as_slice() {
                // A stage may ramp down to 0; any other rate within the bounds.
                if stage.rate != 0.0 {
                    check_rate("--stage's rate", stage.rate)?;
                }
                check_span("--stage's duration", stage.duration)?;
            }
            check_span("the stages together", stages.total())?;
        }
    }
    if let Some(ramp) = config.ramp {
        check_rate("--ramp", ramp)?;
        check_span(
            "the ramp (--connections ÷ --ramp)",
            Duration::try_from_secs_f64(config.connections as f64 / ramp).map_err(|_| {
                format!(
                    "--ramp {ramp} is too slow for {} connections",
                    config.connections
                )
            })?,
        )?;
    }
    if let Some(of) = &config.shard {
        input_bounds::check_start(of.start_unix_ns, std::time::SystemTime::now())?;
    }
    Ok(())
}

/// Whether this process may open `connections` connections (and a margin for
/// everything else); the error says the numbers and what to change.
pub fn check_file_descriptors(connections: usize) -> Result<(), LoadError> {
    let needed = connections as u64 + split::RESERVED_FILES;
    match crate::sys::file_limits::open_file_limit() {
        Some(limit) if limit < needed => Err(LoadError::TooFewFileDescriptors {
            connections,
            needed,
            limit,
        }),
        _ => Ok(()),
    }
}

/// Fails fast, with what to do, when the target's TLS handshake fails (most often its
/// certificate is not trusted): otherwise every request would fail as `other`.
fn tls_preflight(
    target: &Target,
    client: &tls::TlsClient,
    config: &LoadConfig,
) -> Result<(), LoadError> {
    let mut session = client.session().map_err(LoadError::Start)?;
    let mut stream = preflight_stream(target, config)?;
    while session.is_handshaking() {
        if let Err(error) = session.complete_io(&mut stream) {
            if let Some(refusal) = http2::alpn_refused(config, &error, target) {
                return Err(refusal);
            }
            let hint = if config.tls.insecure {
                String::new()
            } else {
                " (a self-signed or private certificate: pass --cacert FILE, or --insecure to skip verification)".to_string()
            };
            return Err(LoadError::Tls(format!(
                "the TLS handshake with {} failed: {error}{hint}",
                target.url
            )));
        }
    }
    http2::check_alpn(config, session.alpn_protocol(), target)
}

/// A stream a check before the run talks over: TCP or a Unix-domain socket.
pub(crate) trait ReadWrite: std::io::Read + std::io::Write {}

impl<T: std::io::Read + std::io::Write> ReadWrite for T {}

/// A blocking connection to the target for a check before the run (the TLS
/// handshake, the h2c preface): to the Unix-domain socket when there is one, its reads
/// bounded by the connect timeout (at least 100 ms).
pub(crate) fn preflight_stream(
    target: &Target,
    config: &LoadConfig,
) -> Result<Box<dyn ReadWrite>, LoadError> {
    let timeout = Some(config.connect_timeout.max(Duration::from_millis(100)));
    Ok(match &config.unix_socket {
        Some(path) => {
            let stream = std::os::unix::net::UnixStream::connect(path).map_err(LoadError::Start)?;
            stream.set_read_timeout(timeout).map_err(LoadError::Start)?;
            Box::new(stream)
        }
        None => {
            let stream = std::net::TcpStream::connect_timeout(&target.addr, config.connect_timeout)
                .map_err(LoadError::Start)?;
            stream.set_read_timeout(timeout).map_err(LoadError::Start)?;
            Box::new(stream)
        }
    })
}

/// Fails fast, with a clear message, when nothing listens at the Unix-domain socket.
fn unix_preflight(path: &std::path::Path) -> Result<(), LoadError> {
    std::os::unix::net::UnixStream::connect(path)
        .map(|_| ())
        .map_err(|e| {
            LoadError::Settings(format!(
                "--unix-socket {}: cannot connect ({e}): is the server listening there?",
                path.display()
            ))
        })
}

/// Fails fast, with a clear message, when nothing listens at the target.
fn preflight(target: &Target, timeout: Duration) -> Result<(), LoadError> {
    match std::net::TcpStream::connect_timeout(&target.addr, timeout) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(LoadError::NothingListening(target.addr))
        }
        Err(e)
            if e.kind() == std::io::ErrorKind::TimedOut
                || e.kind() == std::io::ErrorKind::WouldBlock =>
        {
            Err(LoadError::ConnectTimeout {
                addr: target.addr,
                timeout,
            })
        }
        Err(e) => Err(LoadError::Start(e)),
    }
}

/// The process's peak resident memory (VmHWM), MiB (0 when /proc cannot say).
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    crate::sys::procfs::status_value(&status, "VmHWM:").map_or(0.0, |kib| kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::input_bounds::{MAX_RATE, MAX_SPAN, MIN_RATE};
    use super::pacer::{Arrival, Pacer};
    use super::*;

    /// A deterministic stream of picks from `choices`.
    struct Picks(u64);

    impl Picks {
        fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
            self.0 = target::splitmix64(self.0);
            choices[(self.0 % choices.len() as u64) as usize]
        }
    }

    /// The engine's time arithmetic (the plan's start, window, end and drain; the
    /// ramp's opening times; the pacer's intended sends) over thousands of settings
    /// drawn from the extremes: whatever the checks accept never panics or overflows,
    /// and what they refuse is refused with a reason.
    #[test]
    fn the_engines_time_arithmetic_holds_at_every_extreme_the_checks_accept() {
        let spans = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_millis(1),
            Duration::from_secs(1),
            MAX_SPAN,
            MAX_SPAN + Duration::from_nanos(1),
            Duration::MAX,
        ];
        let rates = [
            f64::MIN_POSITIVE,
            MIN_RATE,
            0.37,
            1.0,
            1e4,
            MAX_RATE,
            MAX_RATE * 10.0,
            f64::MAX,
            f64::INFINITY,
            f64::NAN,
            -1.0,
        ];
        let connections = [1, 7, 1_000, 1_000_000];
        let workers = [1, 3, 1024];
        let mut picks = Picks(42);
        let target = Target::parse("http://127.0.0.1:1/", false).unwrap();
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..3_000 {
            let rate = picks.pick(&rates);
            let schedule = match picks.pick(&[0, 1, 2]) {
                0 => Schedule::Closed,
                1 => Schedule::Constant { rate },
                _ => Schedule::Stepped {
                    start: rate,
                    step: picks.pick(&rates),
                    every: picks.pick(&spans),
                    max: picks.pick(&[None, Some(MAX_RATE)]),
                },
            };
            let config = LoadConfig {
                schedule,
                warmup: picks.pick(&spans),
                timeout: picks.pick(&spans),
                ramp: picks.pick(&[None, Some(rate)]),
                connections: picks.pick(&connections),
                ..LoadConfig::closed(&target.url, 1, picks.pick(&spans))
            };
            if let Err(why) = check_numbers(&config) {
                assert!(!why.is_empty());
                refused += 1;
                continue;
            }
            accepted += 1;
            let plan = Plan::new(&config, &target, Instant::now(), None).unwrap();
            assert!(plan.measure_start >= plan.start);
            assert!(plan.drain_until >= plan.end);
            if let Some(ramp) = &plan.ramp {
                assert!(ramp.opens_at(config.connections - 1) <= plan.start);
            }
            let workers = picks.pick(&workers);
            for arrival in [Arrival::Uniform, Arrival::Poisson] {
                let mut pacer =
                    Pacer::with_arrival(config.schedule.clone(), workers - 1, workers, arrival, 7);
                let mut last = Duration::ZERO;
                for _ in 0..200 {
                    let Some(next) = pacer.next_send() else { break };
                    assert!(
                        next >= last,
                        "{:?}: {next:?} after {last:?}",
                        config.schedule
                    );
                    assert!(plan.start.checked_add(next).is_some());
                    last = next;
                }
            }
        }
        assert!(
            accepted > 300 && refused > 300,
            "{accepted} accepted, {refused} refused"
        );
    }
}
