//! `sabench serve`, `upstream`, `postgres` and `supervise`: the processes under test,
//! their styles, workloads and limits from flags, each run until a signal.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::server::{self, GivenKnobs, Offload, ServerConfig, Style, StyleConfig, Variant};
use crate::sys::shutdown::Shutdown;
use crate::upstream::{self, Distribution, UpstreamConfig};
use crate::workload::{CpuSpec, DbSpec, FanoutPolicy, FanoutSpec, IoMode, IoSpec, WorkloadConfig};

/// `sabench supervise`.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The port the target was given (announced to the runner).
    #[arg(long)]
    pub port: u16,
    /// What to do when the program cannot be started (printed with the error).
    #[arg(long)]
    pub setup: Option<String>,
    /// The program and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// `sabench serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Concurrency style of the server.
    #[arg(long, value_enum)]
    pub style: Style,
    /// TCP port (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Loopback address to bind (127.0.0.1 or ::1).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// blocking: threads in the fixed pool [default: 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub threads: Option<u32>,
    /// blocking: one thread per connection instead of a fixed pool.
    #[arg(long, conflicts_with = "threads")]
    pub thread_per_connection: bool,
    /// async, hybrid: tokio worker threads [default: number of cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: Option<u32>,
    /// hybrid: where CPU work goes [default: spawn-blocking].
    #[arg(long, value_enum)]
    pub offload: Option<Offload>,
    /// hybrid with --offload rayon: rayon threads [default: number of cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub rayon_threads: Option<u32>,
    /// A pattern or anti-pattern from the claims (C4, C6, C8, C10) to serve instead of the standard handler.
    #[arg(long, value_enum, default_value_t = Variant::Standard)]
    pub variant: Variant,
    /// async, hybrid with --variant limited or bounded-queue: requests served at once
    /// (bounded-queue: and the most that may wait) [default: 16].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub in_service: Option<u32>,
    /// Testing only: spin a thread beside the server, so a one-core server runs about
    /// 2× slower (the broken twin that shows a gated claim can fail).
    #[arg(long)]
    pub cpu_hog: bool,
    /// async, hybrid: do not run the runtime-lag probe (only to measure what it costs).
    #[arg(long)]
    pub no_lag_probe: bool,
    /// /db*: connections the database pool may hold, a number or `unbounded`
    /// [default: 16, every style].
    #[arg(long, value_parser = parse_pool_size)]
    pub db_pool: Option<usize>,
    /// blocking: each serving thread's stack in KiB [default: Rust's, 2048]; a thread
    /// per connection at 64 KiB is the smallest sane setting for these routes.
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..=1_048_576))]
    pub stack_kib: Option<u32>,
    /// The open-file limit to run with, e.g. the common default 1024, to see where the
    /// style stops working for lack of descriptors [default: the hard limit].
    #[arg(long, value_parser = clap::value_parser!(u64).range(16..))]
    pub open_files: Option<u64>,
    /// The work behind each route.
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// How long shutdown (SIGINT/SIGTERM) waits for in-flight requests.
    #[arg(long, default_value = "10s", value_parser = crate::load::input_bounds::parse_span)]
    pub grace: Duration,
    /// What one client may cost the server.
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// The limits every style enforces, the same flags for each (defaults that real
/// servers use and that never fire in a benchmark).
#[derive(Debug, Args)]
#[command(next_help_heading = "Limits (every style)")]
pub struct LimitArgs {
    /// From a request's first byte to its whole head; then 408 (blocking) or close (hyper).
    #[arg(long, default_value = "10s", value_parser = crate::load::input_bounds::parse_span)]
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit with no request before it is closed.
    #[arg(long, default_value = "60s", value_parser = crate::load::input_bounds::parse_span)]
    pub idle_timeout: Duration,
    /// How long a response may wait on a client that does not read it.
    #[arg(long, default_value = "10s", value_parser = crate::load::input_bounds::parse_span)]
    pub write_timeout: Duration,
    /// Largest request head in bytes (then 431); at least 8192.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(8192..=(1 << 30)))]
    pub max_header_bytes: u64,
    /// Largest request body in bytes (then 413 and close, without reading it).
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_body_bytes: u64,
    /// Most connections open at once; one more is answered 503 and closed.
    #[arg(long, default_value_t = 25_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
}

impl LimitArgs {
    /// The limits these flags set.
    pub fn limits(&self) -> anyhow::Result<server::Limits> {
        let limits = server::Limits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            write_timeout: self.write_timeout,
            max_header_bytes: usize::try_from(self.max_header_bytes)?,
            max_body_bytes: usize::try_from(self.max_body_bytes)?,
            max_connections: usize::try_from(self.max_connections)?,
        };
        limits
            .check()
            .map_err(|why| anyhow::anyhow!("bad limit: {why}"))?;
        Ok(limits)
    }
}

/// The work behind each route (the same for every request on a route).
#[derive(Debug, Args)]
pub struct WorkloadArgs {
    /// /cpu, /mixed: SHA-256 rounds per request.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub cpu_rounds: u32,
    /// /io, /mixed: sequential waits per request (K).
    #[arg(long, default_value_t = 1)]
    pub io_calls: u32,
    /// /io, /mixed: latency of each wait in sleep mode (L).
    #[arg(long, default_value = "20ms", value_parser = crate::load::input_bounds::parse_span)]
    pub io_latency: Duration,
    /// /io, /mixed: an in-process timer, or a GET to --upstream.
    #[arg(long, value_enum, default_value_t = IoMode::Sleep)]
    pub io_mode: IoMode,
    /// /fanout: upstream calls per request (F).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub fanout_calls: u32,
    /// /fanout: at most this many calls at once [default: all of them].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub fanout_limit: Option<u32>,
    /// /fanout: what a failed call does to the request.
    #[arg(long, value_enum, default_value_t = FanoutPolicy::WaitAll)]
    pub fanout_policy: FanoutPolicy,
    /// Base URL of the mock upstream, e.g. http://127.0.0.1:9000 (loopback only).
    #[arg(long, value_parser = parse_upstream_url)]
    pub upstream: Option<String>,
    /// Bound on each upstream call; a slower one is answered with 502.
    #[arg(long, default_value = "5s", value_parser = crate::load::input_bounds::parse_span)]
    pub upstream_timeout: Duration,
    /// /db, /db-slow, /db-fanout: the PostgreSQL to query, e.g.
    /// postgres://sabench@127.0.0.1:5432/sabench (start one with `sabench postgres`).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// /db: point lookups per request, one after another (K).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub db_lookups: u32,
    /// /db-slow: how long each query holds its connection (L, pg_sleep).
    #[arg(long, default_value = "20ms", value_parser = crate::load::input_bounds::parse_span)]
    pub db_hold: Duration,
    /// /db-fanout: lookups per request, all at once, each on its own connection (N).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub db_fanout: u32,
    /// Bound on connecting to the database, on waiting for a pooled connection, and on
    /// each query; past it the request is answered 503 or 502.
    #[arg(long, default_value = "5s", value_parser = crate::load::input_bounds::parse_span)]
    pub db_timeout: Duration,
}

/// `sabench upstream`.
#[derive(Debug, Args)]
pub struct UpstreamArgs {
    /// TCP port (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 9000)]
    pub port: u16,
    /// Loopback address to bind (127.0.0.1 or ::1).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Latency of each call (the mean for --distribution exponential).
    #[arg(long, default_value = "20ms", value_parser = crate::load::input_bounds::parse_span)]
    pub latency: Duration,
    /// With --distribution uniform: latency ± jitter.
    #[arg(long, default_value = "0ms", value_parser = crate::load::input_bounds::parse_span)]
    pub jitter: Duration,
    /// How each call's latency is drawn.
    #[arg(long, value_enum, default_value_t = Distribution::Fixed)]
    pub distribution: Distribution,
    /// Fraction of calls (0 to 1) answered with HTTP 500, spread evenly.
    #[arg(long, default_value_t = 0.0, value_parser = parse_fraction)]
    pub error_rate: f64,
    /// Seed for the latency samples (same seed, same latencies).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// tokio worker threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: u32,
    /// A fault phase timed from start, e.g. `from=5s,for=5s,mode=stall` (stall, error or down); repeatable.
    #[arg(long = "fault", value_name = "PHASE")]
    pub faults: Vec<crate::upstream::FaultPhase>,
    /// At most this many calls in progress; more are refused with 503 (a connection limit).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_inflight: Option<u32>,
    /// What one client may cost the upstream.
    #[command(flatten)]
    pub limits: LimitArgs,
}

fn parse_upstream_url(text: &str) -> Result<String, String> {
    let parts = crate::load::target::parse_url(text).map_err(|why| format!("{text:?}: {why}"))?;
    if parts.tls || !text.starts_with("http://") {
        return Err(format!(
            "{text:?} must start with http:// (e.g. http://127.0.0.1:9000)"
        ));
    }
    if !(parts.is_loopback() && parts.port_given) {
        return Err(format!(
            "{text:?} is not a loopback address with a port: the upstream must be http://127.0.0.1:PORT"
        ));
    }
    Ok(format!("http://{}", parts.authority))
}

/// A database pool size: a number of connections, or `unbounded`.
fn parse_pool_size(text: &str) -> Result<usize, String> {
    use crate::workload::db::UNBOUNDED_POOL;
    match text {
        "unbounded" => Ok(UNBOUNDED_POOL),
        _ => match text.parse::<usize>() {
            Ok(n) if (1..=UNBOUNDED_POOL).contains(&n) => Ok(n),
            _ => Err(format!(
                "{text:?} is not a pool size: give a number of connections (1 to {UNBOUNDED_POOL}) or `unbounded`"
            )),
        },
    }
}

pub(super) fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if (0.0..=1.0).contains(&value) => Ok(value),
        _ => Err(format!(
            "{text:?} is not a fraction between 0 and 1 (e.g. 0.1 for 10 %)"
        )),
    }
}

/// Builds the style's knobs, refusing knobs that belong to another style (the
/// server's one rule, `StyleConfig::misplaced`) and values out of range (`check`).
fn style_config(args: &ServeArgs) -> anyhow::Result<StyleConfig> {
    let defaults = StyleConfig::new(args.style);
    let config = StyleConfig {
        threads: args.threads.map_or(defaults.threads, |n| n as usize),
        thread_per_connection: args.thread_per_connection,
        workers: args.workers.map_or(defaults.workers, |n| n as usize),
        offload: args.offload.unwrap_or(defaults.offload),
        rayon_threads: args
            .rayon_threads
            .map_or(defaults.rayon_threads, |n| n as usize),
        variant: args.variant,
        in_service: args.in_service.map_or(defaults.in_service, |n| n as usize),
        cpu_hog: args.cpu_hog,
        lag_probe: !args.no_lag_probe,
        db_pool: args.db_pool,
        stack_kib: args.stack_kib.map(|kib| kib as usize),
        open_files: args.open_files,
        ..defaults
    };
    let given = GivenKnobs {
        threads: args.threads.is_some(),
        thread_per_connection: args.thread_per_connection,
        workers: args.workers.is_some(),
        offload: args.offload.is_some(),
        rayon_threads: args.rayon_threads.is_some(),
        in_service: args.in_service.is_some(),
        stack_kib: args.stack_kib.is_some(),
        no_lag_probe: args.no_lag_probe,
    };
    let style = crate::run::flag_value(&args.style);
    if let Some(wrong) = config.misplaced(&given) {
        let tpc = if args.thread_per_connection {
            " --thread-per-connection"
        } else {
            ""
        };
        if wrong.knob == "variant" {
            bail!(
                "--variant {} does not apply to --style {style}{tpc}: it applies to {}",
                args.variant.name(),
                wrong.applies_to
            );
        }
        bail!(
            "--{} applies to --style {}, not --style {style}",
            wrong.knob.replace('_', "-"),
            wrong.applies_to
        );
    }
    config
        .check()
        .map_err(|why| anyhow::anyhow!("--{}", why.replace('_', "-")))?;
    Ok(config)
}

fn workload_config(args: &WorkloadArgs) -> anyhow::Result<WorkloadConfig> {
    if args.io_mode == IoMode::Upstream && args.upstream.is_none() {
        bail!("--io-mode upstream needs --upstream http://127.0.0.1:PORT (start one with `sabench upstream --port 9000`)");
    }
    Ok(WorkloadConfig {
        cpu: CpuSpec {
            rounds: args.cpu_rounds,
        },
        io: IoSpec {
            calls: args.io_calls,
            latency: args.io_latency,
            mode: args.io_mode,
        },
        fanout: FanoutSpec {
            calls: args.fanout_calls,
            limit: args.fanout_limit,
            policy: args.fanout_policy,
        },
        upstream: args.upstream.clone(),
        upstream_timeout: args.upstream_timeout,
        db: DbSpec {
            url: args.database_url.clone(),
            lookups: args.db_lookups,
            hold: args.db_hold,
            fanout: args.db_fanout,
            timeout: args.db_timeout,
            ..DbSpec::default()
        },
        ..WorkloadConfig::default()
    })
}

/// `sabench postgres`.
#[derive(Debug, Args)]
pub struct PostgresArgs {
    /// PostgreSQL's `max_connections`.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_connections: u32,
    /// PostgreSQL's `shared_buffers` (e.g. 128MB).
    #[arg(long, default_value = "128MB")]
    pub shared_buffers: String,
    /// Rows seeded into `users` (ids 1..=N).
    #[arg(long, default_value_t = 100_000)]
    pub seed_rows: u32,
    /// Where the cluster's temporary folder goes [default: the system temporary folder].
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Also stop when stdin closes (how a runner that dies, even by SIGKILL, still gets
    /// its cluster stopped and removed).
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
}

pub(super) fn postgres(args: PostgresArgs) -> anyhow::Result<ExitCode> {
    let settings = crate::db::ClusterSettings {
        max_connections: args.max_connections,
        shared_buffers: args.shared_buffers,
        seed_rows: args.seed_rows,
    };
    let shutdown = Shutdown::new();
    shutdown
        .trigger_on_signals()
        .context("cannot install the SIGINT/SIGTERM handler")?;
    let parent = args.dir.unwrap_or_else(std::env::temp_dir);
    crate::db::run_until_stopped(&settings, &parent, &shutdown, args.stop_on_stdin_eof)?;
    eprintln!("postgres stopped, its folder removed");
    Ok(ExitCode::SUCCESS)
}

/// Binds `addr`, prints the line orchestrators wait for (`WHAT listening on URL`),
/// and runs `serve` until SIGINT/SIGTERM has drained it.
fn serve_until_signal(
    what: &str,
    addr: SocketAddr,
    serve: impl FnOnce(std::net::TcpListener, Shutdown) -> std::io::Result<()>,
) -> anyhow::Result<ExitCode> {
    let listener = crate::net::bind_loopback(addr)?;
    let shutdown = Shutdown::new();
    shutdown
        .trigger_on_signals()
        .context("cannot install the SIGINT/SIGTERM handler")?;
    println!("{what} listening on http://{}", listener.local_addr()?);
    let _ = std::io::stdout().flush();
    serve(listener, shutdown).with_context(|| format!("{what} stopped with an error"))?;
    eprintln!("shut down cleanly");
    Ok(ExitCode::SUCCESS)
}

pub(super) fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = ServerConfig {
        style: style_config(&args)?,
        workload: workload_config(&args.workload)?,
        grace: args.grace,
        limits: args.limits.limits()?,
    };
    let label = config.style.label();
    match config.style.open_files {
        Some(files) => crate::sys::file_limits::set_open_file_limit(files)
            .with_context(|| format!("cannot set the open-file limit to {files}"))?,
        // Every connection is a descriptor: take the hard limit, as the generator does.
        None => {
            crate::sys::file_limits::raise_open_file_limit();
        }
    }
    serve_until_signal(
        &label,
        SocketAddr::new(args.bind, args.port),
        |listener, shutdown| server::serve(listener, config, shutdown),
    )
}

pub(super) fn upstream(args: UpstreamArgs) -> anyhow::Result<ExitCode> {
    let config = UpstreamConfig {
        latency: args.latency,
        jitter: args.jitter,
        distribution: args.distribution,
        error_rate: args.error_rate,
        seed: args.seed,
        faults: args.faults.clone(),
        max_inflight: args.max_inflight,
        limits: args.limits.limits()?,
        ..UpstreamConfig::default()
    };
    crate::sys::file_limits::raise_open_file_limit();
    serve_until_signal(
        "upstream",
        SocketAddr::new(args.bind, args.port),
        |listener, shutdown| upstream::serve(listener, config, args.workers as usize, shutdown),
    )
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;
    use clap::Parser as _;

    #[test]
    fn upstream_urls_must_be_loopback() {
        assert_eq!(
            parse_upstream_url("http://127.0.0.1:9000/").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert!(parse_upstream_url("http://localhost:9000").is_ok());
        assert!(parse_upstream_url("http://[::1]:9000").is_ok());
        assert!(parse_upstream_url("http://10.0.0.1:9000").is_err());
        assert!(parse_upstream_url("https://127.0.0.1:9000").is_err());
        assert!(parse_upstream_url("http://example.com:80").is_err());
    }

    #[test]
    fn the_limit_flags_default_to_the_limits_defaults() {
        for kind in ["serve --style async", "upstream"] {
            let words = std::iter::once("sabench").chain(kind.split(' '));
            let limits = match Cli::try_parse_from(words).unwrap().command {
                Command::Serve(args) => args.limits.limits(),
                Command::Upstream(args) => args.limits.limits(),
                _ => unreachable!(),
            };
            assert_eq!(limits.unwrap(), server::Limits::default(), "{kind}");
        }
    }

    #[test]
    fn a_style_config_s_own_flags_parse_back_to_it() {
        use crate::server::{Offload, Variant};
        let mut configs = Vec::new();
        for style in [Style::Blocking, Style::Async, Style::Hybrid] {
            configs.push(StyleConfig::new(style));
        }
        configs.push(StyleConfig {
            threads: 7,
            variant: Variant::BoundedQueue,
            ..StyleConfig::new(Style::Blocking)
        });
        configs.push(StyleConfig {
            thread_per_connection: true,
            ..StyleConfig::new(Style::Blocking)
        });
        configs.push(StyleConfig {
            offload: Offload::Rayon,
            rayon_threads: 3,
            workers: 1,
            ..StyleConfig::new(Style::Hybrid)
        });
        for config in configs {
            let words = config.args();
            let cli = Cli::try_parse_from(
                ["sabench", "serve"]
                    .into_iter()
                    .map(String::from)
                    .chain(words.clone()),
            )
            .unwrap_or_else(|e| panic!("{words:?}: {e}"));
            let Command::Serve(args) = cli.command else {
                unreachable!()
            };
            assert_eq!(style_config(&args).unwrap(), config, "{words:?}");
        }
    }

    #[test]
    fn knobs_of_another_style_are_refused() {
        let parse = |args: &[&str]| {
            let cli = Cli::try_parse_from(["sabench", "serve"].iter().chain(args)).unwrap();
            match cli.command {
                Command::Serve(args) => style_config(&args),
                _ => unreachable!(),
            }
        };
        assert!(parse(&["--style", "async", "--threads", "4"]).is_err());
        assert!(parse(&["--style", "blocking", "--workers", "4"]).is_err());
        assert!(parse(&["--style", "blocking", "--no-lag-probe"]).is_err());
        assert!(
            !parse(&["--style", "async", "--no-lag-probe"])
                .unwrap()
                .lag_probe
        );
        assert!(parse(&["--style", "hybrid", "--rayon-threads", "4"]).is_err());
        let rayon = parse(&[
            "--style",
            "hybrid",
            "--offload",
            "rayon",
            "--rayon-threads",
            "3",
        ])
        .unwrap();
        assert_eq!(rayon.rayon_threads, 3);
        assert_eq!(
            parse(&["--style", "blocking", "--threads", "4"])
                .unwrap()
                .threads,
            4
        );
    }

    #[test]
    fn error_rate_must_be_a_fraction() {
        assert!(parse_fraction("0.1").is_ok());
        assert!(parse_fraction("1.5").is_err());
        assert!(parse_fraction("ten").is_err());
    }
}
