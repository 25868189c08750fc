//! `sabench verify`: starts every style in turn (in-process, on 127.0.0.1:0) beside a
//! mock upstream, requests every route, and checks that the answers are correct and
//! byte-identical across styles before anything is measured.

use std::fmt::Write as _;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::server::{self, Offload, ServerConfig, Style, StyleConfig};
use crate::upstream::{self, UpstreamConfig};
use crate::workload::{cpu, CpuSpec, FanoutSpec, IoMode, IoSpec, Route, WorkloadConfig};

/// What `verify` asks of every style.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// SHA-256 rounds for `/cpu` and `/mixed`.
    pub cpu_rounds: u32,
    /// Upstream calls per `/io` (and `/mixed`) request.
    pub io_calls: u32,
    /// Upstream calls per `/fanout` request.
    pub fanout_calls: u32,
    /// At most this many fan-out calls at once.
    pub fanout_limit: Option<u32>,
    /// The mock upstream's latency.
    pub upstream_latency: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            cpu_rounds: 1_000,
            io_calls: 3,
            fanout_calls: 8,
            fanout_limit: Some(4),
            upstream_latency: Duration::from_millis(2),
        }
    }
}

/// What one route returned from one style, and what was wrong with it.
#[derive(Debug, Clone)]
pub struct Observation {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// Upstream calls made while serving it.
    pub upstream_hits: u64,
    /// Every check that failed (empty: all good).
    pub problems: Vec<String>,
}

/// Every style × route observation, and the verdict.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    /// Column labels (style and knobs).
    pub styles: Vec<String>,
    /// `cells[route][style]`, routes in [`Route::ALL`] order.
    pub cells: Vec<Vec<Observation>>,
}

impl VerifyReport {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        self.cells.iter().flatten().all(|o| o.problems.is_empty())
    }

    /// A markdown table of routes × styles, then each problem on its own line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "| route |");
        for style in &self.styles {
            let _ = write!(out, " {style} |");
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(self.styles.len()));
        out.push('\n');
        for (route, row) in Route::ALL.iter().zip(&self.cells) {
            let _ = write!(out, "| {} |", route.path());
            for cell in row {
                let verdict = if cell.problems.is_empty() {
                    "ok"
                } else {
                    "FAIL"
                };
                let _ = write!(
                    out,
                    " {verdict} {} {}B {}up |",
                    cell.status,
                    cell.body.len(),
                    cell.upstream_hits
                );
            }
            out.push('\n');
        }
        for (route, row) in Route::ALL.iter().zip(&self.cells) {
            for (style, cell) in self.styles.iter().zip(row) {
                for problem in &cell.problems {
                    let _ = writeln!(out, "FAIL {} on {style}: {problem}", route.path());
                }
            }
        }
        let verdict = if self.passed() {
            "verify: every style returned identical, correct bodies on every route"
        } else {
            "verify: FAILED (see above)"
        };
        out.push('\n');
        out.push_str(verdict);
        out.push('\n');
        out
    }
}

/// The styles `verify` compares: each style, and each mode of each style.
pub fn styles_to_verify() -> Vec<StyleConfig> {
    let pool = StyleConfig {
        threads: 8,
        ..StyleConfig::new(Style::Blocking)
    };
    let per_connection = StyleConfig {
        thread_per_connection: true,
        ..StyleConfig::new(Style::Blocking)
    };
    let rayon = StyleConfig {
        offload: Offload::Rayon,
        ..StyleConfig::new(Style::Hybrid)
    };
    vec![
        pool,
        per_connection,
        StyleConfig::new(Style::Async),
        StyleConfig::new(Style::Hybrid),
        rayon,
    ]
}

/// Runs every style against one in-process upstream and checks every route.
pub fn verify(options: &VerifyOptions) -> anyhow::Result<VerifyReport> {
    let upstream = upstream::spawn(UpstreamConfig {
        latency: options.upstream_latency,
        ..UpstreamConfig::default()
    })?;
    let workload = WorkloadConfig {
        cpu: CpuSpec {
            rounds: options.cpu_rounds,
        },
        io: IoSpec {
            calls: options.io_calls,
            latency: options.upstream_latency,
            mode: IoMode::Upstream,
        },
        fanout: FanoutSpec {
            calls: options.fanout_calls,
            limit: options.fanout_limit,
            policy: Default::default(),
        },
        upstream: Some(upstream.base_url()),
        upstream_timeout: Duration::from_secs(5),
        ..WorkloadConfig::default()
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let styles = styles_to_verify();
    let mut by_style = Vec::new();
    for style in &styles {
        let server = server::spawn(ServerConfig::new(style.clone(), workload.clone()))?;
        let mut column = Vec::new();
        for route in Route::ALL {
            column.push(observe(
                &agent,
                &server.base_url(),
                &upstream.base_url(),
                route,
            )?);
        }
        server.stop()?;
        by_style.push(column);
    }
    upstream.stop()?;
    let mut cells: Vec<Vec<Observation>> = Route::ALL
        .iter()
        .enumerate()
        .map(|(r, _)| by_style.iter().map(|column| column[r].clone()).collect())
        .collect();
    for (route, row) in Route::ALL.iter().zip(cells.iter_mut()) {
        check_row(*route, row, &workload);
    }
    Ok(VerifyReport {
        styles: styles.iter().map(StyleConfig::label).collect(),
        cells,
    })
}

/// Requests `route` once and records what came back and how many upstream calls it made.
fn observe(
    agent: &ureq::Agent,
    server: &str,
    upstream_url: &str,
    route: Route,
) -> anyhow::Result<Observation> {
    let before = upstream::fetch_stats(upstream_url)?.hits;
    let mut problems = Vec::new();
    let (status, body) = match agent.get(&format!("{server}{}", route.path())).call() {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let declared = response
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            let body = response.body_mut().read_to_vec().unwrap_or_else(|e| {
                problems.push(format!("reading the body failed: {e}"));
                Vec::new()
            });
            if declared != Some(body.len()) {
                problems.push(format!(
                    "Content-Length {declared:?} but body has {} bytes",
                    body.len()
                ));
            }
            (status, body)
        }
        Err(e) => {
            problems.push(format!("request failed: {e}"));
            (0, Vec::new())
        }
    };
    let upstream_hits = upstream::fetch_stats(upstream_url)?.hits - before;
    Ok(Observation {
        status,
        body,
        upstream_hits,
        problems,
    })
}

/// The upstream calls one request on `route` must make.
fn expected_hits(route: Route, workload: &WorkloadConfig) -> u64 {
    match route {
        Route::Io | Route::Mixed => u64::from(workload.io.calls),
        Route::Fanout => u64::from(workload.fanout.calls),
        Route::Null | Route::Cpu | Route::Health => 0,
    }
}

/// The `/cpu` body computed here, independently of the servers' kernel.
fn independent_cpu_body(rounds: u32) -> String {
    let mut state = Sha256::digest(cpu::SEED);
    for _ in 1..rounds {
        state = Sha256::digest(state);
    }
    format!("cpu rounds={rounds} sha256={}\n", hex::encode(state))
}

fn check_row(route: Route, row: &mut [Observation], workload: &WorkloadConfig) {
    let reference = row.first().map(|o| o.body.clone()).unwrap_or_default();
    let cpu_body = independent_cpu_body(workload.cpu.rounds);
    for cell in row.iter_mut() {
        if cell.status != 200 {
            cell.problems.push(format!(
                "status {} (body: {})",
                cell.status,
                String::from_utf8_lossy(&cell.body).trim()
            ));
        }
        if cell.body != reference {
            cell.problems.push(format!(
                "body differs from the first style's: {:?} vs {:?}",
                String::from_utf8_lossy(&cell.body),
                String::from_utf8_lossy(&reference)
            ));
        }
        let hits = expected_hits(route, workload);
        if cell.upstream_hits != hits {
            cell.problems.push(format!(
                "made {} upstream calls, expected {hits}",
                cell.upstream_hits
            ));
        }
        let body = String::from_utf8_lossy(&cell.body);
        let digest_ok = match route {
            Route::Cpu => body == cpu_body,
            Route::Mixed => body.ends_with(&cpu_body),
            _ => true,
        };
        if !digest_ok {
            cell.problems
                .push(format!("cpu digest wrong: expected {:?}", cpu_body.trim()));
        }
    }
}
