//! `cargo bench --bench styles`: end to end per style × workload — a batch of 400
//! requests over 16 keep-alive connections (closed loop) against an in-process server
//! on loopback, reported as requests per second.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sync_async_bench::load::{self, LoadConfig};
use sync_async_bench::server::{self, ServerConfig, Style, StyleConfig};
use sync_async_bench::workload::{CpuSpec, IoMode, IoSpec, WorkloadConfig};

const BATCH: u64 = 400;
const CONNECTIONS: usize = 16;

fn styles(c: &mut Criterion) {
    let workloads = [
        ("null", "/null", WorkloadConfig::default()),
        (
            "cpu_100us",
            "/cpu",
            WorkloadConfig {
                cpu: CpuSpec { rounds: 1_700 },
                ..WorkloadConfig::default()
            },
        ),
        (
            "io_sleep_2ms",
            "/io",
            WorkloadConfig {
                io: IoSpec {
                    calls: 1,
                    latency: Duration::from_millis(2),
                    mode: IoMode::Sleep,
                },
                ..WorkloadConfig::default()
            },
        ),
    ];
    let mut group = c.benchmark_group("styles");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(BATCH));
    for (name, path, workload) in workloads {
        for style in [Style::Blocking, Style::Async, Style::Hybrid] {
            let config = StyleConfig {
                threads: 32,
                ..StyleConfig::new(style)
            };
            let label = config.label();
            let running = server::spawn(ServerConfig::new(config, workload.clone())).unwrap();
            let mut load = LoadConfig::closed(
                &format!("{}{path}", running.base_url()),
                CONNECTIONS,
                Duration::from_secs(60),
            );
            load.duration = None;
            load.requests = Some(BATCH);
            group.bench_function(BenchmarkId::new(name, &label), |b| {
                b.iter(|| {
                    let report = load::run(&load).unwrap();
                    assert_eq!(report.requests_ok, BATCH, "every request succeeds");
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, styles);
criterion_main!(benches);
