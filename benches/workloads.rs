//! `cargo bench --bench workloads`: the CPU kernel per round, and the cost of each way
//! a request waits (timers of both kinds, an upstream round trip on loopback with the
//! blocking and the async client).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sync_async_bench::upstream::{self, UpstreamConfig};
use sync_async_bench::workload::{cpu, AsyncUpstream, BlockingUpstream, ClientOptions};

fn cpu_kernel(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpu_kernel");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2));
    for rounds in [1u32, 100, 1_000] {
        group.throughput(Throughput::Elements(u64::from(rounds)));
        group.bench_with_input(
            BenchmarkId::new("sha256_rounds", rounds),
            &rounds,
            |b, &rounds| b.iter(|| cpu::digest(std::hint::black_box(rounds))),
        );
    }
    group.finish();
}

fn io_wait(c: &mut Criterion) {
    let mut group = c.benchmark_group("io_wait");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(2));
    let wait = Duration::from_micros(200);
    group.bench_function("std_thread_sleep_200us", |b| {
        b.iter(|| std::thread::sleep(wait))
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    group.bench_function("tokio_time_sleep_200us", |b| {
        b.iter(|| runtime.block_on(async { tokio::time::sleep(wait).await }))
    });
    let upstream = upstream::spawn(UpstreamConfig {
        latency: Duration::ZERO,
        ..UpstreamConfig::default()
    })
    .unwrap();
    let options = ClientOptions::plain(Some(upstream.base_url()), Duration::from_secs(5));
    let blocking = BlockingUpstream::new(&options, 4);
    group.bench_function("upstream_get_ureq", |b| {
        b.iter(|| blocking.get("/item/1").unwrap())
    });
    let client = runtime.block_on(async { AsyncUpstream::new(&options) });
    group.bench_function("upstream_get_reqwest", |b| {
        b.iter(|| runtime.block_on(client.get("/item/1")).unwrap())
    });
    group.finish();
}

criterion_group!(benches, cpu_kernel, io_wait);
criterion_main!(benches);
