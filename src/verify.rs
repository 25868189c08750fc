//! `sabench verify`: starts every style in turn (in-process, on 127.0.0.1:0) beside a
//! mock upstream, requests every route, and checks that the answers are correct and
//! byte-identical across styles (status line, headers and body; only the value of
//! the waited-time header may differ) before anything is measured.

use std::fmt::Write as _;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::server::{self, Offload, ServerConfig, Style, StyleConfig};
use crate::upstream::{self, UpstreamConfig};
use crate::workload::db::DbRoute;
use crate::workload::{cpu, CpuSpec, DbSpec, FanoutSpec, IoMode, IoSpec, Route, WorkloadConfig};

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
    /// The database the `/db*` routes query; none: those routes are not checked.
    pub database_url: Option<String>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            cpu_rounds: 1_000,
            io_calls: 3,
            fanout_calls: 8,
            fanout_limit: Some(4),
            upstream_latency: Duration::from_millis(2),
            database_url: None,
        }
    }
}

/// What one route returned from one style, and what was wrong with it.
#[derive(Debug, Clone)]
pub struct Observation {
    /// HTTP status.
    pub status: u16,
    /// The status line and headers as sent, the waited-time header's value as `N`.
    pub head: String,
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
    /// The routes checked (every route; the database ones only with a database).
    pub routes: Vec<Route>,
    /// `cells[route][style]`, routes in `routes` order.
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
        for (route, row) in self.routes.iter().zip(&self.cells) {
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
        for (route, row) in self.routes.iter().zip(&self.cells) {
            for (style, cell) in self.styles.iter().zip(row) {
                for problem in &cell.problems {
                    let _ = writeln!(out, "FAIL {} on {style}: {problem}", route.path());
                }
            }
        }
        if !self.routes.iter().any(|r| matches!(r, Route::Db(_))) {
            out.push_str(
                "\n(the database routes were not checked: give --database-url or --postgres)\n",
            );
        }
        let verdict = if self.passed() {
            "verify: every style returned identical, correct responses (status line, headers and body) on every route"
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
        db: DbSpec {
            url: options.database_url.clone(),
            lookups: 3,
            hold: Duration::from_millis(5),
            fanout: 4,
            ..DbSpec::default()
        },
        ..WorkloadConfig::default()
    };
    let routes: Vec<Route> = Route::ALL
        .into_iter()
        .filter(|route| !matches!(route, Route::Db(_)) || options.database_url.is_some())
        .collect();
    let styles = styles_to_verify();
    let mut by_style = Vec::new();
    for style in &styles {
        let server = server::spawn(ServerConfig::new(style.clone(), workload.clone()))?;
        let mut column = Vec::new();
        for &route in &routes {
            column.push(observe(server.addr(), &upstream.base_url(), route)?);
        }
        server.stop()?;
        by_style.push(column);
    }
    upstream.stop()?;
    let mut cells: Vec<Vec<Observation>> = routes
        .iter()
        .enumerate()
        .map(|(r, _)| by_style.iter().map(|column| column[r].clone()).collect())
        .collect();
    for (route, row) in routes.iter().zip(cells.iter_mut()) {
        check_row(*route, row, &workload);
    }
    Ok(VerifyReport {
        styles: styles.iter().map(StyleConfig::label).collect(),
        routes,
        cells,
    })
}

/// Requests `route` once, on a fresh keep-alive connection read byte by byte, and
/// records what came back and how many upstream calls it made.
fn observe(
    server: std::net::SocketAddr,
    upstream_url: &str,
    route: Route,
) -> anyhow::Result<Observation> {
    let before = upstream::fetch_stats(upstream_url)?.hits;
    let mut problems = Vec::new();
    let (status, head, body) = match raw_get(server, route.path()) {
        Ok(response) => response,
        Err(e) => {
            problems.push(format!("request failed: {e}"));
            (0, String::new(), Vec::new())
        }
    };
    let upstream_hits = upstream::fetch_stats(upstream_url)?.hits - before;
    Ok(Observation {
        status,
        head,
        body,
        upstream_hits,
        problems,
    })
}

/// One `GET path` as a keep-alive client sends it: the status, the head as sent (the
/// waited-time header's value as `N`), and the body as its Content-Length frames it.
fn raw_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<(u16, String, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(Some((_, length))) = crate::load::client::response_length(&bytes) {
            bytes.truncate(length);
            break;
        }
        let n = stream.read(&mut chunk)?;
        anyhow::ensure!(n > 0, "the connection closed before a whole response");
        bytes.extend_from_slice(&chunk[..n]);
    }
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(bytes.len(), |i| i + 4);
    let head = String::from_utf8_lossy(&bytes[..split]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let waited = crate::server::reply::WAITED_HEADER;
    let head = head
        .split("\r\n")
        .map(|line| match line.split_once(": ") {
            Some((name, _)) if name.eq_ignore_ascii_case(waited) => format!("{name}: N"),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    Ok((status, head, bytes[split..].to_vec()))
}

/// The upstream calls one request on `route` must make.
fn expected_hits(route: Route, workload: &WorkloadConfig) -> u64 {
    match route {
        Route::Io | Route::Mixed => u64::from(workload.io.calls),
        Route::Fanout => u64::from(workload.fanout.calls),
        Route::Null | Route::Cpu | Route::Health | Route::Db(_) => 0,
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
    let reference_head = row.first().map(|o| o.head.clone()).unwrap_or_default();
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
        if cell.head != reference_head {
            cell.problems.push(format!(
                "status line or headers differ from the first style's: {:?} vs {:?}",
                cell.head, reference_head
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
        let rows = match route {
            Route::Db(DbRoute::Lookups) => Some(workload.db.lookups),
            Route::Db(DbRoute::Fanout) => Some(workload.db.fanout),
            _ => None,
        };
        if let Some(rows) = rows.filter(|rows| !body.contains(&format!(" found={rows} "))) {
            cell.problems.push(format!(
                "expected all {rows} looked-up rows to be found (is the users table seeded? `sabench postgres` seeds it)"
            ));
        }
    }
}
