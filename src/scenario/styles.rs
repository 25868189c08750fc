//! `[[styles]]`: the built-in styles a scenario serves and the knobs each sweeps.

use super::*;

/// One style with the knob values to sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StyleSpec {
    /// blocking, async, or hybrid.
    pub style: Style,
    /// blocking: pool sizes to sweep [default: 64].
    #[serde(default)]
    pub threads: Vec<u32>,
    /// blocking: one thread per connection instead of a pool.
    #[serde(default)]
    pub thread_per_connection: bool,
    /// async, hybrid: worker counts to sweep [default: one per core].
    #[serde(default)]
    pub workers: Vec<u32>,
    /// hybrid: spawn-blocking or rayon.
    #[serde(default)]
    pub offload: Option<Offload>,
    /// hybrid with rayon: pool size.
    #[serde(default)]
    pub rayon_threads: Option<u32>,
    /// A pattern or anti-pattern (blocking-in-async, no-pool, no-timeout, circuit-breaker, …).
    #[serde(default)]
    pub variant: crate::server::Variant,
    /// async, hybrid with variant `limited` or `bounded-queue`: requests served at once
    /// (and, for `bounded-queue`, the most that may wait) [default: 16].
    #[serde(default)]
    pub in_service: Option<u32>,
    /// Testing only: a thread spins beside the server (the broken twin CI uses to show
    /// that a gated claim fails when a style gets about 2× slower).
    #[serde(default)]
    pub cpu_hog: bool,
    /// Run only on these workloads (by name); empty: on every workload.
    #[serde(default)]
    pub only: Vec<String>,
    /// A fixed loopback port for this style's servers (e.g. to attach a profiler);
    /// default: any free port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Database pool sizes to sweep, numbers or `"unbounded"` [default: 16].
    #[serde(default)]
    pub db_pool: Vec<PoolSize>,
    /// blocking: each serving thread's stack in KiB [default: Rust's, 2 MiB].
    #[serde(default)]
    pub stack_kib: Option<u32>,
    /// The open-file limit the server runs with, e.g. 1024 [default: the hard limit].
    #[serde(default)]
    pub open_files: Option<u64>,
    /// async, hybrid: the protocols the generator speaks to it, each a variant
    /// (`["http1", "http2"]` compares them; HTTP/2 cells are h2c with `[load] streams`
    /// to a connection) [default: http1].
    #[serde(default)]
    pub protocols: Vec<crate::load::http2::Protocol>,
}

impl StyleSpec {
    /// Every knob combination this entry sweeps: its thread or worker counts, each
    /// with every database pool size, each over every protocol.
    pub fn variants(&self) -> Vec<StyleConfig> {
        let pools: Vec<Option<usize>> = match self.db_pool.is_empty() {
            true => vec![None],
            false => self.db_pool.iter().map(PoolSize::size).collect(),
        };
        let protocols = match self.protocols.is_empty() {
            true => vec![crate::load::http2::Protocol::Http1],
            false => self.protocols.clone(),
        };
        let mut out = Vec::new();
        for config in self.thread_variants() {
            for &db_pool in &pools {
                for &protocol in &protocols {
                    out.push(StyleConfig {
                        db_pool,
                        protocol,
                        ..config.clone()
                    });
                }
            }
        }
        out
    }

    /// Its thread or worker counts (the knobs of the style itself).
    fn thread_variants(&self) -> Vec<StyleConfig> {
        let defaults = StyleConfig::new(self.style);
        let base = StyleConfig {
            variant: self.variant,
            in_service: self.in_service.map_or(defaults.in_service, |n| n as usize),
            cpu_hog: self.cpu_hog,
            stack_kib: self.stack_kib.map(|kib| kib as usize),
            open_files: self.open_files,
            ..defaults
        };
        match self.style {
            Style::Blocking if self.thread_per_connection => vec![StyleConfig {
                thread_per_connection: true,
                ..base
            }],
            Style::Blocking => {
                let threads = if self.threads.is_empty() {
                    vec![base.threads as u32]
                } else {
                    self.threads.clone()
                };
                threads
                    .into_iter()
                    .map(|t| StyleConfig {
                        threads: t as usize,
                        ..base.clone()
                    })
                    .collect()
            }
            Style::Async | Style::Hybrid => {
                let workers = if self.workers.is_empty() {
                    vec![base.workers as u32]
                } else {
                    self.workers.clone()
                };
                workers
                    .into_iter()
                    .map(|w| StyleConfig {
                        workers: w as usize,
                        offload: self.offload.unwrap_or(base.offload),
                        rayon_threads: self
                            .rayon_threads
                            .map_or(base.rayon_threads, |r| r as usize),
                        ..base.clone()
                    })
                    .collect()
            }
        }
    }
}
