//! The servers under test, one file per style, all serving the same routes with the
//! same bodies:
//!
//! - [`blocking`]: `std::net` + `httparse` on OS threads (fixed pool or thread per connection);
//! - [`asynchronous`]: tokio multi-thread runtime + hyper, CPU work inline on the workers;
//! - [`hybrid`]: as async, but CPU work leaves the runtime (`spawn_blocking` or rayon).
//!
//! Each exposes `run(listener, config, shutdown)`; [`serve`] picks one by [`Style`].

pub mod admission;
pub mod asynchronous;
pub mod blocking;
pub mod hog;
pub mod hybrid;
pub mod lag;
pub mod occupancy;
pub mod offload;
pub mod readers;
pub mod reply;
pub mod windowed;
pub mod wire;

use std::time::Duration;

pub use crate::net::Limits;
pub use reply::Reply;

use crate::service::Running;
use crate::sys::shutdown::Shutdown;
use crate::workload::WorkloadConfig;

/// The concurrency style of a server.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Style {
    /// OS threads and blocking I/O; no async runtime anywhere.
    Blocking,
    /// tokio + hyper; CPU work runs inline on the runtime's workers.
    Async,
    /// tokio + hyper; CPU work is handed to `spawn_blocking` or a rayon pool.
    Hybrid,
}

/// Where the hybrid style sends CPU work.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Offload {
    /// `tokio::task::spawn_blocking`.
    SpawnBlocking,
    /// `spawn_blocking`, at most one task per core at once (a semaphore).
    SpawnBlockingCapped,
    /// A rayon pool, replying through a tokio oneshot channel.
    Rayon,
}

/// The articles' patterns and anti-patterns a server can be started with; each has a
/// fair "right" twin (usually [`Variant::Standard`]).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// The style as designed.
    #[default]
    Standard,
    /// C4 wrong: the async handler calls the blocking I/O face (std sleep, ureq) inline.
    BlockingInAsync,
    /// C4 right (alternative): the same blocking call wrapped in `spawn_blocking`.
    BlockingInSpawnBlocking,
    /// C6 wrong: a new upstream connection for every call (no pool).
    NoPool,
    /// C8 wrong: upstream calls without a timeout.
    NoTimeout,
    /// C8 right+: a per-call timeout and a circuit breaker that fails fast.
    CircuitBreaker,
    /// C10 right: work is bounded and so is the queue in front of it, beyond which the
    /// server answers 503 at once instead of letting the wait grow. Blocking: the pool's
    /// accept queue holds N = threads connections. Async and hybrid: at most
    /// `in_service` requests are served at once and as many may wait (a bound on
    /// requests, not connections).
    BoundedQueue,
    /// C10 wrong (async, hybrid): at most `in_service` requests are served at once, as
    /// a pool of that many would; the rest wait without bound.
    Limited,
}

impl Variant {
    /// The flag value, e.g. `blocking-in-async`.
    pub fn name(self) -> String {
        let mut out = String::new();
        for (i, c) in format!("{self:?}").chars().enumerate() {
            if i > 0 && c.is_ascii_uppercase() {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    /// The styles it makes sense for, in words.
    pub fn styles(self) -> &'static str {
        match self {
            Variant::BlockingInAsync | Variant::BlockingInSpawnBlocking | Variant::Limited => {
                "async or hybrid"
            }
            Variant::BoundedQueue => "async, hybrid or a blocking pool",
            _ => "every style",
        }
    }

    /// Whether it makes sense for `style`.
    pub fn fits(self, style: Style, thread_per_connection: bool) -> bool {
        match self {
            Variant::BlockingInAsync | Variant::BlockingInSpawnBlocking => style != Style::Blocking,
            Variant::BoundedQueue => style != Style::Blocking || !thread_per_connection,
            Variant::Limited => style != Style::Blocking,
            _ => true,
        }
    }

    /// The workload settings this variant changes.
    pub fn adjust(self, workload: &mut WorkloadConfig) {
        match self {
            Variant::NoPool => {
                workload.pooled = false;
                workload.db.pooled = false;
            }
            Variant::NoTimeout => workload.upstream_timeout = Duration::from_secs(24 * 3600),
            Variant::CircuitBreaker => {
                workload.breaker = Some(crate::workload::BreakerSpec::default())
            }
            _ => {}
        }
    }
}

/// The most threads a blocking pool may have.
pub const MAX_THREADS: usize = 100_000;
/// The most tokio workers (or rayon threads) a server may have.
pub const MAX_WORKERS: usize = 1024;

/// A style and its own knobs (recorded with every result, so no style is shown only
/// at a strawman setting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StyleConfig {
    /// Which style.
    pub style: Style,
    /// Blocking: threads in the fixed pool.
    pub threads: usize,
    /// Blocking: one thread per connection instead of a fixed pool.
    pub thread_per_connection: bool,
    /// Async and hybrid: tokio worker threads.
    pub workers: usize,
    /// Hybrid: where CPU work goes.
    pub offload: Offload,
    /// Hybrid with rayon: threads in the rayon pool.
    pub rayon_threads: usize,
    /// A pattern or anti-pattern instead of the standard handler.
    pub variant: Variant,
    /// Async and hybrid `limited` and `bounded-queue`: requests served at once (and,
    /// for `bounded-queue`, the most that may wait).
    pub in_service: usize,
    /// The deliberately broken twin: each request is taxed its CPU cost (see [`hog`]).
    pub cpu_hog: bool,
    /// Async and hybrid: run the runtime-lag probe (default); off only to measure its cost.
    pub lag_probe: bool,
    /// Connections the database pool may hold (none: the workload's default, 16).
    pub db_pool: Option<usize>,
    /// Blocking: each serving thread's stack in KiB (none: Rust's default, 2 MiB).
    pub stack_kib: Option<usize>,
    /// The open-file limit the server runs with (none: the hard limit). A server
    /// started with the common default of 1,024 runs out of descriptors for
    /// connections: where each style stops working then is itself a finding.
    pub open_files: Option<u64>,
    /// The protocol the generator speaks to it. Async and hybrid serve HTTP/1.1 and
    /// h2c on one port whatever this says; the blocking style has no HTTP/2 server.
    pub protocol: crate::load::http2::Protocol,
}

/// Which of a style's knobs a command line or a scenario entry set (rather than left
/// to the style's default), for [`StyleConfig::misplaced`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GivenKnobs {
    /// A pool size.
    pub threads: bool,
    /// A thread per connection.
    pub thread_per_connection: bool,
    /// A tokio worker count.
    pub workers: bool,
    /// Where CPU work goes.
    pub offload: bool,
    /// A rayon pool size.
    pub rayon_threads: bool,
    /// Requests in service.
    pub in_service: bool,
    /// A thread stack size.
    pub stack_kib: bool,
    /// The runtime-lag probe turned off.
    pub no_lag_probe: bool,
}

/// A knob set for a style that has no use for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Misplaced {
    /// The knob, as a scenario names it (`sabench serve` spells it `--in-service`).
    pub knob: &'static str,
    /// The styles it applies to, e.g. `async or hybrid`.
    pub applies_to: &'static str,
}

impl StyleConfig {
    /// The defaults for `style`: 64 pool threads, and one worker or rayon thread per core.
    pub fn new(style: Style) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            style,
            threads: 64,
            thread_per_connection: false,
            workers: cores,
            offload: Offload::SpawnBlocking,
            rayon_threads: cores,
            variant: Variant::Standard,
            in_service: 16,
            cpu_hog: false,
            lag_probe: true,
            db_pool: None,
            stack_kib: None,
            open_files: None,
            protocol: crate::load::http2::Protocol::Http1,
        }
    }

    /// The one rule for which style each knob belongs to, used by `sabench serve` and
    /// by a scenario's check: the first knob `given` sets that this style (with its
    /// variant, pool mode and offload) has no use for, and the styles it applies to.
    pub fn misplaced(&self, given: &GivenKnobs) -> Option<Misplaced> {
        let blocking = self.style == Style::Blocking;
        let hybrid = self.style == Style::Hybrid;
        let http2 = self.protocol == crate::load::http2::Protocol::Http2;
        let rules: [(bool, &'static str, &'static str); 10] = [
            (given.threads && !blocking, "threads", "blocking"),
            (
                given.thread_per_connection && !blocking,
                "thread_per_connection",
                "blocking",
            ),
            (given.workers && blocking, "workers", "async or hybrid"),
            (given.offload && !hybrid, "offload", "hybrid"),
            (
                given.rayon_threads && !(hybrid && self.offload == Offload::Rayon),
                "rayon_threads",
                "hybrid with offload rayon",
            ),
            (
                given.in_service && !self.admits(),
                "in_service",
                "async or hybrid with variant limited or bounded-queue",
            ),
            (given.stack_kib && !blocking, "stack_kib", "blocking"),
            (
                given.no_lag_probe && blocking,
                "no_lag_probe",
                "async or hybrid",
            ),
            (
                http2 && blocking,
                "protocols = [\"http2\"]",
                "async or hybrid (the blocking style has no HTTP/2 server; see the README)",
            ),
            (
                !self.variant.fits(self.style, self.thread_per_connection),
                "variant",
                self.variant.styles(),
            ),
        ];
        rules
            .into_iter()
            .find(|(wrong, _, _)| *wrong)
            .map(|(_, knob, applies_to)| Misplaced { knob, applies_to })
    }

    /// The one rule for every knob's value, used by `sabench serve` and by a scenario's
    /// check on each variant it expands to: what is wrong, in the knob's name.
    pub fn check(&self) -> Result<(), String> {
        let within = |name: &str, value: usize, low: usize, high: usize| {
            if (low..=high).contains(&value) {
                Ok(())
            } else {
                Err(format!("{name} is {value}: give {low} to {high}"))
            }
        };
        if self.style == Style::Blocking && !self.thread_per_connection {
            within("threads", self.threads, 1, MAX_THREADS)?;
        }
        if self.style != Style::Blocking {
            within("workers", self.workers, 1, MAX_WORKERS)?;
        }
        if self.style == Style::Hybrid && self.offload == Offload::Rayon {
            within("rayon_threads", self.rayon_threads, 1, MAX_WORKERS)?;
        }
        if self.admits() {
            within("in_service", self.in_service, 1, 1_000_000)?;
        }
        if let Some(kib) = self.stack_kib {
            within("stack_kib", kib, 16, 1 << 20)?;
        }
        if let Some(files) = self.open_files {
            if files < 16 {
                return Err(format!("open_files is {files}: give at least 16"));
            }
        }
        if self.db_pool == Some(0) {
            return Err("db_pool is 0: give at least 1 connection, or unbounded".into());
        }
        Ok(())
    }

    /// Whether its variant bounds the requests in service (async, hybrid).
    pub fn admits(&self) -> bool {
        self.style != Style::Blocking
            && matches!(self.variant, Variant::Limited | Variant::BoundedQueue)
    }

    /// A short name with the knobs that matter for this style, e.g. `blocking(pool=64)`,
    /// and the variant if not standard: `async(workers=2)+blocking-in-async`.
    pub fn label(&self) -> String {
        let hog = match (self.cpu_hog, self.lag_probe) {
            (true, true) => "+cpu-hog",
            (true, false) => "+cpu-hog+no-lag-probe",
            (false, true) => "",
            (false, false) => "+no-lag-probe",
        };
        let label = match self.variant {
            Variant::Standard => self.style_label(),
            variant if self.admits() => format!(
                "{}+{}({})",
                self.style_label(),
                variant.name(),
                self.in_service
            ),
            variant => format!("{}+{}", self.style_label(), variant.name()),
        };
        let db_pool = match self.db_pool {
            Some(crate::workload::db::UNBOUNDED_POOL) => "+db-pool=unbounded".to_string(),
            Some(n) => format!("+db-pool={n}"),
            None => String::new(),
        };
        let open_files = self
            .open_files
            .map_or(String::new(), |n| format!("+open-files={n}"));
        let protocol = match self.protocol {
            crate::load::http2::Protocol::Http1 => "",
            crate::load::http2::Protocol::Http2 => "+http2",
        };
        label + &db_pool + &open_files + protocol + hog
    }

    /// The `sabench serve` flags that start this style with these knobs.
    pub fn args(&self) -> Vec<String> {
        use crate::flags::flag_value;
        let mut args = vec![
            "--style".to_string(),
            flag_value(&self.style),
            "--variant".into(),
            flag_value(&self.variant),
        ];
        match self.style {
            Style::Blocking if self.thread_per_connection => {
                args.push("--thread-per-connection".into())
            }
            Style::Blocking => args.extend(["--threads".into(), self.threads.to_string()]),
            Style::Async => args.extend(["--workers".into(), self.workers.to_string()]),
            Style::Hybrid => {
                args.extend(["--workers".into(), self.workers.to_string()]);
                args.extend(["--offload".into(), flag_value(&self.offload)]);
                if self.offload == Offload::Rayon {
                    args.extend(["--rayon-threads".into(), self.rayon_threads.to_string()]);
                }
            }
        }
        if self.admits() {
            args.extend(["--in-service".into(), self.in_service.to_string()]);
        }
        if self.cpu_hog {
            args.push("--cpu-hog".into());
        }
        if !self.lag_probe {
            args.push("--no-lag-probe".into());
        }
        if let Some(pool) = self.db_pool {
            args.extend(["--db-pool".into(), pool.to_string()]);
        }
        if let Some(kib) = self.stack_kib {
            args.extend(["--stack-kib".into(), kib.to_string()]);
        }
        if let Some(files) = self.open_files {
            args.extend(["--open-files".into(), files.to_string()]);
        }
        args
    }

    fn style_label(&self) -> String {
        let stack = self
            .stack_kib
            .map_or(String::new(), |kib| format!(",stack={kib}KiB"));
        match self.style {
            Style::Blocking if self.thread_per_connection => {
                format!("blocking(thread-per-conn{stack})")
            }
            Style::Blocking => format!("blocking(pool={}{stack})", self.threads),
            Style::Async => format!("async(workers={})", self.workers),
            Style::Hybrid => match self.offload {
                Offload::SpawnBlocking => {
                    format!("hybrid(spawn-blocking,workers={})", self.workers)
                }
                Offload::SpawnBlockingCapped => {
                    format!("hybrid(spawn-blocking-capped,workers={})", self.workers)
                }
                Offload::Rayon => format!(
                    "hybrid(rayon={},workers={})",
                    self.rayon_threads, self.workers
                ),
            },
        }
    }
}

/// Everything a server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The style and its knobs.
    pub style: StyleConfig,
    /// The work behind each route.
    pub workload: WorkloadConfig,
    /// How long a graceful shutdown waits for in-flight requests.
    pub grace: Duration,
    /// Bounds on what one client may cost (slow heads, idle connections, big bodies).
    pub limits: Limits,
}

impl ServerConfig {
    /// A server of `style` with default knobs.
    pub fn new(style: StyleConfig, workload: WorkloadConfig) -> Self {
        Self {
            style,
            workload,
            grace: Duration::from_secs(10),
            limits: Limits::default(),
        }
    }
}

/// Serves on `listener` in the configured style until `shutdown` triggers, then drains
/// in-flight requests (bounded by the grace period) and returns. Blocks the caller;
/// the async styles build their own runtime here.
pub fn serve(
    listener: std::net::TcpListener,
    mut config: ServerConfig,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    config.style.variant.adjust(&mut config.workload);
    if let Some(pool) = config.style.db_pool {
        config.workload.db.pool = pool;
    }
    let _hog = match config.style.cpu_hog {
        true => Some(hog::CpuHog::start()?),
        false => None,
    };
    match config.style.style {
        Style::Blocking => blocking::run(listener, config, shutdown),
        Style::Async | Style::Hybrid => {
            let (workers, grace) = (config.style.workers, config.grace);
            crate::net::block_on_listener(
                listener,
                workers,
                "server-worker",
                grace,
                |listener| async move {
                    match config.style.style {
                        Style::Hybrid => hybrid::run(listener, config, shutdown.wait()).await,
                        _ => asynchronous::run(listener, config, shutdown.wait()).await,
                    }
                },
            )
        }
    }
}

/// Starts a server in-process on 127.0.0.1 with an OS-chosen port, on a background thread.
pub fn spawn(config: ServerConfig) -> std::io::Result<Running> {
    let name = format!("server-{}", config.style.label());
    Running::spawn_ephemeral(&name, move |listener, shutdown| {
        serve(listener, config, shutdown)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_knob_given_to_a_style_without_a_use_for_it_is_named_with_where_it_belongs() {
        let misplaced = |style: Style, variant: Variant, given: GivenKnobs| {
            StyleConfig {
                variant,
                ..StyleConfig::new(style)
            }
            .misplaced(&given)
            .map(|m| (m.knob, m.applies_to))
        };
        let none = GivenKnobs::default();
        let cases = [
            (
                Style::Async,
                Variant::Standard,
                GivenKnobs {
                    threads: true,
                    ..none
                },
                Some(("threads", "blocking")),
            ),
            (
                Style::Blocking,
                Variant::Standard,
                GivenKnobs {
                    workers: true,
                    ..none
                },
                Some(("workers", "async or hybrid")),
            ),
            (
                Style::Async,
                Variant::Standard,
                GivenKnobs {
                    offload: true,
                    ..none
                },
                Some(("offload", "hybrid")),
            ),
            (
                Style::Hybrid,
                Variant::Standard,
                GivenKnobs {
                    rayon_threads: true,
                    ..none
                },
                Some(("rayon_threads", "hybrid with offload rayon")),
            ),
            (
                Style::Async,
                Variant::Standard,
                GivenKnobs {
                    in_service: true,
                    ..none
                },
                Some((
                    "in_service",
                    "async or hybrid with variant limited or bounded-queue",
                )),
            ),
            (
                Style::Async,
                Variant::Limited,
                GivenKnobs {
                    in_service: true,
                    ..none
                },
                None,
            ),
            (
                Style::Hybrid,
                Variant::Standard,
                GivenKnobs {
                    stack_kib: true,
                    ..none
                },
                Some(("stack_kib", "blocking")),
            ),
            (
                Style::Blocking,
                Variant::Standard,
                GivenKnobs {
                    no_lag_probe: true,
                    ..none
                },
                Some(("no_lag_probe", "async or hybrid")),
            ),
            (
                Style::Blocking,
                Variant::BlockingInAsync,
                none,
                Some(("variant", "async or hybrid")),
            ),
            (
                Style::Blocking,
                Variant::Standard,
                GivenKnobs {
                    threads: true,
                    stack_kib: true,
                    ..none
                },
                None,
            ),
        ];
        for (style, variant, given, expected) in cases {
            assert_eq!(
                misplaced(style, variant, given),
                expected,
                "{style:?} {variant:?} {given:?}"
            );
        }
    }
}
