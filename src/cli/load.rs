//! `sabench load` and `sabench merge`: the load generator's command line, turned into
//! a [`LoadConfig`], run, reported, and judged against its thresholds.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use super::{exit, write_json};
use crate::load::{LoadConfig, Schedule};

/// `sabench load`.
#[derive(Debug, Args)]
#[command(
    after_help = "Output: every scheduled request is accounted for (scheduled = sent + unsent; sent = answered + in flight at the end). \
    The headline latency is that of the successful requests, corrected (from the intended send time), shown with the share it describes and the error share; \
    `all, corrected` covers every request, errors included and unfinished ones at end − intended (a lower bound). A latency with no request behind it prints as —.\n\n\
    Examples:\n  \
    sabench load http://127.0.0.1:8080/null --connections 50 --duration 10s        # closed loop: max throughput\n  \
    sabench load http://127.0.0.1:8080/io --rate 2000 --duration 30s --warmup 5s   # open loop, corrected latency\n  \
    sabench load http://127.0.0.1:8080/io --rate 500 --rate-step 500 --step-every 10s --max-rate 5000 --duration 100s\n  \
    sabench load http://127.0.0.1:8080/io --stage 30s:2000 --stage 1m:2000 --stage 10s:0 --threshold 'p95<50ms'   # ramp, hold, ramp down; marks the knee\n  \
    sabench load http://127.0.0.1:8080/null -c 10000 --ramp 2000 --rate 1000 --duration 10s   # hold 10k connections\n  \
    sabench load http://127.0.0.1:8080/null --http2 -c 4 --streams 16 --duration 10s   # HTTP/2 (h2c): 64 in flight on 4 connections\n  \
    sabench load http://127.0.0.1:8080/io --rate 1000 -d 30s --threshold 'p95<50ms' --threshold 'error_rate<0.1%'   # a CI gate (exit 3)"
)]
pub struct LoadArgs {
    /// Target, e.g. http://127.0.0.1:8080/null (loopback unless --allow-remote).
    #[arg(required_unless_present = "url_file")]
    pub url: Option<String>,
    /// A weighted mix of URLs on one host instead of URL: `NAME WEIGHT URL`, `WEIGHT URL`
    /// or `URL` a line; each request picks one by weight, deterministically from --seed,
    /// and each URL is also reported on its own (by its name, else its path).
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    pub url_file: Option<std::path::PathBuf>,
    /// The request method.
    #[arg(long, short = 'm', default_value = "GET")]
    pub method: String,
    /// A request header, `Name: value`, repeatable (`Host: …` replaces the URL's host).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// The request body.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// The request body, read from a file.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<std::path::PathBuf>,
    /// A new connection per request (`Connection: close`); the connect time is reported
    /// on its own line.
    #[arg(long)]
    pub no_keepalive: bool,
    /// Open loop: how arrivals are spaced (poisson: seeded exponential gaps, as real
    /// traffic; latency is still corrected from each intended time).
    #[arg(long, value_enum, default_value_t = crate::load::pacer::Arrival::Uniform)]
    pub arrival: crate::load::pacer::Arrival,
    /// Seeds the Poisson gaps and the URL mix's picks: the same seed, the same requests at
    /// the same intended times.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write every intended send time (seconds from the start, one a line) to FILE.
    #[arg(long, value_name = "FILE")]
    pub send_log: Option<std::path::PathBuf>,
    /// Load from many machines: run shard I of N of this run (--rate and --connections
    /// are the whole run's), from the common --start-at; merge the shards' --json with
    /// `sabench merge`.
    #[arg(long, value_name = "I/N", requires = "start_at", value_parser = crate::load::shard::parse_shard, conflicts_with = "processes")]
    pub shard: Option<(usize, usize)>,
    /// The common start of a sharded run: an RFC 3339 time or Unix seconds (give every
    /// shard the same, a few seconds ahead).
    #[arg(long, value_name = "TIME", requires = "shard", value_parser = crate::load::shard::parse_start_at)]
    pub start_at: Option<u64>,
    /// Open loop: requests per second, sent on schedule whatever the server does.
    #[arg(long, value_parser = crate::load::input_bounds::parse_rate)]
    pub rate: Option<f64>,
    /// Open loop in stages, repeatable: `DURATION:RATE` ramps the rate linearly from the
    /// previous stage's (the first from 0) to RATE over DURATION; a stage at the same rate
    /// holds it (`--stage 30s:1000 --stage 1m:1000 --stage 10s:0`). The stages begin with
    /// the warm-up and set the run's length.
    #[arg(long, value_name = "DURATION:RATE", value_parser = crate::load::pacer::Stage::parse, conflicts_with_all = ["rate", "duration", "requests"])]
    pub stage: Vec<crate::load::pacer::Stage>,
    /// Open loop: add this many req/s every --step-every (a stepped rate).
    #[arg(long, requires_all = ["rate", "step_every"], value_parser = crate::load::input_bounds::parse_rate)]
    pub rate_step: Option<f64>,
    /// Open loop: time between rate steps.
    #[arg(long, requires = "rate_step", value_parser = crate::load::input_bounds::parse_span)]
    pub step_every: Option<Duration>,
    /// Open loop: the stepped rate stops growing here.
    #[arg(long, requires = "rate_step", value_parser = crate::load::input_bounds::parse_rate)]
    pub max_rate: Option<f64>,
    /// Connections; closed loop when given without --rate [open-loop default: 32].
    #[arg(long, short = 'c', value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections: Option<u32>,
    /// Length of the measured window [default: 10s, or unbounded in time with --requests].
    #[arg(long, short = 'd', value_parser = crate::load::input_bounds::parse_span)]
    pub duration: Option<Duration>,
    /// Stop after this many measured requests.
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Load before the measured window, discarded.
    #[arg(long, default_value = "0s", value_parser = crate::load::input_bounds::parse_span)]
    pub warmup: Duration,
    /// Generator threads, each with its share of the connections (1 per core you give it).
    #[arg(long, short = 't', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,
    /// A reply slower than this counts as a timeout error; requests in flight when the window ends get min(this, 2s) to finish.
    #[arg(long, default_value = "10s", value_parser = crate::load::input_bounds::parse_span)]
    pub timeout: Duration,
    /// A connect slower than this counts as a connect_timeout error.
    #[arg(long, default_value = "2s", value_parser = crate::load::input_bounds::parse_span)]
    pub connect_timeout: Duration,
    /// Largest response head the generator reads (it is kept whole to parse); a longer
    /// one fails the request as too_large and drops the connection.
    #[arg(long, default_value_t = crate::load::client::DEFAULT_MAX_HEAD_BYTES as u64, value_parser = clap::value_parser!(u64).range(1024..=(1 << 30)))]
    pub max_response_head_bytes: u64,
    /// Largest response body the generator reads (it is dropped as it streams, so this
    /// bounds time, not memory); a longer one fails the request as too_large.
    #[arg(long, default_value_t = crate::load::client::DEFAULT_MAX_BODY_BYTES, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_response_body_bytes: u64,
    /// Connection scale: open every connection first, this many per second, hold them
    /// all while --rate is spread over them, and report how many opened and stayed up
    /// (e.g. `-c 10000 --ramp 2000 --rate 1000`).
    #[arg(long, requires = "rate", value_parser = crate::load::input_bounds::parse_rate, value_name = "CONNS_PER_S")]
    pub ramp: Option<f64>,
    /// Generator processes, each with its share of the connections and the rate, their
    /// histograms merged exactly [default: as many as the open-file limit requires, usually 1].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=crate::load::split::MAX_PROCESSES as i64))]
    pub processes: Option<u32>,
    /// Write the report as JSON (schema: schemas/load-report.schema.json).
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
    /// Write per-second HdrHistograms as a standard interval log (tags corrected and service: successes; all-corrected: every request).
    #[arg(long, value_name = "FILE")]
    pub hlog: Option<std::path::PathBuf>,
    /// Exit 2 when the run is INVALID (the target stopped answering, or the generator could not keep the load).
    #[arg(long)]
    pub strict: bool,
    /// Print the latency distribution: the percentile spectrum and a histogram (as
    /// `wrk --latency`); it is in the JSON either way.
    #[arg(long)]
    pub latency: bool,
    /// A pass/fail check for CI, repeatable: `p95<100ms`, `all_p99<=1s`, `error_rate<0.1%`,
    /// `rps>=5000` (latencies are the successful requests' unless `all_`), one URL of a
    /// --url-file mix with `p95{url=NAME}<80ms`; under --stage, the first second one
    /// broke is the knee; exit 3 when
    /// one fails.
    #[arg(long = "threshold", value_name = "CHECK")]
    pub thresholds: Vec<crate::load::threshold::Threshold>,
    /// Permit a target that is not on loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// HTTPS: accept any certificate (a self-signed test server); the server is then not
    /// authenticated.
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// HTTPS: trust the certificates in this PEM file (a private CA, a self-signed server).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<std::path::PathBuf>,
    /// Connect to this Unix-domain socket instead of the URL's address; the URL still
    /// gives the Host header and the path (`--unix-socket /run/app.sock http://localhost/io`).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["ramp", "shard"])]
    pub unix_socket: Option<std::path::PathBuf>,
    /// HTTPS with a client certificate (mTLS): the certificate chain to present, PEM.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<std::path::PathBuf>,
    /// HTTPS with a client certificate (mTLS): its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<std::path::PathBuf>,
    /// Speak HTTP/2: h2 over TLS for https:// (ALPN), h2c with prior knowledge for
    /// http://. Each connection carries --streams requests at once.
    #[arg(long)]
    pub http2: bool,
    /// HTTP/2: requests in flight at once on each connection (streams); the run has up
    /// to connections × streams in flight. Latency still counts from each request's
    /// intended time, however long it waited for a stream.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "http2",
          value_parser = clap::value_parser!(u32).range(1..=crate::load::http2::MAX_STREAMS as i64))]
    pub streams: u32,
    /// Serve the run's figures for Prometheus at http://ADDR/metrics (OpenMetrics text,
    /// updated once a second): requests by outcome and status, rates, in flight, the
    /// generator's lag, latency histograms. Loopback only, e.g. 127.0.0.1:9464 (port 0:
    /// any free one, printed).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Push the same figures once a second to a Prometheus remote-write receiver at URL
    /// (remote write 1.0, e.g. http://127.0.0.1:9090/api/v1/write on a Prometheus
    /// started with --web.enable-remote-write-receiver). Loopback only.
    #[arg(long, value_name = "URL")]
    pub metrics_push: Option<String>,
    /// With --metrics-listen: keep serving this long after the run, for a last scrape.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration, requires = "metrics_listen")]
    pub metrics_linger: Duration,
    /// No per-second progress lines (and no live view).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Plain per-second lines instead of the live terminal view (the view is shown only
    /// when stdin and stdout are a terminal and CI is not set).
    #[arg(long)]
    pub no_tui: bool,
}

/// `sabench merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' JSON reports (`load --shard I/N --json FILE`), every shard once.
    #[arg(required = true)]
    pub shards: Vec<std::path::PathBuf>,
    /// Write the merged report here as JSON.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// A shard's HdrHistogram interval log (`load --hlog`), repeatable: merged into
    /// --hlog-out second by second.
    #[arg(long = "hlog", value_name = "FILE", requires = "hlog_out")]
    pub hlogs: Vec<std::path::PathBuf>,
    /// Write the merged interval log here.
    #[arg(long, value_name = "FILE", requires = "hlogs")]
    pub hlog_out: Option<std::path::PathBuf>,
}

/// `Name: value` as a header.
fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not a header: write `Name: value`"))?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid || value.contains(['\r', '\n']) {
        return Err(format!("{text:?} is not a valid header"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// The request part of the flags: method, headers, body, keep-alive.
fn request_spec(args: &LoadArgs) -> anyhow::Result<crate::load::target::RequestSpec> {
    let method = args.method.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        bail!(
            "--method {:?} is not an HTTP method (e.g. GET, POST)",
            args.method
        );
    }
    let body = match (&args.body, &args.body_file) {
        (Some(body), _) => body.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path)
            .with_context(|| format!("cannot read --body-file {}", path.display()))?,
        (None, None) => Vec::new(),
    };
    Ok(crate::load::target::RequestSpec {
        method,
        headers: args.headers.clone(),
        body,
        keep_alive: !args.no_keepalive,
    })
}

/// Builds the run from the flags.
pub fn load_config(args: &LoadArgs) -> anyhow::Result<LoadConfig> {
    let named = match &args.url_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --url-file {}", path.display()))?;
            crate::load::target::parse_named_url_file(&text, &path.display().to_string())
                .map_err(anyhow::Error::msg)?
        }
        None => Vec::new(),
    };
    let mix: Vec<(f64, String)> = named.iter().map(|(_, w, u)| (*w, u.clone())).collect();
    if mix.len() > crate::load::MAX_URLS_APART {
        if let Some(one) = args.thresholds.iter().find(|t| t.url().is_some()) {
            return Err(crate::load::LoadError::Settings(format!(
                "threshold {one}: the mix has {} URLs, and each URL is measured apart in a mix of up to {} only (each costs about 1 MiB of histograms a generator thread): judge the pooled figures, or split the URL file",
                mix.len(),
                crate::load::MAX_URLS_APART
            ))
            .into());
        }
        eprintln!(
            "note: {} URLs in the mix: the figures are pooled (each URL's own are kept for a mix of up to {})",
            mix.len(),
            crate::load::MAX_URLS_APART
        );
    }
    let mix_names: Vec<Option<String>> = named.into_iter().map(|(name, _, _)| name).collect();
    let url = match (&args.url, mix.first()) {
        (Some(url), _) => url.clone(),
        (None, Some((_, first))) => first.clone(),
        (None, None) => bail!("give a URL or --url-file"),
    };
    let schedule = match (args.rate, args.rate_step, args.step_every) {
        (None, _, _) if !args.stage.is_empty() => Schedule::Staged {
            stages: crate::load::pacer::Stages::new(&args.stage)
                .map_err(|e| crate::load::LoadError::Settings(format!("--stage: {e}")))?,
        },
        (None, _, _) => Schedule::Closed,
        (Some(rate), Some(step), Some(every)) => Schedule::Stepped {
            start: rate,
            step,
            every,
            max: args.max_rate,
        },
        (Some(rate), _, _) => Schedule::Constant { rate },
    };
    let connections = match (args.connections, &schedule) {
        (Some(c), _) => c as usize,
        (None, Schedule::Closed) => bail!(
            "say how to load: --rate R (open loop, latency corrected for coordinated omission) or --connections C (closed loop, maximum throughput)"
        ),
        (None, _) => 32,
    };
    let duration = match (args.duration, args.requests, &schedule) {
        // The stages begin with the warm-up: the measured window is what is left.
        (_, _, Schedule::Staged { stages }) => {
            let window = stages
                .total()
                .checked_sub(args.warmup)
                .filter(|w| !w.is_zero());
            Some(window.ok_or_else(|| {
                crate::load::LoadError::Settings(format!(
                    "the stages last {:?} and the warm-up {:?}: the stages begin with the warm-up, so give stages longer than it",
                    stages.total(),
                    args.warmup
                ))
            })?)
        }
        (None, None, _) => Some(Duration::from_secs(10)),
        (duration, _, _) => duration,
    };
    Ok(LoadConfig {
        url: url.clone(),
        schedule,
        connections,
        threads: args.threads as usize,
        duration,
        requests: args.requests,
        warmup: args.warmup,
        timeout: args.timeout,
        connect_timeout: args.connect_timeout,
        inject_panic_at_request: std::env::var("SABENCH_INJECT_GENERATOR_PANIC")
            .ok()
            .and_then(|n| n.trim().parse().ok()),
        read_limits: crate::load::client::ReadLimits {
            max_head_bytes: usize::try_from(args.max_response_head_bytes)?,
            max_body_bytes: args.max_response_body_bytes,
        },
        allow_remote: args.allow_remote,
        hlog: args.hlog.clone(),
        progress: !args.quiet && std::io::stderr().is_terminal(),
        ramp: args.ramp,
        processes: args.processes.map(|n| n as usize),
        request: request_spec(args)?,
        mix,
        mix_names,
        unix_socket: args.unix_socket.clone(),
        protocol: match args.http2 {
            true => crate::load::http2::Protocol::Http2,
            false => crate::load::http2::Protocol::Http1,
        },
        streams: args.streams as usize,
        arrival: args.arrival,
        seed: args.seed,
        send_log: args.send_log.clone(),
        tls: crate::load::tls::TlsOptions {
            insecure: args.insecure,
            cacert: args.cacert.clone(),
            cert: args.cert.clone(),
            key: args.key.clone(),
        },
        shard: args
            .shard
            .zip(args.start_at)
            .map(
                |((index, count), start_unix_ns)| crate::load::shard::ShardOf {
                    index,
                    count,
                    start_unix_ns,
                },
            ),
        ..LoadConfig::closed(&url, connections, Duration::from_secs(10))
    })
}

pub(super) fn load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    crate::sys::file_limits::raise_open_file_limit();
    let stopped =
        crate::sys::shutdown::flag_on_signals().context("cannot install the Ctrl-C handler")?;
    let mut config = LoadConfig {
        stop: Some(stopped.clone()),
        ..load_config(&args)?
    };
    let exposed = crate::watch::metrics::expose(args.metrics_listen, args.metrics_push.as_deref())?
        .inspect(|exposed| {
            config
                .watchers
                .push(exposed.exposition.add(&config.url, ""));
        });
    let title = format!("sabench load {}", config.url);
    let view = crate::watch::terminal::open(&title, args.no_tui || args.quiet, &stopped)
        .context("cannot start the live view: run with --no-tui")?
        .map(|(board, view)| {
            config.watchers.push(board.feed());
            config.progress = false;
            view
        });
    let outcome = crate::load::run(&config);
    if let Some(view) = view {
        view.finish();
    }
    let mut report = outcome?;
    if let Some(exposed) = exposed {
        if exposed.serving() && !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(args.metrics_linger);
        }
        exposed.finish();
    }
    report.thresholds = crate::load::threshold::check_all(&args.thresholds, &report);
    // A rate that changes: where it broke a threshold.
    if !matches!(
        config.schedule,
        Schedule::Closed | Schedule::Constant { .. }
    ) {
        report.knee = crate::load::threshold::knee(&args.thresholds, &report.timeline);
    }
    let panicked = !report.generator_panics.is_empty();
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    print!("{}", report.render());
    if let (true, Some(distribution)) = (args.latency, &report.latency_distribution) {
        print!("{}", distribution.render());
    }
    if !report.thresholds.is_empty() {
        print!(
            "thresholds\n{}",
            crate::load::threshold::render(&report.thresholds)
        );
    }
    if let Some(knee) = &report.knee {
        println!("{}", knee.describe());
    }
    if stopped.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!("interrupted: the report covers the load up to Ctrl-C");
        return Ok(ExitCode::from(exit::INTERRUPTED));
    }
    let failed = report.thresholds.iter().filter(|t| !t.passed).count();
    Ok(if panicked {
        eprintln!(
            "error: the generator panicked (a bug in sabench: please report it with the command line): {}",
            report.generator_panics.join("; ")
        );
        ExitCode::FAILURE
    } else if args.strict && !report.valid {
        eprintln!(
            "--strict: the run is INVALID, exiting with status {}",
            exit::INVALID_RUN
        );
        ExitCode::from(exit::INVALID_RUN)
    } else if failed > 0 {
        eprintln!(
            "{failed} of {} thresholds failed, exiting with status {}",
            report.thresholds.len(),
            exit::THRESHOLD_FAILED
        );
        ExitCode::from(exit::THRESHOLD_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

pub(super) fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::new();
    let mut names = Vec::new();
    for path in &args.shards {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        let report: crate::load::LoadReport = serde_json::from_slice(&bytes)
            .with_context(|| format!("{name} is not a load report (sabench load --json)"))?;
        reports.push(report);
        names.push(name);
    }
    let merged = crate::load::merge::merge(&reports, &names)?;
    if let Some(path) = &args.out {
        write_json(path, &merged)?;
    }
    if let Some(path) = &args.hlog_out {
        crate::load::merge::merge_logs(&args.hlogs, path)?;
    }
    print!("{}", merged.render());
    Ok(ExitCode::SUCCESS)
}
